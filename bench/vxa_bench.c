/* SPDX-License-Identifier: MIT */
/* vxa_bench: times one op spec on one volume and prints JSON (one object on stdout).
 *
 *   vxa_bench --input SRC --spec "rotate(15, plane=0,1)" [--label PATH] [--device D] [--warmup W] [--repeat R]
 *             [--seed S] [--sample K] [--out PATH] [--label-out PATH] [--field-out PATH] [--batch 1,4,16]
 *             [--save-input PATH] [--patches N]
 *   vxa_bench --list-ops
 *
 * SRC: a NIfTI path, "smooth:N" (a smooth random N^3 float32 volume made here; "smooth:NX,NY,NZ" too),
 * "phantom:N" (vxa_phantom, where the library has it).
 * Times, in milliseconds, median and min over R repeats after W warm-ups:
 *   kernel  vxa_pipeline_run_dvol on a device-resident input (uploaded once, outside the timing) followed by
 *           vxa_context_finish; output buffers are allocated inside (as in a real run) and released outside.
 *   e2e     vxa_pipeline_run: host memory in, host memory out.
 *   floor   one read + one write of the input volume as float32: memcpy on the host, and a copy kernel through
 *           the context (vxa_copy_axes) for the device. The "bandwidth floor" an op of that size cannot beat.
 * With --batch, volumes/s of vxa_pipeline_run_batch for each batch size (samples back to back in one context).
 * --out writes the output of one further, untimed run (NIfTI by the name, else raw float32) and its draw is
 * printed; --field-out writes that run's elastic field (NIfTI, 3 channels) for SciPy's map_coordinates.
 * --label: a label map on the input's grid (NIfTI) that every timed run and batch carries through the pipeline
 * with the image (nearest neighbour); --label-out writes the further run's label map.
 * --patches N: N samples of the one subject into one dense buffer, timed two ways (median over R after W):
 *   host      vxa_pipeline_run_into for each sample from the host volumes (each run puts them on the device);
 *   resident  vxa_resident_create (one upload) + vxa_pipeline_run_resident_into of the N samples + free.
 * Exit status: 0 done, 3 the spec names an op this build does not have ("not available"), 1 anything else. */
#include "cl.h"
#include "internal.h"
#include "ops.h"
#include "pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPEAT 1000
#define MAX_BATCHES 8

typedef struct {
    const char *input, *label, *spec, *device, *out, *label_out, *field_out, *save_input, *batch;
    int warmup, repeat, patches;
    uint64_t seed, sample;
} bench_args;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* CPU time of the whole process (user + system, every thread), ms. */
static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double median, min;
    int n;
} stats;

