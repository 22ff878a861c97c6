/* SPDX-License-Identifier: MIT */
/* Reference Gaussian smoothing: scipy.ndimage.gaussian_filter as written there. For each axis 0, 1, 2 whose
 * sigma exceeds 1e-15, correlate1d with _gaussian_kernel1d(sigma, 0, int(truncate·sigma + 0.5)) in double,
 * the result stored back as float32 before the next axis (as SciPy does for float32 input). A window of one
 * pass (vxa_gauss_window) computes the same sums for its outputs only. */
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


/* Outputs at .. at + nout - 1 of one line of n inputs (input p at src[p · sstride]) into dst[o · dstride],
 * o = 0 .. nout - 1: Σ_t w[t + r] · x[fold(at + o + t)] in double, stored as float32. line: n doubles of room (the
 * line is read first, so dst may be src). */
static void smooth_line(const float *src, int64_t sstride, int64_t n, float *dst, int64_t dstride, int64_t at,
                        int64_t nout, const double *w, int64_t r, vxa_mode mode, double *line)
{
    for (int64_t p = 0; p < n; p++) line[p] = src[p * sstride];
    for (int64_t o = 0; o < nout; o++) {
        double sum = 0.0;
        for (int64_t t = -r; t <= r; t++) {
            const int64_t q = vxa_fold_index(at + o + t, n, mode);
            sum += w[t + r] * (q >= 0 ? line[q] : 0.0);
        }
        dst[o * dstride] = (float)sum;
    }
}

/* Every line along axis a of `in` (dims n, `channels` channels) smoothed with w (radius r), its outputs
 * at .. at + nout - 1 into the same line of `out` (dims n with n[a] = nout; out may be in where nout = n[a]). */
static void smooth_axis(const float *in, float *out, const int64_t n[3], int64_t channels, int a, int64_t at,
                        int64_t nout, const double *w, int64_t r, vxa_mode mode, double *line)
{
    int64_t m[3] = { n[0], n[1], n[2] };   /* the output's dims */
    m[a] = nout;
    const int64_t stride[3] = { 1, n[0], n[0] * n[1] }, ostride[3] = { 1, m[0], m[0] * m[1] };
    const int b = a == 0 ? 1 : 0, c = a == 2 ? 1 : 2;   /* the other two axes */
    for (int64_t ch = 0; ch < channels; ch++)
        for (int64_t v = 0; v < n[c]; v++)
            for (int64_t u = 0; u < n[b]; u++)
                smooth_line(in + ch * n[0] * n[1] * n[2] + u * stride[b] + v * stride[c], stride[a], n[a],
                            out + ch * m[0] * m[1] * m[2] + u * ostride[b] + v * ostride[c], ostride[a], at, nout,
                            w, r, mode, line);
}

static double *weights(vxa_context *ctx, double sigma, int64_t r)
{
    double *w = malloc(sizeof *w * (size_t)(2 * r + 1));
    if (!w) vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gaussian smoothing: %lld weights", (long long)(2 * r + 1));
    else vxa_gauss_kernel1d(sigma, r, w);
    return w;
}

vxa_status vxa_ref_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                                double truncate)
{
    vxa_status st = vxa_gauss_check(ctx, vol, sigma, mode, truncate);
    if (st != VXA_OK) return st;
    const int64_t *n = vol->dim;
    const int64_t nmax = n[0] > n[1] ? (n[0] > n[2] ? n[0] : n[2]) : (n[1] > n[2] ? n[1] : n[2]);
    double *line = malloc(sizeof *line * (size_t)nmax);
    if (!line) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gaussian smoothing: a line of %lld doubles",
                               (long long)nmax);
    for (int a = 0; a < 3 && st == VXA_OK; a++) {
        if (!(sigma[a] > 1e-15)) continue;          /* scipy skips such axes */
        const int64_t r = vxa_gauss_radius(sigma[a], truncate);
        double *w = weights(ctx, sigma[a], r);
        if (!w) {
            st = VXA_ERR_OUT_OF_MEMORY;
            break;
        }
        smooth_axis(vol->host, vol->host, n, vol->channels, a, 0, n[a], w, r, mode, line);
        free(w);
    }
    if (st == VXA_OK) vxa_count_launch(ctx, "vxa_gauss_smooth");
    free(line);
    return st;
}

vxa_status vxa_ref_gauss_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                                vxa_mode mode, double truncate, int64_t at)
{
    const int64_t r = vxa_gauss_radius(sigma, truncate);
    double *w = weights(ctx, sigma, r), *line = malloc(sizeof *line * (size_t)in->dim[axis]);
    vxa_status st = VXA_OK;
    if (!w || !line) {
        st = w ? vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gaussian smoothing: a line of %lld doubles",
                          (long long)in->dim[axis]) : VXA_ERR_OUT_OF_MEMORY;
    } else {
        smooth_axis(in->host, out->host, in->dim, in->channels, axis, at, out->dim[axis], w, r, mode, line);
        vxa_count_launch(ctx, "vxa_gauss_window");
    }
    free(w);
    free(line);
    return st;
}
