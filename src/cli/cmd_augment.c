/* SPDX-License-Identifier: MIT */
/* voxaug augment: K augmented copies of each subject of a dataset (src/cli/dataset.h: the layouts, names and
 * keys), each copy's files committed together with a JSON sidecar of what was drawn, and a manifest of the run.
 * Copy c of a subject is sample vxa_item_sample(key, c) of the seed: the same whatever the other subjects, their
 * order, the shard, the number of jobs or the device. Compute threads (-j) hand finished copies to writer
 * threads (--writers), which compress, checksum and commit them while the device works on the next. A failed
 * subject is reported and the others go on; the exit status is 1 then. */
#define _DEFAULT_SOURCE /* strdup */
#include "cli.h"
#include "commit.h"
#include "dataset.h"
#include "manifest.h"
#include "subject.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 64

/* One copy's outputs, from a compute thread to a writer. */
typedef struct task {
    size_t subject;
    uint64_t copy;
    vxa_volume *image, *label; /* the pipeline's outputs (owned) */
    vxa_draw *draw;
    const cli_subject_data *layout; /* channel split; lives until the subject's last task is written */
    struct subject_state *state;
    struct task *next;
} task;

typedef struct subject_state {
    cli_subject_data data;
    int pending; /* tasks not yet written; the last writer frees data */
} subject_state;

typedef struct {
    ds_dataset ds;
    const vxa_pipeline *p;
    const char *ops, *outdir, *device, *tmpl, *manifest;
    uint64_t seed, copies, shard, nshards;
    int jobs, writers, quiet, verbose, resume, compress, dry_run;
    cli_encoding enc;
    pthread_mutex_t lock;
    pthread_cond_t can_push, can_pop;
    task *head, *tail;
    size_t queued, queue_max;
    int compute_done;
    size_t next, done, failed, skipped, total, subjects_run, subjects_skipped;
    unsigned char *complete; /* per (subject, copy) of the shard: 1 once committed or found complete */
    size_t signal_after;     /* VOXAUG_TEST_SIGNAL_AFTER=N:INT|KILL|TERM: raise it once N copies are committed */
    int signal_what;
    cli_progress prog;
} job;

static void augment_usage(FILE *f)
{
    fprintf(f,
        "usage: voxaug augment --ops SPEC -o OUTDIR [inputs] [options]\n\n"
        "inputs (a subject = one or more images, zero or more label maps, all on one grid):\n"
        "  IMG[;IMG...][:LAB[;LAB...]]  a subject on the command line ('dir/t1.nii.gz;dir/t2.nii.gz:dir/seg.nii.gz')\n"
        "  --list FILE          lines 'IMG[;IMG...][,LAB[;LAB...]]' (# comments); relative paths from FILE's folder\n"
        "  --images DIR [--labels DIR]   every .nii/.nii.gz in DIR; label maps matched by file name\n"
        "  --nnunet DIR         an nnU-Net v2 raw dataset: dataset.json, imagesTr/CASE_XXXX, labelsTr/CASE;\n"
        "                       writes an nnU-Net raw dataset (imagesTr, labelsTr, dataset.json) to OUTDIR\n"
        "  --bids DIR           a BIDS tree, recursive: the files of one folder with the same entities before the\n"
        "                       suffix are one subject, one modality per suffix\n"
        "  --modalities LIST    --bids: the suffixes to take, in channel order (T1w,FLAIR); default all\n"
        "  --bids-labels PAT    --bids: label maps, a glob relative to DIR with {dir} {prefix} {subject} {session}\n"
        "                       (default derivatives/*/{dir}/{prefix}_*dseg.nii*)\n"
        "options:\n"
        "  -n, --copies K       augmented copies per subject (default 1)\n"
        "  --seed N             the dataset's seed (default 0); copy c of a subject is sample\n"
        "                       vxa_item_sample(its first image relative to the dataset root, c)\n"
        "  --name TEMPLATE      output names: {subject} {session} {stem} {dir} {prefix} {copy} {modality}\n"
        "                       (default {stem}_aug{copy}; nnU-Net {subject}_aug{copy}; BIDS {prefix}_desc-aug{copy})\n"
        "  --shard I/N | auto   only subjects with index %% N == I (0-based); auto: from SLURM_ARRAY_TASK_ID and\n"
        "                       SLURM_ARRAY_TASK_COUNT (or SLURM_ARRAY_TASK_MIN/MAX)\n"
        "  --resume             skip copies whose files are all complete (their sidecar lists them with their sizes)\n"
        "  --manifest FILE      the run's manifest, JSON lines (default OUTDIR/manifest.jsonl, or\n"
        "                       OUTDIR/manifest.I-of-N.jsonl for a shard)\n"
        "  -j, --jobs J         compute threads, each with its own device context (default 1)\n"
        "  --writers W          threads compressing and writing while the device computes (default 1; 0: none)\n"
        "  --gzip-level L       1 (fastest, default) .. 9\n"
        "  --nii                uncompressed .nii outputs\n"
        "  --deflate LIB        libdeflate (default where built with it) or zlib\n"
        "  --device D           gpu, cpu, reference, an index or a name\n"
        "  --dry-run            read and compute every copy, write nothing (the pipeline's own rate)\n"
        "  --log-every N[,S]    without a terminal, a progress line every N volumes or S seconds (default 10,30)\n"
        "  -q, --quiet          no progress     -v, --verbose   a line per subject computed or skipped\n"
        "Each copy's files and sidecar are committed together (all or none). SIGINT/SIGTERM stop after the copies\n"
        "in hand (exit 130/143); a later run first finishes or removes what interrupted runs left in OUTDIR.\n");
}

