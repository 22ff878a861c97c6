/* SPDX-License-Identifier: MIT */
/* The spatial ops' pull maps against SPEC.md's formulas worked out by hand on small grids, their draws, their
 * errors, and the world geometry of their outputs. */
#include "testutil.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t out_dim[3];
    double A[3][3], b[3];
    char note[256], err[512];
    vxa_status st;
} op_result;

/* The op's values with its defaults, nothing given. */
static vxa_op_values defaults(const vxa_op_desc *d)
{
    vxa_op_values v;
    memset(&v, 0, sizeof v);
    for (int p = 0; p < d->nparams; p++)
        for (int k = 0; k < 3; k++) v.v[p][k] = d->params[p].def[k];
    v.seed = 1234;
    v.sample = 5;
    return v;
}

static int param_index(const vxa_op_desc *d, const char *name)
{
    for (int p = 0; p < d->nparams; p++)
        if (strcmp(d->params[p].name, name) == 0) return p;
    fail_msg("op %s has no parameter %s", d->name, name);
    return -1;
}

/* Sets a parameter as given by the user with n values (1 broadcasts to 3, as the parser does). */
static void set(const vxa_op_desc *d, vxa_op_values *v, const char *name, int n, double x0, double x1, double x2)
{
    const int p = param_index(d, name);
    const double x[3] = { x0, n > 1 ? x1 : x0, n > 2 ? x2 : (n > 1 ? x1 : x0) };
    for (int k = 0; k < 3; k++) v->v[p][k] = x[k];
    if (n == 1 && d->params[p].count == 3) v->v[p][1] = v->v[p][2] = x0;
    v->given[p] = n;
}

static const vxa_op_desc *op(const char *name)
{
    const vxa_op_desc *d = vxa_op_find(name);
    if (!d) fail_msg("op %s is not in the table", name);
    assert_int_equal(d->kind, VXA_OPK_SPATIAL);
    return d;
}

static vxa_grid grid(int64_t n0, int64_t n1, int64_t n2)
{
    vxa_grid g;
    memset(&g, 0, sizeof g);
    const int64_t n[3] = { n0, n1, n2 };
    for (int a = 0; a < 3; a++) {
        g.dim[a] = n[a];
        g.spacing[a] = 1.0;
        g.affine[a][a] = 1.0;
    }
    g.affine[3][3] = 1.0;
    return g;
}

static op_result run(const vxa_op_desc *d, const vxa_op_values *v, const vxa_grid *in)
{
    op_result r;
    memset(&r, 0, sizeof r);
    vxa_draw_rng rng = { .seed = v->seed, .sample = v->sample, .stream = 77 };
    r.st = d->spatial(v, &rng, in, r.out_dim, r.A, r.b, r.note, sizeof r.note, r.err, sizeof r.err);
    return r;
}

static op_result run_ok(const vxa_op_desc *d, const vxa_op_values *v, const vxa_grid *in)
{
    op_result r = run(d, v, in);
    if (r.st != VXA_OK) fail_msg("%s: %s: %s", d->name, vxa_status_name(r.st), r.err);
    return r;
}

static void map(const op_result *r, const double o[3], double p[3])
{
    for (int a = 0; a < 3; a++) {
        p[a] = r->b[a];
        for (int c = 0; c < 3; c++) p[a] += r->A[a][c] * o[c];
    }
}

static void assert_maps(const op_result *r, double o0, double o1, double o2, double p0, double p1, double p2)
{
    const double o[3] = { o0, o1, o2 }, want[3] = { p0, p1, p2 };
    double p[3];
    map(r, o, p);
    for (int a = 0; a < 3; a++)
        if (fabs(p[a] - want[a]) > 1e-12)
            fail_msg("(%g,%g,%g) maps to (%g,%g,%g), expected (%g,%g,%g)", o0, o1, o2, p[0], p[1], p[2], p0, p1, p2);
}

static void assert_dims(const op_result *r, int64_t n0, int64_t n1, int64_t n2)
{
    if (r->out_dim[0] != n0 || r->out_dim[1] != n1 || r->out_dim[2] != n2)
        fail_msg("output %lldx%lldx%lld, expected %lldx%lldx%lld", (long long)r->out_dim[0], (long long)r->out_dim[1],
                 (long long)r->out_dim[2], (long long)n0, (long long)n1, (long long)n2);
}

