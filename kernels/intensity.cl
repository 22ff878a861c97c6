/* SPDX-License-Identifier: MIT */
/* Elementwise intensity ops fused into one pass: a small program (kernels/intensity_ops.h) run on every voxel.
 * Noise is Philox4x32-10 with Box-Muller, the mapping of vxa_ref_noise_normal (src/intensity.h). */
#include "common.h"
#include "intensity_ops.h"
#include "philox.h"
#include "philox_x4.h"
#pragma OPENCL FP_CONTRACT OFF

/* log2(u) for u > 0 (+Inf gives 128, callers keep Inf apart) in plain arithmetic, which vectorises on every
 * device (PoCL calls a scalar log2 per voxel): u = m 2^e with m in [sqrt(1/2), sqrt(2)), log2 m = 2 atanh(s) /
 * ln 2 with s = (m - 1) / (m + 1), |s| <= 0.172, by its series to s^9 (truncation < 1e-9). Subnormals are
 * scaled by 2^24 first. Within a few ulp of log2. Defined for float (vxa_log2f) and float16 (vxa_log2f16); the
 * series in Horner form with fma, as vxa_exp2f. */
#define VXA_DEF_LOG2(NAME, F, I) \
    VXA_INLINE F NAME(F u) \
    { \
        const I sub = u < 1.17549435e-38f; \
        const F us = sub ? u * 16777216.0f : u; \
        const I bits = as_##I(us); \
        I e = ((bits >> 23) & 255) - 127 - (sub ? 24 : 0); \
        F m = as_##F((bits & 0x007fffff) | 0x3f800000); \
        const I big = m > 1.41421356f; \
        m = big ? 0.5f * m : m; \
        e = big ? e + 1 : e; \
        const F s = (m - 1.0f) / (m + 1.0f), s2 = s * s; \
        const F at2 = s * fma(s2, fma(s2, fma(s2, fma(s2, (F)0.222222222f, (F)0.285714286f), (F)0.4f), \
                    (F)0.666666667f), (F)2.0f); \
        return convert_##F(e) + at2 * 1.44269504f; \
    }
VXA_DEF_LOG2(vxa_log2f, float, int)
VXA_DEF_LOG2(vxa_log2f16, float16, int16)

/* 2^t in plain arithmetic: t = n + 0.5 + f, f in [-0.5, 0.5); 2^f = e^x, x = f ln 2, by Taylor to x^7
 * (truncation < 6e-9) in Horner form with fma (exact, so the same on every device, and faster than the
 * separate product and sum on PoCL); results below 2^-126 flush to 0, above 2^128
 * give +Inf. For float (vxa_exp2f) and float16 (vxa_exp2f16). */
#define VXA_DEF_EXP2(NAME, F, I) \
    VXA_INLINE F NAME(F t) \
    { \
        const F fn = floor(t); \
        const F x = (t - fn - 0.5f) * 0.693147181f; \
        const F p = fma(x, fma(x, fma(x, fma(x, fma(x, fma(x, fma(x, (F)0.000198412698f, (F)0.00138888889f), \
                    (F)0.00833333333f), (F)0.0416666667f), (F)0.166666667f), (F)0.5f), (F)1.0f), (F)1.0f); \
        const F r = (p * 1.41421356f) * as_##F((convert_##I(fn) + 127) << 23); \
        return fn < -126.0f ? (F)0.0f : fn > 127.0f ? (F)INFINITY : r; \
    }
VXA_DEF_EXP2(vxa_exp2f, float, int)
VXA_DEF_EXP2(vxa_exp2f16, float16, int16)

/* nnU-Net gamma of a voxel, range != 0: u = max((y - lo) / range, 0), u^g * range + lo, as exp2(g log2 u)
 * (relative error ~|g log2 u| ulp, far below the tolerance; vxa_exp2f and vxa_log2f vectorise where the
 * built-ins may not). NaN stays NaN, +Inf stays +Inf, -Inf goes to lo. The power is computed for every u and
 * kept where u > 0 is finite. For float (vxa_gamma) and float16 (vxa_gamma16: sixteen voxels, the width of
 * AVX-512, faster on PoCL than the compiler's vectorisation of the float form). */
