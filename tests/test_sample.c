/* SPDX-License-Identifier: MIT */
/* Patch sampling by class (fg_crop, balanced_crop, label_crop), crop_foreground, and composition (one_of, some_of,
 * shuffle): the label index and foreground box on the device against the reference and a direct count, the ops'
 * rules as nnU-Net and MONAI write them, the parser's groups, and the draws of groups. */
#include "testutil.h"
#include "plan.h"
#include "sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t raw_at(const vxa_volume *v, size_t i)
{
    switch (v->dtype) {
    case VXA_UINT8: return ((const uint8_t *)v->data)[i];
    case VXA_INT16: return ((const int16_t *)v->data)[i];
    case VXA_INT32: return ((const int32_t *)v->data)[i];
    default: fail_msg("dtype %d", (int)v->dtype);
    }
    return 0;
}

static void raw_set(vxa_volume *v, size_t i, int64_t x)
{
    switch (v->dtype) {
    case VXA_UINT8: ((uint8_t *)v->data)[i] = (uint8_t)x; break;
    case VXA_INT16: ((int16_t *)v->data)[i] = (int16_t)x; break;
    case VXA_INT32: ((int32_t *)v->data)[i] = (int32_t)x; break;
    default: fail_msg("dtype %d", (int)v->dtype);
    }
}

/* A piecewise-constant label map: runs of random classes from `values`, so blocks hold several classes. */
static vxa_volume *random_labels(const int64_t dim[3], vxa_dtype dt, const int64_t *values, int nvalues,
                                 uint64_t *rng)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, dt, &v), VXA_OK);
    const size_t n = (size_t)(dim[0] * dim[1] * dim[2]);
    int64_t cur = values[0];
    for (size_t i = 0; i < n; i++) {
        if (vxa_test_rand(rng) % 37 == 0) cur = values[vxa_test_rand(rng) % (uint64_t)nvalues];
        raw_set(v, i, cur);
    }
    return v;
}

static void index_of(vxa_context *ctx, const vxa_volume *v, vxa_dvol *d, vxa_label_index *ix)
{
    assert_int_equal(vxa_dvol_from_volume(ctx, v, d), VXA_OK);
    vxa_status st = vxa_label_index_make(ctx, d, ix);
    if (st != VXA_OK) fail_msg("label index on %s: %s", vxa_context_device_name(ctx), vxa_last_error(ctx));
}

/* The device's index equals the reference's and a direct count; every located voxel is the skip-th of its class
 * in linear order, on both. */
static void test_label_index_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed();
    const int64_t sets[3][5] = { { 0, 1, 2, 5, 200 }, { -7, 0, 3, 1000, 31000 }, { -100000, 0, 9, 70000, 2000000 } };
    const vxa_dtype types[3] = { VXA_UINT8, VXA_INT16, VXA_INT32 };
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int t = s % 3;
        vxa_volume *v = random_labels(vxa_test_shapes[s], types[t], sets[t], 5, &rng);
        vxa_dvol dr, dd;
        vxa_label_index ir, id;
        index_of(ref, v, &dr, &ir);
        index_of(dev, v, &dd, &id);
        assert_int_equal(ir.nclasses, id.nclasses);
        assert_true(ir.block == id.block && ir.nblocks == id.nblocks);
        const size_t n = (size_t)(v->dim[0] * v->dim[1] * v->dim[2]);
        for (int c = 0; c < ir.nclasses; c++) {
            assert_true(ir.value[c] == id.value[c] && ir.count[c] == id.count[c]);
            uint64_t direct = 0;
            for (size_t i = 0; i < n; i++) direct += raw_at(v, i) == ir.value[c];
            if (direct != ir.count[c])
                fail_msg("shape %d: value %lld counted %llu, direct %llu", s, (long long)ir.value[c],
                         (unsigned long long)ir.count[c], (unsigned long long)direct);
        }
        assert_memory_equal(ir.block_counts, id.block_counts, (size_t)(ir.nblocks * ir.nclasses) * sizeof(uint32_t));
        for (int q = 0; q < 6; q++) {
            const int c = (int)(vxa_test_rand(&rng) % (uint64_t)ir.nclasses);
            const uint64_t skip = vxa_test_rand(&rng) % ir.count[c];
            int64_t a[3], b[3];
            assert_int_equal(vxa_label_index_locate(ref, &dr, &ir, c, skip, a), VXA_OK);
            assert_int_equal(vxa_label_index_locate(dev, &dd, &id, c, skip, b), VXA_OK);
            assert_memory_equal(a, b, sizeof a);
            const size_t at = (size_t)(a[0] + v->dim[0] * (a[1] + v->dim[1] * a[2]));
            uint64_t before = 0;
            for (size_t i = 0; i < at; i++) before += raw_at(v, i) == ir.value[c];
            assert_true(raw_at(v, at) == ir.value[c] && before == skip);
        }
        vxa_label_index_free(&ir);
        vxa_label_index_free(&id);
        vxa_dvol_release(ref, &dr);
        vxa_dvol_release(dev, &dd);
        vxa_volume_free(v);
    }
}

