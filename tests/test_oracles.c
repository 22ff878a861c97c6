/* SPDX-License-Identifier: MIT */
/* First-principles oracles for the code both paths share (the op table's pull maps, the planner's composition and
 * millimetre frame, nearest rounding, the percentile rules, the Gaussian kernel): a fault there moves the
 * reference and the device together, so device-against-reference tests cannot see it. Here every expectation is
 * written out from SPEC.md's formulas in this file, in double, and never from a helper of the code under test.
 *
 * How: a pipeline runs on an image whose three channels are the voxel's own indices (channel c = o_c). Trilinear
 * interpolation reproduces a linear function exactly, so output channel c at o is the c-th coordinate of the
 * position p = A·o + b the pipeline sampled, wherever p lies inside the grid. A label map holding each voxel's
 * flat index (+1) shows where order 0 rounded to. Each pipeline runs on the reference, on the device under test and
 * on the device's other kernel forms (VOXAUG_GPU_FORMS). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

typedef void (*pull_fn)(const void *arg, const int64_t n[3], const double o[3], double p[3]);

/* ---- the independent formulas (SPEC.md, "Spatial ops: one pull mapping") ---- */
static double centre_of(int64_t n) { return ((double)n - 1.0) / 2.0; }

typedef struct { int axes[3]; } flip_arg;
static void flip_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const flip_arg *f = arg;
    for (int a = 0; a < 3; a++) p[a] = f->axes[a] ? (double)n[a] - 1.0 - o[a] : o[a];
}

/* scipy.ndimage.rotate(x, deg, axes=(a, b), reshape=False), a < b, in the millimetre frame x = S·(p − c):
 * S·(p − c) = [[cos, sin], [−sin, cos]] · S·(o − c) on the plane's two axes. */
typedef struct { double deg; int a, b; double spacing[3]; } rot_arg;
static void rotate_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const rot_arg *r = arg;
    const double t = r->deg * PI / 180.0, cs = cos(t), sn = sin(t);
    double x[3];
    for (int a = 0; a < 3; a++) x[a] = r->spacing[a] * (o[a] - centre_of(n[a]));
    double y[3] = { x[0], x[1], x[2] };
    y[r->a] = cs * x[r->a] + sn * x[r->b];
    y[r->b] = -sn * x[r->a] + cs * x[r->b];
    for (int a = 0; a < 3; a++) p[a] = y[a] / r->spacing[a] + centre_of(n[a]);
}

/* rotate3d(ax, ay, az): rotate(ax, plane=1,2), then rotate(ay, plane=0,2), then rotate(az, plane=0,1); the last
 * op's pull is applied first. */
typedef struct { double ang[3]; } rot3_arg;
static void rotate3d_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const rot3_arg *r = arg;
    const rot_arg rz = { r->ang[2], 0, 1, { 1, 1, 1 } }, ry = { r->ang[1], 0, 2, { 1, 1, 1 } },
                  rx = { r->ang[0], 1, 2, { 1, 1, 1 } };
    double q[3], s[3];
    rotate_pull(&rz, n, o, q);
    rotate_pull(&ry, n, q, s);
    rotate_pull(&rx, n, s, p);
}

typedef struct { double z[3]; } zoom_arg;
static void zoom_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const zoom_arg *z = arg;
    for (int a = 0; a < 3; a++) p[a] = (o[a] - centre_of(n[a])) / z->z[a] + centre_of(n[a]);
}

typedef struct { double t[3]; } shift_arg;   /* shift: p = o − t; crop: p = o + q; pad: p = o − before */
static void shift_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    (void)n;
    const shift_arg *s = arg;
    for (int a = 0; a < 3; a++) p[a] = o[a] - s->t[a];
}

typedef struct { double A[3][3], b[3]; } affine_arg;
static void affine_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    (void)n;
    const affine_arg *m = arg;
    for (int a = 0; a < 3; a++) p[a] = m->A[a][0] * o[0] + m->A[a][1] * o[1] + m->A[a][2] * o[2] + m->b[a];
}

