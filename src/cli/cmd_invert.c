/* SPDX-License-Identifier: MIT */
/* voxaug invert: an output of a run (its image, its label map, or a prediction on its grid) back onto the run's
 * input grid, from the run's draw record (vxa_pipeline_invert). */
#include "cli.h"
#include "commit.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void invert_usage(FILE *f)
{
    fprintf(f,
        "usage: voxaug invert OUT.nii[.gz] --draw DRAW.json --like ORIGINAL.nii[.gz] -o BACK.nii[.gz] [options]\n\n"
        "Maps OUT, an output of a run (`voxaug apply`, `voxaug augment`): its image, its label map, or anything on\n"
        "its grid such as a network's prediction, back onto the grid of the run's input ORIGINAL. The spatial ops\n"
        "of the draw are undone in one resampling pass: affine parts exactly (flips, crops, pads, quarter turns\n"
        "and whole shifts come back voxel for voxel), elastic fields by fixed-point iteration. BACK has\n"
        "ORIGINAL's grid and affine; where the content left OUT's field of view (a crop, a rotation's corners)\n"
        "it holds --cval, and the count is printed. Intensity ops (zscore, noise, ...) are NOT undone: their\n"
        "effect stays in BACK (the ops are named).\n\n"
        "  --draw FILE          the run's draw record: apply's --params-out, or augment's JSON sidecar\n"
        "  --like FILE          the run's input image (its grid and affine are used; BACK gets them)\n"
        "  -o, --out FILE       BACK\n"
        "  --nearest            nearest neighbour, OUT's type kept: label maps (default for integer types); a\n"
        "                       voxel that the run sampled into some output voxel gets that voxel's value\n"
        "  --linear             trilinear, float32 (default for float types: images, probabilities)\n"
        "  --cval V             what fills the voxels whose content left the field of view (default 0)\n"
        "  --report-out FILE    the figures printed, as JSON\n"
        "  -q, --quiet          print nothing on success\n"
        "  --device D           gpu, cpu, reference, an index from `voxaug devices`, or a name\n\n"
        "The draw is re-planned on ORIGINAL's grid and must match the record op for op (else ORIGINAL is not the\n"
        "run's input); OUT must have the draw's output dims. BACK is written atomically.\n"
        "exit status: 0 done; 1 failed (a file could not be read or written, a record that does not match,\n"
        "OUT of other dims, the device); 2 usage error; 130/143 stopped by SIGINT/SIGTERM\n");
}

/* The whole of a small text file, NUL-terminated (NULL with the reason printed). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "voxaug invert: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    const size_t limit = (size_t)64 << 20;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    const char *why = NULL;
    while (s && !why) {
        const size_t k = fread(s + n, 1, cap - n - 1, f);
        n += k;
        if (ferror(f)) why = strerror(errno);
        else if (k == 0) break;
        else if (n == cap - 1) {
            char *t = cap < limit ? realloc(s, cap * 2) : NULL;
            if (!t) why = cap < limit ? "out of memory" : "more than 64 MiB: not a draw record";
            else {
                s = t;
                cap *= 2;
            }
        }
    }
    if (!s) why = "out of memory";
    fclose(f);
    if (why) {
        fprintf(stderr, "voxaug invert: %s: %s\n", path, why);
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

/* An unsigned integer member of a JSON object. */
static int json_u64(const char *obj, const char *key, uint64_t *out)
{
    const char *v = cli_json_find(obj, key), *end = v ? cli_json_skip(v) : NULL;
    char num[32];
    if (!end || end - v < 1 || (size_t)(end - v) >= sizeof num) return 0;
    memcpy(num, v, (size_t)(end - v));
    num[end - v] = '\0';
    return cli_parse_u64(num, out);
}

/* The first element of two JSON arrays that differs (as text), or -1 where both hold the same. */
static int first_difference(const char *a, const char *b, const char **ea, const char **eb, size_t *la, size_t *lb)
{
    a = cli_json_ws(a) + 1;
    b = cli_json_ws(b) + 1;
    for (int i = 0;; i++) {
        a = cli_json_ws(a);
        b = cli_json_ws(b);
        if (*a == ']' && *b == ']') return -1;
        const char *za = *a == ']' ? a : cli_json_skip(a), *zb = *b == ']' ? b : cli_json_skip(b);
        if (!za || !zb) return i;
        *ea = a;
        *eb = b;
        *la = (size_t)(za - a);
        *lb = (size_t)(zb - b);
        if (*la != *lb || memcmp(a, b, *la) != 0) return i;
        a = cli_json_ws(za);
        b = cli_json_ws(zb);
        if (*a == ',') a++;
        if (*b == ',') b++;
    }
}

