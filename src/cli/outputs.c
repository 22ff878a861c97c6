/* SPDX-License-Identifier: MIT */
/* What every command that writes files shares, on top of the commit protocol (src/commit.h): refusing outputs
 * that are the same file as an input or as each other, stopping at SIGINT/SIGTERM, and cleaning up what dead
 * runs left in an output folder. */
#define _DEFAULT_SOURCE /* realpath */
#include "cli.h"
#include "commit.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- signals -------------------------------------------------------------------------------------------- */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; } /* async-signal-safe: a flag, read between steps */

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second signal takes the default action: a stuck run can still be stopped */
    for (int i = 0; i < 2; i++) {
        const int sig = i == 0 ? SIGINT : SIGTERM;
        struct sigaction old;
        /* one ignored at start stays ignored (nohup, a shell's background job without job control) */
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sig, &sa, NULL);
    }
}

int cli_stopped(void) { return stop_signal; }

const char *cli_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

/* ---- file identity -------------------------------------------------------------------------------------- */
typedef struct {
    int exists;
    dev_t dev;
    ino_t ino;
    char *resolved; /* realpath of the folder + "/" + name, for a file that does not exist yet */
} file_id;

/* The identity of path: (device, inode) if it exists (through symbolic links, so a link to an input counts as
 * that input), else its folder resolved + its name. -1 if neither can be had (the folder does not exist: the
 * write fails later with a message naming it). */
static int identify(const char *path, file_id *id)
{
    struct stat sb;
    memset(id, 0, sizeof *id);
    if (stat(path, &sb) == 0) {
        id->exists = 1;
        id->dev = sb.st_dev;
        id->ino = sb.st_ino;
        return 0;
    }
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    char *real = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!real) return -1;
    const char *base = slash ? slash + 1 : path;
    id->resolved = malloc(strlen(real) + strlen(base) + 2);
    if (id->resolved) sprintf(id->resolved, "%s/%s", real, base);
    free(real);
    return id->resolved ? 0 : -1;
}

static int same_id(const file_id *a, const file_id *b)
{
    if (a->exists != b->exists) return 0;
    if (a->exists) return a->dev == b->dev && a->ino == b->ino;
    return a->resolved && b->resolved && strcmp(a->resolved, b->resolved) == 0;
}

int cli_check_distinct(const char *cmd, const cli_path *paths, int n)
{
    file_id ids[16];
    int ok[16], rc = 0;
    if (n > 16) n = 16;
    for (int i = 0; i < n; i++) ok[i] = paths[i].path && identify(paths[i].path, &ids[i]) == 0;
    for (int i = 0; i < n && rc == 0; i++)
        for (int k = i + 1; k < n && rc == 0; k++) {
            if (!ok[i] || !ok[k] || (!paths[i].output && !paths[k].output)) continue;
            if (!same_id(&ids[i], &ids[k])) continue;
            fprintf(stderr, "voxaug %s: %s '%s' and %s '%s' are the same file: %s\n", cmd, paths[i].role,
                    paths[i].path, paths[k].role, paths[k].path,
                    paths[i].output && paths[k].output ? "one output would replace the other"
                                                       : "the output would replace the input");
            rc = -1;
        }
    for (int i = 0; i < n; i++)
        if (ok[i]) free(ids[i].resolved);
    return rc;
}

int cli_same_existing(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- stale files ---------------------------------------------------------------------------------------- */
void cli_clean_stale(const char *cmd, const char *dir)
{
    char err[512];
    const int n = vxa_commit_clean_stale(dir, err, sizeof err);
    if (n > 0)
        fprintf(stderr, "voxaug %s: %s: finished or removed %d file%s left by interrupted voxaug runs\n", cmd, dir,
                n, n == 1 ? "" : "s");
}

void cli_clean_stale_of(const char *cmd, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (dir) cli_clean_stale(cmd, dir);
    free(dir);
}
