/* SPDX-License-Identifier: MIT */
/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11), compiled both as C99
 * (reference path, host draws) and as OpenCL C (kernels): one source, identical bits.
 *
 * voxaug's keying: key = (seed low 32 bits, seed high 32 bits);
 * counter = (block index, stream, sample low 32 bits, sample high 32 bits), where stream = op index << 8 | lane
 * (lane separates uses inside one op, e.g. the three components of an elastic field) and one call yields four
 * 32-bit words for voxels 4*block .. 4*block+3.
 * Uniform floats: u = (x >> 8) * 2^-24 in [0, 1), exact in float32; vxa_u01_sym gives 2u - 1 in [-1, 1). */
#ifndef VXA_PHILOX_H
#define VXA_PHILOX_H

#ifdef __OPENCL_VERSION__
typedef uint vxa_u32;
typedef ulong vxa_u64;
#define VXA_PHILOX_INLINE static inline __attribute__((always_inline))   /* as VXA_INLINE (kernels/common.h) */
#else
#include <stdint.h>
typedef uint32_t vxa_u32;
typedef uint64_t vxa_u64;
#define VXA_PHILOX_INLINE static inline
#endif

typedef struct { vxa_u32 v[4]; } vxa_philox4;

VXA_PHILOX_INLINE vxa_philox4 vxa_philox4x32_10(vxa_philox4 ctr, vxa_u32 k0, vxa_u32 k1)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const vxa_u64 p0 = (vxa_u64)0xD2511F53u * ctr.v[0];
        const vxa_u64 p1 = (vxa_u64)0xCD9E8D57u * ctr.v[2];
        const vxa_u32 hi0 = (vxa_u32)(p0 >> 32), lo0 = (vxa_u32)p0;
        const vxa_u32 hi1 = (vxa_u32)(p1 >> 32), lo1 = (vxa_u32)p1;
        vxa_philox4 n;
        n.v[0] = hi1 ^ ctr.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ ctr.v[3] ^ k1;
        n.v[3] = lo0;
        ctr = n;
    }
    return ctr;
}

/* Four words for (seed, sample, stream, block). */
VXA_PHILOX_INLINE vxa_philox4 vxa_philox_block(vxa_u64 seed, vxa_u64 sample, vxa_u32 stream, vxa_u32 block)
{
    vxa_philox4 c;
    c.v[0] = block;
    c.v[1] = stream;
    c.v[2] = (vxa_u32)sample;
    c.v[3] = (vxa_u32)(sample >> 32);
    return vxa_philox4x32_10(c, (vxa_u32)seed, (vxa_u32)(seed >> 32));
}

/* [0, 1), 24 bits, exact in float32. */
VXA_PHILOX_INLINE float vxa_u01(vxa_u32 x) { return (float)(x >> 8) * 5.9604644775390625e-8f; }
/* [-1, 1), exact in float32. */
VXA_PHILOX_INLINE float vxa_u01_sym(vxa_u32 x) { return (float)(x >> 8) * 1.1920928955078125e-7f - 1.0f; }

#endif
