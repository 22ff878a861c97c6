/* SPDX-License-Identifier: MIT */
/* voxaug augment: K augmented copies of each (image, label) pair of a dataset, with the drawn parameters in a
 * JSON sidecar. Item i's copy c is sample i*K + c of the seed, so a copy is the same whatever the shard, the
 * number of jobs or the device. A failed item is reported and the others go on; the exit status is 1 then. */
#include "cli.h"
#include "commit.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct { char *image, *label; } item;

typedef struct {
    item *items;
    size_t nitems;
    const vxa_pipeline *p;
    const char *outdir, *device;
    uint64_t seed, copies, shard, nshards;
    int jobs, quiet;
    pthread_mutex_t lock;
    size_t next, done, failed, total;
    double t0;
} job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void augment_usage(FILE *f)
{
    fprintf(f,
        "usage: voxaug augment --ops SPEC -o OUTDIR [inputs] [options]\n\n"
        "inputs (any mix):\n"
        "  IMAGE[:LABEL] ...    image files, each with an optional label map\n"
        "  --list FILE          lines 'image[,label]' (# comments)\n"
        "  --images DIR [--labels DIR]   every .nii/.nii.gz in DIR; labels matched by file name\n"
        "options:\n"
        "  -n, --copies K       augmented copies per item (default 1)\n"
        "  --seed N             the dataset's seed (default 0); item i's copy c is sample i*K + c\n"
        "  --shard I/N          process only items with index %% N == I (0-based), for splitting a dataset\n"
        "  -j, --jobs J         worker threads, each with its own device context (default 1)\n"
        "  --device D           gpu, cpu, reference, an index or a name\n"
        "  -q, --quiet          no progress bar\n"
        "outputs in OUTDIR: <name>_aug<c>.nii.gz, <name>_aug<c>_label.nii.gz, <name>_aug<c>.json (drawn parameters)\n"
        "Each copy's files are committed together (all three or none). SIGINT/SIGTERM stop after the copy in\n"
        "hand (exit 130/143); a later run first finishes or removes what interrupted runs left in OUTDIR.\n");
}

static int add_item(item **items, size_t *n, size_t *cap, const char *image, const char *label)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        item *ni = realloc(*items, *cap * sizeof *ni);
        if (!ni) return -1;
        *items = ni;
    }
    (*items)[*n].image = strdup(image);
    (*items)[*n].label = label && *label ? strdup(label) : NULL;
    if (!(*items)[*n].image) return -1;
    (*n)++;
    return 0;
}

static int is_nifti(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".nii") == 0) || (n > 7 && strcmp(name + n - 7, ".nii.gz") == 0);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int add_dir(item **items, size_t *n, size_t *cap, const char *dir, const char *labels)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "voxaug augment: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t nn = 0, nc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_nifti(e->d_name)) continue;
        if (nn == nc) {
            nc = nc ? 2 * nc : 64;
            char **x = realloc(names, nc * sizeof *x);
            if (!x) break;
            names = x;
        }
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_str); /* a stable order: item indices must not depend on readdir */
    int rc = 0;
    for (size_t i = 0; i < nn; i++) {
        char img[4096], lab[4096] = "";
        snprintf(img, sizeof img, "%s/%s", dir, names[i]);
        if (labels) snprintf(lab, sizeof lab, "%s/%s", labels, names[i]);
        if (rc == 0 && add_item(items, n, cap, img, lab) != 0) rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* Drops trailing blanks. */
static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
}

#define LIST_LINE_MAX 8191 /* characters of one --list line; a longer one is an error, never split */

/* Lines 'image[,label]'; '#' comments and blank lines skipped. A line over LIST_LINE_MAX or holding a NUL byte
 * is an error naming its number (so `--list /dev/zero` ends at once). */
