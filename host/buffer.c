/* SPDX-License-Identifier: MIT */
/* Device volumes. On CPU devices buffers wrap host memory (CL_MEM_USE_HOST_PTR): PoCL's copies of a volume
 * take longer than the kernels (bench/RESULTS.md). On GPUs they are device buffers. */
#include "cl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void dvol_header(vxa_dvol *d, const int64_t dim[3], int64_t channels, vxa_dtype dtype)
{
    memset(d, 0, sizeof *d);
    for (int a = 0; a < 3; a++) d->dim[a] = dim[a];
    d->channels = channels;
    d->dtype = dtype;
}

static vxa_status check_size(vxa_context *ctx, const vxa_dvol *d, const char *what)
{
    if (vxa_dtype_size(d->dtype) == 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: unknown data type %d", what, (int)d->dtype);
    if (vxa_dvol_bytes(d) == 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: dims %lldx%lldx%lld x %lld channels are empty or "
                        "overflow", what, (long long)d->dim[0], (long long)d->dim[1], (long long)d->dim[2],
                        (long long)d->channels);
    return VXA_OK;
}

vxa_status vxa_dvol_from_volume(vxa_context *ctx, const vxa_volume *v, vxa_dvol *out)
{
    dvol_header(out, v->dim, v->channels, v->dtype);
    float slope = (float)v->scl_slope;
    if (v->scl_slope != 0.0 && isfinite(v->scl_slope) && isfinite(v->scl_inter)) {
        out->slope = slope;
        out->inter = (float)v->scl_inter;
    }
    vxa_status st = check_size(ctx, out, "input volume");
    if (st != VXA_OK) return st;
    if (!v->data) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "input volume: data is NULL");
    out->host = v->data;
    if (ctx->reference) return VXA_OK;
    size_t bytes = vxa_dvol_bytes(out);
    cl_mem m;
    if (ctx->cl->is_cpu)
        st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, v->data, &m, "input volume");
    else
        st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, v->data, &m, "input volume");
    if (st != VXA_OK) return st;
    out->mem = m;
    if (!ctx->cl->is_cpu) out->host = NULL;
    return VXA_OK;
}

/* Frees one volume's buffers: the cl_mem first (it may wrap the host memory), after queued work on CPU devices,
 * where kernels may still be using the host memory. */
static void free_buffers(vxa_context *ctx, void *host, void *mem, bool owns_host)
{
    if (mem && owns_host && ctx && ctx->cl) clFinish(ctx->cl->queue);
    if (mem) clReleaseMemObject((cl_mem)mem);
    if (owns_host) free(host);
}

/* Takes a pooled buffer of exactly `bytes` into out, the most recently released first. */
static bool pool_take(vxa_context *ctx, size_t bytes, vxa_dvol *out)
{
    for (int i = ctx->npool - 1; i >= 0; i--) {
        if (ctx->pool[i].bytes != bytes) continue;
        out->host = ctx->pool[i].host;
        out->mem = ctx->pool[i].mem;
        out->owns_host = out->host != NULL;
        out->pool_bytes = bytes;
        memmove(&ctx->pool[i], &ctx->pool[i + 1], (size_t)(ctx->npool - 1 - i) * sizeof ctx->pool[0]);
        ctx->npool--;
        return true;
    }
    return false;
}

void vxa_pool_clear(vxa_context *ctx)
{
    if (!ctx) return;
    for (int i = 0; i < ctx->npool; i++) free_buffers(ctx, ctx->pool[i].host, ctx->pool[i].mem, ctx->pool[i].host);
    ctx->npool = 0;
    free(ctx->stage);
    ctx->stage = NULL;
    ctx->stage_bytes = 0;
}

