/* SPDX-License-Identifier: MIT */
/* Runs into the caller's memory (vxa_pipeline_run_into, vxa_pipeline_run_batch_into) against vxa_pipeline_run,
 * bit for bit, for every output dtype, strides and batches; the buffer errors; the ABI rule of the size-first
 * structs (a caller built against 0.1.0's option fields, a newer caller's longer structs); cancellation and the
 * log hook. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SPEC = "flip(axes=0,1, p=0.5) rotate([-12,12], plane=0,1) zoom([0.9,1.1]) "
                                "zscore noise(0.2) crop(21,19,11)";

/* An image of 2 channels and a label map with values 0..5 on a 31x27x15 grid. */
static void inputs(uint64_t *rng, vxa_volume **image, vxa_volume **label)
{
    const int64_t dim[3] = { 31, 27, 15 };
    *image = vxa_test_random_volume(dim, 2, VXA_INT16, rng);
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, label), VXA_OK);
    for (size_t v = 0; v < vxa_volume_voxels(*label); v++)
        ((uint8_t *)(*label)->data)[v] = (uint8_t)(vxa_test_rand(rng) % 6);
}

/* ---- an independent converter: the nearest representable value, found by value, ties to the even code ---- */
static double half_value(unsigned h) /* finite binary16 code without sign -> its value */
{
    const unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff;
    return e == 0 ? ldexp(m, -24) : ldexp(1024 + m, (int)e - 25);
}

static double bf16_value(unsigned b) /* bfloat16 code without sign -> value; the all-ones exponent as 2^128 */
{
    const uint32_t x = (uint32_t)b << 16;
    if (((x >> 23) & 0xff) == 0xff) return ldexp(1.0, 128);
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* The code of the nearest of codes 0 .. top (values increasing with the code; top's value stands for
 * overflow), ties to the even code: a binary search by value. */
static unsigned nearest_code(double a, unsigned top, double (*value)(unsigned))
{
    unsigned lo = 0, hi = top;
    while (hi - lo > 1) {
        const unsigned mid = (lo + hi) / 2;
        if (value(mid) <= a) lo = mid;
        else hi = mid;
    }
    const double dl = a - value(lo), dh = value(hi) - a;
    if (a >= value(hi)) return hi;
    return dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
}

static uint16_t ref_f16(float f)
{
    if (isnan(f)) return 0x7e00;
    const unsigned sign = signbit(f) ? 0x8000 : 0;
    /* codes 0..0x7bff are finite; 0x7c00 stands for inf, reached from 65520 (65504 + half its ulp) on */
    const double a = fabs((double)f);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | nearest_code(a, 0x7c00, half_value));
}


static uint16_t ref_bf16(float f)
{
    if (isnan(f)) return 0x7fc0;
    const unsigned sign = signbit(f) ? 0x8000 : 0;
    return (uint16_t)(sign | nearest_code(fabs((double)f), 0x7f80, bf16_value));
}

