/* SPDX-License-Identifier: MIT */
/* One pull resampling pass: output voxel o takes the input at p = A·(o + d(o)) + b (kernels/resample_coord.h),
 * scipy.ndimage.affine_transform(x, A, offset=b, order, mode, cval) (with a field d: map_coordinates on
 * A·(grid + d) + b). Built with -DIN_T=<input type> -DOUT_T=<output type> -DIDX_T=<int or long>:
 *   OUT_T float: images. Values are read with NIfTI scaling (vxa_load) and interpolated in float32.
 *   OUT_T anything else (IN_T == OUT_T, -DOUT_IS_RAW=1): labels. The nearest neighbour's stored value (or, in
 *     vxa_resample_label_*, the label that per-label linear interpolation picks) is copied bit for bit, without
 *     scaling (float labels travel as uint/ulong); cval arrives already converted to the type.
 * Modes: 0 constant = scipy 'grid-constant' (every neighbour outside the input reads cval), 1 nearest,
 * 2 reflect (d c b a | a b c d | d c b a). Every channel uses the same weights.
 * Arguments: in_dim/out_dim = (nx, ny, nz, channels); a0, a1, a2 = the columns of A, b = the offset (float32);
 * slab = (out_k0, in_k0, nz, 0) when the pass runs on slabs along k (volumes over the device's allocation
 * limit): the output holds planes out_k0.., the input planes in_k0.. of a volume nz deep; positions are those
 * of the whole volumes, so slabs give the single pass's values bit for bit. (0, 0, in_dim.z) otherwise.
 * woff = (out_i0, out_j0, 0, 0): the output is the window of the whole output from (out_i0, out_j0) along i and
 * j (a crop that follows the pass, as out_k0 is along k), positions again those of the whole output; a _field
 * pass's field lives on the window's own grid, as a slab's does. (0, 0, 0, 0) otherwise.
 * One work item per output voxel. Entry points: vxa_resample_{linear,nearest}[_field|_cfield][_1]: _field reads
 * the displacement field (3 channels on the output grid), _cfield interpolates it along j and k from the rows
 * that vxa_noise_upsample_i made from the coarse nodes of a fast elastic field (cdim = their dims, cstart/cinv =
 * the nodes' start and 1/step per axis, kernels/elastic_field.h: the values vxa_noise_upsample would write,
 * without the full-size field), _1 is the single-channel case without the channel loop (PoCL vectorises the
 * work-item loop only when it is innermost).
 * Index arithmetic is in IDX_T: int where every channel of the input and the output has at most 2^30 voxels
 * (the host chooses; AVX2 and GPUs have no fast 64-bit multiply), long otherwise. */
#include "common.h"
#include "fold.h"
#include "resample_coord.h"
#include "elastic_field.h"
#include "resample_label.h"
#pragma OPENCL FP_CONTRACT OFF

#ifndef OUT_IS_RAW
#define OUT_IS_RAW 0
#endif
#ifndef IDX_T
#define IDX_T long
#endif

/* Index along an axis of n for integer position q, by mode; -1 = outside (constant mode): kernels/fold.h. */
VXA_DEF_FOLD(rs_fold, IDX_T)

/* floor(p) as an integer, exact for |p| < 2^31 (positions are clamped to 2^30). */
VXA_INLINE IDX_T rs_floor(float p)
{
    const int t = (int)p;
    return (IDX_T)(t - ((float)t > p ? 1 : 0));
}

/* A fast field's rows h = vxa_noise_upsample_i(coarse) (hdim = (nx, coarse ny, coarse nz)) at (i, j, k): the
 * index of the first of the four rows around (j, k), the distances to the next row along j (dy) and k (dz), the
 * fractions along j (f1) and k (f2), and one channel's size; rs_cf_value finishes the interpolation along j
 * (vxa_cf_along_ij's step), then k (kernels/elastic_field.h), as vxa_noise_upsample does. */
typedef struct {
    IDX_T base, dy, dz, hvol;
    float f1, f2;
} rs_cfk;

VXA_INLINE rs_cfk rs_cf_locate(IDX_T i, IDX_T j, IDX_T k, long4 hdim, float4 start, float4 inv_step)
{
    const IDX_T nx = (IDX_T)hdim.x, ny = (IDX_T)hdim.y, nz = (IDX_T)hdim.z;
    long c;
    rs_cfk at;
    at.f1 = vxa_cf_node(j, start.y, inv_step.y, hdim.y, &c);
    const IDX_T c1 = (IDX_T)c;
    at.f2 = vxa_cf_node(k, start.z, inv_step.z, hdim.z, &c);
    const IDX_T c2 = (IDX_T)c;
    at.base = i + nx * (c1 + ny * c2);
    at.dy = c1 + 1 < ny ? nx : 0;
    at.dz = c2 + 1 < nz ? nx * ny : 0;
    at.hvol = nx * ny * nz;
    return at;
}

