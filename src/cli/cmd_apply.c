/* SPDX-License-Identifier: MIT */
/* voxaug apply: one pipeline, fixed or random parameters, on one image (+ label map), written as NIfTI. */
#include "cli.h"
#include "commit.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void apply_usage(FILE *f)
{
    fprintf(f,
        "usage: voxaug apply IN.nii[.gz] --ops SPEC -o OUT.nii[.gz] [options]\n\n"
        "Runs the ops of SPEC on IN (and its label map) and writes the result. Consecutive spatial ops are\n"
        "resampled in one pass; the label map gets the same transform with nearest-neighbour sampling.\n\n"
        "  --ops SPEC           ops, e.g. \"rotate(15, plane=0,1) zoom(1.1) crop(128,128,128)\"\n"
        "                       ranges [lo,hi] are drawn from --seed/--sample; `voxaug ops` lists every op\n"
        "  -o, --out FILE       output image (float32 unless --keep-type)\n"
        "  --label FILE         label map on the image's grid (integer type)\n"
        "  --label-out FILE     output label map (required with --label)\n"
        "  --field-out FILE     the displacement field of the draw's spatial ops (affine and elastic together) as\n"
        "                       ITK, ANTs and 3D Slicer read one: 5D NIfTI (dim[5] = 3) on the output's grid, in\n"
        "                       millimetres, the world point sampled minus the world point of the output voxel:\n"
        "                       one DisplacementFieldTransform reproduces the run's geometry\n"
        "  --field-units U      mm (default): intent DISPVECT, vectors in NIfTI's RAS frame (ITK 5.4 and later,\n"
        "                       SimpleITK 2.4 and later, turn them into LPS on reading); lps: intent VECTOR,\n"
        "                       vectors in ITK's LPS frame (ANTs' warp files; every ITK version reads them as\n"
        "                       they are); vox: the elastic field alone in voxels of the output grid (4D, 3\n"
        "                       channels, for ndimage.map_coordinates), zeros where no elastic op applied\n"
        "  --params-out FILE    what was drawn, as JSON\n"
        "  --seed N, --sample I the random draw (default 0, 0)\n"
        "  --keep-type          write the image in the input's type and scl_slope/scl_inter (rounded, saturated)\n"
        "  --device D           gpu, cpu, reference, an index from `voxaug devices`, or a name\n\n"
        "Outputs are written all or none: each to a temporary in its folder, renamed into place only when all\n"
        "are complete; on any failure or SIGINT/SIGTERM no file changes. An output that is the same file as an\n"
        "input or another output is refused before any work.\n"
        "exit status: 0 done; 1 failed (a file could not be read or written, the data or the device were\n"
        "rejected); 2 usage error (unknown or missing option, a spec that does not parse, outputs that are\n"
        "the same file as an input or each other); 130/143 stopped by SIGINT/SIGTERM\n");
}

static int ends_with(const char *s, const char *tail)
{
    const size_t n = strlen(s), t = strlen(tail);
    return n > t && strcmp(s + n - t, tail) == 0 && s[n - t - 1] != '/';
}

/* Checks before any work that path can be written: a NIfTI name if nifti, a folder that exists and takes new
 * files, and no folder of that name. The writers check again; this only spares running the pipeline (and
 * writing the other outputs) when the last output cannot be written. 0 if it looks writable. */
static int check_output(const char *path, int nifti)
{
    if (nifti && !ends_with(path, ".nii") && !ends_with(path, ".nii.gz")) {
        fprintf(stderr, "voxaug apply: %s: the name must end in .nii or .nii.gz\n", path);
        return -1;
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    const char *why = NULL;
    if (stat(dir, &sb) != 0) why = strerror(errno);
    else if (!S_ISDIR(sb.st_mode)) why = "not a folder";
    else if (access(dir, W_OK | X_OK) != 0) why = strerror(errno);
    if (why) {
        fprintf(stderr, "voxaug apply: %s: folder %s: %s\n", path, dir, why);
        return -1;
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "voxaug apply: %s: is a folder\n", path);
        return -1;
    }
    return 0;
}

