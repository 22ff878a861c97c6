/* SPDX-License-Identifier: MIT */
/* The executor: one sample's plan (src/plan.h) run pass by pass:
 *   - RESAMPLE: one resampling pass of the image and of the label map (order 0); an elastic op's field lives on
 *     the pass's field grid, p = A·(o + d(o + field_off)) + b (src/plan.h), and only the output's window of it
 *     is computed;
 *   - INTENSITY: vxa_intensity_run, which fuses elementwise ones; label maps never see them (but give the
 *     voxels of zscore(mask=1) and pclip(mask=1) statistics); with `window`, the crop pass after it too.
 * The volume stays in the context's memory between passes and is read back once at the end. */
#include "pipeline.h"
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- execution ------------------------------------------------------------------------------------------ */
typedef struct {
    vxa_context *ctx;
    vxa_volume **field_out;
    vxa_grid grid;               /* geometry of the current image */
    vxa_dvol img, lab;           /* current image (any dtype until the first pass, then float32) and label */
    bool has_label;
    bool img_is_input;           /* img still is the caller's image (never written, never released) */
    bool lab_is_input;
    /* The label map's pass of the last spatial run, put off until the label map is needed (lab_pending): its
     * parameters, and the coarse nodes and rows of a fast field that it reads (lab_rp.coarse set). When intensity
     * ops without a mask and then a crop follow, the pass computes the crop's window only (flush_label). */
    bool lab_pending;
    vxa_resample_params lab_rp;
    vxa_dvol lab_coarse, lab_rows;
} runner;

static vxa_status read_back(vxa_context *ctx, const vxa_volume *like, const vxa_grid *g, vxa_dvol *d,
                            vxa_volume **out);

/* Replaces cur (the image or the label map) by next, which the pipeline owns; cur is released unless it is the
 * caller's input. */
static void swap_in(runner *r, vxa_dvol *cur, vxa_dvol *next)
{
    bool *input = cur == &r->img ? &r->img_is_input : &r->lab_is_input;
    if (!*input) vxa_dvol_release(r->ctx, cur);
    *cur = *next;
    memset(next, 0, sizeof *next);
    *input = false;
}

/* Runs the label map's pending pass, if any: over the whole grid (off NULL), or the window of dim voxels from
 * off of it (the crop that follows: the pass computes the window only). */
static vxa_status flush_label(runner *r, const int64_t off[3], const int64_t dim[3])
{
    if (!r->lab_pending) return VXA_OK;
    r->lab_pending = false;
    vxa_resample_params lp = r->lab_rp;
    if (lp.coarse) {
        lp.coarse = &r->lab_coarse;
        lp.coarse_rows = &r->lab_rows;
    }
    if (off) {
        lp.out_i0 = off[0];
        lp.out_j0 = off[1];
        lp.out_k0 = off[2];
        memcpy(lp.out_dim, dim, sizeof lp.out_dim);
    }
    vxa_dvol lout = { 0 };
    vxa_status st = vxa_dvol_alloc(r->ctx, lp.out_dim, r->lab.channels, r->lab.dtype, &lout);
    if (st == VXA_OK) st = vxa_resample(r->ctx, &r->lab, &lout, &lp);
    vxa_dvol_release(r->ctx, &r->lab_coarse);
    vxa_dvol_release(r->ctx, &r->lab_rows);
    if (st != VXA_OK) {
        vxa_dvol_release(r->ctx, &lout);
        return st;
    }
    swap_in(r, &r->lab, &lout);
    return VXA_OK;
}

