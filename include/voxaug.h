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
#define VXA_VERSION_MINOR 2
#define VXA_VERSION_PATCH 0
#define VXA_VERSION_STRING "0.2.0"
/* MAJOR*10000 + MINOR*100 + PATCH of the linked library. */
VXA_API unsigned vxa_version_number(void);
VXA_API const char *vxa_version_string(void);

/* ---- ABI: structs that can grow ------------------------------------------------------------------------------
 * Every public struct that crosses the library boundary (vxa_volume, vxa_buffer, vxa_context_options,
 * vxa_run_options) starts with `size_t size`: the sizeof the caller was compiled with. Its _init sets it: the
 * _init names below are static inline functions of this header, so sizeof is the caller's, and they call the
 * library's exported vxa_<struct>_init_size(ptr, size) (what bindings such as ctypes call, with their own size).
 * The library reads and writes only the first `size` bytes of a caller's struct:
 *   - size < VXA_<STRUCT>_SIZE_V1 (the fields of 0.1.0 plus size; for vxa_buffer, new in 0.2.0, all of it):
 *     VXA_ERR_INVALID_ARGUMENT (an uninitialised struct, or a caller that forgot the _init);
 *   - size < the library's sizeof: the fields past it read as zero, and zero always means "what the release
 *     without that field did" (a caller built against 0.2 runs unchanged on a 0.3 whose structs are longer);
 *   - size > the library's sizeof (a caller built against a newer header on an older library): accepted if
 *     every byte past the library's sizeof is zero (the caller set nothing the library cannot honour), else
 *     VXA_ERR_UNSUPPORTED naming the struct and the offset (the rule of Linux's openat2 and clone3).
 * Structs the library allocates (vxa_volume_alloc, vxa_nifti_read, ...) carry the library's size; code built
 * against a newer header checks VXA_HAS_FIELD before reading a field newer than the library it runs on.
 * Fields are only ever appended; enums and VXA_STATUS_LIST are append only.
 *
 * Why size-first and not opaque handles with setters (zstd's way): a vxa_volume or vxa_buffer describes the
 * caller's memory and is made per sample, on the stack, by a data loader; an opaque handle would cost an
 * allocation per descriptor and a setter call per field, and Python's ctypes mirrors would become function
 * tables. Size-first keeps plain structs (C designated initialisers, ctypes.Structure) and still lets them grow.
 *
 * SONAME: libvoxaug.so.N where N counts incompatible ABI changes (not the release number). 0.1.0 was
 * libvoxaug.so.0; 0.2.0 inserted the size members, so it is libvoxaug.so.1 and the dynamic loader refuses
 * to pair a 0.1 binary with it rather than let it pass unsized structs. Appending fields, functions, dtypes or
 * statuses keeps N; removing or changing anything exported bumps it. CI compares the exported ABI with
 * abi/libvoxaug.abi (abidiff, Debian's abigail-tools) so that an accidental change fails the build. */
