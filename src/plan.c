/* SPDX-License-Identifier: MIT */
/* The planner (src/plan.h): every op's parameters drawn on the host from (seed, sample, op index), runs of ops
 * grouped into passes, the passes' grids followed from the input's, then the fusion rewrites. */
#include "plan.h"
#include "resample_label.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Streams of the draw generator: op index << 8 | lane; lanes 0..15 belong to per-voxel noise of the op. */
#define DRAW_LANE_PARAMS 0xFF
#define DRAW_LANE_OP 0xFE

void vxa_op_draw(const vxa_op_inst *op, uint64_t seed, uint64_t sample, uint32_t index, vxa_op_values *val,
                 bool *applied)
{
    memset(val, 0, sizeof *val);
    val->seed = seed;
    val->sample = sample;
    val->op_index = index;
    val->data = op->data;
    val->ndata = op->ndata;
    vxa_draw_rng r = { .seed = seed, .sample = sample, .stream = index << 8 | DRAW_LANE_PARAMS };
    /* The probability draw comes first and always happens, so later draws do not depend on it. */
    const double u = vxa_draw_uniform(&r);
    *applied = op->prob >= 1.0 || u < op->prob;
    val->list = op->list;
    val->nlist = op->nlist;
    for (int i = 0; i < op->desc->nparams; i++) {
        const vxa_param_desc *pd = &op->desc->params[i];
        val->given[i] = op->given[i];
        if (pd->flags & VXA_P_LONG) continue;
        int n = op->given[i] ? op->given[i] : pd->count;
        for (int k = 0; k < n; k++) {
            double lo = op->lo[i][k], hi = op->hi[i][k];
            if (lo == hi) val->v[i][k] = lo;
            else if (pd->flags & VXA_P_INT) val->v[i][k] = (double)vxa_draw_int(&r, (int64_t)lo, (int64_t)hi);
            else val->v[i][k] = lo + (hi - lo) * vxa_draw_uniform(&r);
        }
        for (int k = n; k < pd->count; k++) val->v[i][k] = val->v[i][0]; /* one value broadcasts */
    }
}

static bool is_identity(const double A[3][3], const double b[3], const int64_t in[3], const int64_t out[3])
{
    for (int r = 0; r < 3; r++) {
        if (b[r] != 0.0 || in[r] != out[r]) return false;
        for (int c = 0; c < 3; c++)
            if (A[r][c] != (r == c ? 1.0 : 0.0)) return false;
    }
    return true;
}

/* Whether a pass only crops inside its input: p = o + q, q whole, every position inside, with A and b as the
 * resampling kernel would see them (float), i.e. a pass the resampling entry point runs as an exact copy
 * (without flips). off = q. */
static bool is_crop(const vxa_pass *s, int64_t off[3])
{
    if (s->elastic) return false;
    for (int a = 0; a < 3; a++) {
        for (int c = 0; c < 3; c++)
            if ((float)s->A[a][c] != (a == c ? 1.0f : 0.0f)) return false;
        const double q = (float)s->b[a];
        if (q != floor(q) || q < 0 || q + (double)s->out.dim[a] > (double)s->in.dim[a]) return false;
        off[a] = (int64_t)q;
    }
    return true;
}

/* Whether an op's map p = A·o + b only cuts a window out of its input grid in: A the identity, b whole, the
 * window inside. */
static bool is_window(const double A[3][3], const double b[3], const int64_t out_dim[3], const vxa_grid *in)
{
    for (int a = 0; a < 3; a++) {
        for (int c = 0; c < 3; c++)
            if (A[a][c] != (a == c ? 1.0 : 0.0)) return false;
        if (b[a] != floor(b[a]) || b[a] < 0 || b[a] + (double)out_dim[a] > (double)in->dim[a]) return false;
    }
    return true;
}

/* Whether a pass's map is a signed permutation of whole voxels without a field (flips, crops, shifts): the
 * resampling entry point copies those instead of interpolating. */
