/* SPDX-License-Identifier: MIT */
/* The resampling pass: device equals reference (images within 1e-4 x range, labels bit for bit) on random
 * affines and fields, every input type, every mode, awkward shapes; exact maps are exact; bad parameters fail
 * with a clear message. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

typedef struct { vxa_resample_params p; const vxa_volume *field; } rs_arg;

static vxa_status run_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, void *arg)
{
    rs_arg *a = arg;
    vxa_dvol fd = { 0 };
    vxa_status st;
    a->p.field = NULL;
    if (a->field) {
        if ((st = vxa_dvol_from_volume(ctx, a->field, &fd)) != VXA_OK) return st;
        a->p.field = &fd;
    }
    st = vxa_resample(ctx, in, out, &a->p);
    vxa_dvol_release(ctx, &fd);
    a->p.field = NULL;
    return st;
}

static const vxa_dtype all_types[] = { VXA_UINT8, VXA_INT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_UINT32,
                                       VXA_FLOAT32, VXA_FLOAT64 };
#define NTYPES (sizeof all_types / sizeof all_types[0])

static void rot(double R[3][3], int a, int b, double deg)
{
    double c = cos(deg * PI / 180), s = sin(deg * PI / 180), M[3][3], out[3][3];
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) M[r][q] = r == q;
    M[a][a] = c; M[a][b] = s; M[b][a] = -s; M[b][b] = c;
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) {
            out[r][q] = 0;
            for (int m = 0; m < 3; m++) out[r][q] += M[r][m] * R[m][q];
        }
    memcpy(R, out, sizeof out);
}

/* A random pull map about the centres: rotations (up to 40 degrees per plane), zooms 0.7..1.4, flips, shifts of
 * up to 3 voxels, and an output grid within a few voxels of the input's. */
static void random_map(uint64_t *rng, const int64_t in_dim[3], vxa_resample_params *p)
{
    double R[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
    rot(R, 0, 1, 80 * vxa_test_uniform(rng) - 40);
    rot(R, 0, 2, 80 * vxa_test_uniform(rng) - 40);
    rot(R, 1, 2, 80 * vxa_test_uniform(rng) - 40);
    double ci[3], co[3];
    for (int a = 0; a < 3; a++) {
        p->out_dim[a] = in_dim[a] + (int64_t)(vxa_test_rand(rng) % 7) - 3;
        if (p->out_dim[a] < 1) p->out_dim[a] = 1;
        ci[a] = 0.5 * (double)(in_dim[a] - 1);
        co[a] = 0.5 * (double)(p->out_dim[a] - 1);
    }
    for (int c = 0; c < 3; c++) {
        const double z = 0.7 + 0.7 * vxa_test_uniform(rng), s = vxa_test_rand(rng) % 4 == 0 ? -1.0 : 1.0;
        for (int r = 0; r < 3; r++) p->A[r][c] = R[r][c] * s / z;
    }
    for (int r = 0; r < 3; r++) {
        p->b[r] = ci[r] + 6 * vxa_test_uniform(rng) - 3;
        for (int c = 0; c < 3; c++) p->b[r] -= p->A[r][c] * co[c];
    }
}

/* A field of random displacements in [-amp, amp] voxels on grid dim. */
static vxa_volume *random_field(const int64_t dim[3], double amp, uint64_t *rng)
{
    vxa_volume *f = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 3, VXA_FLOAT32, &f), VXA_OK);
    float *d = f->data;
    for (size_t i = 0; i < vxa_volume_voxels(f); i++) d[i] = (float)(amp * (2 * vxa_test_uniform(rng) - 1));
    return f;
}

/* max - min over the input and cval: the scale of the tolerance. */
static double value_range(const vxa_volume *v, double cval)
{
    double lo = cval, hi = cval;
    for (int64_t c = 0; c < v->channels; c++)
        for (int64_t k = 0; k < v->dim[2]; k++)
            for (int64_t j = 0; j < v->dim[1]; j++)
                for (int64_t i = 0; i < v->dim[0]; i++) {
                    double x = vxa_volume_get(v, i, j, k, c);
                    lo = x < lo ? x : lo;
                    hi = x > hi ? x : hi;
                }
    return hi - lo > 0 ? hi - lo : 1.0;
}

