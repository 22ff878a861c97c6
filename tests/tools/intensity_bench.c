/* SPDX-License-Identifier: MIT */
/* Timing of each intensity op on one device (not a test): intensity_bench NX NY NZ [raw float32 file].
 * Without a file the volume is a smooth random one. Prints the median of 5 runs per op in ms, including the
 * wait for the device; the first run of each op (kernel build) is not counted. Device: $VOXAUG_DEVICE. */
#include "testutil.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct { const char *label; const char *op[4]; int pidx[4]; double pv[4]; } bench_case;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: intensity_bench NX NY NZ [raw float32 file]\n");
        return 2;
    }
    const int64_t dim[3] = { atoll(argv[1]), atoll(argv[2]), atoll(argv[3]) };
    vxa_volume *src = NULL;
    uint64_t rng = 1;
    if (argc > 4) {
        if (vxa_volume_alloc(dim, 1, VXA_FLOAT32, &src) != VXA_OK) return 1;
        FILE *f = fopen(argv[4], "rb");
        if (!f || fread(src->data, 4, vxa_volume_voxels(src), f) != vxa_volume_voxels(src)) {
            fprintf(stderr, "%s: cannot read %zu floats\n", argv[4], vxa_volume_voxels(src));
            return 1;
        }
        fclose(f);
    } else {
        src = vxa_test_smooth_volume(dim, &rng);
    }
    vxa_context *ctx = NULL;
    if (vxa_context_create(NULL, &ctx) != VXA_OK) {
        fprintf(stderr, "context: %s\n", vxa_last_error(ctx));
        return 1;
    }
    /* op names, and one parameter (index, value) each where it matters */
    const bench_case cases[] = {
        { "clip", { "clip" }, { 1 }, { 0 } },
        { "pclip", { "pclip" }, { -1 }, { 0 } },
        { "pclip nonzero", { "pclip" }, { 2 }, { 1 } },
        { "minmax", { "minmax" }, { -1 }, { 0 } },
        { "zscore", { "zscore" }, { -1 }, { 0 } },
        { "zscore nonzero", { "zscore" }, { 0 }, { 1 } },
        { "window", { "window" }, { -1 }, { 0 } },
        { "noise", { "noise" }, { 0 }, { 10 } },
        { "gamma", { "gamma" }, { 0 }, { 1.5 } },
        { "brightness", { "brightness" }, { 0 }, { 1.1 } },
        { "contrast", { "contrast" }, { 0 }, { 1.2 } },
        { "bias", { "bias" }, { -1 }, { 0 } },
        { "chain noise+bias+brightness+clip (fused)", { "noise", "bias", "brightness", "clip" },
          { 0, -1, 0, 1 }, { 10, 0, 1.1, 500 } },
        { "chain pclip+zscore(nonzero)", { "pclip", "zscore" }, { 2, 0 }, { 1, 1 } },
    };
    printf("# %s, %lldx%lldx%lld\n", vxa_context_device_name(ctx), (long long)dim[0], (long long)dim[1],
           (long long)dim[2]);
    vxa_volume *work = NULL;
    vxa_volume_clone(src, &work);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const vxa_op_desc *ops[4];
        vxa_op_values vals[4];
        int n = 0;
        for (; n < 4 && cases[c].op[n]; n++) {
            ops[n] = vxa_op_find(cases[c].op[n]);
            memset(&vals[n], 0, sizeof vals[n]);
            for (int i = 0; i < ops[n]->nparams; i++)
                for (int k = 0; k < 3; k++) vals[n].v[i][k] = ops[n]->params[i].def[0];
            if (strcmp(ops[n]->name, "clip") == 0) vals[n].v[0][0] = 0, vals[n].v[1][0] = 500;  /* clip needs bounds */
            if (cases[c].pidx[n] >= 0) vals[n].v[cases[c].pidx[n]][0] = cases[c].pv[n];
            vals[n].seed = 1;
            vals[n].op_index = (uint32_t)n;
        }
        double t[6];
        for (int r = 0; r < 6; r++) {
            memcpy(work->data, src->data, vxa_volume_bytes(src));
            vxa_dvol d;
            if (vxa_dvol_from_volume(ctx, work, &d) != VXA_OK) return 1;
            const double t0 = now_ms();
            vxa_status st = vxa_intensity_run(ctx, ops, vals, n, NULL, &d, NULL);
            if (st == VXA_OK) st = vxa_dvol_read(ctx, &d, work->data);
            t[r] = now_ms() - t0;
            vxa_dvol_release(ctx, &d);
            if (st != VXA_OK) {
                fprintf(stderr, "%s: %s\n", cases[c].label, vxa_last_error(ctx));
                return 1;
            }
        }
        qsort(t + 1, 5, sizeof t[0], cmp);
        printf("%-42s %9.2f ms\n", cases[c].label, t[3]);
    }
    vxa_volume_free(work);
    vxa_volume_free(src);
    vxa_context_destroy(ctx);
    return 0;
}