static bool copy_like(const vxa_pass *s)
{
    if (s->elastic) return false;
    for (int a = 0; a < 3; a++) {
        for (int c = 0; c < 3; c++) {
            const float x = (float)s->A[a][c];
            if (x != 0.0f && !(a == c && (x == 1.0f || x == -1.0f))) return false;
        }
        if ((float)s->b[a] != floorf((float)s->b[a])) return false;
    }
    return true;
}

/* Whether an intensity op takes its statistics over the label map (a "mask" parameter set). */
static bool uses_mask(const vxa_op_desc *d, const vxa_op_values *v)
{
    for (int q = 0; q < d->nparams; q++)
        if (strcmp(d->params[q].name, "mask") == 0) return v->v[q][0] != 0;
    return false;
}

typedef struct {
    const vxa_pipeline *p;
    vxa_plan *plan;
    int flags;
    int order, mode, label_mode;     /* the sampling in force */
    int label_order, label_argmax;
    double cval;
    int geometry;                    /* VXA_GEOMETRY_*, in force from the sampling op that sets it */
    char *err;
    size_t errlen;
    const vxa_op_data *data;         /* the input's data for data-dependent grid ops, or NULL */
    int *seq, nseq;                  /* this sample's ops in the order they run (groups drawn and expanded) */
    double tA[3][3], tb[3];          /* the current grid's indices -> the pipeline input's (spatial ops so far) */
} planner;

static void draw(planner *w, int k, bool *applied, vxa_op_values *val)
{
    vxa_plan_op *rec = &w->plan->ops[k];
    vxa_op_draw(&w->p->ops[k], w->plan->seed, w->plan->sample, (uint32_t)k, val, applied);
    if (w->flags & VXA_PLAN_ALL_APPLIED) *applied = true;
    rec->drawn = true;
    rec->applied = *applied;
    rec->val = *val;
}

/* A pass of `kind` from op i on the grid `grid`, nothing in it yet. */
static void pass_begin(vxa_pass *s, vxa_pass_kind kind, int i, const vxa_grid *grid)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->first = i;
    s->in = *grid;
    s->out = *grid;
}

/* The op index at position t of this sample's sequence, or nops past its end. */
static int seq_at(const planner *w, int t)
{
    return t < w->nseq ? w->seq[t] : w->p->nops;
}

/* A RESAMPLE pass from position *i of the sequence: sampling settings (inside a run order, mode and cval apply to
 * the whole run, geometry to the ops after it), spatial ops composed, at most one applied elastic op; it ends
 * before an intensity op or a second elastic op. Two maps are followed: the voxels' pull map (A, b), every op's,
 * and the grid's (G, g: out.affine = in.affine·[G g]), which takes grid ops only, or every op with
 * geometry=track: an augmentation op moves the content on its grid (SPEC "Geometry"). */
