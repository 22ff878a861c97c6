/* SPDX-License-Identifier: MIT */
/* The C side of bench/python_overhead.py: times vxa_pipeline_run on an n^3 float32 volume (values from the
 * seed's own generator, so Python can rebuild the same volume) with a label map, as the Python binding calls it
 * (outputs, label and draw requested, the draw's JSON read, everything freed), and prints each call's
 * microseconds on one line.
 * usage: vxa_call_timing N REPS SPEC [label 0|1] */
#include "voxaug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vxa_call_timing N REPS SPEC [label 0|1]\n");
        return 2;
    }
    const int64_t n = atoll(argv[1]);
    const int reps = atoi(argv[2]);
    const int with_label = argc > 4 && atoi(argv[4]);
    const int64_t dim[3] = { n, n, n };
    vxa_volume *img = NULL, *lab = NULL;
    vxa_pipeline *p = NULL;
    vxa_context *ctx = NULL;
    char err[4096];
    if (vxa_volume_alloc(dim, 1, VXA_FLOAT32, &img) != VXA_OK || vxa_volume_alloc(dim, 1, VXA_UINT8, &lab) != VXA_OK)
        return 1;
    float *x = img->data;
    uint8_t *l = lab->data;
    uint64_t s = 88172645463325252ull;  /* xorshift64: any smooth-free data serves; the timing does not read it */
    for (size_t i = 0; i < vxa_volume_voxels(img); i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)(s >> 40) * 0x1.0p-24f;
        l[i] = (uint8_t)(s & 3);
    }
    if (vxa_pipeline_parse(argv[3], &p, err, sizeof err) != VXA_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (vxa_context_create(NULL, &ctx) != VXA_OK) {
        fprintf(stderr, "%s\n", vxa_last_error(ctx));
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        vxa_volume *oi = NULL, *ol = NULL;
        vxa_draw *d = NULL;
        const double t0 = now_us();
        vxa_status st = vxa_pipeline_run(ctx, p, 1, (uint64_t)r, img, with_label ? lab : NULL, &oi,
                                         with_label ? &ol : NULL, &d);
        size_t len = st == VXA_OK ? strlen(vxa_draw_json(d)) : 0;
        vxa_volume_free(oi);
        vxa_volume_free(ol);
        vxa_draw_free(d);
        const double t1 = now_us();
        if (st != VXA_OK || !len) {
            fprintf(stderr, "%s\n", vxa_last_error(ctx));
            return 1;
        }
        printf("%s%.1f", r ? " " : "", t1 - t0);
    }
    printf("\n");
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_context_destroy(ctx);
    return 0;
}
