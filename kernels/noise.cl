/* SPDX-License-Identifier: MIT */
/* Per-voxel noise from Philox4x32-10 (src/shared/philox.h), bit for bit as the C reference, and the trilinear
 * upsampling of fast-mode elastic fields; the exact field's noise fused with its first smoothing pass. */
#include "common.h"
#include "philox.h"
#include "philox_x4.h"
#include "elastic_field.h"
#include "gauss_row.h"
#pragma OPENCL FP_CONTRACT OFF

/* Known-answer hook: ctr_key holds n rows of (counter 0..3, key 0..1); out gets the four output words. */
__kernel void vxa_philox_kat(__global const uint *ctr_key, __global uint *out, uint n)
{
    const uint i = get_global_id(0);
    if (i >= n) return;
    vxa_philox4 c;
    for (int w = 0; w < 4; w++) c.v[w] = ctr_key[6 * i + w];
    const vxa_philox4 r = vxa_philox4x32_10(c, ctr_key[6 * i + 4], ctr_key[6 * i + 5]);
    for (int w = 0; w < 4; w++) out[4 * i + w] = r.v[w];
}

/* Uniform mapping hook: u01[i] = vxa_u01(words[i]), sym[i] = vxa_u01_sym(words[i]). */
__kernel void vxa_philox_uniform(__global const uint *words, __global float *u01, __global float *sym, uint n)
{
    const uint i = get_global_id(0);
    if (i >= n) return;
    u01[i] = vxa_u01(words[i]);
    sym[i] = vxa_u01_sym(words[i]);
}

/* out[c·nvox + v] = amp_c · vxa_u01_sym(word v % 4 of block v / 4 on stream op_index << 8 | c), for the four
 * voxels of block b = get_global_id(0) of channel c = get_global_id(1). */
__kernel void vxa_noise_uniform(__global float *out, ulong nvox, ulong seed, ulong sample, uint op_index,
                                float4 amp)
{
    const ulong b = get_global_id(0);
    const uint c = get_global_id(1);
    if (b * 4 >= nvox || c > 2) return;
    const vxa_philox4 x = vxa_philox_block(seed, sample, op_index << 8 | c, (uint)b);
    const float a = c == 0 ? amp.x : c == 1 ? amp.y : amp.z;
    __global float *o = out + c * nvox + b * 4;
    const ulong left = nvox - b * 4;
    for (int w = 0; w < 4; w++)
        if ((ulong)w < left) o[w] = a * vxa_u01_sym(x.v[w]);
}

/* vxa_u01_sym of the 32 voxels of eight Philox blocks whose words are the lanes of x, y, z and w (lane i: block
 * b + i), in voxel order (u[4 i + w] = word w of block b + i): the mapping eight lanes at a time (the same float
 * operations as vxa_u01_sym). */
VXA_INLINE void vxa_u01_sym_words(uint8 x, uint8 y, uint8 z, uint8 w, float u[32])
{
    const float8 ux = convert_float8(x >> 8) * 1.1920928955078125e-7f - 1.0f;
    const float8 uy = convert_float8(y >> 8) * 1.1920928955078125e-7f - 1.0f;
    const float8 uz = convert_float8(z >> 8) * 1.1920928955078125e-7f - 1.0f;
    const float8 uw = convert_float8(w >> 8) * 1.1920928955078125e-7f - 1.0f;
    vstore4((float4)(ux.s0, uy.s0, uz.s0, uw.s0), 0, u);
    vstore4((float4)(ux.s1, uy.s1, uz.s1, uw.s1), 1, u);
    vstore4((float4)(ux.s2, uy.s2, uz.s2, uw.s2), 2, u);
    vstore4((float4)(ux.s3, uy.s3, uz.s3, uw.s3), 3, u);
    vstore4((float4)(ux.s4, uy.s4, uz.s4, uw.s4), 4, u);
    vstore4((float4)(ux.s5, uy.s5, uz.s5, uw.s5), 5, u);
    vstore4((float4)(ux.s6, uy.s6, uz.s6, uw.s6), 6, u);
    vstore4((float4)(ux.s7, uy.s7, uz.s7, uw.s7), 7, u);
}