#define VXA_DEF_GAMMA(NAME, F, EXP2, LOG2) \
    VXA_INLINE F NAME(F y, float lo, float range, float g) \
    { \
        const F u = (y - lo) / range, e = EXP2(g * LOG2(u)); \
        const F r = u > 0.0f ? (isinf(u) ? u : e) : (F)0.0f; \
        return isnan(y) ? y : r * range + lo; \
    }
VXA_DEF_GAMMA(vxa_gamma, float, vxa_exp2f, vxa_log2f)
VXA_DEF_GAMMA(vxa_gamma16, float16, vxa_exp2f16, vxa_log2f16)

/* sin(pi t) and cos(pi t) for t in [0, 2]: t = q / 2 + r, r in [-1/4, 1/4], x = pi r; Taylor series of sin
 * to x^9 and cos to x^10 (truncation < 2e-9), then the quadrant q. For float and float16. */
#define VXA_DEF_SINCOSPI(NAME, F, I) \
    VXA_INLINE void NAME(F t, F *sn, F *cs) \
    { \
        const F q = rint(2.0f * t); \
        const F x = (t - 0.5f * q) * 3.14159265f, x2 = x * x; \
        const F sx = x * (1.0f - x2 * (0.166666667f - x2 * (0.00833333333f - x2 * (0.000198412698f - \
                     x2 * 2.75573192e-06f)))); \
        const F cx = 1.0f - x2 * (0.5f - x2 * (0.0416666667f - x2 * (0.00138888889f - x2 * (2.48015873e-05f - \
                     x2 * 2.75573192e-07f)))); \
        const I qi = convert_##I(q) & 3; \
        *sn = qi == 0 ? sx : qi == 1 ? cx : qi == 2 ? -sx : -cx; \
        *cs = qi == 0 ? cx : qi == 1 ? -sx : qi == 2 ? -cx : sx; \
    }
VXA_DEF_SINCOSPI(vxa_sincospi, float, int)
VXA_DEF_SINCOSPI(vxa_sincospi16, float16, int16)

/* Uniform [0, 1) floats of sixteen words (vxa_u01). */
VXA_INLINE float16 vxa_u01_16(uint16 x)
{
    return convert_float16(x >> 8) * 5.9604644775390625e-8f;
}

/* Four standard normals for voxels 4b .. 4b+3 of a channel from Philox block b: words (w0, w1) give voxels 4b
 * and 4b+1, (w2, w3) give 4b+2 and 4b+3; r = sqrt(-2 ln(1 - u(wa))), theta = 2 pi u(wb); even voxel r cos theta,
 * odd voxel r sin theta (vxa_ref_noise_normal in src/reference/intensity.c). */
VXA_INLINE void vxa_noise_normal4(ulong seed, ulong sample, uint stream, uint block, float z[4])
{
    const vxa_philox4 w = vxa_philox_block(seed, sample, stream, block);
    for (int h = 0; h < 2; h++) {
        /* -2 ln(1 - u) = -2 ln 2 log2(1 - u); 1 - u >= 2^-24 */
        const float r = sqrt(-1.38629436f * vxa_log2f(1.0f - vxa_u01(w.v[2 * h])));
        float sn, cs;
        vxa_sincospi(2.0f * vxa_u01(w.v[2 * h + 1]), &sn, &cs);  /* theta / pi */
        z[2 * h] = r * cs;
        z[2 * h + 1] = r * sn;
    }
}

/* Normalised coordinate of index i on an axis of n voxels: (2i - (n - 1)) / (n - 1), 0 when n = 1. */
VXA_INLINE float vxa_bias_coord(long i, long n)
{
    return n > 1 ? (float)(2 * i - (n - 1)) / (float)(n - 1) : 0.0f;
}

