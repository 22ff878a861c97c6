/* SPDX-License-Identifier: MIT */
/* Volumes over the device's single-allocation limit go through slabs along k. With the limit lowered through
 * vxa_context_options.max_alloc, the slab result equals the single pass bit for bit. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vxa_context *limited(uint64_t max_alloc)
{
    vxa_test_device(); /* skips on the reference path too, which has no allocation limit */
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.max_alloc = max_alloc;
    vxa_context *ctx = NULL;
    if (vxa_context_create(&opt, &ctx) != VXA_OK) fail_msg("context: %s", vxa_last_error(ctx));
    return ctx;
}

static void check_spec(vxa_context *whole, vxa_context *slabs, const char *spec, const vxa_volume *img,
                       const vxa_volume *lab)
{
    char err[1024];
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) fail_msg("%s", err);
    vxa_volume *a = NULL, *al = NULL, *b = NULL, *bl = NULL;
    if (vxa_pipeline_run(whole, p, 3, 1, img, lab, &a, lab ? &al : NULL, NULL) != VXA_OK)
        fail_msg("%s: %s", spec, vxa_last_error(whole));
    const uint64_t before = vxa_context_launches(slabs, "vxa_resample");
    if (vxa_pipeline_run(slabs, p, 3, 1, img, lab, &b, lab ? &bl : NULL, NULL) != VXA_OK)
        fail_msg("%s (slabs): %s", spec, vxa_last_error(slabs));
    const uint64_t launches = vxa_context_launches(slabs, "vxa_resample") - before;
    if (launches < 4) fail_msg("%s: %llu launches, so no slabs were used", spec, (unsigned long long)launches);
    if (!vxa_test_identical(a, b)) fail_msg("%s: slab image differs by %g", spec, vxa_test_max_abs_diff(a, b));
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) assert_true(a->affine[r][c] == b->affine[r][c]);
    if (lab && !vxa_test_identical(al, bl)) fail_msg("%s: slab labels differ", spec);
    vxa_volume_free(a);
    vxa_volume_free(b);
    vxa_volume_free(al);
    vxa_volume_free(bl);
    vxa_pipeline_free(p);
}

static void test_slabs_equal_single_pass(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed();
    const int64_t dim[3] = { 37, 29, 41 };
    vxa_volume *img = vxa_test_random_volume(dim, 2, VXA_INT16, &rng);
    vxa_volume *lab = vxa_test_random_volume(dim, 1, VXA_UINT8, &rng);
    img->scl_slope = 0.25;
    vxa_context *whole = vxa_test_device();
    vxa_context *slabs = limited(24 * 37 * 29 * 2 * 2); /* 24 planes of the int16 input (41), both channels */
    const char *specs[] = {
        "rotate(17, plane=0,2) zoom(1.1)",
        "rotate(-9, plane=1,2) rotate(5, plane=0,1) shift(0.5,1,-2.5)",
        "flip(axes=2) crop(30,25,33)",
        "sampling(mode=reflect) rotate(12, plane=0,2) shift(0,0,4.5)",
        "sampling(mode=nearest, order=0, label_mode=nearest) rotate([-40,40], plane=1,2) center_crop(45,31,50)",
        "resize(23,31,60)",
        "affine(row2=0.1,0.2,0.9, offset=0,0,3)",
    };
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) check_spec(whole, slabs, specs[s], img, lab);
    vxa_context_destroy(slabs);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* Ops that need the whole volume (statistics, smoothing) are refused with a message saying so. */
static void test_slabs_refuse_non_spatial_ops(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 1;
    const int64_t dim[3] = { 20, 20, 20 };
    vxa_volume *img = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &rng);
    vxa_context *slabs = limited(4096);
    char err[512];
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse("rotate(5) zscore", &p, err, sizeof err), VXA_OK);
    vxa_volume *out = NULL;
    assert_int_equal(vxa_pipeline_run(slabs, p, 0, 0, img, NULL, &out, NULL, NULL), VXA_ERR_DEVICE_MEMORY);
    assert_null(out);
    assert_non_null(strstr(vxa_last_error(slabs), "spatial ops only"));
    vxa_pipeline_free(p);
    vxa_context_destroy(slabs);
    vxa_volume_free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slabs_equal_single_pass),
        cmocka_unit_test(test_slabs_refuse_non_spatial_ops),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
