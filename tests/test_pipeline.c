/* SPDX-License-Identifier: MIT */
/* The spec parser, per-sample draws and pipeline execution: fusion into one pass, reproducibility across
 * devices and batch sizes, labels, geometry and errors. */
#include "testutil.h"
#include "pipeline.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void expect_parse_error(const char *spec, const char *needle, int column)
{
    char err[2048] = "";
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse(spec, &p, err, sizeof err), VXA_ERR_PARSE);
    assert_null(p);
    if (!strstr(err, needle)) fail_msg("error for '%s' lacks '%s':\n%s", spec, needle, err);
    char col[32];
    snprintf(col, sizeof col, "column %d:", column);
    if (column > 0 && !strstr(err, col)) fail_msg("error for '%s' does not point at %s:\n%s", spec, col, err);
}

static void test_parse_errors_name_the_token(void **state)
{
    (void)state;
    expect_parse_error("rotat(15)", "unknown op 'rotat'", 1);
    expect_parse_error("zoom(1.1) rotate(abc)", "'abc' is not a value of angle", 18);
    expect_parse_error("rotate(15, plane=0,1,2)", "too many values for 'plane'", 22);
    expect_parse_error("crop([100,120],128,128)", "takes a fixed value, not a range", 6);
    expect_parse_error("zoom(1.1, foo=2)", "has no parameter 'foo'", 11);
    expect_parse_error("zoom(1.1", "expected ',' or ')'", 9);
    expect_parse_error("zoom([1.2,1.1])", "hi < lo", 6);
    expect_parse_error("zoom(1.1, p=2)", "outside [0, 1]", 13);
    expect_parse_error("sampling(mode=wrap)", "one of: constant, nearest, reflect", 15);
    expect_parse_error("zoom(1.1, 1.2)", "'z' takes 1 or 3 values, got 2", 1);
    expect_parse_error("flip(0) rotate(15, plane=2,2)", "rotate: plane must name two different axes", 9);
    expect_parse_error("minmax(1)", "minmax takes at most 0 positional parameter(s)", 8);
}

static void test_parse_normalises_and_round_trips(void **state)
{
    (void)state;
    vxa_pipeline *p = vxa_test_parse("rotate( 15 , plane = 0,1 ) ; zoom([0.9, 1.1], p=0.5)|crop(64)");
    const char *text = vxa_pipeline_string(p);
    vxa_pipeline *q = vxa_test_parse(text);
    assert_string_equal(text, vxa_pipeline_string(q));
    assert_non_null(strstr(text, "p=0.5"));
    assert_int_equal(p->nops, 3);
    vxa_pipeline_free(p);
    vxa_pipeline_free(q);
}

/* The same (seed, sample) draws the same values; another sample draws others; ranges are respected. */
static void test_draws_depend_only_on_seed_sample_op(void **state)
{
    (void)state;
    vxa_pipeline *p = vxa_test_parse("rotate([-15,15], plane=0,1) zoom([0.9,1.1], p=0.5)");
    int differ = 0, applied_count = 0;
    for (uint64_t s = 0; s < 200; s++) {
        vxa_op_values a, b, c;
        bool aa, ab, ac;
        vxa_op_draw(&p->ops[0], 42, s, 0, &a, &aa);
        vxa_op_draw(&p->ops[0], 42, s, 0, &b, &ab);
        vxa_op_draw(&p->ops[0], 42, s + 1, 0, &c, &ac);
        assert_true(a.v[0][0] == b.v[0][0] && aa == ab);
        assert_true(a.v[0][0] >= -15 && a.v[0][0] <= 15);
        differ += a.v[0][0] != c.v[0][0];
        vxa_op_draw(&p->ops[1], 42, s, 1, &a, &aa);
        applied_count += aa;
        assert_true(a.v[0][0] >= 0.9 && a.v[0][0] <= 1.1);
        assert_true(a.v[0][1] == a.v[0][0] && a.v[0][2] == a.v[0][0]); /* one range: isotropic */
    }
    assert_true(differ > 190);
    assert_true(applied_count > 60 && applied_count < 140); /* p = 0.5 over 200 draws */
    vxa_pipeline_free(p);
}

static vxa_volume *run_ok(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed, uint64_t sample,
                          const vxa_volume *img, const vxa_volume *lab, vxa_volume **olab)
{
    vxa_volume *out = NULL;
    vxa_status st = vxa_pipeline_run(ctx, p, seed, sample, img, lab, &out, olab, NULL);
    if (st != VXA_OK) fail_msg("run on %s: %s: %s", vxa_context_device_name(ctx), vxa_status_name(st), vxa_last_error(ctx));
    return out;
}

/* A chain of spatial ops is one resampling launch for the image and one for the label map. */
static void test_spatial_chain_is_one_resampling_pass(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed();
    const int64_t dim[3] = { 23, 19, 17 };
    vxa_volume *img = vxa_test_random_volume(dim, 1, VXA_INT16, &rng);
    vxa_volume *lab = vxa_test_random_volume(dim, 1, VXA_UINT8, &rng);
    vxa_pipeline *p = vxa_test_parse("flip(axes=0) rotate(20, plane=0,1) zoom(1.2) shift(1.5) rotate(-7, plane=1,2) crop(11,13,9)");
    for (int c = 0; c < 2; c++) {
        const uint64_t before = vxa_context_launches(ctxs[c], "vxa_resample");
        vxa_volume *olab = NULL;
        vxa_volume *out = run_ok(ctxs[c], p, 1, 0, img, lab, &olab);
        assert_int_equal(vxa_context_launches(ctxs[c], "vxa_resample") - before, 2); /* image + labels */
        assert_int_equal(out->dim[0], 11);
        assert_int_equal(out->dim[1], 13);
        assert_int_equal(out->dim[2], 9);
        vxa_volume_free(out);
        vxa_volume_free(olab);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_pipeline_free(p);
}

/* Device and reference give the same labels bit for bit and images within 1e-4 of the range, for random
 * pipelines over several samples; labels stay within the input's label set. */
static void test_device_equals_reference_and_labels_stay_in_set(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 7;
    const int64_t dim[3] = { 31, 29, 23 };
    vxa_volume *img = vxa_test_smooth_volume(dim, &rng);
    vxa_volume *lab = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, &lab), VXA_OK);
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++)
                vxa_volume_set(lab, i, j, k, 0, (double)(3 * ((i / 7 + j / 5 + k / 4) % 4)));  /* {0,3,6,9} */
    vxa_pipeline *p = vxa_test_parse("flip(axes=0,1,2, p=0.5) rotate([-30,30], plane=0,1) rotate([-10,10], plane=1,2) "
                               "zoom([0.8,1.25]) random_crop(20,20,16)");
    const double tol = 1e-4 * vxa_test_range(img);
    for (uint64_t s = 0; s < 6; s++) {
        vxa_volume *dl = NULL, *rl = NULL;
        vxa_volume *d = run_ok(dev, p, 99, s, img, lab, &dl);
        vxa_volume *r = run_ok(ref, p, 99, s, img, lab, &rl);
        double diff = vxa_test_max_abs_diff(d, r);
        if (diff > tol) fail_msg("sample %llu: image differs by %g > %g", (unsigned long long)s, diff, tol);
        assert_true(vxa_test_identical(dl, rl));
        for (size_t i = 0; i < vxa_volume_voxels(dl); i++) {
            uint8_t v = ((uint8_t *)dl->data)[i];
            assert_true(v == 0 || v == 3 || v == 6 || v == 9);
        }
        vxa_volume_free(d);
        vxa_volume_free(r);
        vxa_volume_free(dl);
        vxa_volume_free(rl);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_pipeline_free(p);
}

