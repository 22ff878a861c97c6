/* SPDX-License-Identifier: MIT */
/* Resident inputs: a subject's image and label map copied once into the context's memory, then any number of
 * samples run from that copy (vxa_pipeline_run_resident here, the _into form in src/run_into.c). A run only
 * reads its inputs (vxa_pipeline_run_dvol), so the copy serves every sample unchanged. */
#include "resident.h"

#include <stdlib.h>
#include <string.h>

void vxa_resident_options_init_size(vxa_resident_options *o, size_t size)
{
    if (!o) return;
    memset(o, 0, size < sizeof *o ? size : sizeof *o); /* every default is zero */
    o->size = size;
}

/* Gives back the context's memory; the handle stays for vxa_resident_free. */
static void detach(vxa_resident *r)
{
    vxa_context *ctx = r->ctx;
    if (!ctx) return;
    vxa_event_wait(ctx, r->uploaded); /* the caller's memory may go once this returns; an error has no reader */
    r->uploaded = NULL;
    vxa_dvol_release(ctx, &r->image);
    vxa_dvol_release(ctx, &r->label);
    vxa_label_index_free(&r->labels);
    if (r->prev) r->prev->next = r->next;
    else ctx->residents = r->next;
    if (r->next) r->next->prev = r->prev;
    r->ctx = NULL;
    r->prev = r->next = NULL;
}

void vxa_resident_detach_all(vxa_context *ctx)
{
    while (ctx && ctx->residents) detach(ctx->residents);
}

void vxa_resident_free(vxa_resident *r)
{
    if (!r) return;
    detach(r);
    free(r);
}

const vxa_volume *vxa_resident_volume(const vxa_resident *r, int label)
{
    if (!r) return NULL;
    return label ? (r->has_label ? &r->label_hdr : NULL) : &r->image_hdr;
}

/* A copy of v in the context's memory, its upload enqueued (async) or done. */
static vxa_status upload(vxa_context *ctx, const vxa_volume *v, bool async, vxa_dvol *d, void **event)
{
    vxa_status st = vxa_dvol_alloc_unpooled(ctx, v->dim, v->channels, v->dtype, d);
    if (st != VXA_OK) return st;
    if (v->scl_slope != 0.0 && isfinite(v->scl_slope) && isfinite(v->scl_inter)) { /* as vxa_dvol_from_volume */
        d->slope = (float)v->scl_slope;
        d->inter = (float)v->scl_inter;
    }
    return vxa_dvol_upload(ctx, d, v->data, async, event);
}

vxa_status vxa_resident_create(vxa_context *ctx, const vxa_volume *image, const vxa_volume *label,
                               const vxa_resident_options *caller_opt, vxa_resident **out)
{
    if (out) *out = NULL;
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    vxa_status st = vxa_run_entry(ctx, "vxa_resident_create");
    if (st != VXA_OK) return st;
    if (!out) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_resident_create: out is NULL");
    vxa_resident_options opt;
    if (!caller_opt) vxa_resident_options_init(&opt);
    else if ((st = vxa_abi_import(ctx, NULL, 0, &opt, sizeof opt, caller_opt, VXA_RESIDENT_OPTIONS_SIZE_V1,
                                  "vxa_resident_options")) != VXA_OK)
        return st;
    if ((st = vxa_pipeline_check_inputs(ctx, image, label)) != VXA_OK) return st;
    const vxa_volume *v[2] = { image, label };
    for (int k = 0; k < 2; k++)
        if (v[k] && vxa_volume_bytes(v[k]) > ctx->max_alloc)
            return vxa_fail(ctx, VXA_ERR_DEVICE_MEMORY, "vxa_resident_create: the %s (%zu bytes) exceeds the "
                            "device's single-allocation limit of %llu bytes on '%s'; run it with "
                            "vxa_pipeline_run_ex, which goes through slabs", k ? "label map" : "image",
                            vxa_volume_bytes(v[k]), (unsigned long long)ctx->max_alloc, ctx->device_name);
    vxa_resident *r = calloc(1, sizeof *r);
    if (!r) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "vxa_resident_create: the handle");
    r->ctx = ctx;
    r->next = ctx->residents;
    if (r->next) r->next->prev = r;
    ctx->residents = r;
    r->image_hdr = *image;   /* every accepted volume has the whole of today's layout */
    r->image_hdr.size = sizeof r->image_hdr;
    r->image_hdr.data = NULL;
    vxa_grid_of_volume(image, &r->grid);
    if (label) {
        r->has_label = true;
        r->label_hdr = *label;
        r->label_hdr.size = sizeof r->label_hdr;
        r->label_hdr.data = NULL;
    }
    const bool async = opt.async_upload != 0;
    st = upload(ctx, image, async, &r->image, &r->uploaded);
    if (st == VXA_OK && label) st = upload(ctx, label, async, &r->label, &r->uploaded);
    if (st != VXA_OK) {
        vxa_resident_free(r);
        return st;
    }
    vxa_log(ctx, VXA_LOG_DEBUG, "resident input %lldx%lldx%lld x %lld%s: %s upload", (long long)image->dim[0],
            (long long)image->dim[1], (long long)image->dim[2], (long long)image->channels,
            label ? " with a label map" : "", r->uploaded ? "asynchronous" : "complete");
    *out = r;
    return VXA_OK;
}