typedef struct { int64_t out[3]; } resize_arg;   /* resize and scale: p = (o + 0.5)·n/n' − 0.5 */
static void resize_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const resize_arg *r = arg;
    for (int a = 0; a < 3; a++) p[a] = (o[a] + 0.5) * (double)n[a] / (double)r->out[a] - 0.5;
}

typedef struct { int64_t out[3]; double s[3], s2[3]; } resample_arg;  /* p = (o − (n'−1)/2)·s'/s + (n−1)/2 */
static void resample_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const resample_arg *r = arg;
    for (int a = 0; a < 3; a++) p[a] = (o[a] - centre_of(r->out[a])) * r->s2[a] / r->s[a] + centre_of(n[a]);
}

/* Two ops in a row, "first second": the output pulls through second's map, then first's. */
typedef struct { pull_fn f1; const void *a1; pull_fn f2; const void *a2; int64_t mid[3]; } chain_arg;
static void chain_pull(const void *arg, const int64_t n[3], const double o[3], double p[3])
{
    const chain_arg *c = arg;
    double q[3];
    c->f2(c->a2, c->mid, o, q);
    c->f1(c->a1, n, q, p);
}

/* Python's round(): half to even, written out. */
static int64_t round_half_even(double x)
{
    const double f = floor(x), d = x - f;
    if (d > 0.5) return (int64_t)f + 1;
    if (d < 0.5) return (int64_t)f;
    return ((int64_t)f % 2 == 0) ? (int64_t)f : (int64_t)f + 1;
}

/* ---- running a pipeline on coordinate volumes ---- */
/* Channel c = index along axis c; the label map = 1 + flat index (0 is what constant mode fills in). */
static void coordinate_volumes(const int64_t n[3], const double spacing[3], vxa_volume **img, vxa_volume **lab)
{
    assert_int_equal(vxa_volume_alloc(n, 3, VXA_FLOAT32, img), VXA_OK);
    assert_int_equal(vxa_volume_alloc(n, 1, VXA_UINT16, lab), VXA_OK);
    assert_true(n[0] * n[1] * n[2] < 65535);
    vxa_volume_set_spacing(*img, spacing);
    vxa_volume_set_spacing(*lab, spacing);
    for (int64_t k = 0; k < n[2]; k++)
        for (int64_t j = 0; j < n[1]; j++)
            for (int64_t i = 0; i < n[0]; i++) {
                const int64_t o[3] = { i, j, k };
                for (int c = 0; c < 3; c++) vxa_volume_set(*img, i, j, k, c, (double)o[c]);
                vxa_volume_set(*lab, i, j, k, 0, (double)(1 + i + n[0] * (j + n[1] * k)));
            }
}

static int inside(const double p[3], const int64_t n[3], double margin)
{
    for (int a = 0; a < 3; a++)
        if (!(p[a] >= -margin && p[a] <= (double)n[a] - 1.0 + margin)) return 0;
    return 1;
}

typedef struct {
    const char *spec;
    int64_t n[3];
    double spacing[3];
    int64_t out[3];
    pull_fn pull;
    const void *arg;
    int exact_ties;   /* 1: positions are exact in float32 too, so ties are checked rather than left out */
} oracle_case;

/* Runs c on ctx and checks every output voxel: images (order 1, or 0 with sampling(order=0)) at p where p lies
 * in the grid, labels (order 0: floor(p + 0.5) per axis, cval 0 outside) everywhere except within 1e-4 of a
 * rounding tie where float32 and double may disagree (unless the case's positions are exact). */
