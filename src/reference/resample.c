/* SPDX-License-Identifier: MIT */
/* Reference for the resampling pass: one loop over output voxels, the formula as written.
 * Trilinear in double precision, as STYLE.md's ref_sample_linear. Nearest neighbour takes its position from
 * kernels/resample_coord.h, the float32 formula the kernel uses, so that labels equal the device's bit for bit
 * (a double position could round to the other neighbour where p is within an ulp of a .5 boundary). */
#include "elastic.h"
#include "internal.h"
#include "resample_coord.h"
#include "resample_label.h"

#include <math.h>
#include <string.h>


/* Linear index of grid position idx in channel c after folding by the mode; -1 = outside (reads cval).
 * v holds planes k0 .. of a volume nz deep (a slab; k0 = 0 and nz = v->dim[2] for a whole volume). */
static int64_t ref_index(const vxa_dvol *v, const int64_t idx[3], int64_t c, vxa_mode mode, int64_t k0,
                         int64_t nz)
{
    int64_t q[3];
    const int64_t n[3] = { v->dim[0], v->dim[1], nz };
    for (int a = 0; a < 3; a++)
        if ((q[a] = vxa_fold_index(idx[a], n[a], mode)) < 0) return -1;
    return q[0] + v->dim[0] * (q[1] + v->dim[1] * (q[2] - k0 + v->dim[2] * c));
}

/* Trilinear sample of channel c at continuous index p; neighbours outside the grid follow the mode. */
static double ref_sample_linear(const vxa_dvol *v, const double p[3], int64_t c, vxa_mode mode, double cval,
                                int64_t k0, int64_t nz)
{
    double f[3];
    for (int a = 0; a < 3; a++) /* the same clamp as the kernel: far outside is far outside */
        f[a] = floor(fmin(fmax(p[a], -(double)VXA_RC_LIMIT), (double)VXA_RC_LIMIT));
    double sum = 0.0;
    for (int corner = 0; corner < 8; corner++) { /* one term per neighbour */
        int64_t idx[3];
        double w = 1.0;
        for (int a = 0; a < 3; a++) {
            const int up = (corner >> a) & 1;
            idx[a] = (int64_t)f[a] + up;
            w *= up ? p[a] - f[a] : 1.0 - (p[a] - f[a]);
        }
        const int64_t q = ref_index(v, idx, c, mode, k0, nz);
        sum += w * (q < 0 ? cval : vxa_dvol_value(v, (size_t)q));
    }
    return sum;
}

/* A stored label as an integer key (kernels/resample_label.h): integers as themselves, floats as their bits,
 * as the kernel moves them. */
static vxa_lkey ref_label_key(const vxa_dvol *v, size_t q)
{
    const char *at = (const char *)v->host + q * vxa_dtype_size(v->dtype);
    switch (v->dtype) {
    case VXA_UINT8: return *(const uint8_t *)at;
    case VXA_INT8: return *(const int8_t *)at;
    case VXA_UINT16: return *(const uint16_t *)at;
    case VXA_INT16: return *(const int16_t *)at;
    case VXA_UINT32: case VXA_FLOAT32: { uint32_t u; memcpy(&u, at, 4); return u; }
    case VXA_INT32: return *(const int32_t *)at;
    default: { uint64_t u; memcpy(&u, at, 8); return (vxa_lkey)u; }   /* float64: its bits */
    }
}

/* Per-label linear interpolation of a label map at output voxel o (channel loop inside): the float32 position
 * x (the displaced output index) as the kernel computes it, the eight neighbours folded by the mode (outside in
 * constant mode: the fill value), the label vxa_label_pick chooses copied, 0 where it chooses none. */
static void ref_label_linear(const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p, const float A32[3][3],
                             const float b32[3], const float x[3], size_t o, size_t nout, const unsigned char *fill,
                             int64_t in_nz)
{
    const size_t es = vxa_dtype_size(out->dtype);
    float t[3];
    int64_t f[3];
    for (int r = 0; r < 3; r++) {
        const float pr = vxa_resample_coord(A32[r][0], A32[r][1], A32[r][2], b32[r], x[0], x[1], x[2]);
        f[r] = (int64_t)floorf(pr);
        t[r] = pr - (float)f[r];
    }
    const vxa_dvol fv = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = out->dtype, .host = (void *)fill };
    for (int64_t c = 0; c < out->channels; c++) {
        vxa_lkey lab[8];
        const char *src[8];
        for (int corner = 0; corner < 8; corner++) {
            const int64_t idx[3] = { f[0] + (corner & 1), f[1] + ((corner >> 1) & 1), f[2] + ((corner >> 2) & 1) };
            const int64_t q = ref_index(in, idx, c, p->mode, p->in_k0, in_nz);
            src[corner] = q < 0 ? (const char *)fill : (const char *)in->host + (size_t)q * es;
            lab[corner] = q < 0 ? ref_label_key(&fv, 0) : ref_label_key(in, (size_t)q);
        }
        const int pick = vxa_label_pick(lab, t[0], t[1], t[2], p->label_rule);
        char *dst = (char *)out->host + (o + (size_t)c * nout) * es;
        if (pick < 0) memset(dst, 0, es);
        else memcpy(dst, src[pick], es);
    }
}

