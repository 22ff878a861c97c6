/* SPDX-License-Identifier: MIT */
/* Reductions on the device (kernels/reduce.cl): statistics from per-group partials combined in double, exact
 * percentiles by selection on histograms. Only partials and histograms come back to the host. */
#include "cl_backend.h"
#include "intensity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The volume: float32, or (a pipeline's input not converted yet) any stored type but float64, read with its
 * scaling as a float32 copy would hold it. opts: its build options. */
static vxa_status check_input(vxa_context *ctx, const vxa_dvol *vol, const char *what, char opts[64])
{
    if (vol->dtype == VXA_FLOAT64)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: float64 volumes are converted first", what);
    const char *t = vxa_dtype_cl_name(vol->dtype);
    if (vol->dtype == VXA_FLOAT32)
        snprintf(opts, 64, "-DIN_T=%s", t);
    else   /* stored integers: their own vectors for min and max (vxa_reduce_stats_chunk) */
        snprintf(opts, 64, "-DIN_T=%s -DIN_VEC16=%s16", t, t);
    return VXA_OK;
}

/* A mask, if any: one float32 channel on vol's grid (host/intensity.c casts the label map). */
static vxa_status check_mask(vxa_context *ctx, const vxa_dvol *vol, const vxa_dvol *mask, const char *what)
{
    if (!mask) return VXA_OK;
    if (mask->dtype != VXA_FLOAT32 || mask->slope != 0.0f || mask->channels != 1)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the mask must be one unscaled float32 channel (got %lld "
                        "of %s)", what, (long long)mask->channels, vxa_dtype_name(mask->dtype));
    for (int a = 0; a < 3; a++)
        if (mask->dim[a] != vol->dim[a])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the mask is %lldx%lldx%lld, the volume %lldx%lldx%lld",
                            what, (long long)mask->dim[0], (long long)mask->dim[1], (long long)mask->dim[2],
                            (long long)vol->dim[0], (long long)vol->dim[1], (long long)vol->dim[2]);
    return VXA_OK;
}

/* Work-group size L (a power of two, at most 64 and what the kernel allows) and group count for n voxels per
 * channel: enough groups to fill a GPU, each seeing fewer than 2^22 voxels (exact float counts). For the CPU
 * forms, groups of one work-item and the chunk of voxels each takes. */
static void reduce_shape(vxa_context *ctx, cl_kernel k, size_t n, size_t *L, size_t *groups, cl_long *chunk)
{
    if (ctx->cl->chunked) {  /* CPU forms: one work-item per group, chunks of a multiple of 8 voxels */
        size_t g = (n + 4095) / 4096, gmax = 16 * (size_t)(ctx->cl->compute_units ? ctx->cl->compute_units : 1);
        g = g < 1 ? 1 : g > gmax ? gmax : g;
        *L = 1;
        *groups = g;
        *chunk = (cl_long)(((n + g - 1) / g + 7) / 8 * 8);
        return;
    }
    *chunk = 0;  /* the GPU forms stride over the whole channel */
    size_t kwg = 64;
    if (clGetKernelWorkGroupInfo(k, ctx->cl->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL) !=
        CL_SUCCESS) kwg = 1;
    size_t l = 1;
    while (l * 2 <= 64 && l * 2 <= kwg && l * 2 <= ctx->cl->max_wg) l *= 2;
    size_t g = (n + l * 16 - 1) / (l * 16);
    size_t gmax = ctx->cl->is_cpu ? 64 * (size_t)ctx->cl->compute_units : 4096;
    if (g > gmax) g = gmax;
    while (g < 65536 && n / g >= ((size_t)1 << 22)) g++;
    *L = l;
    *groups = g ? g : 1;
}

static vxa_status reduce_launch(vxa_context *ctx, cl_kernel k, const char *name, size_t L, size_t groups,
                                size_t channels)
{
    const size_t global[2] = { L * groups, channels }, local[2] = { L, 1 };
    return vxa_cl_enqueue(ctx, k, name, 2, global, local);
}

