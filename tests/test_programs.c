/* SPDX-License-Identifier: MIT */
/* Programs of one kernel each (host/context.c, keep_one_kernel): a run builds one program per kernel it uses,
 * each with its own program cache entry whose key names the kernel; the kernels give the same bits as the whole
 * files built as before (VOXAUG_WHOLE_PROGRAMS=1); the other kernels of a file are left out of the program (a
 * kernel that would not compile, and decoys in comments, strings and directives, change nothing); a kernel missing
 * from its file is VXA_ERR_BUILD naming it; VOXAUG_KERNEL_DIR sources are reduced the same way; VOXAUG_CACHE=warmup
 * stores every kernel of the files a run used. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SOURCE_ROOT VXA_TEST_DATA "/../.."
#define STANDARD "flip(axes=0,1,2, p=0.5) rotate([-15,15]) zoom([0.9,1.1]) elastic(alpha=150, sigma=3, mode=fast) " \
                 "zscore noise(0.1) random_crop(16, 14, 12)"

static char root[256];

/* A new context (kernel_dir NULL: the embedded sources) runs spec on a random volume of the seed's, with a
 * label map, then ends; its log lands in lb; *st gets the run's status, *err its message. NULL when there is no
 * device (the caller skips) or the run failed. */
static vxa_volume *run_spec(vxa_test_log *lb, const char *kernel_dir, const char *spec, uint64_t seed, vxa_status *st,
                            char *err, size_t err_len)
{
    *st = VXA_ERR_NOT_FOUND;
    vxa_context *ctx = vxa_test_logged_device(lb, kernel_dir);
    if (!ctx) return NULL;
    const int64_t dim[3] = { 23, 19, 17 };
    uint64_t rng = seed;
    vxa_volume *in = vxa_test_random_volume(dim, 1, VXA_INT16, &rng), *out = NULL;
    vxa_volume *lab = vxa_test_random_volume(dim, 1, VXA_UINT8, &rng), *lab_out = NULL;
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse(spec, &p, NULL, 0), VXA_OK);
    *st = vxa_pipeline_run(ctx, p, 1, 0, in, lab, &out, &lab_out, NULL);
    if (err) snprintf(err, err_len, "%s", *st == VXA_OK ? "" : vxa_last_error(ctx));
    vxa_context_destroy(ctx);
    vxa_pipeline_free(p);
    vxa_volume_free(in);
    vxa_volume_free(lab);
    vxa_volume_free(lab_out);
    return out;
}

static vxa_volume *run_or_skip(vxa_test_log *lb, const char *kernel_dir, const char *spec, uint64_t seed)
{
    vxa_status st;
    char err[4096];
    vxa_volume *v = run_spec(lb, kernel_dir, spec, seed, &st, err, sizeof err);
    if (st == VXA_ERR_NOT_FOUND && !v) {
        vxa_test_device();   /* skips, or fails when a device is required */
        fail_msg("no device context, but vxa_test_device found one");
    }
    if (!v) fail_msg("%s: %s (%s)\n%s", spec, vxa_status_string(st), err, lb->text);
    return v;
}

/* The key texts of the cache entries of dir (magic, key length, key: host/progcache.c), one a call *next
 * (*d NULL to begin); false after the last. */
static bool next_entry_key(const char *dir, DIR **d, char *key, size_t len)
{
    if (!*d) assert_non_null(*d = opendir(dir));
    struct dirent *de;
    while ((de = readdir(*d))) {
        const size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".bin") != 0) continue;
        char path[1024], magic[8];
        uint64_t klen = 0;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fread(magic, 1, 8, f), 8);
        assert_int_equal(fread(&klen, 8, 1, f), 1);
        assert_true(klen < len);
        assert_int_equal(fread(key, 1, klen, f), klen);
        key[klen] = '\0';
        fclose(f);
        return true;
    }
    closedir(*d);
    *d = NULL;
    return false;
}

/* Each kernel a run builds is its own program: one "built F.cl (K) with OPTIONS" line and one cache entry
 * per (F, K, OPTIONS), each entry's key naming its kernel; the same file with the same options gives two entries
 * for two kernels. A second context loads them all. */
