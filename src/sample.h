/* SPDX-License-Identifier: MIT */
/* What the data-dependent grid ops read of their input: the label map's classes (fg_crop, balanced_crop,
 * label_crop draw a patch centre among the voxels of a class) and foreground boxes (crop_foreground). Computed on
 * the device by reductions that read back a few numbers, never the volume:
 *   - vxa_label_index_make: the values present in channel 0 of a label map, their counts, and the counts per
 *     block of `block` consecutive voxels (linear index) per class: two passes over the map, once per input;
 *   - vxa_label_index_locate: the voxel after `skip` others of a class, in linear order: the block that holds
 *     it from the block counts (host), then one scan of that block on the device;
 *   - vxa_fg_box: the box of the voxels where some channel exceeds a threshold.
 * The planner (src/plan.c) reaches them through vxa_op_data (src/ops.h), which the executor fills. */
#ifndef VXA_SAMPLE_H
#define VXA_SAMPLE_H

#include "internal.h"

/* ---- backend primitives (entry points in src/backend.c; kernels/label.cl, src/reference/label.c) ---- */
/* The smallest and largest stored value of channel 0 of an integer label map (no scaling). */
vxa_status vxa_label_range(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi);
/* counts[b·ncls + lut[v - vmin]] = voxels of value v in block b (voxels b·block .. (b+1)·block - 1 of channel 0);
 * values whose lut entry is -1 are not counted. Every value must lie in vmin .. vmin + nlut - 1. */
vxa_status vxa_label_block_counts(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                  const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts);
/* The linear index of the voxel of value `value` after `skip` others of it in first .. end - 1, or -1. */
vxa_status vxa_label_locate(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                            int64_t skip, int64_t *index);
/* box = {min i, j, k, max i, j, k} of the voxels where some channel's value (after scaling, compared as float32)
 * is > threshold; max i = -1 when there is none. float64 volumes are converted to float32 first. */
vxa_status vxa_fg_box(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6]);

vxa_status vxa_ref_label_range(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi);
vxa_status vxa_ref_label_block_counts(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                      const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts);
vxa_status vxa_ref_label_locate(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                                int64_t skip, int64_t *index);
vxa_status vxa_ref_fg_box(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6]);

/* ---- the label index ---------------------------------------------------------------------------------------- */
#define VXA_LABEL_MAX_RANGE (1 << 24)   /* max - min + 1 of the values of an indexed label map */
#define VXA_LABEL_MAX_CLASSES 65536     /* distinct values */

typedef struct vxa_label_index {
    int64_t dim[3];
    int nclasses;
    int64_t *value;              /* the values present, ascending */
    uint64_t *count;             /* voxels of each */
    int64_t block, nblocks;      /* voxels per block; blocks */
    uint32_t *block_counts;      /* nblocks × nclasses */
} vxa_label_index;

/* Indexes channel 0 of an integer label map. Values over VXA_LABEL_MAX_RANGE apart, or more than
 * VXA_LABEL_MAX_CLASSES of them, are VXA_ERR_UNSUPPORTED with the detail. */
vxa_status vxa_label_index_make(vxa_context *ctx, const vxa_dvol *lab, vxa_label_index *ix);
void vxa_label_index_free(vxa_label_index *ix);
/* The class of value v, or -1 if absent. */
int vxa_label_index_class(const vxa_label_index *ix, int64_t v);
/* The voxel (i, j, k) after `skip` others (0 <= skip < count) of class cls, in linear order. */
vxa_status vxa_label_index_locate(vxa_context *ctx, const vxa_dvol *lab, const vxa_label_index *ix, int cls,
                                  uint64_t skip, int64_t idx[3]);

#endif
