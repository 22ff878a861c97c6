/* SPDX-License-Identifier: MIT */
/* Gaussian smoothing on the device (kernels/smooth.cl): one pass per axis with sigma > 1e-15, ping-ponging
 * between the volume and one temporary, all enqueued without waiting; and one pass cut to a window along its
 * axis (vxa_gauss_window). */
#include "cl_backend.h"
#include "elastic.h"

#include <stdlib.h>

#define VXA_GAUSS_B 8   /* outputs per work-item of vxa_gauss_axis: the same constant as in kernels/smooth.cl */

/* The kernel's weights as float32: scipy's double weights, rounded, with `pad` zeros on each side. */
static vxa_status weights_buffer(vxa_context *ctx, double sigma, int64_t radius, size_t pad, cl_mem *out)
{
    const size_t n = (size_t)(2 * radius + 1);
    double *wd = malloc(sizeof *wd * n);
    float *wf = calloc(n + 2 * pad, sizeof *wf);
    vxa_status st = VXA_OK;
    if (!wd || !wf) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gaussian smoothing: %zu weights", n);
        goto done;
    }
    vxa_gauss_kernel1d(sigma, radius, wd);
    for (size_t t = 0; t < n; t++) wf[pad + t] = (float)wd[t];
    st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof *wf * (n + 2 * pad), wf, out,
                       "gaussian smoothing weights");
done:
    free(wd);
    free(wf);
    return st;
}

/* One pass along axis a of the volume src (dims dim, `channels` channels) into dst: the outputs [at, at + nout)
 * along a (dst's dims: dim with dim[a] = nout), all of them for the whole pass (at = 0, nout = dim[a]).
 * Enqueued without waiting. */
static vxa_status gauss_pass(vxa_context *ctx, cl_mem src, cl_mem dst, const int64_t dim[3], int64_t channels,
                             int a, double sigma, vxa_mode mode, double truncate, int64_t at, int64_t nout)
{
    const int64_t r = vxa_gauss_radius(sigma, truncate);
    /* CPU form up to radius 48 (sigma 12 at truncate 4): it adds each tap over the output row, faster than
     * the GPU form on PoCL at small sigma, even at 8 to 16, slower at 35 (bench/RESULTS.md) */
    const bool rows = ctx->cl->chunked && r <= 48;
    /* along j and k, one work-item per line of rows where there are enough lines for every core */
    const size_t lines = a == 1 ? (size_t)(dim[2] * channels) : (size_t)(dim[1] * channels);
    const bool walk = rows && a > 0 && lines >= 4 * (size_t)ctx->cl->compute_units;
    const char *name = !rows ? "vxa_gauss_axis" : walk ? "vxa_gauss_rows_walk" : "vxa_gauss_rows";
    int64_t od[3] = { dim[0], dim[1], dim[2] };   /* the output's dims */
    od[a] = nout;
    cl_kernel k;
    cl_mem w = NULL;
    vxa_status st;
    if ((st = vxa_cl_kernel(ctx, "smooth", "", name, &k)) != VXA_OK) return st;
    if ((st = weights_buffer(ctx, sigma, r, VXA_GAUSS_B - 1, &w)) != VXA_OK) return st;
    const cl_long4 d = { { dim[0], dim[1], dim[2] * channels, dim[2] } };
    const cl_int axis = a, radius = (cl_int)r, m = (cl_int)mode;
    const cl_long at_l = at, nout_l = nout;
    st = vxa_cl_args(ctx, k, name, VXA_ARG(src), VXA_ARG(dst), VXA_ARG(d), VXA_ARG(axis), VXA_ARG(radius),
                     VXA_ARG(m), VXA_ARG(w), VXA_ARG(at_l), VXA_ARG(nout_l));
    if (st == VXA_OK && rows) {   /* one work-item per output row along i, or per line of rows */
        size_t gr[3] = { (size_t)od[1], (size_t)(od[2] * channels), 1 };
        if (walk && a == 1) {
            gr[0] = lines;
            gr[1] = 1;
        } else if (walk) {
            gr[1] = (size_t)channels;
        }
        st = vxa_cl_launch(ctx, k, name, 2, gr);
    } else if (st == VXA_OK) {   /* blocks of outputs along the axis */
        size_t g[3] = { (size_t)od[0], (size_t)od[1], (size_t)(od[2] * channels) };
        if (a < 2) g[a] = (g[a] + VXA_GAUSS_B - 1) / VXA_GAUSS_B;
        else g[2] = (size_t)((od[2] + VXA_GAUSS_B - 1) / VXA_GAUSS_B * channels);
        st = vxa_cl_launch(ctx, k, name, 3, g);
    }
    clReleaseMemObject(w);   /* the queue keeps it alive until the pass has run */
    return st;
}