static vxa_status plan_resample(planner *w, int *i, const vxa_grid *grid, vxa_pass *s)
{
    const vxa_pipeline *p = w->p;
    pass_begin(s, VXA_PASS_RESAMPLE, seq_at(w, *i), grid);
    vxa_xform_identity(s->A, s->b);
    double G[3][3], g[3];
    vxa_xform_identity(G, g);
    bool regrid = false;             /* G, g is not the identity on the same grid */
    int t = *i;
    for (; t < w->nseq; t++) {
        const int k = w->seq[t];
        const vxa_op_inst *op = &p->ops[k];
        if (op->desc->kind == VXA_OPK_SAMPLING) {
            if (op->given[VXA_SAMPLING_ORDER]) w->order = (int)op->lo[VXA_SAMPLING_ORDER][0];
            if (op->given[VXA_SAMPLING_MODE]) w->mode = (int)op->lo[VXA_SAMPLING_MODE][0];
            if (op->given[VXA_SAMPLING_CVAL]) w->cval = op->lo[VXA_SAMPLING_CVAL][0];
            if (op->given[VXA_SAMPLING_LABEL_MODE]) w->label_mode = (int)op->lo[VXA_SAMPLING_LABEL_MODE][0];
            if (op->given[VXA_SAMPLING_LABEL_ORDER]) w->label_order = (int)op->lo[VXA_SAMPLING_LABEL_ORDER][0];
            if (op->given[VXA_SAMPLING_LABEL_RULE]) w->label_argmax = (int)op->lo[VXA_SAMPLING_LABEL_RULE][0];
            if (op->given[VXA_SAMPLING_GEOMETRY]) w->geometry = (int)op->lo[VXA_SAMPLING_GEOMETRY][0];
            continue;
        }
        if (op->desc->kind == VXA_OPK_INTENSITY || op->desc->kind == VXA_OPK_LABEL) break;
        if (op->desc->kind == VXA_OPK_ELASTIC && s->elastic) break; /* one field per pass */
        vxa_op_values val;
        bool applied;
        draw(w, k, &applied, &val);
        if (applied && op->desc->kind == VXA_OPK_SPATIAL) {
            double Ak[3][3], bk[3];
            int64_t out_dim[3];
            char err[512] = "";
            vxa_draw_rng rng = { .seed = val.seed, .sample = val.sample, .stream = (uint32_t)k << 8 | DRAW_LANE_OP,
                                 .data = w->data };
            vxa_xform_compose(w->tA, w->tb, s->A, s->b, rng.to_input_A, rng.to_input_b);
            char *note = w->plan->ops[k].note;
            vxa_status st = op->desc->spatial(&val, &rng, &s->out, out_dim, Ak, bk, note, sizeof w->plan->ops[k].note,
                                              err, sizeof err);
            if (st != VXA_OK)
                return vxa_fail_buf(w->err, w->errlen, st, "%s (op %d at spec column %d): %s", op->desc->name, k,
                                    op->column + 1, err);
            for (int a = 0; a < 3; a++)
                if (out_dim[a] < 1)
                    return vxa_fail_buf(w->err, w->errlen, VXA_ERR_INVALID_ARGUMENT, "%s: output dim %d would be "
                                        "%lld", op->desc->name, a, (long long)out_dim[a]);
            const bool window = is_window(Ak, bk, out_dim, &s->out);
            vxa_xform_compose(s->A, s->b, Ak, bk, s->A, s->b);
            if (!op->desc->augment || w->geometry == VXA_GEOMETRY_TRACK) {
                vxa_xform_compose(G, g, Ak, bk, G, g);
                regrid = true;
            }
            /* an augmentation op keeps its grid as it is, affine and spacing bit for bit */
            if (regrid) vxa_grid_after(&s->in, G, g, out_dim, &s->out);
            for (int a = 0; a < 3; a++)   /* a window keeps the field's grid; any other op moves it to its output */
                s->field_off[a] = window ? s->field_off[a] + (int64_t)bk[a] : 0;
            if (!window) s->field_grid = s->out;
        } else if (applied) {
            s->elastic = op;
            s->elastic_val = val;
            s->field_grid = s->out;
            memset(s->field_off, 0, sizeof s->field_off);
        }
    }
    *i = t;
    s->end = seq_at(w, t);
    vxa_xform_compose(w->tA, w->tb, s->A, s->b, w->tA, w->tb);
    s->order = w->order;
    s->mode = w->mode;
    s->cval = w->cval;
    s->label_mode = w->label_mode;
    s->label_rule = w->label_order == 0 ? 0 : w->label_argmax ? VXA_LABEL_ARGMAX : VXA_LABEL_THRESHOLD;
    s->identity = !s->elastic && is_identity(s->A, s->b, s->in.dim, s->out.dim);
    s->crop = is_crop(s, s->crop_off);
    return VXA_OK;
}

/* An INTENSITY pass from position *i: up to VXA_PLAN_MAX_IOPS consecutive intensity ops. */
static void plan_intensity(planner *w, int *i, const vxa_grid *grid, vxa_pass *s)
{
    const vxa_pipeline *p = w->p;
    pass_begin(s, VXA_PASS_INTENSITY, seq_at(w, *i), grid);
    int t = *i;
    for (; t < w->nseq && t - *i < VXA_PLAN_MAX_IOPS; t++) {
        const int k = w->seq[t];
        if (p->ops[k].desc->kind != VXA_OPK_INTENSITY) break;
        bool applied;
        vxa_op_values val;
        draw(w, k, &applied, &val);
        if (!applied) continue;
        s->descs[s->nops] = p->ops[k].desc;
        s->vals[s->nops] = val;
        s->uses_mask = s->uses_mask || uses_mask(s->descs[s->nops], &val);
        s->nops++;
    }
    *i = t;
    s->end = seq_at(w, t);
}

