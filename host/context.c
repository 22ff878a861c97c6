/* SPDX-License-Identifier: MIT */
/* Device choice, context and queue, program build and cache, dispatch. */
#include "cl.h"
#include "backend.h"
#include "embedded.h"
#include "voxaug_cl.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Build options in one place: OpenCL C 1.2, no relaxed math, no float64 (and, where the device offers it,
 * correctly rounded float division and sqrt: get_program). */
#define VXA_CL_BASE_OPTIONS "-cl-std=CL1.2"

const char *vxa_cl_error_name(cl_int err)
{
    switch (err) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
    E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
    E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
    E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
    E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
    E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
    E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
    E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
    E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

vxa_status vxa_cl_fail(vxa_context *ctx, cl_int err, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    vxa_status st = VXA_ERR_DEVICE;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_INVALID_BUFFER_SIZE)
        st = VXA_ERR_DEVICE_MEMORY;
    else if (err == CL_BUILD_PROGRAM_FAILURE || err == CL_COMPILE_PROGRAM_FAILURE)
        st = VXA_ERR_BUILD;
    else if (err == CL_OUT_OF_HOST_MEMORY)
        st = VXA_ERR_OUT_OF_MEMORY;
    return vxa_fail(ctx, st, "%s: %s (%d) on '%s'", what, vxa_cl_error_name(err), (int)err,
                    ctx ? ctx->device_name : "?");
}

/* ---- device listing and choice ------------------------------------------------------------------------- */
typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    cl_device_type type;
    unsigned p, d;
    char name[256], pname[256];
} dev_entry;

/* PoCL's platform and device queries are not safe when two threads make them at once (seen: crashes in
 * clGetDeviceInfo(CL_DEVICE_NAME), and CL_SUCCESS with no platform). Every enumeration goes through this lock,
 * so contexts may be created from several threads. */
static pthread_mutex_t enumerate_lock = PTHREAD_MUTEX_INITIALIZER;

static int enumerate_locked(dev_entry *out, int max, cl_int *err_out);

static int enumerate(dev_entry *out, int max, cl_int *err_out)
{
    pthread_mutex_lock(&enumerate_lock);
    int n = enumerate_locked(out, max, err_out);
    pthread_mutex_unlock(&enumerate_lock);
    return n;
}

static int enumerate_locked(dev_entry *out, int max, cl_int *err_out)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(16, plats, &np);
    *err_out = err;
    if (err != CL_SUCCESS) return 0;
    int n = 0;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd && d < 16 && n < max; d++) {
            dev_entry *e = &out[n++];
            e->platform = plats[p];
            e->device = devs[d];
            e->p = p;
            e->d = d;
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof e->type, &e->type, NULL);
            if (clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof e->name, e->name, NULL) != CL_SUCCESS)
                snprintf(e->name, sizeof e->name, "?");
            if (clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof e->pname, e->pname, NULL) != CL_SUCCESS)
                snprintf(e->pname, sizeof e->pname, "?");
            e->name[sizeof e->name - 1] = e->pname[sizeof e->pname - 1] = '\0';
        }
    }
    return n;
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "gpu";
    if (t & CL_DEVICE_TYPE_CPU) return "cpu";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

