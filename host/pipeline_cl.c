/* SPDX-License-Identifier: MIT */
/* Pipelines on a caller's device buffers (voxaug_cl.h). */
#include "cl.h"
#include "pipeline.h"
#include "voxaug_cl.h"

#include <math.h>
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

vxa_status vxa_pipeline_run_cl(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                               const vxa_volume *image_desc, cl_mem image,
                               const vxa_volume *label_desc, cl_mem label,
                               cl_mem out_image, cl_mem out_label, vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (draw) *draw = NULL;
    if (ctx->reference || !ctx->cl)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_cl: the reference context has no device buffers");
    if (!p || !o || !image_desc || !image || !out_image || (label && (!label_desc || !out_label)))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_cl: NULL argument");
    vxa_dvol in, lin, out = { 0 }, lout = { 0 };
    vxa_grid grid, out_grid;
    wrap(image_desc, image, &in);
    if (label) wrap(label_desc, label, &lin);
    vxa_grid_of_volume(image_desc, &grid);
    vxa_status st = vxa_pipeline_run_dvol(ctx, p, o, &grid, &in, label ? &lin : NULL, &out, label ? &lout : NULL,
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