/* Runs a RESAMPLE pass; with image = false, on the label map only. */
static vxa_status exec_spatial(runner *r, const vxa_pass *sp, bool image)
{
    vxa_context *ctx = r->ctx;
    const vxa_grid cur = sp->out;
    const vxa_op_inst *elastic = sp->elastic;
    const vxa_op_values elastic_val = sp->elastic_val;
    vxa_dvol field = { 0 }, out = { 0 };
    vxa_dvol rows = { 0 };   /* a fast field's rows, made by the image's pass and reused by the label map's */
    vxa_status st = flush_label(r, NULL, NULL);
    if (st != VXA_OK) return st;
    if (sp->identity) return VXA_OK;

    /* fast elastic fields: the pass interpolates the coarse nodes itself, unless the caller wants the field */
    bool coarse = false;
    double cstart[3] = { 0.0, 0.0, 0.0 }, cstep[3] = { 1.0, 1.0, 1.0 };
    /* the field's window under the output (with `win`, under the output's window) */
    const int64_t zero[3] = { 0, 0, 0 }, *woff = sp->win ? sp->win_off : zero;
    const int64_t foff[3] = { sp->field_off[0] + woff[0], sp->field_off[1] + woff[1], sp->field_off[2] + woff[2] };
    if (elastic && !r->field_out && elastic->desc->coarse_field &&
        (st = elastic->desc->coarse_field(ctx, &elastic_val, &sp->field_grid, foff, cur.dim, &field, cstart, cstep,
                                          &coarse)) != VXA_OK)
        goto done;
    for (int a = 0; a < 3 && coarse; a++) cstart[a] += (double)woff[a];   /* in the whole output's voxels */
    if (elastic && !coarse &&
        (st = elastic->desc->field(ctx, &elastic_val, &sp->field_grid, foff, cur.dim, &field)) != VXA_OK)
        goto done;
    if (elastic && r->field_out) {
        vxa_volume_free(*r->field_out);
        *r->field_out = NULL;
        vxa_volume like;
        vxa_volume_init(&like, cur.dim, 3, VXA_FLOAT32);
        if ((st = read_back(ctx, &like, &cur, &field, r->field_out)) != VXA_OK) goto done;
    }
    vxa_resample_params rp = { .order = sp->order, .mode = (vxa_mode)sp->mode, .cval = sp->cval,
                               .field = elastic && !coarse ? &field : NULL, .coarse = coarse ? &field : NULL,
                               .coarse_rows = coarse ? &rows : NULL };
    memcpy(rp.coarse_start, cstart, sizeof cstart);
    memcpy(rp.coarse_step, cstep, sizeof cstep);
    memcpy(rp.A, sp->A, sizeof sp->A);
    memcpy(rp.b, sp->b, sizeof sp->b);
    memcpy(rp.out_dim, cur.dim, sizeof rp.out_dim);
    rp.out_i0 = woff[0];   /* positions of the whole output */
    rp.out_j0 = woff[1];
    rp.out_k0 = woff[2];
    if (image && (st = vxa_dvol_alloc(ctx, cur.dim, r->img.channels, VXA_FLOAT32, &out)) != VXA_OK) goto done;
    if (image && (st = vxa_resample(ctx, &r->img, &out, &rp)) != VXA_OK) goto done;
    if (r->has_label) {   /* the label map's pass, with what it reads, handed to flush_label */
        r->lab_rp = rp;
        r->lab_rp.order = sp->label_rule ? 1 : 0;
        r->lab_rp.label_rule = sp->label_rule;
        r->lab_rp.mode = (vxa_mode)sp->label_mode;
        r->lab_rp.cval = 0.0;
        r->lab_pending = true;
        if (coarse) {
            r->lab_coarse = field;
            r->lab_rows = rows;
            memset(&field, 0, sizeof field);
            memset(&rows, 0, sizeof rows);
        }
        /* put off until the label map is needed, unless this is its own pass or it reads a full field, which is
         * not kept */
        if ((!image || rp.field) && (st = flush_label(r, NULL, NULL)) != VXA_OK) goto done;
    }
    if (image) {
        swap_in(r, &r->img, &out);
        r->grid = cur;
    }
done:
    vxa_dvol_release(ctx, &field);
    vxa_dvol_release(ctx, &rows);
    vxa_dvol_release(ctx, &out);
    return st;
}

/* Runs the intensity ops descs[0..n) (n may be 0) on the image as a float32 volume of the pipeline's own. The
 * caller's input (wrapped without a copy on CPU devices) is never written, so while the image is that input
 * (or is typed) it goes into a new float32 volume: converted by the ops' first pass when there are ops
 * (vxa_intensity_run), else by vxa_cast_float. */
static vxa_status own_float(runner *r, const vxa_op_desc *const *descs, const vxa_op_values *vals, int n)
{
    const vxa_dvol *mask = r->has_label ? &r->lab : NULL;
    if (!r->img_is_input && r->img.dtype == VXA_FLOAT32)
        return n ? vxa_intensity_run(r->ctx, descs, vals, n, NULL, &r->img, mask) : VXA_OK;
    vxa_dvol f;
    vxa_status st = vxa_dvol_alloc(r->ctx, r->img.dim, r->img.channels, VXA_FLOAT32, &f);
    if (st != VXA_OK) return st;
    st = n ? vxa_intensity_run(r->ctx, descs, vals, n, &r->img, &f, mask) : vxa_cast_float(r->ctx, &r->img, &f);
    if (st != VXA_OK) {
        vxa_dvol_release(r->ctx, &f);
        return st;
    }
    swap_in(r, &r->img, &f);
    return VXA_OK;
}

/* own_float followed by a crop of the image (off, the grid after it `cur`): the intensity ops' last pass
 * computes the crop's voxels only and writes them into the cropped image (vxa_intensity_run_window; their
 * statistics still cover the whole image), the same values as the pass over the whole image and the crop's
 * exact copy after it. */
static vxa_status own_float_window(runner *r, const vxa_op_desc *const *descs, const vxa_op_values *vals, int n,
                                   const int64_t off[3], const vxa_grid *cur)
{
    const vxa_dvol *mask = r->has_label ? &r->lab : NULL;
    const bool in_place = !r->img_is_input && r->img.dtype == VXA_FLOAT32;
    vxa_dvol f = { 0 }, win = { 0 };
    vxa_status st = vxa_dvol_alloc(r->ctx, cur->dim, r->img.channels, VXA_FLOAT32, &win);
    if (st == VXA_OK && !in_place) st = vxa_dvol_alloc(r->ctx, r->img.dim, r->img.channels, VXA_FLOAT32, &f);
    if (st == VXA_OK)
        st = vxa_intensity_run_window(r->ctx, descs, vals, n, in_place ? NULL : &r->img, in_place ? &r->img : &f,
                                      mask, off, &win);
    vxa_dvol_release(r->ctx, &f);
    if (st != VXA_OK) {
        vxa_dvol_release(r->ctx, &win);
        return st;
    }
    swap_in(r, &r->img, &win);
    return VXA_OK;
}

/* Runs an INTENSITY pass; with `window`, the crop pass after it (next) goes with it (own_float_window; on CPU
 * devices the last program then computes the crop alone). */
