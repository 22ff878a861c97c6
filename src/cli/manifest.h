/* SPDX-License-Identifier: MIT */
/* augment's sidecars, resume check and run manifest (src/cli/manifest.c describes the format). */
#ifndef VXA_CLI_MANIFEST_H
#define VXA_CLI_MANIFEST_H

#include "dataset.h"

/* A sidecar: mf_head, then mf_output per file (first = 1 for the first), then mf_end. */
void mf_head(cli_buf *b, const ds_subject *s, uint64_t seed, uint64_t copy, uint64_t sample, const char *ops);
void mf_output(cli_buf *b, int first, const char *rel, const char *kind, const char *role, size_t bytes,
               const char *sha256);
void mf_end(cli_buf *b, const char *draw);
/* 1 if OUTDIR/sidecar_rel starts with head and lists exactly rels[0..n-1], each present with its size. */
int  mf_complete(const char *outdir, const char *sidecar_rel, const char *head, const char *const *rels, int n);
/* Appends the manifest lines of one copy (read from its sidecar) to lines; -1 if the sidecar is not this run's. */
int  mf_lines(const char *outdir, const char *sidecar_rel, const char *head, cli_buf *lines);
void mf_sort_lines(cli_buf *b);
#endif