static void assert_invalid(const op_result *r, const char *needle1, const char *needle2)
{
    if (r->st != VXA_ERR_INVALID_ARGUMENT || !strstr(r->err, needle1) || !strstr(r->err, needle2))
        fail_msg("expected VXA_ERR_INVALID_ARGUMENT naming '%s' and '%s', got %s: '%s'", needle1, needle2,
                 vxa_status_name(r->st), r->err);
}

/* ---- the table ---- */
static void test_every_spatial_op_is_documented(void **state)
{
    (void)state;
    const char *names[] = { "flip", "rotate", "rotate3d", "zoom", "shift", "affine", "resize", "scale",
                            "resample", "crop", "center_crop", "random_crop", "pad", "reorient" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const vxa_op_desc *d = op(names[i]);
        assert_int_equal(d->augment, i < 6);   /* SPEC "Geometry": the first six move content, the rest regrid */
        assert_non_null(d->spatial);
        assert_true(d->doc && strlen(d->doc) > 20);
        assert_true(d->scipy && strlen(d->scipy) > 5);
        for (int p = 0; p < d->nparams; p++) {
            assert_true(d->params[p].count >= 1 && d->params[p].count <= 3);
            assert_true(d->params[p].doc && d->params[p].doc[0]);
            for (int k = 0; k < 3; k++)
                assert_true(d->params[p].def[k] >= d->params[p].lo && d->params[p].def[k] <= d->params[p].hi);
            for (int q = 0; q < p; q++) assert_true(strcmp(d->params[p].name, d->params[q].name) != 0);
        }
    }
    assert_int_equal(vxa_spatial_nops, (int)(sizeof names / sizeof names[0]));
}

/* ---- flip ---- */
static void test_flip_maps_first_to_last(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("flip");
    vxa_grid g = grid(5, 6, 7);
    vxa_op_values v = defaults(d);
    set(d, &v, "axes", 2, 0, 2, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 5, 6, 7);
    assert_maps(&r, 0, 0, 0, 4, 0, 6);
    assert_maps(&r, 4, 5, 6, 0, 5, 0);
    assert_maps(&r, 1, 2, 3, 3, 2, 3);
    assert_string_equal(r.note, "\"flipped\":[1,0,1]");
}

static void test_flip_default_is_axis_0(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("flip");
    vxa_grid g = grid(5, 6, 7);
    vxa_op_values v = defaults(d);
    op_result r = run_ok(d, &v, &g);
    assert_maps(&r, 0, 0, 0, 4, 0, 0);
    assert_string_equal(r.note, "\"flipped\":[1,0,0]");
}

/* p_axis = 0 flips nothing; p_axis = 0.5 flips each axis about half the time, independently. */
static void test_flip_p_axis_draws_per_axis(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("flip");
    vxa_grid g = grid(5, 6, 7);
    vxa_op_values v = defaults(d);
    set(d, &v, "axes", 3, 0, 1, 2);
    set(d, &v, "p_axis", 1, 0, 0, 0);
    op_result r = run_ok(d, &v, &g);
    assert_string_equal(r.note, "\"flipped\":[0,0,0]");
    assert_maps(&r, 1, 2, 3, 1, 2, 3);
    set(d, &v, "p_axis", 1, 0.5, 0, 0);
    int count[3] = { 0, 0, 0 }, patterns[8] = { 0 };
    for (uint64_t s = 0; s < 400; s++) {
        v.sample = s;
        r = run_ok(d, &v, &g);
        int pat = 0;
        for (int a = 0; a < 3; a++) {
            const int f = r.A[a][a] < 0;
            count[a] += f;
            pat |= f << a;
            assert_true(f ? r.b[a] == (double)(g.dim[a] - 1) : r.b[a] == 0);
        }
        patterns[pat]++;
        char want[64];
        snprintf(want, sizeof want, "\"flipped\":[%d,%d,%d]", pat & 1, (pat >> 1) & 1, pat >> 2);
        assert_string_equal(r.note, want);
    }
    for (int a = 0; a < 3; a++) assert_true(count[a] > 140 && count[a] < 260);
    for (int p = 0; p < 8; p++) assert_true(patterns[p] > 15);  /* every combination occurs */
}

static void test_flip_bad_axis_is_error(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("flip");
    vxa_grid g = grid(5, 6, 7);
    vxa_op_values v = defaults(d);
    set(d, &v, "axes", 1, 3, 0, 0);
    op_result r = run(d, &v, &g);
    assert_invalid(&r, "flip", "axes");
}