static int add_list(item **items, size_t *n, size_t *cap, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "voxaug augment: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[LIST_LINE_MAX + 1];
    int rc = 0, ch = 0;
    for (size_t lineno = 1; rc == 0 && ch != EOF; lineno++) {
        size_t len = 0;
        while ((ch = getc(f)) != EOF && ch != '\n') {
            if (ch == '\0') {
                fprintf(stderr, "voxaug augment: %s: line %zu holds a NUL byte (not a text list)\n", path, lineno);
                rc = -1;
                break;
            }
            if (len == LIST_LINE_MAX) {
                fprintf(stderr, "voxaug augment: %s: line %zu is longer than %d characters\n", path, lineno,
                        LIST_LINE_MAX);
                rc = -1;
                break;
            }
            line[len++] = (char)ch;
        }
        if (rc != 0) break;
        if (ferror(f)) {
            fprintf(stderr, "voxaug augment: %s: line %zu: %s\n", path, lineno, strerror(errno));
            rc = -1;
            break;
        }
        line[len] = '\0';
        line[strcspn(line, "\r")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        char *lab = comma ? comma + 1 : NULL;
        trim(s);
        if (lab) {
            while (*lab == ' ' || *lab == '\t') lab++;
            trim(lab);
        }
        rc = add_item(items, n, cap, s, lab);
    }
    fclose(f);
    return rc;
}

/* s as a JSON string literal (quotes included) appended at out + *pos; out has room for 6 * strlen(s) + 3.
 * Quotes, backslashes and control characters are escaped; bytes that are not UTF-8 become U+FFFD. */
static void json_string(const char *s, char *out, size_t *pos)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *pos;
    out[n++] = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*c;
        } else if (*c < 0x20 || *c == 0x7f) {
            n += (size_t)sprintf(out + n, "\\u00%c%c", hex[*c >> 4], hex[*c & 15]);
        } else if (*c < 0x80) {
            out[n++] = (char)*c;
        } else { /* valid UTF-8 passes (as `voxaug info --json`), other bytes become U+FFFD */
            const int len = (*c & 0xE0) == 0xC0 ? 2 : (*c & 0xF0) == 0xE0 ? 3 : (*c & 0xF8) == 0xF0 ? 4 : 0;
            int ok = len > 0 && *c >= 0xC2 && *c <= 0xF4;
            for (int k = 1; ok && k < len; k++) ok = (c[k] & 0xC0) == 0x80;
            if (ok) {
                memcpy(out + n, c, (size_t)len);
                n += (size_t)len;
                c += len - 1;
            } else {
                memcpy(out + n, "\\ufffd", 6);
                n += 6;
            }
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    *pos = n;
}

/* The sidecar of one copy: {"image":..., "label":... or null, "item":i, "copy":c, "draw":{...}}; malloc'd. */
static char *sidecar_json(const item *it, size_t idx, uint64_t copy, const char *draw)
{
    const size_t cap = strlen(draw) + 6 * (strlen(it->image) + (it->label ? strlen(it->label) : 0)) + 128;
    char *json = malloc(cap);
    if (!json) return NULL;
    size_t n = (size_t)sprintf(json, "{\"image\":");
    json_string(it->image, json, &n);
    n += (size_t)sprintf(json + n, ",\"label\":");
    if (it->label) json_string(it->label, json, &n);
    else n += (size_t)sprintf(json + n, "null");
    sprintf(json + n, ",\"item\":%zu,\"copy\":%llu,\"draw\":%s}", idx, (unsigned long long)copy, draw);
    return json;
}

/* "dir/abc.nii.gz" -> "abc" */
static void stem(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, len, "%s", base);
    size_t n = strlen(out);
    if (n > 7 && strcmp(out + n - 7, ".nii.gz") == 0) out[n - 7] = '\0';
    else if (n > 4 && strcmp(out + n - 4, ".nii") == 0) out[n - 4] = '\0';
}

/* Two items whose files have the same name (a/t1.nii.gz, b/t1.nii.gz) would write the same outputs: refused. */
static int same_stems(const job *J)
{
    char (*names)[1024] = malloc(J->nitems * sizeof *names);
    int rc = 0;
    if (!names) {
        fprintf(stderr, "voxaug augment: out of memory\n");
        rc = -1;
        goto done;
    }
    for (size_t i = 0; i < J->nitems; i++) stem(J->items[i].image, names[i], sizeof names[i]);
    for (size_t i = 0; i < J->nitems && rc == 0; i++) /* quadratic: item lists are thousands at most */
        for (size_t k = i + 1; k < J->nitems && rc == 0; k++)
            if (strcmp(names[i], names[k]) == 0) {
                fprintf(stderr, "voxaug augment: items %zu (%s) and %zu (%s) would both write %s_aug*: rename one\n",
                        i, J->items[i].image, k, J->items[k].image, names[i]);
                rc = -1;
            }
done:
    free(names);
    return rc;
}

typedef struct { dev_t dev; ino_t ino; } file_key;

