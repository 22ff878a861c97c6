/* SPDX-License-Identifier: MIT */
/* Reductions: device statistics vs double sums over the same voxels; percentiles equal a sort written here,
 * exactly; non-finite voxels are skipped. */
#include "testutil.h"
#include "intensity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether voxel i (within its channel) of value x counts: finite, non-zero with nonzero, inside the mask (a
 * float32 volume, or NULL) with a mask. */
static bool host_takes(float x, int nonzero, const vxa_volume *mask, size_t i)
{
    return isfinite(x) && !(nonzero && x == 0) && !(mask && ((const float *)mask->data)[i] == 0);
}

/* Stats of channel c of v over the voxels host_takes, as NumPy would in float64. */
typedef struct { double count, min, max, mean, std; } host_moments;
static host_moments host_stats(const vxa_volume *v, int64_t c, int nonzero, const vxa_volume *mask)
{
    const size_t n = (size_t)(v->dim[0] * v->dim[1] * v->dim[2]);
    const float *x = (const float *)v->data + (size_t)c * n;
    host_moments m = { 0, INFINITY, -INFINITY, 0, 0 };
    for (size_t i = 0; i < n; i++)
        if (host_takes(x[i], nonzero, mask, i)) {
            m.count++;
            m.mean += x[i];
            if (x[i] < m.min) m.min = x[i];
            if (x[i] > m.max) m.max = x[i];
        }
    m.mean /= m.count;
    for (size_t i = 0; i < n; i++)
        if (host_takes(x[i], nonzero, mask, i)) m.std += (x[i] - m.mean) * (x[i] - m.mean);
    m.std = sqrt(m.std / m.count);
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* np.percentile(x, q) (linear) over the voxels host_takes, written out from NumPy 1.24's source. */
static double host_percentile(const vxa_volume *v, int64_t c, int nonzero, const vxa_volume *mask, double q)
{
    const size_t n = (size_t)(v->dim[0] * v->dim[1] * v->dim[2]);
    const float *x = (const float *)v->data + (size_t)c * n;
    double *s = malloc(n * sizeof *s);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (host_takes(x[i], nonzero, mask, i)) s[m++] = x[i];
    if (m == 0) {
        free(s);
        return NAN;
    }
    qsort(s, m, sizeof *s, cmp_double);
    const double h = (double)(m - 1) * (q / 100.0);
    double r;
    if (h >= (double)(m - 1)) {
        r = s[m - 1];
    } else {
        const size_t lo = (size_t)floor(h);
        const double t = h - floor(h), a = s[lo], b = s[lo + 1], d = b - a;
        r = t >= 0.5 ? b - d * (1 - t) : a + d * t;
    }
    free(s);
    return r;
}

/* Equal, or both NaN (sums of values near FLT_MAX overflow alike). */
static bool same(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

static void check_close(double got, double want, double scale, double rel, const char *what, vxa_context *ctx,
                        const int64_t *dim)
{
    if (!(fabs(got - want) <= rel * scale))
        fail_msg("%s on %s, %lldx%lldx%lld: got %.17g, want %.17g (scale %g)", what, vxa_context_device_name(ctx),
                 (long long)dim[0], (long long)dim[1], (long long)dim[2], got, want, scale);
}

static void check_moments(vxa_context *ctx, const vxa_volume *v, int nonzero, const vxa_volume *mask)
{
    vxa_dvol d, md = { 0 };
    assert_int_equal(vxa_dvol_from_volume(ctx, v, &d), VXA_OK);
    if (mask) assert_int_equal(vxa_dvol_from_volume(ctx, mask, &md), VXA_OK);
    vxa_moments m[4];
    vxa_status st = vxa_reduce_moments(ctx, &d, nonzero, mask ? &md : NULL, 1, m);
    if (st != VXA_OK) fail_msg("moments: %s", vxa_last_error(ctx));
    for (int64_t c = 0; c < v->channels; c++) {
        host_moments h = host_stats(v, c, nonzero, mask);
        assert_true(m[c].count == h.count);
        if (h.count == 0) {
            assert_true(isnan(m[c].mean) && isnan(m[c].std));
            continue;
        }
        assert_true(m[c].min == h.min && m[c].max == h.max);
        const double scale = fmax(fabs(h.mean), h.std) + 1e-30;
        check_close(m[c].mean, h.mean, scale, 1e-6, "mean", ctx, v->dim);
        check_close(m[c].std, h.std, h.std + 1e-30, 1e-5, "std", ctx, v->dim);
    }
    vxa_dvol_release(ctx, &d);
    vxa_dvol_release(ctx, &md);
}

static void check_percentiles(vxa_context *ctx, const vxa_volume *v, int nonzero, const vxa_volume *mask,
                              const double q[2])
{
    vxa_dvol d, md = { 0 };
    assert_int_equal(vxa_dvol_from_volume(ctx, v, &d), VXA_OK);
    if (mask) assert_int_equal(vxa_dvol_from_volume(ctx, mask, &md), VXA_OK);
    double out[8];
    vxa_status st = vxa_reduce_percentiles(ctx, &d, nonzero, mask ? &md : NULL, q, out);
    if (st != VXA_OK) fail_msg("percentiles: %s", vxa_last_error(ctx));
    for (int64_t c = 0; c < v->channels; c++)
        for (int i = 0; i < 2; i++) {
            const double want = host_percentile(v, c, nonzero, mask, q[i]), got = out[2 * c + i];
            if (!(got == want || (isnan(got) && isnan(want))))
                fail_msg("percentile %g (nonzero %d) channel %lld on %s, %lldx%lldx%lld: got %.17g, want %.17g", q[i],
                         nonzero, (long long)c, vxa_context_device_name(ctx), (long long)v->dim[0],
                         (long long)v->dim[1], (long long)v->dim[2], got, want);
        }
    vxa_dvol_release(ctx, &d);
    vxa_dvol_release(ctx, &md);
}

/* Mean and std within 1e-6 / 1e-5 relative of float64 sums; count, min, max exact. */
static void test_moments_match_double(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed();
    for (int s = 0; s < vxa_test_nshapes; s++) {
        vxa_volume *v = vxa_test_random_volume(vxa_test_shapes[s], 1 + (int64_t)(vxa_test_rand(&rng) % 2),
                                               VXA_FLOAT32, &rng);
        for (int nz = 0; nz < 2; nz++) {
            check_moments(dev, v, nz, NULL);
            check_moments(ref, v, nz, NULL);
        }
        vxa_volume_free(v);
    }
}

/* check_moments on the device for offset + spread * U[0, 1) over a volume of dim. */
static void check_offset_data(const int64_t dim[3], double offset, double spread, uint64_t rng)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &v), VXA_OK);
    float *x = v->data;
    for (size_t i = 0; i < vxa_volume_voxels(v); i++) x[i] = (float)(offset + spread * vxa_test_uniform(&rng));
    check_moments(vxa_test_device(), v, 0, NULL);
    vxa_volume_free(v);
}

