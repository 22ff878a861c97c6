/* SPDX-License-Identifier: MIT */
/* A pipeline run through the public C API only (voxaug.h), for tests/scipy/check_pipeline.py to compare with
 * `voxaug apply`:
 *     vxa_pipeline_api IMAGE LABEL SPEC SEED SAMPLE OUT OUT_LABEL OUT_DRAW.json
 * reads IMAGE and LABEL (NIfTI), parses SPEC, runs sample SAMPLE of SEED on the default device, writes the image,
 * the label map and the draw's JSON. The output's shape is asked for before the run and checked against the
 * result. Exit status 0 on success, 1 with the error on stderr, 2 on bad usage. */
#include <voxaug.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "vxa_pipeline_api: %s: %s\n", what, why);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: %s IMAGE LABEL SPEC SEED SAMPLE OUT OUT_LABEL OUT_DRAW.json\n", argv[0]);
        return 2;
    }
    char err[512] = "";
    vxa_volume *img = NULL, *lab = NULL, *out = NULL, *olab = NULL;
    vxa_pipeline *p = NULL;
    vxa_context *ctx = NULL;
    vxa_draw *draw = NULL;
    int rc = 1;
    const uint64_t seed = strtoull(argv[4], NULL, 10), sample = strtoull(argv[5], NULL, 10);
    if (vxa_nifti_read(argv[1], &img, err, sizeof err) != VXA_OK) {
        rc = fail(argv[1], err);
        goto done;
    }
    if (vxa_nifti_read(argv[2], &lab, err, sizeof err) != VXA_OK) {
        rc = fail(argv[2], err);
        goto done;
    }
    if (vxa_pipeline_parse(argv[3], &p, err, sizeof err) != VXA_OK) {
        rc = fail("spec", err);
        goto done;
    }
    vxa_volume shape;
    vxa_volume_init(&shape, img->dim, img->channels, VXA_FLOAT32); /* sets shape.size (voxaug.h, ABI) */
    if (vxa_pipeline_output_shape(p, img, &shape) != VXA_OK) {
        rc = fail("output shape", "refused");
        goto done;
    }
    if (vxa_context_create(NULL, &ctx) != VXA_OK) {
        rc = fail("device", vxa_last_error(ctx));
        goto done;
    }
    if (vxa_pipeline_run(ctx, p, seed, sample, img, lab, &out, &olab, &draw) != VXA_OK) {
        rc = fail("run", vxa_last_error(ctx));
        goto done;
    }
    for (int a = 0; a < 3; a++)
        if (out->dim[a] != shape.dim[a] || olab->dim[a] != shape.dim[a]) {
            snprintf(err, sizeof err, "axis %d: %" PRId64 " voxels, the shape asked for before the run said %" PRId64,
                     a, out->dim[a], shape.dim[a]);
            rc = fail("output shape", err);
            goto done;
        }
    if (vxa_nifti_write(argv[6], out, err, sizeof err) != VXA_OK) {
        rc = fail(argv[6], err);
        goto done;
    }
    if (vxa_nifti_write(argv[7], olab, err, sizeof err) != VXA_OK) {
        rc = fail(argv[7], err);
        goto done;
    }
    FILE *f = fopen(argv[8], "w");
    if (!f) {
        rc = fail(argv[8], "cannot open");
        goto done;
    }
    const int put = fputs(vxa_draw_json(draw), f);
    if (fclose(f) != 0 || put < 0) {
        rc = fail(argv[8], "cannot write");
        goto done;
    }
    rc = 0;
done:
    vxa_draw_free(draw);
    vxa_volume_free(out);
    vxa_volume_free(olab);
    vxa_context_destroy(ctx);
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
    return rc;
}
