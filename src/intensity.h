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

/* Count, min, max, mean and population std (ddof 0) of a channel (vxa_reduce_moments). */
typedef struct vxa_moments { double count, min, max, mean, std; } vxa_moments;

/* Every intensity op, in the op table's order: X(ID, name). The identifiers VXA_INT_<ID> count from 1; each op's
 * descriptor (src/ops_intensity.c) holds all that is particular to it: parameters, resolution, the statistics it
 * needs, its program for the device and its formula for the reference. */
#define VXA_IOP_LIST(X) \
    X(CLIP, clip) \
    X(PCLIP, pclip) \
    X(MINMAX, minmax) \
    X(ZSCORE, zscore) \
    X(WINDOW, window) \
    X(NOISE, noise) \
    X(GAMMA, gamma) \
    X(BRIGHTNESS, brightness) \
    X(CONTRAST, contrast) \
    X(BIAS, bias) \
    X(BLUR, blur) \
    X(LOWRES, lowres) \
    X(RESCALE, rescale) \
    X(HISTSTD, histstd)

enum {
    VXA_INT_NONE,
#define VXA_INT_ENUM(ID, name) VXA_INT_##ID,
    VXA_IOP_LIST(VXA_INT_ENUM)
#undef VXA_INT_ENUM
    VXA_INT_COUNT
};

#define VXA_HIST_MAXQ 16          /* landmarks of histstd */
#define VXA_BIAS_MAX_ORDER 5
#define VXA_BIAS_MAX_COEFS 56   /* (order+1)(order+2)(order+3)/6 for order 5 */

/* One intensity op after the draw, with everything random already decided: what both paths execute. Each op
 * reads the fields its descriptor's resolve() sets. */
typedef struct vxa_iop {
    int id;                      /* VXA_INT_* */
    double lo, hi;               /* clip: bounds; window: c - w/2, c + w/2; pclip: the percentiles (0..100) */
    double factor;               /* brightness, contrast: the factor */
    double out_min, out_max;     /* rescale: the output range */
    double gamma;                /* gamma: the exponent */
    double std;                  /* noise: standard deviation */
    double sigma[3];             /* blur: Gaussian sigma per axis, voxels */
    double zoom[3];              /* lowres: down-sampling factor per axis */
    int nonzero;                 /* pclip, zscore: statistics over non-zero voxels, zero voxels stay 0 */
    int masked;                  /* pclip, zscore: statistics over the voxels where the mask is non-zero */
    int preserve;                /* contrast: clip the result to the input's [min, max]; rescale: clip */
    int invert, retain;          /* gamma: nnU-Net's invert_image (negate before and after) and retain_stats
                                  * (the mean and std from before the gamma are restored after it) */
    int order, ncoef;            /* bias: polynomial order and its coefficients, TorchIO's term order */
    double coef[VXA_BIAS_MAX_COEFS];
    int nq;                      /* histstd: landmarks at the percentiles q[0 .. nq-1] (increasing) map to map[] */
    double q[VXA_HIST_MAXQ], map[VXA_HIST_MAXQ];
    uint64_t seed, sample;       /* noise: Philox key and sample */
    uint32_t op_index;           /* noise: the Philox stream is op_index << 8 | channel */
} vxa_iop;

/* What an op needs to know of each channel before it runs (reductions over the finite voxels, with the op's
 * `nonzero` and `masked`): nothing, count/min/max, also the mean, also the population std, the two
 * percentiles op->lo, op->hi, or the op->nq percentiles op->q[]. */
typedef enum { VXA_ISTATS_NONE, VXA_ISTATS_RANGE, VXA_ISTATS_MEAN, VXA_ISTATS_STD, VXA_ISTATS_PERCENTILES,
               VXA_ISTATS_QUANTILES } vxa_istats_kind;

typedef struct vxa_istats {
    vxa_moments m;               /* RANGE, MEAN, STD (vxa_reduce_moments) */
    double plo, phi;             /* PERCENTILES: NaN where no voxel counted */
    double q[VXA_HIST_MAXQ];     /* QUANTILES: the percentiles op->q[] (NaN where no voxel counted) */
} vxa_istats;

/* The QUANTILES statistics of every channel of vol into s[c].q (both paths: the percentile reduction entry
 * point two percentiles at a time). */
vxa_status vxa_istats_quantiles(vxa_context *ctx, const vxa_iop *op, const vxa_dvol *vol, const vxa_dvol *mask,
                                vxa_istats *s);