static vxa_status run_intensity(runner *r, const vxa_pass *s, const vxa_pass *next)
{
    vxa_status st;
    if (s->uses_mask && (st = flush_label(r, NULL, NULL)) != VXA_OK) return st;   /* the mask must be there */
    if (s->part) {   /* the image is a window of the grid the ops are written for (a crop moved before them) */
        if ((st = own_float(r, NULL, NULL, 0)) != VXA_OK) return st;
        return vxa_intensity_run_part(r->ctx, s->descs, s->vals, s->nops, &r->img, s->part_grid, s->part_off);
    }
    if (!s->window) return s->nops ? own_float(r, s->descs, s->vals, s->nops) : VXA_OK;
    const int64_t *off = next->crop_off;
    if ((st = own_float_window(r, s->descs, s->vals, s->nops, off, &next->out)) != VXA_OK)  /* mask: the whole map */
        return st;
    /* the label map's crop: its pending pass computes the window alone, else an exact copy */
    if (r->has_label && (st = r->lab_pending ? flush_label(r, off, next->out.dim) : exec_spatial(r, next, false)) !=
        VXA_OK)
        return st;
    r->grid = next->out;
    return VXA_OK;
}

/* Runs a LABEL pass on the label map as it stands (its pending resampling first); nothing without one. */
static vxa_status run_label(runner *r, const vxa_pass *s)
{
    if (!r->has_label || !s->label) return VXA_OK;
    vxa_status st = flush_label(r, NULL, NULL);
    if (st != VXA_OK) return st;
    vxa_dvol out = { 0 };
    if ((st = vxa_dvol_alloc(r->ctx, r->lab.dim, r->lab.channels, r->lab.dtype, &out)) == VXA_OK &&
        (st = s->label->label(r->ctx, &s->vals[0], &r->lab, &out)) == VXA_OK) {
        swap_in(r, &r->lab, &out);
        return VXA_OK;
    }
    vxa_dvol_release(r->ctx, &out);
    return st;
}

static bool same_grid(const vxa_volume *a, const vxa_volume *b)
{
    for (int r = 0; r < 3; r++) {
        if (a->dim[r] != b->dim[r]) return false;
        for (int c = 0; c < 4; c++)
            if (fabs(a->affine[r][c] - b->affine[r][c]) > 1e-3 * (1.0 + fabs(a->affine[r][c]))) return false;
    }
    return true;
}

vxa_status vxa_pipeline_check_inputs(vxa_context *ctx, const vxa_volume *image, const vxa_volume *label)
{
    if (!image) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: no image");
    vxa_status st = vxa_volume_check_size(ctx, NULL, 0, image, "image");
    if (st != VXA_OK) return st;
    if (!image->data) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: no image");
    if (!vxa_dtype_is_storage(image->dtype))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: the image's dtype %s (%d) is not a storage type",
                        vxa_dtype_name(image->dtype), (int)image->dtype);
    if (!label) return VXA_OK;
    if ((st = vxa_volume_check_size(ctx, NULL, 0, label, "label")) != VXA_OK) return st;
    if (!label->data) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: the label map has no data");
    if (!vxa_dtype_is_storage(label->dtype))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: the label map's dtype %s (%d) is not a storage "
                        "type", vxa_dtype_name(label->dtype), (int)label->dtype);
    if (!same_grid(image, label))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: the label map's grid (%lldx%lldx%lld) differs "
                        "from the image's (%lldx%lldx%lld) in dims or affine", (long long)label->dim[0],
                        (long long)label->dim[1], (long long)label->dim[2], (long long)image->dim[0],
                        (long long)image->dim[1], (long long)image->dim[2]);
    if (label->dtype == VXA_FLOAT32 || label->dtype == VXA_FLOAT64)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pipeline: the label map must have an integer type, not %s",
                        vxa_dtype_name(label->dtype));
    return VXA_OK;
}

/* A host output volume on grid g, its header codes taken from `like`. */
vxa_status vxa_pipeline_alloc_output(vxa_context *ctx, const vxa_volume *like, const vxa_grid *g,
                                     int64_t channels, vxa_dtype dtype, vxa_volume **out)
{
    vxa_volume *v = NULL;
    vxa_status st = vxa_volume_alloc(g->dim, channels, dtype, &v);
    if (st != VXA_OK) return vxa_fail(ctx, st, "pipeline: output volume of %lldx%lldx%lld", (long long)g->dim[0],
                                      (long long)g->dim[1], (long long)g->dim[2]);
    v->sform_code = like->sform_code;
    v->qform_code = like->qform_code;
    v->xyzt_units = like->xyzt_units;
    v->tr = like->tr;
    memcpy(v->descrip, like->descrip, sizeof v->descrip);
    vxa_grid_to_volume(g, v);
    *out = v;
    return VXA_OK;
}

/* A host volume on grid g (header codes from `like`) for dvol d, filled from it. */
static vxa_status read_back(vxa_context *ctx, const vxa_volume *like, const vxa_grid *g, vxa_dvol *d,
                            vxa_volume **out)
{
    vxa_volume *v = NULL;
    vxa_status st = vxa_pipeline_alloc_output(ctx, like, g, d->channels, d->dtype, &v);
    if (st != VXA_OK) return st;
    if ((st = vxa_dvol_read(ctx, d, v->data)) != VXA_OK) {
        vxa_volume_free(v);
        return st;
    }
    *out = v;
    return VXA_OK;
}

void vxa_run_options_init_size(vxa_run_options *o, size_t size)
{
    if (!o) return;
    memset(o, 0, size < sizeof *o ? size : sizeof *o); /* every default is zero */
    o->size = size;
}