vxa_status vxa_devices_list(char *buf, size_t len)
{
    if (!buf || len == 0) return VXA_ERR_INVALID_ARGUMENT; /* nothing written */
    dev_entry devs[64];
    cl_int err;
    int n = enumerate(devs, 64, &err);
    size_t used = 0;
    buf[0] = '\0';
    /* used keeps counting past len: the length the whole list needs */
#define APPEND(...) do { used += (size_t)snprintf(buf + (used < len ? used : len - 1), used < len ? len - used : 1, \
                                                   __VA_ARGS__); } while (0)
    APPEND("index  type  name  (platform)  compute units, global memory, max allocation\n");
    APPEND("ref    -     reference (C)  (no OpenCL)\n");
    if (n == 0)
        APPEND("no OpenCL device found (%s)\n", err == CL_SUCCESS ? "no devices" : vxa_cl_error_name(err));
    for (int i = 0; i < n; i++) {
        cl_uint cu = 0;
        cl_ulong gmem = 0, maxa = 0;
        char ver[128] = "";
        clGetDeviceInfo(devs[i].device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
        clGetDeviceInfo(devs[i].device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
        clGetDeviceInfo(devs[i].device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxa, &maxa, NULL);
        clGetDeviceInfo(devs[i].device, CL_DEVICE_VERSION, sizeof ver, ver, NULL);
        ver[sizeof ver - 1] = '\0';
        APPEND("%u:%u    %-4s  %s  (%s, %s)  %u CU, %.1f GiB, %.1f GiB\n", devs[i].p, devs[i].d,
               type_name(devs[i].type), devs[i].name, devs[i].pname, ver, cu, gmem / 1073741824.0,
               maxa / 1073741824.0);
    }
#undef APPEND
    return used < len ? VXA_OK : VXA_ERR_INVALID_ARGUMENT; /* truncated: buf holds what fits, NUL-terminated */
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return false;
}

/* Picks a device by spec: NULL/"" prefers a GPU, "gpu", "cpu", "N" (the N-th listed), "P:D", or a name. */
static vxa_status choose(vxa_context *ctx, const char *spec, dev_entry *chosen)
{
    dev_entry devs[64];
    cl_int err;
    int n = enumerate(devs, 64, &err);
    if (n == 0)
        return vxa_fail(ctx, VXA_ERR_NOT_FOUND, "device '%s': no OpenCL device found (clGetPlatformIDs: %s); "
                        "install an OpenCL driver (e.g. pocl-opencl-icd) or use device 'reference'",
                        spec && *spec ? spec : "default", vxa_cl_error_name(err));
    if (!spec || !*spec) {
        for (int i = 0; i < n; i++)
            if (devs[i].type & CL_DEVICE_TYPE_GPU) { *chosen = devs[i]; return VXA_OK; }
        *chosen = devs[0];
        return VXA_OK;
    }
    if (strcmp(spec, "gpu") == 0 || strcmp(spec, "cpu") == 0) {
        cl_device_type want = spec[0] == 'g' ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
        for (int i = 0; i < n; i++)
            if (devs[i].type & want) { *chosen = devs[i]; return VXA_OK; }
        return vxa_fail(ctx, VXA_ERR_NOT_FOUND, "device '%s' asked for: no OpenCL %s device found "
                        "(%d device(s) listed by `voxaug devices`)", spec, spec, n);
    }
    unsigned p, d;
    char tail;
    if (sscanf(spec, "%u:%u%c", &p, &d, &tail) == 2) {
        for (int i = 0; i < n; i++)
            if (devs[i].p == p && devs[i].d == d) { *chosen = devs[i]; return VXA_OK; }
        return vxa_fail(ctx, VXA_ERR_NOT_FOUND, "device '%s' asked for: no such platform:device", spec);
    }
    char *end;
    errno = 0;
    long idx = strtol(spec, &end, 10);
    if (*end == '\0' && end != spec) {
        if (idx < 0 || idx >= n)
            return vxa_fail(ctx, VXA_ERR_NOT_FOUND, "device index %ld asked for: %d device(s) exist", idx, n);
        *chosen = devs[idx];
        return VXA_OK;
    }
    for (int i = 0; i < n; i++)
        if (contains_ci(devs[i].name, spec) || contains_ci(devs[i].pname, spec)) { *chosen = devs[i]; return VXA_OK; }
    return vxa_fail(ctx, VXA_ERR_NOT_FOUND, "device '%s' asked for: no device name contains it", spec);
}

void vxa_context_options_init_size(vxa_context_options *opt, size_t size)
{
    if (!opt) return;
    memset(opt, 0, size < sizeof *opt ? size : sizeof *opt); /* every default is zero */
    opt->size = size;
}

static vxa_status setup_device(vxa_context *ctx, vxa_cl *cl)
{
    cl_int err;
    cl_device_type type = 0;
    cl_ulong maxa = 0;
    cl_uint align_bits = 0;
    if ((err = clGetDeviceInfo(cl->device, CL_DEVICE_TYPE, sizeof type, &type, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(cl->device, CL_DEVICE_NAME, sizeof ctx->device_name, ctx->device_name, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_wg, &cl->max_wg, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cl->compute_units, &cl->compute_units, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(cl->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxa, &maxa, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(cl->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL)) != CL_SUCCESS ||
        (err = clGetDeviceInfo(cl->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof cl->local_mem, &cl->local_mem, NULL)) != CL_SUCCESS)
        return vxa_cl_fail(ctx, err, "clGetDeviceInfo");
    ctx->device_name[sizeof ctx->device_name - 1] = '\0';
    cl->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    const char *forms = getenv("VOXAUG_GPU_FORMS");
    cl->chunked = cl->is_cpu && !(forms && strcmp(forms, "1") == 0);
    cl_device_fp_config fp = 0;   /* optional query: without it, divisions stay as the device rounds them */
    cl->exact_div = clGetDeviceInfo(cl->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS &&
                    (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT);
    const char *profile = getenv("VOXAUG_PROFILE");
    cl->profile = profile && strcmp(profile, "1") == 0;
    cl->mem_align = align_bits / 8 ? align_bits / 8 : 64;
    if (ctx->max_alloc == 0 || ctx->max_alloc > maxa) ctx->max_alloc = maxa;
    return VXA_OK;
}

vxa_status vxa_context_create(const vxa_context_options *caller_opt, vxa_context **out)
{
    vxa_context_options full, *opt = &full;
    if (!out) return VXA_ERR_INVALID_ARGUMENT;
    *out = NULL;
    vxa_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return VXA_ERR_OUT_OF_MEMORY;
    *out = ctx;
    if (!caller_opt) vxa_context_options_init(&full);
    else {
        vxa_status st = vxa_abi_import(ctx, NULL, 0, &full, sizeof full, caller_opt, VXA_CONTEXT_OPTIONS_SIZE_V1,
                                       "vxa_context_options");
        if (st != VXA_OK) return st;
    }
    ctx->log = opt->log;
    ctx->log_user = opt->log_user;
    ctx->log_level = opt->log_level;
    ctx->max_alloc = opt->max_alloc;
    const char *spec = opt->device ? opt->device : getenv("VOXAUG_DEVICE");
    if (spec && (strcmp(spec, "reference") == 0 || strcmp(spec, "ref") == 0)) {
        ctx->reference = true;
        ctx->backend = &vxa_backend_reference;
        snprintf(ctx->device_name, sizeof ctx->device_name, "reference (C)");
        if (ctx->max_alloc == 0) ctx->max_alloc = UINT64_MAX;
        ctx->ready = true;
        return VXA_OK;
    }
    vxa_cl *cl = calloc(1, sizeof *cl);
    if (!cl) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "allocating the OpenCL state");
    ctx->cl = cl;
    ctx->backend = &vxa_backend_opencl;
    cl->owns = true;
    const char *kdir = opt->kernel_dir ? opt->kernel_dir : getenv("VOXAUG_KERNEL_DIR");
    if (kdir) snprintf(cl->kernel_dir, sizeof cl->kernel_dir, "%s", kdir);

    dev_entry e;
    vxa_status st = choose(ctx, spec, &e);
    if (st != VXA_OK) return st;
    cl->platform = e.platform;
    cl->device = e.device;
    snprintf(ctx->device_name, sizeof ctx->device_name, "%s", e.name);
    cl_int err;
    cl_context_properties props[] = { CL_CONTEXT_PLATFORM, (cl_context_properties)e.platform, 0 };
    pthread_mutex_lock(&enumerate_lock);
    cl->context = clCreateContext(props, 1, &cl->device, NULL, NULL, &err);
    if (err == CL_SUCCESS) {
        cl->queue = clCreateCommandQueue(cl->context, cl->device, 0, &err);
        st = err == CL_SUCCESS ? setup_device(ctx, cl) : vxa_cl_fail(ctx, err, "clCreateCommandQueue");
    } else {
        st = vxa_cl_fail(ctx, err, "clCreateContext");
    }
    pthread_mutex_unlock(&enumerate_lock);
    if (st == VXA_OK) vxa_log(ctx, VXA_LOG_INFO, "device '%s' (%s)", ctx->device_name, spec ? spec : "default");
    ctx->ready = st == VXA_OK;
    return st;
}

vxa_status vxa_context_create_cl(cl_context context, cl_command_queue queue, vxa_context **out)
{
    if (!out) return VXA_ERR_INVALID_ARGUMENT;
    *out = NULL;
    vxa_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return VXA_ERR_OUT_OF_MEMORY;
    *out = ctx;
    vxa_cl *cl = calloc(1, sizeof *cl);
    if (!cl) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "allocating the OpenCL state");
    ctx->cl = cl;
    ctx->backend = &vxa_backend_opencl;
    if (!context || !queue) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_context_create_cl: NULL context or queue");
    cl->context = context;
    cl->queue = queue;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof cl->device, &cl->device, NULL);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clGetCommandQueueInfo(CL_QUEUE_DEVICE)");
    const char *kdir = getenv("VOXAUG_KERNEL_DIR");
    if (kdir) snprintf(cl->kernel_dir, sizeof cl->kernel_dir, "%s", kdir);
    const vxa_status st = setup_device(ctx, cl);
    ctx->ready = st == VXA_OK;
    return st;
}

void vxa_context_destroy(vxa_context *ctx)
{
    if (!ctx) return;
    vxa_resident_detach_all(ctx);
    vxa_pool_clear(ctx);
    vxa_cl *cl = ctx->cl;
    if (cl) {
        if (cl->queue) clFinish(cl->queue);
        if (cl->xfer) {
            clFinish(cl->xfer);
            clReleaseCommandQueue(cl->xfer);
        }
        vxa_progcache_store_all(ctx);
        for (int i = 0; i < cl->nkernels; i++) clReleaseKernel(cl->kernels[i].kernel);
        for (int i = 0; i < cl->nprograms; i++) {
            clReleaseProgram(cl->programs[i].program);
            free(cl->programs[i].cache_key);
        }
        if (cl->owns) {
            if (cl->queue) clReleaseCommandQueue(cl->queue);
            if (cl->context) clReleaseContext(cl->context);
        }
        free(cl);
    }
    free(ctx);
}

vxa_status vxa_context_finish(vxa_context *ctx)
{
    if (!ctx || !ctx->cl) return VXA_OK;
    cl_int err = clFinish(ctx->cl->queue);
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "clFinish");
}

cl_context vxa_context_cl_context(const vxa_context *ctx) { return ctx && ctx->cl ? ctx->cl->context : NULL; }
cl_command_queue vxa_context_cl_queue(const vxa_context *ctx) { return ctx && ctx->cl ? ctx->cl->queue : NULL; }

void vxa_context_trim(vxa_context *ctx) { vxa_pool_clear(ctx); }

const char *vxa_context_device_name(const vxa_context *ctx) { return ctx ? ctx->device_name : ""; }
int vxa_context_is_reference(const vxa_context *ctx) { return ctx && ctx->reference; }

/* ---- programs ---------------------------------------------------------------------------------------- */
/* Source of one file: from kernel_dir if set, else embedded. Caller frees. */
static char *load_source(vxa_context *ctx, const char *file, const char *subdir)
{
    vxa_cl *cl = ctx->cl;
    if (cl->kernel_dir[0]) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s%s", cl->kernel_dir, subdir, file);
        FILE *f = fopen(path, "rb");
        if (!f && *subdir) { /* shared headers live beside the kernels when loading from disk */
            snprintf(path, sizeof path, "%s/%s", cl->kernel_dir, file);
            f = fopen(path, "rb");
        }
        if (!f) {
            vxa_fail(ctx, VXA_ERR_IO, "%s: cannot open kernel source (VOXAUG_KERNEL_DIR=%s): %s", path,
                     cl->kernel_dir, strerror(errno));
            return NULL;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *text = n >= 0 ? malloc((size_t)n + 64 + strlen(file)) : NULL;
        size_t head = text ? (size_t)sprintf(text, "#line 1 \"%s\"\n", file) : 0;
        if (!text || fread(text + head, 1, (size_t)n, f) != (size_t)n) {
            free(text);
            fclose(f);
            vxa_fail(ctx, VXA_ERR_IO, "%s: cannot read kernel source", path);
            return NULL;
        }
        text[head + (size_t)n] = '\0';
        fclose(f);
        return text;
    }
    for (const vxa_embedded_file *e = vxa_embedded_files; e->name; e++)
        if (strcmp(e->name, file) == 0) {
            char *text = malloc(*e->len + 1);
            if (!text) {
                vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "kernel source copy");
                return NULL;
            }
            memcpy(text, e->text, *e->len + 1);
            return text;
        }
    vxa_fail(ctx, VXA_ERR_BUILD, "kernels/%s: no such kernel source embedded", file);
    return NULL;
}

