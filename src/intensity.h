/* SPDX-License-Identifier: MIT */
/* Intensity ops and reductions: the contract between src/ops_intensity.c (descriptors, parameter resolution),
 * host/intensity.c + host/reduce.c (OpenCL) and src/reference/intensity.c + src/reference/reduce.c (C).
 *
 * Non-finite voxels (NaN, +-Inf): every reduction (min, max, sums, counts, percentiles) ignores them;
 * elementwise ops keep NaN as NaN; clip and window map +-Inf to their bounds; other ops map +-Inf by their
 * formula (e.g. zscore keeps +-Inf, gamma sends -Inf to the minimum). */
#ifndef VXA_INTENSITY_H
#define VXA_INTENSITY_H

#include "internal.h"

/* Op identifiers (vxa_op_desc.intensity_id). */
enum {
    VXA_INT_CLIP = 1, VXA_INT_PCLIP, VXA_INT_MINMAX, VXA_INT_ZSCORE, VXA_INT_WINDOW, VXA_INT_NOISE,
    VXA_INT_GAMMA, VXA_INT_BRIGHTNESS, VXA_INT_CONTRAST, VXA_INT_BIAS, VXA_INT_BLUR, VXA_INT_LOWRES,
};

#define VXA_BIAS_MAX_ORDER 5
#define VXA_BIAS_MAX_COEFS 56   /* (order+1)(order+2)(order+3)/6 for order 5 */

/* One intensity op after the draw, with everything random already decided: what both paths execute. */
typedef struct vxa_iop {
    int id;                      /* VXA_INT_* */
    double a, b;                 /* clip: lo, hi; pclip: percentiles lo, hi; window: lo = c - w/2, hi = c + w/2;
                                  * noise: std; gamma: gamma; brightness, contrast: factor; lowres: factor */
    double sigma[3];             /* blur: Gaussian sigma per axis, voxels */
    double factor[3];            /* lowres: down-sampling factor per axis */
    int nonzero;                 /* pclip, zscore: statistics over non-zero voxels, zero voxels stay 0 */
    int masked;                  /* pclip, zscore: statistics over the voxels where the mask is non-zero */
    int preserve;                /* contrast: clip the result to the input's [min, max] */
    int invert, retain;          /* gamma: nnU-Net's invert_image (negate before and after) and retain_stats
                                  * (the mean and std from before the gamma are restored after it) */
    int order, ncoef;            /* bias: polynomial order and its coefficients, TorchIO's term order */
    double coef[VXA_BIAS_MAX_COEFS];
    uint64_t seed, sample;       /* noise: Philox key and sample */
    uint32_t op_index;           /* noise: the Philox stream is op_index << 8 | channel */
} vxa_iop;

/* Runs ops in place on a float32 volume (device: fused elementwise passes; reference: one op at a time in
 * double). The volume's scl_slope/scl_inter, if set, is applied first and cleared. src: NULL, or a volume of
 * vol's size in any type whose values (with its scaling, as vxa_cast_float converts them) vol starts from:
 * the device then reads src until its first pass, which converts and applies at once (statistics before it
 * come from src directly); src is never written. mask: the label map on the volume's grid (one channel, any
 * integer type) for ops with `masked`, else NULL; an op with `masked` and no mask is an error. */
vxa_status vxa_intensity_apply(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                               const vxa_dvol *mask);
/* vxa_intensity_apply whose result is wanted only in a window: win (float32, vol's channels, dims inside vol
 * from off) receives the voxels off .. off + win->dim - 1 of the result. On CPU devices the last pass computes
 * the window alone (the ops' statistics still come from the whole volume) and vol is then left as the passes
 * before it wrote it; elsewhere vol holds the whole result and the window is copied from it. */
vxa_status vxa_intensity_apply_window(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src,
                                      vxa_dvol *vol, const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win);
vxa_status vxa_ref_intensity_apply(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol,
                                   const vxa_dvol *mask);

/* blur: vxa_gauss_smooth(sigma, nearest, truncate 4). lowres: resize to n' = max(1, round(n / f)) per axis and
 * back to n, both trilinear with mode nearest (SPEC resize). Both paths call these (they dispatch on ctx). */