vxa_status vxa_run_options_import(vxa_context *ctx, const vxa_run_options *o, vxa_run_options *full)
{
    if (!o) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_run_options: NULL");
    return vxa_abi_import(ctx, NULL, 0, full, sizeof *full, o, VXA_RUN_OPTIONS_SIZE_V1, "vxa_run_options");
}

vxa_status vxa_run_cancelled(vxa_context *ctx, const vxa_run_options *o, const char *where, int index)
{
    if (!o->cancel || !o->cancel(o->cancel_user)) return VXA_OK;
    return vxa_fail(ctx, VXA_ERR_CANCELLED, "cancelled by the caller before %s %d of sample %llu", where, index,
                    (unsigned long long)o->sample);
}

vxa_status vxa_pipeline_run(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed, uint64_t sample,
                            const vxa_volume *image, const vxa_volume *label,
                            vxa_volume **out_image, vxa_volume **out_label, vxa_draw **draw)
{
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = seed;
    o.sample = sample;
    return vxa_pipeline_run_ex(ctx, p, &o, image, label, out_image, out_label, draw);
}

/* ---- the input's data for data-dependent grid ops (vxa_op_data): device reductions, made on first use ---- */
typedef struct {
    vxa_context *ctx;
    const vxa_dvol *image, *label;
    vxa_label_index own, *ix;    /* ix: the caller's kept index, or &own (made on first use, freed after planning) */
} input_data;

/* The detail the device step wrote into the context, for the planner's message. */
static vxa_status data_fail(const input_data *d, vxa_status st, char *err, size_t errlen)
{
    return vxa_fail_buf(err, errlen, st, "%s", vxa_last_error(d->ctx));
}

static vxa_status data_labels(void *user, const vxa_label_index **ix, char *err, size_t errlen)
{
    input_data *d = user;
    if (!d->ix->value) {
        vxa_status st = vxa_label_index_make(d->ctx, d->label, d->ix);
        if (st != VXA_OK) return data_fail(d, st, err, errlen);
    }
    *ix = d->ix;
    return VXA_OK;
}

static vxa_status data_locate(void *user, int cls, uint64_t skip, int64_t idx[3], char *err, size_t errlen)
{
    input_data *d = user;
    vxa_status st = vxa_label_index_locate(d->ctx, d->label, d->ix, cls, skip, idx);
    return st != VXA_OK ? data_fail(d, st, err, errlen) : VXA_OK;
}

static vxa_status data_box(void *user, int source, double threshold, int64_t box[6], char *err, size_t errlen)
{
    input_data *d = user;
    vxa_status st = vxa_fg_box(d->ctx, source == 1 ? d->label : d->image, threshold, box);
    return st != VXA_OK ? data_fail(d, st, err, errlen) : VXA_OK;
}

/* The core: device volumes in, device volumes out. image and label are only read. */
vxa_status vxa_pipeline_run_dvol(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                 const vxa_grid *grid, const vxa_dvol *image, const vxa_dvol *label,
                                 vxa_dvol *out_image, vxa_dvol *out_label, vxa_grid *out_grid, vxa_draw **draw)
{
    return vxa_pipeline_run_dvol_kept(ctx, p, o, grid, image, label, NULL, out_image, out_label, out_grid, draw);
}

vxa_status vxa_pipeline_run_dvol_kept(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                      const vxa_grid *grid, const vxa_dvol *image, const vxa_dvol *label,
                                      vxa_label_index *kept, vxa_dvol *out_image, vxa_dvol *out_label,
                                      vxa_grid *out_grid, vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (!p || !o || !grid || !image || !out_image || !out_grid || (label && !out_label))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run: NULL argument");
    memset(out_image, 0, sizeof *out_image);
    if (out_label) memset(out_label, 0, sizeof *out_label);
    if (draw) *draw = NULL;
    runner r = { .ctx = ctx, .field_out = o->field_out, .grid = *grid, .img = *image, .img_is_input = true };
    if (o->field_out) *o->field_out = NULL;
    if (label) {
        r.has_label = true;
        r.lab = *label;
        r.lab_is_input = true;
    }
    vxa_plan plan;
    char err[1024];
    input_data in = { .ctx = ctx, .image = image, .label = label };
    in.ix = kept ? kept : &in.own;
    const vxa_op_data data = { .has_label = label != NULL, .labels = data_labels, .locate = data_locate,
                               .box = data_box, .user = &in };
    vxa_status st = vxa_plan_make_data(p, o->seed, o->sample, grid, 0, &data, &plan, err, sizeof err);
    vxa_label_index_free(&in.own);
    if (st != VXA_OK) {
        st = vxa_fail(ctx, st, "%s", err);
        goto done;
    }
    for (int k = 0; k < plan.npasses; k++) {
        const vxa_pass *s = &plan.passes[k];
        if (s->fused) continue;   /* run by the pass before it */
        if ((st = vxa_run_cancelled(ctx, o, "op", s->first)) != VXA_OK) goto done;
        st = s->kind == VXA_PASS_INTENSITY ? run_intensity(&r, s, s->window ? &plan.passes[k + 1] : NULL)
             : s->kind == VXA_PASS_LABEL   ? run_label(&r, s)
                                           : exec_spatial(&r, s, true);
        if (st != VXA_OK) goto done;
    }
    if ((st = flush_label(&r, NULL, NULL)) != VXA_OK || (st = own_float(&r, NULL, NULL, 0)) != VXA_OK) goto done;
    if (r.has_label && r.lab_is_input) { /* no spatial pass: the label map comes out as it went in */
        vxa_dvol copy;
        const int sign[3] = { 1, 1, 1 };
        const int64_t zero[3] = { 0, 0, 0 };
        if ((st = vxa_dvol_alloc(ctx, r.lab.dim, r.lab.channels, r.lab.dtype, &copy)) != VXA_OK) goto done;
        if ((st = vxa_copy_axes(ctx, &r.lab, &copy, sign, zero, VXA_MODE_CONSTANT, 0.0)) != VXA_OK) {
            vxa_dvol_release(ctx, &copy);
            goto done;
        }
        swap_in(&r, &r.lab, &copy);
    }
    if (draw && !(*draw = vxa_plan_draw(p, &plan, false))) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "draw record");
        goto done;
    }
    *out_image = r.img;
    if (out_label) *out_label = r.lab;
    *out_grid = r.grid;
    r.img_is_input = r.lab_is_input = true; /* handed over: not released below */