/* P(x, y, z) = sum of coef[t] x^a y^b z^c over a + b + c <= order, a outer, then b, then c (TorchIO), as a
 * polynomial in x along row (j, k): r[a] = the sum of coef[t] y^b z^c over b + c <= order - a, r[a] = 0 for
 * order < a <= 5 (the largest order). Both forms evaluate it so (the CPU form once per row), hence the same
 * floats. */
VXA_INLINE void vxa_bias_row(__global const float *coef, int order, float y, float z, float r[6])
{
    float py[6], pz[6];
    py[0] = pz[0] = 1.0f;
    for (int d = 1; d <= order; d++) {
        py[d] = py[d - 1] * y;
        pz[d] = pz[d - 1] * z;
    }
    int t = 0;
    for (int a = 0; a < 6; a++) {
        float s = 0.0f;
        for (int b = 0; b <= order - a; b++)
            for (int c = 0; c <= order - a - b; c++) s += coef[t++] * (py[b] * pz[c]);
        r[a] = s;
    }
}

/* exp(P) at x on a row whose polynomial in x is r (vxa_bias_row), by a fixed Horner form with fma. */
VXA_INLINE float vxa_bias_at(const float r[6], float x)
{
    return exp(fma(fma(fma(fma(fma(r[5], x, r[4]), x, r[3]), x, r[2]), x, r[1]), x, r[0]));
}

/* The bias field's factor exp(P) at linear voxel v of a channel of dim (nx, ny, nz). */
VXA_INLINE float vxa_bias_factor(__global const float *coef, int order, long v, long4 dim)
{
    const long i = v % dim.x, j = (v / dim.x) % dim.y, k = v / (dim.x * dim.y);
    float r[6];
    vxa_bias_row(coef, order, vxa_bias_coord(j, dim.y), vxa_bias_coord(k, dim.z), r);
    return vxa_bias_at(r, vxa_bias_coord(i, dim.x));
}

/* VXA_IOP_PWL at y: m breakpoints p[0 .. m-1], then per segment s (pivot x, pivot y, slope) at p[m + 3s]. NaN
 * compares false with every breakpoint and stays NaN. */
VXA_INLINE float vxa_pwl(__global const float *p, int m, float y)
{
    int s = 0;
    for (int b = 0; b < m; b++) s += y >= p[b];
    __global const float *q = p + m + 3 * s;
    return (y - q[0]) * q[2] + q[1];
}

/* x: the volume, channel c at offset c * nx*ny*nz; dim = (nx, ny, nz, channels). prog[s] = (opcode, op index,
 * parameter offset, extra); channel c's parameters start at par + c * pstride. Work-item t runs voxels 4t .. 4t+3
 * of its channel (one Philox block for the four). from_src = 1: the values come from src (IN_T, a build option,
 * scaled by slope/inter as vxa_load, i.e. as vxa_cast_float would write them) instead of x, so that the pass
 * that first writes a pipeline's float32 volume also converts its typed input; src is x otherwise. */