static stats stats_of(double *t, int n)
{
    stats s = { NAN, NAN, n };
    if (n <= 0) return s;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    s.min = t[0];
    s.median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    return s;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_stats(FILE *f, const char *name, stats s)
{
    if (s.n <= 0) {
        fprintf(f, ",\"%s\":null", name);
        return;
    }
    fprintf(f, ",\"%s\":{\"median\":%.6g,\"min\":%.6g,\"n\":%d}", name, s.median, s.min, s.n);
}

/* The error object on stdout, so that run.py always reads JSON. */
static int fail_json(const char *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_json(const char *status, const char *fmt, ...)
{
    char msg[VXA_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("{\"status\":");
    json_string(stdout, status);
    printf(",\"error\":");
    json_string(stdout, msg);
    printf("}\n");
    fprintf(stderr, "vxa_bench: %s\n", msg);
    return strcmp(status, "not available") == 0 ? 3 : 1;
}

/* ---- inputs ------------------------------------------------------------------------------------------------ */
static bool parse_dims(const char *s, int64_t dim[3])
{
    char *end;
    for (int a = 0; a < 3; a++) {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || v < 1 || v > 4096) return false;
        dim[a] = v;
        if (a == 0 && *end == '\0') { /* one value: a cube */
            dim[1] = dim[2] = v;
            return true;
        }
        if (a < 2 && *end != ',') return false;
        s = end + 1;
    }
    return *end == '\0';
}

/* splitmix64: the seed of the smooth volume; the volume is the same on every machine. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A smooth random volume: a sum of 12 plane waves with random directions (1 to 4 periods across the grid),
 * phases and amplitudes, plus a constant; values roughly in [0, 1000], like an MR image's range. */
static vxa_status make_smooth(const int64_t dim[3], vxa_volume **out)
{
    vxa_status st = vxa_volume_alloc(dim, 1, VXA_FLOAT32, out);
    if (st != VXA_OK) return st;
    enum { NW = 12 };
    double k[NW][3], ph[NW], amp[NW];
    uint64_t s = 12345;
    for (int w = 0; w < NW; w++) {
        for (int a = 0; a < 3; a++) {
            const double cycles = 1.0 + 3.0 * (double)(splitmix(&s) >> 11) * 0x1.0p-53;
            const double sign = (splitmix(&s) & 1) ? 1.0 : -1.0;
            k[w][a] = sign * 2.0 * 3.14159265358979323846 * cycles / (double)dim[a];
        }
        ph[w] = 6.283185307179586 * (double)(splitmix(&s) >> 11) * 0x1.0p-53;
        amp[w] = 20.0 + 60.0 * (double)(splitmix(&s) >> 11) * 0x1.0p-53;
    }
    float *d = (*out)->data;
    for (int64_t z = 0; z < dim[2]; z++)
        for (int64_t y = 0; y < dim[1]; y++)
            for (int64_t x = 0; x < dim[0]; x++) {
                double v = 500.0;
                for (int w = 0; w < NW; w++)
                    v += amp[w] * sin(k[w][0] * (double)x + k[w][1] * (double)y + k[w][2] * (double)z + ph[w]);
                d[x + dim[0] * (y + dim[1] * z)] = (float)v;
            }
    const double sp[3] = { 1.0, 1.0, 1.0 };
    vxa_volume_set_spacing(*out, sp);
    return VXA_OK;
}

static vxa_status load_input(const char *src, vxa_volume **out, char *err, size_t errlen)
{
    int64_t dim[3];
    if (strncmp(src, "smooth:", 7) == 0) {
        if (!parse_dims(src + 7, dim))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "%s: expected smooth:N or smooth:NX,NY,NZ "
                                "with sizes 1..4096", src);
        vxa_status st = make_smooth(dim, out);
        if (st != VXA_OK) vxa_fail_buf(err, errlen, st, "%s: could not allocate", src);
        return st;
    }
    if (strncmp(src, "phantom:", 8) == 0) {
        if (!parse_dims(src + 8, dim))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "%s: expected phantom:N or "
                                "phantom:NX,NY,NZ", src);
#ifdef VXA_BENCH_HAVE_PHANTOM
        vxa_status st = vxa_phantom(dim, out, NULL);
        if (st != VXA_OK) vxa_fail_buf(err, errlen, st, "%s: vxa_phantom failed", src);
        return st;
#else
        return vxa_fail_buf(err, errlen, VXA_ERR_UNSUPPORTED, "%s: this build of the library has no vxa_phantom",
                            src);
#endif
    }
    return vxa_nifti_read(src, out, err, errlen);
}

static bool ends_with(const char *s, const char *suffix)
{
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* NIfTI by the name (.nii, .nii.gz), else raw float32 of channel-major voxels. */
static vxa_status write_volume(const char *path, const vxa_volume *v, char *err, size_t errlen)
{
    if (ends_with(path, ".nii") || ends_with(path, ".nii.gz")) return vxa_nifti_write(path, v, err, errlen);
    FILE *f = fopen(path, "wb");
    if (!f) return vxa_fail_buf(err, errlen, VXA_ERR_IO, "%s: %s", path, strerror(errno));
    const size_t n = vxa_volume_bytes(v);
    const bool ok = fwrite(v->data, 1, n, f) == n;
    if (fclose(f) != 0 || !ok) return vxa_fail_buf(err, errlen, VXA_ERR_IO, "%s: write failed", path);
    return VXA_OK;
}

/* ---- timing -------------------------------------------------------------------------------------------------- */
/* Host floor: memcpy of `bytes`, one read + one write. */
static stats time_memcpy(size_t bytes, int warmup, int repeat, double *t)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    stats s = { NAN, NAN, 0 };
    if (!a || !b) goto done;
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    for (int r = 0; r < warmup + repeat; r++) {
        const double t0 = now_ms();
        memcpy(b, a, bytes);
        const double t1 = now_ms();
        a[r % bytes] = b[(r * 7) % bytes]; /* keeps the copy observable */
        if (r >= warmup) t[r - warmup] = t1 - t0;
    }
    s = stats_of(t, repeat);
done:
    free(a);
    free(b);
    return s;
}