/* A large mean over a small spread (MRI-like offsets): the shifted second pass keeps the std exact. */
static void test_std_of_offset_data(void **state)
{
    (void)state;
    const int64_t dim[3] = { 181, 217, 181 };
    check_offset_data(dim, 10000.0, 1.0, vxa_test_seed() + 1);
}

/* The std from the first pass's unshifted sums where mean^2 <= var, one launch: at the limit (mean^2 = 0.99 var,
 * ch2-sized) within 1e-6 relative of float64 sums, ten times tighter than check_moments asks. Where mean^2 > var
 * (mean^2 = 1.01 var) the shifted second pass runs: two launches. */
static void test_std_one_pass_at_its_limit(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 5;
    const int64_t dim[3] = { 181, 217, 181 };
    const double ratio[2] = { 0.99, 1.01 };
    for (int t = 0; t < 2; t++) {
        vxa_volume *v = NULL;
        assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &v), VXA_OK);
        float *x = v->data;
        const double offset = sqrt(ratio[t] / 3.0);   /* u uniform in [-1, 1): var 1/3 */
        for (size_t i = 0; i < vxa_volume_voxels(v); i++)
            x[i] = (float)(offset + 2.0 * vxa_test_uniform(&rng) - 1.0);
        host_moments h = host_stats(v, 0, 0, NULL);
        vxa_dvol d;
        assert_int_equal(vxa_dvol_from_volume(dev, v, &d), VXA_OK);
        vxa_moments m;
        const uint64_t before = vxa_context_launches(dev, "vxa_reduce_stats");
        assert_int_equal(vxa_reduce_moments(dev, &d, 0, NULL, 1, &m), VXA_OK);
        const uint64_t launches = vxa_context_launches(dev, "vxa_reduce_stats") - before;
        const double want_ratio = h.mean * h.mean / (h.std * h.std);
        if (!(fabs(want_ratio - ratio[t]) < 0.005)) fail_msg("the data's mean^2 / var is %g", want_ratio);
        assert_int_equal(launches, t == 0 ? 1 : 2);
        check_close(m.mean, h.mean, h.std, 1e-6, "mean", dev, dim);
        check_close(m.std, h.std, h.std, 1e-6, "std", dev, dim);
        vxa_dvol_release(dev, &d);
        vxa_volume_free(v);
    }
}