/* A batch gives each sample what a single run gives. */
static void test_batch_equals_single_runs(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 9;
    const int64_t dim[3] = { 17, 19, 13 };
    vxa_volume *img = vxa_test_smooth_volume(dim, &rng);
    vxa_pipeline *p = vxa_test_parse("rotate([-20,20], plane=0,2) zoom([0.9,1.1]) flip(axes=1, p=0.5)");
    const vxa_volume *imgs[4] = { img, img, img, img };
    vxa_volume *outs[4];
    assert_int_equal(vxa_pipeline_run_batch(dev, p, 5, 10, 4, imgs, NULL, outs, NULL, NULL), VXA_OK);
    for (int i = 0; i < 4; i++) {
        vxa_volume *single = run_ok(dev, p, 5, 10 + (uint64_t)i, img, NULL, NULL);
        assert_true(vxa_test_identical(single, outs[i]));
        vxa_volume_free(single);
        vxa_volume_free(outs[i]);
    }
    vxa_volume_free(img);
    vxa_pipeline_free(p);
}

/* The batch with transfers on a second queue (what a GPU runs; VOXAUG_BATCH_OVERLAP=1 takes it on PoCL): each
 * sample, label map and draw equal a single run's, bit for bit, for batch sizes 2, 3 and 5, samples of
 * different shapes and types in one batch, a label map missing from one, and statistics (zscore) read back in the
 * middle of a sample. A batch that fails leaves every output NULL. */
static void test_batch_overlapped_equals_single_runs(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 10;
    const int64_t dims[5][3] = { { 17, 19, 13 }, { 23, 11, 29 }, { 1, 31, 7 }, { 17, 19, 13 }, { 30, 29, 31 } };
    vxa_volume *img[5], *lab[5];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(vxa_phantom(dims[i], NULL, &lab[i]), VXA_OK);
        img[i] = vxa_test_random_volume(dims[i], 1 + i % 2, i % 2 ? VXA_INT16 : VXA_FLOAT32, &rng);
        memcpy(img[i]->affine, lab[i]->affine, sizeof img[i]->affine);
        memcpy(img[i]->spacing, lab[i]->spacing, sizeof img[i]->spacing);
    }
    vxa_pipeline *p = vxa_test_parse("flip(axes=0,1,2, p_axis=0.5) rotate([-20,20], plane=0,1) "
                               "elastic(alpha=300, sigma=9, mode=fast) zscore noise(0.1) random_crop(12,10,6)");
    setenv("VOXAUG_BATCH_OVERLAP", "1", 1);
    const size_t sizes[3] = { 2, 3, 5 };
    for (int b = 0; b < 3; b++) {
        const size_t n = sizes[b];
        const vxa_volume *imgs[5], *labs[5];
        vxa_volume *outs[5], *olabs[5];
        vxa_draw *draws[5];
        for (size_t i = 0; i < n; i++) {
            imgs[i] = img[(i + (size_t)b) % 5];
            labs[i] = i == 1 ? NULL : lab[(i + (size_t)b) % 5];
        }
        if (vxa_pipeline_run_batch(dev, p, 21, 100 * (uint64_t)b, n, imgs, labs, outs, olabs, draws) != VXA_OK)
            fail_msg("batch of %zu: %s", n, vxa_last_error(dev));
        for (size_t i = 0; i < n; i++) {
            vxa_volume *single = NULL, *slab = NULL;
            vxa_draw *d = NULL;
            if (vxa_pipeline_run(dev, p, 21, 100 * (uint64_t)b + i, imgs[i], labs[i], &single, labs[i] ? &slab : NULL,
                                 &d) != VXA_OK)
                fail_msg("single run: %s", vxa_last_error(dev));
            assert_true(vxa_test_identical(single, outs[i]));
            if (labs[i]) assert_true(vxa_test_identical(slab, olabs[i]));
            else assert_null(olabs[i]);
            assert_string_equal(vxa_draw_json(d), vxa_draw_json(draws[i]));
            vxa_volume_free(single);
            vxa_volume_free(slab);
            vxa_draw_free(d);
            vxa_volume_free(outs[i]);
            vxa_volume_free(olabs[i]);
            vxa_draw_free(draws[i]);
        }
    }
    /* a sample whose crop does not fit fails the batch: nothing is left behind */
    vxa_pipeline *bad = vxa_test_parse("zscore crop(20,20,20)");
    const vxa_volume *imgs[3] = { img[4], img[2], img[0] };
    vxa_volume *outs[3];
    assert_int_not_equal(vxa_pipeline_run_batch(dev, bad, 1, 0, 3, imgs, NULL, outs, NULL, NULL), VXA_OK);
    for (int i = 0; i < 3; i++) assert_null(outs[i]);
    unsetenv("VOXAUG_BATCH_OVERLAP");
    vxa_pipeline_free(bad);
    vxa_pipeline_free(p);
    for (int i = 0; i < 5; i++) {
        vxa_volume_free(img[i]);
        vxa_volume_free(lab[i]);
    }
}

/* Two threads, each with its own context, produce what one thread produces, sample for sample. */
typedef struct {
    const vxa_pipeline *p;
    const vxa_volume *img, *lab;
    uint64_t first;
    vxa_volume *out[4], *olab[4];
    vxa_status st;
} thread_job;

static void *thread_run(void *arg)
{
    thread_job *t = arg;
    vxa_context *ctx = NULL;
    t->st = vxa_context_create(NULL, &ctx);
    for (uint64_t s = 0; s < 4 && t->st == VXA_OK; s += 2) /* samples first, first + 2 */
        t->st = vxa_pipeline_run(ctx, t->p, 77, t->first + s, t->img, t->lab, &t->out[s], &t->olab[s], NULL);
    vxa_context_destroy(ctx);
    return NULL;
}

static void test_threads_with_own_contexts_reproduce_single_thread(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 13;
    const int64_t dim[3] = { 21, 18, 15 };
    vxa_volume *img = vxa_test_smooth_volume(dim, &rng);
    vxa_volume *lab = vxa_test_random_volume(dim, 1, VXA_INT16, &rng);
    vxa_pipeline *p = vxa_test_parse("rotate([-25,25], plane=0,1) zoom([0.8,1.2]) flip(axes=0,2, p_axis=0.5) random_crop(16,16,12)");
    thread_job jobs[2] = { { .p = p, .img = img, .lab = lab, .first = 0 }, { .p = p, .img = img, .lab = lab, .first = 1 } };
    pthread_t th[2];
    for (int t = 0; t < 2; t++) assert_int_equal(pthread_create(&th[t], NULL, thread_run, &jobs[t]), 0);
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 2; t++) assert_int_equal(jobs[t].st, VXA_OK);
    for (uint64_t s = 0; s < 4; s++) {
        thread_job *t = &jobs[s % 2];
        vxa_volume *olab = NULL;
        vxa_volume *single = run_ok(dev, p, 77, s, img, lab, &olab);
        assert_true(vxa_test_identical(single, t->out[s - s % 2]));
        assert_true(vxa_test_identical(olab, t->olab[s - s % 2]));
        vxa_volume_free(single);
        vxa_volume_free(olab);
    }
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 4; s += 2) {
            vxa_volume_free(jobs[t].out[s]);
            vxa_volume_free(jobs[t].olab[s]);
        }
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_pipeline_free(p);
}

/* With sampling(geometry=track) the output affine places each output voxel where the input affine and the
 * transform say: the output overlays the input in world space (MONAI's convention). */
