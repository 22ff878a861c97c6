/* SPDX-License-Identifier: MIT */
/* Broken NIfTI files give a clear error naming the file and the field, with the right status, never a crash.
 * The corpus is tests/data/bad/, written by scripts/make_bad_nifti.py; one test per file, plus a missing file,
 * a directory and a .hdr without its .img made here. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* name of the test, file in tests/data/bad, expected status, a substring the message must hold */
#define BAD_CASES(X)                                                                                              \
    X(empty_is_format_error, "empty.nii", VXA_ERR_FORMAT, "truncated header: 0 bytes")                           \
    X(text_file_is_format_error, "not_nifti.nii", VXA_ERR_FORMAT, "sizeof_hdr = ")                               \
    X(sizeof_hdr_1000_is_format_error, "sizeof_hdr_1000.nii", VXA_ERR_FORMAT, "sizeof_hdr = 1000")               \
    X(truncated_header_is_format_error, "truncated_header.nii", VXA_ERR_FORMAT, "truncated header: 200 bytes")   \
    X(truncated_header_n2_is_format_error, "truncated_header_n2.nii", VXA_ERR_FORMAT,                            \
      "truncated header: 400 bytes, a NIfTI-2 header has 540")                                                   \
    X(bad_magic_is_format_error, "bad_magic.nii", VXA_ERR_FORMAT, "magic = \"xyz\"")                             \
    X(analyze_header_is_format_error, "analyze_no_magic.nii", VXA_ERR_FORMAT, "Analyze 7.5")                     \
    X(n2_magic_in_n1_header_is_format_error, "magic_n2_in_n1.nii", VXA_ERR_FORMAT, "magic = \"n+2\"")            \
    X(damaged_n2_magic_is_format_error, "bad_magic_n2.nii", VXA_ERR_FORMAT, "magic bytes 4..7")                  \
    X(pair_magic_in_nii_is_format_error, "pair_magic_in_nii.nii", VXA_ERR_FORMAT, "magic = \"ni1\"")             \
    X(dim0_zero_is_format_error, "dim0_zero.nii", VXA_ERR_FORMAT, "dim[0] = 0, expected 1..7")                   \
    X(dim0_is_format_error, "dim0_nine.nii", VXA_ERR_FORMAT, "dim[0] = 9, expected 1..7")                        \
    X(dim0_big_endian_is_format_error, "dim0_nine_be.nii", VXA_ERR_FORMAT, "dim[0] = 9, expected 1..7")          \
    X(dim_zero_is_format_error, "dim_zero.nii", VXA_ERR_FORMAT, "dim[2] = 0")                                    \
    X(dim_negative_is_format_error, "dim_negative.nii", VXA_ERR_FORMAT, "dim[3] = -6")                           \
    X(dim_negative_n2_is_format_error, "dim_negative_n2.nii", VXA_ERR_FORMAT, "dim[2] = -5")                     \
    X(dims_overflow_is_format_error, "dims_overflow_n2.nii", VXA_ERR_FORMAT, "overflows")                        \
    X(two_extra_dims_is_unsupported, "two_extra_dims.nii", VXA_ERR_UNSUPPORTED, "dim[4] = 2 and dim[5] = 3")     \
    X(huge_dims_small_file_is_format_error, "huge_dims_small_file.nii", VXA_ERR_FORMAT, "truncated data")        \
    X(huge_dims_small_gzip_is_format_error, "huge_dims_small_file.nii.gz", VXA_ERR_FORMAT, "truncated data")     \
    X(bitpix_mismatch_is_format_error, "bitpix_mismatch.nii", VXA_ERR_FORMAT, "bitpix = 8, expected 16")         \
    X(datatype_zero_is_format_error, "datatype_unknown_zero.nii", VXA_ERR_FORMAT, "datatype = 0")                \
    X(datatype_invalid_is_format_error, "datatype_invalid.nii", VXA_ERR_FORMAT, "datatype = 9999")               \
    X(binary_is_unsupported, "dtype_binary.nii", VXA_ERR_UNSUPPORTED, "datatype = 1 (binary")                    \
    X(complex64_is_unsupported, "dtype_complex64.nii", VXA_ERR_UNSUPPORTED, "complex64")                         \
    X(complex128_is_unsupported, "dtype_complex128.nii", VXA_ERR_UNSUPPORTED, "complex128")                      \
    X(rgb24_is_unsupported, "dtype_rgb24.nii", VXA_ERR_UNSUPPORTED, "RGB24")                                     \
    X(rgba32_is_unsupported, "dtype_rgba32.nii", VXA_ERR_UNSUPPORTED, "RGBA32")                                  \
    X(float128_is_unsupported, "dtype_float128.nii", VXA_ERR_UNSUPPORTED, "float128")                            \
    X(vox_offset_small_is_format_error, "vox_offset_small.nii", VXA_ERR_FORMAT, "vox_offset = 100")              \
    X(vox_offset_small_n2_is_format_error, "vox_offset_small_n2.nii", VXA_ERR_FORMAT, "vox_offset = 348")        \
    X(vox_offset_negative_is_format_error, "vox_offset_negative.nii", VXA_ERR_FORMAT, "vox_offset = -352")       \
    X(vox_offset_fraction_is_format_error, "vox_offset_fraction.nii", VXA_ERR_FORMAT, "vox_offset = 352.5")      \
    X(vox_offset_nan_is_format_error, "vox_offset_nan.nii", VXA_ERR_FORMAT, "vox_offset = nan")                  \
    X(vox_offset_past_end_is_format_error, "vox_offset_past_end.nii", VXA_ERR_FORMAT,                            \
      "vox_offset = 1000000 is past the end of the file")                                                        \
    X(vox_offset_past_end_gzip_is_format_error, "vox_offset_past_end.nii.gz", VXA_ERR_FORMAT,                    \
      "vox_offset = 4000 is past the end of the data")                                                           \
    X(vox_offset_huge_gzip_is_format_error, "vox_offset_huge.nii.gz", VXA_ERR_FORMAT, "vox_offset = 1000000000") \
    X(truncated_data_is_format_error, "truncated_data.nii", VXA_ERR_FORMAT, "truncated data")                    \
    X(truncated_data_big_endian_is_format_error, "truncated_data_be.nii", VXA_ERR_FORMAT, "truncated data")      \
    X(truncated_data_gzip_is_format_error, "truncated_data.nii.gz", VXA_ERR_FORMAT, "100 of 240 bytes")          \
    X(truncated_gzip_is_format_error, "truncated_gzip.nii.gz", VXA_ERR_FORMAT, "gzip stream ends early")         \
    X(gzip_missing_trailer_is_format_error, "gzip_missing_trailer.nii.gz", VXA_ERR_FORMAT, "truncated gzip")     \
    X(corrupt_gzip_is_format_error, "corrupt_gzip.nii.gz", VXA_ERR_FORMAT, "corrupt gzip")                       \
    X(gzip_bad_crc_is_format_error, "gzip_bad_crc.nii.gz", VXA_ERR_FORMAT, "corrupt gzip")                       \
    X(gzip_bad_method_is_format_error, "gzip_bad_method.nii.gz", VXA_ERR_FORMAT, "corrupt gzip")                 \
    X(corpus_hdr_without_img_is_io_error, "pair_no_img.hdr", VXA_ERR_IO, "pair_no_img.img")                      \
    X(pixdim_nan_is_format_error, "pixdim_nan.nii", VXA_ERR_FORMAT, "pixdim[2] = nan")                           \
    X(pixdim_inf_is_format_error, "pixdim_inf.nii", VXA_ERR_FORMAT, "pixdim[1] = inf")                           \
    X(pixdim_zero_is_format_error, "pixdim_zero.nii", VXA_ERR_FORMAT, "pixdim[1] = 0")                           \
    X(pixdim_negative_is_format_error, "pixdim_negative.nii", VXA_ERR_FORMAT, "pixdim[3] = -2")                  \
    X(pixdim_nan_n2_is_format_error, "pixdim_nan_n2.nii", VXA_ERR_FORMAT, "pixdim[3] = nan")                     \
    X(scl_inter_nan_is_format_error, "scl_inter_nan.nii", VXA_ERR_FORMAT, "scl_inter = nan")                     \
    X(scl_inter_inf_is_format_error, "scl_inter_inf.nii", VXA_ERR_FORMAT, "scl_inter = -inf")                    \
    X(srow_nan_is_format_error, "srow_nan.nii", VXA_ERR_FORMAT, "srow_x[3] = nan")                               \
    X(quatern_inf_is_format_error, "quatern_inf.nii", VXA_ERR_FORMAT, "qoffset_x = inf")