/* vxa_reduce_stats; sums = 0 leaves sum and sumsq at 0 (count, min and max only). */
static vxa_status reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                               const double *shift, int sums, vxa_rstats *out)
{
    char opts[64];
    vxa_status st = check_input(ctx, vol, "reduce_stats", opts);
    if (st == VXA_OK) st = check_mask(ctx, vol, mask, "reduce_stats");
    if (st != VXA_OK) return st;
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]), nc = (size_t)vol->channels;
    cl_kernel k;
    const char *name = ctx->cl->chunked ? "vxa_reduce_stats_chunk" : "vxa_reduce_stats";
    if ((st = vxa_cl_kernel(ctx, "reduce", opts, name, &k)) != VXA_OK) return st;
    size_t L, G;
    cl_long chunk;
    reduce_shape(ctx, k, n, &L, &G, &chunk);
    float *sh = malloc(nc * sizeof *sh), *part = malloc(nc * G * 5 * sizeof *part);
    cl_mem shm = NULL, partm = NULL;
    if (!sh || !part) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "reduce_stats: partials for %zu groups", G);
        goto done;
    }
    for (size_t c = 0; c < nc; c++) sh[c] = shift ? (float)shift[c] : 0.0f;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nc * sizeof *sh, sh, &shm,
                            "reduction shifts")) != VXA_OK ||
        (st = vxa_cl_buffer(ctx, CL_MEM_WRITE_ONLY, nc * G * 5 * sizeof *part, NULL, &partm,
                            "reduction partials")) != VXA_OK)
        goto done;
    cl_mem xm = (cl_mem)vol->mem, mm = mask ? (cl_mem)mask->mem : NULL;
    cl_long nn = (cl_long)n;
    cl_int nz = nonzero != 0;
    const size_t lb = L * sizeof(float);
    const cl_float slope = vol->slope, inter = vol->inter;
    const cl_int want_sums = sums != 0;
    if (ctx->cl->chunked)
        st = vxa_cl_args(ctx, k, name, VXA_ARG(xm), VXA_ARG(slope), VXA_ARG(inter), VXA_ARG(nn), VXA_ARG(nz),
                         VXA_ARG(mm), VXA_ARG(shm), VXA_ARG(want_sums), VXA_ARG(partm), VXA_ARG(chunk));
    else
        st = vxa_cl_args(ctx, k, name, VXA_ARG(xm), VXA_ARG(slope), VXA_ARG(inter), VXA_ARG(nn), VXA_ARG(nz),
                         VXA_ARG(mm), VXA_ARG(shm), VXA_ARG(want_sums), VXA_ARG(partm), { lb, NULL }, { lb, NULL },
                         { lb, NULL }, { lb, NULL }, { lb, NULL });
    if (st != VXA_OK || (st = reduce_launch(ctx, k, name, L, G, nc)) != VXA_OK) goto done;
    cl_int err = clEnqueueReadBuffer(ctx->cl->queue, partm, CL_TRUE, 0, nc * G * 5 * sizeof *part, part, 0,
                                     NULL, NULL);
    if (err != CL_SUCCESS) {
        st = vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: reduction partials");
        goto done;
    }
    for (size_t c = 0; c < nc; c++) {
        vxa_rstats r = { 0, INFINITY, -INFINITY, 0, 0 };
        for (size_t g = 0; g < G; g++) {
            const float *p = part + (c * G + g) * 5;
            r.count += p[0];
            r.min = fmin(r.min, p[1]);
            r.max = fmax(r.max, p[2]);
            r.sum += p[3];
            r.sumsq += p[4];
        }
        out[c] = r;
    }
done:
    if (shm) clReleaseMemObject(shm);
    if (partm) clReleaseMemObject(partm);
    free(sh);
    free(part);
    return st;
}

vxa_status vxa_cl_reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                               const double *shift, vxa_rstats *out)
{
    return reduce_stats(ctx, vol, nonzero, mask, shift, 1, out);
}