static int cmp_key(const void *a, const void *b)
{
    const file_key *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Refuses (before any work) a run where an output that exists already is one of the inputs, by (device,
 * inode): `-o data` with an item named like an earlier item's output, a link, a hard link. Outputs that do not
 * exist yet cannot be an input. */
static int outputs_are_inputs(const job *J)
{
    file_key *keys = malloc(2 * J->nitems * sizeof *keys);
    size_t nk = 0;
    int rc = 0;
    if (!keys) {
        fprintf(stderr, "voxaug augment: out of memory\n");
        return -1;
    }
    struct stat sb;
    for (size_t i = 0; i < J->nitems; i++) {
        if (stat(J->items[i].image, &sb) == 0) keys[nk++] = (file_key){ sb.st_dev, sb.st_ino };
        if (J->items[i].label && stat(J->items[i].label, &sb) == 0) keys[nk++] = (file_key){ sb.st_dev, sb.st_ino };
    }
    qsort(keys, nk, sizeof *keys, cmp_key);
    char name[1024], path[4096];
    static const char *const tails[3] = { ".nii.gz", "_label.nii.gz", ".json" };
    for (size_t i = 0; i < J->nitems && rc == 0; i++) {
        if (i % J->nshards != J->shard) continue;
        stem(J->items[i].image, name, sizeof name);
        for (uint64_t c = 0; c < J->copies && rc == 0; c++)
            for (int t = 0; t < 3 && rc == 0; t++) {
                snprintf(path, sizeof path, "%s/%s_aug%llu%s", J->outdir, name, (unsigned long long)c, tails[t]);
                if (stat(path, &sb) != 0) continue;
                const file_key k = { sb.st_dev, sb.st_ino };
                if (!bsearch(&k, keys, nk, sizeof *keys, cmp_key)) continue;
                fprintf(stderr, "voxaug augment: output %s is an input of this run (the same file): it would be "
                        "replaced; choose another -o\n", path);
                rc = -1;
            }
    }
    free(keys);
    return rc;
}

static void progress(job *J)
{
    if (J->quiet || !isatty(STDERR_FILENO)) return;
    const int width = 30;
    double frac = J->total ? (double)(J->done + J->failed) / (double)J->total : 1.0;
    double el = now() - J->t0;
    int fill = (int)(frac * width);
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu volumes, %zu failed, %.2f vol/s ", fill,
            "##############################", width - fill, "", J->done + J->failed, J->total, J->failed,
            el > 0 ? (double)J->done / el : 0.0);
    fflush(stderr);
}

