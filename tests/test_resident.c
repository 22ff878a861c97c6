/* SPDX-License-Identifier: MIT */
/* Resident inputs (vxa_resident_create, vxa_pipeline_run_resident, vxa_pipeline_run_resident_into): every sample
 * from the resident equals, bit for bit, vxa_pipeline_run_ex's on the host volumes (image, label map, draw), on
 * the reference path and the device, with the upload complete or asynchronous (the transfer queue, taken on a
 * CPU device with VOXAUG_BATCH_OVERLAP=1); the resident is a copy (the caller's memory changed afterwards changes
 * nothing); a loader's prefetch (subject B uploading while A's samples run); the errors; a context destroyed
 * before its residents. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SPECS[] = {
    "flip(axes=0,1, p=0.5) rotate([-12,12], plane=0,1) zoom([0.9,1.1]) zscore noise(0.2) crop(21,19,11)",
    "flip(axes=0,1,2, p=0.5) rotate([-15,15]) elastic(alpha=150, sigma=3, mode=exact) zscore(nonzero=1) "
    "noise(0.1) random_crop(16, 14, 12)",
    "elastic(alpha=100, sigma=3, mode=fast) pclip(1, 99) random_crop(12, 12, 12)",
    "zscore(mask=1) brightness([0.8,1.2])",   /* no spatial pass: the label map comes out as it went in */
    "flip(axes=2, p=0.5) crop(9, 9, 9)", /* an exact copy */
};
#define NSPECS (int)(sizeof SPECS / sizeof SPECS[0])
#define NSAMPLES 5

/* A scaled int16 image of 2 channels and a label map with values 0..4 on a 31x27x15 grid (odd sizes). */
static void inputs(uint64_t *rng, vxa_volume **image, vxa_volume **label)
{
    const int64_t dim[3] = { 31, 27, 15 };
    *image = vxa_test_random_volume(dim, 2, VXA_INT16, rng);
    (*image)->scl_slope = 0.5;
    (*image)->scl_inter = 3.0;
    const double sp[3] = { 1.0, 1.2, 2.5 };
    vxa_volume_set_spacing(*image, sp);
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, label), VXA_OK);
    (*label)->sform_code = (*image)->sform_code;
    memcpy((*label)->affine, (*image)->affine, sizeof (*label)->affine);
    for (size_t v = 0; v < vxa_volume_voxels(*label); v++)
        ((uint8_t *)(*label)->data)[v] = (uint8_t)(vxa_test_rand(rng) % 5);
}

static void assert_same_volume(const vxa_volume *a, const vxa_volume *b, const char *what, const char *spec,
                               uint64_t sample)
{
    if (!vxa_test_identical(a, b))
        fail_msg("%s of '%s', sample %llu: the resident's result differs from run_ex's (%zu voxels)", what, spec,
                 (unsigned long long)sample, a->dtype == b->dtype ? vxa_test_count_differences(a, b) : (size_t)-1);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) assert_true(a->affine[r][c] == b->affine[r][c]);
}

/* Every spec, NSAMPLES samples: run_ex on the host volumes against run_resident and run_resident_into (n samples
 * in one call, dense buffers). */