static void check_case(vxa_context *ctx, const oracle_case *c)
{
    vxa_volume *img, *lab, *oimg = NULL, *olab = NULL;
    coordinate_volumes(c->n, c->spacing, &img, &lab);
    char err[1024] = "";
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(c->spec, &p, err, sizeof err) != VXA_OK) fail_msg("parse '%s': %s", c->spec, err);
    if (vxa_pipeline_run(ctx, p, 11, 0, img, lab, &oimg, &olab, NULL) != VXA_OK)
        fail_msg("'%s' on %s: %s", c->spec, vxa_context_device_name(ctx), vxa_last_error(ctx));
    const int nearest_image = strstr(c->spec, "order=0") != NULL;
    for (int a = 0; a < 3; a++)
        if (oimg->dim[a] != c->out[a] || olab->dim[a] != c->out[a])
            fail_msg("'%s': output %lldx%lldx%lld, SPEC gives %lldx%lldx%lld", c->spec, (long long)oimg->dim[0],
                     (long long)oimg->dim[1], (long long)oimg->dim[2], (long long)c->out[0], (long long)c->out[1],
                     (long long)c->out[2]);
    size_t checked_img = 0, checked_lab = 0, ties = 0, total = 0;
    for (int64_t k = 0; k < c->out[2]; k++)
        for (int64_t j = 0; j < c->out[1]; j++)
            for (int64_t i = 0; i < c->out[0]; i++) {
                const double o[3] = { (double)i, (double)j, (double)k };
                double pos[3];
                c->pull(c->arg, c->n, o, pos);
                total++;
                /* order 0: q = floor(p + 0.5) per axis */
                int64_t q[3];
                int tie = 0, in = 1;
                for (int a = 0; a < 3; a++) {
                    q[a] = (int64_t)floor(pos[a] + 0.5);
                    const double fr = pos[a] - floor(pos[a]);
                    if (!c->exact_ties && fabs(fr - 0.5) < 1e-4) tie = 1;
                    if (q[a] < 0 || q[a] >= c->n[a]) in = 0;
                }
                if (tie) {
                    ties++;
                } else {
                    const double want = in ? (double)(1 + q[0] + c->n[0] * (q[1] + c->n[1] * q[2])) : 0.0;
                    const double got = vxa_volume_get(olab, i, j, k, 0);
                    if (got != want)
                        fail_msg("'%s' on %s: label at (%lld,%lld,%lld): p = (%.6f, %.6f, %.6f) rounds to "
                                 "(%lld,%lld,%lld) = label %g, got %g", c->spec, vxa_context_device_name(ctx),
                                 (long long)i, (long long)j, (long long)k, pos[0], pos[1], pos[2], (long long)q[0],
                                 (long long)q[1], (long long)q[2], want, got);
                    checked_lab++;
                    if (nearest_image && in) {
                        for (int a = 0; a < 3; a++)
                            if (vxa_volume_get(oimg, i, j, k, a) != (float)q[a])
                                fail_msg("'%s' on %s: order-0 image at (%lld,%lld,%lld) channel %d: %g, expected %lld",
                                         c->spec, vxa_context_device_name(ctx), (long long)i, (long long)j,
                                         (long long)k, a, (double)vxa_volume_get(oimg, i, j, k, a), (long long)q[a]);
                        checked_img++;
                    }
                }
                if (!nearest_image && inside(pos, c->n, 0)) {
                    for (int a = 0; a < 3; a++) {
                        const double got = vxa_volume_get(oimg, i, j, k, a);
                        if (fabs(got - pos[a]) > 1e-3)
                            fail_msg("'%s' on %s: voxel (%lld,%lld,%lld) sampled p_%d = %.6f, SPEC gives %.6f",
                                     c->spec, vxa_context_device_name(ctx), (long long)i, (long long)j, (long long)k,
                                     a, got, pos[a]);
                    }
                    checked_img++;
                }
            }
    /* not vacuous: most voxels checked (grid ratios such as 12 -> 7 put whole rows on exact ties) */
    if (checked_img * 5 < total || checked_lab * 5 < total * 3)
        fail_msg("'%s': only %zu image and %zu label voxels of %zu checked (%zu near ties)", c->spec, checked_img,
                 checked_lab, total, ties);
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_volume_free(oimg);
    vxa_volume_free(olab);
}

