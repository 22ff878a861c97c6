/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* program_invocation_name */
#endif
#include "testutil.h"

#include <errno.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const int64_t vxa_test_shapes[][3] = {
    { 1, 1, 1 }, { 1, 7, 5 }, { 1, 13, 17 }, { 7, 1, 1 }, { 3, 5, 7 }, { 17, 19, 23 },
    { 31, 37, 1 }, { 65, 33, 17 }, { 129, 3, 5 }, { 181, 217, 181 },
};
const int vxa_test_nshapes = sizeof vxa_test_shapes / sizeof vxa_test_shapes[0];

static uint64_t test_seed;
static int test_seed_used;

/* The one-line command that replays this program's run with its seed. */
static void print_replay(FILE *f)
{
    const char *gpu = getenv("VOXAUG_GPU_FORMS");
    const int gpu_forms = gpu && strcmp(gpu, "1") == 0;
    fprintf(f, "# replay: VOXAUG_TEST_SEED=%llu ctest -R '^%s%s$' (or VOXAUG_TEST_SEED=%llu %s%s)\n",
            (unsigned long long)test_seed, program_invocation_short_name, gpu_forms ? "_gpu_forms" : "",
            (unsigned long long)test_seed, gpu_forms ? "VOXAUG_GPU_FORMS=1 " : "", program_invocation_name);
}

uint64_t vxa_test_seed(void)
{
    if (!test_seed_used) {
        const char *s = getenv("VOXAUG_TEST_SEED");
        test_seed = s && *s ? strtoull(s, NULL, 0) : VXA_TEST_FIXED_SEED;
        fprintf(stderr, "# VOXAUG_TEST_SEED=%llu (%s)\n", (unsigned long long)test_seed,
                s && *s ? "from the environment" : "the fixed default");
        print_replay(stderr);
        test_seed_used = 1;
    }
    return test_seed;
}

uint64_t vxa_test_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double vxa_test_uniform(uint64_t *state) { return (vxa_test_rand(state) >> 11) * 0x1.0p-53; }

static vxa_context *ref_ctx, *dev_ctx;
static int dev_tried, dev_skipped;

vxa_context *vxa_test_reference(void)
{
    if (!ref_ctx) {
        vxa_context_options opt;
        vxa_context_options_init(&opt);
        opt.device = "reference";
        assert_int_equal(vxa_context_create(&opt, &ref_ctx), VXA_OK);
    }
    return ref_ctx;
}

vxa_context *vxa_test_device(void)
{
    if (!dev_tried) {
        dev_tried = 1;
        vxa_status st = vxa_context_create(NULL, &dev_ctx);
        if (st != VXA_OK) {
            fprintf(stderr, "# no device under test: %s\n", vxa_last_error(dev_ctx));
            vxa_context_destroy(dev_ctx);
            dev_ctx = NULL;
        } else {
            fprintf(stderr, "# device under test: %s\n", vxa_context_device_name(dev_ctx));
        }
    }
    const char *req = getenv("VOXAUG_REQUIRE_DEVICE");
    const int required = req && strcmp(req, "1") == 0;
    /* VOXAUG_DEVICE=reference makes the "device" the reference itself: a comparison of it with itself
     * proves nothing, so it counts as no device. */
    if (dev_ctx && dev_ctx->reference) {
        if (required) fail_msg("VOXAUG_REQUIRE_DEVICE=1 but the device under test is the reference path "
                               "(VOXAUG_DEVICE=%s)", getenv("VOXAUG_DEVICE") ? getenv("VOXAUG_DEVICE") : "");
        dev_skipped = 1;
        skip();
    }
    if (!dev_ctx) {
        if (required) fail_msg("VOXAUG_REQUIRE_DEVICE=1 but no OpenCL device could be opened");
        dev_skipped = 1;
        skip();
    }
    return dev_ctx;
}

