/* SPDX-License-Identifier: MIT */
/* The elastic op: a random displacement field d on the output grid of the spatial pass, in voxels of that grid,
 * sampled by the resampler as p = A·(o + d(o)) + b (SPEC.md "Elastic deformation").
 *
 *     d_c = alpha_c · G_sigma ∗ U_c,   c = 0, 1, 2 (the component along axis c, in voxels of axis c)
 *
 * U_c: i.i.d. uniform on [−1, 1) per voxel. Exact mapping to Philox4x32-10 (src/shared/philox.h): for the voxel
 * with index v = i + nx·(j + ny·k) on the grid, U_c(v) = vxa_u01_sym(x.v[v % 4]) where
 * x = vxa_philox_block(seed = val->seed, sample = val->sample, stream = val->op_index << 8 | c, block = v / 4),
 * i.e. key = (seed low, seed high), counter = (v / 4, stream, sample low, sample high). alpha_c is folded into
 * the noise as a float32 product alpha_c · U_c (kernels/noise.cl and src/reference/elastic.c agree bit for bit),
 * then G_sigma ∗ is vxa_gauss_smooth with mode constant (cval 0) and truncate 4: exactly
 * alpha · ndimage.gaussian_filter(U_c, sigma, mode='constant', truncate=4.0) for a scalar alpha.
 *
 * Parameters (each value fixed or a [lo, hi] range drawn per sample, except mode):
 *   amplitude, at most one of
 *     alpha      in voxels, the same for the three components (default 900 when none of the three is given:
 *                with the default sigma 13 that is a component standard deviation of about 1.7 voxels);
 *     rms        in mm: the root mean square length of the displacement vector away from the borders, so
 *                each component has standard deviation rms/√3 mm: alpha_c = rms/√3 / spacing_c / s1;
 *     max_disp   in mm: a 3-sigma bound per component (99.7% of the interior voxels move less than it along
 *                each axis): alpha_c = max_disp/3 / spacing_c / s1;
 *     where s1 = sqrt(1/3 · Π_a Σ_t w_a(t)²) is the standard deviation of G_sigma ∗ U for unit alpha, computed
 *     from the discrete kernels w_a (vxa_elastic_unit_std). Components are in voxels of their own axis
 *     (mm / spacing_c), so the deformation is isotropic in mm on anisotropic grids.
 *   smoothness, at most one of
 *     sigma      in voxels, per axis (one value broadcasts; default 13);
 *     smooth_mm  the Gaussian's sigma in mm: sigma_a = smooth_mm / spacing_a. The field's autocorrelation is
 *                then exp(−r² / (4·smooth_mm²)) for a lag r in mm (it falls to 1/e at 2·smooth_mm).
 *   mode       exact (default) or fast.
 *
 * Fast mode: cost that does not grow with sigma, and the same draw as exact mode, approximated. Along each
 * axis the grid is cut into blocks of s_a = max(1, floor(3 sigma_a / 8)) voxels (vxa_elastic_coarse_axis:
 * ceil(n / s) blocks, centred on the grid); each block's node gets the mean of the very noise exact mode draws
 * (alpha_c · U_c over the block's voxels, voxels outside the grid counting as 0 as in mode constant; one kernel,
 * no full-size noise volume); the node field is smoothed with sigma_a / s_a (8/3 to 4 nodes where s_a >= 2: at
 * most 33 taps; sigma_a < 16/3 nodes of one voxel where s_a = 1: at most 45)
 * in mode constant, and interpolated trilinearly back to every voxel (node m sits at the block's centre). A
 * block mean of white noise has 1/s³ of its variance and the coarse kernel is the fine one sampled every s, so
 * no rescaling is needed: the result approximates G_sigma ∗ U itself. Measured (tests/test_elastic.c,
 * test_fast_matches_exact_statistics, sigma 4, 8, 13, 35 on ch2's grid and 8, 35 on 256^3, and
 * test_fast_approximates_exact_draw): the standard deviation and the correlation length (lag where the
 * autocorrelation falls to 1/e) of the fast field stay within 7% and 5% of the exact field's, the test's bounds
 * (README "Equivalence with SciPy" has the measured ranges), and the two fields of one seed correlate at
 * 0.991-0.996 at sigma 8 (relative RMS difference 9-14%). Blocks of sigma / 4, before: within
 * 1.3% and 1.4%, 0.997, 7-8%, at a quarter more time in the standard pipeline (the coarse Gaussian passes over
 * 3.4 times the nodes with 33 taps instead of 23 at sigma 8). Where every s_a is 1 (sigma < 16/3 on all
 * axes) fast is exact. In a pipeline that does not ask for the field back, the full-size field is never made: the
 * nodes are interpolated along i and j into planes of (nx, ny, nodes_2) and the resampling pass finishes along
 * k itself (vxa_resample_params.coarse; the same floats, bit for bit, as the upsampled field). */
