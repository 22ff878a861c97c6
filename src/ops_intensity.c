/* SPDX-License-Identifier: MIT */
/* The intensity ops of the op table, one block per op: its parameters (by name), the resolution of its drawn
 * values into what both paths execute (src/intensity.h), the statistics it needs, its program for the device
 * (opcodes of kernels/intensity_ops.h) and its formula for the reference (in double), and its descriptor.
 * The reference formula is a second, independent statement of the op, not the device program run in double:
 * the device check compares the two. Adding an op: a block here, a line in VXA_IOP_LIST (src/intensity.h),
 * its tests. Runs go through vxa_intensity_run.
 *
 * Non-finite voxels (NaN, +-Inf) everywhere: statistics (min, max, mean, std, percentiles) ignore them;
 * NaN stays NaN through every op; clip, pclip and window send +-Inf to their bounds; minmax, zscore,
 * brightness, contrast and noise keep +-Inf infinite (contrast with preserve=1 clips them to the range);
 * gamma sends -Inf to the minimum and keeps +Inf. A channel without a finite voxel (with nonzero: without a
 * finite non-zero voxel) is left as it is by the ops that need statistics. */
#include "ops.h"
#include "intensity.h"
#include "intensity_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG 3.0e38
#define NP(a) (int)(sizeof a / sizeof a[0])

/* An instruction with parameters p0, p1, p2 (npar of them) into *out. */
static vxa_iins ins3(int opcode, int npar, double p0, double p1, double p2)
{
    vxa_iins in = { .opcode = opcode, .npar = npar };
    in.p[0] = p0;
    in.p[1] = p1;
    in.p[2] = p2;
    return in;
}

/* ---- clip ---------------------------------------------------------------------------------------------- */
enum { CLIP_LO, CLIP_HI };
static const vxa_param_desc clip_params[] = {
    [CLIP_LO] = { "lo", 1, VXA_P_REQUIRED, -BIG, BIG, { 0 }, "lower bound", NULL },
    [CLIP_HI] = { "hi", 1, VXA_P_REQUIRED, -BIG, BIG, { 0 }, "upper bound", NULL },
};
static vxa_status clip_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    out->lo = val->v[CLIP_LO][0];
    out->hi = val->v[CLIP_HI][0];
    if (!(out->lo <= out->hi))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "clip(%g, %g): lo > hi", out->lo, out->hi);
    return VXA_OK;
}
static int clip_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    (void)s;
    out[0] = ins3(VXA_IOP_CLIP, 3, op->lo, op->hi, 0);
    return 1;
}
static double clip_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)s, (void)at;
    return isnan(x) ? x : fmin(fmax(x, op->lo), op->hi);
}
static const vxa_iop_impl clip_impl = { "clip", VXA_ISTATS_NONE, clip_resolve, clip_lower, clip_ref, NULL };
static const vxa_op_desc clip_op = {
    .name = "clip", .kind = VXA_OPK_INTENSITY, .params = clip_params, .nparams = NP(clip_params),
    .doc = "clip to [lo, hi]; NaN stays NaN, +-Inf go to the bounds", .scipy = "np.clip(x, lo, hi)",
    .intensity_id = VXA_INT_CLIP };

/* ---- pclip --------------------------------------------------------------------------------------------- */
enum { PCLIP_LO, PCLIP_HI, PCLIP_NONZERO, PCLIP_MASK };
static const vxa_param_desc pclip_params[] = {
    [PCLIP_LO] = { "lo", 1, 0, 0, 100, { 0.5 }, "lower percentile", NULL },
    [PCLIP_HI] = { "hi", 1, 0, 0, 100, { 99.5 }, "upper percentile", NULL },
    [PCLIP_NONZERO] = { "nonzero", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the non-zero voxels, zero voxels "
                        "stay 0", NULL },
    [PCLIP_MASK] = { "mask", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the voxels where the label map is "
                     "non-zero", NULL },
};
static vxa_status pclip_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    out->lo = val->v[PCLIP_LO][0];
    out->hi = val->v[PCLIP_HI][0];
    out->nonzero = val->v[PCLIP_NONZERO][0] != 0;
    out->masked = val->v[PCLIP_MASK][0] != 0;
    if (!(out->lo <= out->hi))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pclip(%g, %g): lo > hi", out->lo, out->hi);
    return VXA_OK;
}
static int pclip_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    const bool none = isnan(s->plo);   /* no voxel counted: leave the channel alone */
    out[0] = ins3(op->nonzero ? VXA_IOP_CLIP_NZ : VXA_IOP_CLIP, 2, none ? -INFINITY : s->plo,
                  none ? INFINITY : s->phi, 0);
    return 1;
}
static double pclip_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)at;
    if (isnan(x) || (op->nonzero && x == 0) || isnan(s->plo)) return x;
    return fmin(fmax(x, s->plo), s->phi);
}
static const vxa_iop_impl pclip_impl = { "pclip", VXA_ISTATS_PERCENTILES, pclip_resolve, pclip_lower, pclip_ref,
                                         NULL };