vxa_context *vxa_test_gpu_forms_device(void)
{
    vxa_context *g = NULL;
    (void)vxa_test_device();   /* skips where there is no device */
    setenv("VOXAUG_GPU_FORMS", "1", 1);
    const vxa_status st = vxa_context_create(NULL, &g);
    unsetenv("VOXAUG_GPU_FORMS");
    if (st != VXA_OK) fail_msg("a second device context: %s", vxa_last_error(g));
    return g;
}

int vxa_test_exit(int failed)
{
    vxa_test_contexts_free();
    if (failed && test_seed_used) print_replay(stderr);
    if (failed) return failed;
    if (dev_skipped) {
        fprintf(stderr, "# device tests skipped (no OpenCL device under test): exit 77, ctest reports SKIPPED\n");
        return 77;
    }
    return 0;
}

void vxa_test_contexts_free(void)
{
    vxa_context_destroy(ref_ctx);
    vxa_context_destroy(dev_ctx);
    ref_ctx = dev_ctx = NULL;
    dev_tried = 0;
}

vxa_volume *vxa_test_random_volume(const int64_t dim[3], int64_t channels, vxa_dtype dtype, uint64_t *state)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, channels, dtype, &v), VXA_OK);
    double lo = -1000, hi = 1000;
    switch (dtype) {
    case VXA_UINT8: lo = 0; hi = 255; break;
    case VXA_INT8: lo = -128; hi = 127; break;
    case VXA_UINT16: lo = 0; hi = 65535; break;
    case VXA_INT16: lo = -32768; hi = 32767; break;
    case VXA_UINT32: lo = 0; hi = 100000; break;
    default: break;
    }
    size_t n = vxa_volume_voxels(v);
    vxa_dvol d = { .dim = { v->dim[0], v->dim[1], v->dim[2] }, .channels = channels, .dtype = dtype, .host = v->data };
    for (size_t i = 0; i < n; i++) {
        double x = lo + (hi - lo) * vxa_test_uniform(state);
        if (vxa_test_rand(state) % 16 == 0) x = 0;  /* some zero voxels for nonzero modes */
        vxa_dvol_store(&d, i, x);
    }
    return v;
}

vxa_volume *vxa_test_smooth_volume(const int64_t dim[3], uint64_t *state)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &v), VXA_OK);
    double c[6][3], s[6], a[6];
    for (int b = 0; b < 6; b++) {
        for (int ax = 0; ax < 3; ax++) c[b][ax] = vxa_test_uniform(state) * (double)dim[ax];
        s[b] = 0.15 + 0.3 * vxa_test_uniform(state);
        a[b] = 200 + 800 * vxa_test_uniform(state);
    }
    float *p = v->data;
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++) {
                const double o[3] = { (double)i, (double)j, (double)k };
                double x = 0;
                for (int b = 0; b < 6; b++) {
                    double r2 = 0;
                    for (int ax = 0; ax < 3; ax++) {
                        double d = (o[ax] - c[b][ax]) / (s[b] * (double)dim[ax]);
                        r2 += d * d;
                    }
                    x += a[b] * exp(-r2);
                }
                *p++ = (float)x;
            }
    return v;
}

vxa_volume *vxa_test_run(vxa_context *ctx, const vxa_volume *in, const int64_t out_dim[3], vxa_dtype out_dtype,
                         vxa_test_op fn, void *arg)
{
    vxa_dvol din, dout;
    vxa_status st = vxa_dvol_from_volume(ctx, in, &din);
    if (st != VXA_OK) fail_msg("upload: %s: %s", vxa_status_name(st), vxa_last_error(ctx));
    st = vxa_dvol_alloc(ctx, out_dim, in->channels, out_dtype, &dout);
    if (st != VXA_OK) fail_msg("alloc: %s: %s", vxa_status_name(st), vxa_last_error(ctx));
    st = fn(ctx, &din, &dout, arg);
    if (st != VXA_OK) fail_msg("op on %s: %s: %s", vxa_context_device_name(ctx), vxa_status_name(st), vxa_last_error(ctx));
    vxa_volume *out = NULL;
    assert_int_equal(vxa_volume_alloc(out_dim, in->channels, out_dtype, &out), VXA_OK);
    st = vxa_dvol_read(ctx, &dout, out->data);
    if (st != VXA_OK) fail_msg("read: %s: %s", vxa_status_name(st), vxa_last_error(ctx));
    vxa_dvol_release(ctx, &din);
    vxa_dvol_release(ctx, &dout);
    return out;
}

