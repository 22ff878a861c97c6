/* SPDX-License-Identifier: MIT */
/* Internal contract between the core (src/), the C reference (src/reference/) and the OpenCL side (host/).
 * No OpenCL types: device buffers are carried as void * (a cl_mem) and cast in host/. */
#ifndef VXA_INTERNAL_H
#define VXA_INTERNAL_H

#include "voxaug.h"
#include <stdarg.h>
#include <stdbool.h>

#define VXA_ERRLEN 8192
#define VXA_MAX_LAUNCH_NAMES 64

typedef struct vxa_cl vxa_cl;  /* host/cl.h */

/* How a resampling or smoothing pass reads outside its input (the spec's sampling(mode=...) choices, in order):
 * constant (cval; SciPy's grid-constant), nearest (edge), reflect (symmetric: the edge voxel repeated). */
typedef enum { VXA_MODE_CONSTANT = 0, VXA_MODE_NEAREST = 1, VXA_MODE_REFLECT = 2 } vxa_mode;

#define VXA_POOL_SLOTS 16            /* released buffers a context keeps for reuse */
#define VXA_POOL_MIN_BYTES (1u << 20) /* smaller ones are freed at once */
#define VXA_POOL_MAX_BYTES ((size_t)2 << 30) /* at most this much kept in all; the oldest go first */

struct vxa_backend;             /* src/backend.h */

struct vxa_context {
    bool ready;                  /* created without error: runs refuse a context whose creation failed */
    bool reference;              /* the C reference path, no OpenCL */
    const struct vxa_backend *backend;   /* set once when the context is made */
    vxa_cl *cl;                  /* NULL for the reference path */
    char device_name[256];
    uint64_t max_alloc;          /* bytes, the single-allocation limit in force */
    char error[VXA_ERRLEN];
    struct { char name[48]; uint64_t count; } launches[VXA_MAX_LAUNCH_NAMES];
    /* Buffers of released volumes kept for the next allocations (src/backend.c), oldest first: a fresh 64 MiB
     * buffer costs ~16k page faults before a kernel writes a byte. bytes: the buffer's own size, which may
     * exceed the volume's that takes it (up to half again: a patch's support varies with its position). */
    struct { size_t bytes; void *host, *mem; } pool[VXA_POOL_SLOTS];
    int npool;
    vxa_log_fn log;              /* vxa_context_options.log, NULL: none */
    void *log_user;
    vxa_log_level log_level;
    void *stage;                 /* run_into's staging buffer for conversions and strides, kept for reuse */
    size_t stage_bytes;
    struct vxa_resident *residents;   /* live resident inputs (src/resident.c), released with the context */
};

/* Writes the detail (printf-style) into ctx->error and returns st. Who detects a problem calls this once;
 * callers pass the status up untouched. */
