/* SPDX-License-Identifier: MIT */
/* The OpenCL backend's table (src/backend.h). */
#include "cl_backend.h"

const vxa_backend vxa_backend_opencl = {
    .name = "opencl",
    .wrap = vxa_cl_wrap,
    .alloc = vxa_cl_alloc,
    .free = vxa_cl_free,
    .wait = vxa_cl_wait,
    .read = vxa_cl_read,
    .write = vxa_cl_write,
    .upload = vxa_cl_upload,
    .after = vxa_cl_after,
    .event_wait = vxa_cl_event_wait,
    .copy_axes = vxa_cl_copy_axes,
    .cast_float = vxa_cl_cast_float,
    .resample = vxa_cl_resample,
    .gauss_smooth = vxa_cl_gauss_smooth,
    .gauss_window = vxa_cl_gauss_window,
    .reduce_stats = vxa_cl_reduce_stats,
    .reduce_moments = vxa_cl_reduce_moments,
    .reduce_percentiles = vxa_cl_reduce_percentiles,
    .intensity = vxa_cl_intensity,
    .intensity_part = vxa_cl_intensity_part,
    .noise_uniform = vxa_cl_noise_uniform,
    .noise_block_mean = vxa_cl_noise_block_mean,
    .noise_upsample = vxa_cl_noise_upsample,
    .label_range = vxa_cl_label_range,
    .label_block_counts = vxa_cl_label_block_counts,
    .label_locate = vxa_cl_label_locate,
    .fg_box = vxa_cl_fg_box,
    .label_remap = vxa_cl_label_remap,
};