#define MSG(...) fprintf(stderr, "voxaug augment: " __VA_ARGS__)

/* Paths (relative to OUTDIR) of copy c of subject s: images, label maps, then the sidecar. */
static int copy_paths(const job *J, const ds_subject *s, uint64_t c, char rel[][4096])
{
    int n = 0, rc = 0;
    for (int f = 0; f < s->nimg && rc == 0; f++, n++)
        rc = ds_output_path(&J->ds, s, J->tmpl, c, DS_OUT_IMAGE, f, J->compress, rel[n], 4096);
    for (int f = 0; f < s->nlab && rc == 0; f++, n++)
        rc = ds_output_path(&J->ds, s, J->tmpl, c, DS_OUT_LABEL, f, J->compress, rel[n], 4096);
    if (rc == 0) rc = ds_output_path(&J->ds, s, J->tmpl, c, DS_OUT_SIDECAR, 0, J->compress, rel[n], 4096);
    return rc == 0 ? n + 1 : -1;
}

/* OUTDIR/rel into path (8192 bytes); rel is at most 4095 characters, so it always fits. */
static void out_path(const job *J, const char *rel, char path[8192])
{
    const int n = snprintf(path, 8192, "%s/", J->outdir);
    if (n > 0 && n < 8192) snprintf(path + n, (size_t)(8192 - n), "%.4095s", rel);
}

static int in_shard(const job *J, size_t i) { return i % J->nshards == J->shard; }

static void head_of(const job *J, size_t i, uint64_t c, cli_buf *b)
{
    const ds_subject *s = &J->ds.s[i];
    mf_head(b, s, J->seed, c, vxa_item_sample(s->key, c), J->ops);
}

/* ---- writing one copy --------------------------------------------------------------------------------------- */
static vxa_status write_bytes(int fd, const cli_bytes *b, const char *name, char *err, size_t errlen)
{
    const unsigned char *p = b->data;
    size_t n = b->len;
    while (n > 0) {
        const ssize_t k = write(fd, p, n < (1u << 24) ? n : (1u << 24));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            snprintf(err, errlen, "%s: write failed: %s", name, k < 0 ? strerror(errno) : "no progress");
            return VXA_ERR_IO;
        }
        p += k;
        n -= (size_t)k;
    }
    return VXA_OK;
}

/* Encodes, checksums and commits one copy's files and its sidecar (last). */
static vxa_status write_copy(job *J, const task *t, char *err, size_t errlen)
{
    const ds_subject *s = &J->ds.s[t->subject];
    char rel[DS_MAX_FILES + 1][4096], path[8192];
    const int n = copy_paths(J, s, t->copy, rel);
    if (n < 0) {
        snprintf(err, errlen, "%s: output names too long", s->key);
        return VXA_ERR_INVALID_ARGUMENT;
    }
    cli_buf side = { 0 };
    head_of(J, t->subject, t->copy, &side);
    vxa_commit cm;
    vxa_commit_init(&cm);
    vxa_status st = VXA_OK;
    for (int f = 0; f < n - 1 && st == VXA_OK && !cli_stopped(); f++) {
        const int is_img = f < s->nimg, k = is_img ? f : f - s->nimg;
        vxa_volume view, *conv = NULL;
        if (is_img) view = cli_subject_image_out(t->layout, t->image, k);
        else if (cli_subject_label_out(t->layout, t->label, k, &view, &conv) != VXA_OK) {
            snprintf(err, errlen, "%s: out of memory", rel[f]);
            st = VXA_ERR_OUT_OF_MEMORY;
            break;
        }
        out_path(J, rel[f], path);
        cli_bytes b;
        st = cli_encode_nifti(path, &view, &J->enc, &b, err, errlen);
        vxa_volume_free(conv);
        if (st != VXA_OK) break;
        const int i = vxa_commit_add(&cm, path, err, errlen);
        st = i < 0 ? VXA_ERR_IO : write_bytes(cm.f[i].fd, &b, path, err, errlen);
        if (st == VXA_OK) st = vxa_commit_close(&cm, i, err, errlen);
        if (st == VXA_OK)
            mf_output(&side, f == 0, rel[f], is_img ? "image" : "label", is_img ? s->img[k].role : s->lab[k].role,
                      b.len, b.sha256);
        free(b.data);
    }
    mf_end(&side, vxa_draw_json(t->draw));
    if (st == VXA_OK && side.oom) {
        snprintf(err, errlen, "%s: out of memory", rel[n - 1]);
        st = VXA_ERR_OUT_OF_MEMORY;
    }
    if (st == VXA_OK && !cli_stopped()) {
        out_path(J, rel[n - 1], path);
        const int i = vxa_commit_add(&cm, path, err, errlen);
        st = i < 0 ? VXA_ERR_IO : vxa_commit_write_text(&cm, i, side.s, err, errlen);
    }
    if (st == VXA_OK && !cli_stopped()) st = vxa_commit_all(&cm, err, errlen);
    vxa_commit_abort(&cm);
    cli_buf_free(&side);
    return st;
}

static void task_free(job *J, task *t)
{
    vxa_volume_free(t->image);
    vxa_volume_free(t->label);
    vxa_draw_free(t->draw);
    pthread_mutex_lock(&J->lock);
    const int last = --t->state->pending == 0;
    pthread_mutex_unlock(&J->lock);
    if (last) {
        cli_subject_free(&t->state->data);
        free(t->state);
    }
    free(t);
}