static const vxa_op_desc pclip_op = {
    .name = "pclip", .kind = VXA_OPK_INTENSITY, .params = pclip_params, .nparams = NP(pclip_params),
    .doc = "clip to the [lo, hi] percentiles (linear interpolation) of the finite voxels, or of the finite "
           "non-zero ones with nonzero=1 (zero voxels then stay 0), or of those inside the label map with "
           "mask=1 (all voxels are clipped); computed exactly on the device",
    .scipy = "np.clip(x, *np.percentile(x[np.isfinite(x)], [lo, hi]))", .intensity_id = VXA_INT_PCLIP };

/* ---- minmax -------------------------------------------------------------------------------------------- */
static vxa_status no_params(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx, (void)val, (void)out;
    return VXA_OK;
}
static int minmax_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    (void)op;
    const double range = s->m.max - s->m.min;
    out[0] = s->m.count > 0 ? ins3(VXA_IOP_LINEAR, 3, s->m.min, range > 0 ? 1.0 / range : 0, 0)
                            : ins3(VXA_IOP_LINEAR, 3, 0, 1, 0);
    return 1;
}
static double minmax_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)op, (void)at;
    const double range = s->m.max - s->m.min;
    if (!(s->m.count > 0)) return x;
    if (range == 0) return isnan(x) ? x : 0.0;
    return (x - s->m.min) / range;
}
static const vxa_iop_impl minmax_impl = { "minmax", VXA_ISTATS_RANGE, no_params, minmax_lower, minmax_ref, NULL };
static const vxa_op_desc minmax_op = {
    .name = "minmax", .kind = VXA_OPK_INTENSITY, .params = NULL, .nparams = 0,
    .doc = "rescale to [0, 1]: (x - min) / (max - min) over the finite voxels; a constant channel gives 0",
    .scipy = "(x - x.min()) / (x.max() - x.min())", .intensity_id = VXA_INT_MINMAX };

/* ---- zscore -------------------------------------------------------------------------------------------- */
enum { ZSCORE_NONZERO, ZSCORE_MASK };
static const vxa_param_desc zscore_params[] = {
    [ZSCORE_NONZERO] = { "nonzero", 1, VXA_P_INT, 0, 1, { 0 }, "1: mean and std of the non-zero voxels, zero "
                         "voxels stay 0", NULL },
    [ZSCORE_MASK] = { "mask", 1, VXA_P_INT, 0, 1, { 0 }, "1: mean and std of the voxels where the label map is "
                      "non-zero", NULL },
};
static vxa_status zscore_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx;
    out->nonzero = val->v[ZSCORE_NONZERO][0] != 0;
    out->masked = val->v[ZSCORE_MASK][0] != 0;
    return VXA_OK;
}
static int zscore_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    const int opcode = op->nonzero ? VXA_IOP_LINEAR_NZ : VXA_IOP_LINEAR;
    out[0] = s->m.count > 0 ? ins3(opcode, 3, s->m.mean, s->m.std > 0 ? 1.0 / s->m.std : 1, 0)
                            : ins3(opcode, 3, 0, 1, 0);
    return 1;
}
static double zscore_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)at;
    if (!(s->m.count > 0) || (op->nonzero && x == 0)) return x;
    return s->m.std > 0 ? (x - s->m.mean) / s->m.std : x - s->m.mean;
}
static const vxa_iop_impl zscore_impl = { "zscore", VXA_ISTATS_STD, zscore_resolve, zscore_lower, zscore_ref,
                                          NULL };
static const vxa_op_desc zscore_op = {
    .name = "zscore", .kind = VXA_OPK_INTENSITY, .params = zscore_params, .nparams = NP(zscore_params),
    .doc = "(x - mean) / std, population std of the finite voxels (or non-zero ones: nonzero=1, zeros stay 0; "
           "or those where the label map is non-zero: mask=1, every voxel is then normalised with them); "
           "std 0: only the mean is subtracted",
    .scipy = "MONAI NormalizeIntensity(nonzero=...): (x - x.mean()) / x.std()", .intensity_id = VXA_INT_ZSCORE };

/* ---- window -------------------------------------------------------------------------------------------- */
enum { WINDOW_CENTER, WINDOW_WIDTH, WINDOW_PRESET };
static const char *const window_presets[] = { "none", "brain", "subdural", "stroke", "lung", "bone", "soft",
                                              "liver", "mediastinum", NULL };
/* (centre, width) in HU of each preset after "none": Radiopaedia's usual CT windows. */
static const double window_values[][2] = { { 40, 80 }, { 75, 215 }, { 40, 40 }, { -600, 1500 }, { 400, 1800 },
                                           { 50, 400 }, { 30, 150 }, { 50, 350 } };
