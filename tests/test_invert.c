/* SPDX-License-Identifier: MIT */
/* Undoing a draw (vxa_pipeline_invert) and its displacement field (vxa_pipeline_displacement_field): whole-voxel
 * maps come back exactly, label maps come back identical wherever the run sampled them (shown with a label map
 * that holds each voxel's own index), images within the interpolation's smoothing, the elastic inverse
 * converges, device = reference; the field resamples the input into the run's output; the NIfTI layout ITK
 * reads. Real data (ch2 + aal, 20 draws) and SimpleITK: tests/scipy/check_invert.py. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void run_ok(vxa_context *ctx, const vxa_pipeline *p, uint64_t sample, const vxa_volume *img,
                   const vxa_volume *lab, vxa_volume **oi, vxa_volume **ol)
{
    if (vxa_pipeline_run(ctx, p, 7, sample, img, lab, oi, lab ? ol : NULL, NULL) != VXA_OK)
        fail_msg("run '%s': %s", vxa_pipeline_string(p), vxa_last_error(ctx));
}

static vxa_volume *invert_ok(vxa_context *ctx, const vxa_pipeline *p, uint64_t sample, const vxa_volume *like,
                             const vxa_volume *out, int nearest, double cval, vxa_invert_report *rep)
{
    vxa_run_options o;
    vxa_run_options_init(&o);
    o.seed = 7;
    o.sample = sample;
    vxa_invert_options opt;
    vxa_invert_options_init(&opt);
    opt.nearest = nearest;
    opt.cval = cval;
    vxa_invert_report r;
    vxa_invert_report_init(&r);
    vxa_volume *back = NULL;
    if (vxa_pipeline_invert(ctx, p, &o, like, out, &opt, &back, &r, NULL) != VXA_OK)
        fail_msg("invert '%s': %s", vxa_pipeline_string(p), vxa_last_error(ctx));
    for (int a = 0; a < 3; a++) assert_int_equal(back->dim[a], like->dim[a]);
    for (int r_ = 0; r_ < 4; r_++)
        for (int c = 0; c < 4; c++) assert_true(back->affine[r_][c] == like->affine[r_][c]);
    if (rep) *rep = r;
    return back;
}

/* int32 labels holding each voxel's own index + 1 (0 stays free for what left the field of view). */
static vxa_volume *index_labels(const int64_t dim[3])
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_INT32, &v), VXA_OK);
    int32_t *x = v->data;
    for (size_t i = 0; i < vxa_volume_voxels(v); i++) x[i] = (int32_t)i + 1;
    return v;
}

static vxa_volume *constant(const int64_t dim[3], vxa_dtype t, double value)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, t, &v), VXA_OK);
    for (size_t i = 0; i < vxa_volume_voxels(v); i++) vxa_volume_set(v, (int64_t)i, 0, 0, 0, value);
    return v;
}

/* Flips, crops, pads, quarter turns and whole shifts: the labels and the image come back voxel for voxel where
 * the content stayed, cval elsewhere, and the count of the rest is the report's (the crop's exactly). */
