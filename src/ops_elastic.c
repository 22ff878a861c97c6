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
 * Windows: a pass whose output is a part of the field's grid (a crop after the elastic op, src/plan.h field_off)
 * asks for that window only. The window's values are the whole grid's, bit for bit: exact mode draws the noise
 * on the window's support (4 sigma each side, clipped to the grid) keyed by the whole grid's voxel index, and each
 * separable smoothing pass sums the same terms in the same order (what lies outside the support is outside the
 * grid, where mode constant reads 0), computing only the window's voxels along its own axis (vxa_gauss_window;
 * the first pass draws its noise row by row, vxa_noise_gauss_window: exact_window); fast mode computes the block means of the nodes the window interpolates
 * from plus the coarse Gaussian's support, in place on the whole node grid, and interpolates with the start
 * shifted by the window's offset (an exact subtraction of whole numbers and halves).
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

/* The voxels [*lo, *lo + *n) of an axis of dim voxels that a window [off, off + win) reads through a kernel of
 * radius r: the window widened by r each side, clipped to the axis (outside it the field's smoothing reads 0). */
static void support(int64_t dim, int64_t off, int64_t win, int64_t r, int64_t *lo, int64_t *n)
{
    const int64_t a = off - r < 0 ? 0 : off - r, z = off + win + r > dim ? dim : off + win + r;
    *lo = a;
    *n = z - a;
}

static int64_t radius_of(double sigma) { return sigma > 1e-15 ? vxa_gauss_radius(sigma, 4.0) : 0; }

/* amp · U on the box of dims n from voxel lo of the grid dim, U keyed by the grid's voxel index: the noise of
 * the whole grid there, bit for bit (block means of one voxel: amp · (U · 1), the product vxa_noise_uniform
 * takes). */
static vxa_status noise_box(vxa_context *ctx, vxa_dvol *box, const vxa_noise_key *key, const float amp[3],
                            const int64_t dim[3], const int64_t lo[3])
{
    bool whole = true;
    for (int a = 0; a < 3; a++) whole = whole && lo[a] == 0 && box->dim[a] == dim[a];
    if (whole) return vxa_noise_uniform(ctx, box, key, amp);
    const int64_t one[3] = { 1, 1, 1 };
    return vxa_noise_block_mean(ctx, box, key, amp, dim, lo, one);
}

/* dst = the window of dst's dims from voxel `at` of src (the caller keeps it inside src). */
static vxa_status take_window(vxa_context *ctx, const vxa_dvol *src, vxa_dvol *dst, const int64_t at[3])
{
    const int sign[3] = { 1, 1, 1 };
    return vxa_copy_axes(ctx, src, dst, sign, at, VXA_MODE_CONSTANT, 0.0);
}