__kernel void vxa_intensity_apply(__global const IN_T *src, __global float *x, long4 dim,
                                  __global const int4 *prog, int nprog, __global const float *par, int pstride,
                                  ulong seed, ulong sample, float slope, float inter, int from_src)
{
    const long t = get_global_id(0), c = get_global_id(1);
    const long n = dim.x * dim.y * dim.z;
    const long v0 = 4 * t;
    if (v0 >= n || c >= dim.w) return;
    const int nv = n - v0 < 4 ? (int)(n - v0) : 4;
    __global float *xc = x + c * n + v0;
    float y[4];
    for (int l = 0; l < 4; l++)
        y[l] = l >= nv ? 0.0f : from_src ? vxa_load(src, (size_t)(c * n + v0 + l), slope, inter) : xc[l];
    __global const float *pc = par + c * (long)pstride;
    for (int s = 0; s < nprog; s++) {
        const int4 ins = prog[s];
        __global const float *p = pc + ins.z;
        switch (ins.x) {
        case VXA_IOP_LINEAR:
        case VXA_IOP_LINEAR_NZ:
            for (int l = 0; l < 4; l++) {
                if (ins.x == VXA_IOP_LINEAR_NZ && y[l] == 0.0f) continue;
                if (p[1] == 0.0f) y[l] = isnan(y[l]) ? y[l] : p[2];
                else y[l] = (y[l] - p[0]) * p[1] + p[2];
            }
            break;
        case VXA_IOP_CLIP:
        case VXA_IOP_CLIP_NZ:
            for (int l = 0; l < 4; l++) {
                if (ins.x == VXA_IOP_CLIP_NZ && y[l] == 0.0f) continue;
                y[l] = y[l] < p[0] ? p[0] : (y[l] > p[1] ? p[1] : y[l]); /* NaN fails both: stays NaN */
            }
            break;
        case VXA_IOP_GAMMA:
            if (p[1] != 0.0f)
                for (int l = 0; l < 4; l++) y[l] = vxa_gamma(y[l], p[0], p[1], p[2]);
            break;
        case VXA_IOP_NOISE: {
            float z[4];
            vxa_noise_normal4(seed, sample, ((uint)ins.y << 8) | (uint)c, (uint)t, z);
            for (int l = 0; l < 4; l++) y[l] += p[0] * z[l];
            break;
        }
        case VXA_IOP_BIAS:
            for (int l = 0; l < nv; l++) y[l] *= vxa_bias_factor(p, ins.w, v0 + l, dim);
            break;
        case VXA_IOP_PWL:
        case VXA_IOP_PWL_NZ:
            for (int l = 0; l < 4; l++)
                if (ins.x == VXA_IOP_PWL || y[l] != 0.0f) y[l] = vxa_pwl(p, ins.w, y[l]);
            break;
        default:
            break;
        }
    }
    for (int l = 0; l < nv; l++) xc[l] = y[l];
}

/* The CPU forms of vxa_intensity_apply, the same arithmetic. vxa_iprog_span runs the program over a span of
 * len voxels of channel c stored contiguously at row, the first of which is voxel s0 of the channel (the linear
 * index that noise and bias take), one instruction at a time over the span: each instruction is a plain loop
 * over contiguous voxels, which the compiler vectorises (the one-work-item-per-four-voxels form of
 * vxa_intensity_apply suits GPUs, coalesced, but runs several times slower on PoCL). dim: the channel's whole
 * grid. A call of its own (VXA_CALL): a row or a chunk a call, and the kernels' first launch compiles much less. */