/* A program's text as it is put together: the source, its length and room. */
typedef struct {
    char *text;
    size_t len, cap;
    char seen[32][64];           /* the headers already in, each included once */
    int nseen;
} source_buf;

static bool source_add(vxa_context *ctx, source_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 65536) + n;
        char *t = realloc(b->text, cap);
        if (!t) {
            vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "kernel source");
            return false;
        }
        b->text = t;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
    return true;
}

/* file's text into b with each line `#include "name"` replaced by name's text (resolved the same way, each
 * header once), as the C preprocessor would include it; `#line` keeps build logs on the files' own lines.
 * Headers are the .h files of kernels/ and src/shared/ (embedded by name, or from kernel_dir). */
static bool source_resolve(vxa_context *ctx, source_buf *b, const char *file, int depth)
{
    const char *sub = strcmp(file, "philox.h") == 0 ? "../src/shared/" : "";
    char *text = load_source(ctx, file, sub);
    if (!text) return false;
    bool ok = true;
    int line = 1;
    char mark[160];
    if (depth > 0) {   /* the embedded .cl files start with their own #line */
        snprintf(mark, sizeof mark, "#line 1 \"kernels/%s\"\n", file);
        ok = source_add(ctx, b, mark, strlen(mark));
    }
    for (const char *p = text; ok && *p; line++) {
        const char *end = strchr(p, '\n');
        const size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
        char name[64];
        const char *q = p;
        while (*q == ' ' || *q == '\t') q++;
        if (sscanf(q, "#include \"%63[^\"]\"", name) == 1) {
            bool seen = false;
            for (int i = 0; i < b->nseen; i++) seen = seen || strcmp(b->seen[i], name) == 0;
            if (!seen && (depth >= 8 || b->nseen == 32)) {
                vxa_fail(ctx, VXA_ERR_BUILD, "kernels/%s, line %d: #include \"%s\": more than 32 headers or 8 "
                         "levels", file, line, name);
                ok = false;
            } else if (!seen) {   /* load_source names a header it cannot find */
                snprintf(b->seen[b->nseen++], sizeof b->seen[0], "%s", name);
                ok = source_resolve(ctx, b, name, depth + 1);
                snprintf(mark, sizeof mark, "#line %d \"kernels/%s\"\n", line + 1, file);
                ok = ok && source_add(ctx, b, mark, strlen(mark));
            }
        } else {
            ok = source_add(ctx, b, p, n);
        }
        p += n;
    }
    free(text);
    return ok && source_add(ctx, b, "\n", 1);
}

