/* SPDX-License-Identifier: MIT */
/* Output commit protocol: temporaries next to their targets, fsynced, renamed into place all together, a
 * journal for roll forward where a set shares a folder, and the removal of what dead processes left. The
 * contract is in src/commit.h; the guarantee and its one window are written down in README.md. */
#include "commit.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAIL(st, ...) vxa_fail_buf(err, errlen, st, __VA_ARGS__)
#define JOURNAL_MAGIC "vxa-commit 1"
#define JOURNAL_END "end"
#define JOURNAL_MAX (VXA_COMMIT_MAX * 2 * 512 + 64)

static unsigned commit_counter; /* with the pid, a name per temporary; O_EXCL settles any clash */

/* FNV-1a of the target's name: only to tell temporaries apart by eye, never relied on. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void file_clear(vxa_commit_file *f)
{
    free(f->target);
    free(f->dir);
    free(f->tmp);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

void vxa_commit_init(vxa_commit *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < VXA_COMMIT_MAX; i++) c->f[i].fd = -1;
}

/* Writes the short name `.vxa-<pid>-<counter>-<hash>.<ext>` into out (64 bytes). */
static void short_name(char out[64], const char *target_base, const char *ext)
{
    snprintf(out, 64, ".vxa-%ld-%u-%08x.%s", (long)getpid(), __atomic_fetch_add(&commit_counter, 1u, __ATOMIC_RELAXED),
             (unsigned)name_hash(target_base), ext);
}

static int open_exclusive(const char *dir, const char *target_base, const char *ext, char **path_out)
{
    const size_t len = strlen(dir) + 66;
    char *path = malloc(len), name[64];
    int fd = -1;
    if (!path) {
        errno = ENOMEM;
        return -1;
    }
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        short_name(name, target_base, ext);
        snprintf(path, len, "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        const int e = errno;
        free(path);
        errno = e;
        return -1;
    }
    *path_out = path;
    return fd;
}

