/* SPDX-License-Identifier: MIT */
/* A draw's spatial passes as one map, both ways (src/invert.h): the inverse of a draw onto its input's grid
 * (vxa_pipeline_invert) and the displacement field of the whole draw for ITK (vxa_pipeline_displacement_field).
 * The positions are computed on the host in double precision from the plan (the pull maps the passes use, the
 * elastic fields they read); the values then move in one resampling pass through the backend (vxa_resample). */
#include "invert.h"
#include "resample_coord.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a pass's output lies in the output its map is written for: a crop moved into the pass (its `win`). */
static const int64_t *win_off(const vxa_pass *s)
{
    static const int64_t zero[3] = { 0, 0, 0 };
    return s->win ? s->win_off : zero;
}

/* ---- the map -------------------------------------------------------------------------------------------- */
static bool invert3(const double A[3][3], double Ai[3][3])
{
    const double c00 = A[1][1] * A[2][2] - A[1][2] * A[2][1], c01 = A[1][2] * A[2][0] - A[1][0] * A[2][2],
                 c02 = A[1][0] * A[2][1] - A[1][1] * A[2][0];
    const double det = A[0][0] * c00 + A[0][1] * c01 + A[0][2] * c02;
    if (!(fabs(det) > 1e-12) || !isfinite(det)) return false;
    Ai[0][0] = c00 / det;
    Ai[1][0] = c01 / det;
    Ai[2][0] = c02 / det;
    Ai[0][1] = (A[0][2] * A[2][1] - A[0][1] * A[2][2]) / det;
    Ai[1][1] = (A[0][0] * A[2][2] - A[0][2] * A[2][0]) / det;
    Ai[2][1] = (A[0][1] * A[2][0] - A[0][0] * A[2][1]) / det;
    Ai[0][2] = (A[0][1] * A[1][2] - A[0][2] * A[1][1]) / det;
    Ai[1][2] = (A[0][2] * A[1][0] - A[0][0] * A[1][2]) / det;
    Ai[2][2] = (A[0][0] * A[1][1] - A[0][1] * A[1][0]) / det;
    return true;
}

/* The field d (3 channels on a grid of n) at continuous position q: trilinear, the position clamped into the grid
 * (the field extends by its edge values). At whole positions inside, the stored values themselves. */
static void field_at(const float *d, const int64_t n[3], const double q[3], double out[3])
{
    int64_t i0[3], i1[3];
    double w[3];
    for (int a = 0; a < 3; a++) {
        const double x = fmin(fmax(q[a], 0.0), (double)(n[a] - 1));
        i0[a] = (int64_t)floor(x);
        i1[a] = i0[a] + 1 < n[a] ? i0[a] + 1 : i0[a];
        w[a] = x - (double)i0[a];
    }
    const size_t nvox = (size_t)(n[0] * n[1] * n[2]);
    for (int c = 0; c < 3; c++) {
        const float *f = d + (size_t)c * nvox;
        double s = 0.0;
        for (int corner = 0; corner < 8; corner++) {
            double wt = 1.0;
            int64_t idx[3];
            for (int a = 0; a < 3; a++) {
                const int up = (corner >> a) & 1;
                idx[a] = up ? i1[a] : i0[a];
                wt *= up ? w[a] : 1.0 - w[a];
            }
            if (wt != 0.0) s += wt * (double)f[idx[0] + n[0] * (idx[1] + n[1] * idx[2])];
        }
        out[c] = s;
    }
}

static bool inside(const int64_t n[3], const double q[3])
{
    for (int a = 0; a < 3; a++) {
        const double r = floor(q[a] + 0.5);
        if (!(r >= 0.0 && r <= (double)(n[a] - 1))) return false;
    }
    return true;
}

void vxa_drawmap_free(vxa_drawmap *m)
{
    for (int k = 0; k < m->nmaps; k++) free(m->maps[k].d);
    free(m->maps);
    vxa_plan_free(&m->plan);
    memset(m, 0, sizeof *m);
}

