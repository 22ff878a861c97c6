/* SPDX-License-Identifier: MIT */
/* Reference for the resampling pass: one loop over output voxels, the formula as written.
 * Trilinear in double precision, as STYLE.md's ref_sample_linear. Nearest neighbour takes its position from
 * kernels/resample_coord.h, the float32 formula the kernel uses, so that labels equal the device's bit for bit
 * (a double position could round to the other neighbour where p is within an ulp of a .5 boundary). */
#include "elastic.h"
#include "internal.h"
#include "resample_coord.h"

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
    const bool raw = out->dtype != VXA_FLOAT32;  /* labels: the stored value itself, no scaling */
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