vxa_status vxa_dvol_alloc(vxa_context *ctx, const int64_t dim[3], int64_t channels, vxa_dtype dtype,
                          vxa_dvol *out)
{
    dvol_header(out, dim, channels, dtype);
    vxa_status st = check_size(ctx, out, "device volume");
    if (st != VXA_OK) return st;
    size_t bytes = vxa_dvol_bytes(out);
    if (pool_take(ctx, bytes, out)) return VXA_OK;
    out->pool_bytes = bytes;
    if (ctx->reference || ctx->cl->is_cpu) {
        void *p = vxa_host_alloc((bytes + 127) & ~(size_t)127, 128);
        if (!p) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "device volume: %zu bytes of host memory", bytes);
        out->host = p;
        out->owns_host = true;
        if (ctx->reference) return VXA_OK;
    }
    cl_mem m;
    st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | (out->host ? CL_MEM_USE_HOST_PTR : 0), bytes, out->host, &m,
                       "device volume");
    if (st != VXA_OK) {
        vxa_dvol_release(ctx, out);
        return st;
    }
    out->mem = m;
    return VXA_OK;
}

vxa_status vxa_dvol_read(vxa_context *ctx, const vxa_dvol *d, void *dst)
{
    size_t bytes = vxa_dvol_bytes(d);
    if (ctx->reference) {
        if (dst != d->host) memcpy(dst, d->host, bytes);
        return VXA_OK;
    }
    cl_int err;
    if (d->host) { /* zero-copy: a map makes the device's writes visible in host memory */
        void *p = clEnqueueMapBuffer(ctx->cl->queue, (cl_mem)d->mem, CL_TRUE, CL_MAP_READ, 0, bytes, 0, NULL,
                                     NULL, &err);
        if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueMapBuffer: %zu bytes for reading", bytes);
        if (dst != p) memcpy(dst, p, bytes);
        err = clEnqueueUnmapMemObject(ctx->cl->queue, (cl_mem)d->mem, p, 0, NULL, NULL);
        if (err == CL_SUCCESS) err = clFinish(ctx->cl->queue);
        if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueUnmapMemObject");
        return VXA_OK;
    }
    err = clEnqueueReadBuffer(ctx->cl->queue, (cl_mem)d->mem, CL_TRUE, 0, bytes, dst, 0, NULL, NULL);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: %zu bytes", bytes);
    return VXA_OK;
}

vxa_status vxa_dvol_write(vxa_context *ctx, vxa_dvol *d, const void *src)
{
    size_t bytes = vxa_dvol_bytes(d);
    if (ctx->reference) {
        if (src != d->host) memcpy(d->host, src, bytes);
        return VXA_OK;
    }
    cl_int err = clEnqueueWriteBuffer(ctx->cl->queue, (cl_mem)d->mem, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueWriteBuffer: %zu bytes", bytes);
    return VXA_OK;
}

void vxa_dvol_release(vxa_context *ctx, vxa_dvol *d)
{
    if (!d) return;
    const size_t bytes = d->pool_bytes;
    if (ctx && bytes >= VXA_POOL_MIN_BYTES && (d->host || d->mem)) {
        /* Kept for the next allocation of this size. The queue is in order, so later kernels that write the
         * buffer run after those still reading it; host-side writes wait for the queue as a release did. */
        if (d->mem && d->owns_host && ctx->cl) clFinish(ctx->cl->queue);
        if (ctx->npool == VXA_POOL_SLOTS) { /* full: the oldest goes */
            free_buffers(ctx, ctx->pool[0].host, ctx->pool[0].mem, ctx->pool[0].host);
            memmove(&ctx->pool[0], &ctx->pool[1], (VXA_POOL_SLOTS - 1) * sizeof ctx->pool[0]);
            ctx->npool--;
        }
        ctx->pool[ctx->npool].bytes = bytes;
        ctx->pool[ctx->npool].host = d->owns_host ? d->host : NULL;
        ctx->pool[ctx->npool].mem = d->mem;
        ctx->npool++;
    } else {
        free_buffers(ctx, d->host, d->mem, d->owns_host);
    }
    memset(d, 0, sizeof *d);
}
