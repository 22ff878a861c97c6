/* SPDX-License-Identifier: MIT */
/* Elastic displacement fields: Philox noise bit for bit on device and reference and as documented; exact
 * fields against a direct 3D sum and device against reference; seeds; the parameter mapping (alpha/sigma,
 * rms/max_disp/smooth_mm on anisotropic grids); fast mode's standard deviation and correlation length within
 * 10% of exact mode's, measured. */
#include "testutil.h"
#include "elastic.h"
#include "shared/philox.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------------------------ */
static vxa_volume *read_back(vxa_context *ctx, vxa_dvol *d)
{
    vxa_volume *v = NULL;
    const int64_t dim[3] = { d->dim[0], d->dim[1], d->dim[2] };
    assert_int_equal(vxa_volume_alloc(dim, d->channels, VXA_FLOAT32, &v), VXA_OK);
    if (vxa_dvol_read(ctx, d, v->data) != VXA_OK) fail_msg("read: %s", vxa_last_error(ctx));
    return v;
}

static vxa_volume *noise_on(vxa_context *ctx, const int64_t dim[3], int64_t channels, const vxa_noise_key *key,
                            const float amp[3])
{
    vxa_dvol d;
    if (vxa_dvol_alloc(ctx, dim, channels, VXA_FLOAT32, &d) != VXA_OK) fail_msg("%s", vxa_last_error(ctx));
    if (vxa_noise_uniform(ctx, &d, key, amp) != VXA_OK) fail_msg("noise: %s", vxa_last_error(ctx));
    vxa_volume *v = read_back(ctx, &d);
    vxa_dvol_release(ctx, &d);
    return v;
}

static vxa_volume *field_on(vxa_context *ctx, const vxa_elastic_plan *plan, const vxa_noise_key *key,
                            const int64_t dim[3])
{
    vxa_dvol f;
    if (vxa_elastic_field_build(ctx, plan, key, dim, &f) != VXA_OK) fail_msg("field: %s", vxa_last_error(ctx));
    assert_int_equal(f.channels, 3);
    assert_int_equal(f.dtype, VXA_FLOAT32);
    for (int a = 0; a < 3; a++) assert_int_equal(f.dim[a], dim[a]);
    vxa_volume *v = read_back(ctx, &f);
    vxa_dvol_release(ctx, &f);
    return v;
}

static double max_abs(const vxa_volume *v)
{
    double m = 0;
    for (size_t i = 0; i < vxa_volume_voxels(v); i++) m = fmax(m, fabs(((const float *)v->data)[i]));
    return m;
}

static const int64_t zero3[3] = { 0, 0, 0 };

static vxa_grid grid_of(const int64_t dim[3], const double spacing[3])
{
    vxa_grid g;
    memset(&g, 0, sizeof g);
    for (int a = 0; a < 3; a++) {
        g.dim[a] = dim[a];
        g.spacing[a] = spacing[a];
        g.affine[a][a] = spacing[a];
    }
    g.affine[3][3] = 1;
    return g;
}

/* ---- noise -------------------------------------------------------------------------------------------------- */
static void test_noise_device_equals_reference_bitwise(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed();
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const vxa_noise_key key = { vxa_test_rand(&rng), vxa_test_rand(&rng), (uint32_t)(vxa_test_rand(&rng) % 300) };
        const float amp[3] = { (float)(100 * vxa_test_uniform(&rng)), 1.0f, (float)vxa_test_uniform(&rng) };
        const int64_t channels = 1 + (int64_t)(vxa_test_rand(&rng) % 3);
        vxa_volume *r = noise_on(ref, vxa_test_shapes[s], channels, &key, amp);
        vxa_volume *d = noise_on(dev, vxa_test_shapes[s], channels, &key, amp);
        if (!vxa_test_identical(r, d))
            fail_msg("noise differs on %lldx%lldx%lld x %lld", (long long)vxa_test_shapes[s][0],
                     (long long)vxa_test_shapes[s][1], (long long)vxa_test_shapes[s][2], (long long)channels);
        vxa_volume_free(r);
        vxa_volume_free(d);
    }
}

/* The documented mapping: voxel v of channel c is amp_c · u01_sym(word v % 4 of block v / 4, stream
 * op << 8 | c), v = i + nx·(j + ny·k). */
static void test_noise_follows_documented_mapping(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 5, 3, 7 };
    const vxa_noise_key key = { 0x0123456789abcdefull, 42, 3 };
    const float amp[3] = { 2.0f, 0.5f, 1.0f };
    vxa_volume *n = noise_on(ref, dim, 3, &key, amp);
    for (int c = 0; c < 3; c++)
        for (int64_t k = 0; k < dim[2]; k++)
            for (int64_t j = 0; j < dim[1]; j++)
                for (int64_t i = 0; i < dim[0]; i++) {
                    const uint32_t v = (uint32_t)(i + dim[0] * (j + dim[1] * k));
                    vxa_philox4 ctr = { { v / 4, 3u << 8 | (uint32_t)c, 42, 0 } };
                    const vxa_philox4 x = vxa_philox4x32_10(ctr, 0x89abcdefu, 0x01234567u);
                    const double u = (double)(x.v[v % 4] >> 8) / 16777216.0 * 2.0 - 1.0;
                    assert_true(vxa_volume_get(n, i, j, k, c) == (float)(amp[c] * u));
                }
    vxa_volume_free(n);
}

/* Mean 0, variance 1/3 within 5 standard errors, values in [-1, 1); keys and channels give other numbers. */
static void test_noise_statistics_and_independence(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 64, 64, 32 };
    const float one[3] = { 1, 1, 1 };
    const vxa_noise_key keys[4] = { { 7, 0, 0 }, { 8, 0, 0 }, { 7, 1, 0 }, { 7, 0, 1 } };
    vxa_volume *n[4];
    for (int k = 0; k < 4; k++) n[k] = noise_on(ref, dim, 3, &keys[k], one);
    const size_t nv = vxa_volume_voxels(n[0]), per = nv / 3;
    const float *x = n[0]->data;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < nv; i++) {
        assert_true(x[i] >= -1.0f && x[i] < 1.0f);
        sum += x[i];
        sq += (double)x[i] * x[i];
    }
    const double mean = sum / (double)nv, var = sq / (double)nv - mean * mean;
    assert_true(fabs(mean) < 5 * sqrt(1.0 / 3.0 / (double)nv));
    assert_true(fabs(var - 1.0 / 3.0) < 5 * sqrt(4.0 / 45.0 / (double)nv));   /* Var(U²) = 1/5 − 1/9 */
    for (int k = 1; k < 4; k++) {   /* another seed, sample or op: uncorrelated with the first */
        const float *y = n[k]->data;
        double cxy = 0;
        for (size_t i = 0; i < nv; i++) cxy += (double)x[i] * y[i];
        assert_true(fabs(cxy / (double)nv) < 5 * (1.0 / 3.0) / sqrt((double)nv));
    }
    double c01 = 0;   /* channels 0 and 1 of one key */
    for (size_t i = 0; i < per; i++) c01 += (double)x[i] * x[per + i];
    assert_true(fabs(c01 / (double)per) < 5 * (1.0 / 3.0) / sqrt((double)per));
    for (int k = 0; k < 4; k++) vxa_volume_free(n[k]);
}

static void test_noise_rejects_bad_volumes(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 2, 2, 2 };
    const vxa_noise_key key = { 1, 2, 3 };
    const float amp[3] = { 1, 1, 1 };
    vxa_dvol d;
    assert_int_equal(vxa_dvol_alloc(ref, dim, 4, VXA_FLOAT32, &d), VXA_OK);
    assert_int_equal(vxa_noise_uniform(ref, &d, &key, amp), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "channels"));
    vxa_dvol_release(ref, &d);
    assert_int_equal(vxa_dvol_alloc(ref, dim, 1, VXA_INT16, &d), VXA_OK);
    assert_int_equal(vxa_noise_uniform(ref, &d, &key, amp), VXA_ERR_INVALID_ARGUMENT);
    vxa_dvol_release(ref, &d);
}

/* ---- exact fields -------------------------------------------------------------------------------------------- */
/* d_c(o) = Σ_t Π_a w_a(t_a) · alpha · U_c(o + t), U = 0 outside the grid (mode constant), w scipy's truncate-4
 * kernels: the triple sum written out in double, against the reference's separable float32 passes. */