static const vxa_param_desc window_params[] = {
    [WINDOW_CENTER] = { "center", 1, 0, -BIG, BIG, { 40 }, "window centre (HU)", NULL },
    [WINDOW_WIDTH] = { "width", 1, 0, 1e-6, BIG, { 80 }, "window width (HU), > 0", NULL },
    [WINDOW_PRESET] = { "preset", 1, VXA_P_INT, 0, 8, { 0 }, "a named window instead of centre and width",
                        window_presets },
};
static vxa_status window_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    const int preset = (int)val->v[WINDOW_PRESET][0];
    const double c = preset > 0 ? window_values[preset - 1][0] : val->v[WINDOW_CENTER][0];
    const double w = preset > 0 ? window_values[preset - 1][1] : val->v[WINDOW_WIDTH][0];
    if (!(w > 0))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "window(center=%g, width=%g): width must be > 0", c, w);
    out->lo = c - w / 2;
    out->hi = c + w / 2;
    return VXA_OK;
}
static int window_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    (void)s;
    out[0] = ins3(VXA_IOP_CLIP, 3, op->lo, op->hi, 0);
    out[1] = ins3(VXA_IOP_LINEAR, 3, op->lo, 1.0 / (op->hi - op->lo), 0);
    return 2;
}
static double window_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)s, (void)at;
    if (isnan(x)) return x;
    return (fmin(fmax(x, op->lo), op->hi) - op->lo) / (op->hi - op->lo);
}
static const vxa_iop_impl window_impl = { "window", VXA_ISTATS_NONE, window_resolve, window_lower, window_ref,
                                          NULL };
static const vxa_op_desc window_op = {
    .name = "window", .kind = VXA_OPK_INTENSITY, .params = window_params, .nparams = NP(window_params),
    .doc = "CT window: clip to [center - width/2, center + width/2] and scale to [0, 1]; presets brain (40, 80), "
           "subdural (75, 215), stroke (40, 40), lung (-600, 1500), bone (400, 1800), soft (50, 400), "
           "liver (30, 150), mediastinum (50, 350)",
    .scipy = "(np.clip(x, c - w/2, c + w/2) - (c - w/2)) / w", .intensity_id = VXA_INT_WINDOW };

int vxa_window_preset(const char *name, double *center, double *width)
{
    for (int i = 1; name && window_presets[i]; i++)
        if (strcmp(name, window_presets[i]) == 0) {
            *center = window_values[i - 1][0];
            *width = window_values[i - 1][1];
            return 1;
        }
    return 0;
}

const char *const *vxa_window_preset_names(void) { return window_presets + 1; }

/* ---- noise --------------------------------------------------------------------------------------------- */
enum { NOISE_STD };
static const vxa_param_desc noise_params[] = {
    [NOISE_STD] = { "std", 1, 0, 0, BIG, { 0.1 }, "standard deviation of the Gaussian noise", NULL },
};
static vxa_status noise_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx;
    out->std = val->v[NOISE_STD][0];
    return VXA_OK;
}
static int noise_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    (void)s;
    if (op->std == 0) return 0;
    out[0] = ins3(VXA_IOP_NOISE, 1, op->std, 0, 0);
    out[0].index = (int)op->op_index;
    return 1;
}
static double noise_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)s;
    const uint64_t v = (uint64_t)(at->i + at->dim[0] * (at->j + at->dim[1] * at->k));
    return x + op->std * vxa_ref_noise_normal(op->seed, op->sample, op->op_index << 8 | (uint32_t)at->c, v);
}
static const vxa_iop_impl noise_impl = { "noise", VXA_ISTATS_NONE, noise_resolve, noise_lower, noise_ref, NULL };
static const vxa_op_desc noise_op = {
    .name = "noise", .kind = VXA_OPK_INTENSITY, .params = noise_params, .nparams = NP(noise_params),
    .doc = "additive Gaussian noise x + std * z; z from Philox4x32-10 (key seed, counter (voxel / 4, "
           "op << 8 | channel, sample)) by Box-Muller, the same on every device",
    .scipy = "x + std * rng.standard_normal(x.shape)", .intensity_id = VXA_INT_NOISE };

/* ---- gamma --------------------------------------------------------------------------------------------- */
enum { GAMMA_GAMMA, GAMMA_INVERT, GAMMA_RETAIN };
static const vxa_param_desc gamma_params[] = {
    [GAMMA_GAMMA] = { "gamma", 1, 0, 1e-3, 1e3, { 1 }, "exponent applied to the [0, 1]-rescaled intensities",
                      NULL },
    [GAMMA_INVERT] = { "invert", 1, VXA_P_INT, 0, 1, { 0 }, "1: negate before and after (nnU-Net invert_image)",
                       NULL },
    [GAMMA_RETAIN] = { "retain", 1, VXA_P_INT, 0, 1, { 0 }, "1: restore the mean and std from before (nnU-Net "
                       "retain_stats)", NULL },
};
static vxa_status gamma_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx;
    out->gamma = val->v[GAMMA_GAMMA][0];
    out->invert = val->v[GAMMA_INVERT][0] != 0;
    out->retain = val->v[GAMMA_RETAIN][0] != 0;
    return VXA_OK;
}
/* The gamma itself; invert and retain wrap it in steps of their own (both paths' vxa_*_gamma_nnunet). */
static int gamma_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    const double range = s->m.max - s->m.min;   /* range 0: the identity */
    out[0] = s->m.count > 0 ? ins3(VXA_IOP_GAMMA, 3, s->m.min, range > 0 ? range : 0, op->gamma)
                            : ins3(VXA_IOP_GAMMA, 3, 0, 0, 0);
    return 1;
}
static double gamma_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)at;
    const double range = s->m.max - s->m.min;
    if (!(s->m.count > 0) || range == 0 || isnan(x)) return x;
    double u = (x - s->m.min) / range;
    if (u < 0) u = 0;
    return pow(u, op->gamma) * range + s->m.min;
}
static const vxa_iop_impl gamma_impl = { "gamma", VXA_ISTATS_RANGE, gamma_resolve, gamma_lower, gamma_ref, NULL };
static const vxa_op_desc gamma_op = {
    .name = "gamma", .kind = VXA_OPK_INTENSITY, .params = gamma_params, .nparams = NP(gamma_params),
    .doc = "nnU-Net gamma: u = (x - min) / (max - min), u^gamma * (max - min) + min; a constant channel is "
           "unchanged; invert=1 negates before and after, retain=1 then maps y to (y - mean_y) * std_x / (std_y + "
           "1e-8) + mean_x (population std of the finite voxels)",
    .scipy = "nnU-Net augment_gamma(invert_image=invert, retain_stats=retain), epsilon 0",
    .intensity_id = VXA_INT_GAMMA };

