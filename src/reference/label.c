/* SPDX-License-Identifier: MIT */
/* Label-map statistics and foreground boxes (src/sample.h), as written: loops over the voxels in index order. */
#include "sample.h"

#include <stdint.h>
#include <string.h>

/* The stored integer at linear index idx (no scaling: label values are what the file holds). */
static int64_t raw(const vxa_dvol *d, size_t idx)
{
    const void *p = d->host;
    switch (d->dtype) {
    case VXA_UINT8: return ((const uint8_t *)p)[idx];
    case VXA_INT8: return ((const int8_t *)p)[idx];
    case VXA_INT16: return ((const int16_t *)p)[idx];
    case VXA_UINT16: return ((const uint16_t *)p)[idx];
    case VXA_INT32: return ((const int32_t *)p)[idx];
    case VXA_UINT32: return ((const uint32_t *)p)[idx];
    default: return (int64_t)vxa_dvol_value(d, idx);
    }
}

/* The value as the kernels load it: float32, scaled in float32 (kernels/common.h, vxa_load). */
static float load(const vxa_dvol *d, size_t idx)
{
    const float x = d->dtype == VXA_FLOAT32 ? ((const float *)d->host)[idx] : (float)raw(d, idx);
    return d->slope != 0.0f ? x * d->slope + d->inter : x;
}

static int64_t voxels(const vxa_dvol *d) { return d->dim[0] * d->dim[1] * d->dim[2]; }

vxa_status vxa_ref_label_range(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi)
{
    vxa_count_launch(ctx, "vxa_label_range");
    *lo = *hi = raw(lab, 0);
    for (int64_t i = 1; i < voxels(lab); i++) {
        const int64_t v = raw(lab, (size_t)i);
        if (v < *lo) *lo = v;
        if (v > *hi) *hi = v;
    }
    return VXA_OK;
}

vxa_status vxa_ref_label_block_counts(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                      const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts)
{
    vxa_count_launch(ctx, "vxa_label_block_counts");
    const int64_t n = voxels(lab), nblocks = (n + block - 1) / block;
    memset(counts, 0, (size_t)nblocks * (size_t)ncls * sizeof *counts);
    for (int64_t i = 0; i < n; i++) {
        const int32_t q = lut[raw(lab, (size_t)i) - vmin];
        if (q >= 0) counts[(i / block) * ncls + q]++;
    }
    return VXA_OK;
}

vxa_status vxa_ref_label_locate(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                                int64_t skip, int64_t *index)
{
    vxa_count_launch(ctx, "vxa_label_locate");
    *index = -1;
    for (int64_t i = first; i < end; i++)
        if (raw(lab, (size_t)i) == value && skip-- == 0) {
            *index = i;
            break;
        }
    return VXA_OK;
}

vxa_status vxa_ref_fg_box(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6])
{
    vxa_count_launch(ctx, "vxa_fg_box");
    const float thr = (float)threshold;
    const int64_t n = voxels(vol);
    for (int a = 0; a < 3; a++) {
        box[a] = INT64_MAX;
        box[3 + a] = -1;
    }
    for (int64_t c = 0; c < vol->channels; c++)
        for (int64_t k = 0; k < vol->dim[2]; k++)
            for (int64_t j = 0; j < vol->dim[1]; j++)
                for (int64_t i = 0; i < vol->dim[0]; i++) {
                    const size_t idx = (size_t)(c * n + i + vol->dim[0] * (j + vol->dim[1] * k));
                    if (!(load(vol, idx) > thr)) continue;
                    const int64_t p[3] = { i, j, k };
                    for (int a = 0; a < 3; a++) {
                        if (p[a] < box[a]) box[a] = p[a];
                        if (p[a] > box[3 + a]) box[3 + a] = p[a];
                    }
                }
    return VXA_OK;
}
