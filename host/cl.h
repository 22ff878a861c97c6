/* SPDX-License-Identifier: MIT */
/* The OpenCL side: device, queue, program cache, dispatch. Only host/ includes this. */
#ifndef VXA_HOST_CL_H
#define VXA_HOST_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include "internal.h"

#define VXA_MAX_PROGRAMS 256         /* one kernel each (host/context.c, keep_one_kernel) */
#define VXA_MAX_KERNELS 256

struct vxa_cl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_command_queue xfer;       /* transfers of batches (vxa_pipeline_run_batch), made on first use; ours */
    bool owns;                   /* false when wrapping a caller's context and queue */
    bool is_cpu;                 /* CL_DEVICE_TYPE_CPU: zero-copy host buffers */
    bool chunked;                /* CPU forms of the copy, elementwise, reduction, smoothing and elastic-noise
                                  * kernels: one work-item per contiguous chunk or row, or four Philox blocks
                                  * (is_cpu, unless VOXAUG_GPU_FORMS=1 asks for the GPU forms, which tests use to
                                  * check those on PoCL) */
    bool profile;                /* VOXAUG_PROFILE=1: each launch waited for and its time printed on stderr */
    bool exact_div;              /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT: programs built with
                                  * -cl-fp32-correctly-rounded-divide-sqrt (OpenCL allows 2.5 ulp for a float
                                  * division and 3 for sqrt otherwise, so devices could round them apart) */
    size_t max_wg;               /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_uint compute_units;
    size_t mem_align;            /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    cl_ulong local_mem;
    char kernel_dir[1024];       /* "" = embedded sources */
    struct {
        char key[320];           /* family|options|kernel */
        cl_program program;
        char *cache_key;         /* its key in the program cache (host/progcache.c), NULL when off */
        bool cached;             /* loaded from there, or stored: nothing to store at the context's end */
    } programs[VXA_MAX_PROGRAMS];
    int nprograms;
    struct { char key[320]; cl_kernel kernel; } kernels[VXA_MAX_KERNELS];
    int nkernels;
};

/* Writes "<what>: <CL error name> (<code>)" into the context's error and returns the matching status:
 * allocation failures -> VXA_ERR_DEVICE_MEMORY, build failures -> VXA_ERR_BUILD, the rest VXA_ERR_DEVICE. */
vxa_status vxa_cl_fail(vxa_context *ctx, cl_int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *vxa_cl_error_name(cl_int err);

/* The kernel `name` of program `family` (kernels/<family>.cl) built with `options` (extra -D flags, may be
 * ""), built on first use and cached per context. Build failures return VXA_ERR_BUILD with the log. */
vxa_status vxa_cl_kernel(vxa_context *ctx, const char *family, const char *options, const char *name,
                         cl_kernel *out);

/* For each kernel file this context has built a program of: every other kernel the file defines, built with the
 * same options (VOXAUG_CACHE=warmup, `voxaug warmup`, at the context's end: the cache then also serves the paths
 * its runs did not take, as whole files did; a kernel that those options leave out of the file is dropped). */
void vxa_cl_build_siblings(vxa_context *ctx);

/* A kernel argument: its size and where its value is (NULL with a size: local memory of that many bytes). */
typedef struct vxa_cl_arg {
    size_t size;
    const void *ptr;
} vxa_cl_arg;
#define VXA_ARG(x) { sizeof(x), &(x) }

/* Sets arguments 0 .. n - 1 of kernel `name` to args[0 .. n - 1]. */
vxa_status vxa_cl_set_args(vxa_context *ctx, cl_kernel k, const char *name, const vxa_cl_arg *args, size_t n);
/* vxa_cl_set_args of the listed arguments (VXA_ARG(x) or { size, pointer }), all of them. */
#define vxa_cl_args(ctx, k, name, ...) \
    vxa_cl_set_args((ctx), (k), (name), (const vxa_cl_arg[]){ __VA_ARGS__ }, \
                    sizeof((const vxa_cl_arg[]){ __VA_ARGS__ }) / sizeof(vxa_cl_arg))

/* Enqueues k over global size g[0..dims-1] (rounded up to the work-group chosen for this device; the kernel
 * must bound-check) and counts the launch under `name`. */
vxa_status vxa_cl_launch(vxa_context *ctx, cl_kernel k, const char *name, cl_uint dims, const size_t g[3]);

/* Enqueues k with exact global and local sizes (dims of each), counts the launch under `name`, and under
 * VOXAUG_PROFILE=1 waits for it and prints its time. vxa_cl_launch ends here. */
vxa_status vxa_cl_enqueue(vxa_context *ctx, cl_kernel k, const char *name, cl_uint dims, const size_t *global,
                          const size_t *local);

/* The context's transfer queue (cl->xfer), made on first use. */
vxa_status vxa_cl_transfer_queue(vxa_context *ctx, cl_command_queue *out);
/* Whether transfers take the transfer queue, overlapped with compute: a device that is not a CPU (there
 * buffers wrap host memory), or VOXAUG_BATCH_OVERLAP=1 (the tests run that path on PoCL). */
bool vxa_cl_overlaps(const vxa_context *ctx);

/* The program cache on disk (host/progcache.c). load: the program of `kernel` (of kernels/<family>.cl) of
 * `source` built with `options` from its
 * cache entry, or NULL (a miss, the cache off, or an entry rejected: then removed); *key receives the entry's
 * key (malloc'd, NULL when the cache is off) for the store. store_all: at the context's end, the binaries of the
 * programs built from source (not during a run: asking a driver for a binary can cost more than the build),
 * each atomically; on CPU devices only when VOXAUG_CACHE=always or warmup (`voxaug warmup` sets the latter):
 * PoCL compiles the program's kernel to give its binary, and keeps its own cache of what it built. */
cl_program vxa_progcache_load(vxa_context *ctx, const char *family, const char *kernel, const char *source,
                              const char *options, char **key);
void vxa_progcache_store_all(vxa_context *ctx);

/* A buffer of `bytes`. */
vxa_status vxa_cl_buffer(vxa_context *ctx, cl_mem_flags flags, size_t bytes, void *host, cl_mem *out,
                         const char *what);

#endif
