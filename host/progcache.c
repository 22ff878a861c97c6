/* SPDX-License-Identifier: MIT */
/* The on-disk cache of built programs, per user: a new process on a machine that has run voxaug before loads
 * each program's binary instead of compiling its source (bench/RESULTS.md, "Cold start").
 *
 * Where: $VOXAUG_CACHE_DIR, else $XDG_CACHE_HOME/voxaug, else $HOME/.cache/voxaug (made 0700 on first store);
 * VOXAUG_CACHE=0 turns it off. Programs built from source are stored when their context ends (asking a driver
 * for a binary may cost more than the build: PoCL compiles every kernel of the program for it; bench/RESULTS.md,
 * "Cold start"); on CPU devices only with
 * VOXAUG_CACHE=always, PoCL keeping its own cache (POCL_CACHE_DIR) of what it built. VOXAUG_CACHE=warmup
 * (`voxaug warmup` sets it) stores as always does, and first builds the other kernels of each file built
 * (vxa_cl_build_siblings), since a program holds one kernel.
 * One file per program, named by the SHA-256 of its key: the voxaug version, the
 * platform and device (name, version, driver version), the build options, the program's kernel (a program
 * holds one: host/context.c, keep_one_kernel) and the SHA-256 of its source as built (headers resolved, the
 * other kernels blanked out). The file holds a magic, the key text itself, the binary's length and its
 * SHA-256, then the binary: a file that is short, altered, or of another key is rejected and rebuilt from
 * source (and replaced), never handed to the driver. Writers write a temporary file of their own (O_EXCL) and
 * rename it into place, so concurrent processes never see half a file; the last rename wins and every entry is
 * whole. Size: $VOXAUG_CACHE_MAX_MB (default 256); past it the least recently used entries (a hit refreshes
 * its file's time) go until the cache is under 3/4 of the limit. Failures of the cache (no home, a full disk,
 * a read-only folder) are logged at INFO and the program is built as without it: never an error. */
#include "cl.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "VXAPROG1"
#define CACHE_MAX_FILE ((size_t)1 << 30)   /* an entry larger than this is not read */

/* The cache folder in force into buf ("" when off or when no folder can be named). */
static void cache_dir(char *buf, size_t len)
{
    buf[0] = '\0';
    const char *off = getenv("VOXAUG_CACHE");   /* 0 (off), 1 or unset (on), always (stores on CPUs too) */
    if (off && (strcmp(off, "0") == 0 || strcmp(off, "off") == 0 || strcmp(off, "no") == 0)) return;
    const char *dir = getenv("VOXAUG_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (dir && *dir) snprintf(buf, len, "%s", dir);
    else if (xdg && *xdg == '/') snprintf(buf, len, "%s/voxaug", xdg);
    else if (home && *home) snprintf(buf, len, "%s/.cache/voxaug", home);
}

vxa_status vxa_program_cache_dir(char *buf, size_t len)
{
    if (!buf || len == 0) return VXA_ERR_INVALID_ARGUMENT;
    char dir[1024];
    cache_dir(dir, sizeof dir);
    return (size_t)snprintf(buf, len, "%s", dir) < len ? VXA_OK : VXA_ERR_INVALID_ARGUMENT;
}

static uint64_t max_bytes(void)
{
    const char *s = getenv("VOXAUG_CACHE_MAX_MB");
    char *end;
    unsigned long long mb = s && *s ? strtoull(s, &end, 10) : 256;
    if (s && *s && *end) mb = 256;
    return (uint64_t)mb << 20;
}

/* mkdir -p of the folder, 0700. */
static bool make_dir(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST;
}

static void info_string(cl_int (*get)(void *, cl_uint, size_t, void *, size_t *), void *obj, cl_uint what,
                        char *out, size_t len)
{
    if (get(obj, what, len, out, NULL) != CL_SUCCESS) snprintf(out, len, "?");
    out[len - 1] = '\0';
}

static cl_int platform_info(void *o, cl_uint w, size_t n, void *v, size_t *r)
{
    return clGetPlatformInfo((cl_platform_id)o, w, n, v, r);
}

static cl_int device_info(void *o, cl_uint w, size_t n, void *v, size_t *r)
{
    return clGetDeviceInfo((cl_device_id)o, w, n, v, r);
}

/* The key of one program: what must be equal for a binary to be the one this build would make. */
static char *cache_key(vxa_context *ctx, const char *kernel, const char *source, const char *options)
{
    vxa_cl *cl = ctx->cl;
    char pname[256], pver[256], dname[256], dver[256], drv[256], src_hash[65];
    cl_platform_id plat = cl->platform;
    if (!plat) clGetDeviceInfo(cl->device, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL);
    info_string(platform_info, plat, CL_PLATFORM_NAME, pname, sizeof pname);
    info_string(platform_info, plat, CL_PLATFORM_VERSION, pver, sizeof pver);
    info_string(device_info, cl->device, CL_DEVICE_NAME, dname, sizeof dname);
    info_string(device_info, cl->device, CL_DEVICE_VERSION, dver, sizeof dver);
    info_string(device_info, cl->device, CL_DRIVER_VERSION, drv, sizeof drv);
    vxa_sha256 h;
    vxa_sha256_init(&h);
    vxa_sha256_update(&h, source, strlen(source));
    vxa_sha256_hex(&h, src_hash);
    const char *fmt = "voxaug %s\nplatform %s %s\ndevice %s %s\ndriver %s\noptions %s\nkernel %s\nsource %s\n";
    int n = snprintf(NULL, 0, fmt, VXA_VERSION_STRING, pname, pver, dname, dver, drv, options, kernel, src_hash);
    char *key = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (key)
        snprintf(key, (size_t)n + 1, fmt, VXA_VERSION_STRING, pname, pver, dname, dver, drv, options, kernel, src_hash);
    return key;
}

static void entry_path(const char *dir, const char *key, char *path, size_t len)
{
    vxa_sha256 h;
    char hex[65];
    vxa_sha256_init(&h);
    vxa_sha256_update(&h, key, strlen(key));
    vxa_sha256_hex(&h, hex);
    snprintf(path, len, "%s/%s.bin", dir, hex);
}

/* Whole file into memory (NULL: missing, unreadable or too large). */
static unsigned char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat sb;
    unsigned char *buf = NULL;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size <= CACHE_MAX_FILE &&
        (buf = malloc((size_t)sb.st_size + 1))) {
        size_t got = 0;
        while (got < (size_t)sb.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != (size_t)sb.st_size) {
            free(buf);
            buf = NULL;
        }
        *len = got;
    }
    close(fd);
    return buf;
}