vxa_status vxa_resident_check(vxa_context *ctx, vxa_resident *r, bool want_label, const char *fn)
{
    if (!r) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the resident is NULL", fn);
    if (r->ctx != ctx)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the resident belongs to %s", fn,
                        r->ctx ? "another context" : "a context destroyed since");
    if (want_label && !r->has_label)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: out_label given, but the resident has no label map", fn);
    if (r->uploaded && !r->ordered) {   /* the compute queue waits for the copy, once: it is in order */
        vxa_status st = vxa_queue_after(ctx, r->uploaded);
        if (st != VXA_OK) return st;
        r->ordered = true;
    }
    return VXA_OK;
}

void vxa_resident_ran(vxa_context *ctx, vxa_resident *r)
{
    /* A run that returned has read its outputs back, after its kernels, after the copy: the event is done. */
    if (r && r->uploaded && r->ordered) {
        vxa_event_wait(ctx, r->uploaded);
        r->uploaded = NULL;
    }
}

vxa_status vxa_pipeline_run_resident(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *caller_o,
                                     vxa_resident *r, vxa_volume **out_image, vxa_volume **out_label,
                                     vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (out_image) *out_image = NULL;
    if (out_label) *out_label = NULL;
    if (draw) *draw = NULL;
    if (caller_o && caller_o->field_out) *caller_o->field_out = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run_resident");
    if (st != VXA_OK) return st;
    if (!p || !caller_o || !out_image)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_resident: NULL argument");
    vxa_run_options o;
    if ((st = vxa_run_options_import(ctx, caller_o, &o)) != VXA_OK) return st;
    if ((st = vxa_resident_check(ctx, r, out_label != NULL, "vxa_pipeline_run_resident")) != VXA_OK) return st;
    /* The label map runs whenever the resident has one (an op may read it as a mask); out_label NULL only
     * leaves its result unread. */
    const bool lab = out_label != NULL;
    vxa_grid out_grid;
    vxa_dvol out = { 0 }, lout = { 0 };
    vxa_volume *v[2] = { NULL, NULL };
    if ((st = vxa_pipeline_run_dvol_kept(ctx, p, &o, &r->grid, &r->image, r->has_label ? &r->label : NULL,
                                         &r->labels, &out, r->has_label ? &lout : NULL, &out_grid, draw)) != VXA_OK)
        goto done;
    if ((st = vxa_pipeline_alloc_output(ctx, &r->image_hdr, &out_grid, out.channels, out.dtype, &v[0])) != VXA_OK ||
        (st = vxa_dvol_read(ctx, &out, v[0]->data)) != VXA_OK)
        goto done;
    if (lab && ((st = vxa_pipeline_alloc_output(ctx, &r->label_hdr, &out_grid, lout.channels, lout.dtype, &v[1])) !=
                VXA_OK || (st = vxa_dvol_read(ctx, &lout, v[1]->data)) != VXA_OK))
        goto done;
    vxa_resident_ran(ctx, r);
done:
    vxa_dvol_release(ctx, &out);
    vxa_dvol_release(ctx, &lout);
    if (st != VXA_OK) {
        vxa_volume_free(v[0]);
        vxa_volume_free(v[1]);
        v[0] = v[1] = NULL;
        if (draw) {
            vxa_draw_free(*draw);
            *draw = NULL;
        }
        if (o.field_out) {
            vxa_volume_free(*o.field_out);
            *o.field_out = NULL;
        }
    }
    *out_image = v[0];
    if (out_label) *out_label = v[1];
    return st;
}
