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

static vxa_status ref_one(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol, const vxa_dvol *mask);

/* Every voxel of channel c through y = (x - a) * f + b (NaN stays NaN; f = 0 gives b), stored as float32. */
static void ref_linear(vxa_dvol *vol, int64_t c, double a, double f, double b)
{
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    for (size_t v = (size_t)c * n; v < (size_t)(c + 1) * n; v++) {
        const double x = vxa_dvol_value(vol, v);
        vxa_dvol_store(vol, v, isnan(x) ? x : f == 0 ? b : (x - a) * f + b);
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

/* One op over the whole volume: its statistics per channel, then its reference formula (vxa_iop_impl.ref,
 * src/ops_intensity.c) at every voxel, stored as float32. */
static vxa_status ref_one(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol, const vxa_dvol *mask)
{
    const vxa_iop_impl *im = vxa_iop_impl_of(op->id);
    if (!im) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity op %d: no such op", op->id);
    if (op->id == VXA_INT_GAMMA && (op->invert || op->retain)) return ref_gamma_nnunet(ctx, op, vol);
    if (im->apply) return im->apply(ctx, op, vol);   /* reference smoothing and resampling */
    mask = op->masked ? mask : NULL;
    const int64_t nc = vol->channels;
    vxa_istats *s = calloc((size_t)nc, sizeof *s);
    vxa_moments *m = calloc((size_t)nc, sizeof *m);
    double *pct = calloc((size_t)nc * 2, sizeof *pct);
    vxa_status st = VXA_OK;
    if (!s || !m || !pct) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "intensity reference: statistics of %lld channels", (long long)nc);
        goto done;
    }
    if (im->stats == VXA_ISTATS_QUANTILES) {
        if ((st = vxa_istats_quantiles(ctx, op, vol, mask, s)) != VXA_OK) goto done;
    } else if (im->stats == VXA_ISTATS_PERCENTILES) {
        const double q[2] = { op->lo, op->hi };
        if ((st = vxa_ref_reduce_percentiles(ctx, vol, op->nonzero, mask, q, pct)) != VXA_OK) goto done;
        for (int64_t c = 0; c < nc; c++) {
            s[c].plo = pct[2 * c];
            s[c].phi = pct[2 * c + 1];
        }
    } else if (im->stats != VXA_ISTATS_NONE) {
        const int want_std = im->stats == VXA_ISTATS_STD;
        if ((st = vxa_ref_reduce_moments(ctx, vol, op->nonzero, mask, want_std, m)) != VXA_OK) goto done;
        for (int64_t c = 0; c < nc; c++) s[c].m = m[c];
    }
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    for (int64_t c = 0; c < nc; c++)
        for (int64_t k = 0; k < vol->dim[2]; k++)
            for (int64_t j = 0; j < vol->dim[1]; j++)
                for (int64_t i = 0; i < vol->dim[0]; i++) {
                    const size_t idx = (size_t)(i + vol->dim[0] * (j + vol->dim[1] * k)) + (size_t)c * n;
                    const vxa_ivoxel at = { .dim = vol->dim, .c = c, .i = i, .j = j, .k = k };
                    vxa_dvol_store(vol, idx, im->ref(op, &s[c], vxa_dvol_value(vol, idx), &at));
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
        for (size_t v = 0; v < total; v++) vxa_dvol_store(vol, v, (float)vxa_dvol_value(vol, v));
        vol->slope = vol->inter = 0.0f;
    }
    for (int i = 0; i < n; i++) {
        vxa_status st = ref_one(ctx, &ops[i], vol, mask);
        if (st != VXA_OK) return st;
    }
    return VXA_OK;
}

vxa_status vxa_ref_intensity_apply_part(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol,
                                        const int64_t grid[3], const int64_t off[3])
{
    static const vxa_istats none;   /* the ops take no statistics */
    const size_t nv = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    for (int q = 0; q < n; q++) {
        const vxa_iop_impl *im = vxa_iop_impl_of(ops[q].id);
        for (int64_t c = 0; c < vol->channels; c++)
            for (int64_t k = 0; k < vol->dim[2]; k++)
                for (int64_t j = 0; j < vol->dim[1]; j++)
                    for (int64_t i = 0; i < vol->dim[0]; i++) {
                        const size_t idx = (size_t)(i + vol->dim[0] * (j + vol->dim[1] * k)) + (size_t)c * nv;
                        const vxa_ivoxel at = { .dim = grid, .c = c, .i = i + off[0], .j = j + off[1],
                                                .k = k + off[2] };
                        vxa_dvol_store(vol, idx, im->ref(&ops[q], &none, vxa_dvol_value(vol, idx), &at));
                    }
    }
    vxa_count_launch(ctx, "vxa_intensity_apply");
    return VXA_OK;
}
