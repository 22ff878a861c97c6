/* SPDX-License-Identifier: MIT */
/* voxaug: preprocessing and augmentation of 3D medical images on OpenCL devices, with a C reference path.
 *
 * The whole public API. No OpenCL types here: see voxaug_cl.h for interoperation with a caller's OpenCL.
 * Conventions: functions return a vxa_status; detail of the last failure is in vxa_last_error(ctx) (or in the
 * caller's error buffer for functions without a context). Nothing prints or aborts. The caller owns what it
 * passes; the library allocates only in functions whose names say so, released by the matching _free. */
#ifndef VOXAUG_H
#define VOXAUG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VXA_STATIC)
#  define VXA_API
#elif defined(VXA_BUILDING)
#  define VXA_API __attribute__((visibility("default")))
#else
#  define VXA_API
#endif

#define VXA_VERSION_MAJOR 0
#define VXA_VERSION_MINOR 1
#define VXA_VERSION_PATCH 0
#define VXA_VERSION_STRING "0.1.0"
/* MAJOR*10000 + MINOR*100 + PATCH of the linked library. */
VXA_API unsigned vxa_version_number(void);
VXA_API const char *vxa_version_string(void);

/* ---- status ---------------------------------------------------------------------------------------------- */
/* One list, three uses: the enum, vxa_status_name() ("VXA_ERR_IO"), vxa_status_string(). Append only. */
#define VXA_STATUS_LIST(X)                                                           \
    X(VXA_OK,                   "success")                                           \
    X(VXA_ERR_INVALID_ARGUMENT, "an argument is out of range or inconsistent")       \
    X(VXA_ERR_IO,               "a file could not be opened, read or written")       \
    X(VXA_ERR_FORMAT,           "the file is not a valid NIfTI volume")              \
    X(VXA_ERR_UNSUPPORTED,      "valid input of a kind voxaug does not handle")      \
    X(VXA_ERR_OUT_OF_MEMORY,    "host memory ran out")                               \
    X(VXA_ERR_DEVICE_MEMORY,    "the device could not allocate a buffer")            \
    X(VXA_ERR_BUILD,            "a kernel did not compile; see the build log")       \
    X(VXA_ERR_DEVICE,           "the OpenCL runtime reported an error")              \
    X(VXA_ERR_PARSE,            "an op or pipeline spec could not be parsed")        \
    X(VXA_ERR_NOT_FOUND,        "the device asked for does not exist")
#define VXA_STATUS_ENUM_ITEM(name, text) name,
typedef enum { VXA_STATUS_LIST(VXA_STATUS_ENUM_ITEM) VXA_STATUS_COUNT } vxa_status;
#undef VXA_STATUS_ENUM_ITEM

VXA_API const char *vxa_status_string(vxa_status st); /* static text, never NULL */
VXA_API const char *vxa_status_name(vxa_status st);   /* "VXA_ERR_IO", never NULL */

/* ---- data types (the values are NIfTI's datatype codes) -------------------------------------------------- */
typedef enum {
    VXA_UINT8 = 2, VXA_INT16 = 4, VXA_INT32 = 8, VXA_FLOAT32 = 16, VXA_FLOAT64 = 64,
    VXA_INT8 = 256, VXA_UINT16 = 512, VXA_UINT32 = 768
} vxa_dtype;
VXA_API size_t      vxa_dtype_size(vxa_dtype t);  /* bytes per value, 0 for an unknown type */
VXA_API const char *vxa_dtype_name(vxa_dtype t);  /* "int16", or "unknown" */
VXA_API int         vxa_dtype_parse(const char *name, vxa_dtype *out); /* 1 if known */

/* ---- volumes ----------------------------------------------------------------------------------------------- */
/* A volume describes memory; it does not own it, unless it came from a function whose name says it allocates
 * (vxa_volume_alloc, vxa_nifti_read), in which case vxa_volume_free releases struct and data together.
 * Voxel (i, j, k, c) lives at data[i + nx*(j + ny*(k + nz*c))] (NIfTI order, i fastest), in host byte order.
 * Values are read as float32 after scl_slope/scl_inter (a slope of 0 or non-finite means no scaling). */
typedef struct vxa_volume {
    int64_t dim[3];          /* nx, ny, nz >= 1 */
    int64_t channels;        /* >= 1: dim[4] (or dim[5] for vector data) */
    vxa_dtype dtype;
    double scl_slope, scl_inter;
    double affine[4][4];     /* voxel index -> world (mm): sform if sform_code > 0, else qform, else diag(pixdim) */
    double spacing[3];       /* pixdim[1..3], mm */
    int sform_code, qform_code;
    int xyzt_units;          /* NIfTI units code, kept through a round trip */
    double toffset, tr;      /* pixdim[4] and toffset, kept */
    char descrip[80];
    void *data;
} vxa_volume;