static void test_one_entry_per_kernel(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cache", root);
    setenv("VOXAUG_CACHE_DIR", dir, 1);
    setenv("VOXAUG_CACHE", "always", 1);
    vxa_test_log lb;
    vxa_volume *a = run_or_skip(&lb, NULL, STANDARD, vxa_test_seed());
    const int built = vxa_test_count_of(lb.text, "built ");
    assert_true(built >= 4);
    /* the kernels built, and whether one file and one set of options gave two of them */
    char kernels[64][640];
    int nk = 0;
    bool shared = false;
    for (const char *p = lb.text; (p = strstr(p, "built ")); p++) {
        char family[64], kernel[96], opts[400];
        assert_int_equal(sscanf(p, "built %63[^.].cl (%95[^)]) with %399[^\n]", family, kernel, opts), 3);
        char *ms = strstr(opts, " in ");
        if (ms) *ms = '\0';
        for (int i = 0; i < nk; i++) {
            char f2[64], o2[400];
            assert_int_equal(sscanf(kernels[i], "%63[^|]|%399[^|]", f2, o2), 2);
            shared = shared || (strcmp(f2, family) == 0 && strcmp(o2, opts) == 0 && !strstr(kernels[i], kernel));
        }
        assert_true(nk < 64);
        snprintf(kernels[nk++], sizeof kernels[0], "%s|%s|%s", family, opts, kernel);
    }
    assert_int_equal(nk, built);
    if (!shared) fail_msg("expected two kernels of one file with the same options:\n%s", lb.text);
    /* one entry each, its key naming the kernel */
    DIR *d = NULL;
    int entries = 0, named = 0;
    char key[8192];
    while (next_entry_key(dir, &d, key, sizeof key)) {
        entries++;
        for (int i = 0; i < nk; i++) {
            char line[200];
            snprintf(line, sizeof line, "\nkernel %s\n", strrchr(kernels[i], '|') + 1);
            if (strstr(key, line)) {
                named++;
                break;
            }
        }
    }
    assert_int_equal(entries, built);
    assert_int_equal(named, built);
    vxa_volume *b = run_or_skip(&lb, NULL, STANDARD, vxa_test_seed());
    if (vxa_test_count_of(lb.text, "loaded ") != built || strstr(lb.text, "built "))
        fail_msg("a warm cache: expected %d programs loaded and none built:\n%s", built, lb.text);
    assert_true(vxa_test_identical(a, b));
    vxa_volume_free(a);
    vxa_volume_free(b);
    setenv("VOXAUG_CACHE", "0", 1);
}

/* VOXAUG_CACHE=warmup (`voxaug warmup`): at the context's end every kernel of each file its run used is built
 * and stored too, with the same options, so that a later run on another path loads instead of building (here
 * the other forms of the kernels: VOXAUG_GPU_FORMS=1 on a CPU device, the CPU forms' kernels elsewhere); kernels
 * that the options leave out of the file (resample.cl's trilinear ones for labels, its label ones for images)
 * are not stored. */
