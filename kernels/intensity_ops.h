/* SPDX-License-Identifier: MIT */
/* Opcodes of the elementwise intensity program: one instruction is (opcode, op index, offset of its
 * parameters, extra), its float parameters p[] are per channel. Read by kernels/intensity.cl and
 * host/intensity.c (plain #defines: valid C and OpenCL C). */
#ifndef VXA_INTENSITY_OPS_H
#define VXA_INTENSITY_OPS_H
#define VXA_IOP_LINEAR    1  /* (x - p0) * p1 + p2; when p1 == 0: p2 for every x but NaN */
#define VXA_IOP_LINEAR_NZ 2  /* the same, zero voxels stay 0 */
#define VXA_IOP_CLIP      3  /* min(max(x, p0), p1); NaN stays NaN, +-Inf go to the bounds */
#define VXA_IOP_CLIP_NZ   4  /* the same, zero voxels stay 0 */
#define VXA_IOP_GAMMA     5  /* u = max((x - p0) / p1, 0); u^p2 * p1 + p0; identity when p1 == 0 */
#define VXA_IOP_NOISE     6  /* x + p0 * z, z standard normal from Philox (vxa_ref_noise_normal) */
#define VXA_IOP_BIAS      7  /* x * exp(P): extra = order, p[] = the coefficients */
#define VXA_IOP_PWL       8  /* piecewise linear, extra = m breakpoints p[0..m-1] (increasing): segment s = the
                              * number of breakpoints <= x, then (x - p[m+3s]) * p[m+3s+2] + p[m+3s+1] */
#define VXA_IOP_PWL_NZ    9  /* the same, zero voxels stay 0 */
#define VXA_IPROG_MAX     32  /* instructions per pass */
#define VXA_IPROG_MAXPAR  256 /* parameters per channel per pass */
#endif