/* ---- rotate ---- */
/* 90 degrees in plane (0, 1) on a cube is np.rot90(x, 1, axes=(0, 1)): out[i, j] = x[j, n-1-i], exactly. */
static void test_rotate_90_is_rot90(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("rotate");
    vxa_grid g = grid(6, 6, 3);
    vxa_op_values v = defaults(d);
    set(d, &v, "angle", 1, 90, 0, 0);
    set(d, &v, "plane", 2, 0, 1, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 6, 6, 3);
    const double A[3][3] = { { 0, 1, 0 }, { -1, 0, 0 }, { 0, 0, 1 } }, b[3] = { 0, 5, 0 };
    for (int x = 0; x < 3; x++) {
        assert_true(r.b[x] == b[x]);
        for (int y = 0; y < 3; y++) assert_true(r.A[x][y] == A[x][y]);
    }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) assert_maps(&r, i, j, 2, j, 5 - i, 2);
}

/* A rotation keeps the centre and turns (c + e_a) to c + (cos, -sin) as SciPy's matrix [[c, s], [-s, c]];
 * the plane's axes are sorted, as SciPy does. */
static void test_rotate_about_centre_scipy_sign(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("rotate");
    vxa_grid g = grid(9, 7, 11);
    vxa_op_values v = defaults(d);
    set(d, &v, "angle", 1, 30, 0, 0);
    set(d, &v, "plane", 2, 0, 2, 0);
    op_result r = run_ok(d, &v, &g);
    const double c0 = 4, c1 = 3, c2 = 5, cs = cos(3.14159265358979323846 / 6), sn = sin(3.14159265358979323846 / 6);
    assert_maps(&r, c0, c1, c2, c0, c1, c2);
    assert_maps(&r, c0 + 1, c1 + 2, c2, c0 + cs, c1 + 2, c2 - sn);
    assert_maps(&r, c0, c1, c2 + 1, c0 + sn, c1, c2 + cs);
    set(d, &v, "plane", 2, 2, 0, 0);
    op_result r2 = run_ok(d, &v, &g);
    assert_memory_equal(r.A, r2.A, sizeof r.A);
    set(d, &v, "plane", 2, 1, 1, 0);
    op_result bad = run(d, &v, &g);
    assert_invalid(&bad, "rotate", "plane");
}

/* rotate3d(ax, ay, az) is rotate(ax, plane=1,2) then rotate(ay, plane=0,2) then rotate(az, plane=0,1): the pull
 * maps compose as A_x·A_y·A_z. */
static void test_rotate3d_is_three_rotations(void **state)
{
    (void)state;
    const vxa_op_desc *d3 = op("rotate3d"), *d = op("rotate");
    vxa_grid g = grid(8, 9, 10);
    vxa_op_values v3 = defaults(d3);
    set(d3, &v3, "angles", 3, 10, -20, 35);
    op_result r3 = run_ok(d3, &v3, &g);
    const double ang[3] = { 10, -20, 35 };
    const int planes[3][2] = { { 1, 2 }, { 0, 2 }, { 0, 1 } };
    double A[3][3], b[3];
    vxa_xform_identity(A, b);
    for (int s = 0; s < 3; s++) {
        vxa_op_values v = defaults(d);
        set(d, &v, "angle", 1, ang[s], 0, 0);
        set(d, &v, "plane", 2, planes[s][0], planes[s][1], 0);
        op_result r = run_ok(d, &v, &g);
        vxa_xform_compose(A, b, r.A, r.b, A, b);
    }
    for (int x = 0; x < 3; x++) {
        assert_float_equal(r3.b[x], b[x], 1e-12);
        for (int y = 0; y < 3; y++) assert_float_equal(r3.A[x][y], A[x][y], 1e-12);
    }
}