/* Labels: every output value is an input value or cval (in the label's type). */
static void assert_in_label_set(const vxa_volume *in, const vxa_volume *out, double cval)
{
    const size_t es = vxa_dtype_size(in->dtype), n = vxa_volume_voxels(in);
    unsigned char fill[8] = { 0 };
    vxa_dvol f = { .dim = { 1, 1, 1 }, .channels = 1, .dtype = in->dtype, .host = fill };
    vxa_dvol_store(&f, 0, cval);
    for (size_t o = 0; o < vxa_volume_voxels(out); o += 1 + o % 7) { /* a sample of the voxels */
        const char *x = (const char *)out->data + o * es;
        int found = memcmp(x, fill, es) == 0;
        for (size_t i = 0; i < n && !found; i++) found = memcmp(x, (const char *)in->data + i * es, es) == 0;
        if (!found) fail_msg("output voxel %zu is not a value of the input", o);
    }
}

/* One comparison: image (float32 output) within tolerance or label (own type) identical. */
static void compare_case(vxa_context *dev, vxa_context *ref, const vxa_volume *in, rs_arg *a, bool label,
                         const char *what)
{
    const vxa_dtype odt = label ? in->dtype : VXA_FLOAT32;
    vxa_volume *r = vxa_test_run(ref, in, a->p.out_dim, odt, run_resample, a);
    vxa_volume *d = vxa_test_run(dev, in, a->p.out_dim, odt, run_resample, a);
    if (label) {
        if (!vxa_test_identical(r, d))
            fail_msg("%s: labels differ: in %lldx%lldx%lld %s x%lld, out %lldx%lldx%lld, mode %d", what,
                     (long long)in->dim[0], (long long)in->dim[1], (long long)in->dim[2], vxa_dtype_name(in->dtype),
                     (long long)in->channels, (long long)a->p.out_dim[0], (long long)a->p.out_dim[1],
                     (long long)a->p.out_dim[2], (int)a->p.mode);
        if (vxa_volume_voxels(in) <= 20000) assert_in_label_set(in, r, a->p.cval);
    } else {
        const double diff = vxa_test_max_abs_diff(r, d), tol = 1e-4 * value_range(in, a->p.cval);
        if (!(diff <= tol))
            fail_msg("%s: images differ by %g > %g: in %lldx%lldx%lld %s x%lld, order %d, mode %d", what, diff, tol,
                     (long long)in->dim[0], (long long)in->dim[1], (long long)in->dim[2], vxa_dtype_name(in->dtype),
                     (long long)in->channels, a->p.order, (int)a->p.mode);
    }
    vxa_volume_free(r);
    vxa_volume_free(d);
}

/* Random affines, order 0 and 1, every mode, every type, 1-2 channels, every small awkward shape; the large
 * shape once as an image and once as labels. */
static void test_resample_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed();
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        const bool large = dim[0] * dim[1] * dim[2] > 1000000;
        for (size_t t = 0; t < NTYPES; t++) {
            if (large && all_types[t] != VXA_UINT8 && all_types[t] != VXA_INT16) continue;
            const int64_t channels = large ? 1 : 1 + (int64_t)(vxa_test_rand(&rng) % 2);
            vxa_volume *in = vxa_test_random_volume(dim, channels, all_types[t], &rng);
            if (t % 3 == 1) { in->scl_slope = 0.5; in->scl_inter = 10; }  /* NIfTI scaling on some types */
            for (int order = 0; order <= 1; order++)
                for (int mode = 0; mode < 3; mode++) {
                    if (large && mode != (all_types[t] == VXA_UINT8 ? 0 : 2)) continue;
                    rs_arg a = { .p = { .order = order, .mode = (vxa_mode)mode, .cval = order ? 3.5 : 0 } };
                    random_map(&rng, dim, &a.p);
                    if (large && all_types[t] == VXA_INT16 && order == 1) continue;
                    if (large && all_types[t] == VXA_UINT8 && order == 0) continue;
                    compare_case(dev, ref, in, &a, false, "image");
                    if (order == 0) compare_case(dev, ref, in, &a, true, "label");
                }
            vxa_volume_free(in);
        }
    }
}