/* vxa_u01_sym of the 64 voxels of Philox blocks b .. b+15 of a stream, in voxel order: the sixteen blocks drawn
 * as two chains of eight lanes (vxa_philox_x8x2). */
VXA_INLINE void vxa_u01_sym_x16(ulong seed, ulong sample, uint stream, uint b, float u[64])
{
    uint8 a[4], c[4];
    vxa_philox_x8x2(seed, sample, stream, b, a, c);
    vxa_u01_sym_words(a[0], a[1], a[2], a[3], u);
    vxa_u01_sym_words(c[0], c[1], c[2], c[3], u + 32);
}

/* The CPU form of vxa_noise_uniform, the same values: work-item t writes the 64 voxels of blocks 16t .. 16t+15
 * of channel c (vxa_u01_sym_x16; PoCL leaves the one-block form's Philox rounds scalar). */
__kernel void vxa_noise_uniform_x16(__global float *out, ulong nvox, ulong seed, ulong sample, uint op_index,
                                    float4 amp)
{
    const ulong b = 16 * get_global_id(0);
    const uint c = get_global_id(1);
    if (b * 4 >= nvox || c > 2) return;
    float u[64];
    vxa_u01_sym_x16(seed, sample, op_index << 8 | c, (uint)b, u);
    const float a = c == 0 ? amp.x : c == 1 ? amp.y : amp.z;
    __global float *o = out + c * nvox + b * 4;
    const int nv = nvox - b * 4 < 64 ? (int)(nvox - b * 4) : 64;
    for (int q = 0; q < nv; q++) o[q] = a * u[q];
}

/* Adds the uniforms u[q0 .. q1) of fine voxels i0 + q along a row to the running sums of their coarse nodes,
 * walking the nodes (node: the current one, whose sum is *acc; next: the first i of the next node) instead of
 * dividing: the sum of each node stays in a register between the row's reads and writes, with the same
 * additions in the same order. The CPU form of the block means below. */
VXA_INLINE void vxa_block_mean_add(__global float *row, const float *u, long q0, long q1, long i0, long step,
                                   long *node, long *next, float *acc)
{
    for (long q = q0; q < q1; q++) {
        if (i0 + q == *next) {
            row[(*node)++] = *acc;
            *acc = row[*node];
            *next += step;
        }
        *acc += u[q];
    }
}

/* Block means of the fine noise (fast elastic fields): coarse node (m0, m1, m2), every channel c < cdim.w:
 * amp_c · inv_count · Σ U_c(z), z over the block [first + m·s, first + (m + 1)·s) inside the fine grid fdim,
 * U_c(z) exactly as vxa_noise_uniform draws it. One Philox call per four consecutive fine voxels along i. */
__kernel void vxa_noise_block_mean(__global float *coarse, long4 cdim, long4 fdim, long4 first, long4 step,
                                   ulong seed, ulong sample, uint op_index, float4 amp, float inv_count)
{
    const long m0 = get_global_id(0), m1 = get_global_id(1), m2 = get_global_id(2);
    if (m0 >= cdim.x || m1 >= cdim.y || m2 >= cdim.z) return;
    const long i0 = max(first.x + m0 * step.x, 0L), i1 = min(first.x + (m0 + 1) * step.x, fdim.x);
    const long j0 = max(first.y + m1 * step.y, 0L), j1 = min(first.y + (m1 + 1) * step.y, fdim.y);
    const long k0 = max(first.z + m2 * step.z, 0L), k1 = min(first.z + (m2 + 1) * step.z, fdim.z);
    const long cvol = cdim.x * cdim.y * cdim.z;
    for (uint c = 0; c < (uint)cdim.w; c++) {
        const uint stream = op_index << 8 | c;
        float sum = 0.0f;
        for (long k = k0; k < k1; k++)
            for (long j = j0; j < j1; j++) {
                const ulong row = (ulong)(fdim.x * (j + fdim.y * k));
                ulong have = ~(ulong)0;
                vxa_philox4 x = { { 0, 0, 0, 0 } };
                for (long i = i0; i < i1; i++) {
                    const ulong v = row + (ulong)i;
                    if (v / 4 != have) {
                        have = v / 4;
                        x = vxa_philox_block(seed, sample, stream, (uint)have);
                    }
                    sum += vxa_u01_sym(x.v[v % 4]);
                }
            }
        const float a = c == 0 ? amp.x : c == 1 ? amp.y : amp.z;
        coarse[m0 + cdim.x * (m1 + cdim.y * m2) + c * cvol] = a * (sum * inv_count);
    }
}