/* ---- zoom, shift, affine ---- */
static void test_zoom_2_keeps_centre(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("zoom");
    vxa_grid g = grid(9, 10, 11);
    vxa_op_values v = defaults(d);
    set(d, &v, "z", 1, 2, 0, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 9, 10, 11);
    assert_maps(&r, 4, 4.5, 5, 4, 4.5, 5);
    assert_maps(&r, 6, 6.5, 7, 5, 5.5, 6);   /* 2 voxels out from the centre samples 1 voxel out */
    set(d, &v, "z", 3, 1, 0.5, 4);
    r = run_ok(d, &v, &g);
    assert_maps(&r, 0, 0, 0, 0, 4.5 - 4.5 / 0.5, 5 - 5.0 / 4);
    set(d, &v, "z", 3, 1, 0, 1);
    op_result bad = run(d, &v, &g);
    assert_invalid(&bad, "zoom", "z");
}

static void test_shift_pulls_from_minus_t(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("shift");
    vxa_grid g = grid(4, 5, 6);
    vxa_op_values v = defaults(d);
    set(d, &v, "t", 3, 1.5, -2, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 4, 5, 6);
    assert_maps(&r, 3, 1, 2, 1.5, 3, 2);
}

static void test_affine_is_given_matrix(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("affine");
    vxa_grid g = grid(4, 5, 6);
    vxa_op_values v = defaults(d);
    op_result r = run_ok(d, &v, &g);
    assert_maps(&r, 1, 2, 3, 1, 2, 3);
    set(d, &v, "row0", 3, 1, 2, 3);
    set(d, &v, "row1", 3, 0, -1, 0);
    set(d, &v, "offset", 3, 0.5, 4, -1);
    r = run_ok(d, &v, &g);
    assert_dims(&r, 4, 5, 6);
    assert_maps(&r, 1, 1, 1, 6.5, 3, 0);
}

/* ---- resize, scale, resample ---- */
/* The outer edges of the first and last output voxels (o = -0.5, n'-0.5) land on the input's edges. */
static void test_resize_keeps_the_field_of_view_edges(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("resize");
    vxa_grid g = grid(10, 7, 5);
    vxa_op_values v = defaults(d);
    set(d, &v, "shape", 3, 4, 14, 5);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 4, 14, 5);
    assert_maps(&r, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5);
    assert_maps(&r, 3.5, 13.5, 4.5, 9.5, 6.5, 4.5);
    assert_maps(&r, 0, 0, 2, 0.5 * 10 / 4 - 0.5, 0.25 - 0.5, 2);
}

/* n' = round(n*f) with ties to even (Python's round in ndimage.zoom): 5*0.5 = 2.5 -> 2, 7*0.5 = 3.5 -> 4. */
static void test_scale_rounds_shape_half_to_even(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("scale");
    vxa_grid g = grid(5, 7, 181);
    vxa_op_values v = defaults(d);
    set(d, &v, "f", 1, 0.5, 0, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 2, 4, 90);
    assert_maps(&r, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5);
    assert_maps(&r, 1.5, 3.5, 89.5, 4.5, 6.5, 180.5);
    set(d, &v, "f", 1, 0.05, 0, 0);
    op_result bad = run(d, &v, &g);
    assert_invalid(&bad, "scale", "f = 0.05");
}

/* The world position of the output's centre voxel (from the output affine) is the input's centre, for an
 * oblique input affine; spacing is s'. */
static void test_resample_keeps_world_centre(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("resample");
    vxa_grid g = grid(181, 217, 180);
    const double sp[3] = { 1.0, 1.5, 0.8 }, th = 0.3;
    const double R[3][3] = { { cos(th), -sin(th), 0 }, { sin(th), cos(th), 0 }, { 0, 0, 1 } };
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++) g.affine[r][c] = R[r][c] * sp[c];
        g.affine[r][3] = 10.0 * (r + 1);
        g.spacing[r] = sp[r];
    }
    vxa_op_values v = defaults(d);
    set(d, &v, "spacing", 3, 2, 2, 1.3);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 90, 163, 111);  /* 90.5 -> 90 (ties to even), 162.75 -> 163, 110.77 -> 111 */
    vxa_grid out;
    vxa_grid_after(&g, r.A, r.b, r.out_dim, &out);
    for (int a = 0; a < 3; a++) assert_float_equal(out.spacing[a], a == 2 ? 1.3 : 2.0, 1e-12);
    double win[3], wout[3];
    for (int row = 0; row < 3; row++) {
        win[row] = g.affine[row][3];
        wout[row] = out.affine[row][3];
        for (int c = 0; c < 3; c++) {
            win[row] += g.affine[row][c] * 0.5 * (double)(g.dim[c] - 1);
            wout[row] += out.affine[row][c] * 0.5 * (double)(out.dim[c] - 1);
        }
        assert_float_equal(win[row], wout[row], 1e-9);
    }
}

