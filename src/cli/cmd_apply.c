/* SPDX-License-Identifier: MIT */
/* voxaug apply: one pipeline, fixed or random parameters, on one image (+ label map), written as NIfTI. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        "  --field-out FILE     the elastic displacement field (3 channels, voxels) if an elastic op ran\n"
        "  --params-out FILE    what was drawn, as JSON\n"
        "  --seed N, --sample I the random draw (default 0, 0)\n"
        "  --keep-type          write the image in the input's type (rounded, saturated)\n"
        "  --device D           gpu, cpu, reference, an index from `voxaug devices`, or a name\n");
}

int cmd_apply(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *label = NULL, *label_out = NULL, *field_out = NULL, *params_out = NULL;
    const char *spec = NULL, *device = NULL;
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
        } else if (a[0] == '-') {
            fprintf(stderr, "voxaug apply: unknown option '%s' (voxaug apply --help)\n", a);
            return 2;
        } else if (!in) { in = a; continue; }
        else {
            fprintf(stderr, "voxaug apply: unexpected argument '%s'\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "voxaug apply: %s needs a value\n", a);
            return 2;
        }
        *target = argv[++i];
    }
    if (!in || !out || !spec) {
        fprintf(stderr, "voxaug apply: needs IN, --ops and -o (voxaug apply --help)\n");
        return 2;
    }
    if ((label != NULL) != (label_out != NULL)) {
        fprintf(stderr, "voxaug apply: --label and --label-out go together\n");
        return 2;
    }

    char err[8192] = "";
    int rc = 1;
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
    if ((st = cli_context(device, &ctx)) != VXA_OK) goto done;
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = seed;
    o.sample = sample;
    o.field_out = field_out ? &field : NULL;
    if ((st = vxa_pipeline_run_ex(ctx, p, &o, img, lab, &oimg, label ? &olab : NULL, &draw)) != VXA_OK) {
        fprintf(stderr, "voxaug apply: %s: %s\n", in, vxa_last_error(ctx));
        goto done;
    }
    if (keep_type && img->dtype != VXA_FLOAT32) {
        vxa_volume *typed = NULL;
        if ((st = cli_convert(oimg, img->dtype, &typed)) != VXA_OK) {
            fprintf(stderr, "voxaug apply: converting the output to %s: %s\n", vxa_dtype_name(img->dtype),
                    vxa_status_string(st));
            goto done;
        }
        vxa_volume_free(oimg);
        oimg = typed;
    }
    if (field_out && !field) {
        fprintf(stderr, "voxaug apply: --field-out: no elastic op ran, so there is no field to write\n");
        goto done;
    }
    if ((st = vxa_nifti_write(out, oimg, err, sizeof err)) != VXA_OK ||
        (label_out && (st = vxa_nifti_write(label_out, olab, err, sizeof err)) != VXA_OK) ||
        (field_out && (st = vxa_nifti_write(field_out, field, err, sizeof err)) != VXA_OK)) {
        fprintf(stderr, "voxaug apply: %s\n", err);
        goto done;
    }
    if (params_out && cli_write_text(params_out, vxa_draw_json(draw), err, sizeof err) != 0) {
        fprintf(stderr, "voxaug apply: %s\n", err);
        goto done;
    }
    rc = 0;
done:
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