/* One item: read once, write K copies. Returns the number of copies written. */
static size_t do_item(job *J, vxa_context *ctx, size_t idx)
{
    const item *it = &J->items[idx];
    char err[8192] = "", name[1024], path[4096];
    vxa_volume *img = NULL, *lab = NULL;
    size_t ok = 0;
    stem(it->image, name, sizeof name);
    if (vxa_nifti_read(it->image, &img, err, sizeof err) != VXA_OK ||
        (it->label && vxa_nifti_read(it->label, &lab, err, sizeof err) != VXA_OK)) {
        pthread_mutex_lock(&J->lock);
        fprintf(stderr, "%svoxaug augment: item %zu: %s\n", J->quiet ? "" : "\n", idx, err);
        J->failed += J->copies;
        pthread_mutex_unlock(&J->lock);
        goto done;
    }
    for (uint64_t c = 0; c < J->copies && !cli_stopped(); c++) {
        vxa_volume *oi = NULL, *ol = NULL;
        vxa_draw *draw = NULL;
        const uint64_t sample = (uint64_t)idx * J->copies + c;
        vxa_status st = vxa_pipeline_run(ctx, J->p, J->seed, sample, img, lab, &oi, lab ? &ol : NULL, &draw);
        if (st != VXA_OK) snprintf(err, sizeof err, "%s: %s", it->image, vxa_last_error(ctx));
        /* a copy is written whole or not at all (src/commit.h): image, label map, sidecar, renamed in that
         * order once all three are complete; the sidecar, last, marks a complete copy */
        vxa_commit cm;
        vxa_commit_init(&cm);
        if (st == VXA_OK) {
            snprintf(path, sizeof path, "%s/%s_aug%llu.nii.gz", J->outdir, name, (unsigned long long)c);
            const int i = vxa_commit_add(&cm, path, err, sizeof err);
            st = i < 0 ? VXA_ERR_IO : vxa_nifti_write_fd(cm.f[i].fd, path, oi, err, sizeof err);
        }
        if (st == VXA_OK && ol) {
            snprintf(path, sizeof path, "%s/%s_aug%llu_label.nii.gz", J->outdir, name, (unsigned long long)c);
            const int i = vxa_commit_add(&cm, path, err, sizeof err);
            st = i < 0 ? VXA_ERR_IO : vxa_nifti_write_fd(cm.f[i].fd, path, ol, err, sizeof err);
        }
        if (st == VXA_OK) {
            char *json = sidecar_json(it, idx, c, vxa_draw_json(draw));
            snprintf(path, sizeof path, "%s/%s_aug%llu.json", J->outdir, name, (unsigned long long)c);
            const int i = json ? vxa_commit_add(&cm, path, err, sizeof err) : -1;
            if (!json) {
                snprintf(err, sizeof err, "%s: out of memory", path);
                st = VXA_ERR_OUT_OF_MEMORY;
            } else {
                st = i < 0 ? VXA_ERR_IO : vxa_commit_write_text(&cm, i, json, err, sizeof err);
            }
            free(json);
        }
        const int stopped = cli_stopped() != 0;
        if (st == VXA_OK && !stopped) st = vxa_commit_all(&cm, err, sizeof err);
        vxa_commit_abort(&cm);
        if (stopped) { /* not counted as failed: the summary says the run was stopped */
            vxa_volume_free(oi);
            vxa_volume_free(ol);
            vxa_draw_free(draw);
            break;
        }
        pthread_mutex_lock(&J->lock);
        if (st == VXA_OK) {
            J->done++;
            ok++;
        } else {
            J->failed++;
            fprintf(stderr, "%svoxaug augment: item %zu copy %llu: %s\n", J->quiet ? "" : "\n", idx,
                    (unsigned long long)c, err);
        }
        progress(J);
        pthread_mutex_unlock(&J->lock);
        vxa_volume_free(oi);
        vxa_volume_free(ol);
        vxa_draw_free(draw);
    }
done:
    vxa_volume_free(img);
    vxa_volume_free(lab);
    return ok;
}

typedef struct { job *J; vxa_context *ctx; } worker_arg;

static void *worker(void *arg)
{
    job *J = ((worker_arg *)arg)->J;
    vxa_context *ctx = ((worker_arg *)arg)->ctx;
    for (;;) {
        pthread_mutex_lock(&J->lock);
        size_t idx = J->next;
        while (idx < J->nitems && idx % J->nshards != J->shard) idx++;
        J->next = idx + 1;
        pthread_mutex_unlock(&J->lock);
        if (idx >= J->nitems || cli_stopped()) break;
        do_item(J, ctx, idx);
    }
    return NULL;
}