/* For every op, the output affine puts output voxel o where the input affine puts p = A·o + b. */
static void test_world_geometry_follows_the_map(void **state)
{
    (void)state;
    vxa_grid g = grid(20, 30, 25);
    const double th = -0.4;
    g.affine[0][0] = 1.2 * cos(th); g.affine[0][1] = -0.9 * sin(th); g.affine[0][3] = -12;
    g.affine[1][0] = 1.2 * sin(th); g.affine[1][1] = 0.9 * cos(th); g.affine[1][3] = 30;
    g.affine[2][2] = 2.5; g.affine[2][3] = 7;
    g.spacing[0] = 1.2; g.spacing[1] = 0.9; g.spacing[2] = 2.5;
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);
    uint64_t rng = vxa_test_seed();
    for (int i = 0; i < n; i++) {
        const vxa_op_desc *d = t[i];
        if (d->kind != VXA_OPK_SPATIAL) continue;
        vxa_op_values v = defaults(d);
        if (!strcmp(d->name, "rotate")) set(d, &v, "angle", 1, 23, 0, 0);
        if (!strcmp(d->name, "rotate3d")) set(d, &v, "angles", 3, 5, 10, 15);
        if (!strcmp(d->name, "zoom")) set(d, &v, "z", 1, 1.3, 0, 0);
        if (!strcmp(d->name, "shift")) set(d, &v, "t", 3, 1, 2, 3);
        if (!strcmp(d->name, "resize")) set(d, &v, "shape", 3, 11, 40, 25);
        if (!strcmp(d->name, "scale")) set(d, &v, "f", 1, 0.7, 0, 0);
        if (!strcmp(d->name, "resample")) set(d, &v, "spacing", 1, 1.7, 0, 0);
        if (strstr(d->name, "crop") && strcmp(d->name, "crop_foreground")) set(d, &v, "size", 3, 10, 31, 5);
        if (!strcmp(d->name, "crop")) set(d, &v, "size", 3, 10, 30, 5);
        if (!strcmp(d->name, "pad")) set(d, &v, "before", 3, 1, 2, 3);
        op_result r = run_ok(d, &v, &g);
        vxa_grid out;
        vxa_grid_after(&g, r.A, r.b, r.out_dim, &out);
        for (int s = 0; s < 5; s++) {
            double o[3], p[3];
            for (int a = 0; a < 3; a++) o[a] = (double)(vxa_test_rand(&rng) % (uint64_t)r.out_dim[a]);
            map(&r, o, p);
            for (int row = 0; row < 3; row++) {
                double w_out = out.affine[row][3], w_in = g.affine[row][3];
                for (int c = 0; c < 3; c++) {
                    w_out += out.affine[row][c] * o[c];
                    w_in += g.affine[row][c] * p[c];
                }
                if (fabs(w_out - w_in) > 1e-9) fail_msg("%s: world %g vs %g", d->name, w_out, w_in);
            }
        }
    }
}

/* ---- millimetres (SPEC "Geometry") ---- */
static vxa_grid aniso_grid(double s0, double s1, double s2)
{
    vxa_grid g = grid(20, 30, 25);
    const double sp[3] = { s0, s1, s2 };
    for (int a = 0; a < 3; a++) {
        g.spacing[a] = sp[a];
        g.affine[a][a] = sp[a];
    }
    return g;
}

/* On a 1 x 1 x 3 mm grid rotate(30, plane=0,2) turns millimetres, not indices: A = S⁻¹·R·S, so that S·A·S⁻¹ is
 * the rotation itself (orthogonal, the anatomy not sheared), about the centre; rotate3d the same. */
