/* SPDX-License-Identifier: MIT */
/* The entry points over the backend table (src/backend.h): each checks its arguments once, takes the shortcuts
 * that hold on every backend (a resampling pass that is an exact copy), then calls the context's backend. */
#include "backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const vxa_backend *be(const vxa_context *ctx)
{
    return ctx->backend;
}

/* ---- device volumes: headers, the context's pool, the backend's memory --------------------------------- */
static void dvol_header(vxa_dvol *d, const int64_t dim[3], int64_t channels, vxa_dtype dtype)
{
    memset(d, 0, sizeof *d);
    for (int a = 0; a < 3; a++) d->dim[a] = dim[a];
    d->channels = channels;
    d->dtype = dtype;
}

static vxa_status check_size(vxa_context *ctx, const vxa_dvol *d, const char *what)
{
    if (vxa_dtype_size(d->dtype) == 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: unknown data type %d", what, (int)d->dtype);
    if (vxa_dvol_bytes(d) == 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: dims %lldx%lldx%lld x %lld channels are empty or "
                        "overflow", what, (long long)d->dim[0], (long long)d->dim[1], (long long)d->dim[2],
                        (long long)d->channels);
    return VXA_OK;
}

vxa_status vxa_dvol_from_volume(vxa_context *ctx, const vxa_volume *v, vxa_dvol *out)
{
    dvol_header(out, v->dim, v->channels, v->dtype);
    float slope = (float)v->scl_slope;
    if (v->scl_slope != 0.0 && isfinite(v->scl_slope) && isfinite(v->scl_inter)) {
        out->slope = slope;
        out->inter = (float)v->scl_inter;
    }
    vxa_status st = check_size(ctx, out, "input volume");
    if (st != VXA_OK) return st;
    if (!v->data) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "input volume: data is NULL");
    out->host = v->data;
    return be(ctx)->wrap(ctx, out);
}

/* Frees one volume's buffers through the backend (a context whose creation failed has only host memory). */
static void free_buffers(vxa_context *ctx, void *host, void *mem, bool owns_host)
{
    if (ctx && ctx->backend) be(ctx)->free(ctx, host, mem, owns_host);
    else if (owns_host) free(host);
}

/* Takes into out the pooled buffer that fits `bytes` best: the smallest of at least bytes and at most half
 * again as large (the supports of patches at other positions differ by less; a much larger buffer is left
 * for a volume of its size), the most recently released among equals. */
static bool pool_take(vxa_context *ctx, size_t bytes, vxa_dvol *out)
{
    int best = -1;
    for (int i = ctx->npool - 1; i >= 0; i--) {
        const size_t have = ctx->pool[i].bytes;
        if (have < bytes || have - bytes > bytes / 2) continue;
        if (best < 0 || have < ctx->pool[best].bytes) best = i;
    }
    if (best < 0) return false;
    out->host = ctx->pool[best].host;
    out->mem = ctx->pool[best].mem;
    out->owns_host = out->host != NULL;
    out->pool_bytes = ctx->pool[best].bytes;
    memmove(&ctx->pool[best], &ctx->pool[best + 1], (size_t)(ctx->npool - 1 - best) * sizeof ctx->pool[0]);
    ctx->npool--;
    return true;
}

/* Frees the oldest pooled buffer. */
static void pool_drop_oldest(vxa_context *ctx)
{
    free_buffers(ctx, ctx->pool[0].host, ctx->pool[0].mem, ctx->pool[0].host);
    memmove(&ctx->pool[0], &ctx->pool[1], (size_t)(ctx->npool - 1) * sizeof ctx->pool[0]);
    ctx->npool--;
}

static size_t pool_total(const vxa_context *ctx)
{
    size_t total = 0;
    for (int i = 0; i < ctx->npool; i++) total += ctx->pool[i].bytes;
    return total;
}

void vxa_pool_clear(vxa_context *ctx)
{
    if (!ctx) return;
    for (int i = 0; i < ctx->npool; i++) free_buffers(ctx, ctx->pool[i].host, ctx->pool[i].mem, ctx->pool[i].host);
    ctx->npool = 0;
    free(ctx->stage);
    ctx->stage = NULL;
    ctx->stage_bytes = 0;
}