vxa_status vxa_drawmap_make(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o, const vxa_grid *in,
                            vxa_drawmap *m)
{
    memset(m, 0, sizeof *m);
    m->in = *in;
    vxa_xform_identity(m->A, m->b);
    /* The re-plan has (seed, sample) and the grid, not the data: a crop placed by the label map or the image
     * would be re-drawn elsewhere, so such pipelines are refused rather than undone wrongly. */
    for (int k = 0; k < p->nops; k++)
        if (p->ops[k].desc->needs)
            return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "%s (op %d) placed its crop from the data it ran on, which "
                            "undoing does not have: a pipeline with fg_crop, balanced_crop, label_crop or "
                            "crop_foreground cannot be undone", p->ops[k].desc->name, k);
    char err[1024];
    vxa_status st = vxa_plan_make(p, o->seed, o->sample, in, 0, &m->plan, err, sizeof err);
    if (st != VXA_OK) return vxa_fail(ctx, st, "%s", err);
    m->maps = calloc((size_t)m->plan.npasses + 1, sizeof *m->maps);
    if (!m->maps) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "the maps of %d passes", m->plan.npasses);
    for (int k = 0; k < m->plan.npasses; k++) {
        const vxa_pass *s = &m->plan.passes[k];
        if (s->kind != VXA_PASS_RESAMPLE || s->identity) continue;
        if (s->fused && k >= 2 && m->plan.passes[k - 2].win) continue;   /* a crop done by that pass's window */
        vxa_passmap *pm = &m->maps[m->nmaps++];
        pm->pass = s;
        if (!invert3(s->A, pm->Ai))
            return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "the spatial pass of ops %d..%d has a singular pull map "
                            "(its ops map the output onto a plane or a line): it cannot be undone", s->first,
                            s->end - 1);
        const int64_t *wo = win_off(s);   /* output voxel o is the whole output's o + wo */
        const double Aw[3][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } }, bw[3] = { (double)wo[0], (double)wo[1],
                                                                                   (double)wo[2] };
        vxa_xform_compose(m->A, m->b, s->A, s->b, m->A, m->b);
        vxa_xform_compose(m->A, m->b, Aw, bw, m->A, m->b);
        if (!s->elastic) continue;
        /* the field the pass reads, built as the executor builds it (src/pipeline.c, exec_spatial) */
        vxa_dvol f = { 0 };
        const int64_t *w = win_off(s);
        const int64_t foff[3] = { s->field_off[0] + w[0], s->field_off[1] + w[1], s->field_off[2] + w[2] };
        if ((st = s->elastic->desc->field(ctx, &s->elastic_val, &s->field_grid, foff, s->out.dim, &f)) != VXA_OK)
            return st;
        const size_t bytes = vxa_dvol_bytes(&f);
        if (!(pm->d = malloc(bytes))) st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "elastic field of %zu bytes", bytes);
        if (st == VXA_OK) st = vxa_dvol_read(ctx, &f, pm->d);
        vxa_dvol_release(ctx, &f);
        if (st != VXA_OK) return st;
        const size_t nvox = (size_t)(s->out.dim[0] * s->out.dim[1] * s->out.dim[2]);
        for (int c = 0; c < 3; c++)
            for (size_t v = 0; v < nvox; v++)
                pm->dmax[c] = fmax(pm->dmax[c], fabs((double)pm->d[v + (size_t)c * nvox]));
        m->has_field = true;
    }
    return VXA_OK;
}

void vxa_drawmap_forward(const vxa_drawmap *m, const double o[3], double pos[3])
{
    double q[3] = { o[0], o[1], o[2] };
    for (int k = m->nmaps - 1; k >= 0; k--) {
        const vxa_passmap *pm = &m->maps[k];
        const int64_t *wo = win_off(pm->pass);
        double x[3] = { q[0] + (double)wo[0], q[1] + (double)wo[1], q[2] + (double)wo[2] }, d[3];
        if (pm->d) {
            field_at(pm->d, pm->pass->out.dim, q, d);
            for (int a = 0; a < 3; a++) x[a] += d[a];
        }
        for (int r = 0; r < 3; r++)
            q[r] = pm->pass->b[r] + pm->pass->A[r][0] * x[0] + pm->pass->A[r][1] * x[1] + pm->pass->A[r][2] * x[2];
    }
    memcpy(pos, q, sizeof q);
}

