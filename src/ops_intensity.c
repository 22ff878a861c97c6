/* SPDX-License-Identifier: MIT */
/* The intensity ops of the op table: descriptors, and the resolution of drawn values into what both paths
 * execute (src/intensity.h). Runs go through vxa_intensity_run.
 *
 * Non-finite voxels (NaN, +-Inf) everywhere: statistics (min, max, mean, std, percentiles) ignore them;
 * NaN stays NaN through every op; clip, pclip and window send +-Inf to their bounds; minmax, zscore,
 * brightness, contrast and noise keep +-Inf infinite (contrast with preserve=1 clips them to the range);
 * gamma sends -Inf to the minimum and keeps +Inf. A channel without a finite voxel (with nonzero: without a
 * finite non-zero voxel) is left as it is by the ops that need statistics. */
#include "ops.h"
#include "intensity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BIG 3.0e38
static const char *const window_presets[] = { "none", "brain", "subdural", "stroke", "lung", "bone", "soft",
                                              "liver", "mediastinum", NULL };
/* (centre, width) in HU of each preset after "none": Radiopaedia's usual CT windows. */
static const double window_values[][2] = { { 40, 80 }, { 75, 215 }, { 40, 40 }, { -600, 1500 }, { 400, 1800 },
                                           { 50, 400 }, { 30, 150 }, { 50, 350 } };