/* Fills v with a description: unit affine, spacing 1, codes 0, data NULL. */
VXA_API void       vxa_volume_init(vxa_volume *v, const int64_t dim[3], int64_t channels, vxa_dtype dtype);
/* Allocates a zeroed volume (struct and data in one block); release with vxa_volume_free. */
VXA_API vxa_status vxa_volume_alloc(const int64_t dim[3], int64_t channels, vxa_dtype dtype, vxa_volume **out);
/* Deep copy of a volume (new header and data), release with vxa_volume_free. */
VXA_API vxa_status vxa_volume_clone(const vxa_volume *v, vxa_volume **out);
VXA_API void       vxa_volume_free(vxa_volume *v); /* NULL is fine; only for volumes the library allocated */
VXA_API size_t     vxa_volume_voxels(const vxa_volume *v);  /* nx*ny*nz*channels */
VXA_API size_t     vxa_volume_bytes(const vxa_volume *v);
/* Value of voxel (i, j, k, c) as float after scaling. No bound checks. */
VXA_API float      vxa_volume_get(const vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c);
/* Sets voxel to x, rounding and saturating for integer types (no scaling applied). */
VXA_API void       vxa_volume_set(vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c, double x);
/* Sets affine = diag(spacing) with the origin so that the grid's centre is at world 0 (sform/qform code 2). */
VXA_API void       vxa_volume_set_spacing(vxa_volume *v, const double spacing[3]);

/* ---- NIfTI I/O (niftilib, nifti2 API: NIfTI-1 and NIfTI-2, .nii, .nii.gz, .hdr/.img) --------------------- */
/* Reads a 3D or 4D volume (channels from dim[4], or dim[5] for vector data), every dtype above, either byte
 * order (swapped to host order), keeping scl_slope/scl_inter. The header is validated before niftilib reads
 * it: errors name the file and the field. err (may be NULL) receives the detail. */
VXA_API vxa_status vxa_nifti_read(const char *path, vxa_volume **out, char *err, size_t errlen);
/* Writes v as NIfTI-1 (.nii or .nii.gz by the name), qform and sform from v->affine, atomically: a temporary
 * file in the target folder, renamed into place, so a failed write leaves no file. */
VXA_API vxa_status vxa_nifti_write(const char *path, const vxa_volume *v, char *err, size_t errlen);

/* ---- context: device, queue, programs, last error; one thread at a time -------------------------------------- */
typedef struct vxa_context vxa_context;
typedef struct vxa_context_options {
    const char *device;      /* NULL: $VOXAUG_DEVICE, else prefer a GPU. "gpu", "cpu", "reference" (the C
                              * reference path, no OpenCL), an index "N" or "P:D" in `voxaug devices`, or a
                              * substring of the device name. A device asked for and not found is an error. */
    const char *kernel_dir;  /* NULL: $VOXAUG_KERNEL_DIR, else the sources embedded at build time */
    uint64_t max_alloc;      /* 0: the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE; lower it to test slab paths */
} vxa_context_options;

VXA_API void        vxa_context_options_init(vxa_context_options *opt);  /* defaults first, then set */
/* Like sqlite3_open, hands back a context even on failure (unless memory ran out) so the caller can read
 * vxa_last_error, then vxa_context_destroy it. */
VXA_API vxa_status  vxa_context_create(const vxa_context_options *opt, vxa_context **out);
VXA_API void        vxa_context_destroy(vxa_context *ctx);            /* NULL is fine */
/* A context keeps the buffers of up to 4 released volumes (1 MiB or more) for reuse by the next run of the same
 * size (no allocation, no page faults); vxa_context_trim frees them now, vxa_context_destroy frees them too. */
VXA_API void        vxa_context_trim(vxa_context *ctx);               /* NULL is fine */
VXA_API const char *vxa_last_error(const vxa_context *ctx);           /* "" if none */
VXA_API const char *vxa_context_device_name(const vxa_context *ctx);  /* "reference (C)" for the C path */
VXA_API int         vxa_context_is_reference(const vxa_context *ctx);
/* Number of kernel launches (reference: reference calls) whose kernel name starts with prefix ("" = all),
 * since the context was created. A test hook: a chain of spatial ops launches one resampling kernel. */
VXA_API uint64_t    vxa_context_launches(const vxa_context *ctx, const char *prefix);

/* Lists OpenCL platforms and devices as text ("P:D  type  name  (platform) ..."), one per line, into buf.
 * Returns VXA_OK even when there is no platform (the text says so). */