VXA_INLINE float rs_cf_value(__global const float *h, rs_cfk at)
{
    __global const float *p = h + at.base;
    return vxa_cf_lerp(vxa_cf_lerp(p[0], p[at.dy], at.f1), vxa_cf_lerp(p[at.dz], p[at.dz + at.dy], at.f1), at.f2);
}

/* The sample position (px, py, pz) of output voxel (i, j, k), o = its linear index on the output grid. Scalars,
 * not a float4: LLVM's vectoriser then spreads work items over the SIMD lanes. */
#define RS_POSITION(px, py, pz)                                                                   \
    float px, py, pz;                                                                             \
    {                                                                                             \
        float x_ = (float)(i + (IDX_T)woff.x), y_ = (float)(j + (IDX_T)woff.y), z_ = (float)(k + (IDX_T)slab.x); \
        if (use_field == 1) {                                                                     \
            x_ += field[o];                                                                       \
            y_ += field[o + out_vol];                                                             \
            z_ += field[o + 2 * out_vol];                                                         \
        } else if (use_field == 2) {                                                              \
            rs_cfk at_ = rs_cf_locate(i + (IDX_T)woff.x, j + (IDX_T)woff.y, k + (IDX_T)slab.x, cdim, cstart, cinv); \
            x_ += rs_cf_value(field, at_);                                                        \
            at_.base += at_.hvol;                                                                 \
            y_ += rs_cf_value(field, at_);                                                        \
            at_.base += at_.hvol;                                                                 \
            z_ += rs_cf_value(field, at_);                                                        \
        }                                                                                         \
        px = vxa_resample_coord(a0.x, a1.x, a2.x, b.x, x_, y_, z_);                               \
        py = vxa_resample_coord(a0.y, a1.y, a2.y, b.y, x_, y_, z_);                               \
        pz = vxa_resample_coord(a0.z, a1.z, a2.z, b.z, x_, y_, z_);                               \
    }

#define RS_ARGS(OUT_TYPE, CVAL_TYPE)                                                                          \
    __global const IN_T *in, __global OUT_TYPE *out, __global const float *field, long4 in_dim, long4 out_dim, \
        float4 a0, float4 a1, float4 a2, float4 b, int mode, CVAL_TYPE cval, float slope, float inter, int4 slab, \
        long4 cdim, float4 cstart, float4 cinv, int4 woff
#define RS_PASS in, out, field, in_dim, out_dim, a0, a1, a2, b, mode, cval, slope, inter, slab, cdim, cstart, cinv, woff

/* The CPU forms (PoCL, IDX_T int) take the eight outputs i = i0 .. i0 + 7 of a row per work-item. Their
 * sample positions, RS_POSITION in float8 lanes: the very operations of RS_POSITION lane by lane (so the same
 * floats), the displacement read as eight consecutive values of the field, or of the fast field's rows. */