static const vxa_param_desc clip_params[] = {
    { "lo", 1, VXA_P_REQUIRED, -BIG, BIG, { 0 }, "lower bound", NULL },
    { "hi", 1, VXA_P_REQUIRED, -BIG, BIG, { 0 }, "upper bound", NULL },
};
static const vxa_param_desc pclip_params[] = {
    { "lo", 1, 0, 0, 100, { 0.5 }, "lower percentile", NULL },
    { "hi", 1, 0, 0, 100, { 99.5 }, "upper percentile", NULL },
    { "nonzero", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the non-zero voxels, zero voxels stay 0", NULL },
    { "mask", 1, VXA_P_INT, 0, 1, { 0 }, "1: percentiles of the voxels where the label map is non-zero", NULL },
};
static const vxa_param_desc zscore_params[] = {
    { "nonzero", 1, VXA_P_INT, 0, 1, { 0 }, "1: mean and std of the non-zero voxels, zero voxels stay 0", NULL },
    { "mask", 1, VXA_P_INT, 0, 1, { 0 }, "1: mean and std of the voxels where the label map is non-zero", NULL },
};
static const vxa_param_desc window_params[] = {
    { "center", 1, 0, -BIG, BIG, { 40 }, "window centre (HU)", NULL },
    { "width", 1, 0, 1e-6, BIG, { 80 }, "window width (HU), > 0", NULL },
    { "preset", 1, VXA_P_INT, 0, 8, { 0 }, "a named window instead of centre and width", window_presets },
};
static const vxa_param_desc noise_params[] = {
    { "std", 1, 0, 0, BIG, { 0.1 }, "standard deviation of the Gaussian noise", NULL },
};
static const vxa_param_desc gamma_params[] = {
    { "gamma", 1, 0, 1e-3, 1e3, { 1 }, "exponent applied to the [0, 1]-rescaled intensities", NULL },
    { "invert", 1, VXA_P_INT, 0, 1, { 0 }, "1: negate before and after (nnU-Net invert_image)", NULL },
    { "retain", 1, VXA_P_INT, 0, 1, { 0 }, "1: restore the mean and std from before (nnU-Net retain_stats)", NULL },
};
static const vxa_param_desc brightness_params[] = {
    { "factor", 1, 0, 0, BIG, { 1 }, "multiplicative factor", NULL },
};
static const vxa_param_desc contrast_params[] = {
    { "factor", 1, 0, 0, BIG, { 1 }, "contrast factor about the mean", NULL },
    { "preserve", 1, VXA_P_INT, 0, 1, { 1 }, "1: clip the result to the input's [min, max]", NULL },
};
static const vxa_param_desc bias_params[] = {
    { "coef", 1, 0, 0, 10, { 0.5 }, "coefficients are drawn uniformly in [-coef, coef]", NULL },
    { "order", 1, VXA_P_INT | VXA_P_FIXED, 0, VXA_BIAS_MAX_ORDER, { 3 }, "total degree of the polynomial", NULL },
};

static const vxa_param_desc blur_params[] = {
    { "sigma", 3, 0, 0, 100, { 1, 1, 1 }, "Gaussian sigma per axis (voxels); 0 leaves an axis alone", NULL },
};
static const vxa_param_desc lowres_params[] = {
    { "factor", 3, 0, 1, 64, { 2, 2, 2 }, "down-sampling factor per axis (>= 1)", NULL },
};

#define NP(a) (int)(sizeof a / sizeof a[0])
const vxa_op_desc vxa_intensity_ops[] = {
    { .name = "clip", .kind = VXA_OPK_INTENSITY, .params = clip_params, .nparams = NP(clip_params),
      .doc = "clip to [lo, hi]; NaN stays NaN, +-Inf go to the bounds", .scipy = "np.clip(x, lo, hi)",
      .intensity_id = VXA_INT_CLIP },
    { .name = "pclip", .kind = VXA_OPK_INTENSITY, .params = pclip_params, .nparams = NP(pclip_params),
      .doc = "clip to the [lo, hi] percentiles (linear interpolation) of the finite voxels, or of the finite "
             "non-zero ones with nonzero=1 (zero voxels then stay 0), or of those inside the label map with "
             "mask=1 (all voxels are clipped); computed exactly on the device",
      .scipy = "np.clip(x, *np.percentile(x[np.isfinite(x)], [lo, hi]))", .intensity_id = VXA_INT_PCLIP },
    { .name = "minmax", .kind = VXA_OPK_INTENSITY, .params = NULL, .nparams = 0,
      .doc = "rescale to [0, 1]: (x - min) / (max - min) over the finite voxels; a constant channel gives 0",
      .scipy = "(x - x.min()) / (x.max() - x.min())", .intensity_id = VXA_INT_MINMAX },
    { .name = "zscore", .kind = VXA_OPK_INTENSITY, .params = zscore_params, .nparams = NP(zscore_params),
      .doc = "(x - mean) / std, population std of the finite voxels (or non-zero ones: nonzero=1, zeros stay 0; "
             "or those where the label map is non-zero: mask=1, every voxel is then normalised with them); "
             "std 0: only the mean is subtracted",
      .scipy = "MONAI NormalizeIntensity(nonzero=...): (x - x.mean()) / x.std()", .intensity_id = VXA_INT_ZSCORE },
    { .name = "window", .kind = VXA_OPK_INTENSITY, .params = window_params, .nparams = NP(window_params),
      .doc = "CT window: clip to [center - width/2, center + width/2] and scale to [0, 1]; presets brain (40, 80), "
             "subdural (75, 215), stroke (40, 40), lung (-600, 1500), bone (400, 1800), soft (50, 400), "
             "liver (30, 150), mediastinum (50, 350)",
      .scipy = "(np.clip(x, c - w/2, c + w/2) - (c - w/2)) / w", .intensity_id = VXA_INT_WINDOW },
    { .name = "noise", .kind = VXA_OPK_INTENSITY, .params = noise_params, .nparams = NP(noise_params),
      .doc = "additive Gaussian noise x + std * z; z from Philox4x32-10 (key seed, counter (voxel / 4, "
             "op << 8 | channel, sample)) by Box-Muller, the same on every device",
      .scipy = "x + std * rng.standard_normal(x.shape)", .intensity_id = VXA_INT_NOISE },
    { .name = "gamma", .kind = VXA_OPK_INTENSITY, .params = gamma_params, .nparams = NP(gamma_params),
      .doc = "nnU-Net gamma: u = (x - min) / (max - min), u^gamma * (max - min) + min; a constant channel is "
             "unchanged; invert=1 negates before and after, retain=1 then maps y to (y - mean_y) * std_x / (std_y + "
             "1e-8) + mean_x (population std of the finite voxels)",
      .scipy = "nnU-Net augment_gamma(invert_image=invert, retain_stats=retain), epsilon 0",
      .intensity_id = VXA_INT_GAMMA },
    { .name = "brightness", .kind = VXA_OPK_INTENSITY, .params = brightness_params,
      .nparams = NP(brightness_params), .doc = "multiplicative brightness x * factor",
      .scipy = "nnU-Net BrightnessMultiplicativeTransform", .intensity_id = VXA_INT_BRIGHTNESS },
    { .name = "contrast", .kind = VXA_OPK_INTENSITY, .params = contrast_params, .nparams = NP(contrast_params),
      .doc = "contrast about the mean: (x - mean) * factor + mean, clipped to the input's [min, max] with "
             "preserve=1", .scipy = "nnU-Net augment_contrast(preserve_range=...)", .intensity_id = VXA_INT_CONTRAST },
    { .name = "bias", .kind = VXA_OPK_INTENSITY, .params = bias_params, .nparams = NP(bias_params),
      .doc = "MRI bias field x * exp(P): P a polynomial of total degree <= order in coordinates (2i - (n-1)) / (n-1) "
             "per axis, coefficients uniform in [-coef, coef] drawn per sample on the host",
      .scipy = "TorchIO RandomBiasField(coefficients=coef, order=order)", .intensity_id = VXA_INT_BIAS },
    { .name = "blur", .kind = VXA_OPK_INTENSITY, .params = blur_params, .nparams = NP(blur_params),
      .doc = "Gaussian blur, mode nearest, truncate 4 (spreads NaN and Inf over the kernel's support)",
      .scipy = "ndimage.gaussian_filter(x, sigma, mode='nearest', truncate=4.0)", .intensity_id = VXA_INT_BLUR },
    { .name = "lowres", .kind = VXA_OPK_INTENSITY, .params = lowres_params, .nparams = NP(lowres_params),
      .doc = "simulated low resolution: resize to n' = max(1, round(n / factor)) per axis and back to n, both "
             "trilinear with mode nearest",
      .scipy = "ndimage.zoom(ndimage.zoom(x, n'/n, order=1, mode='nearest', grid_mode=True), n/n', same)",
      .intensity_id = VXA_INT_LOWRES },
};
const int vxa_intensity_nops = NP(vxa_intensity_ops);

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

/* The values of one op into what the paths execute: presets looked up, bias coefficients drawn. */
static vxa_status resolve(vxa_context *ctx, const vxa_op_desc *op, const vxa_op_values *val, vxa_iop *out)
{
    *out = (vxa_iop){ .id = op->intensity_id, .seed = val->seed, .sample = val->sample, .op_index = val->op_index };
    const double (*v)[3] = val->v;
    switch (out->id) {
    case VXA_INT_CLIP:
        out->a = v[0][0];
        out->b = v[1][0];
        if (!(out->a <= out->b))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "clip(%g, %g): lo > hi", out->a, out->b);
        break;
    case VXA_INT_PCLIP:
        out->a = v[0][0];
        out->b = v[1][0];
        out->nonzero = v[2][0] != 0;
        out->masked = v[3][0] != 0;
        if (!(out->a <= out->b))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "pclip(%g, %g): lo > hi", out->a, out->b);
        break;
    case VXA_INT_ZSCORE:
        out->nonzero = v[0][0] != 0;
        out->masked = v[1][0] != 0;
        break;
    case VXA_INT_WINDOW: {
        const int preset = (int)v[2][0];
        const double c = preset > 0 ? window_values[preset - 1][0] : v[0][0];
        const double w = preset > 0 ? window_values[preset - 1][1] : v[1][0];
        if (!(w > 0))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "window(center=%g, width=%g): width must be > 0", c, w);
        out->a = c - w / 2;
        out->b = c + w / 2;
        break;
    }
    case VXA_INT_CONTRAST:
        out->a = v[0][0];
        out->preserve = v[1][0] != 0;
        break;
    case VXA_INT_GAMMA:
        out->a = v[0][0];
        out->invert = v[1][0] != 0;
        out->retain = v[2][0] != 0;
        break;
    case VXA_INT_BIAS: {
        out->order = (int)v[1][0];
        if (out->order < 0 || out->order > VXA_BIAS_MAX_ORDER)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "bias(order=%d): order must be 0..%d", out->order,
                            VXA_BIAS_MAX_ORDER);
        const int o = out->order;
        out->ncoef = (o + 1) * (o + 2) * (o + 3) / 6;
        /* One draw per coefficient, in TorchIO's term order, on stream op_index << 8 (lane 0). */
        vxa_draw_rng rng = { .seed = val->seed, .sample = val->sample, .stream = val->op_index << 8, .next = 0 };
        for (int t = 0; t < out->ncoef; t++) out->coef[t] = v[0][0] * (2 * vxa_draw_uniform(&rng) - 1);
        break;
    }
    case VXA_INT_BLUR:
        for (int a = 0; a < 3; a++) out->sigma[a] = v[0][a];
        break;
    case VXA_INT_LOWRES:
        for (int a = 0; a < 3; a++) {
            out->factor[a] = v[0][a];
            if (!(out->factor[a] >= 1))
                return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "lowres(factor=%g): must be >= 1", out->factor[a]);
        }
        break;
    default:
        out->a = v[0][0];
        break;
    }
    return VXA_OK;
}

vxa_status vxa_intensity_blur(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol)
{
    return vxa_gauss_smooth(ctx, vol, op->sigma, VXA_MODE_NEAREST, 4.0);
}

/* Down to the small grid and back, both as SPEC resize: p = (o + 0.5) * n_in / n_out - 0.5, mode nearest. */
vxa_status vxa_intensity_lowres(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol)
{
    int64_t small[3];
    bool same = true;
    for (int a = 0; a < 3; a++) {
        small[a] = (int64_t)llround((double)vol->dim[a] / op->factor[a]);
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