static void test_reference_converters_know_their_edges(void **state)
{
    (void)state;
    /* The test's own converters on values whose codes are known (so a wrong reference cannot pass a wrong
     * library): 1, the largest half, overflow, a tie to even, the smallest subnormal and half of it. */
    assert_int_equal(ref_f16(1.0f), 0x3c00);
    assert_int_equal(ref_f16(65504.0f), 0x7bff);
    assert_int_equal(ref_f16(65519.0f), 0x7bff);
    assert_int_equal(ref_f16(65520.0f), 0x7c00);
    assert_int_equal(ref_f16(1.0f + 0x1p-11f), 0x3c00);            /* tie between 1 and 1 + 2^-10: even */
    assert_int_equal(ref_f16(1.0f + 3 * 0x1p-11f), 0x3c02);        /* tie: up to the even code */
    assert_int_equal(ref_f16(0x1p-24f), 0x0001);
    assert_int_equal(ref_f16(0x1p-25f), 0x0000);                   /* tie between 0 and 2^-24: even (0) */
    assert_int_equal(ref_f16(-2.0f), 0xc000);
    assert_int_equal(ref_bf16(1.0f), 0x3f80);
    assert_int_equal(ref_bf16(1.0f + 0x1p-8f), 0x3f80);            /* tie: even */
    assert_int_equal(ref_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(ref_bf16(3.4028235e38f), 0x7f80);             /* FLT_MAX rounds up to inf */
}

static vxa_run_options run_options(uint64_t seed, uint64_t sample)
{
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = seed;
    o.sample = sample;
    return o;
}

/* ---- bit for bit against vxa_pipeline_run ------------------------------------------------------------------- */
/* The value of voxel v (NIfTI order, channels last) of a float32 volume as it must appear in dtype t. */
static void expect_image(const vxa_volume *ref, const void *buf, vxa_dtype t, const int64_t stride[5], int64_t s,
                         const char *what)
{
    const int64_t nx = ref->dim[0], ny = ref->dim[1], nz = ref->dim[2];
    const float *r = ref->data;
    size_t v = 0, bad = 0;
    for (int64_t c = 0; c < ref->channels; c++)
        for (int64_t k = 0; k < nz; k++)
            for (int64_t j = 0; j < ny; j++)
                for (int64_t i = 0; i < nx; i++, v++) {
                    const int64_t off = i * stride[0] + j * stride[1] + k * stride[2] + c * stride[3] + s * stride[4];
                    if (t == VXA_FLOAT32) {
                        uint32_t a, b;
                        memcpy(&a, &r[v], 4);
                        memcpy(&b, (const float *)buf + off, 4);
                        bad += a != b;
                    } else {
                        const uint16_t got = ((const uint16_t *)buf)[off];
                        bad += got != (t == VXA_FLOAT16 ? ref_f16(r[v]) : ref_bf16(r[v]));
                    }
                }
    if (bad) fail_msg("%s: %zu of %zu values differ from vxa_pipeline_run's", what, bad, v);
}

static int64_t label_value(const void *buf, vxa_dtype t, int64_t off)
{
    switch (t) {
    case VXA_UINT8: return ((const uint8_t *)buf)[off];
    case VXA_INT8: return ((const int8_t *)buf)[off];
    case VXA_INT16: return ((const int16_t *)buf)[off];
    case VXA_UINT16: return ((const uint16_t *)buf)[off];
    case VXA_INT32: return ((const int32_t *)buf)[off];
    case VXA_UINT32: return ((const uint32_t *)buf)[off];
    case VXA_INT64: return ((const int64_t *)buf)[off];
    case VXA_UINT64: return (int64_t)((const uint64_t *)buf)[off];
    default: fail_msg("not a label type");
    }
    return 0;
}

static void expect_label(const vxa_volume *ref, const void *buf, vxa_dtype t, const int64_t stride[5], int64_t s,
                         const char *what)
{
    size_t v = 0, bad = 0;
    for (int64_t k = 0; k < ref->dim[2]; k++)
        for (int64_t j = 0; j < ref->dim[1]; j++)
            for (int64_t i = 0; i < ref->dim[0]; i++, v++)
                bad += label_value(buf, t, i * stride[0] + j * stride[1] + k * stride[2] + s * stride[4]) !=
                       ((const uint8_t *)ref->data)[v];
    if (bad) fail_msg("%s: %zu of %zu labels differ from vxa_pipeline_run's", what, bad, v);
}

static void dense_strides(const vxa_volume *v, int64_t stride[5])
{
    stride[0] = 1;
    stride[1] = v->dim[0];
    stride[2] = v->dim[0] * v->dim[1];
    stride[3] = stride[2] * v->dim[2];
    stride[4] = stride[3] * v->channels;
}

static void check_into(vxa_context *ctx, vxa_dtype img_t, vxa_dtype lab_t, bool channel_last)
{
    uint64_t rng = vxa_test_seed() ^ (uint64_t)img_t * 131 ^ (uint64_t)lab_t;
    vxa_volume *image, *label, *ri = NULL, *rl = NULL;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse(SPEC);
    const uint64_t seed = vxa_test_rand(&rng), sample = vxa_test_rand(&rng) % 1000;
    if (vxa_pipeline_run(ctx, p, seed, sample, image, label, &ri, &rl, NULL) != VXA_OK)
        fail_msg("run: %s", vxa_last_error(ctx));
    const int64_t nx = ri->dim[0], ny = ri->dim[1], nz = ri->dim[2], nc = ri->channels;
    int64_t is[5], ls[5];
    dense_strides(ri, is);
    dense_strides(rl, ls);
    if (channel_last) { /* i fastest within a voxel's channels: (k, j, i, c) C order, one padding element */
        const int64_t s[5] = { nc, nc * nx, nc * nx * ny, 1, nc * nx * ny * nz + 1 };
        memcpy(is, s, sizeof s);
    }
    const size_t ib = (size_t)(is[4] + 1) * vxa_dtype_size(img_t), lb = (size_t)(ls[4]) * vxa_dtype_size(lab_t);
    void *ibuf = calloc(1, ib), *lbuf = calloc(1, lb);
    vxa_buffer bi, bl;
    vxa_buffer_init(&bi, ibuf, ib, img_t);
    vxa_buffer_init(&bl, lbuf, lb, lab_t);
    if (channel_last) memcpy(bi.stride, is, sizeof is);
    const vxa_run_options o = run_options(seed, sample);
    if (vxa_pipeline_run_into(ctx, p, &o, image, label, &bi, &bl, NULL) != VXA_OK)
        fail_msg("run_into %s/%s: %s", vxa_dtype_name(img_t), vxa_dtype_name(lab_t), vxa_last_error(ctx));
    char what[128];
    snprintf(what, sizeof what, "seed %llu sample %llu, %s%s image, %s label", (unsigned long long)seed,
             (unsigned long long)sample, channel_last ? "channel-last " : "", vxa_dtype_name(img_t),
             vxa_dtype_name(lab_t));
    expect_image(ri, ibuf, img_t, is, 0, what);
    expect_label(rl, lbuf, lab_t, ls, 0, what);
    free(ibuf);
    free(lbuf);
    vxa_volume_free(ri);
    vxa_volume_free(rl);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
}

static void test_run_into_equals_run_for_every_dtype(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_device(), vxa_test_reference() };
    static const vxa_dtype labs[] = { VXA_UINT8, VXA_INT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_UINT32,
                                      VXA_INT64, VXA_UINT64 };
    for (int c = 0; c < 2; c++) {
        check_into(ctxs[c], VXA_FLOAT32, VXA_UINT8, false);  /* the direct read into the caller's memory */
        check_into(ctxs[c], VXA_FLOAT16, VXA_INT64, false);
        check_into(ctxs[c], VXA_BFLOAT16, VXA_INT32, false);
        check_into(ctxs[c], VXA_FLOAT32, VXA_INT16, true);   /* strides: through the staging buffer */
        check_into(ctxs[c], VXA_FLOAT16, VXA_UINT8, true);
    }
    for (size_t l = 0; l < sizeof labs / sizeof labs[0]; l++) check_into(vxa_test_device(), VXA_FLOAT32, labs[l], false);
}