/* With a displacement field (up to 2.5 voxels), both orders, every mode. */
static void test_resample_field_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 1;
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        if (dim[0] * dim[1] * dim[2] > 1000000) continue;
        const vxa_dtype types[2] = { VXA_INT16, VXA_FLOAT32 };
        for (int t = 0; t < 2; t++) {
            vxa_volume *in = vxa_test_random_volume(dim, 1 + t, types[t], &rng);
            for (int order = 0; order <= 1; order++)
                for (int mode = 0; mode < 3; mode++) {
                    rs_arg a = { .p = { .order = order, .mode = (vxa_mode)mode } };
                    random_map(&rng, dim, &a.p);
                    vxa_volume *f = random_field(a.p.out_dim, 2.5, &rng);
                    a.field = f;
                    compare_case(dev, ref, in, &a, false, "image with field");
                    if (order == 0) compare_case(dev, ref, in, &a, true, "label with field");
                    vxa_volume_free(f);
                }
            vxa_volume_free(in);
        }
    }
}

/* Positions on and around the interior/border boundary: the identity, tiny offsets either way, and grids whose
 * first and last voxels map exactly onto the input's first and last. */
static void test_resample_border_boundary(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 2;
    const int64_t dim[3] = { 9, 6, 5 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_FLOAT32, &rng);
    const double eps[] = { 0, 1e-6, -1e-6, 1e-3, -1e-3, 0.5, -0.5, 0.999, -0.999 };
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++)
        for (int mode = 0; mode < 3; mode++)
            for (int order = 0; order <= 1; order++)
                for (int stretch = 0; stretch < 2; stretch++) {
                    rs_arg a = { .p = { .order = order, .mode = (vxa_mode)mode, .cval = -7 } };
                    for (int r = 0; r < 3; r++) {
                        a.p.out_dim[r] = stretch ? 2 * dim[r] + 1 : dim[r];
                        a.p.A[r][r] = stretch ? (double)(dim[r] - 1) / (double)(2 * dim[r]) : 1.0;
                        a.p.b[r] = eps[e];
                    }
                    compare_case(dev, ref, in, &a, false, "border");
                }
    vxa_volume_free(in);
}

/* Positions several periods outside the input (reflect folds them back with a modulo, nearest clamps, constant
 * reads cval), both orders, device against reference. */
static void test_resample_far_outside(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 6;
    const int64_t dim[3] = { 7, 4, 5 };
    vxa_volume *in = vxa_test_random_volume(dim, 1, VXA_INT16, &rng);
    const double far[] = { -37.3, -9.6, 8.4, 41.7 };  /* |p| < 200: float32 positions keep 1e-5 voxel */
    for (size_t f = 0; f < sizeof far / sizeof far[0]; f++)
        for (int mode = 0; mode < 3; mode++)
            for (int order = 0; order <= 1; order++) {
                rs_arg a = { .p = { .order = order, .mode = (vxa_mode)mode, .cval = 5 } };
                random_map(&rng, dim, &a.p);
                for (int r = 0; r < 3; r++) a.p.b[r] += far[f] * (double)(r + 1);
                compare_case(dev, ref, in, &a, false, "far outside");
                if (order == 0) compare_case(dev, ref, in, &a, true, "far outside (labels)");
            }
    vxa_volume_free(in);
}

/* Flips, crops, integer shifts and 90-degree turns are exact copies, trilinear or not, device and reference. */
static void test_resample_exact_maps_are_exact(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed() + 3;
    const int64_t dim[3] = { 13, 13, 7 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_INT16, &rng);
    for (int x = 0; x < 2; x++)
        for (int order = 0; order <= 1; order++)
            for (int kind = 0; kind < 3; kind++) {
                rs_arg a = { .p = { .order = order, .mode = VXA_MODE_CONSTANT } };
                int64_t q[3] = { 0, 0, 0 };
                for (int r = 0; r < 3; r++) a.p.out_dim[r] = dim[r];
                if (kind == 0) { /* flip axes 0 and 2 */
                    a.p.A[0][0] = -1; a.p.A[1][1] = 1; a.p.A[2][2] = -1;
                    a.p.b[0] = 12; a.p.b[2] = 6;
                } else if (kind == 1) { /* crop 5x4x3 at (3, 7, 2) */
                    a.p.A[0][0] = a.p.A[1][1] = a.p.A[2][2] = 1;
                    q[0] = 3; q[1] = 7; q[2] = 2;
                    a.p.out_dim[0] = 5; a.p.out_dim[1] = 4; a.p.out_dim[2] = 3;
                    for (int r = 0; r < 3; r++) a.p.b[r] = (double)q[r];
                } else { /* np.rot90 in plane (0, 1): out[i, j] = in[j, n - 1 - i] */
                    a.p.A[0][1] = 1; a.p.A[1][0] = -1; a.p.A[2][2] = 1;
                    a.p.b[1] = 12;
                }
                vxa_volume *out = vxa_test_run(ctxs[x], in, a.p.out_dim, VXA_FLOAT32, run_resample, &a);
                for (int64_t c = 0; c < 2; c++)
                    for (int64_t k = 0; k < a.p.out_dim[2]; k++)
                        for (int64_t j = 0; j < a.p.out_dim[1]; j++)
                            for (int64_t i = 0; i < a.p.out_dim[0]; i++) {
                                float want = kind == 0   ? vxa_volume_get(in, 12 - i, j, 6 - k, c)
                                             : kind == 1 ? vxa_volume_get(in, i + q[0], j + q[1], k + q[2], c)
                                                         : vxa_volume_get(in, j, 12 - i, k, c);
                                if (vxa_volume_get(out, i, j, k, c) != want)
                                    fail_msg("kind %d order %d on %s: (%lld,%lld,%lld) = %g, expected %g", kind, order,
                                             vxa_context_device_name(ctxs[x]), (long long)i, (long long)j,
                                             (long long)k, vxa_volume_get(out, i, j, k, c), want);
                            }
                vxa_volume_free(out);
            }
    vxa_volume_free(in);
}