static void test_output_affine_is_true_world_geometry(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 20, 24, 16 };
    vxa_volume *img = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &img), VXA_OK);
    const double spacing[3] = { 1.5, 0.9, 2.0 };
    vxa_volume_set_spacing(img, spacing);
    img->affine[0][1] = 0.2; /* a sheared, non-diagonal affine */
    /* value = world x coordinate of the voxel centre: a linear function, reproduced exactly by trilinear
     * interpolation inside the grid, so the output voxel's value must be its own world x. */
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++)
                vxa_volume_set(img, i, j, k, 0, img->affine[0][0] * i + img->affine[0][1] * j + img->affine[0][2] * k +
                                                img->affine[0][3]);
    vxa_pipeline *p = vxa_test_parse("sampling(geometry=track) rotate(10, plane=0,1) zoom(1.3) center_crop(10,12,8)");
    vxa_volume *out = run_ok(ref, p, 0, 0, img, NULL, NULL);
    int checked = 0;
    for (int64_t k = 0; k < out->dim[2]; k++)
        for (int64_t j = 0; j < out->dim[1]; j++)
            for (int64_t i = 0; i < out->dim[0]; i++) {
                double x = out->affine[0][0] * i + out->affine[0][1] * j + out->affine[0][2] * k + out->affine[0][3];
                double got = vxa_volume_get(out, i, j, k, 0);
                if (fabs(got - x) > 1e-3) fail_msg("voxel %lld,%lld,%lld: value %g, world x %g", (long long)i,
                                                   (long long)j, (long long)k, got, x);
                checked++;
            }
    assert_int_equal(checked, 10 * 12 * 8);
    vxa_volume_free(img);
    vxa_volume_free(out);
    vxa_pipeline_free(p);
}

/* By default (SPEC "Geometry") augmentation ops move the content and keep the grid: on a sheared, anisotropic
 * grid whose voxels hold their own world x, rotate(10) zoom(1.3) center_crop(...) gives the crop's grid
 * (input affine · the crop's translation, bit for bit) and at output voxel o the world x of input position
 * p = S⁻¹RS·Z·(o + q - c) + c: rotation and zoom in millimetres about the centre, worked out here from SPEC. */
static void test_augmentation_moves_content_keeps_grid(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 20, 24, 16 }, m[3] = { 10, 12, 8 };
    vxa_volume *img = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &img), VXA_OK);
    const double sp[3] = { 1.5, 0.9, 2.0 };
    vxa_volume_set_spacing(img, sp);
    img->affine[0][1] = 0.2;
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++)
                vxa_volume_set(img, i, j, k, 0, img->affine[0][0] * i + img->affine[0][1] * j + img->affine[0][2] * k +
                                                img->affine[0][3]);
    vxa_pipeline *p = vxa_test_parse("rotate(10, plane=0,1) zoom(1.3) center_crop(10,12,8)");
    vxa_volume *out = run_ok(ref, p, 0, 0, img, NULL, NULL);
    double q[3], c[3];
    for (int a = 0; a < 3; a++) {
        q[a] = floor((double)(dim[a] - m[a]) / 2);
        c[a] = (double)(dim[a] - 1) / 2;
    }
    for (int r = 0; r < 4; r++)
        for (int col = 0; col < 4; col++) {
            double want = img->affine[r][col];
            if (col == 3)
                for (int a = 0; a < 3; a++) want += img->affine[r][a] * q[a];
            if (out->affine[r][col] != want) fail_msg("affine[%d][%d] = %.17g, expected %.17g (the crop's grid)", r, col,
                                                      out->affine[r][col], want);
        }
    const double th = 10 * 3.14159265358979323846 / 180, cs = cos(th), sn = sin(th);
    const double R[2][2] = { { cs, sn }, { -sn, cs } };   /* ndimage.rotate's pull matrix in mm */
    int checked = 0;
    for (int64_t k = 0; k < m[2]; k++)
        for (int64_t j = 0; j < m[1]; j++)
            for (int64_t i = 0; i < m[0]; i++) {
                const double o[3] = { (double)i + q[0], (double)j + q[1], (double)k + q[2] };
                double xmm[3], pin[3];
                for (int a = 0; a < 3; a++) xmm[a] = sp[a] * (o[a] - c[a]) / 1.3;   /* zoom, then mm */
                pin[0] = c[0] + (R[0][0] * xmm[0] + R[0][1] * xmm[1]) / sp[0];
                pin[1] = c[1] + (R[1][0] * xmm[0] + R[1][1] * xmm[1]) / sp[1];
                pin[2] = c[2] + xmm[2] / sp[2];
                if (pin[0] < 0 || pin[1] < 0 || pin[2] < 0 || pin[0] > (double)dim[0] - 1 ||
                    pin[1] > (double)dim[1] - 1 || pin[2] > (double)dim[2] - 1)
                    continue;
                const double x = img->affine[0][0] * pin[0] + img->affine[0][1] * pin[1] + img->affine[0][2] * pin[2] +
                                 img->affine[0][3];
                const double got = vxa_volume_get(out, i, j, k, 0);
                if (fabs(got - x) > 1e-3) fail_msg("voxel %lld,%lld,%lld: value %g, expected the world x %g of input "
                                                   "position (%g, %g, %g)", (long long)i, (long long)j, (long long)k,
                                                   got, x, pin[0], pin[1], pin[2]);
                checked++;
            }
    assert_true(checked > 500);
    vxa_volume_free(img);
    vxa_volume_free(out);
    vxa_pipeline_free(p);
}

/* Every augmentation op keeps the input's affine and spacing bit for bit (output_shape_ex and the run agree);
 * with geometry=track a rotation of a 1 x 1 x 3 mm grid writes an orthogonal affine whose spacing is the
 * input's (rotation in mm: no shear). */
static void test_augmentation_ops_keep_the_affine(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 23;
    const int64_t dim[3] = { 13, 11, 9 };
    vxa_volume *img = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &rng);
    const double sp[3] = { 1, 1, 3 };
    vxa_volume_set_spacing(img, sp);
    const double th = 0.4;   /* oblique: turned about z */
    img->affine[0][0] = cos(th); img->affine[0][1] = -sin(th);
    img->affine[1][0] = sin(th); img->affine[1][1] = cos(th);
    const char *specs[] = { "flip(axes=0,1,2)", "rotate(30, plane=0,2)", "rotate3d(10,-20,30)", "zoom(1.2,0.9,1.1)",
                            "shift(2, 1, -1, unit=mm)", "affine(row0=1,0.1,0, offset=1,2,0)",
                            "elastic(alpha=50, sigma=2)", "rotate(30, plane=0,2) zoom(1.1) elastic(alpha=50, sigma=2)" };
    for (size_t t = 0; t < sizeof specs / sizeof specs[0]; t++) {
        vxa_pipeline *p = vxa_test_parse(specs[t]);
        vxa_volume *out = run_ok(ref, p, 3, 1, img, NULL, NULL);
        if (memcmp(out->affine, img->affine, sizeof img->affine) || memcmp(out->spacing, img->spacing, sizeof sp))
            fail_msg("%s: the output's affine or spacing is not the input's", specs[t]);
        vxa_volume_free(out);
        vxa_pipeline_free(p);
    }
    vxa_pipeline *p = vxa_test_parse("sampling(geometry=track) rotate(30, plane=0,2)");
    vxa_volume *out = run_ok(ref, p, 3, 1, img, NULL, NULL);
    assert_true(memcmp(out->affine, img->affine, sizeof img->affine) != 0);   /* the affine followed the voxels */
    for (int a = 0; a < 3; a++) {
        double n2 = 0;
        for (int r = 0; r < 3; r++) n2 += out->affine[r][a] * out->affine[r][a];
        if (fabs(sqrt(n2) - sp[a]) > 1e-12 || fabs(out->spacing[a] - sp[a]) > 1e-12)
            fail_msg("geometry=track: spacing along %d is %.17g (column %.17g), expected %g", a, out->spacing[a],
                     sqrt(n2), sp[a]);
        for (int b = a + 1; b < 3; b++) {
            double dot = 0;
            for (int r = 0; r < 3; r++) dot += out->affine[r][a] * out->affine[r][b];
            if (fabs(dot) > 1e-12) fail_msg("geometry=track: columns %d and %d not orthogonal (%g)", a, b, dot);
        }
    }
    vxa_volume_free(out);
    vxa_pipeline_free(p);
    vxa_volume_free(img);
}