/* ---- brightness ---------------------------------------------------------------------------------------- */
enum { BRIGHTNESS_FACTOR };
static const vxa_param_desc brightness_params[] = {
    [BRIGHTNESS_FACTOR] = { "factor", 1, 0, 0, BIG, { 1 }, "multiplicative factor", NULL },
};
static vxa_status brightness_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx;
    out->factor = val->v[BRIGHTNESS_FACTOR][0];
    return VXA_OK;
}
static int brightness_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    (void)s;
    out[0] = ins3(VXA_IOP_LINEAR, 3, 0, op->factor, 0);
    return 1;
}
static double brightness_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)s, (void)at;
    return x * op->factor;
}
static const vxa_iop_impl brightness_impl = { "brightness", VXA_ISTATS_NONE, brightness_resolve, brightness_lower,
                                              brightness_ref, NULL };
static const vxa_op_desc brightness_op = {
    .name = "brightness", .kind = VXA_OPK_INTENSITY, .params = brightness_params, .nparams = NP(brightness_params),
    .doc = "multiplicative brightness x * factor", .scipy = "nnU-Net BrightnessMultiplicativeTransform",
    .intensity_id = VXA_INT_BRIGHTNESS };

/* ---- contrast ------------------------------------------------------------------------------------------ */
enum { CONTRAST_FACTOR, CONTRAST_PRESERVE };
static const vxa_param_desc contrast_params[] = {
    [CONTRAST_FACTOR] = { "factor", 1, 0, 0, BIG, { 1 }, "contrast factor about the mean", NULL },
    [CONTRAST_PRESERVE] = { "preserve", 1, VXA_P_INT, 0, 1, { 1 }, "1: clip the result to the input's [min, max]",
                            NULL },
};
static vxa_status contrast_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx;
    out->factor = val->v[CONTRAST_FACTOR][0];
    out->preserve = val->v[CONTRAST_PRESERVE][0] != 0;
    return VXA_OK;
}
static int contrast_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    const bool some = s->m.count > 0;
    out[0] = some ? ins3(VXA_IOP_LINEAR, 3, s->m.mean, op->factor, s->m.mean) : ins3(VXA_IOP_LINEAR, 3, 0, 1, 0);
    if (!op->preserve) return 1;
    out[1] = ins3(VXA_IOP_CLIP, 2, some ? s->m.min : -INFINITY, some ? s->m.max : INFINITY, 0);
    return 2;
}
static double contrast_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)at;
    if (!(s->m.count > 0)) return x;
    double y = (x - s->m.mean) * op->factor + s->m.mean;
    if (op->preserve && !isnan(y)) y = fmin(fmax(y, s->m.min), s->m.max);
    return y;
}
static const vxa_iop_impl contrast_impl = { "contrast", VXA_ISTATS_MEAN, contrast_resolve, contrast_lower,
                                            contrast_ref, NULL };
static const vxa_op_desc contrast_op = {
    .name = "contrast", .kind = VXA_OPK_INTENSITY, .params = contrast_params, .nparams = NP(contrast_params),
    .doc = "contrast about the mean: (x - mean) * factor + mean, clipped to the input's [min, max] with "
           "preserve=1", .scipy = "nnU-Net augment_contrast(preserve_range=...)", .intensity_id = VXA_INT_CONTRAST };