/* Device floor: an exact copy kernel from one float32 device volume to another, through the context. */
static vxa_status time_device_copy(vxa_context *ctx, const int64_t dim[3], int warmup, int repeat, double *t,
                                   stats *out)
{
    vxa_dvol a = { 0 }, b = { 0 };
    const int sign[3] = { 1, 1, 1 };
    const int64_t zero[3] = { 0, 0, 0 };
    vxa_status st;
    out->n = 0;
    if ((st = vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &a)) != VXA_OK) goto done;
    if ((st = vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &b)) != VXA_OK) goto done;
    if ((st = vxa_copy_axes(ctx, &b, &a, sign, zero, VXA_MODE_CONSTANT, 0.0)) != VXA_OK) goto done; /* touch */
    for (int r = 0; r < warmup + repeat; r++) {
        if ((st = vxa_context_finish(ctx)) != VXA_OK) goto done;
        const double t0 = now_ms();
        if ((st = vxa_copy_axes(ctx, &a, &b, sign, zero, VXA_MODE_CONSTANT, 0.0)) != VXA_OK) goto done;
        if ((st = vxa_context_finish(ctx)) != VXA_OK) goto done;
        const double t1 = now_ms();
        if (r >= warmup) t[r - warmup] = t1 - t0;
    }
    *out = stats_of(t, repeat);
done:
    vxa_dvol_release(ctx, &a);
    vxa_dvol_release(ctx, &b);
    return st;
}

static int list_ops(void)
{
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);
    printf("{\"status\":\"ok\",\"ops\":[");
    for (int i = 0; i < n; i++) {
        if (i) printf(",");
        json_string(stdout, t[i]->name);
    }
    printf("]}\n");
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: vxa_bench --input SRC --spec SPEC [--label PATH] [--device D] [--warmup W] [--repeat R]\n"
               "                 [--seed S] [--sample K] [--out PATH] [--label-out PATH] [--field-out PATH]\n"
               "                 [--batch 1,4,16]\n"
               "       vxa_bench --input SRC --save-input PATH     (writes the input, times nothing)\n"
               "       vxa_bench --list-ops\n"
               "SRC: a NIfTI file, smooth:N[,NY,NZ] or phantom:N[,NY,NZ]. Prints one JSON object.\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static bool parse_args(int argc, char **argv, bench_args *a, int *list)
{
    memset(a, 0, sizeof *a);
    a->warmup = 1;
    a->repeat = 5;
    a->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--list-ops") == 0) { *list = 1; continue; }
        if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0) return false;
        if (i + 1 >= argc) {
            fprintf(stderr, "vxa_bench: %s needs a value\n", k);
            return false;
        }
        const char *v = argv[++i];
        uint64_t u;
        if (strcmp(k, "--input") == 0) a->input = v;
        else if (strcmp(k, "--spec") == 0) a->spec = v;
        else if (strcmp(k, "--label") == 0) a->label = v;
        else if (strcmp(k, "--label-out") == 0) a->label_out = v;
        else if (strcmp(k, "--device") == 0) a->device = v;
        else if (strcmp(k, "--out") == 0) a->out = v;
        else if (strcmp(k, "--field-out") == 0) a->field_out = v;
        else if (strcmp(k, "--save-input") == 0) a->save_input = v;
        else if (strcmp(k, "--batch") == 0) a->batch = v;
        else if (strcmp(k, "--patches") == 0 && parse_u64(v, &u) && u >= 1 && u <= 256) a->patches = (int)u;
        else if (strcmp(k, "--seed") == 0 && parse_u64(v, &u)) a->seed = u;
        else if (strcmp(k, "--sample") == 0 && parse_u64(v, &u)) a->sample = u;
        else if (strcmp(k, "--warmup") == 0 && parse_u64(v, &u) && u <= MAX_REPEAT) a->warmup = (int)u;
        else if (strcmp(k, "--repeat") == 0 && parse_u64(v, &u) && u >= 1 && u <= MAX_REPEAT) a->repeat = (int)u;
        else {
            fprintf(stderr, "vxa_bench: bad option or value: %s %s\n", k, v);
            return false;
        }
    }
    return *list || (a->input && (a->spec || a->save_input));
}