vxa_status vxa_cl_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                               double truncate)
{
    vxa_status st;
    int passes = 0;
    for (int a = 0; a < 3; a++) passes += sigma[a] > 1e-15;
    if (passes == 0) return VXA_OK;

    vxa_dvol tmp = { 0 };
    if ((st = vxa_dvol_alloc(ctx, vol->dim, vol->channels, VXA_FLOAT32, &tmp)) != VXA_OK) goto done;
    cl_mem src = (cl_mem)vol->mem, dst = (cl_mem)tmp.mem;
    for (int a = 0; a < 3; a++) {
        if (!(sigma[a] > 1e-15)) continue;
        if ((st = gauss_pass(ctx, src, dst, vol->dim, vol->channels, a, sigma[a], mode, truncate, 0,
                             vol->dim[a])) != VXA_OK)
            goto done;
        cl_mem t = src;
        src = dst;
        dst = t;
    }
    if (src != (cl_mem)vol->mem) {   /* an odd number of passes left the result in the temporary */
        cl_int err = clEnqueueCopyBuffer(ctx->cl->queue, src, (cl_mem)vol->mem, 0, 0, vxa_dvol_bytes(vol), 0,
                                         NULL, NULL);
        if (err != CL_SUCCESS) st = vxa_cl_fail(ctx, err, "clEnqueueCopyBuffer: smoothed volume, %zu bytes",
                                                vxa_dvol_bytes(vol));
    }
done:
    vxa_dvol_release(ctx, &tmp);
    return st;
}

vxa_status vxa_cl_gauss_window(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, int axis, double sigma,
                               vxa_mode mode, double truncate, int64_t at)
{
    return gauss_pass(ctx, (cl_mem)in->mem, (cl_mem)out->mem, in->dim, in->channels, axis, sigma, mode, truncate,
                      at, out->dim[axis]);
}

vxa_status vxa_cl_noise_gauss_window(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key,
                                     const float amp[3], const int64_t fine_dim[3], const int64_t lo[3],
                                     int64_t box_nx, double sigma, vxa_mode mode, double truncate, int64_t at)
{
    const int64_t r = vxa_gauss_radius(sigma, truncate), nc = out->channels;
    const int64_t box[3] = { box_nx, out->dim[1], out->dim[2] };
    /* the CPU form of the pass (vxa_gauss_rows along i) with the noise drawn row by row in the cache, where each
     * core has planes enough to walk; otherwise the noise box, then the pass */
    const bool fused = ctx->cl->chunked && r <= 48 && (size_t)(box[2] * nc) >= 4 * (size_t)ctx->cl->compute_units;
    vxa_dvol tmp = { 0 };
    vxa_status st;
    if (!fused) {
        const int64_t one[3] = { 1, 1, 1 };
        if ((st = vxa_dvol_alloc(ctx, box, nc, VXA_FLOAT32, &tmp)) == VXA_OK &&
            (st = vxa_cl_noise_block_mean(ctx, &tmp, key, amp, fine_dim, lo, one)) == VXA_OK)
            st = vxa_cl_gauss_window(ctx, &tmp, out, 0, sigma, mode, truncate, at);
        vxa_dvol_release(ctx, &tmp);
        return st;
    }
    const int64_t run = 16, runs = (box[1] + run - 1) / run;
    const int64_t rows[3] = { box_nx, box[2], runs };   /* a row of noise for each walking work-item */
    cl_mem w = NULL;
    cl_kernel k;
    const char *name = "vxa_noise_gauss_rows";
    if ((st = vxa_dvol_alloc(ctx, rows, nc, VXA_FLOAT32, &tmp)) != VXA_OK) return st;
    if ((st = vxa_cl_kernel(ctx, "noise", "", name, &k)) != VXA_OK) goto done;
    if ((st = weights_buffer(ctx, sigma, r, VXA_GAUSS_B - 1, &w)) != VXA_OK) goto done;
    const cl_long4 bd = { { box[0], box[1], box[2], nc } };
    const cl_long4 fd = { { fine_dim[0], fine_dim[1], fine_dim[2], 1 } };
    const cl_long4 f0 = { { lo[0], lo[1], lo[2], 0 } };
    const cl_ulong seed = key->seed, sample = key->sample;
    const cl_uint op = key->op_index;
    const cl_float4 a = { { amp[0], amp[1], amp[2], 0.0f } };
    const cl_int radius = (cl_int)r, m = (cl_int)mode;
    const cl_long at_l = at, nout = out->dim[0], run_l = run;
    cl_mem om = (cl_mem)out->mem, sm = (cl_mem)tmp.mem;
    st = vxa_cl_args(ctx, k, name, VXA_ARG(om), VXA_ARG(sm), VXA_ARG(bd), VXA_ARG(fd), VXA_ARG(f0), VXA_ARG(seed),
                     VXA_ARG(sample), VXA_ARG(op), VXA_ARG(a), VXA_ARG(radius), VXA_ARG(m), VXA_ARG(w),
                     VXA_ARG(at_l), VXA_ARG(nout), VXA_ARG(run_l));
    const size_t g[3] = { (size_t)(box[2] * nc), (size_t)runs, 1 };
    if (st == VXA_OK) st = vxa_cl_launch(ctx, k, name, 2, g);
    clReleaseMemObject(w);   /* the queue keeps it alive until the pass has run */
done:
    vxa_dvol_release(ctx, &tmp);   /* the pool hands it out again only after queued work (backend wait) */
    return st;
}
