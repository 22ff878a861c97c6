/* SPDX-License-Identifier: MIT */
/* Device faults are errors carrying the runtime's words, never aborts; the context stays usable or can be
 * destroyed cleanly. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static vxa_context *device_with(const char *kernel_dir, uint64_t max_alloc, vxa_status *st)
{
    vxa_test_device(); /* skips visibly when there is no OpenCL device, or it is the reference path */
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.kernel_dir = kernel_dir;
    opt.max_alloc = max_alloc;
    vxa_context *ctx = NULL;
    *st = vxa_context_create(&opt, &ctx);
    return ctx;
}

static vxa_status flip_run(vxa_context *ctx, const int64_t dim[3], vxa_volume **out)
{
    uint64_t rng = 5;
    vxa_volume *in = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &rng);
    char err[512];
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse("flip(axes=0) zoom(1.1)", &p, err, sizeof err), VXA_OK);
    vxa_status st = vxa_pipeline_run(ctx, p, 0, 0, in, NULL, out, NULL, NULL);
    vxa_pipeline_free(p);
    vxa_volume_free(in);
    return st;
}

/* A buffer over the single-allocation limit is a device-memory error naming the sizes; smaller work still runs. */
static void test_allocation_over_limit_is_device_memory_error(void **state)
{
    (void)state;
    vxa_status st;
    vxa_context *ctx = device_with(NULL, 4096, &st);
    assert_int_equal(st, VXA_OK);
    const int64_t big[3] = { 32, 32, 32 }, small[3] = { 8, 8, 8 };
    vxa_volume *out = NULL;
    assert_int_equal(flip_run(ctx, big, &out), VXA_ERR_DEVICE_MEMORY);
    assert_null(out);
    assert_non_null(strstr(vxa_last_error(ctx), "single-allocation limit of 4096 bytes"));
    assert_int_equal(flip_run(ctx, small, &out), VXA_OK);  /* 2048 bytes: the context still works */
    vxa_volume_free(out);
    vxa_context_destroy(ctx);
}

/* A kernel that does not compile gives VXA_ERR_BUILD with the file, the device and the compiler's log. */
static void test_kernel_build_failure_returns_the_log(void **state)
{
    (void)state;
    char dir[] = "/tmp/vxa-badkernels-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], cmd[1024];
    /* The real kernels and shared headers, then code that does not compile added to two families (at file
     * scope: a program keeps it whichever of the file's kernels it is built for). */
    snprintf(cmd, sizeof cmd, "cp %s/../../kernels/* %s/../../src/shared/*.h %s/", VXA_TEST_DATA, VXA_TEST_DATA, dir);
    assert_int_equal(system(cmd), 0);
    const char *fams[] = { "resample", "copy" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.cl", dir, fams[i]);
        FILE *f = fopen(path, "a");
        assert_non_null(f);
        fputs("\n__constant int vxa_broken = undeclared_thing;\n", f);
        fclose(f);
    }
    vxa_status st;
    vxa_context *ctx = device_with(dir, 0, &st);
    assert_int_equal(st, VXA_OK);
    const int64_t dim[3] = { 8, 8, 8 };
    vxa_volume *out = NULL;
    assert_int_equal(flip_run(ctx, dim, &out), VXA_ERR_BUILD);
    const char *e = vxa_last_error(ctx);
    if (!strstr(e, "build failed") || !strstr(e, "undeclared_thing"))
        fail_msg("build error lacks the log: %s", e);
    vxa_context_destroy(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A kernel folder that does not exist is an I/O error naming it, not a crash. */
static void test_missing_kernel_dir_is_an_error(void **state)
{
    (void)state;
    vxa_status st;
    vxa_context *ctx = device_with("/nonexistent/voxaug-kernels", 0, &st);
    assert_int_equal(st, VXA_OK);
    const int64_t dim[3] = { 4, 4, 4 };
    vxa_volume *out = NULL;
    assert_int_not_equal(flip_run(ctx, dim, &out), VXA_OK);
    assert_non_null(strstr(vxa_last_error(ctx), "/nonexistent/voxaug-kernels"));
    vxa_context_destroy(ctx);
}

/* A device asked for and not found is an error, never a fallback to another. */
static void test_unknown_device_is_not_found(void **state)
{
    (void)state;
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = "no-such-accelerator-9000";
    vxa_context *ctx = NULL;
    assert_int_equal(vxa_context_create(&opt, &ctx), VXA_ERR_NOT_FOUND);
    assert_non_null(ctx);
    assert_non_null(strstr(vxa_last_error(ctx), "no-such-accelerator-9000"));
    vxa_context_destroy(ctx);
    opt.device = "99:99";
    assert_int_not_equal(vxa_context_create(&opt, &ctx), VXA_OK);
    vxa_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocation_over_limit_is_device_memory_error),
        cmocka_unit_test(test_kernel_build_failure_returns_the_log),
        cmocka_unit_test(test_missing_kernel_dir_is_an_error),
        cmocka_unit_test(test_unknown_device_is_not_found),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