static void test_exact_field_is_direct_3d_sum(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 9, 7, 6 };
    const vxa_elastic_plan plan = { .alpha = { 3, 3, 3 }, .sigma = { 1.2, 0.6, 1.0 }, .mode = VXA_ELASTIC_EXACT };
    const vxa_noise_key key = { 99, 5, 2 };
    const float unit[3] = { 1, 1, 1 };
    vxa_volume *u = noise_on(ref, dim, 3, &key, unit);
    vxa_volume *f = field_on(ref, &plan, &key, dim);
    double w[3][16];
    int r[3];
    for (int a = 0; a < 3; a++) {
        r[a] = (int)(4.0 * plan.sigma[a] + 0.5);
        double s = 0;
        for (int t = -r[a]; t <= r[a]; t++)
            s += (w[a][t + r[a]] = exp(-0.5 * t * t / (plan.sigma[a] * plan.sigma[a])));
        for (int t = 0; t <= 2 * r[a]; t++) w[a][t] /= s;
    }
    for (int c = 0; c < 3; c++)
        for (int64_t k = 0; k < dim[2]; k++)
            for (int64_t j = 0; j < dim[1]; j++)
                for (int64_t i = 0; i < dim[0]; i++) {
                    double sum = 0;
                    for (int tk = -r[2]; tk <= r[2]; tk++)
                        for (int tj = -r[1]; tj <= r[1]; tj++)
                            for (int ti = -r[0]; ti <= r[0]; ti++) {
                                const int64_t p[3] = { i + ti, j + tj, k + tk };
                                if (p[0] < 0 || p[1] < 0 || p[2] < 0 || p[0] >= dim[0] || p[1] >= dim[1] ||
                                    p[2] >= dim[2])
                                    continue;
                                sum += w[0][ti + r[0]] * w[1][tj + r[1]] * w[2][tk + r[2]] * 3.0 *
                                       vxa_volume_get(u, p[0], p[1], p[2], c);
                            }
                    const double got = vxa_volume_get(f, i, j, k, c);
                    if (fabs(got - sum) > 1e-5)
                        fail_msg("field %d at %lld,%lld,%lld: %.8g, direct sum %.8g", c, (long long)i, (long long)j,
                                 (long long)k, got, sum);
                }
    vxa_volume_free(u);
    vxa_volume_free(f);
}

/* Exact and fast fields: device within 1e-4 × the field's range of the reference, on awkward shapes. */
static void test_field_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 1;
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        const bool large = dim[0] * dim[1] * dim[2] > 1000000;
        for (int m = 0; m < 2; m++) {
            if (large && m == VXA_ELASTIC_EXACT) continue;   /* the large grid once, in fast mode */
            vxa_elastic_plan plan = { .mode = (vxa_elastic_mode)m };
            for (int a = 0; a < 3; a++) {
                plan.alpha[a] = 10 + 100 * vxa_test_uniform(&rng);
                plan.sigma[a] = m == VXA_ELASTIC_FAST ? 8 + 10 * vxa_test_uniform(&rng) : 3 * vxa_test_uniform(&rng);
            }
            const vxa_noise_key key = { vxa_test_rand(&rng), (uint64_t)s, (uint32_t)m };
            vxa_volume *r = field_on(ref, &plan, &key, dim), *d = field_on(dev, &plan, &key, dim);
            const double tol = 1e-4 * fmax(vxa_test_range(r), max_abs(r)), diff = vxa_test_max_abs_diff(r, d);
            if (!(diff <= tol))
                fail_msg("%s field differs by %g (tol %g) on %lldx%lldx%lld, sigma %g %g %g", m ? "fast" : "exact",
                         diff, tol, (long long)dim[0], (long long)dim[1], (long long)dim[2], plan.sigma[0],
                         plan.sigma[1], plan.sigma[2]);
            vxa_volume_free(r);
            vxa_volume_free(d);
        }
    }
}

/* A window of a field: the window's dims m and start q along one axis of n voxels, of kind t: 0 touches the low
 * border, 1 the high one, 2 lies inside (touching neither where the axis allows), 3 is the whole axis. */
static void window_axis(int64_t n, int t, uint64_t *rng, int64_t *q, int64_t *m)
{
    *m = t == 3 ? n : 1 + (int64_t)(vxa_test_rand(rng) % (uint64_t)(n / 3 + 1));
    if (*m > n) *m = n;
    *q = t == 0 || t == 3 ? 0 : t == 1 ? n - *m : (n - *m) / 2;
}

/* The noise of a box with its first smoothing pass cut along i (vxa_noise_gauss_window; on the device's CPU forms
 * one kernel that draws each row's noise where it smooths it) is the noise box (vxa_noise_block_mean, steps of
 * one voxel) followed by the windowed pass (vxa_gauss_window), bit for bit, on each context: boxes anywhere on
 * odd grids, rows of 1 to 130 voxels, radii wider than the row, windows at either end, whole and single, sigma
 * 0, 1-3 channels, every mode; the device within tolerance of the reference, its GPU forms equal to its CPU
 * forms bit for bit. The fused kernel runs where the device runs its CPU forms (launch counts). */
static void test_noise_gauss_window_equals_noise_then_pass(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device(), *gpu = vxa_test_gpu_forms_device();
    vxa_context *ctxs[3] = { ref, dev, gpu };
    const char *forms[3] = { "reference", "device", "device, GPU forms" };
    uint64_t rng = vxa_test_seed() + 29;
    static const int64_t rows[] = { 1, 2, 7, 33, 65, 130 };
    static const double sigmas[] = { 0, 0.3, 1, 2.5, 8 };
    const uint64_t fused0 = vxa_context_launches(dev, "vxa_noise_gauss_rows");
    const uint64_t rows0 = vxa_context_launches(dev, "vxa_gauss_rows");
    for (size_t l = 0; l < sizeof rows / sizeof rows[0]; l++)
        for (int w = 0; w < 4; w++) {
            int64_t fine[3], lo[3], box[3];
            for (int a = 0; a < 3; a++) {
                fine[a] = 1 + (int64_t)(vxa_test_rand(&rng) % 40);
                box[a] = 1 + (int64_t)(vxa_test_rand(&rng) % (uint64_t)fine[a]);
            }
            fine[0] = rows[l] + (int64_t)(vxa_test_rand(&rng) % 20);
            box[0] = rows[l];
            if (w % 2) box[2] = fine[2] = 12;   /* planes enough for the fused kernel */
            for (int a = 0; a < 3; a++) lo[a] = (int64_t)(vxa_test_rand(&rng) % (uint64_t)(fine[a] - box[a] + 1));
            const int64_t len = 1 + (int64_t)(vxa_test_rand(&rng) % (uint64_t)box[0]);
            const int64_t at = w == 0 ? 0 : w == 1 ? box[0] - len : w == 2 ? (int64_t)(vxa_test_rand(&rng) %
                               (uint64_t)(box[0] - len + 1)) : 0;
            const int64_t nout = w == 3 ? box[0] : len;
            const int64_t channels = 1 + (int64_t)(vxa_test_rand(&rng) % 3);
            const double sigma = sigmas[vxa_test_rand(&rng) % 5];
            const vxa_mode mode = l == 0 ? VXA_MODE_CONSTANT : (vxa_mode)(vxa_test_rand(&rng) % 3);
            const vxa_noise_key key = { vxa_test_rand(&rng), vxa_test_rand(&rng) % 5, (uint32_t)(l + 1) };
            const float amp[3] = { 1 + 100 * (float)vxa_test_uniform(&rng), 50, 0.5f };
            const int64_t od[3] = { nout, box[1], box[2] }, one[3] = { 1, 1, 1 };
            vxa_volume *got[3];
            for (int c = 0; c < 3; c++) {
                vxa_dvol out, b, cut;
                assert_int_equal(vxa_dvol_alloc(ctxs[c], od, channels, VXA_FLOAT32, &out), VXA_OK);
                assert_int_equal(vxa_dvol_alloc(ctxs[c], box, channels, VXA_FLOAT32, &b), VXA_OK);
                assert_int_equal(vxa_dvol_alloc(ctxs[c], od, channels, VXA_FLOAT32, &cut), VXA_OK);
                if (vxa_noise_gauss_window(ctxs[c], &out, &key, amp, fine, lo, box[0], sigma, mode, 4.0, at) != VXA_OK ||
                    vxa_noise_block_mean(ctxs[c], &b, &key, amp, fine, lo, one) != VXA_OK ||
                    vxa_gauss_window(ctxs[c], &b, &cut, 0, sigma, mode, 4.0, at) != VXA_OK)
                    fail_msg("%s: %s", forms[c], vxa_last_error(ctxs[c]));
                got[c] = read_back(ctxs[c], &out);
                vxa_volume *want = read_back(ctxs[c], &cut);
                if (!vxa_test_identical(got[c], want))
                    fail_msg("%s: %lld outputs from %lld of a box %lldx%lldx%lld at (%lld,%lld,%lld) of %lldx%lldx%lld, "
                             "%lld channels, sigma %g, mode %d: %zu voxels differ from the noise box's pass", forms[c],
                             (long long)nout, (long long)at, (long long)box[0], (long long)box[1], (long long)box[2],
                             (long long)lo[0], (long long)lo[1], (long long)lo[2], (long long)fine[0],
                             (long long)fine[1], (long long)fine[2], (long long)channels, sigma, (int)mode,
                             vxa_test_count_differences(got[c], want));
                vxa_volume_free(want);
                vxa_dvol_release(ctxs[c], &out);
                vxa_dvol_release(ctxs[c], &b);
                vxa_dvol_release(ctxs[c], &cut);
            }
            double m = 0;
            for (size_t v = 0; v < vxa_volume_voxels(got[0]); v++) m = fmax(m, fabs(((float *)got[0]->data)[v]));
            assert_true(vxa_test_max_abs_diff(got[0], got[1]) <= 1e-5 * fmax(m, 1.0));
            assert_true(vxa_test_identical(got[1], got[2]));
            for (int c = 0; c < 3; c++) vxa_volume_free(got[c]);
        }
    /* where the device runs the CPU forms (vxa_gauss_rows...: not with VOXAUG_GPU_FORMS=1, nor on a GPU) */
    if (vxa_context_launches(dev, "vxa_gauss_rows") > rows0)
        assert_true(vxa_context_launches(dev, "vxa_noise_gauss_rows") > fused0);
    vxa_context_destroy(gpu);
}

