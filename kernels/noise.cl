/* SPDX-License-Identifier: MIT */
/* Per-voxel noise from Philox4x32-10 (src/shared/philox.h), bit for bit as the C reference, and the trilinear
 * upsampling of fast-mode elastic fields. */
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

/* Trilinear upsampling, every channel: fine(o) = coarse at q_a = (o_a − start_a) · inv_step_a, clamped to the
 * coarse grid. cdim.w and fdim.w are the channel counts. */
__kernel void vxa_noise_upsample(__global const float *coarse, __global float *fine, long4 cdim, long4 fdim,
                                 float4 start, float4 inv_step)
{
    const long i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    if (i >= fdim.x || j >= fdim.y || k >= fdim.z) return;
    const float q0 = clamp(((float)i - start.x) * inv_step.x, 0.0f, (float)(cdim.x - 1));
    const float q1 = clamp(((float)j - start.y) * inv_step.y, 0.0f, (float)(cdim.y - 1));
    const float q2 = clamp(((float)k - start.z) * inv_step.z, 0.0f, (float)(cdim.z - 1));
    const long c0 = min((long)q0, cdim.x - 1), c1 = min((long)q1, cdim.y - 1), c2 = min((long)q2, cdim.z - 1);
    const long d0 = min(c0 + 1, cdim.x - 1), d1 = min(c1 + 1, cdim.y - 1), d2 = min(c2 + 1, cdim.z - 1);
    const float f0 = q0 - (float)c0, f1 = q1 - (float)c1, f2 = q2 - (float)c2;
    const long cvol = cdim.x * cdim.y * cdim.z, fvol = fdim.x * fdim.y * fdim.z;
    const long o = i + fdim.x * (j + fdim.y * k);
    for (long ch = 0; ch < fdim.w; ch++) {
        __global const float *g = coarse + ch * cvol;
#define AT(a, b, c) g[(a) + cdim.x * ((b) + cdim.y * (c))]
        const float x00 = AT(c0, c1, c2) + f0 * (AT(d0, c1, c2) - AT(c0, c1, c2));
        const float x10 = AT(c0, d1, c2) + f0 * (AT(d0, d1, c2) - AT(c0, d1, c2));
        const float x01 = AT(c0, c1, d2) + f0 * (AT(d0, c1, d2) - AT(c0, c1, d2));
        const float x11 = AT(c0, d1, d2) + f0 * (AT(d0, d1, d2) - AT(c0, d1, d2));
#undef AT
        const float y0 = x00 + f1 * (x10 - x00), y1 = x01 + f1 * (x11 - x01);
        fine[o + ch * fvol] = y0 + f2 * (y1 - y0);
    }
}