typedef struct { const char *file; vxa_status status; const char *substring; } bad_case;

#define BAD_TABLE_ROW(name, file, status, sub) { file, status, sub },
static const bad_case bad_cases[] = { BAD_CASES(BAD_TABLE_ROW) };
static const size_t n_bad_cases = sizeof bad_cases / sizeof bad_cases[0];

/* Reads path, expects status st, no volume, and a message naming `names` and holding `substring`. */
static void expect_failure(const char *path, vxa_status st, const char *names, const char *substring)
{
    char err[1024] = "untouched";
    vxa_volume *v = (vxa_volume *)&err; /* must come back NULL */
    vxa_status got = vxa_nifti_read(path, &v, err, sizeof err);
    if (got != st)
        fail_msg("%s: status %s, expected %s (message: %s)", path, vxa_status_name(got), vxa_status_name(st), err);
    assert_null(v);
    if (!strstr(err, names)) fail_msg("%s: the message does not name %s: %s", path, names, err);
    if (!strstr(err, substring)) fail_msg("%s: the message lacks \"%s\": %s", path, substring, err);
    /* no detail buffer, and a tiny one: same status, nothing written past the end */
    assert_int_equal(vxa_nifti_read(path, &v, NULL, 0), st);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    assert_int_equal(vxa_nifti_read(path, &v, tiny, 4), st);
    assert_int_equal(tiny[3], '\0');
    assert_int_equal(tiny[4], 'x');
}