/* Special values through an identity-like pipeline (a flip moves, never changes, values): subnormal halves,
 * ties, the edge of overflow, inf and NaN, converted as the independent converter says. */
static void test_run_into_converts_edge_values(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    const int64_t dim[3] = { 64, 4, 2 };
    vxa_volume *image, *ref = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &image), VXA_OK);
    float *x = image->data;
    static const float edges[] = { 0.0f, -0.0f, 1.0f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-26f, 3 * 0x1p-25f,
                                   0x1p-14f, 0x1.ffcp-15f, 65504.0f, 65519.99f, 65520.0f, 1e9f, -1e9f,
                                   1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f,
                                   3.4028235e38f, INFINITY, -INFINITY, NAN, 1e-40f };
    uint64_t rng = vxa_test_seed();
    for (size_t v = 0; v < vxa_volume_voxels(image); v++) {
        if (v < sizeof edges / sizeof edges[0]) x[v] = edges[v];
        else { /* random bit patterns: every exponent, every rounding case */
            uint32_t b = (uint32_t)vxa_test_rand(&rng);
            memcpy(&x[v], &b, 4);
        }
    }
    vxa_pipeline *p = vxa_test_parse("flip(axes=0)");
    assert_int_equal(vxa_pipeline_run(ctx, p, 1, 0, image, NULL, &ref, NULL, NULL), VXA_OK);
    int64_t s[5];
    dense_strides(ref, s);
    static const vxa_dtype types[] = { VXA_FLOAT32, VXA_FLOAT16, VXA_BFLOAT16 };
    for (int t = 0; t < 3; t++) {
        const size_t bytes = vxa_volume_voxels(ref) * vxa_dtype_size(types[t]);
        void *buf = malloc(bytes);
        vxa_buffer b;
        vxa_buffer_init(&b, buf, bytes, types[t]);
        vxa_run_options o;
        vxa_run_options_init(&o);
        o.seed = 1;
        if (vxa_pipeline_run_into(ctx, p, &o, image, NULL, &b, NULL, NULL) != VXA_OK)
            fail_msg("%s", vxa_last_error(ctx));
        if (types[t] == VXA_FLOAT32) {
            /* NaN payloads aside, float32 is the run's own bytes */
            assert_memory_equal(buf, ref->data, bytes);
        } else {
            const float *r = ref->data;
            for (size_t v = 0; v < vxa_volume_voxels(ref); v++) {
                const uint16_t got = ((uint16_t *)buf)[v];
                if (isnan(r[v])) {
                    const int nan = types[t] == VXA_FLOAT16 ? (got & 0x7c00) == 0x7c00 && (got & 0x3ff)
                                                            : (got & 0x7f80) == 0x7f80 && (got & 0x7f);
                    if (!nan) fail_msg("%s: NaN became 0x%04x", vxa_dtype_name(types[t]), got);
                    continue;
                }
                const uint16_t want = types[t] == VXA_FLOAT16 ? ref_f16(r[v]) : ref_bf16(r[v]);
                if (got != want)
                    fail_msg("%s of %a (voxel %zu, seed %llu): 0x%04x, expected 0x%04x", vxa_dtype_name(types[t]),
                             (double)r[v], v, (unsigned long long)vxa_test_seed(), got, want);
            }
        }
        free(buf);
    }
    vxa_volume_free(ref);
    vxa_volume_free(image);
    vxa_pipeline_free(p);
}