vxa_status vxa_intensity_blur(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol);
vxa_status vxa_intensity_lowres(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol);

/* ---- reductions over each channel of a float32 volume (scl_slope must be 0): non-finite voxels are skipped,
 * with nonzero also zero voxels, and with a mask (NULL: none) the voxels where the mask is 0. The mask has one
 * channel on the volume's grid, shared by all channels; the device takes it as float32 (vxa_cast_float), the
 * reference in any type. ---------------------------------------------------------------------------------- */
typedef struct vxa_rstats {
    double count;                /* voxels that took part */
    double min, max;             /* +inf / -inf when count is 0 */
    double sum, sumsq;           /* sum of (x - shift) and of (x - shift)^2 */
} vxa_rstats;

/* shift: one value per channel, or NULL for 0. out: one per channel. Device: per-group partial sums
 * (compensated in float) combined in double on the host; launches "vxa_reduce_stats". The CPU form takes the
 * count, min and max alone (vxa_reduce_moments with want_std < 0, no nonzero, no mask) of stored integers in
 * their own type and scales the extremes, the same values. */
vxa_status vxa_reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                            const double *shift, vxa_rstats *out);
vxa_status vxa_ref_reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                const double *shift, vxa_rstats *out);

/* Count, min, max, mean and population std (ddof 0) per channel; std only when want_std > 0 (on the device from
 * the first pass's sums where mean^2 <= var, within 6e-7 relative, else from a second pass shifted by the mean
 * so that no precision is lost); want_std < 0: count, min and max only (mean NaN; the device skips the sums).
 * mean and std are NaN when count is 0. */
typedef struct vxa_moments { double count, min, max, mean, std; } vxa_moments;
vxa_status vxa_reduce_moments(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                              int want_std, vxa_moments *out);
vxa_status vxa_ref_reduce_moments(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                  int want_std, vxa_moments *out);

/* np.percentile(x, q, method='linear') per channel for the two percentiles q[0], q[1] (0..100), over the
 * finite (and, with nonzero, non-zero) voxels: out[2*c + i]; NaN for a channel with none. The device finds
 * the exact order statistics on histograms, nothing but histograms comes back to the host: stored integers of
 * at most 16 bits in one pass over their stored values ("vxa_reduce_code_hist"), other volumes by radix
 * selection on their floats' keys in three passes (then "vxa_reduce_hist" twice). */
vxa_status vxa_reduce_percentiles(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                  const double q[2], double *out);
/* Whether vxa_reduce_percentiles reads vol's stored values in one pass (no float32 copy is worth making). */
bool vxa_reduce_percentiles_read_stored(const vxa_dvol *vol);
vxa_status vxa_ref_reduce_percentiles(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                      const double q[2], double *out);

/* NumPy's linear percentile of n sorted values: the 0-based ranks to read (prev, next) and the weight t;
 * then vxa_percentile_lerp(sorted[prev], sorted[next], t). Shared by both paths. */
void   vxa_percentile_ranks(uint64_t n, double q, uint64_t *prev, uint64_t *next, double *t);
double vxa_percentile_lerp(double a, double b, double t);

/* Standard normal of the noise op for voxel v (index within the channel) on Philox stream `stream`: block
 * v / 4, words (w0, w1) for voxels 4b, 4b+1 and (w2, w3) for 4b+2, 4b+3; Box-Muller with
 * r = sqrt(-2 ln(1 - u(wa))), theta = 2 pi u(wb): r cos theta for the even voxel, r sin theta for the odd one
 * (u as vxa_u01). In double; the kernel computes the same in float. */
double vxa_ref_noise_normal(uint64_t seed, uint64_t sample, uint32_t stream, uint64_t v);

/* The bias field's exponent P at voxel (i, j, k) of a grid dim: coordinates (2i - (n - 1)) / (n - 1) per axis
 * (0 where n = 1), terms x^a y^b z^c in TorchIO's order (a outer, then b, then c, a + b + c <= order). */
double vxa_ref_bias_exponent(const vxa_iop *op, const int64_t dim[3], int64_t i, int64_t j, int64_t k);

#endif
