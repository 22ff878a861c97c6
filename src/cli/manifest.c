/* SPDX-License-Identifier: MIT */
/* augment's records. Each committed copy of a subject has a sidecar (one line of JSON):
 *   {"subject": key, "images": [...], "labels": [...], "seed": S, "copy": c, "sample": X, "ops": spec,
 *    "outputs": [{"output": path in OUTDIR, "kind": "image"|"label", "role": modality, "bytes": N,
 *                 "sha256": hex}, ...],
 *    "draw": {...}}
 * The part before "outputs" (the head) depends only on the run's inputs, so --resume recognises a copy that is
 * complete by its sidecar starting with this run's head and listing every output this run would write, with
 * its size on disk. The sidecar is committed with the copy's files (src/commit.h), last, so it exists only
 * once they do. The run's manifest is one line per output: the output's entry, then the head's fields and the
 * draw, sorted by output path: shards' manifests merge with `LC_ALL=C sort` into the unsharded run's. */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void mf_head(cli_buf *b, const ds_subject *s, uint64_t seed, uint64_t copy, uint64_t sample, const char *ops)
{
    cli_buf_puts(b, "{\"subject\":");
    cli_buf_json_string(b, s->key);
    cli_buf_puts(b, ",\"images\":[");
    for (int f = 0; f < s->nimg; f++) {
        if (f) cli_buf_puts(b, ",");
        cli_buf_json_string(b, s->img[f].path);
    }
    cli_buf_puts(b, "],\"labels\":[");
    for (int f = 0; f < s->nlab; f++) {
        if (f) cli_buf_puts(b, ",");
        cli_buf_json_string(b, s->lab[f].path);
    }
    cli_buf_printf(b, "],\"seed\":%llu,\"copy\":%llu,\"sample\":%llu,\"ops\":", (unsigned long long)seed,
                   (unsigned long long)copy, (unsigned long long)sample);
    cli_buf_json_string(b, ops);
    cli_buf_puts(b, ",\"outputs\":[");
}

void mf_output(cli_buf *b, int first, const char *rel, const char *kind, const char *role, size_t bytes,
               const char *sha256)
{
    cli_buf_puts(b, first ? "{\"output\":" : ",{\"output\":");
    cli_buf_json_string(b, rel);
    cli_buf_printf(b, ",\"kind\":\"%s\",\"role\":", kind);
    cli_buf_json_string(b, role);
    cli_buf_printf(b, ",\"bytes\":%zu,\"sha256\":\"%s\"}", bytes, sha256);
}

void mf_end(cli_buf *b, const char *draw)
{
    cli_buf_puts(b, "],\"draw\":");
    cli_buf_puts(b, draw && *draw ? draw : "null");
    cli_buf_puts(b, "}");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cli_buf b = { 0 };
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) cli_buf_put(&b, chunk, n);
    fclose(f);
    if (b.oom || !b.s) {
        cli_buf_free(&b);
        return NULL;
    }
    return b.s;
}

/* Walks the outputs of sidecar text (whose head has length head_len): calls fn for each entry's text [p, end);
 * the draw's text in *draw, *draw_end. 0, or -1 where the text is not ours. */
static int walk(const char *text, size_t head_len, int (*fn)(void *, const char *, const char *), void *arg,
                const char **draw, const char **draw_end)
{
    const char *p = text + head_len;
    if (*p != ']') {
        for (;;) {
            const char *end = cli_json_skip(p);
            if (!end || *p != '{') return -1;
            if (fn && fn(arg, p, end) != 0) return -1;
            p = end;
            if (*p == ']') break;
            if (*p != ',') return -1;
            p++;
        }
    }
    if (strncmp(p, "],\"draw\":", 9) != 0) return -1;
    *draw = p + 9;
    *draw_end = cli_json_skip(*draw);
    return *draw_end && **draw_end == '}' ? 0 : -1;
}

typedef struct { const char *outdir; const char *const *rels; int n; int found[DS_MAX_FILES]; } check_arg;

/* An entry must be one this run writes, with its size on disk. */
static int check_entry(void *arg, const char *p, const char *end)
{
    check_arg *c = arg;
    (void)end;
    char rel[4096];
    const char *v = cli_json_find(p, "output"), *bytes = cli_json_find(p, "bytes");
    if (!v || !bytes || !cli_json_string(v, rel, sizeof rel)) return -1;
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->rels[i], rel) != 0) continue;
        char path[8192];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", c->outdir, rel);
        if (stat(path, &sb) != 0 || (unsigned long long)sb.st_size != strtoull(bytes, NULL, 10)) return -1;
        c->found[i] = 1;
        return 0;
    }
    return -1;
}

int mf_complete(const char *outdir, const char *sidecar_rel, const char *head, const char *const *rels, int n)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", outdir, sidecar_rel);
    char *text = slurp(path);
    if (!text) return 0;
    const size_t hl = strlen(head);
    check_arg c = { outdir, rels, n, { 0 } };
    const char *d, *de;
    int ok = strncmp(text, head, hl) == 0 && walk(text, hl, check_entry, &c, &d, &de) == 0;
    for (int i = 0; i < n && ok; i++) ok = c.found[i];
    free(text);
    return ok;
}

typedef struct { cli_buf *lines; const char *head; size_t head_len; const char *draw; size_t draw_len; } line_arg;

static int add_line(void *arg, const char *p, const char *end)
{
    line_arg *a = arg;
    /* {entry fields, head fields (without "{" and the trailing "outputs":[), "draw": ...}\n */
    cli_buf_put(a->lines, p, (size_t)(end - p) - 1);
    cli_buf_puts(a->lines, ",");
    const size_t tail = strlen(",\"outputs\":[");
    cli_buf_put(a->lines, a->head + 1, a->head_len - 1 - tail);
    cli_buf_puts(a->lines, ",\"draw\":");
    cli_buf_put(a->lines, a->draw, a->draw_len);
    cli_buf_puts(a->lines, "}\n");
    return 0;
}

int mf_lines(const char *outdir, const char *sidecar_rel, const char *head, cli_buf *lines)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", outdir, sidecar_rel);
    char *text = slurp(path);
    if (!text) return -1;
    const size_t hl = strlen(head);
    const char *d, *de;
    int rc = strncmp(text, head, hl) == 0 && walk(text, hl, NULL, NULL, &d, &de) == 0 ? 0 : -1;
    if (rc == 0) {
        line_arg a = { lines, head, hl, d, (size_t)(de - d) };
        rc = walk(text, hl, add_line, &a, &d, &de);
    }
    free(text);
    return rc;
}

static int cmp_line(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void mf_sort_lines(cli_buf *b)
{
    if (!b->s || b->oom) return;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) n += b->s[i] == '\n';
    char **lines = malloc((n ? n : 1) * sizeof *lines);
    char *copy = malloc(b->n + 1);
    if (!lines || !copy) {
        free(lines);
        free(copy);
        return;
    }
    memcpy(copy, b->s, b->n + 1);
    size_t k = 0;
    for (char *p = copy, *nl; k < n && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        lines[k++] = p;
    }
    qsort(lines, k, sizeof *lines, cmp_line); /* bytewise, as LC_ALL=C sort */
    b->n = 0;
    for (size_t i = 0; i < k; i++) {
        cli_buf_puts(b, lines[i]);
        cli_buf_puts(b, "\n");
    }
    free(lines);
    free(copy);
}