int cmd_invert(int argc, char **argv)
{
    const char *in = NULL, *draw_path = NULL, *like = NULL, *out = NULL, *report_out = NULL, *device = NULL;
    const char *cval_text = NULL;
    int nearest = -1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { invert_usage(stdout); return 0; }
        else if (strcmp(a, "--draw") == 0) target = &draw_path;
        else if (strcmp(a, "--like") == 0) target = &like;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) target = &out;
        else if (strcmp(a, "--report-out") == 0) target = &report_out;
        else if (strcmp(a, "--device") == 0) target = &device;
        else if (strcmp(a, "--cval") == 0) target = &cval_text;
        else if (strcmp(a, "--nearest") == 0 || strcmp(a, "--linear") == 0) {
            const int want = a[2] == 'n';
            if (nearest >= 0 && nearest != want) {
                fprintf(stderr, "voxaug invert: --nearest and --linear exclude each other\n");
                return 2;
            }
            nearest = want;
            continue;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) { quiet = 1; continue; }
        if (cli_take_arg("invert", argc, argv, &i, target, &in) != 0) return 2;
    }
    if (!in || !draw_path || !like || !out) {
        fprintf(stderr, "voxaug invert: needs OUT, --draw, --like and -o (voxaug invert --help)\n");
        return 2;
    }
    double cval = 0.0;
    if (cval_text) {
        char *end;
        errno = 0;
        cval = strtod(cval_text, &end);
        if (errno || end == cval_text || *end || !isfinite(cval)) {
            fprintf(stderr, "voxaug invert: --cval needs a finite number, not '%s'\n", cval_text);
            return 2;
        }
    }
    const cli_path paths[] = { { in, "OUT", 0 }, { draw_path, "--draw", 0 }, { like, "--like", 0 },
                               { out, "-o", 1 }, { report_out, "--report-out", 1 } };
    if (cli_check_distinct("invert", paths, 5) != 0) return 2;
    cli_signals_install();

    char err[8192] = "";
    int rc = 1, sig = 0;
    vxa_commit c;
    vxa_commit_init(&c);
    char *record = NULL, *spec = NULL;
    vxa_pipeline *p = NULL;
    vxa_volume *vin = NULL, *vlike = NULL, *back = NULL;
    vxa_context *ctx = NULL;
    vxa_draw *replanned = NULL;
    cli_buf rep_json = { 0 };
    vxa_status st;

    /* the record: apply's draw, or augment's sidecar holding it under "draw" */
    if (!(record = read_text(draw_path))) goto done;
    const char *draw = cli_json_find(record, "draw") ? cli_json_find(record, "draw") : record;
    const char *spec_v = cli_json_find(draw, "spec"), *ops_v = cli_json_find(draw, "ops");
    uint64_t seed = 0, sample = 0;
    if (!spec_v || *spec_v != '"' || !ops_v || *ops_v != '[' || !json_u64(draw, "seed", &seed) ||
        !json_u64(draw, "sample", &sample)) {
        fprintf(stderr, "voxaug invert: %s: not a draw record (expected a JSON object with \"seed\", \"sample\", "
                "\"spec\" and \"ops\", or a sidecar holding one under \"draw\")\n", draw_path);
        goto done;
    }
    const char *spec_end = cli_json_skip(spec_v);
    if (!spec_end || !(spec = malloc((size_t)(spec_end - spec_v) + 1)) ||
        !cli_json_string(spec_v, spec, (size_t)(spec_end - spec_v) + 1)) {
        fprintf(stderr, "voxaug invert: %s: its \"spec\" is not a JSON string\n", draw_path);
        goto done;
    }
    if ((st = vxa_pipeline_parse(spec, &p, err, sizeof err)) != VXA_OK) {
        fprintf(stderr, "voxaug invert: %s: its spec: %s\n", draw_path, err);
        goto done;
    }
    if ((st = vxa_nifti_read(in, &vin, err, sizeof err)) != VXA_OK ||
        (st = vxa_nifti_read(like, &vlike, err, sizeof err)) != VXA_OK) {
        fprintf(stderr, "voxaug invert: %s\n", err);
        goto done;
    }
    if (nearest < 0) nearest = vin->dtype != VXA_FLOAT32 && vin->dtype != VXA_FLOAT64;
    if ((sig = cli_stopped())) goto stopped;
    if ((st = cli_context(device, &ctx)) != VXA_OK) goto done;

    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = seed;
    o.sample = sample;
    /* OUT's affine is not read (a prediction may carry any); a difference from the draw's is worth a word */
    vxa_volume shape;
    vxa_volume_init(&shape, vlike->dim, 1, VXA_FLOAT32);
    if (vxa_pipeline_output_shape_ex(p, &o, vlike, &shape) == VXA_OK && !quiet) {
        double worst = 0.0;
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 4; q++) worst = fmax(worst, fabs(shape.affine[r][q] - vin->affine[r][q]));
        if (worst > 1e-3)
            fprintf(stderr, "voxaug invert: warning: %s's affine differs from the one the draw gives on %s (by up to "
                    "%.3g): its voxels are taken as the output's voxels\n", in, like, worst);
    }
    vxa_invert_options opt;
    vxa_invert_options_init(&opt);
    opt.nearest = nearest;
    opt.cval = cval;
    vxa_invert_report rep;
    vxa_invert_report_init(&rep);
    if ((st = vxa_pipeline_invert(ctx, p, &o, vlike, vin, &opt, &back, &rep, &replanned)) != VXA_OK) {
        fprintf(stderr, "voxaug invert: %s with %s on %s: %s\n", in, draw_path, like, vxa_last_error(ctx));
        goto done;
    }
    /* the record must be this draw: the same ops drawn the same way on ORIGINAL's grid */
    const char *ea = NULL, *eb = NULL;
    size_t la = 0, lb = 0;
    const int diff = first_difference(ops_v, cli_json_find(vxa_draw_json(replanned), "ops"), &ea, &eb, &la, &lb);
    if (diff >= 0) {
        fprintf(stderr, "voxaug invert: %s does not match %s: its op %d is %.*s, but the pipeline on %s's grid "
                "(%lldx%lldx%lld) draws %.*s; is %s the run's input?\n", draw_path, like, diff, (int)(ea ? la : 0),
                ea ? ea : "", like, (long long)vlike->dim[0], (long long)vlike->dim[1], (long long)vlike->dim[2],
                (int)(eb ? lb : 0), eb ? eb : "", like);
        goto done;
    }
    if ((sig = cli_stopped())) goto stopped;

    cli_buf_printf(&rep_json, "{\"out\":");
    cli_buf_json_string(&rep_json, out);
    cli_buf_printf(&rep_json, ",\"dims\":[%lld,%lld,%lld],\"interpolation\":\"%s\",\"cval\":%.17g,\"voxels\":%llu,"
                   "\"outside\":%llu,\"sampled\":%llu,\"elastic_passes\":%d,\"iterations\":%d,\"residual_max\":%.6g,"
                   "\"residual_mean\":%.6g,\"unconverged\":%llu,\"intensity_ops_not_inverted\":%d,"
                   "\"intensity_names\":", (long long)back->dim[0], (long long)back->dim[1],
                   (long long)back->dim[2], nearest ? "nearest" : "linear", cval, (unsigned long long)rep.voxels,
                   (unsigned long long)rep.outside, (unsigned long long)rep.sampled, rep.elastic_passes,
                   rep.iterations, rep.residual_max, rep.residual_mean, (unsigned long long)rep.unconverged,
                   rep.intensity_ops);
    cli_buf_json_string(&rep_json, rep.intensity_names);
    cli_buf_printf(&rep_json, "}");
    for (int f = 0; f < 2 && st == VXA_OK; f++) {
        const char *target = f == 0 ? report_out : out;
        if (!target) continue;
        cli_clean_stale_of("invert", target);
        const int i = vxa_commit_add(&c, target, err, sizeof err);
        if (i < 0) st = VXA_ERR_IO;
        else if (f == 0)
            st = rep_json.oom ? VXA_ERR_OUT_OF_MEMORY : vxa_commit_write_text(&c, i, rep_json.s, err, sizeof err);
        else st = vxa_nifti_write_fd(c.f[i].fd, target, back, err, sizeof err);
        if (st == VXA_OK && (sig = cli_stopped())) goto stopped;
    }
    if (st == VXA_OK) st = vxa_commit_all(&c, err, sizeof err);
    if (st != VXA_OK) {
        fprintf(stderr, "voxaug invert: %s\n", err[0] ? err : vxa_status_string(st));
        goto done;
    }
    if (!quiet) {
        const double tot = rep.voxels ? (double)rep.voxels : 1.0;
        printf("%s: %lldx%lldx%lld on %s's grid, %s\n", out, (long long)back->dim[0], (long long)back->dim[1],
               (long long)back->dim[2], like, nearest ? "nearest neighbour" : "trilinear");
        printf("  outside OUT's field of view: %llu voxels (%.2f%%), set to %g\n", (unsigned long long)rep.outside,
               100.0 * (double)rep.outside / tot, cval);
        if (nearest)
            printf("  sampled by the run, given back the voxel they went to: %llu voxels (%.2f%%); the other %llu "
                   "inside take the nearest\n", (unsigned long long)rep.sampled, 100.0 * (double)rep.sampled / tot,
                   (unsigned long long)(rep.voxels - rep.outside - rep.sampled));
        if (rep.elastic_passes)
            printf("  elastic field inverted by fixed-point iteration: up to %d iterations, residual max %.3g "
                   "voxel (mean %.3g)%s\n", rep.iterations, rep.residual_max, rep.residual_mean,
                   rep.unconverged ? ", some voxels did not converge (the field folds there)" : "");
        if (rep.intensity_ops)
            printf("  NOT inverted: %d intensity op%s (%s): %s effect stays in %s\n", rep.intensity_ops,
                   rep.intensity_ops > 1 ? "s" : "", rep.intensity_names, rep.intensity_ops > 1 ? "their" : "its",
                   out);
    }
    rc = 0;
    goto done;
stopped:
    fprintf(stderr, "voxaug invert: stopped by %s: nothing written\n", cli_signal_name(sig));
    rc = 128 + sig;
done:
    vxa_commit_abort(&c);
    cli_buf_free(&rep_json);
    vxa_draw_free(replanned);
    vxa_volume_free(vin);
    vxa_volume_free(vlike);
    vxa_volume_free(back);
    vxa_pipeline_free(p);
    vxa_context_destroy(ctx);
    free(record);
    free(spec);
    return rc;
}
