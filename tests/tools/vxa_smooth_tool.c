/* SPDX-License-Identifier: MIT */
/* Drives vxa_gauss_smooth for tests/scipy/check_smooth.py and the smoothing timings:
 *     vxa_smooth_tool DEVICE NX NY NZ CHANNELS S0 S1 S2 MODE TRUNCATE IN.raw OUT.raw [REPEAT]
 * IN.raw: float32 in NIfTI order (i fastest, as numpy's .tofile of an array in Fortran order), MODE one of
 * constant, nearest, reflect; DEVICE as vxa_context_options.device ("reference", "cpu", ...;
 * "default" = $VOXAUG_DEVICE or the library's choice). Writes the
 * smoothed volume to OUT.raw and the time of the smoothing itself (the last of REPEAT runs, waiting for the
 * device) on stdout as "seconds <s>". Exit status 0 on success, 1 with the error on stderr. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 13 && argc != 14) {
        fprintf(stderr, "usage: %s DEVICE NX NY NZ CHANNELS S0 S1 S2 MODE TRUNCATE IN.raw OUT.raw [REPEAT]\n",
                argv[0]);
        return 2;
    }
    const int64_t dim[3] = { atoll(argv[2]), atoll(argv[3]), atoll(argv[4]) };
    const int64_t channels = atoll(argv[5]);
    const double sigma[3] = { atof(argv[6]), atof(argv[7]), atof(argv[8]) };
    const char *modes[] = { "constant", "nearest", "reflect" };
    int mode = -1;
    for (int m = 0; m < 3; m++)
        if (strcmp(argv[9], modes[m]) == 0) mode = m;
    const double truncate = atof(argv[10]);
    const int repeat = argc == 14 ? atoi(argv[13]) : 1;
    if (mode < 0 || dim[0] < 1 || dim[1] < 1 || dim[2] < 1 || channels < 1 || repeat < 1) {
        fprintf(stderr, "%s: bad mode '%s', shape or repeat count\n", argv[0], argv[9]);
        return 2;
    }

    int rc = 1;
    vxa_context *ctx = NULL;
    vxa_volume *v = NULL;
    vxa_dvol d = { 0 };
    FILE *f = NULL;
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = strcmp(argv[1], "default") == 0 ? NULL : argv[1];
    if (vxa_context_create(&opt, &ctx) != VXA_OK) {
        fprintf(stderr, "device %s: %s\n", argv[1], ctx ? vxa_last_error(ctx) : "out of memory");
        goto done;
    }
    if (vxa_volume_alloc(dim, channels, VXA_FLOAT32, &v) != VXA_OK) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    if (!(f = fopen(argv[11], "rb")) || fread(v->data, 1, vxa_volume_bytes(v), f) != vxa_volume_bytes(v)) {
        fprintf(stderr, "%s: cannot read %zu bytes\n", argv[11], vxa_volume_bytes(v));
        goto done;
    }
    fclose(f);
    f = NULL;
    double t = 0;
    for (int r = 0; r < repeat; r++) {
        vxa_dvol_release(ctx, &d);
        if (vxa_dvol_alloc(ctx, dim, channels, VXA_FLOAT32, &d) != VXA_OK || vxa_dvol_write(ctx, &d, v->data) != VXA_OK)
            goto fail;
        if (vxa_dvol_read(ctx, &d, v->data) != VXA_OK) goto fail;   /* the upload is done before the clock */
        const double t0 = now();
        if (vxa_gauss_smooth(ctx, &d, sigma, (vxa_mode)mode, truncate) != VXA_OK ||
            vxa_dvol_read(ctx, &d, v->data) != VXA_OK)
            goto fail;
        t = now() - t0;
        if (r + 1 < repeat) {   /* the next run smooths the original again */
            f = fopen(argv[11], "rb");
            if (!f || fread(v->data, 1, vxa_volume_bytes(v), f) != vxa_volume_bytes(v)) goto done;
            fclose(f);
            f = NULL;
        }
    }
    if (!(f = fopen(argv[12], "wb")) || fwrite(v->data, 1, vxa_volume_bytes(v), f) != vxa_volume_bytes(v)) {
        fprintf(stderr, "%s: cannot write\n", argv[12]);
        goto done;
    }
    printf("seconds %.6f\n", t);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", vxa_last_error(ctx));
done:
    if (f) fclose(f);
    vxa_dvol_release(ctx, &d);
    vxa_volume_free(v);
    vxa_context_destroy(ctx);
    return rc;
}