/* reorient(RAS) of a PSL-oriented volume is the permuted, flipped copy worked out by hand, bit for bit, on the
 * device and the reference path, for images (trilinear order, typed) and labels, on awkward shapes. */
static void test_reorient_is_an_exact_copy(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed() + 29;
    const int64_t shapes[][3] = { { 7, 1, 5 }, { 13, 11, 9 }, { 1, 17, 2 } };
    vxa_pipeline *p = vxa_test_parse("reorient(RAS)");
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t *n = shapes[t];
        vxa_volume *img = vxa_test_random_volume(n, 2, VXA_INT16, &rng);
        vxa_volume *lab = vxa_test_random_volume(n, 1, VXA_UINT8, &rng);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) img->affine[r][c] = 0;
        /* axis 0 towards P (-y), axis 1 towards S (+z), axis 2 towards L (-x): "PSL" */
        img->affine[1][0] = -1.5; img->affine[2][1] = 2; img->affine[0][2] = -0.8; img->affine[3][3] = 1;
        img->spacing[0] = 1.5; img->spacing[1] = 2; img->spacing[2] = 0.8;
        img->sform_code = 2;
        memcpy(lab->affine, img->affine, sizeof img->affine);
        memcpy(lab->spacing, img->spacing, sizeof img->spacing);
        lab->sform_code = 2;
        for (int ci = 0; ci < 2; ci++) {
            vxa_volume *olab = NULL;
            vxa_volume *out = run_ok(ctxs[ci], p, 0, 0, img, lab, &olab);
            /* R = -x: input axis 2 flipped; A = +y: input axis 0 flipped; S: input axis 1 */
            assert_int_equal(out->dim[0], n[2]);
            assert_int_equal(out->dim[1], n[0]);
            assert_int_equal(out->dim[2], n[1]);
            for (int64_t c = 0; c < 2; c++)
                for (int64_t k = 0; k < out->dim[2]; k++)
                    for (int64_t j = 0; j < out->dim[1]; j++)
                        for (int64_t i = 0; i < out->dim[0]; i++) {
                            const int64_t p0 = n[0] - 1 - j, p1 = k, p2 = n[2] - 1 - i;
                            const float got = vxa_volume_get(out, i, j, k, c), want = vxa_volume_get(img, p0, p1, p2, c);
                            if (memcmp(&got, &want, sizeof got))
                                fail_msg("%s, %lldx%lldx%lld: voxel (%lld,%lld,%lld,%lld) = %.9g, expected %.9g",
                                         vxa_context_device_name(ctxs[ci]), (long long)n[0], (long long)n[1],
                                         (long long)n[2], (long long)i, (long long)j, (long long)k, (long long)c, got,
                                         want);
                            if (c == 0 && vxa_volume_get(olab, i, j, k, 0) != vxa_volume_get(lab, p0, p1, p2, 0))
                                fail_msg("reorient: label (%lld,%lld,%lld) differs", (long long)i, (long long)j,
                                         (long long)k);
                        }
            /* the anatomy stays put: output voxel o and its input voxel have one world position */
            const double o[3] = { 0, 0, 0 }, pin[3] = { (double)(n[0] - 1), 0, (double)(n[2] - 1) };
            for (int r = 0; r < 3; r++) {
                double wo = out->affine[r][3], wi = img->affine[r][3];
                for (int a = 0; a < 3; a++) {
                    wo += out->affine[r][a] * o[a];
                    wi += img->affine[r][a] * pin[a];
                }
                assert_true(fabs(wo - wi) < 1e-9);
                assert_true(out->affine[r][r] > 0);   /* RAS: a positive diagonal */
            }
            vxa_volume_free(out);
            vxa_volume_free(olab);
        }
        vxa_volume_free(img);
        vxa_volume_free(lab);
    }
    vxa_pipeline_free(p);
}