/* The program of kernels/<family>.cl with the headers it includes. */
static char *program_source(vxa_context *ctx, const char *family)
{
    char file[128];
    snprintf(file, sizeof file, "%s.cl", family);
    source_buf b = { 0 };
    if (!source_resolve(ctx, &b, file, 0)) {
        free(b.text);
        return NULL;
    }
    return b.text;
}

/* ---- one kernel a program ----------------------------------------------------------------------------
 * Each program holds the one kernel it is built for. PoCL's front end compiles every kernel of a program when it
 * builds it, and PoCL compiles every kernel to machine code when asked for the program's binary (the program
 * cache's store), so a run that uses one of resample.cl's 24 kernels would pay for the other 23 (bench/RESULTS.md,
 * "The very first sample"). The other kernels' definitions are blanked out of the resolved source
 * (newlines kept, so that build logs keep their lines); what they call stays, and a kernel's output is the same
 * whichever program it comes from: its own text, headers and options are (VOXAUG_WHOLE_PROGRAMS=1 builds each
 * file whole, as before, for comparison: tests/test_programs.c). A kernel must be written out as
 * `__kernel <type> <name>(...) { ... }` at file scope (one a macro made would not be found: VXA_ERR_BUILD). */

/* Walks a source's tokens past comments, string and character literals, numbers and preprocessor lines. */
typedef struct {
    const char *s;
    size_t i;
    bool line_start;             /* nothing but blanks and comments since the last newline: a '#' starts a directive */
} token_scan;

