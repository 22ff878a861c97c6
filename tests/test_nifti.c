/* SPDX-License-Identifier: MIT */
/* NIfTI reading and writing: round trips keep bytes and geometry exactly, real files read with the shapes,
 * types and values nibabel gives, failed writes leave nothing behind. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const vxa_dtype all_types[] = { VXA_UINT8, VXA_INT8, VXA_INT16, VXA_UINT16, VXA_INT32, VXA_UINT32,
                                       VXA_FLOAT32, VXA_FLOAT64 };
#define NTYPES (sizeof all_types / sizeof all_types[0])

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vxa_nifti_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh empty folder under tmpdir for one test. */
static void fresh_dir(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", tmpdir, name);
    assert_int_equal(mkdir(out, 0755), 0);
}

/* Names in a folder (not . and ..), joined by spaces, and their count. */
static int list_dir(const char *dir, char *names, size_t len)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    names[0] = '\0';
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        strncat(names, e->d_name, len - strlen(names) - 2);
        strncat(names, " ", len - strlen(names) - 1);
        n++;
    }
    closedir(d);
    return n;
}

/* Geometry made of float32-representable values (a rotation by 90 degrees about z with spacing, and an
 * offset), so that NIfTI-1's float storage keeps it exactly. */
static void set_geometry(vxa_volume *v)
{
    const double s[3] = { 0.75, 1.5, 2.25 };
    memset(v->affine, 0, sizeof v->affine);
    v->affine[0][1] = -s[1];
    v->affine[1][0] = s[0];
    v->affine[2][2] = s[2];
    v->affine[0][3] = -12.5;
    v->affine[1][3] = 30.25;
    v->affine[2][3] = -7.0;
    v->affine[3][3] = 1.0;
    for (int a = 0; a < 3; a++) v->spacing[a] = s[a];
    v->sform_code = 4;
    v->qform_code = 1;
    v->scl_slope = 0.5;
    v->scl_inter = -3.25;
    v->xyzt_units = 10;
    v->tr = 2.5;
    v->toffset = 0.125;
    snprintf(v->descrip, sizeof v->descrip, "voxaug round trip");
}

static void assert_same_header(const vxa_volume *a, const vxa_volume *b, const char *what)
{
    for (int i = 0; i < 3; i++)
        if (a->dim[i] != b->dim[i])
            fail_msg("%s: dim[%d] %lld vs %lld", what, i, (long long)a->dim[i], (long long)b->dim[i]);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->dtype, b->dtype);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            if (a->affine[r][c] != b->affine[r][c])
                fail_msg("%s: affine[%d][%d] %.17g vs %.17g", what, r, c, a->affine[r][c], b->affine[r][c]);
    for (int i = 0; i < 3; i++) assert_true(a->spacing[i] == b->spacing[i]);
    assert_int_equal(a->sform_code, b->sform_code);
    assert_int_equal(a->qform_code, b->qform_code);
    assert_true(a->scl_slope == b->scl_slope);
    assert_true(a->scl_inter == b->scl_inter);
    assert_int_equal(a->xyzt_units, b->xyzt_units);
    assert_true(a->tr == b->tr);
    assert_true(a->toffset == b->toffset);
    assert_string_equal(a->descrip, b->descrip);
}

static vxa_volume *read_ok(const char *path)
{
    char err[1024];
    vxa_volume *v = NULL;
    vxa_status st = vxa_nifti_read(path, &v, err, sizeof err);
    if (st != VXA_OK) fail_msg("reading %s: %s: %s", path, vxa_status_name(st), err);
    assert_non_null(v);
    return v;
}

static void write_ok(const char *path, const vxa_volume *v)
{
    char err[1024];
    vxa_status st = vxa_nifti_write(path, v, err, sizeof err);
    if (st != VXA_OK) fail_msg("writing %s: %s: %s", path, vxa_status_name(st), err);
}

