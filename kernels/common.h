/* SPDX-License-Identifier: MIT */
/* Shared by every kernel family, each of which includes it first: typed loads with NIfTI scaling, index
 * helpers. A program is built with -DIN_T=<type> (and -DOUT_T=<type> where it writes a typed volume); IN_T
 * defaults to float. */
#ifndef VXA_KERNEL_COMMON_H
#define VXA_KERNEL_COMMON_H
#ifdef __OPENCL_VERSION__
/* No contraction of a * b + c into fma anywhere, from here on: vxa_load's scaling is rounded after the
 * product as in every vector form of it and on the host (a contracted vxa_load differed from them by an ulp). */
#pragma OPENCL FP_CONTRACT OFF
/* Kernel helpers are always inlined: PoCL's LLVM otherwise leaves large ones (four float4 transcendentals, the
 * resampling body) as calls, which keeps their vectors in memory (much slower: bench/RESULTS.md). Static, so
 * that a program's front end emits only those its kernel calls (PoCL compiles each program's helpers at -O0
 * otherwise, used or not: bench/RESULTS.md, "Cold start"). */
#define VXA_INLINE static inline __attribute__((always_inline))
/* A helper kept a call: for a large body that takes pointers and scalars (a whole row, or a rare path). PoCL's
 * work-group compiler compiles a kernel's inlined body inside its work-item loops, twice at -O3, at the
 * kernel's first launch; a call's body it compiles once, as a plain function, in a fraction of the time
 * (bench/RESULTS.md, "Cold start"), and the call costs nothing next to the row it runs. */
#define VXA_CALL static __attribute__((noinline))
#ifndef IN_T
#define IN_T float
#endif
#ifndef OUT_T
#define OUT_T float
#endif
#ifndef OUT_IS_INT
#define OUT_IS_INT 0
#endif

/* The volume's value at linear index idx as float, after scl_slope/scl_inter (slope 0 = none). */
VXA_INLINE float vxa_load(__global const IN_T *in, size_t idx, float slope, float inter)
{
    float x = (float)in[idx];
    return slope != 0.0f ? x * slope + inter : x;
}

/* Stores x, rounding half away from zero and saturating for integer output types (as the C reference). */
#if OUT_IS_INT
#define VXA_STORE(out, idx, x) ((out)[idx] = convert_##OUT_T##_sat(round(x)))
#else
#define VXA_STORE(out, idx, x) ((out)[idx] = (OUT_T)(x))
#endif
#endif
#endif
