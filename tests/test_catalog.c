/* SPDX-License-Identifier: MIT */
/* What bindings read from the library: vxa_ops_json's buffer contract and contents, and vxa_item_sample against
 * the formula voxaug.h documents, rebuilt here from published known answers (FNV-1a 64, splitmix64). */
#include "testutil.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_ops_json_sizes_and_truncation(void **state)
{
    (void)state;
    size_t need = 0;
    assert_int_equal(vxa_ops_json(NULL, 0, &need), VXA_ERR_INVALID_ARGUMENT);
    assert_true(need > 100);
    char *buf = malloc(need);
    assert_non_null(buf);
    size_t again = 0;
    assert_int_equal(vxa_ops_json(buf, need, &again), VXA_OK);
    assert_int_equal(again, need);
    assert_int_equal(strlen(buf), need - 1);
    /* One byte short: an error, and still a terminated (truncated) string. */
    memset(buf, 'x', need);
    assert_int_equal(vxa_ops_json(buf, need - 1, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(strlen(buf), need - 2);
    assert_int_equal(vxa_ops_json(buf, need, NULL), VXA_OK);
    /* Every op of the table, in order, each once by name. */
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);
    const char *at = strstr(buf, "{\"name\":\"sampling\"");
    assert_non_null(at);
    for (int i = 0; i < n; i++) {
        char key[80];
        snprintf(key, sizeof key, "{\"name\":\"%s\",\"kind\":", t[i]->name);
        const char *next = strstr(at, key);
        if (!next) fail_msg("op %s missing from the JSON (or out of order)", t[i]->name);
        at = next;
    }
    free(buf);
}

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t splitmix_finaliser(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_item_sample_is_the_documented_formula(void **state)
{
    (void)state;
    /* The helpers against published answers: FNV-1a 64 of "", "a", "foobar" (the FNV authors' test suite), and
     * the first output of splitmix64 seeded with 0 (= finaliser of the golden gamma). */
    assert_true(fnv1a64("") == 0xcbf29ce484222325ull);
    assert_true(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
    assert_true(fnv1a64("foobar") == 0x85944171f73967e8ull);
    assert_true(splitmix_finaliser(0x9e3779b97f4a7c15ull) == 0xe220a8397b1dcdafull);
    const char *names[] = { "", "a", "sub-01/anat/t1.nii.gz", "caf\xc3\xa9.nii", "ch2.nii.gz" };
    const uint64_t copies[] = { 0, 1, 2, 7, 1000000007, UINT64_MAX };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (size_t c = 0; c < sizeof copies / sizeof copies[0]; c++) {
            const uint64_t want = splitmix_finaliser(fnv1a64(names[i]) ^ (copies[c] * 0x9e3779b97f4a7c15ull));
            if (vxa_item_sample(names[i], copies[c]) != want)
                fail_msg("vxa_item_sample(\"%s\", %llu) differs from the documented formula", names[i],
                         (unsigned long long)copies[c]);
        }
    assert_true(vxa_item_sample(NULL, 3) == vxa_item_sample("", 3));
    /* Copies of one item, and items differing by one byte, get different samples. */
    assert_true(vxa_item_sample("a.nii", 0) != vxa_item_sample("a.nii", 1));
    assert_true(vxa_item_sample("a.nii", 0) != vxa_item_sample("b.nii", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_json_sizes_and_truncation),
        cmocka_unit_test(test_item_sample_is_the_documented_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
