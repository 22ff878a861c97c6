/* SPDX-License-Identifier: MIT */
/* Timings (not a test): elastic fields, exact and fast, on ch2's grid (181x217x181, 3 components), for sigma
 * 4, 8, 16 and 35 voxels, beside SciPy building the same exact field (uniform noise, then
 * ndimage.gaussian_filter(U_c, sigma, mode='constant', truncate=4) per component, float32, one thread):
 *     vxa_elastic_timing [DEVICE] [REPEAT]
 * DEVICE as vxa_context_options.device (default: the library's choice); each figure is the best of REPEAT
 * (default 3) runs, from the first enqueue to the field being readable on the host. The SciPy column runs
 * /usr/bin/python3 (Debian's, with SciPy) and reads "-" where it is missing. */
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

/* Seconds for SciPy to build the exact field for sigma (best of repeat), or -1. */
static double scipy_seconds(double sigma, int repeat)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import time, numpy as np\n"
             "from scipy import ndimage\nrng = np.random.default_rng(0)\nbest = 1e30\n"
             "for r in range(%d):\n"
             "    t = time.perf_counter()\n"
             "    u = rng.uniform(-1, 1, (3, 181, 217, 181)).astype(np.float32)\n"
             "    d = [1000 * ndimage.gaussian_filter(u[c], %g, mode='constant', truncate=4.0) for c in range(3)]\n"
             "    best = min(best, time.perf_counter() - t)\n"
             "print(best)\n\" 2>/dev/null", repeat, sigma);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    double t = -1;
    if (fscanf(p, "%lf", &t) != 1) t = -1;
    pclose(p);
    return t;
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
    printf("sigma   exact (s)   fast (s)   scipy exact (s)\n");
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
        const double sp = rc == 0 ? scipy_seconds(sigmas[s], repeat) : -1;
        if (sp >= 0) printf("%5g   %9.3f   %8.3f   %15.3f\n", sigmas[s], best[0], best[1], sp);
        else printf("%5g   %9.3f   %8.3f   %15s\n", sigmas[s], best[0], best[1], "-");
    }
    free(host);
    vxa_context_destroy(ctx);
    return rc;
}