#include "elastic.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { P_ALPHA, P_SIGMA, P_RMS, P_MAX_DISP, P_SMOOTH_MM, P_MODE, P_COUNT };

static const char *const mode_names[] = { "exact", "fast", NULL };

static const vxa_param_desc elastic_params[] = {
    [P_ALPHA] = { "alpha", 1, 0, 0, 1e7, { 900 }, "amplitude in voxels: d = alpha · G_sigma ∗ U, U uniform on "
                  "[-1, 1)", NULL },
    [P_SIGMA] = { "sigma", 3, VXA_P_ABOVE_LO, 0, 1000, { 13, 13, 13 }, "Gaussian sigma per axis, voxels", NULL },
    [P_RMS] = { "rms", 1, 0, 0, 1000, { 0 }, "instead of alpha: RMS displacement length in mm (interior)", NULL },
    [P_MAX_DISP] = { "max_disp", 1, 0, 0, 1000, { 0 }, "instead of alpha: 3-sigma bound of each component, mm",
                     NULL },
    [P_SMOOTH_MM] = { "smooth_mm", 1, VXA_P_ABOVE_LO, 0, 1000, { 0 }, "instead of sigma: Gaussian sigma in mm (the "
                      "autocorrelation falls to 1/e at twice this lag)", NULL },
    [P_MODE] = { "mode", 1, VXA_P_FIXED, 0, 1, { 0 }, "exact: full-resolution smoothing; fast: coarse grid "
                 "(step 3 sigma/8) upsampled, same std and correlation length within 10%", mode_names },
};

double vxa_elastic_unit_std(const double sigma[3])
{
    double p = 1.0 / 3.0;   /* variance of U on [-1, 1) */
    for (int a = 0; a < 3; a++) p *= vxa_gauss_sum_sq(sigma[a], 4.0);
    return sqrt(p);
}

vxa_status vxa_elastic_plan_make(const vxa_op_values *val, const vxa_grid *g, vxa_elastic_plan *plan, char *err,
                                 size_t errlen)
{
    memset(plan, 0, sizeof *plan);
    const int amp_forms = (val->given[P_ALPHA] > 0) + (val->given[P_RMS] > 0) + (val->given[P_MAX_DISP] > 0);
    if (amp_forms > 1)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "elastic: give at most one of alpha, rms and "
                            "max_disp (%d given)", amp_forms);
    if (val->given[P_SIGMA] > 0 && val->given[P_SMOOTH_MM] > 0)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "elastic: give sigma (voxels) or smooth_mm "
                            "(mm), not both");
    const bool need_spacing = val->given[P_RMS] > 0 || val->given[P_MAX_DISP] > 0 || val->given[P_SMOOTH_MM] > 0;
    for (int a = 0; a < 3 && need_spacing; a++)
        if (!(g->spacing[a] > 0) || !isfinite(g->spacing[a]))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "elastic: spacing[%d] = %g mm; rms, "
                                "max_disp and smooth_mm need positive spacings", a, g->spacing[a]);
    for (int a = 0; a < 3; a++) {
        plan->sigma[a] = val->given[P_SMOOTH_MM] > 0 ? val->v[P_SMOOTH_MM][0] / g->spacing[a] : val->v[P_SIGMA][a];
        if (!isfinite(plan->sigma[a]) || plan->sigma[a] < 0 || plan->sigma[a] * 4.0 + 0.5 > VXA_GAUSS_MAX_RADIUS)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "elastic: sigma along axis %d = %g voxels, "
                                "expected 0..%d", a, plan->sigma[a], VXA_GAUSS_MAX_RADIUS / 4);
    }
    const double unit = vxa_elastic_unit_std(plan->sigma);
    for (int c = 0; c < 3; c++) {
        if (val->given[P_RMS] > 0)
            plan->alpha[c] = val->v[P_RMS][0] / sqrt(3.0) / g->spacing[c] / unit;
        else if (val->given[P_MAX_DISP] > 0)
            plan->alpha[c] = val->v[P_MAX_DISP][0] / 3.0 / g->spacing[c] / unit;
        else
            plan->alpha[c] = val->v[P_ALPHA][0];
        if (!isfinite(plan->alpha[c]) || plan->alpha[c] < 0)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "elastic: amplitude along axis %d = %g "
                                "voxels, expected a finite value >= 0", c, plan->alpha[c]);
    }
    const double m = val->v[P_MODE][0];
    if (m != VXA_ELASTIC_EXACT && m != VXA_ELASTIC_FAST)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "elastic: mode %g, expected exact (0) or fast "
                            "(1)", m);
    plan->mode = (vxa_elastic_mode)m;
    return VXA_OK;
}

