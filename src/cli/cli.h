/* SPDX-License-Identifier: MIT */
#ifndef VXA_CLI_H
#define VXA_CLI_H
#include "voxaug.h"

#include <stddef.h>
#include <stdint.h>

typedef struct { const char *name; int (*fn)(int argc, char **argv); const char *help; } cli_command;

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_preview(int argc, char **argv);

/* util.c */
int        cli_parse_u64(const char *s, uint64_t *out);               /* 1 on success */
vxa_status cli_context(const char *device, vxa_context **out);       /* prints the error */
vxa_status cli_convert(const vxa_volume *v, vxa_dtype t, vxa_volume **out);
int        cli_write_text(const char *path, const char *text, char *err, size_t errlen); /* committed; 0 ok */

/* outputs.c: what every command that writes shares (the commit protocol itself is src/commit.h) */
typedef struct { const char *path; const char *role; int output; } cli_path; /* role: "-o", "--label", ... */
/* Refuses (a message, -1) two of paths that are the same file where one is an output: (device, inode) for
 * existing files, the resolved folder + name for new ones. NULL paths are skipped; at most 16. */
int         cli_check_distinct(const char *cmd, const cli_path *paths, int n);
int         cli_same_existing(const char *a, const char *b); /* both exist and are one file */
void        cli_signals_install(void);    /* SIGINT, SIGTERM set a flag (once; a second one kills) */
int         cli_stopped(void);            /* the signal received, or 0 */
const char *cli_signal_name(int sig);
void        cli_clean_stale(const char *cmd, const char *dir);     /* vxa_commit_clean_stale, reported */
void        cli_clean_stale_of(const char *cmd, const char *path); /* ... in path's folder */
#endif