VXA_INLINE void rs_position8(__global const float *field, long4 out_dim, float4 a0, float4 a1, float4 a2, float4 b,
                             int4 slab, long4 cdim, float4 cstart, float4 cinv, int4 woff, int use_field, int i0, int j,
                             int k, float8 *px, float8 *py, float8 *pz)
{
    const int mx = (int)out_dim.x, my = (int)out_dim.y, mz = (int)out_dim.z;
    const int out_vol = mx * my * mz, o = i0 + mx * (j + my * k);
    float8 x_ = convert_float8((int8)(i0 + woff.x) + (int8)(0, 1, 2, 3, 4, 5, 6, 7));
    float8 y_ = (float8)((float)(j + woff.y)), z_ = (float8)((float)(k + slab.x));
    if (use_field == 1) {
        x_ += vload8(0, field + o);
        y_ += vload8(0, field + o + out_vol);
        z_ += vload8(0, field + o + 2 * out_vol);
    } else if (use_field == 2) {
        rs_cfk at = rs_cf_locate((IDX_T)(i0 + woff.x), (IDX_T)(j + woff.y), (IDX_T)(k + slab.x), cdim, cstart, cinv);
        for (int c = 0; c < 3; c++, at.base += at.hvol) {   /* rs_cf_value, eight voxels of a row */
            __global const float *h = field + at.base;
            const float8 r00 = vload8(0, h), r10 = vload8(0, h + at.dy);
            const float8 r01 = vload8(0, h + at.dz), r11 = vload8(0, h + at.dz + at.dy);
            const float8 ha = r00 + at.f1 * (r10 - r00), hb = r01 + at.f1 * (r11 - r01);   /* vxa_cf_lerp */
            const float8 d = ha + at.f2 * (hb - ha);
            if (c == 0) x_ += d; else if (c == 1) y_ += d; else z_ += d;
        }
    }
    /* vxa_resample_coord */
    *px = fmin(fmax(((b.x + a2.x * z_) + a1.x * y_) + a0.x * x_, -VXA_RC_LIMIT), VXA_RC_LIMIT);
    *py = fmin(fmax(((b.y + a2.y * z_) + a1.y * y_) + a0.y * x_, -VXA_RC_LIMIT), VXA_RC_LIMIT);
    *pz = fmin(fmax(((b.z + a2.z * z_) + a1.z * y_) + a0.z * x_, -VXA_RC_LIMIT), VXA_RC_LIMIT);
}

/* rs_floor lane by lane: truncate, then one less where that went up (a comparison is -1 where true). */
VXA_INLINE int8 rs_floor8(float8 p)
{
    const int8 t = convert_int8(p);
    return t + (convert_float8(t) > p);
}

/* rs_fold lane by lane (the same fold as kernels/fold.h, in vector lanes). */
VXA_INLINE int8 rs_fold8(int8 q, int n, int mode)
{
    const int8 in = q >= 0 & q < n;
    if (all(in)) return q;
    int8 f = (int8)(-1);
    if (mode == 1) f = select((int8)(n - 1), (int8)0, q < 0);
    if (mode == 2) {
        const int period = 2 * n;
        int8 m = select(q, q % period, q < -n | q >= period);
        m = select(m, m + period, m < 0);
        f = select(period - 1 - m, m, m < n);
    }
    return select(f, q, in);
}

#if !OUT_IS_RAW
/* Trilinear. Interior (all 8 neighbours inside): interpolate the stored values and scale once (scaling is
 * affine and the weights sum to 1); border: each neighbour folded by the mode, or cval. */
VXA_INLINE void rs_linear_at(RS_ARGS(float, float), int use_field, int one_channel, IDX_T i, IDX_T j, IDX_T k)
{
    const IDX_T nx = (IDX_T)in_dim.x, ny = (IDX_T)in_dim.y, nz = (IDX_T)slab.z, k0 = (IDX_T)slab.y;
    const IDX_T mx = (IDX_T)out_dim.x, my = (IDX_T)out_dim.y, mz = (IDX_T)out_dim.z;
    const IDX_T out_vol = mx * my * mz, in_vol = nx * ny * (IDX_T)in_dim.z;
    const IDX_T o = i + mx * (j + my * k);
    const long nc = one_channel ? 1 : out_dim.w;
    RS_POSITION(px, py, pz)
    const IDX_T x0 = rs_floor(px), y0 = rs_floor(py), z0 = rs_floor(pz);
    const float tx = px - (float)x0, ty = py - (float)y0, tz = pz - (float)z0;
    const IDX_T sy = nx, sz = nx * ny;
    __global const IN_T *src = in;
    __global float *dst = out + o;
    if (x0 >= 0 && y0 >= 0 && z0 >= 0 && x0 + 1 < nx && y0 + 1 < ny && z0 + 1 < nz) {
        const IDX_T base = x0 + sy * y0 + sz * (z0 - k0);
        for (long c = 0; c < nc; c++, src += in_vol, dst += out_vol) {
            const float v000 = (float)src[base], v100 = (float)src[base + 1];
            const float v010 = (float)src[base + sy], v110 = (float)src[base + sy + 1];
            const float v001 = (float)src[base + sz], v101 = (float)src[base + sz + 1];
            const float v011 = (float)src[base + sy + sz], v111 = (float)src[base + sy + sz + 1];
            const float c00 = v000 + tx * (v100 - v000), c10 = v010 + tx * (v110 - v010);
            const float c01 = v001 + tx * (v101 - v001), c11 = v011 + tx * (v111 - v011);
            const float c0 = c00 + ty * (c10 - c00), c1 = c01 + ty * (c11 - c01);
            const float r = c0 + tz * (c1 - c0);
            *dst = slope != 0.0f ? r * slope + inter : r;
        }
        return;
    }
    const IDX_T xi[2] = { rs_fold(x0, nx, mode), rs_fold(x0 + 1, nx, mode) };
    const IDX_T yi[2] = { rs_fold(y0, ny, mode), rs_fold(y0 + 1, ny, mode) };
    IDX_T zi[2] = { rs_fold(z0, nz, mode), rs_fold(z0 + 1, nz, mode) };
    for (int u = 0; u < 2; u++)
        if (zi[u] >= 0) zi[u] -= k0;
    const float wx[2] = { 1.0f - tx, tx }, wy[2] = { 1.0f - ty, ty }, wz[2] = { 1.0f - tz, tz };
    for (long c = 0; c < nc; c++, src += in_vol, dst += out_vol) {
        float sum = 0.0f;
        for (int corner = 0; corner < 8; corner++) {
            const int ux = corner & 1, uy = (corner >> 1) & 1, uz = (corner >> 2) & 1;
            const float w = wx[ux] * wy[uy] * wz[uz];
            const bool inside = xi[ux] >= 0 && yi[uy] >= 0 && zi[uz] >= 0;
            const float v = inside ? vxa_load(src, (size_t)(xi[ux] + sy * yi[uy] + sz * zi[uz]), slope, inter) : cval;
            sum += w * v;
        }
        *dst = sum;
    }
}

