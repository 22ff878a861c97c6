/* SPDX-License-Identifier: MIT */
/* One pull resampling pass: output voxel o takes the input at p = A·(o + d(o)) + b (kernels/resample_coord.h),
 * scipy.ndimage.affine_transform(x, A, offset=b, order, mode, cval) (with a field d: map_coordinates on
 * A·(grid + d) + b). Built with -DIN_T=<input type> -DOUT_T=<output type>:
 *   OUT_T float: images. Values are read with NIfTI scaling (vxa_load) and interpolated in float32.
 *   OUT_T anything else (order 0 only, IN_T == OUT_T): labels. The nearest neighbour's stored value is copied
 *     bit for bit, without scaling (float64 labels travel as ulong); cval arrives already in the type.
 * Modes: 0 constant = scipy 'grid-constant' (every neighbour outside the input reads cval), 1 nearest,
 * 2 reflect (d c b a | a b c d | d c b a). Every channel uses the same weights.
 * Arguments: in_dim/out_dim = (nx, ny, nz, channels); a0, a1, a2 = the columns of A, b = the offset (float32).
 * One work item per output voxel; all channels are looped inside. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef OUT_IS_RAW
#define OUT_IS_RAW 0
#endif

/* Index along an axis of n for integer position q, by mode; -1 = outside (constant mode). */
inline long rs_fold(long q, long n, int mode)
{
    if (q >= 0 && q < n) return q;
    if (mode == 1) return q < 0 ? 0 : n - 1;
    if (mode == 2) {
        const long period = 2 * n;
        long m = q % period;
        if (m < 0) m += period;
        return m < n ? m : period - 1 - m;
    }
    return -1;
}

/* The sample position of output voxel (i, j, k), o = its linear index on the output grid. */
inline float4 rs_position(long i, long j, long k, long o, long out_vol, __global const float *field, int use_field,
                          float4 a0, float4 a1, float4 a2, float4 b)
{
    float x = (float)i, y = (float)j, z = (float)k;
    if (use_field) {
        x += field[o];
        y += field[o + out_vol];
        z += field[o + 2 * out_vol];
    }
    return (float4)(vxa_resample_coord(a0.x, a1.x, a2.x, b.x, x, y, z),
                    vxa_resample_coord(a0.y, a1.y, a2.y, b.y, x, y, z),
                    vxa_resample_coord(a0.z, a1.z, a2.z, b.z, x, y, z), 0.0f);
}

#if !OUT_IS_RAW
/* Trilinear. Interior (all 8 neighbours inside): interpolate the stored values and scale once (scaling is
 * affine and the weights sum to 1); border: each neighbour folded by the mode or cval. */
inline void rs_linear(__global const IN_T *in, __global float *out, __global const float *field, int use_field,
                      long4 in_dim, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b, int mode,
                      float cval, float slope, float inter)
{
    const long i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    if (i >= out_dim.x || j >= out_dim.y || k >= out_dim.z) return;
    const long out_vol = out_dim.x * out_dim.y * out_dim.z, in_vol = in_dim.x * in_dim.y * in_dim.z;
    const long o = i + out_dim.x * (j + out_dim.y * k);
    const float4 p = rs_position(i, j, k, o, out_vol, field, use_field, a0, a1, a2, b);
    const float4 f = floor(p);
    const float4 t = p - f;
    const long x0 = (long)f.x, y0 = (long)f.y, z0 = (long)f.z;
    const long sy = in_dim.x, sz = in_dim.x * in_dim.y;
    if (x0 >= 0 && y0 >= 0 && z0 >= 0 && x0 + 1 < in_dim.x && y0 + 1 < in_dim.y && z0 + 1 < in_dim.z) {
        long base = x0 + sy * y0 + sz * z0;
        for (long c = 0; c < out_dim.w; c++, base += in_vol) {
            const float v000 = (float)in[base], v100 = (float)in[base + 1];
            const float v010 = (float)in[base + sy], v110 = (float)in[base + sy + 1];
            const float v001 = (float)in[base + sz], v101 = (float)in[base + sz + 1];
            const float v011 = (float)in[base + sy + sz], v111 = (float)in[base + sy + sz + 1];
            const float c00 = v000 + t.x * (v100 - v000), c10 = v010 + t.x * (v110 - v010);
            const float c01 = v001 + t.x * (v101 - v001), c11 = v011 + t.x * (v111 - v011);
            const float c0 = c00 + t.y * (c10 - c00), c1 = c01 + t.y * (c11 - c01);
            const float r = c0 + t.z * (c1 - c0);
            out[o + c * out_vol] = slope != 0.0f ? r * slope + inter : r;
        }
        return;
    }
    const long xi[2] = { rs_fold(x0, in_dim.x, mode), rs_fold(x0 + 1, in_dim.x, mode) };
    const long yi[2] = { rs_fold(y0, in_dim.y, mode), rs_fold(y0 + 1, in_dim.y, mode) };
    const long zi[2] = { rs_fold(z0, in_dim.z, mode), rs_fold(z0 + 1, in_dim.z, mode) };
    const float wx[2] = { 1.0f - t.x, t.x }, wy[2] = { 1.0f - t.y, t.y }, wz[2] = { 1.0f - t.z, t.z };
    for (long c = 0; c < out_dim.w; c++) {
        float sum = 0.0f;
        for (int corner = 0; corner < 8; corner++) {
            const int ux = corner & 1, uy = (corner >> 1) & 1, uz = (corner >> 2) & 1;
            const float w = wx[ux] * wy[uy] * wz[uz];
            const bool inside = xi[ux] >= 0 && yi[uy] >= 0 && zi[uz] >= 0;
            const float v = inside ? vxa_load(in, (size_t)(xi[ux] + sy * yi[uy] + sz * zi[uz] + c * in_vol), slope,
                                              inter)
                                   : cval;
            sum += w * v;
        }
        out[o + c * out_vol] = sum;
    }
}