/* Squares past float's range (|x| ~ 2e19: x^2 ~ 4e38): the first pass's compensated sum of squares overflows
 * (NaN), so the std must come from the shifted second pass, whose squares of x - mean are small. */
static void test_std_when_squares_overflow_float(void **state)
{
    (void)state;
    const int64_t dim[3] = { 37, 23, 19 };
    check_offset_data(dim, 2e19, 1e14, vxa_test_seed() + 6);
}

/* Exact equality with the sort, on awkward shapes, with many duplicates, and at q = 0, 100, 50, 0.5/99.5. */
static void test_percentiles_equal_sort(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 2;
    const double qs[][2] = { { 0, 100 }, { 0.5, 99.5 }, { 50, 50 }, { 1, 2 }, { 25, 75 }, { 99.9, 100 } };
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        const int64_t nc = 1 + (int64_t)(vxa_test_rand(&rng) % 2);
        vxa_volume *v = vxa_test_random_volume(dim, nc, VXA_FLOAT32, &rng);
        if (s % 2) {  /* duplicates: a few distinct values, negative and positive */
            float *x = v->data;
            for (size_t i = 0; i < vxa_volume_voxels(v); i++) x[i] = (float)((int)(x[i] / 250.0f)) * 0.75f;
        }
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            check_percentiles(dev, v, (int)(k % 2), NULL, qs[k]);
            if (dim[0] * dim[1] * dim[2] < 100000) check_percentiles(ref, v, (int)(k % 2), NULL, qs[k]);
        }
        const double rq[2] = { 100 * vxa_test_uniform(&rng), 100 * vxa_test_uniform(&rng) };
        check_percentiles(dev, v, 0, NULL, rq);
        vxa_volume_free(v);
    }
}

/* Runs of equal values (a background of zeros, -0 and +0, NaN, constant plateaus) between random voxels: the
 * CPU form counts a block of sixteen voxels that share one bin at once. Runs of random length fall at every
 * offset from a block's start; exact equality with the sort, all voxels and non-zero ones, unscaled and with
 * the NIfTI scaling (against the float32 volume it converts to). */
