/* SPDX-License-Identifier: MIT */
/* Philox4x32-10 on eight or sixteen consecutive blocks at once, as the lanes of uint8 or uint16 vectors: the
 * bits of vxa_philox_block (src/shared/philox.h), several blocks per instruction on CPUs. Used by the noise op
 * (kernels/intensity.cl, sixteen) and the elastic noise and block means (kernels/noise.cl, eight). Prepended to
 * every program after common.h; OpenCL C only. */
#ifndef VXA_PHILOX_X4_H
#define VXA_PHILOX_X4_H
#ifdef __OPENCL_VERSION__

/* vxa_philox_block for the N consecutive blocks b .. b+N-1 at once, as lanes (N = 8: uint8, 16: uint16): on
 * return (x, y, z, w).s[i] are block b+i's four words. The same bits; explicit vectors so that CPUs run N blocks
 * per instruction. Eight lanes keep two independent chains of multiplies in flight on 256-bit units: the block
 * means of ch2's three channels took ~23-25 ms instead of ~31-39 with four (sixteen: ~29). The noise op, whose
 * Box-Muller follows in the same lanes, gains from sixteen. */
#define VXA_DEF_PHILOX_XN(NAME, U, UL, LANES) \
    VXA_INLINE void NAME(ulong seed, ulong sample, uint stream, uint b, U *x, U *y, U *z, U *w) \
    { \
        U X = (U)(b) + LANES, Y = (U)(stream), Z = (U)((uint)sample); \
        U W = (U)((uint)(sample >> 32)); \
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32); \
        for (int r = 0; r < 10; r++) { \
            if (r > 0) { \
                k0 += 0x9E3779B9u; \
                k1 += 0xBB67AE85u; \
            } \
            const UL p0 = convert_##UL(X) * (UL)0xD2511F53u, p1 = convert_##UL(Z) * (UL)0xCD9E8D57u; \
            const U hi0 = convert_##U(p0 >> 32), lo0 = convert_##U(p0); \
            const U hi1 = convert_##U(p1 >> 32), lo1 = convert_##U(p1); \
            X = hi1 ^ Y ^ (U)k0; \
            Y = lo1; \
            Z = hi0 ^ W ^ (U)k1; \
            W = lo0; \
        } \
        *x = X; \
        *y = Y; \
        *z = Z; \
        *w = W; \
    }
VXA_DEF_PHILOX_XN(vxa_philox_x8, uint8, ulong8, (uint8)(0, 1, 2, 3, 4, 5, 6, 7))
VXA_DEF_PHILOX_XN(vxa_philox_x16, uint16, ulong16, (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

#endif
#endif