/* The next token: an identifier, or one character of punctuation; false at the end. */
static bool scan_token(token_scan *sc, size_t *at, size_t *len)
{
    const char *s = sc->s;
    while (s[sc->i]) {
        const size_t i = sc->i;
        const char c = s[i];
        if (c == '\n') {
            sc->line_start = true;
            sc->i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            sc->i++;
        } else if (c == '/' && s[i + 1] == '/') {
            while (s[sc->i] && s[sc->i] != '\n') sc->i++;
        } else if (c == '/' && s[i + 1] == '*') {
            const char *end = strstr(s + i + 2, "*/");
            sc->i = end ? (size_t)(end - s) + 2 : i + strlen(s + i);
        } else if (c == '#' && sc->line_start) {   /* a directive, continued lines and all */
            while (s[sc->i] && s[sc->i] != '\n') sc->i += s[sc->i] == '\\' && s[sc->i + 1] ? 2 : 1;
        } else if (c == '"' || c == '\'') {
            sc->i++;
            while (s[sc->i] && s[sc->i] != c && s[sc->i] != '\n') sc->i += s[sc->i] == '\\' && s[sc->i + 1] ? 2 : 1;
            if (s[sc->i] == c) sc->i++;
            sc->line_start = false;
        } else if (isdigit((unsigned char)c)) {
            while (isalnum((unsigned char)s[sc->i]) || s[sc->i] == '_' || s[sc->i] == '.') sc->i++;
            sc->line_start = false;
        } else {
            sc->line_start = false;
            *at = i;
            if (isalpha((unsigned char)c) || c == '_')
                while (isalnum((unsigned char)s[sc->i]) || s[sc->i] == '_') sc->i++;
            else
                sc->i++;
            *len = sc->i - i;
            return true;
        }
    }
    return false;
}