static void test_whole_voxel_maps_come_back_exactly(void **state)
{
    (void)state;
    uint64_t s = vxa_test_seed();
    const int64_t dim[3] = { 23, 19, 17 };
    const size_t nvox = 23 * 19 * 17;
    static const struct { const char *spec; int64_t outside; } cases[] = {
        { "flip(axes=0,1,2) crop(15,11,9, start=3,4,5)", 23 * 19 * 17 - 15 * 11 * 9 },
        { "pad(3, after=2) flip(axes=1)", 0 },
        { "rotate(90, plane=0,2) center_crop(25,25,25)", -1 },
        { "shift(2,-3,1)", 23 * 19 * 17 - 21 * 16 * 16 },
        { "random_crop(10,12,8) flip(axes=2)", 23 * 19 * 17 - 10 * 12 * 8 },
        { "zscore crop(10,10,10)", 23 * 19 * 17 - 1000 },
    };
    vxa_context *ref = vxa_test_reference();
    vxa_volume *img = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &s), *lab = index_labels(dim);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vxa_pipeline *p = vxa_test_parse(cases[c].spec);
        vxa_volume *oi = NULL, *ol = NULL;
        run_ok(ref, p, c, img, lab, &oi, &ol);
        vxa_invert_report ri, rl;
        vxa_volume *bi = invert_ok(ref, p, c, img, oi, 0, -7.0, &ri), *bl = invert_ok(ref, p, c, img, ol, 1, 0, &rl);
        assert_int_equal(bl->dtype, VXA_INT32);
        assert_int_equal(bi->dtype, VXA_FLOAT32);
        const int32_t *l = bl->data;
        const float *x = bi->data, *x0 = img->data;
        const bool intensity = strstr(cases[c].spec, "zscore") != NULL;
        size_t out = 0;
        for (size_t v = 0; v < nvox; v++) {
            if (l[v] == 0) {
                out++;
                if (x[v] != -7.0f) fail_msg("%s: voxel %zu outside holds %g, not the cval -7", cases[c].spec, v, x[v]);
                continue;
            }
            if (l[v] != (int32_t)v + 1) fail_msg("%s: label at voxel %zu came back as %d", cases[c].spec, v, l[v] - 1);
            if (!intensity && x[v] != x0[v])
                fail_msg("%s: image at voxel %zu: %g, was %g", cases[c].spec, v, x[v], x0[v]);
        }
        if (cases[c].outside >= 0) assert_int_equal(out, (size_t)cases[c].outside);
        assert_int_equal(rl.outside, out);
        assert_int_equal(ri.outside, out);
        assert_int_equal(rl.sampled, nvox - out);
        assert_int_equal(rl.voxels, nvox);
        assert_int_equal(ri.intensity_ops, intensity ? 1 : 0);
        assert_string_equal(ri.intensity_names, intensity ? "zscore" : "");
        assert_int_equal(ri.elastic_passes, 0);
        vxa_volume_free(oi);
        vxa_volume_free(ol);
        vxa_volume_free(bi);
        vxa_volume_free(bl);
        vxa_pipeline_free(p);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* A rotation, a zoom out (which skips input voxels), an elastic field and a crop, on labels that name their own
 * voxel: a voxel comes back with its own index exactly when the run sampled it (and the report counts those),
 * every other voxel in the field of view with a neighbour's, what left it with 0 (as does a voxel on the input's
 * border whose nearest output voxel read just outside the input: the run's own 0 there). */
static void check_labels_where_sampled(vxa_context *ctx, const char *spec, uint64_t sample, double min_sampled)
{
    const int64_t dim[3] = { 41, 37, 29 };
    vxa_volume *lab = index_labels(dim), *img = constant(dim, VXA_FLOAT32, 1.0);
    vxa_pipeline *p = vxa_test_parse(spec);
    vxa_volume *oi = NULL, *ol = NULL;
    run_ok(ctx, p, sample, img, lab, &oi, &ol);
    vxa_invert_report r;
    vxa_volume *bl = invert_ok(ctx, p, sample, img, ol, 1, 0, &r);
    const int32_t *l = bl->data;
    size_t same = 0, out = 0, near = 0, border = 0;
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++) {
                const int64_t v = i + dim[0] * (j + dim[1] * k), w = (int64_t)l[v] - 1;
                if (w < 0) {
                    out++;
                    border += i == 0 || j == 0 || k == 0 || i == dim[0] - 1 || j == dim[1] - 1 || k == dim[2] - 1;
                    continue;
                }
                if (w == v) { same++; continue; }
                const int64_t wi = w % dim[0], wj = (w / dim[0]) % dim[1], wk = w / (dim[0] * dim[1]);
                if (llabs(wi - i) > 1 || llabs(wj - j) > 1 || llabs(wk - k) > 1)
                    fail_msg("%s: voxel (%lld,%lld,%lld) came back as (%lld,%lld,%lld), not a neighbour", spec,
                             (long long)i, (long long)j, (long long)k, (long long)wi, (long long)wj, (long long)wk);
                near++;
            }
    fprintf(stderr, "# %s sample %llu: %zu identical (sampled), %zu from a neighbour, %zu outside of %zu; elastic "
            "residual max %.3g voxel, %d iterations\n", spec, (unsigned long long)sample, same, near, out,
            (size_t)(dim[0] * dim[1] * dim[2]), r.residual_max, r.iterations);
    assert_int_equal(r.sampled, same);
    assert_true(r.outside <= out && out - r.outside <= border);
    assert_true((double)same >= min_sampled * (double)(same + near));
    assert_true(out > 0 && same > 0);
    vxa_volume_free(oi);
    vxa_volume_free(ol);
    vxa_volume_free(bl);
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_pipeline_free(p);
}