/* The foreground box on the device equals the reference and a direct scan, over channels, types and thresholds. */
static void test_fg_box_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference(), *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 1;
    const vxa_dtype types[3] = { VXA_FLOAT32, VXA_INT16, VXA_FLOAT64 };
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        const int64_t nc = 1 + s % 2;
        vxa_volume *v = vxa_test_random_volume(dim, nc, types[s % 3], &rng);
        if (s % 3 == 1) v->scl_slope = 0.5f;
        const double thr[3] = { 0.0, 900.0, 1e9 };
        for (int q = 0; q < 3; q++) {
            int64_t br[6], bd[6], want[6] = { INT64_MAX, INT64_MAX, INT64_MAX, -1, -1, -1 };
            vxa_dvol dr, dd;
            assert_int_equal(vxa_dvol_from_volume(ref, v, &dr), VXA_OK);
            assert_int_equal(vxa_dvol_from_volume(dev, v, &dd), VXA_OK);
            assert_int_equal(vxa_fg_box(ref, &dr, thr[q], br), VXA_OK);
            vxa_status st = vxa_fg_box(dev, &dd, thr[q], bd);
            if (st != VXA_OK) fail_msg("fg box: %s", vxa_last_error(dev));
            const size_t n = (size_t)(dim[0] * dim[1] * dim[2]);
            for (int64_t c = 0; c < nc; c++)
                for (size_t i = 0; i < n; i++) {
                    vxa_dvol raw = dr;   /* scaled in float32, as every path compares */
                    raw.slope = 0.0f;
                    float x = (float)vxa_dvol_value(&raw, (size_t)c * n + i);
                    if (dr.slope != 0.0f) x = x * dr.slope + dr.inter;
                    if (!(x > (float)thr[q])) continue;
                    const int64_t p[3] = { (int64_t)i % dim[0], (int64_t)i / dim[0] % dim[1],
                                           (int64_t)i / (dim[0] * dim[1]) };
                    for (int a = 0; a < 3; a++) {
                        if (p[a] < want[a]) want[a] = p[a];
                        if (p[a] > want[3 + a]) want[3 + a] = p[a];
                    }
                }
            if (want[3] < 0) assert_true(br[3] < 0 && bd[3] < 0);
            else {
                assert_memory_equal(br, want, sizeof want);
                assert_memory_equal(bd, want, sizeof want);
            }
            vxa_dvol_release(ref, &dr);
            vxa_dvol_release(dev, &dd);
        }
        vxa_volume_free(v);
        /* sparse: voxels at exactly the threshold are not foreground, those above are */
        vxa_volume *sp = NULL;
        assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &sp), VXA_OK);
        const size_t n = (size_t)(dim[0] * dim[1] * dim[2]);
        memset(sp->data, 0, n * sizeof(float));
        int64_t want[6] = { INT64_MAX, INT64_MAX, INT64_MAX, -1, -1, -1 };
        for (int q = 0; q < 5; q++) {
            const size_t i = (size_t)(vxa_test_rand(&rng) % n);
            ((float *)sp->data)[i] = q < 3 ? 5.0f : 7.0f;
        }
        for (size_t i = 0; i < n; i++) {
            if (!(((float *)sp->data)[i] > 5.0f)) continue;
            const int64_t p[3] = { (int64_t)i % dim[0], (int64_t)i / dim[0] % dim[1], (int64_t)i / (dim[0] * dim[1]) };
            for (int a = 0; a < 3; a++) {
                if (p[a] < want[a]) want[a] = p[a];
                if (p[a] > want[3 + a]) want[3 + a] = p[a];
            }
        }
        int64_t br[6], bd[6];
        vxa_dvol dr, dd;
        assert_int_equal(vxa_dvol_from_volume(ref, sp, &dr), VXA_OK);
        assert_int_equal(vxa_dvol_from_volume(dev, sp, &dd), VXA_OK);
        assert_int_equal(vxa_fg_box(ref, &dr, 5.0, br), VXA_OK);
        assert_int_equal(vxa_fg_box(dev, &dd, 5.0, bd), VXA_OK);
        if (want[3] < 0) assert_true(br[3] < 0 && bd[3] < 0);
        else {
            assert_memory_equal(br, want, sizeof want);
            assert_memory_equal(bd, want, sizeof want);
        }
        vxa_dvol_release(ref, &dr);
        vxa_dvol_release(dev, &dd);
        vxa_volume_free(sp);
    }
}