vxa_status vxa_fail(vxa_context *ctx, vxa_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same into a caller's buffer (functions without a context). err may be NULL. */
vxa_status vxa_fail_buf(char *err, size_t errlen, vxa_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Passes a message to the context's log hook if level is within its level. */
void vxa_log(vxa_context *ctx, vxa_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The ABI rule of voxaug.h for a caller's size-first struct `src` (its size is its first member): copies the
 * first min(size, dst_size) bytes into dst (a struct of the library's layout, dst_size = its sizeof) and
 * zeroes the rest; size < min_size is VXA_ERR_INVALID_ARGUMENT, a size past dst_size with a non-zero byte
 * past it VXA_ERR_UNSUPPORTED. The detail (naming `what`) goes to ctx (may be NULL) or err. */
vxa_status vxa_abi_import(vxa_context *ctx, char *err, size_t errlen, void *dst, size_t dst_size,
                          const void *src, size_t min_size, const char *what);
/* A caller's volume checked by the same rule (read in place: every accepted volume has all of 0.2.0's
 * fields, the library's whole layout today). */
vxa_status vxa_volume_check_size(vxa_context *ctx, char *err, size_t errlen, const vxa_volume *v,
                                 const char *what);
/* The storage types (vxa_dtype up to VXA_UINT32): what a pipeline reads. */
bool vxa_dtype_is_storage(vxa_dtype t);

/* Waits until the context's queued work is done (nothing to do on the reference path). */
vxa_status vxa_context_finish(vxa_context *ctx);
/* Releases the memory of every resident input still alive on ctx (vxa_context_destroy); their handles stay
 * valid for vxa_resident_free. */
void vxa_resident_detach_all(vxa_context *ctx);
/* Counts one launch of kernel `name` (OpenCL dispatch and reference calls alike). */
void vxa_count_launch(vxa_context *ctx, const char *name);

/* Checked size arithmetic: 0 on overflow. */
static inline bool vxa_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* ---- device volumes ------------------------------------------------------------------------------------- */
/* A volume in the context's memory: for the reference path `host` is the data; for OpenCL `mem` is a cl_mem
 * (zero-copy over `host` on CPU devices where possible). Typed like vxa_volume; scale applies on read. */
typedef struct vxa_dvol {
    int64_t dim[3];
    int64_t channels;
    vxa_dtype dtype;
    float slope, inter;          /* slope 0 = none */
    void *host;                  /* reference: the data; OpenCL: host pointer the buffer wraps, or NULL */
    void *mem;                   /* cl_mem, NULL on the reference path */
    bool owns_host;              /* host was allocated by vxa_dvol_alloc */
    size_t pool_bytes;           /* vxa_dvol_alloc's buffers: their size (they may go back to the context's
                                  * pool); 0 for others */
} vxa_dvol;

size_t vxa_dvol_voxels(const vxa_dvol *d);  /* nx*ny*nz*channels */
size_t vxa_dvol_bytes(const vxa_dvol *d);

/* Wraps a host volume for reading by kernels (zero-copy on CPU devices, a copy to a GPU). */
vxa_status vxa_dvol_from_volume(vxa_context *ctx, const vxa_volume *v, vxa_dvol *out);
/* A new device volume, contents undefined. */
vxa_status vxa_dvol_alloc(vxa_context *ctx, const int64_t dim[3], int64_t channels, vxa_dtype dtype,
                          vxa_dvol *out);
/* Copies the device volume's data into dst (vxa_dvol_bytes(d) bytes); waits for queued work. */
vxa_status vxa_dvol_read(vxa_context *ctx, const vxa_dvol *d, void *dst);
/* Copies bytes from src into the device volume. */
vxa_status vxa_dvol_write(vxa_context *ctx, vxa_dvol *d, const void *src);
/* A device volume of its own, never taken from nor given to the context's pool (pool_bytes 0): a resident
 * input's, which the transfer queue may write while the compute queue runs. */
vxa_status vxa_dvol_alloc_unpooled(vxa_context *ctx, const int64_t dim[3], int64_t channels, vxa_dtype dtype,
                                   vxa_dvol *out);
/* src into d, asynchronously where the backend can (the backend table's upload: *event in and out). */
vxa_status vxa_dvol_upload(vxa_context *ctx, vxa_dvol *d, const void *src, bool async, void **event);
/* Later work on the context's compute queue waits for event (NULL: nothing to wait for). */
vxa_status vxa_queue_after(vxa_context *ctx, void *event);
/* Waits for event on the host and releases it; NULL is fine. Errors are the device's. */
vxa_status vxa_event_wait(vxa_context *ctx, void *event);
/* Releases d's buffers, or keeps them in ctx's pool when vxa_dvol_alloc made them; zeroed afterwards, fine to
 * call twice. */
void       vxa_dvol_release(vxa_context *ctx, vxa_dvol *d);
/* Frees every buffer in ctx's pool (vxa_context_trim, vxa_context_destroy). */
void       vxa_pool_clear(vxa_context *ctx);

/* Index along an axis of n for integer position q by boundary mode (scipy's extensions): constant -> -1 outside
 * (the caller reads cval), nearest -> clamped, reflect -> d c b a | a b c d | d c b a (kernels/fold.h, the
 * kernels' own). */
int64_t vxa_fold_index(int64_t q, int64_t n, vxa_mode mode);

/* Host memory for volumes, released with free(): align-byte aligned; blocks of 4 MiB or more are 2 MiB aligned
 * and advised as transparent huge pages (Linux), which makes first touch of a fresh volume much cheaper (512x
 * fewer page faults; bench/RESULTS.md, "Why the code takes its forms"). NULL when out of memory. */
void *vxa_host_alloc(size_t bytes, size_t align);
/* d->host = new host memory of `bytes` (rounded up to 128, 128-aligned, vxa_host_alloc), owned by d: the
 * memory of the reference backend's volumes and of CPU devices' buffers. */
vxa_status vxa_dvol_host_alloc(vxa_context *ctx, vxa_dvol *d, size_t bytes);

/* Reads voxel index `idx` of a dvol in host memory as a double after scaling (the reference backend, and
 * conversions on the host). */
double vxa_dvol_value(const vxa_dvol *d, size_t idx);
/* Stores x at idx, rounding half away from zero and saturating for integer types. */
void   vxa_dvol_store(vxa_dvol *d, size_t idx, double x);

/* ---- spatial: one pull resampling pass (elastic adds `field`) ------------------------------------------- */
typedef struct vxa_resample_params {
    double A[3][3], b[3];        /* p = A·(o + d(o)) + b, in input voxel indices */
    int64_t out_dim[3];
    int order;                   /* 0 nearest (floor(p + 0.5)), 1 trilinear */
    /* A label map's pass with order 1 (in and out of one type, not scaled): each label's indicator interpolated
     * trilinearly, then VXA_LABEL_THRESHOLD (1, batchgenerators' order 1) or VXA_LABEL_ARGMAX (2) picks the
     * label (kernels/resample_label.h); 0 otherwise. */
    int label_rule;
    vxa_mode mode;
    double cval;
    const vxa_dvol *field;       /* NULL, or float32 with 3 channels (d_i, d_j, d_k) on the output grid */
    /* Or (not both) the coarse nodes of a fast elastic field, float32 with 3 channels, interpolated by the pass
     * itself as vxa_noise_upsample(coarse, start, step) would (kernels/elastic_field.h): no full-size field. */
    const vxa_dvol *coarse;
    double coarse_start[3], coarse_step[3];
    /* Devices interpolate the coarse nodes along i first, into rows on the output's i (host/resample.c). With
     * coarse_rows set, the first pass keeps them there and later passes of the same field and output grid (a
     * pipeline's image and label map) reuse them; the caller releases it. NULL: made and released per pass. */
    vxa_dvol *coarse_rows;
    /* Slabs along k (all 0: whole volumes). The output holds planes out_k0 .. out_k0 + out->dim[2] - 1 of the
     * full output, the input planes in_k0 .. in_k0 + in->dim[2] - 1 of an input in_nz planes deep (in_nz 0: the
     * input is whole, in_k0 0); positions and modes are those of the full volumes. The caller makes the input
     * slab cover every plane read. */
    int64_t out_k0, in_k0, in_nz;
    /* A window of the output along i and j too (0: none): the output is the box of the whole output from
     * (out_i0, out_j0, out_k0), positions those of the whole output (a crop that follows the pass, done by the
     * pass itself). A displacement field, if any, is on the output's (the window's) grid, as with slabs. */
    int64_t out_i0, out_j0;
} vxa_resample_params;

/* The depth of the whole input a pass reads: in_nz, or the input's own where it is whole (in_nz 0). */
static inline int64_t vxa_resample_in_nz(const vxa_resample_params *p, const vxa_dvol *in)
{
    return p->in_nz ? p->in_nz : in->dim[2];
}

/* out must be allocated with out_dim and in->channels; out->dtype float32 (images) or, with order 0, any type
 * (labels keep theirs). Counted as launch "vxa_resample". On both paths, a map that only flips, crops or
 * shifts by whole voxels inside the input is done as an exact copy (vxa_copy_axes, then vxa_cast_float for typed or
 * scaled images): the same values, but a non-finite voxel no longer spreads NaN to its neighbours. */
vxa_status vxa_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p);
vxa_status vxa_ref_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p);
/* The checks both paths make first (order, mode, dims, channels, types, field shape); writes the detail. */
vxa_status vxa_resample_check(vxa_context *ctx, const vxa_dvol *in, const vxa_dvol *out,
                              const vxa_resample_params *p);

/* ---- Gaussian smoothing (serves elastic fields and the blur op) ------------------------------------------ */
/* In place on every channel of a float32 device volume: scipy.ndimage.gaussian_filter(x, sigma, mode=...,
 * truncate=truncate) with VXA_MODE_CONSTANT (cval 0), NEAREST or REFLECT. sigma per axis in voxels; an axis
 * with sigma 0 is left alone. Counted as launches "vxa_gauss...". */
vxa_status vxa_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode, double truncate);
vxa_status vxa_ref_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                                double truncate);