bool vxa_drawmap_inverse(const vxa_drawmap *m, const double p[3], double o[3], vxa_invert_stats *stats)
{
    double y[3] = { p[0], p[1], p[2] };
    bool in = true;
    for (int k = 0; k < m->nmaps; k++) {
        const vxa_passmap *pm = &m->maps[k];
        const vxa_pass *s = pm->pass;
        double z[3];
        for (int r = 0; r < 3; r++)
            z[r] = pm->Ai[r][0] * (y[0] - s->b[0]) + pm->Ai[r][1] * (y[1] - s->b[1]) + pm->Ai[r][2] * (y[2] - s->b[2]) -
                   (double)win_off(s)[r];
        /* o + d(o) = z: o <- z - d(o); where z lies farther outside the grid than d reaches, so does o */
        bool far = false;
        for (int a = 0; pm->d && a < 3; a++)
            far = far || z[a] < -2.5 - pm->dmax[a] || z[a] > (double)s->out.dim[a] + 1.5 + pm->dmax[a];
        if (pm->d && !far) {
            double q[3] = { z[0], z[1], z[2] }, d[3];
            int it = 0;
            for (; it < VXA_INVERT_MAX_ITER; it++) {
                field_at(pm->d, s->out.dim, q, d);
                double step = 0.0;
                for (int a = 0; a < 3; a++) {
                    const double nq = z[a] - d[a];
                    step = fmax(step, fabs(nq - q[a]));
                    q[a] = nq;
                }
                if (step < VXA_INVERT_TOL) {
                    it++;
                    break;
                }
            }
            if (stats && inside(s->out.dim, q)) {
                field_at(pm->d, s->out.dim, q, d);
                double r = 0.0;
                for (int a = 0; a < 3; a++) r = fmax(r, fabs(q[a] + d[a] - z[a]));
                if (it > stats->iterations) stats->iterations = it;
                stats->residual_max = fmax(stats->residual_max, r);
                stats->residual_sum += r;
                stats->residual_n++;
                if (r >= VXA_INVERT_TOL * 10) stats->unconverged++;
            }
            memcpy(z, q, sizeof q);
        }
        in = in && inside(s->out.dim, z);
        memcpy(y, z, sizeof z);
    }
    memcpy(o, y, sizeof y);
    return in;
}

bool vxa_drawmap_forward_nearest(const vxa_drawmap *m, const int64_t o[3], int64_t idx[3], double *dist2)
{
    int64_t q[3] = { o[0], o[1], o[2] };
    double last = 0.0;
    for (int k = m->nmaps - 1; k >= 0; k--) {
        const vxa_passmap *pm = &m->maps[k];
        const vxa_pass *s = pm->pass;
        const int64_t *n = s->out.dim;
        float x[3];
        const int64_t *wo = win_off(s);   /* the kernel's o: the whole output's */
        for (int a = 0; a < 3; a++) x[a] = (float)(q[a] + wo[a]);
        if (pm->d) {
            const size_t v = (size_t)(q[0] + n[0] * (q[1] + n[1] * q[2])), nvox = (size_t)(n[0] * n[1] * n[2]);
            for (int a = 0; a < 3; a++) x[a] = (float)(q[a] + wo[a]) + pm->d[v + (size_t)a * nvox];
        }
        last = 0.0;
        for (int r = 0; r < 3; r++) {   /* as the resampling pass: kernels/resample_coord.h */
            const float pr = vxa_resample_coord((float)s->A[r][0], (float)s->A[r][1], (float)s->A[r][2], (float)s->b[r],
                                                x[0], x[1], x[2]);
            q[r] = vxa_resample_round(pr);
            last += ((double)pr - (double)q[r]) * ((double)pr - (double)q[r]);
        }
        for (int a = 0; a < 3; a++)
            if (q[a] < 0 || q[a] >= s->in.dim[a]) return false;
    }
    memcpy(idx, q, sizeof q);
    if (dist2) *dist2 = last;
    return true;
}