/* A label map on another grid is refused with a message naming both grids. */
static void test_label_on_other_grid_is_an_error(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    uint64_t rng = 3;
    const int64_t a[3] = { 8, 9, 10 }, b[3] = { 8, 9, 11 };
    vxa_volume *img = vxa_test_random_volume(a, 1, VXA_FLOAT32, &rng);
    vxa_volume *lab = vxa_test_random_volume(b, 1, VXA_UINT8, &rng);
    vxa_pipeline *p = vxa_test_parse("flip(axes=0)");
    vxa_volume *out = NULL, *olab = NULL;
    assert_int_equal(vxa_pipeline_run(ref, p, 0, 0, img, lab, &out, &olab, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_non_null(strstr(vxa_last_error(ref), "8x9x11"));
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_pipeline_free(p);
}

/* An empty pipeline copies the image as float32 and leaves the caller's input untouched. */
static void test_empty_pipeline_is_a_float_copy(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 11;
    const int64_t dim[3] = { 5, 7, 3 };
    vxa_volume *img = vxa_test_random_volume(dim, 2, VXA_INT16, &rng);
    img->scl_slope = 0.5;
    img->scl_inter = 10;
    vxa_pipeline *p = vxa_test_parse("flip(axes=0, p=0)"); /* an empty spec is refused (issue 16): an op never applied */
    vxa_volume *out = run_ok(dev, p, 0, 0, img, NULL, NULL);
    assert_int_equal(out->dtype, VXA_FLOAT32);
    assert_true(vxa_test_max_abs_diff(out, img) == 0.0);
    vxa_volume_free(img);
    vxa_volume_free(out);
    vxa_pipeline_free(p);
}

/* Released buffers of 1 MiB or more go to the context's pool and the next run of the same size takes them back
 * (the same buffers, no new allocation); a reused buffer's old contents do not reach the next output, and
 * vxa_context_trim empties the pool. */
static void pool_buffers(const vxa_context *ctx, void *bufs[VXA_POOL_SLOTS])
{
    for (int i = 0; i < VXA_POOL_SLOTS; i++)
        bufs[i] = i < ctx->npool ? (ctx->pool[i].mem ? ctx->pool[i].mem : ctx->pool[i].host) : NULL;
}

static bool same_buffer_set(void *const a[VXA_POOL_SLOTS], void *const b[VXA_POOL_SLOTS])
{
    for (int i = 0; i < VXA_POOL_SLOTS; i++) {
        bool found = false;
        for (int j = 0; j < VXA_POOL_SLOTS; j++) found |= a[i] == b[j];
        if (!found) return false;
    }
    return true;
}

static void test_released_buffers_are_reused(void **state)
{
    (void)state;
    vxa_context *contexts[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed() + 13;
    const int64_t dim[3] = { 67, 71, 61 }; /* > 1 MiB as float32 */
    vxa_volume *a = vxa_test_smooth_volume(dim, &rng), *b = vxa_test_smooth_volume(dim, &rng);
    vxa_pipeline *p = vxa_test_parse("sampling(cval=-5) rotate([-20,20], plane=0,1) pad(2,3,1) minmax()");
    for (int c = 0; c < 2; c++) {
        vxa_context *ctx = contexts[c];
        vxa_context_trim(ctx);
        assert_int_equal(ctx->npool, 0);
        vxa_volume *expect = run_ok(ctx, p, 3, 1, b, NULL, NULL); /* b on an empty pool */
        vxa_context_trim(ctx);
        vxa_volume *first = run_ok(ctx, p, 3, 0, a, NULL, NULL);
        assert_true(ctx->npool > 0);
        void *before[VXA_POOL_SLOTS], *after[VXA_POOL_SLOTS];
        pool_buffers(ctx, before);
        vxa_volume *second = run_ok(ctx, p, 3, 1, b, NULL, NULL); /* b on a's buffers */
        pool_buffers(ctx, after);
        assert_true(same_buffer_set(before, after));
        assert_true(vxa_test_identical(expect, second));
        vxa_context_trim(ctx);
        assert_int_equal(ctx->npool, 0);
        vxa_volume_free(expect);
        vxa_volume_free(first);
        vxa_volume_free(second);
    }
    vxa_volume_free(a);
    vxa_volume_free(b);
    vxa_pipeline_free(p);
}

/* The pool's fit: a released buffer goes to the next volume of its size or up to a third smaller (the same
 * buffer), not to a smaller one or a larger one; the smallest that fits is taken; at most VXA_POOL_SLOTS are
 * kept, the oldest dropped first. */
static void *pool_buffer_of(const vxa_dvol *d) { return d->mem ? d->mem : d->host; }

static void test_pool_takes_the_best_fit(void **state)
{
    (void)state;
    vxa_context *contexts[2] = { vxa_test_reference(), vxa_test_device() };
    for (int c = 0; c < 2; c++) {
        vxa_context *ctx = contexts[c];
        vxa_context_trim(ctx);
        const int64_t big[3] = { 64, 64, 120 }, mid[3] = { 64, 64, 90 }, small[3] = { 64, 64, 70 };
        const int64_t large[3] = { 64, 64, 121 };
        vxa_dvol a, b;
        assert_int_equal(vxa_dvol_alloc(ctx, big, 1, VXA_FLOAT32, &a), VXA_OK);       /* 1.9 MiB */
        void *pa = pool_buffer_of(&a);
        vxa_dvol_release(ctx, &a);
        assert_int_equal(ctx->npool, 1);
        assert_int_equal(vxa_dvol_alloc(ctx, large, 1, VXA_FLOAT32, &b), VXA_OK);     /* larger: a new one */
        assert_ptr_not_equal(pool_buffer_of(&b), pa);
        assert_int_equal(ctx->npool, 1);
        vxa_dvol_release(ctx, &b);
        assert_int_equal(ctx->npool, 2);
        assert_int_equal(vxa_dvol_alloc(ctx, small, 1, VXA_FLOAT32, &b), VXA_OK);     /* under 2/3: not kept ones */
        assert_int_equal(ctx->npool, 2);
        vxa_dvol_release(ctx, &b);
        assert_int_equal(ctx->npool, 3);
        assert_int_equal(vxa_dvol_alloc(ctx, mid, 1, VXA_FLOAT32, &a), VXA_OK);       /* 3/4: the 120, not the 121 */
        assert_ptr_equal(pool_buffer_of(&a), pa);
        assert_int_equal(ctx->npool, 2);
        float *x = a.host;   /* a taken buffer serves the smaller volume whole (the reference's host memory) */
        if (x) for (int64_t i = 0; i < 64 * 64 * 90; i++) x[i] = (float)i;
        vxa_dvol_release(ctx, &a);
        vxa_context_trim(ctx);
        vxa_dvol many[VXA_POOL_SLOTS + 2];
        for (int i = 0; i < VXA_POOL_SLOTS + 2; i++)
            assert_int_equal(vxa_dvol_alloc(ctx, mid, 1, VXA_FLOAT32, &many[i]), VXA_OK);
        void *first = pool_buffer_of(&many[0]), *last = pool_buffer_of(&many[VXA_POOL_SLOTS + 1]);
        for (int i = 0; i < VXA_POOL_SLOTS + 2; i++) vxa_dvol_release(ctx, &many[i]);
        assert_int_equal(ctx->npool, VXA_POOL_SLOTS);
        bool has_first = false, has_last = false;
        for (int i = 0; i < ctx->npool; i++) {
            void *q = ctx->pool[i].mem ? ctx->pool[i].mem : ctx->pool[i].host;
            has_first |= q == first;
            has_last |= q == last;
        }
        assert_false(has_first);   /* the oldest went */
        assert_true(has_last);
        vxa_context_trim(ctx);
        assert_int_equal(ctx->npool, 0);
    }
}

/* np.percentile(x[mask != 0], q) (linear), channel 0; mask NULL: all voxels. */
static int cmp_dbl(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double masked_percentile(const vxa_volume *img, const vxa_volume *mask, double q)
{
    double *v = malloc(vxa_volume_voxels(img) * sizeof *v);
    size_t m = 0;
    for (int64_t k = 0; k < img->dim[2]; k++)
        for (int64_t j = 0; j < img->dim[1]; j++)
            for (int64_t i = 0; i < img->dim[0]; i++)
                if (!mask || vxa_volume_get(mask, i, j, k, 0) != 0) v[m++] = vxa_volume_get(img, i, j, k, 0);
    qsort(v, m, sizeof *v, cmp_dbl);
    const double h = (double)(m - 1) * q / 100.0;
    const size_t lo = (size_t)floor(h), hi = lo + 1 < m ? lo + 1 : m - 1;
    const double r = v[lo] + (v[hi] - v[lo]) * (h - (double)lo);
    free(v);
    return r;
}

/* zscore(mask=1) takes mean and std over the voxels where the label map (here int16, after a flip: the
 * label map as the pipeline holds it) is non-zero and normalises every voxel with them; pclip(mask=1) clips
 * to the masked percentiles; device equals reference; mask=1 without a label map is an error that says so. */
static void test_statistics_masked_by_label(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    uint64_t rng = vxa_test_seed() + 17;
    const int64_t dim[3] = { 37, 23, 19 };
    vxa_volume *img = vxa_test_smooth_volume(dim, &rng), *lab = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_INT16, &lab), VXA_OK);
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++)  /* an off-centre box of labels 2 and 300 */
                vxa_volume_set(lab, i, j, k, 0, i < 12 && j > 5 && k > 3 ? (i + j) % 2 ? 2 : 300 : 0);
    /* raise the box's intensities above the rest, so that its percentiles cannot fall near the whole
     * volume's by chance (a random smooth volume once put both 10th percentiles within 100 * tol) */
    const double span = vxa_test_range(img);
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++)
                if (vxa_volume_get(lab, i, j, k, 0) != 0)
                    vxa_volume_set(img, i, j, k, 0, vxa_volume_get(img, i, j, k, 0) + 2 * span);
    /* expected zscore after flip(axes=0): mask voxel (i,j,k) of the flipped label = (n0-1-i, j, k) of lab */
    double sum = 0, cnt = 0, ss = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t k = 0; k < dim[2]; k++)
            for (int64_t j = 0; j < dim[1]; j++)
                for (int64_t i = 0; i < dim[0]; i++) {
                    if (vxa_volume_get(lab, i, j, k, 0) == 0) continue;
                    const double x = vxa_volume_get(img, i, j, k, 0), mean = cnt > 0 ? sum / cnt : 0;
                    if (pass == 0) sum += x, cnt++;
                    else ss += (x - mean) * (x - mean);
                }
    const double mean = sum / cnt, sd = sqrt(ss / cnt);
    vxa_pipeline *p = vxa_test_parse("flip(axes=0) zscore(mask=1)"), *pc = vxa_test_parse("pclip(10, 90, mask=1)");
    vxa_volume *outs[2], *clips[2];
    for (int t = 0; t < 2; t++) {
        vxa_volume *olab = NULL;
        outs[t] = run_ok(ctxs[t], p, 1, 0, img, lab, &olab);
        double err = 0, scale = 0;
        for (int64_t k = 0; k < dim[2]; k++)
            for (int64_t j = 0; j < dim[1]; j++)
                for (int64_t i = 0; i < dim[0]; i++) {
                    const double want = (vxa_volume_get(img, dim[0] - 1 - i, j, k, 0) - mean) / sd;
                    err = fmax(err, fabs(vxa_volume_get(outs[t], i, j, k, 0) - want));
                    scale = fmax(scale, fabs(want));
                }
        if (err > 1e-5 * scale) fail_msg("zscore(mask=1) on %s: off by %g (scale %g)",
                                         vxa_context_device_name(ctxs[t]), err, scale);
        vxa_volume_free(olab);
        clips[t] = run_ok(ctxs[t], pc, 1, 0, img, lab, &olab);
        vxa_volume_free(olab);
    }
    assert_true(vxa_test_max_abs_diff(outs[0], outs[1]) <= 1e-5 * vxa_test_range(outs[0]));
    assert_true(vxa_test_max_abs_diff(clips[0], clips[1]) == 0.0);  /* exact percentiles on both */
    /* the clip bounds are the masked percentiles, not the whole volume's: outside values are clipped to them */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t v = 0; v < vxa_volume_voxels(clips[0]); v++) {
        lo = fmin(lo, ((float *)clips[0]->data)[v]);
        hi = fmax(hi, ((float *)clips[0]->data)[v]);
    }
    const double want_lo = masked_percentile(img, lab, 10), want_hi = masked_percentile(img, lab, 90);
    const double whole_lo = masked_percentile(img, NULL, 10), tol = 1e-6 * vxa_test_range(img);
    if (!(fabs(lo - want_lo) <= tol && fabs(hi - want_hi) <= tol))
        fail_msg("pclip(10, 90, mask=1) gave [%.9g, %.9g], want [%.9g, %.9g]", lo, hi, want_lo, want_hi);
    assert_true(want_lo - whole_lo > 0.5 * span);  /* the mask matters here */
    for (int t = 0; t < 2; t++) {
        vxa_volume_free(outs[t]);
        vxa_volume_free(clips[t]);
    }
    vxa_volume *out = NULL;
    assert_int_equal(vxa_pipeline_run(ctxs[1], p, 1, 0, img, NULL, &out, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_null(out);
    assert_non_null(strstr(vxa_last_error(ctxs[1]), "zscore(mask=1): no label map"));
    vxa_pipeline_free(p);
    vxa_pipeline_free(pc);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* chain followed by a crop of random size m and start q inside dim, as a spec. */
static void crop_after(const char *chain, const int64_t dim[3], uint64_t *rng, int64_t m[3], int64_t q[3],
                       char *spec, size_t len)
{
    for (int a = 0; a < 3; a++) {
        m[a] = 1 + (int64_t)(vxa_test_rand(rng) % (uint64_t)dim[a]);
        q[a] = (int64_t)(vxa_test_rand(rng) % (uint64_t)(dim[a] - m[a] + 1));
    }
    snprintf(spec, len, "%s crop(size=%lld,%lld,%lld, start=%lld,%lld,%lld)", chain, (long long)m[0],
             (long long)m[1], (long long)m[2], (long long)q[0], (long long)q[1], (long long)q[2]);
}

/* Intensity ops followed by a crop inside the image: the ops' last pass computes the crop alone
 * (vxa_intensity_window on CPU devices, one launch, no copy of the image), bit for bit the window of what the
 * ops give on the whole image, and within 1e-4 of that result's range (at least 1) of the reference, which
 * crops after the ops. Odd shapes and channels, crops of any size and start (rows that start anywhere in a
 * Philox block), typed and scaled inputs that the last pass converts itself, a spatial op before, a mask from
 * the label map. A flip between the ops and the crop (not a plain crop) takes the path without a window. */
static void test_intensity_then_crop_computes_the_crop(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 11;
    static const char *const chains[] = {
        "zscore noise(0.3)", "noise(20) gamma(1.4) bias(coef=0.3, order=2)", "zscore(mask=1) noise(0.5) clip(-1, 1)",
        "rotate(10, plane=0,1) noise(5)", "minmax noise(0.05) gamma(0.8)", "noise(7) flip(axes=0)",
    };
    const int nchains = (int)(sizeof chains / sizeof chains[0]);
    int fused = 0, crops = 0;   /* runs that took the window; chains without the flip whose crop is not all */
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        if (dim[0] * dim[1] * dim[2] > 1000000) continue;
        for (int c = 0; c < nchains; c++) {
            const bool masked = strstr(chains[c], "mask=1") != NULL, flips = strstr(chains[c], "flip") != NULL;
            const int64_t nc = masked ? 1 : 1 + (int64_t)(vxa_test_rand(&rng) % 2);
            vxa_volume *img = vxa_test_random_volume(dim, nc, c % 2 ? VXA_FLOAT32 : VXA_INT16, &rng);
            if (c == 2) img->scl_slope = 0.3, img->scl_inter = -7;   /* scaled, read by the window pass */
            vxa_volume *lab = vxa_test_random_volume(dim, 1, VXA_UINT8, &rng);
            int64_t m[3], q[3];
            char spec[256];
            crop_after(chains[c], dim, &rng, m, q, spec, sizeof spec);
            vxa_pipeline *p = vxa_test_parse(spec), *whole = vxa_test_parse(chains[c]);
            const uint64_t sample = vxa_test_rand(&rng);
            const uint64_t windows = vxa_context_launches(dev, "vxa_intensity_window");
            vxa_volume *dl = NULL, *rl = NULL, *wl = NULL;
            vxa_volume *d = run_ok(dev, p, 5, sample, img, masked ? lab : NULL, masked ? &dl : NULL);
            const uint64_t used = vxa_context_launches(dev, "vxa_intensity_window") - windows;
            vxa_volume *w = run_ok(dev, whole, 5, sample, img, masked ? lab : NULL, masked ? &wl : NULL);
            vxa_volume *r = run_ok(ref, p, 5, sample, img, masked ? lab : NULL, masked ? &rl : NULL);
            fused += used > 0;
            crops += !flips && (m[0] < dim[0] || m[1] < dim[1] || m[2] < dim[2]);
            if (flips) assert_int_equal(used, 0);
            for (int a = 0; a < 3; a++) assert_int_equal(d->dim[a], m[a]);
            /* bit for bit the window of the whole result (with the flip, of the flipped one) */
            for (int64_t ch = 0; ch < nc; ch++)
                for (int64_t k = 0; k < m[2]; k++)
                    for (int64_t j = 0; j < m[1]; j++)
                        for (int64_t i = 0; i < m[0]; i++) {
                            const float got = vxa_volume_get(d, i, j, k, ch);
                            const float want = vxa_volume_get(w, q[0] + i, q[1] + j, q[2] + k, ch);
                            if (memcmp(&got, &want, sizeof got) != 0)
                                fail_msg("%s on %lldx%lldx%lld x %lld: voxel (%lld,%lld,%lld,%lld) %.9g, whole image "
                                         "%.9g", spec, (long long)dim[0], (long long)dim[1], (long long)dim[2],
                                         (long long)nc, (long long)i, (long long)j, (long long)k, (long long)ch,
                                         got, want);
                        }
            const double diff = vxa_test_max_abs_diff(d, r), tol = 1e-4 * fmax(vxa_test_range(w), 1.0);
            if (diff > tol) fail_msg("%s: device and reference differ by %g > %g", spec, diff, tol);
            if (masked) assert_true(vxa_test_identical(dl, rl));
            vxa_volume_free(d);
            vxa_volume_free(w);
            vxa_volume_free(r);
            vxa_volume_free(dl);
            vxa_volume_free(rl);
            vxa_volume_free(wl);
            vxa_volume_free(img);
            vxa_volume_free(lab);
            vxa_pipeline_free(p);
            vxa_pipeline_free(whole);
        }
    }
    /* each of those where the CPU forms run (PoCL without VOXAUG_GPU_FORMS=1), none with the GPU forms */
    const char *forms = getenv("VOXAUG_GPU_FORMS");
    const bool cpu_forms = strstr(vxa_context_device_name(dev), "pthread") && !(forms && strcmp(forms, "1") == 0);
    assert_int_equal(fused, cpu_forms ? crops : 0);
}

/* A label map's pass followed by intensity ops and a crop computes the crop's window only (the pass is put off
 * until the crop): labels bit for bit the window of the whole pass's labels and equal to the reference's, with
 * the image as the whole chain gives it; on odd shapes, crops of random size and start, fast elastic fields
 * (rows along i shared with the image's pass), plain affine passes, and a masked z-score that needs the whole
 * label map first. */
static void test_label_pass_put_off_to_the_crop(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 13;
    static const char *const chains[] = {
        "rotate(12, plane=0,1) elastic(alpha=300, sigma=8, mode=fast) zscore noise(0.2)",
        "flip(axes=1) zoom(1.15) zscore",
        "rotate(-9, plane=1,2) zscore(mask=1) noise(0.1)",
        "elastic(alpha=500, sigma=9, mode=fast) noise(3)",
    };
    const int nchains = (int)(sizeof chains / sizeof chains[0]);
    size_t field_ldiff = 0, field_labels = 0;
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        if (dim[0] * dim[1] * dim[2] > 1000000) continue;
        for (int c = 0; c < nchains; c++) {
            vxa_volume *img = vxa_test_random_volume(dim, 1, c % 2 ? VXA_FLOAT32 : VXA_INT16, &rng);
            vxa_volume *lab = vxa_test_random_volume(dim, 1, c % 2 ? VXA_UINT8 : VXA_INT16, &rng);
            int64_t m[3], q[3];
            char spec[256];
            crop_after(chains[c], dim, &rng, m, q, spec, sizeof spec);
            vxa_pipeline *p = vxa_test_parse(spec), *whole = vxa_test_parse(chains[c]);
            const uint64_t sample = vxa_test_rand(&rng);
            vxa_volume *dl = NULL, *wl = NULL, *rl = NULL;
            vxa_volume *d = run_ok(dev, p, 8, sample, img, lab, &dl);
            vxa_volume *w = run_ok(dev, whole, 8, sample, img, lab, &wl);
            vxa_volume *r = run_ok(ref, p, 8, sample, img, lab, &rl);
            vxa_volume *wrl = NULL, *wr = run_ok(ref, whole, 8, sample, img, lab, &wrl);
            for (int a = 0; a < 3; a++) assert_int_equal(dl->dim[a], m[a]);
            const size_t es = vxa_dtype_size(dl->dtype);
            for (int64_t k = 0; k < m[2]; k++)
                for (int64_t j = 0; j < m[1]; j++)
                    for (int64_t i = 0; i < m[0]; i++) {
                        const size_t o = (size_t)(i + m[0] * (j + m[1] * k));
                        const size_t ow = (size_t)(q[0] + i + dim[0] * (q[1] + j + dim[1] * (q[2] + k)));
                        if (memcmp((const char *)dl->data + o * es, (const char *)wl->data + ow * es, es) != 0)
                            fail_msg("%s on %lldx%lldx%lld: label (%lld,%lld,%lld) differs from the whole pass's",
                                     spec, (long long)dim[0], (long long)dim[1], (long long)dim[2], (long long)i,
                                     (long long)j, (long long)k);
                        const float got = vxa_volume_get(d, i, j, k, 0);
                        const float want = vxa_volume_get(w, q[0] + i, q[1] + j, q[2] + k, 0);
                        if (memcmp(&got, &want, sizeof got) != 0)
                            fail_msg("%s: image voxel (%lld,%lld,%lld) %.9g, whole chain %.9g", spec, (long long)i,
                                     (long long)j, (long long)k, got, want);
                    }
            /* the reference's window is the window of its whole pass too; its labels equal the device's bit for
             * bit where positions are exact in float32 (no field). With an elastic field (float32 on the device,
             * float64 in the reference) a position can fall on the other side of a .5 tie, as in test_elastic:
             * at most 1 in 10^4 of the whole passes' labels over the test */
            for (int64_t k = 0; k < m[2]; k++)
                for (int64_t j = 0; j < m[1]; j++)
                    for (int64_t i = 0; i < m[0]; i++) {
                        const size_t o = (size_t)(i + m[0] * (j + m[1] * k));
                        const size_t ow = (size_t)(q[0] + i + dim[0] * (q[1] + j + dim[1] * (q[2] + k)));
                        if (memcmp((const char *)rl->data + o * es, (const char *)wrl->data + ow * es, es) != 0)
                            fail_msg("%s: the reference's label (%lld,%lld,%lld) differs from its whole pass's",
                                     spec, (long long)i, (long long)j, (long long)k);
                    }
            if (strstr(chains[c], "elastic")) {
                field_ldiff += vxa_test_count_differences(wl, wrl);
                field_labels += vxa_volume_voxels(wl);
            } else if (!vxa_test_identical(dl, rl) || !vxa_test_identical(wl, wrl)) {
                fail_msg("%s: device and reference labels differ", spec);
            }
            const double diff = vxa_test_max_abs_diff(d, r), tol = 1e-4 * fmax(vxa_test_range(w), 1.0);
            if (diff > tol) fail_msg("%s: device and reference images differ by %g > %g", spec, diff, tol);
            vxa_volume_free(d);
            vxa_volume_free(w);
            vxa_volume_free(r);
            vxa_volume_free(dl);
            vxa_volume_free(wl);
            vxa_volume_free(rl);
            vxa_volume_free(wr);
            vxa_volume_free(wrl);
            vxa_volume_free(img);
            vxa_volume_free(lab);
            vxa_pipeline_free(p);
            vxa_pipeline_free(whole);
        }
    }
    print_message("elastic chains: %zu of %zu labels differ from the reference's\n", field_ldiff, field_labels);
    assert_true(field_labels > 0);
    assert_true(field_ldiff * 10000 <= field_labels);
}