/* The window of a field computed alone (vxa_elastic_field_window: noise and smoothing on the window's support,
 * the noise keyed by the whole grid's voxel index; fast mode: the nodes the window reads and their support) is
 * the whole grid's field there, bit for bit: exact and fast, on the reference, the device and the device's GPU
 * kernel forms, windows touching every border of every axis (and one voxel in a corner), sigma 0 on an axis, odd
 * shapes. Where the support is smaller than the grid, no noise is drawn for the whole grid. */
static void test_field_window_equals_whole_field_bitwise(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device(), *gpu = vxa_test_gpu_forms_device();
    vxa_context *ctxs[3] = { ref, dev, gpu };
    uint64_t rng = vxa_test_seed() + 23;
    const int64_t dims[][3] = { { 1, 13, 17 }, { 7, 1, 1 }, { 17, 19, 23 }, { 45, 38, 41 }, { 97, 61, 83 } };
    /* per window, the kind along each axis: every border of every axis is touched, with the others inside */
    const int kinds[][3] = { { 0, 0, 0 }, { 1, 1, 1 }, { 0, 1, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 2, 2 },
                             { 3, 3, 2 } };
    const int nwin = (int)(sizeof kinds / sizeof kinds[0]);
    size_t compared = 0, partial = 0;
    for (size_t g = 0; g < sizeof dims / sizeof dims[0]; g++)
        for (int m = 0; m < 2; m++) {
            const int64_t *dim = dims[g];
            vxa_elastic_plan plan = { .mode = (vxa_elastic_mode)m };
            for (int a = 0; a < 3; a++) {
                plan.alpha[a] = 10 + 100 * vxa_test_uniform(&rng);
                plan.sigma[a] = m == VXA_ELASTIC_FAST ? 6 + 2 * vxa_test_uniform(&rng) : 1 + 2 * vxa_test_uniform(&rng);
            }
            if (g == 3) plan.sigma[1] = 0;   /* an axis without smoothing (exact) or with steps of 1 (fast) */
            const vxa_noise_key key = { vxa_test_rand(&rng), (uint64_t)g, (uint32_t)(7 + m) };
            for (int x = 0; x < 3; x++) {
                vxa_volume *whole = field_on(ctxs[x], &plan, &key, dim);
                for (int w = 0; w <= nwin; w++) {
                    int64_t q[3], n[3];
                    for (int a = 0; a < 3; a++) {
                        if (w < nwin) window_axis(dim[a], kinds[w][a], &rng, &q[a], &n[a]);
                        else n[a] = 1, q[a] = dim[a] - 1;   /* one voxel, the far corner */
                    }
                    const uint64_t full_noise = vxa_context_launches(ctxs[x], "vxa_noise_uniform");
                    vxa_dvol f;
                    if (vxa_elastic_field_window(ctxs[x], &plan, &key, dim, q, n, &f) != VXA_OK)
                        fail_msg("window: %s", vxa_last_error(ctxs[x]));
                    for (int a = 0; a < 3; a++) assert_int_equal(f.dim[a], n[a]);
                    vxa_volume *got = read_back(ctxs[x], &f);
                    vxa_dvol_release(ctxs[x], &f);
                    /* the support of an exact window's smoothing: 4 sigma each side */
                    bool smaller = false;
                    for (int a = 0; a < 3; a++) {
                        const int64_t r = plan.sigma[a] > 0 ? vxa_gauss_radius(plan.sigma[a], 4.0) : 0;
                        smaller = smaller || q[a] - r > 0 || q[a] + n[a] + r < dim[a];
                    }
                    if (m == VXA_ELASTIC_EXACT && smaller) {
                        assert_int_equal(vxa_context_launches(ctxs[x], "vxa_noise_uniform"), full_noise);
                        partial++;
                    }
                    for (int c = 0; c < 3; c++)
                        for (int64_t k = 0; k < n[2]; k++)
                            for (int64_t j = 0; j < n[1]; j++)
                                for (int64_t i = 0; i < n[0]; i++) {
                                    const float a = (float)vxa_volume_get(got, i, j, k, c);
                                    const float b = (float)vxa_volume_get(whole, q[0] + i, q[1] + j, q[2] + k, c);
                                    if (memcmp(&a, &b, sizeof a) != 0)
                                        fail_msg("%s %s field on %lldx%lldx%lld, window %lldx%lldx%lld at "
                                                 "(%lld,%lld,%lld): channel %d voxel (%lld,%lld,%lld) is %.9g, "
                                                 "the whole field's %.9g", vxa_context_device_name(ctxs[x]),
                                                 m ? "fast" : "exact", (long long)dim[0], (long long)dim[1],
                                                 (long long)dim[2], (long long)n[0], (long long)n[1],
                                                 (long long)n[2], (long long)q[0], (long long)q[1],
                                                 (long long)q[2], c, (long long)i, (long long)j, (long long)k,
                                                 (double)a, (double)b);
                                }
                    compared++;
                    vxa_volume_free(got);
                }
                vxa_volume_free(whole);
            }
        }
    print_message("%zu windows equal to the whole field, %zu of them exact on a part of the grid\n", compared,
                  partial);
    assert_true(partial > 20);
    vxa_context_destroy(gpu);
}

/* The same key gives the same field bit for bit (device and reference); another seed, sample or op index
 * gives an unrelated one. */
static void test_field_seeds(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device();
    vxa_context *ctxs[2] = { ref, dev };
    const int64_t dim[3] = { 24, 20, 18 };
    const vxa_elastic_plan plan = { .alpha = { 50, 50, 50 }, .sigma = { 1.5, 1.5, 1.5 }, .mode = VXA_ELASTIC_EXACT };
    const vxa_noise_key keys[4] = { { 7, 0, 0 }, { 8, 0, 0 }, { 7, 1, 0 }, { 7, 0, 1 } };
    for (int c = 0; c < 2; c++) {
        vxa_volume *a = field_on(ctxs[c], &plan, &keys[0], dim), *b = field_on(ctxs[c], &plan, &keys[0], dim);
        assert_true(vxa_test_identical(a, b));
        const float *x = a->data;
        for (int k = 1; k < 4; k++) {
            vxa_volume *o = field_on(ctxs[c], &plan, &keys[k], dim);
            const float *y = o->data;
            double sxy = 0, sxx = 0, syy = 0;
            for (size_t i = 0; i < vxa_volume_voxels(a); i++) {
                sxy += (double)x[i] * y[i];
                sxx += (double)x[i] * x[i];
                syy += (double)y[i] * y[i];
            }
            assert_true(fabs(sxy) / sqrt(sxx * syy) < 0.3);   /* unrelated draws: correlation near 0 */
            vxa_volume_free(o);
        }
        vxa_volume_free(a);
        vxa_volume_free(b);
    }
}

/* ---- statistics: exact vs fast -------------------------------------------------------------------------------- */
typedef struct { double cov[3][112]; double n[3][112]; double var, nvar; int maxlag[3]; } acc_stats;

/* Adds the autocovariance of every channel of f (about the channel's mean) along each axis a at lags
 * 0..maxlag[a] − 1, over the lines whose other two indices are multiples of 3 (neighbouring lines of a field
 * this smooth say little more), and the variance over all voxels. */
