/* SPDX-License-Identifier: MIT */
/* Reference Gaussian smoothing: scipy.ndimage.gaussian_filter as written there. For each axis 0, 1, 2 whose
 * sigma exceeds 1e-15, correlate1d with _gaussian_kernel1d(sigma, 0, int(truncate·sigma + 0.5)) in double,
 * the result stored back as float32 before the next axis (as SciPy does for float32 input). */
#include "elastic.h"

#include <math.h>
#include <stdlib.h>

int64_t vxa_gauss_radius(double sigma, double truncate)
{
    return (int64_t)(truncate * sigma + 0.5);   /* Python's int() of a positive value truncates */
}

void vxa_gauss_kernel1d(double sigma, int64_t radius, double *w)
{
    const double c = -0.5 / (sigma * sigma);    /* numpy.exp(-0.5 / sigma2 * x ** 2), same order */
    double sum = 0.0;
    for (int64_t t = -radius; t <= radius; t++) {
        w[t + radius] = exp(c * (double)(t * t));
        sum += w[t + radius];
    }
    for (int64_t t = 0; t <= 2 * radius; t++) w[t] /= sum;
}

double vxa_gauss_sum_sq(double sigma, double truncate)
{
    if (!(sigma > 1e-15)) return 1.0;
    const int64_t r = vxa_gauss_radius(sigma, truncate);
    double *w = malloc(sizeof *w * (size_t)(2 * r + 1));
    if (!w) return NAN;
    vxa_gauss_kernel1d(sigma, r, w);
    double s = 0.0;
    for (int64_t t = 0; t <= 2 * r; t++) s += w[t] * w[t];
    free(w);
    return s;
}


vxa_status vxa_ref_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                                double truncate)
{
    vxa_status st = vxa_gauss_check(ctx, vol, sigma, mode, truncate);
    if (st != VXA_OK) return st;
    const int64_t n[3] = { vol->dim[0], vol->dim[1], vol->dim[2] };
    const int64_t stride[3] = { 1, n[0], n[0] * n[1] };
    const int64_t nmax = n[0] > n[1] ? (n[0] > n[2] ? n[0] : n[2]) : (n[1] > n[2] ? n[1] : n[2]);
    float *data = vol->host;
    double *w = NULL, *line = malloc(sizeof *line * (size_t)nmax);
    if (!line) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gaussian smoothing: a line of %lld doubles",
                               (long long)nmax);
    for (int a = 0; a < 3; a++) {
        if (!(sigma[a] > 1e-15)) continue;          /* scipy skips such axes */
        const int64_t r = vxa_gauss_radius(sigma[a], truncate);
        free(w);
        if (!(w = malloc(sizeof *w * (size_t)(2 * r + 1)))) {
            st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gaussian smoothing: %lld weights", (long long)(2 * r + 1));
            goto done;
        }
        vxa_gauss_kernel1d(sigma[a], r, w);
        /* every line along axis a: the other two indices (u, v) and the channel */
        const int b = a == 0 ? 1 : 0, c = a == 2 ? 1 : 2;
        for (int64_t ch = 0; ch < vol->channels; ch++)
            for (int64_t v = 0; v < n[c]; v++)
                for (int64_t u = 0; u < n[b]; u++) {
                    float *base = data + ch * n[0] * n[1] * n[2] + u * stride[b] + v * stride[c];
                    for (int64_t p = 0; p < n[a]; p++) line[p] = base[p * stride[a]];
                    for (int64_t p = 0; p < n[a]; p++) {
                        double sum = 0.0;
                        for (int64_t t = -r; t <= r; t++) {
                            const int64_t q = vxa_fold_index(p + t, n[a], mode);
                            sum += w[t + r] * (q >= 0 ? line[q] : 0.0);
                        }
                        base[p * stride[a]] = (float)sum;
                    }
                }
    }
    vxa_count_launch(ctx, "vxa_gauss_smooth");
done:
    free(w);
    free(line);
    return st;
}