/* The CPU forms' last incomplete eight of a row (i0 .. out_dim.x - 1), voxel by voxel: a call (VXA_CALL,
 * kernels/common.h), so that the eight-lane body is not compiled with the one-voxel form inlined in it. */
VXA_CALL void rs_linear_tail(RS_ARGS(float, float), int use_field, int i0, int j, int k)
{
    for (int i = i0; i < (int)out_dim.x; i++) rs_linear_at(RS_PASS, use_field, 1, (IDX_T)i, (IDX_T)j, (IDX_T)k);
}

VXA_INLINE void rs_linear(RS_ARGS(float, float), int use_field, int one_channel)
{
    const IDX_T i = (IDX_T)get_global_id(0), j = (IDX_T)get_global_id(1), k = (IDX_T)get_global_id(2);
    if (i >= (IDX_T)out_dim.x || j >= (IDX_T)out_dim.y || k >= (IDX_T)out_dim.z) return;
    rs_linear_at(RS_PASS, use_field, one_channel, i, j, k);
}

/* The CPU form of the single-channel trilinear pass (PoCL, IDX_T int): work-item (g, j, k) takes the eight
 * outputs i = 8g .. 8g + 7 of its row with the arithmetic written in float8 lanes, the very operations of
 * rs_linear_at lane by lane (so the same floats), and the eight neighbours read lane by lane, the two along i
 * at once (RS_G8X2); groups with a neighbour outside the input through rs_border8, rows' last incomplete eights
 * through rs_linear_at voxel by voxel. PoCL keeps the one-voxel form scalar (its vectoriser gives up on the
 * position arithmetic). */
#define RS_G8(off) (float8)((float)src[b8.s0 + (off)], (float)src[b8.s1 + (off)], (float)src[b8.s2 + (off)], \
                            (float)src[b8.s3 + (off)], (float)src[b8.s4 + (off)], (float)src[b8.s5 + (off)], \
                            (float)src[b8.s6 + (off)], (float)src[b8.s7 + (off)])
/* The two neighbours along i of the eight lanes' base indices b8 + off as one two-voxel load per lane: lo the
 * values at b8 + off, hi at b8 + off + 1 (the interior form; faster than eight single loads per lane). */
#define RS_VEC2_(T) T##2
#define RS_VEC2(T) RS_VEC2_(T)
#define RS_G8X2(off, lo, hi)                                                                                  \
    do {                                                                                                      \
        const RS_VEC2(IN_T) q0_ = vload2(0, src + b8.s0 + (off)), q1_ = vload2(0, src + b8.s1 + (off));       \
        const RS_VEC2(IN_T) q2_ = vload2(0, src + b8.s2 + (off)), q3_ = vload2(0, src + b8.s3 + (off));       \
        const RS_VEC2(IN_T) q4_ = vload2(0, src + b8.s4 + (off)), q5_ = vload2(0, src + b8.s5 + (off));       \
        const RS_VEC2(IN_T) q6_ = vload2(0, src + b8.s6 + (off)), q7_ = vload2(0, src + b8.s7 + (off));       \
        lo = (float8)((float)q0_.x, (float)q1_.x, (float)q2_.x, (float)q3_.x, (float)q4_.x, (float)q5_.x,   \
                      (float)q6_.x, (float)q7_.x);                                                            \
        hi = (float8)((float)q0_.y, (float)q1_.y, (float)q2_.y, (float)q3_.y, (float)q4_.y, (float)q5_.y,   \
                      (float)q6_.y, (float)q7_.y);                                                            \
    } while (0)