static void finish_task(job *J, task *t)
{
    char err[8192] = "";
    const vxa_status st = cli_stopped() ? VXA_ERR_IO : J->dry_run ? VXA_OK : write_copy(J, t, err, sizeof err);
    pthread_mutex_lock(&J->lock);
    if (cli_stopped()) {
        /* not counted as failed: the summary says the run was stopped */
    } else if (st == VXA_OK) {
        J->done++;
        J->complete[t->subject * J->copies + t->copy] = !J->dry_run;
        if (J->signal_after && J->done == J->signal_after) raise(J->signal_what); /* the tests' interruption */
    } else {
        J->failed++;
        if (J->prog.drawn) fputc('\n', stderr);
        MSG("%s copy %llu: %s\n", J->ds.s[t->subject].key, (unsigned long long)t->copy, err);
    }
    cli_progress_update(&J->prog, J->done, J->failed, 0);
    pthread_mutex_unlock(&J->lock);
    task_free(J, t);
}

static void *writer(void *arg)
{
    job *J = arg;
    for (;;) {
        pthread_mutex_lock(&J->lock);
        while (!J->head && !J->compute_done) pthread_cond_wait(&J->can_pop, &J->lock);
        task *t = J->head;
        if (t) {
            J->head = t->next;
            if (!J->head) J->tail = NULL;
            J->queued--;
            pthread_cond_signal(&J->can_push);
        }
        pthread_mutex_unlock(&J->lock);
        if (!t) return NULL;
        finish_task(J, t);
    }
}

/* To a writer, or written here without writers. Waits while the queue is full (memory stays bounded). */
static void hand_over(job *J, task *t)
{
    if (J->writers == 0) {
        finish_task(J, t);
        return;
    }
    pthread_mutex_lock(&J->lock);
    while (J->queued >= J->queue_max) pthread_cond_wait(&J->can_push, &J->lock);
    t->next = NULL;
    if (J->tail) J->tail->next = t;
    else J->head = t;
    J->tail = t;
    J->queued++;
    pthread_cond_signal(&J->can_pop);
    pthread_mutex_unlock(&J->lock);
}

/* ---- computing -------------------------------------------------------------------------------------------- */
static void fail_subject(job *J, size_t idx, size_t copies, const char *err)
{
    pthread_mutex_lock(&J->lock);
    J->failed += copies;
    if (J->prog.drawn) fputc('\n', stderr);
    MSG("subject %s: %s\n", J->ds.s[idx].key, err);
    cli_progress_update(&J->prog, J->done, J->failed, 0);
    pthread_mutex_unlock(&J->lock);
}

static void do_subject(job *J, vxa_context *ctx, size_t idx)
{
    const ds_subject *s = &J->ds.s[idx];
    char err[8192] = "";
    size_t todo = 0;
    for (uint64_t c = 0; c < J->copies; c++) todo += !J->complete[idx * J->copies + c];
    pthread_mutex_lock(&J->lock);
    if (todo == 0) J->subjects_skipped++;
    else J->subjects_run++;
    if (J->verbose) MSG("%s %s\n", todo ? "computing" : "complete, skipped:", s->key);
    pthread_mutex_unlock(&J->lock);
    if (todo == 0) return;
    subject_state *state = calloc(1, sizeof *state);
    if (!state) {
        fail_subject(J, idx, todo, "out of memory");
        return;
    }
    if (cli_subject_load(s, &state->data, err, sizeof err) != VXA_OK) {
        fail_subject(J, idx, todo, err);
        free(state);
        return;
    }
    state->pending = 1; /* this thread's hold, dropped below */
    for (uint64_t c = 0; c < J->copies && !cli_stopped(); c++) {
        if (J->complete[idx * J->copies + c]) continue;
        task *t = calloc(1, sizeof *t);
        if (!t) {
            fail_subject(J, idx, 1, "out of memory");
            continue;
        }
        t->subject = idx;
        t->copy = c;
        t->layout = &state->data;
        t->state = state;
        const vxa_status st = vxa_pipeline_run(ctx, J->p, J->seed, vxa_item_sample(s->key, c), state->data.image,
                                               state->data.label, &t->image, state->data.label ? &t->label : NULL,
                                               &t->draw);
        pthread_mutex_lock(&J->lock);
        state->pending++;
        pthread_mutex_unlock(&J->lock);
        if (st != VXA_OK) {
            snprintf(err, sizeof err, "copy %llu: %s", (unsigned long long)c, vxa_last_error(ctx));
            fail_subject(J, idx, 1, err);
            task_free(J, t);
            continue;
        }
        hand_over(J, t);
    }
    pthread_mutex_lock(&J->lock);
    const int last = --state->pending == 0;
    pthread_mutex_unlock(&J->lock);
    if (last) {
        cli_subject_free(&state->data);
        free(state);
    }
}

typedef struct { job *J; vxa_context *ctx; } worker_arg;

static void *worker(void *arg)
{
    job *J = ((worker_arg *)arg)->J;
    vxa_context *ctx = ((worker_arg *)arg)->ctx;
    for (;;) {
        pthread_mutex_lock(&J->lock);
        size_t idx = J->next;
        while (idx < J->ds.n && !in_shard(J, idx)) idx++;
        J->next = idx + 1;
        pthread_mutex_unlock(&J->lock);
        if (idx >= J->ds.n || cli_stopped()) break;
        do_subject(J, ctx, idx);
    }
    return NULL;
}