vxa_status vxa_dvol_alloc(vxa_context *ctx, const int64_t dim[3], int64_t channels, vxa_dtype dtype,
                          vxa_dvol *out)
{
    dvol_header(out, dim, channels, dtype);
    vxa_status st = check_size(ctx, out, "device volume");
    if (st != VXA_OK) return st;
    size_t bytes = vxa_dvol_bytes(out);
    if (pool_take(ctx, bytes, out)) return VXA_OK;
    out->pool_bytes = bytes;
    return be(ctx)->alloc(ctx, out, bytes);
}

vxa_status vxa_dvol_alloc_unpooled(vxa_context *ctx, const int64_t dim[3], int64_t channels, vxa_dtype dtype,
                                   vxa_dvol *out)
{
    dvol_header(out, dim, channels, dtype);
    vxa_status st = check_size(ctx, out, "device volume");
    return st != VXA_OK ? st : be(ctx)->alloc(ctx, out, vxa_dvol_bytes(out));
}

vxa_status vxa_dvol_upload(vxa_context *ctx, vxa_dvol *d, const void *src, bool async, void **event)
{
    return be(ctx)->upload(ctx, d, src, async, event);
}

vxa_status vxa_queue_after(vxa_context *ctx, void *event)
{
    return event ? be(ctx)->after(ctx, event) : VXA_OK;
}

vxa_status vxa_event_wait(vxa_context *ctx, void *event)
{
    return event ? be(ctx)->event_wait(ctx, event) : VXA_OK;
}

vxa_status vxa_dvol_read(vxa_context *ctx, const vxa_dvol *d, void *dst)
{
    return be(ctx)->read(ctx, d, dst);
}

vxa_status vxa_dvol_write(vxa_context *ctx, vxa_dvol *d, const void *src)
{
    return be(ctx)->write(ctx, d, src);
}

void vxa_dvol_release(vxa_context *ctx, vxa_dvol *d)
{
    if (!d) return;
    const size_t bytes = d->pool_bytes;
    if (ctx && bytes >= VXA_POOL_MIN_BYTES && bytes <= VXA_POOL_MAX_BYTES && (d->host || d->mem)) {
        /* Kept for the next allocations. The queue is in order, so later kernels that write the buffer run
         * after those still reading it; host-side writes wait for the queue as a release did. */
        if (d->mem && d->owns_host) be(ctx)->wait(ctx);
        while (ctx->npool > 0 && (ctx->npool == VXA_POOL_SLOTS || pool_total(ctx) + bytes > VXA_POOL_MAX_BYTES))
            pool_drop_oldest(ctx);   /* full: the oldest go */
        ctx->pool[ctx->npool].bytes = bytes;
        ctx->pool[ctx->npool].host = d->owns_host ? d->host : NULL;
        ctx->pool[ctx->npool].mem = d->mem;
        ctx->npool++;
    } else {
        free_buffers(ctx, d->host, d->mem, d->owns_host);
    }
    memset(d, 0, sizeof *d);
}

/* ---- copies ---------------------------------------------------------------------------------------------- */
static vxa_status check_copy(vxa_context *ctx, const vxa_dvol *in, const vxa_dvol *out)
{
    if (in->dtype != out->dtype || in->channels != out->channels)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "copy: output must have the input's type and channels "
                        "(%s x %lld vs %s x %lld)", vxa_dtype_name(in->dtype), (long long)in->channels,
                        vxa_dtype_name(out->dtype), (long long)out->channels);
    return VXA_OK;
}

vxa_status vxa_copy_axes(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int sign[3],
                         const int64_t offset[3], vxa_mode mode, double cval)
{
    vxa_status st = check_copy(ctx, in, out);
    return st != VXA_OK ? st : be(ctx)->copy_axes(ctx, in, out, sign, offset, mode, cval);
}

vxa_status vxa_cast_float(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out)
{
    if (out->dtype != VXA_FLOAT32 || vxa_dvol_voxels(in) != vxa_dvol_voxels(out))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "cast: output must be float32 with the input's size");
    return be(ctx)->cast_float(ctx, in, out);
}

