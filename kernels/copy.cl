/* SPDX-License-Identifier: MIT */
/* Exact copies: flip, crop and pad along the axes, any data type to the same type (no scaling, no rounding).
 * out(o) = in(p) with p_a = s_a * o_a + q_a, s_a = +1 or -1. Positions outside the input follow the mode:
 * 0 constant (cval, converted to the type), 1 nearest, 2 reflect (scipy 'reflect': d c b a | a b c d | d c b a). */
#include "common.h"
#include "fold.h"
#pragma OPENCL FP_CONTRACT OFF

VXA_DEF_FOLD(vxa_copy_fold, long)

__kernel void vxa_copy_axes(__global const IN_T *in, __global IN_T *out,
                            long4 in_dim, long4 out_dim, long4 sign, long4 offset, int mode, IN_T cval)
{
    const long i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    if (i >= out_dim.x || j >= out_dim.y || k >= out_dim.z) return;
    const long pi = vxa_copy_fold(sign.x * i + offset.x, in_dim.x, mode);
    const long pj = vxa_copy_fold(sign.y * j + offset.y, in_dim.y, mode);
    const long pk = vxa_copy_fold(sign.z * k + offset.z, in_dim.z, mode);
    const long in_vol = in_dim.x * in_dim.y * in_dim.z, out_vol = out_dim.x * out_dim.y * out_dim.z;
    const long o = i + out_dim.x * (j + out_dim.y * k);
    const bool inside = pi >= 0 && pj >= 0 && pk >= 0;
    const long p = pi + in_dim.x * (pj + in_dim.y * pk);
    for (long c = 0; c < out_dim.w; c++)
        out[o + c * out_vol] = inside ? in[p + c * in_vol] : cval;
}

/* The CPU form of vxa_copy_axes (PoCL): one work-item per output row (j, k), global (ny, nz), looping along i;
 * rows wholly outside the input take cval. Much faster there than one work-item per voxel (bench/RESULTS.md);
 * on GPUs the per-voxel form keeps neighbouring work-items on neighbouring addresses. */
__kernel void vxa_copy_rows(__global const IN_T *in, __global IN_T *out,
                            long4 in_dim, long4 out_dim, long4 sign, long4 offset, int mode, IN_T cval)
{
    const long j = get_global_id(0), k = get_global_id(1);
    if (j >= out_dim.y || k >= out_dim.z) return;
    const long pj = vxa_copy_fold(sign.y * j + offset.y, in_dim.y, mode);
    const long pk = vxa_copy_fold(sign.z * k + offset.z, in_dim.z, mode);
    const long in_vol = in_dim.x * in_dim.y * in_dim.z, out_vol = out_dim.x * out_dim.y * out_dim.z;
    for (long c = 0; c < out_dim.w; c++) {
        __global IN_T *orow = out + c * out_vol + out_dim.x * (j + out_dim.y * k);
        if (pj < 0 || pk < 0) {
            for (long i = 0; i < out_dim.x; i++) orow[i] = cval;
            continue;
        }
        __global const IN_T *irow = in + c * in_vol + in_dim.x * (pj + in_dim.y * pk);
        if (sign.x == 1 && offset.x >= 0 && offset.x + out_dim.x <= in_dim.x) {  /* a plain run */
            for (long i = 0; i < out_dim.x; i++) orow[i] = irow[offset.x + i];
            continue;
        }
        for (long i = 0; i < out_dim.x; i++) {
            const long pi = vxa_copy_fold(sign.x * i + offset.x, in_dim.x, mode);
            orow[i] = pi >= 0 ? irow[pi] : cval;
        }
    }
}

/* Typed input to float32 with NIfTI scaling, elementwise over n values. */
__kernel void vxa_cast_float(__global const IN_T *in, __global float *out, long n, float slope, float inter)
{
    const long i = get_global_id(0);
    if (i >= n) return;
    out[i] = vxa_load(in, i, slope, inter);
}

/* Label remap, elementwise over n stored labels (IN_T an integer type): a label found among the sorted keys
 * from[0 .. m-1] becomes to[] of it; any other stays (drop = 0) or becomes 0 (drop = 1). Binary search. */
__kernel void vxa_label_remap(__global const IN_T *in, __global IN_T *out, long n, __global const long *from,
                              __global const long *to, int m, int drop)
{
    const long i = get_global_id(0);
    if (i >= n) return;
    const long v = (long)in[i];
    int lo = 0, hi = m;   /* the first key >= v */
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (from[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    out[i] = lo < m && from[lo] == v ? (IN_T)to[lo] : drop ? (IN_T)0 : in[i];
}
