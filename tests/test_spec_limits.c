/* SPDX-License-Identifier: MIT */
/* The spec parser on hostile text (issue 16): decimal numbers only, parameter domains checked at parse time
 * naming the op and parameter, an empty spec refused, limits that are errors, and time linear in the spec's
 * size (an 8 MB spec). */
#include "testutil.h"
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void expect_error(const char *spec, const char *needle)
{
    char err[2048] = "";
    vxa_pipeline *p = NULL;
    const vxa_status st = vxa_pipeline_parse(spec, &p, err, sizeof err);
    if (st != VXA_ERR_PARSE) fail_msg("'%.60s' parsed (status %s, text '%s')", spec, vxa_status_name(st),
                                      vxa_pipeline_string(p));
    assert_null(p);
    if (!strstr(err, needle)) fail_msg("error for '%.60s' lacks '%s':\n%s", spec, needle, err);
}

static void expect_ok(const char *spec, const char *normalised)
{
    char err[2048] = "";
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) fail_msg("'%s': %s", spec, err);
    if (normalised && strcmp(vxa_pipeline_string(p), normalised) != 0)
        fail_msg("'%s' reads as '%s', expected '%s'", spec, vxa_pipeline_string(p), normalised);
    vxa_pipeline_free(p);
}

static void test_decimal_numbers_only(void **state)
{
    (void)state;
    expect_error("rotate(0x10)", "expected a decimal number, found '0x10'"); /* was 16 degrees */
    expect_error("rotate(0X1p3)", "decimal number");
    expect_error("rotate(-inf)", "decimal number");
    expect_error("rotate(+nan)", "decimal number");
    expect_error("rotate(inf)", "'inf' is not a value of angle");
    expect_error("rotate(nan)", "'nan' is not a value of angle");
    expect_error("rotate(infinity)", "'infinity' is not a value");
    expect_error("zoom(1e400)", "does not fit a double");
    expect_error("rotate(1e)", "decimal number");
    expect_error("rotate(1.2.3)", "decimal number");
    expect_error("rotate(.)", "decimal number");
    expect_error("rotate(1_0)", "decimal number");
    expect_ok("rotate(.5)", "rotate(angle=0.5)");
    expect_ok("rotate(5.)", "rotate(angle=5)");
    expect_ok("rotate(-1.5e1)", "rotate(angle=-15)");
    expect_ok("rotate(+2E+1)", "rotate(angle=20)");
    expect_ok("rotate(010)", "rotate(angle=10)"); /* decimal, not octal */
}

static void test_domains_checked_at_parse_time(void **state)
{
    (void)state;
    expect_error("elastic(sigma=0)", "elastic: sigma = 0 is outside (0, 1000]");
    expect_error("elastic(alpha=10, sigma=[0,4])", "elastic: sigma = 0");
    expect_error("elastic(sigma=4,4,0)", "elastic: sigma = 0");
    expect_error("elastic(smooth_mm=0)", "elastic: smooth_mm = 0");
    expect_error("elastic(sigma=-1)", "elastic: sigma = -1");
    expect_error("crop(0, 10, 10)", "crop: size = 0 is outside [1,");
    expect_error("resize(shape=4,0,4)", "resize: shape = 0");
    expect_error("flip(axes=0, p=1.5)", "flip: p = 1.5 is outside [0, 1]");
    expect_error("flip(axes=0, p_axis=-0.1)", "flip: p_axis = -0.1 is outside [0, 1]");
    expect_error("noise(std=-1)", "noise: std = -1");
    expect_error("zoom(0)", "zoom: z = 0 is outside");
    expect_ok("elastic(alpha=10, sigma=[0.5,4])", NULL);
    expect_ok("flip(axes=0, p=0) flip(axes=1, p=1)", NULL);
}

static void test_empty_spec_refused(void **state)
{
    (void)state;
    expect_error("", "empty spec");
    expect_error("   ", "empty spec");
    expect_error(" ; | ;", "empty spec");
}

/* 8 MB specs: ops padded with blanks, a long run of ops (the op limit is an error), one huge number. The old
 * parser built the normalised text with strcat from the start (quadratic: minutes for 8 MB of ops). The
 * bound is generous (a linear parse takes milliseconds); it is there to fail a quadratic one, not to time. */
static void test_8mb_specs_parse_in_linear_time(void **state)
{
    (void)state;
    const size_t size = 8u << 20;
    char *spec = malloc(size + 1);
    assert_non_null(spec);
    struct timespec t0, t1;

    /* 1000 ops, each followed by ~8 KB of blanks and separators */
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        n += (size_t)sprintf(spec + n, "rotate(%d)", i % 300);
        for (; n < (size_t)(i + 1) * (size / 1000); n++) spec[n] = " ;|\t\n"[n % 5];
    }
    spec[n] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[2048];
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) fail_msg("%s", err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("8 MB spec of 1000 padded ops: %.3f s\n", s);
    assert_int_equal(p->nops, 1000);
    vxa_pipeline_free(p);
    assert_true(s < 10.0);

    /* 8 MB of ops: an error at the limit, quickly */
    for (n = 0; n + 5 <= size; n += 5) memcpy(spec + n, "flip ", 5);
    spec[n] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_error(spec, "more than 1024 ops");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("8 MB spec of 1.6 million ops: refused in %.3f s\n", s);
    assert_true(s < 10.0);

    /* one 8 MB number */
    memcpy(spec, "rotate(", 7);
    memset(spec + 7, '1', size - 8);
    spec[size - 1] = ')';
    spec[size] = '\0';
    expect_error(spec, "longer than 64 characters");
    free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_numbers_only),
        cmocka_unit_test(test_domains_checked_at_parse_time),
        cmocka_unit_test(test_empty_spec_refused),
        cmocka_unit_test(test_8mb_specs_parse_in_linear_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