vxa_status vxa_cl_reduce_moments(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                 int want_std, vxa_moments *out)
{
    const size_t nc = (size_t)vol->channels;
    vxa_rstats *r = malloc(nc * sizeof *r);
    double *shift = malloc(nc * sizeof *shift);
    vxa_status st = VXA_OK;
    if (!r || !shift) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "reduce_moments: %zu channels", nc);
        goto done;
    }
    if ((st = reduce_stats(ctx, vol, nonzero, mask, NULL, want_std >= 0, r)) != VXA_OK) goto done;
    bool second = false;   /* whether a channel needs the second, shifted pass */
    for (size_t c = 0; c < nc; c++) {
        out[c].count = r[c].count;
        out[c].min = r[c].min;
        out[c].max = r[c].max;
        out[c].mean = r[c].count > 0 && want_std >= 0 ? r[c].sum / r[c].count : NAN;
        out[c].std = NAN;
        /* The second pass is shifted by the mean as the kernel sees it (float). */
        shift[c] = r[c].count > 0 ? (double)(float)out[c].mean : 0.0;
        if (want_std <= 0 || !(r[c].count > 0)) continue;
        /* The first pass's sums, unshifted, give the variance as sumsq/n - mean^2. Each partial is a compensated
         * float sum, within ~3e-7 of its value, so that variance is within ~3e-7 (var + 3 mean^2) of the true one:
         * within 1.2e-6 relative where mean^2 <= var, and the std within 6e-7. Such channels (ch2: mean^2 / var
         * 0.91) skip the second pass; the others, where the cancellation would cost more, take it, as do sums
         * whose squares overflowed float (NaN after compensation; the shifted pass's squares may not). */
        const double var = r[c].sumsq / r[c].count - out[c].mean * out[c].mean;
        if (isfinite(var) && var > 0 && out[c].mean * out[c].mean <= var)
            out[c].std = sqrt(var);
        else
            second = true;
    }
    if (want_std <= 0 || !second) goto done;
    if ((st = reduce_stats(ctx, vol, nonzero, mask, shift, 1, r)) != VXA_OK) goto done;
    for (size_t c = 0; c < nc; c++) {
        if (!(r[c].count > 0) || !isnan(out[c].std)) continue;
        const double d = r[c].sum / r[c].count;   /* mean - shift */
        const double var = r[c].sumsq / r[c].count - d * d;
        out[c].mean = shift[c] + d;
        out[c].std = sqrt(var > 0 ? var : 0);
    }
done:
    free(r);
    free(shift);
    return st;
}

