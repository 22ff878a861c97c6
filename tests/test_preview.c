/* SPDX-License-Identifier: MIT */
/* The three-mid-slice PNG preview: layout, anatomical orientation from the affine, aspect with anisotropic
 * voxels, the percentile window, the label overlay, and failures that leave no file behind. Pictures are decoded
 * with libpng and checked pixel by pixel against positions worked out by hand from the documented convention
 * (neurological: sagittal anterior right, superior up; coronal and axial patient's right on the right; axial
 * anterior up). */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GAP 4

static char scratch[256];

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/vxa_preview_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    return mkdtemp(scratch) ? 0 : -1;
}

/* Removes the scratch folder and what the tests left in it (one level; the tests make at most one folder). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) remove_tree(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(scratch);
    return 0;
}

static const char *scratch_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", scratch, name);
    return p;
}

/* A decoded picture: 8-bit RGB, row-major. */
typedef struct { uint8_t *rgb; int width, height; } picture;

static picture read_png(const char *path)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) fail_msg("%s: cannot decode: %s", path, im.message);
    im.format = PNG_FORMAT_RGB;
    picture p = { malloc(PNG_IMAGE_SIZE(im)), (int)im.width, (int)im.height };
    assert_non_null(p.rgb);
    if (!png_image_finish_read(&im, NULL, p.rgb, 0, NULL)) fail_msg("%s: cannot decode: %s", path, im.message);
    return p;
}

static const uint8_t *pixel_at(const picture *p, int x, int y)
{
    assert_true(x >= 0 && x < p->width && y >= 0 && y < p->height);
    return p->rgb + ((size_t)y * (size_t)p->width + (size_t)x) * 3;
}

static int is_grey(const uint8_t *px, int g) { return px[0] == g && px[1] == g && px[2] == g; }

static void write_preview(const char *path, const vxa_volume *img, const vxa_volume *lab, double lo, double hi)
{
    char err[1024] = "";
    if (vxa_preview_png(path, img, lab, lo, hi, err, sizeof err) != VXA_OK) fail_msg("preview failed: %s", err);
}

/* The picture's layout, worked out by hand from the panels' sizes in pixels of the smallest voxel size (w, h):
 * pictures under 256 pixels high are enlarged by the whole factor k = ceil(256 / max h), at most
 * 2048 / (longest side); panels sit GAP pixels apart, vertically centred. */
typedef struct { int w[3], h[3], k, x0[3], y0[3], width, height; } layout;

static layout make_layout(int w0, int h0, int w1, int h1, int w2, int h2)
{
    layout L = { .w = { w0, w1, w2 }, .h = { h0, h1, h2 } };
    int top = h0 > h1 ? h0 : h1;
    top = top > h2 ? top : h2;
    int side = top;
    for (int p = 0; p < 3; p++) side = L.w[p] > side ? L.w[p] : side;
    L.k = top >= 256 ? 1 : (256 + top - 1) / top;
    if (L.k > 2048 / side) L.k = 2048 / side;  /* no panel side past 2048 */
    if (L.k < 1) L.k = 1;
    L.height = top * L.k;
    int x = 0;
    for (int p = 0; p < 3; p++) {
        L.x0[p] = x + (p > 0 ? GAP : 0);
        x = L.x0[p] + L.w[p] * L.k;
        L.y0[p] = (L.height - L.h[p] * L.k) / 2;
    }
    L.width = x;
    return L;
}

/* The pixel at the centre of the block that shows pixel (c, r) of a panel before enlargement. */
static const uint8_t *panel_pixel(const picture *p, const layout *L, int panel, int c, int r)
{
    assert_true(c >= 0 && c < L->w[panel] && r >= 0 && r < L->h[panel]);
    return pixel_at(p, L->x0[panel] + c * L->k + L->k / 2, L->y0[panel] + r * L->k + L->k / 2);
}

static void expect_layout(const picture *p, const layout *L)
{
    assert_int_equal(p->width, L->width);
    assert_int_equal(p->height, L->height);
}

/* A rectangle of white pixels expected in a panel, in the panel's pixels before enlargement. */
typedef struct { int panel, x, y, w, h; } rect;

/* Every pixel inside one of the rectangles is white, every other pixel black. */
static void expect_white_exactly(const picture *p, const layout *L, const rect *r, int nr, const char *what)
{
    expect_layout(p, L);
    for (int y = 0; y < p->height; y++)
        for (int x = 0; x < p->width; x++) {
            int inside = 0;
            for (int q = 0; q < nr; q++) {
                const int k = L->k, x0 = L->x0[r[q].panel] + r[q].x * k, y0 = L->y0[r[q].panel] + r[q].y * k;
                if (x >= x0 && x < x0 + r[q].w * k && y >= y0 && y < y0 + r[q].h * k) inside = 1;
            }
            const uint8_t *px = pixel_at(p, x, y);
            if (!is_grey(px, inside ? 255 : 0))
                fail_msg("%s: pixel (%d, %d) is (%d, %d, %d), expected %s", what, x, y, px[0], px[1], px[2],
                         inside ? "white" : "black");
        }
}