/* ---- bias ---------------------------------------------------------------------------------------------- */
enum { BIAS_COEF, BIAS_ORDER };
static const vxa_param_desc bias_params[] = {
    [BIAS_COEF] = { "coef", 1, 0, 0, 10, { 0.5 }, "coefficients are drawn uniformly in [-coef, coef]", NULL },
    [BIAS_ORDER] = { "order", 1, VXA_P_INT | VXA_P_FIXED, 0, VXA_BIAS_MAX_ORDER, { 3 }, "total degree of the "
                     "polynomial", NULL },
};
static vxa_status bias_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    out->order = (int)val->v[BIAS_ORDER][0];
    if (out->order < 0 || out->order > VXA_BIAS_MAX_ORDER)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "bias(order=%d): order must be 0..%d", out->order,
                        VXA_BIAS_MAX_ORDER);
    const int o = out->order;
    out->ncoef = (o + 1) * (o + 2) * (o + 3) / 6;
    /* One draw per coefficient, in TorchIO's term order, on stream op_index << 8 (lane 0). */
    vxa_draw_rng rng = { .seed = val->seed, .sample = val->sample, .stream = val->op_index << 8, .next = 0 };
    for (int t = 0; t < out->ncoef; t++) out->coef[t] = val->v[BIAS_COEF][0] * (2 * vxa_draw_uniform(&rng) - 1);
    return VXA_OK;
}
static int bias_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    (void)s;
    out[0] = (vxa_iins){ .opcode = VXA_IOP_BIAS, .extra = op->order, .npar = op->ncoef };
    for (int t = 0; t < op->ncoef; t++) out[0].p[t] = op->coef[t];
    return 1;
}
static double bias_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)s;
    return x * exp(vxa_ref_bias_exponent(op, at->dim, at->i, at->j, at->k));
}
static const vxa_iop_impl bias_impl = { "bias", VXA_ISTATS_NONE, bias_resolve, bias_lower, bias_ref, NULL };
static const vxa_op_desc bias_op = {
    .name = "bias", .kind = VXA_OPK_INTENSITY, .params = bias_params, .nparams = NP(bias_params),
    .doc = "MRI bias field x * exp(P): P a polynomial of total degree <= order in coordinates (2i - (n-1)) / (n-1) "
           "per axis, coefficients uniform in [-coef, coef] drawn per sample on the host",
    .scipy = "TorchIO RandomBiasField(coefficients=coef, order=order)", .intensity_id = VXA_INT_BIAS };

/* ---- blur ---------------------------------------------------------------------------------------------- */
enum { BLUR_SIGMA };
static const vxa_param_desc blur_params[] = {
    [BLUR_SIGMA] = { "sigma", 3, 0, 0, 100, { 1, 1, 1 }, "Gaussian sigma per axis (voxels); 0 leaves an axis "
                     "alone", NULL },
};
static vxa_status blur_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    (void)ctx;
    for (int a = 0; a < 3; a++) out->sigma[a] = val->v[BLUR_SIGMA][a];
    return VXA_OK;
}
static vxa_status blur_apply(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol)
{
    return vxa_gauss_smooth(ctx, vol, op->sigma, VXA_MODE_NEAREST, 4.0);
}
static const vxa_iop_impl blur_impl = { "blur", VXA_ISTATS_NONE, blur_resolve, NULL, NULL, blur_apply };
static const vxa_op_desc blur_op = {
    .name = "blur", .kind = VXA_OPK_INTENSITY, .params = blur_params, .nparams = NP(blur_params),
    .doc = "Gaussian blur, mode nearest, truncate 4 (spreads NaN and Inf over the kernel's support)",
    .scipy = "ndimage.gaussian_filter(x, sigma, mode='nearest', truncate=4.0)", .intensity_id = VXA_INT_BLUR };

/* ---- lowres -------------------------------------------------------------------------------------------- */
enum { LOWRES_FACTOR };
static const vxa_param_desc lowres_params[] = {
    [LOWRES_FACTOR] = { "factor", 3, 0, 1, 64, { 2, 2, 2 }, "down-sampling factor per axis (>= 1)", NULL },
};
static vxa_status lowres_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    for (int a = 0; a < 3; a++) {
        out->zoom[a] = val->v[LOWRES_FACTOR][a];
        if (!(out->zoom[a] >= 1))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "lowres(factor=%g): must be >= 1", out->zoom[a]);
    }
    return VXA_OK;
}
/* Down to the small grid and back, both as SPEC resize: p = (o + 0.5) * n_in / n_out - 0.5, mode nearest. */
static vxa_status lowres_apply(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol)
{
    int64_t small[3];
    bool same = true;
    for (int a = 0; a < 3; a++) {
        small[a] = (int64_t)llround((double)vol->dim[a] / op->zoom[a]);
        if (small[a] < 1) small[a] = 1;
        same = same && small[a] == vol->dim[a];
    }
    if (same) return VXA_OK;
    vxa_dvol tmp;
    vxa_status st = vxa_dvol_alloc(ctx, small, vol->channels, VXA_FLOAT32, &tmp);
    if (st != VXA_OK) return st;
    vxa_resample_params down = { .order = 1, .mode = VXA_MODE_NEAREST }, up = down;
    for (int a = 0; a < 3; a++) {
        down.out_dim[a] = small[a];
        down.A[a][a] = (double)vol->dim[a] / (double)small[a];
        down.b[a] = 0.5 * down.A[a][a] - 0.5;
        up.out_dim[a] = vol->dim[a];
        up.A[a][a] = (double)small[a] / (double)vol->dim[a];
        up.b[a] = 0.5 * up.A[a][a] - 0.5;
    }
    if ((st = vxa_resample(ctx, vol, &tmp, &down)) == VXA_OK) st = vxa_resample(ctx, &tmp, vol, &up);
    vxa_dvol_release(ctx, &tmp);
    return st;
}
static const vxa_iop_impl lowres_impl = { "lowres", VXA_ISTATS_NONE, lowres_resolve, NULL, NULL, lowres_apply };
static const vxa_op_desc lowres_op = {
    .name = "lowres", .kind = VXA_OPK_INTENSITY, .params = lowres_params, .nparams = NP(lowres_params),
    .doc = "simulated low resolution: resize to n' = max(1, round(n / factor)) per axis and back to n, both "
           "trilinear with mode nearest",
    .scipy = "ndimage.zoom(ndimage.zoom(x, n'/n, order=1, mode='nearest', grid_mode=True), n/n', same)",
    .intensity_id = VXA_INT_LOWRES };