/* ---- the public entry points ------------------------------------------------------------------------------ */
void vxa_invert_options_init_size(vxa_invert_options *opt, size_t size)
{
    if (!opt) return;
    memset(opt, 0, size < sizeof *opt ? size : sizeof *opt);  /* every default is zero */
    opt->size = size;
}

void vxa_invert_report_init_size(vxa_invert_report *r, size_t size)
{
    if (!r) return;
    memset(r, 0, size < sizeof *r ? size : sizeof *r);
    r->size = size;
}

/* Whether A is a signed permutation and b whole: a map that moves whole voxels (flips, crops, pads, quarter
 * turns, whole shifts), which nearest and trilinear sampling both undo exactly. */
static bool moves_whole_voxels(const double A[3][3], const double b[3])
{
    for (int r = 0; r < 3; r++) {
        int ones = 0;
        for (int c = 0; c < 3; c++) {
            if (A[r][c] == 1.0 || A[r][c] == -1.0) ones++;
            else if (A[r][c] != 0.0) return false;
        }
        if (ones != 1 || b[r] != floor(b[r])) return false;
    }
    return true;
}

/* The intensity ops that applied, by name, for the report ("zscore noise", cut with "..." where too long). */
static void intensity_names(const vxa_pipeline *p, const vxa_plan *plan, vxa_invert_report *r)
{
    char *s = r->intensity_names;
    const size_t room = sizeof r->intensity_names;
    size_t used = 0;
    s[0] = '\0';
    for (int k = 0; k < p->nops; k++) {
        if (p->ops[k].desc->kind != VXA_OPK_INTENSITY || !plan->ops[k].applied) continue;
        r->intensity_ops++;
        if (used + 4 >= room) continue;   /* already cut */
        const int w = snprintf(s + used, room - used, "%s%s", used ? " " : "", p->ops[k].desc->name);
        if (w > 0 && used + (size_t)w + 4 < room) used += (size_t)w;
        else {
            snprintf(s + used, room - used, "%s...", used ? " " : "");
            used = room;
        }
    }
}

/* Where BACK's voxel p reads OUT, for the nearest-neighbour path: the output voxel that the run's label passes
 * filled from p, if one of the 27 around G⁻¹(p) was (its value is p's own: what comes back is identical); of
 * several, the one whose sample point lies nearest to p. Else the voxel nearest to G⁻¹(p), if p stayed in the
 * field of view. *sampled: whether the first case holds. */
static bool nearest_source(const vxa_drawmap *m, const int64_t p[3], const double q[3], bool in, int64_t src[3],
                           bool *sampled)
{
    const int64_t *n = m->plan.out.dim;
    int64_t o0[3], best[3] = { 0, 0, 0 }, idx[3];
    for (int a = 0; a < 3; a++) o0[a] = (int64_t)floor(q[a] + 0.5);
    const bool o0_in = o0[0] >= 0 && o0[0] < n[0] && o0[1] >= 0 && o0[1] < n[1] && o0[2] >= 0 && o0[2] < n[2];
    double d2 = 0.0, best_d2 = INFINITY;
    if (o0_in && vxa_drawmap_forward_nearest(m, o0, idx, &d2) && idx[0] == p[0] && idx[1] == p[1] && idx[2] == p[2]) {
        memcpy(src, o0, sizeof o0);
        *sampled = true;
        return true;
    }
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                const int64_t c[3] = { o0[0] + dx, o0[1] + dy, o0[2] + dz };
                if ((dx | dy | dz) == 0 || c[0] < 0 || c[0] >= n[0] || c[1] < 0 || c[1] >= n[1] || c[2] < 0 ||
                    c[2] >= n[2])
                    continue;
                if (vxa_drawmap_forward_nearest(m, c, idx, &d2) && idx[0] == p[0] && idx[1] == p[1] &&
                    idx[2] == p[2] && d2 < best_d2) {
                    best_d2 = d2;
                    memcpy(best, c, sizeof c);
                }
            }
    *sampled = best_d2 < INFINITY;
    if (*sampled) memcpy(src, best, sizeof best);
    else if (in && o0_in) memcpy(src, o0, sizeof o0);
    else return false;
    return true;
}