/* The binary inside an entry, or NULL with the reason: every field checked before anything is trusted. */
static const unsigned char *entry_binary(const unsigned char *f, size_t n, const char *key, size_t *bin_len,
                                         const char **why)
{
    const size_t klen = strlen(key), head = 8 + 8 + klen + 8 + 64;
    uint64_t kl, bl;
    if (n < head || memcmp(f, CACHE_MAGIC, 8) != 0) {
        *why = n < 8 ? "truncated" : "not a voxaug cache entry";
        return NULL;
    }
    memcpy(&kl, f + 8, 8);
    if (kl != klen || memcmp(f + 16, key, klen) != 0) {
        *why = "of another key";
        return NULL;
    }
    memcpy(&bl, f + 16 + klen, 8);
    if (bl == 0 || bl != n - head) {
        *why = "truncated or padded";
        return NULL;
    }
    char want[65], got[65];
    memcpy(want, f + 24 + klen, 64);
    want[64] = '\0';
    vxa_sha256 h;
    vxa_sha256_init(&h);
    vxa_sha256_update(&h, f + head, (size_t)bl);
    vxa_sha256_hex(&h, got);
    if (strcmp(want, got) != 0) {
        *why = "its checksum differs";
        return NULL;
    }
    *bin_len = (size_t)bl;
    return f + head;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-6;
}

cl_program vxa_progcache_load(vxa_context *ctx, const char *family, const char *kernel, const char *source,
                              const char *options, char **key_out)
{
    *key_out = NULL;
    char dir[1024], path[1200];
    cache_dir(dir, sizeof dir);
    if (!dir[0]) return NULL;
    char *key = cache_key(ctx, kernel, source, options);
    if (!key) return NULL;
    *key_out = key;
    entry_path(dir, key, path, sizeof path);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = 0, bin_len = 0;
    unsigned char *f = read_all(path, &n);
    if (!f) return NULL;   /* a miss */
    const char *why = NULL;
    const unsigned char *bin = entry_binary(f, n, key, &bin_len, &why);
    cl_program prog = NULL;
    if (bin) {
        cl_int err, bst = CL_SUCCESS;
        prog = clCreateProgramWithBinary(ctx->cl->context, 1, &ctx->cl->device, &bin_len, &bin, &bst, &err);
        if (err == CL_SUCCESS && bst == CL_SUCCESS) err = clBuildProgram(prog, 1, &ctx->cl->device, options, NULL, NULL);
        if (err != CL_SUCCESS || bst != CL_SUCCESS) {
            why = "the driver refused the binary";
            if (prog) clReleaseProgram(prog);
            prog = NULL;
        }
    }
    free(f);
    if (!prog) {
        vxa_log(ctx, VXA_LOG_INFO, "program cache: %s.cl (%s) entry %s rejected (%s): rebuilt from source", family,
                kernel, path, why);
        unlink(path);
        return NULL;
    }
    utimensat(AT_FDCWD, path, NULL, 0);   /* recently used: the last to be evicted */
    vxa_log(ctx, VXA_LOG_INFO, "loaded %s.cl (%s) from the program cache in %.0f ms", family, kernel, ms_since(&t0));
    return prog;
}