static void test_percentiles_over_runs(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_device(), vxa_test_reference() };
    uint64_t rng = vxa_test_seed() + 7;
    const int64_t shapes[][3] = { { 97, 61, 37 }, { 1, 13, 17 }, { 65, 33, 17 }, { 181, 217, 19 } };
    const float plateau[] = { 0.0f, -0.0f, NAN, 3.5f, -1e30f, INFINITY, 0.0f, 417.25f };
    const double qs[][2] = { { 1, 99 }, { 0, 100 }, { 50, 50 }, { 0.5, 99.5 } };
    for (int s = 0; s < 4; s++) {
        vxa_volume *v = vxa_test_random_volume(shapes[s], 1 + s % 2, VXA_FLOAT32, &rng);
        float *x = v->data;
        const size_t n = vxa_volume_voxels(v);
        for (size_t i = 0; i < n;) {   /* runs of 1..80 voxels: a plateau 3 times in 4, else left random */
            const size_t len = 1 + vxa_test_rand(&rng) % 80;
            const bool flat = vxa_test_rand(&rng) % 4 != 0;
            const float val = plateau[vxa_test_rand(&rng) % 8];
            for (size_t e = i + len < n ? i + len : n; i < e; i++)
                if (flat) x[i] = val;
        }
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++)
            for (int nz = 0; nz < 2; nz++) {
                check_percentiles(ctxs[0], v, nz, NULL, qs[k]);
                if (s < 3) check_percentiles(ctxs[1], v, nz, NULL, qs[k]);
            }
        v->scl_slope = s % 2 ? -0.5f : 0.3f;
        v->scl_inter = s % 2 ? 2.0f : 0.0f;
        vxa_dvol d, f;
        assert_int_equal(vxa_dvol_from_volume(ctxs[0], v, &d), VXA_OK);
        assert_int_equal(vxa_dvol_alloc(ctxs[0], v->dim, v->channels, VXA_FLOAT32, &f), VXA_OK);
        assert_int_equal(vxa_cast_float(ctxs[0], &d, &f), VXA_OK);
        for (int nz = 0; nz < 2; nz++) {
            double pd[4], pf[4];
            assert_int_equal(vxa_reduce_percentiles(ctxs[0], &d, nz, NULL, qs[0], pd), VXA_OK);
            assert_int_equal(vxa_reduce_percentiles(ctxs[0], &f, nz, NULL, qs[0], pf), VXA_OK);
            for (int64_t i = 0; i < 2 * v->channels; i++)
                if (!(pd[i] == pf[i] || (isnan(pd[i]) && isnan(pf[i]))))
                    fail_msg("scaled runs, nonzero %d, percentile %lld: %.9g, converted %.9g", nz, (long long)i,
                             pd[i], pf[i]);
        }
        vxa_dvol_release(ctxs[0], &d);
        vxa_dvol_release(ctxs[0], &f);
        vxa_volume_free(v);
    }
}

/* NumPy's lerp takes b - (b - a)(1 - t) for t >= 0.5: on these two values at q = 70 it differs from
 * a + (b - a) t in the last bit (found by search against np.percentile); the result must be NumPy's. */
static void test_percentile_upper_half_lerp(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_device(), vxa_test_reference() };
    const int64_t dim[3] = { 2, 1, 1 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &v), VXA_OK);
    ((float *)v->data)[0] = 273.92337f;
    ((float *)v->data)[1] = -460.42657f;
    const double a = -460.42657f, b = 273.92337f, naive = a + (b - a) * 0.7;
    const double q[2] = { 70, 70 };
    for (int t = 0; t < 2; t++) {
        check_percentiles(ctxs[t], v, 0, NULL, q);
        vxa_dvol d;
        assert_int_equal(vxa_dvol_from_volume(ctxs[t], v, &d), VXA_OK);
        double out[2];
        assert_int_equal(vxa_reduce_percentiles(ctxs[t], &d, 0, NULL, q, out), VXA_OK);
        assert_true(out[0] == 53.61838684082028 && out[0] != naive);
        vxa_dvol_release(ctxs[t], &d);
    }
    vxa_volume_free(v);
}