/* The trilinear values of eight lanes of which some have a neighbour outside the input, each lane as
 * rs_linear_at computes it: lanes with all eight neighbours inside interpolate the stored values and scale
 * once; the others sum w · v over the eight corners in order, v the scaled value at the folded position or
 * cval. Neighbours are read lane by lane, from index 0 where a lane has none. Inlined: as a call (VXA_CALL) its
 * first launch compiled faster, but its vectors went through memory and the pass may have run slower
 * (bench/RESULTS.md, "The very first sample"). */
VXA_INLINE float8 rs_border8(__global const IN_T *src, int8 x0, int8 y0, int8 z0, float8 tx, float8 ty, float8 tz,
                             int8 inside, int nx, int ny, int nz, int k0, int mode, float cval, float slope,
                             float inter)
{
    const int8 xi[2] = { rs_fold8(x0, nx, mode), rs_fold8(x0 + 1, nx, mode) };
    const int8 yi[2] = { rs_fold8(y0, ny, mode), rs_fold8(y0 + 1, ny, mode) };
    int8 zi[2] = { rs_fold8(z0, nz, mode), rs_fold8(z0 + 1, nz, mode) };
    for (int u = 0; u < 2; u++) zi[u] = select(zi[u], zi[u] - k0, zi[u] >= 0);
    const float8 wx[2] = { 1.0f - tx, tx }, wy[2] = { 1.0f - ty, ty }, wz[2] = { 1.0f - tz, tz };
    float8 raw[8], sum = 0.0f;
    for (int corner = 0; corner < 8; corner++) {
        const int ux = corner & 1, uy = (corner >> 1) & 1, uz = (corner >> 2) & 1;
        const int8 ok = xi[ux] >= 0 & yi[uy] >= 0 & zi[uz] >= 0;
        const int8 b8 = select((int8)0, xi[ux] + nx * yi[uy] + nx * ny * zi[uz], ok);
        raw[corner] = RS_G8(0);
        const float8 v = select((float8)cval, slope != 0.0f ? raw[corner] * slope + inter : raw[corner], ok);
        sum += ((wx[ux] * wy[uy]) * wz[uz]) * v;
    }
    /* lanes inside: corner c is (x0 + ux, y0 + uy, z0 + uz), as the interior form reads it */
    const float8 c00 = raw[0] + tx * (raw[1] - raw[0]), c10 = raw[2] + tx * (raw[3] - raw[2]);
    const float8 c01 = raw[4] + tx * (raw[5] - raw[4]), c11 = raw[6] + tx * (raw[7] - raw[6]);
    const float8 c0 = c00 + ty * (c10 - c00), c1 = c01 + ty * (c11 - c01);
    const float8 r = c0 + tz * (c1 - c0);
    return select(sum, slope != 0.0f ? r * slope + inter : r, inside);
}