/* One run of the pipeline on a device-resident input, timed to the end of its device work. */
static vxa_status kernel_once(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                              const vxa_grid *grid, const vxa_dvol *in, const vxa_dvol *lab, double *ms)
{
    vxa_dvol out = { 0 }, lout = { 0 };
    vxa_grid og;
    vxa_status st = vxa_context_finish(ctx);
    if (st != VXA_OK) return st;
    const double t0 = now_ms();
    st = vxa_pipeline_run_dvol(ctx, p, o, grid, in, lab, &out, lab ? &lout : NULL, &og, NULL);
    if (st == VXA_OK) st = vxa_context_finish(ctx);
    *ms = now_ms() - t0;
    vxa_dvol_release(ctx, &out);
    vxa_dvol_release(ctx, &lout);
    return st;
}

int main(int argc, char **argv)
{
    bench_args a;
    int list = 0;
    if (!parse_args(argc, argv, &a, &list)) {
        usage(stderr);
        return 2;
    }
    if (list) return list_ops();

    int rc = 1;
    char err[VXA_ERRLEN] = "";
    vxa_volume *in = NULL, *out = NULL, *field = NULL, *lab = NULL, *lout = NULL;
    vxa_pipeline *p = NULL;
    vxa_context *ctx = NULL;
    vxa_draw *draw = NULL;
    vxa_dvol din = { 0 }, dlab = { 0 };
    double *t = calloc(MAX_REPEAT, sizeof *t);
    vxa_status st;
    if (!t) return fail_json("error", "out of memory");

    const double t_main = now_ms(), tl0 = t_main;
    if ((st = load_input(a.input, &in, err, sizeof err)) != VXA_OK) {
        rc = fail_json("error", "%s", err);
        goto done;
    }
    if (a.label && (st = load_input(a.label, &lab, err, sizeof err)) != VXA_OK) {
        rc = fail_json("error", "label map: %s", err);
        goto done;
    }
    const double load_ms = now_ms() - tl0;
    if (a.save_input) {
        if ((st = write_volume(a.save_input, in, err, sizeof err)) != VXA_OK) {
            rc = fail_json("error", "%s", err);
            goto done;
        }
        if (!a.spec) {
            printf("{\"status\":\"ok\",\"saved\":");
            json_string(stdout, a.save_input);
            printf(",\"dim\":[%lld,%lld,%lld],\"load_ms\":%.6g}\n", (long long)in->dim[0], (long long)in->dim[1],
                   (long long)in->dim[2], load_ms);
            rc = 0;
            goto done;
        }
    }
    if ((st = vxa_pipeline_parse(a.spec, &p, err, sizeof err)) != VXA_OK) {
        /* An op the table does not know (yet) is "not available", any other parse error is an error. */
        rc = fail_json(strstr(err, "unknown op") ? "not available" : "error", "%s", err);
        goto done;
    }
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = a.device;
    if ((st = vxa_context_create(&opt, &ctx)) != VXA_OK) {
        rc = fail_json("error", "context: %s", ctx ? vxa_last_error(ctx) : vxa_status_string(st));
        goto done;
    }

    vxa_run_options ro;
    vxa_run_options_init(&ro);
    ro.seed = a.seed;
    ro.sample = a.sample;

    /* (a) kernel only: the input uploaded once. The first warm-up also builds the programs. */
    vxa_grid grid;
    vxa_grid_of_volume(in, &grid);
    if ((st = vxa_pipeline_check_inputs(ctx, in, lab)) != VXA_OK ||
        (st = vxa_dvol_from_volume(ctx, in, &din)) != VXA_OK ||
        (lab && (st = vxa_dvol_from_volume(ctx, lab, &dlab)) != VXA_OK))
        goto cl_error;
    double first_ms = NAN, to_first_ms = NAN;
    for (int r = 0; r < a.warmup + a.repeat; r++) {
        double ms;
        if ((st = kernel_once(ctx, p, &ro, &grid, &din, lab ? &dlab : NULL, &ms)) != VXA_OK) goto cl_error;
        if (r == 0) {
            first_ms = ms;
            to_first_ms = now_ms() - t_main;   /* main's start to the first sample done: load, context, builds */
        }
        if (r >= a.warmup) t[r - a.warmup] = ms;
    }
    const stats kernel = stats_of(t, a.repeat);

    /* (b) end to end: host memory in, host memory out; with the process's CPU time (all threads: the device's
     * worker threads too on a CPU device) over the timed runs. */
    double cpu_total = 0;
    for (int r = 0; r < a.warmup + a.repeat; r++) {
        vxa_volume *o = NULL, *ol = NULL;
        const double c0 = cpu_ms(), t0 = now_ms();
        st = vxa_pipeline_run_ex(ctx, p, &ro, in, lab, &o, lab ? &ol : NULL, NULL);
        const double ms = now_ms() - t0;
        if (r >= a.warmup) cpu_total += cpu_ms() - c0;
        vxa_volume_free(o);
        vxa_volume_free(ol);
        if (st != VXA_OK) goto cl_error;
        if (r >= a.warmup) t[r - a.warmup] = ms;
    }
    const stats e2e = stats_of(t, a.repeat);

    /* Bandwidth floors for the input's size as float32. */
    const size_t fbytes = (size_t)(in->dim[0] * in->dim[1] * in->dim[2]) * sizeof(float);
    const stats host_floor = time_memcpy(fbytes, a.warmup, a.repeat, t);
    stats dev_floor;
    if ((st = time_device_copy(ctx, in->dim, a.warmup, a.repeat, t, &dev_floor)) != VXA_OK) goto cl_error;

    /* Batches: volumes/s for each size. */
    int nb = 0;
    int bsize[MAX_BATCHES];
    stats bstat[MAX_BATCHES];
    for (const char *s = a.batch; s && *s && nb < MAX_BATCHES;) {
        char *end;
        long n = strtol(s, &end, 10);
        if (end == s || n < 1 || n > 256) {
            rc = fail_json("error", "--batch %s: expected sizes 1..256 separated by commas", a.batch);
            goto done;
        }
        const vxa_volume **imgs = calloc((size_t)n, sizeof *imgs), **labs = calloc((size_t)n, sizeof *labs);
        vxa_volume **outs = calloc((size_t)n, sizeof *outs), **louts = calloc((size_t)n, sizeof *louts);
        if (!imgs || !labs || !outs || !louts) {
            free(imgs);
            free(labs);
            free(outs);
            free(louts);
            rc = fail_json("error", "out of memory");
            goto done;
        }
        for (long i = 0; i < n; i++) {
            imgs[i] = in;
            labs[i] = lab;
        }
        for (int r = 0; r < a.warmup + a.repeat && st == VXA_OK; r++) {
            const double t0 = now_ms();
            st = vxa_pipeline_run_batch(ctx, p, a.seed, a.sample, (size_t)n, (const vxa_volume *const *)imgs,
                                        lab ? (const vxa_volume *const *)labs : NULL, outs, lab ? louts : NULL, NULL);
            const double ms = now_ms() - t0;
            for (long i = 0; i < n; i++) {
                vxa_volume_free(outs[i]);
                vxa_volume_free(louts[i]);
                outs[i] = louts[i] = NULL;
            }
            if (r >= a.warmup) t[r - a.warmup] = ms;
        }
        free(imgs);
        free(labs);
        free(outs);
        free(louts);
        if (st != VXA_OK) goto cl_error;
        bsize[nb] = (int)n;
        bstat[nb++] = stats_of(t, a.repeat);
        s = *end == ',' ? end + 1 : end;
    }

    /* Several samples of one subject: from the host volumes each time, and from one resident upload. */
    stats patch_host = { NAN, NAN, 0 }, patch_res = { NAN, NAN, 0 };
    if (a.patches) {
        vxa_volume shape;
        vxa_volume_init(&shape, in->dim, in->channels, VXA_FLOAT32);
        if ((st = vxa_pipeline_output_shape(p, in, &shape)) != VXA_OK) goto cl_error;
        const size_t vox = vxa_volume_voxels(&shape), np = (size_t)a.patches;
        const size_t lbytes = lab ? vox / (size_t)in->channels * (size_t)lab->channels * vxa_dtype_size(lab->dtype) : 0;
        float *buf = vxa_host_alloc(np * vox * sizeof(float), 64);
        unsigned char *lbuf = lab ? vxa_host_alloc(np * lbytes, 64) : NULL;
        if (!buf || (lab && !lbuf)) {
            free(buf);
            free(lbuf);
            rc = fail_json("error", "out of memory for %d patches", a.patches);
            goto done;
        }
        vxa_buffer ib, lb1, ibn, lbn;
        vxa_buffer_init(&ibn, buf, np * vox * sizeof(float), VXA_FLOAT32);
        if (lab) vxa_buffer_init(&lbn, lbuf, np * lbytes, lab->dtype);
        for (int way = 0; way < 2 && st == VXA_OK; way++) {
            for (int r = 0; r < a.warmup + a.repeat && st == VXA_OK; r++) {
                const double t0 = now_ms();
                if (way == 0) {
                    for (size_t s = 0; s < np && st == VXA_OK; s++) {
                        vxa_run_options os = ro;
                        os.sample = ro.sample + s;
                        vxa_buffer_init(&ib, buf + s * vox, vox * sizeof(float), VXA_FLOAT32);
                        if (lab) vxa_buffer_init(&lb1, lbuf + s * lbytes, lbytes, lab->dtype);
                        st = vxa_pipeline_run_into(ctx, p, &os, in, lab, &ib, lab ? &lb1 : NULL, NULL);
                    }
                } else {
                    vxa_resident *res = NULL;
                    st = vxa_resident_create(ctx, in, lab, NULL, &res);
                    if (st == VXA_OK)
                        st = vxa_pipeline_run_resident_into(ctx, p, &ro, res, np, &ibn, lab ? &lbn : NULL, NULL);
                    vxa_resident_free(res);
                }
                if (r >= a.warmup) t[r - a.warmup] = now_ms() - t0;
            }
            if (way == 0) patch_host = stats_of(t, a.repeat);
            else patch_res = stats_of(t, a.repeat);
        }
        free(buf);
        free(lbuf);
        if (st != VXA_OK) goto cl_error;
    }

    /* One more run for the output, its draw and its field. */
    vxa_run_options fo = ro;
    if (a.field_out) fo.field_out = &field;
    if ((st = vxa_pipeline_run_ex(ctx, p, &fo, in, lab, &out, lab ? &lout : NULL, &draw)) != VXA_OK) goto cl_error;
    if (a.out && (st = write_volume(a.out, out, err, sizeof err)) != VXA_OK) {
        rc = fail_json("error", "%s", err);
        goto done;
    }
    if (a.label_out && lout && (st = write_volume(a.label_out, lout, err, sizeof err)) != VXA_OK) {
        rc = fail_json("error", "%s", err);
        goto done;
    }
    if (a.field_out && field && (st = write_volume(a.field_out, field, err, sizeof err)) != VXA_OK) {
        rc = fail_json("error", "%s", err);
        goto done;
    }

    const double out_vox = (double)vxa_volume_voxels(out);
    printf("{\"status\":\"ok\",\"device\":");
    json_string(stdout, vxa_context_device_name(ctx));
    char clver[256] = "";
    if (!vxa_context_is_reference(ctx) &&
        clGetDeviceInfo(ctx->cl->device, CL_DEVICE_VERSION, sizeof clver - 1, clver, NULL) != CL_SUCCESS)
        clver[0] = '\0';
    printf(",\"opencl\":");
    json_string(stdout, clver);
    printf(",\"reference\":%s,\"version\":\"%s\",\"spec\":", vxa_context_is_reference(ctx) ? "true" : "false",
           vxa_version_string());
    json_string(stdout, vxa_pipeline_string(p));
    printf(",\"input\":");
    json_string(stdout, a.input);
    printf(",\"label\":");
    json_string(stdout, a.label ? a.label : "");
    printf(",\"in_dim\":[%lld,%lld,%lld],\"in_dtype\":\"%s\",\"out_dim\":[%lld,%lld,%lld],\"out_channels\":%lld",
           (long long)in->dim[0], (long long)in->dim[1], (long long)in->dim[2], vxa_dtype_name(in->dtype),
           (long long)out->dim[0], (long long)out->dim[1], (long long)out->dim[2], (long long)out->channels);
    printf(",\"warmup\":%d,\"repeat\":%d,\"seed\":%llu,\"sample\":%llu,\"load_ms\":%.6g,\"first_run_ms\":%.6g",
           a.warmup, a.repeat, (unsigned long long)a.seed, (unsigned long long)a.sample, load_ms, first_ms);
    printf(",\"to_first_sample_ms\":%.6g", to_first_ms);
    json_stats(stdout, "kernel_ms", kernel);
    json_stats(stdout, "e2e_ms", e2e);
    printf(",\"e2e_cpu_ms\":%.6g", cpu_total / a.repeat);
    printf(",\"mvox_s\":{\"kernel\":%.6g,\"e2e\":%.6g}", out_vox / (kernel.median * 1e3),
           out_vox / (e2e.median * 1e3));
    json_stats(stdout, "floor_host_ms", host_floor);
    json_stats(stdout, "floor_device_ms", dev_floor);
    printf(",\"floor_bytes\":%zu,\"batch\":[", fbytes);
    for (int i = 0; i < nb; i++)
        printf("%s{\"n\":%d,\"median_ms\":%.6g,\"min_ms\":%.6g,\"volumes_per_s\":%.6g}", i ? "," : "", bsize[i],
               bstat[i].median, bstat[i].min, bsize[i] / (bstat[i].median * 1e-3));
    printf("]");
    if (a.patches) {
        printf(",\"patches\":{\"n\":%d", a.patches);
        json_stats(stdout, "host_ms", patch_host);
        json_stats(stdout, "resident_ms", patch_res);
        printf("}");
    }
    printf(",\"out\":");
    json_string(stdout, a.out ? a.out : "");
    printf(",\"label_out\":");
    json_string(stdout, a.label_out && lout ? a.label_out : "");
    printf(",\"field_out\":");
    json_string(stdout, a.field_out && field ? a.field_out : "");
    printf(",\"draw\":%s}\n", vxa_draw_json(draw));
    rc = 0;
    goto done;

cl_error:
    rc = fail_json("error", "%s: %s", vxa_status_name(st), vxa_last_error(ctx));
done:
    vxa_dvol_release(ctx, &din);
    vxa_dvol_release(ctx, &dlab);
    vxa_draw_free(draw);
    vxa_volume_free(out);
    vxa_volume_free(lout);
    vxa_volume_free(lab);
    vxa_volume_free(field);
    vxa_pipeline_free(p);
    vxa_context_destroy(ctx);
    vxa_volume_free(in);
    free(t);
    return rc;
}