/* vxa_pipeline_output_shape_ex gives each sample's shape and geometry as its run makes them, from the plan:
 * crop(p=0.5) crops only the samples where it applies; a drawn rotation, flip and crop start give the drawn
 * affine. */
static void test_output_shape_per_sample(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 19;
    const int64_t dim[3] = { 16, 14, 12 };
    vxa_volume *img = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &rng);
    const char *specs[] = { "crop(8,9,10, p=0.5)",
                            "flip(axes=0, p_axis=0.5) rotate([-10,10]) random_crop(6,7,8, p=0.4) zscore" };
    for (size_t t = 0; t < sizeof specs / sizeof specs[0]; t++) {
        vxa_pipeline *p = vxa_test_parse(specs[t]);
        int cropped = 0, whole = 0;
        for (uint64_t sample = 0; sample < 24; sample++) {
            vxa_run_options o;
            vxa_run_options_init(&o);
            o.seed = 5;
            o.sample = sample;
            vxa_volume shape;
            vxa_volume_init(&shape, dim, 1, VXA_FLOAT32);
            assert_int_equal(vxa_pipeline_output_shape_ex(p, &o, img, &shape), VXA_OK);
            vxa_volume *out = run_ok(ref, p, o.seed, o.sample, img, NULL, NULL);
            for (int a = 0; a < 3; a++) {
                if (shape.dim[a] != out->dim[a])
                    fail_msg("%s, sample %llu: output_shape_ex gives dim[%d] = %lld, the run %lld", specs[t],
                             (unsigned long long)sample, a, (long long)shape.dim[a], (long long)out->dim[a]);
                for (int c = 0; c < 4; c++) assert_true(shape.affine[a][c] == out->affine[a][c]);
            }
            if (t == 0 && out->dim[0] == 8) cropped++;
            else if (t == 0) whole++;
            vxa_volume_free(out);
        }
        if (t == 0) assert_true(cropped > 3 && whole > 3);   /* both kinds of sample were checked */
        vxa_pipeline_free(p);
    }
    vxa_volume_free(img);
}