static vxa_volume *zero_volume(const int64_t dim[3], vxa_dtype t)
{
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, t, &v), VXA_OK);
    return v;
}

/* Markers in an RAS volume of 15x19x23 unit voxels (mid slices i = 7, j = 9, k = 11): one superior, one
 * anterior, one to the patient's right. Panels: sagittal 19 wide x 23 high, coronal 15 x 23, axial 15 x 19. */
static layout ras_layout(void) { return make_layout(19, 23, 15, 23, 15, 19); }

static const rect ras_markers[] = {
    { 0, 9, 1, 1, 1 },    /* superior (7, 9, 21), sagittal: column j = 9, row 22 - 21 */
    { 1, 7, 1, 1, 1 },    /* superior, coronal: column i = 7, row 1 */
    { 0, 17, 11, 1, 1 },  /* anterior (7, 17, 11), sagittal: right side, column 17, row 22 - 11 */
    { 2, 7, 1, 1, 1 },    /* anterior, axial: top, row 18 - 17 */
    { 1, 13, 11, 1, 1 },  /* right (13, 9, 11), coronal: right side, column 13 */
    { 2, 13, 9, 1, 1 },   /* right, axial: column 13, row 18 - 9 */
};

static vxa_volume *ras_marker_volume(void)
{
    const int64_t dim[3] = { 15, 19, 23 };
    vxa_volume *v = zero_volume(dim, VXA_INT16);
    vxa_volume_set(v, 7, 9, 21, 0, 100);
    vxa_volume_set(v, 7, 17, 11, 0, 100);
    vxa_volume_set(v, 13, 9, 11, 0, 100);
    return v;
}