/* Every spatial op of SPEC's table, on grids with odd and even sizes so that (n − 1)/2 is a half-integer on some
 * axes, each rotation plane, anisotropic spacing, and a chain. */
static void check_all_maps(vxa_context *ctx)
{
    const int64_t N[3] = { 12, 9, 10 };
    const double iso[3] = { 1, 1, 1 };
    char spec[256];

    static const flip_arg fl[4] = { { { 1, 0, 0 } }, { { 0, 1, 0 } }, { { 0, 0, 1 } }, { { 1, 1, 1 } } };
    static const char *fl_spec[4] = { "flip(axes=0)", "flip(axes=1)", "flip(axes=2)", "flip(axes=0,1,2)" };
    for (int t = 0; t < 4; t++) {
        const oracle_case c = { fl_spec[t], { N[0], N[1], N[2] }, { 1, 1, 1 }, { N[0], N[1], N[2] }, flip_pull,
                                &fl[t], 1 };
        check_case(ctx, &c);
    }

    const int planes[3][2] = { { 0, 1 }, { 0, 2 }, { 1, 2 } };
    const double angles[3] = { 30, -25, 117 };
    /* isotropic voxels only: SPEC's millimetre frame for anisotropic ones (revised 2026-12-07) is not on main
     * yet; rotate_pull already takes the spacing for when it is */
    for (int t = 0; t < 3; t++) {
        const rot_arg r = { angles[t], planes[t][0], planes[t][1], { iso[0], iso[1], iso[2] } };
        snprintf(spec, sizeof spec, "rotate(%g, plane=%d,%d)", angles[t], planes[t][1], planes[t][0]);
        const oracle_case c = { spec, { N[0], N[1], N[2] }, { iso[0], iso[1], iso[2] }, { N[0], N[1], N[2] },
                                rotate_pull, &r, 0 };
        check_case(ctx, &c);
    }

    const rot3_arg r3 = { { 10, -20, 35 } };
    const oracle_case c3 = { "rotate3d(angles=10,-20,35)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { N[0], N[1], N[2] },
                             rotate3d_pull, &r3, 0 };
    check_case(ctx, &c3);

    const zoom_arg z = { { 1.3, 0.85, 1.1 } };
    const oracle_case cz = { "zoom(z=1.3,0.85,1.1)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { N[0], N[1], N[2] },
                             zoom_pull, &z, 0 };
    check_case(ctx, &cz);

    const shift_arg sh = { { 1.25, -2.5, 0.75 } };
    const oracle_case csh = { "shift(t=1.25,-2.5,0.75)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { N[0], N[1], N[2] },
                              shift_pull, &sh, 1 };   /* exact in float32: ties on axis 1 are checked */
    check_case(ctx, &csh);

    const affine_arg af = { { { 0.91, 0.13, 0 }, { -0.22, 1.07, 0.05 }, { 0, 0.17, 0.94 } }, { 0.37, -0.21, 0.33 } };
    const oracle_case caf = { "affine(row0=0.91,0.13,0, row1=-0.22,1.07,0.05, row2=0,0.17,0.94, offset=0.37,-0.21,0.33)",
                              { N[0], N[1], N[2] }, { 1, 1, 1 }, { N[0], N[1], N[2] }, affine_pull, &af, 0 };
    check_case(ctx, &caf);

    const resize_arg rs = { { 7, 13, 10 } };
    const oracle_case crs = { "resize(shape=7,13,10)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { 7, 13, 10 },
                              resize_pull, &rs, 0 };
    check_case(ctx, &crs);

    /* scale: n' = round(n·f), ties to even: 9·0.5 = 4.5 -> 4, 10·0.75 = 7.5 -> 8, 12·1.5 = 18 */
    const resize_arg sc = { { round_half_even(12 * 1.5), round_half_even(9 * 0.5), round_half_even(10 * 0.75) } };
    assert_true(sc.out[1] == 4 && sc.out[2] == 8);
    const oracle_case csc = { "scale(f=1.5,0.5,0.75)", { N[0], N[1], N[2] }, { 1, 1, 1 },
                              { sc.out[0], sc.out[1], sc.out[2] }, resize_pull, &sc, 0 };
    check_case(ctx, &csc);

    /* resample from spacing (1, 2, 1.5) to (1.5, 1, 1.25): n' = round(n·s/s') */
    resample_arg rp = { { 0, 0, 0 }, { 1.0, 2.0, 1.5 }, { 1.5, 1.0, 1.25 } };
    for (int a = 0; a < 3; a++) rp.out[a] = round_half_even((double)N[a] * rp.s[a] / rp.s2[a]);
    const oracle_case crp = { "resample(spacing=1.5,1,1.25)", { N[0], N[1], N[2] }, { 1.0, 2.0, 1.5 },
                              { rp.out[0], rp.out[1], rp.out[2] }, resample_pull, &rp, 0 };
    check_case(ctx, &crp);

    /* crops and pad: translations by integers, exact */
    const shift_arg crop_q = { { -2, -3, -1 } };
    const oracle_case ccr = { "crop(size=5,4,6, start=2,3,1)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { 5, 4, 6 },
                              shift_pull, &crop_q, 1 };
    check_case(ctx, &ccr);
    /* centred: q = floor((n − m)/2) = (3, 2, 2) for m = (5, 4, 5); where m > n it pads: q = floor((9 − 12)/2) = −2 */
    const shift_arg cc_q = { { -floor((12 - 5) / 2.0), -floor((9 - 4) / 2.0), -floor((10 - 5) / 2.0) } };
    const oracle_case ccc = { "center_crop(size=5,4,5)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { 5, 4, 5 },
                              shift_pull, &cc_q, 1 };
    check_case(ctx, &ccc);
    const oracle_case ccd = { "crop(size=5,4,5)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { 5, 4, 5 }, shift_pull,
                              &cc_q, 1 };
    check_case(ctx, &ccd);
    const shift_arg cp_q = { { -floor((12 - 8) / 2.0), -floor((9 - 12) / 2.0), -floor((10 - 11) / 2.0) } };
    assert_true(cp_q.t[1] == 2 && cp_q.t[2] == 1);   /* floor of a negative half: −1.5 -> −2, −0.5 -> −1 */
    const oracle_case ccp = { "center_crop(size=8,12,11)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { 8, 12, 11 },
                              shift_pull, &cp_q, 1 };
    check_case(ctx, &ccp);
    const shift_arg pad_q = { { 2, 1, 0 } };
    const oracle_case cpd = { "pad(before=2,1,0, after=1,3,2)", { N[0], N[1], N[2] }, { 1, 1, 1 },
                              { 12 + 3, 9 + 4, 10 + 2 }, shift_pull, &pad_q, 1 };
    check_case(ctx, &cpd);

    /* a chain resampled once: zoom, then rotate about axis 2 */
    const zoom_arg z2 = { { 1.2, 1.2, 1.2 } };
    const rot_arg r2 = { 20, 0, 1, { 1, 1, 1 } };
    const chain_arg ch = { zoom_pull, &z2, rotate_pull, &r2, { N[0], N[1], N[2] } };
    const oracle_case cch = { "zoom(1.2) rotate(20)", { N[0], N[1], N[2] }, { 1, 1, 1 }, { N[0], N[1], N[2] },
                              chain_pull, &ch, 0 };
    check_case(ctx, &cch);
    /* and a grid op after an augmentation: rotate, then resize (the rotation about the input grid's centre) */
    const rot_arg r4 = { -35, 1, 2, { 1, 1, 1 } };
    const resize_arg rs2 = { { 9, 12, 8 } };
    const chain_arg ch2 = { rotate_pull, &r4, resize_pull, &rs2, { N[0], N[1], N[2] } };
    const oracle_case cch2 = { "rotate(-35, plane=1,2) resize(shape=9,12,8)", { N[0], N[1], N[2] }, { 1, 1, 1 },
                               { 9, 12, 8 }, chain_pull, &ch2, 0 };
    check_case(ctx, &cch2);
}