/* NaN and +-Inf are skipped by every reduction; a channel with nothing left gives count 0 and NaN. */
static void test_reductions_skip_nonfinite(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device(), *ref = vxa_test_reference();
    uint64_t rng = vxa_test_seed() + 3;
    const int64_t dim[3] = { 17, 19, 23 };
    vxa_volume *v = vxa_test_random_volume(dim, 2, VXA_FLOAT32, &rng);
    float *x = v->data;
    const size_t n = (size_t)(dim[0] * dim[1] * dim[2]);
    for (size_t i = 0; i < n; i += 7) x[i] = (i / 7) % 3 == 0 ? NAN : (i / 7) % 3 == 1 ? INFINITY : -INFINITY;
    for (size_t i = n; i < 2 * n; i++) x[i] = i % 2 ? 0.0f : NAN;   /* channel 1: zeros and NaN only */
    const double q[2] = { 0, 100 }, q2[2] = { 10, 90 };
    vxa_context *ctxs[2] = { dev, ref };
    for (int t = 0; t < 2; t++) {
        check_moments(ctxs[t], v, 0, NULL);
        check_moments(ctxs[t], v, 1, NULL);
        check_percentiles(ctxs[t], v, 0, NULL, q);
        check_percentiles(ctxs[t], v, 1, NULL, q2);
    }
    /* channel 0's extremes are finite */
    vxa_dvol d;
    assert_int_equal(vxa_dvol_from_volume(dev, v, &d), VXA_OK);
    vxa_rstats r[2];
    assert_int_equal(vxa_reduce_stats(dev, &d, 1, NULL, NULL, r), VXA_OK);
    assert_true(isfinite(r[0].min) && isfinite(r[0].max) && isfinite(r[0].sum));
    assert_true(r[1].count == 0 && r[1].min == INFINITY && r[1].max == -INFINITY);
    vxa_dvol_release(dev, &d);
    vxa_volume_free(v);
}

/* A typed or scaled volume (a pipeline's input before its first pass) gives the statistics and percentiles of
 * its float32 conversion bit for bit, moments with and without sums alike; float64 is refused with a message.
 * Integers of at most 16 bits take the percentiles from their stored values: the scalings here reverse the
 * order (negative slope), send a stored value other than 0 to 0 (left out with nonzero), and send large ones
 * to +-Inf (left out always), with and without a mask. */