static void test_batch_into_equals_runs(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 7;
    enum { N = 3 };
    vxa_volume *img[N], *lab[N], *ri[N], *rl[N];
    for (int s = 0; s < N; s++) inputs(&rng, &img[s], &lab[s]);
    vxa_pipeline *p = vxa_test_parse(SPEC);
    const uint64_t seed = vxa_test_rand(&rng);
    for (int s = 0; s < N; s++)
        if (vxa_pipeline_run(ctx, p, seed, 10 + (uint64_t)s, img[s], lab[s], &ri[s], &rl[s], NULL) != VXA_OK)
            fail_msg("%s", vxa_last_error(ctx));
    int64_t is[5], ls[5];
    dense_strides(ri[0], is);
    dense_strides(rl[0], ls);
    for (int pass = 0; pass < 2; pass++) { /* dense, then bfloat16 samples two volumes apart (gaps between) */
        const vxa_dtype it = pass ? VXA_BFLOAT16 : VXA_FLOAT32;
        if (pass) is[4] *= 2;
        const size_t ib = (size_t)is[4] * N * vxa_dtype_size(it), lb = (size_t)ls[4] * N * 8;
        void *ibuf = calloc(1, ib), *lbuf = calloc(1, lb);
        vxa_buffer bi, bl;
        vxa_buffer_init(&bi, ibuf, ib, it);
        vxa_buffer_init(&bl, lbuf, lb, VXA_INT64);
        if (pass) memcpy(bi.stride, is, sizeof is);
        const vxa_run_options o = run_options(seed, 10);
        vxa_draw *d[N];
        if (vxa_pipeline_run_batch_into(ctx, p, &o, N, (const vxa_volume *const *)img,
                                        (const vxa_volume *const *)lab, &bi, &bl, d) != VXA_OK)
            fail_msg("%s", vxa_last_error(ctx));
        for (int s = 0; s < N; s++) {
            char what[64];
            snprintf(what, sizeof what, "batch sample %d (seed %llu)", s, (unsigned long long)seed);
            expect_image(ri[s], ibuf, it, is, s, what);
            expect_label(rl[s], lbuf, VXA_INT64, ls, s, what);
            assert_non_null(strstr(vxa_draw_json(d[s]), "\"sample\":1"));
            vxa_draw_free(d[s]);
        }
        free(ibuf);
        free(lbuf);
    }
    for (int s = 0; s < N; s++) {
        vxa_volume_free(img[s]);
        vxa_volume_free(lab[s]);
        vxa_volume_free(ri[s]);
        vxa_volume_free(rl[s]);
    }
    vxa_pipeline_free(p);
}