static vxa_status run_ref_sampler(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, void *arg)
{
    return vxa_ref_resample(ctx, in, out, &((rs_arg *)arg)->p);
}

/* Maps that only flip, crop or shift by whole voxels inside the input run as exact copies (host/resample.c) on
 * both paths; they must give what the reference's own trilinear and nearest samplers give, on every type (some
 * scaled), labels in their type, 1-2 channels, every awkward shape, and they still count one "vxa_resample". */
static void test_copy_maps_equal_sampler(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed() + 6;
    const vxa_dtype types[] = { VXA_UINT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_FLOAT32 };
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        if (dim[0] * dim[1] * dim[2] > 300000) continue;  /* the sampler is slow; shapes, not sizes, matter */
        const vxa_dtype t = types[s % 5];
        vxa_volume *in = vxa_test_random_volume(dim, 1 + s % 2, t, &rng);
        if (s % 3 == 1) { in->scl_slope = 0.5; in->scl_inter = 10; }
        for (int label = 0; label < 2; label++) {
            rs_arg a = { .p = { .order = label ? 0 : 1, .mode = (vxa_mode)(vxa_test_rand(&rng) % 3), .cval = 7 } };
            for (int r = 0; r < 3; r++) {  /* a random flip, then a random box inside */
                const int64_t m = 1 + (int64_t)(vxa_test_rand(&rng) % (uint64_t)dim[r]);
                const int64_t q = (int64_t)(vxa_test_rand(&rng) % (uint64_t)(dim[r] - m + 1));
                const bool flip = vxa_test_rand(&rng) % 2;
                a.p.out_dim[r] = m;
                a.p.A[r][r] = flip ? -1 : 1;
                a.p.b[r] = flip ? (double)(q + m - 1) : (double)q;
            }
            const vxa_dtype odt = label ? in->dtype : VXA_FLOAT32;
            vxa_volume *want = vxa_test_run(ctxs[0], in, a.p.out_dim, odt, run_ref_sampler, &a);
            for (int x = 0; x < 2; x++) {
                const uint64_t before = vxa_context_launches(ctxs[x], "vxa_resample");
                vxa_volume *got = vxa_test_run(ctxs[x], in, a.p.out_dim, odt, run_resample, &a);
                assert_int_equal(vxa_context_launches(ctxs[x], "vxa_resample"), before + 1);
                if (!vxa_test_identical(want, got))
                    fail_msg("copy map on %s: %lldx%lldx%lld %s x%lld (%s), max diff %g",
                             vxa_context_device_name(ctxs[x]), (long long)dim[0], (long long)dim[1],
                             (long long)dim[2], vxa_dtype_name(t), (long long)in->channels, label ? "label" : "image",
                             vxa_test_max_abs_diff(want, got));
                vxa_volume_free(got);
            }
            vxa_volume_free(want);
        }
        vxa_volume_free(in);
    }
}

