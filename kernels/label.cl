/* SPDX-License-Identifier: MIT */
/* Label-map statistics for patch sampling (fg_crop, balanced_crop, label_crop) and foreground boxes
 * (crop_foreground), read back as a few numbers, never as the volume. Label values are the stored integers
 * (IN_T, no scaling) of channel 0, read as long. Work is split in chunks of consecutive voxels (linear index
 * i + nx·(j + ny·k)), one work-item each: every kernel here is a pass over the label map done once per input. */
#include "common.h"

/* The smallest and largest value of each chunk of `chunk` voxels: mm[2g], mm[2g + 1]. */
__kernel void vxa_label_range(__global const IN_T *lab, long n, long chunk, __global long *mm)
{
    const long g = get_global_id(0), first = g * chunk;
    if (first >= n) return;
    const long end = min(first + chunk, n);
    long lo = (long)lab[first], hi = lo;
    for (long i = first + 1; i < end; i++) {
        const long v = (long)lab[i];
        lo = min(lo, v);
        hi = max(hi, v);
    }
    mm[2 * g] = lo;
    mm[2 * g + 1] = hi;
}

/* Per chunk g (a block of the index): counts[g·ncls + lut[v - vmin]] for each voxel of value v, lut[] -1 for the
 * values not counted. Every value lies in vmin .. vmin + nlut - 1 (vxa_label_range found them). */
__kernel void vxa_label_block_counts(__global const IN_T *lab, long n, long chunk, long vmin,
                                     __global const int *lut, int ncls, __global uint *counts)
{
    const long g = get_global_id(0), first = g * chunk;
    if (first >= n) return;
    const long end = min(first + chunk, n);
    __global uint *c = counts + g * ncls;
    for (int q = 0; q < ncls; q++) c[q] = 0;
    for (long i = first; i < end; i++) {
        const int q = lut[(long)lab[i] - vmin];
        if (q >= 0) c[q]++;
    }
}

/* The linear index of the voxel after `skip` others of value `value` in first .. end - 1 (one work-item; the
 * caller knows from the block counts that it is there), or -1. */
__kernel void vxa_label_locate(__global const IN_T *lab, long first, long end, long value, long skip,
                               __global long *out)
{
    if (get_global_id(0) != 0) return;
    long found = -1;
    for (long i = first; i < end; i++)
        if ((long)lab[i] == value && skip-- == 0) {
            found = i;
            break;
        }
    out[0] = found;
}

/* The box of the voxels where some channel's value (scaled, as float) exceeds thr: one work-item per row (j, k);
 * a row with such a voxel folds its first and last i, and its j and k, into box = {min i, j, k, max i, j, k}
 * with atomics (the host set it to {INT_MAX x3, -1 x3}). */
__kernel void vxa_fg_box(__global const IN_T *in, long4 dim, float slope, float inter, float thr,
                         __global int *box)
{
    const long j = get_global_id(0), k = get_global_id(1);
    if (j >= dim.y || k >= dim.z) return;
    const long vol = dim.x * dim.y * dim.z, row = dim.x * (j + dim.y * k);
    long first = dim.x, last = -1;
    for (long c = 0; c < dim.w; c++)
        for (long i = 0; i < dim.x; i++)
            if (vxa_load(in, (size_t)(c * vol + row + i), slope, inter) > thr) {
                first = min(first, i);
                last = max(last, i);
            }
    if (last < 0) return;
    atomic_min(&box[0], (int)first);
    atomic_min(&box[1], (int)j);
    atomic_min(&box[2], (int)k);
    atomic_max(&box[3], (int)last);
    atomic_max(&box[4], (int)j);
    atomic_max(&box[5], (int)k);
}
