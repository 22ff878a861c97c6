/* SPDX-License-Identifier: MIT */
/* Elementwise intensity ops fused into one pass: a small program (kernels/intensity_ops.h) run on every voxel.
 * Noise is Philox4x32-10 with Box-Muller, the mapping of vxa_ref_noise_normal (src/intensity.h). */
#pragma OPENCL FP_CONTRACT OFF

/* Standard normal for voxel v of a channel: Philox block v / 4; voxels 4b, 4b+1 use words (w0, w1),
 * 4b+2, 4b+3 use (w2, w3); r = sqrt(-2 ln(1 - u(wa))), theta = 2 pi u(wb); even voxel r cos, odd r sin. */
inline float vxa_noise_normal(ulong seed, ulong sample, uint stream, long v)
{
    const vxa_philox4 w = vxa_philox_block(seed, sample, stream, (uint)(v >> 2));
    const int lane = (int)(v & 3);
    const uint wa = lane < 2 ? w.v[0] : w.v[2];
    const uint wb = lane < 2 ? w.v[1] : w.v[3];
    const float r = sqrt(-2.0f * log(1.0f - vxa_u01(wa)));
    const float t = 2.0f * vxa_u01(wb);  /* theta / pi */
    return (lane & 1) ? r * sinpi(t) : r * cospi(t);
}

/* Normalised coordinate of index i on an axis of n voxels: (2i - (n - 1)) / (n - 1), 0 when n = 1. */
inline float vxa_bias_coord(long i, long n)
{
    return n > 1 ? (float)(2 * i - (n - 1)) / (float)(n - 1) : 0.0f;
}

/* P(x, y, z) = sum of coef[t] x^a y^b z^c over a + b + c <= order, a outer, then b, then c (TorchIO). */
inline float vxa_bias_poly(__global const float *coef, int order, float x, float y, float z)
{
    float px[6], py[6], pz[6];
    px[0] = py[0] = pz[0] = 1.0f;
    for (int d = 1; d <= order; d++) {
        px[d] = px[d - 1] * x;
        py[d] = py[d - 1] * y;
        pz[d] = pz[d - 1] * z;
    }
    float p = 0.0f;
    int t = 0;
    for (int a = 0; a <= order; a++)
        for (int b = 0; b <= order - a; b++)
            for (int c = 0; c <= order - a - b; c++)
                p += coef[t++] * (px[a] * py[b] * pz[c]);
    return p;
}

/* x: the volume, channel c at offset c * nx*ny*nz; dim = (nx, ny, nz, channels). prog[s] = (opcode, op index,
 * parameter offset, extra); channel c's parameters start at par + c * pstride. */
__kernel void vxa_intensity_apply(__global float *x, long4 dim, __global const int4 *prog, int nprog,
                                  __global const float *par, int pstride, ulong seed, ulong sample)
{
    const long v = get_global_id(0), c = get_global_id(1);
    const long n = dim.x * dim.y * dim.z;
    if (v >= n || c >= dim.w) return;
    const long idx = v + c * n;
    float y = x[idx];
    __global const float *pc = par + c * (long)pstride;
    for (int s = 0; s < nprog; s++) {
        const int4 ins = prog[s];
        __global const float *p = pc + ins.z;
        switch (ins.x) {
        case VXA_IOP_LINEAR:
        case VXA_IOP_LINEAR_NZ:
            if (ins.x == VXA_IOP_LINEAR_NZ && y == 0.0f) break;
            if (p[1] == 0.0f) y = isnan(y) ? y : p[2];
            else y = (y - p[0]) * p[1] + p[2];
            break;
        case VXA_IOP_CLIP:
        case VXA_IOP_CLIP_NZ:
            if (ins.x == VXA_IOP_CLIP_NZ && y == 0.0f) break;
            if (!isnan(y)) y = fmin(fmax(y, p[0]), p[1]);
            break;
        case VXA_IOP_GAMMA:
            if (!isnan(y) && p[1] != 0.0f) {
                float u = (y - p[0]) / p[1];
                /* u^g as exp2(g log2 u): the relative error stays ~|g log2 u| ulp, far below the tolerance,
                 * and it runs 20x faster than pow on PoCL */
                u = u > 0.0f ? exp2(p[2] * log2(u)) : 0.0f;
                y = u * p[1] + p[0];
            }
            break;
        case VXA_IOP_NOISE:
            y += p[0] * vxa_noise_normal(seed, sample, ((uint)ins.y << 8) | (uint)c, v);
            break;
        case VXA_IOP_BIAS: {
            const long i = v % dim.x, j = (v / dim.x) % dim.y, k = v / (dim.x * dim.y);
            y *= exp(vxa_bias_poly(p, ins.w, vxa_bias_coord(i, dim.x), vxa_bias_coord(j, dim.y),
                                   vxa_bias_coord(k, dim.z)));
            break;
        }
        default:
            break;
        }
    }
    x[idx] = y;
}
