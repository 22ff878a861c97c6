/* SPDX-License-Identifier: MIT */
/* Internals of Gaussian smoothing and elastic displacement fields, shared by src/ops_elastic.c,
 * host/smooth.c, host/elastic.c, src/reference/smooth.c, src/reference/elastic.c and their tests.
 * vxa_gauss_smooth itself is declared in src/internal.h. */
#ifndef VXA_ELASTIC_H
#define VXA_ELASTIC_H

#include "ops.h"

/* ---- Gaussian kernels (src/reference/smooth.c) ------------------------------------------------------------- */
/* The largest kernel radius accepted (taps = 2 * radius + 1). */
#define VXA_GAUSS_MAX_RADIUS 100000

/* scipy.ndimage's radius for sigma and truncate: int(truncate * sigma + 0.5). */
int64_t vxa_gauss_radius(double sigma, double truncate);
/* scipy.ndimage._gaussian_kernel1d(sigma, 0, radius): w[t + radius] = exp(-0.5 / sigma² · t²) / sum, for
 * t = -radius..radius; w holds 2 * radius + 1 doubles. */
void vxa_gauss_kernel1d(double sigma, int64_t radius, double *w);
/* Σ w² of that kernel (1 for sigma <= 1e-15, the axis scipy skips). */
double vxa_gauss_sum_sq(double sigma, double truncate);
/* Checks vxa_gauss_smooth's arguments: float32 volume, finite sigma >= 0, finite truncate >= 0, a known mode,
 * radius <= VXA_GAUSS_MAX_RADIUS. VXA_ERR_INVALID_ARGUMENT with the detail otherwise. */
vxa_status vxa_gauss_check(vxa_context *ctx, const vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                           double truncate);
/* One pass of vxa_gauss_smooth, along `axis` with `sigma`, cut to a window along that axis: out (float32, in's
 * channels, in's dims but out->dim[axis] <= in->dim[axis]) gets the outputs at + 0 .. at + out->dim[axis] - 1 of
 * the pass over the whole of in, bit for bit, computed for those outputs only (the line's ends folded by mode
 * as in the whole pass). sigma <= 1e-15 (no pass): the window copied. Counted as launch "vxa_gauss...". */
vxa_status vxa_gauss_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                            vxa_mode mode, double truncate, int64_t at);
vxa_status vxa_ref_gauss_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                                vxa_mode mode, double truncate, int64_t at);

/* ---- per-voxel noise and coarse-to-fine upsampling (host/elastic.c, src/reference/elastic.c) --------------- */
/* Whose Philox stream a noise volume draws from: key (seed), counter words 2..3 (sample), stream of channel c
 * = op_index << 8 | c. */
typedef struct vxa_noise_key {
    uint64_t seed, sample;
    uint32_t op_index;
} vxa_noise_key;

/* Fills channel c (0..2) of a float32 volume with amp[c] · U, U = vxa_u01_sym(word v % 4 of
 * vxa_philox_block(seed, sample, op_index << 8 | c, v / 4)), v = i + nx·(j + ny·k) the voxel's index within
 * its channel; the product is a float32 multiply, so device and reference agree bit for bit. vol has 1..3
 * channels and at most 2^34 voxels per channel. Counted as launch "vxa_noise_uniform". */
vxa_status vxa_noise_uniform(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3]);
vxa_status vxa_ref_noise_uniform(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3]);

/* Block means of the same noise, for fast elastic fields: coarse node m (channel c) gets
 * amp[c] · (1 / (s0·s1·s2)) · Σ U_c(z) over the fine voxels z of its block, z_a in [first_a + m_a·s_a,
 * first_a + (m_a + 1)·s_a) and inside the fine grid fine_dim (outside counts as 0, as mode constant), U_c(z)
 * exactly as vxa_noise_uniform draws it on the fine grid. Every block meets the fine grid; the blocks may cover
 * a part of it (the nodes of a window: the same values as those nodes of the whole grid's block means, bit for
 * bit). coarse: float32, 1..3 channels. Counted as launch
 * "vxa_noise_block_mean". */
vxa_status vxa_noise_block_mean(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key, const float amp[3],
                                const int64_t fine_dim[3], const int64_t first[3], const int64_t step[3]);
vxa_status vxa_ref_noise_block_mean(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key,
                                    const float amp[3], const int64_t fine_dim[3], const int64_t first[3],
                                    const int64_t step[3]);

/* The noise of a box and its first smoothing pass cut to a window along i, as one step (an exact elastic field's
 * window): out (float32, 1..3 channels, dims (nout, box_ny, box_nz)) gets vxa_gauss_window(box, out, axis 0,
 * sigma, mode, truncate, at) of the box of dims (box_nx, out->dim[1], out->dim[2]) filled by vxa_noise_block_mean
 * with steps of one voxel from voxel lo of the grid fine_dim, bit for bit; the box itself need not be made.
 * Counted as launch "vxa_noise..." (and "vxa_gauss..." where the two steps run apart). */