static void check_bad(const char *file, vxa_status st, const char *substring)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bad/%s", VXA_TEST_DATA, file);
    expect_failure(path, st, file, substring);
}

#define BAD_TEST_FN(name, file, status, sub) \
    static void test_nifti_bad_##name(void **state) { (void)state; check_bad(file, status, sub); }
BAD_CASES(BAD_TEST_FN)

/* Every file of the corpus has a row in the table, and every row a file: nothing goes untested. */
static void test_nifti_bad_corpus_is_covered(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bad", VXA_TEST_DATA);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot list %s (run scripts/make_bad_nifti.py)", dir);
    size_t seen = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        bool found = false;
        for (size_t i = 0; i < n_bad_cases && !found; i++) found = strcmp(bad_cases[i].file, e->d_name) == 0;
        if (!found) fail_msg("%s/%s has no row in test_nifti_bad.c's table", dir, e->d_name);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, n_bad_cases);
}

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vxa_nifti_bad_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_nifti_bad_missing_file_is_io_error(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/no_such_file.nii.gz", tmpdir);
    expect_failure(path, VXA_ERR_IO, path, "No such file");
}

static void test_nifti_bad_directory_is_io_error(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/looks_like.nii", tmpdir);
    assert_int_equal(mkdir(path, 0755), 0);
    expect_failure(path, VXA_ERR_IO, path, "is a directory");
    expect_failure(tmpdir, VXA_ERR_IO, tmpdir, "is a directory");
}