/* ---- rescale ------------------------------------------------------------------------------------------- */
/* TorchIO RescaleIntensity(out_min_max, percentiles): a, b = the lo and hi percentiles; clip to [a, b], then
 * map [a, b] linearly onto [out_min, out_max]. clip=0 is MONAI ScaleIntensityRangePercentiles(clip=False): the
 * same line, not clipped. a == b (a constant channel) leaves the channel unchanged, as TorchIO does. */
enum { RESCALE_OUT_MIN, RESCALE_OUT_MAX, RESCALE_LO, RESCALE_HI, RESCALE_CLIP, RESCALE_NONZERO, RESCALE_MASK };
static const vxa_param_desc rescale_params[] = {
    [RESCALE_OUT_MIN] = { "out_min", 1, 0, -BIG, BIG, { 0 }, "value the lo percentile maps to", NULL },
    [RESCALE_OUT_MAX] = { "out_max", 1, 0, -BIG, BIG, { 1 }, "value the hi percentile maps to", NULL },
    [RESCALE_LO] = { "lo", 1, 0, 0, 100, { 0 }, "lower percentile (0: the minimum)", NULL },
    [RESCALE_HI] = { "hi", 1, 0, 0, 100, { 100 }, "upper percentile (100: the maximum)", NULL },
    [RESCALE_CLIP] = { "clip", 1, VXA_P_INT, 0, 1, { 1 }, "1: clip to [out_min, out_max] (TorchIO); 0: extend the "
                       "line beyond (MONAI clip=False)", NULL },
    [RESCALE_NONZERO] = { "nonzero", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the non-zero voxels, zero "
                          "voxels stay 0", NULL },
    [RESCALE_MASK] = { "mask", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the voxels where the label map is "
                       "non-zero (every voxel is rescaled)", NULL },
};
static vxa_status rescale_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    out->out_min = val->v[RESCALE_OUT_MIN][0];
    out->out_max = val->v[RESCALE_OUT_MAX][0];
    out->lo = val->v[RESCALE_LO][0];
    out->hi = val->v[RESCALE_HI][0];
    out->preserve = val->v[RESCALE_CLIP][0] != 0;
    out->nonzero = val->v[RESCALE_NONZERO][0] != 0;
    out->masked = val->v[RESCALE_MASK][0] != 0;
    if (!(out->lo <= out->hi))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "rescale(lo=%g, hi=%g): lo > hi", out->lo, out->hi);
    return VXA_OK;
}
static int rescale_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    const double a = s->plo, b = s->phi;
    const bool none = isnan(a) || !(b > a);   /* nothing counted, or a constant channel: the identity (the
                                               * opcodes are every channel's) */
    const int nz = op->nonzero;
    int n = 0;
    if (op->preserve) out[n++] = ins3(nz ? VXA_IOP_CLIP_NZ : VXA_IOP_CLIP, 2, none ? -INFINITY : a,
                                      none ? INFINITY : b, 0);
    out[n++] = none ? ins3(VXA_IOP_LINEAR, 3, 0, 1, 0)
                    : ins3(nz ? VXA_IOP_LINEAR_NZ : VXA_IOP_LINEAR, 3, a, (op->out_max - op->out_min) / (b - a),
                           op->out_min);
    return n;
}
static double rescale_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)at;
    const double a = s->plo, b = s->phi;
    if (isnan(a) || !(b > a) || isnan(x) || (op->nonzero && x == 0)) return x;
    if (op->preserve) x = fmin(fmax(x, a), b);
    return (x - a) / (b - a) * (op->out_max - op->out_min) + op->out_min;
}
static const vxa_iop_impl rescale_impl = { "rescale", VXA_ISTATS_PERCENTILES, rescale_resolve, rescale_lower,
                                           rescale_ref, NULL };
static const vxa_op_desc rescale_op = {
    .name = "rescale", .kind = VXA_OPK_INTENSITY, .params = rescale_params, .nparams = NP(rescale_params),
    .doc = "rescale [a, b] linearly to [out_min, out_max], a and b the lo and hi percentiles (linear "
           "interpolation) of the finite voxels (or non-zero ones: nonzero=1, zeros stay 0; or those inside the "
           "label map: mask=1); clip=1 clips to the range first (TorchIO), clip=0 does not (MONAI); a == b leaves "
           "the channel unchanged",
    .scipy = "TorchIO RescaleIntensity((out_min, out_max), percentiles=(lo, hi)); MONAI "
             "ScaleIntensityRangePercentiles(lo, hi, out_min, out_max, clip)",
    .intensity_id = VXA_INT_RESCALE };

