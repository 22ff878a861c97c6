/* SPDX-License-Identifier: MIT */
/* Trilinear interpolation of a coarse displacement field (fast elastic mode, src/ops_elastic.c): fine voxel o
 * sits at coarse index q_a = clamp((o_a − start_a) · inv_step_a, 0, n_a − 1) along each axis. Shared by
 * kernels/noise.cl (vxa_noise_upsample writes the full field) and kernels/resample.cl (the _cfield passes read
 * the coarse nodes themselves, without a full-size field in memory), so both give the same values bit for bit.
 * Prepended to every program after common.h (alphabetical order); OpenCL C only. */
#ifndef VXA_ELASTIC_FIELD_H
#define VXA_ELASTIC_FIELD_H
#ifdef __OPENCL_VERSION__

/* A fine voxel's place on the coarse grid: the lower node's index, the offsets to the upper node along each axis
 * (0 at the last node) and the fractions. */
typedef struct {
    long base, dx, dy, dz;
    float f0, f1, f2;
} vxa_cf_at;

VXA_INLINE vxa_cf_at vxa_cf_locate(long i, long j, long k, long4 cdim, float4 start, float4 inv_step)
{
#pragma OPENCL FP_CONTRACT OFF
    const float q0 = clamp(((float)i - start.x) * inv_step.x, 0.0f, (float)(cdim.x - 1));
    const float q1 = clamp(((float)j - start.y) * inv_step.y, 0.0f, (float)(cdim.y - 1));
    const float q2 = clamp(((float)k - start.z) * inv_step.z, 0.0f, (float)(cdim.z - 1));
    const long c0 = min((long)q0, cdim.x - 1), c1 = min((long)q1, cdim.y - 1), c2 = min((long)q2, cdim.z - 1);
    vxa_cf_at at;
    at.base = c0 + cdim.x * (c1 + cdim.y * c2);
    at.dx = c0 + 1 < cdim.x ? 1 : 0;
    at.dy = c1 + 1 < cdim.y ? cdim.x : 0;
    at.dz = c2 + 1 < cdim.z ? cdim.x * cdim.y : 0;
    at.f0 = q0 - (float)c0;
    at.f1 = q1 - (float)c1;
    at.f2 = q2 - (float)c2;
    return at;
}

/* The interpolated value of one channel g of the coarse field: along i, then j, then k. */
VXA_INLINE float vxa_cf_value(__global const float *g, vxa_cf_at at)
{
#pragma OPENCL FP_CONTRACT OFF
    __global const float *p = g + at.base;
    const long x = at.dx, y = at.dy, z = at.dz;
    const float x00 = p[0] + at.f0 * (p[x] - p[0]);
    const float x10 = p[y] + at.f0 * (p[y + x] - p[y]);
    const float x01 = p[z] + at.f0 * (p[z + x] - p[z]);
    const float x11 = p[z + y] + at.f0 * (p[z + y + x] - p[z + y]);
    const float y0 = x00 + at.f1 * (x10 - x00), y1 = x01 + at.f1 * (x11 - x01);
    return y0 + at.f2 * (y1 - y0);
}

/* The field along i and j: g_ij(i, j, m2) = the coarse field interpolated along i, then j, at node plane m2 along
 * k, exactly as vxa_cf_value does before its last step (y0 for m2 = c2, y1 for m2 = c2 + 1). The resampling pass
 * reads these planes (i fastest, so neighbouring work-items load neighbouring words) and finishes along k: the
 * same floats as vxa_cf_value, without its gathers. */
VXA_INLINE float vxa_cf_along_ij(__global const float *g, long i, long j, long m2, long4 cdim, float4 start,
                                 float4 inv_step)
{
#pragma OPENCL FP_CONTRACT OFF
    const float q0 = clamp(((float)i - start.x) * inv_step.x, 0.0f, (float)(cdim.x - 1));
    const float q1 = clamp(((float)j - start.y) * inv_step.y, 0.0f, (float)(cdim.y - 1));
    const long c0 = min((long)q0, cdim.x - 1), c1 = min((long)q1, cdim.y - 1);
    const long x = c0 + 1 < cdim.x ? 1 : 0, y = c1 + 1 < cdim.y ? cdim.x : 0;
    const float f0 = q0 - (float)c0, f1 = q1 - (float)c1;
    __global const float *p = g + c0 + cdim.x * (c1 + cdim.y * m2);
    const float x0 = p[0] + f0 * (p[x] - p[0]), x1 = p[y] + f0 * (p[y + x] - p[y]);
    return x0 + f1 * (x1 - x0);
}

#endif
#endif
