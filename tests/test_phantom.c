/* SPDX-License-Identifier: MIT */
/* The built-in Shepp-Logan phantom: shape, geometry, labels, symmetry and values at analytically known points. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Normalised coordinate of voxel i of n: the grid spans [-1, 1] with voxel centres at (2i + 1 - n)/n. */
static double coord(int64_t i, int64_t n) { return (double)(2 * i + 1 - n) / (double)n; }

/* The voxel whose centre is nearest to normalised coordinate x. */
static int64_t nearest(double x, int64_t n)
{
    int64_t i = (int64_t)floor(((x + 1.0) * (double)n - 1.0) / 2.0 + 0.5);
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

static uint8_t label_at(const vxa_volume *l, int64_t i, int64_t j, int64_t k)
{
    return ((const uint8_t *)l->data)[i + l->dim[0] * (j + l->dim[1] * k)];
}

static void test_phantom_shape_type_geometry(void **state)
{
    (void)state;
    const int64_t dim[3] = { 20, 31, 25 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    const vxa_volume *vols[2] = { img, lab };
    for (int v = 0; v < 2; v++) {
        const vxa_volume *x = vols[v];
        for (int a = 0; a < 3; a++) {
            assert_int_equal(x->dim[a], dim[a]);
            assert_true(x->spacing[a] == 1.0);
            for (int b = 0; b < 3; b++) assert_true(x->affine[a][b] == (a == b ? 1.0 : 0.0));
            /* centred: voxel (n-1)/2 is at world 0 */
            assert_true(fabs(x->affine[a][3] + 0.5 * (double)(dim[a] - 1)) < 1e-12);
        }
        assert_int_equal(x->channels, 1);
        assert_int_equal(x->sform_code, 2);
        assert_int_equal(x->qform_code, 2);
    }
    assert_int_equal(img->dtype, VXA_FLOAT32);
    assert_int_equal(lab->dtype, VXA_UINT8);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

static void test_phantom_either_output_may_be_null(void **state)
{
    (void)state;
    const int64_t dim[3] = { 9, 8, 7 };
    vxa_volume *img = NULL, *lab = NULL, *img2 = NULL, *lab2 = NULL;
    assert_int_equal(vxa_phantom(dim, &img, NULL), VXA_OK);
    assert_int_equal(vxa_phantom(dim, NULL, &lab), VXA_OK);
    assert_int_equal(vxa_phantom(dim, NULL, NULL), VXA_OK);
    assert_int_equal(vxa_phantom(dim, &img2, &lab2), VXA_OK);
    assert_memory_equal(img->data, img2->data, vxa_volume_bytes(img));
    assert_memory_equal(lab->data, lab2->data, vxa_volume_bytes(lab));
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_volume_free(img2);
    vxa_volume_free(lab2);
}

static void test_phantom_bad_dims_is_invalid_argument(void **state)
{
    (void)state;
    const int64_t bad[3][3] = { { 0, 4, 4 }, { 4, -1, 4 }, { 4, 4, 0 } };
    for (int b = 0; b < 3; b++) {
        vxa_volume *img = (vxa_volume *)1, *lab = (vxa_volume *)1;
        assert_int_equal(vxa_phantom(bad[b], &img, &lab), VXA_ERR_INVALID_ARGUMENT);
        assert_null(img);
        assert_null(lab);
    }
    vxa_volume *img = NULL;
    assert_int_equal(vxa_phantom(NULL, &img, NULL), VXA_ERR_INVALID_ARGUMENT);
}

/* Labels lie in 0..10, the main regions are present, values are non-negative, and each region has the value
 * the table's cumulative sums give: skull 1, brain 0.2, ventricles 0, the small features 0.3 or 0.4 (0.1 where
 * ellipsoid 5 overlaps ventricle 3). */
static void test_phantom_labels_and_levels(void **state)
{
    (void)state;
    const int64_t dim[3] = { 64, 64, 64 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    size_t count[11] = { 0 };
    const float *x = img->data;
    const uint8_t *l = lab->data;
    for (size_t v = 0; v < vxa_volume_voxels(img); v++) {
        assert_true(l[v] <= 10);
        count[l[v]]++;
        assert_true(x[v] >= 0.0f);
        switch (l[v]) {
        case 0: assert_true(x[v] == 0.0f); break;
        case 1: assert_true(x[v] == 1.0f); break;
        case 2: assert_true(x[v] == 0.2f); break;
        case 3: case 4: assert_true(x[v] == 0.0f); break;
        case 5: assert_true(x[v] == 0.3f || x[v] == 0.1f); break;  /* 0.1 where it overlaps ventricle 3 */
        default: assert_true(x[v] == 0.3f || x[v] == 0.4f); break;
        }
    }
    const int present[] = { 0, 1, 2, 3, 4, 5, 9, 10 };
    for (size_t p = 0; p < sizeof present / sizeof present[0]; p++)
        if (count[present[p]] == 0) fail_msg("region %d is missing from a 64^3 phantom", present[p]);
    /* the brain is most of the head */
    assert_true(count[2] > count[1]);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* The head (the skull ellipsoid, semi-axes 0.69, 0.92, 0.9) is mirror symmetric along every axis, and its
 * extent along each axis through the centre is exactly the voxels with |coordinate| <= the semi-axis. */
static void test_phantom_skull_extent_and_symmetry(void **state)
{
    (void)state;
    const int64_t dim[3] = { 101, 81, 61 };  /* odd: a voxel at the exact centre */
    const double semi[3] = { 0.69, 0.92, 0.90 };
    vxa_volume *lab = NULL;
    assert_int_equal(vxa_phantom(dim, NULL, &lab), VXA_OK);
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++) {
                const int in = label_at(lab, i, j, k) != 0;
                assert_int_equal(in, label_at(lab, dim[0] - 1 - i, j, k) != 0);
                assert_int_equal(in, label_at(lab, i, dim[1] - 1 - j, k) != 0);
                assert_int_equal(in, label_at(lab, i, j, dim[2] - 1 - k) != 0);
            }
    for (int a = 0; a < 3; a++) {
        int64_t first = -1, last = -1, expect_first = -1, expect_last = -1;
        for (int64_t t = 0; t < dim[a]; t++) {
            int64_t ijk[3] = { dim[0] / 2, dim[1] / 2, dim[2] / 2 };
            ijk[a] = t;
            if (label_at(lab, ijk[0], ijk[1], ijk[2]) != 0) {
                if (first < 0) first = t;
                last = t;
            }
            if (fabs(coord(t, dim[a])) <= semi[a]) {
                if (expect_first < 0) expect_first = t;
                expect_last = t;
            }
        }
        assert_int_equal(first, expect_first);
        assert_int_equal(last, expect_last);
        assert_int_equal(first + last, dim[a] - 1);
    }
    /* by hand for axis 0: |2i - 100| / 101 <= 0.69  <=>  |i - 50| <= 34.8 */
    assert_int_equal(label_at(lab, 15, 40, 30), 0);
    assert_int_not_equal(label_at(lab, 16, 40, 30), 0);
    assert_int_not_equal(label_at(lab, 84, 40, 30), 0);
    assert_int_equal(label_at(lab, 85, 40, 30), 0);
    vxa_volume_free(lab);
}

/* At the centres of ellipsoids (well inside them on a 128-voxel grid), the value is the sum of the table's
 * intensities of the ellipsoids that contain the point and the label is the last one. Non-cubic grids map each
 * axis to [-1, 1] on its own. */
static void test_phantom_values_at_known_points(void **state)
{
    (void)state;
    static const struct { double x, y, z; float value; int label; } points[] = {
        { 0.0, 0.0, 0.0, 1.0f - 0.8f, 2 },            /* centre: skull + brain */
        { 0.0, 0.0, 0.3, 1.0f - 0.8f, 2 },            /* above ellipsoid 5 */
        { -0.22, 0.0, -0.25, 0.0f, 3 },               /* ventricle: 1 - 0.8 - 0.2 */
        { 0.22, 0.0, -0.25, 0.0f, 4 },                /* ventricle: 1 - 0.8 - 0.2 */
        { 0.0, 0.35, -0.25, 0.3f, 5 },                /* 1 - 0.8 + 0.1 */
        { 0.06, -0.105, 0.625, 0.3f, 9 },
        { 0.0, 0.1, 0.625, 0.3f, 10 },
        { 0.68, 0.0, 0.0, 1.0f, 1 },                  /* skull shell: 0.6624 < |x| < 0.69 */
        { 0.0, -0.90, 0.0, 1.0f, 1 },                 /* skull shell: 0.874 < |y| < 0.92 */
        { 0.8, 0.0, 0.0, 0.0f, 0 },                   /* outside */
        { 0.6, 0.8, 0.0, 0.0f, 0 },                   /* outside: 0.756 + 0.756 > 1 */
    };
    const int64_t dims[2][3] = { { 128, 128, 128 }, { 150, 170, 160 } };
    for (int d = 0; d < 2; d++) {
        vxa_volume *img = NULL, *lab = NULL;
        assert_int_equal(vxa_phantom(dims[d], &img, &lab), VXA_OK);
        for (size_t p = 0; p < sizeof points / sizeof points[0]; p++) {
            const int64_t i = nearest(points[p].x, dims[d][0]), j = nearest(points[p].y, dims[d][1]),
                          k = nearest(points[p].z, dims[d][2]);
            const float v = vxa_volume_get(img, i, j, k, 0);
            const int l = label_at(lab, i, j, k);
            if (fabsf(v - points[p].value) > 1e-6f || l != points[p].label)
                fail_msg("grid %lldx%lldx%lld, point (%g, %g, %g): value %g label %d, expected %g label %d",
                         (long long)dims[d][0], (long long)dims[d][1], (long long)dims[d][2], points[p].x,
                         points[p].y, points[p].z, v, l, points[p].value, points[p].label);
        }
        vxa_volume_free(img);
        vxa_volume_free(lab);
    }
}

/* A single voxel samples the centre: skull + brain. */
static void test_phantom_one_voxel_is_the_centre(void **state)
{
    (void)state;
    const int64_t dim[3] = { 1, 1, 1 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    assert_true(fabsf(((float *)img->data)[0] - 0.2f) < 1e-7f);
    assert_int_equal(((uint8_t *)lab->data)[0], 2);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phantom_shape_type_geometry),
        cmocka_unit_test(test_phantom_either_output_may_be_null),
        cmocka_unit_test(test_phantom_bad_dims_is_invalid_argument),
        cmocka_unit_test(test_phantom_labels_and_levels),
        cmocka_unit_test(test_phantom_skull_extent_and_symmetry),
        cmocka_unit_test(test_phantom_values_at_known_points),
        cmocka_unit_test(test_phantom_one_voxel_is_the_centre),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