done:
    if (!r.img_is_input) vxa_dvol_release(ctx, &r.img);
    if (!r.lab_is_input) vxa_dvol_release(ctx, &r.lab);
    vxa_dvol_release(ctx, &r.lab_coarse);   /* a label pass left pending by a failure */
    vxa_dvol_release(ctx, &r.lab_rows);
    vxa_plan_free(&plan);
    if (st != VXA_OK && o->field_out) {
        vxa_volume_free(*o->field_out);
        *o->field_out = NULL;
    }
    return st;
}

/* ---- slabs along k: volumes over the device's single-allocation limit ------------------------------------ */
/* The input planes that output planes k0 .. k1 - 1 read, for a pull map with row 2 = (A[2], b[2]), boundary
 * mode `mode`, in an input nz deep: [*lo, *hi]. The corners of the box bound the linear position; one plane of
 * margin each side covers trilinear neighbours and float32 rounding; folding (nearest, reflect) maps what
 * lies outside back in. */
static void slab_planes(const double A[3][3], const double b[3], const int64_t out_dim[3], int64_t k0, int64_t k1,
                        int mode, int64_t nz, int64_t *lo, int64_t *hi)
{
    double pmin = INFINITY, pmax = -INFINITY;
    for (int c = 0; c < 8; c++) {
        const double o[3] = { (c & 1) ? (double)(out_dim[0] - 1) : 0.0, (c & 2) ? (double)(out_dim[1] - 1) : 0.0,
                              (c & 4) ? (double)(k1 - 1) : (double)k0 };
        const double pz = A[2][0] * o[0] + A[2][1] * o[1] + A[2][2] * o[2] + b[2];
        pmin = fmin(pmin, pz);
        pmax = fmax(pmax, pz);
    }
    const double big = 4.0 * (double)nz + 8.0; /* positions beyond this fold like any others (periodic) */
    int64_t a = (int64_t)floor(fmax(pmin, -big)) - 1, z = (int64_t)floor(fmin(pmax, big)) + 2;
    int64_t l = INT64_MAX, h = INT64_MIN;
    if (mode == VXA_MODE_REFLECT && (a < 0 || z >= nz) && z - a >= 2 * nz) {
        l = 0; /* covers a whole period: every plane */
        h = nz - 1;
    } else {
        for (int64_t q = a; q <= z; q++) {
            const int64_t f = vxa_fold_index(q, nz, (vxa_mode)mode);
            if (f < 0) continue; /* constant: reads cval, no plane */
            if (f < l) l = f;
            if (f > h) h = f;
        }
    }
    if (l > h) l = h = 0; /* nothing inside is read: any one plane does */
    *lo = l;
    *hi = h;
}

/* One volume's slab pass: planes k0 .. k0 + h - 1 of out from planes lo .. hi of in, through the device. */
static vxa_status slab_pass(vxa_context *ctx, const vxa_volume *in, vxa_volume *out, vxa_resample_params rp,
                            int64_t k0, int64_t h, int64_t lo, int64_t hi)
{
    const size_t es_in = vxa_dtype_size(in->dtype), es_out = vxa_dtype_size(out->dtype);
    const size_t in_plane = (size_t)(in->dim[0] * in->dim[1]), out_plane = (size_t)(out->dim[0] * out->dim[1]);
    const int64_t depth = hi - lo + 1, nc = in->channels;
    vxa_volume view = *in;
    vxa_dvol din = { 0 }, dout = { 0 };
    vxa_status st = VXA_OK;
    unsigned char *stage_in = malloc(in_plane * (size_t)depth * (size_t)nc * es_in);
    unsigned char *stage_out = malloc(out_plane * (size_t)h * (size_t)nc * es_out);
    if (!stage_in || !stage_out) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "slab staging buffers");
        goto done;
    }
    for (int64_t c = 0; c < nc; c++) /* the slab of every channel, channels one after another */
        memcpy(stage_in + (size_t)c * in_plane * (size_t)depth * es_in,
               (const unsigned char *)in->data + ((size_t)c * (size_t)in->dim[2] + (size_t)lo) * in_plane * es_in,
               in_plane * (size_t)depth * es_in);
    view.dim[2] = depth;
    view.data = stage_in;
    const int64_t odim[3] = { out->dim[0], out->dim[1], h };
    if ((st = vxa_dvol_from_volume(ctx, &view, &din)) != VXA_OK) goto done;
    if ((st = vxa_dvol_alloc(ctx, odim, nc, out->dtype, &dout)) != VXA_OK) goto done;
    rp.out_dim[2] = h;
    rp.out_k0 = k0;
    rp.in_k0 = lo;
    rp.in_nz = in->dim[2];
    if ((st = vxa_resample(ctx, &din, &dout, &rp)) != VXA_OK) goto done;
    if ((st = vxa_dvol_read(ctx, &dout, stage_out)) != VXA_OK) goto done;
    for (int64_t c = 0; c < nc; c++)
        memcpy((unsigned char *)out->data + ((size_t)c * (size_t)out->dim[2] + (size_t)k0) * out_plane * es_out,
               stage_out + (size_t)c * out_plane * (size_t)h * es_out, out_plane * (size_t)h * es_out);