/* random_crop: each sample's map is a translation by a start q with 0 <= q <= n − m, read back from the
 * coordinate channels at voxel 0; over 12 samples more than one start turns up on each axis. */
static void check_random_crop(vxa_context *ctx)
{
    const int64_t n[3] = { 12, 9, 10 }, m[3] = { 5, 4, 9 };
    const double sp[3] = { 1, 1, 1 };
    vxa_volume *img, *lab;
    coordinate_volumes(n, sp, &img, &lab);
    char err[256];
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse("random_crop(size=5,4,9)", &p, err, sizeof err), VXA_OK);
    int64_t seen_lo[3] = { 99, 99, 99 }, seen_hi[3] = { -1, -1, -1 };
    for (uint64_t s = 0; s < 12; s++) {
        vxa_volume *o = NULL;
        assert_int_equal(vxa_pipeline_run(ctx, p, 3, s, img, NULL, &o, NULL, NULL), VXA_OK);
        for (int a = 0; a < 3; a++) assert_int_equal(o->dim[a], m[a]);
        const double q[3] = { vxa_volume_get(o, 0, 0, 0, 0), vxa_volume_get(o, 0, 0, 0, 1),
                              vxa_volume_get(o, 0, 0, 0, 2) };
        for (int a = 0; a < 3; a++) {
            if (q[a] != floor(q[a]) || q[a] < 0 || q[a] > (double)(n[a] - m[a]))
                fail_msg("random_crop sample %llu: start %g on axis %d, expected an integer in 0..%lld",
                         (unsigned long long)s, q[a], a, (long long)(n[a] - m[a]));
            if ((int64_t)q[a] < seen_lo[a]) seen_lo[a] = (int64_t)q[a];
            if ((int64_t)q[a] > seen_hi[a]) seen_hi[a] = (int64_t)q[a];
        }
        for (int64_t k = 0; k < m[2]; k++)
            for (int64_t j = 0; j < m[1]; j++)
                for (int64_t i = 0; i < m[0]; i++) {
                    const int64_t o3[3] = { i, j, k };
                    for (int a = 0; a < 3; a++)
                        if (vxa_volume_get(o, i, j, k, a) != (float)(q[a] + (double)o3[a]))
                            fail_msg("random_crop sample %llu: not a translation by its start at (%lld,%lld,%lld)",
                                     (unsigned long long)s, (long long)i, (long long)j, (long long)k);
                }
        vxa_volume_free(o);
    }
    for (int a = 0; a < 3; a++)
        if (seen_hi[a] <= seen_lo[a]) fail_msg("random_crop: axis %d always starts at %lld", a, (long long)seen_lo[a]);
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

