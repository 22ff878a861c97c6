/* SPDX-License-Identifier: MIT */
/* The behaviour corpus: every pipeline of tests/corpus/pipelines.txt run on generated inputs, one SHA-256 per
 * output, so that a change meant to keep behaviour (a redesign of the engine, a new ABI) can show that it did:
 *     vxa_corpus PIPELINES.txt [--device D]
 * prints one line per run:
 *     L<line> s<seed>/<sample> <how> img <sha> lab <sha> geo <sha> draw <sha> field <sha>
 * img: the output voxels (float32, host order); lab: the label map's voxels; geo: dims, channels, dtype and affine
 * (so that a change of geometry shows apart from a change of voxels); draw: the draw's JSON text; field: the
 * elastic displacement field's voxels ("-" for an output that does not exist). <how> is "run" (vxa_pipeline_run_ex),
 * "batch" (the same sample within vxa_pipeline_run_batch of three samples) or "slabs" (a context whose
 * allocation limit is lowered to 8 KiB, so the resampling passes go through slabs along k).
 * The inputs are made here from a fixed integer generator (splitmix64), not from the library's random numbers.
 * Exit status 0 when every run succeeded, 1 otherwise (the failing run is named on stderr), 2 on bad usage.
 * tests/corpus/check.sh compares the lines with the recorded ones. */
#include "sha256.h" /* src/sha256.c, the library's */
#include <voxaug.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hash_bytes(const void *data, size_t n, char out[65])
{
    vxa_sha256 s;
    vxa_sha256_init(&s);
    vxa_sha256_update(&s, data, n);
    vxa_sha256_hex(&s, out);
}

static void hash_voxels(const vxa_volume *v, char out[65])
{
    if (!v) {
        strcpy(out, "-");
        return;
    }
    hash_bytes(v->data, vxa_volume_bytes(v), out);
}

static void hash_geometry(const vxa_volume *v, char out[65])
{
    vxa_sha256 s;
    vxa_sha256_init(&s);
    vxa_sha256_update(&s, v->dim, sizeof v->dim);
    vxa_sha256_update(&s, &v->channels, sizeof v->channels);
    const int32_t dtype = (int32_t)v->dtype;
    vxa_sha256_update(&s, &dtype, sizeof dtype);
    vxa_sha256_update(&s, v->affine, sizeof v->affine);
    vxa_sha256_update(&s, v->spacing, sizeof v->spacing);
    vxa_sha256_hex(&s, out);
}