static void test_typed_volume_reads_as_its_conversion(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 4;
    const vxa_dtype types[] = { VXA_UINT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_FLOAT32, VXA_INT8 };
    const float scl[][2] = { { -0.75f, 12.5f }, { -0.5f, 8.0f }, { 3e36f, 0.0f }, { 0.5f, -60.0f }, { 0.3f, -1.1f } };
    for (int trial = 0; trial < 24; trial++) {
        const int64_t *dim = vxa_test_shapes[trial % vxa_test_nshapes];
        vxa_volume *v = vxa_test_random_volume(dim, 1 + trial % 2, types[trial % 6], &rng);
        if (trial >= 6) {
            v->scl_slope = scl[(trial / 6 - 1 + trial) % 5][0];
            v->scl_inter = scl[(trial / 6 - 1 + trial) % 5][1];
        }
        if (trial % 3 == 0) {  /* stored values 16 (-> 0 at slope -0.5) and 120 (-> 0 at slope 0.5) */
            for (int64_t c = 0, t = 0; c < v->channels; c++)
                for (int64_t k = 0; k < dim[2]; k++)
                    for (int64_t j = 0; j < dim[1]; j++)
                        for (int64_t i = 0; i < dim[0]; i += 5) vxa_volume_set(v, i, j, k, c, t++ % 2 ? 16 : 120);
        }
        vxa_dvol d, f;
        assert_int_equal(vxa_dvol_from_volume(dev, v, &d), VXA_OK);
        assert_int_equal(vxa_dvol_alloc(dev, v->dim, v->channels, VXA_FLOAT32, &f), VXA_OK);
        assert_int_equal(vxa_cast_float(dev, &d, &f), VXA_OK);
        vxa_rstats rd[2], rf[2];
        const double shift[2] = { 3.25, -1.5 };
        assert_int_equal(vxa_reduce_stats(dev, &d, trial % 2, NULL, shift, rd), VXA_OK);
        assert_int_equal(vxa_reduce_stats(dev, &f, trial % 2, NULL, shift, rf), VXA_OK);
        assert_memory_equal(rd, rf, (size_t)v->channels * sizeof rd[0]);
        for (int want = -1; want <= 1; want++) {
            vxa_moments md[2], mf[2];
            assert_int_equal(vxa_reduce_moments(dev, &d, trial % 2, NULL, want, md), VXA_OK);
            assert_int_equal(vxa_reduce_moments(dev, &f, trial % 2, NULL, want, mf), VXA_OK);
            for (int64_t c = 0; c < v->channels; c++) {
                assert_true(md[c].count == mf[c].count && md[c].min == mf[c].min && md[c].max == mf[c].max);
                assert_true(want < 0 ? isnan(md[c].mean) && isnan(mf[c].mean) : same(md[c].mean, mf[c].mean));
                assert_true(want < 1 ? isnan(md[c].std) && isnan(mf[c].std) : same(md[c].std, mf[c].std));
                assert_true(md[c].min == rf[c].min && md[c].max == rf[c].max);
            }
        }
        const double q[2] = { 1.5, 97 }, q2[2] = { 0, 100 };
        vxa_volume *mask = NULL;
        vxa_dvol md;
        assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &mask), VXA_OK);
        for (size_t i = 0; i < vxa_volume_voxels(mask); i++) ((float *)mask->data)[i] = vxa_test_rand(&rng) % 3 != 0;
        assert_int_equal(vxa_dvol_from_volume(dev, mask, &md), VXA_OK);
        for (int form = 0; form < 8; form++) {
            const int nz = form % 2;
            const vxa_dvol *mk = form & 2 ? &md : NULL;
            const double *qq = form & 4 ? q2 : q;
            double pd[4], pf[4];
            assert_int_equal(vxa_reduce_percentiles(dev, &d, nz, mk, qq, pd), VXA_OK);
            assert_int_equal(vxa_reduce_percentiles(dev, &f, nz, mk, qq, pf), VXA_OK);
            for (int64_t i = 0; i < 2 * v->channels; i++)
                if (!same(pd[i], pf[i]))
                    fail_msg("%s, slope %g inter %g, nonzero %d, mask %d, q (%g, %g), percentile %lld: stored "
                             "values give %.9g, their float32 copy %.9g", vxa_dtype_name(v->dtype), v->scl_slope,
                             v->scl_inter, nz, mk != NULL, qq[0], qq[1], (long long)i, pd[i], pf[i]);
        }
        vxa_dvol_release(dev, &md);
        vxa_volume_free(mask);
        vxa_dvol_release(dev, &f);
        vxa_dvol_release(dev, &d);
        vxa_volume_free(v);
    }
    const int64_t dim[3] = { 3, 5, 7 };
    vxa_volume *v = vxa_test_random_volume(dim, 1, VXA_FLOAT64, &rng);
    vxa_dvol d;
    assert_int_equal(vxa_dvol_from_volume(dev, v, &d), VXA_OK);
    vxa_rstats r;
    assert_int_equal(vxa_reduce_stats(dev, &d, 0, NULL, NULL, &r), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(dev), "float64"));
    vxa_dvol_release(dev, &d);
    vxa_volume_free(v);
}

/* A mask (the label map's voxels, shared by all channels) restricts every reduction, with and without nonzero, on
 * awkward shapes; an empty mask gives count 0 and NaN; a mask on another grid is refused by name. */