static void test_preview_ras_markers_land_in_place(void **state)
{
    (void)state;
    vxa_volume *v = ras_marker_volume();
    write_preview(scratch_path("ras.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("ras.png"));
    const layout L = ras_layout();
    assert_int_equal(L.k, 12);
    expect_white_exactly(&p, &L, ras_markers, 6, "RAS");
    free(p.rgb);
    vxa_volume_free(v);
}

/* x stored flipped (LAS, as nibabel's anatomical.nii): the marker at voxel i = 13 is now on the patient's left,
 * so it moves to the left side of the coronal and axial panels; the sagittal panel is unchanged. */
static void test_preview_flipped_axis_follows_the_affine(void **state)
{
    (void)state;
    vxa_volume *v = ras_marker_volume();
    v->affine[0][0] = -1.0;
    v->affine[0][3] = 7.0;
    write_preview(scratch_path("las.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("las.png"));
    rect expect[6];
    memcpy(expect, ras_markers, sizeof expect);
    expect[1].x = 14 - 7;   /* superior, coronal: column 14 - i */
    expect[3].x = 14 - 7;   /* anterior, axial */
    expect[4].x = 14 - 13;  /* the i = 13 marker: left side now */
    expect[5].x = 14 - 13;
    const layout L = ras_layout();
    expect_white_exactly(&p, &L, expect, 6, "LAS");
    free(p.rgb);
    vxa_volume_free(v);
}

/* The same anatomy stored with permuted, flipped and slightly rotated voxel axes: voxel i runs superior, j to the
 * patient's left, k anterior, the whole turned 20 degrees about world z. The picture equals the RAS one. */
static void test_preview_permuted_oblique_axes_give_the_same_picture(void **state)
{
    (void)state;
    const int64_t dim[3] = { 23, 15, 19 };
    vxa_volume *v = zero_volume(dim, VXA_FLOAT32);
    const double c = cos(20 * 3.14159265358979 / 180), s = sin(20 * 3.14159265358979 / 180);
    /* columns before rotation: i -> +z, j -> -x, k -> +y; rotation R_z(20) applied to the x, y rows */
    const double col[3][3] = { { 0, 0, 1 }, { -1, 0, 0 }, { 0, 1, 0 } };
    for (int a = 0; a < 3; a++) {
        v->affine[0][a] = c * col[a][0] - s * col[a][1];
        v->affine[1][a] = s * col[a][0] + c * col[a][1];
        v->affine[2][a] = col[a][2];
    }
    /* RAS voxel (x, y, z) is stored at (i, j, k) = (z, 14 - x, y) */
    vxa_volume_set(v, 21, 14 - 7, 9, 0, 100);
    vxa_volume_set(v, 11, 14 - 7, 17, 0, 100);
    vxa_volume_set(v, 11, 14 - 13, 9, 0, 100);
    write_preview(scratch_path("perm.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("perm.png"));
    const layout L = ras_layout();
    expect_white_exactly(&p, &L, ras_markers, 6, "permuted");
    free(p.rgb);
    vxa_volume_free(v);
}

/* Voxels of 2 x 1 x 3 mm on a 10x12x8 grid: one pixel is 1 mm (before enlargement), so x is drawn 2 pixels wide
 * and z 3 pixels high. Panels: sagittal 12 x 24, coronal 20 x 24, axial 20 x 12. Mid slices i = 5, j = 6, k = 4. */
static void test_preview_anisotropic_voxels_keep_their_aspect(void **state)
{
    (void)state;
    const int64_t dim[3] = { 10, 12, 8 };
    const double spacing[3] = { 2, 1, 3 };
    vxa_volume *v = zero_volume(dim, VXA_UINT8);
    vxa_volume_set_spacing(v, spacing);
    vxa_volume_set(v, 5, 6, 7, 0, 200);  /* top slab */
    vxa_volume_set(v, 5, 11, 4, 0, 200); /* anterior */
    vxa_volume_set(v, 9, 6, 4, 0, 200);  /* right */
    write_preview(scratch_path("aniso.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("aniso.png"));
    const layout L = make_layout(12, 24, 20, 24, 20, 12);
    const rect expect[] = {
        { 0, 6, 0, 1, 3 },    /* top slab k = 7 -> rows 0..2 of the sagittal panel */
        { 1, 10, 0, 2, 3 },   /* and of the coronal panel, i = 5 -> columns 10, 11 */
        { 0, 11, 9, 1, 3 },   /* anterior, k = 4 -> rows 3*(7 - 4) .. +2 */
        { 2, 10, 0, 2, 1 },   /* anterior in the axial panel: top row */
        { 1, 18, 9, 2, 3 },   /* right, coronal: columns 18, 19 */
        { 2, 18, 5, 2, 1 },   /* right, axial: row 11 - 6 */
    };
    expect_white_exactly(&p, &L, expect, 6, "anisotropic");
    free(p.rgb);
    vxa_volume_free(v);
}

/* A grid far larger than a picture should be is shown with larger pixels: no panel side over 2048. */
static void test_preview_huge_extent_is_capped(void **state)
{
    (void)state;
    const int64_t dim[3] = { 3, 2, 5000 };
    vxa_volume *v = zero_volume(dim, VXA_UINT8);
    for (int k = 4990; k < 5000; k++) vxa_volume_set(v, 1, 1, k, 0, 10);  /* the top 10 mm */
    write_preview(scratch_path("tall.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("tall.png"));
    assert_true(p.height <= 2048 && p.height >= 2040);
    assert_true(is_grey(pixel_at(&p, 0, 0), 255));  /* the top voxel is at the top of the 1-pixel-wide sagittal */
    assert_true(is_grey(pixel_at(&p, 0, 10), 0));
    free(p.rgb);
    vxa_volume_free(v);
}

/* A long thin grid is not enlarged past the cap: small height, but panels already 2048 wide. */
static void test_preview_long_thin_grid_stays_within_the_cap(void **state)
{
    (void)state;
    const int64_t dim[3] = { 4000, 3, 3 };
    vxa_volume *v = zero_volume(dim, VXA_UINT8);
    write_preview(scratch_path("long.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("long.png"));
    assert_true(p.width <= 3 * 2048 + 2 * GAP);
    assert_true(p.height <= 8);
    free(p.rgb);
    vxa_volume_free(v);
}

/* Awkward grids (1x1x1, 1xNxM, primes) give a picture of the documented size: sagittal ny x nz, coronal nx x nz,
 * axial nx x ny, enlarged by ceil(256 / max height); random values of every shape decode. */
static void test_preview_awkward_shapes(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 7;
    for (int s = 0; s < vxa_test_nshapes; s++) {
        const int64_t *d = vxa_test_shapes[s];
        if (d[0] * d[1] * d[2] > 1000000) continue;  /* the large shape adds nothing here */
        vxa_volume *v = vxa_test_random_volume(d, 1, VXA_INT16, &rng);
        write_preview(scratch_path("shape.png"), v, NULL, 0.5, 99.5);
        picture p = read_png(scratch_path("shape.png"));
        const layout L = make_layout((int)d[1], (int)d[2], (int)d[0], (int)d[2], (int)d[0], (int)d[1]);
        if (p.width != L.width || p.height != L.height)
            fail_msg("%lldx%lldx%lld: picture %dx%d, expected %dx%d", (long long)d[0], (long long)d[1],
                     (long long)d[2], p.width, p.height, L.width, L.height);
        free(p.rgb);
        vxa_volume_free(v);
    }
}

/* Values are read after scl_slope/scl_inter: a negative slope inverts the picture. */
static void test_preview_applies_the_scaling(void **state)
{
    (void)state;
    const int64_t dim[3] = { 5, 5, 5 };
    vxa_volume *v = zero_volume(dim, VXA_UINT8);
    vxa_volume_set(v, 2, 1, 4, 0, 9);  /* sagittal column 1, row 0 */
    v->scl_slope = -1.0;
    v->scl_inter = 3.0;
    write_preview(scratch_path("slope.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("slope.png"));
    const layout L = make_layout(5, 5, 5, 5, 5, 5);
    assert_true(is_grey(panel_pixel(&p, &L, 0, 1, 0), 0));    /* -6: the minimum */
    assert_true(is_grey(panel_pixel(&p, &L, 0, 2, 2), 255));  /* 3: the maximum */
    free(p.rgb);
    vxa_volume_free(v);
}

/* A degenerate affine (all zero) falls back to diag(spacing): the same picture as the anisotropic grid's. */
static void test_preview_degenerate_affine_uses_spacing(void **state)
{
    (void)state;
    const int64_t dim[3] = { 10, 12, 8 };
    const double spacing[3] = { 2, 1, 3 };
    vxa_volume *v = zero_volume(dim, VXA_UINT8);
    vxa_volume_set_spacing(v, spacing);
    vxa_volume_set(v, 9, 6, 4, 0, 200);
    write_preview(scratch_path("diag.png"), v, NULL, 0, 100);
    memset(v->affine, 0, sizeof v->affine);
    write_preview(scratch_path("zero.png"), v, NULL, 0, 100);
    picture a = read_png(scratch_path("diag.png")), b = read_png(scratch_path("zero.png"));
    assert_int_equal(a.width, b.width);
    assert_int_equal(a.height, b.height);
    assert_memory_equal(a.rgb, b.rgb, (size_t)a.width * (size_t)a.height * 3);
    free(a.rgb);
    free(b.rgb);
    vxa_volume_free(v);
}

/* Negative and large label values are coloured too. */
static void test_preview_negative_and_large_labels(void **state)
{
    (void)state;
    const int64_t dim[3] = { 5, 5, 5 };
    vxa_volume *img = zero_volume(dim, VXA_UINT8);
    vxa_volume *l8 = zero_volume(dim, VXA_INT8), *l32 = zero_volume(dim, VXA_UINT32);
    vxa_volume_set(l8, 2, 1, 4, 0, -1);
    ((uint32_t *)l32->data)[2 + 5 * (1 + 5 * 4)] = 4000000000u;
    const vxa_volume *labels[2] = { l8, l32 };
    const layout L = make_layout(5, 5, 5, 5, 5, 5);
    for (int t = 0; t < 2; t++) {
        write_preview(scratch_path("neg.png"), img, labels[t], 0, 100);
        picture p = read_png(scratch_path("neg.png"));
        const uint8_t *px = panel_pixel(&p, &L, 0, 1, 0);
        assert_false(px[0] == px[1] && px[1] == px[2]);
        assert_true(is_grey(panel_pixel(&p, &L, 0, 2, 0), 0));
        free(p.rgb);
    }
    vxa_volume_free(img);
    vxa_volume_free(l8);
    vxa_volume_free(l32);
}

/* The values 0..728 shuffled over a 9x9x9 RAS grid, the value 364 at the centre. The window's ends are
 * np.percentile of 0..728: the q-th percentile is q/100 * 728. Every pixel of every panel must be
 * round(255 * (v - lo) / (hi - lo)), clamped. */
static void check_window(double lo_pct, double hi_pct, int tolerance)
{
    const int64_t dim[3] = { 9, 9, 9 };
    vxa_volume *v = zero_volume(dim, VXA_FLOAT32);
    float *x = v->data;
    uint64_t rng = vxa_test_seed();
    for (int n = 0; n < 729; n++) x[n] = (float)n;
    for (int n = 728; n > 0; n--) {
        const int m = (int)(vxa_test_rand(&rng) % (uint64_t)(n + 1));
        const float t = x[n];
        x[n] = x[m];
        x[m] = t;
    }
    for (int n = 0; n < 729; n++)
        if (x[n] == 364.0f) {
            x[n] = x[364];
            x[364] = 364.0f;  /* voxel (4, 4, 4) */
        }
    write_preview(scratch_path("window.png"), v, NULL, lo_pct, hi_pct);
    picture p = read_png(scratch_path("window.png"));
    const layout L = make_layout(9, 9, 9, 9, 9, 9);
    expect_layout(&p, &L);
    const double lo = lo_pct / 100 * 728, hi = hi_pct / 100 * 728;
    for (int panel = 0; panel < 3; panel++)
        for (int r = 0; r < 9; r++)
            for (int c = 0; c < 9; c++) {
                /* sagittal (j = c, k = 8 - r), coronal (i = c, k = 8 - r), axial (i = c, j = 8 - r) */
                const int i = panel == 0 ? 4 : c, j = panel == 0 ? c : panel == 1 ? 4 : 8 - r,
                          k = panel == 2 ? 4 : 8 - r;
                const double val = vxa_volume_get(v, i, j, k, 0);
                double g = (val - lo) / (hi - lo) * 255;
                g = g < 0 ? 0 : g > 255 ? 255 : floor(g + 0.5);
                const uint8_t *px = panel_pixel(&p, &L, panel, c, r);
                if (fabs(px[0] - g) > tolerance || px[1] != px[0] || px[2] != px[0])
                    fail_msg("window %g,%g: voxel (%d, %d, %d) = %g shows %d, expected %g", lo_pct, hi_pct, i, j, k,
                             val, px[0], g);
            }
    free(p.rgb);
    vxa_volume_free(v);
}

static void test_preview_window_at_exact_percentiles(void **state)
{
    (void)state;
    check_window(25, 50, 0);  /* lo 182, hi 364: the centre voxel is at the hi percentile */
    picture p = read_png(scratch_path("window.png"));
    const layout L = make_layout(9, 9, 9, 9, 9, 9);
    assert_true(is_grey(panel_pixel(&p, &L, 0, 4, 4), 255));  /* the centre in the sagittal panel */
    free(p.rgb);
}

static void test_preview_window_interpolates_percentiles(void **state)
{
    (void)state;
    check_window(10, 90, 0);  /* 72.8 and 655.2: between voxel values, linear as np.percentile */
    check_window(0, 100, 0);
}

/* 25 zeros, 24 and 100 on a 3x3x3 grid: np.percentile(x, 98) = 24 + 0.48 * (100 - 24) = 60.48, so the voxel of
 * 24 is grey round(255 * 24 / 60.48) = 101 (not white, as the nearest order statistic would make it). */
static void test_preview_window_percentile_is_linear(void **state)
{
    (void)state;
    const int64_t dim[3] = { 3, 3, 3 };
    vxa_volume *v = zero_volume(dim, VXA_INT32);
    vxa_volume_set(v, 1, 1, 2, 0, 24);   /* sagittal column 1, row 0 */
    vxa_volume_set(v, 1, 0, 2, 0, 100);  /* sagittal column 0, row 0 */
    write_preview(scratch_path("linear.png"), v, NULL, 0, 98);
    picture p = read_png(scratch_path("linear.png"));
    const layout L = make_layout(3, 3, 3, 3, 3, 3);
    expect_layout(&p, &L);
    assert_true(is_grey(panel_pixel(&p, &L, 0, 1, 0), 101));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 0, 0), 255));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 2, 0), 0));
    free(p.rgb);
    vxa_volume_free(v);
}

/* A window in values (CT's Hounsfield units): grey = 255 (x - lo) / (hi - lo), clamped, whatever the volume's
 * percentiles. int16 voxels of -1000 (air), 40 and 400 with lo, hi = -160, 240 (the mediastinum window, 40 +- 200):
 * air is black, 40 is round(255 * 200 / 400) = 128 (127.5 rounds up), 400 is white. */
static void test_preview_window_in_values(void **state)
{
    (void)state;
    const int64_t dim[3] = { 3, 3, 3 };
    vxa_volume *v = zero_volume(dim, VXA_INT16);
    for (int64_t n = 0; n < 27; n++) vxa_volume_set(v, n % 3, (n / 3) % 3, n / 9, 0, -1000);
    vxa_volume_set(v, 1, 1, 2, 0, 40);   /* sagittal column 1, row 0 */
    vxa_volume_set(v, 1, 0, 2, 0, 400);  /* sagittal column 0, row 0 */
    char err[1024] = "";
    const char *path = scratch_path("values.png");
    if (vxa_preview_png_values(path, v, NULL, -160, 240, err, sizeof err) != VXA_OK) fail_msg("%s", err);
    picture p = read_png(path);
    const layout L = make_layout(3, 3, 3, 3, 3, 3);
    expect_layout(&p, &L);
    assert_true(is_grey(panel_pixel(&p, &L, 0, 1, 0), 128));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 0, 0), 255));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 2, 0), 0));
    free(p.rgb);
    /* the 0 and 100 percentiles are the minimum and maximum: the same picture, byte for byte */
    write_preview(scratch_path("pct.png"), v, NULL, 0, 100);
    if (vxa_preview_png_values(path, v, NULL, -1000, 400, err, sizeof err) != VXA_OK) fail_msg("%s", err);
    picture a = read_png(scratch_path("pct.png")), b = read_png(path);
    assert_int_equal(a.width * a.height, b.width * b.height);
    assert_memory_equal(a.rgb, b.rgb, (size_t)a.width * (size_t)a.height * 3);
    free(a.rgb);
    free(b.rgb);
    /* values need only be ordered and finite, not within 0..100 */
    assert_int_equal(vxa_preview_png_values(path, v, NULL, 240, -160, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "240,-160"));
    assert_int_equal(vxa_preview_png_values(path, v, NULL, -INFINITY, 0, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    vxa_volume_free(v);
}

/* Non-finite values are left out of the window and NaN is black. */
static void test_preview_nan_is_black_and_ignored(void **state)
{
    (void)state;
    const int64_t dim[3] = { 5, 5, 5 };
    vxa_volume *v = zero_volume(dim, VXA_FLOAT32);
    vxa_volume_set(v, 2, 2, 4, 0, 10);      /* sagittal (col 2, row 0) */
    vxa_volume_set(v, 2, 2, 0, 0, NAN);     /* sagittal (col 2, row 4) */
    vxa_volume_set(v, 2, 0, 0, 0, INFINITY);
    write_preview(scratch_path("nan.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("nan.png"));
    const layout L = make_layout(5, 5, 5, 5, 5, 5);
    expect_layout(&p, &L);
    assert_true(is_grey(panel_pixel(&p, &L, 0, 2, 0), 255));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 2, 4), 0));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 0, 4), 255));  /* +inf: above the window */
    assert_true(is_grey(panel_pixel(&p, &L, 0, 1, 1), 0));
    free(p.rgb);
    vxa_volume_free(v);
}

