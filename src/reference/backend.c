/* SPDX-License-Identifier: MIT */
/* The C reference backend's table (src/backend.h): every entry computes on host memory, one op at a time. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

/* Memory: the host's. The caller's data is used in place. */
static vxa_status ref_wrap(vxa_context *ctx, vxa_dvol *d)
{
    return VXA_OK;
}

static vxa_status ref_alloc(vxa_context *ctx, vxa_dvol *d, size_t bytes)
{
    return vxa_dvol_host_alloc(ctx, d, bytes);
}

static void ref_free(vxa_context *ctx, void *host, void *mem, bool owns_host)
{
    if (owns_host) free(host);
}

static void ref_wait(vxa_context *ctx) {}

static vxa_status ref_read(vxa_context *ctx, const vxa_dvol *d, void *dst)
{
    if (dst != d->host) memcpy(dst, d->host, vxa_dvol_bytes(d));
    return VXA_OK;
}

static vxa_status ref_write(vxa_context *ctx, vxa_dvol *d, const void *src)
{
    if (src != d->host) memcpy(d->host, src, vxa_dvol_bytes(d));
    return VXA_OK;
}

/* Host memory: every copy is complete on return. */
static vxa_status ref_upload(vxa_context *ctx, vxa_dvol *d, const void *src, bool async, void **event)
{
    *event = NULL;
    return ref_write(ctx, d, src);
}

static vxa_status ref_after(vxa_context *ctx, void *event) { return VXA_OK; }
static vxa_status ref_event_wait(vxa_context *ctx, void *event) { return VXA_OK; }

/* A typed source is converted first; a window is copied out of the whole result. */
static vxa_status ref_intensity(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                                const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win)
{
    vxa_status st = src ? vxa_ref_cast_float(ctx, src, vol) : VXA_OK;
    if (st == VXA_OK) st = vxa_ref_intensity_apply(ctx, ops, n, vol, mask);
    const int sign[3] = { 1, 1, 1 };
    if (st == VXA_OK && win) st = vxa_ref_copy_axes(ctx, vol, win, sign, off, VXA_MODE_CONSTANT, 0.0);
    return st;
}

const vxa_backend vxa_backend_reference = {
    .name = "reference",
    .wrap = ref_wrap,
    .alloc = ref_alloc,
    .free = ref_free,
    .wait = ref_wait,
    .read = ref_read,
    .write = ref_write,
    .upload = ref_upload,
    .after = ref_after,
    .event_wait = ref_event_wait,
    .copy_axes = vxa_ref_copy_axes,
    .cast_float = vxa_ref_cast_float,
    .resample = vxa_ref_resample,
    .gauss_smooth = vxa_ref_gauss_smooth,
    .gauss_window = vxa_ref_gauss_window,
    .noise_gauss_window = vxa_ref_noise_gauss_window,
    .reduce_stats = vxa_ref_reduce_stats,
    .reduce_moments = vxa_ref_reduce_moments,
    .reduce_percentiles = vxa_ref_reduce_percentiles,
    .intensity = ref_intensity,
    .intensity_part = vxa_ref_intensity_apply_part,
    .noise_uniform = vxa_ref_noise_uniform,
    .noise_block_mean = vxa_ref_noise_block_mean,
    .noise_upsample = vxa_ref_noise_upsample,
    .label_range = vxa_ref_label_range,
    .label_block_counts = vxa_ref_label_block_counts,
    .label_locate = vxa_ref_label_locate,
    .fg_box = vxa_ref_fg_box,
    .label_remap = vxa_ref_label_remap,
};