/* ---- checks before any work ------------------------------------------------------------------------------- */
typedef struct { char *rel; size_t subject; } named;

static int cmp_named(const void *a, const void *b) { return strcmp(((const named *)a)->rel, ((const named *)b)->rel); }

/* Two outputs with one name (two subjects whose files have the same stem, a template without a distinguishing
 * field) would overwrite each other: refused, naming both subjects. Over the whole dataset, not just the shard,
 * so that the shards of one dataset cannot collide either. */
static int check_names(const job *J)
{
    size_t cap = 0, n = 0;
    for (size_t i = 0; i < J->ds.n; i++) cap += (size_t)(J->ds.s[i].nimg + J->ds.s[i].nlab + 1) * J->copies;
    named *all = calloc(cap ? cap : 1, sizeof *all);
    int rc = all ? 0 : -1;
    char rel[DS_MAX_FILES + 1][4096];
    for (size_t i = 0; i < J->ds.n && rc == 0; i++)
        for (uint64_t c = 0; c < J->copies && rc == 0; c++) {
            const int k = copy_paths(J, &J->ds.s[i], c, rel);
            if (k < 0) {
                MSG("subject %s: output names longer than 4095 characters\n", J->ds.s[i].key);
                rc = -1;
            }
            for (int f = 0; f < k && rc == 0; f++) {
                all[n].subject = i;
                if (!(all[n++].rel = strdup(rel[f]))) rc = -1;
            }
        }
    if (rc == 0) qsort(all, n, sizeof *all, cmp_named);
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(all[i - 1].rel, all[i].rel) == 0) {
            const size_t a = all[i - 1].subject, b = all[i].subject;
            if (a == b) MSG("subject %s: two of its files would be written as %s: name them apart (--name with {modality})\n",
                            J->ds.s[a].key, all[i].rel);
            else MSG("subjects %s and %s would both write %s: rename one, or use --name with a field that tells "
                     "them apart ({subject}, {dir})\n", J->ds.s[a].key, J->ds.s[b].key, all[i].rel);
            rc = -1;
        }
    for (size_t i = 0; i < n; i++) free(all[i].rel);
    free(all);
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
 * inode): `-o data` with a subject named like another's output, a link, a hard link. */
static int outputs_are_inputs(const job *J)
{
    size_t cap = 0, nk = 0;
    for (size_t i = 0; i < J->ds.n; i++) cap += (size_t)(J->ds.s[i].nimg + J->ds.s[i].nlab);
    file_key *keys = malloc((cap ? cap : 1) * sizeof *keys);
    if (!keys) return -1;
    struct stat sb;
    for (size_t i = 0; i < J->ds.n; i++) {
        const ds_subject *s = &J->ds.s[i];
        for (int f = 0; f < s->nimg + s->nlab; f++)
            if (stat(f < s->nimg ? s->img[f].path : s->lab[f - s->nimg].path, &sb) == 0)
                keys[nk++] = (file_key){ sb.st_dev, sb.st_ino };
    }
    qsort(keys, nk, sizeof *keys, cmp_key);
    char rel[DS_MAX_FILES + 1][4096], path[8192];
    int rc = 0;
    for (size_t i = 0; i < J->ds.n && rc == 0; i++) {
        if (!in_shard(J, i)) continue;
        for (uint64_t c = 0; c < J->copies && rc == 0; c++) {
            const int k = copy_paths(J, &J->ds.s[i], c, rel);
            for (int f = 0; f < k && rc == 0; f++) {
                out_path(J, rel[f], path);
                if (stat(path, &sb) != 0) continue;
                const file_key key = { sb.st_dev, sb.st_ino };
                if (!bsearch(&key, keys, nk, sizeof *keys, cmp_key)) continue;
                MSG("output %s is an input of this run (the same file): it would be replaced; choose another -o\n", path);
                rc = -1;
            }
        }
    }
    free(keys);
    return rc;
}