/* ---- the ops in pipelines ------------------------------------------------------------------------------------ */
static void parse_fails(const char *spec, const char *needle)
{
    vxa_pipeline *p = NULL;
    char err[1024] = "";
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) == VXA_OK) fail_msg("'%s' parsed", spec);
    if (!strstr(err, needle)) fail_msg("'%s': error '%s' lacks '%s'", spec, err, needle);
}

/* The integers of JSON member "key":[a,b,c] (or a number) after `from` in json; the count read. */
static int json_ints(const char *json, const char *key, int64_t *out, int max)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *at = strstr(json, k);
    if (!at) return 0;
    at += strlen(k);
    if (*at == '[') at++;
    int n = 0;
    while (n < max) {
        char *end;
        const long long x = strtoll(at, &end, 10);
        if (end == at) break;
        out[n++] = x;
        at = end;
        if (*at != ',') break;
        at++;
    }
    return n;
}

static vxa_volume *image_for(const vxa_volume *lab)
{
    vxa_volume *img = NULL;
    assert_int_equal(vxa_volume_alloc(lab->dim, 1, VXA_FLOAT32, &img), VXA_OK);
    const size_t n = (size_t)(lab->dim[0] * lab->dim[1] * lab->dim[2]);
    for (size_t i = 0; i < n; i++) ((float *)img->data)[i] = (float)(i % 97);
    return img;
}

/* Runs spec on both paths; asserts the same labels and draw; returns the device's draw JSON (malloc'd) and
 * label map. */
static char *run_both(const char *spec, uint64_t sample, const vxa_volume *img, const vxa_volume *lab,
                      vxa_volume **olab)
{
    vxa_context *ctxs[2] = { vxa_test_reference(), vxa_test_device() };
    vxa_pipeline *p = vxa_test_parse(spec);
    vxa_volume *outs[2] = { NULL, NULL }, *labs[2] = { NULL, NULL };
    vxa_draw *draws[2] = { NULL, NULL };
    for (int c = 0; c < 2; c++) {
        vxa_status st = vxa_pipeline_run(ctxs[c], p, 7, sample, img, lab, &outs[c], lab ? &labs[c] : NULL, &draws[c]);
        if (st != VXA_OK) fail_msg("%s on %s: %s", spec, vxa_context_device_name(ctxs[c]), vxa_last_error(ctxs[c]));
    }
    assert_string_equal(vxa_draw_json(draws[0]), vxa_draw_json(draws[1]));
    if (lab) assert_true(vxa_test_identical(labs[0], labs[1]));
    assert_true(vxa_test_max_abs_diff(outs[0], outs[1]) <= 1e-3);
    char *json = strdup(vxa_draw_json(draws[1]));
    for (int c = 0; c < 2; c++) {
        vxa_volume_free(outs[c]);
        vxa_draw_free(draws[c]);
    }
    vxa_volume_free(labs[0]);
    if (olab) *olab = labs[1];
    else vxa_volume_free(labs[1]);
    vxa_pipeline_free(p);
    return json;
}