#define WARP_SPEC "rotate(17, plane=0,1) zoom(0.9) elastic(alpha=100, sigma=5) crop(33,31,25)"

static void test_labels_come_back_identical_where_sampled(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    for (uint64_t sample = 0; sample < 2; sample++) check_labels_where_sampled(ref, WARP_SPEC, sample, 0.6);
    /* two passes (an intensity op between them), two elastic fields */
    check_labels_where_sampled(ref, "rotate(10, plane=1,2) elastic(alpha=80, sigma=6) noise(0.1) flip(axes=0) "
                                    "elastic(alpha=80, sigma=6) center_crop(36,30,26)", 3, 0.6);
}

/* The trilinear inverse gives back a smooth image within the range of its own values 2 voxels around each voxel
 * (two trilinear interpolations each stay within their neighbours' range), away from the field of view's edge. */
static void test_images_come_back_within_interpolation(void **state)
{
    (void)state;
    uint64_t s = vxa_test_seed() ^ 0x5eed;
    const int64_t dim[3] = { 41, 37, 29 };
    vxa_context *ref = vxa_test_reference();
    vxa_volume *img = vxa_test_smooth_volume(dim, &s), *ones = constant(dim, VXA_FLOAT32, 1.0);
    vxa_pipeline *p = vxa_test_parse(WARP_SPEC);
    vxa_volume *oi = NULL, *oo = NULL;
    run_ok(ref, p, 1, img, NULL, &oi, NULL);
    run_ok(ref, p, 1, ones, NULL, &oo, NULL);
    vxa_invert_report r;
    vxa_volume *back = invert_ok(ref, p, 1, img, oi, 0, 0, &r), *mask = invert_ok(ref, p, 1, img, oo, 0, 0, NULL);
    const float *x = back->data, *x0 = img->data, *m = mask->data;
    const double range = vxa_test_range(img);
    double sum2 = 0.0, worst = 0.0;
    size_t n = 0;
    for (int64_t k = 0; k < dim[2]; k++)
        for (int64_t j = 0; j < dim[1]; j++)
            for (int64_t i = 0; i < dim[0]; i++) {
                const int64_t v = i + dim[0] * (j + dim[1] * k);
                if (!(m[v] > 1.0f - 1e-5f)) continue;   /* every neighbour read was inside, twice */
                double lo = INFINITY, hi = -INFINITY;
                for (int64_t dk = -2; dk <= 2; dk++)
                    for (int64_t dj = -2; dj <= 2; dj++)
                        for (int64_t di = -2; di <= 2; di++) {
                            const int64_t a = i + di, b = j + dj, c = k + dk;
                            if (a < 0 || a >= dim[0] || b < 0 || b >= dim[1] || c < 0 || c >= dim[2]) continue;
                            const double y = x0[a + dim[0] * (b + dim[1] * c)];
                            lo = fmin(lo, y);
                            hi = fmax(hi, y);
                        }
                const double e = (double)x[v] - (double)x0[v];
                if (x[v] < lo - 1e-4 * range || x[v] > hi + 1e-4 * range)
                    fail_msg("voxel (%lld,%lld,%lld) came back as %g, outside its neighbourhood's [%g, %g]",
                             (long long)i, (long long)j, (long long)k, x[v], lo, hi);
                sum2 += e * e;
                worst = fmax(worst, fabs(e));
                n++;
            }
    fprintf(stderr, "# image round trip: %zu voxels inside, RMS error %.3g%% of the range, max %.3g%%\n", n,
            100.0 * sqrt(sum2 / (double)n) / range, 100.0 * worst / range);
    assert_true(n > 1000);
    assert_true(sqrt(sum2 / (double)n) < 0.02 * range);
    vxa_volume_free(img);
    vxa_volume_free(ones);
    vxa_volume_free(oi);
    vxa_volume_free(oo);
    vxa_volume_free(back);
    vxa_volume_free(mask);
    vxa_pipeline_free(p);
}

