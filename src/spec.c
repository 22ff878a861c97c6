/* SPDX-License-Identifier: MIT */
/* The op spec parser. Grammar (whitespace free between tokens; ops separated by spaces, ';' or '|'):
 *     spec  := { op }
 *     op    := NAME [ '(' [ arg { ',' arg } ] ')' ]
 *     arg   := [ KEY '=' ] value            a bare value after KEY=v continues KEY's list: plane=0,1
 *     value := NUMBER | CHOICE | '[' NUMBER ',' NUMBER ']'      a range, drawn per sample
 *            | NUMBER ':' NUMBER      a pair, for a parameter that takes pairs (remap's map; bare pairs go there)
 *            | PATH                   a file name, for a parameter that takes one (histstd's landmarks)
 * Positional values fill the parameters in order; a parameter of 3 values takes 1 (broadcast) or 3.
 * `p=` is every op's probability (default 1). Errors name the column and the token.
 * Composition (src/ops_compose.c): a group holds ops, separated by ',' inside its parentheses, then its own
 * parameters as KEY=value (some_of's n may come first, bare):
 *     group := ( "one_of" | "some_of" | "shuffle" ) '(' [ value ',' ] op { ',' op } { ',' KEY '=' value } ')'
 * where an op may itself be a group (at most VXA_GROUP_DEPTH deep, VXA_GROUP_MAX ops each). */
#include "pipeline.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t pos;
    char *err;
    size_t errlen;
} parser;

static vxa_status perr(parser *p, size_t col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vxa_status perr(parser *p, size_t col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The spec with a caret under the bad token. */
    char line[200];
    snprintf(line, sizeof line, "%s", p->s);
    size_t caret = col < sizeof line - 1 ? col : sizeof line - 2;
    return vxa_fail_buf(p->err, p->errlen, VXA_ERR_PARSE, "spec column %zu: %s\n  %s\n  %*s^", col + 1, msg,
                        line, (int)caret, "");
}

static void skip_ws(parser *p)
{
    while (isspace((unsigned char)p->s[p->pos])) p->pos++;
}

static size_t ident(parser *p, char *out, size_t len)
{
    size_t start = p->pos, n = 0;
    while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_') {
        if (n + 1 < len) out[n++] = p->s[p->pos];
        p->pos++;
    }
    out[n] = '\0';
    return p->pos - start;
}

#define SPEC_MAX_OPS 1024     /* ops in one spec: more is an error, not a slow parse */
#define SPEC_MAX_NUMBER 64    /* characters of one number */

/* A decimal number only: [+-] digits [. digits] [e [+-] digits], at least one digit before the exponent. Hex
 * (0x10), inf, nan and C's other strtod forms are refused, as is a number that does not fit a double. */