static bool scaled_volume(const vxa_volume *v)
{
    return v->scl_slope != 0.0 && isfinite(v->scl_slope) && isfinite(v->scl_inter) &&
           (v->scl_slope != 1.0 || v->scl_inter != 0.0);
}

vxa_status vxa_pipeline_invert(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *caller_o,
                               const vxa_volume *original, const vxa_volume *out, const vxa_invert_options *caller_opt,
                               vxa_volume **back, vxa_invert_report *caller_rep, vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (back) *back = NULL;
    if (draw) *draw = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_invert");
    if (st != VXA_OK) return st;
    if (!p || !caller_o || !original || !out || !back)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_invert: NULL argument");
    vxa_run_options o;
    vxa_invert_options opt;
    vxa_invert_report rep;
    vxa_invert_options_init(&opt);
    vxa_invert_report_init(&rep);
    if ((st = vxa_run_options_import(ctx, caller_o, &o)) != VXA_OK) return st;
    if (caller_opt && (st = vxa_abi_import(ctx, NULL, 0, &opt, sizeof opt, caller_opt, VXA_INVERT_OPTIONS_SIZE_V1,
                                           "vxa_invert_options")) != VXA_OK)
        return st;
    if (caller_rep && (st = vxa_abi_import(ctx, NULL, 0, &rep, sizeof rep, caller_rep, VXA_INVERT_REPORT_SIZE_V1,
                                           "vxa_invert_report")) != VXA_OK)
        return st;
    if ((st = vxa_volume_check_size(ctx, NULL, 0, original, "original")) != VXA_OK ||
        (st = vxa_volume_check_size(ctx, NULL, 0, out, "out")) != VXA_OK)
        return st;
    if (!out->data) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_invert: out has no data");
    if (!vxa_dtype_is_storage(out->dtype))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_invert: out's dtype %s (%d) is not a storage "
                        "type", vxa_dtype_name(out->dtype), (int)out->dtype);
    if (!isfinite(opt.cval)) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_invert: cval %g", opt.cval);
    for (int a = 0; a < 3; a++)
        if (original->dim[a] < 1 || out->dim[a] < 1 || out->channels < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_invert: original %lldx%lldx%lld, out "
                            "%lldx%lldx%lld x %lld: dims must be >= 1", (long long)original->dim[0],
                            (long long)original->dim[1], (long long)original->dim[2], (long long)out->dim[0],
                            (long long)out->dim[1], (long long)out->dim[2], (long long)out->channels);

    vxa_grid gin;
    vxa_grid_of_volume(original, &gin);
    vxa_drawmap m;
    float *field = NULL;
    vxa_dvol din = { 0 }, dfield = { 0 }, dback = { 0 };
    if ((st = vxa_drawmap_make(ctx, p, &o, &gin, &m)) != VXA_OK) goto done;
    const int64_t *n = m.plan.out.dim;
    if (out->dim[0] != n[0] || out->dim[1] != n[1] || out->dim[2] != n[2]) {
        st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_invert: out is %lldx%lldx%lld, but sample %llu of "
                      "seed %llu gives %lldx%lldx%lld on the original's grid (%lldx%lldx%lld): not this draw's output",
                      (long long)out->dim[0], (long long)out->dim[1], (long long)out->dim[2],
                      (unsigned long long)o.sample, (unsigned long long)o.seed, (long long)n[0], (long long)n[1],
                      (long long)n[2], (long long)gin.dim[0], (long long)gin.dim[1], (long long)gin.dim[2]);
        goto done;
    }
    if (draw && !(*draw = vxa_plan_draw(p, &m.plan, false))) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "draw record");
        goto done;
    }
    intensity_names(p, &m.plan, &rep);
    for (int k = 0; k < m.nmaps; k++) rep.elastic_passes += m.maps[k].d != NULL;
    const int64_t *N = gin.dim;
    const size_t nvox = (size_t)(N[0] * N[1] * N[2]);
    rep.voxels = nvox;

    /* Positions: an affine map that moves whole voxels goes as it is (the resampling pass copies exactly);
     * anything else as BACK's voxel p reading OUT at p + D(p), D computed here. */
    const bool nearest = opt.nearest != 0;
    double Ai[3][3], bi[3];
    const bool affine = !m.has_field && invert3(m.A, Ai) && (!nearest || moves_whole_voxels(m.A, m.b));
    if (affine)
        for (int r = 0; r < 3; r++) bi[r] = -(Ai[r][0] * m.b[0] + Ai[r][1] * m.b[1] + Ai[r][2] * m.b[2]);
    if ((st = vxa_run_cancelled(ctx, &o, "the inverse map, op", 0)) != VXA_OK) goto done;
    if (!affine && !(field = malloc(nvox * 3 * sizeof *field))) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "the inverse map of %zu voxels", nvox);
        goto done;
    }
    vxa_invert_stats stats = { 0 };
    for (int64_t k = 0; k < N[2]; k++)
        for (int64_t j = 0; j < N[1]; j++)
            for (int64_t i = 0; i < N[0]; i++) {
                const size_t v = (size_t)(i + N[0] * (j + N[1] * k));
                const int64_t pi[3] = { i, j, k };
                const double pd[3] = { (double)i, (double)j, (double)k };
                double q[3];
                bool in;
                if (affine) {
                    for (int r = 0; r < 3; r++) q[r] = bi[r] + Ai[r][0] * pd[0] + Ai[r][1] * pd[1] + Ai[r][2] * pd[2];
                    in = inside(n, q);
                } else {
                    in = vxa_drawmap_inverse(&m, pd, q, &stats);
                }
                if (nearest && !affine) {
                    int64_t src[3] = { 0, 0, 0 };
                    bool sampled = false;
                    in = nearest_source(&m, pi, q, in, src, &sampled);
                    rep.sampled += sampled;
                    for (int a = 0; a < 3; a++) q[a] = (double)src[a];
                }
                rep.outside += !in;
                if (affine) continue;
                for (int a = 0; a < 3; a++)   /* outside: a point whose neighbours all read cval */
                    field[v + (size_t)a * nvox] = (float)((in ? q[a] : -2.0) - pd[a]);
            }
    if (nearest && affine) rep.sampled = nvox - rep.outside;  /* whole voxels: every one that stayed was sampled */
    rep.iterations = stats.iterations;
    rep.residual_max = stats.residual_max;
    rep.residual_mean = stats.residual_n ? stats.residual_sum / (double)stats.residual_n : 0.0;
    rep.unconverged = stats.unconverged;

    /* One pass: OUT sampled at BACK's positions (trilinear, or nearest keeping OUT's type), cval outside. */
    if ((st = vxa_run_cancelled(ctx, &o, "the inverse resampling, op", 0)) != VXA_OK) goto done;
    const vxa_dtype bt = nearest ? out->dtype : VXA_FLOAT32;
    vxa_resample_params rp = { .order = nearest ? 0 : 1, .mode = VXA_MODE_CONSTANT, .cval = opt.cval };
    memcpy(rp.out_dim, N, sizeof rp.out_dim);
    if (affine) {
        memcpy(rp.A, Ai, sizeof Ai);
        memcpy(rp.b, bi, sizeof bi);
    } else {
        vxa_xform_identity(rp.A, rp.b);
        if ((st = vxa_dvol_alloc(ctx, N, 3, VXA_FLOAT32, &dfield)) != VXA_OK ||
            (st = vxa_dvol_write(ctx, &dfield, field)) != VXA_OK)
            goto done;
        rp.field = &dfield;
    }
    if ((st = vxa_dvol_from_volume(ctx, out, &din)) != VXA_OK) goto done;
    if ((st = vxa_dvol_alloc(ctx, N, out->channels, bt, &dback)) != VXA_OK) goto done;
    if ((st = vxa_resample(ctx, &din, &dback, &rp)) != VXA_OK) goto done;
    if ((st = vxa_pipeline_alloc_output(ctx, original, &gin, out->channels, bt, back)) != VXA_OK) goto done;
    if ((st = vxa_dvol_read(ctx, &dback, (*back)->data)) != VXA_OK) goto done;
    if (nearest && scaled_volume(out)) {   /* stored values copied: their scaling with them */
        (*back)->scl_slope = out->scl_slope;
        (*back)->scl_inter = out->scl_inter;
    }
    if (caller_rep) memcpy(caller_rep, &rep, caller_rep->size < sizeof rep ? caller_rep->size : sizeof rep);