int cmd_apply(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *label = NULL, *label_out = NULL, *field_out = NULL, *params_out = NULL;
    const char *spec = NULL, *device = NULL;
    const char *field_units = "mm";
    uint64_t seed = 0, sample = 0;
    int keep_type = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { apply_usage(stdout); return 0; }
        else if (strcmp(a, "--ops") == 0) target = &spec;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) target = &out;
        else if (strcmp(a, "--label") == 0) target = &label;
        else if (strcmp(a, "--label-out") == 0) target = &label_out;
        else if (strcmp(a, "--field-out") == 0) target = &field_out;
        else if (strcmp(a, "--field-units") == 0) target = &field_units;
        else if (strcmp(a, "--params-out") == 0) target = &params_out;
        else if (strcmp(a, "--device") == 0) target = &device;
        else if (strcmp(a, "--keep-type") == 0) { keep_type = 1; continue; }
        else if (strcmp(a, "--seed") == 0 || strcmp(a, "--sample") == 0) {
            if (i + 1 >= argc || !cli_parse_u64(argv[i + 1], a[2] == 's' && a[3] == 'e' ? &seed : &sample)) {
                fprintf(stderr, "voxaug apply: %s needs a non-negative integer\n", a);
                return 2;
            }
            i++;
            continue;
        }
        if (cli_take_arg("apply", argc, argv, &i, target, &in) != 0) return 2;
    }
    if (!in || !out || !spec) {
        fprintf(stderr, "voxaug apply: needs IN, --ops and -o (voxaug apply --help)\n");
        return 2;
    }
    const int field_vox = strcmp(field_units, "vox") == 0, field_lps = strcmp(field_units, "lps") == 0;
    if (!field_vox && !field_lps && strcmp(field_units, "mm") != 0) {
        fprintf(stderr, "voxaug apply: --field-units is mm, lps or vox, not '%s'\n", field_units);
        return 2;
    }
    if ((label != NULL) != (label_out != NULL)) {
        fprintf(stderr, "voxaug apply: --label and --label-out go together\n");
        return 2;
    }

    /* by file identity, before any work: ./x and x, a link to the input, a folder reached two ways */
    const cli_path paths[] = { { in, "input", 0 },          { label, "--label", 0 },
                               { out, "-o", 1 },            { label_out, "--label-out", 1 },
                               { field_out, "--field-out", 1 }, { params_out, "--params-out", 1 } };
    if (cli_check_distinct("apply", paths, 6) != 0) return 2;

    if (check_output(out, 1) != 0 || (label_out && check_output(label_out, 1) != 0) ||
        (field_out && check_output(field_out, 1) != 0) || (params_out && check_output(params_out, 0) != 0))
        return 1;
    cli_signals_install();

    char err[8192] = "";
    int rc = 1, sig = 0;
    vxa_commit c;
    vxa_commit_init(&c);
    vxa_pipeline *p = NULL;
    vxa_volume *img = NULL, *lab = NULL, *oimg = NULL, *olab = NULL, *field = NULL;
    vxa_context *ctx = NULL;
    vxa_draw *draw = NULL;
    vxa_status st;
    if ((st = vxa_pipeline_parse(spec, &p, err, sizeof err)) != VXA_OK) {
        fprintf(stderr, "voxaug apply: %s\n", err);
        rc = 2;
        goto done;
    }
    if ((st = vxa_nifti_read(in, &img, err, sizeof err)) != VXA_OK ||
        (label && (st = vxa_nifti_read(label, &lab, err, sizeof err)) != VXA_OK)) {
        fprintf(stderr, "voxaug apply: %s\n", err);
        goto done;
    }
    if ((sig = cli_stopped())) goto stopped;
    if ((st = cli_context(device, &ctx)) != VXA_OK) goto done;
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = seed;
    o.sample = sample;
    o.field_out = field_out && field_vox ? &field : NULL;
    if ((st = vxa_pipeline_run_ex(ctx, p, &o, img, lab, &oimg, label ? &olab : NULL, &draw)) != VXA_OK) {
        if (label) fprintf(stderr, "voxaug apply: %s with label %s: %s\n", in, label, vxa_last_error(ctx));
        else fprintf(stderr, "voxaug apply: %s: %s\n", in, vxa_last_error(ctx));
        goto done;
    }
    if (keep_type && img->dtype != VXA_FLOAT32) {
        /* stored as the input was: with its scl_slope/scl_inter, raw = (x - inter) / slope, so that a scaled
         * input (uint8 with slope 10) keeps its values instead of saturating at the type's range */
        const int scaled = img->scl_slope != 0.0 && isfinite(img->scl_slope) && isfinite(img->scl_inter);
        if (scaled) {
            float *x = oimg->data;
            const size_t n = vxa_volume_voxels(oimg);
            for (size_t i = 0; i < n; i++) x[i] = (float)(((double)x[i] - img->scl_inter) / img->scl_slope);
        }
        vxa_volume *typed = NULL;
        if ((st = cli_convert(oimg, img->dtype, &typed)) != VXA_OK) {
            fprintf(stderr, "voxaug apply: converting the output to %s: %s\n", vxa_dtype_name(img->dtype),
                    vxa_status_string(st));
            goto done;
        }
        if (scaled) {
            typed->scl_slope = img->scl_slope;
            typed->scl_inter = img->scl_inter;
        }
        vxa_volume_free(oimg);
        oimg = typed;
    }
    /* the field: the whole spatial part of the draw (mm, ITK), or the elastic field alone (zeros without one) */
    if (field_out && !field_vox && (st = vxa_pipeline_displacement_field(ctx, p, &o, img, &field)) != VXA_OK) {
        fprintf(stderr, "voxaug apply: %s: the displacement field: %s\n", in, vxa_last_error(ctx));
        goto done;
    }
    if (field_out && !field) {
        if ((st = vxa_volume_alloc(oimg->dim, 3, VXA_FLOAT32, &field)) != VXA_OK) {
            fprintf(stderr, "voxaug apply: --field-out: %s\n", vxa_status_string(st));
            goto done;
        }
        void *zeros = field->data;
        *field = *oimg;
        field->channels = 3;
        field->dtype = VXA_FLOAT32;
        field->scl_slope = field->scl_inter = 0.0;
        field->data = zeros;
    }
    if ((sig = cli_stopped())) goto stopped;
    /* all outputs or none (src/commit.h): each to a temporary in its folder, renamed into place only when all
     * are complete. The image is renamed last: a crash between two renames leaves the image old. */
    for (int f = 0; f < 4 && st == VXA_OK; f++) {
        const char *target = (const char *const[]){ label_out, field_out, params_out, out }[f];
        if (!target) continue;
        cli_clean_stale_of("apply", target); /* what interrupted runs left there, before adding our own */
        const int i = vxa_commit_add(&c, target, err, sizeof err);
        if (i < 0) st = VXA_ERR_IO;
        else if (target == params_out) st = vxa_commit_write_text(&c, i, vxa_draw_json(draw), err, sizeof err);
        else if (target == field_out && !field_vox)
            st = vxa_nifti_write_fd_displacement(c.f[i].fd, target, field,
                                                 field_lps ? VXA_FIELD_ITK_VECTOR : VXA_FIELD_DISPVECT, err,
                                                 sizeof err);
        else st = vxa_nifti_write_fd(c.f[i].fd, target, target == out ? oimg : target == label_out ? olab : field,
                                     err, sizeof err);
        if (st == VXA_OK && (sig = cli_stopped())) goto stopped;
    }
    if (st == VXA_OK) st = vxa_commit_all(&c, err, sizeof err);
    if (st != VXA_OK) {
        fprintf(stderr, "voxaug apply: %s\n", err);
        goto done;
    }
    rc = 0;
    goto done;
stopped:
    fprintf(stderr, "voxaug apply: stopped by %s: nothing written\n", cli_signal_name(sig));
    rc = 128 + sig;
done:
    vxa_commit_abort(&c);
    vxa_draw_free(draw);
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_volume_free(oimg);
    vxa_volume_free(olab);
    vxa_volume_free(field);
    vxa_pipeline_free(p);
    vxa_context_destroy(ctx);
    return rc;
}