static void test_rotate_acts_in_millimetres(void **state)
{
    (void)state;
    const vxa_grid g = aniso_grid(1, 1, 3);
    const vxa_op_desc *d = op("rotate");
    vxa_op_values v = defaults(d);
    set(d, &v, "angle", 1, 30, 0, 0);
    set(d, &v, "plane", 2, 0, 2, 0);
    op_result r = run_ok(d, &v, &g);
    const double cs = cos(3.14159265358979323846 / 6), sn = sin(3.14159265358979323846 / 6);
    const double want[3][3] = { { cs, 0, sn * 3 }, { 0, 1, 0 }, { -sn / 3, 0, cs } };
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 3; y++)
            if (fabs(r.A[x][y] - want[x][y]) > 1e-15) fail_msg("A[%d][%d] = %.17g, expected %.17g", x, y, r.A[x][y], want[x][y]);
    assert_maps(&r, 9.5, 14.5, 12, 9.5, 14.5, 12);   /* the centre stays */
    const vxa_op_desc *d3 = op("rotate3d");
    vxa_op_values v3 = defaults(d3);
    set(d3, &v3, "angles", 3, 17, -31, 44);
    op_result r3 = run_ok(d3, &v3, &g);
    double M[3][3];   /* S·A·S⁻¹ must be a rotation: MᵀM = I */
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 3; y++) M[x][y] = g.spacing[x] * r3.A[x][y] / g.spacing[y];
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 3; y++) {
            double dot = 0;
            for (int k = 0; k < 3; k++) dot += M[k][x] * M[k][y];
            if (fabs(dot - (x == y)) > 1e-12) fail_msg("rotate3d in mm: (S A S^-1)^T (S A S^-1)[%d][%d] = %g", x, y, dot);
        }
}

/* On an isotropic grid of any spacing every augmentation op's map is the 1 mm grid's bit for bit (SPEC: the
 * SciPy checks stand). */
static void test_isotropic_grids_keep_voxel_maps(void **state)
{
    (void)state;
    const vxa_grid g1 = aniso_grid(1, 1, 1), g7 = aniso_grid(0.7, 0.7, 0.7);
    const char *names[] = { "rotate", "rotate3d", "zoom", "shift", "affine", "flip" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const vxa_op_desc *d = op(names[i]);
        vxa_op_values v = defaults(d);
        if (!strcmp(d->name, "rotate")) set(d, &v, "angle", 1, 23.5, 0, 0);
        if (!strcmp(d->name, "rotate3d")) set(d, &v, "angles", 3, 5, 10, 15);
        if (!strcmp(d->name, "zoom")) set(d, &v, "z", 3, 1.3, 0.9, 1.1);
        if (!strcmp(d->name, "shift")) set(d, &v, "t", 3, 1.5, 2, -3);
        if (!strcmp(d->name, "affine")) set(d, &v, "row0", 3, 0.9, 0.1, 0.05);
        op_result a = run_ok(d, &v, &g1), b = run_ok(d, &v, &g7);
        assert_memory_equal(a.A, b.A, sizeof a.A);
        assert_memory_equal(a.b, b.b, sizeof a.b);
    }
}

/* shift(unit=mm) moves by t millimetres: t/spacing voxels; affine(unit=mm) is x_in = A·x_out + offset in the
 * physical frame x = S·(p - c). */
static void test_shift_and_affine_in_millimetres(void **state)
{
    (void)state;
    const vxa_grid g = aniso_grid(1, 2, 4);
    const vxa_op_desc *d = op("shift");
    vxa_op_values v = defaults(d);
    set(d, &v, "t", 1, 4, 0, 0);
    set(d, &v, "unit", 1, 1, 0, 0);   /* mm */
    op_result r = run_ok(d, &v, &g);
    assert_maps(&r, 0, 0, 0, -4, -2, -1);
    set(d, &v, "unit", 1, 0, 0, 0);   /* voxels, the default */
    r = run_ok(d, &v, &g);
    assert_maps(&r, 0, 0, 0, -4, -4, -4);
    const vxa_op_desc *da = op("affine");
    vxa_op_values va = defaults(da);
    set(da, &va, "row0", 3, 0, -1, 0);   /* x_in = -y_out, y_in = x_out: a quarter turn in mm */
    set(da, &va, "row1", 3, 1, 0, 0);
    set(da, &va, "offset", 3, 2, 4, 8);
    set(da, &va, "unit", 1, 1, 0, 0);
    r = run_ok(da, &va, &g);
    /* centre c = (9.5, 14.5, 12); o = c + (0, 1, 0) voxels is x = (0, 2, 0) mm -> (-2, 0, 0) + (2, 4, 8) mm
     * = (0, 4, 8) mm -> p = c + (0, 2, 2) */
    assert_maps(&r, 9.5, 15.5, 12, 9.5, 16.5, 14);
    assert_maps(&r, 9.5, 14.5, 12, 11.5, 16.5, 14);
}

