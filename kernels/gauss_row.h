/* SPDX-License-Identifier: MIT */
/* One line's Gaussian pass along i into an output row, shared by the CPU form of the smoothing
 * (kernels/smooth.cl, vxa_gauss_rows) and the exact elastic field's first pass fused with its noise
 * (kernels/noise.cl, vxa_noise_gauss_rows): the same additions in the same order in both. */
#ifndef VXA_GAUSS_ROW_H
#define VXA_GAUSS_ROW_H

#include "fold.h"

VXA_DEF_FOLD(vxa_gauss_fold, long)

/* The weights come as wpad, the 2·radius + 1 weights with VXA_GAUSS_B − 1 zeros each side (kernels/smooth.cl);
 * VXA_GAUSS_B: the outputs per work-item of vxa_gauss_axis (host/smooth.c has the same constant). */
#define VXA_GAUSS_B 8

/* Adds to the output row o (onx long, cleared) the taps of the line row (nx long): for each tap t ascending,
 * o[i] += w[t] · row[i + at + t - r], the positions that leave the line folded by the mode (constant: none).
 * A call (VXA_CALL, kernels/common.h): a whole row's work, and the kernels that use it compile faster at their
 * first launch, at the same speed (bench/RESULTS.md, "The very first sample"). */
VXA_CALL void vxa_gauss_row(__global const float *row, long nx, __global float *o, long onx, long at, int radius,
                            int mode, __global const float *w)
{
    const int taps = 2 * radius + 1;
    /* Taps in groups of four: where all four read inside the line (the core [L, H)), one loop adds them in
     * order, o = (((o + w0 x0) + w1 x1) + w2 x2) + w3 x3, the very operations of four loops, with a quarter
     * of the loads and stores of o. Outside the core each tap of the group is added in turn, folded by the
     * mode where it leaves the line. */
    for (int t0 = 0; t0 < taps; t0 += 4) {
        const int nt = min(4, taps - t0);
        const long sh0 = at + t0 - radius, shl = sh0 + nt - 1;   /* o[i] takes row[i + sh] */
        const long L = min(onx, max(0L, -sh0)), H = max(L, min(onx, nx - shl));
        if (nt == 4) {
            const float w0 = w[t0], w1 = w[t0 + 1], w2 = w[t0 + 2], w3 = w[t0 + 3];
            for (long i = L; i < H; i++)
                o[i] = (((o[i] + w0 * row[i + sh0]) + w1 * row[i + sh0 + 1]) + w2 * row[i + sh0 + 2]) +
                       w3 * row[i + sh0 + 3];
        }
        for (int t = t0; t < t0 + nt; t++) {
            const float wt = w[t];
            const long sh = at + t - radius;
            const long lo = min(onx, max(0L, -sh)), hi = max(lo, min(onx, nx - sh));
            const long cl = nt == 4 ? L : 0, ch = nt == 4 ? H : 0;   /* [cl, ch): done above */
            for (long i = lo; i < min(hi, cl); i++) o[i] += wt * row[i + sh];
            for (long i = max(lo, ch); i < hi; i++) o[i] += wt * row[i + sh];
            if (mode == 0) continue;   /* constant: what leaves the line adds 0 */
            for (long i = 0; i < lo; i++) {
                const long p = vxa_gauss_fold(i + sh, nx, mode);
                o[i] += wt * (p >= 0 ? row[p] : 0.0f);
            }
            for (long i = hi; i < onx; i++) {
                const long p = vxa_gauss_fold(i + sh, nx, mode);
                o[i] += wt * (p >= 0 ? row[p] : 0.0f);
            }
        }
    }
}

#endif