/* ---- errors ------------------------------------------------------------------------------------------------- */
static void expect_into_error(vxa_context *ctx, const vxa_pipeline *p, const vxa_volume *image,
                              const vxa_volume *label, const vxa_buffer *bi, const vxa_buffer *bl, vxa_status want,
                              const char *needle)
{
    vxa_run_options o;
    vxa_run_options_init(&o);
    const vxa_status st = vxa_pipeline_run_into(ctx, p, &o, image, label, bi, bl, NULL);
    if (st != want || !strstr(vxa_last_error(ctx), needle))
        fail_msg("%s (%s), expected %s with \"%s\"", vxa_status_name(st), vxa_last_error(ctx), vxa_status_name(want),
                 needle);
}

static void test_run_into_wrong_buffers_are_clear_errors(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    uint64_t rng = vxa_test_seed();
    vxa_volume *image, *label;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse(SPEC);          /* 21 x 19 x 11, 2 channels */
    const size_t n = 21 * 19 * 11, big = n * 2 * 8;
    void *mem = calloc(1, big), *lmem = calloc(1, big);
    vxa_buffer bi, bl;
    vxa_buffer_init(&bl, lmem, n, VXA_UINT8);
    vxa_buffer_init(&bi, mem, n * 2 * 4 - 1, VXA_FLOAT32);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "needs 35112");
    vxa_buffer_init(&bi, mem, big, VXA_FLOAT64);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "dtype float64");
    vxa_buffer_init(&bi, mem, big, VXA_FLOAT32);
    vxa_buffer_init(&bl, lmem, big, VXA_FLOAT32);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "expected an integer type");
    vxa_buffer_init(&bl, lmem, n, VXA_UINT8);
    expect_into_error(ctx, p, image, label, &bi, NULL, VXA_ERR_INVALID_ARGUMENT, "without out_label");
    const int64_t overlap[5] = { 1, 21, 21 * 19, 21 * 19 * 10, 0 };   /* channel 1 starts inside channel 0 */
    memcpy(bi.stride, overlap, sizeof overlap);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "alias");
    const int64_t zero_j[5] = { 1, 0, 21, 21 * 11, 0 };
    memcpy(bi.stride, zero_j, sizeof zero_j);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "stride[1] (j) = 0");
    const int64_t far[5] = { 1, 21, 21 * 19, 21 * 19 * 11 * 8, 0 };   /* fine strides, past the bytes */
    memcpy(bi.stride, far, sizeof far);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "with these strides needs");
    vxa_buffer_init(&bi, (char *)mem + 1, big - 1, VXA_FLOAT32);
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "not aligned");
    vxa_buffer_init(&bi, mem, big, VXA_FLOAT32);
    bi.size = 8;                               /* a caller that did not init the struct */
    expect_into_error(ctx, p, image, label, &bi, &bl, VXA_ERR_INVALID_ARGUMENT, "out_image.size = 8");
    free(mem);
    free(lmem);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
}

/* ---- the ABI rule ------------------------------------------------------------------------------------------- */
/* The option structs as a caller compiled against 0.1.0's fields lays them out (plus the size member): the
 * library must read only these bytes (each is malloc'd to its exact size, so ASan sees a read past it) and
 * give the same results as with today's structs. */
typedef struct { size_t size; const char *device; const char *kernel_dir; uint64_t max_alloc; } ctx_options_v1;
typedef struct { size_t size; uint64_t seed, sample; vxa_volume **field_out; } run_options_v1;