VXA_CALL void vxa_iprog_span(__global float *row, long len, long s0, long4 dim, __global const int4 *prog,
                               int nprog, __global const float *pc, ulong seed, ulong sample, long c)
{
    for (int s = 0; s < nprog; s++) {
        const int4 ins = prog[s];
        __global const float *p = pc + ins.z;
        const int op = ins.x;
        switch (op) {
        case VXA_IOP_LINEAR:
        case VXA_IOP_LINEAR_NZ: {
            const float p0 = p[0], p1 = p[1], p2 = p[2];
            const bool nz = op == VXA_IOP_LINEAR_NZ;
            if (p1 == 0.0f) {
                for (long v = 0; v < len; v++) {
                    const float y = row[v];
                    row[v] = isnan(y) || (nz && y == 0.0f) ? y : p2;
                }
            } else if (nz) {
                for (long v = 0; v < len; v++) {
                    const float y = row[v];
                    row[v] = y == 0.0f ? y : (y - p0) * p1 + p2;
                }
            } else {
                for (long v = 0; v < len; v++) row[v] = (row[v] - p0) * p1 + p2;
            }
            break;
        }
        case VXA_IOP_CLIP:
        case VXA_IOP_CLIP_NZ: {
            const float lo = p[0], hi = p[1];
            if (op == VXA_IOP_CLIP_NZ) {
                for (long v = 0; v < len; v++) {
                    const float y = row[v];
                    row[v] = y == 0.0f ? y : (y < lo ? lo : (y > hi ? hi : y));
                }
            } else {
                for (long v = 0; v < len; v++) {
                    const float y = row[v];
                    row[v] = y < lo ? lo : (y > hi ? hi : y); /* NaN fails both: stays NaN */
                }
            }
            break;
        }
        case VXA_IOP_GAMMA: {
            const float p0 = p[0], p1 = p[1], g = p[2];
            if (p1 == 0.0f) break;
            long v = 0;
            for (; v + 16 <= len; v += 16) vstore16(vxa_gamma16(vload16(0, row + v), p0, p1, g), 0, row + v);
            for (; v < len; v++) row[v] = vxa_gamma(row[v], p0, p1, g);
            break;
        }
        case VXA_IOP_NOISE: {
            const float sd = p[0];
            const uint stream = ((uint)ins.y << 8) | (uint)c;
            /* Sixteen Philox blocks at a time as vector lanes in two chains of eight (vxa_philox_x8x2, faster
             * than eight lanes or one chain), from the block holding voxel s0: block b holds the
             * channel's voxels 4b .. 4b+3, stored at row[4b - s0 + l]. A group wholly inside the span adds its 64
             * voxels four at a time; the span's first and last groups add only the voxels inside it (a window's
             * rows of ~128 voxels would otherwise spend most of their blocks in the one-block form). */
            for (long b = s0 / 4; 4 * b < s0 + len; b += 16) {
                uint8 pa[4], pc[4];
                vxa_philox_x8x2(seed, sample, stream, (uint)b, pa, pc);
                const uint16 wx = (uint16)(pa[0], pc[0]), wy = (uint16)(pa[1], pc[1]);
                const uint16 wz = (uint16)(pa[2], pc[2]), ww = (uint16)(pa[3], pc[3]);
                const float16 r0 = sqrt(-1.38629436f * vxa_log2f16(1.0f - vxa_u01_16(wx)));
                const float16 r1 = sqrt(-1.38629436f * vxa_log2f16(1.0f - vxa_u01_16(wz)));
                float16 sn0, c0, sn1, c1;
                vxa_sincospi16(2.0f * vxa_u01_16(wy), &sn0, &c0);
                vxa_sincospi16(2.0f * vxa_u01_16(ww), &sn1, &c1);
                const float16 za = r0 * c0, zb = r0 * sn0, zc = r1 * c1, zd = r1 * sn1;  /* lanes: blocks */
                const long q0 = 4 * b - s0;   /* where the group's first voxel is stored */
                if (q0 >= 0 && q0 + 64 <= len) {
                    __global float *xv = row + q0;
#define VXA_NOISE_ADD4(L, Q) vstore4(vload4(Q, xv) + sd * (float4)(za.L, zb.L, zc.L, zd.L), Q, xv)
                    VXA_NOISE_ADD4(s0, 0); VXA_NOISE_ADD4(s1, 1); VXA_NOISE_ADD4(s2, 2); VXA_NOISE_ADD4(s3, 3);
                    VXA_NOISE_ADD4(s4, 4); VXA_NOISE_ADD4(s5, 5); VXA_NOISE_ADD4(s6, 6); VXA_NOISE_ADD4(s7, 7);
                    VXA_NOISE_ADD4(s8, 8); VXA_NOISE_ADD4(s9, 9); VXA_NOISE_ADD4(sa, 10); VXA_NOISE_ADD4(sb, 11);
                    VXA_NOISE_ADD4(sc, 12); VXA_NOISE_ADD4(sd, 13); VXA_NOISE_ADD4(se, 14); VXA_NOISE_ADD4(sf, 15);
#undef VXA_NOISE_ADD4
                } else {
                    float z[64];
                    for (int l = 0; l < 16; l++) {
                        z[4 * l] = za[l];
                        z[4 * l + 1] = zb[l];
                        z[4 * l + 2] = zc[l];
                        z[4 * l + 3] = zd[l];
                    }
                    for (int q = (int)max(0L, -q0); q < 64 && q0 + q < len; q++) row[q0 + q] += sd * z[q];
                }
            }
            break;
        }
        case VXA_IOP_BIAS:
            /* Row by row: the row's polynomial in x once (vxa_bias_row), then vxa_bias_at per voxel, which
             * vectorises (vxa_bias_factor per voxel stayed scalar on PoCL). */
            for (long v = 0; v < len;) {
                const long s = s0 + v, i0 = s % dim.x, n = min(len - v, dim.x - i0);
                const long j = (s / dim.x) % dim.y, k = s / (dim.x * dim.y);
                float r[6];
                vxa_bias_row(p, ins.w, vxa_bias_coord(j, dim.y), vxa_bias_coord(k, dim.z), r);
                __global float *xr = row + v;
                for (long q = 0; q < n; q++) xr[q] *= vxa_bias_at(r, vxa_bias_coord(i0 + q, dim.x));
                v += n;
            }
            break;
        case VXA_IOP_PWL:
        case VXA_IOP_PWL_NZ:
            for (long v = 0; v < len; v++) {
                const float y = row[v];
                if (op == VXA_IOP_PWL || y != 0.0f) row[v] = vxa_pwl(p, ins.w, y);
            }
            break;
        default:
            break;
        }
    }
}

