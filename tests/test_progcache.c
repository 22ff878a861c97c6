/* SPDX-License-Identifier: MIT */
/* The program cache on disk (host/progcache.c): the folder's rules (VOXAUG_CACHE_DIR, XDG_CACHE_HOME, HOME,
 * VOXAUG_CACHE=0); a miss builds and stores, a new context then loads (its log says which) and computes the same
 * bytes; a damaged entry (truncated, a byte changed, another key's, empty, not ours) is rejected, rebuilt and
 * replaced; off stores nothing; a folder that cannot be written is no error; the size limit evicts the least
 * recently used; four processes filling one empty folder at once leave whole entries only.
 * Every case runs in a folder of its own under a temporary root. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

/* A fresh cache folder for one case (not created: the library makes it on its first store). */
static void use_dir(const char *name, char *dir, size_t len)
{
    snprintf(dir, len, "%s/%s", root, name);
    setenv("VOXAUG_CACHE_DIR", dir, 1);
    setenv("VOXAUG_CACHE", "always", 1);   /* stores on a CPU device too */
    unsetenv("VOXAUG_CACHE_MAX_MB");
}

/* One new context on the device under test runs flip(axes=0) on a float32 volume (the copy program only), then
 * is destroyed; its log lands in lb. The output is returned (NULL when there is no device: the caller skips). */
static vxa_volume *run_once(vxa_test_log *lb, const char *dtype_name)
{
    vxa_context *ctx = vxa_test_logged_device(lb, NULL);
    if (!ctx) return NULL;
    vxa_dtype t = VXA_FLOAT32;
    assert_true(vxa_dtype_parse(dtype_name, &t));
    const int64_t dim[3] = { 17, 9, 5 };
    uint64_t rng = vxa_test_seed();
    vxa_volume *in = vxa_test_random_volume(dim, 1, t, &rng), *out = NULL;
    vxa_pipeline *p = NULL;
    assert_int_equal(vxa_pipeline_parse("flip(axes=0)", &p, NULL, 0), VXA_OK);
    if (vxa_pipeline_run(ctx, p, 1, 0, in, NULL, &out, NULL, NULL) != VXA_OK)
        fail_msg("run: %s", vxa_last_error(ctx));
    vxa_context_destroy(ctx);
    vxa_pipeline_free(p);
    vxa_volume_free(in);
    return out;
}

/* The device under test, or a skip (a fail under VOXAUG_REQUIRE_DEVICE=1) through testutil. */
static vxa_volume *run_or_skip(vxa_test_log *lb, const char *dtype_name)
{
    vxa_volume *v = run_once(lb, dtype_name);
    if (!v) {
        vxa_test_device();   /* skips, or fails when a device is required */
        fail_msg("no device context, but vxa_test_device found one");
    }
    return v;
}

/* The cache entries (*.bin) of dir, their count, and whether any temporary file is left. */
static int entries(const char *dir, char names[][80], int max, int *temps)
{
    int n = 0;
    *temps = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".bin") == 0) {
            if (n < max) snprintf(names[n], 80, "%.79s", de->d_name);
            n++;
        } else if (strncmp(de->d_name, ".tmp.", 5) == 0) {
            (*temps)++;
        }
    }
    closedir(d);
    return n;
}

/* Four processes, forked before this process touched OpenCL, fill one empty folder at once; afterwards every
 * entry is whole (a new context loads it; nothing rejected) and no temporary file is left. */