/* reorient(CODE) reaches every one of the 48 codes from an oblique, permuted input: the output grid's code is
 * the one asked for, the map a signed permutation (an exact copy), the dims permuted with it. */
static void test_reorient_reaches_every_code(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("reorient");
    vxa_grid g = grid(5, 6, 7);
    const double th = 0.3;   /* axis 0 towards -y (P), axis 1 towards -z (I), axis 2 towards +x, turned 0.3 rad */
    memset(g.affine, 0, sizeof g.affine);
    g.affine[0][2] = 2 * cos(th); g.affine[1][2] = 2 * sin(th);
    g.affine[0][0] = 1.5 * sin(th); g.affine[1][0] = -1.5 * cos(th);
    g.affine[2][1] = -3;
    g.affine[0][3] = 10; g.affine[3][3] = 1;
    g.spacing[0] = 1.5; g.spacing[1] = 3; g.spacing[2] = 2;
    char from[4];
    vxa_affine_axcodes(g.affine, from);
    assert_string_equal(from, "PIR");
    const char *const *codes = d->params[0].choices;
    int n = 0;
    for (; codes[n]; n++) {
        vxa_op_values v = defaults(d);
        set(d, &v, "code", 1, n, 0, 0);
        op_result r = run_ok(d, &v, &g);
        vxa_grid out;
        vxa_grid_after(&g, r.A, r.b, r.out_dim, &out);
        char got[4];
        vxa_affine_axcodes(out.affine, got);
        if (strcmp(got, codes[n])) fail_msg("reorient(%s) gives a grid of code %s", codes[n], got);
        assert_string_equal(r.note, "\"from\":\"PIR\"");
        for (int k = 0; k < 3; k++) {
            int ones = 0;
            for (int a = 0; a < 3; a++)
                if (r.A[a][k] != 0) {
                    ones++;
                    assert_true(fabs(r.A[a][k]) == 1.0);
                    assert_int_equal(r.out_dim[k], g.dim[a]);
                    assert_true(r.b[a] == (r.A[a][k] > 0 ? 0.0 : (double)(g.dim[a] - 1)));
                }
            assert_int_equal(ones, 1);
        }
    }
    assert_int_equal(n, 48);
}

/* The orientation code as nibabel's aff2axcodes gives it, oblique affines to their nearest axes. */
static void test_orientation_codes_as_nibabel(void **state)
{
    (void)state;
    double a[4][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
    char code[4];
    vxa_affine_axcodes(a, code);
    assert_string_equal(code, "RAS");
    a[0][0] = -2;   /* nibabel's tests/data/anatomical.nii */
    vxa_affine_axcodes(a, code);
    assert_string_equal(code, "LAS");
    const double t = 60 * 3.14159265358979323846 / 180;   /* nib.aff2axcodes of Rz(60°): ('A', 'L', 'S') */
    double r[4][4] = { { cos(t), -sin(t), 0, 0 }, { sin(t), cos(t), 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } };
    vxa_affine_axcodes(r, code);
    assert_string_equal(code, "ALS");
    double worst;
    assert_true(vxa_affine_orthogonal(r, 1e-9, &worst));
    r[0][1] += 0.5;   /* sheared */
    assert_false(vxa_affine_orthogonal(r, 1e-4, &worst));
    assert_true(worst > 0.1);
    double z[4][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 0, 0 }, { 0, 0, 0, 1 } };
    vxa_affine_axcodes(z, code);
    assert_string_equal(code, "???");
}

/* ---- crops and pads ---- */
static void test_crop_start_and_default_centre(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("crop");
    vxa_grid g = grid(10, 11, 12);
    vxa_op_values v = defaults(d);
    set(d, &v, "size", 3, 4, 5, 12);
    set(d, &v, "start", 3, 6, 0, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 4, 5, 12);
    assert_maps(&r, 0, 0, 0, 6, 0, 0);
    assert_maps(&r, 3, 4, 11, 9, 4, 11);
    v = defaults(d);
    set(d, &v, "size", 3, 4, 5, 12);
    r = run_ok(d, &v, &g);
    assert_maps(&r, 0, 0, 0, 3, 3, 0);  /* floor((10-4)/2), floor((11-5)/2), 0 */
}