/* ---- resampling ------------------------------------------------------------------------------------------ */
static bool finite3(const double *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

vxa_status vxa_resample_check(vxa_context *ctx, const vxa_dvol *in, const vxa_dvol *out,
                              const vxa_resample_params *p)
{
    if (!in || !out || !p) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: NULL argument");
    if (p->order != 0 && p->order != 1)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: order %d, expected 0 (nearest) or 1 (trilinear)",
                        p->order);
    if (p->mode != VXA_MODE_CONSTANT && p->mode != VXA_MODE_NEAREST && p->mode != VXA_MODE_REFLECT)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: mode %d, expected constant (0), nearest (1) or "
                        "reflect (2)", (int)p->mode);
    for (int a = 0; a < 3; a++) {
        if (in->dim[a] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: input dim[%d] = %lld, expected >= 1", a,
                            (long long)in->dim[a]);
        if (out->dim[a] != p->out_dim[a] || p->out_dim[a] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: output dim[%d] = %lld but out_dim[%d] = %lld "
                            "(both must agree and be >= 1)", a, (long long)out->dim[a], a, (long long)p->out_dim[a]);
    }
    if (in->channels < 1 || out->channels != in->channels)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: output has %lld channels, input %lld (must be "
                        "equal and >= 1)", (long long)out->channels, (long long)in->channels);
    if (vxa_dtype_size(in->dtype) == 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: unknown input type %d", (int)in->dtype);
    if (p->label_rule) {
        if (p->label_rule != 1 && p->label_rule != 2)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: label rule %d, expected 1 (threshold) or 2 "
                            "(arg-max)", p->label_rule);
        if (p->order != 1 || out->dtype != in->dtype)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: per-label interpolation needs order 1 and an "
                            "output of the input's type, got order %d, %s into %s", p->order,
                            vxa_dtype_name(in->dtype), vxa_dtype_name(out->dtype));
    } else if (out->dtype != VXA_FLOAT32) {
        if (p->order != 0)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: order 1 needs a float32 output, got %s (only "
                            "nearest neighbour copies labels in their own type)", vxa_dtype_name(out->dtype));
        if (out->dtype != in->dtype)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: a %s output of order 0 must have the input's "
                            "type, got %s input (labels keep their type; images are written as float32)",
                            vxa_dtype_name(out->dtype), vxa_dtype_name(in->dtype));
    }
    if (!finite3(&p->A[0][0], 9) || !finite3(p->b, 3) || !isfinite(p->cval))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: the matrix, offset and cval must be finite");
    if (p->in_nz || p->in_k0 || p->out_k0) {   /* in_nz 0: the input is whole */
        const int64_t in_nz = vxa_resample_in_nz(p, in);
        if (p->in_nz < 0 || p->in_k0 < 0 || p->out_k0 < 0 || p->in_k0 + in->dim[2] > in_nz || in_nz > INT32_MAX ||
            p->out_k0 > INT32_MAX)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: slab planes %lld.. (+%lld) of an input %lld "
                            "deep, output from plane %lld: out of range", (long long)p->in_k0,
                            (long long)in->dim[2], (long long)in_nz, (long long)p->out_k0);
    }
    if (p->out_i0 < 0 || p->out_j0 < 0 || p->out_i0 > INT32_MAX || p->out_j0 > INT32_MAX)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: output window from (%lld, %lld): out of range",
                        (long long)p->out_i0, (long long)p->out_j0);
    if (p->field && p->coarse)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: a displacement field and a coarse field at once");
    if (p->coarse) {
        const vxa_dvol *f = p->coarse;
        if (f->dtype != VXA_FLOAT32 || f->channels != 3 || f->dim[0] < 1 || f->dim[1] < 1 || f->dim[2] < 1)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: the coarse displacement field is %s x %lld "
                            "channels, expected float32 x 3", vxa_dtype_name(f->dtype), (long long)f->channels);
        for (int a = 0; a < 3; a++)
            if (!(p->coarse_step[a] > 0) || !isfinite(p->coarse_step[a]) || !isfinite(p->coarse_start[a]))
                return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: coarse field step %g, start %g along "
                                "axis %d: expected a finite step > 0", p->coarse_step[a], p->coarse_start[a], a);
    }
    if (p->field) {
        const vxa_dvol *f = p->field;
        if (f->dtype != VXA_FLOAT32 || f->channels != 3 || f->dim[0] != p->out_dim[0] || f->dim[1] != p->out_dim[1] ||
            f->dim[2] != p->out_dim[2])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "resample: the displacement field is %s %lldx%lldx%lld x "
                            "%lld channels, expected float32 %lldx%lldx%lld x 3 (the output grid)",
                            vxa_dtype_name(f->dtype), (long long)f->dim[0], (long long)f->dim[1],
                            (long long)f->dim[2], (long long)f->channels, (long long)p->out_dim[0],
                            (long long)p->out_dim[1], (long long)p->out_dim[2]);
    }
    return VXA_OK;
}