static void check_equal_on(vxa_context *ctx, bool async)
{
    uint64_t rng = vxa_test_seed() ^ 0x5e51de47u;
    vxa_volume *image, *label;
    inputs(&rng, &image, &label);
    vxa_resident_options ro;
    vxa_resident_options_init(&ro);
    ro.async_upload = async;
    vxa_resident *r = NULL;
    if (vxa_resident_create(ctx, image, label, &ro, &r) != VXA_OK)
        fail_msg("vxa_resident_create: %s", vxa_last_error(ctx));
    for (int s = 0; s < NSPECS; s++) {
        vxa_pipeline *p = vxa_test_parse(SPECS[s]);
        vxa_volume shape;
        vxa_volume_init(&shape, image->dim, image->channels, VXA_FLOAT32);
        assert_int_equal(vxa_pipeline_output_shape(p, image, &shape), VXA_OK);
        const size_t vox = (size_t)(shape.dim[0] * shape.dim[1] * shape.dim[2]);
        float *bi = calloc(NSAMPLES * vox * 2, sizeof *bi);
        uint8_t *bl = calloc(NSAMPLES * vox, 1);
        assert_non_null(bi);
        assert_non_null(bl);
        vxa_buffer ob, lb;
        vxa_buffer_init(&ob, bi, NSAMPLES * vox * 2 * sizeof *bi, VXA_FLOAT32);
        vxa_buffer_init(&lb, bl, NSAMPLES * vox, VXA_UINT8);
        vxa_run_options o;
        vxa_run_options_init(&o);
        o.seed = 77 + (uint64_t)s;
        o.sample = 3;
        vxa_draw *draws[NSAMPLES];
        if (vxa_pipeline_run_resident_into(ctx, p, &o, r, NSAMPLES, &ob, &lb, draws) != VXA_OK)
            fail_msg("run_resident_into '%s': %s", SPECS[s], vxa_last_error(ctx));
        for (uint64_t n = 0; n < NSAMPLES; n++) {
            o.sample = 3 + n;
            vxa_volume *ei = NULL, *el = NULL, *ri = NULL, *rl = NULL, *ni = NULL;
            vxa_draw *ed = NULL, *rd = NULL;
            if (vxa_pipeline_run_ex(ctx, p, &o, image, label, &ei, &el, &ed) != VXA_OK)
                fail_msg("run_ex: %s", vxa_last_error(ctx));
            if (vxa_pipeline_run_resident(ctx, p, &o, r, &ri, &rl, &rd) != VXA_OK)
                fail_msg("run_resident: %s", vxa_last_error(ctx));
            assert_same_volume(ei, ri, "image", SPECS[s], o.sample);
            assert_same_volume(el, rl, "label map", SPECS[s], o.sample);
            assert_int_equal(el->sform_code, rl->sform_code);
            assert_string_equal(vxa_draw_json(ed), vxa_draw_json(rd));
            assert_string_equal(vxa_draw_json(ed), vxa_draw_json(draws[n]));
            /* the batch's sample n, in place */
            assert_true(ei->dim[0] * ei->dim[1] * ei->dim[2] == (int64_t)vox);
            if (memcmp(ei->data, bi + n * vox * 2, vox * 2 * sizeof *bi) != 0)
                fail_msg("run_resident_into '%s', sample %llu: the image differs from run_ex's", SPECS[s],
                         (unsigned long long)o.sample);
            if (memcmp(el->data, bl + n * vox, vox) != 0)
                fail_msg("run_resident_into '%s', sample %llu: the label map differs", SPECS[s],
                         (unsigned long long)o.sample);
            /* without the label map: the same image */
            if (vxa_pipeline_run_resident(ctx, p, &o, r, &ni, NULL, NULL) != VXA_OK)
                fail_msg("run_resident without the label: %s", vxa_last_error(ctx));
            assert_same_volume(ei, ni, "image (label left out)", SPECS[s], o.sample);
            vxa_volume_free(ei);
            vxa_volume_free(el);
            vxa_volume_free(ri);
            vxa_volume_free(rl);
            vxa_volume_free(ni);
            vxa_draw_free(ed);
            vxa_draw_free(rd);
            vxa_draw_free(draws[n]);
        }
        free(bi);
        free(bl);
        vxa_pipeline_free(p);
    }
    vxa_resident_free(r);
    vxa_volume_free(image);
    vxa_volume_free(label);
}

static void test_resident_equals_run_ex_reference(void **state)
{
    (void)state;
    check_equal_on(vxa_test_reference(), false);
}

static void test_resident_equals_run_ex_device(void **state)
{
    (void)state;
    check_equal_on(vxa_test_device(), false);
}

/* The asynchronous upload on the transfer queue, forced on a CPU device as on a GPU. */
static void test_resident_equals_run_ex_device_async(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    setenv("VOXAUG_BATCH_OVERLAP", "1", 1);
    check_equal_on(ctx, true);
    unsetenv("VOXAUG_BATCH_OVERLAP");
}