/* remap and histstd in the spec: pairs and a file name parse, normalise and round-trip, errors point at them. */
static void test_remap_and_histstd_parse(void **state)
{
    (void)state;
    vxa_pipeline *p = vxa_test_parse("remap( 3:1 , 4 : 1, -2:0, others=drop) remap(others=keep, 7:8)");
    const char *text = vxa_pipeline_string(p);
    assert_string_equal(text, "remap(map=3:1,4:1,-2:0, others=drop) remap(map=7:8, others=keep)");
    vxa_pipeline *q = vxa_test_parse(text);
    assert_string_equal(text, vxa_pipeline_string(q));
    assert_int_equal(p->ops[0].ndata, 6);
    vxa_pipeline_free(p);
    vxa_pipeline_free(q);
    expect_parse_error("remap(3:1, 3:2)", "label 3 mapped twice", 12);
    expect_parse_error("remap(3.5:1)", "3.5 is not a whole number", 7);
    expect_parse_error("remap(3)", "takes pairs FROM:TO: expected ':'", 8);
    expect_parse_error("remap(others=drop)", "parameter 'map' is required", 1);
    expect_parse_error("histstd(landmarks=/nonexistent/lm.json)", "/nonexistent/lm.json: No such file", 19);
    expect_parse_error("histstd(landmarks=a\"b.json)", "a file name of letters, digits", 20);
    expect_parse_error("histstd(nonzero=1)", "parameter 'landmarks' is required", 1);
    char dir[] = "/tmp/vxa-histstd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[256], bad[256], spec[600];
    snprintf(good, sizeof good, "%s/good.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(good, "w");
    fputs("{\"percentiles\": [1, 50, 99], \"landmarks\": [0, 40, 100], \"note\": \"x\", \"n\": [true]}", f);
    fclose(f);
    f = fopen(bad, "w");
    fputs("{\"percentiles\": [1, 50, 99], \"landmarks\": [0, 60, 50]}", f);
    fclose(f);
    snprintf(spec, sizeof spec, "histstd(landmarks=%s)", good);
    expect_parse_error(spec, "not a landmarks file", 19);   /* "n": [true] is no number array */
    f = fopen(good, "w");
    fputs("{\"percentiles\": [1, 50, 99], \"landmarks\": [0, 40, 100], \"note\": \"x\"}", f);
    fclose(f);
    p = vxa_test_parse(spec);
    assert_int_equal(p->ops[0].ndata, 6);
    assert_true(p->ops[0].data[4] == 40);
    q = vxa_test_parse(vxa_pipeline_string(p));
    assert_string_equal(vxa_pipeline_string(p), vxa_pipeline_string(q));
    vxa_pipeline_free(p);
    vxa_pipeline_free(q);
    snprintf(spec, sizeof spec, "histstd(landmarks=%s)", bad);
    expect_parse_error(spec, "landmark 2 is 50, below the one before (60)", 19);
    remove(good);
    remove(bad);
    rmdir(dir);
}

/* remap acts on the label map where it stands: after a flip, labels mapped pair by pair, the others kept or
 * dropped; the image is untouched; device equals reference. */
static void test_remap_maps_labels_at_its_place(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 11;
    const int64_t dim[3] = { 13, 9, 7 };
    vxa_volume *img = vxa_test_smooth_volume(dim, &rng);
    vxa_volume *lab = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_INT16, &lab), VXA_OK);
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++)
                vxa_volume_set(lab, i, j, k, 0, (double)((i + 2 * j + 3 * k) % 6) - 1);  /* -1 .. 4 */
    for (int drop = 0; drop < 2; drop++) {
        vxa_pipeline *p = vxa_test_parse(drop ? "flip(axes=0) remap(-1:7, 2:7, 4:-3, others=drop)"
                                        : "flip(axes=0) remap(-1:7, 2:7, 4:-3)");
        vxa_volume *dl = NULL, *rl = NULL;
        vxa_volume *d = run_ok(dev, p, 1, 0, img, lab, &dl);
        vxa_volume *r = run_ok(ref, p, 1, 0, img, lab, &rl);
        assert_true(vxa_test_identical(dl, rl));
        for (int64_t k = 0; k < dim[2]; k++)
            for (int64_t j = 0; j < dim[1]; j++)
                for (int64_t i = 0; i < dim[0]; i++) {
                    const double in = vxa_volume_get(lab, dim[0] - 1 - i, j, k, 0);
                    const double want = in == -1 || in == 2 ? 7 : in == 4 ? -3 : drop ? 0 : in;
                    assert_true(vxa_volume_get(rl, i, j, k, 0) == want);
                    assert_true(vxa_volume_get(r, i, j, k, 0) == vxa_volume_get(img, dim[0] - 1 - i, j, k, 0));
                }
        vxa_volume_free(d);
        vxa_volume_free(r);
        vxa_volume_free(dl);
        vxa_volume_free(rl);
        vxa_pipeline_free(p);
    }
    vxa_pipeline *p = vxa_test_parse("remap(1:300)");   /* 300 fits int16; 70000 does not */
    vxa_volume *dl = NULL;
    vxa_volume *d = run_ok(ref, p, 1, 0, img, lab, &dl);
    vxa_volume_free(d);
    vxa_volume_free(dl);
    vxa_pipeline_free(p);
    p = vxa_test_parse("remap(1:70000)");
    vxa_volume *o = NULL, *ol = NULL;
    assert_int_equal(vxa_pipeline_run(ref, p, 1, 0, img, lab, &o, &ol, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "70000 does not fit the label map's type int16"));
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors_name_the_token),
        cmocka_unit_test(test_parse_normalises_and_round_trips),
        cmocka_unit_test(test_draws_depend_only_on_seed_sample_op),
        cmocka_unit_test(test_spatial_chain_is_one_resampling_pass),
        cmocka_unit_test(test_device_equals_reference_and_labels_stay_in_set),
        cmocka_unit_test(test_batch_equals_single_runs),
        cmocka_unit_test(test_batch_overlapped_equals_single_runs),
        cmocka_unit_test(test_threads_with_own_contexts_reproduce_single_thread),
        cmocka_unit_test(test_output_affine_is_true_world_geometry),
        cmocka_unit_test(test_augmentation_moves_content_keeps_grid),
        cmocka_unit_test(test_augmentation_ops_keep_the_affine),
        cmocka_unit_test(test_reorient_is_an_exact_copy),
        cmocka_unit_test(test_label_on_other_grid_is_an_error),
        cmocka_unit_test(test_empty_pipeline_is_a_float_copy),
        cmocka_unit_test(test_released_buffers_are_reused),
        cmocka_unit_test(test_pool_takes_the_best_fit),
        cmocka_unit_test(test_statistics_masked_by_label),
        cmocka_unit_test(test_intensity_then_crop_computes_the_crop),
        cmocka_unit_test(test_label_pass_put_off_to_the_crop),
        cmocka_unit_test(test_output_shape_per_sample),
        cmocka_unit_test(test_remap_and_histstd_parse),
        cmocka_unit_test(test_remap_maps_labels_at_its_place),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