/* Whether the map only flips, crops or shifts by whole voxels and reads inside the input: p_a = s_a o_a + q_a
 * with s_a = +-1 and q_a integer (A and b as the kernel sees them, in float), every position in [0, n_a). The
 * pass is then an exact copy: trilinear weights are 1 and 0, nearest rounds to the position itself. */
static bool copy_map(const vxa_dvol *in, const vxa_dvol *out, const vxa_resample_params *p, int sign[3],
                     int64_t off[3])
{
    if (p->field || p->coarse || p->out_k0 || p->out_i0 || p->out_j0 || p->in_k0 ||
        vxa_resample_in_nz(p, in) != in->dim[2])
        return false;
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            if (r != c && (float)p->A[r][c] != 0.0f) return false;
        const double s = (float)p->A[r][r], q = (float)p->b[r];
        if ((s != 1.0 && s != -1.0) || q != floor(q) || fabs(q) > 16777216.0 || out->dim[r] > 16777216) return false;
        const double lo = s > 0 ? q : q - (double)(out->dim[r] - 1), hi = s > 0 ? q + (double)(out->dim[r] - 1) : q;
        if (lo < 0 || hi > (double)(in->dim[r] - 1)) return false;
        sign[r] = (int)s;
        off[r] = (int64_t)q;
    }
    return true;
}

/* The exact-copy pass: the copy kernel, then for typed or scaled images the cast to float32 with the scaling. */
static vxa_status resample_copy(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p,
                                const int sign[3], const int64_t off[3])
{
    vxa_status st;
    if (in->dtype == out->dtype && (out->dtype != VXA_FLOAT32 || in->slope == 0.0f)) {
        st = vxa_copy_axes(ctx, in, out, sign, off, p->mode, p->cval);
    } else {
        vxa_dvol tmp = { 0 };
        if ((st = vxa_dvol_alloc(ctx, out->dim, in->channels, in->dtype, &tmp)) != VXA_OK) return st;
        tmp.slope = in->slope;
        tmp.inter = in->inter;
        if ((st = vxa_copy_axes(ctx, in, &tmp, sign, off, p->mode, p->cval)) == VXA_OK)
            st = vxa_cast_float(ctx, &tmp, out);
        vxa_dvol_release(ctx, &tmp);
    }
    if (st == VXA_OK) vxa_count_launch(ctx, "vxa_resample");  /* still one resampling pass */
    return st;
}

vxa_status vxa_resample(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const vxa_resample_params *p)
{
    vxa_status st = vxa_resample_check(ctx, in, out, p);
    if (st != VXA_OK) return st;
    int sign[3];
    int64_t off[3];
    if (in->dtype != VXA_FLOAT64 && copy_map(in, out, p, sign, off)) return resample_copy(ctx, in, out, p, sign, off);
    return be(ctx)->resample(ctx, in, out, p);
}

/* ---- smoothing ------------------------------------------------------------------------------------------- */
vxa_status vxa_gauss_check(vxa_context *ctx, const vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                           double truncate)
{
    if (vol->dtype != VXA_FLOAT32)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian smoothing: the volume is %s, expected float32",
                        vxa_dtype_name(vol->dtype));
    if (mode != VXA_MODE_CONSTANT && mode != VXA_MODE_NEAREST && mode != VXA_MODE_REFLECT)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian smoothing: mode %d, expected 0 (constant), "
                        "1 (nearest) or 2 (reflect)", (int)mode);
    if (!isfinite(truncate) || truncate < 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian smoothing: truncate = %g, expected a finite "
                        "value >= 0", truncate);
    for (int a = 0; a < 3; a++) {
        if (!isfinite(sigma[a]) || sigma[a] < 0)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian smoothing: sigma[%d] = %g, expected a "
                            "finite value >= 0", a, sigma[a]);
        if (sigma[a] > 1e-15 && truncate * sigma[a] + 0.5 > (double)VXA_GAUSS_MAX_RADIUS)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian smoothing: sigma[%d] = %g with truncate "
                            "%g gives a kernel radius over %d voxels", a, sigma[a], truncate,
                            VXA_GAUSS_MAX_RADIUS);
    }
    return VXA_OK;
}