done:
    vxa_dvol_release(ctx, &din);
    vxa_dvol_release(ctx, &dout);
    free(stage_in);
    free(stage_out);
    return st;
}

/* Whether a host-memory run must go through slabs: some volume it would put on the device exceeds the limit. */
bool vxa_pipeline_needs_slabs(const vxa_context *ctx, const vxa_pipeline *p, const vxa_volume *image,
                              const vxa_volume *label)
{
    if (ctx->reference) return false;
    vxa_volume shape;
    vxa_volume_init(&shape, image->dim, image->channels, VXA_FLOAT32);
    if (vxa_pipeline_output_shape(p, image, &shape) != VXA_OK) return false;
    const uint64_t lim = ctx->max_alloc;
    const uint64_t out_vox = (uint64_t)shape.dim[0] * (uint64_t)shape.dim[1] * (uint64_t)shape.dim[2] *
                             (uint64_t)image->channels;
    if (vxa_volume_bytes(image) > lim || out_vox * 4 > lim) return true;
    return label && (vxa_volume_bytes(label) > lim ||
                     out_vox / (uint64_t)image->channels * (uint64_t)label->channels * vxa_dtype_size(label->dtype) > lim);
}

/* A spatial-only pipeline on slabs along k of the output, each reading only the input planes it needs, so that
 * no device buffer exceeds ctx->max_alloc. Equal, bit for bit, to the single pass. */
static vxa_status run_slabs(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                            const vxa_volume *image, const vxa_volume *label, vxa_volume **out_image,
                            vxa_volume **out_label, vxa_draw **draw)
{
    vxa_grid grid;
    vxa_grid_of_volume(image, &grid);
    for (int k = 0; k < p->nops; k++)
        if ((p->ops[k].desc->kind != VXA_OPK_SAMPLING && p->ops[k].desc->kind != VXA_OPK_SPATIAL) ||
            p->ops[k].desc->needs)
            return vxa_fail(ctx, VXA_ERR_DEVICE_MEMORY, "the volume (%zu bytes, or its output) exceeds the device's "
                            "single-allocation limit of %llu bytes on '%s', and slab processing covers pipelines of "
                            "spatial ops only (op %d is %s)", vxa_volume_bytes(image),
                            (unsigned long long)ctx->max_alloc, ctx->device_name, k, p->ops[k].desc->name);
    vxa_plan plan;
    char err[1024];
    vxa_status st = vxa_plan_make(p, o->seed, o->sample, &grid, 0, &plan, err, sizeof err);
    if (st != VXA_OK) {
        st = vxa_fail(ctx, st, "%s", err);
        goto done;
    }
    /* the one resampling pass (an empty pipeline: the identity with the default sampling) */
    const vxa_pass none = { .kind = VXA_PASS_RESAMPLE, .in = grid, .out = grid, .A = { { 1, 0, 0 }, { 0, 1, 0 },
                            { 0, 0, 1 } }, .order = 1, .mode = VXA_MODE_CONSTANT, .label_mode = VXA_MODE_CONSTANT };
    const vxa_pass *sp = plan.npasses ? &plan.passes[0] : &none;
    const double (*A)[3] = sp->A;
    const double *b = sp->b;
    const vxa_grid out_grid = sp->out;
    for (int i = sp->end; i < p->nops; i++) /* sampling ops after the last spatial op change nothing */
        if (p->ops[i].desc->kind != VXA_OPK_SAMPLING) {
            st = vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "slab processing: one resampling pass only");
            goto done;
        }
    if ((st = vxa_pipeline_alloc_output(ctx, image, &out_grid, image->channels, VXA_FLOAT32, out_image)) !=
        VXA_OK)
        goto done;
    if (label &&
        (st = vxa_pipeline_alloc_output(ctx, label, &out_grid, label->channels, label->dtype, out_label)) != VXA_OK)
        goto done;
    /* Output planes per slab: as many as fit, halved until the input planes they read fit too. */
    const uint64_t lim = ctx->max_alloc;
    const int64_t mz = out_grid.dim[2];
    uint64_t out_plane = (uint64_t)out_grid.dim[0] * (uint64_t)out_grid.dim[1] * (uint64_t)image->channels * 4;
    if (label) {
        const uint64_t lp = (uint64_t)out_grid.dim[0] * (uint64_t)out_grid.dim[1] * (uint64_t)label->channels *
                            vxa_dtype_size(label->dtype);
        if (lp > out_plane) out_plane = lp;
    }
    const uint64_t in_plane = (uint64_t)image->dim[0] * (uint64_t)image->dim[1] * (uint64_t)image->channels *
                              vxa_dtype_size(image->dtype);
    vxa_resample_params rp = { .order = sp->order, .mode = (vxa_mode)sp->mode, .cval = sp->cval };
    memcpy(rp.A, sp->A, sizeof sp->A);
    memcpy(rp.b, sp->b, sizeof sp->b);
    memcpy(rp.out_dim, out_grid.dim, sizeof rp.out_dim);
    vxa_resample_params lp = rp;
    lp.order = sp->label_rule ? 1 : 0;
    lp.label_rule = sp->label_rule;
    lp.mode = (vxa_mode)sp->label_mode;
    lp.cval = 0.0;
    for (int64_t k0 = 0; k0 < mz;) {
        int64_t h = (int64_t)(lim / (out_plane ? out_plane : 1));
        if (h > mz - k0) h = mz - k0;
        int64_t lo = 0, hi = 0, llo = 0, lhi = 0;
        for (; h >= 1; h /= 2) {
            slab_planes(A, b, out_grid.dim, k0, k0 + h, sp->mode, image->dim[2], &lo, &hi);
            if (label) slab_planes(A, b, out_grid.dim, k0, k0 + h, sp->label_mode, image->dim[2], &llo, &lhi);
            if ((uint64_t)(hi - lo + 1) * in_plane <= lim && (!label || (uint64_t)(lhi - llo + 1) *
                (uint64_t)image->dim[0] * (uint64_t)image->dim[1] * vxa_dtype_size(label->dtype) *
                (uint64_t)label->channels <= lim))
                break;
        }
        if ((st = vxa_run_cancelled(ctx, o, "the slab at output plane", (int)k0)) != VXA_OK) goto done;
        if (h < 1) {
            st = vxa_fail(ctx, VXA_ERR_DEVICE_MEMORY, "slab processing: one output plane reads more input planes "
                          "than fit the device's single-allocation limit of %llu bytes on '%s' (the transform "
                          "tilts the k axis too far)", (unsigned long long)lim, ctx->device_name);
            goto done;
        }
        if ((st = slab_pass(ctx, image, *out_image, rp, k0, h, lo, hi)) != VXA_OK) goto done;
        if (label && (st = slab_pass(ctx, label, *out_label, lp, k0, h, llo, lhi)) != VXA_OK) goto done;
        k0 += h;
    }
    if (draw && !(*draw = vxa_plan_draw(p, &plan, true)))
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "draw record");
done:
    vxa_plan_free(&plan);
    if (st != VXA_OK) {
        vxa_volume_free(*out_image);
        *out_image = NULL;
        if (out_label) {
            vxa_volume_free(*out_label);
            *out_label = NULL;
        }
    }
    return st;
}