static void test_caller_built_with_old_struct_layout_still_works(void **state)
{
    (void)state;
    vxa_test_device(); /* skips visibly without a device */
    _Static_assert(sizeof(ctx_options_v1) == VXA_CONTEXT_OPTIONS_SIZE_V1, "0.1.0's context options");
    _Static_assert(sizeof(run_options_v1) == VXA_RUN_OPTIONS_SIZE_V1, "0.1.0's run options");
    ctx_options_v1 *co = malloc(sizeof *co);
    *co = (ctx_options_v1){ sizeof *co, getenv("VOXAUG_DEVICE"), NULL, 0 };
    vxa_context *ctx = NULL;
    if (vxa_context_create((const vxa_context_options *)co, &ctx) != VXA_OK) fail_msg("%s", vxa_last_error(ctx));
    uint64_t rng = vxa_test_seed();
    vxa_volume *image, *label, *a = NULL, *al = NULL, *b = NULL, *bl = NULL, *field = NULL;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse("elastic(sigma=3, alpha=40) zscore crop(20,20,10)");
    run_options_v1 *old = malloc(sizeof *old);
    *old = (run_options_v1){ sizeof *old, 99, 4, &field };
    assert_false(VXA_HAS_FIELD(old, vxa_run_options, cancel));
    assert_true(VXA_HAS_FIELD(old, vxa_run_options, field_out));
    assert_true(VXA_HAS_FIELD(image, vxa_volume, data));
    if (vxa_pipeline_run_ex(ctx, p, (const vxa_run_options *)old, image, label, &a, &al, NULL) != VXA_OK)
        fail_msg("%s", vxa_last_error(ctx));
    assert_non_null(field);
    vxa_volume_free(field);
    vxa_run_options now;
    vxa_run_options_init(&now);
    now.seed = 99;
    now.sample = 4;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, &now, image, label, &b, &bl, NULL), VXA_OK);
    assert_true(vxa_test_identical(a, b));
    assert_true(vxa_test_identical(al, bl));
    /* Into a buffer, too. */
    float *buf = malloc(vxa_volume_bytes(a));
    vxa_buffer bb;
    vxa_buffer_init(&bb, buf, vxa_volume_bytes(a), VXA_FLOAT32);
    old->field_out = NULL;
    if (vxa_pipeline_run_into(ctx, p, (const vxa_run_options *)old, image, NULL, &bb, NULL, NULL) != VXA_OK)
        fail_msg("%s", vxa_last_error(ctx));
    assert_memory_equal(buf, a->data, vxa_volume_bytes(a));
    free(buf);
    vxa_volume_free(a);
    vxa_volume_free(al);
    vxa_volume_free(b);
    vxa_volume_free(bl);

    /* A caller built against a newer header: longer structs. A zero tail is honoured, a set byte refused. */
    struct { vxa_run_options o; uint64_t future; } newer;
    memset(&newer, 0, sizeof newer);
    vxa_run_options_init_size(&newer.o, sizeof newer);
    newer.o.seed = 99;
    newer.o.sample = 4;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, &newer.o, image, label, &a, &al, NULL), VXA_OK);
    vxa_volume_free(a);
    vxa_volume_free(al);
    newer.future = 1;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, &newer.o, image, label, &a, &al, NULL), VXA_ERR_UNSUPPORTED);
    assert_non_null(strstr(vxa_last_error(ctx), "vxa_run_options.size = "));
    assert_null(a);
    /* Uninitialised structs: size 0. */
    old->size = 0;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, (const vxa_run_options *)old, image, label, &a, &al, NULL),
                     VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ctx), "vxa_run_options.size = 0"));
    vxa_volume copy = *image;
    copy.size = 0;
    assert_int_equal(vxa_pipeline_run(ctx, p, 1, 0, &copy, NULL, &a, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ctx), "image.size = 0"));
    vxa_context_destroy(ctx);
    co->size = 4;
    assert_int_equal(vxa_context_create((const vxa_context_options *)co, &ctx), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ctx), "vxa_context_options.size = 4"));
    vxa_context_destroy(ctx);
    free(co);
    free(old);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
}

/* ---- cancellation and the log hook -------------------------------------------------------------------------- */
static int cancel_after(void *user)
{
    int *left = user;
    return (*left)-- <= 0;
}