void vxa_elastic_coarse_axis(int64_t n, double sigma, int64_t *step, int64_t *nodes, int64_t *first)
{
    int64_t s = (int64_t)floor(3.0 * sigma / 8.0);
    if (s < 1) s = 1;
    const int64_t m = (n + s - 1) / s;
    *step = s;
    *nodes = m;
    *first = -((m * s - n) / 2);
}

vxa_status vxa_elastic_field_coarse(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                    const int64_t dim[3], vxa_dvol *coarse, double start[3], double step[3],
                                    bool *made)
{
    memset(coarse, 0, sizeof *coarse);
    *made = false;
    const float amp[3] = { (float)plan->alpha[0], (float)plan->alpha[1], (float)plan->alpha[2] };
    int64_t stepi[3], nodes[3], first[3];
    double sigma_c[3];
    bool any = false;
    for (int a = 0; a < 3; a++) {
        vxa_elastic_coarse_axis(dim[a], plan->sigma[a], &stepi[a], &nodes[a], &first[a]);
        any = any || stepi[a] > 1;
        step[a] = (double)stepi[a];
        start[a] = (double)first[a] + (step[a] - 1.0) / 2.0;
        sigma_c[a] = plan->sigma[a] / step[a];
    }
    if (plan->mode == VXA_ELASTIC_EXACT || !any) return VXA_OK;
    vxa_status st = vxa_dvol_alloc(ctx, nodes, 3, VXA_FLOAT32, coarse);
    if (st == VXA_OK && ((st = vxa_noise_block_mean(ctx, coarse, key, amp, dim, first, stepi)) != VXA_OK ||
                         (st = vxa_gauss_smooth(ctx, coarse, sigma_c, VXA_MODE_CONSTANT, 4.0)) != VXA_OK))
        vxa_dvol_release(ctx, coarse);
    *made = st == VXA_OK;
    return st;
}

vxa_status vxa_elastic_field_build(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                   const int64_t dim[3], vxa_dvol *field)
{
    memset(field, 0, sizeof *field);
    vxa_dvol c;
    double start[3], step[3];
    bool coarse;
    vxa_status st = vxa_elastic_field_coarse(ctx, plan, key, dim, &c, start, step, &coarse);
    if (st != VXA_OK) return st;
    if ((st = vxa_dvol_alloc(ctx, dim, 3, VXA_FLOAT32, field)) == VXA_OK) {
        if (coarse) {   /* fast: interpolated from the nodes */
            st = vxa_noise_upsample(ctx, &c, field, start, step);
        } else {   /* alpha · G_sigma ∗ U at full resolution */
            const float amp[3] = { (float)plan->alpha[0], (float)plan->alpha[1], (float)plan->alpha[2] };
            if ((st = vxa_noise_uniform(ctx, field, key, amp)) == VXA_OK)
                st = vxa_gauss_smooth(ctx, field, plan->sigma, VXA_MODE_CONSTANT, 4.0);
        }
        if (st != VXA_OK) vxa_dvol_release(ctx, field);
    }
    if (coarse) vxa_dvol_release(ctx, &c);
    return st;
}

static vxa_status elastic_field(vxa_context *ctx, const vxa_op_values *val, const vxa_grid *out, vxa_dvol *field)
{
    vxa_elastic_plan plan;
    char err[512];
    if (vxa_elastic_plan_make(val, out, &plan, err, sizeof err) != VXA_OK)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s", err);
    const vxa_noise_key key = { .seed = val->seed, .sample = val->sample, .op_index = val->op_index };
    return vxa_elastic_field_build(ctx, &plan, &key, out->dim, field);
}

static vxa_status elastic_coarse_field(vxa_context *ctx, const vxa_op_values *val, const vxa_grid *out,
                                       vxa_dvol *coarse, double start[3], double step[3], bool *made)
{
    vxa_elastic_plan plan;
    char err[512];
    *made = false;
    if (vxa_elastic_plan_make(val, out, &plan, err, sizeof err) != VXA_OK)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s", err);
    const vxa_noise_key key = { .seed = val->seed, .sample = val->sample, .op_index = val->op_index };
    return vxa_elastic_field_coarse(ctx, &plan, &key, out->dim, coarse, start, step, made);
}

const vxa_op_desc vxa_elastic_ops[] = {
    { .name = "elastic", .kind = VXA_OPK_ELASTIC, .params = elastic_params, .nparams = P_COUNT,
      .doc = "random elastic deformation: displacement alpha · G_sigma ∗ U (U uniform on [-1, 1) per voxel), "
             "or rms/max_disp and smooth_mm in mm; mode exact or fast",
      .scipy = "alpha * ndimage.gaussian_filter(U, sigma, mode='constant', truncate=4.0), then "
               "ndimage.map_coordinates(x, grid + d, order=1)",
      .field = elastic_field, .coarse_field = elastic_coarse_field },
    { .name = NULL },
};
const int vxa_elastic_nops = 1;
