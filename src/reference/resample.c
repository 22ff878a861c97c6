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

static bool finite3(const double *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

vxa_status vxa_resample_check(vxa_context *ctx, const vxa_dvol *in, const vxa_dvol *out,
                              const vxa_resample_params *p)
{
    if (!in || !out || !p) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: NULL argument");
    if (p->order != 0 && p->order != 1)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: order %d, expected 0 (nearest) or 1 (trilinear)",
                        p->order);
    if (p->mode != VXA_MODE_CONSTANT && p->mode != VXA_MODE_NEAREST && p->mode != VXA_MODE_REFLECT)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: mode %d, expected constant (0), nearest (1) or "
                        "reflect (2)", (int)p->mode);
    for (int a = 0; a < 3; a++) {
        if (in->dim[a] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: input dim[%d] = %lld, expected >= 1", a,
                            (long long)in->dim[a]);
        if (out->dim[a] != p->out_dim[a] || p->out_dim[a] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: output dim[%d] = %lld but out_dim[%d] = %lld "
                            "(both must agree and be >= 1)", a, (long long)out->dim[a], a, (long long)p->out_dim[a]);
    }
    if (in->channels < 1 || out->channels != in->channels)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: output has %lld channels, input %lld (must be "
                        "equal and >= 1)", (long long)out->channels, (long long)in->channels);
    if (vxa_dtype_size(in->dtype) == 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: unknown input type %d", (int)in->dtype);
    if (out->dtype != VXA_FLOAT32) {
        if (p->order != 0)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: order 1 needs a float32 output, got %s (only "
                            "nearest neighbour copies labels in their own type)", vxa_dtype_name(out->dtype));
        if (out->dtype != in->dtype)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: a %s output of order 0 must have the input's "
                            "type, got %s input (labels keep their type; images are written as float32)",
                            vxa_dtype_name(out->dtype), vxa_dtype_name(in->dtype));
    }
    if (!finite3(&p->A[0][0], 9) || !finite3(p->b, 3) || !isfinite(p->cval))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: the matrix, offset and cval must be finite");
    if (p->in_nz || p->in_k0 || p->out_k0) {   /* in_nz 0: the input is whole */
        const int64_t in_nz = vxa_resample_in_nz(p, in);
        if (p->in_nz < 0 || p->in_k0 < 0 || p->out_k0 < 0 || p->in_k0 + in->dim[2] > in_nz || in_nz > INT32_MAX ||
            p->out_k0 > INT32_MAX)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: slab planes %lld.. (+%lld) of an input %lld "
                            "deep, output from plane %lld: out of range", (long long)p->in_k0,
                            (long long)in->dim[2], (long long)in_nz, (long long)p->out_k0);
    }
    if (p->out_i0 < 0 || p->out_j0 < 0 || p->out_i0 > INT32_MAX || p->out_j0 > INT32_MAX)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: output window from (%lld, %lld): out of range",
                        (long long)p->out_i0, (long long)p->out_j0);
    if (p->field && p->coarse)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: a displacement field and a coarse field at once");
    if (p->coarse) {
        const vxa_dvol *f = p->coarse;
        if (f->dtype != VXA_FLOAT32 || f->channels != 3 || f->dim[0] < 1 || f->dim[1] < 1 || f->dim[2] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: the coarse displacement field is %s x %lld "
                            "channels, expected float32 x 3", vxa_dtype_name(f->dtype), (long long)f->channels);
        for (int a = 0; a < 3; a++)
            if (!(p->coarse_step[a] > 0) || !isfinite(p->coarse_step[a]) || !isfinite(p->coarse_start[a]))
                return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: coarse field step %g, start %g along "
                                "axis %d: expected a finite step > 0", p->coarse_step[a], p->coarse_start[a], a);
    }
    if (p->field) {
        const vxa_dvol *f = p->field;
        if (f->dtype != VXA_FLOAT32 || f->channels != 3 || f->dim[0] != p->out_dim[0] || f->dim[1] != p->out_dim[1] ||
            f->dim[2] != p->out_dim[2])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: the displacement field is %s %lldx%lldx%lld x "
                            "%lld channels, expected float32 %lldx%lldx%lld x 3 (the output grid)",
                            vxa_dtype_name(f->dtype), (long long)f->dim[0], (long long)f->dim[1],
                            (long long)f->dim[2], (long long)f->channels, (long long)p->out_dim[0],
                            (long long)p->out_dim[1], (long long)p->out_dim[2]);
    }
    return VXA_OK;
}

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
        sum += w * (q < 0 ? cval : vxa_ref_value(v, (size_t)q));
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
    vxa_ref_store(&f, 0, p->cval);  /* cval in the label's type, as the kernel gets it */
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
                    for (int a = 0; a < 3; a++) d[a] = vxa_ref_value(p->field, o + (size_t)a * nout);
                if (p->order == 1) {
                    double pos[3];
                    for (int r = 0; r < 3; r++) {
                        pos[r] = p->b[r];
                        for (int c = 0; c < 3; c++) pos[r] += p->A[r][c] * ((double)oi[c] + d[c]);
                    }
                    for (int64_t c = 0; c < out->channels; c++)
                        vxa_ref_store(out, o + (size_t)c * nout, ref_sample_linear(in, pos, c, p->mode, p->cval, p->in_k0,
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
                        vxa_ref_store(out, oc, q < 0 ? p->cval : vxa_ref_value(in, (size_t)q));
                    else
                        memcpy((char *)out->host + oc * es, q < 0 ? (const char *)fill
                                                                  : (const char *)in->host + (size_t)q * es, es);
                }
            }
    vxa_count_launch(ctx, "vxa_resample");
    return VXA_OK;
}