static bool token_is(const char *s, size_t at, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s + at, word, len) == 0;
}

/* A kernel's definition in a source: its text [start, end) and its name [name, name + name_len). */
typedef struct {
    size_t start, end, name, name_len;
} kernel_def;

/* The next kernel definition of the source from sc on, false at its end. A kernel runs from its `__kernel` (or
 * `kernel`) at file scope to the brace that closes its body; its name is the identifier before its parameter
 * list (`__attribute__((...))` groups skipped). Declarations are passed over. */
static bool next_kernel(token_scan *sc, kernel_def *k)
{
    const char *src = sc->s;
    size_t at, len;
    int depth = 0;
    while (scan_token(sc, &at, &len)) {
        if (len == 1 && src[at] == '{') depth++;
        else if (len == 1 && src[at] == '}') depth--;
        if (depth != 0 || !(token_is(src, at, len, "__kernel") || token_is(src, at, len, "kernel"))) continue;
        size_t word = 0, word_len = 0;
        int paren = 0;
        *k = (kernel_def){ at, 0, 0, 0 };
        while (!k->end && scan_token(sc, &at, &len)) {
            const char c = src[at];
            if (len == 1 && c == '(') {
                if (paren++ == 0 && !k->name_len && word_len && !token_is(src, word, word_len, "__attribute__")) {
                    k->name = word;
                    k->name_len = word_len;
                }
            } else if (len == 1 && c == ')') {
                paren--;
            } else if (paren == 0 && len == 1 && c == ';') {
                break;   /* a declaration */
            } else if (paren == 0 && len == 1 && c == '{') {
                int body = 1;
                while (body > 0 && scan_token(sc, &at, &len))
                    if (len == 1) body += src[at] == '{' ? 1 : src[at] == '}' ? -1 : 0;
                k->end = body == 0 ? at + 1 : sc->i;
            } else if (paren == 0 && (isalpha((unsigned char)c) || c == '_')) {
                word = at;
                word_len = len;
            }
        }
        if (k->end && k->name_len) return true;
    }
    return false;
}

/* Blanks out of src (newlines kept) the definition of every kernel but `name`; returns whether `name` is defined
 * in it. */
static bool keep_one_kernel(char *src, const char *name)
{
    token_scan sc = { src, 0, true };
    kernel_def k;
    bool found = false;
    while (next_kernel(&sc, &k)) {
        if (token_is(src, k.name, k.name_len, name)) found = true;
        else
            for (size_t i = k.start; i < k.end; i++)
                if (src[i] != '\n') src[i] = ' ';
    }
    return found;
}

/* A built program into the context's list, with its cache key (for the store at the context's end). */
static vxa_status keep_program(vxa_context *ctx, const char *key, cl_program prog, char *cache_key, bool loaded,
                               cl_program *out)
{
    vxa_cl *cl = ctx->cl;
    const int i = cl->nprograms++;
    snprintf(cl->programs[i].key, sizeof cl->programs[0].key, "%s", key);
    cl->programs[i].program = prog;
    cl->programs[i].cache_key = cache_key;
    cl->programs[i].cached = loaded;   /* built from source: stored when the context ends */
    *out = prog;
    return VXA_OK;
}