VXA_INLINE void rs_linear8(RS_ARGS(float, float), int use_field)
{
    const int i0 = 8 * (int)get_global_id(0), j = (int)get_global_id(1), k = (int)get_global_id(2);
    const int nx = (int)in_dim.x, ny = (int)in_dim.y, nz = slab.z, k0 = slab.y;
    const int mx = (int)out_dim.x, my = (int)out_dim.y, mz = (int)out_dim.z;
    if (i0 >= mx || j >= my || k >= mz) return;
    if (i0 + 8 > mx) {
        rs_linear_tail(RS_PASS, use_field, i0, j, k);
        return;
    }
    const int o = i0 + mx * (j + my * k);
    float8 px, py, pz;
    rs_position8(field, out_dim, a0, a1, a2, b, slab, cdim, cstart, cinv, woff, use_field, i0, j, k, &px, &py,
                 &pz);
    const int8 x0 = rs_floor8(px), y0 = rs_floor8(py), z0 = rs_floor8(pz);
    const int8 inside = x0 >= 0 & y0 >= 0 & z0 >= 0 & x0 + 1 < nx & y0 + 1 < ny & z0 + 1 < nz;
    const float8 tx = px - convert_float8(x0), ty = py - convert_float8(y0), tz = pz - convert_float8(z0);
    const int sy = nx, sz = nx * ny;
    if (!all(inside)) {
        vstore8(rs_border8(in, x0, y0, z0, tx, ty, tz, inside, nx, ny, nz, k0, mode, cval, slope, inter), 0,
                out + o);
        return;
    }
    const int8 b8 = x0 + sy * y0 + sz * (z0 - k0);
    __global const IN_T *src = in;
    float8 v000, v100, v010, v110, v001, v101, v011, v111;
    RS_G8X2(0, v000, v100);
    RS_G8X2(sy, v010, v110);
    RS_G8X2(sz, v001, v101);
    RS_G8X2(sy + sz, v011, v111);
    const float8 c00 = v000 + tx * (v100 - v000), c10 = v010 + tx * (v110 - v010);
    const float8 c01 = v001 + tx * (v101 - v001), c11 = v011 + tx * (v111 - v011);
    const float8 c0 = c00 + ty * (c10 - c00), c1 = c01 + ty * (c11 - c01);
    const float8 r = c0 + tz * (c1 - c0);
    vstore8(slope != 0.0f ? r * slope + inter : r, 0, out + o);
}

__kernel void vxa_resample_linear8_1(RS_ARGS(float, float)) { rs_linear8(RS_PASS, 0); }
__kernel void vxa_resample_linear8_field_1(RS_ARGS(float, float)) { rs_linear8(RS_PASS, 1); }
__kernel void vxa_resample_linear8_cfield_1(RS_ARGS(float, float)) { rs_linear8(RS_PASS, 2); }

__kernel void vxa_resample_linear(RS_ARGS(float, float)) { rs_linear(RS_PASS, 0, 0); }
__kernel void vxa_resample_linear_1(RS_ARGS(float, float)) { rs_linear(RS_PASS, 0, 1); }
__kernel void vxa_resample_linear_field(RS_ARGS(float, float)) { rs_linear(RS_PASS, 1, 0); }
__kernel void vxa_resample_linear_field_1(RS_ARGS(float, float)) { rs_linear(RS_PASS, 1, 1); }
__kernel void vxa_resample_linear_cfield(RS_ARGS(float, float)) { rs_linear(RS_PASS, 2, 0); }
__kernel void vxa_resample_linear_cfield_1(RS_ARGS(float, float)) { rs_linear(RS_PASS, 2, 1); }
#endif

/* Nearest neighbour, index floor(p + 0.5) per axis (resample_coord.h), folded by the mode. Images: the scaled
 * value as float; labels (OUT_IS_RAW): the stored value itself. */
VXA_INLINE void rs_nearest_at(RS_ARGS(OUT_T, OUT_T), int use_field, int one_channel, IDX_T i, IDX_T j, IDX_T k)
{
    const IDX_T nx = (IDX_T)in_dim.x, ny = (IDX_T)in_dim.y, nz = (IDX_T)slab.z, k0 = (IDX_T)slab.y;
    const IDX_T mx = (IDX_T)out_dim.x, my = (IDX_T)out_dim.y, mz = (IDX_T)out_dim.z;
    const IDX_T out_vol = mx * my * mz, in_vol = nx * ny * (IDX_T)in_dim.z;
    const IDX_T o = i + mx * (j + my * k);
    const long nc = one_channel ? 1 : out_dim.w;
    RS_POSITION(px, py, pz)
    const IDX_T x = rs_fold((IDX_T)vxa_resample_round(px), nx, mode);
    const IDX_T y = rs_fold((IDX_T)vxa_resample_round(py), ny, mode);
    const IDX_T z = rs_fold((IDX_T)vxa_resample_round(pz), nz, mode);
    const bool inside = x >= 0 && y >= 0 && z >= 0;
    const IDX_T q = inside ? x + nx * (y + ny * (z - k0)) : 0;
    __global const IN_T *src = in + q;
    __global OUT_T *dst = out + o;
    for (long c = 0; c < nc; c++, src += in_vol, dst += out_vol) {
#if OUT_IS_RAW
        *dst = inside ? *src : cval;
#else
        *dst = inside ? vxa_load(src, 0, slope, inter) : cval;
#endif
    }
}