/* Nearest rounding at exact ties and below zero: shift by (0.5, −0.5, 1.5) puts every position on a tie
 * (exact in float32): floor(p + 0.5) sends p = o − 0.5 to o, p = o + 0.5 to o + 1, p = −0.5 to 0 (inside) and
 * p = −1.5 to −1 (outside: 0). Round-half-away, round-half-even or truncation each move some voxel. Labels, and
 * images with sampling(order=0). */
static void check_nearest_ties(vxa_context *ctx)
{
    const shift_arg sh = { { 0.5, -0.5, 1.5 } };
    const oracle_case labels = { "shift(t=0.5,-0.5,1.5)", { 8, 7, 6 }, { 1, 1, 1 }, { 8, 7, 6 }, shift_pull, &sh, 1 };
    check_case(ctx, &labels);
    const oracle_case images = { "sampling(order=0) shift(t=0.5,-0.5,1.5)", { 8, 7, 6 }, { 1, 1, 1 }, { 8, 7, 6 },
                                 shift_pull, &sh, 1 };
    check_case(ctx, &images);
    /* and the spelled-out values on axis 2 (o = 0 outside, o = 1 from voxel 0) */
    vxa_volume *img, *lab, *oimg = NULL, *olab = NULL;
    const int64_t n[3] = { 3, 3, 4 };
    const double sp[3] = { 1, 1, 1 };
    coordinate_volumes(n, sp, &img, &lab);
    char err[256];
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse("shift(t=0,0,1.5)", &p, err, sizeof err), VXA_OK);
    assert_int_equal(vxa_pipeline_run(ctx, p, 1, 0, img, lab, &oimg, &olab, NULL), VXA_OK);
    assert_true(vxa_volume_get(olab, 1, 1, 0, 0) == 0);                    /* p = −1.5 -> −1: outside */
    assert_true(vxa_volume_get(olab, 1, 1, 1, 0) == 1 + 1 + 3 * 1);        /* p = −0.5 -> 0 */
    assert_true(vxa_volume_get(olab, 1, 1, 2, 0) == 1 + 1 + 3 * (1 + 3));  /* p = 0.5 -> 1 */
    assert_true(vxa_volume_get(olab, 1, 1, 3, 0) == 1 + 1 + 3 * (1 + 6));  /* p = 1.5 -> 2 */
    vxa_pipeline_free(p);
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_volume_free(oimg);
    vxa_volume_free(olab);
}