/* ---- composition: one_of, some_of, shuffle ----------------------------------------------------------------
 * A group's entry in the pipeline's op list is followed by its children's entries (span of them in all; a child
 * may be a group). Per sample, expand() draws the group's probability and choice from its own stream (op index
 * << 8 | DRAW_LANE_OP) and appends the leaves it picked, in the order they run, to the sequence that the passes
 * are built from: every op keeps its own index, so its draws do not depend on what else was picked. */
static int child_next(const vxa_pipeline *p, int c)
{
    return c + 1 + p->ops[c].span;
}

/* Group weight of child q: weights= as given, else 1. */
static double group_weight(const vxa_op_values *val, int q)
{
    return val->nlist ? val->list[q] : 1.0;
}

/* Appends op i (a leaf) or what group i draws to w->seq; returns the index after it and its children. */
static int expand(planner *w, int i)
{
    const vxa_pipeline *p = w->p;
    const vxa_op_inst *op = &p->ops[i];
    if (op->desc->kind != VXA_OPK_GROUP) {
        w->seq[w->nseq++] = i;
        return i + 1;
    }
    const int end = child_next(p, i), n = op->nchildren;
    int child[VXA_GROUP_MAX], order[VXA_GROUP_MAX], norder = 0;
    for (int q = 0, c = i + 1; q < n; q++, c = child_next(p, c)) child[q] = c;
    vxa_op_values val;
    bool applied;
    draw(w, i, &applied, &val);
    if (!applied) return end;
    vxa_draw_rng r = { .seed = val.seed, .sample = val.sample, .stream = (uint32_t)i << 8 | DRAW_LANE_OP };
    if (op->desc->group == VXA_GROUP_SHUFFLE) {   /* Fisher-Yates */
        for (int q = 0; q < n; q++) order[q] = q;
        for (int q = n - 1; q > 0; q--) {
            const int j = (int)vxa_draw_int(&r, 0, q), tmp = order[q];
            order[q] = order[j];
            order[j] = tmp;
        }
        norder = n;
    } else {  /* one_of: one child; some_of: n of them without replacement, in the order drawn (MONAI SomeOf) */
        const int want = op->desc->group == VXA_GROUP_ONE_OF ? 1 : (int)val.v[0][0];
        bool taken[VXA_GROUP_MAX] = { false };
        for (; norder < want; norder++) {
            double total = 0.0;
            for (int q = 0; q < n; q++) total += taken[q] ? 0.0 : group_weight(&val, q);
            if (!(total > 0)) break;    /* the children left all weigh 0 */
            const double target = vxa_draw_uniform(&r) * total;
            double acc = 0.0;
            int pick = -1;
            for (int q = 0; q < n; q++) {
                if (taken[q] || group_weight(&val, q) <= 0) continue;
                pick = q;
                acc += group_weight(&val, q);
                if (target < acc) break;
            }
            taken[pick] = true;
            order[norder] = pick;
        }
    }
    char *note = w->plan->ops[i].note;
    size_t len = (size_t)snprintf(note, sizeof w->plan->ops[i].note, "\"chosen\":[");
    for (int q = 0; q < norder && len < sizeof w->plan->ops[i].note; q++)
        len += (size_t)snprintf(note + len, sizeof w->plan->ops[i].note - len, "%s%d", q ? "," : "", order[q]);
    if (len < sizeof w->plan->ops[i].note) snprintf(note + len, sizeof w->plan->ops[i].note - len, "]");
    for (int q = 0; q < norder; q++) expand(w, child[order[q]]);
    return end;
}