vxa_status vxa_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode, double truncate)
{
    vxa_status st = vxa_gauss_check(ctx, vol, sigma, mode, truncate);
    return st != VXA_OK ? st : be(ctx)->gauss_smooth(ctx, vol, sigma, mode, truncate);
}

vxa_status vxa_gauss_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                            vxa_mode mode, double truncate, int64_t at)
{
    if (axis < 0 || axis > 2)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian window: axis %d, expected 0..2", axis);
    double s[3] = { 0.0, 0.0, 0.0 };
    s[axis] = sigma;
    vxa_status st = vxa_gauss_check(ctx, in, s, mode, truncate);
    if (st != VXA_OK) return st;
    bool fits = out->dtype == VXA_FLOAT32 && out->channels == in->channels && at >= 0 &&
                out->dim[axis] >= 1 && at + out->dim[axis] <= in->dim[axis];
    for (int a = 0; a < 3; a++) fits = fits && (a == axis || out->dim[a] == in->dim[a]);
    if (!fits)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "gaussian window: %lld outputs from %lld along axis %d "
                        "of %lldx%lldx%lld into %lldx%lldx%lld (float32, the input's other dims and channels)",
                        (long long)out->dim[axis], (long long)at, axis, (long long)in->dim[0],
                        (long long)in->dim[1], (long long)in->dim[2], (long long)out->dim[0],
                        (long long)out->dim[1], (long long)out->dim[2]);
    if (!(sigma > 1e-15)) {   /* no pass, as vxa_gauss_smooth skips the axis */
        const int sign[3] = { 1, 1, 1 };
        int64_t off[3] = { 0, 0, 0 };
        off[axis] = at;
        return vxa_copy_axes(ctx, in, out, sign, off, VXA_MODE_CONSTANT, 0.0);
    }
    return be(ctx)->gauss_window(ctx, in, out, axis, sigma, mode, truncate, at);
}

/* ---- reductions ------------------------------------------------------------------------------------------ */
vxa_status vxa_reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                            const double *shift, vxa_rstats *out)
{
    return be(ctx)->reduce_stats(ctx, vol, nonzero, mask, shift, out);
}

vxa_status vxa_reduce_moments(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                              int want_std, vxa_moments *out)
{
    return be(ctx)->reduce_moments(ctx, vol, nonzero, mask, want_std, out);
}

vxa_status vxa_reduce_percentiles(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                  const double q[2], double *out)
{
    return be(ctx)->reduce_percentiles(ctx, vol, nonzero, mask, q, out);
}

/* ---- label remap ----------------------------------------------------------------------------------------- */
static bool label_range(vxa_dtype t, double *lo, double *hi)
{
    switch (t) {
    case VXA_UINT8: *lo = 0; *hi = 255; return true;
    case VXA_INT8: *lo = -128; *hi = 127; return true;
    case VXA_UINT16: *lo = 0; *hi = 65535; return true;
    case VXA_INT16: *lo = -32768; *hi = 32767; return true;
    case VXA_UINT32: *lo = 0; *hi = 4294967295.0; return true;
    case VXA_INT32: *lo = -2147483648.0; *hi = 2147483647.0; return true;
    default: return false;
    }
}

