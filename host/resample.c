/* SPDX-License-Identifier: MIT */
/* The resampling pass on the device (kernels/resample.cl): one launch, counted as "vxa_resample". */
#include "cl.h"

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

vxa_status vxa_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p)
{
    vxa_status st = vxa_resample_check(ctx, in, out, p);
    if (st != VXA_OK) return st;
    if (ctx->reference) return vxa_ref_resample(ctx, in, out, p);

    const bool raw = out->dtype != VXA_FLOAT32;  /* labels: order 0, the input's type, copied bit for bit */
    vxa_dvol conv = { 0 };
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
    char name[64];
    snprintf(name, sizeof name, "vxa_resample_%s%s%s", p->order == 1 ? "linear" : "nearest",
             p->field ? "_field" : "", in->channels == 1 ? "_1" : "");
    cl_kernel k;
    if ((st = vxa_cl_kernel(ctx, "resample", opts, name, &k)) != VXA_OK) goto done;

    /* cval: float for images; for labels the value in the label's type (rounded, saturated), as its bytes */
    unsigned char fill[8] = { 0 };
    vxa_dvol f = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = raw ? out->dtype : VXA_FLOAT32, .host = fill };
    vxa_ref_store(&f, 0, p->cval);
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
    st = vxa_cl_args(ctx, k, name, sizeof inm, &inm, sizeof outm, &outm, sizeof fm, &fm, sizeof ind, &ind,
                     sizeof outd, &outd, sizeof col[0], &col[0], sizeof col[1], &col[1], sizeof col[2], &col[2],
                     sizeof b, &b, sizeof mode, &mode, fill_size, fill, sizeof slope, &slope, sizeof inter, &inter,
                     (size_t)0);
    if (st != VXA_OK) goto done;
    const size_t g[3] = { (size_t)out->dim[0], (size_t)out->dim[1], (size_t)out->dim[2] };
    st = vxa_cl_launch(ctx, k, "vxa_resample", 3, g);
done:
    vxa_dvol_release(ctx, &conv);
    return st;
}