/* Only channel 0 is shown. */
static void test_preview_shows_channel_zero(void **state)
{
    (void)state;
    const int64_t dim[3] = { 5, 5, 5 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 2, VXA_INT16, &v), VXA_OK);
    vxa_volume_set(v, 2, 1, 4, 0, 50);
    vxa_volume_set(v, 2, 3, 4, 1, 90);
    write_preview(scratch_path("chan.png"), v, NULL, 0, 100);
    picture p = read_png(scratch_path("chan.png"));
    const layout L = make_layout(5, 5, 5, 5, 5, 5);
    assert_true(is_grey(panel_pixel(&p, &L, 0, 1, 0), 255));
    assert_true(is_grey(panel_pixel(&p, &L, 0, 3, 0), 0));
    free(p.rgb);
    vxa_volume_free(v);
}

/* The overlay colours labelled pixels only: one colour per label value, distinct between values, blended over
 * the grey (alpha about 0.45, so over white every channel stays above 255 * 0.5); unlabelled pixels are the same
 * as without the overlay. */
static void test_preview_label_overlay_colours_labelled_pixels_only(void **state)
{
    (void)state;
    const int64_t dim[3] = { 15, 19, 23 };
    vxa_volume *img = zero_volume(dim, VXA_UINT8), *lab = zero_volume(dim, VXA_INT16);
    for (size_t n = 0; n < vxa_volume_voxels(img); n++) ((uint8_t *)img->data)[n] = 50;
    vxa_volume_set(img, 0, 0, 0, 0, 0);  /* window 0..50: everything in the mid slices is white */
    for (int k = 5; k < 15; k++)
        for (int j = 3; j < 12; j++)
            for (int i = 2; i < 10; i++) vxa_volume_set(lab, i, j, k, 0, k < 10 ? 3 : 300);
    write_preview(scratch_path("plain.png"), img, NULL, 0, 100);
    write_preview(scratch_path("overlay.png"), img, lab, 0, 100);
    picture a = read_png(scratch_path("plain.png")), b = read_png(scratch_path("overlay.png"));
    const layout L = ras_layout();
    expect_layout(&a, &L);
    expect_layout(&b, &L);
    uint8_t colour[2][3];
    int seen[2] = { 0, 0 };
    size_t labelled = 0, differing = 0;
    for (int panel = 0; panel < 3; panel++)
        for (int r = 0; r < L.h[panel]; r++)
            for (int c = 0; c < L.w[panel]; c++) {
                const int i = panel == 0 ? 7 : c, j = panel == 0 ? c : panel == 1 ? 9 : 18 - r,
                          k = panel == 2 ? 11 : 22 - r;
                const int l = (int)vxa_volume_get(lab, i, j, k, 0);
                const uint8_t *pa = panel_pixel(&a, &L, panel, c, r), *pb = panel_pixel(&b, &L, panel, c, r);
                assert_true(is_grey(pa, 255));
                if (l == 0) {
                    assert_memory_equal(pa, pb, 3);
                    continue;
                }
                labelled++;
                assert_false(pb[0] == pb[1] && pb[1] == pb[2]);
                for (int ch = 0; ch < 3; ch++) assert_true(pb[ch] >= 128);
                const int s = l == 3 ? 0 : 1;
                if (!seen[s]) memcpy(colour[s], pb, 3);
                seen[s] = 1;
                assert_memory_equal(colour[s], pb, 3);
            }
    /* over the whole picture, exactly the blocks of labelled voxels changed */
    for (size_t n = 0; n < (size_t)a.width * (size_t)a.height; n++)
        differing += memcmp(a.rgb + 3 * n, b.rgb + 3 * n, 3) != 0;
    assert_int_equal(differing, labelled * (size_t)(L.k * L.k));
    assert_true(seen[0] && seen[1]);
    assert_memory_not_equal(colour[0], colour[1], 3);
    /* outside the panels: black in both */
    assert_true(is_grey(pixel_at(&b, L.x0[1] - 1, 5), 0));
    free(a.rgb);
    free(b.rgb);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

static void expect_failure(const char *path, const vxa_volume *img, const vxa_volume *lab, double lo, double hi,
                           vxa_status want, const char *needle1, const char *needle2)
{
    char err[2048] = "";
    const vxa_status st = vxa_preview_png(path, img, lab, lo, hi, err, sizeof err);
    if (st != want) fail_msg("status %s, expected %s: %s", vxa_status_name(st), vxa_status_name(want), err);
    if (needle1 && !strstr(err, needle1)) fail_msg("error '%s' does not name '%s'", err, needle1);
    if (needle2 && !strstr(err, needle2)) fail_msg("error '%s' does not name '%s'", err, needle2);
    if (path) assert_int_not_equal(access(path, F_OK), 0);  /* no file left */
}

static void test_preview_label_on_another_grid_is_an_error(void **state)
{
    (void)state;
    const int64_t dim[3] = { 15, 19, 23 }, other[3] = { 15, 19, 22 };
    vxa_volume *img = zero_volume(dim, VXA_FLOAT32), *lab = zero_volume(other, VXA_UINT8);
    const char *path = scratch_path("grid.png");
    expect_failure(path, img, lab, 0, 100, VXA_ERR_INVALID_ARGUMENT, "15x19x23", "15x19x22");
    vxa_volume *shifted = zero_volume(dim, VXA_UINT8);
    shifted->affine[1][3] = 5.0;
    expect_failure(path, img, shifted, 0, 100, VXA_ERR_INVALID_ARGUMENT, "grid", "5");
    vxa_volume *floats = zero_volume(dim, VXA_FLOAT32);
    expect_failure(path, img, floats, 0, 100, VXA_ERR_INVALID_ARGUMENT, "float32", "integer");
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_volume_free(shifted);
    vxa_volume_free(floats);
}

static void test_preview_bad_arguments_are_errors(void **state)
{
    (void)state;
    const int64_t dim[3] = { 4, 4, 4 };
    vxa_volume *img = zero_volume(dim, VXA_FLOAT32);
    const char *path = scratch_path("bad.png");
    expect_failure(path, img, NULL, -1, 50, VXA_ERR_INVALID_ARGUMENT, "-1,50", NULL);
    expect_failure(path, img, NULL, 60, 40, VXA_ERR_INVALID_ARGUMENT, "60,40", NULL);
    expect_failure(path, img, NULL, 0, 101, VXA_ERR_INVALID_ARGUMENT, "0,101", NULL);
    expect_failure(path, img, NULL, NAN, 50, VXA_ERR_INVALID_ARGUMENT, NULL, NULL);
    expect_failure(path, NULL, NULL, 0, 100, VXA_ERR_INVALID_ARGUMENT, path, NULL);
    expect_failure(NULL, img, NULL, 0, 100, VXA_ERR_INVALID_ARGUMENT, NULL, NULL);
    vxa_volume_free(img);
}

/* Writing into a folder that does not exist: an I/O error naming the path and the reason, and no file. */
static void test_preview_missing_folder_is_an_error(void **state)
{
    (void)state;
    const int64_t dim[3] = { 4, 4, 4 };
    vxa_volume *img = zero_volume(dim, VXA_FLOAT32);
    char path[512];
    snprintf(path, sizeof path, "%s/no-such-folder/p.png", scratch);
    expect_failure(path, img, NULL, 0, 100, VXA_ERR_IO, path, strerror(ENOENT));
    vxa_volume_free(img);
}

/* A rename that fails (the target is a folder) removes the temporary file: the folder holds nothing new. */
static void test_preview_failed_rename_leaves_no_temporary(void **state)
{
    (void)state;
    const int64_t dim[3] = { 4, 4, 4 };
    vxa_volume *img = zero_volume(dim, VXA_FLOAT32);
    char dir[512], target[600];
    snprintf(dir, sizeof dir, "%s/rename", scratch);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(target, sizeof target, "%s/target.png", dir);
    assert_int_equal(mkdir(target, 0755), 0);
    char err[1024] = "";
    assert_int_equal(vxa_preview_png(target, img, NULL, 0, 100, err, sizeof err), VXA_ERR_IO);
    assert_non_null(strstr(err, target));
    DIR *d = opendir(dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            entries++;
            assert_string_equal(e->d_name, "target.png");
        }
    closedir(d);
    assert_int_equal(entries, 1);
    vxa_volume_free(img);
}

/* An existing file is replaced. */
static void test_preview_replaces_an_existing_file(void **state)
{
    (void)state;
    const char *path = scratch_path("again.png");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a png", f);
    fclose(f);
    vxa_volume *v = ras_marker_volume();
    write_preview(path, v, NULL, 0, 100);
    picture p = read_png(path);
    const layout L = ras_layout();
    expect_layout(&p, &L);
    free(p.rgb);
    vxa_volume_free(v);
}

/* The phantom with its labels: every region's voxel in a mid slice is coloured, the background black. */
static void test_preview_phantom_with_labels(void **state)
{
    (void)state;
    const int64_t dim[3] = { 64, 64, 64 };
    vxa_volume *img = NULL, *lab = NULL;
    assert_int_equal(vxa_phantom(dim, &img, &lab), VXA_OK);
    write_preview(scratch_path("phantom.png"), img, lab, 0.5, 99.5);
    picture p = read_png(scratch_path("phantom.png"));
    const layout L = make_layout(64, 64, 64, 64, 64, 64);
    expect_layout(&p, &L);
    assert_true(is_grey(pixel_at(&p, 0, 0), 0));                  /* corner: outside the head */
    const uint8_t *centre = panel_pixel(&p, &L, 0, 32, 31);       /* sagittal centre: brain, label 2 */
    assert_false(centre[0] == centre[1] && centre[1] == centre[2]);
    free(p.rgb);
    vxa_volume_free(img);
    vxa_volume_free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preview_ras_markers_land_in_place),
        cmocka_unit_test(test_preview_flipped_axis_follows_the_affine),
        cmocka_unit_test(test_preview_permuted_oblique_axes_give_the_same_picture),
        cmocka_unit_test(test_preview_anisotropic_voxels_keep_their_aspect),
        cmocka_unit_test(test_preview_huge_extent_is_capped),
        cmocka_unit_test(test_preview_long_thin_grid_stays_within_the_cap),
        cmocka_unit_test(test_preview_awkward_shapes),
        cmocka_unit_test(test_preview_applies_the_scaling),
        cmocka_unit_test(test_preview_degenerate_affine_uses_spacing),
        cmocka_unit_test(test_preview_negative_and_large_labels),
        cmocka_unit_test(test_preview_window_at_exact_percentiles),
        cmocka_unit_test(test_preview_window_interpolates_percentiles),
        cmocka_unit_test(test_preview_window_percentile_is_linear),
        cmocka_unit_test(test_preview_window_in_values),
        cmocka_unit_test(test_preview_nan_is_black_and_ignored),
        cmocka_unit_test(test_preview_shows_channel_zero),
        cmocka_unit_test(test_preview_label_overlay_colours_labelled_pixels_only),
        cmocka_unit_test(test_preview_label_on_another_grid_is_an_error),
        cmocka_unit_test(test_preview_bad_arguments_are_errors),
        cmocka_unit_test(test_preview_missing_folder_is_an_error),
        cmocka_unit_test(test_preview_failed_rename_leaves_no_temporary),
        cmocka_unit_test(test_preview_replaces_an_existing_file),
        cmocka_unit_test(test_preview_phantom_with_labels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