VXA_API vxa_status  vxa_devices_list(char *buf, size_t len);

/* ---- spatial ops (issue 3) --------------------------------------------------------------------------------- */
typedef enum { VXA_MODE_CONSTANT = 0, VXA_MODE_NEAREST = 1, VXA_MODE_REFLECT = 2 } vxa_mode;

/* ---- pipelines (issue 6) ----------------------------------------------------------------------------------- */
/* A pipeline is an ordered list of ops, each with parameters (fixed values or [lo, hi] ranges) and a
 * probability, parsed from the same text the CLI takes, e.g.
 *     "flip(axes=0,1,2, p=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) zscore(nonzero=1) crop(128,128,128)"
 * Consecutive spatial ops fuse into one resampling pass; consecutive intensity ops fuse where possible. */
typedef struct vxa_pipeline vxa_pipeline;

/* Parses spec. On VXA_ERR_PARSE, err names the bad token and its column. */
VXA_API vxa_status vxa_pipeline_parse(const char *spec, vxa_pipeline **out, char *err, size_t errlen);
VXA_API void       vxa_pipeline_free(vxa_pipeline *p);  /* NULL is fine */
/* The spec text back, normalised. Static per pipeline; valid until vxa_pipeline_free. */
VXA_API const char *vxa_pipeline_string(const vxa_pipeline *p);

/* What one sample's run drew: the parameters and whether each op was applied, as JSON text. */
typedef struct vxa_draw vxa_draw;
VXA_API void        vxa_draw_free(vxa_draw *d);
VXA_API const char *vxa_draw_json(const vxa_draw *d);

/* Output shape and geometry for an input: out->dim, channels, affine and spacing are set; data is NULL.
 * Known before running (it depends on the draw only through random crop sizes, which are fixed). */
VXA_API vxa_status vxa_pipeline_output_shape(const vxa_pipeline *p, const vxa_volume *in, vxa_volume *out);

/* Runs the pipeline on image (any dtype; output float32) and optional label (integer dtype, kept, order 0),
 * for sample index `sample` of `seed`. out_image/out_label are allocated (vxa_volume_free); draw, if not NULL,
 * receives what was drawn (vxa_draw_free). The same (seed, sample) gives the same output on any device. */
VXA_API vxa_status vxa_pipeline_run(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed, uint64_t sample,
                                    const vxa_volume *image, const vxa_volume *label,
                                    vxa_volume **out_image, vxa_volume **out_label, vxa_draw **draw);

/* Options of one run; init with vxa_run_options_init. */
typedef struct vxa_run_options {
    uint64_t seed, sample;
    vxa_volume **field_out;  /* not NULL: receives the last elastic displacement field (float32, 3 channels,
                              * voxels of the output grid; vxa_volume_free), or NULL if no elastic op ran */
} vxa_run_options;
VXA_API void       vxa_run_options_init(vxa_run_options *o);
VXA_API vxa_status vxa_pipeline_run_ex(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                       const vxa_volume *image, const vxa_volume *label,
                                       vxa_volume **out_image, vxa_volume **out_label, vxa_draw **draw);

/* A batch: samples first_sample .. first_sample + n - 1 of seed, sample i on images[i] (and labels[i]; labels
 * may be NULL, or hold NULLs). Each result equals vxa_pipeline_run's for the same (seed, sample), whatever n.
 * out_images[i] (out_labels[i], draws[i] if not NULL) receive what vxa_pipeline_run would give; on failure
 * every output is NULL. The samples run back to back on the context's queue, each on the buffers the one before
 * released (the context's pool). On a GPU, transfers run on a second queue of the context, double-buffered:
 * while sample i computes, sample i + 1 is uploaded and sample i - 1 read back (events order the two queues).
 * On a CPU device the volumes are used in place (zero copy) and the samples simply run in turn
 * (VOXAUG_BATCH_OVERLAP=1 takes the GPU's path there too; the tests do). */
VXA_API vxa_status vxa_pipeline_run_batch(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed,
                                          uint64_t first_sample, size_t n, const vxa_volume *const *images,
                                          const vxa_volume *const *labels, vxa_volume **out_images,
                                          vxa_volume **out_labels, vxa_draw **draws);