int cmd_augment(int argc, char **argv)
{
    job J = { .copies = 1, .nshards = 1, .jobs = 1 };
    const char *spec = NULL, *images = NULL, *labels = NULL;
    size_t cap = 0;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { augment_usage(stdout); rc = 0; goto done; }
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) { J.quiet = 1; takes = 0; }
        else if (a[0] == '-' && !v) { fprintf(stderr, "voxaug augment: %s needs a value\n", a); goto done; }
        else if (strcmp(a, "--ops") == 0) spec = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) J.outdir = v;
        else if (strcmp(a, "--device") == 0) J.device = v;
        else if (strcmp(a, "--images") == 0) images = v;
        else if (strcmp(a, "--labels") == 0) labels = v;
        else if (strcmp(a, "--list") == 0) {
            if (add_list(&J.items, &J.nitems, &cap, v) != 0) goto done;
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--copies") == 0) {
            if (!cli_parse_u64(v, &J.copies) || J.copies == 0) { fprintf(stderr, "voxaug augment: bad -n '%s'\n", v); goto done; }
        } else if (strcmp(a, "--seed") == 0) {
            if (!cli_parse_u64(v, &J.seed)) { fprintf(stderr, "voxaug augment: bad --seed '%s'\n", v); goto done; }
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
            uint64_t j;
            if (!cli_parse_u64(v, &j) || j == 0 || j > 64) { fprintf(stderr, "voxaug augment: bad --jobs '%s' (1..64)\n", v); goto done; }
            J.jobs = (int)j;
        } else if (strcmp(a, "--shard") == 0) {
            uint64_t si = 0, sn = 0;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", v);
            char *slash = strchr(buf, '/');
            if (slash) *slash = '\0';
            if (strlen(v) >= sizeof buf || !slash || !cli_parse_u64(buf, &si) || !cli_parse_u64(slash + 1, &sn) ||
                sn == 0 || si >= sn) {
                fprintf(stderr, "voxaug augment: --shard takes I/N with 0 <= I < N, not '%s'\n", v);
                goto done;
            }
            J.shard = si;
            J.nshards = sn;
        } else if (a[0] == '-') {
            fprintf(stderr, "voxaug augment: unknown option '%s' (voxaug augment --help)\n", a);
            goto done;
        } else {
            char buf[8192];
            snprintf(buf, sizeof buf, "%s", a);
            char *colon = strchr(buf, ':');
            if (colon) *colon = '\0';
            if (add_item(&J.items, &J.nitems, &cap, buf, colon ? colon + 1 : NULL) != 0) goto done;
            takes = 0;
        }
        i += takes;
    }
    if (labels && !images) {
        fprintf(stderr, "voxaug augment: --labels goes with --images (voxaug augment --help)\n");
        goto done;
    }
    if (images && add_dir(&J.items, &J.nitems, &cap, images, labels) != 0) goto done;
    if (!spec || !J.outdir || J.nitems == 0) {
        fprintf(stderr, "voxaug augment: needs --ops, -o OUTDIR and at least one input (voxaug augment --help)\n");
        goto done;
    }
    if (same_stems(&J) != 0) goto done;
    char err[4096];
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(spec, &p, err, sizeof err) != VXA_OK) {
        fprintf(stderr, "voxaug augment: %s\n", err);
        goto done;
    }
    J.p = p;
    struct stat sb;
    if ((mkdir(J.outdir, 0777) != 0 && errno != EEXIST) || stat(J.outdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "voxaug augment: %s: %s\n", J.outdir, errno == EEXIST ? "not a folder" : strerror(errno));
        rc = 1;
        vxa_pipeline_free(p);
        goto done;
    }
    cli_clean_stale("augment", J.outdir); /* temporaries of dead runs; their interrupted commits finished */
    if (outputs_are_inputs(&J) != 0) {
        rc = 2;
        vxa_pipeline_free(p);
        goto done;
    }
    cli_signals_install();
    for (size_t i = 0; i < J.nitems; i++)
        if (i % J.nshards == J.shard) J.total += J.copies;
    /* The contexts are made here, one after the other: OpenCL's ICD loader may not be initialised from two
     * threads at once (ocl-icd then finds no platform, or crashes). A device that cannot be opened stops the
     * run before any item. */
    worker_arg wa[64] = { { NULL, NULL } };
    for (int t = 0; t < J.jobs; t++) {
        wa[t].J = &J;
        if (cli_context(J.device, &wa[t].ctx) != VXA_OK) {
            for (int u = 0; u < t; u++) vxa_context_destroy(wa[u].ctx);
            vxa_pipeline_free(p);
            rc = 1;
            goto done;
        }
    }
    pthread_mutex_init(&J.lock, NULL);
    J.t0 = now();
    pthread_t th[64];
    int started = 0;
    for (int t = 0; t < J.jobs; t++)
        if (pthread_create(&th[started], NULL, worker, &wa[t]) == 0) started++;
    if (started == 0) worker(&wa[0]);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < J.jobs; t++) vxa_context_destroy(wa[t].ctx);
    pthread_mutex_destroy(&J.lock);
    double el = now() - J.t0;
    if (!J.quiet && isatty(STDERR_FILENO)) fputc('\n', stderr);
    printf("%zu volumes written to %s in %.1f s (%.2f vol/s), %zu failed\n", J.done, J.outdir, el,
           el > 0 ? (double)J.done / el : 0.0, J.failed);
    rc = J.failed ? 1 : 0;
    if (cli_stopped()) {
        fprintf(stderr, "voxaug augment: stopped by %s: %zu of %zu copies complete in %s (each with its label map "
                "and sidecar), no partial copy left; run again to finish\n", cli_signal_name(cli_stopped()), J.done,
                J.total, J.outdir);
        rc = 128 + cli_stopped();
    }
    vxa_pipeline_free(p);
done:
    for (size_t i = 0; i < J.nitems; i++) {
        free(J.items[i].image);
        free(J.items[i].label);
    }
    free(J.items);
    return rc;
}