__kernel void vxa_resample_linear(__global const IN_T *in, __global float *out, __global const float *field,
                                  long4 in_dim, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b, int mode,
                                  float cval, float slope, float inter)
{
    rs_linear(in, out, field, 0, in_dim, out_dim, a0, a1, a2, b, mode, cval, slope, inter);
}

__kernel void vxa_resample_linear_field(__global const IN_T *in, __global float *out, __global const float *field,
                                        long4 in_dim, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b,
                                        int mode, float cval, float slope, float inter)
{
    rs_linear(in, out, field, 1, in_dim, out_dim, a0, a1, a2, b, mode, cval, slope, inter);
}
#endif

/* Nearest neighbour, index floor(p + 0.5) per axis (resample_coord.h), folded by the mode. Images: the scaled
 * value as float; labels (OUT_IS_RAW): the stored value itself. */
inline void rs_nearest(__global const IN_T *in, __global OUT_T *out, __global const float *field, int use_field,
                       long4 in_dim, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b, int mode,
                       OUT_T cval, float slope, float inter)
{
    const long i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    if (i >= out_dim.x || j >= out_dim.y || k >= out_dim.z) return;
    const long out_vol = out_dim.x * out_dim.y * out_dim.z, in_vol = in_dim.x * in_dim.y * in_dim.z;
    const long o = i + out_dim.x * (j + out_dim.y * k);
    const float4 p = rs_position(i, j, k, o, out_vol, field, use_field, a0, a1, a2, b);
    const long x = rs_fold((long)vxa_resample_round(p.x), in_dim.x, mode);
    const long y = rs_fold((long)vxa_resample_round(p.y), in_dim.y, mode);
    const long z = rs_fold((long)vxa_resample_round(p.z), in_dim.z, mode);
    const bool inside = x >= 0 && y >= 0 && z >= 0;
    const long q = x + in_dim.x * (y + in_dim.y * z);
    for (long c = 0; c < out_dim.w; c++) {
#if OUT_IS_RAW
        out[o + c * out_vol] = inside ? in[q + c * in_vol] : cval;
#else
        out[o + c * out_vol] = inside ? vxa_load(in, (size_t)(q + c * in_vol), slope, inter) : cval;
#endif
    }
}

__kernel void vxa_resample_nearest(__global const IN_T *in, __global OUT_T *out, __global const float *field,
                                   long4 in_dim, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b, int mode,
                                   OUT_T cval, float slope, float inter)
{
    rs_nearest(in, out, field, 0, in_dim, out_dim, a0, a1, a2, b, mode, cval, slope, inter);
}

__kernel void vxa_resample_nearest_field(__global const IN_T *in, __global OUT_T *out, __global const float *field,
                                         long4 in_dim, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b,
                                         int mode, OUT_T cval, float slope, float inter)
{
    rs_nearest(in, out, field, 1, in_dim, out_dim, a0, a1, a2, b, mode, cval, slope, inter);
}
