/* SPDX-License-Identifier: MIT */
/* Philox4x32-10 on four consecutive blocks at once, as the lanes of uint4 vectors: the bits of
 * vxa_philox_block (src/shared/philox.h), four blocks per instruction on CPUs. Used by the noise op
 * (kernels/intensity.cl) and the block means of fast elastic fields (kernels/noise.cl). Prepended to every
 * program after common.h; OpenCL C only. */
#ifndef VXA_PHILOX_X4_H
#define VXA_PHILOX_X4_H
#ifdef __OPENCL_VERSION__

/* vxa_philox_block for the four blocks b .. b+3 at once, as lanes: on return (x, y, z, w).s[i] are block b+i's
 * four words. The same bits; explicit vectors so that CPUs run four blocks per instruction. */
VXA_INLINE void vxa_philox_x4(ulong seed, ulong sample, uint stream, uint b, uint4 *x, uint4 *y, uint4 *z,
                              uint4 *w)
{
    uint4 X = (uint4)(b, b + 1, b + 2, b + 3), Y = (uint4)(stream), Z = (uint4)((uint)sample);
    uint4 W = (uint4)((uint)(sample >> 32));
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const ulong4 p0 = convert_ulong4(X) * (ulong4)0xD2511F53u, p1 = convert_ulong4(Z) * (ulong4)0xCD9E8D57u;
        const uint4 hi0 = convert_uint4(p0 >> 32), lo0 = convert_uint4(p0);
        const uint4 hi1 = convert_uint4(p1 >> 32), lo1 = convert_uint4(p1);
        X = hi1 ^ Y ^ (uint4)k0;
        Y = lo1;
        Z = hi0 ^ W ^ (uint4)k1;
        W = lo0;
    }
    *x = X;
    *y = Y;
    *z = Z;
    *w = W;
}

#endif
#endif