vxa_status vxa_label_remap(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, const int64_t *from,
                           const int64_t *to, int n, int drop)
{
    double lo, hi;
    if (!label_range(in->dtype, &lo, &hi))
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "remap: a %s label map; remap takes integer labels",
                        vxa_dtype_name(in->dtype));
    if (out->dtype != in->dtype || vxa_dvol_voxels(out) != vxa_dvol_voxels(in))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "remap: output of another type or size than the input");
    if (n < 0 || n > 4096) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "remap: %d pairs, at most 4096", n);
    int64_t *f = malloc((size_t)(n ? n : 1) * 2 * sizeof *f);
    if (!f) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "remap: %d pairs", n);
    int64_t *t = f + (n ? n : 1);
    vxa_status st = VXA_OK;
    for (int i = 0; i < n && st == VXA_OK; i++) {   /* sorted by key (insertion: lists are short) */
        if ((double)to[i] < lo || (double)to[i] > hi)
            st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "remap: %lld -> %lld: %lld does not fit the label map's "
                          "type %s", (long long)from[i], (long long)to[i], (long long)to[i],
                          vxa_dtype_name(in->dtype));
        int k = i;
        for (; k > 0 && f[k - 1] > from[i]; k--) {
            f[k] = f[k - 1];
            t[k] = t[k - 1];
        }
        if (k > 0 && f[k - 1] == from[i])
            st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "remap: label %lld mapped twice", (long long)from[i]);
        f[k] = from[i];
        t[k] = to[i];
    }
    if (st == VXA_OK) st = be(ctx)->label_remap(ctx, in, out, f, t, n, drop);
    free(f);
    return st;
}

/* ---- intensity programs ---------------------------------------------------------------------------------- */
/* What both backends refuse alike. */
static vxa_status intensity_check(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *vol,
                                  const vxa_dvol *mask)
{
    bool masked = false;
    for (int i = 0; i < n; i++) {
        if (ops[i].id == VXA_INT_NOISE && vol->channels > 240)  /* lanes 0xF0.. are the pipeline's draws */
            return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "noise: %lld channels, at most 240 (one Philox lane each)",
                            (long long)vol->channels);
        if (ops[i].masked && !mask)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s(mask=1): no label map to take the mask from",
                            vxa_iop_impl_of(ops[i].id) ? vxa_iop_impl_of(ops[i].id)->name : "?");
        masked = masked || ops[i].masked;
    }
    if (!masked) return VXA_OK;
    if (mask->channels != 1)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "mask=1: the label map has %lld channels, the mask needs 1",
                        (long long)mask->channels);
    for (int a = 0; a < 3; a++)
        if (mask->dim[a] != vol->dim[a])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "mask=1: the label map is %lldx%lldx%lld, the image "
                            "%lldx%lldx%lld", (long long)mask->dim[0], (long long)mask->dim[1],
                            (long long)mask->dim[2], (long long)vol->dim[0], (long long)vol->dim[1],
                            (long long)vol->dim[2]);
    return VXA_OK;
}

static vxa_status intensity(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                            const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win)
{
    vxa_status st = intensity_check(ctx, ops, n, vol, mask);
    if (st != VXA_OK) return st;
    if (src && (src->channels != vol->channels || vxa_dvol_voxels(src) != vxa_dvol_voxels(vol) ||
                vol->dtype != VXA_FLOAT32))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity ops: the source and the float32 volume differ "
                        "in size");
    return be(ctx)->intensity(ctx, ops, n, src, vol, mask, off, win);
}

vxa_status vxa_intensity_apply(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                               const vxa_dvol *mask)
{
    return intensity(ctx, ops, n, src, vol, mask, NULL, NULL);
}

vxa_status vxa_intensity_apply_window(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src,
                                      vxa_dvol *vol, const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win)
{
    if (!win || !off || win->dtype != VXA_FLOAT32 || win->channels != vol->channels)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity window: expect a float32 window with the "
                        "volume's %lld channels", (long long)vol->channels);
    for (int a = 0; a < 3; a++)
        if (off[a] < 0 || win->dim[a] < 1 || off[a] + win->dim[a] > vol->dim[a])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity window: axis %d, %lld voxels at %lld leave "
                            "the volume's %lld", a, (long long)win->dim[a], (long long)off[a],
                            (long long)vol->dim[a]);
    return intensity(ctx, ops, n, src, vol, mask, off, win);
}

vxa_status vxa_intensity_apply_part(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol,
                                    const int64_t grid[3], const int64_t off[3])
{
    vxa_status st = intensity_check(ctx, ops, n, vol, NULL);
    if (st != VXA_OK) return st;
    if (vol->dtype != VXA_FLOAT32 || vol->slope != 0.0f)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity ops on a part: expect float32 without scaling");
    for (int a = 0; a < 3; a++)
        if (off[a] < 0 || off[a] + vol->dim[a] > grid[a])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity ops on a part: axis %d, %lld voxels at %lld "
                            "leave the grid's %lld", a, (long long)vol->dim[a], (long long)off[a],
                            (long long)grid[a]);
    for (int i = 0; i < n; i++) {
        const vxa_iop_impl *im = vxa_iop_impl_of(ops[i].id);
        if (!im || im->stats != VXA_ISTATS_NONE || im->apply || ops[i].masked)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity ops on a part: %s needs more than its voxel",
                            im ? im->name : "?");
    }
    return n ? be(ctx)->intensity_part(ctx, ops, n, vol, grid, off) : VXA_OK;
}