int vxa_commit_add(vxa_commit *c, const char *target, char *err, size_t errlen)
{
    if (!target || !*target) {
        FAIL(VXA_ERR_INVALID_ARGUMENT, "no output file name");
        return -1;
    }
    if (c->n >= VXA_COMMIT_MAX) {
        FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: more than %d outputs in one commit", target, VXA_COMMIT_MAX);
        return -1;
    }
    vxa_commit_file *f = &c->f[c->n];
    file_clear(f);
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: not a file name", target);
        return -1;
    }
    if (!(f->target = strdup(target))) goto oom;
    f->base = f->target + (base - target);
    if (!slash) f->dir = strdup(".");
    else if (slash == target) f->dir = strdup("/");
    else f->dir = strndup(target, (size_t)(slash - target));
    if (!f->dir) goto oom;
    struct stat sb;
    if (stat(f->dir, &sb) != 0) {
        FAIL(VXA_ERR_IO, "%s: folder %s: %s", target, f->dir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(sb.st_mode)) {
        FAIL(VXA_ERR_IO, "%s: %s is not a folder", target, f->dir);
        goto fail;
    }
    if (stat(target, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        FAIL(VXA_ERR_IO, "%s: is a folder", target);
        goto fail;
    }
    struct stat db;
    stat(f->dir, &db);
    f->dir_dev = db.st_dev;
    f->dir_ino = db.st_ino;
    f->fd = open_exclusive(f->dir, f->base, "tmp", &f->tmp);
    if (f->fd < 0) {
        FAIL(VXA_ERR_IO, "%s: cannot create a file in %s: %s", target, f->dir, strerror(errno));
        goto fail;
    }
    return c->n++;
oom:
    FAIL(VXA_ERR_OUT_OF_MEMORY, "%s: out of memory", target);
fail:
    file_clear(f);
    return -1;
}

vxa_status vxa_commit_close(vxa_commit *c, int i, char *err, size_t errlen)
{
    vxa_commit_file *f = &c->f[i];
    if (f->fd < 0) return VXA_OK;
    const int synced = fsync(f->fd);
    const int e = errno;
    const int closed = close(f->fd);
    f->fd = -1;
    if (synced != 0 || closed != 0)
        return FAIL(VXA_ERR_IO, "%s: write failed: %s", f->target, strerror(synced != 0 ? e : errno));
    return VXA_OK;
}

static vxa_status write_fd_all(int fd, const void *buf, size_t n, const char *name, char *err, size_t errlen)
{
    const char *p = buf;
    while (n > 0) {
        const ssize_t k = write(fd, p, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return FAIL(VXA_ERR_IO, "%s: write failed: %s", name, k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return VXA_OK;
}

vxa_status vxa_commit_write_text(vxa_commit *c, int i, const char *text, char *err, size_t errlen)
{
    vxa_status st;
    if ((st = write_fd_all(c->f[i].fd, text, strlen(text), c->f[i].target, err, errlen)) != VXA_OK ||
        (st = write_fd_all(c->f[i].fd, "\n", 1, c->f[i].target, err, errlen)) != VXA_OK)
        return st;
    return vxa_commit_close(c, i, err, errlen);
}

void vxa_commit_abort(vxa_commit *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->f[i].fd >= 0) close(c->f[i].fd);
        if (c->f[i].tmp) unlink(c->f[i].tmp);
        file_clear(&c->f[i]);
    }
    c->n = 0;
}

static int fsync_dir(const char *dir)
{
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    const int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The journal of a set in one folder: magic, then (temporary, target) base names, then "end", all
 * NUL-terminated, so a journal cut short by a crash is recognised (and its set, never renamed, dropped). */
static vxa_status write_journal(vxa_commit *c, char **jpath, char *err, size_t errlen)
{
    char buf[JOURNAL_MAX];
    size_t n = 0;
    memcpy(buf, JOURNAL_MAGIC, sizeof JOURNAL_MAGIC);
    n += sizeof JOURNAL_MAGIC;
    for (int i = 0; i < c->n; i++) {
        const char *tb = strrchr(c->f[i].tmp, '/') + 1;
        const size_t a = strlen(tb) + 1, b = strlen(c->f[i].base) + 1;
        if (n + a + b + sizeof JOURNAL_END > sizeof buf)
            return FAIL(VXA_ERR_INVALID_ARGUMENT, "%s: names too long for the commit journal", c->f[i].target);
        memcpy(buf + n, tb, a);
        n += a;
        memcpy(buf + n, c->f[i].base, b);
        n += b;
    }
    memcpy(buf + n, JOURNAL_END, sizeof JOURNAL_END);
    n += sizeof JOURNAL_END;
    const int fd = open_exclusive(c->f[0].dir, c->f[0].base, "jnl", jpath);
    if (fd < 0) return FAIL(VXA_ERR_IO, "%s: cannot create a file in %s: %s", c->f[0].target, c->f[0].dir, strerror(errno));
    vxa_status st = write_fd_all(fd, buf, n, c->f[0].target, err, errlen);
    if (st == VXA_OK && fsync(fd) != 0) st = FAIL(VXA_ERR_IO, "%s: write failed: %s", c->f[0].target, strerror(errno));
    close(fd);
    if (st == VXA_OK && fsync_dir(c->f[0].dir) != 0)
        st = FAIL(VXA_ERR_IO, "%s: folder %s: fsync failed: %s", c->f[0].target, c->f[0].dir, strerror(errno));
    if (st != VXA_OK) {
        unlink(*jpath);
        free(*jpath);
        *jpath = NULL;
    }
    return st;
}

vxa_status vxa_commit_all(vxa_commit *c, char *err, size_t errlen)
{
    vxa_status st = VXA_OK;
    char *journal = NULL;
    for (int i = 0; i < c->n; i++)
        if (c->f[i].fd >= 0 && (st = vxa_commit_close(c, i, err, errlen)) != VXA_OK) goto abort;
    bool one_folder = c->n >= 2;
    for (int i = 1; i < c->n; i++)
        one_folder &= c->f[i].dir_dev == c->f[0].dir_dev && c->f[i].dir_ino == c->f[0].dir_ino;
    if (one_folder && (st = write_journal(c, &journal, err, errlen)) != VXA_OK) goto abort;
    for (int i = 0; i < c->n; i++) {
        if (rename(c->f[i].tmp, c->f[i].target) != 0) {
            st = FAIL(VXA_ERR_IO, "%s: cannot rename the new file into place: %s%s", c->f[i].target, strerror(errno),
                      i == 0 ? "" : journal ? " (the outputs before it are in place; a later run in that folder "
                                              "completes the set)" : " (the outputs before it are in place)");
            if (i == 0) {
                if (journal) unlink(journal);
                goto abort;
            }
            /* with a journal, it and the remaining temporaries stay for the roll forward */
            for (int k = i; k < c->n; k++) {
                if (!journal) unlink(c->f[k].tmp);
                free(c->f[k].tmp);
                c->f[k].tmp = NULL;
            }
            goto done;
        }
        free(c->f[i].tmp);
        c->f[i].tmp = NULL;
    }
    for (int i = 0; i < c->n; i++) {
        bool seen = false;
        for (int k = 0; k < i; k++) seen |= c->f[k].dir_dev == c->f[i].dir_dev && c->f[k].dir_ino == c->f[i].dir_ino;
        if (!seen && fsync_dir(c->f[i].dir) != 0 && st == VXA_OK)
            st = FAIL(VXA_ERR_IO, "%s: folder %s: fsync failed: %s", c->f[i].target, c->f[i].dir, strerror(errno));
    }
    if (journal) unlink(journal);
done:
    free(journal);
    for (int i = 0; i < c->n; i++) file_clear(&c->f[i]);
    c->n = 0;
    return st;
abort:
    free(journal);
    vxa_commit_abort(c);
    return st;
}

/* ---- stale files of dead processes ---------------------------------------------------------------------- */

/* name matches `.vxa-<pid>-<counter>-<8 hex>.<ext>` exactly (ext "tmp" or "jnl"): its pid, else 0. */
static long parse_short_name(const char *name, char ext[4])
{
    const char *s = name;
    if (strncmp(s, ".vxa-", 5) != 0) return 0;
    s += 5;
    long pid = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (digits >= 10) return 0;
        pid = pid * 10 + (*s - '0');
    }
    if (digits == 0 || *s++ != '-' || pid <= 0 || pid > INT32_MAX) return 0;
    for (digits = 0; *s >= '0' && *s <= '9'; s++) digits++;
    if (digits == 0 || digits > 10 || *s++ != '-') return 0;
    for (digits = 0; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'); s++) digits++;
    if (digits != 8 || *s++ != '.') return 0;
    if (strcmp(s, "tmp") != 0 && strcmp(s, "jnl") != 0) return 0;
    memcpy(ext, s, 4);
    return pid;
}

static bool pid_dead(long pid)
{
    return pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static bool is_regular(int dfd, const char *name)
{
    struct stat sb;
    return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
}

/* Rolls forward the complete journal `name` of dead process pid; returns the renames done. */
static int roll_forward(int dfd, const char *name, long pid)
{
    char buf[JOURNAL_MAX + 1];
    const int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0 || n > JOURNAL_MAX) return 0;
    /* magic, pairs, end: every field NUL-terminated */
    if ((size_t)n < sizeof JOURNAL_MAGIC + sizeof JOURNAL_END || memcmp(buf, JOURNAL_MAGIC, sizeof JOURNAL_MAGIC) != 0 ||
        memcmp(buf + n - sizeof JOURNAL_END, JOURNAL_END, sizeof JOURNAL_END) != 0)
        return 0; /* cut short: it was written before any rename, so the set was never committed */
    const char *fields[2 * VXA_COMMIT_MAX];
    int nf = 0;
    const size_t end = (size_t)n - sizeof JOURNAL_END;
    for (size_t p = sizeof JOURNAL_MAGIC; p < end;) {
        const size_t len = strnlen(buf + p, end - p);
        if (len == end - p || nf == 2 * VXA_COMMIT_MAX) return 0; /* a field without its NUL, or too many */
        fields[nf++] = buf + p;
        p += len + 1;
    }
    if (nf % 2) return 0;
    for (int i = 0; i < nf; i += 2) { /* only this process's temporaries, onto plain names in this folder */
        char ext[4];
        if (parse_short_name(fields[i], ext) != pid || strcmp(ext, "tmp") != 0) return 0;
        if (!*fields[i + 1] || strchr(fields[i + 1], '/') || strcmp(fields[i + 1], ".") == 0 ||
            strcmp(fields[i + 1], "..") == 0)
            return 0;
    }
    int done = 0;
    for (int i = 0; i < nf; i += 2)
        if (is_regular(dfd, fields[i]) && renameat(dfd, fields[i], dfd, fields[i + 1]) == 0) done++;
    if (done) fsync(dfd);
    return done;
}

int vxa_commit_clean_stale(const char *dir, char *err, size_t errlen)
{
    const int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        FAIL(VXA_ERR_IO, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int count = 0;
    /* two passes: journals first (their temporaries are renamed, not removed), then what is left */
    for (int pass = 0; pass < 2; pass++) {
        const int dfd2 = dup(dfd);
        DIR *d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
        if (!d) {
            if (dfd2 >= 0) close(dfd2);
            break;
        }
        rewinddir(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            char ext[4];
            const long pid = parse_short_name(e->d_name, ext);
            if (!pid || !is_regular(dfd, e->d_name) || !pid_dead(pid)) continue;
            if (pass == 0 && strcmp(ext, "jnl") == 0) {
                count += roll_forward(dfd, e->d_name, pid);
                if (unlinkat(dfd, e->d_name, 0) == 0) count++;
            } else if (pass == 1 && strcmp(ext, "tmp") == 0) {
                if (unlinkat(dfd, e->d_name, 0) == 0) count++;
            }
        }
        closedir(d);
    }
    close(dfd);
    return count;
}