/* The float whose order-preserving key is `key` (inverse of vxa_float_key in kernels/reduce.cl). */
static float key_float(uint32_t key)
{
    uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Stored integers of at most 16 bits are histogrammed by their stored value (CODE_RAW_MIN, kernels/reduce.cl):
 * one pass finds every order statistic. *bits: the code's width; *min: the type's minimum. */
static bool raw_codes(vxa_dtype t, int *bits, int *min)
{
    switch (t) {
    case VXA_UINT8: *bits = 8; *min = 0; return true;
    case VXA_INT8: *bits = 8; *min = -128; return true;
    case VXA_UINT16: *bits = 16; *min = 0; return true;
    case VXA_INT16: *bits = 16; *min = -32768; return true;
    default: return false;
    }
}

bool vxa_reduce_percentiles_read_stored(const vxa_dvol *vol)
{
    int bits, min;
    return raw_codes(vol->dtype, &bits, &min);
}

/* The float32 a stored value reads as on the device (vxa_load: x * slope + inter, rounded after the product,
 * no fused multiply-add). */
static float stored_value(int raw, float slope, float inter)
{
    const float x = (float)raw;
    if (slope == 0.0f) return x;
    volatile float p = x * slope;   /* volatile: rounded to float here, never contracted with the sum */
    return p + inter;
}

/* The four order statistics of channel c from the stored-value histogram h (2^bits codes): the codes are walked
 * in the order of their floats (a negative slope reverses it), leaving out the floats that do not count. */
static void raw_select(const uint32_t *h, int bits, int min, float slope, float inter, int nonzero,
                       const double q[2], double out[2])
{
    const int nb = 1 << bits;
    uint64_t total = 0;
    for (int b = 0; b < nb; b++) {
        const float y = stored_value(b + min, slope, inter);
        if (h[b] && isfinite(y) && !(nonzero && y == 0.0f)) total += h[b];
    }
    if (total == 0) {
        out[0] = out[1] = NAN;
        return;
    }
    uint64_t rank[4];
    double t[2];
    float val[4];
    for (int i = 0; i < 2; i++) vxa_percentile_ranks(total, q[i], &rank[2 * i], &rank[2 * i + 1], &t[i]);
    uint64_t upto = 0;   /* counted voxels up to and including this code: the ranks below it are its float */
    int found = 0;       /* bit r: val[r] is set */
    for (int k = 0; k < nb && found != 15; k++) {
        const int b = slope < 0.0f ? nb - 1 - k : k;
        const float y = stored_value(b + min, slope, inter);
        if (!h[b] || !isfinite(y) || (nonzero && y == 0.0f)) continue;
        upto += h[b];
        for (int r = 0; r < 4; r++)
            if (!(found >> r & 1) && rank[r] < upto) {
                val[r] = y;
                found |= 1 << r;
            }
    }
    for (int i = 0; i < 2; i++) out[i] = vxa_percentile_lerp(val[2 * i], val[2 * i + 1], t[i]);
}

/* The first pass: hist ([channel][2^bits]) of the codes of kernels/reduce.cl's vxa_reduce_code_hist. The CPU
 * form counts in scratch histograms of its own, so it runs as few work-items as keep the cores busy. */
static vxa_status code_hist(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                            const char *opts, int bits, uint32_t *hist)
{
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]), nc = (size_t)vol->channels;
    const size_t nb = (size_t)1 << bits;
    const bool chunked = ctx->cl->chunked;
    const char *name = chunked ? "vxa_reduce_code_hist_chunk" : "vxa_reduce_code_hist";
    cl_kernel k;
    vxa_status st = vxa_cl_kernel(ctx, "reduce", opts, name, &k);
    if (st != VXA_OK) return st;
    size_t L, G;
    cl_long chunk;
    reduce_shape(ctx, k, n, &L, &G, &chunk);
    if (chunked) {   /* two work-items per core: each zeroes and merges its 2^bits bins once */
        const size_t gmax = 2 * (size_t)(ctx->cl->compute_units ? ctx->cl->compute_units : 1);
        if (G > gmax) G = gmax;
        chunk = (cl_long)((n + G - 1) / G);
    }
    cl_mem histm = NULL, scrm = NULL;
    const cl_uint zero = 0;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE, nc * nb * sizeof *hist, NULL, &histm,
                            "percentile histograms")) != VXA_OK ||
        (chunked && (st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE, nc * G * nb * sizeof *hist, NULL, &scrm,
                                        "percentile histograms per work-item")) != VXA_OK))
        goto done;
    cl_int err = clEnqueueFillBuffer(ctx->cl->queue, histm, &zero, sizeof zero, 0, nc * nb * sizeof *hist, 0,
                                     NULL, NULL);
    if (err != CL_SUCCESS) {
        st = vxa_cl_fail(ctx, err, "percentiles: clearing the histograms");
        goto done;
    }
    cl_mem xm = (cl_mem)vol->mem, mm = mask ? (cl_mem)mask->mem : NULL;
    const cl_long nn = (cl_long)n;
    const cl_int nz = nonzero != 0, cbits = bits;
    const cl_float slope = vol->slope, inter = vol->inter;
    /* the CPU form also takes its scratch histograms and its chunk length */
    const vxa_cl_arg args[] = { VXA_ARG(xm), VXA_ARG(slope), VXA_ARG(inter), VXA_ARG(nn), VXA_ARG(nz), VXA_ARG(mm),
                                VXA_ARG(cbits), VXA_ARG(histm), VXA_ARG(scrm), VXA_ARG(chunk) };
    if ((st = vxa_cl_set_args(ctx, k, name, args, sizeof args / sizeof args[0] - (chunked ? 0 : 2))) != VXA_OK ||
        (st = reduce_launch(ctx, k, name, L, G, nc)) != VXA_OK)
        goto done;
    err = clEnqueueReadBuffer(ctx->cl->queue, histm, CL_TRUE, 0, nc * nb * sizeof *hist, hist, 0, NULL, NULL);
    if (err != CL_SUCCESS) st = vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: percentile histograms");