/* ---- noise for elastic fields ---------------------------------------------------------------------------- */
static vxa_status check_noise(vxa_context *ctx, const vxa_dvol *vol)
{
    if (vol->dtype != VXA_FLOAT32 || vol->channels < 1 || vol->channels > 3)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "noise: the volume is %s x %lld channels, expected "
                        "float32 with 1..3 channels", vxa_dtype_name(vol->dtype), (long long)vol->channels);
    const uint64_t nvox = (uint64_t)vol->dim[0] * (uint64_t)vol->dim[1] * (uint64_t)vol->dim[2];
    if (nvox > (1ull << 34))
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "noise: %llu voxels per channel exceed the 2^34 that 32-bit "
                        "Philox block counters address", (unsigned long long)nvox);
    return VXA_OK;
}

vxa_status vxa_noise_uniform(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3])
{
    vxa_status st = check_noise(ctx, vol);
    return st != VXA_OK ? st : be(ctx)->noise_uniform(ctx, vol, key, amp);
}

vxa_status vxa_noise_block_mean(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key, const float amp[3],
                                const int64_t fine_dim[3], const int64_t first[3], const int64_t step[3])
{
    vxa_dvol fine = { .dim = { fine_dim[0], fine_dim[1], fine_dim[2] }, .channels = 1, .dtype = VXA_FLOAT32 };
    vxa_status st = check_noise(ctx, coarse);
    if (st == VXA_OK) st = check_noise(ctx, &fine);
    if (st != VXA_OK) return st;
    for (int a = 0; a < 3; a++)
        if (step[a] < 1 || first[a] + step[a] <= 0 || first[a] + (coarse->dim[a] - 1) * step[a] >= fine_dim[a])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "block means: along axis %d, %lld blocks of %lld from "
                            "%lld do not all meet the %lld voxels", a, (long long)coarse->dim[a],
                            (long long)step[a], (long long)first[a], (long long)fine_dim[a]);
    return be(ctx)->noise_block_mean(ctx, coarse, key, amp, fine_dim, first, step);
}

vxa_status vxa_noise_gauss_window(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key, const float amp[3],
                                  const int64_t fine_dim[3], const int64_t lo[3], int64_t box_nx, double sigma,
                                  vxa_mode mode, double truncate, int64_t at)
{
    const vxa_dvol box = { .dim = { box_nx, out->dim[1], out->dim[2] }, .channels = out->channels,
                           .dtype = VXA_FLOAT32 };
    const vxa_dvol fine = { .dim = { fine_dim[0], fine_dim[1], fine_dim[2] }, .channels = 1, .dtype = VXA_FLOAT32 };
    const double s[3] = { sigma, 0.0, 0.0 };
    vxa_status st = check_noise(ctx, out);
    if (st == VXA_OK) st = check_noise(ctx, &fine);
    if (st == VXA_OK) st = vxa_gauss_check(ctx, &box, s, mode, truncate);
    if (st != VXA_OK) return st;
    bool fits = at >= 0 && out->dim[0] >= 1 && at + out->dim[0] <= box_nx;
    for (int a = 0; a < 3; a++) fits = fits && lo[a] >= 0 && lo[a] + box.dim[a] <= fine_dim[a];
    if (!fits)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "noise and smoothing: %lld outputs from %lld of a box of "
                        "%lldx%lldx%lld at (%lld,%lld,%lld) on a grid of %lldx%lldx%lld", (long long)out->dim[0],
                        (long long)at, (long long)box.dim[0], (long long)box.dim[1], (long long)box.dim[2],
                        (long long)lo[0], (long long)lo[1], (long long)lo[2], (long long)fine_dim[0],
                        (long long)fine_dim[1], (long long)fine_dim[2]);
    if (!(sigma > 1e-15)) {   /* no pass: the window's own noise */
        const int64_t first[3] = { lo[0] + at, lo[1], lo[2] }, one[3] = { 1, 1, 1 };
        return vxa_noise_block_mean(ctx, out, key, amp, fine_dim, first, one);
    }
    return be(ctx)->noise_gauss_window(ctx, out, key, amp, fine_dim, lo, box_nx, sigma, mode, truncate, at);
}