/* Least recently used entries out until the folder is under 3/4 of the limit; stale temporaries too. */
static void evict(vxa_context *ctx, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct ent { char name[72]; off_t bytes; time_t used; } *ents = NULL;   /* 64 hex digits + ".bin" */
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    const time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        const size_t len = strlen(de->d_name);
        const bool entry = len == 68 && strcmp(de->d_name + 64, ".bin") == 0;
        const bool temp = strncmp(de->d_name, ".tmp.", 5) == 0;
        if (!entry && !temp) continue;
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (temp) {   /* a writer that died: gone after a day */
            if (now - sb.st_mtime > 86400) unlinkat(dirfd(d), de->d_name, 0);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            struct ent *e = realloc(ents, cap * sizeof *e);
            if (!e) break;
            ents = e;
        }
        memcpy(ents[n].name, de->d_name, len + 1);   /* an entry: 68 characters */
        ents[n].bytes = sb.st_size;
        ents[n].used = sb.st_mtime;
        total += (uint64_t)sb.st_size;
        n++;
    }
    const uint64_t limit = max_bytes();
    size_t gone = 0;
    /* Past the limit: down to 3/4 of it, so that the next store does not evict again. */
    const bool over = total > limit;
    while (over && n > 0 && total > limit / 4 * 3) {
        size_t oldest = 0;
        for (size_t i = 1; i < n; i++)
            if (ents[i].used < ents[oldest].used) oldest = i;
        if (unlinkat(dirfd(d), ents[oldest].name, 0) == 0) gone++;
        total -= (uint64_t)ents[oldest].bytes;
        ents[oldest] = ents[--n];
    }
    if (gone) vxa_log(ctx, VXA_LOG_INFO, "program cache: %zu entries evicted (limit %llu MiB)", gone,
                      (unsigned long long)(limit >> 20));
    free(ents);
    closedir(d);
}

static bool store(vxa_context *ctx, const char *what, const char *key, cl_program prog)
{
    char dir[1024], path[1200], tmp[1200];
    cache_dir(dir, sizeof dir);
    if (!dir[0] || !key) return false;
    size_t bin_len = 0;
    cl_int err = clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bin_len, &bin_len, NULL);
    if (err != CL_SUCCESS || bin_len == 0 || bin_len > CACHE_MAX_FILE) {
        vxa_log(ctx, VXA_LOG_INFO, "program cache: %s not stored: its binary (%s, %zu bytes)", what,
                vxa_cl_error_name(err), bin_len);
        return false;
    }
    const size_t klen = strlen(key), head = 8 + 8 + klen + 8 + 64;
    unsigned char *f = malloc(head + bin_len);
    if (!f) return false;
    unsigned char *bin = f + head;
    err = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL);
    if (err != CL_SUCCESS) {
        free(f);
        return false;
    }
    const uint64_t kl = klen, bl = bin_len;
    char hex[65];
    vxa_sha256 h;
    vxa_sha256_init(&h);
    vxa_sha256_update(&h, bin, bin_len);
    vxa_sha256_hex(&h, hex);
    memcpy(f, CACHE_MAGIC, 8);
    memcpy(f + 8, &kl, 8);
    memcpy(f + 16, key, klen);
    memcpy(f + 16 + klen, &bl, 8);
    memcpy(f + 24 + klen, hex, 64);
    entry_path(dir, key, path, sizeof path);
    bool ok = make_dir(dir);
    int fd = -1;
    for (int attempt = 0; ok && attempt < 8 && fd < 0; attempt++) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        snprintf(tmp, sizeof tmp, "%s/.tmp.%ld.%lx", dir, (long)getpid(), (unsigned long)(t.tv_nsec ^ (attempt << 20)));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST) ok = false;
    }
    const int open_errno = errno;
    size_t put = 0;
    while (fd >= 0 && put < head + bin_len) {
        ssize_t w = write(fd, f + put, head + bin_len - put);
        if (w <= 0) break;
        put += (size_t)w;
    }
    free(f);
    if (fd < 0 || put != head + bin_len || close(fd) != 0 || rename(tmp, path) != 0) {
        if (fd >= 0) unlink(tmp);
        vxa_log(ctx, VXA_LOG_INFO, "program cache: %s not stored in %s: %s", what, dir,
                strerror(fd < 0 ? open_errno : errno));
        return false;
    }
    vxa_log(ctx, VXA_LOG_DEBUG, "program cache: %s stored (%zu bytes)", what, bin_len);
    evict(ctx, dir);
    return true;
}

void vxa_progcache_store_all(vxa_context *ctx)
{
    vxa_cl *cl = ctx->cl;
    const char *mode = getenv("VOXAUG_CACHE");
    const bool warmup = mode && strcmp(mode, "warmup") == 0;
    if (!cl || (cl->is_cpu && !(warmup || (mode && strcmp(mode, "always") == 0)))) return;
    if (warmup) vxa_cl_build_siblings(ctx);
    for (int i = 0; i < cl->nprograms; i++) {
        if (!cl->programs[i].cache_key || cl->programs[i].cached) continue;
        const char *key = cl->programs[i].key, *kernel = strrchr(key, '|');   /* family|options|kernel */
        char what[160];
        snprintf(what, sizeof what, "%.*s.cl (%s)", (int)strcspn(key, "|"), key, kernel ? kernel + 1 : "?");
        cl->programs[i].cached = store(ctx, what, cl->programs[i].cache_key, cl->programs[i].program);
    }
}
