/* SPDX-License-Identifier: MIT */
/* Gaussian smoothing: device equal to the reference on awkward shapes, sigmas and modes; the reference against
 * closed forms (impulse response = product of scipy's normalised kernels, constants kept); argument errors.
 * The reference against SciPy itself is tests/scipy/check_smooth.py. */
#include "testutil.h"
#include "elastic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double sigma[3]; vxa_mode mode; double truncate; } smooth_arg;

/* Copies in to out (same shape, float32) and smooths out in place. */
static vxa_status run_smooth(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, void *arg)
{
    const smooth_arg *a = arg;
    vxa_volume *tmp = NULL;
    const int64_t dim[3] = { in->dim[0], in->dim[1], in->dim[2] };
    assert_int_equal(vxa_volume_alloc(dim, in->channels, VXA_FLOAT32, &tmp), VXA_OK);
    vxa_status st = vxa_dvol_read(ctx, in, tmp->data);
    if (st == VXA_OK) st = vxa_dvol_write(ctx, out, tmp->data);
    vxa_volume_free(tmp);
    if (st != VXA_OK) return st;
    return vxa_gauss_smooth(ctx, out, a->sigma, a->mode, a->truncate);
}

static vxa_volume *smooth_on(vxa_context *ctx, const vxa_volume *in, const smooth_arg *a)
{
    return vxa_test_run(ctx, in, in->dim, VXA_FLOAT32, run_smooth, (void *)a);
}

/* 1e-4 × the input's range, or × its largest magnitude where the range is 0 (a single voxel, a constant). */
static double tolerance(const vxa_volume *in)
{
    double m = 0;
    for (size_t v = 0; v < vxa_volume_voxels(in); v++) m = fmax(m, fabs(((const float *)in->data)[v]));
    return 1e-4 * fmax(vxa_test_range(in), m);
}

static const double sigmas[] = { 0, 0.3, 0.5, 1, 2.5, 4, 9 };

static void test_smooth_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed();
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        const bool large = dim[0] * dim[1] * dim[2] > 1000000;
        const int large_mode = (int)(vxa_test_rand(&rng) % 3);
        for (int mode = 0; mode < 3; mode++) {
            if (large && mode != large_mode) continue;   /* one case on the large grid */
            const int64_t channels = large ? 1 : 1 + (int64_t)(vxa_test_rand(&rng) % 3);
            vxa_volume *in = vxa_test_random_volume(dim, channels, VXA_FLOAT32, &rng);
            smooth_arg a = { .mode = (vxa_mode)mode, .truncate = vxa_test_rand(&rng) % 2 ? 4.0 : 2.5 };
            for (int ax = 0; ax < 3; ax++)
                a.sigma[ax] = sigmas[vxa_test_rand(&rng) % (sizeof sigmas / sizeof sigmas[0])];
            if (large) a.sigma[0] = a.sigma[1] = a.sigma[2] = 2.0;
            vxa_volume *r = smooth_on(ref, in, &a);
            vxa_volume *d = smooth_on(dev, in, &a);
            const double tol = tolerance(in), diff = vxa_test_max_abs_diff(r, d);
            if (!(diff <= tol))
                fail_msg("smoothing differs by %g (tol %g): shape %lldx%lldx%lld x %lld, sigma %g %g %g, mode %d, "
                         "truncate %g", diff, tol, (long long)dim[0], (long long)dim[1], (long long)dim[2],
                         (long long)channels, a.sigma[0], a.sigma[1], a.sigma[2], mode, a.truncate);
            vxa_volume_free(in);
            vxa_volume_free(r);
            vxa_volume_free(d);
        }
    }
}

