/* SPDX-License-Identifier: MIT */
/* Gaussian smoothing: device equal to the reference on awkward shapes, sigmas and modes; the reference against
 * closed forms (impulse response = product of scipy's normalised kernels, constants kept); argument errors; a
 * pass cut to a window (vxa_gauss_window) equal to the whole pass there, bit for bit.
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

typedef struct { int axis; double sigma; vxa_mode mode; double truncate; int64_t at; } window_arg;

/* out = the window of one pass (vxa_gauss_window), out's dims given by the caller. */
static vxa_status run_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, void *arg)
{
    const window_arg *a = arg;
    return vxa_gauss_window(ctx, in, out, a->axis, a->sigma, a->mode, a->truncate, a->at);
}

/* The first voxel (i, j, k, c) where the window `got` (from `at` along `axis`) and `whole` differ in any bit;
 * false if none. */
static bool window_differs(const vxa_volume *got, const vxa_volume *whole, int axis, int64_t at, int64_t where[4])
{
    for (int64_t c = 0; c < got->channels; c++)
        for (int64_t k = 0; k < got->dim[2]; k++)
            for (int64_t j = 0; j < got->dim[1]; j++)
                for (int64_t i = 0; i < got->dim[0]; i++) {
                    int64_t q[3] = { i, j, k };
                    q[axis] += at;
                    const float *g = (const float *)got->data + i + got->dim[0] * (j + got->dim[1] * (k + got->dim[2] * c));
                    const float *w = (const float *)whole->data + q[0] + whole->dim[0] * (q[1] + whole->dim[1] *
                                     (q[2] + whole->dim[2] * c));
                    if (memcmp(g, w, sizeof *g) != 0) {
                        where[0] = i, where[1] = j, where[2] = k, where[3] = c;
                        return true;
                    }
                }
    return false;
}

/* A window of one pass along its axis is the whole pass cut to the window, bit for bit (memcmp, signs of zeros
 * included), on each backend and each form: the reference, the device's CPU forms (vxa_gauss_rows along i, and
 * along j and k with few lines; vxa_gauss_rows_walk with many; vxa_gauss_axis where the radius exceeds 48) and
 * its GPU forms. Lines of 1 to 130 voxels, radii wider than the line, windows touching either end, the whole
 * line and single voxels, 1-3 channels, every mode, inputs with +0 and -0. The device's windows equal the
 * reference's within the smoothing tolerance and the GPU forms' windows the CPU forms', bit for bit. */
static void test_window_equals_whole_pass_cut(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device(), *gpu = vxa_test_gpu_forms_device();
    vxa_context *ctxs[3] = { ref, dev, gpu };
    const char *forms[3] = { "reference", "device", "device, GPU forms" };
    uint64_t rng = vxa_test_seed() + 3;
    static const int64_t lengths[] = { 1, 2, 7, 33, 65, 130 };
    static const double wsigmas[] = { 0.3, 1, 2.5, 8, 13 };   /* 13 at truncate 4: radius 52, the GPU form */
    size_t compared = 0;
    for (int axis = 0; axis < 3; axis++)
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            int64_t dim[3];
            for (int a = 0; a < 3; a++) dim[a] = 1 + (int64_t)(vxa_test_rand(&rng) % 9);
            dim[axis] = lengths[l];
            if (l % 2) dim[axis == 2 ? 1 : 2] = 11;   /* enough lines for the walk along j or k */
            const int64_t channels = 1 + (int64_t)(vxa_test_rand(&rng) % 3);
            vxa_volume *in = vxa_test_random_volume(dim, channels, VXA_FLOAT32, &rng);
            float *x = in->data;
            for (size_t v = 0; v < vxa_volume_voxels(in); v += 1 + vxa_test_rand(&rng) % 5)
                x[v] = vxa_test_rand(&rng) % 2 ? -0.0f : 0.0f;
            window_arg wa = { .axis = axis, .sigma = wsigmas[vxa_test_rand(&rng) % 5],
                              .mode = (vxa_mode)(vxa_test_rand(&rng) % 3),
                              .truncate = vxa_test_rand(&rng) % 4 ? 4.0 : 2.5 };
            if (l == 0) wa.mode = VXA_MODE_CONSTANT;   /* the elastic field's mode on every length */
            smooth_arg sa = { .mode = wa.mode, .truncate = wa.truncate };
            sa.sigma[axis] = wa.sigma;
            const int64_t n = dim[axis];
            /* windows: from the start, to the end, the whole line, one voxel inside, one inside at random */
            const int64_t len = 1 + (int64_t)(vxa_test_rand(&rng) % (uint64_t)n);
            const int64_t wins[5][2] = { { 0, len }, { n - len, len }, { 0, n },
                                         { (int64_t)(vxa_test_rand(&rng) % (uint64_t)n), 1 },
                                         { (n - len) / 2, len } };
            vxa_volume *cpu[5] = { NULL }, *refw[5] = { NULL };
            for (int c = 0; c < 3; c++) {
                vxa_volume *whole = smooth_on(ctxs[c], in, &sa);
                for (int w = 0; w < 5; w++) {
                    int64_t od[3] = { dim[0], dim[1], dim[2] }, where[4];
                    od[axis] = wins[w][1];
                    wa.at = wins[w][0];
                    vxa_volume *got = vxa_test_run(ctxs[c], in, od, VXA_FLOAT32, run_window, &wa);
                    if (window_differs(got, whole, axis, wa.at, where))
                        fail_msg("%s (%s): window %lld+%lld along axis %d of %lldx%lldx%lld x %lld, sigma %g, "
                                 "truncate %g, mode %d: voxel (%lld,%lld,%lld) channel %lld is not the whole "
                                 "pass's", forms[c], vxa_context_device_name(ctxs[c]), (long long)wa.at,
                                 (long long)od[axis], axis, (long long)dim[0], (long long)dim[1],
                                 (long long)dim[2], (long long)channels, wa.sigma, wa.truncate, (int)wa.mode,
                                 (long long)where[0], (long long)where[1], (long long)where[2],
                                 (long long)where[3]);
                    compared++;
                    if (c == 0) {
                        refw[w] = got;
                    } else if (c == 1) {
                        const double tol = tolerance(in), diff = vxa_test_max_abs_diff(refw[w], got);
                        if (!(diff <= tol))
                            fail_msg("device window differs from the reference's by %g (tol %g)", diff, tol);
                        cpu[w] = got;
                    } else {
                        assert_true(vxa_test_identical(cpu[w], got));   /* GPU forms = CPU forms */
                        vxa_volume_free(got);
                    }
                }
                vxa_volume_free(whole);
            }
            for (int w = 0; w < 5; w++) {
                vxa_volume_free(cpu[w]);
                vxa_volume_free(refw[w]);
            }
            vxa_volume_free(in);
        }
    assert_int_equal(compared, 3 * 6 * 3 * 5);
    vxa_context_destroy(gpu);
}