/* Every type, .nii and .nii.gz, random data over the type's range: bytes, geometry, codes, scaling kept. */
static void test_nifti_roundtrip_every_dtype_keeps_bytes_and_header(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed();
    const char *const ext[2] = { ".nii", ".nii.gz" };
    for (size_t t = 0; t < NTYPES; t++)
        for (int e = 0; e < 2; e++) {
            const int64_t dim[3] = { 7 + (int64_t)(vxa_test_rand(&rng) % 5), 5, 3 + (int64_t)t % 3 };
            vxa_volume *v = vxa_test_random_volume(dim, 1, all_types[t], &rng);
            set_geometry(v);
            char path[512];
            snprintf(path, sizeof path, "%s/rt_%s%s", tmpdir, vxa_dtype_name(all_types[t]), ext[e]);
            write_ok(path, v);
            vxa_volume *back = read_ok(path);
            assert_same_header(v, back, path);
            if (memcmp(v->data, back->data, vxa_volume_bytes(v)) != 0) fail_msg("%s: data differ", path);
            /* .nii.gz is compressed: it starts with gzip's magic; .nii does not */
            FILE *f = fopen(path, "rb");
            unsigned char magic[2];
            assert_int_equal(fread(magic, 1, 2, f), 2);
            fclose(f);
            assert_int_equal(magic[0] == 0x1f && magic[1] == 0x8b, e == 1);
            vxa_volume_free(v);
            vxa_volume_free(back);
        }
}

/* Three channels (dim[4] = 3) of float32 come back as three channels, in order. */
static void test_nifti_roundtrip_4d_three_channels(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 1;
    const int64_t dim[3] = { 9, 8, 7 };
    vxa_volume *v = vxa_test_random_volume(dim, 3, VXA_FLOAT32, &rng);
    set_geometry(v);
    char path[512];
    snprintf(path, sizeof path, "%s/rt_4d.nii.gz", tmpdir);
    write_ok(path, v);
    vxa_volume *back = read_ok(path);
    assert_int_equal(back->channels, 3);
    assert_same_header(v, back, path);
    assert_true(vxa_test_identical(v, back));
    /* voxel (i, j, k, c) is at the same place: the last channel's last voxel */
    assert_true(vxa_volume_get(v, 8, 7, 6, 2) == vxa_volume_get(back, 8, 7, 6, 2));
    vxa_volume_free(v);
    vxa_volume_free(back);
}

/* With sform_code 0 the affine comes back from the qform (quaternion, float32): close to what was written,
 * for a rotation with a reflection (qfac = -1) too. A second round trip changes nothing. */
static void test_nifti_qform_only_roundtrip(void **state)
{
    (void)state;
    const int64_t dim[3] = { 4, 5, 6 };
    for (int reflect = 0; reflect < 2; reflect++) {
        vxa_volume *v = NULL;
        assert_int_equal(vxa_volume_alloc(dim, 1, VXA_INT16, &v), VXA_OK);
        const double th = 0.3, s[3] = { 1.2, 0.9, 2.0 };
        const double R[3][3] = { { cos(th), -sin(th), 0 }, { sin(th), cos(th), 0 }, { 0, 0, reflect ? -1 : 1 } };
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++) v->affine[r][c] = R[r][c] * s[c];
            v->affine[r][3] = 10.0 * (r + 1);
            v->spacing[r] = s[r];
        }
        v->sform_code = 0;
        v->qform_code = 1;
        char path[512];
        snprintf(path, sizeof path, "%s/qform_%d.nii", tmpdir, reflect);
        write_ok(path, v);
        vxa_volume *back = read_ok(path);
        assert_int_equal(back->sform_code, 0);
        assert_int_equal(back->qform_code, 1);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                if (fabs(back->affine[r][c] - v->affine[r][c]) > 1e-5 * (1 + fabs(v->affine[r][c])))
                    fail_msg("reflect %d: affine[%d][%d] %.9g, wrote %.9g", reflect, r, c, back->affine[r][c],
                             v->affine[r][c]);
        write_ok(path, back);
        vxa_volume *again = read_ok(path);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) assert_true(fabs(again->affine[r][c] - back->affine[r][c]) < 1e-6);
        vxa_volume_free(v);
        vxa_volume_free(back);
        vxa_volume_free(again);
    }
}