/* The CPU form of vxa_noise_block_mean (PoCL): one work-item per coarse row (m1, m2) and channel c, global
 * (cdim.y, cdim.z, cdim.w). It walks the fine rows of its blocks sixteen Philox blocks at a time (vxa_philox_x8x2;
 * each block of a row computed once) and adds each voxel to its node's sum, kept in the output row: per node
 * the same additions in the same order (k, then j, then i ascending) as vxa_noise_block_mean, so the same
 * floats. */
__kernel void vxa_noise_block_mean_rows(__global float *coarse, long4 cdim, long4 fdim, long4 first, long4 step,
                                        ulong seed, ulong sample, uint op_index, float4 amp, float inv_count)
{
    const long m1 = get_global_id(0), m2 = get_global_id(1);
    const uint c = get_global_id(2);
    if (m1 >= cdim.y || m2 >= cdim.z || c >= (uint)cdim.w) return;
    const long j0 = max(first.y + m1 * step.y, 0L), j1 = min(first.y + (m1 + 1) * step.y, fdim.y);
    const long k0 = max(first.z + m2 * step.z, 0L), k1 = min(first.z + (m2 + 1) * step.z, fdim.z);
    const long ia = max(first.x, 0L), ib = min(first.x + cdim.x * step.x, fdim.x);
    __global float *row = coarse + cdim.x * (m1 + cdim.y * m2) + c * cdim.x * cdim.y * cdim.z;
    for (long m0 = 0; m0 < cdim.x; m0++) row[m0] = 0.0f;
    const uint stream = op_index << 8 | c;
    for (long k = k0; k < k1; k++)
        for (long j = j0; j < j1; j++) {
            /* the row's voxels under the blocks, [ia, ib) */
            const ulong base = (ulong)(fdim.x * (j + fdim.y * k)), v0 = base + (ulong)ia, v1 = base + (ulong)ib;
            const ulong bend = (v1 + 3) / 4;
            ulong blk = v0 / 4;
            /* The node of fine i is (i - first.x) / step.x, walked (vxa_block_mean_add) */
            long node = (ia - first.x) / step.x, next = first.x + (node + 1) * step.x;
            float acc = row[node];
            /* sixteen Philox blocks as two chains of vector lanes, 64 voxels, up to the row's end: the last
             * group's blocks past it are drawn and left out (a row of ch2, 181 voxels, is 46 or 47 blocks: three
             * groups) */
            for (; blk < bend; blk += 16) {
                float u[64];
                vxa_u01_sym_x16(seed, sample, stream, (uint)blk, u);
                const ulong lo = max(v0, 4 * blk), hi = min(v1, 4 * blk + 64);
                vxa_block_mean_add(row, u, (long)(lo - 4 * blk), (long)(hi - 4 * blk), (long)(4 * blk - base), step.x,
                                   &node, &next, &acc);
            }
            row[node] = acc;
        }
    const float a = c == 0 ? amp.x : c == 1 ? amp.y : amp.z;
    for (long m0 = 0; m0 < cdim.x; m0++) row[m0] = a * (row[m0] * inv_count);
}

/* The noise of one row of a box: n voxels of the fine grid from voxel index v0 on, channel c's stream, written as
 * a · (U · inv_count) (the block means of one voxel: the same floats as the node walk, 0 + U = U). */
VXA_INLINE void vxa_noise_box_row(__global float *row, ulong v0, long n, ulong seed, ulong sample, uint stream,
                                  float a, float inv_count)
{
    const ulong v1 = v0 + (ulong)n;
    for (ulong blk = v0 / 4; blk < (v1 + 3) / 4; blk += 16) {
        float u[64];
        vxa_u01_sym_x16(seed, sample, stream, (uint)blk, u);
        const ulong lo = max(v0, 4 * blk), hi = min(v1, 4 * blk + 64);
        for (ulong v = lo; v < hi; v++) row[v - v0] = a * ((0.0f + u[v - 4 * blk]) * inv_count);
    }
}