static vxa_status number(parser *p, double *out)
{
    skip_ws(p);
    const char *start = p->s + p->pos, *c = start;
    if (*c == '+' || *c == '-') c++;
    size_t ndigits = 0;
    for (; isdigit((unsigned char)*c); c++) ndigits++;
    if (*c == '.')
        for (c++; isdigit((unsigned char)*c); c++) ndigits++;
    const bool digits = ndigits > 0;
    if (digits && (*c == 'e' || *c == 'E')) {
        const char *e = c + 1;
        if (*e == '+' || *e == '-') e++;
        if (isdigit((unsigned char)*e)) {
            while (isdigit((unsigned char)*e)) e++;
            c = e;
        }
    }
    const size_t len = (size_t)(c - start);
    if (!digits || isalnum((unsigned char)*c) || *c == '.' || *c == '_' || len > SPEC_MAX_NUMBER) {
        char tok[32];
        size_t n = strcspn(start, ",)] ");
        snprintf(tok, sizeof tok, "%.*s%s", (int)(n < 24 ? n : 24), start, n > 24 ? "..." : "");
        if (!*start) return perr(p, p->pos, "expected a number, found the end of the spec");
        if (digits && len > SPEC_MAX_NUMBER)
            return perr(p, p->pos, "number '%s' is longer than %d characters", tok, SPEC_MAX_NUMBER);
        return perr(p, p->pos, "expected a decimal number, found '%s'", tok);
    }
    char buf[SPEC_MAX_NUMBER + 1];
    memcpy(buf, start, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    if (!isfinite(*out)) return perr(p, p->pos, "number '%s' does not fit a double", buf);
    p->pos += len;
    return VXA_OK;
}

/* Parses one value into [lo, hi] for parameter pd. */
static vxa_status value(parser *p, const vxa_param_desc *pd, const char *opname, double *lo, double *hi)
{
    skip_ws(p);
    size_t col = p->pos;
    vxa_status st;
    if (p->s[p->pos] == '[') {
        p->pos++;
        if ((st = number(p, lo)) != VXA_OK) return st;
        skip_ws(p);
        if (p->s[p->pos] != ',') return perr(p, p->pos, "a range is [lo, hi]: expected ','");
        p->pos++;
        if ((st = number(p, hi)) != VXA_OK) return st;
        skip_ws(p);
        if (p->s[p->pos] != ']') return perr(p, p->pos, "a range is [lo, hi]: expected ']'");
        p->pos++;
        if (pd->flags & VXA_P_FIXED)
            return perr(p, col, "%s: %s takes a fixed value, not a range (it sets the output shape or mode)",
                        opname, pd->name);
        if (*hi < *lo) return perr(p, col, "%s: range [%g, %g] has hi < lo", opname, *lo, *hi);
    } else if (isalpha((unsigned char)p->s[p->pos])) {
        char word[64];
        ident(p, word, sizeof word);
        int found = -1;
        for (int i = 0; pd->choices && pd->choices[i]; i++)
            if (strcmp(pd->choices[i], word) == 0) found = i;
        if (found < 0) {
            char list[256] = "";
            for (int i = 0; pd->choices && pd->choices[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", pd->choices[i]);
            return perr(p, col, "%s: '%s' is not a value of %s%s%s", opname, word, pd->name,
                        list[0] ? "; one of: " : " (it takes numbers)", list);
        }
        *lo = *hi = found;
    } else {
        if ((st = number(p, lo)) != VXA_OK) return st;
        *hi = *lo;
    }
    if ((pd->flags & VXA_P_ABOVE_LO) && !(*lo > pd->lo && *hi <= pd->hi))
        return perr(p, col, "%s: %s = %g is outside (%g, %g]: it must be > %g", opname, pd->name,
                    *lo <= pd->lo ? *lo : *hi, pd->lo, pd->hi, pd->lo);
    if (*lo < pd->lo || *hi > pd->hi)
        return perr(p, col, "%s: %s = %g is outside [%g, %g]", opname, pd->name, *lo < pd->lo ? *lo : *hi, pd->lo,
                    pd->hi);
    if ((pd->flags & VXA_P_INT) && (*lo != floor(*lo) || *hi != floor(*hi)))
        return perr(p, col, "%s: %s takes whole numbers, not %g", opname, pd->name, *lo != floor(*lo) ? *lo : *hi);
    return VXA_OK;
}

/* A file name for a VXA_P_PATH parameter: a run of letters, digits and ._-/+~@%: (so that the spec's text, the
 * draw record and JSON sidecars need no quoting), read at once by the op's load into op->data. */
static vxa_status path_value(parser *p, const vxa_param_desc *pd, vxa_op_inst *op, const char *opname, double *lo,
                             double *hi)
{
    skip_ws(p);
    const size_t col = p->pos;
    size_t n = 0;
    while (p->s[col + n] && (isalnum((unsigned char)p->s[col + n]) || strchr("._-/+~@%:", p->s[col + n]))) n++;
    const char c = p->s[col + n];
    if (n == 0 || (c && c != ',' && c != ')' && !isspace((unsigned char)c)))
        return perr(p, c && n ? col + n : col, "%s: %s takes a file name of letters, digits and ._-/+~@%%: only",
                    opname, pd->name);
    if (n > 1024) return perr(p, col, "%s: %s: a file name of more than 1024 characters", opname, pd->name);
    if (op->path) return perr(p, col, "%s: %s given twice", opname, pd->name);
    if (!(op->path = malloc(n + 1))) return vxa_fail_buf(p->err, p->errlen, VXA_ERR_OUT_OF_MEMORY, "spec");
    memcpy(op->path, p->s + col, n);
    op->path[n] = '\0';
    p->pos = col + n;
    char why[512] = "";
    vxa_status st = op->desc->load ? op->desc->load(op->path, &op->data, &op->ndata, why, sizeof why)
                                   : VXA_ERR_INVALID_ARGUMENT;
    if (st != VXA_OK) return perr(p, col, "%s: %s", opname, why[0] ? why : "cannot read the file");
    *lo = *hi = 0;
    return VXA_OK;
}

/* Whether a pair FROM:TO starts at the parser's position: [+-] digits [. digits], blanks, ':'. */
static bool looks_like_pair(const parser *p)
{
    const char *c = p->s + p->pos;
    while (isspace((unsigned char)*c)) c++;
    if (*c == '+' || *c == '-') c++;
    if (!isdigit((unsigned char)*c)) return false;
    while (isdigit((unsigned char)*c) || *c == '.') c++;
    while (isspace((unsigned char)*c)) c++;
    return *c == ':';
}

/* One pair FROM:TO of a VXA_P_PAIRS parameter, appended to op->data: whole numbers within pd's bounds. */
static vxa_status pair_value(parser *p, const vxa_param_desc *pd, vxa_op_inst *op, const char *opname)
{
    skip_ws(p);
    const size_t col = p->pos;
    double a, b;
    vxa_status st = number(p, &a);
    if (st != VXA_OK) return st;
    skip_ws(p);
    if (p->s[p->pos] != ':') return perr(p, p->pos, "%s: %s takes pairs FROM:TO: expected ':'", opname, pd->name);
    p->pos++;
    if ((st = number(p, &b)) != VXA_OK) return st;
    for (int k = 0; k < 2; k++) {
        const double x = k ? b : a;
        if (x != floor(x) || x < pd->lo || x > pd->hi)
            return perr(p, col, "%s: %s: %g is not a whole number in [%g, %g]", opname, pd->name, x, pd->lo, pd->hi);
    }
    for (int i = 0; i < op->ndata; i += 2)
        if (op->data[i] == a) return perr(p, col, "%s: %s: label %g mapped twice", opname, pd->name, a);
    if (op->ndata >= 2 * 4096) return perr(p, col, "%s: %s: more than 4096 pairs", opname, pd->name);
    double *d = realloc(op->data, (size_t)(op->ndata + 2) * sizeof *d);
    if (!d) return vxa_fail_buf(p->err, p->errlen, VXA_ERR_OUT_OF_MEMORY, "spec");
    op->data = d;
    d[op->ndata++] = a;
    d[op->ndata++] = b;
    return VXA_OK;
}

/* Values a parameter takes. */
static int param_cap(const vxa_param_desc *pd)
{
    return pd->flags & VXA_P_LONG ? VXA_OP_MAXLIST : pd->count;
}

static const vxa_param_desc prob_param = { "p", 1, VXA_P_FIXED, 0, 1, { 1 }, "probability", NULL };

static vxa_status parse_op(parser *p, vxa_op_inst *op)
{
    char name[64];
    size_t col = p->pos;
    memset(op, 0, sizeof *op);
    op->prob = 1.0;
    op->column = (int)col;
    if (ident(p, name, sizeof name) == 0) return perr(p, col, "expected an op name, found '%c'", p->s[p->pos]);
    op->desc = vxa_op_find(name);
    if (!op->desc) {
        char list[1024] = "";
        int n;
        const vxa_op_desc *const *t = vxa_op_table(&n);
        for (int i = 0; i < n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " " : "", t[i]->name);
        return perr(p, col, "unknown op '%s' (ops: %s)", name, list);
    }
    const vxa_param_desc *params = op->desc->params;
    const int nparams = op->desc->nparams;
    int cur = 0;        /* the parameter that bare values go to */
    int filled[VXA_OP_MAXPARAMS + 1] = { 0 };
    bool keyed = false; /* a key was seen: bare values continue it */
    skip_ws(p);
    if (p->s[p->pos] == '(') {
        p->pos++;
        skip_ws(p);
        if (p->s[p->pos] == ')') p->pos++;
        else for (;;) {
            skip_ws(p);
            size_t argcol = p->pos;
            /* KEY= ? */
            size_t save = p->pos;
            char key[64];
            int target = -1;
            if (ident(p, key, sizeof key) > 0) {
                skip_ws(p);
                if (p->s[p->pos] == '=') {
                    p->pos++;
                    if (strcmp(key, "p") == 0) target = VXA_OP_MAXPARAMS;
                    for (int i = 0; i < nparams && target < 0; i++)
                        if (strcmp(params[i].name, key) == 0) target = i;
                    if (target < 0) {
                        char list[512] = "p";
                        for (int i = 0; i < nparams; i++)
                            snprintf(list + strlen(list), sizeof list - strlen(list), ", %s", params[i].name);
                        return perr(p, argcol, "%s has no parameter '%s' (it has: %s)", name, key, list);
                    }
                    if (filled[target]) return perr(p, argcol, "%s: parameter '%s' given twice", name, key);
                    cur = target;
                    keyed = true;
                } else {
                    p->pos = save;
                }
            } else {
                p->pos = save;
            }
            int pairs = -1;   /* a bare pair goes to the op's VXA_P_PAIRS parameter, wherever it stands */
            for (int i = 0; i < nparams; i++)
                if (params[i].flags & VXA_P_PAIRS) pairs = i;
            if (target < 0 && pairs >= 0 && looks_like_pair(p)) {
                cur = target = pairs;
                keyed = true;
            }
            if (target < 0) { /* a bare value: the current parameter, or the next one if it is full */
                if (cur < VXA_OP_MAXPARAMS && cur >= nparams)
                    return perr(p, argcol, "%s takes at most %d positional parameter(s)", name, nparams);
                const int cap = cur == VXA_OP_MAXPARAMS ? 1 : param_cap(&params[cur]);
                if (filled[cur] >= cap) {
                    if (keyed) return perr(p, argcol, "%s: too many values for '%s' (it takes %d)", name,
                                           cur == VXA_OP_MAXPARAMS ? "p" : params[cur].name, cap);
                    cur++;
                }
                if (cur >= nparams) return perr(p, argcol, "%s takes at most %d positional parameter(s)", name, nparams);
            }
            const vxa_param_desc *pd = cur == VXA_OP_MAXPARAMS ? &prob_param : &params[cur];
            if (pd->flags & VXA_P_PAIRS) {
                vxa_status st = pair_value(p, pd, op, name);
                if (st != VXA_OK) return st;
                filled[cur] = 1;
                skip_ws(p);
                if (p->s[p->pos] == ',') { p->pos++; continue; }
                if (p->s[p->pos] == ')') { p->pos++; break; }
                return perr(p, p->pos, "%s: expected ',' or ')'%s", name, p->s[p->pos] ? "" : " before the end");
            }
            double lo, hi;
            vxa_status st = (pd->flags & VXA_P_PATH) ? path_value(p, pd, op, name, &lo, &hi)
                                                     : value(p, pd, name, &lo, &hi);
            if (st != VXA_OK) return st;
            if (cur == VXA_OP_MAXPARAMS) {
                op->prob = lo;
                filled[cur] = 1;
            } else if (pd->flags & VXA_P_LONG) {
                if (filled[cur] >= VXA_OP_MAXLIST)
                    return perr(p, argcol, "%s: too many values for '%s' (it takes at most %d)", name, pd->name,
                                VXA_OP_MAXLIST);
                if (!op->list && !(op->list = malloc(VXA_OP_MAXLIST * sizeof *op->list))) return VXA_ERR_OUT_OF_MEMORY;
                op->list[op->nlist++] = lo;
                filled[cur]++;
            } else {
                if (filled[cur] >= pd->count) return perr(p, argcol, "%s: too many values for '%s' (it takes %d)",
                                                          name, pd->name, pd->count);
                op->lo[cur][filled[cur]] = lo;
                op->hi[cur][filled[cur]] = hi;
                filled[cur]++;
            }
            skip_ws(p);
            if (p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->s[p->pos] == ')') { p->pos++; break; }
            return perr(p, p->pos, "%s: expected ',' or ')'%s", name, p->s[p->pos] ? "" : " before the end");
        }
    }
    for (int i = 0; i < nparams; i++) {
        const vxa_param_desc *pd = &params[i];
        if (pd->flags & VXA_P_LONG) {
            if (filled[i] == 0 && (pd->flags & VXA_P_REQUIRED))
                return perr(p, col, "%s: parameter '%s' is required (%s)", name, pd->name, pd->doc);
        } else if (filled[i] == 0) {
            if (pd->flags & VXA_P_REQUIRED) return perr(p, col, "%s: parameter '%s' is required (%s)", name, pd->name, pd->doc);
            for (int k = 0; k < pd->count; k++) op->lo[i][k] = op->hi[i][k] = pd->def[k];
        } else if (filled[i] != 1 && filled[i] != pd->count && !(pd->flags & VXA_P_LIST)) {
            return perr(p, col, "%s: '%s' takes 1 or %d values, got %d", name, pd->name, pd->count, filled[i]);
        }
        op->given[i] = filled[i];
    }
    if (op->desc->check) {
        const char *why = op->desc->check((const double(*)[3])op->lo, (const double(*)[3])op->hi);
        if (why) return perr(p, col, "%s: %s", name, why);
    }
    return VXA_OK;
}

/* A new entry at the end of pl's op list (zeroed); NULL when out of memory. */
static vxa_op_inst *append(parser *p, vxa_pipeline *pl, int *cap, vxa_status *st)
{
    if (pl->nops == SPEC_MAX_OPS) {
        *st = perr(p, p->pos, "more than %d ops in one spec", SPEC_MAX_OPS);
        return NULL;
    }
    if (pl->nops == *cap) {
        const int ncap = *cap ? 2 * *cap : 8;
        vxa_op_inst *n = realloc(pl->ops, (size_t)ncap * sizeof *n);
        if (!n) {
            *st = VXA_ERR_OUT_OF_MEMORY;
            return NULL;
        }
        pl->ops = n;
        *cap = ncap;
    }
    vxa_op_inst *op = &pl->ops[pl->nops++];
    memset(op, 0, sizeof *op);
    return op;
}

static vxa_status parse_item(parser *p, vxa_pipeline *pl, int *cap, int depth);

/* Whether the next token starts a value (a number or a range), not an op. */
static bool at_value(parser *p)
{
    skip_ws(p);
    const char c = p->s[p->pos];
    return isdigit((unsigned char)c) || c == '[' || c == '-' || c == '+' || c == '.';
}

/* A group: NAME '(' item { ',' item } ')' where an item is an op (or a group), KEY '=' value {',' value}, or,
 * first, a bare value for the group's first parameter (some_of's n). */
static vxa_status parse_group(parser *p, vxa_pipeline *pl, int *cap, int depth)
{
    const size_t col = p->pos;
    char name[64];
    ident(p, name, sizeof name);
    const vxa_op_desc *desc = vxa_op_find(name);
    if (depth >= VXA_GROUP_DEPTH) return perr(p, col, "%s: groups nest at most %d deep", name, VXA_GROUP_DEPTH);
    vxa_status st = VXA_OK;
    vxa_op_inst *g0 = append(p, pl, cap, &st);
    if (!g0) return st;
    const int g = pl->nops - 1;   /* its index: the list may move as children are added */
    g0->desc = desc;
    g0->prob = 1.0;
    g0->column = (int)col;
    skip_ws(p);
    if (p->s[p->pos] != '(')
        return perr(p, p->pos, "%s takes the ops it picks from in parentheses: %s(op, op, ...)", name, name);
    p->pos++;
    const vxa_param_desc *params = desc->params;
    int filled[VXA_OP_MAXPARAMS + 1] = { 0 }, key = -1, nchildren = 0;
    for (;;) {
        skip_ws(p);
        const size_t argcol = p->pos;
        if (p->s[p->pos] == ')' && nchildren == 0 && key < 0) {
            p->pos++;
            break;
        }
        /* KEY=, a value (continuing the key's list, or the first parameter), or an op */
        const size_t save = p->pos;
        char word[64];
        int target = -2;
        if (ident(p, word, sizeof word) > 0) {
            skip_ws(p);
            if (p->s[p->pos] == '=') {
                p->pos++;
                target = strcmp(word, "p") == 0 ? VXA_OP_MAXPARAMS : -1;
                for (int q = 0; q < desc->nparams && target < 0; q++)
                    if (strcmp(params[q].name, word) == 0) target = q;
                if (target < 0) {
                    char list[256] = "p";
                    for (int q = 0; q < desc->nparams; q++)
                        snprintf(list + strlen(list), sizeof list - strlen(list), ", %s", params[q].name);
                    return perr(p, argcol, "%s has no parameter '%s' (it has: %s; the ops it picks from are "
                                "written as ops, name(...))", name, word, list);
                }
                if (filled[target]) return perr(p, argcol, "%s: parameter '%s' given twice", name, word);
                key = target;
            } else {
                p->pos = save;
            }
        } else {
            p->pos = save;
        }
        if (target == -2 && at_value(p)) {   /* a bare value */
            if (key < 0 && nchildren == 0 && desc->nparams > 0 && !filled[0] && !(params[0].flags & VXA_P_LONG))
                target = 0;
            else if (key >= 0)
                target = key;
            else
                return perr(p, argcol, "%s: expected an op here, found a value (parameters are KEY=value)", name);
        }
        if (target == -2) {   /* an op inside */
            if (key >= 0) key = -1;
            if (nchildren == VXA_GROUP_MAX) return perr(p, argcol, "%s: more than %d ops inside", name, VXA_GROUP_MAX);
            if ((st = parse_item(p, pl, cap, depth + 1)) != VXA_OK) return st;
            nchildren++;
        } else {
            const vxa_param_desc *pd = target == VXA_OP_MAXPARAMS ? &prob_param : &params[target];
            double lo, hi;
            if ((st = value(p, pd, name, &lo, &hi)) != VXA_OK) return st;
            vxa_op_inst *op = &pl->ops[g];
            if (target == VXA_OP_MAXPARAMS) {
                if (filled[target]) return perr(p, argcol, "%s: too many values for 'p' (it takes 1)", name);
                op->prob = lo;
            } else if (pd->flags & VXA_P_LONG) {
                if (filled[target] >= VXA_OP_MAXLIST)
                    return perr(p, argcol, "%s: too many values for '%s'", name, pd->name);
                if (!op->list && !(op->list = malloc(VXA_OP_MAXLIST * sizeof *op->list))) return VXA_ERR_OUT_OF_MEMORY;
                op->list[op->nlist++] = lo;
            } else {
                if (filled[target] >= pd->count)
                    return perr(p, argcol, "%s: too many values for '%s' (it takes %d)", name, pd->name, pd->count);
                op->lo[target][filled[target]] = lo;
                op->hi[target][filled[target]] = hi;
            }
            filled[target]++;
        }
        skip_ws(p);
        if (p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->s[p->pos] == ')') { p->pos++; break; }
        return perr(p, p->pos, "%s: expected ',' or ')'%s", name, p->s[p->pos] ? "" : " before the end");
    }
    vxa_op_inst *op = &pl->ops[g];
    if (nchildren == 0) return perr(p, col, "%s: no ops inside (write %s(op, op, ...))", name, name);
    for (int q = 0; q < desc->nparams; q++) {
        if (!filled[q] && !(params[q].flags & VXA_P_LONG))
            for (int k = 0; k < params[q].count; k++) op->lo[q][k] = op->hi[q][k] = params[q].def[k];
        op->given[q] = filled[q];
        if ((params[q].flags & VXA_P_LONG) && filled[q] && filled[q] != nchildren)
            return perr(p, col, "%s: %d %s for %d ops inside (one per op)", name, filled[q], params[q].name,
                        nchildren);
    }
    if (desc->group == VXA_GROUP_SOME_OF && op->hi[0][0] > nchildren)
        return perr(p, col, "%s: n = %g, but only %d ops inside", name, op->hi[0][0], nchildren);
    for (int q = 0; q < op->nlist; q++)
        if (op->list[q] > 0) break;
        else if (q == op->nlist - 1) return perr(p, col, "%s: every weight is 0", name);
    op->nchildren = nchildren;
    op->span = pl->nops - g - 1;
    return VXA_OK;
}

/* One op, or a group with the ops inside it, appended to pl. */
static vxa_status parse_item(parser *p, vxa_pipeline *pl, int *cap, int depth)
{
    char name[64];
    const size_t save = p->pos;
    ident(p, name, sizeof name);
    p->pos = save;
    const vxa_op_desc *d = vxa_op_find(name);
    if (d && d->kind == VXA_OPK_GROUP) return parse_group(p, pl, cap, depth);
    vxa_status st = VXA_OK;
    vxa_op_inst *slot = append(p, pl, cap, &st);
    if (!slot) return st;
    pl->nops--;   /* counted once parsed: a failed op owns nothing the pipeline frees */
    if ((st = parse_op(p, slot)) != VXA_OK) {
        free(slot->list);
        free(slot->path);
        free(slot->data);
        return st;
    }
    pl->nops++;
    const vxa_op_inst *op = slot;
    if (op->desc->needs & VXA_OP_FIRST) {
        if (depth > 0)
            return perr(p, (size_t)op->column, "%s reads the pipeline's input as it is: it cannot be inside a "
                        "group", op->desc->name);
        for (int q = 0; q < pl->nops - 1; q++)
            if (pl->ops[q].desc->kind != VXA_OPK_SAMPLING)
                return perr(p, (size_t)op->column, "%s reads the pipeline's input as it is: it must come before "
                            "every other op (only sampling settings may precede it; found %s at column %d)",
                            op->desc->name, pl->ops[q].desc->name, pl->ops[q].column + 1);
    }
    return VXA_OK;
}

/* The normalised text of entry i (a group with its children) at buf; returns the entry after it. */
static int format_item(const vxa_pipeline *pl, int i, char *buf, size_t len, size_t *used)
{
    const vxa_op_inst *op = &pl->ops[i];
    char one[2048];
    vxa_op_format(op, one, sizeof one);
    if (op->desc->kind != VXA_OPK_GROUP) {
        *used += (size_t)snprintf(buf + *used, *used < len ? len - *used : 0, "%s", one);
        return i + 1;
    }
    /* one = "name(params)": the children go first, then the parameters */
    const size_t nl = strlen(op->desc->name) + 1;
    one[strlen(one) - 1] = '\0';
    *used += (size_t)snprintf(buf + *used, *used < len ? len - *used : 0, "%s(", op->desc->name);
    int c = i + 1;
    for (int q = 0; q < op->nchildren; q++) {
        if (q) *used += (size_t)snprintf(buf + *used, *used < len ? len - *used : 0, ", ");
        c = format_item(pl, c, buf, len, used);
    }
    *used += (size_t)snprintf(buf + *used, *used < len ? len - *used : 0, "%s%s)", one[nl] ? ", " : "", one + nl);
    return c;
}

vxa_status vxa_pipeline_parse(const char *spec, vxa_pipeline **out, char *err, size_t errlen)
{
    if (!spec || !out) return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_parse: NULL argument");
    *out = NULL;
    vxa_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl) return VXA_ERR_OUT_OF_MEMORY;
    parser p = { spec, 0, err, errlen };
    int cap = 0;
    vxa_status st = VXA_OK;
    for (;;) {
        while (isspace((unsigned char)spec[p.pos]) || spec[p.pos] == ';' || spec[p.pos] == '|') p.pos++;
        if (!spec[p.pos]) break;
        if ((st = parse_item(&p, pl, &cap, 0)) != VXA_OK) goto fail;
    }
    if (pl->nops == 0) {
        st = perr(&p, 0, "empty spec: no ops (`voxaug ops` lists them)");
        goto fail;
    }
    /* Normalised text, appended at its end (strcat from the start made long specs quadratic): every entry's text
     * once, with ", " and a group's parentheses around its children. */
    const size_t len = (size_t)pl->nops * (2048 + 8) + 1;
    if (!(pl->text = malloc(len))) { st = VXA_ERR_OUT_OF_MEMORY; goto fail; }
    size_t used = 0;
    pl->text[0] = '\0';
    for (int i = 0; i < pl->nops;) {
        if (i) used += (size_t)snprintf(pl->text + used, used < len ? len - used : 0, " ");
        i = format_item(pl, i, pl->text, len, &used);
    }
    *out = pl;
    return VXA_OK;
fail:
    vxa_pipeline_free(pl);
    return st;
}

void vxa_pipeline_free(vxa_pipeline *p)
{
    if (!p) return;
    for (int i = 0; i < p->nops; i++) {
        free(p->ops[i].list);
        free(p->ops[i].path);
        free(p->ops[i].data);
    }
    free(p->ops);
    free(p->text);
    free(p);
}

const char *vxa_pipeline_string(const vxa_pipeline *p) { return p && p->text ? p->text : ""; }

/* The shortest of %.15g / %.17g that reads back as x. */
static void num(char *buf, size_t len, double x)
{
    snprintf(buf, len, "%.15g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, len, "%.17g", x);
}

void vxa_op_format(const vxa_op_inst *op, char *buf, size_t len)
{
    char a[40], b[40];
    const vxa_param_desc *params = op->desc->params;
    const int nparams = op->desc->nparams;
    size_t n = (size_t)snprintf(buf, len, "%s(", op->desc->name);
    bool first = true;
    for (int i = 0; i < nparams && n < len; i++) {
        if (!op->given[i]) continue;
        n += (size_t)snprintf(buf + n, len - n, "%s%s=", first ? "" : ", ", params[i].name);
        first = false;
        if (params[i].flags & VXA_P_PATH) {
            n += (size_t)snprintf(buf + n, len - n, "%s", op->path ? op->path : "");
            continue;
        }
        if (params[i].flags & VXA_P_PAIRS) {
            for (int k = 0; k + 1 < op->ndata && n < len; k += 2) {
                num(a, sizeof a, op->data[k]);
                num(b, sizeof b, op->data[k + 1]);
                n += (size_t)snprintf(buf + n, len - n, "%s%s:%s", k ? "," : "", a, b);
            }
            continue;
        }
        if (params[i].flags & VXA_P_LONG) {
            for (int k = 0; k < op->nlist && n < len; k++) {
                num(a, sizeof a, op->list[k]);
                n += (size_t)snprintf(buf + n, len - n, "%s%s", k ? "," : "", a);
            }
            continue;
        }
        for (int k = 0; k < op->given[i] && n < len; k++) {
            const char *sep = k ? "," : "";
            if (params[i].choices)
                n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, params[i].choices[(int)op->lo[i][k]]);
            else if (op->lo[i][k] == op->hi[i][k]) {
                num(a, sizeof a, op->lo[i][k]);
                n += (size_t)snprintf(buf + n, len - n, "%s%s", sep, a);
            } else {
                num(a, sizeof a, op->lo[i][k]);
                num(b, sizeof b, op->hi[i][k]);
                n += (size_t)snprintf(buf + n, len - n, "%s[%s,%s]", sep, a, b);
            }
        }
    }
    if (op->prob != 1.0 && n < len) {
        num(a, sizeof a, op->prob);
        n += (size_t)snprintf(buf + n, len - n, "%sp=%s", first ? "" : ", ", a);
    }
    if (n < len) snprintf(buf + n, len - n, ")");
}