/* Work-item t runs voxels t * chunk .. (t + 1) * chunk - 1 of channel c (chunk a multiple of 4, so Philox blocks
 * do not straddle work-items). */
__kernel void vxa_intensity_chunk(__global const IN_T *src, __global float *x, long4 dim,
                                  __global const int4 *prog, int nprog, __global const float *par, int pstride,
                                  ulong seed, ulong sample, float slope, float inter, int from_src, long chunk)
{
    const long t = get_global_id(0), c = get_global_id(1);
    const long n = dim.x * dim.y * dim.z;
    const long v0 = t * chunk;
    if (v0 >= n || c >= dim.w) return;
    const long v1 = min(v0 + chunk, n);
    __global float *xc = x + c * n;
    if (from_src) {   /* the chunk converted first; the instructions below then find it in the cache */
        __global const IN_T *sc = src + c * n;
        for (long v = v0; v < v1; v++) xc[v] = vxa_load(sc, (size_t)v, slope, inter);
    }
    vxa_iprog_span(xc + v0, v1 - v0, v0, dim, prog, nprog, par + c * (long)pstride, seed, sample, c);
}

/* The program's last pass written straight into a window of the volume (a crop that follows the intensity ops
 * in a pipeline): work-item (r, c) takes row r = j + wdim.y * k of the window wdim (wdim.w channels) at offset
 * off in the volume of dims dim, reads it from x (float, from_src = 0) or src (IN_T scaled by slope/inter,
 * from_src = 1), runs the program on it in out, where the row is contiguous, with each voxel's index in the
 * whole volume: the very values that the pass over the whole volume and then the copy of the window give.
 * in_place: out already holds the window (a part of the grid dim, x unused), the program runs on it there. */
__kernel void vxa_intensity_window(__global const IN_T *src, __global const float *x, __global float *out,
                                   long4 dim, long4 off, long4 wdim, __global const int4 *prog, int nprog,
                                   __global const float *par, int pstride, ulong seed, ulong sample, float slope,
                                   float inter, int from_src, int in_place)
{
    const long r = get_global_id(0), c = get_global_id(1);
    if (r >= wdim.y * wdim.z || c >= wdim.w) return;
    const long j = r % wdim.y, k = r / wdim.y;
    const long n = dim.x * dim.y * dim.z;
    const long s0 = off.x + dim.x * (off.y + j + dim.y * (off.z + k));
    __global float *row = out + wdim.x * (r + wdim.y * wdim.z * c);
    if (from_src) {
        __global const IN_T *sc = src + c * n;
        for (long v = 0; v < wdim.x; v++) row[v] = vxa_load(sc, (size_t)(s0 + v), slope, inter);
    } else if (!in_place) {
        __global const float *xc = x + c * n + s0;
        for (long v = 0; v < wdim.x; v++) row[v] = xc[v];
    }
    vxa_iprog_span(row, wdim.x, s0, dim, prog, nprog, par + c * (long)pstride, seed, sample, c);
}