/* vxa_noise_block_mean_rows for blocks of one voxel (step 1: the noise itself on a box of the fine grid, from
 * first): row (m1, m2) of channel c is a run of the fine grid's voxel indices, drawn sixteen Philox blocks at a
 * time (vxa_noise_box_row). */
__kernel void vxa_noise_box_rows(__global float *coarse, long4 cdim, long4 fdim, long4 first, long4 step,
                                 ulong seed, ulong sample, uint op_index, float4 amp, float inv_count)
{
    const long m1 = get_global_id(0), m2 = get_global_id(1);
    const uint c = get_global_id(2);
    if (m1 >= cdim.y || m2 >= cdim.z || c >= (uint)cdim.w) return;
    __global float *row = coarse + cdim.x * (m1 + cdim.y * m2) + c * cdim.x * cdim.y * cdim.z;
    const float a = c == 0 ? amp.x : c == 1 ? amp.y : amp.z;
    const ulong v0 = (ulong)(first.x + fdim.x * (first.y + m1 + fdim.y * (first.z + m2)));
    vxa_noise_box_row(row, v0, cdim.x, seed, sample, op_index << 8 | c, a, inv_count);
}

/* vxa_noise_box_rows followed by the first pass of the smoothing along i cut to a window (vxa_gauss_rows along
 * axis 0 with at, nout), without the noise box: one work-item per run of `run` rows m1 of a plane m2 of channel
 * c of the box (dims bdim, bdim.w channels), global (bdim.z · channels, runs): each row's noise is drawn into
 * the work-item's row of scratch (bdim.x floats, where it stays in the core's cache) and smoothed from there into
 * the output row (nout long). The same floats as the two kernels in turn. Runs rather than whole planes: many
 * small work-groups share out better between cores that other processes also use. */
__kernel void vxa_noise_gauss_rows(__global float *out, __global float *scratch, long4 bdim, long4 fdim,
                                   long4 first, ulong seed, ulong sample, uint op_index, float4 amp,
                                   int radius, int mode, __global const float *wpad, long at, long nout, long run)
{
    const long g = get_global_id(0), r = get_global_id(1);
    if (g >= bdim.z * bdim.w || r * run >= bdim.y) return;
    const long m2 = g % bdim.z;
    const uint c = (uint)(g / bdim.z);
    __global float *row = scratch + bdim.x * (g + bdim.z * bdim.w * r);
    __global const float *w = wpad + VXA_GAUSS_B - 1;
    const float a = c == 0 ? amp.x : c == 1 ? amp.y : amp.z;
    for (long m1 = r * run; m1 < min(bdim.y, (r + 1) * run); m1++) {
        const ulong v0 = (ulong)(first.x + fdim.x * (first.y + m1 + fdim.y * (first.z + m2)));
        vxa_noise_box_row(row, v0, bdim.x, seed, sample, op_index << 8 | c, a, 1.0f);
        __global float *o = out + nout * (m1 + bdim.y * g);
        for (long i = 0; i < nout; i++) o[i] = 0.0f;
        vxa_gauss_row(row, bdim.x, o, nout, at, radius, mode, w);
    }
}

/* Trilinear upsampling, every channel: fine(o) = the coarse field at q_a = (o_a − start_a) · inv_step_a,
 * clamped to the coarse grid (kernels/elastic_field.h). cdim.w and fdim.w are the channel counts. */
__kernel void vxa_noise_upsample(__global const float *coarse, __global float *fine, long4 cdim, long4 fdim,
                                 float4 start, float4 inv_step)
{
    const long i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    if (i >= fdim.x || j >= fdim.y || k >= fdim.z) return;
    long c2;
    const float f2 = vxa_cf_node(k, start.z, inv_step.z, cdim.z, &c2);
    const long d2 = c2 + 1 < cdim.z ? c2 + 1 : c2;
    const long cvol = cdim.x * cdim.y * cdim.z, fvol = fdim.x * fdim.y * fdim.z;
    const long o = i + fdim.x * (j + fdim.y * k);
    for (long ch = 0; ch < fdim.w; ch++) {
        __global const float *g = coarse + ch * cvol;
        fine[o + ch * fvol] = vxa_cf_lerp(vxa_cf_along_ij(g, i, j, c2, cdim, start, inv_step),
                                          vxa_cf_along_ij(g, i, j, d2, cdim, start, inv_step), f2);
    }
}