/* ---- percentiles: np.percentile(x, q) (linear): i = (n − 1)·q/100, x[floor i] + frac(i)·(x[floor i + 1] − x[floor i])
 * of the sorted values; pclip clips to the two ---- */
static vxa_volume *run_intensity(vxa_context *ctx, const char *spec, const float *x, int64_t n)
{
    const int64_t dim[3] = { n, 1, 1 };
    vxa_volume *v = NULL, *o = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &v), VXA_OK);
    memcpy(v->data, x, (size_t)n * sizeof *x);
    char err[256];
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) fail_msg("parse '%s': %s", spec, err);
    if (vxa_pipeline_run(ctx, p, 1, 0, v, NULL, &o, NULL, NULL) != VXA_OK)
        fail_msg("'%s' on %s: %s", spec, vxa_context_device_name(ctx), vxa_last_error(ctx));
    vxa_pipeline_free(p);
    vxa_volume_free(v);
    return o;
}

static void expect_values(const char *what, const vxa_volume *o, const double *want, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++) {
        const double got = vxa_volume_get(o, i, 0, 0, 0);
        if (fabs(got - want[i]) > tol)
            fail_msg("%s: voxel %lld = %.7g, expected %.7g", what, (long long)i, got, want[i]);
    }
}

static void check_percentiles(vxa_context *ctx)
{
    /* sorted: 1 2 3 4 10 (n = 5). 10th: i = 0.4 -> 1 + 0.4·1 = 1.4; 90th: i = 3.6 -> 4 + 0.6·6 = 7.6 */
    const float a[5] = { 10, 3, 1, 4, 2 };
    vxa_volume *o = run_intensity(ctx, "pclip(10, 90)", a, 5);
    const double wa[5] = { 7.6, 3, 1.4, 4, 2 };
    expect_values("pclip(10, 90) of {10,3,1,4,2}", o, wa, 5, 1e-5);
    vxa_volume_free(o);
    /* sorted: −5 0 0 2 6 8 9 20 (n = 8). 25th: i = 1.75 -> 0; 70th: i = 4.9 -> 6 + 0.9·2 = 7.8;
     * 5th: i = 0.35 -> −5 + 0.35·5 = −3.25 */
    const float b[8] = { 9, 0, 20, -5, 6, 0, 8, 2 };
    o = run_intensity(ctx, "pclip(25, 70)", b, 8);
    const double wb[8] = { 7.8, 0, 7.8, 0, 6, 0, 7.8, 2 };
    expect_values("pclip(25, 70) of {9,0,20,-5,6,0,8,2}", o, wb, 8, 1e-5);
    vxa_volume_free(o);
    o = run_intensity(ctx, "pclip(5, 70)", b, 8);
    const double wb2[8] = { 7.8, 0, 7.8, -3.25, 6, 0, 7.8, 2 };
    expect_values("pclip(5, 70) of {9,0,20,-5,6,0,8,2}", o, wb2, 8, 1e-5);
    vxa_volume_free(o);
    /* nonzero=1: the non-zero values sorted: −5 2 6 8 9 20 (n = 6). 10th: i = 0.5 -> −5 + 0.5·7 = −1.5;
     * 60th: i = 3 -> 8 exactly; zero voxels stay 0 */
    o = run_intensity(ctx, "pclip(10, 60, nonzero=1)", b, 8);
    const double wb3[8] = { 8, 0, 8, -1.5, 6, 0, 8, 2 };
    expect_values("pclip(10, 60, nonzero=1) of {9,0,20,-5,6,0,8,2}", o, wb3, 8, 1e-5);
    vxa_volume_free(o);
    /* the end points: 0th and 100th are min and max (nothing clipped) */
    o = run_intensity(ctx, "pclip(0, 100)", b, 8);
    const double wb4[8] = { 9, 0, 20, -5, 6, 0, 8, 2 };
    expect_values("pclip(0, 100)", o, wb4, 8, 0);
    vxa_volume_free(o);
}