static void test_concurrent_writers_leave_whole_entries(void **state)
{
    (void)state;
    char dir[512];
    use_dir("concurrent", dir, sizeof dir);
    enum { WRITERS = 4 };
    pid_t pid[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pid[w] = fork();
        assert_true(pid[w] >= 0);
        if (pid[w] == 0) {   /* a writer: 3 contexts one after another; 77 without a device */
            for (int round = 0; round < 3; round++) {
                vxa_test_log lb;
                vxa_volume *v = run_once(&lb, "float32");
                if (!v) _exit(77);
                vxa_volume_free(v);
                if (strstr(lb.text, "rejected")) {
                    fprintf(stderr, "writer %d, round %d: %s", w, round, lb.text);
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    int skipped = 0;
    for (int w = 0; w < WRITERS; w++) {
        int status = 0;
        assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) skipped++;
        else assert_int_equal(WEXITSTATUS(status), 0);
    }
    if (skipped) {
        vxa_test_device();
        fail_msg("the writers found no device, but vxa_test_device did");
    }
    char names[8][80];
    int temps = 0;
    const int n = entries(dir, names, 8, &temps);
    assert_int_equal(temps, 0);
    assert_true(n >= 1);
    vxa_test_log lb;
    vxa_volume *v = run_or_skip(&lb, "float32");
    if (vxa_test_count_of(lb.text, "loaded copy.cl") != 1 || strstr(lb.text, "built ") || strstr(lb.text, "rejected"))
        fail_msg("after the concurrent writers, a new context did not load copy.cl:\n%s", lb.text);
    vxa_volume_free(v);
}

static void test_cache_folder_rules(void **state)
{
    (void)state;
    char buf[1024], home[1024] = "", xdg[1024] = "";
    const bool had_home = getenv("HOME"), had_xdg = getenv("XDG_CACHE_HOME");   /* PoCL reads them too */
    if (had_home) snprintf(home, sizeof home, "%s", getenv("HOME"));
    if (had_xdg) snprintf(xdg, sizeof xdg, "%s", getenv("XDG_CACHE_HOME"));
    setenv("VOXAUG_CACHE_DIR", "/some/where", 1);
    unsetenv("VOXAUG_CACHE");
    assert_int_equal(vxa_program_cache_dir(buf, sizeof buf), VXA_OK);
    assert_string_equal(buf, "/some/where");
    unsetenv("VOXAUG_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    assert_int_equal(vxa_program_cache_dir(buf, sizeof buf), VXA_OK);
    assert_string_equal(buf, "/xdg/voxaug");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(vxa_program_cache_dir(buf, sizeof buf), VXA_OK);
    assert_string_equal(buf, "/home/u/.cache/voxaug");
    setenv("VOXAUG_CACHE", "0", 1);
    assert_int_equal(vxa_program_cache_dir(buf, sizeof buf), VXA_OK);
    assert_string_equal(buf, "");
    unsetenv("VOXAUG_CACHE");
    assert_int_equal(vxa_program_cache_dir(buf, 4), VXA_ERR_INVALID_ARGUMENT);
    assert_int_equal(vxa_program_cache_dir(NULL, 0), VXA_ERR_INVALID_ARGUMENT);
    if (had_home) setenv("HOME", home, 1);
    else unsetenv("HOME");
    if (had_xdg) setenv("XDG_CACHE_HOME", xdg, 1);
}

static void test_miss_then_hit_same_bytes(void **state)
{
    (void)state;
    char dir[512], names[8][80];
    int temps;
    use_dir("hit", dir, sizeof dir);
    vxa_test_log lb;
    vxa_volume *a = run_or_skip(&lb, "float32");
    if (!strstr(lb.text, "built copy.cl") || strstr(lb.text, "loaded "))
        fail_msg("an empty cache: expected a build of copy.cl:\n%s", lb.text);
    assert_int_equal(entries(dir, names, 8, &temps), 1);
    assert_int_equal(temps, 0);
    vxa_volume *b = run_or_skip(&lb, "float32");
    if (!strstr(lb.text, "from the program cache") || strstr(lb.text, "built "))
        fail_msg("a warm cache: expected copy.cl loaded, not built:\n%s", lb.text);
    assert_true(vxa_test_identical(a, b));
    /* other build options (another dtype): other entries, one a program (its kernel) built */
    vxa_volume *c = run_or_skip(&lb, "int16");
    assert_non_null(strstr(lb.text, "built copy.cl"));
    assert_int_equal(entries(dir, names, 8, &temps), 1 + vxa_test_count_of(lb.text, "built "));
    vxa_volume_free(a);
    vxa_volume_free(b);
    vxa_volume_free(c);
}

/* Damages the one entry of dir with `how`, then checks a new context rejects, rebuilds and replaces it. */
static void damage(const char *path, int how, const char *other)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    FILE *f;
    switch (how) {
    case 0:   /* truncated to half */
        assert_int_equal(truncate(path, sb.st_size / 2), 0);
        break;
    case 1:   /* the binary's last byte changed */
        f = fopen(path, "r+b");
        assert_non_null(f);
        fseek(f, -1, SEEK_END);
        int c = fgetc(f);
        fseek(f, -1, SEEK_END);
        fputc(c ^ 0x5a, f);
        fclose(f);
        break;
    case 2:   /* empty */
        assert_int_equal(truncate(path, 0), 0);
        break;
    case 3:   /* not a voxaug entry at all */
        f = fopen(path, "wb");
        assert_non_null(f);
        fputs("\177ELF this is not a program cache entry, but long enough to be read as one............", f);
        fclose(f);
        break;
    case 4:   /* another key's entry under this name (a whole, valid entry of the int16 build) */
        assert_int_equal(rename(other, path), 0);
        break;
    }
}

static void test_damaged_entries_are_rebuilt(void **state)
{
    (void)state;
    static const char *const hows[] = { "truncated", "a byte changed", "empty", "not an entry", "another key's" };
    for (int how = 0; how < 5; how++) {
        char dir[512], names[8][80], path[700], other[700] = "";
        int temps;
        char sub[32];
        snprintf(sub, sizeof sub, "damaged%d", how);
        use_dir(sub, dir, sizeof dir);
        vxa_test_log lb;
        vxa_volume *want = run_or_skip(&lb, "float32");
        assert_int_equal(entries(dir, names, 8, &temps), 1);
        snprintf(path, sizeof path, "%s/%s", dir, names[0]);
        if (how == 4) {   /* make the int16 entry, and find it */
            vxa_volume_free(run_or_skip(&lb, "int16"));
            char now[8][80];
            assert_true(entries(dir, now, 8, &temps) >= 2);
            snprintf(other, sizeof other, "%s/%s", dir, strcmp(now[0], names[0]) ? now[0] : now[1]);
        }
        damage(path, how, other);
        vxa_volume *got = run_or_skip(&lb, "float32");
        if (!strstr(lb.text, "rejected") || !strstr(lb.text, "built copy.cl"))
            fail_msg("an entry %s: expected it rejected and copy.cl rebuilt:\n%s", hows[how], lb.text);
        assert_true(vxa_test_identical(want, got));
        vxa_volume_free(got);
        got = run_or_skip(&lb, "float32");   /* replaced by a whole entry */
        if (!strstr(lb.text, "loaded copy.cl") || strstr(lb.text, "rejected"))
            fail_msg("an entry %s, after its rebuild: expected a load:\n%s", hows[how], lb.text);
        assert_true(vxa_test_identical(want, got));
        vxa_volume_free(got);
        vxa_volume_free(want);
    }
}

static void test_off_stores_nothing(void **state)
{
    (void)state;
    char dir[512];
    use_dir("off", dir, sizeof dir);
    setenv("VOXAUG_CACHE", "0", 1);
    vxa_test_log lb;
    for (int k = 0; k < 2; k++) {
        vxa_volume *v = run_or_skip(&lb, "float32");
        if (!strstr(lb.text, "built copy.cl") || strstr(lb.text, "loaded ") || strstr(lb.text, "program cache"))
            fail_msg("VOXAUG_CACHE=0: expected a plain build:\n%s", lb.text);
        vxa_volume_free(v);
    }
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0);   /* not even made */
}

static void test_unwritable_folder_is_no_error(void **state)
{
    (void)state;
    char dir[512];
    use_dir("file", dir, sizeof dir);
    FILE *f = fopen(dir, "w");   /* a file where the folder should be */
    assert_non_null(f);
    fclose(f);
    vxa_test_log lb;
    vxa_volume *v = run_or_skip(&lb, "float32");
    if (!strstr(lb.text, "built copy.cl") || !strstr(lb.text, "not stored"))
        fail_msg("a cache folder that cannot be made: expected a build and a note:\n%s", lb.text);
    vxa_volume_free(v);
}

/* Three old 1 MiB entries and a limit of 2 MiB: a store evicts the oldest until under 1.5 MiB; the new entry,
 * and the most recently used old one, stay. */
static void test_size_limit_evicts_least_recently_used(void **state)
{
    (void)state;
    char dir[512], names[8][80], path[700];
    int temps;
    use_dir("evict", dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const fake[3] = { "aa", "bb", "cc" };
    char *junk = calloc(1, 1 << 20);
    assert_non_null(junk);
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s%062d.bin", dir, fake[k], 0);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(junk, 1, 1 << 20, f), 1 << 20);
        fclose(f);
        struct timespec t[2] = { { .tv_sec = 1000000000 + k * 1000 }, { .tv_sec = 1000000000 + k * 1000 } };
        assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);   /* aa oldest, cc newest */
    }
    free(junk);
    setenv("VOXAUG_CACHE_MAX_MB", "2", 1);
    vxa_test_log lb;
    vxa_volume *v = run_or_skip(&lb, "float32");
    assert_non_null(strstr(lb.text, "evicted"));
    const int n = entries(dir, names, 8, &temps);
    assert_int_equal(n, 2);   /* cc and the new entry */
    snprintf(path, sizeof path, "%s/cc%062d.bin", dir, 0);
    assert_int_equal(access(path, F_OK), 0);
    vxa_volume_free(v);
    v = run_or_skip(&lb, "float32");
    assert_non_null(strstr(lb.text, "loaded copy.cl"));
    vxa_volume_free(v);
    unsetenv("VOXAUG_CACHE_MAX_MB");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/vxa-progcache-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    vxa_test_seed();   /* printed once, here, not by every writer */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_writers_leave_whole_entries),   /* first: no OpenCL in this process yet */
        cmocka_unit_test(test_cache_folder_rules),
        cmocka_unit_test(test_miss_then_hit_same_bytes),
        cmocka_unit_test(test_damaged_entries_are_rebuilt),
        cmocka_unit_test(test_off_stores_nothing),
        cmocka_unit_test(test_unwritable_folder_is_no_error),
        cmocka_unit_test(test_size_limit_evicts_least_recently_used),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (!failed && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return vxa_test_exit(failed);
}