static void stats_add(acc_stats *s, const vxa_volume *f)
{
    const int64_t *d = f->dim;
    const size_t per = (size_t)(d[0] * d[1] * d[2]);
    const int64_t stride[3] = { 1, d[0], d[0] * d[1] };
    for (int64_t c = 0; c < f->channels; c++) {
        const float *x = (const float *)f->data + (size_t)c * per;
        double mean = 0;
        for (size_t i = 0; i < per; i++) mean += x[i];
        mean /= (double)per;
        for (size_t i = 0; i < per; i++) {
            s->var += (x[i] - mean) * (x[i] - mean);
            s->nvar += 1;
        }
        for (int a = 0; a < 3; a++) {
            const int b = a == 0 ? 1 : 0, e = a == 2 ? 1 : 2;
            for (int64_t v = 0; v < d[e]; v += 3)
                for (int64_t u = 0; u < d[b]; u += 3) {
                    const float *line = x + u * stride[b] + v * stride[e];
                    for (int L = 0; L < s->maxlag[a] && L < d[a]; L++)
                        for (int64_t p = 0; p + L < d[a]; p++) {
                            s->cov[a][L] += (line[p * stride[a]] - mean) * (line[(p + L) * stride[a]] - mean);
                            s->n[a][L] += 1;
                        }
                }
        }
    }
}

/* The lag where the autocorrelation along axis a first falls to 1/e, interpolated linearly. */
static double stats_corr_length(const acc_stats *s, int a)
{
    const double c0 = s->cov[a][0] / s->n[a][0];
    double prev = 1.0;
    for (int L = 1; L < s->maxlag[a] && s->n[a][L] > 0; L++) {
        const double rho = s->cov[a][L] / s->n[a][L] / c0;
        if (rho < exp(-1.0)) return L - 1 + (prev - exp(-1.0)) / (prev - rho);
        prev = rho;
    }
    return NAN;
}

/* Fast mode keeps the field's standard deviation and its correlation length along each axis close to exact mode's,
 * measured on the same draw (fast approximates exact's draw, so sampling noise mostly cancels in the comparison),
 * at sigma 4, 8, 13 and 35 on ch2's grid and 8 and 35 on 256^3. SPEC promises 10%; the bounds here are the measured worst
 * case over seeds plus a margin (the numbers in bench/RESULTS.md, "Fast elastic fields"): std within 7%,
 * correlation length within 5%. Blocks of 3 sigma/4 instead of 3 sigma/8 (a mutant) move the correlation length
 * by more (scripts/mutate.sh). */
static void test_fast_matches_exact_statistics(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    const struct { int64_t dim[3]; double sigma; } cases[] = {
        { { 181, 217, 181 }, 4 }, { { 181, 217, 181 }, 8 }, { { 181, 217, 181 }, 13 }, { { 181, 217, 181 }, 35 },
        /* 256^3 at 8 and 35 only, for CI's time (an exact 256^3 field at sigma 35 is the costliest part); at sigma 4
         * fast is exact (blocks of one voxel) on any grid, as ch2's case shows */
        { { 256, 256, 256 }, 8 }, { { 256, 256, 256 }, 35 },
    };
#ifdef __SANITIZE_ADDRESS__
    const size_t ncases = 2;   /* the sanitizer build (CI's second suite) checks ch2 at sigma 4 and 8 only: time */
#else
    const size_t ncases = sizeof cases / sizeof cases[0];
#endif
    const double std_bound = 0.07, corr_bound = 0.05;
    double worst_std = 0, worst_corr = 0;
    const uint64_t seed = vxa_test_seed();
    for (size_t ci = 0; ci < ncases; ci++) {
        static acc_stats st[2];
        memset(st, 0, sizeof st);
        const double sg = cases[ci].sigma;
        for (int m = 0; m < 2; m++) {
            for (int a = 0; a < 3; a++) {
                st[m].maxlag[a] = (int)(3 * sg) + 2;   /* the 1/e lag is near 2 sigma */
                assert_true(st[m].maxlag[a] <= 112);
            }
            const vxa_elastic_plan plan = { .alpha = { 1000, 1000, 1000 }, .sigma = { sg, sg, sg },
                                            .mode = (vxa_elastic_mode)m };
            const vxa_noise_key key = { seed + ci, 0, 0 };
            vxa_volume *f = field_on(dev, &plan, &key, cases[ci].dim);
            stats_add(&st[m], f);
            vxa_volume_free(f);
        }
        const double sd_exact = sqrt(st[0].var / st[0].nvar), sd_fast = sqrt(st[1].var / st[1].nvar);
        const double dstd = fabs(sd_fast / sd_exact - 1);
        worst_std = fmax(worst_std, dstd);
        print_message("%lldx%lldx%lld sigma %g: std exact %.4g fast %.4g (%+.2f%%)\n", (long long)cases[ci].dim[0],
                      (long long)cases[ci].dim[1], (long long)cases[ci].dim[2], sg, sd_exact, sd_fast,
                      100 * (sd_fast / sd_exact - 1));
        if (!(dstd <= std_bound))
            fail_msg("sigma %g: std fast %g vs exact %g: %.2f%% (bound %.0f%%); replay: VOXAUG_TEST_SEED=%llu "
                     "ctest -R '^test_elastic$'", sg, sd_fast, sd_exact, 100 * dstd, 100 * std_bound,
                     (unsigned long long)seed);
        for (int a = 0; a < 3; a++) {
            const double le = stats_corr_length(&st[0], a), lf = stats_corr_length(&st[1], a);
            const double dc = fabs(lf / le - 1);
            worst_corr = fmax(worst_corr, dc);
            print_message("  axis %d: 1/e lag exact %.3f fast %.3f (%+.2f%%)\n", a, le, lf, 100 * (lf / le - 1));
            if (!(dc <= corr_bound))
                fail_msg("sigma %g: correlation length along %d: fast %g vs exact %g: %.2f%% (bound %.0f%%); replay: "
                         "VOXAUG_TEST_SEED=%llu ctest -R '^test_elastic$'", sg, a, lf, le, 100 * dc,
                         100 * corr_bound, (unsigned long long)seed);
        }
    }
    print_message("worst: std %.2f%%, correlation length %.2f%%\n", 100 * worst_std, 100 * worst_corr);
}

/* ---- parameters and the op ----------------------------------------------------------------------------------- */
static vxa_op_values values(void)
{
    vxa_op_values v;
    memset(&v, 0, sizeof v);
    const vxa_op_desc *op = vxa_op_find("elastic");
    for (int p = 0; p < op->nparams; p++)
        for (int i = 0; i < 3; i++) v.v[p][i] = op->params[p].def[op->params[p].count > i ? i : 0];
    return v;
}

static int param_index(const char *name)
{
    const vxa_op_desc *op = vxa_op_find("elastic");
    for (int p = 0; p < op->nparams; p++)
        if (strcmp(op->params[p].name, name) == 0) return p;
    fail_msg("no parameter %s", name);
    return -1;
}

static void set_param(vxa_op_values *v, const char *name, double x0, double x1, double x2, int given)
{
    const int p = param_index(name);
    v->v[p][0] = x0;
    v->v[p][1] = x1;
    v->v[p][2] = x2;
    v->given[p] = given;
}

static void test_op_table_entry(void **state)
{
    (void)state;
    const vxa_op_desc *op = vxa_op_find("elastic");
    assert_non_null(op);
    assert_int_equal(op->kind, VXA_OPK_ELASTIC);
    assert_non_null(op->field);
    const vxa_param_desc *mode = &op->params[param_index("mode")];
    assert_non_null(mode->choices);
    assert_string_equal(mode->choices[0], "exact");
    assert_string_equal(mode->choices[1], "fast");
    assert_null(mode->choices[2]);
}

/* alpha/sigma pass through; rms and smooth_mm make the deformation isotropic in mm on an anisotropic grid. */
static void test_plan_mapping(void **state)
{
    (void)state;
    const int64_t dim[3] = { 50, 60, 40 };
    const double spacing[3] = { 1.0, 2.0, 0.5 };
    const vxa_grid g = grid_of(dim, spacing);
    char err[256];
    vxa_elastic_plan p;

    vxa_op_values v = values();
    set_param(&v, "alpha", 34, 34, 34, 1);
    set_param(&v, "sigma", 4, 5, 6, 3);
    assert_int_equal(vxa_elastic_plan_make(&v, &g, &p, err, sizeof err), VXA_OK);
    for (int a = 0; a < 3; a++) assert_true(p.alpha[a] == 34 && p.sigma[a] == 4 + a);
    assert_int_equal(p.mode, VXA_ELASTIC_EXACT);

    v = values();
    set_param(&v, "rms", 3, 3, 3, 1);
    set_param(&v, "smooth_mm", 10, 10, 10, 1);
    set_param(&v, "mode", 1, 1, 1, 1);
    assert_int_equal(vxa_elastic_plan_make(&v, &g, &p, err, sizeof err), VXA_OK);
    assert_int_equal(p.mode, VXA_ELASTIC_FAST);
    const double unit = vxa_elastic_unit_std(p.sigma);
    for (int a = 0; a < 3; a++) {
        assert_true(fabs(p.sigma[a] - 10 / spacing[a]) < 1e-12);
        /* component std in mm = rms/√3 on every axis */
        assert_true(fabs(p.alpha[a] * unit * spacing[a] - 3 / sqrt(3.0)) < 1e-12);
    }

    v = values();
    set_param(&v, "max_disp", 6, 6, 6, 1);
    assert_int_equal(vxa_elastic_plan_make(&v, &g, &p, err, sizeof err), VXA_OK);
    for (int a = 0; a < 3; a++) assert_true(fabs(p.alpha[a] * vxa_elastic_unit_std(p.sigma) * spacing[a] - 2) < 1e-12);
}