vxa_status vxa_noise_gauss_window(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key, const float amp[3],
                                  const int64_t fine_dim[3], const int64_t lo[3], int64_t box_nx, double sigma,
                                  vxa_mode mode, double truncate, int64_t at);
vxa_status vxa_ref_noise_gauss_window(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key,
                                      const float amp[3], const int64_t fine_dim[3], const int64_t lo[3],
                                      int64_t box_nx, double sigma, vxa_mode mode, double truncate, int64_t at);

/* Trilinear upsampling of every channel: fine(o) = coarse at the continuous coarse index
 * q_a = (o_a − start_a) / step_a, where start_a is the fine coordinate of coarse node 0; q is clamped to the
 * coarse grid. Both float32, same channel count. Counted as launch "vxa_noise_upsample". */
vxa_status vxa_noise_upsample(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine, const double start[3],
                              const double step[3]);
vxa_status vxa_ref_noise_upsample(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine,
                                  const double start[3], const double step[3]);

/* Test hooks: the Philox words and the uniform mappings computed by kernels/noise.cl, for known-answer tests.
 * ctr_key: n rows of 6 words (counter 0..3, key 0..1) -> out: n rows of 4 words. words -> u01[i], sym[i]. */
vxa_status vxa_philox_device_words(vxa_context *ctx, const uint32_t *ctr_key, size_t n, uint32_t *out);
vxa_status vxa_philox_device_uniform(vxa_context *ctx, const uint32_t *words, size_t n, float *u01, float *sym);

/* ---- elastic fields (src/ops_elastic.c) ---------------------------------------------------------------------- */
typedef enum { VXA_ELASTIC_EXACT = 0, VXA_ELASTIC_FAST = 1 } vxa_elastic_mode;

/* What an elastic op resolves to on one grid: d_c = alpha[c] · G_sigma ∗ U_c, in voxels of axis c. */
typedef struct vxa_elastic_plan {
    double alpha[3];             /* per component, voxels of that axis */
    double sigma[3];             /* per axis, voxels */
    vxa_elastic_mode mode;
} vxa_elastic_plan;

/* The plan for drawn values val on grid g (the rules are in src/ops_elastic.c). err gets the detail. */
vxa_status vxa_elastic_plan_make(const vxa_op_values *val, const vxa_grid *g, vxa_elastic_plan *plan, char *err,
                                 size_t errlen);
/* Standard deviation of G_sigma ∗ U for U uniform on [−1, 1) away from the borders: sqrt(1/3 · Π_a Σ w_a²). */
double vxa_elastic_unit_std(const double sigma[3]);
/* Builds the field (3 channels, float32, allocated here with vxa_dvol_alloc; released by the caller) on a grid
 * of dims `dim`, exact or fast by plan->mode. */
vxa_status vxa_elastic_field_build(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                   const int64_t dim[3], vxa_dvol *field);
/* The window of `win` voxels from voxel `off` of that field (inside the grid), into a field of dims win: the
 * same floats, bit for bit, as the whole grid's field there. Only the window's support is computed: in exact
 * mode the noise covers the window plus the Gaussian's radius (clipped to the grid), still keyed by the whole
 * grid's voxel index, and each separable pass computes the window's voxels along its own axis (on the support
 * along the axes still to smooth); in fast mode the coarse nodes that the window interpolates from
 * plus the coarse Gaussian's radius. */
vxa_status vxa_elastic_field_window(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                    const int64_t dim[3], const int64_t off[3], const int64_t win[3],
                                    vxa_dvol *field);
/* Fast mode's coarse nodes alone (smoothed, 3 channels, allocated here), with the start and step that
 * vxa_noise_upsample takes to make the field of vxa_elastic_field_build from them. *made = false, nothing
 * allocated, where the plan has no coarse grid (exact mode, or every step 1). */
vxa_status vxa_elastic_field_coarse(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                    const int64_t dim[3], vxa_dvol *coarse, double start[3], double step[3],
                                    bool *made);
/* The same for a window (as vxa_elastic_field_window): start is in the window's voxels, so that
 * vxa_noise_upsample of the nodes onto a volume of dims win gives vxa_elastic_field_window's field. The node
 * volume has the whole grid's node dims, but only the nodes the window reads are computed (the support of the
 * coarse Gaussian around them; the others are 0 and never read). */
vxa_status vxa_elastic_field_coarse_window(vxa_context *ctx, const vxa_elastic_plan *plan,
                                           const vxa_noise_key *key, const int64_t dim[3], const int64_t off[3],
                                           const int64_t win[3], vxa_dvol *coarse, double start[3],
                                           double step[3], bool *made);

/* Fast mode's coarse grid along one axis of n voxels for sigma: blocks of s = max(1, floor(3 sigma / 8)) voxels,
 * nodes = ceil(n / s) of them, centred on the grid: block m covers [first + m·s, first + (m + 1)·s) with
 * first = −floor((nodes·s − n) / 2); its centre, the node's fine coordinate, is first + m·s + (s − 1)/2. */
void vxa_elastic_coarse_axis(int64_t n, double sigma, int64_t *step, int64_t *nodes, int64_t *first);

#endif