/* A valid pair written here, then its .img removed: the .hdr alone is an I/O error naming the .img. */
static void test_nifti_bad_split_pair_missing_half_is_io_error(void **state)
{
    (void)state;
    const int64_t dim[3] = { 3, 4, 5 };
    vxa_volume *v = NULL;
    assert_int_equal(vxa_volume_alloc(dim, 1, VXA_INT16, &v), VXA_OK);
    char nii[512], hdr[512], img[512];
    snprintf(nii, sizeof nii, "%s/pair.nii", tmpdir);
    snprintf(hdr, sizeof hdr, "%s/pair.hdr", tmpdir);
    snprintf(img, sizeof img, "%s/pair.img", tmpdir);
    char err[512];
    assert_int_equal(vxa_nifti_write(nii, v, err, sizeof err), VXA_OK);
    /* split the .nii into a pair: header with magic "ni1" and vox_offset 0, data in the .img */
    FILE *f = fopen(nii, "rb");
    assert_non_null(f);
    unsigned char head[352];
    assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    memcpy(head + 344, "ni1", 4);
    const float zero = 0.0f;
    memcpy(head + 108, &zero, 4);
    f = fopen(hdr, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(head, 1, 348, f), 348);
    fclose(f);
    f = fopen(img, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(v->data, 1, vxa_volume_bytes(v), f), vxa_volume_bytes(v));
    fclose(f);
    vxa_volume *back = NULL;
    assert_int_equal(vxa_nifti_read(hdr, &back, err, sizeof err), VXA_OK); /* the pair reads */
    vxa_volume_free(back);
    assert_int_equal(unlink(img), 0);
    expect_failure(hdr, VXA_ERR_IO, "pair.img", "No such file");
    /* and an .img without its .hdr */
    f = fopen(img, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(unlink(hdr), 0);
    expect_failure(img, VXA_ERR_IO, "pair.hdr", "No such file");
    vxa_volume_free(v);
}

static void test_nifti_bad_null_arguments_are_invalid(void **state)
{
    (void)state;
    vxa_volume *v = NULL;
    char err[256];
    assert_int_equal(vxa_nifti_read(NULL, &v, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_read("", &v, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_read("x.nii", NULL, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_write(NULL, v, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_nifti_write("/tmp/x.nii", NULL, err, sizeof err), VXA_ERR_INVALID_ARGUMENT);
}

static int open_descriptors(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Failing reads close what they opened: after the whole corpus the process holds the same descriptors. */
/* int64 and uint64 (4x5x6 zeros, once among the bad files) are read, narrowed exactly to int32 when every value fits
 * (tests/cli/dataset.sh checks values past int32 and past 2^53 on real data). */
static void test_nifti_64bit_files_are_narrowed(void **state)
{
    (void)state;
    const char *const files[] = { "dtype_int64.nii", "dtype_uint64.nii" };
    for (int f = 0; f < 2; f++) {
        char path[4096], err[1024] = "";
        snprintf(path, sizeof path, "%s/%s", VXA_TEST_DATA, files[f]);
        vxa_volume *v = NULL;
        if (vxa_nifti_read(path, &v, err, sizeof err) != VXA_OK) fail_msg("%s: %s", path, err);
        assert_int_equal(v->dtype, VXA_INT32);
        vxa_volume_free(v);
    }
}

static void test_nifti_bad_reads_leave_no_open_files(void **state)
{
    (void)state;
    const int before = open_descriptors();
    if (before < 0) {
        skip(); /* no /proc */
        return;
    }
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < n_bad_cases; i++) {
            char path[4096];
            vxa_volume *v = NULL;
            snprintf(path, sizeof path, "%s/bad/%s", VXA_TEST_DATA, bad_cases[i].file);
            assert_int_not_equal(vxa_nifti_read(path, &v, NULL, 0), VXA_OK);
        }
    assert_int_equal(open_descriptors(), before);
}

#define BAD_TEST_ENTRY(name, file, status, sub) cmocka_unit_test(test_nifti_bad_##name),

int main(void)
{
    const struct CMUnitTest tests[] = {
        BAD_CASES(BAD_TEST_ENTRY)
        cmocka_unit_test(test_nifti_bad_corpus_is_covered),
        cmocka_unit_test(test_nifti_bad_missing_file_is_io_error),
        cmocka_unit_test(test_nifti_bad_directory_is_io_error),
        cmocka_unit_test(test_nifti_bad_split_pair_missing_half_is_io_error),
        cmocka_unit_test(test_nifti_bad_null_arguments_are_invalid),
        cmocka_unit_test(test_nifti_64bit_files_are_narrowed),
        cmocka_unit_test(test_nifti_bad_reads_leave_no_open_files),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