/* Codes 0 with a diagonal affine stay 0; codes 0 with any other affine are written as 2 so the geometry is kept. */
static void test_nifti_write_codes_zero_rule(void **state)
{
    (void)state;
    const int64_t dim[3] = { 3, 3, 3 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_UINT8, &v), VXA_OK);
    v->spacing[0] = 2.0;
    v->affine[0][0] = 2.0;
    char path[512];
    snprintf(path, sizeof path, "%s/codes.nii", tmpdir);
    write_ok(path, v);
    vxa_volume *back = read_ok(path);
    assert_int_equal(back->sform_code, 0);
    assert_int_equal(back->qform_code, 0);
    assert_true(back->affine[0][0] == 2.0 && back->affine[1][1] == 1.0 && back->affine[0][3] == 0.0);
    vxa_volume_free(back);
    v->affine[1][3] = 5.0; /* an origin: not diag(spacing) any more */
    write_ok(path, v);
    back = read_ok(path);
    assert_int_equal(back->sform_code, 2);
    assert_int_equal(back->qform_code, 2);
    assert_true(back->affine[1][3] == 5.0);
    vxa_volume_free(back);
    vxa_volume_free(v);
}

/* A NaN scl_slope is not an error: it means no scaling (SPEC). */
static void test_nifti_nan_slope_reads_as_no_scaling(void **state)
{
    (void)state;
    const int64_t dim[3] = { 2, 2, 2 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_INT16, &v), VXA_OK);
    ((int16_t *)v->data)[5] = 123;
    v->scl_slope = NAN;
    v->scl_inter = 7.0;
    char path[512];
    snprintf(path, sizeof path, "%s/nan_slope.nii", tmpdir);
    write_ok(path, v);
    vxa_volume *back = read_ok(path);
    assert_true(isnan(back->scl_slope));
    assert_true(vxa_volume_get(back, 1, 0, 1, 0) == 123.0f);
    vxa_volume_free(back);
    vxa_volume_free(v);
}

/* Splits a written .nii into .hdr (magic ni1, vox_offset 0) and .img, optionally gzip-compressed. */
static void split_pair(const char *nii, const char *hdr, const char *img, int gz)
{
    FILE *f = fopen(nii, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    memcpy(buf + 344, "ni1", 4);
    const float zero = 0.0f;
    memcpy(buf + 108, &zero, 4);
    const char *names[2] = { hdr, img };
    const unsigned char *parts[2] = { buf, buf + 352 };
    const size_t sizes[2] = { 348, (size_t)n - 352 };
    for (int p = 0; p < 2; p++) {
        if (gz) {
            gzFile g = gzopen(names[p], "wb");
            assert_non_null(g);
            assert_int_equal(gzwrite(g, parts[p], (unsigned)sizes[p]), (int)sizes[p]);
            assert_int_equal(gzclose(g), Z_OK);
        } else {
            f = fopen(names[p], "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(parts[p], 1, sizes[p], f), sizes[p]);
            fclose(f);
        }
    }
    free(buf);
}

/* A .hdr/.img pair (and .hdr.gz/.img.gz) reads the same as the .nii, by either name. */
static void test_nifti_reads_hdr_img_pairs(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 2;
    const int64_t dim[3] = { 6, 5, 4 };
    vxa_volume *v = vxa_test_random_volume(dim, 2, VXA_UINT16, &rng);
    set_geometry(v);
    char nii[512], hdr[512], img[512];
    snprintf(nii, sizeof nii, "%s/pair_src.nii", tmpdir);
    write_ok(nii, v);
    for (int gz = 0; gz < 2; gz++) {
        snprintf(hdr, sizeof hdr, "%s/pair%d.hdr%s", tmpdir, gz, gz ? ".gz" : "");
        snprintf(img, sizeof img, "%s/pair%d.img%s", tmpdir, gz, gz ? ".gz" : "");
        split_pair(nii, hdr, img, gz);
        for (int which = 0; which < 2; which++) {
            vxa_volume *back = read_ok(which ? img : hdr);
            assert_same_header(v, back, which ? img : hdr);
            assert_true(vxa_test_identical(v, back));
            vxa_volume_free(back);
        }
    }
    vxa_volume_free(v);
}

/* Rewrites a written little-endian .nii: dim[0..7] (int16 at byte 40) and vox_offset (float at 108), with
 * `gap` bytes (an extension block, as a header extension would be) inserted before the data. */
static void patch_nii(const char *path, const int16_t dim[8], int gap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    memcpy(buf + 40, dim, 16);
    const float off = 352.0f + (float)gap;
    memcpy(buf + 108, &off, 4);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, 352, f), 352);
    for (int i = 0; i < gap; i++) fputc(0xEE, f);
    assert_int_equal(fwrite(buf + 352, 1, (size_t)n - 352, f), (size_t)n - 352);
    fclose(f);
    free(buf);
}

