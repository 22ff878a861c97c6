/* SPDX-License-Identifier: MIT */
/* The C API misused (issue 16): every NULL the header allows is handled as documented (no crash),
 * vxa_last_error describes the last call ("" after a success), a truncated device list is a status and a
 * zero-length buffer is not written, a context whose device was not found cannot run. */
#include "testutil.h"

#include <math.h>
#include <string.h>

static void test_null_arguments(void **state)
{
    (void)state;
    const int64_t dim[3] = { 2, 3, 4 };
    vxa_volume *v = (vxa_volume *)0x1, hdr;
    assert_int_equal(vxa_volume_voxels(NULL), 0);
    assert_int_equal(vxa_volume_bytes(NULL), 0);
    assert_true(isnan(vxa_volume_get(NULL, 0, 0, 0, 0)));
    vxa_volume_set(NULL, 0, 0, 0, 0, 1.0);
    vxa_volume_set_spacing(NULL, (const double[3]){ 1, 1, 1 });
    vxa_volume_init(NULL, dim, 1, VXA_FLOAT32);
    vxa_volume_init(&hdr, NULL, 1, VXA_FLOAT32);
    assert_int_equal(vxa_volume_voxels(&hdr), 0);
    vxa_volume_set_spacing(&hdr, NULL);
    assert_true(isnan(vxa_volume_get(&hdr, 0, 0, 0, 0))); /* data NULL */
    vxa_volume_set(&hdr, 0, 0, 0, 0, 1.0);
    assert_int_equal(vxa_volume_alloc(NULL, 1, VXA_FLOAT32, &v), VXA_ERR_INVALID_ARGUMENT);
    assert_null(v);
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, NULL), VXA_ERR_INVALID_ARGUMENT);
    v = (vxa_volume *)0x1;
    assert_int_equal(vxa_volume_clone(NULL, &v), VXA_ERR_INVALID_ARGUMENT);
    assert_null(v);
    assert_int_equal(vxa_volume_clone(&hdr, NULL), VXA_ERR_INVALID_ARGUMENT);
    vxa_volume_free(NULL);
    vxa_dtype t;
    assert_int_equal(vxa_dtype_parse(NULL, &t), 0);
    assert_int_equal(vxa_dtype_parse("float32", NULL), 0);
    assert_int_equal(vxa_nifti_read(NULL, &v, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_read("x.nii", NULL, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_write(NULL, &hdr, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_write("x.nii", NULL, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    vxa_context_options_init(NULL);
    assert_int_equal(vxa_context_create(NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    vxa_context_destroy(NULL);
    vxa_context_trim(NULL);
    assert_string_equal(vxa_last_error(NULL), "no context");
    assert_string_equal(vxa_context_device_name(NULL), "");
    assert_int_equal(vxa_context_is_reference(NULL), 0);
    assert_int_equal(vxa_context_launches(NULL, NULL), 0);
    assert_int_equal(vxa_devices_list(NULL, 100), VXA_ERR_INVALID_ARGUMENT);
    vxa_pipeline *p = (vxa_pipeline *)0x1;
    assert_int_equal(vxa_pipeline_parse(NULL, &p, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_parse("flip(axes=0)", NULL, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    vxa_pipeline_free(NULL);
    assert_string_equal(vxa_pipeline_string(NULL), "");
    vxa_draw_free(NULL);
    assert_string_equal(vxa_draw_json(NULL), "{}");
    assert_int_equal(vxa_pipeline_output_shape(NULL, &hdr, &hdr), VXA_ERR_INVALID_ARGUMENT);
    vxa_run_options_init(NULL);
    vxa_volume *oi = (vxa_volume *)0x1;
    assert_int_equal(vxa_pipeline_run(NULL, NULL, 0, 0, NULL, NULL, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_batch(NULL, NULL, 0, 0, 1, NULL, NULL, NULL, NULL, NULL),
                     VXA_ERR_INVALID_ARGUMENT);
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(NULL, &img, &lab), VXA_ERR_INVALID_ARGUMENT);
    assert_null(img);
    assert_int_equal(vxa_preview_png(NULL, &hdr, NULL, 0.5, 99.5, NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_preview_png("x.png", NULL, NULL, 0.5, 99.5, NULL, 0), VXA_ERR_INVALID_ARGUMENT);

    /* NULL pipeline, image or out_image on a real context: an error, the outputs given set to NULL */
    vxa_context *ctx = vxa_test_reference();
    assert_int_equal(vxa_pipeline_parse("flip(axes=0)", &p, NULL, 0), VXA_OK);
    assert_int_equal(vxa_phantom(dim, &img, NULL), VXA_OK);
    oi = (vxa_volume *)0x1;
    assert_int_equal(vxa_pipeline_run(ctx, NULL, 0, 0, img, NULL, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_null(oi);
    assert_int_equal(vxa_pipeline_run(ctx, p, 0, 0, NULL, NULL, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run(ctx, p, 0, 0, img, NULL, NULL, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, NULL, img, NULL, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_run_batch(ctx, NULL, 0, 0, 1, (const vxa_volume *const[]){ img }, NULL, &oi, NULL,
                                            NULL), VXA_ERR_INVALID_ARGUMENT);
    vxa_volume_free(img);
    vxa_pipeline_free(p);
}

/* A failure, then a success on the same context: the success leaves "" (it kept the old failure). */
static void test_last_error_describes_the_last_call(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    const int64_t a[3] = { 8, 8, 8 }, b[3] = { 8, 8, 9 };
    vxa_volume *img = NULL, *other = NULL, *oi = NULL, *ol = NULL;
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_phantom(a, &img, NULL), VXA_OK);
    assert_int_equal(vxa_phantom(b, NULL, &other), VXA_OK);
    assert_int_equal(vxa_pipeline_parse("flip(axes=0)", &p, NULL, 0), VXA_OK);
    assert_int_equal(vxa_pipeline_run(ctx, p, 0, 0, img, other, &oi, &ol, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ctx), "grid"));
    assert_int_equal(vxa_pipeline_run(ctx, p, 0, 0, img, NULL, &oi, NULL, NULL), VXA_OK);
    assert_string_equal(vxa_last_error(ctx), "");
    vxa_volume_free(oi);
    oi = NULL;
    assert_int_equal(vxa_pipeline_run_batch(ctx, p, 0, 0, 1, (const vxa_volume *const[]){ other }, NULL, &oi, NULL,
                                            NULL), VXA_OK);
    assert_string_equal(vxa_last_error(ctx), "");
    vxa_volume_free(oi);
    vxa_volume_free(img);
    vxa_volume_free(other);
    vxa_pipeline_free(p);
}

static void test_devices_list_truncation(void **state)
{
    (void)state;
    char buf[8192];
    memset(buf, 'X', sizeof buf);
    assert_int_equal(vxa_devices_list(buf, 0), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(buf[0], 'X'); /* nothing written (buf[0] was) */
    assert_int_equal(vxa_devices_list(buf, sizeof buf), VXA_OK);
    const size_t whole = strlen(buf);
    assert_true(whole > 20);
    memset(buf, 'X', sizeof buf);
    assert_int_equal(vxa_devices_list(buf, 20), VXA_ERR_INVALID_ARGUMENT); /* truncated: a status */
    assert_int_equal(strlen(buf), 19);
    assert_int_equal(buf[20], 'X');
    memset(buf, 'X', sizeof buf);
    assert_int_equal(vxa_devices_list(buf, whole + 1), VXA_OK); /* exactly fits */
    assert_int_equal(strlen(buf), whole);
    assert_int_equal(vxa_devices_list(buf, whole), VXA_ERR_INVALID_ARGUMENT);
}

static void test_context_without_device_cannot_run(void **state)
{
    (void)state;
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = "no-such-device-for-this-test";
    vxa_context *ctx = NULL;
    assert_int_not_equal(vxa_context_create(&opt, &ctx), VXA_OK);
    assert_non_null(ctx);
    const int64_t dim[3] = { 4, 4, 4 };
    vxa_volume *img = NULL, *oi = NULL;
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_phantom(dim, &img, NULL), VXA_OK);
    assert_int_equal(vxa_pipeline_parse("zoom(1.5)", &p, NULL, 0), VXA_OK);
    for (int i = 0; i < 2; i++) { /* the message stays one message when asked again */
        assert_int_equal(vxa_pipeline_run(ctx, p, 0, 0, img, NULL, &oi, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
        assert_null(oi);
        const char *e = vxa_last_error(ctx);
        if (!strstr(e, "this context has no device: vxa_context_create failed") ||
            !strstr(e, "no-such-device-for-this-test") || strstr(e, "limit of 0 bytes") || strstr(e, "(this context"))
            fail_msg("run on a failed context: '%s'", e);
    }
    /* the caller's-memory entry points refuse it the same way, each on a fresh failed context so that the
     * message must come from that call */
    float out[64];
    vxa_buffer buf;
    vxa_buffer_init(&buf, out, sizeof out, VXA_FLOAT32);
    vxa_run_options o;
    vxa_run_options_init(&o);
    const vxa_volume *imgs[1] = { img };
    for (int entry = 0; entry < 2; entry++) {
        vxa_context_destroy(ctx);
        ctx = NULL;
        assert_int_not_equal(vxa_context_create(&opt, &ctx), VXA_OK);
        const vxa_status st = entry == 0 ? vxa_pipeline_run_into(ctx, p, &o, img, NULL, &buf, NULL, NULL)
                                         : vxa_pipeline_run_batch_into(ctx, p, &o, 1, imgs, NULL, &buf, NULL, NULL);
        assert_int_equal(st, VXA_ERR_INVALID_ARGUMENT);
        const char *want = entry == 0 ? "vxa_pipeline_run_into cannot run on it"
                                      : "vxa_pipeline_run_batch_into cannot run on it";
        if (!strstr(vxa_last_error(ctx), want)) fail_msg("'%s' lacks '%s'", vxa_last_error(ctx), want);
    }
    vxa_volume_free(img);
    vxa_pipeline_free(p);
    vxa_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_last_error_describes_the_last_call),
        cmocka_unit_test(test_devices_list_truncation),
        cmocka_unit_test(test_context_without_device_cannot_run),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