static void test_crop_errors_name_the_problem(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("crop");
    vxa_grid g = grid(10, 11, 12);
    vxa_op_values v = defaults(d);
    set(d, &v, "size", 3, 4, 12, 5);
    op_result r = run(d, &v, &g);
    assert_invalid(&r, "crop: size 12 > input 11", "axis 1");
    set(d, &v, "size", 3, 4, 5, 5);
    set(d, &v, "start", 3, 0, 0, 8);
    r = run(d, &v, &g);
    assert_invalid(&r, "crop: start 8", "axis 2");
    set(d, &v, "size", 3, 0, 5, 5);
    r = run(d, &v, &g);
    assert_invalid(&r, "crop: size 0", "axis 0");
}

static void test_center_crop_pads_where_larger(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("center_crop");
    vxa_grid g = grid(10, 11, 5);
    vxa_op_values v = defaults(d);
    set(d, &v, "size", 3, 4, 5, 8);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 4, 5, 8);
    assert_maps(&r, 0, 0, 0, 3, 3, -2);  /* floor(6/2), floor(6/2), floor(-3/2) = -2 */
}

/* The start is uniform over 0..n-m inclusive: every start occurs, nothing outside; m > n pads centred. */
static void test_random_crop_start_covers_range(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("random_crop");
    vxa_grid g = grid(10, 6, 3);
    vxa_op_values v = defaults(d);
    set(d, &v, "size", 3, 7, 6, 5);
    int seen[4] = { 0 };
    for (uint64_t s = 0; s < 200; s++) {
        v.sample = s;
        op_result r = run_ok(d, &v, &g);
        assert_dims(&r, 7, 6, 5);
        const int64_t q = (int64_t)r.b[0];
        assert_true(q >= 0 && q <= 3 && r.b[0] == (double)q);
        assert_true(r.b[1] == 0 && r.b[2] == -1);
        seen[q]++;
        char want[64];
        snprintf(want, sizeof want, "\"start\":[%lld,0,-1]", (long long)q);
        assert_string_equal(r.note, want);
    }
    for (int q = 0; q < 4; q++) assert_true(seen[q] > 20);
}

static void test_pad_widths(void **state)
{
    (void)state;
    const vxa_op_desc *d = op("pad");
    vxa_grid g = grid(4, 5, 6);
    vxa_op_values v = defaults(d);
    set(d, &v, "before", 1, 2, 0, 0);
    op_result r = run_ok(d, &v, &g);
    assert_dims(&r, 8, 9, 10);
    assert_maps(&r, 0, 0, 0, -2, -2, -2);
    set(d, &v, "before", 3, 1, 0, 3);
    set(d, &v, "after", 3, 0, 2, 0);
    r = run_ok(d, &v, &g);
    assert_dims(&r, 5, 7, 9);
    assert_maps(&r, 1, 1, 1, 0, 1, -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_spatial_op_is_documented),
        cmocka_unit_test(test_flip_maps_first_to_last),
        cmocka_unit_test(test_flip_default_is_axis_0),
        cmocka_unit_test(test_flip_p_axis_draws_per_axis),
        cmocka_unit_test(test_flip_bad_axis_is_error),
        cmocka_unit_test(test_rotate_90_is_rot90),
        cmocka_unit_test(test_rotate_about_centre_scipy_sign),
        cmocka_unit_test(test_rotate3d_is_three_rotations),
        cmocka_unit_test(test_zoom_2_keeps_centre),
        cmocka_unit_test(test_shift_pulls_from_minus_t),
        cmocka_unit_test(test_affine_is_given_matrix),
        cmocka_unit_test(test_resize_keeps_the_field_of_view_edges),
        cmocka_unit_test(test_scale_rounds_shape_half_to_even),
        cmocka_unit_test(test_resample_keeps_world_centre),
        cmocka_unit_test(test_world_geometry_follows_the_map),
        cmocka_unit_test(test_rotate_acts_in_millimetres),
        cmocka_unit_test(test_isotropic_grids_keep_voxel_maps),
        cmocka_unit_test(test_shift_and_affine_in_millimetres),
        cmocka_unit_test(test_reorient_reaches_every_code),
        cmocka_unit_test(test_orientation_codes_as_nibabel),
        cmocka_unit_test(test_crop_start_and_default_centre),
        cmocka_unit_test(test_crop_errors_name_the_problem),
        cmocka_unit_test(test_center_crop_pads_where_larger),
        cmocka_unit_test(test_random_crop_start_covers_range),
        cmocka_unit_test(test_pad_widths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
