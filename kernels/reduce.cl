/* SPDX-License-Identifier: MIT */
/* Reductions over each channel of a volume: work-group tree reductions that write one partial per group; the
 * host combines the partials in double (host/reduce.c). The volume is float32 or, where a pipeline has not
 * converted its input yet, any stored type (IN_T, a build option) read with its scaling (slope, inter) as
 * vxa_load: the values a float32 copy would hold. Launched with global (groups * L,
 * channels) and local (L, 1), L a power of two. Non-finite voxels are skipped, zero ones with nonzero, and with
 * a mask (one float32 channel on the volume's grid, or NULL) those where the mask is 0. */
#include "common.h"
#pragma OPENCL FP_CONTRACT OFF

VXA_INLINE bool vxa_reduce_takes(float y, int nonzero)
{
    return isfinite(y) && !(nonzero && y == 0.0f);
}

/* vxa_reduce_takes of 16 lanes (-1 where taken). */
VXA_INLINE int16 vxa_reduce_takes16(float16 y, int nonzero)
{
    return isfinite(y) & (nonzero ? y != 0.0f : (int16)-1);
}

/* vxa_load of the sixteen voxels v .. v + 15. */
VXA_INLINE float16 vxa_load16(__global const IN_T *x, long v, float slope, float inter)
{
    const float16 y = convert_float16(vload16(0, x + v));
    return slope != 0.0f ? y * slope + inter : y;
}

/* Kahan summation step: s + a with the lost low part carried in e. */
VXA_INLINE void vxa_kahan_add(float *s, float *e, float a)
{
    const float y = a - *e;
    const float t = *s + y;
    *e = (t - *s) - y;
    *s = t;
}

/* Partials per (channel, group), 5 floats: count, min, max, sum of (x - shift), sum of (x - shift)^2 (0 and 0
 * when sums is 0: min-max normalisation and gamma need no more, and skip the compensated sums' work).
 * Counts are exact in float while a group sees fewer than 2^24 voxels (the host sees to that). */