/* The program of kernel `name` of kernels/<family>.cl built with `options`: the context's, the cache's, or built. */
static vxa_status get_program(vxa_context *ctx, const char *family, const char *options, const char *name,
                              cl_program *out)
{
    vxa_cl *cl = ctx->cl;
    const char *whole = getenv("VOXAUG_WHOLE_PROGRAMS");   /* 1: every kernel of the file in one program */
    if (whole && strcmp(whole, "1") == 0) name = "*";
    char key[sizeof cl->programs[0].key];
    snprintf(key, sizeof key, "%s|%s|%s", family, options, name);
    for (int i = 0; i < cl->nprograms; i++)
        if (strcmp(cl->programs[i].key, key) == 0) { *out = cl->programs[i].program; return VXA_OK; }
    if (cl->nprograms == VXA_MAX_PROGRAMS)
        return vxa_fail(ctx, VXA_ERR_DEVICE, "program cache full (%d programs)", VXA_MAX_PROGRAMS);
    char *src = program_source(ctx, family);
    if (!src) return VXA_ERR_BUILD; /* load_source wrote the detail */
    if (strcmp(name, "*") != 0 && !keep_one_kernel(src, name)) {
        free(src);
        return vxa_fail(ctx, VXA_ERR_BUILD, "kernels/%s.cl defines no kernel '%s' (as `__kernel void %s(...) {...}` "
                        "at file scope)", family, name, name);
    }
    char opts[512];
    snprintf(opts, sizeof opts, VXA_CL_BASE_OPTIONS "%s %s",
             cl->exact_div ? " -cl-fp32-correctly-rounded-divide-sqrt" : "", options);
    char *cache_key = NULL;
    cl_program prog = vxa_progcache_load(ctx, family, name, src, opts, &cache_key);
    if (prog) {
        free(src);
        return keep_program(ctx, key, prog, cache_key, true, out);
    }
    cl_int err;
    const char *text = src;
    prog = clCreateProgramWithSource(cl->context, 1, &text, NULL, &err);
    free(src);
    if (err != CL_SUCCESS) {
        free(cache_key);
        return vxa_cl_fail(ctx, err, "clCreateProgramWithSource(%s.cl, %s)", family, name);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err = clBuildProgram(prog, 1, &cl->device, opts, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    vxa_log(ctx, VXA_LOG_INFO, "built %s.cl (%s) with %s in %.0f ms", family, name, opts,
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6);
    if (err != CL_SUCCESS) {
        size_t loglen = 0;
        clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
        char *log = malloc(loglen + 1);
        if (log) {
            clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG, loglen, log, NULL);
            log[loglen] = '\0';
        }
        vxa_status st = vxa_fail(ctx, VXA_ERR_BUILD, "%s.cl (%s): build failed on '%s' with %s: %s (%d)\n%s",
                                 family, name, ctx->device_name, opts, vxa_cl_error_name(err), (int)err,
                                 log ? log : "");
        free(log);
        free(cache_key);
        clReleaseProgram(prog);
        return st;
    }
    return keep_program(ctx, key, prog, cache_key, false, out);
}

vxa_status vxa_cl_kernel(vxa_context *ctx, const char *family, const char *options, const char *name,
                         cl_kernel *out)
{
    vxa_cl *cl = ctx->cl;
    char key[320];
    snprintf(key, sizeof key, "%s|%s|%s", family, options, name);
    for (int i = 0; i < cl->nkernels; i++)
        if (strcmp(cl->kernels[i].key, key) == 0) { *out = cl->kernels[i].kernel; return VXA_OK; }
    if (cl->nkernels == VXA_MAX_KERNELS)
        return vxa_fail(ctx, VXA_ERR_DEVICE, "kernel cache full (%d kernels)", VXA_MAX_KERNELS);
    cl_program prog = NULL;
    vxa_status st = get_program(ctx, family, options, name, &prog);
    if (st != VXA_OK) return st;
    cl_int err;
    cl_kernel k = clCreateKernel(prog, name, &err);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clCreateKernel(%s in %s.cl)", name, family);
    snprintf(cl->kernels[cl->nkernels].key, sizeof cl->kernels[0].key, "%s", key);
    cl->kernels[cl->nkernels++].kernel = k;
    *out = k;
    return VXA_OK;
}

void vxa_cl_build_siblings(vxa_context *ctx)
{
    vxa_cl *cl = ctx->cl;
    const int n = cl->nprograms;
    for (int i = 0; i < n; i++) {
        const char *key = cl->programs[i].key, *bar = strchr(key, '|'), *last = strrchr(key, '|');
        if (!bar || bar == last || strcmp(last + 1, "*") == 0) continue;   /* whole files hold every kernel */
        bool met = false;   /* this file with these options: its kernels built already */
        for (int j = 0; j < i && !met; j++) met = strncmp(cl->programs[j].key, key, (size_t)(last - key) + 1) == 0;
        if (met) continue;
        char family[64], options[256];
        snprintf(family, sizeof family, "%.*s", (int)(bar - key), key);
        snprintf(options, sizeof options, "%.*s", (int)(last - bar - 1), bar + 1);
        char *src = program_source(ctx, family);
        if (!src) continue;
        token_scan sc = { src, 0, true };
        kernel_def k;
        while (next_kernel(&sc, &k) && cl->nprograms < VXA_MAX_PROGRAMS) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)k.name_len, src + k.name);
            const int before = cl->nprograms;
            cl_program prog;
            cl_int err;
            if (get_program(ctx, family, options, name, &prog) != VXA_OK || cl->nprograms == before) continue;
            cl_kernel kernel = clCreateKernel(prog, name, &err);
            if (kernel) clReleaseKernel(kernel);
            if (err == CL_INVALID_KERNEL_NAME) {   /* in a branch that these options leave out (#if): not kept */
                cl->nprograms--;
                clReleaseProgram(prog);
                free(cl->programs[cl->nprograms].cache_key);
            }
        }
        free(src);
    }
}

