/* SPDX-License-Identifier: MIT */
/* Contexts created from several threads at once, as the first OpenCL calls of the process: PoCL's first
 * enumeration is not thread-safe (seen: crashes in clGetDeviceInfo, or no platform found), so voxaug
 * serialises it. Nothing else may run before this test in its process. */
#include "testutil.h"

#include <pthread.h>

static void *create_destroy(void *arg)
{
    vxa_status *st = arg;
    for (int i = 0; i < 3 && *st == VXA_OK; i++) {
        vxa_context *ctx = NULL;
        *st = vxa_context_create(NULL, &ctx);
        vxa_context_destroy(ctx);
    }
    return NULL;
}

static void test_contexts_created_concurrently_from_cold(void **state)
{
    (void)state;
    enum { N = 6 };
    pthread_t th[N];
    vxa_status st[N];
    for (int t = 0; t < N; t++) {
        st[t] = VXA_OK;
        assert_int_equal(pthread_create(&th[t], NULL, create_destroy, &st[t]), 0);
    }
    for (int t = 0; t < N; t++) pthread_join(th[t], NULL);
    int ok = 0;
    for (int t = 0; t < N; t++) ok += st[t] == VXA_OK;
    if (ok != N) {
        vxa_test_device(); /* no OpenCL at all: skip visibly (or fail under VOXAUG_REQUIRE_DEVICE=1) */
        fail_msg("%d of %d threads could not create a context", N - ok, N);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_contexts_created_concurrently_from_cold) };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    vxa_test_contexts_free();
    return rc;
}