/* After the first run (async) or the upload (complete), the caller's memory is free: changed, nothing moves. */
static void check_is_a_copy(vxa_context *ctx, bool async)
{
    uint64_t rng = vxa_test_seed() ^ 0xc0b1u;
    vxa_volume *image, *label;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse(SPECS[1]);
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = 5;
    vxa_volume *want = NULL, *wantl = NULL, *got = NULL, *gotl = NULL;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, &o, image, label, &want, &wantl, NULL), VXA_OK);
    vxa_resident_options ro;
    vxa_resident_options_init(&ro);
    ro.async_upload = async;
    vxa_resident *r = NULL;
    assert_int_equal(vxa_resident_create(ctx, image, label, &ro, &r), VXA_OK);
    if (async) { /* the first run waits for the copy; then the caller's memory is its own again */
        assert_int_equal(vxa_pipeline_run_resident(ctx, p, &o, r, &got, &gotl, NULL), VXA_OK);
        vxa_volume_free(got);
        vxa_volume_free(gotl);
    }
    memset(image->data, 0x55, vxa_volume_bytes(image));
    memset(label->data, 3, vxa_volume_bytes(label));
    assert_int_equal(vxa_pipeline_run_resident(ctx, p, &o, r, &got, &gotl, NULL), VXA_OK);
    assert_true(vxa_test_identical(want, got));
    assert_true(vxa_test_identical(wantl, gotl));
    vxa_resident_free(r);
    vxa_volume_free(want);
    vxa_volume_free(wantl);
    vxa_volume_free(got);
    vxa_volume_free(gotl);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
}

static void test_resident_is_a_copy(void **state)
{
    (void)state;
    check_is_a_copy(vxa_test_reference(), false);
    vxa_context *dev = vxa_test_device();
    check_is_a_copy(dev, false);
    setenv("VOXAUG_BATCH_OVERLAP", "1", 1);
    check_is_a_copy(dev, true);
    unsetenv("VOXAUG_BATCH_OVERLAP");
}

/* A loader's loop: subject i + 1 uploads (async) before subject i's samples run, then i is freed. Each sample
 * equals run_ex's on its own subject. */
static void test_prefetch_loop_equals_run_ex(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    setenv("VOXAUG_BATCH_OVERLAP", "1", 1);
    uint64_t rng = vxa_test_seed() ^ 0xfe7c4u;
    enum { SUBJECTS = 4, PATCHES = 3 };
    vxa_volume *img[SUBJECTS], *lab[SUBJECTS];
    for (int s = 0; s < SUBJECTS; s++) inputs(&rng, &img[s], &lab[s]);
    vxa_pipeline *p = vxa_test_parse(SPECS[0]);
    vxa_resident_options ro;
    vxa_resident_options_init(&ro);
    ro.async_upload = 1;
    vxa_resident *cur = NULL, *next = NULL;
    assert_int_equal(vxa_resident_create(ctx, img[0], lab[0], &ro, &cur), VXA_OK);
    for (int s = 0; s < SUBJECTS; s++) {
        if (s + 1 < SUBJECTS && vxa_resident_create(ctx, img[s + 1], lab[s + 1], &ro, &next) != VXA_OK)
            fail_msg("prefetch of subject %d: %s", s + 1, vxa_last_error(ctx));
        for (uint64_t k = 0; k < PATCHES; k++) {
            vxa_run_options o;
            vxa_run_options_init(&o);
            o.seed = 11;
            o.sample = (uint64_t)s * 100 + k;
            vxa_volume *a = NULL, *al = NULL, *b = NULL, *bl = NULL;
            assert_int_equal(vxa_pipeline_run_resident(ctx, p, &o, cur, &a, &al, NULL), VXA_OK);
            assert_int_equal(vxa_pipeline_run_ex(ctx, p, &o, img[s], lab[s], &b, &bl, NULL), VXA_OK);
            if (!vxa_test_identical(a, b) || !vxa_test_identical(al, bl))
                fail_msg("subject %d, patch %llu: the prefetched resident's result differs", s,
                         (unsigned long long)k);
            vxa_volume_free(a);
            vxa_volume_free(al);
            vxa_volume_free(b);
            vxa_volume_free(bl);
        }
        vxa_resident_free(cur);
        cur = next;
        next = NULL;
    }
    unsetenv("VOXAUG_BATCH_OVERLAP");
    for (int s = 0; s < SUBJECTS; s++) {
        vxa_volume_free(img[s]);
        vxa_volume_free(lab[s]);
    }
    vxa_pipeline_free(p);
}