/* unit std as the closed form for large sigma: sqrt(1/3) · Π (2·sqrt(pi)·sigma)^(-1/2). */
static void test_unit_std_closed_form(void **state)
{
    (void)state;
    const double s[3] = { 6, 9, 13 };
    double expect = sqrt(1.0 / 3.0);
    for (int a = 0; a < 3; a++) expect /= sqrt(2 * sqrt(3.14159265358979323846) * s[a]);
    assert_true(fabs(vxa_elastic_unit_std(s) / expect - 1) < 1e-3);   /* truncation at 4 sigma: 1.5e-4 */
    const double zero[3] = { 0, 0, 0 };
    assert_true(fabs(vxa_elastic_unit_std(zero) - sqrt(1.0 / 3.0)) < 1e-15);
}

/* A field built from rms/smooth_mm on an anisotropic grid: the interior component standard deviation in mm is
 * rms/√3 on every axis (within sampling error), and max_disp bounds about 99.7% of the interior voxels. */
static void test_rms_field_is_isotropic_in_mm(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    const int64_t dim[3] = { 120, 60, 100 };
    const double spacing[3] = { 1.0, 2.0, 1.2 };
    const vxa_grid g = grid_of(dim, spacing);
    vxa_op_values v = values();
    set_param(&v, "rms", 4, 4, 4, 1);
    set_param(&v, "smooth_mm", 3, 3, 3, 1);
    v.seed = vxa_test_seed();
    const vxa_op_desc *op = vxa_op_find("elastic");
    vxa_dvol f;
    if (op->field(dev, &v, &g, zero3, g.dim, &f) != VXA_OK) fail_msg("%s", vxa_last_error(dev));
    vxa_volume *h = read_back(dev, &f);
    vxa_dvol_release(dev, &f);
    const int64_t margin[3] = { 12, 6, 10 };   /* 4 sigma: sigma = 3 mm / spacing */
    for (int c = 0; c < 3; c++) {
        double sq = 0, n = 0;
        for (int64_t k = margin[2]; k < dim[2] - margin[2]; k++)
            for (int64_t j = margin[1]; j < dim[1] - margin[1]; j++)
                for (int64_t i = margin[0]; i < dim[0] - margin[0]; i++) {
                    const double mm = vxa_volume_get(h, i, j, k, c) * spacing[c];
                    sq += mm * mm;
                    n += 1;
                }
        const double sd = sqrt(sq / n);
        print_message("component %d: interior std %.4f mm, expected %.4f\n", c, sd, 4 / sqrt(3.0));
        assert_true(fabs(sd / (4 / sqrt(3.0)) - 1) < 0.15);
    }
    vxa_volume_free(h);
}

static void test_plan_rejects_conflicts(void **state)
{
    (void)state;
    const int64_t dim[3] = { 10, 10, 10 };
    const double spacing[3] = { 1, 1, 1 }, bad[3] = { 1, 0, 1 };
    vxa_grid g = grid_of(dim, spacing);
    char err[256];
    vxa_elastic_plan p;
    vxa_op_values v = values();
    set_param(&v, "alpha", 5, 5, 5, 1);
    set_param(&v, "rms", 2, 2, 2, 1);
    assert_int_equal(vxa_elastic_plan_make(&v, &g, &p, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "alpha, rms and max_disp"));
    v = values();
    set_param(&v, "sigma", 5, 5, 5, 1);
    set_param(&v, "smooth_mm", 2, 2, 2, 1);
    assert_int_equal(vxa_elastic_plan_make(&v, &g, &p, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "smooth_mm"));
    v = values();
    set_param(&v, "smooth_mm", 2, 2, 2, 1);
    g = grid_of(dim, bad);
    assert_int_equal(vxa_elastic_plan_make(&v, &g, &p, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "spacing[1]"));
    /* through the op: the context's error says the same */
    vxa_context *ref = vxa_test_reference();
    vxa_dvol f;
    assert_int_equal(vxa_op_find("elastic")->field(ref, &v, &g, zero3, g.dim, &f), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "spacing[1]"));
}

/* Fast mode's blocks: s = floor(3 sigma / 8) voxels, ceil(n/s) of them, centred; s = 1 below sigma 16/3. */
static void test_coarse_grid_geometry(void **state)
{
    (void)state;
    int64_t s, n, first;
    vxa_elastic_coarse_axis(181, 35, &s, &n, &first);
    assert_int_equal(s, 13);                       /* floor(3 * 35 / 8) */
    assert_int_equal(n, 14);                       /* 14 blocks of 13 = 182 >= 181 */
    assert_int_equal(first, 0);                    /* (182 − 181) / 2, floored */
    vxa_elastic_coarse_axis(181, 8, &s, &n, &first);
    assert_int_equal(s, 3);
    assert_int_equal(n, 61);                       /* 183 */
    assert_int_equal(first, -1);
    vxa_elastic_coarse_axis(181, 5.3, &s, &n, &first);
    assert_int_equal(s, 1);                        /* floor(1.9875): fast is exact */
    assert_int_equal(n, 181);
    assert_int_equal(first, 0);
    vxa_elastic_coarse_axis(1, 40, &s, &n, &first);
    assert_int_equal(s, 15);
    assert_int_equal(n, 1);
    assert_int_equal(first, -7);
}

/* Block means on device and reference agree, and are the means of vxa_noise_uniform's voxels. */

/* Block means on the reference, the device and the device's other kernel form (fine rows of 13 voxels straddle
 * Philox blocks of four; blocks hang over the grid's edges). */
static void test_block_mean_is_mean_of_noise(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device(), *gpu = vxa_test_gpu_forms_device();
    const int64_t fine[3] = { 13, 10, 7 }, nodes[3] = { 5, 4, 3 }, first[3] = { -1, -1, 0 }, step[3] = { 3, 3, 3 };
    const vxa_noise_key key = { 11, 12, 13 };
    const float amp[3] = { 2, 3, 4 };
    vxa_volume *u = noise_on(ref, fine, 3, &key, amp);
    vxa_volume *out[3] = { NULL, NULL, NULL };
    vxa_context *ctxs[3] = { ref, dev, gpu };
    const int nctx = 3;
    for (int x = 0; x < nctx; x++) {
        vxa_dvol c;
        assert_int_equal(vxa_dvol_alloc(ctxs[x], nodes, 3, VXA_FLOAT32, &c), VXA_OK);
        if (vxa_noise_block_mean(ctxs[x], &c, &key, amp, fine, first, step) != VXA_OK)
            fail_msg("%s", vxa_last_error(ctxs[x]));
        out[x] = read_back(ctxs[x], &c);
        vxa_dvol_release(ctxs[x], &c);
    }
    for (int c = 0; c < 3; c++)
        for (int64_t m2 = 0; m2 < nodes[2]; m2++)
            for (int64_t m1 = 0; m1 < nodes[1]; m1++)
                for (int64_t m0 = 0; m0 < nodes[0]; m0++) {
                    double sum = 0;
                    for (int64_t k = first[2] + m2 * 3; k < first[2] + m2 * 3 + 3; k++)
                        for (int64_t j = first[1] + m1 * 3; j < first[1] + m1 * 3 + 3; j++)
                            for (int64_t i = first[0] + m0 * 3; i < first[0] + m0 * 3 + 3; i++)
                                if (i >= 0 && j >= 0 && k >= 0 && i < fine[0] && j < fine[1] && k < fine[2])
                                    sum += vxa_volume_get(u, i, j, k, c);
                    for (int x = 0; x < nctx; x++)
                        assert_true(fabs(vxa_volume_get(out[x], m0, m1, m2, c) - sum / 27) < 1e-5);
                }
    assert_true(vxa_test_identical(out[1], out[2]));   /* both forms add in the same order */
    /* blocks that leave the grid are refused (block 5 along axis 0 starts at 14 of 13) */
    const int64_t long_nodes[3] = { 6, 4, 3 };
    vxa_dvol c;
    assert_int_equal(vxa_dvol_alloc(ref, long_nodes, 3, VXA_FLOAT32, &c), VXA_OK);
    assert_int_equal(vxa_noise_block_mean(ref, &c, &key, amp, fine, first, step), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "axis 0"));
    vxa_dvol_release(ref, &c);
    vxa_volume_free(u);
    for (int x = 0; x < 3; x++) vxa_volume_free(out[x]);
    vxa_context_destroy(gpu);
}