/* The coarse field interpolated along i (kernels/elastic_field.h, vxa_cf_along_i): g_i(i, m1, m2) for every
 * channel, of dims (fdim.x, cdim.y, cdim.z, cdim.w): the rows that a fast field's resampling pass finishes
 * along j and k (kernels/resample.cl, rs_cf_value). Half the values of planes interpolated along j as well, at
 * sigma 8 (a node every two voxels), and each row serves two output rows along j and two along k. */
__kernel void vxa_noise_upsample_i(__global const float *coarse, __global float *gi, long4 cdim, long4 fdim,
                                   float4 start, float4 inv_step)
{
    const long i = get_global_id(0), m1 = get_global_id(1), m2 = get_global_id(2);
    if (i >= fdim.x || m1 >= cdim.y || m2 >= cdim.z) return;
    const long cvol = cdim.x * cdim.y * cdim.z, hvol = fdim.x * cdim.y * cdim.z;
    const long o = i + fdim.x * (m1 + cdim.y * m2);
    for (long ch = 0; ch < cdim.w; ch++)
        gi[o + ch * hvol] = vxa_cf_along_i(coarse + ch * cvol, i, m1, m2, cdim, start, inv_step);
}

/* The CPU form of vxa_noise_upsample_i (PoCL, which keeps the one-voxel form scalar): work-item (g, m1, m2) takes
 * i = 8g .. 8g + 7, the operations of vxa_cf_node and vxa_cf_along_i in float8 lanes (the same floats), the two
 * coarse values read lane by lane; a row's last incomplete eight voxel by voxel. */
#define VXA_CF_G8(p, off) (float8)((p)[idx.s0 + (off).s0], (p)[idx.s1 + (off).s1], (p)[idx.s2 + (off).s2], \
                                   (p)[idx.s3 + (off).s3], (p)[idx.s4 + (off).s4], (p)[idx.s5 + (off).s5], \
                                   (p)[idx.s6 + (off).s6], (p)[idx.s7 + (off).s7])
__kernel void vxa_noise_upsample_i8(__global const float *coarse, __global float *gi, long4 cdim, long4 fdim,
                                    float4 start, float4 inv_step)
{
    const long i0 = 8 * get_global_id(0), m1 = get_global_id(1), m2 = get_global_id(2);
    if (i0 >= fdim.x || m1 >= cdim.y || m2 >= cdim.z) return;
    const long cvol = cdim.x * cdim.y * cdim.z, hvol = fdim.x * cdim.y * cdim.z;
    const long o = i0 + fdim.x * (m1 + cdim.y * m2);
    if (i0 + 8 > fdim.x) {
        for (long i = i0; i < fdim.x; i++)
            for (long ch = 0; ch < cdim.w; ch++)
                gi[o + (i - i0) + ch * hvol] = vxa_cf_along_i(coarse + ch * cvol, i, m1, m2, cdim, start, inv_step);
        return;
    }
    const int nx = (int)cdim.x;
    /* vxa_cf_node along i, lane by lane (q >= 0: the conversion truncates as (long)q does) */
    const float8 q = clamp((convert_float8((int8)((int)i0) + (int8)(0, 1, 2, 3, 4, 5, 6, 7)) - start.x) * inv_step.x,
                           0.0f, (float)(nx - 1));
    const int8 c0 = min(convert_int8(q), nx - 1);
    const float8 f0 = q - convert_float8(c0);
    const int8 xo = (c0 + 1 < nx) & 1, zero = (int8)0;
    const int8 idx = c0 + (int8)((int)(nx * (m1 + cdim.y * m2)));
    for (long ch = 0; ch < cdim.w; ch++) {
        __global const float *g = coarse + ch * cvol;
        const float8 p0 = VXA_CF_G8(g, zero), p1 = VXA_CF_G8(g, xo);
        vstore8(p0 + f0 * (p1 - p0), 0, gi + o + ch * hvol);   /* vxa_cf_lerp */
    }
}
