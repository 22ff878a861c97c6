/* SPDX-License-Identifier: MIT */
/* Reference for flip, crop and pad: one loop over output voxels, the formula as written. */
#include "internal.h"

#include <string.h>

vxa_status vxa_ref_copy_axes(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                             const int64_t offset[3], vxa_mode mode, double cval)
{
    const size_t es = vxa_dtype_size(in->dtype);
    unsigned char fill[8];
    vxa_dvol f = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = in->dtype, .host = fill };
    vxa_dvol_store(&f, 0, cval);  /* cval in the volume's type, as the kernel gets it */
    const size_t nin = (size_t)(in->dim[0] * in->dim[1] * in->dim[2]);
    const size_t nout = (size_t)(out->dim[0] * out->dim[1] * out->dim[2]);
    for (int64_t c = 0; c < out->channels; c++)
        for (int64_t k = 0; k < out->dim[2]; k++)
            for (int64_t j = 0; j < out->dim[1]; j++)
                for (int64_t i = 0; i < out->dim[0]; i++) {
                    const int64_t o[3] = { i, j, k };
                    int64_t p[3];
                    bool inside = true;
                    for (int a = 0; a < 3; a++) {
                        p[a] = vxa_fold_index(sign[a] * o[a] + offset[a], in->dim[a], mode);
                        inside = inside && p[a] >= 0;
                    }
                    const size_t oi = (size_t)(i + out->dim[0] * (j + out->dim[1] * k)) + (size_t)c * nout;
                    const size_t pi = (size_t)(p[0] + in->dim[0] * (p[1] + in->dim[1] * p[2])) + (size_t)c * nin;
                    memcpy((char *)out->host + oi * es, inside ? (const char *)in->host + pi * es : (const char *)fill, es);
                }
    vxa_count_launch(ctx, "vxa_copy_axes");
    return VXA_OK;
}

vxa_status vxa_ref_cast_float(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out)
{
    const size_t n = vxa_dvol_voxels(in);
    for (size_t i = 0; i < n; i++) ((float *)out->host)[i] = (float)vxa_dvol_value(in, i);
    vxa_count_launch(ctx, "vxa_cast_float");
    return VXA_OK;
}

vxa_status vxa_ref_label_remap(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                               const int64_t *to, int n, int drop)
{
    const size_t nv = vxa_dvol_voxels(in);
    vxa_dvol src = *in, dst = *out;   /* the stored labels, never scaled */
    src.slope = src.inter = dst.slope = dst.inter = 0.0f;
    for (size_t v = 0; v < nv; v++) {
        const double x = vxa_dvol_value(&src, v);   /* integer labels, exact in double */
        double y = drop ? 0.0 : x;
        for (int i = 0; i < n; i++)   /* the list as written: a plain scan */
            if ((double)from[i] == x) y = (double)to[i];
        vxa_dvol_store(&dst, v, y);
    }
    vxa_count_launch(ctx, "vxa_label_remap");
    return VXA_OK;
}
