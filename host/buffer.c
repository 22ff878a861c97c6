/* SPDX-License-Identifier: MIT */
/* Device volumes' memory on OpenCL (the backend table's memory entries; the pool and the checks are
 * src/backend.c's). On CPU devices buffers wrap host memory (CL_MEM_USE_HOST_PTR): PoCL's copies of a volume
 * take longer than the kernels (bench/RESULTS.md). On GPUs they are device buffers. */
#include "cl_backend.h"

#include <stdlib.h>
#include <string.h>

vxa_status vxa_cl_wrap(vxa_context *ctx, vxa_dvol *d)
{
    const size_t bytes = vxa_dvol_bytes(d);
    cl_mem m;
    vxa_status st;
    if (ctx->cl->is_cpu)
        st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, d->host, &m, "input volume");
    else
        st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, d->host, &m, "input volume");
    if (st != VXA_OK) return st;
    d->mem = m;
    if (!ctx->cl->is_cpu) d->host = NULL;
    return VXA_OK;
}

/* Frees one volume's buffers: the cl_mem first (it may wrap the host memory), after queued work on CPU devices,
 * where kernels may still be using the host memory. */
void vxa_cl_free(vxa_context *ctx, void *host, void *mem, bool owns_host)
{
    if (mem && owns_host && ctx->cl) clFinish(ctx->cl->queue);
    if (mem) clReleaseMemObject((cl_mem)mem);
    if (owns_host) free(host);
}

void vxa_cl_wait(vxa_context *ctx)
{
    if (ctx->cl) clFinish(ctx->cl->queue);
}

vxa_status vxa_cl_alloc(vxa_context *ctx, vxa_dvol *d, size_t bytes)
{
    vxa_status st;
    if (ctx->cl->is_cpu && (st = vxa_dvol_host_alloc(ctx, d, bytes)) != VXA_OK) return st;
    cl_mem m;
    st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | (d->host ? CL_MEM_USE_HOST_PTR : 0), bytes, d->host, &m,
                       "device volume");
    if (st != VXA_OK) {
        vxa_cl_free(ctx, d->host, NULL, d->owns_host);
        d->host = NULL;
        d->owns_host = false;
        return st;
    }
    d->mem = m;
    return VXA_OK;
}

vxa_status vxa_cl_read(vxa_context *ctx, const vxa_dvol *d, void *dst)
{
    size_t bytes = vxa_dvol_bytes(d);
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

vxa_status vxa_cl_write(vxa_context *ctx, vxa_dvol *d, const void *src)
{
    size_t bytes = vxa_dvol_bytes(d);
    cl_int err = clEnqueueWriteBuffer(ctx->cl->queue, (cl_mem)d->mem, CL_TRUE, 0, bytes, src, 0, NULL, NULL);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueWriteBuffer: %zu bytes", bytes);
    return VXA_OK;
}

bool vxa_cl_overlaps(const vxa_context *ctx)
{
    const char *force = getenv("VOXAUG_BATCH_OVERLAP");
    return ctx->cl && (!ctx->cl->is_cpu || (force && strcmp(force, "1") == 0));
}

vxa_status vxa_cl_transfer_queue(vxa_context *ctx, cl_command_queue *out)
{
    vxa_cl *cl = ctx->cl;
    if (!cl->xfer) {
        cl_int err;
        cl->xfer = clCreateCommandQueue(cl->context, cl->device, 0, &err);
        if (err != CL_SUCCESS) {
            cl->xfer = NULL;
            return vxa_cl_fail(ctx, err, "clCreateCommandQueue: the transfer queue");
        }
    }
    *out = cl->xfer;
    return VXA_OK;
}

vxa_status vxa_cl_upload(vxa_context *ctx, vxa_dvol *d, const void *src, bool async, void **event)
{
    if (!async || !vxa_cl_overlaps(ctx)) {
        vxa_status st = vxa_cl_event_wait(ctx, *event);
        *event = NULL;
        return st != VXA_OK ? st : vxa_cl_write(ctx, d, src);
    }
    cl_command_queue q;
    vxa_status st = vxa_cl_transfer_queue(ctx, &q);
    if (st != VXA_OK) return st;
    const size_t bytes = vxa_dvol_bytes(d);
    cl_event done = NULL;
    cl_int err = clEnqueueWriteBuffer(q, (cl_mem)d->mem, CL_FALSE, 0, bytes, src, 0, NULL, &done);
    if (err == CL_SUCCESS) err = clFlush(q);   /* started now, not at the first wait */
    if (*event) clReleaseEvent((cl_event)*event);   /* the queue is in order: the new event covers it */
    *event = done;
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "clEnqueueWriteBuffer: %zu bytes to the device", bytes);
}

vxa_status vxa_cl_after(vxa_context *ctx, void *event)
{
    cl_event e = (cl_event)event;
    cl_int err = clEnqueueBarrierWithWaitList(ctx->cl->queue, 1, &e, NULL);
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "clEnqueueBarrierWithWaitList: an upload");
}

vxa_status vxa_cl_event_wait(vxa_context *ctx, void *event)
{
    if (!event) return VXA_OK;
    cl_event e = (cl_event)event;
    cl_int err = clWaitForEvents(1, &e);
    cl_int status = CL_COMPLETE;
    if (err == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        clGetEventInfo(e, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    clReleaseEvent(e);
    if (err != CL_SUCCESS)
        return vxa_cl_fail(ctx, status < 0 ? status : err, "waiting for an upload to the device");
    return VXA_OK;
}
