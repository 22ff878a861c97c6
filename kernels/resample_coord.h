/* SPDX-License-Identifier: MIT */
/* The sample position of the resampling pass in float32, shared bit for bit by kernels/resample.cl and the
 * C reference's nearest-neighbour path (src/reference/resample.c), compiled as C99 and as OpenCL C.
 *
 * Output voxel (i, j, k) with displacement d samples input index p = A·(o + d) + b. Each component is
 * evaluated in float32 in this fixed order, without contraction (FP_CONTRACT OFF in OpenCL, -ffp-contract=off
 * in C):   x = (float)i + d_i   (d = 0 without a field, then x = i exactly)
 *          p_r = ((b_r + A_r2·z) + A_r1·y) + A_r0·x
 * and clamped to [-2^30, 2^30] (a NaN goes to -2^30) so that the conversion to an integer is defined.
 * Nearest neighbour: floor(p + 0.5f), in float32. Computed in double (SciPy), p can land on the other side of
 * a .5 boundary where float32 rounding moves it by an ulp: that is the only way voxaug's labels can differ
 * from scipy.ndimage's order-0 output; exact maps (flips, crops, integer shifts, multiples of 90 degrees)
 * are exact in float32 and never differ.
 * Trilinear weights inherit the float32 position: |p| < 1024 keeps them within 6e-5 of the double
 * reference's (1e-4 x range) on volumes of up to 1024 voxels per axis; positions thousands of voxels outside
 * the input (reflect folding them back) are only as exact as float32 allows. */
#ifndef VXA_RESAMPLE_COORD_H
#define VXA_RESAMPLE_COORD_H

#ifdef __OPENCL_VERSION__
#define VXA_RC_INLINE inline
#define VXA_RC_FMIN fmin
#define VXA_RC_FMAX fmax
#else
#include <math.h>
#define VXA_RC_INLINE static inline
#define VXA_RC_FMIN fminf
#define VXA_RC_FMAX fmaxf
#endif

#define VXA_RC_LIMIT 1073741824.0f /* 2^30 */

/* One component of p: row (a0, a1, a2) of A, b_r, and the displaced output index (x, y, z). */
VXA_RC_INLINE float vxa_resample_coord(float a0, float a1, float a2, float b, float x, float y, float z)
{
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#endif
    float p = ((b + a2 * z) + a1 * y) + a0 * x;
    return VXA_RC_FMIN(VXA_RC_FMAX(p, -VXA_RC_LIMIT), VXA_RC_LIMIT);
}

/* The nearest grid index to p (ties upwards), as scipy's order 0: floor(p + 0.5), the sum in float32. The floor
 * is taken through a truncating conversion (exact for |q| < 2^31, which the clamp above guarantees): the same
 * integer as floorf, without a library call in the kernel. */
VXA_RC_INLINE int vxa_resample_round(float p)
{
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#endif
    const float q = p + 0.5f;
    const int t = (int)q;
    return t - ((float)t > q ? 1 : 0);
}

#endif
