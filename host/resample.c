/* SPDX-License-Identifier: MIT */
/* The resampling pass on the device (kernels/resample.cl): one launch, counted as "vxa_resample". (A map that is
 * an exact copy never comes here: src/backend.c runs the copy instead.) */
#include "cl_backend.h"
#include "resample_label.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* float64 images: the kernels never use double, so the input is converted to float32 here first, keeping the
 * stored value's rounding to float and the scaling (the kernel applies slope/inter as for any type). */
static vxa_status to_float32(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out)
{
    const size_t n = vxa_dvol_voxels(in);
    double *src = malloc(vxa_dvol_bytes(in));
    float *dst = malloc(n * sizeof *dst);
    vxa_status st = VXA_OK;
    if (!src || !dst) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "resample: %zu bytes to convert a float64 input to float32",
                      vxa_dvol_bytes(in) + n * sizeof *dst);
        goto done;
    }
    if ((st = vxa_dvol_read(ctx, in, src)) != VXA_OK) goto done;
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
    if ((st = vxa_dvol_alloc(ctx, in->dim, in->channels, VXA_FLOAT32, out)) != VXA_OK) goto done;
    out->slope = in->slope;
    out->inter = in->inter;
    if ((st = vxa_dvol_write(ctx, out, dst)) != VXA_OK) vxa_dvol_release(ctx, out);
done:
    free(src);
    free(dst);
    return st;
}

/* The type name the kernel moves for a raw (label) copy: floats travel as their bits. */
static const char *raw_type(vxa_dtype t)
{
    return t == VXA_FLOAT64 ? "ulong" : t == VXA_FLOAT32 ? "uint" : vxa_dtype_cl_name(t);
}



/* The coarse field interpolated along i onto the output's nx (kernels/noise.cl, vxa_noise_upsample_i), into h
 * (allocated here: nx x coarse ny x coarse nz x 3). */
static vxa_status upsample_i(vxa_context *ctx, const vxa_dvol *coarse, const int64_t fine[3],
                             const cl_float4 *start, const cl_float4 *inv_step, vxa_dvol *h)
{
    const int64_t hd[3] = { fine[0], coarse->dim[1], coarse->dim[2] };
    cl_kernel k;
    const bool x8 = ctx->cl->chunked;   /* the CPU form: eight voxels of a row per work-item */
    const char *name = x8 ? "vxa_noise_upsample_i8" : "vxa_noise_upsample_i";
    vxa_status st = vxa_cl_kernel(ctx, "noise", "", name, &k);
    if (st != VXA_OK || (st = vxa_dvol_alloc(ctx, hd, coarse->channels, VXA_FLOAT32, h)) != VXA_OK) return st;
    const cl_long4 cd = { { coarse->dim[0], coarse->dim[1], coarse->dim[2], coarse->channels } };
    const cl_long4 fd = { { fine[0], fine[1], fine[2], coarse->channels } };
    cl_mem cm = (cl_mem)coarse->mem, hm = (cl_mem)h->mem;
    st = vxa_cl_args(ctx, k, name, VXA_ARG(cm), VXA_ARG(hm), VXA_ARG(cd), VXA_ARG(fd), VXA_ARG(*start),
                     VXA_ARG(*inv_step));
    const size_t g[3] = { x8 ? (size_t)(hd[0] + 7) / 8 : (size_t)hd[0], (size_t)hd[1], (size_t)hd[2] };
    if (st == VXA_OK) st = vxa_cl_launch(ctx, k, name, 3, g);
    if (st != VXA_OK) vxa_dvol_release(ctx, h);
    return st;
}

