/* SPDX-License-Identifier: MIT */
/* Pipelines on a caller's device buffers (voxaug_cl.h). */
#include "cl.h"
#include "pipeline.h"
#include "voxaug_cl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void wrap(const vxa_volume *desc, cl_mem mem, vxa_dvol *d)
{
    memset(d, 0, sizeof *d);
    memcpy(d->dim, desc->dim, sizeof d->dim);
    d->channels = desc->channels;
    d->dtype = desc->dtype;
    if (desc->scl_slope != 0.0 && isfinite(desc->scl_slope) && isfinite(desc->scl_inter)) {
        d->slope = (float)desc->scl_slope;
        d->inter = (float)desc->scl_inter;
    }
    d->mem = mem;
}

static vxa_status copy_out(vxa_context *ctx, const vxa_dvol *from, cl_mem to, const char *what)
{
    const size_t bytes = vxa_dvol_bytes(from);
    size_t have = 0;
    cl_int err = clGetMemObjectInfo(to, CL_MEM_SIZE, sizeof have, &have, NULL);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clGetMemObjectInfo(%s)", what);
    if (have < bytes)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_cl: %s holds %zu bytes, the output needs %zu",
                        what, have, bytes);
    err = clEnqueueCopyBuffer(ctx->cl->queue, (cl_mem)from->mem, to, 0, 0, bytes, 0, NULL, NULL);
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "clEnqueueCopyBuffer(%s, %zu bytes)", what, bytes);
}

vxa_status vxa_pipeline_run_cl(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *caller_o,
                               const vxa_volume *image_desc, cl_mem image,
                               const vxa_volume *label_desc, cl_mem label,
                               cl_mem out_image, cl_mem out_label, vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (draw) *draw = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run_cl");
    if (st != VXA_OK) return st;
    if (ctx->reference || !ctx->cl)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_cl: the reference context has no device buffers");
    if (!p || !caller_o || !image_desc || !image || !out_image || (label && (!label_desc || !out_label)))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_cl: NULL argument");
    vxa_run_options o_full;
    const vxa_run_options *o = &o_full;
    st = vxa_run_options_import(ctx, caller_o, &o_full);
    if (st == VXA_OK) st = vxa_volume_check_size(ctx, NULL, 0, image_desc, "image_desc");
    if (st == VXA_OK && label) st = vxa_volume_check_size(ctx, NULL, 0, label_desc, "label_desc");
    if (st != VXA_OK) return st;
    vxa_dvol in, lin, out = { 0 }, lout = { 0 };
    vxa_grid grid, out_grid;
    wrap(image_desc, image, &in);
    if (label) wrap(label_desc, label, &lin);
    vxa_grid_of_volume(image_desc, &grid);
    st = vxa_pipeline_run_dvol(ctx, p, o, &grid, &in, label ? &lin : NULL, &out, label ? &lout : NULL,
                               &out_grid, draw);
    if (st == VXA_OK) st = copy_out(ctx, &out, out_image, "out_image");
    if (st == VXA_OK && label) st = copy_out(ctx, &lout, out_label, "out_label");
    if (st == VXA_OK) st = vxa_context_finish(ctx);
    vxa_dvol_release(ctx, &out);
    vxa_dvol_release(ctx, &lout);
    if (st != VXA_OK && draw) {
        vxa_draw_free(*draw);
        *draw = NULL;
    }
    return st;
}

/* ---- batches with transfers overlapped (vxa_pipeline_run_batch) -------------------------------------------- */
/* Two slots, used by samples alternately. A slot holds its sample's input copies on the device (reused, grown as
 * needed) and its outputs until they are read back; events chain the two queues: the compute queue waits for
 * the upload, the transfer queue's read-back waits for the compute. While sample i computes, sample i + 1 is
 * uploaded and sample i - 1 read back. Buffers a sample takes from the context's pool are only ever used on the
 * compute queue (in order); the transfer queue touches only the slots' inputs and held outputs. */
typedef struct {
    cl_mem in[2];                /* image, label */
    size_t bytes[2];
    cl_event uploaded, computed, read;
    vxa_dvol out[2];             /* image, label: released into the pool once read back */
} batch_slot;

bool vxa_pipeline_batch_overlaps(const vxa_context *ctx, size_t n)
{
    return ctx && !ctx->reference && ctx->cl && n >= 2 && vxa_cl_overlaps(ctx);
}

static void release_event(cl_event *e)
{
    if (*e) clReleaseEvent(*e);
    *e = NULL;
}

/* Waits until the slot's outputs are read back, then gives them back to the pool. */
static vxa_status slot_drain(vxa_context *ctx, batch_slot *s)
{
    cl_int err = s->read ? clWaitForEvents(1, &s->read) : CL_SUCCESS;
    release_event(&s->read);
    release_event(&s->computed);
    release_event(&s->uploaded);
    for (int v = 0; v < 2; v++) vxa_dvol_release(ctx, &s->out[v]);
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "batch: waiting for a read-back");
}

