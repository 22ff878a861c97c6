/* SPDX-License-Identifier: MIT */
/* Reference intensity ops: one op at a time over the whole volume, statistics and formula in double, the
 * result stored as float32 after each op. */
#include "intensity.h"
#include "shared/philox.h"

#include <math.h>
#include <stdlib.h>

double vxa_ref_noise_normal(uint64_t seed, uint64_t sample, uint32_t stream, uint64_t v)
{
    const vxa_philox4 w = vxa_philox_block(seed, sample, stream, (uint32_t)(v >> 2));
    const int lane = (int)(v & 3);
    const uint32_t wa = lane < 2 ? w.v[0] : w.v[2], wb = lane < 2 ? w.v[1] : w.v[3];
    const double r = sqrt(-2.0 * log(1.0 - (double)vxa_u01(wa)));
    const double theta = 6.283185307179586476925 * (double)vxa_u01(wb);
    return (lane & 1) ? r * sin(theta) : r * cos(theta);
}

static double ref_coord(int64_t i, int64_t n)
{
    return n > 1 ? (double)(2 * i - (n - 1)) / (double)(n - 1) : 0.0;
}

double vxa_ref_bias_exponent(const vxa_iop *op, const int64_t dim[3], int64_t i, int64_t j, int64_t k)
{
    const double x = ref_coord(i, dim[0]), y = ref_coord(j, dim[1]), z = ref_coord(k, dim[2]);
    double p = 0;
    int t = 0;
    for (int a = 0; a <= op->order; a++)
        for (int b = 0; b <= op->order - a; b++)
            for (int c = 0; c <= op->order - a - b; c++)
                p += op->coef[t++] * pow(x, a) * pow(y, b) * pow(z, c);
    return p;
}

/* y = f(x) for one op on one channel whose statistics st already holds. */
typedef struct {
    double lo, hi;               /* clip bounds (pclip: the percentiles) */
    vxa_moments m;
} ref_stats;

static double ref_op_value(const vxa_iop *op, const ref_stats *s, double x, const vxa_dvol *vol, int64_t c,
                           int64_t i, int64_t j, int64_t k)
{
    const double range = s->m.max - s->m.min;
    switch (op->id) {
    case VXA_INT_CLIP:
    case VXA_INT_PCLIP:
        if (isnan(x) || (op->nonzero && x == 0) || isnan(s->lo)) return x;
        return fmin(fmax(x, s->lo), s->hi);
    case VXA_INT_WINDOW:
        if (isnan(x)) return x;
        return (fmin(fmax(x, op->a), op->b) - op->a) / (op->b - op->a);
    case VXA_INT_MINMAX:
        if (!(s->m.count > 0)) return x;
        if (range == 0) return isnan(x) ? x : 0.0;
        return (x - s->m.min) / range;
    case VXA_INT_ZSCORE:
        if (!(s->m.count > 0) || (op->nonzero && x == 0)) return x;
        return s->m.std > 0 ? (x - s->m.mean) / s->m.std : x - s->m.mean;
    case VXA_INT_GAMMA: {
        if (!(s->m.count > 0) || range == 0 || isnan(x)) return x;
        double u = (x - s->m.min) / range;
        if (u < 0) u = 0;
        return pow(u, op->a) * range + s->m.min;
    }
    case VXA_INT_BRIGHTNESS:
        return x * op->a;
    case VXA_INT_CONTRAST: {
        if (!(s->m.count > 0)) return x;
        double y = (x - s->m.mean) * op->a + s->m.mean;
        if (op->preserve && !isnan(y)) y = fmin(fmax(y, s->m.min), s->m.max);
        return y;
    }
    case VXA_INT_NOISE: {
        const uint64_t v = (uint64_t)(i + vol->dim[0] * (j + vol->dim[1] * k));
        return x + op->a * vxa_ref_noise_normal(op->seed, op->sample, op->op_index << 8 | (uint32_t)c, v);
    }
    case VXA_INT_BIAS:
        return x * exp(vxa_ref_bias_exponent(op, vol->dim, i, j, k));
    default:
        return x;
    }
}

static vxa_status ref_one(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol, const vxa_dvol *mask);

/* Every voxel of channel c through y = (x - a) * f + b (NaN stays NaN; f = 0 gives b), stored as float32. */
static void ref_linear(vxa_dvol *vol, int64_t c, double a, double f, double b)
{
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    for (size_t v = (size_t)c * n; v < (size_t)(c + 1) * n; v++) {
        const double x = vxa_ref_value(vol, v);
        vxa_ref_store(vol, v, isnan(x) ? x : f == 0 ? b : (x - a) * f + b);
    }
}