vxa_status vxa_elastic_field_coarse_window(vxa_context *ctx, const vxa_elastic_plan *plan,
                                           const vxa_noise_key *key, const int64_t dim[3], const int64_t off[3],
                                           const int64_t win[3], vxa_dvol *coarse, double start[3],
                                           double step[3], bool *made)
{
    memset(coarse, 0, sizeof *coarse);
    *made = false;
    const float amp[3] = { (float)plan->alpha[0], (float)plan->alpha[1], (float)plan->alpha[2] };
    int64_t stepi[3], nodes[3], first[3], lo[3], n[3], bfirst[3];
    double sigma_c[3];
    bool any = false, whole = true;
    for (int a = 0; a < 3; a++) {
        vxa_elastic_coarse_axis(dim[a], plan->sigma[a], &stepi[a], &nodes[a], &first[a]);
        any = any || stepi[a] > 1;
        step[a] = (double)stepi[a];
        const double s0 = (double)first[a] + (step[a] - 1.0) / 2.0;   /* node 0's fine coordinate */
        start[a] = s0 - (double)off[a];
        sigma_c[a] = plan->sigma[a] / step[a];
        /* the nodes the window's voxels interpolate from (one more each side than the exact lower and upper
         * node, whatever the device's float32 rounding of the node index), and the coarse Gaussian's support */
        int64_t c0 = (int64_t)floor(((double)off[a] - s0) / step[a]) - 1;
        int64_t c1 = (int64_t)floor(((double)(off[a] + win[a] - 1) - s0) / step[a]) + 2;
        c0 = c0 < 0 ? 0 : c0 > nodes[a] - 1 ? nodes[a] - 1 : c0;
        c1 = c1 < c0 ? c0 : c1 > nodes[a] - 1 ? nodes[a] - 1 : c1;
        support(nodes[a], c0, c1 - c0 + 1, radius_of(sigma_c[a]), &lo[a], &n[a]);
        bfirst[a] = first[a] + lo[a] * stepi[a];
        whole = whole && lo[a] == 0 && n[a] == nodes[a];
    }
    if (plan->mode == VXA_ELASTIC_EXACT || !any) return VXA_OK;
    vxa_dvol box = { 0 };
    vxa_status st = vxa_dvol_alloc(ctx, n, 3, VXA_FLOAT32, &box);
    if (st == VXA_OK && (st = vxa_noise_block_mean(ctx, &box, key, amp, dim, bfirst, stepi)) == VXA_OK)
        st = vxa_gauss_smooth(ctx, &box, sigma_c, VXA_MODE_CONSTANT, 4.0);
    if (st == VXA_OK && whole) {
        *coarse = box;
        *made = true;
        return VXA_OK;
    }
    /* the nodes in place on the whole node grid (0 elsewhere), where the pass's interpolation finds them */
    if (st == VXA_OK && (st = vxa_dvol_alloc(ctx, nodes, 3, VXA_FLOAT32, coarse)) == VXA_OK) {
        const int64_t at[3] = { -lo[0], -lo[1], -lo[2] };
        if ((st = take_window(ctx, &box, coarse, at)) != VXA_OK) vxa_dvol_release(ctx, coarse);
    }
    vxa_dvol_release(ctx, &box);
    *made = st == VXA_OK;
    return st;
}

vxa_status vxa_elastic_field_coarse(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                    const int64_t dim[3], vxa_dvol *coarse, double start[3], double step[3],
                                    bool *made)
{
    const int64_t zero[3] = { 0, 0, 0 };
    return vxa_elastic_field_coarse_window(ctx, plan, key, dim, zero, dim, coarse, start, step, made);
}

/* Exact mode on a window: alpha · G_sigma ∗ U on the window's support. The smoothing is separable, so after the
 * pass along an axis only the window's voxels along that axis are still read: each pass computes only those
 * (vxa_gauss_window: the whole support's pass cut to the window, bit for bit), from the noise on the support
 * along i, j, k to the window along i (vxa_noise_gauss_window: the noise drawn row by row for that first pass,
 * no noise box on the CPU form), then along j, then along k: the field. */
static vxa_status exact_window(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                               const int64_t dim[3], const int64_t off[3], const int64_t win[3], vxa_dvol *field)
{
    const float amp[3] = { (float)plan->alpha[0], (float)plan->alpha[1], (float)plan->alpha[2] };
    int64_t lo[3], n[3];
    bool whole = true;
    for (int a = 0; a < 3; a++) {
        support(dim[a], off[a], win[a], radius_of(plan->sigma[a]), &lo[a], &n[a]);
        whole = whole && off[a] == 0 && win[a] == dim[a];
    }
    vxa_dvol cur = { 0 };
    vxa_status st;
    if (whole) {
        if ((st = vxa_dvol_alloc(ctx, n, 3, VXA_FLOAT32, &cur)) == VXA_OK &&
            (st = noise_box(ctx, &cur, key, amp, dim, lo)) == VXA_OK)
            st = vxa_gauss_smooth(ctx, &cur, plan->sigma, VXA_MODE_CONSTANT, 4.0);
    } else {   /* the noise and the pass along i in one step */
        const int64_t d[3] = { win[0], n[1], n[2] };
        if ((st = vxa_dvol_alloc(ctx, d, 3, VXA_FLOAT32, &cur)) == VXA_OK)
            st = vxa_noise_gauss_window(ctx, &cur, key, amp, dim, lo, n[0], plan->sigma[0], VXA_MODE_CONSTANT, 4.0,
                                        off[0] - lo[0]);
    }
    for (int a = 1; a < 3 && st == VXA_OK && !whole; a++) {
        if (!(plan->sigma[a] > 1e-15)) continue;   /* no pass: the support is the window along a */
        int64_t d[3] = { cur.dim[0], cur.dim[1], cur.dim[2] };
        d[a] = win[a];
        vxa_dvol next = { 0 };
        if ((st = vxa_dvol_alloc(ctx, d, 3, VXA_FLOAT32, &next)) == VXA_OK &&
            (st = vxa_gauss_window(ctx, &cur, &next, a, plan->sigma[a], VXA_MODE_CONSTANT, 4.0,
                                   off[a] - lo[a])) != VXA_OK)
            vxa_dvol_release(ctx, &next);
        vxa_dvol_release(ctx, &cur);
        cur = next;
    }
    if (st != VXA_OK) {
        vxa_dvol_release(ctx, &cur);
        return st;
    }
    *field = cur;
    return VXA_OK;
}