/* rs_linear_tail's twin for rs_nearest8. */
VXA_CALL void rs_nearest_tail(RS_ARGS(OUT_T, OUT_T), int use_field, int i0, int j, int k)
{
    for (int i = i0; i < (int)out_dim.x; i++) rs_nearest_at(RS_PASS, use_field, 1, (IDX_T)i, (IDX_T)j, (IDX_T)k);
}

VXA_INLINE void rs_nearest(RS_ARGS(OUT_T, OUT_T), int use_field, int one_channel)
{
    const IDX_T i = (IDX_T)get_global_id(0), j = (IDX_T)get_global_id(1), k = (IDX_T)get_global_id(2);
    if (i >= (IDX_T)out_dim.x || j >= (IDX_T)out_dim.y || k >= (IDX_T)out_dim.z) return;
    rs_nearest_at(RS_PASS, use_field, one_channel, i, j, k);
}

/* The CPU form of the single-channel nearest-neighbour pass (label maps; PoCL, IDX_T int): the eight outputs
 * i0 .. i0 + 7 of a row per work-item, positions from rs_position8, vxa_resample_round and rs_fold lane by lane
 * (the same integers as rs_nearest_at), the eight values read lane by lane; a row's last incomplete eight
 * voxel by voxel. */
VXA_INLINE void rs_nearest8(RS_ARGS(OUT_T, OUT_T), int use_field)
{
    const int i0 = 8 * (int)get_global_id(0), j = (int)get_global_id(1), k = (int)get_global_id(2);
    const int nx = (int)in_dim.x, ny = (int)in_dim.y, nz = slab.z, k0 = slab.y;
    const int mx = (int)out_dim.x, my = (int)out_dim.y, mz = (int)out_dim.z;
    if (i0 >= mx || j >= my || k >= mz) return;
    if (i0 + 8 > mx) {
        rs_nearest_tail(RS_PASS, use_field, i0, j, k);
        return;
    }
    float8 px, py, pz;
    rs_position8(field, out_dim, a0, a1, a2, b, slab, cdim, cstart, cinv, woff, use_field, i0, j, k, &px, &py,
                 &pz);
    /* vxa_resample_round: floor(p + 0.5f), the sum in float */
    const int8 x = rs_fold8(rs_floor8(px + 0.5f), nx, mode), y = rs_fold8(rs_floor8(py + 0.5f), ny, mode);
    const int8 z = rs_fold8(rs_floor8(pz + 0.5f), nz, mode);
    const int8 inside = x >= 0 & y >= 0 & z >= 0;
    const int8 q = select((int8)0, x + nx * (y + ny * (z - k0)), inside);
    __global OUT_T *dst = out + (i0 + mx * (j + my * k));
#if OUT_IS_RAW
#define RS_NEAREST_VALUE(l) (inside.s##l ? in[q.s##l] : cval)
#else
#define RS_NEAREST_VALUE(l) (inside.s##l ? vxa_load(in, (size_t)q.s##l, slope, inter) : cval)
#endif
    dst[0] = RS_NEAREST_VALUE(0);
    dst[1] = RS_NEAREST_VALUE(1);
    dst[2] = RS_NEAREST_VALUE(2);
    dst[3] = RS_NEAREST_VALUE(3);
    dst[4] = RS_NEAREST_VALUE(4);
    dst[5] = RS_NEAREST_VALUE(5);
    dst[6] = RS_NEAREST_VALUE(6);
    dst[7] = RS_NEAREST_VALUE(7);
#undef RS_NEAREST_VALUE
}

__kernel void vxa_resample_nearest(RS_ARGS(OUT_T, OUT_T)) { rs_nearest(RS_PASS, 0, 0); }
__kernel void vxa_resample_nearest_1(RS_ARGS(OUT_T, OUT_T)) { rs_nearest(RS_PASS, 0, 1); }
__kernel void vxa_resample_nearest_field(RS_ARGS(OUT_T, OUT_T)) { rs_nearest(RS_PASS, 1, 0); }
__kernel void vxa_resample_nearest_field_1(RS_ARGS(OUT_T, OUT_T)) { rs_nearest(RS_PASS, 1, 1); }
__kernel void vxa_resample_nearest_cfield(RS_ARGS(OUT_T, OUT_T)) { rs_nearest(RS_PASS, 2, 0); }
__kernel void vxa_resample_nearest_cfield_1(RS_ARGS(OUT_T, OUT_T)) { rs_nearest(RS_PASS, 2, 1); }
__kernel void vxa_resample_nearest8_1(RS_ARGS(OUT_T, OUT_T)) { rs_nearest8(RS_PASS, 0); }
__kernel void vxa_resample_nearest8_field_1(RS_ARGS(OUT_T, OUT_T)) { rs_nearest8(RS_PASS, 1); }
__kernel void vxa_resample_nearest8_cfield_1(RS_ARGS(OUT_T, OUT_T)) { rs_nearest8(RS_PASS, 2); }

