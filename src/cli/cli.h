/* SPDX-License-Identifier: MIT */
#ifndef VXA_CLI_H
#define VXA_CLI_H
#include "voxaug.h"
#include "sha256.h"

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
int cmd_warmup(int argc, char **argv);
int cmd_invert(int argc, char **argv);
int cmd_histstd_train(int argc, char **argv);

/* util.c */
int        cli_parse_u64(const char *s, uint64_t *out);               /* 1 on success */
/* The end of an option loop's turn for argv[*i]: an option that takes a value (target set) gets the next
 * argument (*i moves on); an unknown option or a second positional argument is a usage error; else the
 * argument is the positional one. 0, or 2 after printing the error as "voxaug CMD: ...". */
int        cli_take_arg(const char *cmd, int argc, char **argv, int *i, const char **target,
                        const char **positional);
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

/* json.c: a growing text buffer (a failed allocation sets oom; later appends do nothing) and a small reader */
typedef struct { char *s; size_t n, cap; int oom; } cli_buf;
void        cli_buf_put(cli_buf *b, const char *s, size_t n);
void        cli_buf_puts(cli_buf *b, const char *s);
void        cli_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void        cli_buf_json_string(cli_buf *b, const char *s); /* quoted, escaped, always valid JSON */
void        cli_buf_free(cli_buf *b);
const char *cli_json_ws(const char *p);
const char *cli_json_string(const char *p, char *out, size_t len); /* end of the string at p, or NULL */
const char *cli_json_skip(const char *p);                         /* end of the value at p, or NULL */
const char *cli_json_find(const char *object, const char *key);   /* a top-level key's value, or NULL */

/* encode.c: a NIfTI file in memory (.nii.gz: gzip at enc->level, zlib or libdeflate) and its SHA-256 */
typedef struct { int level; int zlib; } cli_encoding; /* zlib: use zlib even where libdeflate is built in */
typedef struct { unsigned char *data; size_t len; char sha256[65]; } cli_bytes;
int        cli_have_libdeflate(void);
vxa_status cli_encode_nifti(const char *name, const vxa_volume *v, const cli_encoding *enc, cli_bytes *out,
                            char *err, size_t errlen);

/* progress.c: a bar on a terminal, a log line every N volumes or S seconds elsewhere, nothing when quiet */
typedef struct {
    size_t total, every_items, last_n;
    double every_s, t0, last_t;
    int quiet, tty, drawn;
} cli_progress;
double cli_now(void); /* monotonic seconds */
void   cli_progress_init(cli_progress *p, size_t total, int quiet, size_t every_items, double every_s);
void   cli_progress_update(cli_progress *p, size_t done, size_t failed, int final);
#endif