double vxa_test_max_abs_diff(const vxa_volume *a, const vxa_volume *b)
{
    for (int ax = 0; ax < 3; ax++) assert_int_equal(a->dim[ax], b->dim[ax]);
    assert_int_equal(a->channels, b->channels);
    double m = 0;
    for (int64_t c = 0; c < a->channels; c++)
        for (int64_t k = 0; k < a->dim[2]; k++)
            for (int64_t j = 0; j < a->dim[1]; j++)
                for (int64_t i = 0; i < a->dim[0]; i++) {
                    double x = vxa_volume_get(a, i, j, k, c), y = vxa_volume_get(b, i, j, k, c);
                    double d = fabs(x - y);
                    if (isnan(x) != isnan(y)) d = INFINITY;
                    if (d > m) m = d;
                }
    return m;
}

int vxa_test_identical(const vxa_volume *a, const vxa_volume *b)
{
    for (int ax = 0; ax < 3; ax++)
        if (a->dim[ax] != b->dim[ax]) return 0;
    return a->channels == b->channels && a->dtype == b->dtype &&
           memcmp(a->data, b->data, vxa_volume_bytes(a)) == 0;
}

size_t vxa_test_count_differences(const vxa_volume *a, const vxa_volume *b)
{
    for (int ax = 0; ax < 3; ax++) assert_int_equal(a->dim[ax], b->dim[ax]);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->dtype, b->dtype);
    size_t n = 0;
    const size_t es = vxa_dtype_size(a->dtype);
    for (size_t i = 0; i < vxa_volume_voxels(a); i++)
        n += memcmp((const char *)a->data + i * es, (const char *)b->data + i * es, es) != 0;
    return n;
}

double vxa_test_range(const vxa_volume *v)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < v->channels; c++)
        for (int64_t k = 0; k < v->dim[2]; k++)
            for (int64_t j = 0; j < v->dim[1]; j++)
                for (int64_t i = 0; i < v->dim[0]; i++) {
                    double x = vxa_volume_get(v, i, j, k, c);
                    if (x < lo) lo = x;
                    if (x > hi) hi = x;
                }
    return hi > lo ? hi - lo : 0;
}

static const char *if_exists(const char *path) { return access(path, R_OK) == 0 ? path : NULL; }
const char *vxa_test_ch2(void) { return if_exists("/usr/share/mricron/templates/ch2.nii.gz"); }
const char *vxa_test_aal(void) { return if_exists("/usr/share/mricron/templates/aal.nii.gz"); }
const char *vxa_test_nibabel(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "/usr/lib/python3/dist-packages/nibabel/tests/data/%s", name);
    return if_exists(path);
}

void vxa_test_log_keep(void *user, vxa_log_level level, const char *msg)
{
    (void)level;
    vxa_test_log *b = user;
    int w = snprintf(b->text + b->n, sizeof b->text - b->n, "%s\n", msg);
    if (w > 0 && b->n + (size_t)w < sizeof b->text) b->n += (size_t)w;
}

vxa_context *vxa_test_logged_device(vxa_test_log *lb, const char *kernel_dir)
{
    memset(lb, 0, sizeof *lb);
    vxa_context_options o;
    vxa_context_options_init(&o);
    o.log = vxa_test_log_keep;
    o.log_user = lb;
    o.log_level = VXA_LOG_DEBUG;
    o.kernel_dir = kernel_dir;
    vxa_context *ctx = NULL;
    if (vxa_context_create(&o, &ctx) != VXA_OK || vxa_context_is_reference(ctx)) {
        vxa_context_destroy(ctx);
        return NULL;
    }
    return ctx;
}

int vxa_test_count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++) n++;
    return n;
}

vxa_pipeline *vxa_test_parse(const char *spec)
{
    char err[2048] = "";
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) fail_msg("parse '%s': %s", spec, err);
    return p;
}
