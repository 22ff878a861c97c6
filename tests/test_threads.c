/* SPDX-License-Identifier: MIT */
/* The threading rules of voxaug.h, each shown:
 * - contexts created from several threads at once, as the first OpenCL calls of the process: PoCL's first
 *   enumeration is not thread-safe (seen: crashes in clGetDeviceInfo, or no platform found), so voxaug
 *   serialises it. Nothing else may run before this test in its process;
 * - one pipeline shared by 8 threads, each with its own context, reading the same input volumes, running
 *   into host volumes and into its own caller buffers: every output bit-identical to a serial run.
 * scripts/test.sh also runs this file under ThreadSanitizer (build-tsan). */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* only now, after the cold start: no OpenCL at all (or VOXAUG_DEVICE=reference, whose contexts prove nothing
     * here) skips visibly, or fails under VOXAUG_REQUIRE_DEVICE=1 */
    vxa_test_device();
    if (ok != N) fail_msg("%d of %d threads could not create a context", N - ok, N);
}

enum { THREADS = 8, PER_THREAD = 2 };

typedef struct {
    const vxa_pipeline *p;           /* shared by every thread */
    const vxa_volume *image, *label; /* shared, only read */
    uint64_t seed;
    int first;                       /* this thread's samples: first, first + THREADS, ... */
    vxa_volume *out[PER_THREAD], *lab[PER_THREAD];
    float *into[PER_THREAD];         /* run_into's buffer, the same output as float32 */
    size_t into_bytes;
    vxa_status st;
    char err[512];
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    vxa_context *ctx = NULL;
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = getenv("VOXAUG_DEVICE");
    if ((w->st = vxa_context_create(&opt, &ctx)) != VXA_OK) goto done;
    for (int r = 0; r < PER_THREAD && w->st == VXA_OK; r++) {
        const uint64_t sample = (uint64_t)(w->first + r * THREADS);
        if ((w->st = vxa_pipeline_run(ctx, w->p, w->seed, sample, w->image, w->label, &w->out[r], &w->lab[r],
                                      NULL)) != VXA_OK)
            break;
        if (!(w->into[r] = malloc(w->into_bytes))) {
            w->st = VXA_ERR_OUT_OF_MEMORY;
            break;
        }
        vxa_buffer b;
        vxa_buffer_init(&b, w->into[r], w->into_bytes, VXA_FLOAT32);
        vxa_run_options o;
        vxa_run_options_init(&o);
        o.seed = w->seed;
        o.sample = sample;
        w->st = vxa_pipeline_run_into(ctx, w->p, &o, w->image, NULL, &b, NULL, NULL);
    }
done:
    if (w->st != VXA_OK) snprintf(w->err, sizeof w->err, "%s", vxa_last_error(ctx));
    vxa_context_destroy(ctx);
    return NULL;
}

static void test_shared_pipeline_from_8_threads_equals_serial(void **state)
{
    (void)state;
    vxa_context *serial = vxa_test_device();
    uint64_t rng = vxa_test_seed();
    const int64_t dim[3] = { 37, 33, 21 };
    vxa_volume *image = vxa_test_smooth_volume(dim, &rng), *label = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, &label), VXA_OK);
    for (size_t v = 0; v < vxa_volume_voxels(label); v++)
        ((uint8_t *)label->data)[v] = (uint8_t)(((const float *)image->data)[v] / 200.0f);
    vxa_pipeline *p = NULL;
    char err[256];
    assert_int_equal(vxa_pipeline_parse("flip(axes=0,1,2) rotate([-20,20], plane=0,1) zoom([0.8,1.2]) "
                                        "elastic(alpha=30, sigma=4, mode=fast) pclip(1,99) zscore noise(0.1) "
                                        "crop(24,24,16)", &p, err, sizeof err), VXA_OK);
    const size_t into_bytes = 24 * 24 * 16 * sizeof(float);
    worker w[THREADS];
    pthread_t th[THREADS];
    memset(w, 0, sizeof w);
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){ .p = p, .image = image, .label = label, .seed = rng, .first = t, .into_bytes = into_bytes };
        assert_int_equal(pthread_create(&th[t], NULL, run_worker, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    int same = 0;
    for (int t = 0; t < THREADS; t++) {
        if (w[t].st != VXA_OK) fail_msg("thread %d: %s: %s", t, vxa_status_name(w[t].st), w[t].err);
        for (int r = 0; r < PER_THREAD; r++) {
            vxa_volume *out = NULL, *lab = NULL;
            const uint64_t sample = (uint64_t)(t + r * THREADS);
            assert_int_equal(vxa_pipeline_run(serial, p, rng, sample, image, label, &out, &lab, NULL), VXA_OK);
            if (!vxa_test_identical(out, w[t].out[r]) || !vxa_test_identical(lab, w[t].lab[r]) ||
                memcmp(out->data, w[t].into[r], into_bytes) != 0)
                fail_msg("thread %d, sample %llu of seed %llu: differs from the serial run", t,
                         (unsigned long long)sample, (unsigned long long)rng);
            same += 3;
            vxa_volume_free(out);
            vxa_volume_free(lab);
            vxa_volume_free(w[t].out[r]);
            vxa_volume_free(w[t].lab[r]);
            free(w[t].into[r]);
        }
    }
    print_message("%d outputs of %d threads (one shared pipeline, own contexts) identical to serial runs\n", same,
                  THREADS);
    vxa_pipeline_free(p);
    vxa_volume_free(image);
    vxa_volume_free(label);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_contexts_created_concurrently_from_cold),
                                        cmocka_unit_test(test_shared_pipeline_from_8_threads_equals_serial) };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