/* ---- histogram standardisation (Nyul-Udupa, TorchIO's HistogramStandardization), src/histstd.c ---------- */
/* A landmarks file (JSON, written by vxa_histstd_write): {"percentiles": [...], "landmarks": [...], ...}, at
 * least 3 and at most VXA_HIST_MAXQ of each, percentiles strictly increasing in [0, 100], landmarks
 * increasing. Reads them into q and map (*n of them); the error names the file and what is wrong. */
vxa_status vxa_histstd_read(const char *path, double *q, double *map, int *n, char *err, size_t errlen);
/* The histstd op's load (src/ops.h): the file's percentiles, then its landmarks (2n values). */
vxa_status vxa_histstd_load(const char *path, double **data, int *n, char *err, size_t errlen);
/* The percentiles of training: 100 * cutoff[0], 10, 20, ..., 90, 100 * cutoff[1] (cutoff[0] < 0.1,
 * cutoff[1] > 0.9): TorchIO's landmarks without its quartiles, which its transform never uses. */
int vxa_histstd_percentiles(const double cutoff[2], double *q);
/* TorchIO's _get_average_mapping: landmark j = the mean over images i of 100 * (p_ij - p_i0) / (p_i,n-1 - p_i0),
 * p (nimg x n, row-major) the images' percentiles; an image with p_i,n-1 == p_i0 is an error (index in err). */
vxa_status vxa_histstd_average(const double *p, int nimg, int n, double *map, char *err, size_t errlen);
/* The nq percentiles q[] of a one-channel image (scaled as the pipeline reads it; finite voxels, with nonzero
 * the non-zero ones, with mask those where the mask, on the image's grid, is non-zero) into out, on ctx's
 * device. */
vxa_status vxa_histstd_image(vxa_context *ctx, const vxa_volume *img, const vxa_volume *mask, int nonzero,
                             const double *q, int nq, double *out);
/* Writes the landmarks file (through src/commit.c: whole or not at all). */
vxa_status vxa_histstd_write(const char *path, const double *q, const double *map, int n, const double cutoff[2],
                             int nimg, const char *masking, char *err, size_t errlen);

/* One instruction of the device's elementwise program (kernels/intensity_ops.h): opcode, op index (noise's
 * Philox stream), extra (bias: the order), and npar parameters, rounded to float when loaded. */
typedef struct vxa_iins {
    int opcode, index, extra, npar;
    double p[VXA_BIAS_MAX_COEFS];
} vxa_iins;
#define VXA_ILOWER_MAX 4         /* instructions one op lowers to */

/* Where a voxel is, for the reference formula of an op that depends on it (noise, bias). */
typedef struct vxa_ivoxel {
    const int64_t *dim;          /* the channel's grid */
    int64_t c, i, j, k;
} vxa_ivoxel;

/* How the two paths run one intensity op; one per op, indexed by VXA_INT_*. Elementwise ops have lower and ref,
 * neighbourhood ops (blur, lowres) have apply instead. */
struct vxa_op_values;
typedef struct vxa_iop_impl {
    const char *name;
    vxa_istats_kind stats;
    /* The drawn values of the op's parameters (its descriptor's, src/ops.h) into out, whose id, seed, sample
     * and op_index are set: presets looked up, further draws made, values checked (an error names the op). */
    vxa_status (*resolve)(vxa_context *ctx, const struct vxa_op_values *val, vxa_iop *out);
    /* The device program of op for one channel whose statistics are s (NULL without statistics): up to
     * VXA_ILOWER_MAX instructions into out, their count returned. The opcodes may not depend on s. */
    int (*lower)(const vxa_iop *op, const vxa_istats *s, vxa_iins *out);
    /* The reference: y = f(x) in double for a voxel at `at` of a channel whose statistics are s. */
    double (*ref)(const vxa_iop *op, const vxa_istats *s, double x, const vxa_ivoxel *at);
    /* Ops that are not elementwise: the whole volume at once (both paths). */
    vxa_status (*apply)(vxa_context *ctx, const vxa_iop *op, vxa_dvol *vol);
} vxa_iop_impl;

/* The implementation of op id (1 .. VXA_INT_COUNT - 1). */
const vxa_iop_impl *vxa_iop_impl_of(int id);

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
/* vxa_intensity_apply of elementwise ops without statistics (vxa_iop_impl.stats NONE, no apply, no mask) on vol
 * (float32, scl_slope 0), the part at off of a grid of dims grid: each voxel runs with its index in that grid. */
vxa_status vxa_intensity_apply_part(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol,
                                    const int64_t grid[3], const int64_t off[3]);
vxa_status vxa_ref_intensity_apply_part(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol,
                                        const int64_t grid[3], const int64_t off[3]);

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