/* The reference's trilinear value at one position, worked out by hand from the eight neighbours. */
static void test_reference_linear_by_hand(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 2, 2, 2 };
    vxa_volume *in = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &in), VXA_OK);
    float *x = in->data;
    for (int n = 0; n < 8; n++) x[n] = (float)(n * n);  /* in(i,j,k) = (i + 2j + 4k)^2 */
    rs_arg a = { .p = { .order = 1, .mode = VXA_MODE_CONSTANT, .cval = 100, .out_dim = { 2, 1, 1 },
                        .A = { { 0, 0, 0 }, { 0, 0, 0 }, { 0, 0, 0 } }, .b = { 0.25, 0.5, 0.75 } } };
    a.p.A[0][0] = 1; /* voxel 0 at (0.25, 0.5, 0.75); voxel 1 at (1.25, ...): a quarter outside along i */
    vxa_volume *out = vxa_test_run(ref, in, a.p.out_dim, VXA_FLOAT32, run_resample, &a);
    double want0 = 0, want1 = 0;
    for (int n = 0; n < 8; n++) { /* voxel 0: all eight neighbours inside */
        const int i = n & 1, j = (n >> 1) & 1, k = n >> 2;
        want0 += (i ? 0.25 : 0.75) * 0.5 * (k ? 0.75 : 0.25) * (double)(n * n);
        (void)j;
    }
    /* voxel 1: i neighbours 1 (weight 0.75) and 2 (outside: cval, weight 0.25) */
    for (int n = 0; n < 8; n++) {
        const int j = (n >> 1) & 1, k = n >> 2, up = n & 1;
        const double w = (up ? 0.25 : 0.75) * 0.5 * (k ? 0.75 : 0.25);
        const int m = 1 + 2 * j + 4 * k;
        want1 += w * (up ? 100.0 : (double)(m * m));
    }
    assert_float_equal(vxa_volume_get(out, 0, 0, 0, 0), want0, 1e-4);
    assert_float_equal(vxa_volume_get(out, 1, 0, 0, 0), want1, 1e-4);
    vxa_volume_free(out);
    vxa_volume_free(in);
}

/* One call, one launch named "vxa_resample". */
static void test_resample_counts_one_launch(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed() + 4;
    const int64_t dim[3] = { 5, 6, 7 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_UINT8, &rng);
    for (int x = 0; x < 2; x++) {
        rs_arg a = { .p = { .order = 1 } };
        random_map(&rng, dim, &a.p);
        const uint64_t before = vxa_context_launches(ctxs[x], "vxa_resample");
        vxa_volume *out = vxa_test_run(ctxs[x], in, a.p.out_dim, VXA_FLOAT32, run_resample, &a);
        assert_int_equal(vxa_context_launches(ctxs[x], "vxa_resample"), before + 1);
        vxa_volume_free(out);
    }
    vxa_volume_free(in);
}

/* Bad parameters: VXA_ERR_INVALID_ARGUMENT with a message naming the problem, on both paths. */
static void expect_invalid(vxa_context *ctx, const vxa_volume *in, const int64_t out_dim[3], int64_t channels,
                           vxa_dtype odt, const vxa_resample_params *p, const vxa_volume *field, const char *needle)
{
    vxa_dvol din, dout, fd = { 0 };
    assert_int_equal(vxa_dvol_from_volume(ctx, in, &din), VXA_OK);
    assert_int_equal(vxa_dvol_alloc(ctx, out_dim, channels, odt, &dout), VXA_OK);
    vxa_resample_params q = *p;
    if (field) {
        assert_int_equal(vxa_dvol_from_volume(ctx, field, &fd), VXA_OK);
        q.field = &fd;
    }
    vxa_status st = vxa_resample(ctx, &din, &dout, &q);
    if (st != VXA_ERR_INVALID_ARGUMENT || !strstr(vxa_last_error(ctx), needle))
        fail_msg("expected VXA_ERR_INVALID_ARGUMENT mentioning '%s', got %s: '%s'", needle, vxa_status_name(st),
                 vxa_last_error(ctx));
    vxa_dvol_release(ctx, &din);
    vxa_dvol_release(ctx, &dout);
    vxa_dvol_release(ctx, &fd);
}