/* Trilinear upsampling reproduces a linear function of the node index at q = (o − start) / step, clamped to
 * the nodes, on device and reference; per channel. */
static void test_upsample_reproduces_linear_functions(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device();
    vxa_context *ctxs[2] = { ref, dev };
    const int64_t nodes[3] = { 6, 5, 4 }, fine[3] = { 23, 13, 17 };
    const double start[3] = { -1.5, 1.0, -0.5 }, step[3] = { 4, 3, 5 };
    vxa_volume *c = NULL;
    assert_int_equal(vxa_volume_alloc(nodes, 2, VXA_FLOAT32, &c), VXA_OK);
    for (int ch = 0; ch < 2; ch++)
        for (int64_t k = 0; k < nodes[2]; k++)
            for (int64_t j = 0; j < nodes[1]; j++)
                for (int64_t i = 0; i < nodes[0]; i++)
                    vxa_volume_set(c, i, j, k, ch, 1.0 + (ch + 1) * (0.5 * i - 0.25 * j + 0.125 * k));
    for (int x = 0; x < 2; x++) {
        vxa_dvol dc, df;
        assert_int_equal(vxa_dvol_from_volume(ctxs[x], c, &dc), VXA_OK);
        assert_int_equal(vxa_dvol_alloc(ctxs[x], fine, 2, VXA_FLOAT32, &df), VXA_OK);
        if (vxa_noise_upsample(ctxs[x], &dc, &df, start, step) != VXA_OK) fail_msg("%s", vxa_last_error(ctxs[x]));
        vxa_volume *f = read_back(ctxs[x], &df);
        for (int ch = 0; ch < 2; ch++)
            for (int64_t k = 0; k < fine[2]; k++)
                for (int64_t j = 0; j < fine[1]; j++)
                    for (int64_t i = 0; i < fine[0]; i++) {
                        const int64_t o[3] = { i, j, k };
                        double q[3];
                        for (int a = 0; a < 3; a++)
                            q[a] = fmin(fmax((o[a] - start[a]) / step[a], 0.0), (double)(nodes[a] - 1));
                        const double want = 1.0 + (ch + 1) * (0.5 * q[0] - 0.25 * q[1] + 0.125 * q[2]);
                        if (fabs(vxa_volume_get(f, i, j, k, ch) - want) > 1e-5)
                            fail_msg("%s: upsampled %g at %lld,%lld,%lld, expected %g",
                                     vxa_context_device_name(ctxs[x]), vxa_volume_get(f, i, j, k, ch), (long long)i,
                                     (long long)j, (long long)k, want);
                    }
        vxa_volume_free(f);
        vxa_dvol_release(ctxs[x], &dc);
        vxa_dvol_release(ctxs[x], &df);
    }
    vxa_volume_free(c);
}

/* Fast mode approximates the very field exact mode draws for the same key: correlation above 0.97, relative
 * RMS difference below 20% (0.991-0.996 and 9-14% measured over 12 seeds), device and reference alike. */
static void test_fast_approximates_exact_draw(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device();
    vxa_context *ctxs[2] = { ref, dev };
    const int64_t dim[3] = { 64, 56, 48 };
    const vxa_noise_key key = { vxa_test_seed(), 3, 1 };
    for (int x = 0; x < 2; x++) {
        vxa_elastic_plan plan = { .alpha = { 500, 500, 500 }, .sigma = { 9, 12, 8 }, .mode = VXA_ELASTIC_EXACT };
        vxa_volume *e = field_on(ctxs[x], &plan, &key, dim);
        plan.mode = VXA_ELASTIC_FAST;
        vxa_volume *f = field_on(ctxs[x], &plan, &key, dim);
        const float *a = e->data, *b = f->data;
        double sab = 0, saa = 0, sbb = 0, sd = 0;
        for (size_t i = 0; i < vxa_volume_voxels(e); i++) {
            sab += (double)a[i] * b[i];
            saa += (double)a[i] * a[i];
            sbb += (double)b[i] * b[i];
            sd += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        }
        const double corr = sab / sqrt(saa * sbb), rel = sqrt(sd / saa);
        print_message("%s: fast vs exact field of one draw: correlation %.4f, relative RMS difference %.4f\n",
                      vxa_context_device_name(ctxs[x]), corr, rel);
        assert_true(corr > 0.97);
        assert_true(rel < 0.2);
        vxa_volume_free(e);
        vxa_volume_free(f);
    }
}

/* ---- through the pipeline ---------------------------------------------------------------------------------- */
typedef struct { vxa_volume *img, *lab, *field; } run_out;

/* Runs spec; with want_field the field is read back too (the pass then reads the full-size field), without it
 * a fast field's coarse nodes are interpolated inside the pass. */
static run_out run_pipeline_ex(vxa_context *ctx, const char *spec, uint64_t seed, const vxa_volume *img,
                               const vxa_volume *lab, bool want_field)
{
    vxa_pipeline *p = NULL;
    char err[512];
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) fail_msg("%s: %s", spec, err);
    run_out r = { 0 };
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = seed;
    o.field_out = want_field ? &r.field : NULL;
    if (vxa_pipeline_run_ex(ctx, p, &o, img, lab, &r.img, &r.lab, NULL) != VXA_OK)
        fail_msg("%s on %s: %s", spec, vxa_context_device_name(ctx), vxa_last_error(ctx));
    assert_true(want_field == (r.field != NULL));
    vxa_pipeline_free(p);
    return r;
}

static run_out run_pipeline(vxa_context *ctx, const char *spec, uint64_t seed, const vxa_volume *img,
                            const vxa_volume *lab)
{
    return run_pipeline_ex(ctx, spec, seed, img, lab, true);
}

static void run_free(run_out *r)
{
    vxa_volume_free(r->img);
    vxa_volume_free(r->lab);
    vxa_volume_free(r->field);
}

/* ---- labels device vs reference: identical, or every differing voxel on a float32 tie ---- */
/* A pass's pull map p = A·(o + d(o)) + b, written out here for the specs below (SPEC's formulas, about the grid
 * centre (n − 1)/2), not taken from the planner. */
typedef struct { double A[3][3], b[3]; } pull_map;

static pull_map map_identity(void)
{
    pull_map m;
    memset(&m, 0, sizeof m);
    for (int a = 0; a < 3; a++) m.A[a][a] = 1;
    return m;
}

/* first then second in the spec: the output pulls through second's map, then first's */
static pull_map map_then(const pull_map *first, const pull_map *second)
{
    pull_map m;
    for (int r = 0; r < 3; r++) {
        m.b[r] = first->b[r];
        for (int c = 0; c < 3; c++) {
            m.A[r][c] = 0;
            for (int k = 0; k < 3; k++) m.A[r][c] += first->A[r][k] * second->A[k][c];
            m.b[r] += first->A[r][c] * second->b[c];
        }
    }
    return m;
}

static pull_map map_rotate01(double deg, const int64_t n[3])   /* scipy.ndimage.rotate, axes (0, 1) */
{
    pull_map m = map_identity();
    const double t = deg * 3.14159265358979323846 / 180.0, c0 = (double)(n[0] - 1) / 2, c1 = (double)(n[1] - 1) / 2;
    m.A[0][0] = cos(t), m.A[0][1] = sin(t), m.A[1][0] = -sin(t), m.A[1][1] = cos(t);
    m.b[0] = c0 - (m.A[0][0] * c0 + m.A[0][1] * c1);
    m.b[1] = c1 - (m.A[1][0] * c0 + m.A[1][1] * c1);
    return m;
}

static pull_map map_zoom(double z, const int64_t n[3])
{
    pull_map m = map_identity();
    for (int a = 0; a < 3; a++) {
        m.A[a][a] = 1 / z;
        m.b[a] = (double)(n[a] - 1) / 2 * (1 - 1 / z);
    }
    return m;
}

static pull_map map_centre_crop(const int64_t n[3], const int64_t m3[3])
{
    pull_map m = map_identity();
    for (int a = 0; a < 3; a++) m.b[a] = floor((double)(n[a] - m3[a]) / 2);
    return m;
}