/* Kernels wider than the line (reflect folds several times, nearest clamps), on both paths. */
static void test_smooth_kernel_wider_than_volume(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 1;
    const int64_t dim[3] = { 3, 2, 5 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_FLOAT32, &rng);
    for (int mode = 0; mode < 3; mode++) {
        smooth_arg a = { .sigma = { 8, 3, 1.5 }, .mode = (vxa_mode)mode, .truncate = 4.0 };
        vxa_volume *r = smooth_on(ref, in, &a), *d = smooth_on(dev, in, &a);
        assert_true(vxa_test_max_abs_diff(r, d) <= tolerance(in));
        vxa_volume_free(r);
        vxa_volume_free(d);
    }
    vxa_volume_free(in);
}

/* A unit impulse far from the borders becomes the product of the three normalised kernels
 * exp(−t²/(2σ²)) / Σ exp(...), t = −r..r, r = int(4σ + 0.5): written out here independently. */
static void test_reference_impulse_is_kernel_product(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const double sigma[3] = { 1.5, 0.7, 2.2 };
    const int64_t dim[3] = { 21, 11, 25 }, at[3] = { 10, 5, 12 };
    vxa_volume *in = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &in), VXA_OK);
    vxa_volume_set(in, at[0], at[1], at[2], 0, 1.0);
    double w[3][32];
    int r[3];
    for (int a = 0; a < 3; a++) {
        r[a] = (int)(4.0 * sigma[a] + 0.5);
        double sum = 0;
        for (int t = -r[a]; t <= r[a]; t++) sum += (w[a][t + r[a]] = exp(-(double)(t * t) / (2 * sigma[a] * sigma[a])));
        for (int t = 0; t <= 2 * r[a]; t++) w[a][t] /= sum;
    }
    smooth_arg arg = { .sigma = { sigma[0], sigma[1], sigma[2] }, .mode = VXA_MODE_CONSTANT, .truncate = 4.0 };
    vxa_volume *out = smooth_on(ref, in, &arg);
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++) {
                const int64_t o[3] = { i, j, k };
                double expect = 1.0;
                for (int a = 0; a < 3; a++) {
                    const int64_t t = o[a] - at[a];
                    expect *= t < -r[a] || t > r[a] ? 0.0 : w[a][t + r[a]];
                }
                const double got = vxa_volume_get(out, i, j, k, 0);
                if (fabs(got - expect) > 3e-7 * fabs(expect) + 1e-12)  /* three float32 roundings */
                    fail_msg("impulse response at %lld,%lld,%lld: %.9g, expected %.9g", (long long)i, (long long)j,
                             (long long)k, got, expect);
            }
    vxa_volume_free(in);
    vxa_volume_free(out);
}

/* Nearest and reflect keep a constant volume; constant mode keeps the interior and lowers the border. */
static void test_smooth_constant_volume(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    vxa_context *ctxs[2] = { ref, dev };
    const int64_t dim[3] = { 30, 7, 19 };
    vxa_volume *in = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &in), VXA_OK);
    for (size_t v = 0; v < vxa_volume_voxels(in); v++) ((float *)in->data)[v] = 5.0f;
    for (int c = 0; c < 2; c++)
        for (int mode = 0; mode < 3; mode++) {
            smooth_arg a = { .sigma = { 2, 1, 1.5 }, .mode = (vxa_mode)mode, .truncate = 4.0 };
            vxa_volume *out = smooth_on(ctxs[c], in, &a);
            if (mode == VXA_MODE_CONSTANT) {
                assert_true(vxa_volume_get(out, 0, 0, 0, 0) < 5.0f * 0.6f);
                assert_true(fabsf(vxa_volume_get(out, 15, 3, 9, 0) - 5.0f) < 0.2f);  /* 3 voxels of 1σ y */
            } else {
                for (size_t v = 0; v < vxa_volume_voxels(out); v++)
                    assert_true(fabsf(((float *)out->data)[v] - 5.0f) < 5e-6f);
            }
            vxa_volume_free(out);
        }
    vxa_volume_free(in);
}

