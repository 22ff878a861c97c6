/* SPDX-License-Identifier: MIT */
/* Flip, crop and pad as exact copies: device equals reference bit for bit, on awkward shapes and every type. */
#include "testutil.h"

#include <stdlib.h>

typedef struct { int sign[3]; int64_t offset[3]; vxa_mode mode; double cval; } copy_arg;

static vxa_status run_copy(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, void *arg)
{
    const copy_arg *a = arg;
    return vxa_copy_axes(ctx, in, out, a->sign, a->offset, a->mode, a->cval);
}

static const vxa_dtype all_types[] = { VXA_UINT8, VXA_INT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_UINT32,
                                       VXA_FLOAT32, VXA_FLOAT64 };

/* Random flips, crops and pads (output larger than input on some axes), every mode, every type. */
static void test_copy_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed();
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++) {
            int64_t channels = 1 + (int64_t)(vxa_test_rand(&rng) % 2);
            vxa_volume *in = vxa_test_random_volume(dim, channels, all_types[t], &rng);
            copy_arg a = { .mode = (vxa_mode)(vxa_test_rand(&rng) % 3), .cval = 7 };
            int64_t out_dim[3];
            for (int ax = 0; ax < 3; ax++) {
                out_dim[ax] = 1 + (int64_t)(vxa_test_rand(&rng) % (uint64_t)(dim[ax] + 3));
                a.sign[ax] = vxa_test_rand(&rng) % 2 ? -1 : 1;
                a.offset[ax] = (int64_t)(vxa_test_rand(&rng) % (uint64_t)(dim[ax] + 4)) - 2;
            }
            vxa_volume *r = vxa_test_run(ref, in, out_dim, in->dtype, run_copy, &a);
            vxa_volume *d = vxa_test_run(dev, in, out_dim, in->dtype, run_copy, &a);
            if (!vxa_test_identical(r, d))
                fail_msg("copy differs: shape %lldx%lldx%lld type %s mode %d",
                         (long long)dim[0], (long long)dim[1], (long long)dim[2], vxa_dtype_name(in->dtype), a.mode);
            vxa_volume_free(in);
            vxa_volume_free(r);
            vxa_volume_free(d);
        }
    }
}

/* Flipping an axis twice gives the input back, bit for bit. */
static void test_flip_twice_is_identity(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 1;
    const int64_t dim[3] = { 17, 19, 23 };
    vxa_volume *in = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &rng);
    copy_arg a = { .sign = { -1, 1, -1 }, .offset = { dim[0] - 1, 0, dim[2] - 1 } };
    vxa_volume *once = vxa_test_run(dev, in, dim, in->dtype, run_copy, &a);
    vxa_volume *twice = vxa_test_run(dev, once, dim, in->dtype, run_copy, &a);
    assert_false(vxa_test_identical(in, once));
    assert_true(vxa_test_identical(in, twice));
    vxa_volume_free(in);
    vxa_volume_free(once);
    vxa_volume_free(twice);
}

/* The reference crop is the slice x[q0:q0+m0, ...] written out by hand. */
static void test_reference_crop_is_slice(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 2;
    const int64_t dim[3] = { 11, 13, 7 }, out_dim[3] = { 4, 5, 3 };
    vxa_volume *in = vxa_test_random_volume(dim, 2, VXA_INT16, &rng);
    copy_arg a = { .sign = { 1, 1, 1 }, .offset = { 3, 6, 2 } };
    vxa_volume *out = vxa_test_run(ref, in, out_dim, in->dtype, run_copy, &a);
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 5; j++)
                for (int i = 0; i < 4; i++)
                    assert_true(vxa_volume_get(out, i, j, k, c) == vxa_volume_get(in, i + 3, j + 6, k + 2, c));
    vxa_volume_free(in);
    vxa_volume_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_crop_is_slice),
        cmocka_unit_test(test_copy_device_equals_reference),
        cmocka_unit_test(test_flip_twice_is_identity),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
