/* SPDX-License-Identifier: MIT */
/* Philox4x32-10 on sixteen consecutive blocks at once, as the lanes of vectors: the bits of vxa_philox_block
 * (src/shared/philox.h), several blocks per instruction on CPUs. Used by the noise op (kernels/intensity.cl) and
 * the elastic noise and block means (kernels/noise.cl), after common.h and philox.h; OpenCL C only. */
#ifndef VXA_PHILOX_X4_H
#define VXA_PHILOX_X4_H
#ifdef __OPENCL_VERSION__

/* One Philox round on lanes of type U (UL: the same lanes, 64 bits), round keys k0 and k1. */
#define VXA_PHILOX_ROUND(U, UL, X, Y, Z, W, k0, k1) \
    do { \
        const UL p0_ = convert_##UL(X) * (UL)0xD2511F53u, p1_ = convert_##UL(Z) * (UL)0xCD9E8D57u; \
        X = convert_##U(p1_ >> 32) ^ (Y) ^ (U)(k0); \
        Y = convert_##U(p1_); \
        Z = convert_##U(p0_ >> 32) ^ (W) ^ (U)(k1); \
        W = convert_##U(p0_); \
    } while (0)

/* vxa_philox_block for the sixteen consecutive blocks b .. b+15 at once, as two chains of eight lanes in one
 * loop of rounds: on return a[0..3].s[i] are block b+i's four words, c[0..3].s[i] block b+8+i's. The same bits;
 * explicit vectors so that CPUs run eight blocks per instruction, and two chains so that one waits less on each
 * round's multiplies (the variants' times: bench/RESULTS.md). */
VXA_INLINE void vxa_philox_x8x2(ulong seed, ulong sample, uint stream, uint b, uint8 a[4], uint8 c[4])
{
    uint8 X = (uint8)(b) + (uint8)(0, 1, 2, 3, 4, 5, 6, 7), Y = (uint8)(stream), Z = (uint8)((uint)sample);
    uint8 W = (uint8)((uint)(sample >> 32));
    uint8 X2 = X + 8u, Y2 = Y, Z2 = Z, W2 = W;
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        VXA_PHILOX_ROUND(uint8, ulong8, X, Y, Z, W, k0, k1);
        VXA_PHILOX_ROUND(uint8, ulong8, X2, Y2, Z2, W2, k0, k1);
    }
    a[0] = X, a[1] = Y, a[2] = Z, a[3] = W;
    c[0] = X2, c[1] = Y2, c[2] = Z2, c[3] = W2;
}

#endif
#endif