/* nnU-Net's augment_gamma with invert_image and retain_stats, written out as its steps. */
static vxa_status ref_gamma_nnunet(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol)
{
    const int64_t nc = vol->channels;
    vxa_iop g = *op;
    g.invert = g.retain = 0;
    vxa_moments *before = calloc((size_t)nc, sizeof *before), *after = calloc((size_t)nc, sizeof *after);
    vxa_status st = VXA_OK;
    if (!before || !after) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gamma reference: %lld channels", (long long)nc);
        goto done;
    }
    if (op->invert)
        for (int64_t c = 0; c < nc; c++) ref_linear(vol, c, 0, -1, 0);
    if (op->retain && (st = vxa_ref_reduce_moments(ctx, vol, 0, NULL, 1, before)) != VXA_OK) goto done;
    if ((st = ref_one(ctx, &g, vol, NULL)) != VXA_OK) goto done;
    if (op->retain) {
        if ((st = vxa_ref_reduce_moments(ctx, vol, 0, NULL, 1, after)) != VXA_OK) goto done;
        for (int64_t c = 0; c < nc; c++)
            if (before[c].count > 0 && after[c].count > 0)
                ref_linear(vol, c, after[c].mean, before[c].std / (after[c].std + 1e-8), before[c].mean);
    }
    if (op->invert)
        for (int64_t c = 0; c < nc; c++) ref_linear(vol, c, 0, -1, 0);
done:
    free(before);
    free(after);
    return st;
}

static vxa_status ref_one(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol, const vxa_dvol *mask)
{
    if (op->id == VXA_INT_GAMMA && (op->invert || op->retain)) return ref_gamma_nnunet(ctx, op, vol);
    mask = op->masked ? mask : NULL;
    const int64_t nc = vol->channels;
    ref_stats *s = calloc((size_t)nc, sizeof *s);
    vxa_moments *m = calloc((size_t)nc, sizeof *m);
    double *pct = calloc((size_t)nc * 2, sizeof *pct);
    vxa_status st = VXA_OK;
    if (!s || !m || !pct) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "intensity reference: statistics of %lld channels", (long long)nc);
        goto done;
    }
    if (op->id == VXA_INT_BLUR || op->id == VXA_INT_LOWRES) {   /* reference smoothing and resampling */
        st = op->id == VXA_INT_BLUR ? vxa_intensity_blur(ctx, op, vol) : vxa_intensity_lowres(ctx, op, vol);
        goto done;
    }
    if (op->id == VXA_INT_CLIP) {
        for (int64_t c = 0; c < nc; c++) {
            s[c].lo = op->a;
            s[c].hi = op->b;
        }
    } else if (op->id == VXA_INT_PCLIP) {
        const double q[2] = { op->a, op->b };
        if ((st = vxa_ref_reduce_percentiles(ctx, vol, op->nonzero, mask, q, pct)) != VXA_OK) goto done;
        for (int64_t c = 0; c < nc; c++) {
            s[c].lo = pct[2 * c];
            s[c].hi = pct[2 * c + 1];
        }
    } else if (op->id == VXA_INT_MINMAX || op->id == VXA_INT_ZSCORE || op->id == VXA_INT_GAMMA ||
               op->id == VXA_INT_CONTRAST) {
        const int nonzero = op->id == VXA_INT_ZSCORE && op->nonzero;
        if ((st = vxa_ref_reduce_moments(ctx, vol, nonzero, mask, op->id == VXA_INT_ZSCORE, m)) != VXA_OK)
            goto done;
        for (int64_t c = 0; c < nc; c++) s[c].m = m[c];
    }
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    for (int64_t c = 0; c < nc; c++)
        for (int64_t k = 0; k < vol->dim[2]; k++)
            for (int64_t j = 0; j < vol->dim[1]; j++)
                for (int64_t i = 0; i < vol->dim[0]; i++) {
                    const size_t idx = (size_t)(i + vol->dim[0] * (j + vol->dim[1] * k)) + (size_t)c * n;
                    vxa_ref_store(vol, idx, ref_op_value(op, &s[c], vxa_ref_value(vol, idx), vol, c, i, j, k));
                }
    vxa_count_launch(ctx, "vxa_intensity_apply");
done:
    free(s);
    free(m);
    free(pct);
    return st;
}

vxa_status vxa_ref_intensity_apply(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol, const vxa_dvol *mask)
{
    if (vol->dtype != VXA_FLOAT32)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity ops: expect a float32 volume, got %s",
                        vxa_dtype_name(vol->dtype));
    if (n == 0) return VXA_OK;
    if (vol->slope != 0.0f) {   /* bake the NIfTI scaling in: later ops see scaled values */
        const size_t total = vxa_dvol_voxels(vol);
        for (size_t v = 0; v < total; v++) vxa_ref_store(vol, v, (float)vxa_ref_value(vol, v));
        vol->slope = vol->inter = 0.0f;
    }
    for (int i = 0; i < n; i++) {
        vxa_status st = ref_one(ctx, &ops[i], vol, mask);
        if (st != VXA_OK) return st;
    }
    return VXA_OK;
}