vxa_status vxa_cl_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p)
{
    vxa_status st;
    /* labels: the input's type, copied bit for bit (order 0, or per label with label_rule) */
    const bool raw = out->dtype != VXA_FLOAT32 || p->label_rule;
    vxa_dvol conv = { 0 }, h = { 0 };
    const vxa_dvol *src = in;
    if (!raw && in->dtype == VXA_FLOAT64) {
        if ((st = to_float32(ctx, in, &conv)) != VXA_OK) return st;
        src = &conv;
    }
    /* 32-bit index arithmetic where every channel has at most 2^30 voxels (positions are clamped to 2^30) */
    const int64_t limit = (int64_t)1 << 30;
    const bool small = src->dim[0] * src->dim[1] * src->dim[2] <= limit &&
                       out->dim[0] * out->dim[1] * out->dim[2] <= limit;
    char opts[128];
    if (raw)
        snprintf(opts, sizeof opts, "-DIN_T=%s -DOUT_T=%s -DOUT_IS_RAW=1 -DIDX_T=%s", raw_type(in->dtype),
                 raw_type(out->dtype), small ? "int" : "long");
    else
        snprintf(opts, sizeof opts, "-DIN_T=%s -DOUT_T=float -DIDX_T=%s", vxa_dtype_cl_name(src->dtype),
                 small ? "int" : "long");
    /* CPU devices: eight outputs per work-item in float8 lanes for one channel, 32-bit indices */
    const bool x8 = ctx->cl->chunked && in->channels == 1 && small && !p->label_rule;
    char name[64];
    const char *field = p->field ? "_field" : p->coarse ? "_cfield" : "";
    if (p->label_rule)
        snprintf(name, sizeof name, "vxa_resample_label_%s%s",
                 p->label_rule == VXA_LABEL_THRESHOLD ? "threshold" : "argmax", field);
    else
        snprintf(name, sizeof name, "vxa_resample_%s%s%s%s", p->order == 1 ? "linear" : "nearest", x8 ? "8" : "",
                 field, in->channels == 1 ? "_1" : "");
    cl_kernel k;
    if ((st = vxa_cl_kernel(ctx, "resample", opts, name, &k)) != VXA_OK) goto done;

    /* cval: float for images; for labels the value in the label's type (rounded, saturated), as its bytes */
    unsigned char fill[8] = { 0 };
    vxa_dvol f = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = raw ? out->dtype : VXA_FLOAT32, .host = fill };
    vxa_dvol_store(&f, 0, p->cval);
    const size_t fill_size = vxa_dtype_size(f.dtype);
    cl_long4 ind = { { src->dim[0], src->dim[1], src->dim[2], src->channels } };
    cl_long4 outd = { { out->dim[0], out->dim[1], out->dim[2], out->channels } };
    cl_float4 col[3], b;
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 3; r++) col[c].s[r] = (float)p->A[r][c];
    for (int r = 0; r < 3; r++) b.s[r] = (float)p->b[r];
    col[0].s[3] = col[1].s[3] = col[2].s[3] = b.s[3] = 0.0f;
    cl_int mode = (cl_int)p->mode;
    cl_float slope = src->slope, inter = src->inter;
    cl_mem inm = (cl_mem)src->mem, outm = (cl_mem)out->mem;
    cl_mem fm = p->field ? (cl_mem)p->field->mem : (cl_mem)out->mem;  /* never read without a field */
    cl_long4 cdim = { { 1, 1, 1, 3 } };
    cl_float4 cstart = { { 0.0f, 0.0f, 0.0f, 0.0f } }, cinv = { { 1.0f, 1.0f, 1.0f, 0.0f } };
    if (p->coarse) {   /* the rows along i first (h); the pass interpolates them along j and k */
        for (int a = 0; a < 3; a++) {   /* as vxa_noise_upsample passes them */
            cstart.s[a] = (float)p->coarse_start[a];
            cinv.s[a] = (float)(1.0 / p->coarse_step[a]);
        }
        vxa_dvol *rows = p->coarse_rows ? p->coarse_rows : &h;
        /* on the whole output's i up to the window's end (the pass indexes them by the whole output's i) */
        const int64_t whole[3] = { p->out_i0 + out->dim[0], p->out_j0 + out->dim[1], p->out_k0 + out->dim[2] };
        if (!rows->mem && (st = upsample_i(ctx, p->coarse, whole, &cstart, &cinv, rows)) != VXA_OK) goto done;
        fm = (cl_mem)rows->mem;
        cdim = (cl_long4){ { rows->dim[0], rows->dim[1], rows->dim[2], 3 } };
    }
    cl_int4 slab = { { (cl_int)p->out_k0, (cl_int)p->in_k0, (cl_int)vxa_resample_in_nz(p, src), 0 } };
    cl_int4 woff = { { (cl_int)p->out_i0, (cl_int)p->out_j0, 0, 0 } };
    st = vxa_cl_args(ctx, k, name, VXA_ARG(inm), VXA_ARG(outm), VXA_ARG(fm), VXA_ARG(ind), VXA_ARG(outd),
                     VXA_ARG(col[0]), VXA_ARG(col[1]), VXA_ARG(col[2]), VXA_ARG(b), VXA_ARG(mode),
                     { fill_size, fill }, VXA_ARG(slope), VXA_ARG(inter), VXA_ARG(slab), VXA_ARG(cdim),
                     VXA_ARG(cstart), VXA_ARG(cinv), VXA_ARG(woff));
    if (st != VXA_OK) goto done;
    const size_t g[3] = { x8 ? (size_t)(out->dim[0] + 7) / 8 : (size_t)out->dim[0], (size_t)out->dim[1],
                          (size_t)out->dim[2] };
    st = vxa_cl_launch(ctx, k, "vxa_resample", 3, g);
done:
    vxa_dvol_release(ctx, &conv);
    vxa_dvol_release(ctx, &h);
    return st;
}