/* ---- the Gaussian kernel: blur of a unit impulse along one axis gives the weights
 * w_x = exp(−x²/(2σ²)) / Σ exp(−x'²/(2σ²)) for |x| <= r = int(4σ + 0.5), and exactly 0 beyond r ---- */
static void check_gaussian_weights(vxa_context *ctx)
{
    const double sigmas[] = { 0.7, 1.6, 2.2, 3.0 };
    for (size_t s = 0; s < sizeof sigmas / sizeof sigmas[0]; s++) {
        const double sigma = sigmas[s];
        const int64_t r = (int64_t)(4.0 * sigma + 0.5), n = 2 * r + 9, mid = n / 2;
        float *x = calloc((size_t)n, sizeof *x);
        assert_non_null(x);
        x[mid] = 1;
        char spec[64];
        snprintf(spec, sizeof spec, "blur(sigma=%g,0,0)", sigma);
        vxa_volume *o = run_intensity(ctx, spec, x, n);
        double norm = 0;
        for (int64_t d = -r; d <= r; d++) norm += exp(-0.5 * (double)(d * d) / (sigma * sigma));
        for (int64_t i = 0; i < n; i++) {
            const int64_t d = i - mid;
            const double want = d >= -r && d <= r ? exp(-0.5 * (double)(d * d) / (sigma * sigma)) / norm : 0.0;
            const double got = vxa_volume_get(o, i, 0, 0, 0);
            if (fabs(got - want) > 1e-6 * (want > 1e-3 ? want * 1e3 : 1.0) && fabs(got - want) > 2e-8)
                fail_msg("%s on %s: weight at offset %lld = %.9g, expected %.9g (radius %lld)", spec,
                         vxa_context_device_name(ctx), (long long)d, got, want, (long long)r);
        }
        vxa_volume_free(o);
        free(x);
    }
}

/* ---- per context ---- */
static void check_everything(vxa_context *ctx)
{
    check_all_maps(ctx);
    check_random_crop(ctx);
    check_nearest_ties(ctx);
    check_percentiles(ctx);
    check_gaussian_weights(ctx);
}

static void test_oracles_reference(void **state)
{
    (void)state;
    check_everything(vxa_test_reference());
}

static void test_oracles_device(void **state)
{
    (void)state;
    check_everything(vxa_test_device());
}

static void test_oracles_device_gpu_forms(void **state)
{
    (void)state;
    vxa_context *g = vxa_test_gpu_forms_device();
    check_everything(g);
    vxa_context_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracles_reference),
        cmocka_unit_test(test_oracles_device),
        cmocka_unit_test(test_oracles_device_gpu_forms),
    };
    return vxa_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