/* mkdir -p of path's folders below outdir (which exists). */
static int make_parents(const char *outdir, const char *rel)
{
    char path[8192];
    const int n = snprintf(path, sizeof path, "%s/%s", outdir, rel);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    for (char *p = path + strlen(outdir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            MSG("%s: %s\n", path, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* The output folders of the shard: made, and cleaned of what dead runs left (their interrupted commits
 * finished, their temporaries removed). Each folder once (the previous path's folder is remembered). */
static int prepare_folders(const job *J)
{
    char rel[DS_MAX_FILES + 1][4096], last[4096] = "", dir[8192];
    cli_clean_stale("augment", J->outdir);
    for (size_t i = 0; i < J->ds.n; i++) {
        if (!in_shard(J, i)) continue;
        for (uint64_t c = 0; c < J->copies; c++) {
            const int k = copy_paths(J, &J->ds.s[i], c, rel);
            for (int f = 0; f < k; f++) {
                const char *slash = strrchr(rel[f], '/');
                if (!slash) continue;
                const int len = (int)(slash - rel[f]);
                if ((int)strlen(last) == len && strncmp(last, rel[f], (size_t)len) == 0) continue;
                snprintf(last, sizeof last, "%.*s", len, rel[f]);
                if (make_parents(J->outdir, rel[f]) != 0) return -1;
                snprintf(dir, sizeof dir, "%s/%s", J->outdir, last);
                cli_clean_stale("augment", dir);
            }
        }
    }
    return 0;
}

/* --shard auto: I and N from a Slurm job array. */
static int shard_from_slurm(uint64_t *si, uint64_t *sn)
{
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    const char *lo = getenv("SLURM_ARRAY_TASK_MIN"), *hi = getenv("SLURM_ARRAY_TASK_MAX");
    uint64_t i, n, a = 0, b;
    if (!id || !cli_parse_u64(id, &i)) {
        MSG("--shard auto: SLURM_ARRAY_TASK_ID is not set (not a Slurm job array task?)\n");
        return -1;
    }
    if (lo && !cli_parse_u64(lo, &a)) lo = NULL;
    if (!lo) a = 0;
    if (count && cli_parse_u64(count, &n) && n > 0) {
        /* an array 0-3 or 1-4: the task's place from the minimum */
    } else if (hi && cli_parse_u64(hi, &b) && b >= a) {
        n = b - a + 1;
    } else {
        MSG("--shard auto: neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is set\n");
        return -1;
    }
    if (i < a || i - a >= n) {
        MSG("--shard auto: task %llu is outside the array's %llu tasks from %llu (a stepped array, --array=0-9:2, "
            "is not supported: use 0-N)\n", (unsigned long long)i, (unsigned long long)n, (unsigned long long)a);
        return -1;
    }
    *si = i - a;
    *sn = n;
    return 0;
}

/* nnU-Net: the input's dataset.json with numTraining (every subject's copies, over all shards) and file_ending
 * set; every other field (channel_names, labels, ...) as it was. */
static int write_dataset_json(const job *J)
{
    const char *text = J->ds.nnunet_json;
    cli_buf b = { 0 };
    const char *num = cli_json_find(text, "numTraining"), *fe = cli_json_find(text, "file_ending");
    const char *num_end = num ? cli_json_skip(num) : NULL, *fe_end = fe ? cli_json_skip(fe) : NULL;
    char numtxt[32], fetxt[16];
    snprintf(numtxt, sizeof numtxt, "%llu", (unsigned long long)(J->ds.n * J->copies));
    snprintf(fetxt, sizeof fetxt, "\"%s\"", J->compress ? ".nii.gz" : ".nii");
    /* replace the two values in place, in text order */
    const char *edits[2][3] = { { num, num_end, numtxt }, { fe, fe_end, fetxt } };
    if (fe && num && fe < num) {
        const char *t[3] = { edits[0][0], edits[0][1], edits[0][2] };
        for (int k = 0; k < 3; k++) { edits[0][k] = edits[1][k]; edits[1][k] = t[k]; }
    }
    const char *p = text;
    for (int e = 0; e < 2; e++) {
        if (!edits[e][0] || !edits[e][1]) continue;
        cli_buf_put(&b, p, (size_t)(edits[e][0] - p));
        cli_buf_puts(&b, edits[e][2]);
        p = edits[e][1];
    }
    const char *close = strrchr(p, '}');
    if (!close) return -1;
    cli_buf_put(&b, p, (size_t)(close - p));
    if (!num || !num_end) cli_buf_printf(&b, ",\n    \"numTraining\": %s", numtxt);
    if (!fe || !fe_end) cli_buf_printf(&b, ",\n    \"file_ending\": %s", fetxt);
    cli_buf_puts(&b, close);
    while (b.n > 0 && (b.s[b.n - 1] == '\n' || b.s[b.n - 1] == ' ')) b.s[--b.n] = '\0';
    char path[8192], err[1024];
    snprintf(path, sizeof path, "%s/dataset.json", J->outdir);
    const int rc = b.oom ? -1 : cli_write_text(path, b.s, err, sizeof err);
    if (rc != 0) MSG("%s\n", b.oom ? "out of memory" : err);
    cli_buf_free(&b);
    return rc;
}

/* BIDS: the augmented tree is a dataset of its own (the input's dataset_description.json), and its label maps
 * and sidecars a derivative of it (derivatives/voxaug/dataset_description.json, BIDS 1.8's GeneratedBy). */
static int write_bids_descriptions(const job *J)
{
    char path[8192], err[1024];
    int rc = 0;
    if (J->ds.bids_description) {
        snprintf(path, sizeof path, "%s/dataset_description.json", J->outdir);
        rc = cli_write_text(path, J->ds.bids_description, err, sizeof err);
    }
    cli_buf b = { 0 };
    cli_buf_printf(&b, "{\"Name\": \"voxaug augment\", \"BIDSVersion\": \"1.8.0\", \"DatasetType\": \"derivative\", "
                       "\"GeneratedBy\": [{\"Name\": \"voxaug\", \"Version\": \"%s\", \"Description\": ",
                   vxa_version_string());
    cli_buf_json_string(&b, J->ops);
    cli_buf_puts(&b, "}]}");
    snprintf(path, sizeof path, "%s/derivatives/voxaug/dataset_description.json", J->outdir);
    if (rc == 0 && (b.oom || make_parents(J->outdir, "derivatives/voxaug/x") != 0 || cli_write_text(path, b.s, err, sizeof err) != 0))
        rc = -1;
    if (rc != 0) MSG("%s\n", b.oom ? "out of memory" : err);
    cli_buf_free(&b);
    return rc;
}

/* The manifest of this run (this shard): the lines of every complete copy's sidecar, sorted. */
static int write_manifest(const job *J)
{
    cli_buf lines = { 0 }, head = { 0 };
    char rel[DS_MAX_FILES + 1][4096], path[8192], err[1024];
    for (size_t i = 0; i < J->ds.n; i++) {
        if (!in_shard(J, i)) continue;
        for (uint64_t c = 0; c < J->copies; c++) {
            if (!J->complete[i * J->copies + c]) continue;
            const int k = copy_paths(J, &J->ds.s[i], c, rel);
            head.n = 0;
            head_of(J, i, c, &head);
            if (k < 0 || head.oom || mf_lines(J->outdir, rel[k - 1], head.s, &lines) != 0)
                MSG("%s/%s: not readable as this run's sidecar; left out of the manifest\n", J->outdir, rel[k - 1]);
        }
    }
    mf_sort_lines(&lines);
    if (J->manifest) snprintf(path, sizeof path, "%s", J->manifest);
    else if (J->nshards > 1)
        snprintf(path, sizeof path, "%s/manifest.%llu-of-%llu.jsonl", J->outdir, (unsigned long long)J->shard,
                 (unsigned long long)J->nshards);
    else snprintf(path, sizeof path, "%s/manifest.jsonl", J->outdir);
    int rc = -1;
    if (!lines.oom) {
        vxa_commit cm;
        vxa_commit_init(&cm);
        const int i = vxa_commit_add(&cm, path, err, sizeof err);
        cli_bytes b = { (unsigned char *)lines.s, lines.n, "" };
        if (i >= 0 && write_bytes(cm.f[i].fd, &b, path, err, sizeof err) == VXA_OK &&
            vxa_commit_close(&cm, i, err, sizeof err) == VXA_OK && vxa_commit_all(&cm, err, sizeof err) == VXA_OK)
            rc = 0;
        vxa_commit_abort(&cm);
        if (rc != 0) MSG("%s\n", err);
    }
    cli_buf_free(&lines);
    cli_buf_free(&head);
    return rc;
}

/* ---- options ---------------------------------------------------------------------------------------------- */
enum { OPT_OPS = 256, OPT_SEED, OPT_SHARD, OPT_DEVICE, OPT_LIST, OPT_IMAGES, OPT_LABELS, OPT_NNUNET, OPT_BIDS,
       OPT_MODALITIES, OPT_BIDS_LABELS, OPT_NAME, OPT_RESUME, OPT_MANIFEST, OPT_WRITERS, OPT_GZIP_LEVEL, OPT_NII,
       OPT_DEFLATE, OPT_LOG_EVERY, OPT_DRY_RUN };

static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },        { "quiet", no_argument, NULL, 'q' },
    { "verbose", no_argument, NULL, 'v' },     { "out", required_argument, NULL, 'o' },
    { "copies", required_argument, NULL, 'n' }, { "jobs", required_argument, NULL, 'j' },
    { "ops", required_argument, NULL, OPT_OPS }, { "seed", required_argument, NULL, OPT_SEED },
    { "shard", required_argument, NULL, OPT_SHARD }, { "device", required_argument, NULL, OPT_DEVICE },
    { "list", required_argument, NULL, OPT_LIST }, { "images", required_argument, NULL, OPT_IMAGES },
    { "labels", required_argument, NULL, OPT_LABELS }, { "nnunet", required_argument, NULL, OPT_NNUNET },
    { "bids", required_argument, NULL, OPT_BIDS }, { "modalities", required_argument, NULL, OPT_MODALITIES },
    { "bids-labels", required_argument, NULL, OPT_BIDS_LABELS }, { "name", required_argument, NULL, OPT_NAME },
    { "resume", no_argument, NULL, OPT_RESUME }, { "manifest", required_argument, NULL, OPT_MANIFEST },
    { "writers", required_argument, NULL, OPT_WRITERS }, { "gzip-level", required_argument, NULL, OPT_GZIP_LEVEL },
    { "nii", no_argument, NULL, OPT_NII }, { "deflate", required_argument, NULL, OPT_DEFLATE },
    { "log-every", required_argument, NULL, OPT_LOG_EVERY }, { "dry-run", no_argument, NULL, OPT_DRY_RUN },
    { NULL, 0, NULL, 0 },
};

static int parse_shard(const char *v, uint64_t *si, uint64_t *sn)
{
    if (strcmp(v, "auto") == 0) return shard_from_slurm(si, sn);
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    char *slash = strchr(buf, '/');
    if (slash) *slash = '\0';
    if (strlen(v) >= sizeof buf || !slash || !cli_parse_u64(buf, si) || !cli_parse_u64(slash + 1, sn) || *sn == 0 ||
        *si >= *sn) {
        MSG("--shard takes I/N with 0 <= I < N, or auto, not '%s'\n", v);
        return -1;
    }
    return 0;
}

static int parse_count(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!cli_parse_u64(v, out) || *out < lo || *out > hi) {
        MSG("bad %s '%s' (%llu..%llu)\n", opt, v, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    return 0;
}

int cmd_augment(int argc, char **argv)
{
    job J = { .copies = 1, .nshards = 1, .jobs = 1, .writers = 1, .compress = 1, .enc = { 1, 0 } };
    const char *images = NULL, *labels = NULL, *nnunet = NULL, *bids = NULL;
    uint64_t log_items = 10, log_s = 30, v64;
    int rc = 2, other_inputs = 0;
    opterr = 0;
    optind = 1; /* argv[0] is "augment" */
    for (;;) {
        /* inputs given as arguments keep their place among the options ('+': getopt stops at each one) */
        if (optind < argc && (argv[optind][0] != '-' || argv[optind][1] == '\0')) {
            if (ds_add_arg(&J.ds, argv[optind++]) != 0) goto done;
            other_inputs = 1;
            continue;
        }
        const int o = optind < argc ? getopt_long(argc, argv, "+:hqvo:n:j:", long_options, NULL) : -1;
        if (o == -1) break; /* the end, or "--": what follows is inputs */
        switch (o) {
        case 'h': augment_usage(stdout); rc = 0; goto done;
        case 'q': J.quiet = 1; break;
        case 'v': J.verbose = 1; break;
        case 'o': J.outdir = optarg; break;
        case 'n': if (parse_count("-n", optarg, 1, UINT32_MAX, &J.copies) != 0) goto done; break;
        case 'j': if (parse_count("--jobs", optarg, 1, MAX_THREADS, &v64) != 0) goto done; J.jobs = (int)v64; break;
        case OPT_OPS: J.ops = optarg; break;
        case OPT_SEED:
            if (!cli_parse_u64(optarg, &J.seed)) { MSG("bad --seed '%s'\n", optarg); goto done; }
            break;
        case OPT_SHARD: if (parse_shard(optarg, &J.shard, &J.nshards) != 0) goto done; break;
        case OPT_DEVICE: J.device = optarg; break;
        case OPT_LIST: if (ds_add_list(&J.ds, optarg) != 0) goto done; other_inputs = 1; break;
        case OPT_IMAGES: images = optarg; break;
        case OPT_LABELS: labels = optarg; break;
        case OPT_NNUNET: nnunet = optarg; break;
        case OPT_BIDS: bids = optarg; break;
        case OPT_MODALITIES: J.ds.bids_modalities = optarg; break;
        case OPT_BIDS_LABELS: J.ds.bids_labels = optarg; break;
        case OPT_NAME: J.tmpl = optarg; break;
        case OPT_RESUME: J.resume = 1; break;
        case OPT_MANIFEST: J.manifest = optarg; break;
        case OPT_WRITERS: if (parse_count("--writers", optarg, 0, MAX_THREADS, &v64) != 0) goto done; J.writers = (int)v64; break;
        case OPT_GZIP_LEVEL: if (parse_count("--gzip-level", optarg, 1, 9, &v64) != 0) goto done; J.enc.level = (int)v64; break;
        case OPT_NII: J.compress = 0; break;
        case OPT_DRY_RUN: J.dry_run = 1; break;
        case OPT_DEFLATE:
            if (strcmp(optarg, "zlib") == 0) J.enc.zlib = 1;
            else if (strcmp(optarg, "libdeflate") == 0 && cli_have_libdeflate()) J.enc.zlib = 0;
            else {
                MSG("--deflate takes zlib%s, not '%s'\n", cli_have_libdeflate() ? " or libdeflate" : " (this build has no libdeflate)", optarg);
                goto done;
            }
            break;
        case OPT_LOG_EVERY: {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", optarg);
            char *comma = strchr(buf, ',');
            if (comma) *comma = '\0';
            if (!cli_parse_u64(buf, &log_items) || log_items == 0 || (comma && (!cli_parse_u64(comma + 1, &log_s) || log_s == 0))) {
                MSG("--log-every takes N or N,S (volumes, seconds; both > 0), not '%s'\n", optarg);
                goto done;
            }
            break;
        }
        case ':': MSG("%s needs a value (voxaug augment --help)\n", argv[optind - 1]); goto done;
        default:
            MSG("unknown option '%s' (voxaug augment --help)\n", argv[optind - 1]);
            goto done;
        }
    }
    for (; optind < argc; optind++) {
        if (ds_add_arg(&J.ds, argv[optind]) != 0) goto done;
        other_inputs = 1;
    }
    if (!cli_have_libdeflate()) J.enc.zlib = 1;
    if (labels && !images) { MSG("--labels goes with --images (voxaug augment --help)\n"); goto done; }
    if ((J.ds.bids_modalities || J.ds.bids_labels) && !bids) { MSG("--modalities and --bids-labels go with --bids\n"); goto done; }
    if (images) { if (ds_add_images(&J.ds, images, labels) != 0) goto done; other_inputs = 1; }
    if ((nnunet || bids) && (other_inputs || (nnunet && bids))) {
        MSG("--%s is a whole dataset: it cannot be mixed with other inputs (its output layout is its own)\n",
            nnunet ? "nnunet" : "bids");
        goto done;
    }
    if (nnunet) { J.ds.layout = DS_NNUNET; if (ds_add_nnunet(&J.ds, nnunet) != 0) goto done; }
    if (bids) { J.ds.layout = DS_BIDS; if (ds_add_bids(&J.ds, bids) != 0) goto done; }
    if (!J.ops || !J.outdir || J.ds.n == 0) {
        MSG("%s (voxaug augment --help)\n", !J.ops ? "needs --ops SPEC" : !J.outdir ? "needs -o OUTDIR"
            : "no subjects: give IMAGE[:LABEL] arguments, --list, --images, --nnunet or --bids");
        goto done;
    }
    if (J.ds.layout == DS_NNUNET && J.tmpl && !strstr(J.tmpl, "{subject}"))
        MSG("warning: --name '%s' has no {subject}: nnU-Net case names must differ between subjects\n", J.tmpl);
    if (ds_check_template(&J.ds, J.tmpl) != 0 || check_names(&J) != 0) goto done;
    char err[4096];
    vxa_pipeline *p = NULL;
    if (vxa_pipeline_parse(J.ops, &p, err, sizeof err) != VXA_OK) {
        MSG("%s\n", err);
        goto done;
    }
    J.p = p;
    struct stat sb;
    if ((mkdir(J.outdir, 0777) != 0 && errno != EEXIST) || stat(J.outdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        MSG("%s: %s\n", J.outdir, errno == EEXIST ? "not a folder" : strerror(errno));
        rc = 1;
        vxa_pipeline_free(p);
        goto done;
    }
    if (outputs_are_inputs(&J) != 0) {
        vxa_pipeline_free(p);
        goto done;
    }
    rc = 1;
    J.complete = calloc(J.ds.n * J.copies, 1);
    if (!J.complete || prepare_folders(&J) != 0) {
        vxa_pipeline_free(p);
        goto done;
    }
    /* --resume: what is complete already (its sidecar says so, with every file in place) */
    size_t resumed = 0;
    char rel[DS_MAX_FILES + 1][4096];
    const char *rels[DS_MAX_FILES + 1];
    cli_buf head = { 0 };
    for (size_t i = 0; i < J.ds.n; i++) {
        if (!in_shard(&J, i)) continue;
        J.total += J.copies;
        for (uint64_t c = 0; c < J.copies && J.resume; c++) {
            const int k = copy_paths(&J, &J.ds.s[i], c, rel);
            for (int f = 0; f < k; f++) rels[f] = rel[f];
            head.n = 0;
            head_of(&J, i, c, &head);
            if (k > 0 && !head.oom && mf_complete(J.outdir, rel[k - 1], head.s, rels, k - 1)) {
                J.complete[i * J.copies + c] = 1;
                resumed++;
            }
        }
    }
    cli_buf_free(&head);
    cli_signals_install();
    const char *hook = getenv("VOXAUG_TEST_SIGNAL_AFTER"); /* tests only: an interruption at an exact point */
    if (hook) {
        char *colon = NULL;
        J.signal_after = (size_t)strtoull(hook, &colon, 10);
        J.signal_what = colon && strcmp(colon, ":KILL") == 0 ? SIGKILL : colon && strcmp(colon, ":TERM") == 0 ? SIGTERM : SIGINT;
    }
    /* The contexts are made here, one after the other: OpenCL's ICD loader may not be initialised from two
     * threads at once (ocl-icd then finds no platform, or crashes). A device that cannot be opened stops the
     * run before any subject. */
    worker_arg wa[MAX_THREADS] = { { NULL, NULL } };
    for (int t = 0; t < J.jobs; t++) {
        wa[t].J = &J;
        if (cli_context(J.device, &wa[t].ctx) != VXA_OK) {
            for (int u = 0; u < t; u++) vxa_context_destroy(wa[u].ctx);
            vxa_pipeline_free(p);
            goto done;
        }
    }
    pthread_mutex_init(&J.lock, NULL);
    pthread_cond_init(&J.can_push, NULL);
    pthread_cond_init(&J.can_pop, NULL);
    J.queue_max = (size_t)(J.writers > 0 ? J.writers : 1) + 1; /* a copy waiting per writer, and one more */
    cli_progress_init(&J.prog, J.total - resumed, J.quiet, (size_t)log_items, (double)log_s);
    pthread_t wth[MAX_THREADS], cth[MAX_THREADS];
    int writers = 0, started = 0;
    for (int t = 0; t < J.writers; t++)
        if (pthread_create(&wth[writers], NULL, writer, &J) == 0) writers++;
    if (writers == 0) J.writers = 0; /* none could start: the compute threads write */
    for (int t = 0; t < J.jobs; t++)
        if (pthread_create(&cth[started], NULL, worker, &wa[t]) == 0) started++;
    if (started == 0) worker(&wa[0]);
    for (int t = 0; t < started; t++) pthread_join(cth[t], NULL);
    pthread_mutex_lock(&J.lock);
    J.compute_done = 1;
    pthread_cond_broadcast(&J.can_pop);
    pthread_mutex_unlock(&J.lock);
    for (int t = 0; t < writers; t++) pthread_join(wth[t], NULL);
    for (int t = 0; t < J.jobs; t++) vxa_context_destroy(wa[t].ctx);
    cli_progress_update(&J.prog, J.done, J.failed, 1);
    const double el = cli_now() - J.prog.t0;
    printf("%zu volumes written to %s in %.1f s (%.2f vol/s), %zu failed; subjects: %zu computed, %zu complete "
           "already\n", J.done, J.outdir, el, el > 0 ? (double)J.done / el : 0.0, J.failed, J.subjects_run,
           J.subjects_skipped);
    rc = J.failed ? 1 : 0;
    if (cli_stopped()) {
        MSG("stopped by %s: %zu of %zu copies complete in %s (each with its label maps and sidecar), no partial "
            "copy left; run again with --resume to finish\n", cli_signal_name(cli_stopped()), J.done + resumed,
            J.total, J.outdir);
        rc = 128 + cli_stopped();
    } else if (!J.dry_run) {
        if (write_manifest(&J) != 0) rc = 1;
        if (J.ds.layout == DS_NNUNET && write_dataset_json(&J) != 0) rc = 1;
        if (J.ds.layout == DS_BIDS && write_bids_descriptions(&J) != 0) rc = 1;
    }
    pthread_cond_destroy(&J.can_push);
    pthread_cond_destroy(&J.can_pop);
    pthread_mutex_destroy(&J.lock);
    vxa_pipeline_free(p);
done:
    free(J.complete);
    ds_free(&J.ds);
    return rc;
}