/* Without a pass (sigma 0) the window is the input's; an axis beyond 2, a window leaving the line, other dims
 * that differ from the input's are argument errors. */
static void test_window_sigma_zero_and_bad_arguments(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 4;
    const int64_t dim[3] = { 6, 5, 4 }, wdim[3] = { 6, 2, 4 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_FLOAT32, &rng);
    for (int c = 0; c < 2; c++) {
        vxa_context *ctx = c == 0 ? vxa_test_reference() : vxa_test_device();
        window_arg wa = { .axis = 1, .sigma = 0, .mode = VXA_MODE_CONSTANT, .truncate = 4.0, .at = 3 };
        vxa_volume *got = vxa_test_run(ctx, in, wdim, VXA_FLOAT32, run_window, &wa);
        int64_t where[4];
        assert_false(window_differs(got, in, 1, 3, where));
        vxa_volume_free(got);
        vxa_dvol d, o, bad;
        assert_int_equal(vxa_dvol_from_volume(ctx, in, &d), VXA_OK);
        assert_int_equal(vxa_dvol_alloc(ctx, wdim, 2, VXA_FLOAT32, &o), VXA_OK);
        assert_int_equal(vxa_dvol_alloc(ctx, wdim, 1, VXA_FLOAT32, &bad), VXA_OK);
        assert_int_equal(vxa_gauss_window(ctx, &d, &o, 1, 1.0, VXA_MODE_CONSTANT, 4.0, 4), VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_window(ctx, &d, &o, 1, 1.0, VXA_MODE_CONSTANT, 4.0, -1), VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_window(ctx, &d, &o, 0, 1.0, VXA_MODE_CONSTANT, 4.0, 0), VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_window(ctx, &d, &o, 3, 1.0, VXA_MODE_CONSTANT, 4.0, 0), VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_window(ctx, &d, &bad, 1, 1.0, VXA_MODE_CONSTANT, 4.0, 0),
                         VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_window(ctx, &d, &o, 1, -1.0, VXA_MODE_CONSTANT, 4.0, 0),
                         VXA_ERR_INVALID_ARGUMENT);
        assert_int_equal(vxa_gauss_window(ctx, &d, &o, 1, 1.0, VXA_MODE_CONSTANT, 4.0, 3), VXA_OK);
        vxa_dvol_release(ctx, &d);
        vxa_dvol_release(ctx, &o);
        vxa_dvol_release(ctx, &bad);
    }
    vxa_volume_free(in);
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
        cmocka_unit_test(test_window_equals_whole_pass_cut),
        cmocka_unit_test(test_window_sigma_zero_and_bad_arguments),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