static void check_validation(vxa_context *ctx)
{
    uint64_t rng = vxa_test_seed() + 5;
    const int64_t dim[3] = { 4, 5, 6 }, other[3] = { 4, 5, 7 };
    vxa_volume *in = vxa_test_random_volume(dim, 1, VXA_INT16, &rng);
    vxa_volume *field_bad = random_field(other, 1, &rng);
    vxa_resample_params p = { .A = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, .out_dim = { 4, 5, 6 }, .order = 1 };
    vxa_resample_params q = p;
    q.order = 3;
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &q, NULL, "order 3");
    q = p;
    q.mode = (vxa_mode)7;
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &q, NULL, "mode 7");
    expect_invalid(ctx, in, dim, 1, VXA_INT16, &p, NULL, "order 1 needs a float32 output");
    q = p;
    q.order = 0;
    expect_invalid(ctx, in, dim, 1, VXA_UINT8, &q, NULL, "must have the input's type");
    expect_invalid(ctx, in, other, 1, VXA_FLOAT32, &p, NULL, "output dim[2]");
    expect_invalid(ctx, in, dim, 2, VXA_FLOAT32, &p, NULL, "channels");
    q = p;
    q.A[1][2] = NAN;
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &q, NULL, "finite");
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &p, field_bad, "displacement field");
    q = p;   /* slabs: planes 3.. (+6) of an input 8 deep; a negative start; a whole input (in_nz 0) from plane 1 */
    q.in_k0 = 3;
    q.in_nz = 8;
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &q, NULL, "slab planes 3.. (+6) of an input 8 deep");
    q.in_k0 = 0;
    q.out_k0 = -1;
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &q, NULL, "output from plane -1: out of range");
    q = p;
    q.in_k0 = 1;
    expect_invalid(ctx, in, dim, 1, VXA_FLOAT32, &q, NULL, "slab planes 1.. (+6) of an input 6 deep");
    q = p;   /* in_nz 0 with an output window along k (the whole input): planes 2..4 of the whole pass */
    q.A[0][1] = 0.3;   /* not an exact copy */
    q.out_k0 = 2;
    q.out_dim[2] = 3;
    const int64_t win[3] = { 4, 5, 3 };
    vxa_dvol din, dout, dwhole;
    float got[4 * 5 * 3], whole[4 * 5 * 6];
    vxa_resample_params w = q;
    w.out_k0 = 0;
    w.out_dim[2] = 6;
    assert_int_equal(vxa_dvol_from_volume(ctx, in, &din), VXA_OK);
    assert_int_equal(vxa_dvol_alloc(ctx, win, 1, VXA_FLOAT32, &dout), VXA_OK);
    assert_int_equal(vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &dwhole), VXA_OK);
    if (vxa_resample(ctx, &din, &dout, &q) != VXA_OK) fail_msg("in_nz 0, out_k0 2: %s", vxa_last_error(ctx));
    assert_int_equal(vxa_resample(ctx, &din, &dwhole, &w), VXA_OK);
    assert_int_equal(vxa_dvol_read(ctx, &dout, got), VXA_OK);
    assert_int_equal(vxa_dvol_read(ctx, &dwhole, whole), VXA_OK);
    assert_memory_equal(got, whole + 2 * 4 * 5, sizeof got);
    vxa_dvol_release(ctx, &din);
    vxa_dvol_release(ctx, &dout);
    vxa_dvol_release(ctx, &dwhole);
    vxa_volume_free(in);
    vxa_volume_free(field_bad);
}

static void test_resample_bad_params_reference(void **state)
{
    (void)state;
    check_validation(vxa_test_reference());
}

static void test_resample_bad_params_device(void **state)
{
    (void)state;
    check_validation(vxa_test_device());
}

/* A label map of few classes in blobs: label (i / 3 + 2 j / 5 + k / 2) mod 5 (so neighbourhoods hold 1 to 4
 * labels), every 7th voxel a random label of 0..6; values shifted by `base` (negative labels for signed types). */
static vxa_volume *blob_labels(const int64_t dim[3], int64_t channels, vxa_dtype t, int base, uint64_t *rng)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, channels, t, &v), VXA_OK);
    vxa_dvol d = { .dim = { dim[0], dim[1], dim[2] }, .channels = channels, .dtype = t, .host = v->data };
    size_t n = 0;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t k = 0; k < dim[2]; k++)
            for (int64_t j = 0; j < dim[1]; j++)
                for (int64_t i = 0; i < dim[0]; i++, n++) {
                    int64_t l = (i / 3 + 2 * j / 5 + k / 2 + c) % 5;
                    if (vxa_test_rand(rng) % 7 == 0) l = (int64_t)(vxa_test_rand(rng) % 7);
                    vxa_dvol_store(&d, n, (double)(l + base));
                }
    return v;
}