vxa_status vxa_pipeline_run_host(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                 const vxa_volume *image, const vxa_volume *label, vxa_dvol *in, vxa_dvol *lin,
                                 vxa_dvol *out, vxa_dvol *lout, vxa_grid *out_grid, vxa_draw **draw)
{
    vxa_grid grid;
    vxa_status st;
    vxa_grid_of_volume(image, &grid);
    if ((st = vxa_dvol_from_volume(ctx, image, in)) != VXA_OK) return st;
    if (label && (st = vxa_dvol_from_volume(ctx, label, lin)) != VXA_OK) return st;
    return vxa_pipeline_run_dvol(ctx, p, o, &grid, in, label ? lin : NULL, out, label ? lout : NULL, out_grid, draw);
}

vxa_status vxa_run_entry(vxa_context *ctx, const char *fn)
{
    static const char prefix[] = "this context has no device: vxa_context_create failed";
    if (!ctx->ready) {
        if (strncmp(ctx->error, prefix, sizeof prefix - 1) == 0) return VXA_ERR_INVALID_ARGUMENT;
        char why[512];
        snprintf(why, sizeof why, "%.511s", ctx->error[0] ? ctx->error : "(no detail)");
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s (%s); %s cannot run on it", prefix, why, fn);
    }
    ctx->error[0] = '\0';
    return VXA_OK;
}

vxa_status vxa_pipeline_run_ex(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *caller_o,
                               const vxa_volume *image, const vxa_volume *label,
                               vxa_volume **out_image, vxa_volume **out_label, vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (out_image) *out_image = NULL;
    if (out_label) *out_label = NULL;
    if (draw) *draw = NULL;
    if (caller_o && caller_o->field_out) *caller_o->field_out = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run");
    if (st != VXA_OK) return st;
    if (!p || !caller_o || !out_image)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run: NULL argument");
    vxa_run_options full;
    const vxa_run_options *o = &full;
    st = vxa_run_options_import(ctx, caller_o, &full);
    if (st != VXA_OK) return st;
    if (o->field_out) *o->field_out = NULL;
    if ((st = vxa_pipeline_check_inputs(ctx, image, label)) != VXA_OK) return st;
    if (label && !out_label) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run: label without out_label");
    if (vxa_pipeline_needs_slabs(ctx, p, image, label)) {
        vxa_log(ctx, VXA_LOG_DEBUG, "sample %llu: slabs along k (a volume exceeds %llu bytes)",
                (unsigned long long)o->sample, (unsigned long long)ctx->max_alloc);
        return run_slabs(ctx, p, o, image, label, out_image, out_label, draw);
    }
    vxa_grid out_grid;
    vxa_dvol in = { 0 }, lin = { 0 }, out = { 0 }, lout = { 0 };
    if ((st = vxa_pipeline_run_host(ctx, p, o, image, label, &in, &lin, &out, &lout, &out_grid, draw)) != VXA_OK)
        goto done;
    if ((st = read_back(ctx, image, &out_grid, &out, out_image)) != VXA_OK) goto done;
    if (label && (st = read_back(ctx, label, &out_grid, &lout, out_label)) != VXA_OK) goto done;
done:
    vxa_dvol_release(ctx, &in);
    vxa_dvol_release(ctx, &lin);
    vxa_dvol_release(ctx, &out);
    vxa_dvol_release(ctx, &lout);
    if (st != VXA_OK) {
        vxa_volume_free(*out_image);
        *out_image = NULL;
        if (out_label) {
            vxa_volume_free(*out_label);
            *out_label = NULL;
        }
        if (draw) {
            vxa_draw_free(*draw);
            *draw = NULL;
        }
        if (o->field_out) {
            vxa_volume_free(*o->field_out);
            *o->field_out = NULL;
        }
    }
    return st;
}

