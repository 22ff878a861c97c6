/* SPDX-License-Identifier: MIT */
/* The boundary fold, shared by the kernels (copy, smoothing, resampling) and the C code (src/volume.c),
 * compiled as C99 and as OpenCL C: the index along an axis of n voxels for an integer position q, by mode
 * (SciPy's extensions; the values of vxa_mode): 0 constant -> -1 (the caller reads cval), 1 nearest -> the
 * nearest edge voxel, 2 reflect -> d c b a | a b c d | d c b a. VXA_DEF_FOLD(NAME, T) defines it for an
 * integer type T that holds 2n; positions within one period outside take no division. The vector lanes of the
 * resampling pass's CPU form have their own lane-wise copy (rs_fold8 in kernels/resample.cl). */
#ifndef VXA_FOLD_H
#define VXA_FOLD_H

#ifdef __OPENCL_VERSION__
#define VXA_FOLD_INLINE static inline __attribute__((always_inline))   /* as VXA_INLINE (kernels/common.h) */
#else
#define VXA_FOLD_INLINE static inline
#endif

#define VXA_DEF_FOLD(NAME, T) \
    VXA_FOLD_INLINE T NAME(T q, T n, int mode) \
    { \
        if (q >= 0 && q < n) return q; \
        if (mode == 1) return q < 0 ? 0 : n - 1; \
        if (mode == 2) { \
            const T period = 2 * n; \
            T m = q; \
            if (m < -n || m >= period) m %= period; /* far outside: rare */ \
            if (m < 0) m += period; \
            return m < n ? m : period - 1 - m; \
        } \
        return -1; \
    }

#endif