/* ---- the op table, for bindings (issue 19) ----------------------------------------------------------------- */
/* The op table as JSON text: {"version": "0.1.0", "ops": [op, ...]}, the `sampling` pseudo-op first, then every
 * op in `voxaug ops` order; op = {"name", "kind" ("sampling" | "spatial" | "elastic" | "intensity"), "doc",
 * "scipy" (its SciPy/NumPy equivalent or ""), "params": [param, ...]}; param = {"name", "count" (values it takes,
 * 1..3; a 3-value param given one value broadcasts it), "int", "fixed" (no [lo,hi] ranges), "required", "list"
 * (1..count values, no broadcast), "auto" (computed from the input when left out) as booleans, "lo", "hi" (the
 * accepted bounds of every value), "default" (count numbers, null if required or auto), "choices" (names
 * accepted instead of numbers, value = index, or null), "doc"}. Every op also takes p= (probability, default 1).
 * Writes at most len bytes including the terminating NUL; *needed (may be NULL) receives the size the whole text
 * needs with its NUL. VXA_ERR_INVALID_ARGUMENT (text truncated) where len is smaller; buf may be NULL with len 0
 * to ask for the size. */
VXA_API vxa_status vxa_ops_json(char *buf, size_t len, size_t *needed);

/* ---- dataset items (SPEC "Randomness and reproducibility") -------------------------------------------------- */
/* The sample index of copy `copy` of a dataset item, keyed by the item itself so that adding, removing or
 * reordering items changes no other item's draws. name: the item's image path relative to the dataset root,
 * '/'-separated, as UTF-8 bytes (e.g. "sub-01/anat/t1.nii.gz"; NULL reads as ""). Exactly:
 *     h = FNV-1a 64 of the bytes of name (offset basis 0xcbf29ce484222325, prime 0x100000001b3: h ^= byte,
 *         h *= prime, per byte, modulo 2^64)
 *     x = h ^ (copy * 0x9e3779b97f4a7c15)                                         (modulo 2^64)
 *     sample = splitmix64's finaliser of x: x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
 *              x *= 0x94d049bb133111eb; x ^= x >> 31
 * Run the pipeline with (the dataset's seed, this sample). A bijection of h for each copy; never fails. */
VXA_API uint64_t vxa_item_sample(const char *name, uint64_t copy);

/* ---- built-in data ----------------------------------------------------------------------------------------- */
/* A 3D Shepp-Logan head phantom of the given size (float32, 1 mm spacing) and its label map (uint8, one label
 * per ellipsoid region, 0 = background). Either out pointer may be NULL.
 * The ten ellipsoids of Kak & Slaney's 3D table with the "modified" intensities (1, -0.8, -0.2, -0.2, 0.1 x 6,
 * as phantominator's ct_shepp_logan_3d), sampled at voxel centres (2i + 1 - n)/n of [-1, 1] per axis; x runs
 * right, y anterior, z superior. A voxel's value is the sum over the ellipsoids that contain it (>= 0), its
 * label the index 1..10 of the last of them. The affine centres the grid on world 0 (sform/qform code 2).
 * The caller frees both with vxa_volume_free. VXA_ERR_INVALID_ARGUMENT for a dim < 1. */
VXA_API vxa_status vxa_phantom(const int64_t dim[3], vxa_volume **image, vxa_volume **label);

/* ---- preview ----------------------------------------------------------------------------------------------- */
/* Writes a PNG of the three mid slices (sagittal, coronal, axial) side by side, grey scale, in anatomical
 * orientation, windowed to the [lo_pct, hi_pct] percentiles of the image; label (may be NULL, same grid)
 * is overlaid in colour. Channel 0 is shown. Written atomically.
 * Orientation follows the affine (the voxel axis nearest each world axis, as nibabel's io_orientation), in the
 * neurological convention of nilearn: sagittal anterior right, superior up; coronal and axial with the patient's
 * right on the picture's right; coronal superior up, axial anterior up. Mid slice = voxel n/2 of the stored
 * axis. Pixels are square (anisotropic voxels keep their aspect, nearest neighbour); small pictures are enlarged
 * by a whole factor to at least 256 pixels high. Window: np.percentile (linear) of the finite values of channel
 * 0, mapped to 0..255 and clamped; NaN is black. Label values (integer dtype) != 0 get a fixed colour per value,
 * alpha 0.45. Errors: VXA_ERR_INVALID_ARGUMENT (bad window, label not integer or on another grid: both grids
 * named), VXA_ERR_IO (path and errno text; no file is left), VXA_ERR_OUT_OF_MEMORY. */
VXA_API vxa_status vxa_preview_png(const char *path, const vxa_volume *image, const vxa_volume *label,
                                   double lo_pct, double hi_pct, char *err, size_t errlen);
/* The same, windowed to the values [lo, hi] of the image (Hounsfield units for CT, after scl_slope/scl_inter)
 * instead of percentiles: lo and hi finite, lo <= hi, else VXA_ERR_INVALID_ARGUMENT. */
VXA_API vxa_status vxa_preview_png_values(const char *path, const vxa_volume *image, const vxa_volume *label,
                                          double lo, double hi, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* VOXAUG_H */