/* Labels of the reference (rlab, with its field rfield) and the device (dlab): identical, or each differing
 * voxel's position, recomputed in double from the reference's field, lies on a rounding tie of order 0 on some
 * axis: frac(p + 0.5) within float32 rounding of 0. The allowance per axis is 16 float32 ulps of the terms the
 * device adds (|b| + Σ|A|·(|o| + |d|)) plus what the device's field may differ by (fdiff, measured). Returns the
 * number of differing voxels (all of them ties). */
static size_t check_label_ties(const char *spec, const vxa_volume *rlab, const vxa_volume *dlab,
                               const vxa_volume *rfield, const pull_map *m, double fdiff)
{
    size_t ndiff = 0;
    const size_t es = vxa_dtype_size(rlab->dtype);
    for (int64_t k = 0; k < rlab->dim[2]; k++)
        for (int64_t j = 0; j < rlab->dim[1]; j++)
            for (int64_t i = 0; i < rlab->dim[0]; i++) {
                const size_t v = (size_t)(i + rlab->dim[0] * (j + rlab->dim[1] * k));
                if (memcmp((const char *)rlab->data + v * es, (const char *)dlab->data + v * es, es) == 0) continue;
                ndiff++;
                const double o[3] = { (double)i, (double)j, (double)k };
                double q[3], p[3], worst = INFINITY;
                for (int c = 0; c < 3; c++) q[c] = o[c] + vxa_volume_get(rfield, i, j, k, c);
                int tie = 0;
                for (int a = 0; a < 3; a++) {
                    double mag = fabs(m->b[a]), dev = 0;
                    p[a] = m->b[a];
                    for (int c = 0; c < 3; c++) {
                        p[a] += m->A[a][c] * q[c];
                        mag += fabs(m->A[a][c]) * (fabs(o[c]) + fabs(q[c] - o[c]));
                        dev += fabs(m->A[a][c]) * fdiff;
                    }
                    const double h = p[a] + 0.5, off = fabs(h - nearbyint(h));
                    const double tol = 16 * (double)FLT_EPSILON * (1 + mag) + dev;
                    if (off <= tol) tie = 1;
                    if (off - tol < worst) worst = off - tol;
                }
                if (!tie)
                    fail_msg("%s: label (%lld,%lld,%lld) differs between device and reference, and its position "
                             "(%.9f, %.9f, %.9f) is no tie: nearest frac(p + 0.5) is %.3g beyond float32 rounding",
                             spec, (long long)i, (long long)j, (long long)k, p[0], p[1], p[2], worst);
            }
    return ndiff;
}

/* The same seed on device and reference: fields and images within 1e-4 × range, label maps identical except at
 * voxels whose sample position is a float32-vs-float64 tie (check_label_ties shows each one is), with a rotation
 * and a crop in the same pass, exact and fast. */
static void test_pipeline_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    const int64_t dim[3] = { 41, 48, 37 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    const char *specs[] = {
        "rotate(10, plane=0,1) elastic(alpha=300, sigma=4)",
        "elastic(alpha=[2000,3000], sigma=9, mode=fast) crop(30,31,29)",
        "elastic(rms=2, smooth_mm=3) zoom(1.1)",
    };
    const int64_t crop[3] = { 30, 31, 29 };
    const pull_map maps[3] = { map_rotate01(10, dim), map_centre_crop(dim, crop), map_zoom(1.1, dim) };
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        run_out r = run_pipeline(ref, specs[s], vxa_test_seed(), img, lab);
        run_out d = run_pipeline(dev, specs[s], vxa_test_seed(), img, lab);
        const double ftol = 1e-4 * vxa_test_range(r.field), itol = 1e-4 * vxa_test_range(img);
        const double fdiff = vxa_test_max_abs_diff(r.field, d.field), idiff = vxa_test_max_abs_diff(r.img, d.img);
        const size_t ldiff = vxa_test_count_differences(r.lab, d.lab);
        print_message("%s: field diff %.3g (tol %.3g), image diff %.3g (tol %.3g), %zu labels differ\n", specs[s],
                      fdiff, ftol, idiff, itol, ldiff);
        assert_true(fdiff <= ftol);
        assert_true(idiff <= itol);
        assert_int_equal(check_label_ties(specs[s], r.lab, d.lab, r.field, &maps[s], fdiff), ldiff);
        assert_true(vxa_test_range(r.field) > 1.0);   /* the deformation is not a no-op */
        run_free(&r);
        run_free(&d);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* Launches of vxa_noise_upsample itself (the full-size field), not of vxa_noise_upsample_i. */
static uint64_t full_upsamplings(vxa_context *ctx)
{
    return vxa_context_launches(ctx, "vxa_noise_upsample") - vxa_context_launches(ctx, "vxa_noise_upsample_i");
}

/* Fast fields without a field read back: the pass interpolates the coarse nodes itself (no full upsampling)
 * and gives, on each path, the images and labels of the full-size field bit for bit; device and reference
 * agree as in test_pipeline_device_equals_reference; the device interpolates the nodes along i once for the
 * image and the label map. One and two channels, a rotation and a crop in the pass, anisotropic sigma, odd
 * shapes. */
static void test_pipeline_fused_coarse_field(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 5;
    const int64_t dim[3] = { 43, 29, 37 };
    vxa_volume *phantom = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &phantom, &lab), VXA_OK);
    vxa_volume *two = vxa_test_random_volume(dim, 2, VXA_INT16, &rng);
    memcpy(two->affine, lab->affine, sizeof two->affine);   /* the label map's grid */
    memcpy(two->spacing, lab->spacing, sizeof two->spacing);
    const char *specs[] = {
        "elastic(alpha=[2000,3000], sigma=9, mode=fast) crop(30,27,29)",
        "rotate(10, plane=0,1) elastic(alpha=1500, sigma=8,13,17, mode=fast) zoom(1.1)",
    };
    const int64_t crop[3] = { 30, 27, 29 };
    const pull_map rot = map_rotate01(10, dim), zoom = map_zoom(1.1, dim);
    const pull_map maps[2] = { map_centre_crop(dim, crop), map_then(&rot, &zoom) };
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
        for (int v = 0; v < 2; v++) {
            const vxa_volume *img = v == 0 ? phantom : two;
            const uint64_t seed = vxa_test_seed() + s;
            const uint64_t up0 = full_upsamplings(dev);
            run_out dfull = run_pipeline_ex(dev, specs[s], seed, img, lab, true);
            assert_int_equal(full_upsamplings(dev) - up0, 1);
            const uint64_t rows0 = vxa_context_launches(dev, "vxa_noise_upsample_i");
            run_out dfused = run_pipeline_ex(dev, specs[s], seed, img, lab, false);
            assert_int_equal(full_upsamplings(dev) - up0, 1);   /* none more */
            /* the rows along i made once, for the image's pass and the label map's */
            assert_int_equal(vxa_context_launches(dev, "vxa_noise_upsample_i") - rows0, 1);
            run_out rfull = run_pipeline_ex(ref, specs[s], seed, img, lab, true);
            run_out rfused = run_pipeline_ex(ref, specs[s], seed, img, lab, false);
            assert_true(vxa_test_identical(dfull.img, dfused.img));
            assert_true(vxa_test_identical(dfull.lab, dfused.lab));
            assert_true(vxa_test_identical(rfull.img, rfused.img));
            assert_true(vxa_test_identical(rfull.lab, rfused.lab));
            const double idiff = vxa_test_max_abs_diff(rfused.img, dfused.img), itol = 1e-4 * vxa_test_range(img);
            const size_t ldiff = vxa_test_count_differences(rfused.lab, dfused.lab);
            print_message("%s, %lld channel(s): fused device vs reference: image diff %.3g (tol %.3g), %zu labels "
                          "differ\n", specs[s], (long long)img->channels, idiff, itol, ldiff);
            assert_true(idiff <= itol);
            const double fdiff = vxa_test_max_abs_diff(rfull.field, dfull.field);
            assert_int_equal(check_label_ties(specs[s], rfused.lab, dfused.lab, rfull.field, &maps[s], fdiff), ldiff);
            assert_true(vxa_test_range(dfull.field) > 1.0);   /* the deformation is not a no-op */
            run_free(&dfull);
            run_free(&dfused);
            run_free(&rfull);
            run_free(&rfused);
        }
    vxa_volume_free(two);
    vxa_volume_free(phantom);
    vxa_volume_free(lab);
}

/* Through the pipeline: a crop after the elastic op in its pass keeps the field of the grid it cuts from, so
 * the field the pass reads (field_out) is the uncropped pipeline's field at the crop's window, bit for bit, and
 * the image the uncropped one's window (within float32 rounding of the composed map); exact and fast, device
 * and reference, crops touching the borders. */