static bool holds(const vxa_volume *v, int64_t value)
{
    const size_t n = (size_t)(v->dim[0] * v->dim[1] * v->dim[2]);
    for (size_t i = 0; i < n; i++)
        if (raw_at(v, i) == value) return true;
    return false;
}

/* A 41x37x23 map: class 3 over a slab, class 7 a 2x2x1 speck near the far corner. */
static vxa_volume *speck_map(void)
{
    const int64_t dim[3] = { 41, 37, 23 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, &v), VXA_OK);
    memset(v->data, 0, 41 * 37 * 23);
    for (int64_t k = 0; k < 23; k++)
        for (int64_t j = 0; j < 37; j++)
            for (int64_t i = 0; i < 10; i++) raw_set(v, (size_t)(i + 41 * (j + 37 * k)), 3);
    for (int64_t j = 34; j < 36; j++)
        for (int64_t i = 38; i < 40; i++) raw_set(v, (size_t)(i + 41 * (j + 37 * 20)), 7);
    return v;
}

/* nnU-Net's rule: p_fg=1 with classes=7 centres every patch on the speck, start max(lbs, v - m//2) (clamped below
 * only: the patch reaches past the far edge); uniform patches, p_fg=0, stay inside. Device = reference. */
static void test_fg_crop_follows_nnunet(void **state)
{
    (void)state;
    vxa_test_device();   /* skips before anything is allocated */
    vxa_volume *lab = speck_map(), *img = image_for(lab);
    for (uint64_t s = 0; s < 6; s++) {
        vxa_volume *olab = NULL;
        char *json = run_both("fg_crop(size=12,9,6, p_fg=1, classes=7)", s, img, lab, &olab);
        int64_t voxel[3], start[3];
        assert_int_equal(json_ints(json, "voxel", voxel, 3), 3);
        assert_int_equal(json_ints(json, "start", start, 3), 3);
        assert_true(raw_at(lab, (size_t)(voxel[0] + 41 * (voxel[1] + 37 * voxel[2]))) == 7);
        const int64_t m[3] = { 12, 9, 6 };
        for (int a = 0; a < 3; a++) assert_true(start[a] == (voxel[a] - m[a] / 2 > 0 ? voxel[a] - m[a] / 2 : 0));
        assert_true(holds(olab, 7));
        vxa_volume_free(olab);
        free(json);
    }
    /* after a flip in the same pass: the voxel is carried into the flipped grid, one resampling pass in all */
    for (uint64_t s = 0; s < 3; s++) {
        vxa_volume *olab = NULL;
        char *json = run_both("flip(axes=0) fg_crop(size=2,9,6, p_fg=1, classes=7)", s, img, lab, &olab);
        int64_t voxel[3], start[3];
        assert_int_equal(json_ints(json, "voxel", voxel, 3), 3);
        assert_int_equal(json_ints(json, "start", start, 3), 3);
        assert_true(start[0] == 40 - voxel[0] - 1 && start[1] == voxel[1] - 4 && holds(olab, 7));
        vxa_volume_free(olab);
        free(json);
    }
    vxa_pipeline *fp = vxa_test_parse("flip(axes=0) rotate(5) fg_crop(8, p_fg=1)");
    vxa_grid g;
    vxa_grid_of_volume(lab, &g);
    vxa_plan plan;
    char perr_[256];
    assert_int_equal(vxa_plan_make(fp, 1, 0, &g, 0, &plan, perr_, sizeof perr_), VXA_OK);
    assert_int_equal(plan.npasses, 1);
    vxa_plan_free(&plan);
    vxa_pipeline_free(fp);
    /* larger than the volume along k: lbs = -ceil(need/2), the patch about the voxel from there */
    char *json = run_both("fg_crop(size=8,8,30, p_fg=1, classes=7)", 1, img, lab, NULL);
    int64_t start[3];
    assert_int_equal(json_ints(json, "start", start, 3), 3);
    assert_true(start[2] == 5);  /* v_k 20 - 15 = 5 > lbs -4 */
    free(json);
    for (uint64_t s = 0; s < 8; s++) {
        json = run_both("fg_crop(size=12,9,6, p_fg=0)", s, img, lab, NULL);
        assert_non_null(strstr(json, "\"fg\":false"));
        assert_int_equal(json_ints(json, "start", start, 3), 3);
        assert_true(start[0] >= 0 && start[0] <= 41 - 12 && start[2] >= 0 && start[2] <= 23 - 6);
        free(json);
    }
    /* absent classes: nnU-Net falls back to a uniform patch */
    json = run_both("fg_crop(8, p_fg=1, classes=9)", 0, img, lab, NULL);
    assert_non_null(strstr(json, "\"class\":null"));
    free(json);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* MONAI's rules: label_crop(ratios=0,0,0,0,0,0,0,1) always centres on class 7, balanced_crop(pos=1, neg=0) on the
 * foreground, (pos=0, neg=1) on the background; the start c - m//2 clamped into 0..n-m. */
static void test_monai_crops_follow_their_rules(void **state)
{
    (void)state;
    vxa_test_device();   /* skips before anything is allocated */
    vxa_volume *lab = speck_map(), *img = image_for(lab);
    for (uint64_t s = 0; s < 5; s++) {
        vxa_volume *olab = NULL;
        char *json = run_both("label_crop(size=12,9,6, ratios=0,0,0,0,0,0,0,1)", s, img, lab, &olab);
        int64_t voxel[3], start[3], cls[1];
        assert_int_equal(json_ints(json, "voxel", voxel, 3), 3);
        assert_int_equal(json_ints(json, "start", start, 3), 3);
        assert_int_equal(json_ints(json, "class", cls, 1), 1);
        assert_true(cls[0] == 7 && holds(olab, 7));
        const int64_t m[3] = { 12, 9, 6 }, n[3] = { 41, 37, 23 };
        for (int a = 0; a < 3; a++) {
            int64_t want = voxel[a] - m[a] / 2;
            want = want < 0 ? 0 : want > n[a] - m[a] ? n[a] - m[a] : want;
            assert_true(start[a] == want);
        }
        vxa_volume_free(olab);
        free(json);
        json = run_both("balanced_crop(size=4, pos=1, neg=0)", s, img, lab, NULL);
        assert_non_null(strstr(json, "\"fg\":true"));
        assert_int_equal(json_ints(json, "voxel", voxel, 3), 3);
        assert_true(raw_at(lab, (size_t)(voxel[0] + 41 * (voxel[1] + 37 * voxel[2]))) != 0);
        free(json);
        json = run_both("balanced_crop(size=4, pos=0, neg=1)", s, img, lab, NULL);
        assert_int_equal(json_ints(json, "voxel", voxel, 3), 3);
        assert_true(raw_at(lab, (size_t)(voxel[0] + 41 * (voxel[1] + 37 * voxel[2]))) == 0);
        free(json);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* crop_foreground: the box of the image's voxels over the threshold plus margin, clamped (allow_smaller=1) or
 * padded (0); of the label map with source=label; the whole volume when nothing is over. */
static void test_crop_foreground_box(void **state)
{
    (void)state;
    vxa_test_device();   /* skips before anything is allocated */
    vxa_volume *lab = speck_map(), *img = image_for(lab);
    float *x = img->data;
    for (size_t i = 0; i < 41 * 37 * 23; i++) x[i] = 0.0f;
    x[5 + 41 * (6 + 37 * 7)] = 2.0f;
    x[30 + 41 * (8 + 37 * 20)] = 1.0f;
    vxa_volume *olab = NULL;
    char *json = run_both("crop_foreground(margin=2)", 0, img, lab, &olab);
    int64_t box[6];
    assert_int_equal(json_ints(json, "box", box, 6), 6);
    const int64_t want[6] = { 3, 4, 5, 33, 11, 23 };   /* [min - 2, max + 3), k clamped at 23 */
    assert_memory_equal(box, want, sizeof want);
    assert_true(olab->dim[0] == 30 && olab->dim[1] == 7 && olab->dim[2] == 18);
    vxa_volume_free(olab);
    free(json);
    json = run_both("crop_foreground(margin=2, allow_smaller=0)", 0, img, lab, &olab);
    assert_int_equal(json_ints(json, "box", box, 6), 6);
    assert_true(box[5] == 23 && olab->dim[2] == 18);   /* max k 20 + 3 = 23: at the edge, nothing to pad */
    vxa_volume_free(olab);
    free(json);
    json = run_both("crop_foreground(margin=4, threshold=1.5, allow_smaller=0)", 0, img, lab, &olab);
    assert_int_equal(json_ints(json, "box", box, 6), 6);
    const int64_t want2[6] = { 1, 2, 3, 10, 11, 12 };
    assert_memory_equal(box, want2, sizeof want2);
    vxa_volume_free(olab);
    free(json);
    json = run_both("crop_foreground(source=label, threshold=5)", 0, img, lab, &olab);
    assert_int_equal(json_ints(json, "box", box, 6), 6);
    const int64_t want3[6] = { 38, 34, 20, 40, 36, 21 };
    assert_memory_equal(box, want3, sizeof want3);
    assert_true(holds(olab, 7) && !holds(olab, 3));
    vxa_volume_free(olab);
    free(json);
    json = run_both("crop_foreground(threshold=100)", 0, img, lab, &olab);
    assert_non_null(strstr(json, "\"empty\":true"));
    assert_true(olab->dim[0] == 41 && olab->dim[1] == 37 && olab->dim[2] == 23);
    vxa_volume_free(olab);
    free(json);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* Errors: a sampling op without a label map names it; crop_foreground after another op is refused by the
 * parser; the output shape of crop_foreground is unknown before the data, unless a later op fixes it. */
static void test_data_ops_errors_and_shapes(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    vxa_volume *lab = speck_map(), *img = image_for(lab), *out = NULL;
    vxa_pipeline *p = vxa_test_parse("fg_crop(8, p_fg=1)");
    assert_int_equal(vxa_pipeline_run(ref, p, 1, 0, img, NULL, &out, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "label map"));
    assert_null(out);
    vxa_volume shape;
    vxa_volume_init(&shape, img->dim, 1, VXA_FLOAT32);
    assert_int_equal(vxa_pipeline_output_shape(p, img, &shape), VXA_OK);
    assert_true(shape.dim[0] == 8 && shape.dim[2] == 8);
    vxa_pipeline_free(p);
    parse_fails("rotate(10) crop_foreground", "must come before every other op");
    parse_fails("one_of(crop_foreground, flip)", "cannot be inside a group");
    parse_fails("fg_crop(8, classes=1,2,[3,4])", "fixed value");
    /* undoing re-plans without the data: refused, not undone at another place */
    p = vxa_test_parse("rotate(5) fg_crop(8, p_fg=1)");
    vxa_run_options o;
    vxa_run_options_init(&o);
    vxa_volume *olab = NULL, *back = NULL;
    assert_int_equal(vxa_pipeline_run_ex(ref, p, &o, img, lab, &out, &olab, NULL), VXA_OK);
    vxa_volume_free(olab);
    assert_int_equal(vxa_pipeline_invert(ref, p, &o, img, out, NULL, &back, NULL, NULL), VXA_ERR_UNSUPPORTED);
    assert_non_null(strstr(vxa_last_error(ref), "cannot be undone"));
    assert_null(back);
    vxa_volume_free(out);
    vxa_pipeline_free(p);
    p = vxa_test_parse("sampling(mode=nearest) crop_foreground(margin=1)");
    assert_int_equal(vxa_pipeline_output_shape(p, img, &shape), VXA_ERR_UNSUPPORTED);
    vxa_pipeline_free(p);
    p = vxa_test_parse("crop_foreground(margin=1) resize(16)");
    assert_int_equal(vxa_pipeline_output_shape(p, img, &shape), VXA_OK);
    assert_true(shape.dim[0] == 16 && shape.dim[1] == 16);
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* A resident input keeps its label index: fg_crop from it equals the run from host memory sample by sample (draw
 * and label map), and the index is built by the first sample that needs it, once. */
static void test_resident_keeps_the_label_index(void **state)
{
    (void)state;
    vxa_context *ctx = vxa_test_device();
    vxa_volume *lab = speck_map(), *img = image_for(lab);
    vxa_pipeline *p = vxa_test_parse("fg_crop(size=12,9,6, p_fg=1)");
    vxa_resident *r = NULL;
    if (vxa_resident_create(ctx, img, lab, NULL, &r) != VXA_OK) fail_msg("resident: %s", vxa_last_error(ctx));
    const uint64_t before = vxa_context_launches(ctx, "vxa_label_range");
    for (uint64_t s = 0; s < 4; s++) {
        vxa_run_options o;
        vxa_run_options_init(&o);
        o.seed = 5;
        o.sample = s;
        vxa_volume *a = NULL, *al = NULL, *b = NULL, *bl = NULL;
        vxa_draw *da = NULL, *db = NULL;
        assert_int_equal(vxa_pipeline_run_resident(ctx, p, &o, r, &a, &al, &da), VXA_OK);
        assert_int_equal(vxa_pipeline_run_ex(ctx, p, &o, img, lab, &b, &bl, &db), VXA_OK);
        assert_string_equal(vxa_draw_json(da), vxa_draw_json(db));
        assert_true(vxa_test_identical(al, bl) && vxa_test_identical(a, b));
        vxa_volume_free(a);
        vxa_volume_free(al);
        vxa_volume_free(b);
        vxa_volume_free(bl);
        vxa_draw_free(da);
        vxa_draw_free(db);
    }
    /* four host runs build it four times, the resident once */
    assert_int_equal(vxa_context_launches(ctx, "vxa_label_range") - before, 5);
    vxa_resident_free(r);
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* ---- composition ------------------------------------------------------------------------------------------- */
static void test_groups_parse_format_and_errors(void **state)
{
    (void)state;
    const char *good[][2] = {
        { "one_of(flip, rotate(10))", "one_of(flip(), rotate(angle=10))" },
        { "one_of( zscore , minmax, weights = 3, 1, p=0.5 )", "one_of(zscore(), minmax(), weights=3,1, p=0.5)" },
        { "some_of(2, flip, noise(0.1), gamma(1.2))", "some_of(flip(), noise(std=0.1), gamma(gamma=1.2), n=2)" },
        { "some_of(n=[1,3], flip, noise(0.1), gamma(1.2), weights=1,2,3)",
          "some_of(flip(), noise(std=0.1), gamma(gamma=1.2), n=[1,3], weights=1,2,3)" },
        { "shuffle(one_of(flip, zoom(1.1)), noise(0.1)) random_crop(8)",
          "shuffle(one_of(flip(), zoom(z=1.1)), noise(std=0.1)) random_crop(size=8)" },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        vxa_pipeline *p = vxa_test_parse(good[i][0]);
        if (strcmp(vxa_pipeline_string(p), good[i][1]) != 0)
            fail_msg("'%s' normalised to '%s', expected '%s'", good[i][0], vxa_pipeline_string(p), good[i][1]);
        vxa_pipeline *q = vxa_test_parse(vxa_pipeline_string(p));   /* the normal form reads back as itself */
        assert_string_equal(vxa_pipeline_string(q), vxa_pipeline_string(p));
        vxa_pipeline_free(q);
        vxa_pipeline_free(p);
    }
    parse_fails("one_of()", "no ops inside");
    parse_fails("one_of flip", "in parentheses");
    parse_fails("one_of(flip, rotate(10), weights=1)", "1 weights for 2 ops");
    parse_fails("one_of(flip, rotate(10), weights=0,0)", "every weight is 0");
    parse_fails("some_of(3, flip, rotate(10))", "only 2 ops inside");
    parse_fails("one_of(flip, 3)", "expected an op here");
    parse_fails("one_of(flip, bogus)", "unknown op 'bogus'");
    parse_fails("one_of(flip, size=3)", "has no parameter 'size'");
    parse_fails("one_of(flip rotate(10))", "expected ',' or ')'");
    parse_fails("one_of(flip, rotate(10)", "expected ',' or ')' before the end");
    parse_fails("one_of(flip, p=0.5, p=0.4)", "given twice");
    parse_fails("one_of(one_of(one_of(one_of(one_of(one_of(one_of(one_of(one_of(flip)))))))))", "nest at most 8");
}

/* Draws: one_of picks by weight (a binomial check over 600 samples), some_of distinct children, shuffle every
 * order; what was picked is in the draw record and only the picked ops are drawn; fusion applies to them. */
static void test_groups_draw_by_weight_and_fuse(void **state)
{
    (void)state;
    vxa_pipeline *p = vxa_test_parse("one_of(flip(axes=0), flip(axes=1), weights=3,1)");
    const int64_t dim[3] = { 9, 8, 7 };
    vxa_grid g;
    memset(&g, 0, sizeof g);
    for (int a = 0; a < 3; a++) {
        g.dim[a] = dim[a];
        g.spacing[a] = 1;
        g.affine[a][a] = 1;
    }
    g.affine[3][3] = 1;
    int first = 0;
    for (uint64_t s = 0; s < 600; s++) {
        vxa_plan plan;
        char err[256];
        assert_int_equal(vxa_plan_make(p, 3, s, &g, 0, &plan, err, sizeof err), VXA_OK);
        assert_true(plan.ops[0].drawn && (plan.ops[1].drawn != plan.ops[2].drawn));
        first += plan.ops[1].drawn;
        vxa_draw *d = vxa_plan_draw(p, &plan, false);
        assert_non_null(strstr(vxa_draw_json(d), plan.ops[1].drawn ? "\"chosen\":[0]" : "\"chosen\":[1]"));
        vxa_draw_free(d);
        vxa_plan_free(&plan);
    }
    /* 450 expected, sd 10.6 */
    if (first < 410 || first > 490) fail_msg("one_of(weights=3,1) took the first %d times of 600", first);
    vxa_pipeline_free(p);

    p = vxa_test_parse("some_of(2, noise(0.1), gamma(1.2), minmax, clip(0, 1))");
    for (uint64_t s = 0; s < 50; s++) {
        vxa_plan plan;
        char err[256];
        assert_int_equal(vxa_plan_make(p, 3, s, &g, 0, &plan, err, sizeof err), VXA_OK);
        int drawn = 0;
        for (int k = 1; k < 5; k++) drawn += plan.ops[k].drawn;
        assert_int_equal(drawn, 2);
        assert_true(plan.npasses == 1 && plan.passes[0].nops == 2);
        vxa_plan_free(&plan);
    }
    vxa_pipeline_free(p);

    p = vxa_test_parse("shuffle(noise(0.1), gamma(1.2), minmax)");
    int seen[3] = { 0 };
    for (uint64_t s = 0; s < 120; s++) {
        vxa_plan plan;
        char err[256];
        assert_int_equal(vxa_plan_make(p, 3, s, &g, 0, &plan, err, sizeof err), VXA_OK);
        assert_int_equal(plan.passes[0].nops, 3);
        const char *a = plan.passes[0].descs[0]->name;
        seen[a[0] == 'n' ? 0 : a[0] == 'g' ? 1 : 2]++;
        vxa_plan_free(&plan);
    }
    for (int c = 0; c < 3; c++) assert_true(seen[c] > 20);   /* each comes first about 40 times of 120 */
    vxa_pipeline_free(p);

    /* fusion with the ops drawn: intensity then a crop, the crop computed by the intensity pass */
    p = vxa_test_parse("one_of(zscore, minmax) random_crop(4)");
    vxa_plan plan;
    char err[256];
    assert_int_equal(vxa_plan_make(p, 3, 0, &g, 0, &plan, err, sizeof err), VXA_OK);
    assert_true(plan.npasses == 2 && plan.passes[0].window && plan.passes[1].fused);
    vxa_plan_free(&plan);
    vxa_pipeline_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_index_device_equals_reference),
        cmocka_unit_test(test_fg_box_device_equals_reference),
        cmocka_unit_test(test_fg_crop_follows_nnunet),
        cmocka_unit_test(test_monai_crops_follow_their_rules),
        cmocka_unit_test(test_crop_foreground_box),
        cmocka_unit_test(test_data_ops_errors_and_shapes),
        cmocka_unit_test(test_resident_keeps_the_label_index),
        cmocka_unit_test(test_groups_parse_format_and_errors),
        cmocka_unit_test(test_groups_draw_by_weight_and_fuse),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