vxa_status vxa_cl_set_args(vxa_context *ctx, cl_kernel k, const char *name, const vxa_cl_arg *args, size_t n)
{
    for (cl_uint i = 0; i < n; i++) {
        cl_int err = clSetKernelArg(k, i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clSetKernelArg(%s, %u)", name, i);
    }
    return VXA_OK;
}

/* Work-group shape: along i first (coalesced on GPUs); on CPUs PoCL vectorises along dim 0 too. */
static void choose_local(const vxa_cl *cl, cl_uint dims, const size_t g[3], size_t local[3])
{
    size_t budget = cl->max_wg < 256 ? cl->max_wg : 256;
    if (cl->is_cpu && budget > 64) budget = 64;
    local[0] = local[1] = local[2] = 1;
    size_t l0 = 1;
    while (l0 * 2 <= budget && l0 * 2 <= (g[0] < 64 ? 64 : g[0]) && l0 < 64) l0 *= 2;
    local[0] = l0;
    if (dims > 1) {
        size_t l1 = 1;
        while (local[0] * l1 * 2 <= budget && l1 * 2 <= g[1]) l1 *= 2;
        local[1] = l1;
    }
}

vxa_status vxa_cl_launch(vxa_context *ctx, cl_kernel k, const char *name, cl_uint dims, const size_t g[3])
{
    vxa_cl *cl = ctx->cl;
    size_t local[3], global[3];
    size_t gg[3] = { g[0], dims > 1 ? g[1] : 1, dims > 2 ? g[2] : 1 };
    for (cl_uint a = 0; a < dims; a++)
        if (gg[a] == 0) return VXA_OK; /* nothing to do */
    choose_local(cl, dims, gg, local);
    size_t kwg = 0;
    if (clGetKernelWorkGroupInfo(k, cl->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL) == CL_SUCCESS) {
        while (local[0] * local[1] * local[2] > kwg && local[1] > 1) local[1] /= 2;
        while (local[0] * local[1] * local[2] > kwg && local[0] > 1) local[0] /= 2;
    }
    for (cl_uint a = 0; a < dims; a++) global[a] = (gg[a] + local[a] - 1) / local[a] * local[a];
    return vxa_cl_enqueue(ctx, k, name, dims, global, local);
}

vxa_status vxa_cl_enqueue(vxa_context *ctx, cl_kernel k, const char *name, cl_uint dims, const size_t *global,
                          const size_t *local)
{
    vxa_cl *cl = ctx->cl;
    struct timespec t0, t1;
    if (cl->profile) {
        clFinish(cl->queue);
        clock_gettime(CLOCK_MONOTONIC, &t0);
    }
    cl_int err = clEnqueueNDRangeKernel(cl->queue, k, dims, NULL, global, local, 0, NULL, NULL);
    if (err == CL_SUCCESS && cl->profile && (err = clFinish(cl->queue)) == CL_SUCCESS) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr, "voxaug profile: %-28s %6zux%5zux%5zu local %zux%zux%zu %9.3f ms\n", name, global[0],
                dims > 1 ? global[1] : 1, dims > 2 ? global[2] : 1, local[0], dims > 1 ? local[1] : 1,
                dims > 2 ? local[2] : 1,
                1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    if (err != CL_SUCCESS)
        return vxa_cl_fail(ctx, err, "clEnqueueNDRangeKernel(%s, %zux%zux%zu)", name, global[0],
                           dims > 1 ? global[1] : 1, dims > 2 ? global[2] : 1);
    vxa_count_launch(ctx, name);
    return VXA_OK;
}

vxa_status vxa_cl_buffer(vxa_context *ctx, cl_mem_flags flags, size_t bytes, void *host, cl_mem *out,
                         const char *what)
{
    *out = NULL;
    if (bytes == 0) bytes = 4; /* zero-size buffers are invalid; allocate a token */
    if (bytes > ctx->max_alloc)
        return vxa_fail(ctx, VXA_ERR_DEVICE_MEMORY, "%s: %zu bytes exceed the device's single-allocation limit "
                        "of %llu bytes on '%s'", what, bytes, (unsigned long long)ctx->max_alloc, ctx->device_name);
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->cl->context, flags, bytes, host, &err);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clCreateBuffer: %zu bytes for %s", bytes, what);
    *out = m;
    return VXA_OK;
}