static void test_pipeline_crop_keeps_the_field(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    vxa_context *ctxs[2] = { ref, dev };
    const int64_t dim[3] = { 47, 40, 37 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    const char *base[] = { "rotate(10, plane=0,1) elastic(alpha=300, sigma=3)",
                           "zoom(1.1) elastic(alpha=2000, sigma=7, mode=fast)" };
    const int64_t crops[][6] = { { 20, 17, 23, 0, 0, 0 }, { 20, 17, 23, 27, 23, 14 }, { 31, 9, 37, 5, 31, 0 } };
    for (int x = 0; x < 2; x++)
        for (size_t s = 0; s < sizeof base / sizeof base[0]; s++) {
            run_out whole = run_pipeline(ctxs[x], base[s], vxa_test_seed() + s, img, lab);
            for (size_t c = 0; c < sizeof crops / sizeof crops[0]; c++) {
                const int64_t *m = crops[c], *q = crops[c] + 3;
                char spec[256];
                snprintf(spec, sizeof spec, "%s crop(%lld,%lld,%lld, start=%lld,%lld,%lld)", base[s],
                         (long long)m[0], (long long)m[1], (long long)m[2], (long long)q[0], (long long)q[1],
                         (long long)q[2]);
                run_out part = run_pipeline(ctxs[x], spec, vxa_test_seed() + s, img, lab);
                double idiff = 0;
                for (int64_t k = 0; k < m[2]; k++)
                    for (int64_t j = 0; j < m[1]; j++)
                        for (int64_t i = 0; i < m[0]; i++) {
                            for (int ch = 0; ch < 3; ch++) {
                                const float a = (float)vxa_volume_get(part.field, i, j, k, ch);
                                const float b = (float)vxa_volume_get(whole.field, q[0] + i, q[1] + j, q[2] + k, ch);
                                if (memcmp(&a, &b, sizeof a) != 0)
                                    fail_msg("%s on %s: field channel %d at (%lld,%lld,%lld) is %.9g, the "
                                             "uncropped field's %.9g", spec, vxa_context_device_name(ctxs[x]), ch,
                                             (long long)i, (long long)j, (long long)k, (double)a, (double)b);
                            }
                            idiff = fmax(idiff, fabs(vxa_volume_get(part.img, i, j, k, 0) -
                                                     vxa_volume_get(whole.img, q[0] + i, q[1] + j, q[2] + k, 0)));
                        }
                print_message("%s on %s: field bit for bit, image diff %.3g\n", spec, vxa_context_device_name(ctxs[x]),
                              idiff);
                assert_true(idiff <= 1e-3 * vxa_test_range(img));
                run_free(&part);
            }
            assert_true(vxa_test_range(whole.field) > 1.0);
            run_free(&whole);
        }
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* A crop after intensity ops that need no statistics (noise, clip) moves before them into the elastic pass: the
 * pass resamples the crop's window alone, with its field's window only (no noise drawn for the whole grid), and
 * the ops run on the window with the whole grid's voxel indices, so the image and the labels are the uncropped
 * pipeline's window bit for bit, on device and reference, exact and fast. After zscore (statistics of the whole
 * deformed image) the crop stays where it is, and the whole field is drawn. */
static void test_pipeline_crop_moves_before_local_intensity(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    vxa_context *ctxs[2] = { ref, dev };
    const int64_t dim[3] = { 47, 40, 37 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    const char *base[] = { "rotate(10, plane=0,1) elastic(alpha=300, sigma=3) noise(30) clip(0, 900)",
                           "zoom(1.1) elastic(alpha=2000, sigma=7, mode=fast) noise(30)" };
    const int64_t crops[][6] = { { 20, 17, 23, 0, 0, 0 }, { 20, 17, 23, 27, 23, 14 } };
    for (int x = 0; x < 2; x++)
        for (size_t s = 0; s < sizeof base / sizeof base[0]; s++) {
            run_out whole = run_pipeline_ex(ctxs[x], base[s], vxa_test_seed() + s, img, lab, false);
            for (size_t c = 0; c < sizeof crops / sizeof crops[0]; c++) {
                const int64_t *m = crops[c], *q = crops[c] + 3;
                char spec[256];
                snprintf(spec, sizeof spec, "%s crop(%lld,%lld,%lld, start=%lld,%lld,%lld)", base[s],
                         (long long)m[0], (long long)m[1], (long long)m[2], (long long)q[0], (long long)q[1],
                         (long long)q[2]);
                const uint64_t noise0 = vxa_context_launches(ctxs[x], "vxa_noise_uniform");
                run_out part = run_pipeline_ex(ctxs[x], spec, vxa_test_seed() + s, img, lab, false);
                if (s == 0)   /* exact: the support of the window (4 sigma = 12 voxels) is less than the grid */
                    assert_int_equal(vxa_context_launches(ctxs[x], "vxa_noise_uniform"), noise0);
                for (int64_t k = 0; k < m[2]; k++)
                    for (int64_t j = 0; j < m[1]; j++)
                        for (int64_t i = 0; i < m[0]; i++) {
                            const float a = vxa_volume_get(part.img, i, j, k, 0);
                            const float b = vxa_volume_get(whole.img, q[0] + i, q[1] + j, q[2] + k, 0);
                            const float la = vxa_volume_get(part.lab, i, j, k, 0);
                            const float lb = vxa_volume_get(whole.lab, q[0] + i, q[1] + j, q[2] + k, 0);
                            if (memcmp(&a, &b, sizeof a) != 0 || la != lb)
                                fail_msg("%s on %s: at (%lld,%lld,%lld) image %.9g label %g, the uncropped "
                                         "pipeline's %.9g and %g", spec, vxa_context_device_name(ctxs[x]),
                                         (long long)i, (long long)j, (long long)k, (double)a, (double)la,
                                         (double)b, (double)lb);
                        }
                run_free(&part);
            }
            run_free(&whole);
        }
    /* zscore's statistics are those of the whole deformed image: the crop stays after it */
    for (int x = 0; x < 2; x++) {
        const uint64_t noise0 = vxa_context_launches(ctxs[x], "vxa_noise_uniform");
        run_out r = run_pipeline_ex(ctxs[x], "elastic(alpha=300, sigma=3) zscore noise(0.1) crop(20,17,23)",
                                    vxa_test_seed(), img, lab, false);
        assert_int_equal(vxa_context_launches(ctxs[x], "vxa_noise_uniform"), noise0 + 1);
        run_free(&r);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* One device: the same seed gives the same image, labels and field bit for bit; another seed another field. */
static void test_pipeline_seeds(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    const int64_t dim[3] = { 33, 30, 27 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    const char *spec = "elastic(alpha=400, sigma=5)";
    run_out a = run_pipeline(dev, spec, 11, img, lab), b = run_pipeline(dev, spec, 11, img, lab);
    run_out c = run_pipeline(dev, spec, 12, img, lab);
    assert_true(vxa_test_identical(a.img, b.img));
    assert_true(vxa_test_identical(a.lab, b.lab));
    assert_true(vxa_test_identical(a.field, b.field));
    assert_true(vxa_test_max_abs_diff(a.field, c.field) > 0.5 * vxa_test_range(a.field) / 4);
    assert_false(vxa_test_identical(a.img, c.img));
    run_free(&a);
    run_free(&b);
    run_free(&c);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table_entry),
        cmocka_unit_test(test_unit_std_closed_form),
        cmocka_unit_test(test_coarse_grid_geometry),
        cmocka_unit_test(test_plan_mapping),
        cmocka_unit_test(test_plan_rejects_conflicts),
        cmocka_unit_test(test_noise_follows_documented_mapping),
        cmocka_unit_test(test_noise_statistics_and_independence),
        cmocka_unit_test(test_noise_rejects_bad_volumes),
        cmocka_unit_test(test_exact_field_is_direct_3d_sum),
        cmocka_unit_test(test_noise_device_equals_reference_bitwise),
        cmocka_unit_test(test_field_device_equals_reference),
        cmocka_unit_test(test_field_seeds),
        cmocka_unit_test(test_field_window_equals_whole_field_bitwise),
        cmocka_unit_test(test_noise_gauss_window_equals_noise_then_pass),
        cmocka_unit_test(test_rms_field_is_isotropic_in_mm),
        cmocka_unit_test(test_block_mean_is_mean_of_noise),
        cmocka_unit_test(test_upsample_reproduces_linear_functions),
        cmocka_unit_test(test_fast_approximates_exact_draw),
        cmocka_unit_test(test_fast_matches_exact_statistics),
        cmocka_unit_test(test_pipeline_device_equals_reference),
        cmocka_unit_test(test_pipeline_seeds),
        cmocka_unit_test(test_pipeline_fused_coarse_field),
        cmocka_unit_test(test_pipeline_crop_keeps_the_field),
        cmocka_unit_test(test_pipeline_crop_moves_before_local_intensity),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