vxa_status vxa_pipeline_run_batch(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed,
                                  uint64_t first_sample, size_t n, const vxa_volume *const *images,
                                  const vxa_volume *const *labels, vxa_volume **out_images,
                                  vxa_volume **out_labels, vxa_draw **draws)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        if (out_images) out_images[i] = NULL;
        if (out_labels) out_labels[i] = NULL;
        if (draws) draws[i] = NULL;
    }
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run_batch");
    if (st != VXA_OK) return st;
    if (!p || !images || !out_images || (labels && !out_labels))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_batch: NULL argument");
    bool overlap = vxa_pipeline_batch_overlaps(ctx, n);
    for (size_t i = 0; i < n && st == VXA_OK && overlap; i++) {   /* every sample in one pass on the device */
        const vxa_volume *lab = labels ? labels[i] : NULL;
        st = vxa_pipeline_check_inputs(ctx, images[i], lab);
        overlap = !vxa_pipeline_needs_slabs(ctx, p, images[i], lab);
    }
    if (st == VXA_OK && overlap)
        st = vxa_pipeline_batch_overlapped(ctx, p, seed, first_sample, n, images, labels, out_images, out_labels,
                                           draws);
    for (size_t i = 0; i < n && st == VXA_OK && !overlap; i++) {
        const vxa_volume *lab = labels ? labels[i] : NULL;
        st = vxa_pipeline_run(ctx, p, seed, first_sample + i, images[i], lab, &out_images[i],
                              lab ? &out_labels[i] : NULL, draws ? &draws[i] : NULL);
    }
    if (st != VXA_OK)
        for (size_t i = 0; i < n; i++) {
            vxa_volume_free(out_images[i]);
            out_images[i] = NULL;
            if (out_labels) {
                vxa_volume_free(out_labels[i]);
                out_labels[i] = NULL;
            }
            if (draws) {
                vxa_draw_free(draws[i]);
                draws[i] = NULL;
            }
        }
    return st;
}

/* The output's shape and geometry from the plan of sample `sample` of `seed` (flags: VXA_PLAN_*). */
static vxa_status output_shape(const vxa_pipeline *p, uint64_t seed, uint64_t sample, int flags,
                               const vxa_volume *in, vxa_volume *out)
{
    if (!p || !in || !out) return VXA_ERR_INVALID_ARGUMENT;
    if (vxa_volume_check_size(NULL, NULL, 0, in, "in") != VXA_OK ||
        vxa_volume_check_size(NULL, NULL, 0, out, "out") != VXA_OK)
        return VXA_ERR_INVALID_ARGUMENT;
    vxa_grid g;
    vxa_grid_of_volume(in, &g);
    vxa_plan plan;
    char err[1024];
    /* Data-dependent ops draw as if uniform (the shape is the same); a crop to the foreground's box is planned
     * with the whole grid and with a one-voxel box: where the output's shape differs, it depends on the data. */
    const vxa_op_data whole = { .shape_only = true }, small = { .shape_only = true, .probe_small = true };
    vxa_status st = vxa_plan_make_data(p, seed, sample, &g, flags, &small, &plan, err, sizeof err);
    int64_t small_dim[3];
    memcpy(small_dim, plan.out.dim, sizeof small_dim);
    vxa_plan_free(&plan);
    if (st == VXA_OK) st = vxa_plan_make_data(p, seed, sample, &g, flags, &whole, &plan, err, sizeof err);
    if (st == VXA_OK && memcmp(small_dim, plan.out.dim, sizeof small_dim) != 0) st = VXA_ERR_UNSUPPORTED;
    if (st == VXA_OK) {
        const size_t out_size = out->size;
        *out = *in;     /* every accepted size holds the whole of today's layout (VXA_VOLUME_SIZE_V1) */
        out->size = out_size;
        out->data = NULL;
        out->dtype = VXA_FLOAT32;
        out->scl_slope = out->scl_inter = 0.0;
        for (int a = 0; a < 3; a++) out->dim[a] = plan.out.dim[a];
        vxa_grid_to_volume(&plan.out, out);
    }
    vxa_plan_free(&plan);
    return st;
}

vxa_status vxa_pipeline_output_shape(const vxa_pipeline *p, const vxa_volume *in, vxa_volume *out)
{
    return output_shape(p, 0, 0, VXA_PLAN_ALL_APPLIED, in, out);
}

vxa_status vxa_pipeline_output_shape_ex(const vxa_pipeline *p, const vxa_run_options *o, const vxa_volume *in,
                                        vxa_volume *out)
{
    vxa_run_options full;
    if (!o || vxa_run_options_import(NULL, o, &full) != VXA_OK) return VXA_ERR_INVALID_ARGUMENT;
    return output_shape(p, full.seed, full.sample, 0, in, out);
}