/* ---- inputs ------------------------------------------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1) from the top 53 bits. */
static double unit(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

typedef struct {
    const char *name;
    int64_t dim[3];
    int64_t channels;
    vxa_dtype dtype, label_dtype;
    double slope, inter, spacing[3];
} input_desc;

/* Awkward shapes (primes, a one-voxel axis, 31 along i), every stored type family, two channels, scaling,
 * anisotropic spacing. */
static const input_desc inputs[] = {
    { "A", { 23, 19, 17 }, 1, VXA_FLOAT32, VXA_UINT8, 0, 0, { 1, 1, 1 } },
    { "B", { 17, 13, 11 }, 1, VXA_UINT8, VXA_INT16, 0.5, -3, { 1, 1, 1 } },
    { "C", { 31, 8, 9 }, 2, VXA_INT16, VXA_UINT8, 0, 0, { 1, 1, 1 } },
    { "D", { 12, 14, 10 }, 1, VXA_FLOAT64, VXA_INT32, 0, 0, { 1, 1, 3 } },
    { "E", { 1, 21, 16 }, 1, VXA_FLOAT32, VXA_UINT8, 0, 0, { 1, 1, 1 } },
};
#define NINPUTS (sizeof inputs / sizeof inputs[0])

/* A smooth pattern (sums of cosines) plus noise, in the type's range; labels: 0..5 by the smooth part's level. */
static int make_input(const input_desc *d, vxa_volume **img, vxa_volume **lab)
{
    if (vxa_volume_alloc(d->dim, d->channels, d->dtype, img) != VXA_OK ||
        vxa_volume_alloc(d->dim, 1, d->label_dtype, lab) != VXA_OK)
        return 0;
    vxa_volume_set_spacing(*img, d->spacing);
    vxa_volume_set_spacing(*lab, d->spacing);
    (*img)->scl_slope = d->slope;
    (*img)->scl_inter = d->inter;
    uint64_t state = (uint64_t)(unsigned char)d->name[0];
    const double range = d->dtype == VXA_UINT8 ? 250 : d->dtype == VXA_INT16 ? 3000 : 1;
    for (int64_t c = 0; c < d->channels; c++)
        for (int64_t k = 0; k < d->dim[2]; k++)
            for (int64_t j = 0; j < d->dim[1]; j++)
                for (int64_t i = 0; i < d->dim[0]; i++) {
                    const double smooth = 0.5 + 0.25 * cos(0.37 * (double)i + (double)c) +
                                          0.15 * cos(0.29 * (double)j) * cos(0.41 * (double)k);
                    const double x = smooth + 0.1 * unit(&state);
                    vxa_volume_set(*img, i, j, k, c, range * x);
                    if (c == 0) vxa_volume_set(*lab, i, j, k, 0, floor(smooth * 6.0 > 5 ? 5 : smooth * 6.0));
                }
    return 1;
}

/* ---- runs --------------------------------------------------------------------------------------------------- */
static const uint64_t seeds[][2] = { { 1, 0 }, { 20261207, 5 } };

static void print_run(int line, uint64_t seed, uint64_t sample, const char *how, const vxa_volume *img,
                      const vxa_volume *lab, const vxa_draw *draw, const vxa_volume *field)
{
    char hi[65], hl[65], hg[65], hd[65], hf[65];
    hash_voxels(img, hi);
    hash_voxels(lab, hl);
    hash_geometry(img, hg);
    const char *json = vxa_draw_json(draw);
    hash_bytes(json, strlen(json), hd);
    hash_voxels(field, hf);
    printf("L%d s%" PRIu64 "/%" PRIu64 " %s img %s lab %s geo %s draw %s field %s\n", line, seed, sample, how, hi, hl,
           hg, hd, hf);
}

static vxa_context *open_context(const char *device, uint64_t max_alloc)
{
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = device;
    opt.max_alloc = max_alloc;
    vxa_context *ctx = NULL;
    if (vxa_context_create(&opt, &ctx) != VXA_OK) {
        fprintf(stderr, "vxa_corpus: device '%s': %s\n", device ? device : "(default)", vxa_last_error(ctx));
        vxa_context_destroy(ctx);
        return NULL;
    }
    return ctx;
}

/* One corpus line: "INPUT LABEL HOW SPEC" (LABEL "lab" or "-"; HOW "run", or "run,batch", "run,slabs"). */
static int run_line(vxa_context *ctx, vxa_context *slab_ctx, int line, char *text, vxa_volume *const *imgs,
                    vxa_volume *const *labs)
{
    char in[8], lab_flag[8], how[32];
    int used = 0;
    if (sscanf(text, "%7s %7s %31s %n", in, lab_flag, how, &used) != 3 || used == 0) {
        fprintf(stderr, "vxa_corpus: line %d: expected INPUT LABEL HOW SPEC\n", line);
        return 0;
    }
    const char *spec = text + used;
    size_t which = NINPUTS;
    for (size_t n = 0; n < NINPUTS; n++)
        if (strcmp(in, inputs[n].name) == 0) which = n;
    if (which == NINPUTS) {
        fprintf(stderr, "vxa_corpus: line %d: no input '%s'\n", line, in);
        return 0;
    }
    const vxa_volume *img = imgs[which], *lab = strcmp(lab_flag, "lab") == 0 ? labs[which] : NULL;
    char err[1024] = "";
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) {
        fprintf(stderr, "vxa_corpus: line %d: %s\n", line, err);
        return 0;
    }
    int ok = 1;
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0] && ok; s++) {
        const uint64_t seed = seeds[s][0], sample = seeds[s][1];
        vxa_context *const ctxs[2] = { ctx, slab_ctx };
        const char *const names[2] = { "run", "slabs" };
        for (int c = 0; c < 2 && ok; c++) {
            if (c == 1 && !strstr(how, "slabs")) continue;
            vxa_volume *oi = NULL, *ol = NULL, *field = NULL;
            vxa_draw *draw = NULL;
            vxa_run_options o;
            vxa_run_options_init(&o);
            o.seed = seed;
            o.sample = sample;
            o.field_out = &field;
            if (vxa_pipeline_run_ex(ctxs[c], p, &o, img, lab, &oi, lab ? &ol : NULL, &draw) != VXA_OK) {
                fprintf(stderr, "vxa_corpus: line %d (%s), seed %" PRIu64 " sample %" PRIu64 ": %s\n", line,
                        names[c], seed, sample, vxa_last_error(ctxs[c]));
                ok = 0;
            } else {
                print_run(line, seed, sample, names[c], oi, ol, draw, field);
            }
            vxa_volume_free(oi);
            vxa_volume_free(ol);
            vxa_volume_free(field);
            vxa_draw_free(draw);
        }
        if (ok && strstr(how, "batch")) {
            /* the sample in the middle of a batch of three */
            const vxa_volume *bi[3] = { img, img, img }, *bl[3] = { lab, lab, lab };
            vxa_volume *oi[3] = { 0 }, *ol[3] = { 0 };
            vxa_draw *dr[3] = { 0 };
            const uint64_t first = sample > 0 ? sample - 1 : 0;
            if (vxa_pipeline_run_batch(ctx, p, seed, first, 3, bi, lab ? bl : NULL, oi, lab ? ol : NULL, dr) !=
                VXA_OK) {
                fprintf(stderr, "vxa_corpus: line %d (batch): %s\n", line, vxa_last_error(ctx));
                ok = 0;
            } else {
                print_run(line, seed, sample, "batch", oi[sample - first], ol[sample - first], dr[sample - first],
                          NULL);
            }
            for (int b = 0; b < 3; b++) {
                vxa_volume_free(oi[b]);
                vxa_volume_free(ol[b]);
                vxa_draw_free(dr[b]);
            }
        }
    }
    vxa_pipeline_free(p);
    return ok;
}