vxa_status vxa_ref_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p)
{
    vxa_status st = vxa_resample_check(ctx, in, out, p);
    if (st != VXA_OK) return st;
    if (p->coarse) {   /* the full field first (fine voxel o of a slab or window is o + its offset), then the
                        * plain pass */
        vxa_dvol full = { 0 };
        const double start[3] = { p->coarse_start[0] - (double)p->out_i0, p->coarse_start[1] - (double)p->out_j0,
                                  p->coarse_start[2] - (double)p->out_k0 };
        vxa_resample_params q = *p;
        q.coarse = NULL;
        q.field = &full;
        if ((st = vxa_dvol_alloc(ctx, out->dim, 3, VXA_FLOAT32, &full)) == VXA_OK &&
            (st = vxa_ref_noise_upsample(ctx, p->coarse, &full, start, p->coarse_step)) == VXA_OK)
            st = vxa_ref_resample(ctx, in, out, &q);
        vxa_dvol_release(ctx, &full);
        return st;
    }
    const size_t es = vxa_dtype_size(out->dtype);
    const bool raw = out->dtype != VXA_FLOAT32 || p->label_rule;  /* labels: the stored value, no scaling */
    unsigned char fill[8] = { 0 };
    vxa_dvol f = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = out->dtype, .host = fill };
    vxa_dvol_store(&f, 0, p->cval);  /* cval in the label's type, as the kernel gets it */
    const size_t nout = (size_t)(out->dim[0] * out->dim[1] * out->dim[2]);
    const int64_t in_nz = vxa_resample_in_nz(p, in);
    const float A32[3][3] = { { (float)p->A[0][0], (float)p->A[0][1], (float)p->A[0][2] },
                              { (float)p->A[1][0], (float)p->A[1][1], (float)p->A[1][2] },
                              { (float)p->A[2][0], (float)p->A[2][1], (float)p->A[2][2] } };
    const float b32[3] = { (float)p->b[0], (float)p->b[1], (float)p->b[2] };
    for (int64_t k = 0; k < out->dim[2]; k++)
        for (int64_t j = 0; j < out->dim[1]; j++)
            for (int64_t i = 0; i < out->dim[0]; i++) {
                const size_t o = (size_t)(i + out->dim[0] * (j + out->dim[1] * k));
                const int64_t oi[3] = { i + p->out_i0, j + p->out_j0, k + p->out_k0 };  /* in the whole output */
                double d[3] = { 0.0, 0.0, 0.0 };
                if (p->field)
                    for (int a = 0; a < 3; a++) d[a] = vxa_dvol_value(p->field, o + (size_t)a * nout);
                if (p->label_rule) {
                    float x[3];
                    for (int a = 0; a < 3; a++) x[a] = (float)oi[a] + (float)d[a];
                    ref_label_linear(in, out, p, A32, b32, x, o, nout, fill, in_nz);
                    continue;
                }
                if (p->order == 1) {
                    double pos[3];
                    for (int r = 0; r < 3; r++) {
                        pos[r] = p->b[r];
                        for (int c = 0; c < 3; c++) pos[r] += p->A[r][c] * ((double)oi[c] + d[c]);
                    }
                    for (int64_t c = 0; c < out->channels; c++)
                        vxa_dvol_store(out, o + (size_t)c * nout, ref_sample_linear(in, pos, c, p->mode, p->cval, p->in_k0,
                                                                                 in_nz));
                    continue;
                }
                /* order 0: the kernel's float32 position (see the file comment) */
                float x[3];
                for (int a = 0; a < 3; a++) x[a] = (float)oi[a] + (float)d[a];
                int64_t idx[3];
                for (int r = 0; r < 3; r++)
                    idx[r] = vxa_resample_round(
                        vxa_resample_coord(A32[r][0], A32[r][1], A32[r][2], b32[r], x[0], x[1], x[2]));
                for (int64_t c = 0; c < out->channels; c++) {
                    const int64_t q = ref_index(in, idx, c, p->mode, p->in_k0, in_nz);
                    const size_t oc = o + (size_t)c * nout;
                    if (!raw)
                        vxa_dvol_store(out, oc, q < 0 ? p->cval : vxa_dvol_value(in, (size_t)q));
                    else
                        memcpy((char *)out->host + oc * es, q < 0 ? (const char *)fill
                                                                  : (const char *)in->host + (size_t)q * es, es);
                }
            }
    vxa_count_launch(ctx, "vxa_resample");
    return VXA_OK;
}
