/* SPDX-License-Identifier: MIT */
/* Flip, crop and pad as exact copies on the device (kernels/copy.cl). */
#include "cl_backend.h"

#include <stdio.h>
#include <stdlib.h>

vxa_status vxa_cl_copy_axes(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                            const int64_t offset[3], vxa_mode mode, double cval)
{
    vxa_status st;
    /* Copy as the bit-equivalent unsigned type for floats: exact, and no double needed on the device. */
    const size_t es = vxa_dtype_size(in->dtype);
    const char *type = in->dtype == VXA_FLOAT64 ? "ulong" : in->dtype == VXA_FLOAT32 ? "uint"
                     : vxa_dtype_cl_name(in->dtype);
    char opts[64];
    snprintf(opts, sizeof opts, "-DIN_T=%s", type);
    cl_kernel k;
    const char *name = ctx->cl->chunked ? "vxa_copy_rows" : "vxa_copy_axes";
    if ((st = vxa_cl_kernel(ctx, "copy", opts, name, &k)) != VXA_OK) return st;
    unsigned char fill[8] = { 0 };
    vxa_dvol f = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = in->dtype, .host = fill };
    vxa_dvol_store(&f, 0, cval);
    cl_long4 ind = { { in->dim[0], in->dim[1], in->dim[2], in->channels } };
    cl_long4 outd = { { out->dim[0], out->dim[1], out->dim[2], out->channels } };
    cl_long4 sg = { { sign[0], sign[1], sign[2], 1 } };
    cl_long4 off = { { offset[0], offset[1], offset[2], 0 } };
    cl_int m = (cl_int)mode;
    cl_mem inm = (cl_mem)in->mem, outm = (cl_mem)out->mem;
    st = vxa_cl_args(ctx, k, name, VXA_ARG(inm), VXA_ARG(outm), VXA_ARG(ind), VXA_ARG(outd), VXA_ARG(sg),
                     VXA_ARG(off), VXA_ARG(m), { es, fill });
    if (st != VXA_OK) return st;
    if (ctx->cl->chunked) {
        const size_t g[3] = { (size_t)out->dim[1], (size_t)out->dim[2], 1 };
        return vxa_cl_launch(ctx, k, name, 2, g);
    }
    const size_t g[3] = { (size_t)out->dim[0], (size_t)out->dim[1], (size_t)out->dim[2] };
    return vxa_cl_launch(ctx, k, name, 3, g);
}

vxa_status vxa_cl_cast_float(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out)
{
    if (in->dtype == VXA_FLOAT64) {
        /* float64 never reaches a kernel: the host converts it (through a mapped view on OpenCL devices). */
        if (!in->host) return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "cast: float64 input without host data");
        const size_t n = vxa_dvol_voxels(in);
        float *tmp = malloc(n * sizeof *tmp);
        if (!tmp) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "cast: %zu floats", n);
        for (size_t i = 0; i < n; i++) tmp[i] = (float)vxa_dvol_value(in, i);
        vxa_count_launch(ctx, "vxa_cast_float");
        vxa_status st = vxa_dvol_write(ctx, out, tmp);
        free(tmp);
        return st;
    }
    char opts[64];
    snprintf(opts, sizeof opts, "-DIN_T=%s", vxa_dtype_cl_name(in->dtype));
    cl_kernel k;
    vxa_status st = vxa_cl_kernel(ctx, "copy", opts, "vxa_cast_float", &k);
    if (st != VXA_OK) return st;
    cl_long n = (cl_long)vxa_dvol_voxels(in);
    cl_mem inm = (cl_mem)in->mem, outm = (cl_mem)out->mem;
    st = vxa_cl_args(ctx, k, "vxa_cast_float", VXA_ARG(inm), VXA_ARG(outm), VXA_ARG(n), VXA_ARG(in->slope),
                     VXA_ARG(in->inter));
    if (st != VXA_OK) return st;
    const size_t g[3] = { (size_t)n, 1, 1 };
    return vxa_cl_launch(ctx, k, "vxa_cast_float", 1, g);
}

vxa_status vxa_cl_label_remap(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                              const int64_t *to, int n, int drop)
{
    char opts[64];
    snprintf(opts, sizeof opts, "-DIN_T=%s", vxa_dtype_cl_name(in->dtype));
    cl_kernel k;
    vxa_status st = vxa_cl_kernel(ctx, "copy", opts, "vxa_label_remap", &k);
    if (st != VXA_OK) return st;
    cl_mem fm = NULL, tm = NULL;
    const size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(cl_long);
    cl_long none = 0;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, n ? (void *)from : &none, &fm,
                            "remap keys")) != VXA_OK ||
        (st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, n ? (void *)to : &none, &tm,
                            "remap values")) != VXA_OK)
        goto done;
    cl_long nv = (cl_long)vxa_dvol_voxels(in);
    cl_int m = n, dr = drop;
    cl_mem inm = (cl_mem)in->mem, outm = (cl_mem)out->mem;
    st = vxa_cl_args(ctx, k, "vxa_label_remap", VXA_ARG(inm), VXA_ARG(outm), VXA_ARG(nv), VXA_ARG(fm), VXA_ARG(tm),
                     VXA_ARG(m), VXA_ARG(dr));
    const size_t g[3] = { (size_t)nv, 1, 1 };
    if (st == VXA_OK) st = vxa_cl_launch(ctx, k, "vxa_label_remap", 1, g);
done:
    if (fm) clReleaseMemObject(fm);
    if (tm) clReleaseMemObject(tm);
    return st;
}