done:
    free(field);
    vxa_dvol_release(ctx, &din);
    vxa_dvol_release(ctx, &dfield);
    vxa_dvol_release(ctx, &dback);
    vxa_drawmap_free(&m);
    if (st != VXA_OK) {
        vxa_volume_free(*back);
        *back = NULL;
        if (draw) {
            vxa_draw_free(*draw);
            *draw = NULL;
        }
    }
    return st;
}

vxa_status vxa_pipeline_displacement_field(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *caller_o,
                                           const vxa_volume *in, vxa_volume **field)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (field) *field = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_displacement_field");
    if (st != VXA_OK) return st;
    if (!p || !caller_o || !in || !field)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_displacement_field: NULL argument");
    vxa_run_options o;
    if ((st = vxa_run_options_import(ctx, caller_o, &o)) != VXA_OK) return st;
    if ((st = vxa_volume_check_size(ctx, NULL, 0, in, "in")) != VXA_OK) return st;
    for (int a = 0; a < 3; a++)
        if (in->dim[a] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_displacement_field: input dim %d = %lld", a,
                            (long long)in->dim[a]);
    vxa_grid gin;
    vxa_grid_of_volume(in, &gin);
    vxa_drawmap m;
    if ((st = vxa_drawmap_make(ctx, p, &o, &gin, &m)) != VXA_OK) goto done;
    const vxa_grid *g = &m.plan.out;
    if ((st = vxa_pipeline_alloc_output(ctx, in, g, 3, VXA_FLOAT32, field)) != VXA_OK) goto done;
    float *f = (*field)->data;
    const size_t nvox = (size_t)(g->dim[0] * g->dim[1] * g->dim[2]);
    const double (*Mi)[4] = gin.affine, (*Mo)[4] = g->affine;
    for (int64_t k = 0; k < g->dim[2]; k++)
        for (int64_t j = 0; j < g->dim[1]; j++)
            for (int64_t i = 0; i < g->dim[0]; i++) {
                const size_t v = (size_t)(i + g->dim[0] * (j + g->dim[1] * k));
                const double oi[3] = { (double)i, (double)j, (double)k };
                double pos[3];
                vxa_drawmap_forward(&m, oi, pos);
                for (int r = 0; r < 3; r++) {
                    const double wi = Mi[r][3] + Mi[r][0] * pos[0] + Mi[r][1] * pos[1] + Mi[r][2] * pos[2];
                    const double wo = Mo[r][3] + Mo[r][0] * oi[0] + Mo[r][1] * oi[1] + Mo[r][2] * oi[2];
                    f[v + (size_t)r * nvox] = (float)(wi - wo);
                }
            }
done:
    vxa_drawmap_free(&m);
    if (st != VXA_OK) {
        vxa_volume_free(*field);
        *field = NULL;
    }
    return st;
}