done:
    if (histm) clReleaseMemObject(histm);
    if (scrm) clReleaseMemObject(scrm);
    return st;
}

/* Selection of four order statistics per channel. Stored integers of at most 16 bits: one histogram of the
 * stored values (raw_select). Otherwise radix selection on the keys of kernels/reduce.cl: a first pass
 * histograms their top 16 bits, then two passes their next 8 bits each, over the keys that share the prefix
 * found so far (most significant first). */
vxa_status vxa_cl_reduce_percentiles(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                     const double q[2], double *out)
{
    char opts[64];
    vxa_status st = check_input(ctx, vol, "reduce_percentiles", opts);
    if (st == VXA_OK) st = check_mask(ctx, vol, mask, "reduce_percentiles");
    if (st != VXA_OK) return st;
    const size_t n = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]), nc = (size_t)vol->channels;
    if (n >= ((size_t)1 << 32))
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "percentiles: %zu voxels per channel, at most 2^32 - 1", n);
    int bits = 16, rmin = 0;
    const bool raw = raw_codes(vol->dtype, &bits, &rmin);
    if (raw) {
        char ropts[96];
        snprintf(ropts, sizeof ropts, "%s -DCODE_RAW_MIN=%d", opts, rmin);
        uint32_t *h = malloc(nc * ((size_t)1 << bits) * sizeof *h);
        if (!h) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "percentiles: histograms for %zu channels", nc);
        if ((st = code_hist(ctx, vol, nonzero, mask, ropts, bits, h)) == VXA_OK)
            for (size_t c = 0; c < nc; c++)
                raw_select(h + (c << bits), bits, rmin, vol->slope, vol->inter, nonzero, q, out + 2 * c);
        free(h);
        return st;
    }
    cl_kernel k;
    const char *name = ctx->cl->chunked ? "vxa_reduce_hist_chunk" : "vxa_reduce_hist";
    if ((st = vxa_cl_kernel(ctx, "reduce", opts, name, &k)) != VXA_OK) return st;
    size_t L, G;
    cl_long chunk;
    reduce_shape(ctx, k, n, &L, &G, &chunk);
    uint32_t *prefix = calloc(nc * 4, sizeof *prefix), *hist = malloc(nc * 65536 * sizeof *hist);
    uint64_t *rank = calloc(nc * 4, sizeof *rank), *total = calloc(nc, sizeof *total);
    double *t = calloc(nc * 2, sizeof *t);
    cl_mem prefm = NULL, histm = NULL;
    if (!prefix || !hist || !rank || !total || !t) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "percentiles: histograms for %zu channels", nc);
        goto done;
    }
    if ((st = code_hist(ctx, vol, nonzero, mask, opts, 16, hist)) != VXA_OK) goto done;
    for (size_t c = 0; c < nc; c++) {
        const uint32_t *h = hist + (c << 16);
        for (int b = 0; b < 65536; b++) total[c] += h[b];
        if (total[c] == 0) continue;
        for (int i = 0; i < 2; i++)
            vxa_percentile_ranks(total[c], q[i], &rank[c * 4 + 2 * i], &rank[c * 4 + 2 * i + 1], &t[c * 2 + i]);
        for (int r = 0; r < 4; r++) {
            uint64_t below = 0;
            int b = 0;
            while (b < 65535 && below + h[b] <= rank[c * 4 + (size_t)r]) below += h[b++];
            rank[c * 4 + (size_t)r] -= below;
            prefix[c * 4 + (size_t)r] = (uint32_t)b << 16;
        }
    }
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY, nc * 4 * sizeof *prefix, NULL, &prefm,
                            "percentile prefixes")) != VXA_OK ||
        (st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE, nc * 1024 * sizeof *hist, NULL, &histm,
                            "percentile histograms")) != VXA_OK)
        goto done;
    cl_mem xm = (cl_mem)vol->mem, mm = mask ? (cl_mem)mask->mem : NULL;
    cl_long nn = (cl_long)n;
    cl_int nz = nonzero != 0;
    const cl_float slope = vol->slope, inter = vol->inter;
    for (cl_int shift = 8; shift >= 0; shift -= 8) {
        const cl_uint pmask = 0xffffffffu << (shift + 8);
        const cl_uint zero = 0;
        cl_int err = clEnqueueWriteBuffer(ctx->cl->queue, prefm, CL_FALSE, 0, nc * 4 * sizeof *prefix, prefix, 0,
                                          NULL, NULL);
        if (err == CL_SUCCESS)
            err = clEnqueueFillBuffer(ctx->cl->queue, histm, &zero, sizeof zero, 0, nc * 1024 * sizeof *hist, 0,
                                      NULL, NULL);
        if (err != CL_SUCCESS) {
            st = vxa_cl_fail(ctx, err, "percentiles: preparing the pass over bits %d..%d", shift, shift + 7);
            goto done;
        }
        /* the GPU form's last argument is its local histogram, the CPU form's its chunk length */
        const size_t last = ctx->cl->chunked ? sizeof chunk : 4 * 256 * sizeof(cl_uint);
        if ((st = vxa_cl_args(ctx, k, name, VXA_ARG(xm), VXA_ARG(slope), VXA_ARG(inter), VXA_ARG(nn), VXA_ARG(nz),
                              VXA_ARG(mm), VXA_ARG(shift), VXA_ARG(pmask), VXA_ARG(prefm), VXA_ARG(histm),
                              { last, ctx->cl->chunked ? (void *)&chunk : NULL })) != VXA_OK ||
            (st = reduce_launch(ctx, k, name, L, G, nc)) != VXA_OK)
            goto done;
        err = clEnqueueReadBuffer(ctx->cl->queue, histm, CL_TRUE, 0, nc * 1024 * sizeof *hist, hist, 0, NULL,
                                  NULL);
        if (err != CL_SUCCESS) {
            st = vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: percentile histograms");
            goto done;
        }
        for (size_t c = 0; c < nc; c++) {
            if (total[c] == 0) continue;
            uint32_t seen[4];
            memcpy(seen, prefix + c * 4, sizeof seen);
            for (int r = 0; r < 4; r++) {
                int slot = 0;  /* the kernel counted each distinct prefix in its first slot only */
                while (seen[slot] != seen[r]) slot++;
                const uint32_t *h = hist + c * 1024 + (size_t)slot * 256;
                uint64_t below = 0;
                int b = 0;
                while (b < 255 && below + h[b] <= rank[c * 4 + (size_t)r]) below += h[b++];
                rank[c * 4 + (size_t)r] -= below;
                prefix[c * 4 + (size_t)r] |= (uint32_t)b << shift;
            }
        }
    }
    for (size_t c = 0; c < nc; c++)
        for (int i = 0; i < 2; i++)
            out[c * 2 + (size_t)i] = total[c] == 0 ? NAN
                : vxa_percentile_lerp(key_float(prefix[c * 4 + 2 * (size_t)i]),
                                      key_float(prefix[c * 4 + 2 * (size_t)i + 1]), t[c * 2 + (size_t)i]);
done:
    if (prefm) clReleaseMemObject(prefm);
    if (histm) clReleaseMemObject(histm);
    free(prefix);
    free(hist);
    free(rank);
    free(total);
    free(t);
    return st;
}