__kernel void vxa_reduce_stats(__global const IN_T *x, float slope, float inter, long n, int nonzero,
                               __global const float *mask, __global const float *shift, int sums,
                               __global float *part, __local float *lcnt, __local float *lmin,
                               __local float *lmax, __local float *ls1, __local float *ls2)
{
    const long c = get_global_id(1);
    const long stride = (long)get_global_size(0);
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    __global const IN_T *xc = x + c * n;
    const float sh = shift[c];
    float cnt = 0.0f, mn = INFINITY, mx = -INFINITY, s1 = 0.0f, e1 = 0.0f, s2 = 0.0f, e2 = 0.0f;
    for (long v = get_global_id(0); v < n; v += stride) {
        const float y = vxa_load(xc, (size_t)v, slope, inter);
        if (!vxa_reduce_takes(y, nonzero) || (mask && mask[v] == 0.0f)) continue;
        cnt += 1.0f;
        mn = fmin(mn, y);
        mx = fmax(mx, y);
        if (!sums) continue;
        const float d = y - sh;
        vxa_kahan_add(&s1, &e1, d);
        vxa_kahan_add(&s2, &e2, d * d);
    }
    lcnt[lid] = cnt;
    lmin[lid] = mn;
    lmax[lid] = mx;
    ls1[lid] = s1 - e1;
    ls2[lid] = s2 - e2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = L / 2; h > 0; h /= 2) {
        if (lid < h) {
            lcnt[lid] += lcnt[lid + h];
            lmin[lid] = fmin(lmin[lid], lmin[lid + h]);
            lmax[lid] = fmax(lmax[lid], lmax[lid + h]);
            ls1[lid] += ls1[lid + h];
            ls2[lid] += ls2[lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        __global float *o = part + (c * (long)get_num_groups(0) + (long)get_group_id(0)) * 5;
        o[0] = lcnt[0];
        o[1] = lmin[0];
        o[2] = lmax[0];
        o[3] = ls1[0];
        o[4] = ls2[0];
    }
}

/* Order-preserving key of a float: larger float, larger unsigned key (-0 just below +0). */
VXA_INLINE uint vxa_float_key(float y)
{
    const uint u = as_uint(y);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* vxa_float_key of 16 lanes. */
VXA_INLINE uint16 vxa_float_key16(float16 y)
{
    const uint16 u = as_uint16(y);
    return select(u | 0x80000000u, ~u, u);   /* ~u where the sign bit is set */
}

/* The first pass of percentile selection histograms one code per voxel over 2^bits bins. With CODE_RAW_MIN (a
 * build option: stored integers of at most 16 bits, whose minimum it names) the code is the stored value less
 * that minimum, whatever the scaling: every voxel inside the mask is counted, and the host, which maps each code
 * to its float, leaves out the codes that are not finite or (nonzero) are zero after scaling. Otherwise the
 * code is the top `bits` bits of the key of the voxels that count; VXA_NO_CODE marks the others. */
#define VXA_NO_CODE 0xffffffffu
VXA_INLINE uint vxa_hist_code(__global const IN_T *xc, long v, float slope, float inter, int nonzero,
                              __global const float *mask, int bits)
{
    if (mask && mask[v] == 0.0f) return VXA_NO_CODE;
#ifdef CODE_RAW_MIN
    return (uint)((int)xc[v] - CODE_RAW_MIN);
#else
    const float y = vxa_load(xc, (size_t)v, slope, inter);
    return vxa_reduce_takes(y, nonzero) ? vxa_float_key(y) >> (32 - bits) : VXA_NO_CODE;
#endif
}

/* hist: [channel][2^bits], zeroed by the host, counted with global atomics. */
__kernel void vxa_reduce_code_hist(__global const IN_T *x, float slope, float inter, long n, int nonzero,
                                   __global const float *mask, int bits, __global uint *hist)
{
    const long c = get_global_id(1);
    const long stride = (long)get_global_size(0);
    __global const IN_T *xc = x + c * n;
    __global uint *hc = hist + (c << bits);
    for (long v = get_global_id(0); v < n; v += stride) {
        const uint code = vxa_hist_code(xc, v, slope, inter, nonzero, mask, bits);
        if (code != VXA_NO_CODE) atomic_inc(&hc[code]);
    }
}

/* One radix-select pass: for each of 4 targets t, a 256-bin histogram of the key's digit (key >> shift) & 255
 * over the voxels whose key matches the target's prefix under pmask. prefix: [channel][4]; hist:
 * [channel][4][256], zeroed by the host, accumulated with atomics from per-group local histograms. */
__kernel void vxa_reduce_hist(__global const IN_T *x, float slope, float inter, long n, int nonzero,
                              __global const float *mask, int shift, uint pmask,
                              __global const uint *prefix, __global uint *hist, __local uint *lh)
{
    const long c = get_global_id(1);
    const long stride = (long)get_global_size(0);
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    for (int b = lid; b < 4 * 256; b += L) lh[b] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    __global const IN_T *xc = x + c * n;
    const uint p0 = prefix[c * 4 + 0], p1 = prefix[c * 4 + 1], p2 = prefix[c * 4 + 2], p3 = prefix[c * 4 + 3];
    for (long v = get_global_id(0); v < n; v += stride) {
        const float y = vxa_load(xc, (size_t)v, slope, inter);
        if (!vxa_reduce_takes(y, nonzero) || (mask && mask[v] == 0.0f)) continue;
        const uint key = vxa_float_key(y);
        const uint m = key & pmask, digit = (key >> shift) & 255u;
        if (m == p0) atomic_inc(&lh[digit]);
        if (m == p1 && p1 != p0) atomic_inc(&lh[256 + digit]);
        if (m == p2 && p2 != p0 && p2 != p1) atomic_inc(&lh[512 + digit]);
        if (m == p3 && p3 != p0 && p3 != p1 && p3 != p2) atomic_inc(&lh[768 + digit]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int b = lid; b < 4 * 256; b += L)
        if (lh[b]) atomic_add(&hist[c * 1024 + b], lh[b]);
}

/* CPU forms of the reductions (PoCL): one work-item per work-group, each over the contiguous voxels
 * v0 .. v0 + chunk - 1 of its channel, launched with global (groups, channels) and local (1, 1); partials and
 * histograms as above. The grid-stride forms above suit GPUs; on PoCL they run several times slower. */

/* Per (channel, group) partials as vxa_reduce_stats, from eight Kahan lanes over float8 loads (a voxel that
 * is not taken adds 0 and counts 0) and a scalar tail. */
__kernel void vxa_reduce_stats_chunk(__global const IN_T *x, float slope, float inter, long n, int nonzero,
                                     __global const float *mask, __global const float *shift, int sums,
                                     __global float *part, long chunk)
{
    const long g = get_global_id(0), c = get_global_id(1);
    const long v0 = g * chunk, v1 = min(v0 + chunk, n);
    __global const IN_T *xc = x + c * n;
    __global float *o = part + (c * (long)get_global_size(0) + g) * 5;
#ifdef IN_VEC16
    /* Stored integers, count, min and max only (min-max normalisation, gamma): the extremes of the stored values
     * in their own type, sixteen at a time, then read as vxa_load reads them. Conversion to float32 and
     * x * slope + inter are monotone (reversed for a negative slope), so they map the stored extremes to the
     * extremes of the values. Where a scaled extreme is not finite (voxels the form below leaves out), that form
     * runs instead. */
    if (!sums && !nonzero && !mask && v1 > v0) {
        IN_VEC16 lo16 = (IN_VEC16)(xc[v0]), hi16 = lo16;
        long v = v0;
        for (; v + 16 <= v1; v += 16) {
            const IN_VEC16 y = vload16(0, xc + v);
            lo16 = min(lo16, y);
            hi16 = max(hi16, y);
        }
        IN_T lo[16], hi[16];
        vstore16(lo16, 0, lo);
        vstore16(hi16, 0, hi);
        IN_T a = lo[0], b = hi[0];
        for (int l = 1; l < 16; l++) {
            a = min(a, lo[l]);
            b = max(b, hi[l]);
        }
        for (; v < v1; v++) {
            a = min(a, xc[v]);
            b = max(b, xc[v]);
        }
        const float fa = (float)a, fb = (float)b;   /* vxa_load */
        const float ya = slope != 0.0f ? fa * slope + inter : fa, yb = slope != 0.0f ? fb * slope + inter : fb;
        if (isfinite(ya) && isfinite(yb)) {
            o[0] = (float)(v1 - v0);
            o[1] = fmin(ya, yb);
            o[2] = fmax(ya, yb);
            o[3] = o[4] = 0.0f;
            return;
        }
    }
#endif
    const float sh = shift[c];
    float8 cnt = 0.0f, mn = INFINITY, mx = -INFINITY, s1 = 0.0f, e1 = 0.0f, s2 = 0.0f, e2 = 0.0f;
    long v = v0;
    for (; v + 8 <= v1; v += 8) {
        float8 y = convert_float8(vload8(0, xc + v));
        if (slope != 0.0f) y = y * slope + inter;
        int8 take = isfinite(y);
        if (nonzero) take &= y != 0.0f;
        if (mask) take &= vload8(0, mask + v) != 0.0f;
        cnt += select((float8)0.0f, (float8)1.0f, take);
        mn = fmin(mn, select((float8)INFINITY, y, take));
        mx = fmax(mx, select((float8)-INFINITY, y, take));
        if (!sums) continue;
        const float8 d = select((float8)0.0f, y - sh, take);
        float8 a = d - e1, t = s1 + a;
        e1 = (t - s1) - a;
        s1 = t;
        a = d * d - e2;
        t = s2 + a;
        e2 = (t - s2) - a;
        s2 = t;
    }
    float tc = 0.0f, tmn = INFINITY, tmx = -INFINITY, ts1 = 0.0f, te1 = 0.0f, ts2 = 0.0f, te2 = 0.0f;
    for (; v < v1; v++) {
        const float y = vxa_load(xc, (size_t)v, slope, inter);
        if (!vxa_reduce_takes(y, nonzero) || (mask && mask[v] == 0.0f)) continue;
        tc += 1.0f;
        tmn = fmin(tmn, y);
        tmx = fmax(tmx, y);
        if (!sums) continue;
        const float d = y - sh;
        vxa_kahan_add(&ts1, &te1, d);
        vxa_kahan_add(&ts2, &te2, d * d);
    }
    const float8 r1 = s1 - e1, r2 = s2 - e2;
    o[0] = tc + (((cnt.s0 + cnt.s1) + (cnt.s2 + cnt.s3)) + ((cnt.s4 + cnt.s5) + (cnt.s6 + cnt.s7)));
    o[1] = fmin(tmn, fmin(fmin(fmin(mn.s0, mn.s1), fmin(mn.s2, mn.s3)), fmin(fmin(mn.s4, mn.s5), fmin(mn.s6, mn.s7))));
    o[2] = fmax(tmx, fmax(fmax(fmax(mx.s0, mx.s1), fmax(mx.s2, mx.s3)), fmax(fmax(mx.s4, mx.s5), fmax(mx.s6, mx.s7))));
    o[3] = (ts1 - te1) + (((r1.s0 + r1.s1) + (r1.s2 + r1.s3)) + ((r1.s4 + r1.s5) + (r1.s6 + r1.s7)));
    o[4] = (ts2 - te2) + (((r2.s0 + r2.s1) + (r2.s2 + r2.s3)) + ((r2.s4 + r2.s5) + (r2.s6 + r2.s7)));
}

/* One radix-select pass as vxa_reduce_hist over a contiguous chunk, counted in the work-item's own histogram
 * (no atomics) whose non-zero bins are added to hist at the end. Distinct prefixes cannot both match a key, so
 * each voxel increments one bin, chosen without branches; voxels that count nowhere go to a spare bin 1024.
 * pmask is never 0 here (the first pass is vxa_reduce_code_hist_chunk): few voxels match a prefix, and sixteen
 * at a time are tested in vectors first and skipped together when none matches. Without a mask, the sixteen
 * bins of a block that matches are found in vectors too, and a block whose voxels share one bin (a run of
 * equal values, such as a background of zeros) adds 16 to it at once: the per-voxel increments of one bin
 * wait on each other. */
__kernel void vxa_reduce_hist_chunk(__global const IN_T *x, float slope, float inter, long n, int nonzero,
                                    __global const float *mask, int shift, uint pmask,
                                    __global const uint *prefix, __global uint *hist, long chunk)
{
    const long g = get_global_id(0), c = get_global_id(1);
    const long v0 = g * chunk, v1 = min(v0 + chunk, n);
    uint h[4 * 256 + 1];
    for (int b = 0; b <= 4 * 256; b++) h[b] = 0;
    __global const IN_T *xc = x + c * n;
    const uint p0 = prefix[c * 4 + 0], p1 = prefix[c * 4 + 1], p2 = prefix[c * 4 + 2], p3 = prefix[c * 4 + 3];
    /* a slot whose prefix repeats an earlier one never matches: its prefix is replaced by one no key has */
    const uint none = ~pmask ? 1u : 0u;  /* a value with bits outside pmask (pmask is never all ones here) */
    const uint q1 = p1 != p0 ? p1 : none;
    const uint q2 = p2 != p0 && p2 != p1 ? p2 : none;
    const uint q3 = p3 != p0 && p3 != p1 && p3 != p2 ? p3 : none;
    for (long vb = v0; vb < v1; vb += 16) {
        const long ve = min(vb + 16, v1);
        if (ve - vb == 16) {
            const float16 y = vxa_load16(xc, vb, slope, inter);
            const uint16 key = vxa_float_key16(y), m = key & pmask;
            const int16 hit = (m == p0) | (m == q1) | (m == q2) | (m == q3);
            if (!any(hit)) continue;
            if (!mask) {
                const int16 take = hit & vxa_reduce_takes16(y, nonzero);
                const uint16 digit = (key >> (uint)shift) & 255u;
                const uint16 bin = select((uint16)1024u, select(select(select(768u + digit, 512u + digit, m == q2),
                                          256u + digit, m == q1), digit, m == p0), take);
                if (all(bin == (uint16)bin.s0)) {
                    h[bin.s0] += 16;
                    continue;
                }
                h[bin.s0]++; h[bin.s1]++; h[bin.s2]++; h[bin.s3]++; h[bin.s4]++; h[bin.s5]++; h[bin.s6]++;
                h[bin.s7]++; h[bin.s8]++; h[bin.s9]++; h[bin.sa]++; h[bin.sb]++; h[bin.sc]++; h[bin.sd]++;
                h[bin.se]++; h[bin.sf]++;
                continue;
            }
        }
        for (long v = vb; v < ve; v++) {
            const float y = vxa_load(xc, (size_t)v, slope, inter);
            const bool take = vxa_reduce_takes(y, nonzero) && !(mask && mask[v] == 0.0f);
            const uint key = vxa_float_key(y);
            const uint m = key & pmask, digit = (key >> shift) & 255u;
            const uint bin = !take ? 1024u : m == p0 ? digit : m == q1 ? 256u + digit : m == q2 ? 512u + digit
                           : m == q3 ? 768u + digit : 1024u;
            h[bin]++;
        }
    }
    for (int b = 0; b < 4 * 256; b++)
        if (h[b]) atomic_add(&hist[c * 1024 + b], h[b]);
}

/* The first pass as vxa_reduce_code_hist over a contiguous chunk, counted in the work-item's own histogram in
 * scratch ([channel][group][2^bits], 2^16 bins do not fit in private memory), whose non-zero bins are added to
 * hist at the end. Float keys without a mask: sixteen codes at a time in vectors (voxels that do not count
 * add 0 to bin 0), and a block of one code adds its count at once. The stored-integer codes stay one voxel at a
 * time: their vector form ran slower on PoCL. */
__kernel void vxa_reduce_code_hist_chunk(__global const IN_T *x, float slope, float inter, long n, int nonzero,
                                         __global const float *mask, int bits, __global uint *hist,
                                         __global uint *scratch, long chunk)
{
    const long g = get_global_id(0), c = get_global_id(1);
    const long v0 = g * chunk, v1 = min(v0 + chunk, n);
    const uint nb = 1u << bits;
    __global uint *h = scratch + ((c * (long)get_global_size(0) + g) << bits);
    for (uint b = 0; b < nb; b++) h[b] = 0;
    __global const IN_T *xc = x + c * n;
    long v = v0;
#ifndef CODE_RAW_MIN
    if (!mask)
        for (; v + 16 <= v1; v += 16) {
            const float16 y = vxa_load16(xc, v, slope, inter);
            const int16 take = vxa_reduce_takes16(y, nonzero);
            const uint16 code = select((uint16)0, vxa_float_key16(y) >> (uint)(32 - bits), take);
            const uint16 inc = select((uint16)0, (uint16)1, take);
            if (all(code == (uint16)code.s0)) {
                const uint8 i8 = inc.lo + inc.hi;
                const uint4 i4 = i8.lo + i8.hi;
                const uint2 i2 = i4.lo + i4.hi;
                h[code.s0] += i2.x + i2.y;
                continue;
            }
            h[code.s0] += inc.s0; h[code.s1] += inc.s1; h[code.s2] += inc.s2; h[code.s3] += inc.s3;
            h[code.s4] += inc.s4; h[code.s5] += inc.s5; h[code.s6] += inc.s6; h[code.s7] += inc.s7;
            h[code.s8] += inc.s8; h[code.s9] += inc.s9; h[code.sa] += inc.sa; h[code.sb] += inc.sb;
            h[code.sc] += inc.sc; h[code.sd] += inc.sd; h[code.se] += inc.se; h[code.sf] += inc.sf;
        }
#endif
    for (; v < v1; v++) {
        const uint code = vxa_hist_code(xc, v, slope, inter, nonzero, mask, bits);
        if (code != VXA_NO_CODE) h[code]++;
    }
    __global uint *hc = hist + (c << bits);
    for (uint b = 0; b < nb; b++)
        if (h[b]) atomic_add(&hc[b], h[b]);
}