/* Per-label linear interpolation (sampling(label_order=1)): both rules, every mode, integer types and float
 * labels carried as bits, 1-2 channels, random affines with and without a displacement field: the device's
 * labels equal the reference's bit for bit (they share kernels/resample_label.h and the float32 position). */
static void test_label_linear_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 7;
    const vxa_dtype types[] = { VXA_UINT8, VXA_INT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_UINT32, VXA_FLOAT32 };
    int cases = 0;
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        if (dim[0] * dim[1] * dim[2] > 1000000) continue;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            const int base = types[t] == VXA_INT8 || types[t] == VXA_INT16 || types[t] == VXA_INT32 ? -2 : 0;
            vxa_volume *in = blob_labels(dim, 1 + (int64_t)(t % 2), types[t], base, &rng);
            for (int rule = 1; rule <= 2; rule++) {
                const int mode = (int)(vxa_test_rand(&rng) % 3);
                rs_arg a = { .p = { .order = 1, .label_rule = rule, .mode = (vxa_mode)mode } };
                random_map(&rng, dim, &a.p);
                vxa_volume *f = (s + rule) % 2 ? random_field(a.p.out_dim, 2.5, &rng) : NULL;
                a.field = f;
                char what[96];
                snprintf(what, sizeof what, "label_order=1 rule %d%s", rule, f ? " with field" : "");
                compare_case(dev, ref, in, &a, true, what);
                vxa_volume_free(f);
                cases++;
            }
            vxa_volume_free(in);
        }
    }
    assert_true(cases > 20);
}

/* The two rules by hand on a 2x2x1 map (i fastest) of labels 1 2 / 3 3, one output voxel at p:
 *   p = (0.5, 0.5, 0): weights 1/4 each; label 3 has 0.5: both rules give 3;
 *   p = (0.4, 0.4, 0): label 1 0.36, label 2 0.24, label 3 0.40: threshold gives 0 (none reaches 0.5, as
 *     batchgenerators' loop leaves it), arg-max gives 3;
 *   p = (0.5, 0, 0): labels 1 and 2 at 0.5 each: both give 2 (the larger: batchgenerators' later overwrite);
 *   p = (0.2, 0.9, 0): label 3 0.9: both give 3. */
static void test_label_linear_rules_by_hand(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 2, 2, 1 };
    vxa_volume *in = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, &in), VXA_OK);
    const uint8_t labels[4] = { 1, 2, 3, 3 };
    memcpy(in->data, labels, sizeof labels);
    const struct { double p[2]; int want[2]; } cases[] = {
        { { 0.5, 0.5 }, { 3, 3 } }, { { 0.4, 0.4 }, { 0, 3 } }, { { 0.5, 0.0 }, { 2, 2 } }, { { 0.2, 0.9 }, { 3, 3 } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int rule = 1; rule <= 2; rule++) {
            rs_arg a = { .p = { .order = 1, .label_rule = rule, .out_dim = { 1, 1, 1 },
                                .b = { cases[c].p[0], cases[c].p[1], 0 } } };
            vxa_volume *r = vxa_test_run(ref, in, a.p.out_dim, VXA_UINT8, run_resample, &a);
            const int got = ((const uint8_t *)r->data)[0];
            if (got != cases[c].want[rule - 1])
                fail_msg("p = (%g, %g): rule %d gave %d, expected %d", cases[c].p[0], cases[c].p[1], rule, got,
                         cases[c].want[rule - 1]);
            vxa_volume_free(r);
        }
    vxa_volume_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_linear_by_hand),
        cmocka_unit_test(test_resample_bad_params_reference),
        cmocka_unit_test(test_resample_bad_params_device),
        cmocka_unit_test(test_resample_counts_one_launch),
        cmocka_unit_test(test_resample_exact_maps_are_exact),
        cmocka_unit_test(test_copy_maps_equal_sampler),
        cmocka_unit_test(test_resample_border_boundary),
        cmocka_unit_test(test_resample_far_outside),
        cmocka_unit_test(test_resample_field_device_equals_reference),
        cmocka_unit_test(test_resample_device_equals_reference),
        cmocka_unit_test(test_label_linear_rules_by_hand),
        cmocka_unit_test(test_label_linear_device_equals_reference),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