static void test_masked_reductions(void **state)
{
    (void)state;
    vxa_context *ctxs[2] = { vxa_test_device(), vxa_test_reference() };
    uint64_t rng = vxa_test_seed() + 5;
    const double q[2] = { 2, 98 }, q2[2] = { 0, 100 };
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        if (dim[0] * dim[1] * dim[2] > 3000000) continue; /* the reference sorts */
        vxa_volume *v = vxa_test_random_volume(dim, 2, VXA_FLOAT32, &rng), *mask = NULL;
        assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &mask), VXA_OK);
        float *x = v->data, *m = mask->data;
        for (size_t i = 0; i < vxa_volume_voxels(mask); i++) {
            const uint64_t r = vxa_test_rand(&rng) % 10;
            m[i] = r < 4 ? 0.0f : (float)r;                  /* labels 4..9 in, 0 out */
            if (r == 1) x[i] = 0.0f;                          /* zeros outside the mask too */
            if (r == 5) x[i + vxa_volume_voxels(mask)] = 0.0f; /* and inside, in channel 1 */
        }
        for (int t = 0; t < 2; t++)
            for (int nz = 0; nz < 2; nz++) {
                check_moments(ctxs[t], v, nz, mask);
                check_percentiles(ctxs[t], v, nz, mask, nz ? q2 : q);
            }
        memset(m, 0, vxa_volume_bytes(mask));
        for (int t = 0; t < 2; t++) {
            check_moments(ctxs[t], v, 0, mask);
            check_percentiles(ctxs[t], v, 0, mask, q);
        }
        vxa_volume_free(v);
        vxa_volume_free(mask);
    }
    /* another grid */
    const int64_t dim[3] = { 7, 5, 3 }, other[3] = { 7, 5, 4 };
    vxa_volume *v = vxa_test_random_volume(dim, 1, VXA_FLOAT32, &rng), *mask = NULL;
    assert_int_equal(vxa_volume_alloc(other, 1, VXA_FLOAT32, &mask), VXA_OK);
    vxa_context *dev = ctxs[0];
    vxa_dvol d, md;
    assert_int_equal(vxa_dvol_from_volume(dev, v, &d), VXA_OK);
    assert_int_equal(vxa_dvol_from_volume(dev, mask, &md), VXA_OK);
    vxa_moments mo;
    assert_int_equal(vxa_reduce_moments(dev, &d, 0, &md, 1, &mo), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(vxa_last_error(dev), "the mask is 7x5x4, the volume 7x5x3"));
    vxa_dvol_release(dev, &d);
    vxa_dvol_release(dev, &md);
    vxa_volume_free(v);
    vxa_volume_free(mask);
}

/* The float32 value vxa_load gives stored value x. */
static float scaled(double x, float slope, float inter)
{
    volatile float f = (float)x;
    if (slope == 0.0f) return f;
    volatile float p = f * slope;
    return p + inter;
}

/* Count, min and max of stored integers (min-max normalisation and gamma read them from the stored values in
 * their own type): one voxel holds the type's minimum and one its maximum, everywhere else a middle value, the
 * extremes at the first and last voxels, around them, and at random places (a vector's or a chunk's tail
 * included), unscaled and with a negative slope; every integer type. */