/* Vector data: dim[0] = 5, dim[4] = 1, dim[5] = 3 reads as 3 channels, the same voxels in the same order. */
static void test_nifti_vector_data_channels_from_dim5(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 3;
    const int64_t dim[3] = { 5, 4, 3 };
    vxa_volume *v = vxa_test_random_volume(dim, 3, VXA_FLOAT32, &rng);
    char path[512];
    snprintf(path, sizeof path, "%s/vector.nii", tmpdir);
    write_ok(path, v);
    const int16_t vdim[8] = { 5, 5, 4, 3, 1, 3, 1, 1 };
    patch_nii(path, vdim, 0);
    vxa_volume *back = read_ok(path);
    assert_int_equal(back->channels, 3);
    assert_true(vxa_test_identical(v, back));
    vxa_volume_free(back);
    vxa_volume_free(v);
}

/* Values past dim[0] mean nothing: dim[0] = 3 with dim[4] = 7 is one channel. Extension bytes between the
 * header and vox_offset are skipped, in .nii and .nii.gz alike. */
static void test_nifti_dims_past_dim0_ignored_and_extensions_skipped(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 4;
    const int64_t dim[3] = { 6, 2, 5 };
    vxa_volume *v = vxa_test_random_volume(dim, 1, VXA_INT32, &rng);
    char path[512], gzpath[520];
    snprintf(path, sizeof path, "%s/past_dim0.nii", tmpdir);
    write_ok(path, v);
    const int16_t pdim[8] = { 3, 6, 2, 5, 7, 0, -1, 9 };
    patch_nii(path, pdim, 160);
    vxa_volume *back = read_ok(path);
    assert_int_equal(back->channels, 1);
    assert_true(vxa_test_identical(v, back));
    vxa_volume_free(back);
    /* the same bytes gzip-compressed */
    FILE *f = fopen(path, "rb");
    unsigned char buf[4096];
    const size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(gzpath, sizeof gzpath, "%s.gz", path);
    gzFile g = gzopen(gzpath, "wb");
    assert_int_equal(gzwrite(g, buf, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
    back = read_ok(gzpath);
    assert_true(vxa_test_identical(v, back));
    vxa_volume_free(back);
    vxa_volume_free(v);
}

/* ---- real files: shapes, types and values as nibabel reads them ------------------------------------------ */
/* Expected values come from nibabel 5.0 (np.asanyarray(nib.load(f).dataobj)), not from voxaug. */
typedef struct {
    const char *name;
    int64_t dim[3], channels;
    vxa_dtype dtype;
    int sform_code, qform_code;
    double affine03;               /* affine[0][3] */
    int64_t probe[4];              /* a voxel */
    double probe_value;
    double sum;                    /* of all raw values */
} real_file;

static void check_real(const char *path, const real_file *r)
{
    if (!path) {
        skip(); /* visibly: cmocka reports the test as skipped */
        return;
    }
    vxa_volume *v = read_ok(path);
    for (int a = 0; a < 3; a++) assert_int_equal(v->dim[a], r->dim[a]);
    assert_int_equal(v->channels, r->channels);
    assert_int_equal(v->dtype, r->dtype);
    assert_int_equal(v->sform_code, r->sform_code);
    assert_int_equal(v->qform_code, r->qform_code);
    assert_true(fabs(v->affine[0][3] - r->affine03) < 1e-4);
    assert_true(vxa_volume_get(v, r->probe[0], r->probe[1], r->probe[2], r->probe[3]) == (float)r->probe_value);
    double sum = 0;
    const size_t n = vxa_volume_voxels(v);
    for (size_t i = 0; i < n; i++)
        sum += v->dtype == VXA_UINT8 ? ((const uint8_t *)v->data)[i] : ((const int16_t *)v->data)[i];
    if (sum != r->sum) fail_msg("%s: sum of values %.17g, nibabel says %.17g", path, sum, r->sum);
    vxa_volume_free(v);
}

static void test_nifti_reads_anatomical_big_endian_int16(void **state)
{
    (void)state;
    const real_file r = { "anatomical.nii", { 33, 41, 25 }, 1, VXA_INT16, 2, 2, 32.0, { 20, 10, 11, 0 }, 9841,
                          284166082 };
    check_real(vxa_test_nibabel(r.name), &r);
}

static void test_nifti_reads_example4d_gz(void **state)
{
    (void)state;
    const real_file r = { "example4d.nii.gz", { 128, 96, 24 }, 2, VXA_INT16, 1, 1, 117.8551025390625,
                          { 64, 48, 12, 1 }, 266, 101985356 };
    check_real(vxa_test_nibabel(r.name), &r);
}

static void test_nifti_reads_example_nifti2(void **state)
{
    (void)state;
    const real_file r = { "example_nifti2.nii.gz", { 32, 20, 12 }, 2, VXA_INT16, 1, 1, 117.8551025390625,
                          { 20, 10, 11, 1 }, 528, 6926802 };
    check_real(vxa_test_nibabel(r.name), &r);
}

static void test_nifti_reads_ch2(void **state)
{
    (void)state;
    const real_file r = { "ch2.nii.gz", { 181, 217, 181 }, 1, VXA_UINT8, 4, 0, -90.0, { 90, 108, 90, 0 }, 33,
                          317151210 };
    check_real(vxa_test_ch2(), &r);
}

/* ---- failed writes ------------------------------------------------------------------------------------- */
static vxa_volume *small_volume(void)
{
    const int64_t dim[3] = { 4, 4, 4 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_FLOAT32, &v), VXA_OK);
    return v;
}

static void expect_write_error(const char *path, const vxa_volume *v, vxa_status st, const char *substring)
{
    char err[1024] = "";
    vxa_status got = vxa_nifti_write(path, v, err, sizeof err);
    if (got != st) fail_msg("writing %s: %s, expected %s (%s)", path, vxa_status_name(got), vxa_status_name(st), err);
    if (!strstr(err, substring)) fail_msg("writing %s: message lacks \"%s\": %s", path, substring, err);
}

static void test_nifti_write_to_missing_folder_fails_and_leaves_nothing(void **state)
{
    (void)state;
    char dir[512], path[600], names[1024];
    fresh_dir("missing_folder", dir, sizeof dir);
    vxa_volume *v = small_volume();
    snprintf(path, sizeof path, "%s/not_there/out.nii.gz", dir);
    expect_write_error(path, v, VXA_ERR_IO, "No such file or directory");
    assert_int_equal(list_dir(dir, names, sizeof names), 0);
    vxa_volume_free(v);
}

static void test_nifti_write_under_a_file_fails_and_leaves_nothing(void **state)
{
    (void)state;
    char dir[512], path[600], names[1024];
    fresh_dir("under_file", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/plain", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    vxa_volume *v = small_volume();
    snprintf(path, sizeof path, "%s/plain/out.nii", dir);
    expect_write_error(path, v, VXA_ERR_IO, "plain");
    assert_int_equal(list_dir(dir, names, sizeof names), 1);
    assert_string_equal(names, "plain ");
    vxa_volume_free(v);
}

/* The target name is an existing folder: the data are written, the rename fails, the temporary file goes. */
static void test_nifti_write_failed_rename_removes_temporary(void **state)
{
    (void)state;
    char dir[512], path[600], names[1024];
    fresh_dir("rename_fails", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.nii", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    vxa_volume *v = small_volume();
    expect_write_error(path, v, VXA_ERR_IO, "rename");
    assert_int_equal(list_dir(dir, names, sizeof names), 1);
    assert_string_equal(names, "out.nii ");
    vxa_volume_free(v);
}

static void test_nifti_write_to_read_only_folder_fails(void **state)
{
    (void)state;
    if (geteuid() == 0) {
        skip(); /* root writes anywhere: permissions cannot make this fail */
        return;
    }
    char dir[512], path[600], names[1024];
    fresh_dir("read_only", dir, sizeof dir);
    assert_int_equal(chmod(dir, 0555), 0);
    vxa_volume *v = small_volume();
    snprintf(path, sizeof path, "%s/out.nii", dir);
    expect_write_error(path, v, VXA_ERR_IO, "Permission denied");
    assert_int_equal(list_dir(dir, names, sizeof names), 0);
    chmod(dir, 0755);
    vxa_volume_free(v);
}

static void test_nifti_write_bad_extension_is_invalid_argument(void **state)
{
    (void)state;
    char dir[512], path[600], names[1024];
    fresh_dir("bad_ext", dir, sizeof dir);
    vxa_volume *v = small_volume();
    const char *const bad[] = { "out.img", "out.hdr", "out.nii.bz2", "out", "out.gz", ".nii", "out.NII" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, bad[i]);
        expect_write_error(path, v, VXA_ERR_INVALID_ARGUMENT, path);
    }
    assert_int_equal(list_dir(dir, names, sizeof names), 0);
    vxa_volume_free(v);
}

/* What NIfTI-1 cannot hold, or what would not read back, is refused before any file is made. */
static void test_nifti_write_rejects_unwritable_volumes(void **state)
{
    (void)state;
    char dir[512], path[600], names[1024];
    fresh_dir("unwritable", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.nii", dir);
    vxa_volume *v = small_volume();
    vxa_volume big = *v;
    big.dim[0] = 40000;
    expect_write_error(path, &big, VXA_ERR_INVALID_ARGUMENT, "nx = 40000");
    vxa_volume bad = *v;
    bad.spacing[1] = 0.0;
    expect_write_error(path, &bad, VXA_ERR_INVALID_ARGUMENT, "spacing[1]");
    bad = *v;
    bad.affine[0][3] = NAN;
    expect_write_error(path, &bad, VXA_ERR_INVALID_ARGUMENT, "affine[0][3]");
    bad = *v;
    bad.scl_slope = 2.0;
    bad.scl_inter = INFINITY;
    expect_write_error(path, &bad, VXA_ERR_INVALID_ARGUMENT, "scl_inter");
    bad = *v;
    bad.data = NULL;
    expect_write_error(path, &bad, VXA_ERR_INVALID_ARGUMENT, "no data");
    bad = *v;
    bad.dtype = (vxa_dtype)1024;
    expect_write_error(path, &bad, VXA_ERR_INVALID_ARGUMENT, "dtype");
    assert_int_equal(list_dir(dir, names, sizeof names), 0);
    vxa_volume_free(v);
}

/* Writing over an existing file replaces it whole; the folder holds the one file afterwards. */
static void test_nifti_write_replaces_existing_file(void **state)
{
    (void)state;
    char dir[512], path[600], names[1024];
    fresh_dir("replace", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.nii.gz", dir);
    vxa_volume *v = small_volume();
    write_ok(path, v);
    ((float *)v->data)[3] = 42.5f;
    write_ok(path, v);
    vxa_volume *back = read_ok(path);
    assert_true(vxa_test_identical(v, back));
    assert_int_equal(list_dir(dir, names, sizeof names), 1);
    vxa_volume_free(back);
    vxa_volume_free(v);
}

/* Edge shapes: one voxel, and NIfTI-1's largest dimension (32767) along one axis. */
static void test_nifti_roundtrip_edge_shapes(void **state)
{
    (void)state;
    uint64_t rng = vxa_test_seed() + 5;
    const int64_t shapes[3][3] = { { 1, 1, 1 }, { 32767, 1, 2 }, { 1, 32767, 1 } };
    for (int i = 0; i < 3; i++) {
        vxa_volume *v = vxa_test_random_volume(shapes[i], 1, VXA_INT8, &rng);
        char path[512];
        snprintf(path, sizeof path, "%s/edge_%d.nii%s", tmpdir, i, i == 1 ? ".gz" : "");
        write_ok(path, v);
        vxa_volume *back = read_ok(path);
        assert_true(vxa_test_identical(v, back));
        vxa_volume_free(back);
        vxa_volume_free(v);
    }
}

/* A bare name writes into the current folder (the temporary file too) and reads back. */
static void test_nifti_write_bare_name_in_current_folder(void **state)
{
    (void)state;
    char dir[512], cwd[4096], names[1024];
    fresh_dir("bare_name", dir, sizeof dir);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    vxa_volume *v = small_volume();
    ((float *)v->data)[0] = -1.5f;
    char err[512];
    const vxa_status st = vxa_nifti_write("bare.nii.gz", v, err, sizeof err);
    vxa_volume *back = NULL;
    const vxa_status rst = st == VXA_OK ? vxa_nifti_read("bare.nii.gz", &back, err, sizeof err) : st;
    assert_int_equal(chdir(cwd), 0);
    if (st != VXA_OK || rst != VXA_OK) fail_msg("bare name: %s", err);
    assert_true(vxa_test_identical(v, back));
    assert_int_equal(list_dir(dir, names, sizeof names), 1);
    assert_string_equal(names, "bare.nii.gz ");
    vxa_volume_free(back);
    vxa_volume_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nifti_roundtrip_every_dtype_keeps_bytes_and_header),
        cmocka_unit_test(test_nifti_roundtrip_4d_three_channels),
        cmocka_unit_test(test_nifti_qform_only_roundtrip),
        cmocka_unit_test(test_nifti_write_codes_zero_rule),
        cmocka_unit_test(test_nifti_nan_slope_reads_as_no_scaling),
        cmocka_unit_test(test_nifti_reads_hdr_img_pairs),
        cmocka_unit_test(test_nifti_vector_data_channels_from_dim5),
        cmocka_unit_test(test_nifti_dims_past_dim0_ignored_and_extensions_skipped),
        cmocka_unit_test(test_nifti_reads_anatomical_big_endian_int16),
        cmocka_unit_test(test_nifti_reads_example4d_gz),
        cmocka_unit_test(test_nifti_reads_example_nifti2),
        cmocka_unit_test(test_nifti_reads_ch2),
        cmocka_unit_test(test_nifti_write_to_missing_folder_fails_and_leaves_nothing),
        cmocka_unit_test(test_nifti_write_under_a_file_fails_and_leaves_nothing),
        cmocka_unit_test(test_nifti_write_failed_rename_removes_temporary),
        cmocka_unit_test(test_nifti_write_to_read_only_folder_fails),
        cmocka_unit_test(test_nifti_write_bad_extension_is_invalid_argument),
        cmocka_unit_test(test_nifti_write_rejects_unwritable_volumes),
        cmocka_unit_test(test_nifti_write_replaces_existing_file),
        cmocka_unit_test(test_nifti_roundtrip_edge_shapes),
        cmocka_unit_test(test_nifti_write_bare_name_in_current_folder),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
