/* SPDX-License-Identifier: MIT */
/* Timings (not a test): elastic fields, exact and fast, on ch2's grid (181x217x181, 3 components), for sigma
 * 4, 8, 16 and 35 voxels:
 *     vxa_elastic_timing [DEVICE] [REPEAT]
 * DEVICE as vxa_context_options.device (default: the library's choice); each figure is the best of REPEAT
 * (default 3) runs, from the first enqueue to the field being readable on the host. */
#include "elastic.h"

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
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = argc > 1 && strcmp(argv[1], "default") != 0 ? argv[1] : NULL;
    const int repeat = argc > 2 ? atoi(argv[2]) : 3;
    vxa_context *ctx = NULL;
    if (vxa_context_create(&opt, &ctx) != VXA_OK) {
        fprintf(stderr, "%s\n", ctx ? vxa_last_error(ctx) : "out of memory");
        vxa_context_destroy(ctx);
        return 1;
    }
    const int64_t dim[3] = { 181, 217, 181 };
    const double sigmas[] = { 4, 8, 16, 35 };
    float *host = malloc(sizeof(float) * 3 * 181 * 217 * 181);
    printf("device: %s, grid 181x217x181, 3 components, best of %d\n", vxa_context_device_name(ctx), repeat);
    printf("sigma   exact (s)   fast (s)\n");
    int rc = 0;
    for (size_t s = 0; s < sizeof sigmas / sizeof sigmas[0] && rc == 0; s++) {
        double best[2] = { 1e30, 1e30 };
        for (int m = 0; m < 2 && rc == 0; m++)
            for (int r = 0; r < repeat && rc == 0; r++) {
                const vxa_elastic_plan plan = { .alpha = { 1000, 1000, 1000 },
                                                .sigma = { sigmas[s], sigmas[s], sigmas[s] },
                                                .mode = (vxa_elastic_mode)m };
                const vxa_noise_key key = { 7, (uint64_t)r, 0 };
                vxa_dvol f;
                const double t0 = now();
                if (vxa_elastic_field_build(ctx, &plan, &key, dim, &f) != VXA_OK ||
                    vxa_dvol_read(ctx, &f, host) != VXA_OK) {
                    fprintf(stderr, "%s\n", vxa_last_error(ctx));
                    rc = 1;
                    break;
                }
                const double t = now() - t0;
                best[m] = t < best[m] ? t : best[m];
                vxa_dvol_release(ctx, &f);
            }
        printf("%5g   %9.3f   %8.3f\n", sigmas[s], best[0], best[1]);
    }
    free(host);
    vxa_context_destroy(ctx);
    return rc;
}
