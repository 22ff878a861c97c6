/* SPDX-License-Identifier: MIT */
/* Philox4x32-10 against the published Random123 known answers, in C and on the device, and the uniform
 * mappings vxa_u01 / vxa_u01_sym: bounds and exactness, device equal to C bit for bit. */
#include "testutil.h"
#include "elastic.h"
#include "shared/philox.h"

#include <math.h>
#include <string.h>

/* Rows: counter[4], key[2], expected[4]. The first three are the "philox4x32 10" lines of Random123's
 * tests/kat_vectors (zeros, all ones, digits of pi); the others are "philox4x32 10" lines of the Random123
 * manual's examples/kat_vectors (single-bit counters and keys, which exercise the key schedule). */
static const uint32_t kat[][10] = {
    { 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000,
      0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
    { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
    { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
    { 0x00000001, 0x00000000, 0x00000000, 0x00000000, 0x00000001, 0x00000000,
      0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093 },
    { 0x00000000, 0x00000000, 0x00000000, 0x80000000, 0x00000000, 0x80000000,
      0xf7a0b371, 0xe51dc93d, 0x56ce135d, 0x1d4b5580 },
    { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0x00000000, 0xffffffff,
      0x08f7720c, 0x845ee9e0, 0x502ccd3d, 0xa9a00e27 },
};
#define NKAT (sizeof kat / sizeof kat[0])

static void test_philox_c_known_answers(void **state)
{
    (void)state;
    for (size_t r = 0; r < NKAT; r++) {
        vxa_philox4 c;
        memcpy(c.v, kat[r], sizeof c.v);
        const vxa_philox4 x = vxa_philox4x32_10(c, kat[r][4], kat[r][5]);
        for (int w = 0; w < 4; w++)
            if (x.v[w] != kat[r][6 + w])
                fail_msg("known answer %zu word %d: got %08x, expected %08x", r, w, x.v[w], kat[r][6 + w]);
    }
}

static void test_philox_device_known_answers(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint32_t in[NKAT][6], out[NKAT][4];
    for (size_t r = 0; r < NKAT; r++) memcpy(in[r], kat[r], sizeof in[r]);
    if (vxa_philox_device_words(dev, &in[0][0], NKAT, &out[0][0]) != VXA_OK) fail_msg("%s", vxa_last_error(dev));
    for (size_t r = 0; r < NKAT; r++)
        for (int w = 0; w < 4; w++)
            if (out[r][w] != kat[r][6 + w])
                fail_msg("device known answer %zu word %d: got %08x, expected %08x", r, w, out[r][w], kat[r][6 + w]);
}

/* Many random counters and keys: the device's words equal C's. */
static void test_philox_device_equals_c(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed();
    enum { N = 4099 };
    static uint32_t in[N][6], out[N][4];
    for (int r = 0; r < N; r++)
        for (int w = 0; w < 6; w++) in[r][w] = (uint32_t)vxa_test_rand(&rng);
    if (vxa_philox_device_words(dev, &in[0][0], N, &out[0][0]) != VXA_OK) fail_msg("%s", vxa_last_error(dev));
    for (int r = 0; r < N; r++) {
        vxa_philox4 c;
        memcpy(c.v, in[r], sizeof c.v);
        const vxa_philox4 x = vxa_philox4x32_10(c, in[r][4], in[r][5]);
        assert_memory_equal(x.v, out[r], sizeof x.v);
    }
}

/* voxaug's keying: key = seed, counter = (block, stream, sample low, sample high); checked on the published
 * vectors rather than against the function itself. */
static void test_philox_block_keying(void **state)
{
    (void)state;
    const vxa_philox4 z = vxa_philox_block(0, 0, 0, 0);
    const vxa_philox4 o = vxa_philox_block(UINT64_MAX, UINT64_MAX, UINT32_MAX, UINT32_MAX);
    const vxa_philox4 p = vxa_philox_block(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3u, 0x243f6a88u);
    assert_memory_equal(z.v, &kat[0][6], sizeof z.v);
    assert_memory_equal(o.v, &kat[1][6], sizeof o.v);
    assert_memory_equal(p.v, &kat[2][6], sizeof p.v);
}

/* The words whose mapping is checked: the ends, the 8-bit boundary, and random ones. */
static void edge_words(uint32_t *w, size_t n, uint64_t *rng)
{
    const uint32_t fixed[] = { 0, 1, 0xff, 0x100, 0x1ff, 0x7fffffff, 0x80000000, 0x800000ff, 0xfffffeff,
                               0xffffff00, 0xffffffff };
    for (size_t i = 0; i < n; i++)
        w[i] = i < sizeof fixed / sizeof fixed[0] ? fixed[i] : (uint32_t)vxa_test_rand(rng);
}

/* u = (x >> 8)·2^-24 exactly, in [0, 1); 2u − 1 exactly, in [−1, 1); the ends are hit. */
static void test_uniform_bounds_and_exactness(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 1;
    enum { N = 100000 };
    static uint32_t w[N];
    edge_words(w, N, &rng);
    for (size_t i = 0; i < N; i++) {
        const double exact = (double)(w[i] >> 8) / 16777216.0;
        const float u = vxa_u01(w[i]), s = vxa_u01_sym(w[i]);
        if ((double)u != exact || (double)s != 2.0 * exact - 1.0)
            fail_msg("word %08x: u01 %.9g sym %.9g, expected %.17g and %.17g", w[i], u, s, exact, 2 * exact - 1);
        assert_true(u >= 0.0f && u < 1.0f);
        assert_true(s >= -1.0f && s < 1.0f);
    }
    assert_true(vxa_u01(0) == 0.0f && vxa_u01(0xff) == 0.0f);
    assert_true(vxa_u01_sym(0) == -1.0f);
    assert_true((double)vxa_u01(0xffffffff) == 1.0 - 0x1p-24);
    assert_true((double)vxa_u01_sym(0xffffffff) == 1.0 - 0x1p-23);
}

static void test_uniform_device_equals_c(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 2;
    enum { N = 10007 };
    static uint32_t w[N];
    static float u[N], s[N];
    edge_words(w, N, &rng);
    if (vxa_philox_device_uniform(dev, w, N, u, s) != VXA_OK) fail_msg("%s", vxa_last_error(dev));
    for (size_t i = 0; i < N; i++) {
        const float cu = vxa_u01(w[i]), cs = vxa_u01_sym(w[i]);
        if (memcmp(&cu, &u[i], 4) != 0 || memcmp(&cs, &s[i], 4) != 0)
            fail_msg("word %08x: device %.9g %.9g, C %.9g %.9g", w[i], u[i], s[i], cu, cs);
    }
}

/* The device hooks refuse the reference path and an empty request with a clear error. */
static void test_device_hooks_reject_bad_use(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    uint32_t in[6] = { 0 }, out[4];
    assert_int_equal(vxa_philox_device_words(ref, in, 1, out), VXA_ERR_UNSUPPORTED);
    assert_non_null(strstr(vxa_last_error(ref), "reference"));
    vxa_context *dev = vxa_test_device();
    assert_int_equal(vxa_philox_device_words(dev, in, 0, out), VXA_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_c_known_answers),
        cmocka_unit_test(test_philox_block_keying),
        cmocka_unit_test(test_uniform_bounds_and_exactness),
        cmocka_unit_test(test_philox_device_known_answers),
        cmocka_unit_test(test_philox_device_equals_c),
        cmocka_unit_test(test_uniform_device_equals_c),
        cmocka_unit_test(test_device_hooks_reject_bad_use),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
