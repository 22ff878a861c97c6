/* SPDX-License-Identifier: MIT */
/* The backend interface: the memory and compute of a context's device, as one table of functions per backend,
 * set once when the context is made. src/backend.c holds the entry points the rest of src/ calls (vxa_dvol_alloc,
 * vxa_resample, vxa_copy_axes, ... declared in src/internal.h, src/intensity.h and src/elastic.h): their
 * argument checks and shortcuts (a resampling pass that is an exact copy; a pooled buffer) are made there once,
 * then the table runs. host/ fills the OpenCL table (host/backend.c), src/reference/ the C table
 * (src/reference/backend.c); neither calls into the other. A table entry may assume its arguments passed the
 * checks of its entry point.
 * (libuv's uv-common.c over unix/ and win/ is the model.) */
#ifndef VXA_BACKEND_H
#define VXA_BACKEND_H

#include "elastic.h"
#include "intensity.h"
#include "sample.h"

typedef struct vxa_backend {
    const char *name;
    /* Memory of device volumes (the header of d set; src/backend.c keeps the context's pool of released
     * buffers). wrap: d->host is the caller's data (not owned): a device handle for it (d->host may become NULL
     * where the device holds a copy); alloc: new memory of `bytes` for d (host and/or mem); free: one buffer
     * pair; wait: until queued work no longer uses buffers (before a pooled buffer wrapping host memory is
     * handed out again; errors ignored); read, write: all of d. */
    vxa_status (*wrap)(vxa_context *ctx, vxa_dvol *d);
    vxa_status (*alloc)(vxa_context *ctx, vxa_dvol *d, size_t bytes);
    void (*free)(vxa_context *ctx, void *host, void *mem, bool owns_host);
    void (*wait)(vxa_context *ctx);
    vxa_status (*read)(vxa_context *ctx, const vxa_dvol *d, void *dst);
    vxa_status (*write)(vxa_context *ctx, vxa_dvol *d, const void *src);
    /* Transfers that may overlap compute (resident inputs). upload: src into all of d; with async, where the
     * device has its own memory, enqueued on the context's transfer queue without waiting (*event: in, the
     * previous upload's event or NULL, released, the queue being in order; out, this one's, or NULL where the
     * copy is complete on return). after: later work on the compute queue waits for event. event_wait: waits
     * on the host, then releases event. */
    vxa_status (*upload)(vxa_context *ctx, vxa_dvol *d, const void *src, bool async, void **event);
    vxa_status (*after)(vxa_context *ctx, void *event);
    vxa_status (*event_wait)(vxa_context *ctx, void *event);
    vxa_status (*copy_axes)(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                            const int64_t offset[3], vxa_mode mode, double cval);
    vxa_status (*cast_float)(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out);
    /* Never an exact-copy map (the entry point copies those). */
    vxa_status (*resample)(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p);
    vxa_status (*gauss_smooth)(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                               double truncate);
    /* Never sigma <= 1e-15 (the entry point copies the window). */
    vxa_status (*gauss_window)(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                               vxa_mode mode, double truncate, int64_t at);
    vxa_status (*reduce_stats)(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                               const double *shift, vxa_rstats *out);
    vxa_status (*reduce_moments)(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                 int want_std, vxa_moments *out);
    vxa_status (*reduce_percentiles)(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                     const double q[2], double *out);
    /* vxa_intensity_apply (win NULL) and vxa_intensity_apply_window (off, win set). */
    vxa_status (*intensity)(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                            const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win);
    /* vxa_intensity_apply_part. */
    vxa_status (*intensity_part)(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol, const int64_t grid[3],
                                 const int64_t off[3]);
    vxa_status (*noise_uniform)(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3]);
    vxa_status (*noise_block_mean)(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key,
                                   const float amp[3], const int64_t fine_dim[3], const int64_t first[3],
                                   const int64_t step[3]);
    /* Labels (integer types, in and out of one type and size) mapped elementwise: from[i] -> to[i] (from sorted,
     * distinct), others kept (drop 0) or 0 (drop 1). */
    vxa_status (*label_remap)(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                              const int64_t *to, int n, int drop);
    /* Never sigma <= 1e-15 (the entry point draws the window's noise). */
    vxa_status (*noise_gauss_window)(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key, const float amp[3],
                                     const int64_t fine_dim[3], const int64_t lo[3], int64_t box_nx, double sigma,
                                     vxa_mode mode, double truncate, int64_t at);
    vxa_status (*noise_upsample)(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine, const double start[3],
                                 const double step[3]);
    /* Label statistics and foreground boxes (src/sample.h): an integer label map (fg_box: any type but
     * float64), results into host memory. */
    vxa_status (*label_range)(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi);
    vxa_status (*label_block_counts)(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                     const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts);
    vxa_status (*label_locate)(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                               int64_t skip, int64_t *index);
    vxa_status (*fg_box)(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6]);
} vxa_backend;

extern const vxa_backend vxa_backend_opencl;      /* host/backend.c */
extern const vxa_backend vxa_backend_reference;   /* src/reference/backend.c */

#endif