static void test_integer_extremes_anywhere(void **state)
{
    (void)state;
    vxa_context *dev = vxa_test_device();
    uint64_t rng = vxa_test_seed() + 6;
    static const struct { vxa_dtype t; double lo, hi; } types[] = {
        { VXA_UINT8, 0, 255 }, { VXA_INT8, -128, 127 }, { VXA_INT16, -32768, 32767 }, { VXA_UINT16, 0, 65535 },
        { VXA_INT32, -2147483648.0, 2147483647.0 }, { VXA_UINT32, 0, 4294967295.0 },
    };
    static const float scl[][2] = { { 0.0f, 0.0f }, { -0.5f, 3.0f } };
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *dim = vxa_test_shapes[s];
        const int64_t n = dim[0] * dim[1] * dim[2];
        if (n > 100000) continue;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            vxa_volume *v = NULL;
            assert_int_equal(vxa_volume_alloc(dim, 2, types[t].t, &v), VXA_OK);
            const double mid = floor((types[t].lo + types[t].hi) / 2);
            for (int trial = 0; trial < 24; trial++) {
                const int64_t pos = trial < 6 ? trial : trial < 16 ? n - 1 - (trial - 6)
                                                                  : (int64_t)(vxa_test_rand(&rng) % (uint64_t)n);
                if (pos < 0 || pos >= n) continue;
                const int64_t other = (int64_t)(vxa_test_rand(&rng) % (uint64_t)n), c = trial % 2;
                const int64_t pmin = trial % 4 < 2 ? pos : other, pmax = trial % 4 < 2 ? other : pos;
                for (int64_t ch = 0; ch < 2; ch++)
                    for (int64_t i = 0; i < n; i++)
                        vxa_volume_set(v, i % dim[0], i / dim[0] % dim[1], i / (dim[0] * dim[1]), ch, mid);
                vxa_volume_set(v, pmin % dim[0], pmin / dim[0] % dim[1], pmin / (dim[0] * dim[1]), c, types[t].lo);
                if (pmax != pmin)
                    vxa_volume_set(v, pmax % dim[0], pmax / dim[0] % dim[1], pmax / (dim[0] * dim[1]), c, types[t].hi);
                v->scl_slope = scl[trial / 2 % 2][0];
                v->scl_inter = scl[trial / 2 % 2][1];
                vxa_dvol d;
                vxa_moments m[2];
                assert_int_equal(vxa_dvol_from_volume(dev, v, &d), VXA_OK);
                assert_int_equal(vxa_reduce_moments(dev, &d, 0, NULL, -1, m), VXA_OK);
                vxa_dvol_release(dev, &d);
                for (int64_t ch = 0; ch < 2; ch++) {   /* the scaled values' extremes */
                    const int64_t special = ch != c ? 0 : pmax != pmin ? 2 : 1;
                    double stored[3];
                    int ns = 0;
                    if (n > special) stored[ns++] = mid;
                    if (special >= 1) stored[ns++] = types[t].lo;
                    if (special == 2) stored[ns++] = types[t].hi;
                    double lo = INFINITY, hi = -INFINITY;
                    for (int i = 0; i < ns; i++) {
                        const float z = scaled(stored[i], v->scl_slope, v->scl_inter);
                        lo = fmin(lo, z);
                        hi = fmax(hi, z);
                    }
                    if (m[ch].count != (double)n || m[ch].min != lo || m[ch].max != hi)
                        fail_msg("%s %lldx%lldx%lld, slope %g: minimum at %lld, maximum at %lld of channel %lld: "
                                 "count %g min %.9g max %.9g, expected %lld, %.9g, %.9g", vxa_dtype_name(types[t].t),
                                 (long long)dim[0], (long long)dim[1], (long long)dim[2], v->scl_slope,
                                 (long long)pmin, (long long)pmax, (long long)c, m[ch].count, m[ch].min, m[ch].max,
                                 (long long)n, lo, hi);
                }
            }
            vxa_volume_free(v);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moments_match_double),
        cmocka_unit_test(test_std_of_offset_data),
        cmocka_unit_test(test_std_one_pass_at_its_limit),
        cmocka_unit_test(test_std_when_squares_overflow_float),
        cmocka_unit_test(test_percentiles_equal_sort),
        cmocka_unit_test(test_percentile_upper_half_lerp),
        cmocka_unit_test(test_percentiles_over_runs),
        cmocka_unit_test(test_reductions_skip_nonfinite),
        cmocka_unit_test(test_typed_volume_reads_as_its_conversion),
        cmocka_unit_test(test_masked_reductions),
        cmocka_unit_test(test_integer_extremes_anywhere),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