/* Enqueues the upload of one sample's image and label into the slot (the slot drained first). */
static vxa_status slot_upload(vxa_context *ctx, batch_slot *s, const vxa_volume *image, const vxa_volume *label)
{
    const vxa_volume *v[2] = { image, label };
    cl_event done = NULL;
    for (int k = 0; k < 2; k++) {
        if (!v[k]) continue;
        const size_t bytes = vxa_volume_bytes(v[k]);
        if (bytes > s->bytes[k]) {
            if (s->in[k]) clReleaseMemObject(s->in[k]);
            s->in[k] = NULL;
            s->bytes[k] = 0;
            vxa_status st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &s->in[k], "batch input");
            if (st != VXA_OK) {
                release_event(&done);
                return st;
            }
            s->bytes[k] = bytes;
        }
        release_event(&done);
        cl_int err = clEnqueueWriteBuffer(ctx->cl->xfer, s->in[k], CL_FALSE, 0, bytes, v[k]->data, 0, NULL, &done);
        if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueWriteBuffer: batch input, %zu bytes", bytes);
    }
    s->uploaded = done;   /* the transfer queue is in order: the last write's event covers both */
    cl_int err = clFlush(ctx->cl->xfer);
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "clFlush: batch transfers");
}

/* Enqueues the read-back of the slot's outputs into fresh host volumes, after the compute. */
static vxa_status slot_read(vxa_context *ctx, batch_slot *s, const vxa_volume *image, const vxa_volume *label,
                            const vxa_grid *g, vxa_volume **out_image, vxa_volume **out_label)
{
    const vxa_volume *like[2] = { image, label };
    vxa_volume **dst[2] = { out_image, out_label };
    cl_int err = clEnqueueMarkerWithWaitList(ctx->cl->queue, 0, NULL, &s->computed);
    if (err == CL_SUCCESS) err = clFlush(ctx->cl->queue);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueMarkerWithWaitList: batch compute");
    for (int k = 0; k < 2; k++) {
        if (!like[k]) continue;
        vxa_status st = vxa_pipeline_alloc_output(ctx, like[k], g, s->out[k].channels, s->out[k].dtype, dst[k]);
        if (st != VXA_OK) return st;
        const size_t bytes = vxa_dvol_bytes(&s->out[k]);
        release_event(&s->read);
        err = clEnqueueReadBuffer(ctx->cl->xfer, (cl_mem)s->out[k].mem, CL_FALSE, 0, bytes, (*dst[k])->data, 1,
                                  &s->computed, &s->read);
        if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: batch output, %zu bytes", bytes);
    }
    err = clFlush(ctx->cl->xfer);
    return err == CL_SUCCESS ? VXA_OK : vxa_cl_fail(ctx, err, "clFlush: batch transfers");
}

vxa_status vxa_pipeline_batch_overlapped(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed,
                                         uint64_t first_sample, size_t n, const vxa_volume *const *images,
                                         const vxa_volume *const *labels, vxa_volume **out_images,
                                         vxa_volume **out_labels, vxa_draw **draws)
{
    vxa_cl *cl = ctx->cl;
    cl_command_queue xfer;
    vxa_status qst = vxa_cl_transfer_queue(ctx, &xfer);
    if (qst != VXA_OK) return qst;
    batch_slot slot[2];
    memset(slot, 0, sizeof slot);
    vxa_status st = slot_upload(ctx, &slot[0], images[0], labels ? labels[0] : NULL);
    for (size_t i = 0; i < n && st == VXA_OK; i++) {
        batch_slot *s = &slot[i % 2], *next = &slot[(i + 1) % 2];
        const vxa_volume *image = images[i], *label = labels ? labels[i] : NULL;
        cl_int err = clEnqueueBarrierWithWaitList(cl->queue, 1, &s->uploaded, NULL);
        if (err != CL_SUCCESS) {
            st = vxa_cl_fail(ctx, err, "clEnqueueBarrierWithWaitList: batch upload");
            break;
        }
        vxa_dvol in, lin;
        wrap(image, s->in[0], &in);
        if (label) wrap(label, s->in[1], &lin);
        vxa_grid grid, out_grid;
        vxa_grid_of_volume(image, &grid);
        vxa_run_options o;
        vxa_run_options_init(&o);
        o.seed = seed;
        o.sample = first_sample + i;
        if ((st = vxa_pipeline_run_dvol(ctx, p, &o, &grid, &in, label ? &lin : NULL, &s->out[0],
                                        label ? &s->out[1] : NULL, &out_grid, draws ? &draws[i] : NULL)) != VXA_OK)
            break;
        /* while sample i computes: sample i - 1's read-back completes, sample i + 1 goes up into its slot */
        if (i + 1 < n && ((st = slot_drain(ctx, next)) != VXA_OK ||
                          (st = slot_upload(ctx, next, images[i + 1], labels ? labels[i + 1] : NULL)) != VXA_OK))
            break;
        st = slot_read(ctx, s, image, label, &out_grid, &out_images[i], label ? &out_labels[i] : NULL);
    }
    const cl_int err0 = clFinish(cl->queue), err1 = clFinish(cl->xfer);
    for (int k = 0; k < 2; k++) {
        const vxa_status ds = slot_drain(ctx, &slot[k]);
        if (st == VXA_OK) st = ds;
        for (int v = 0; v < 2; v++)
            if (slot[k].in[v]) clReleaseMemObject(slot[k].in[v]);
    }
    if (st == VXA_OK && (err0 != CL_SUCCESS || err1 != CL_SUCCESS))
        st = vxa_cl_fail(ctx, err0 != CL_SUCCESS ? err0 : err1, "clFinish: end of batch");
    return st;
}