static void test_warmup_builds_every_kernel_of_its_files(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/warmup", root);
    setenv("VOXAUG_CACHE_DIR", dir, 1);
    setenv("VOXAUG_CACHE", "warmup", 1);
    static const char *const specs[2] = { "flip(axes=1)", "rotate(10)" };   /* copy.cl, resample.cl */
    vxa_test_log lb;
    vxa_volume *a[2], *b[2];
    a[1] = run_or_skip(&lb, NULL, specs[1], vxa_test_seed());
    a[0] = run_or_skip(&lb, NULL, specs[0], vxa_test_seed());
    static const char *const copy_kernels[] = { "vxa_copy_axes", "vxa_copy_rows", "vxa_cast_float", "vxa_label_remap" };
    for (int i = 0; i < 4; i++) {
        char what[96];
        snprintf(what, sizeof what, "built copy.cl (%s)", copy_kernels[i]);
        if (!strstr(lb.text, what)) fail_msg("warmup: expected %s:\n%s", what, lb.text);
    }
    DIR *d = NULL;
    int entries = 0;
    char key[8192];
    while (next_entry_key(dir, &d, key, sizeof key)) {
        entries++;
        const bool raw = strstr(key, "-DOUT_IS_RAW=1") != NULL;
        if ((raw && strstr(key, "\nkernel vxa_resample_linear")) || (!raw && strstr(key, "\nkernel vxa_resample_label_")))
            fail_msg("an entry of a kernel its options leave out of resample.cl:\n%s", key);
    }
    assert_true(entries > 4);   /* resample.cl's too */
    setenv("VOXAUG_CACHE", "always", 1);
    setenv("VOXAUG_GPU_FORMS", "1", 1);
    for (int k = 0; k < 2; k++) {
        b[k] = run_or_skip(&lb, NULL, specs[k], vxa_test_seed());
        if (strstr(lb.text, "built ") || (k == 1 && !strstr(lb.text, "loaded ")))
            fail_msg("after a warmup, '%s' in the other forms: expected its programs loaded, none built:\n%s", specs[k],
                     lb.text);
        assert_true(vxa_test_identical(a[k], b[k]));
        vxa_volume_free(a[k]);
        vxa_volume_free(b[k]);
    }
    unsetenv("VOXAUG_GPU_FORMS");
    setenv("VOXAUG_CACHE", "0", 1);
}

/* The kernels of one-kernel programs give the very bits of the whole files' (VOXAUG_WHOLE_PROGRAMS=1), which
 * build fewer programs. Several pipelines, so that every file takes part. */
static void test_same_bits_as_whole_programs(void **state)
{
    (void)state;
    static const char *const specs[] = {
        STANDARD,
        "flip(axes=0,1,2, p=0.5) rotate([-15,15]) zoom([0.9,1.1]) elastic(alpha=150, sigma=3, mode=exact) zscore "
        "noise(0.1) random_crop(16, 14, 12)",
        "pclip(1, 99) minmax gamma(1.5) clip(0, 1)",
        "zscore(mask=1) pclip(5, 95, mask=1)",
        "blur(1) lowres(2) bias(coef=0.2) window(1500, 2000)",
    };
    setenv("VOXAUG_CACHE", "0", 1);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        const uint64_t seed = vxa_test_seed() + s;
        vxa_test_log lb;
        vxa_volume *one = run_or_skip(&lb, NULL, specs[s], seed);
        const int built_one = vxa_test_count_of(lb.text, "built ");
        setenv("VOXAUG_WHOLE_PROGRAMS", "1", 1);
        vxa_volume *whole = run_or_skip(&lb, NULL, specs[s], seed);
        const int built_whole = vxa_test_count_of(lb.text, "built ");
        unsetenv("VOXAUG_WHOLE_PROGRAMS");
        if (!vxa_test_identical(one, whole))
            fail_msg("'%s': one-kernel programs and whole files differ in %zu voxels", specs[s],
                     vxa_test_count_differences(one, whole));
        assert_true(built_whole <= built_one);
        if (s == 0 && built_whole == built_one)
            fail_msg("'%s': whole files built as many programs (%d) as one-kernel programs", specs[s], built_one);
        vxa_volume_free(one);
        vxa_volume_free(whole);
    }
}