int main(int argc, char **argv)
{
    const char *list = NULL, *device = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (!list)
            list = argv[i];
        else
            list = NULL, i = argc;
    }
    if (!list) {
        fprintf(stderr, "usage: vxa_corpus PIPELINES.txt [--device D]\n");
        return 2;
    }
    char digest[65];
    hash_bytes("abc", 3, digest);  /* FIPS 180-4's first example: a wrong hash would make every line wrong */
    if (strcmp(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0) {
        fprintf(stderr, "vxa_corpus: SHA-256 self-test failed: %s\n", digest);
        return 1;
    }
    FILE *f = fopen(list, "r");
    if (!f) {
        perror(list);
        return 1;
    }
    /* files that specs name (histstd's landmarks) are relative to the list's folder, wherever this runs */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", list);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (chdir(dir) != 0) {
            perror(dir);
            fclose(f);
            return 1;
        }
    }
    vxa_volume *imgs[NINPUTS] = { 0 }, *labs[NINPUTS] = { 0 };
    int ok = 1;
    for (size_t n = 0; n < NINPUTS && ok; n++) ok = make_input(&inputs[n], &imgs[n], &labs[n]);
    vxa_context *ctx = ok ? open_context(device, 0) : NULL;
    /* the reference path has no allocation limit: its "slabs" runs are whole passes, equal all the same */
    vxa_context *slab_ctx = ctx ? open_context(device, 8 * 1024) : NULL;
    ok = ok && ctx && slab_ctx;
    if (ok) printf("# device %s\n", vxa_context_device_name(ctx));
    char text[4096];
    int line = 0;
    while (ok && fgets(text, sizeof text, f)) {
        line++;
        text[strcspn(text, "\n")] = '\0';
        if (text[0] == '#' || text[strspn(text, " \t")] == '\0') continue;
        ok = run_line(ctx, slab_ctx, line, text, imgs, labs);
    }
    fclose(f);
    vxa_context_destroy(slab_ctx);
    vxa_context_destroy(ctx);
    for (size_t n = 0; n < NINPUTS; n++) {
        vxa_volume_free(imgs[n]);
        vxa_volume_free(labs[n]);
    }
    return ok ? 0 : 1;
}