/* ---- histstd ------------------------------------------------------------------------------------------- */
/* Nyul-Udupa histogram standardisation as TorchIO's HistogramStandardization applies it: the channel's own
 * percentiles q[0 .. n-1] (those of the landmarks file: the cutoffs and the deciles) map to the file's
 * landmarks, linearly in between and beyond the ends (the first and last segments extended); a segment whose
 * percentiles are less than 1e-5 apart maps to its lower landmark (TorchIO's epsilon). */
enum { HISTSTD_LANDMARKS, HISTSTD_NONZERO, HISTSTD_MASK };
static const vxa_param_desc histstd_params[] = {
    [HISTSTD_LANDMARKS] = { "landmarks", 1, VXA_P_REQUIRED | VXA_P_PATH | VXA_P_FIXED, 0, 0, { 0 }, "landmarks "
                            "file (JSON) from `voxaug histstd-train`", NULL },
    [HISTSTD_NONZERO] = { "nonzero", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the non-zero voxels, zero "
                          "voxels stay 0", NULL },
    [HISTSTD_MASK] = { "mask", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the voxels where the label map is "
                       "non-zero (every voxel is mapped)", NULL },
};
#define HISTSTD_EPS 1e-5
static vxa_status histstd_resolve(vxa_context *ctx, const vxa_op_values *val, vxa_iop *out)
{
    const int n = val->ndata / 2;
    if (n < 3 || n > VXA_HIST_MAXQ || val->ndata != 2 * n)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "histstd: %d landmark values, expected 2 x 3..%d",
                        val->ndata, VXA_HIST_MAXQ);
    out->nq = n;
    for (int i = 0; i < n; i++) {
        out->q[i] = val->data[i];
        out->map[i] = val->data[n + i];
    }
    out->nonzero = val->v[HISTSTD_NONZERO][0] != 0;
    out->masked = val->v[HISTSTD_MASK][0] != 0;
    return VXA_OK;
}
/* Segment s's slope: TorchIO's diff_mapping / diff_perc, 0 where the percentiles are closer than epsilon. */
static double histstd_slope(const vxa_iop *op, const vxa_istats *s, int seg)
{
    const double dp = s->q[seg + 1] - s->q[seg];
    return dp < HISTSTD_EPS ? 0.0 : (op->map[seg + 1] - op->map[seg]) / dp;
}
static int histstd_lower(const vxa_iop *op, const vxa_istats *s, vxa_iins *out)
{
    const int n = op->nq, m = n - 2;   /* the interior percentiles are the breakpoints */
    const bool none = isnan(s->q[0]);  /* nothing counted: every segment the identity (the opcode is every
                                        * channel's) */
    vxa_iins in = { .opcode = op->nonzero ? VXA_IOP_PWL_NZ : VXA_IOP_PWL, .extra = m, .npar = m + 3 * (m + 1) };
    for (int b = 0; b < m; b++) in.p[b] = none ? 0 : s->q[b + 1];
    for (int seg = 0; seg <= m; seg++) {
        in.p[m + 3 * seg] = none ? 0 : s->q[seg];
        in.p[m + 3 * seg + 1] = none ? 0 : op->map[seg];
        in.p[m + 3 * seg + 2] = none ? 1 : histstd_slope(op, s, seg);
    }
    out[0] = in;
    return 1;
}
static double histstd_ref(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at)
{
    (void)at;
    if (isnan(s->q[0]) || (op->nonzero && x == 0)) return x;
    /* np.digitize(x, q[1:-1], right=False): the number of interior percentiles <= x */
    int seg = 0;
    for (int b = 1; b < op->nq - 1; b++) seg += x >= s->q[b];
    const double slope = histstd_slope(op, s, seg);
    return slope * x + (op->map[seg] - slope * s->q[seg]);   /* TorchIO's slope and intercept */
}
static const vxa_iop_impl histstd_impl = { "histstd", VXA_ISTATS_QUANTILES, histstd_resolve, histstd_lower,
                                           histstd_ref, NULL };
static const vxa_op_desc histstd_op = {
    .name = "histstd", .kind = VXA_OPK_INTENSITY, .params = histstd_params, .nparams = NP(histstd_params),
    .doc = "Nyul-Udupa histogram standardisation: the channel's percentiles at the landmarks file's percentiles "
           "(cutoffs and deciles, of the finite voxels, or non-zero ones: nonzero=1, zeros stay 0, or those inside "
           "the label map: mask=1) map piecewise linearly onto its landmarks, the end segments extended",
    .scipy = "TorchIO HistogramStandardization({'image': landmarks}) after HistogramStandardization.train",
    .load = vxa_histstd_load, .intensity_id = VXA_INT_HISTSTD };

