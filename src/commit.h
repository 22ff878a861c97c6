/* SPDX-License-Identifier: MIT */
/* The one way voxaug puts files on disk: a set of outputs committed as a whole (src/commit.c).
 *
 *   vxa_commit c;  vxa_commit_init(&c);
 *   int i = vxa_commit_add(&c, "out/a.nii.gz", err, errlen);      temporary created in out/, its fd in c.f[i].fd
 *   ... write through c.f[i].fd (vxa_nifti_write_fd, vxa_commit_write_text) ...
 *   vxa_commit_close(&c, i, err, errlen);                         fsync + close
 *   vxa_commit_all(&c, err, errlen)  or  vxa_commit_abort(&c)
 *
 * Temporaries are `.vxa-<pid>-<counter>-<hash>.tmp` next to their target (at most 42 characters, whatever the
 * target's length), created O_CREAT|O_EXCL|O_NOFOLLOW. Until vxa_commit_all renames the first of them, no
 * existing file has changed; vxa_commit_abort (or a failure) removes them. vxa_commit_all renames them in the
 * order they were added, then fsyncs their folders. Where a set of two or more lives in one folder, a journal
 * `.vxa-<pid>-<counter>-<hash>.jnl` listing (temporary, target) pairs is written and fsynced before the first
 * rename and removed after the last: a process killed between two renames leaves the journal, and the next
 * vxa_commit_clean_stale on that folder finishes the renames (roll forward), so a set is never left half old,
 * half new once the folder has been cleaned. Messages name the targets, never the temporaries. */
#ifndef VXA_COMMIT_H
#define VXA_COMMIT_H

#include "voxaug.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VXA_COMMIT_MAX 8

typedef struct {
    char *target;      /* as the caller named it */
    char *dir;         /* its folder ("." for a bare name) */
    char *tmp;         /* dir/.vxa-...tmp */
    const char *base;  /* the target's last component, inside target */
    int fd;            /* open until vxa_commit_close */
    dev_t dir_dev;
    ino_t dir_ino;
} vxa_commit_file;

typedef struct {
    vxa_commit_file f[VXA_COMMIT_MAX];
    int n;
} vxa_commit;

void vxa_commit_init(vxa_commit *c);
/* Creates target's temporary; its index in c->f, or -1 with the detail (naming target) in err. */
int vxa_commit_add(vxa_commit *c, const char *target, char *err, size_t errlen);
/* fsync and close of file i's temporary. */
vxa_status vxa_commit_close(vxa_commit *c, int i, char *err, size_t errlen);
/* Writes text and a newline to file i and closes it. */
vxa_status vxa_commit_write_text(vxa_commit *c, int i, const char *text, char *err, size_t errlen);
/* Every file closed: the renames (see above). On failure before the first rename the temporaries are removed;
 * c is empty afterwards either way. */
vxa_status vxa_commit_all(vxa_commit *c, char *err, size_t errlen);
/* Removes the temporaries (closing what is open); c is empty afterwards. Safe on an empty set. */
void vxa_commit_abort(vxa_commit *c);

/* In folder dir: finishes the commits of dead voxaug processes that left a complete journal, then removes the
 * temporaries and journals of dead voxaug processes (names of exactly the pattern above, regular files, whose
 * pid does not exist: kill(pid, 0) fails with ESRCH). Never touches another name. The count of files removed
 * or renamed, or -1 if dir cannot be read (detail in err). */
int vxa_commit_clean_stale(const char *dir, char *err, size_t errlen);

/* NIfTI to an open descriptor (a commit's temporary), which stays open; name is the target, for messages and
 * the compression (.nii.gz). For a command's set of outputs; vxa_nifti_write commits one file itself. */
vxa_status vxa_nifti_write_fd(int fd, const char *name, const vxa_volume *v, char *err, size_t errlen);
/* The same as a displacement field (vxa_nifti_write_displacement's layouts). */
vxa_status vxa_nifti_write_fd_displacement(int fd, const char *name, const vxa_volume *v, vxa_field_format format,
                                           char *err, size_t errlen);
#endif
