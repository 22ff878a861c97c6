/* SPDX-License-Identifier: MIT */
/* Label maps resampled with per-label linear interpolation (sampling(label_order=1)), shared bit for bit by
 * kernels/resample.cl and the C reference (src/reference/resample.c), compiled as C99 and as OpenCL C.
 *
 * At a sample position p (kernels/resample_coord.h, float32) with t = p - floor(p) per axis, corner c of the
 * eight neighbours (bit a of c: the upper neighbour along axis a) has the trilinear weight
 *     w_c = ((c&1 ? tx : 1 - tx) * (c&2 ? ty : 1 - ty)) * (c&4 ? tz : 1 - tz)
 * and each label's weight is the sum of the w_c of its corners, in corner order (neighbours outside the input
 * in constant mode carry the label 0). That weight is the label's indicator interpolated trilinearly. Then:
 *   rule 1 (batchgenerators' interpolate_img / resize_segmentation with order 1, what nnU-Net's order_seg=1
 *          runs): the largest label whose weight is >= 0.5; 0 where no label reaches 0.5 (a meeting point of
 *          three or more labels);
 *   rule 2 (arg-max): the label of largest weight; between equal weights, the larger label.
 * Labels are compared as their stored integers (float label maps as their bits, so only for equality: the
 * larger of two tied float labels is the one with the larger bit pattern).
 * In float32 the weights can differ from SciPy's float64 ones by a few ulp: the only way the result can differ
 * from batchgenerators' is a label whose weight is within float32 rounding of 0.5 (rule 1), or two labels
 * whose weights are (rule 2). */
#ifndef VXA_RESAMPLE_LABEL_H
#define VXA_RESAMPLE_LABEL_H

#ifdef __OPENCL_VERSION__
#define VXA_RL_INLINE inline
typedef long vxa_lkey;
#else
#include <stdint.h>
#define VXA_RL_INLINE static inline
typedef int64_t vxa_lkey;
#endif

#define VXA_LABEL_THRESHOLD 1
#define VXA_LABEL_ARGMAX 2

/* The corner whose label the output takes, or -1 for 0 (rule 1, no label at 0.5). lab: the eight corners'
 * labels; tx, ty, tz: the fractions along each axis. */
VXA_RL_INLINE int vxa_label_pick(const vxa_lkey lab[8], float tx, float ty, float tz, int rule)
{
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#endif
    float w[8];
    for (int c = 0; c < 8; c++)
        w[c] = (((c & 1) ? tx : 1.0f - tx) * ((c & 2) ? ty : 1.0f - ty)) * ((c & 4) ? tz : 1.0f - tz);
    int best = -1;
    float bestw = 0.0f;
    for (int c = 0; c < 8; c++) {
        int seen = 0;
        for (int d = 0; d < c; d++) seen |= lab[d] == lab[c];
        if (seen) continue;          /* this label's weight was summed at its first corner */
        float s = 0.0f;
        for (int d = c; d < 8; d++)
            if (lab[d] == lab[c]) s += w[d];
        const int larger = best < 0 || lab[c] > lab[best];
        if (rule == VXA_LABEL_THRESHOLD ? (s >= 0.5f && larger)
                                        : (best < 0 || s > bestw || (s == bestw && larger))) {
            best = c;
            bestw = s;
        }
    }
    return best;
}

#endif
