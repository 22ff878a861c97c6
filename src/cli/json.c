/* SPDX-License-Identifier: MIT */
/* JSON for the CLI's sidecars, manifests and nnU-Net's dataset.json: a growing text buffer with escaping on
 * the way out, and on the way in just enough of a reader to find a top-level key and skip a value (the files
 * read are ours or small metadata; nothing is built into a tree). */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(cli_buf *b, size_t more)
{
    if (b->oom) return -1;
    if (b->n + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void cli_buf_put(cli_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) != 0) return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void cli_buf_puts(cli_buf *b, const char *s) { cli_buf_put(b, s, strlen(s)); }

void cli_buf_printf(cli_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    const int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        cli_buf_put(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void cli_buf_free(cli_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* Quotes, backslashes and control characters escaped; valid UTF-8 kept (as `voxaug info --json`), other bytes
 * become U+FFFD, so the text stays valid JSON whatever the file names hold. */
void cli_buf_json_string(cli_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    cli_buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c == '"' || *c == '\\') {
            const char e[2] = { '\\', (char)*c };
            cli_buf_put(b, e, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            const char e[6] = { '\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15] };
            cli_buf_put(b, e, 6);
        } else if (*c < 0x80) {
            cli_buf_put(b, (const char *)c, 1);
        } else {
            const int len = (*c & 0xE0) == 0xC0 ? 2 : (*c & 0xF0) == 0xE0 ? 3 : (*c & 0xF8) == 0xF0 ? 4 : 0;
            int ok = len > 0 && *c >= 0xC2 && *c <= 0xF4;
            for (int k = 1; ok && k < len; k++) ok = (c[k] & 0xC0) == 0x80;
            if (ok) {
                cli_buf_put(b, (const char *)c, (size_t)len);
                c += len - 1;
            } else {
                cli_buf_put(b, "\\ufffd", 6);
            }
        }
    }
    cli_buf_put(b, "\"", 1);
}

/* ---- reading --------------------------------------------------------------------------------------------- */
const char *cli_json_ws(const char *p)
{
    while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The end of the string starting at p ('"'), or NULL. out (may be NULL) receives it unescaped (\uXXXX as
 * UTF-8 for the BMP), cut at len - 1 bytes. */
const char *cli_json_string(const char *p, char *out, size_t len)
{
    size_t n = 0;
    if (!p || *p != '"') return NULL;
    for (p++; *p && *p != '"'; p++) {
        unsigned ch = (unsigned char)*p;
        if (ch == '\\') {
            p++;
            switch (*p) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int k = 1; k <= 4; k++) {
                    const char h = p[k];
                    if (!h) return NULL;
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : 0);
                }
                p += 4;
                char u[3];
                int m = 0;
                if (v < 0x80) u[m++] = (char)v;
                else if (v < 0x800) { u[m++] = (char)(0xC0 | v >> 6); u[m++] = (char)(0x80 | (v & 63)); }
                else { u[m++] = (char)(0xE0 | v >> 12); u[m++] = (char)(0x80 | ((v >> 6) & 63)); u[m++] = (char)(0x80 | (v & 63)); }
                for (int k = 0; k < m; k++)
                    if (out && n + 1 < len) out[n++] = u[k];
                continue;
            }
            case '\0': return NULL;
            default: ch = (unsigned char)*p; break; /* \" \\ \/ */
            }
        }
        if (out && n + 1 < len) out[n++] = (char)ch;
    }
    if (out && len) out[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* The end of the value starting at p (after blanks), or NULL where it is not JSON. */
const char *cli_json_skip(const char *p)
{
    p = cli_json_ws(p);
    if (!p || !*p) return NULL;
    if (*p == '"') return cli_json_string(p, NULL, 0);
    if (*p == '{' || *p == '[') {
        const char close = *p == '{' ? '}' : ']';
        p = cli_json_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = cli_json_string(cli_json_ws(p), NULL, 0);
                p = cli_json_ws(p);
                if (!p || *p != ':') return NULL;
                p++;
            }
            p = cli_json_ws(cli_json_skip(p));
            if (!p) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p++;
        }
    }
    const char *s = p; /* number, true, false, null */
    while (*p && strchr("+-.0123456789eEtruefalsn", *p)) p++;
    return p > s ? p : NULL;
}

/* The value of key in the object at text (after blanks), or NULL if absent or text is not an object. */
const char *cli_json_find(const char *text, const char *key)
{
    const char *p = cli_json_ws(text);
    if (!p || *p != '{') return NULL;
    p = cli_json_ws(p + 1);
    char name[256];
    while (p && *p == '"') {
        p = cli_json_ws(cli_json_string(p, name, sizeof name));
        if (!p || *p != ':') return NULL;
        p = cli_json_ws(p + 1);
        if (strcmp(name, key) == 0) return p;
        p = cli_json_ws(cli_json_skip(p));
        if (!p || *p != ',') return NULL;
        p = cli_json_ws(p + 1);
    }
    return NULL;
}