vxa_status vxa_plan_make(const vxa_pipeline *p, uint64_t seed, uint64_t sample, const vxa_grid *in, int flags,
                         vxa_plan *plan, char *err, size_t errlen)
{
    return vxa_plan_make_data(p, seed, sample, in, flags, NULL, plan, err, errlen);
}

vxa_status vxa_plan_make_data(const vxa_pipeline *p, uint64_t seed, uint64_t sample, const vxa_grid *in, int flags,
                              const vxa_op_data *data, vxa_plan *plan, char *err, size_t errlen)
{
    memset(plan, 0, sizeof *plan);
    plan->seed = seed;
    plan->sample = sample;
    plan->out = *in;
    /* at most one pass per op, and one more for an empty pipeline's nothing */
    plan->passes = calloc((size_t)p->nops + 1, sizeof *plan->passes);
    plan->ops = calloc((size_t)p->nops + 1, sizeof *plan->ops);
    if (!plan->passes || !plan->ops)
        return vxa_fail_buf(err, errlen, VXA_ERR_OUT_OF_MEMORY, "plan of %d ops", p->nops);
    planner w = { .p = p, .plan = plan, .flags = flags, .order = 1, .mode = VXA_MODE_CONSTANT,
                  .label_mode = VXA_MODE_CONSTANT, .cval = 0.0, .err = err, .errlen = errlen, .data = data };
    vxa_xform_identity(w.tA, w.tb);
    if (!(w.seq = malloc(((size_t)p->nops + 1) * sizeof *w.seq)))
        return vxa_fail_buf(err, errlen, VXA_ERR_OUT_OF_MEMORY, "plan of %d ops", p->nops);
    for (int i = 0; i < p->nops;) i = expand(&w, i);
    for (int i = 0; i < w.nseq;) {
        vxa_pass *s = &plan->passes[plan->npasses++];
        if (p->ops[w.seq[i]].desc->kind == VXA_OPK_INTENSITY) {
            plan_intensity(&w, &i, &plan->out, s);
        } else if (p->ops[w.seq[i]].desc->kind == VXA_OPK_LABEL) {
            const int k = w.seq[i];
            bool applied;
            pass_begin(s, VXA_PASS_LABEL, k, &plan->out);
            draw(&w, k, &applied, &s->vals[0]);
            s->label = applied ? p->ops[k].desc : NULL;
            s->end = seq_at(&w, ++i);
        } else {
            vxa_status st = plan_resample(&w, &i, &plan->out, s);
            if (st != VXA_OK) {
                free(w.seq);
                return st;
            }
        }
        plan->out = s->out;
    }
    free(w.seq);
    /* Fusion: intensity ops, then a crop inside the image (a pass that starts with a spatial op, not with a
     * sampling setting): the intensity program's last pass computes the crop's voxels alone. */
    for (int k = 0; k + 1 < plan->npasses; k++) {
        vxa_pass *s = &plan->passes[k], *t = &plan->passes[k + 1];
        if (s->kind == VXA_PASS_INTENSITY && s->nops > 0 && t->kind == VXA_PASS_RESAMPLE &&
            p->ops[t->first].desc->kind != VXA_OPK_SAMPLING && t->crop && !t->identity) {
            s->window = true;
            t->fused = true;
        }
    }
    /* Moving the crop before intensity ops that need no statistics, into the resampling pass before them (not an
     * exact copy, whose window the copy kernel would not take). */
    for (int k = 0; k + 2 < plan->npasses; k++) {
        vxa_pass *r = &plan->passes[k], *s = &plan->passes[k + 1], *t = &plan->passes[k + 2];
        if (r->kind != VXA_PASS_RESAMPLE || r->identity || r->crop || r->fused || copy_like(r) || !s->window ||
            s->uses_mask || !t->fused)
            continue;
        bool local = true;
        for (int q = 0; q < s->nops && local; q++) local = vxa_intensity_is_local(s->descs[q]);
        if (!local) continue;
        r->win = true;
        memcpy(r->win_off, t->crop_off, sizeof r->win_off);
        s->part = true;
        s->window = false;
        memcpy(s->part_grid, r->out.dim, sizeof s->part_grid);
        memcpy(s->part_off, t->crop_off, sizeof s->part_off);
        r->out = s->in = s->out = t->out;
    }
    return VXA_OK;
}