/* sigma 0 everywhere (or below scipy's 1e-15) leaves the volume bit for bit; a smoothed axis launches once. */
static void test_smooth_sigma_zero_is_identity(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 2;
    const int64_t dim[3] = { 13, 9, 4 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_FLOAT32, &rng);
    smooth_arg a = { .sigma = { 0, 1e-16, 0 }, .mode = VXA_MODE_REFLECT, .truncate = 4.0 };
    vxa_volume *r = smooth_on(ref, in, &a), *d = smooth_on(dev, in, &a);
    assert_true(vxa_test_identical(in, r));
    assert_true(vxa_test_identical(in, d));
    const uint64_t before = vxa_context_launches(dev, "vxa_gauss");
    smooth_arg b = { .sigma = { 0, 2, 0 }, .mode = VXA_MODE_REFLECT, .truncate = 4.0 };
    vxa_volume *e = smooth_on(dev, in, &b);
    assert_int_equal(vxa_context_launches(dev, "vxa_gauss") - before, 1);
    assert_false(vxa_test_identical(in, e));
    vxa_volume_free(in);
    vxa_volume_free(r);
    vxa_volume_free(d);
    vxa_volume_free(e);
}

/* Radii as scipy computes them: int(truncate·sigma + 0.5). */
static void test_radius_matches_scipy(void **state)
{
    (void)state;
    assert_int_equal(vxa_gauss_radius(1.0, 4.0), 4);
    assert_int_equal(vxa_gauss_radius(2.5, 4.0), 10);
    assert_int_equal(vxa_gauss_radius(0.1, 4.0), 0);
    assert_int_equal(vxa_gauss_radius(0.125, 4.0), 1);
    assert_int_equal(vxa_gauss_radius(35.0, 4.0), 140);
    assert_int_equal(vxa_gauss_radius(1.3, 2.5), 3);
    double w[9];
    vxa_gauss_kernel1d(1.0, 4, w);
    double sum = 0;
    for (int t = 0; t < 9; t++) sum += w[t];
    assert_true(fabs(sum - 1.0) < 1e-15 && w[4] > w[3] && w[3] == w[5]);
}

static void test_smooth_rejects_bad_arguments(void **state)
{
    (void)state;
    const int64_t dim[3] = { 4, 4, 4 };
    for (int c = 0; c < 2; c++) {
        vxa_context *ctx = c == 0 ? vxa_test_reference() : vxa_test_device();
        vxa_dvol f, s;
        assert_int_equal(vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &f), VXA_OK);
        assert_int_equal(vxa_dvol_alloc(ctx, dim, 1, VXA_INT16, &s), VXA_OK);
        const double ok[3] = { 1, 1, 1 }, neg[3] = { 1, -1, 1 }, nan3[3] = { NAN, 1, 1 }, huge[3] = { 1, 1, 1e9 };
        assert_int_equal(vxa_gauss_smooth(ctx, &s, ok, VXA_MODE_NEAREST, 4), VXA_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(vxa_last_error(ctx), "int16"));
        assert_int_equal(vxa_gauss_smooth(ctx, &f, neg, VXA_MODE_NEAREST, 4), VXA_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(vxa_last_error(ctx), "sigma[1]"));
        assert_int_equal(vxa_gauss_smooth(ctx, &f, nan3, VXA_MODE_NEAREST, 4), VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_smooth(ctx, &f, huge, VXA_MODE_NEAREST, 4), VXA_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(vxa_last_error(ctx), "radius"));
        assert_int_equal(vxa_gauss_smooth(ctx, &f, ok, (vxa_mode)7, 4), VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_smooth(ctx, &f, ok, VXA_MODE_NEAREST, -1), VXA_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(vxa_last_error(ctx), "truncate"));
        vxa_dvol_release(ctx, &f);
        vxa_dvol_release(ctx, &s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_radius_matches_scipy),
        cmocka_unit_test(test_reference_impulse_is_kernel_product),
        cmocka_unit_test(test_smooth_rejects_bad_arguments),
        cmocka_unit_test(test_smooth_constant_volume),
        cmocka_unit_test(test_smooth_sigma_zero_is_identity),
        cmocka_unit_test(test_smooth_kernel_wider_than_volume),
        cmocka_unit_test(test_smooth_device_equals_reference),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