#if OUT_IS_RAW
/* Label maps with per-label linear interpolation (kernels/resample_label.h: rule 1 batchgenerators' order 1,
 * rule 2 arg-max): the eight neighbours' stored labels (folded by the mode; outside in constant mode, cval),
 * their trilinear weights, and the label picked is copied bit for bit; 0 where rule 1 picks none. */
VXA_INLINE void rs_label_linear(RS_ARGS(OUT_T, OUT_T), int use_field, int rule)
{
    const IDX_T i = (IDX_T)get_global_id(0), j = (IDX_T)get_global_id(1), k = (IDX_T)get_global_id(2);
    if (i >= (IDX_T)out_dim.x || j >= (IDX_T)out_dim.y || k >= (IDX_T)out_dim.z) return;
    const IDX_T nx = (IDX_T)in_dim.x, ny = (IDX_T)in_dim.y, nz = (IDX_T)slab.z, k0 = (IDX_T)slab.y;
    const IDX_T mx = (IDX_T)out_dim.x, my = (IDX_T)out_dim.y, mz = (IDX_T)out_dim.z;
    const IDX_T out_vol = mx * my * mz, in_vol = nx * ny * (IDX_T)in_dim.z;
    const IDX_T o = i + mx * (j + my * k);
    RS_POSITION(px, py, pz)
    const IDX_T x0 = rs_floor(px), y0 = rs_floor(py), z0 = rs_floor(pz);
    const float tx = px - (float)x0, ty = py - (float)y0, tz = pz - (float)z0;
    const IDX_T xi[2] = { rs_fold(x0, nx, mode), rs_fold(x0 + 1, nx, mode) };
    const IDX_T yi[2] = { rs_fold(y0, ny, mode), rs_fold(y0 + 1, ny, mode) };
    IDX_T zi[2] = { rs_fold(z0, nz, mode), rs_fold(z0 + 1, nz, mode) };
    for (int u = 0; u < 2; u++)
        if (zi[u] >= 0) zi[u] -= k0;
    __global const IN_T *src = in;
    __global OUT_T *dst = out + o;
    for (long c = 0; c < out_dim.w; c++, src += in_vol, dst += out_vol) {
        OUT_T v[8];
        vxa_lkey lab[8];
        for (int corner = 0; corner < 8; corner++) {
            const int ux = corner & 1, uy = (corner >> 1) & 1, uz = (corner >> 2) & 1;
            const bool inside = xi[ux] >= 0 && yi[uy] >= 0 && zi[uz] >= 0;
            v[corner] = inside ? src[xi[ux] + nx * yi[uy] + nx * ny * zi[uz]] : cval;
            lab[corner] = (vxa_lkey)v[corner];
        }
        const int pick = vxa_label_pick(lab, tx, ty, tz, rule);
        *dst = pick < 0 ? (OUT_T)0 : v[pick];
    }
}

__kernel void vxa_resample_label_threshold(RS_ARGS(OUT_T, OUT_T))
{
    rs_label_linear(RS_PASS, 0, VXA_LABEL_THRESHOLD);
}
__kernel void vxa_resample_label_threshold_field(RS_ARGS(OUT_T, OUT_T))
{
    rs_label_linear(RS_PASS, 1, VXA_LABEL_THRESHOLD);
}
__kernel void vxa_resample_label_threshold_cfield(RS_ARGS(OUT_T, OUT_T))
{
    rs_label_linear(RS_PASS, 2, VXA_LABEL_THRESHOLD);
}
__kernel void vxa_resample_label_argmax(RS_ARGS(OUT_T, OUT_T))
{
    rs_label_linear(RS_PASS, 0, VXA_LABEL_ARGMAX);
}
__kernel void vxa_resample_label_argmax_field(RS_ARGS(OUT_T, OUT_T))
{
    rs_label_linear(RS_PASS, 1, VXA_LABEL_ARGMAX);
}
__kernel void vxa_resample_label_argmax_cfield(RS_ARGS(OUT_T, OUT_T))
{
    rs_label_linear(RS_PASS, 2, VXA_LABEL_ARGMAX);
}
#endif