/* Copies the .cl and .h files of kernels/, and src/shared/philox.h, into dir (a VOXAUG_KERNEL_DIR). */
static void copy_kernels(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp " SOURCE_ROOT "/kernels/*.cl " SOURCE_ROOT
             "/kernels/*.h " SOURCE_ROOT "/src/shared/philox.h '%s'", dir, dir, dir);
    assert_int_equal(system(cmd), 0);
}

static void append(const char *path, const char *text, bool before)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char old[1 << 20];
    const size_t n = fread(old, 1, sizeof old - 1, f);
    fclose(f);
    old[n] = '\0';
    f = fopen(path, "wb");
    assert_non_null(f);
    if (before) fprintf(f, "%s%s", text, old);
    else fprintf(f, "%s%s", old, text);
    fclose(f);
}

/* copy.cl from a kernel folder with decoys: kernels that would not compile (one after an attribute), text that
 * looks like kernels in comments, a string and a directive, braces in them. The copies build and give the
 * embedded sources' bits; had the other kernels stayed in the program, its build would fail. */
static void test_other_kernels_left_out(void **state)
{
    (void)state;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/decoys", root);
    copy_kernels(dir);
    snprintf(path, sizeof path, "%s/copy.cl", dir);
    append(path,
           "/* __kernel void vxa_copy_rows(int x) { } } { */\n"
           "// __kernel void vxa_copy_axes(  {\n"
           "#define VXA_DECOY_BRACE {\n"
           "__kernel void vxa_decoy_first(__global float *x)\n"
           "{\n"
           "    { this would not compile; }\n"
           "    const char *s = \"} __kernel void vxa_copy_rows( {\";\n"
           "}\n", false);
    append(path,
           "__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void vxa_decoy_attr(__global float *x) { nor this; }\n"
           "__kernel void vxa_decoy_declared(__global float *x);\n"
           "kernel void vxa_decoy_last(__global float *x) { if (x) { nor } this }\n", true);
    setenv("VOXAUG_CACHE", "0", 1);
    vxa_test_log lb;
    vxa_volume *want = run_or_skip(&lb, NULL, "flip(axes=0,2) crop(9, 8, 7)", vxa_test_seed());
    vxa_volume *got = run_or_skip(&lb, dir, "flip(axes=0,2) crop(9, 8, 7)", vxa_test_seed());
    if (!strstr(lb.text, "built copy.cl ("))
        fail_msg("expected copy.cl built from %s:\n%s", dir, lb.text);
    assert_true(vxa_test_identical(want, got));
    vxa_volume_free(want);
    vxa_volume_free(got);
    /* the decoys are real: built whole, the file fails */
    setenv("VOXAUG_WHOLE_PROGRAMS", "1", 1);
    vxa_status st;
    char err[8192];
    vxa_volume *v = run_spec(&lb, dir, "flip(axes=0,2) crop(9, 8, 7)", vxa_test_seed(), &st, err, sizeof err);
    unsetenv("VOXAUG_WHOLE_PROGRAMS");
    assert_null(v);
    assert_int_equal(st, VXA_ERR_BUILD);
}

/* A kernel its file does not define (here renamed away): VXA_ERR_BUILD, the message naming the file and the
 * kernel. */
static void test_missing_kernel_is_a_build_error(void **state)
{
    (void)state;
    char dir[512], cmd[1024];
    snprintf(dir, sizeof dir, "%s/missing", root);
    copy_kernels(dir);
    snprintf(cmd, sizeof cmd, "sed -i 's/__kernel void vxa_copy_/__kernel void renamed_copy_/' '%s/copy.cl'", dir);
    assert_int_equal(system(cmd), 0);
    setenv("VOXAUG_CACHE", "0", 1);
    vxa_test_log lb;
    vxa_volume_free(run_or_skip(&lb, NULL, "flip(axes=0)", vxa_test_seed()));   /* a device, or a skip */
    vxa_status st;
    char err[8192];
    vxa_volume *v = run_spec(&lb, dir, "flip(axes=0)", vxa_test_seed(), &st, err, sizeof err);
    assert_null(v);
    assert_int_equal(st, VXA_ERR_BUILD);
    if (!strstr(err, "kernels/copy.cl defines no kernel 'vxa_copy_"))
        fail_msg("expected the missing kernel named, got: %s", err);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/vxa-programs-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    vxa_test_seed();
    unsetenv("VOXAUG_WHOLE_PROGRAMS");
    unsetenv("VOXAUG_KERNEL_DIR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_entry_per_kernel),
        cmocka_unit_test(test_warmup_builds_every_kernel_of_its_files),
        cmocka_unit_test(test_same_bits_as_whole_programs),
        cmocka_unit_test(test_other_kernels_left_out),
        cmocka_unit_test(test_missing_kernel_is_a_build_error),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (!failed && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return vxa_test_exit(failed);
}