void vxa_plan_free(vxa_plan *plan)
{
    free(plan->passes);
    free(plan->ops);
    memset(plan, 0, sizeof *plan);
}

/* ---- what was drawn, as JSON ---------------------------------------------------------------------------- */
struct vxa_draw {
    char *json;
    size_t len, cap;
    bool failed;                     /* out of memory on the way */
};

static void jprintf(vxa_draw *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jprintf(vxa_draw *d, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(d->json ? d->json + d->len : NULL, d->json ? d->cap - d->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (d->json && d->len + (size_t)n < d->cap) {
            d->len += (size_t)n;
            return;
        }
        size_t cap = (d->cap ? d->cap * 2 : 1024) + (size_t)n;
        char *j = realloc(d->json, cap);
        if (!j) {
            d->failed = true;
            return;
        }
        d->json = j;
        d->cap = cap;
    }
}

void vxa_draw_free(vxa_draw *d)
{
    if (!d) return;
    free(d->json);
    free(d);
}

const char *vxa_draw_json(const vxa_draw *d) { return d && d->json ? d->json : "{}"; }

static void draw_op(vxa_draw *d, const vxa_op_inst *op, const vxa_op_values *val, bool applied, const char *note,
                    int index)
{
    jprintf(d, "%s{\"op\":\"%s\",\"index\":%d,\"applied\":%s", index ? "," : "", op->desc->name, index,
            applied ? "true" : "false");
    for (int i = 0; op->desc->kind != VXA_OPK_SAMPLING && i < op->desc->nparams; i++) {
        const vxa_param_desc *pd = &op->desc->params[i];
        const int n = (pd->flags & VXA_P_LIST) && val->given[i] ? val->given[i] : pd->count;
        jprintf(d, ",\"%s\":", pd->name);
        if (pd->flags & VXA_P_PATH) {   /* its characters need no JSON escape (src/spec.c) */
            jprintf(d, "\"%s\"", op->path ? op->path : "");
            continue;
        }
        if (pd->flags & VXA_P_PAIRS) {
            jprintf(d, "[");
            for (int k = 0; k + 1 < op->ndata; k += 2)
                jprintf(d, "%s[%.17g,%.17g]", k ? "," : "", op->data[k], op->data[k + 1]);
            jprintf(d, "]");
            continue;
        }
        if (pd->flags & VXA_P_LONG) {   /* the list as given, [] where it was left out */
            jprintf(d, "[");
            for (int k = 0; k < val->nlist; k++) jprintf(d, "%s%.10g", k ? "," : "", val->list[k]);
            jprintf(d, "]");
            continue;
        }
        if (pd->count > 1) jprintf(d, "[");
        for (int k = 0; k < n; k++) {
            if (pd->choices) jprintf(d, "%s\"%s\"", k ? "," : "", pd->choices[(int)val->v[i][k]]);
            else jprintf(d, "%s%.10g", k ? "," : "", val->v[i][k]);
        }
        if (pd->count > 1) jprintf(d, "]");
    }
    if (note && note[0]) jprintf(d, ",%s", note);
    jprintf(d, "}");
}

vxa_draw *vxa_plan_draw(const vxa_pipeline *p, const vxa_plan *plan, bool slabs)
{
    vxa_draw *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    jprintf(d, "{\"seed\":%llu,\"sample\":%llu,\"spec\":\"%s\",%s\"ops\":[", (unsigned long long)plan->seed,
            (unsigned long long)plan->sample, vxa_pipeline_string(p), slabs ? "\"slabs\":true," : "");
    int index = 0;
    for (int k = 0; k < p->nops; k++)
        if (plan->ops[k].drawn)
            draw_op(d, &p->ops[k], &plan->ops[k].val, plan->ops[k].applied, plan->ops[k].note, index++);
    jprintf(d, "]}");
    if (d->failed) {
        vxa_draw_free(d);
        return NULL;
    }
    return d;
}