static vxa_status check_upsample(vxa_context *ctx, const vxa_dvol *coarse, const vxa_dvol *fine,
                                 const double step[3])
{
    if (coarse->dtype != VXA_FLOAT32 || fine->dtype != VXA_FLOAT32 || coarse->channels != fine->channels)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "upsampling: %s x %lld to %s x %lld, expected float32 "
                        "with equal channels", vxa_dtype_name(coarse->dtype), (long long)coarse->channels,
                        vxa_dtype_name(fine->dtype), (long long)fine->channels);
    for (int a = 0; a < 3; a++)
        if (!(step[a] > 0))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "upsampling: step[%d] = %g, expected > 0", a, step[a]);
    return VXA_OK;
}

vxa_status vxa_noise_upsample(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine, const double start[3],
                              const double step[3])
{
    vxa_status st = check_upsample(ctx, coarse, fine, step);
    return st != VXA_OK ? st : be(ctx)->noise_upsample(ctx, coarse, fine, start, step);
}

/* ---- label statistics and foreground boxes (src/sample.h) ------------------------------------------------ */
static vxa_status label_check(vxa_context *ctx, const vxa_dvol *lab, const char *what)
{
    vxa_status st = check_size(ctx, lab, what);
    if (st != VXA_OK) return st;
    if (lab->dtype == VXA_FLOAT32 || lab->dtype == VXA_FLOAT64 || !vxa_dtype_is_storage(lab->dtype))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the label map is %s, expected an integer type", what,
                        vxa_dtype_name(lab->dtype));
    return VXA_OK;
}

vxa_status vxa_label_range(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi)
{
    vxa_status st = label_check(ctx, lab, "label range");
    return st != VXA_OK ? st : be(ctx)->label_range(ctx, lab, lo, hi);
}

vxa_status vxa_label_block_counts(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                  const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts)
{
    vxa_status st = label_check(ctx, lab, "label block counts");
    if (st != VXA_OK) return st;
    if (block < 1 || ncls < 1 || nlut < 1 || !lut || !counts)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "label block counts: block %lld, %d classes, %lld table "
                        "entries", (long long)block, ncls, (long long)nlut);
    return be(ctx)->label_block_counts(ctx, lab, block, vmin, lut, nlut, ncls, counts);
}

vxa_status vxa_label_locate(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                            int64_t skip, int64_t *index)
{
    vxa_status st = label_check(ctx, lab, "label locate");
    if (st != VXA_OK) return st;
    const int64_t n = lab->dim[0] * lab->dim[1] * lab->dim[2];
    if (first < 0 || end > n || first > end || skip < 0)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "label locate: voxels %lld .. %lld of %lld, skip %lld",
                        (long long)first, (long long)end, (long long)n, (long long)skip);
    return be(ctx)->label_locate(ctx, lab, first, end, value, skip, index);
}

vxa_status vxa_fg_box(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6])
{
    vxa_status st = check_size(ctx, vol, "foreground box");
    if (st != VXA_OK) return st;
    if (!isfinite(threshold))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "foreground box: threshold %g is not finite", threshold);
    if (vol->dim[0] > INT32_MAX || vol->dim[1] > INT32_MAX || vol->dim[2] > INT32_MAX)
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "foreground box: an axis over %d voxels", INT32_MAX);
    if (vol->dtype != VXA_FLOAT64) return be(ctx)->fg_box(ctx, vol, threshold, box);
    /* float64 never reaches a kernel: its float32 values, as every path compares */
    vxa_dvol f;
    if ((st = vxa_dvol_alloc(ctx, vol->dim, vol->channels, VXA_FLOAT32, &f)) != VXA_OK) return st;
    if ((st = vxa_cast_float(ctx, vol, &f)) == VXA_OK) st = be(ctx)->fg_box(ctx, &f, threshold, box);
    vxa_dvol_release(ctx, &f);
    return st;
}
