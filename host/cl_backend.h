/* SPDX-License-Identifier: MIT */
/* The OpenCL backend's functions (src/backend.h), one per table entry, defined in the host/ file of their
 * kernels and joined in host/backend.c. */
#ifndef VXA_CL_BACKEND_H
#define VXA_CL_BACKEND_H

#include "backend.h"
#include "cl.h"

vxa_status vxa_cl_wrap(vxa_context *ctx, vxa_dvol *d);
vxa_status vxa_cl_alloc(vxa_context *ctx, vxa_dvol *d, size_t bytes);
void vxa_cl_free(vxa_context *ctx, void *host, void *mem, bool owns_host);
void vxa_cl_wait(vxa_context *ctx);
vxa_status vxa_cl_read(vxa_context *ctx, const vxa_dvol *d, void *dst);
vxa_status vxa_cl_write(vxa_context *ctx, vxa_dvol *d, const void *src);
vxa_status vxa_cl_upload(vxa_context *ctx, vxa_dvol *d, const void *src, bool async, void **event);
vxa_status vxa_cl_after(vxa_context *ctx, void *event);
vxa_status vxa_cl_event_wait(vxa_context *ctx, void *event);
vxa_status vxa_cl_copy_axes(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                            const int64_t offset[3], vxa_mode mode, double cval);
vxa_status vxa_cl_cast_float(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out);
vxa_status vxa_cl_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p);
vxa_status vxa_cl_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                               double truncate);
vxa_status vxa_cl_gauss_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                               vxa_mode mode, double truncate, int64_t at);
vxa_status vxa_cl_reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                               const double *shift, vxa_rstats *out);
vxa_status vxa_cl_reduce_moments(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                 int want_std, vxa_moments *out);
vxa_status vxa_cl_reduce_percentiles(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                     const double q[2], double *out);
vxa_status vxa_cl_intensity(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                            const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win);
vxa_status vxa_cl_intensity_part(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol, const int64_t grid[3],
                                 const int64_t off[3]);
vxa_status vxa_cl_noise_uniform(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3]);
vxa_status vxa_cl_noise_block_mean(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key,
                                   const float amp[3], const int64_t fine_dim[3], const int64_t first[3],
                                   const int64_t step[3]);
vxa_status vxa_cl_noise_gauss_window(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key,
                                     const float amp[3], const int64_t fine_dim[3], const int64_t lo[3],
                                     int64_t box_nx, double sigma, vxa_mode mode, double truncate, int64_t at);
vxa_status vxa_cl_noise_upsample(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine, const double start[3],
                                 const double step[3]);
vxa_status vxa_cl_label_range(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi);
vxa_status vxa_cl_label_block_counts(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                     const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts);
vxa_status vxa_cl_label_locate(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                               int64_t skip, int64_t *index);
vxa_status vxa_cl_fg_box(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6]);

vxa_status vxa_cl_label_remap(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                              const int64_t *to, int n, int drop);
#endif