vxa_status vxa_istats_quantiles(vxa_context *ctx, const vxa_iop *op, const vxa_dvol *vol, const vxa_dvol *mask,
                                vxa_istats *s)
{
    const int64_t nc = vol->channels;
    double *pct = malloc((size_t)nc * 2 * sizeof *pct);
    if (!pct) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "histstd: percentiles of %lld channels", (long long)nc);
    vxa_status st = VXA_OK;
    for (int i = 0; i < op->nq && st == VXA_OK; i += 2) {   /* two percentiles per reduction */
        const double q[2] = { op->q[i], op->q[i + 1 < op->nq ? i + 1 : i] };
        st = vxa_reduce_percentiles(ctx, vol, op->nonzero, op->masked ? mask : NULL, q, pct);
        for (int64_t c = 0; c < nc && st == VXA_OK; c++) {
            s[c].q[i] = pct[2 * c];
            if (i + 1 < op->nq) s[c].q[i + 1] = pct[2 * c + 1];
        }
    }
    free(pct);
    return st;
}

/* ---- the tables, from VXA_IOP_LIST ----------------------------------------------------------------------- */
#define VXA_IOP_DESC(ID, name) &name##_op,
const vxa_op_desc *const vxa_intensity_ops[] = { VXA_IOP_LIST(VXA_IOP_DESC) };
#undef VXA_IOP_DESC
const int vxa_intensity_nops = NP(vxa_intensity_ops);

#define VXA_IOP_IMPL(ID, name) [VXA_INT_##ID] = &name##_impl,
static const vxa_iop_impl *const impls[VXA_INT_COUNT] = { VXA_IOP_LIST(VXA_IOP_IMPL) };
#undef VXA_IOP_IMPL

const vxa_iop_impl *vxa_iop_impl_of(int id)
{
    return id > VXA_INT_NONE && id < VXA_INT_COUNT ? impls[id] : NULL;
}

/* The values of one op into what the paths execute. */
static vxa_status resolve(vxa_context *ctx, const vxa_op_desc *op, const vxa_op_values *val, vxa_iop *out)
{
    *out = (vxa_iop){ .id = op->intensity_id, .seed = val->seed, .sample = val->sample, .op_index = val->op_index };
    const vxa_iop_impl *im = vxa_iop_impl_of(op->intensity_id);
    if (!im) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: not an intensity op", op->name);
    return im->resolve(ctx, val, out);
}

static vxa_status run(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals, int n,
                      const vxa_dvol *src, vxa_dvol *vol, const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win)
{
    if (n == 0 && win) return vxa_intensity_apply_window(ctx, NULL, 0, src, vol, mask, off, win);
    enum { CHUNK = 16 };
    vxa_iop res[CHUNK];
    /* Resolve and apply in chunks; the device fuses within a chunk (16 ops cover any sensible pipeline). */
    for (int start = 0; start < n; start += CHUNK) {
        const int m = n - start < CHUNK ? n - start : CHUNK;
        for (int i = 0; i < m; i++) {
            const vxa_op_desc *op = ops[start + i];
            if (op->kind != VXA_OPK_INTENSITY)
                return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: not an intensity op", op->name);
            vxa_status st = resolve(ctx, op, &vals[start + i], &res[i]);
            if (st != VXA_OK) return st;
        }
        const vxa_dvol *from = start == 0 ? src : NULL;
        vxa_status st = win && start + m == n ? vxa_intensity_apply_window(ctx, res, m, from, vol, mask, off, win)
                                              : vxa_intensity_apply(ctx, res, m, from, vol, mask);
        if (st != VXA_OK) return st;
    }
    return VXA_OK;
}

vxa_status vxa_intensity_run(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals, int n,
                             const vxa_dvol *src, vxa_dvol *vol, const vxa_dvol *mask)
{
    return run(ctx, ops, vals, n, src, vol, mask, NULL, NULL);
}

vxa_status vxa_intensity_run_window(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals,
                                    int n, const vxa_dvol *src, vxa_dvol *vol, const vxa_dvol *mask,
                                    const int64_t off[3], vxa_dvol *win)
{
    return run(ctx, ops, vals, n, src, vol, mask, off, win);
}

bool vxa_intensity_is_local(const vxa_op_desc *op)
{
    const vxa_iop_impl *im = op->kind == VXA_OPK_INTENSITY ? vxa_iop_impl_of(op->intensity_id) : NULL;
    return im && im->stats == VXA_ISTATS_NONE && !im->apply;
}

vxa_status vxa_intensity_run_part(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals,
                                  int n, vxa_dvol *vol, const int64_t grid[3], const int64_t off[3])
{
    enum { CHUNK = 16 };
    vxa_iop res[CHUNK];
    for (int start = 0; start < n; start += CHUNK) {
        const int m = n - start < CHUNK ? n - start : CHUNK;
        for (int i = 0; i < m; i++) {
            vxa_status st = resolve(ctx, ops[start + i], &vals[start + i], &res[i]);
            if (st != VXA_OK) return st;
        }
        vxa_status st = vxa_intensity_apply_part(ctx, res, m, vol, grid, off);
        if (st != VXA_OK) return st;
    }
    return VXA_OK;
}