/* ---- random numbers shared by host and kernels: src/shared/philox.h ---------------------------------------- */

/* ---- exact copies: flip, crop, pad (kernels/copy.cl, host/copy.c, src/reference/copy.c) ------------------- */
/* out(o) = in(sign ∘ o + offset) for every channel, same dtype, bit-exact; outside the input by `mode`
 * (constant: cval converted to the type). out->dim is the output grid; out->channels == in->channels. */
vxa_status vxa_copy_axes(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                         const int64_t offset[3], vxa_mode mode, double cval);
vxa_status vxa_ref_copy_axes(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                             const int64_t offset[3], vxa_mode mode, double cval);

/* Label remap (src/backend.c checks: integer labels, in and out of one type and size; pairs from[i] -> to[i]
 * in any order, from distinct, every to[i] representable in the type): a label equal to from[i] becomes to[i],
 * any other stays (drop 0) or becomes 0 (drop 1). Launch "vxa_label_remap". */
vxa_status vxa_label_remap(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                           const int64_t *to, int n, int drop);
vxa_status vxa_ref_label_remap(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                               const int64_t *to, int n, int drop);
/* Any dtype to float32 with NIfTI scaling (out has in's voxel count). Launch "vxa_cast_float". */
vxa_status vxa_cast_float(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out);
vxa_status vxa_ref_cast_float(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out);

/* OpenCL C type name for a dtype ("short"); float64 is "double" (kernels that cannot take it convert first). */
const char *vxa_dtype_cl_name(vxa_dtype t);

/* The 352 bytes before a single-file NIfTI-1 volume's data (header and empty extender) as vxa_nifti_write_fd
 * writes them, after the same checks (name ending in .nii or .nii.gz, a writable volume). For writers that
 * encode in memory (`voxaug augment`'s writer threads: its own compression and checksums). */
#define VXA_NIFTI_HEADER_BYTES 352
vxa_status vxa_nifti_header_bytes(const char *name, const vxa_volume *v, unsigned char out[VXA_NIFTI_HEADER_BYTES],
                                  char *err, size_t errlen);
#endif
