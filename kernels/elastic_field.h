/* SPDX-License-Identifier: MIT */
/* Trilinear interpolation of a coarse displacement field (fast elastic mode, src/ops_elastic.c): fine voxel o
 * sits at coarse index q_a = clamp((o_a − start_a) · inv_step_a, 0, n_a − 1) along each axis, and the value is
 * interpolated along i (vxa_cf_along_i), then j (vxa_cf_along_ij), then k (vxa_cf_lerp). kernels/noise.cl writes
 * the full field (vxa_noise_upsample) or the rows along i at the nodes' j and k (vxa_noise_upsample_i), which
 * kernels/resample.cl's _cfield passes finish along j and k: every path runs these same operations, so all give
 * the same values bit for bit.
 * Included after common.h; OpenCL C only. */
#ifndef VXA_ELASTIC_FIELD_H
#define VXA_ELASTIC_FIELD_H
#ifdef __OPENCL_VERSION__

/* Along one axis of n nodes: the lower node *c of fine position o and the fraction towards the next one. */
VXA_INLINE float vxa_cf_node(long o, float start, float inv_step, long n, long *c)
{
#pragma OPENCL FP_CONTRACT OFF
    const float q = clamp(((float)o - start) * inv_step, 0.0f, (float)(n - 1));
    *c = min((long)q, n - 1);
    return q - (float)*c;
}

/* a + f (b − a), the one interpolation step of every axis. */
VXA_INLINE float vxa_cf_lerp(float a, float b, float f)
{
#pragma OPENCL FP_CONTRACT OFF
    return a + f * (b - a);
}

/* The coarse field g interpolated along i at fine i on the node row (m1, m2). */
VXA_INLINE float vxa_cf_along_i(__global const float *g, long i, long m1, long m2, long4 cdim, float4 start,
                                float4 inv_step)
{
    long c0;
    const float f0 = vxa_cf_node(i, start.x, inv_step.x, cdim.x, &c0);
    const long x = c0 + 1 < cdim.x ? 1 : 0;
    __global const float *p = g + c0 + cdim.x * (m1 + cdim.y * m2);
    return vxa_cf_lerp(p[0], p[x], f0);
}

/* The coarse field g interpolated along i, then j, at fine (i, j) on node plane m2 along k. */
VXA_INLINE float vxa_cf_along_ij(__global const float *g, long i, long j, long m2, long4 cdim, float4 start,
                                 float4 inv_step)
{
    long c1;
    const float f1 = vxa_cf_node(j, start.y, inv_step.y, cdim.y, &c1);
    const long y = c1 + 1 < cdim.y ? 1 : 0;
    return vxa_cf_lerp(vxa_cf_along_i(g, i, c1, m2, cdim, start, inv_step),
                       vxa_cf_along_i(g, i, c1 + y, m2, cdim, start, inv_step), f1);
}

#endif
#endif