vxa_status vxa_elastic_field_window(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                    const int64_t dim[3], const int64_t off[3], const int64_t win[3],
                                    vxa_dvol *field)
{
    memset(field, 0, sizeof *field);
    vxa_dvol c;
    double start[3], step[3];
    bool coarse;
    vxa_status st = vxa_elastic_field_coarse_window(ctx, plan, key, dim, off, win, &c, start, step, &coarse);
    if (st != VXA_OK) return st;
    if (!coarse) return exact_window(ctx, plan, key, dim, off, win, field);
    if ((st = vxa_dvol_alloc(ctx, win, 3, VXA_FLOAT32, field)) == VXA_OK &&   /* fast: from the nodes */
        (st = vxa_noise_upsample(ctx, &c, field, start, step)) != VXA_OK)
        vxa_dvol_release(ctx, field);
    vxa_dvol_release(ctx, &c);
    return st;
}

vxa_status vxa_elastic_field_build(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                                   const int64_t dim[3], vxa_dvol *field)
{
    const int64_t zero[3] = { 0, 0, 0 };
    return vxa_elastic_field_window(ctx, plan, key, dim, zero, dim, field);
}

static vxa_status elastic_field(vxa_context *ctx, const vxa_op_values *val, const vxa_grid *grid,
                                const int64_t off[3], const int64_t win[3], vxa_dvol *field)
{
    vxa_elastic_plan plan;
    char err[512];
    if (vxa_elastic_plan_make(val, grid, &plan, err, sizeof err) != VXA_OK)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s", err);
    const vxa_noise_key key = { .seed = val->seed, .sample = val->sample, .op_index = val->op_index };
    return vxa_elastic_field_window(ctx, &plan, &key, grid->dim, off, win, field);
}

static vxa_status elastic_coarse_field(vxa_context *ctx, const vxa_op_values *val, const vxa_grid *grid,
                                       const int64_t off[3], const int64_t win[3], vxa_dvol *coarse,
                                       double start[3], double step[3], bool *made)
{
    vxa_elastic_plan plan;
    char err[512];
    *made = false;
    if (vxa_elastic_plan_make(val, grid, &plan, err, sizeof err) != VXA_OK)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s", err);
    const vxa_noise_key key = { .seed = val->seed, .sample = val->sample, .op_index = val->op_index };
    return vxa_elastic_field_coarse_window(ctx, &plan, &key, grid->dim, off, win, coarse, start, step, made);
}

const vxa_op_desc vxa_elastic_ops[] = {
    { .name = "elastic", .kind = VXA_OPK_ELASTIC, .params = elastic_params, .nparams = P_COUNT, .augment = true,
      .doc = "random elastic deformation: displacement alpha · G_sigma ∗ U (U uniform on [-1, 1) per voxel), "
             "or rms/max_disp and smooth_mm in mm; mode exact or fast",
      .scipy = "alpha * ndimage.gaussian_filter(U, sigma, mode='constant', truncate=4.0), then "
               "ndimage.map_coordinates(x, grid + d, order=1)",
      .field = elastic_field, .coarse_field = elastic_coarse_field },
    { .name = NULL },
};
const int vxa_elastic_nops = 1;
