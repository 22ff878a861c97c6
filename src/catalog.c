/* SPDX-License-Identifier: MIT */
/* What the library tells bindings about itself, so that they hold no copy of it: the op table as JSON
 * (vxa_ops_json; the Python package builds voxaug.ops from it), and the sample index of a dataset item
 * (vxa_item_sample; the Python loader and `voxaug augment` key an item's draws with it). */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An appending writer that counts what it could not store, snprintf-style. */
typedef struct {
    char *buf;
    size_t len, n;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const size_t room = o->n < o->len ? o->len - o->n : 0;
    const int k = vsnprintf(room ? o->buf + o->n : NULL, room, fmt, ap);
    va_end(ap);
    if (k > 0) o->n += (size_t)k;
}

/* A JSON string: quotes, backslashes and control characters escaped; other bytes (UTF-8) as they are. */
static void put_str(out *o, const char *s)
{
    put(o, "\"");
    for (; s && *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') put(o, "\\%c", c);
        else if (c < 0x20) put(o, "\\u%04x", c);
        else put(o, "%c", c);
    }
    put(o, "\"");
}

/* A JSON number that reads back as x (the shortest of %.15g / %.17g); null where JSON has none. */
static void put_num(out *o, double x)
{
    if (!isfinite(x)) {
        put(o, "null");
        return;
    }
    char a[40];
    snprintf(a, sizeof a, "%.15g", x);
    if (strtod(a, NULL) != x) snprintf(a, sizeof a, "%.17g", x);
    put(o, "%s", a);
}

static void put_params(out *o, const vxa_param_desc *params, int nparams)
{
    put(o, "[");
    for (int i = 0; i < nparams; i++) {
        const vxa_param_desc *pd = &params[i];
        put(o, "%s{\"name\":", i ? "," : "");
        put_str(o, pd->name);
        put(o, ",\"count\":%d,\"int\":%s,\"fixed\":%s,\"required\":%s,\"list\":%s,\"auto\":%s,\"path\":%s,"
            "\"pairs\":%s,\"lo\":", pd->flags & VXA_P_LONG ? VXA_OP_MAXLIST : pd->count,
            pd->flags & VXA_P_INT ? "true" : "false", pd->flags & VXA_P_FIXED ? "true" : "false",
            pd->flags & VXA_P_REQUIRED ? "true" : "false", pd->flags & (VXA_P_LIST | VXA_P_LONG) ? "true" : "false",
            pd->flags & VXA_P_AUTO ? "true" : "false", pd->flags & VXA_P_PATH ? "true" : "false",
            pd->flags & VXA_P_PAIRS ? "true" : "false");
        put_num(o, pd->lo);
        put(o, ",\"hi\":");
        put_num(o, pd->hi);
        put(o, ",\"default\":");
        if (pd->flags & (VXA_P_REQUIRED | VXA_P_AUTO)) put(o, "null");
        else {
            put(o, "[");
            for (int k = 0; k < (pd->flags & VXA_P_LONG ? 0 : pd->count); k++) {   /* a long list: [] */
                put(o, k ? "," : "");
                put_num(o, pd->def[k]);
            }
            put(o, "]");
        }
        put(o, ",\"choices\":");
        if (!pd->choices) put(o, "null");
        else {
            put(o, "[");
            for (int k = 0; pd->choices[k]; k++) {
                put(o, k ? "," : "");
                put_str(o, pd->choices[k]);
            }
            put(o, "]");
        }
        put(o, ",\"doc\":");
        put_str(o, pd->doc);
        put(o, "}");
    }
    put(o, "]");
}

static const char *kind_name(vxa_op_kind k)
{
    return k == VXA_OPK_SAMPLING ? "sampling" : k == VXA_OPK_SPATIAL ? "spatial" : k == VXA_OPK_ELASTIC ? "elastic"
                                                    : k == VXA_OPK_GROUP ? "composition"
         : k == VXA_OPK_LABEL ? "label" : "intensity";
}

vxa_status vxa_ops_json(char *buf, size_t len, size_t *needed)
{
    if (!buf && len) return VXA_ERR_INVALID_ARGUMENT;
    out o = { buf, len, 0 };
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);   /* sampling first, as a row of the table */
    put(&o, "{\"version\":\"%s\",\"ops\":[", VXA_VERSION_STRING);
    for (int i = 0; i < n; i++) {
        put(&o, "%s{\"name\":", i ? "," : "");
        put_str(&o, t[i]->name);
        put(&o, ",\"kind\":\"%s\",\"augment\":%s,\"doc\":", kind_name(t[i]->kind), t[i]->augment ? "true" : "false");
        put_str(&o, t[i]->doc);
        put(&o, ",\"scipy\":");
        put_str(&o, t[i]->scipy ? t[i]->scipy : "");
        put(&o, ",\"params\":");
        put_params(&o, t[i]->params, t[i]->nparams);
        put(&o, "}");
    }
    put(&o, "]}");
    if (needed) *needed = o.n + 1;
    return o.n < len ? VXA_OK : VXA_ERR_INVALID_ARGUMENT;
}

/* splitmix64's finaliser (Steele, Lea & Flood 2014): a bijection of 64-bit words that spreads every input
 * bit over the whole output. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t vxa_item_sample(const char *name, uint64_t copy)
{
    uint64_t h = 0xcbf29ce484222325ull;  /* FNV-1a 64: offset basis, then per byte xor and multiply */
    for (const unsigned char *s = (const unsigned char *)(name ? name : ""); *s; s++) {
        h ^= *s;
        h *= 0x100000001b3ull;
    }
    return mix64(h ^ (copy * 0x9e3779b97f4a7c15ull));
}