static void test_cancel_stops_between_passes(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    uint64_t rng = vxa_test_seed();
    vxa_volume *image, *label, *oi = NULL, *ol = NULL;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse(SPEC);        /* passes: the spatial group, the intensity group, the crop */
    vxa_run_options o;
    vxa_run_options_init(&o);
    int left = 1;                         /* the first pass runs, the second is refused */
    o.cancel = cancel_after;
    o.cancel_user = &left;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, &o, image, label, &oi, &ol, NULL), VXA_ERR_CANCELLED);
    assert_null(oi);
    assert_null(ol);
    assert_non_null(strstr(vxa_last_error(ctx), "cancelled by the caller before op"));
    assert_string_equal(vxa_status_name(VXA_ERR_CANCELLED), "VXA_ERR_CANCELLED");
    /* A batch: two samples done, the third refused. Never cancelled: the same context runs on. */
    enum { N = 3 };
    const vxa_volume *imgs[N] = { image, image, image }, *labs[N] = { label, label, label };
    const size_t bytes = 21 * 19 * 11 * 2 * 4 * N;
    void *buf = malloc(bytes);
    vxa_buffer b;
    vxa_buffer_init(&b, buf, bytes, VXA_FLOAT32);
    int passes = 0;   /* count the hook's calls in a batch that is not cancelled */
    left = 1000;
    assert_int_equal(vxa_pipeline_run_batch_into(ctx, p, &o, N, imgs, NULL, &b, NULL, NULL), VXA_OK);
    passes = 1000 - left;
    left = passes / N * 2; /* every check of two samples passes, the third sample's first check stops */
    assert_int_equal(vxa_pipeline_run_batch_into(ctx, p, &o, N, imgs, NULL, &b, NULL, NULL), VXA_ERR_CANCELLED);
    assert_non_null(strstr(vxa_last_error(ctx), "batch sample 2"));
    (void)labs;
    o.cancel = NULL;
    assert_int_equal(vxa_pipeline_run_ex(ctx, p, &o, image, label, &oi, &ol, NULL), VXA_OK);
    free(buf);
    vxa_volume_free(oi);
    vxa_volume_free(ol);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
}

typedef struct { int info, errors; char last[512]; } log_record;

static void record(void *user, vxa_log_level level, const char *message)
{
    log_record *r = user;
    r->info += level == VXA_LOG_INFO;
    r->errors += level == VXA_LOG_ERROR;
    snprintf(r->last, sizeof r->last, "%s", message);
}

static void test_log_hook_hears_device_builds_and_errors(void **state)
{
    (void)state;
    vxa_test_device();
    log_record r = { 0 };
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = getenv("VOXAUG_DEVICE");
    opt.log = record;
    opt.log_user = &r;
    opt.log_level = VXA_LOG_INFO;
    vxa_context *ctx = NULL;
    assert_int_equal(vxa_context_create(&opt, &ctx), VXA_OK);
    assert_int_equal(r.info, 1);                      /* the device chosen */
    assert_non_null(strstr(r.last, "device '"));
    uint64_t rng = vxa_test_seed();
    vxa_volume *image, *label, *oi = NULL, *ol = NULL;
    inputs(&rng, &image, &label);
    vxa_pipeline *p = vxa_test_parse(SPEC);
    assert_int_equal(vxa_pipeline_run(ctx, p, 1, 2, image, label, &oi, &ol, NULL), VXA_OK);
    assert_true(r.info > 1);                          /* programs built, each with its time */
    assert_int_equal(r.errors, 0);
    vxa_buffer b;
    vxa_buffer_init(&b, oi->data, 3, VXA_FLOAT32);
    vxa_run_options o;
    vxa_run_options_init(&o);
    assert_int_equal(vxa_pipeline_run_into(ctx, p, &o, image, NULL, &b, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(r.errors, 1);
    assert_string_equal(r.last, vxa_last_error(ctx));
    vxa_volume_free(oi);
    vxa_volume_free(ol);
    vxa_volume_free(image);
    vxa_volume_free(label);
    vxa_pipeline_free(p);
    vxa_context_destroy(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_converters_know_their_edges),
        cmocka_unit_test(test_run_into_equals_run_for_every_dtype),
        cmocka_unit_test(test_run_into_converts_edge_values),
        cmocka_unit_test(test_batch_into_equals_runs),
        cmocka_unit_test(test_run_into_wrong_buffers_are_clear_errors),
        cmocka_unit_test(test_caller_built_with_old_struct_layout_still_works),
        cmocka_unit_test(test_cancel_stops_between_passes),
        cmocka_unit_test(test_log_hook_hears_device_builds_and_errors),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