#define VXA_HAS_FIELD(ptr, type, field) \
    ((ptr)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

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
    X(VXA_ERR_NOT_FOUND,        "the device asked for does not exist")                 \
    X(VXA_ERR_CANCELLED,        "the run was cancelled by the caller's callback")
#define VXA_STATUS_ENUM_ITEM(name, text) name,
typedef enum { VXA_STATUS_LIST(VXA_STATUS_ENUM_ITEM) VXA_STATUS_COUNT } vxa_status;
#undef VXA_STATUS_ENUM_ITEM

VXA_API const char *vxa_status_string(vxa_status st); /* static text, never NULL */
VXA_API const char *vxa_status_name(vxa_status st);   /* "VXA_ERR_IO", never NULL */

/* ---- data types (the values are NIfTI's datatype codes) -------------------------------------------------- */
/* The types up to VXA_UINT32 are storage types: volumes of any of them go into a pipeline. INT64, UINT64
 * (NIfTI's codes too), FLOAT16 (IEEE binary16) and BFLOAT16 (the top half of a float32; codes outside
 * NIfTI's) are output-only: the element types of a vxa_buffer that vxa_pipeline_run_into writes. */
typedef enum {
    VXA_UINT8 = 2, VXA_INT16 = 4, VXA_INT32 = 8, VXA_FLOAT32 = 16, VXA_FLOAT64 = 64,
    VXA_INT8 = 256, VXA_UINT16 = 512, VXA_UINT32 = 768,
    VXA_INT64 = 1024, VXA_UINT64 = 1280, VXA_FLOAT16 = 0x10010, VXA_BFLOAT16 = 0x10020
} vxa_dtype;
VXA_API size_t      vxa_dtype_size(vxa_dtype t);  /* bytes per value, 0 for an unknown type */
VXA_API const char *vxa_dtype_name(vxa_dtype t);  /* "int16", or "unknown" */
VXA_API int         vxa_dtype_parse(const char *name, vxa_dtype *out); /* 1 if known; 0 if either is NULL */

/* ---- volumes ----------------------------------------------------------------------------------------------- */
/* A volume describes memory; it does not own it, unless it came from a function whose name says it allocates
 * (vxa_volume_alloc, vxa_nifti_read), in which case vxa_volume_free releases struct and data together.
 * Voxel (i, j, k, c) lives at data[i + nx*(j + ny*(k + nz*c))] (NIfTI order, i fastest), in host byte order.
 * Values are read as float32 after scl_slope/scl_inter (a slope of 0 or non-finite means no scaling). */
typedef struct vxa_volume {
    size_t size;             /* sizeof(vxa_volume) as the caller compiled it: set by vxa_volume_init (see ABI) */
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

#define VXA_VOLUME_SIZE_V1 (offsetof(vxa_volume, data) + sizeof(void *)) /* 0.2.0's layout */

/* NULL arguments: every function below accepts them without crashing and says what it does. */
/* Fills v (the first `size` bytes) with a description: unit affine, spacing 1, codes 0, data NULL, v->size.
 * v NULL: nothing; dim NULL: dims 0. */
VXA_API void vxa_volume_init_size(vxa_volume *v, size_t size, const int64_t dim[3], int64_t channels,
                                  vxa_dtype dtype);
static inline void vxa_volume_init(vxa_volume *v, const int64_t dim[3], int64_t channels, vxa_dtype dtype)
{
    vxa_volume_init_size(v, sizeof *v, dim, channels, dtype);
}
/* Allocates a zeroed volume (struct and data in one block); release with vxa_volume_free.
 * VXA_ERR_INVALID_ARGUMENT for a NULL dim or out (*out is NULL on any failure). */
VXA_API vxa_status vxa_volume_alloc(const int64_t dim[3], int64_t channels, vxa_dtype dtype, vxa_volume **out);
/* Deep copy of a volume (new header and data), release with vxa_volume_free.
 * VXA_ERR_INVALID_ARGUMENT for a NULL v, out or v->data (*out is NULL on any failure). */
VXA_API vxa_status vxa_volume_clone(const vxa_volume *v, vxa_volume **out);
VXA_API void       vxa_volume_free(vxa_volume *v); /* NULL is fine; only for volumes the library allocated */
VXA_API size_t     vxa_volume_voxels(const vxa_volume *v);  /* nx*ny*nz*channels; 0 for NULL or a bad shape */
VXA_API size_t     vxa_volume_bytes(const vxa_volume *v);   /* 0 for NULL, a bad shape or type */
/* Value of voxel (i, j, k, c) as float after scaling. No bound checks. NaN if v or v->data is NULL. */
VXA_API float      vxa_volume_get(const vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c);
/* Sets voxel to x, rounding and saturating for integer types (no scaling applied). No bound checks; nothing
 * if v or v->data is NULL. */
VXA_API void       vxa_volume_set(vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c, double x);
/* Sets affine = diag(spacing) with the origin so that the grid's centre is at world 0 (sform/qform code 2).
 * Nothing if either is NULL. */
VXA_API void       vxa_volume_set_spacing(vxa_volume *v, const double spacing[3]);

/* ---- NIfTI I/O (niftilib, nifti2 API: NIfTI-1 and NIfTI-2, .nii, .nii.gz, .hdr/.img) --------------------- */
/* Reads a 3D or 4D volume (channels from dim[4], or dim[5] for vector data), every dtype above, either byte
 * order (swapped to host order), keeping scl_slope/scl_inter. The header is validated before niftilib reads
 * it: errors name the file and the field. A .gz is read to the end of its stream (CRC32 and length checked);
 * a singular or non-finite affine (sform, qform or pixdim, whichever applies) is VXA_ERR_FORMAT.
 * err (may be NULL) receives the detail; VXA_ERR_INVALID_ARGUMENT for a NULL path or out. */
VXA_API vxa_status vxa_nifti_read(const char *path, vxa_volume **out, char *err, size_t errlen);
/* Writes v as NIfTI-1 (.nii or .nii.gz by the name), qform and sform from v->affine, atomically: a temporary
 * file in the target folder (created exclusively, never through a link), fsynced, renamed into place, the folder
 * fsynced; a failed write leaves no file and changes none. VXA_ERR_INVALID_ARGUMENT for a NULL path or v. */
VXA_API vxa_status vxa_nifti_write(const char *path, const vxa_volume *v, char *err, size_t errlen);

/* ---- threads ----------------------------------------------------------------------------------------------
 * Who may use what from which thread (tests/test_threads.c shows each claim, under ThreadSanitizer in CI):
 *   - vxa_context: one thread at a time (any thread; hand it over with the caller's own synchronisation).
 *     It holds the queue, the buffer pool and the last error. Different contexts run fully in parallel;
 *     creating and destroying them from many threads at once is safe (voxaug serialises OpenCL enumeration).
 *   - vxa_pipeline: immutable after vxa_pipeline_parse; any number of threads may run one pipeline at once,
 *     each with its own context, and get bit-identical results to serial runs. Free it after every run ended.
 *   - vxa_volume, vxa_buffer: plain memory the caller owns; the library reads inputs and writes outputs only
 *     during the call. Several threads may read one input volume at once (inputs are never written); two runs
 *     must not write the same output buffer.
 *   - vxa_resident: used with its context only, so by one thread at a time like it.
 *   - vxa_draw: owned by the caller after the run; immutable.
 *   - Callbacks (log, cancel) are called on the thread that called into the library, during that call.
 *   - Functions without a context (vxa_status_*, vxa_dtype_*, vxa_version_*, vxa_nifti_*, vxa_phantom,
 *     vxa_preview_png, vxa_devices_list, vxa_pipeline_parse, vxa_pipeline_output_shape, vxa_program_cache_dir)
 *     are thread-safe. */

/* ---- context: device, queue, programs, last error; one thread at a time ---------------------------------- */
typedef struct vxa_context vxa_context;

typedef enum { VXA_LOG_ERROR = 0, VXA_LOG_WARNING = 1, VXA_LOG_INFO = 2, VXA_LOG_DEBUG = 3 } vxa_log_level;
/* A log hook: message is one line without a newline, valid during the call only. Called on the thread that
 * called into the library. Errors are logged as they are written to vxa_last_error; INFO names the device
 * chosen and each program built (with its time), DEBUG each run's path (slabs, overlapped batch). */
typedef void (*vxa_log_fn)(void *user, vxa_log_level level, const char *message);

typedef struct vxa_context_options {
    size_t size;             /* sizeof as compiled by the caller: set by vxa_context_options_init */
    const char *device;      /* NULL: $VOXAUG_DEVICE, else prefer a GPU. "gpu", "cpu", "reference" (the C
                              * reference path, no OpenCL), an index "N" or "P:D" in `voxaug devices`, or a
                              * substring of the device name. A device asked for and not found is an error. */
    const char *kernel_dir;  /* NULL: $VOXAUG_KERNEL_DIR, else the sources embedded at build time */
    uint64_t max_alloc;      /* 0: the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE; lower it to test slab paths */
    /* 0.2.0 */
    vxa_log_fn log;          /* NULL: no logging */
    void *log_user;          /* passed to log */
    vxa_log_level log_level; /* the most verbose level passed to log (0 = errors only) */
} vxa_context_options;
#define VXA_CONTEXT_OPTIONS_SIZE_V1 (offsetof(vxa_context_options, max_alloc) + sizeof(uint64_t)) /* 0.1's fields */

/* Defaults first, then set; NULL: nothing. vxa_context_options_init is inline so that size is the caller's sizeof. */
VXA_API void        vxa_context_options_init_size(vxa_context_options *opt, size_t size);
static inline void  vxa_context_options_init(vxa_context_options *opt)
{
    vxa_context_options_init_size(opt, sizeof *opt);
}
/* Like sqlite3_open, hands back a context even on failure (unless memory ran out) so the caller can read
 * vxa_last_error, then vxa_context_destroy it. Such a context cannot run: every run on it returns
 * VXA_ERR_INVALID_ARGUMENT, its error naming the creation's failure. opt NULL: the defaults; out NULL:
 * VXA_ERR_INVALID_ARGUMENT. */
VXA_API vxa_status  vxa_context_create(const vxa_context_options *opt, vxa_context **out);
VXA_API void        vxa_context_destroy(vxa_context *ctx);            /* NULL is fine */
/* A context keeps the buffers of up to 16 released volumes (1 MiB to 2 GiB each, 2 GiB in all) for reuse by the
 * next runs (no allocation, no page faults: a volume takes a kept buffer of its size or up to half again as
 * large), and vxa_pipeline_run_into's staging buffer; vxa_context_trim frees them now, vxa_context_destroy frees
 * them too. */
VXA_API void        vxa_context_trim(vxa_context *ctx);               /* NULL is fine */
/* The detail of the last call on ctx: every call that takes a context and can fail (vxa_pipeline_run,
 * _run_ex, _run_batch) clears it on entry, so it is "" after a success and describes that call's failure
 * otherwise; after vxa_context_create it describes the creation. "no context" for NULL. Valid until the next
 * call on ctx. */
VXA_API const char *vxa_last_error(const vxa_context *ctx);
VXA_API const char *vxa_context_device_name(const vxa_context *ctx);  /* "reference (C)" for the C path; "" for NULL */
VXA_API int         vxa_context_is_reference(const vxa_context *ctx); /* 0 for NULL */
/* Number of kernel launches (reference: reference calls) whose kernel name starts with prefix ("" = all),
 * since the context was created. A test hook: a chain of spatial ops launches one resampling kernel. */
VXA_API uint64_t    vxa_context_launches(const vxa_context *ctx, const char *prefix);

/* Lists OpenCL platforms and devices as text ("P:D  type  name  (platform) ..."), one per line, into buf.
 * Returns VXA_OK even when there is no platform (the text says so). VXA_ERR_INVALID_ARGUMENT when buf is NULL
 * or len is 0 (nothing written), or when the list does not fit: buf then holds what fits, NUL-terminated. */
VXA_API vxa_status  vxa_devices_list(char *buf, size_t len);

/* Programs: each kernel (of kernels/<family>.cl) is built, as a program of its own, on the first run that needs
 * it, for the dtypes that run has, and kept by its context. Built programs are also kept on disk, per user, so
 * that a new process loads them instead of compiling: $VOXAUG_CACHE_DIR, else $XDG_CACHE_HOME/voxaug, else
 * ~/.cache/voxaug; an entry is keyed by the voxaug version, the platform, device and driver version, the build
 * options, the kernel and the source, checked (length, SHA-256) before use and rebuilt when it fails the check; concurrent processes write
 * whole entries only (a temporary file renamed); at most $VOXAUG_CACHE_MAX_MB MiB (default 256), least recently
 * used first out; stored when the context ends (on CPU devices only with VOXAUG_CACHE=always: PoCL compiles a
 * program to give its binary, and caches its builds itself). VOXAUG_CACHE=0 turns it off. `voxaug warmup`
 * fills it ahead, on every device (container images), with every kernel of each file its runs use.
 * The folder in force into buf ("" when off); VXA_ERR_INVALID_ARGUMENT for a NULL buf, len 0 or a folder that
 * does not fit. Thread-safe. */
VXA_API vxa_status  vxa_program_cache_dir(char *buf, size_t len);

/* ---- pipelines ------------------------------------------------------------------------------------------- */
/* A pipeline is an ordered list of ops, each with parameters (fixed values or [lo, hi] ranges) and a
 * probability, parsed from the same text the CLI takes, e.g.
 *     "flip(axes=0,1,2, p=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) zscore(nonzero=1) crop(128,128,128)"
 * Consecutive spatial ops fuse into one resampling pass; consecutive intensity ops fuse where possible. */
typedef struct vxa_pipeline vxa_pipeline;

/* Parses spec. On VXA_ERR_PARSE, err names the bad token and its column. Numbers are decimal; an empty spec,
 * more than 1024 ops, or a parameter outside its op's bounds (`voxaug ops`) is VXA_ERR_PARSE.
 * VXA_ERR_INVALID_ARGUMENT for a NULL spec or out. */
VXA_API vxa_status vxa_pipeline_parse(const char *spec, vxa_pipeline **out, char *err, size_t errlen);
VXA_API void       vxa_pipeline_free(vxa_pipeline *p);  /* NULL is fine */
/* The spec text back, normalised. Static per pipeline; valid until vxa_pipeline_free. */
VXA_API const char *vxa_pipeline_string(const vxa_pipeline *p);  /* "" for NULL */

/* What one sample's run drew: the parameters and whether each op was applied, as JSON text. */
typedef struct vxa_draw vxa_draw;
VXA_API void        vxa_draw_free(vxa_draw *d);          /* NULL is fine */
VXA_API const char *vxa_draw_json(const vxa_draw *d);    /* "{}" for NULL */

/* VXA_ERR_INVALID_ARGUMENT (and nothing else done) for a NULL ctx, p, image or out_image, a label without
 * out_label, or a context whose creation failed; the output pointers given are set to NULL first.
 * Runs the pipeline on image (any dtype; output float32) and optional label (integer dtype, kept, order 0),
 * for sample index `sample` of `seed`. out_image/out_label are allocated (vxa_volume_free); draw, if not NULL,
 * receives what was drawn (vxa_draw_free). The same (seed, sample) gives the same output on any device. */
VXA_API vxa_status vxa_pipeline_run(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed, uint64_t sample,
                                    const vxa_volume *image, const vxa_volume *label,
                                    vxa_volume **out_image, vxa_volume **out_label, vxa_draw **draw);

/* A cancellation hook: returns nonzero to stop. Called before each pass of a run (each fused spatial or
 * intensity group, each slab) and before each sample of a batch; a stop returns VXA_ERR_CANCELLED with the
 * pass named in vxa_last_error, every output left as on any failure. The hook may read a flag that another
 * thread sets (make it atomic); it must not call into the same context. */
typedef int (*vxa_cancel_fn)(void *user);

/* Options of one run; init with vxa_run_options_init. */
typedef struct vxa_run_options {
    size_t size;             /* sizeof as compiled by the caller: set by vxa_run_options_init */
    uint64_t seed, sample;   /* a batch runs samples sample .. sample + n - 1 */
    vxa_volume **field_out;  /* not NULL: receives the last elastic displacement field (float32, 3 channels,
                              * voxels of the output grid; vxa_volume_free), or NULL if no elastic op ran */
    /* 0.2.0 */
    vxa_cancel_fn cancel;    /* NULL: never cancelled */
    void *cancel_user;       /* passed to cancel */
} vxa_run_options;
#define VXA_RUN_OPTIONS_SIZE_V1 (offsetof(vxa_run_options, field_out) + sizeof(vxa_volume **)) /* 0.1's fields */
VXA_API void       vxa_run_options_init_size(vxa_run_options *o, size_t size);  /* NULL: nothing */
static inline void vxa_run_options_init(vxa_run_options *o) { vxa_run_options_init_size(o, sizeof *o); }
VXA_API vxa_status vxa_pipeline_run_ex(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                       const vxa_volume *image, const vxa_volume *label,
                                       vxa_volume **out_image, vxa_volume **out_label, vxa_draw **draw);

/* Output shape and geometry for an input: out->dim, channels, affine and spacing are set; data is NULL; dtype
 * float32. vxa_pipeline_output_shape_ex gives those of sample o->sample of o->seed (o initialised by
 * vxa_run_options_init), exactly as vxa_pipeline_run_ex makes them (an op that does not apply, by its
 * probability p, changes nothing; a random crop's start and a drawn rotation are those of the run).
 * vxa_pipeline_output_shape gives them with every op applied. out is written up to the smaller of its size and
 * the library's: initialise it (vxa_volume_init) first. VXA_ERR_INVALID_ARGUMENT if any argument is NULL. */
VXA_API vxa_status vxa_pipeline_output_shape_ex(const vxa_pipeline *p, const vxa_run_options *o,
                                                const vxa_volume *in, vxa_volume *out);
VXA_API vxa_status vxa_pipeline_output_shape(const vxa_pipeline *p, const vxa_volume *in, vxa_volume *out);

/* A batch: samples first_sample .. first_sample + n - 1 of seed, sample i on images[i] (and labels[i]; labels
 * may be NULL, or hold NULLs). NULL ctx, p, images, out_images, or labels without out_labels:
 * VXA_ERR_INVALID_ARGUMENT. Each result equals vxa_pipeline_run's for the same (seed, sample), whatever n.
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

/* ---- undoing a draw; its displacement field (SPEC.md "Geometry") ------------------------------------------
 * Both re-plan sample o->sample of o->seed on the run's input grid (dims and affine of `original` / `in`; their
 * data are not read), so they describe exactly the run vxa_pipeline_run_ex made with the same pipeline and
 * options. A draw pulls each output voxel o from the input at G(o): the composition of its spatial passes'
 * pull maps A·(o + d(o)) + b (d: an elastic op's field). Intensity ops change values, not positions: they are
 * not inverted (their effect stays in what comes back; the report names them). */
typedef struct vxa_invert_options {
    size_t size;             /* sizeof as compiled by the caller: set by vxa_invert_options_init */
    int nearest;             /* 0: trilinear, float32 out (images, probability maps); 1: nearest neighbour,
                              * out's dtype and scaling kept (label maps, a network's segmentation) */
    double cval;             /* what fills the voxels whose content left the field of view (default 0) */
} vxa_invert_options;
#define VXA_INVERT_OPTIONS_SIZE_V1 (offsetof(vxa_invert_options, cval) + sizeof(double))
VXA_API void       vxa_invert_options_init_size(vxa_invert_options *opt, size_t size);  /* NULL: nothing */
static inline void vxa_invert_options_init(vxa_invert_options *opt) { vxa_invert_options_init_size(opt, sizeof *opt); }

/* What an inversion did (all zero until a call succeeds). */
typedef struct vxa_invert_report {
    size_t size;             /* sizeof as compiled by the caller: set by vxa_invert_report_init */
    uint64_t voxels;         /* of the original grid */
    uint64_t outside;        /* whose content left the output's field of view: set to cval */
    uint64_t sampled;        /* nearest: voxels some output voxel was sampled from, given back that voxel's value
                              * (identical to the input's where `out` is the run's own label map); the others
                              * inside (zooming out, rotating skips some) take the voxel nearest to G⁻¹(p) */
    int intensity_ops;       /* applied intensity ops, not inverted */
    char intensity_names[128];   /* their names, space-separated ("..." where cut) */
    int elastic_passes;      /* elastic fields inverted */
    int iterations;          /* the most fixed-point iterations one voxel took (at most 50) */
    double residual_max;     /* voxels: the largest |o + d(o) - z| left, over the voxels in the field of view */
    double residual_mean;
    uint64_t unconverged;    /* voxels left with a residual above 1e-5 voxel (where the field folds) */
} vxa_invert_report;
#define VXA_INVERT_REPORT_SIZE_V1 (offsetof(vxa_invert_report, unconverged) + sizeof(uint64_t))
VXA_API void       vxa_invert_report_init_size(vxa_invert_report *r, size_t size);  /* NULL: nothing */
static inline void vxa_invert_report_init(vxa_invert_report *r) { vxa_invert_report_init_size(r, sizeof *r); }

/* Maps `out`, an output of sample o->sample of o->seed on `original` (the run's own output, or anything on its
 * grid: a network's prediction, any channels, any storage dtype), back onto original's grid: *back (allocated;
 * vxa_volume_free) has original's dims, affine and header codes, out's channels. Voxel p of back takes out at
 * G⁻¹(p), composed from the inverse of each spatial pass into one resampling pass: affine parts inverted
 * exactly, elastic fields by fixed-point iteration (o <- z - d(o), at most 50 iterations, stopping below 1e-6
 * voxel; report->residual_max says what is left: 3-4e-7 voxel on ch2 with the standard pipeline's field).
 * Flips, crops, pads, quarter turns and whole shifts come back exactly (nearest and trilinear alike); where
 * the content left the output (a crop, a rotation's corners) back holds opt->cval. With opt->nearest, a voxel
 * that the run sampled into some output voxel gets that voxel's value (a label map comes back identical
 * there); trilinear gives back the image within twice the interpolation's smoothing. opt, report and draw may
 * be NULL (draw: the re-planned draw record, vxa_draw_free, to compare with the run's). The positions are
 * computed on the host; the resampling pass runs on whole volumes (no slabs).
 * VXA_ERR_INVALID_ARGUMENT: a NULL ctx, p, o, original, out or back, out's dims not the draw's output dims on
 * original's grid (named), out without data or of an output-only dtype; VXA_ERR_UNSUPPORTED: a singular pull
 * map (nothing to undo it with); the run's own statuses (the plan, the device). */
VXA_API vxa_status vxa_pipeline_invert(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                       const vxa_volume *original, const vxa_volume *out,
                                       const vxa_invert_options *opt, vxa_volume **back,
                                       vxa_invert_report *report, vxa_draw **draw);

/* The displacement of the whole spatial part of sample o->sample of o->seed on `in`: *field (allocated;
 * vxa_volume_free) is float32 with 3 channels on the output's grid (its dims and affine), voxel o holding
 * W_in·G(o) - W_out·o, the world point sampled minus the output voxel's world point (W the grids' voxel-to-world
 * affines), in millimetres of NIfTI's world frame (RAS, the affine's). Written by vxa_nifti_write_displacement,
 * ITK reads it as a DisplacementFieldTransform that resamples the input onto the output grid as the run does
 * (tests/scipy/check_field_itk.py: SimpleITK 2.5.7, within 7e-6 of the range on ch2, tolerance 1e-3). Several
 * spatial passes are composed into one map (the run resamples once per pass). An identity draw gives zeros; it
 * never fails for want of an elastic op (vxa_run_options.field_out gives the elastic part alone, in voxels). */
VXA_API vxa_status vxa_pipeline_displacement_field(vxa_context *ctx, const vxa_pipeline *p,
                                                   const vxa_run_options *o, const vxa_volume *in,
                                                   vxa_volume **field);
/* How a displacement field file holds its vectors; both are 5D NIfTI-1 with dim[5] = 3 (dim[4] = 1). ITK's
 * physical frame is LPS (NIfTI's RAS with x and y negated), and ITK reads the two intents differently:
 *   VXA_FIELD_DISPVECT    intent_code 1006 (NIFTI_INTENT_DISPVECT), vectors in RAS mm as the field holds them:
 *                         ITK 5.4 and later (SimpleITK 2.4 and later) negate x and y of a DISPVECT field on
 *                         reading, so the transform it makes is in LPS; nibabel-based tools read RAS;
 *   VXA_FIELD_ITK_VECTOR  intent_code 1007 (NIFTI_INTENT_VECTOR), vectors in LPS mm (x and y negated on writing):
 *                         the layout of ANTs' warp files, read as it is by every ITK version and by ANTs. */
typedef enum { VXA_FIELD_DISPVECT = 0, VXA_FIELD_ITK_VECTOR = 1 } vxa_field_format;
/* Writes a 3-channel float volume (a field of vxa_pipeline_displacement_field) as a NIfTI-1 displacement field
 * in `format`, atomically as vxa_nifti_write. VXA_ERR_INVALID_ARGUMENT for a NULL path or v, v not float32 or
 * float64 with 3 channels, or an unknown format. */
VXA_API vxa_status vxa_nifti_write_displacement(const char *path, const vxa_volume *v, vxa_field_format format,
                                                char *err, size_t errlen);

/* ---- the op table, for bindings (issue 19) ----------------------------------------------------------------- */
/* The op table as JSON text: {"version": "0.1.0", "ops": [op, ...]}, the `sampling` pseudo-op first, then every
 * op in `voxaug ops` order; op = {"name", "kind" ("sampling" | "spatial" | "elastic" | "intensity"), "augment"
 * (true for an augmentation op, which moves the content on its grid; false for a grid op), "doc", "scipy" (its
 * SciPy/NumPy equivalent or ""), "params": [param, ...]}; param = {"name", "count" (values it takes,
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

/* ---- running into the caller's memory ------------------------------------------------------------------------
 * A vxa_buffer describes host memory the caller owns (a pinned or preallocated tensor, a batch array, a memory
 * map) for one output volume or a batch of them. Element (i, j, k, c) of sample n lives at
 *     (char *)data + elem_size * (i*stride[0] + j*stride[1] + k*stride[2] + c*stride[3] + n*stride[4])
 * with strides in elements (not bytes). All five strides 0 = dense NIfTI order with the batch outermost,
 * i.e. i fastest, channel after k, then the sample: exactly a C-contiguous array of shape
 * [n][channels][nz][ny][nx] (PyTorch's NCDHW with D = k, H = j, W = i). Strides may be any non-negative values
 * whose addressed elements lie within `bytes` and do not overlap (checked: VXA_ERR_INVALID_ARGUMENT with the
 * stride and extent named), e.g. channel last: stride = { C, C*nx, C*nx*ny, 1, C*nx*ny*nz }.
 * dtype: for images VXA_FLOAT32, VXA_FLOAT16 or VXA_BFLOAT16 (float32 results rounded to nearest, ties to
 * even; overflow to inf as IEEE conversion does); for label maps any integer type (the label values converted,
 * saturating at the type's range). The library writes only the addressed elements and keeps no pointer. */
typedef struct vxa_buffer {
    size_t size;             /* sizeof as compiled by the caller: set by vxa_buffer_init */
    void *data;              /* host memory, aligned for dtype */
    size_t bytes;            /* bytes available at data, checked against the extent the strides reach */
    vxa_dtype dtype;
    int64_t stride[5];       /* elements per step of i, j, k, channel, sample; all 0 = dense (see above) */
} vxa_buffer;
#define VXA_BUFFER_SIZE_V1 (offsetof(vxa_buffer, stride) + 5 * sizeof(int64_t))
VXA_API void       vxa_buffer_init_size(vxa_buffer *b, size_t size, void *data, size_t bytes, vxa_dtype dtype);
/* A dense buffer: strides 0. */
static inline void vxa_buffer_init(vxa_buffer *b, void *data, size_t bytes, vxa_dtype dtype)
{
    vxa_buffer_init_size(b, sizeof *b, data, bytes, dtype);
}

/* vxa_pipeline_run_ex into the caller's buffers: out_image receives the image (shape of
 * vxa_pipeline_output_shape, image->channels channels), out_label (NULL without a label) the label map. The
 * values equal vxa_pipeline_run's bit for bit (float32), or are those floats converted (float16, bfloat16,
 * integer labels). No output volume is allocated: on a CPU device or the reference path the last read of the
 * device's result lands in the caller's buffer directly when it is float32 (labels: the label's own type) and
 * dense; a conversion or strides go through one staging buffer the context keeps. Statuses: those of
 * vxa_pipeline_run_ex, and VXA_ERR_INVALID_ARGUMENT for a buffer of the wrong dtype, too small for the
 * output shape, or with strides out of its bytes or overlapping (the detail names the buffer, the shape and
 * the extent). On failure the buffers' contents are unspecified. */
VXA_API vxa_status vxa_pipeline_run_into(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                         const vxa_volume *image, const vxa_volume *label,
                                         const vxa_buffer *out_image, const vxa_buffer *out_label,
                                         vxa_draw **draw);
/* A batch into one buffer each: sample first = o->sample .. o->sample + n - 1, sample s on images[s] (labels
 * may be NULL or hold NULLs only if out_label is NULL), written at out_image->data + s * stride[4] (dense:
 * one output volume after another). Each sample equals vxa_pipeline_run_into's for the same (seed, sample);
 * every input must give the same output shape. o->cancel is checked before each sample. draws (may be NULL)
 * receives n records. */
VXA_API vxa_status vxa_pipeline_run_batch_into(vxa_context *ctx, const vxa_pipeline *p,
                                               const vxa_run_options *o, size_t n,
                                               const vxa_volume *const *images, const vxa_volume *const *labels,
                                               const vxa_buffer *out_image, const vxa_buffer *out_label,
                                               vxa_draw **draws);

/* ---- resident inputs: one upload, many samples ------------------------------------------------------------
 * A loader that draws several patches per subject (nnU-Net's, MONAI's RandCropByPosNegLabel) uploads the subject
 * once and runs every sample from the device's copy:
 *
 *     vxa_resident *r;
 *     vxa_resident_create(ctx, image, label, NULL, &r);            // one upload (image channels + label map)
 *     vxa_run_options o; vxa_run_options_init(&o); o.seed = 2026; o.sample = first;
 *     vxa_pipeline_run_resident_into(ctx, p, &o, r, 8, &out_image, &out_label, NULL);   // samples first..first+7
 *     vxa_resident_free(r);
 *
 * Each sample equals vxa_pipeline_run_ex's for the same (seed, sample) on the same volumes, bit for bit: the
 * resident is a copy of the caller's volumes in the context's memory (a device buffer on a GPU; host memory on
 * a CPU device and the reference path), never written by a run. The caller's volumes are not kept.
 *
 * Asynchronous upload (vxa_resident_options.async_upload = 1): on a GPU the copy is enqueued on the context's
 * transfer queue and vxa_resident_create returns at once, so that the next subject goes up while the current
 * one's samples compute; the first run from the resident waits for the copy on the device (an event), not on
 * the host. The caller's data must then stay valid and unchanged until that first run returns or
 * vxa_resident_free. (Whether a driver overlaps a copy from pageable memory with kernels is its own matter.)
 * On a CPU device and the reference path the copy is made during the call either way (VOXAUG_BATCH_OVERLAP=1
 * takes the GPU's path on a CPU device too; the tests do).
 *
 * A resident belongs to its context (used by one thread at a time with it) and runs only there. Free it before
 * the context; a context destroyed first releases the device memory of its residents, and a later
 * vxa_resident_free then frees only the handle. */
typedef struct vxa_resident vxa_resident;

typedef struct vxa_resident_options {
    size_t size;             /* sizeof as compiled by the caller: set by vxa_resident_options_init */
    int async_upload;        /* 0: the copy is complete when vxa_resident_create returns; 1: see above */
} vxa_resident_options;
#define VXA_RESIDENT_OPTIONS_SIZE_V1 (offsetof(vxa_resident_options, async_upload) + sizeof(int))
VXA_API void       vxa_resident_options_init_size(vxa_resident_options *o, size_t size);  /* NULL: nothing */
static inline void vxa_resident_options_init(vxa_resident_options *o)
{
    vxa_resident_options_init_size(o, sizeof *o);
}
/* Copies image (any storage dtype, any number of channels) and label (may be NULL; an integer map on the
 * image's grid) into the context's memory; the checks of vxa_pipeline_run. opt NULL: the defaults. *out is
 * NULL on failure. VXA_ERR_INVALID_ARGUMENT for a NULL ctx, image or out, or a context whose creation failed;
 * VXA_ERR_DEVICE_MEMORY for a volume over the device's single-allocation limit (the slab path of
 * vxa_pipeline_run needs the host's volume: run those with vxa_pipeline_run_ex). */
VXA_API vxa_status vxa_resident_create(vxa_context *ctx, const vxa_volume *image, const vxa_volume *label,
                                       const vxa_resident_options *opt, vxa_resident **out);
/* Waits for an asynchronous upload, then releases the copy. NULL is fine. */
VXA_API void       vxa_resident_free(vxa_resident *r);
/* The header of the resident's image (or label map, label != 0; NULL without one): dims, channels, dtype,
 * affine, scaling and codes as given; data NULL. Valid until vxa_resident_free. NULL for a NULL r. */
VXA_API const vxa_volume *vxa_resident_volume(const vxa_resident *r, int label);

/* vxa_pipeline_run_ex on the resident's volumes: out_image (and out_label, the label map's result; NULL not to
 * read it back: the label map still runs, an op may read it as a mask) allocated, draw as there. VXA_ERR_INVALID_ARGUMENT for a NULL ctx, p, o,
 * r or out_image, a resident of another context, or out_label without a label map in the resident. */
VXA_API vxa_status vxa_pipeline_run_resident(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                             vxa_resident *r, vxa_volume **out_image, vxa_volume **out_label,
                                             vxa_draw **draw);
/* n samples o->sample .. o->sample + n - 1 of the resident into the caller's buffers, sample s at
 * out_image->data + s * stride[4] (as vxa_pipeline_run_batch_into: each equals vxa_pipeline_run_into's for the
 * same (seed, sample), bit for bit). out_label NULL: the label map's result not written. draws (may be NULL) receives n
 * records. o->cancel is checked before each sample; o->field_out only with n = 1. Statuses: those of
 * vxa_pipeline_run_batch_into and vxa_pipeline_run_resident. */
VXA_API vxa_status vxa_pipeline_run_resident_into(vxa_context *ctx, const vxa_pipeline *p,
                                                  const vxa_run_options *o, vxa_resident *r, size_t n,
                                                  const vxa_buffer *out_image, const vxa_buffer *out_label,
                                                  vxa_draw **draws);

/* ---- built-in data ----------------------------------------------------------------------------------------- */
/* A 3D Shepp-Logan head phantom of the given size (float32, 1 mm spacing) and its label map (uint8, one label
 * per ellipsoid region, 0 = background). Either out pointer may be NULL.
 * The ten ellipsoids of Kak & Slaney's 3D table with the "modified" intensities (1, -0.8, -0.2, -0.2, 0.1 x 6,
 * as phantominator's ct_shepp_logan_3d), sampled at voxel centres (2i + 1 - n)/n of [-1, 1] per axis; x runs
 * right, y anterior, z superior. A voxel's value is the sum over the ellipsoids that contain it (>= 0), its
 * label the index 1..10 of the last of them. The affine centres the grid on world 0 (sform/qform code 2).
 * The caller frees both with vxa_volume_free. VXA_ERR_INVALID_ARGUMENT for a NULL dim or a dim < 1. */
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
 * alpha 0.45. Errors: VXA_ERR_INVALID_ARGUMENT (a NULL path or image, bad window, label not integer or on another grid: both grids
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