static void test_resident_errors_are_clear(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() ^ 0xe4404u;
    vxa_volume *image, *label;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse(SPECS[0]);
    vxa_run_options o;
    vxa_run_options_init(&o);
    vxa_resident *r = NULL, *rn = NULL;
    vxa_volume *oi = NULL, *ol = NULL;
    assert_int_equal(vxa_resident_create(NULL, image, NULL, NULL, &r), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_resident_create(ref, NULL, NULL, NULL, &r), VXA_ERR_INVALID_ARGUMENT);
    assert_null(r);
    assert_int_equal(vxa_resident_create(ref, image, NULL, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    vxa_volume *fl = vxa_test_random_volume(image->dim, 1, VXA_FLOAT32, &rng);
    memcpy(fl->affine, image->affine, sizeof fl->affine);
    assert_int_equal(vxa_resident_create(ref, image, fl, NULL, &r), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "integer"));
    vxa_volume_free(fl);
    vxa_resident_options short_opt;
    vxa_resident_options_init_size(&short_opt, sizeof(size_t));
    assert_int_equal(vxa_resident_create(ref, image, NULL, &short_opt, &r), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "vxa_resident_options"));
    /* the headers kept */
    assert_int_equal(vxa_resident_create(ref, image, NULL, NULL, &rn), VXA_OK);
    assert_int_equal(vxa_resident_create(ref, image, label, NULL, &r), VXA_OK);
    const vxa_volume *h = vxa_resident_volume(r, 0);
    assert_non_null(h);
    assert_null(h->data);
    assert_true(h->dim[0] == 31 && h->channels == 2 && h->dtype == VXA_INT16 && h->scl_slope == 0.5);
    assert_non_null(vxa_resident_volume(r, 1));
    assert_null(vxa_resident_volume(rn, 1));
    assert_null(vxa_resident_volume(NULL, 0));
    /* a label asked of a resident without one; NULL arguments */
    assert_int_equal(vxa_pipeline_run_resident(ref, p, &o, rn, &oi, &ol, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "no label map"));
    assert_null(oi);
    assert_int_equal(vxa_pipeline_run_resident(ref, p, &o, NULL, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_resident(ref, NULL, &o, r, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_resident(ref, p, &o, r, NULL, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_resident_into(ref, p, &o, r, 1, NULL, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_resident_into(ref, p, &o, r, 0, NULL, NULL, NULL), VXA_OK);
    /* a buffer too small for two samples */
    float small[16];
    vxa_buffer b;
    vxa_buffer_init(&b, small, sizeof small, VXA_FLOAT32);
    assert_int_equal(vxa_pipeline_run_resident_into(ref, p, &o, r, 2, &b, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    /* a resident of another context */
    vxa_context *other = NULL;
    vxa_context_options co;
    vxa_context_options_init(&co);
    co.device = "reference";
    assert_int_equal(vxa_context_create(&co, &other), VXA_OK);
    assert_int_equal(vxa_pipeline_run_resident(other, p, &o, r, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(other), "another context"));
    /* a context destroyed before its residents: their memory goes with it, the handles stay for _free */
    vxa_resident *orphan = NULL;
    assert_int_equal(vxa_resident_create(other, image, label, NULL, &orphan), VXA_OK);
    vxa_context_destroy(other);
    assert_non_null(vxa_resident_volume(orphan, 0));
    vxa_resident_free(orphan);
    vxa_resident_free(NULL);
    vxa_resident_free(r);
    vxa_resident_free(rn);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
}

/* A volume over the device's single-allocation limit: a clear error (run_ex takes slabs; a resident cannot). */
static void test_resident_over_the_allocation_limit(void **state)
{
    (void)state;
    vxa_test_device();   /* skips without one */
    vxa_context *ctx = NULL;
    vxa_context_options co;
    vxa_context_options_init(&co);
    co.max_alloc = 4096;
    assert_int_equal(vxa_context_create(&co, &ctx), VXA_OK);
    uint64_t rng = vxa_test_seed();
    vxa_volume *image, *label;
    inputs(&rng, &image, &label);
    vxa_resident *r = NULL;
    assert_int_equal(vxa_resident_create(ctx, image, label, NULL, &r), VXA_ERR_DEVICE_MEMORY);
    assert_null(r);
    assert_non_null(strstr(vxa_last_error(ctx), "single-allocation limit"));
    vxa_context_destroy(ctx);
    vxa_volume_free(image);
    vxa_volume_free(label);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resident_equals_run_ex_reference),
        cmocka_unit_test(test_resident_equals_run_ex_device),
        cmocka_unit_test(test_resident_equals_run_ex_device_async),
        cmocka_unit_test(test_resident_is_a_copy),
        cmocka_unit_test(test_prefetch_loop_equals_run_ex),
        cmocka_unit_test(test_resident_errors_are_clear),
        cmocka_unit_test(test_resident_over_the_allocation_limit),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
