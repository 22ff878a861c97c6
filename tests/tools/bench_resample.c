/* SPDX-License-Identifier: MIT */
/* Timing of the resampling pass (not a test): Mvox/s of vxa_resample on the default device for a rotation +
 * zoom, trilinear and nearest, on a ch2-sized (181x217x181) and a 256^3 uint8 volume. Kernel time = enqueue to
 * completion (the read is zero-copy on CPU devices); cpu = process CPU time over all threads, which shared
 * machines disturb less than wall time. Usage: bench_resample [repeats] */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    const int repeats = argc > 1 ? atoi(argv[1]) : 5;
    vxa_context *ctx = NULL;
    if (vxa_context_create(NULL, &ctx) != VXA_OK) {
        fprintf(stderr, "no device: %s\n", vxa_last_error(ctx));
        return 1;
    }
    printf("device: %s\n", vxa_context_device_name(ctx));
    const int64_t shapes[2][3] = { { 181, 217, 181 }, { 256, 256, 256 } };
    for (int s = 0; s < 2; s++) {
        const int64_t *dim = shapes[s];
        vxa_volume *in = NULL;
        if (vxa_volume_alloc(dim, 1, VXA_UINT8, &in) != VXA_OK) return 1;
        uint64_t rng = 1;
        unsigned char *x = in->data;
        for (size_t i = 0; i < vxa_volume_voxels(in); i++) x[i] = (unsigned char)(vxa_test_rand(&rng) & 255);
        vxa_dvol din, dout;
        if (vxa_dvol_from_volume(ctx, in, &din) != VXA_OK || vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &dout) != VXA_OK)
            return 1;
        vxa_resample_params p = { .out_dim = { dim[0], dim[1], dim[2] }, .mode = VXA_MODE_CONSTANT };
        const double th = 0.26, z = 1.1; /* 15 degrees in plane (0, 1), zoom 1.1, about the centre */
        p.A[0][0] = cos(th) / z; p.A[0][1] = sin(th) / z; p.A[1][0] = -sin(th) / z; p.A[1][1] = cos(th) / z;
        p.A[2][2] = 1 / z;
        for (int r = 0; r < 3; r++) {
            p.b[r] = 0.5 * (double)(dim[r] - 1);
            for (int c = 0; c < 3; c++) p.b[r] -= p.A[r][c] * 0.5 * (double)(dim[c] - 1);
        }
        for (int order = 1; order >= 0; order--) {
            p.order = order;
            double best = 1e30, total = 0, best_cpu = 1e30;
            for (int rep = -1; rep < repeats; rep++) { /* rep -1 builds the kernel */
                const double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
                if (vxa_resample(ctx, &din, &dout, &p) != VXA_OK || vxa_dvol_read(ctx, &dout, dout.host) != VXA_OK) {
                    fprintf(stderr, "%s\n", vxa_last_error(ctx));
                    return 1;
                }
                const double t = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
                if (rep >= 0) {
                    best_cpu = cpu < best_cpu ? cpu : best_cpu;
                    best = t < best ? t : best;
                    total += t;
                }
            }
            const double mvox = (double)(dim[0] * dim[1] * dim[2]) / 1e6;
            printf("%lldx%lldx%lld uint8 order %d: wall best %.1f ms (%.0f Mvox/s), mean %.1f ms; cpu (all threads) "
                   "best %.1f ms\n", (long long)dim[0], (long long)dim[1], (long long)dim[2], order, 1e3 * best,
                   mvox / best, 1e3 * total / repeats, 1e3 * best_cpu);
        }
        vxa_dvol_release(ctx, &din);
        vxa_dvol_release(ctx, &dout);
        vxa_volume_free(in);
    }
    vxa_context_destroy(ctx);
    return 0;
}
