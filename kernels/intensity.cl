/* SPDX-License-Identifier: MIT */
/* Elementwise intensity ops fused into one pass: a small program (kernels/intensity_ops.h) run on every voxel.
 * Noise is Philox4x32-10 with Box-Muller, the mapping of vxa_ref_noise_normal (src/intensity.h). */
#pragma OPENCL FP_CONTRACT OFF

/* Four standard normals for voxels 4b .. 4b+3 of a channel from Philox block b: words (w0, w1) give voxels 4b
 * and 4b+1, (w2, w3) give 4b+2 and 4b+3; r = sqrt(-2 ln(1 - u(wa))), theta = 2 pi u(wb); even voxel r cos theta,
 * odd voxel r sin theta (vxa_ref_noise_normal in src/reference/intensity.c). */
inline void vxa_noise_normal4(ulong seed, ulong sample, uint stream, uint block, float z[4])
{
    const vxa_philox4 w = vxa_philox_block(seed, sample, stream, block);
    for (int h = 0; h < 2; h++) {
        const float r = sqrt(-2.0f * log(1.0f - vxa_u01(w.v[2 * h])));
        const float t = 2.0f * vxa_u01(w.v[2 * h + 1]);  /* theta / pi */
        z[2 * h] = r * cospi(t);
        z[2 * h + 1] = r * sinpi(t);
    }
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
 * parameter offset, extra); channel c's parameters start at par + c * pstride. Work-item t runs voxels 4t .. 4t+3
 * of its channel (one Philox block for the four). */
__kernel void vxa_intensity_apply(__global float *x, long4 dim, __global const int4 *prog, int nprog,
                                  __global const float *par, int pstride, ulong seed, ulong sample)
{
    const long t = get_global_id(0), c = get_global_id(1);
    const long n = dim.x * dim.y * dim.z;
    const long v0 = 4 * t;
    if (v0 >= n || c >= dim.w) return;
    const int nv = n - v0 < 4 ? (int)(n - v0) : 4;
    __global float *xc = x + c * n + v0;
    float y[4];
    for (int l = 0; l < 4; l++) y[l] = l < nv ? xc[l] : 0.0f;
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
            for (int l = 0; l < 4; l++)
                if (!isnan(y[l]) && p[1] != 0.0f) {
                    /* u^g as exp2(g log2 u): the relative error stays ~|g log2 u| ulp, far below the
                     * tolerance, and it runs much faster than pow on PoCL */
                    float u = (y[l] - p[0]) / p[1];
                    u = u > 0.0f ? exp2(p[2] * log2(u)) : 0.0f;
                    y[l] = u * p[1] + p[0];
                }
            break;
        case VXA_IOP_NOISE: {
            float z[4];
            vxa_noise_normal4(seed, sample, ((uint)ins.y << 8) | (uint)c, (uint)t, z);
            for (int l = 0; l < 4; l++) y[l] += p[0] * z[l];
            break;
        }
        case VXA_IOP_BIAS:
            for (int l = 0; l < nv; l++) {
                const long v = v0 + l;
                const long i = v % dim.x, j = (v / dim.x) % dim.y, k = v / (dim.x * dim.y);
                y[l] *= exp(vxa_bias_poly(p, ins.w, vxa_bias_coord(i, dim.x), vxa_bias_coord(j, dim.y),
                                          vxa_bias_coord(k, dim.z)));
            }
            break;
        default:
            break;
        }
    }
    for (int l = 0; l < nv; l++) xc[l] = y[l];
}

/* The CPU form of vxa_intensity_apply, the same arithmetic: work-item t runs voxels t * chunk .. (t + 1) *
 * chunk - 1 of channel c (chunk a multiple of 4, so Philox blocks do not straddle work-items), one instruction
 * at a time over its chunk. Each instruction is a plain loop over contiguous voxels, which the compiler
 * vectorises; the one-work-item-per-four-voxels form of vxa_intensity_apply suits GPUs (coalesced) but runs
 * ~5x slower on PoCL. */
__kernel void vxa_intensity_chunk(__global float *x, long4 dim, __global const int4 *prog, int nprog,
                                  __global const float *par, int pstride, ulong seed, ulong sample, long chunk)
{
    const long t = get_global_id(0), c = get_global_id(1);
    const long n = dim.x * dim.y * dim.z;
    const long v0 = t * chunk;
    if (v0 >= n || c >= dim.w) return;
    const long v1 = min(v0 + chunk, n);
    __global float *xc = x + c * n;
    __global const float *pc = par + c * (long)pstride;
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
                for (long v = v0; v < v1; v++) {
                    const float y = xc[v];
                    xc[v] = isnan(y) || (nz && y == 0.0f) ? y : p2;
                }
            } else if (nz) {
                for (long v = v0; v < v1; v++) {
                    const float y = xc[v];
                    xc[v] = y == 0.0f ? y : (y - p0) * p1 + p2;
                }
            } else {
                for (long v = v0; v < v1; v++) xc[v] = (xc[v] - p0) * p1 + p2;
            }
            break;
        }
        case VXA_IOP_CLIP:
        case VXA_IOP_CLIP_NZ: {
            const float lo = p[0], hi = p[1];
            if (op == VXA_IOP_CLIP_NZ) {
                for (long v = v0; v < v1; v++) {
                    const float y = xc[v];
                    xc[v] = y == 0.0f ? y : (y < lo ? lo : (y > hi ? hi : y));
                }
            } else {
                for (long v = v0; v < v1; v++) {
                    const float y = xc[v];
                    xc[v] = y < lo ? lo : (y > hi ? hi : y); /* NaN fails both: stays NaN */
                }
            }
            break;
        }
        case VXA_IOP_GAMMA: {
            const float p0 = p[0], p1 = p[1], g = p[2];
            if (p1 == 0.0f) break;
            for (long v = v0; v < v1; v++) {
                const float y = xc[v];
                float u = (y - p0) / p1;
                u = u > 0.0f ? exp2(g * log2(u)) : 0.0f;
                xc[v] = isnan(y) ? y : u * p1 + p0;
            }
            break;
        }
        case VXA_IOP_NOISE: {
            const float sd = p[0];
            const uint stream = ((uint)ins.y << 8) | (uint)c;
            for (long b = v0 / 4; 4 * b < v1; b++) {
                float z[4];
                vxa_noise_normal4(seed, sample, stream, (uint)b, z);
                for (int l = 0; l < 4; l++)
                    if (4 * b + l < v1) xc[4 * b + l] += sd * z[l];
            }
            break;
        }
        case VXA_IOP_BIAS:
            for (long v = v0; v < v1; v++) {
                const long i = v % dim.x, j = (v / dim.x) % dim.y, k = v / (dim.x * dim.y);
                xc[v] *= exp(vxa_bias_poly(p, ins.w, vxa_bias_coord(i, dim.x), vxa_bias_coord(j, dim.y),
                                           vxa_bias_coord(k, dim.z)));
            }
            break;
        default:
            break;
        }
    }
}