static void test_elastic_inverse_converges(void **state)
{
    (void)state;
    const int64_t dim[3] = { 41, 37, 29 };
    vxa_context *ref = vxa_test_reference();
    vxa_volume *img = constant(dim, VXA_FLOAT32, 1.0), *oi = NULL;
    vxa_pipeline *p = vxa_test_parse(WARP_SPEC);
    run_ok(ref, p, 0, img, NULL, &oi, NULL);
    vxa_invert_report r;
    vxa_volume *back = invert_ok(ref, p, 0, img, oi, 0, 0, &r);
    fprintf(stderr, "# elastic inverse: %d iterations at most, residual max %.3g, mean %.3g voxel\n", r.iterations,
            r.residual_max, r.residual_mean);
    assert_int_equal(r.elastic_passes, 1);
    assert_true(r.iterations >= 2 && r.iterations <= 50);
    assert_true(r.residual_max < 1e-5);
    assert_int_equal(r.unconverged, 0);
    vxa_volume_free(img);
    vxa_volume_free(oi);
    vxa_volume_free(back);
    vxa_pipeline_free(p);
}

/* The device's inverse = the reference's: labels identical, images within 1e-4 of the range. */
static void test_device_equals_reference(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    vxa_context *ref = vxa_test_reference();
    uint64_t s = vxa_test_seed() ^ 0xdef;
    const int64_t dim[3] = { 41, 37, 29 };
    vxa_volume *img = vxa_test_smooth_volume(dim, &s), *lab = index_labels(dim);
    static const char *const specs[] = { WARP_SPEC, "flip(axes=0) pad(2) crop(30,30,30)" };
    for (int c = 0; c < 2; c++) {
        vxa_pipeline *p = vxa_test_parse(specs[c]);
        vxa_volume *oi = NULL, *ol = NULL;
        run_ok(ref, p, 2, img, lab, &oi, &ol);
        vxa_invert_report r1, r2, r3, r4;
        vxa_volume *ai = invert_ok(dev, p, 2, img, oi, 0, 0, &r1), *bi = invert_ok(ref, p, 2, img, oi, 0, 0, &r2);
        vxa_volume *al = invert_ok(dev, p, 2, img, ol, 1, 0, &r3), *bl = invert_ok(ref, p, 2, img, ol, 1, 0, &r4);
        assert_true(vxa_test_max_abs_diff(ai, bi) <= 1e-4 * vxa_test_range(img));
        assert_true(vxa_test_identical(al, bl));
        assert_int_equal(r1.outside, r2.outside);
        assert_int_equal(r3.outside, r4.outside);
        assert_int_equal(r3.sampled, r4.sampled);
        vxa_volume_free(oi);
        vxa_volume_free(ol);
        vxa_volume_free(ai);
        vxa_volume_free(bi);
        vxa_volume_free(al);
        vxa_volume_free(bl);
        vxa_pipeline_free(p);
    }
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

static void test_invert_errors_are_named(void **state)
{
    (void)state;
    vxa_context *ref = vxa_test_reference();
    const int64_t dim[3] = { 12, 10, 8 }, other[3] = { 11, 10, 8 };
    vxa_volume *img = constant(dim, VXA_FLOAT32, 1.0), *wrong = constant(other, VXA_FLOAT32, 1.0), *back = NULL;
    vxa_pipeline *p = vxa_test_parse("crop(11,10,7)"), *sing = vxa_test_parse("affine(row0=1,0,0, row1=0,1,0, row2=0,0,0)");
    vxa_run_options o;
    vxa_run_options_init(&o);
    assert_int_equal(vxa_pipeline_invert(ref, p, &o, img, wrong, NULL, &back, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(ref), "not this draw's output"));
    assert_null(back);
    assert_int_equal(vxa_pipeline_invert(ref, sing, &o, img, img, NULL, &back, NULL, NULL), VXA_ERR_UNSUPPORTED);
    assert_non_null(strstr(vxa_last_error(ref), "singular"));
    assert_int_equal(vxa_pipeline_invert(ref, p, &o, img, NULL, NULL, &back, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_pipeline_invert(NULL, p, &o, img, img, NULL, &back, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    vxa_invert_options opt;
    vxa_invert_options_init(&opt);
    opt.size = 4;  /* not initialised */
    assert_int_equal(vxa_pipeline_invert(ref, p, &o, img, wrong, &opt, &back, NULL, NULL), VXA_ERR_INVALID_ARGUMENT);
    vxa_volume *f = NULL;
    assert_int_equal(vxa_pipeline_displacement_field(ref, p, NULL, img, &f), VXA_ERR_INVALID_ARGUMENT);
    assert_null(f);
    vxa_volume_free(img);
    vxa_volume_free(wrong);
    vxa_pipeline_free(p);
    vxa_pipeline_free(sing);
}

/* The field (RAS mm), read back as a displacement from each output voxel's world point to the input's voxels,
 * resamples the input into the run's output: the whole spatial pass in one map, on a grid with an oblique,
 * anisotropic affine. (ITK's reading of the file: tests/scipy/check_field_itk.py.) */
static double sample_linear(const vxa_volume *v, const double p[3])
{
    const double f[3] = { floor(p[0]), floor(p[1]), floor(p[2]) };
    double sum = 0.0;
    for (int corner = 0; corner < 8; corner++) {
        int64_t idx[3];
        double w = 1.0;
        bool in = true;
        for (int a = 0; a < 3; a++) {
            const int up = (corner >> a) & 1;
            idx[a] = (int64_t)f[a] + up;
            w *= up ? p[a] - f[a] : 1.0 - (p[a] - f[a]);
            in = in && idx[a] >= 0 && idx[a] < v->dim[a];
        }
        if (in) sum += w * vxa_volume_get(v, idx[0], idx[1], idx[2], 0);
    }
    return sum;
}

static void test_displacement_field_reproduces_the_run(void **state)
{
    (void)state;
    uint64_t s = vxa_test_seed() ^ 0xf1e1d;
    const int64_t dim[3] = { 30, 26, 22 };
    vxa_context *ref = vxa_test_reference();
    vxa_volume *img = vxa_test_smooth_volume(dim, &s);
    const double c = cos(0.5), sn = sin(0.5), sp[3] = { 1.2, 0.9, 2.0 };
    const double R[3][3] = { { c, -sn, 0 }, { sn, c, 0 }, { 0, 0, 1 } }, t[3] = { -20, 15, 7 };
    for (int r = 0; r < 3; r++) {
        for (int q = 0; q < 3; q++) img->affine[r][q] = R[r][q] * sp[q];
        img->affine[r][3] = t[r];
        img->spacing[r] = sp[r];
    }
    img->sform_code = img->qform_code = 1;
    static const char *const specs[] = { "rotate(12, plane=0,1) zoom(1.1) elastic(alpha=100, sigma=5) crop(24,22,18)",
                                         "crop(20,20,16, start=1,2,3)", "zscore elastic(alpha=100, p=0)" };
    for (int k = 0; k < 3; k++) {
        vxa_pipeline *p = vxa_test_parse(specs[k]);
        vxa_volume *out = NULL, *f = NULL;
        run_ok(ref, p, 5, img, NULL, &out, NULL);
        vxa_run_options o;
        vxa_run_options_init(&o);
        o.seed = 7;
        o.sample = 5;
        if (vxa_pipeline_displacement_field(ref, p, &o, img, &f) != VXA_OK) fail_msg("%s", vxa_last_error(ref));
        assert_int_equal(f->channels, 3);
        assert_int_equal(f->dtype, VXA_FLOAT32);
        for (int a = 0; a < 3; a++) assert_int_equal(f->dim[a], out->dim[a]);
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 4; q++) assert_true(fabs(f->affine[r][q] - out->affine[r][q]) < 1e-9);
        const double range = vxa_test_range(img);
        double worst = 0.0, fmaxabs = 0.0;
        for (int64_t kk = 0; kk < out->dim[2]; kk++)
            for (int64_t j = 0; j < out->dim[1]; j++)
                for (int64_t i = 0; i < out->dim[0]; i++) {
                    const double oi[3] = { (double)i, (double)j, (double)kk };
                    double w[3], pos[3], d[3];
                    for (int a = 0; a < 3; a++) d[a] = vxa_volume_get(f, i, j, kk, a);
                    for (int r = 0; r < 3; r++) {
                        w[r] = out->affine[r][3] + d[r] - img->affine[r][3];
                        for (int q = 0; q < 3; q++) w[r] += out->affine[r][q] * oi[q];
                        fmaxabs = fmax(fmaxabs, fabs(d[r]));
                    }
                    for (int q = 0; q < 3; q++)  /* M⁻¹ = diag(1/sp) Rᵀ */
                        pos[q] = (R[0][q] * w[0] + R[1][q] * w[1] + R[2][q] * w[2]) / sp[q];
                    worst = fmax(worst, fabs(sample_linear(img, pos) - vxa_volume_get(out, i, j, kk, 0)));
                }
        fprintf(stderr, "# %s: the field (max |d| %.3g mm) resamples the input into the output within %.3g of "
                "the range\n", specs[k], fmaxabs, worst / range);
        if (k == 0) assert_true(fmaxabs > 1.0);
        if (k == 1) assert_true(fmaxabs < 1e-4);  /* a crop moves no anatomy */
        if (k == 2) assert_true(fmaxabs == 0.0);
        if (k != 2) assert_true(worst <= 1e-4 * range);   /* (zscore changes values: only its field is checked) */
        vxa_volume_free(out);
        vxa_volume_free(f);
        vxa_pipeline_free(p);
    }
    vxa_volume_free(img);
}

static uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | b[1] << 8); }

/* Both file layouts: 5D, the vector in dim[5]; DISPVECT with the vectors as given (RAS), VECTOR with x and y
 * negated (LPS); a wrong channel count or format writes nothing. */
static void test_displacement_nifti_layout(void **state)
{
    (void)state;
    uint64_t s = vxa_test_seed();
    const int64_t dim[3] = { 5, 4, 3 };
    vxa_volume *v = vxa_test_random_volume(dim, 3, VXA_FLOAT32, &s);
    char path[] = "/tmp/vxa_dispXXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char name[64], err[512] = "";
    snprintf(name, sizeof name, "%s.nii", path);
    unlink(path);
    for (int format = 0; format < 2; format++) {
        if (vxa_nifti_write_displacement(name, v, (vxa_field_format)format, err, sizeof err) != VXA_OK)
            fail_msg("%s", err);
        unsigned char h[352];
        FILE *f = fopen(name, "rb");
        assert_non_null(f);
        assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
        fclose(f);
        /* nifti_1_header: dim[8] at 40, intent_code at 68, datatype at 70 (little-endian hosts) */
        assert_int_equal(le16(h + 40), 5);
        for (int a = 0; a < 3; a++) assert_int_equal(le16(h + 42 + 2 * a), dim[a]);
        assert_int_equal(le16(h + 48), 1);
        assert_int_equal(le16(h + 50), 3);
        assert_int_equal(le16(h + 68), format == VXA_FIELD_DISPVECT ? 1006 : 1007);
        assert_int_equal(le16(h + 70), 16);
        vxa_volume *back = NULL;
        assert_int_equal(vxa_nifti_read(name, &back, err, sizeof err), VXA_OK);
        assert_int_equal(back->channels, 3);
        for (int64_t c = 0; c < 3; c++)
            for (int64_t i = 0; i < 5 * 4 * 3; i++) {
                const float sign = format == VXA_FIELD_ITK_VECTOR && c < 2 ? -1.0f : 1.0f;
                const float want = vxa_volume_get(v, i, 0, 0, c) * sign;
                assert_true(vxa_volume_get(back, i, 0, 0, c) == want);
            }
        unlink(name);
        vxa_volume_free(back);
    }
    assert_int_equal(vxa_nifti_write_displacement(name, v, (vxa_field_format)2, err, sizeof err),
                     VXA_ERR_INVALID_ARGUMENT);
    v->channels = 1;
    assert_int_equal(vxa_nifti_write_displacement(name, v, VXA_FIELD_DISPVECT, err, sizeof err),
                     VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "3 float32"));
    assert_int_equal(access(name, F_OK), -1);
    vxa_volume_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_voxel_maps_come_back_exactly),
        cmocka_unit_test(test_labels_come_back_identical_where_sampled),
        cmocka_unit_test(test_images_come_back_within_interpolation),
        cmocka_unit_test(test_elastic_inverse_converges),
        cmocka_unit_test(test_device_equals_reference),
        cmocka_unit_test(test_invert_errors_are_named),
        cmocka_unit_test(test_displacement_field_reproduces_the_run),
        cmocka_unit_test(test_displacement_nifti_layout),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
