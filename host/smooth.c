/* SPDX-License-Identifier: MIT */
/* Gaussian smoothing on the device (kernels/smooth.cl): one pass per axis with sigma > 1e-15, ping-ponging
 * between the volume and one temporary, all enqueued without waiting. */
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

vxa_status vxa_cl_gauss_smooth(vxa_context *ctx, vxa_dvol *vol, const double sigma[3], vxa_mode mode,
                               double truncate)
{
    vxa_status st;
    int passes = 0;
    for (int a = 0; a < 3; a++) passes += sigma[a] > 1e-15;
    if (passes == 0) return VXA_OK;

    vxa_dvol tmp = { 0 };
    cl_mem w = NULL;
    if ((st = vxa_dvol_alloc(ctx, vol->dim, vol->channels, VXA_FLOAT32, &tmp)) != VXA_OK) goto done;
    cl_mem src = (cl_mem)vol->mem, dst = (cl_mem)tmp.mem;
    const cl_long4 dim = { { vol->dim[0], vol->dim[1], vol->dim[2] * vol->channels, vol->dim[2] } };
    const cl_int m = (cl_int)mode;
    for (int a = 0; a < 3; a++) {
        if (!(sigma[a] > 1e-15)) continue;
        const int64_t r = vxa_gauss_radius(sigma[a], truncate);
        /* CPU form up to radius 48 (sigma 12 at truncate 4): it adds each tap over the output row, faster than
         * the GPU form on PoCL at small sigma, even at 8 to 16, slower at 35 (bench/RESULTS.md) */
        const bool rows = ctx->cl->chunked && r <= 48;
        /* along j and k, one work-item per line of rows where there are enough lines for every core */
        const size_t lines = a == 1 ? (size_t)(vol->dim[2] * vol->channels) : (size_t)(vol->dim[1] * vol->channels);
        const bool walk = rows && a > 0 && lines >= 4 * (size_t)ctx->cl->compute_units;
        const char *name = !rows ? "vxa_gauss_axis" : walk ? "vxa_gauss_rows_walk" : "vxa_gauss_rows";
        cl_kernel k;
        if ((st = vxa_cl_kernel(ctx, "smooth", "", name, &k)) != VXA_OK) goto done;
        if ((st = weights_buffer(ctx, sigma[a], r, VXA_GAUSS_B - 1, &w)) != VXA_OK) goto done;
        const cl_int axis = a, radius = (cl_int)r;
        size_t g[3] = { (size_t)vol->dim[0], (size_t)vol->dim[1], (size_t)(vol->dim[2] * vol->channels) };
        if (a < 2) g[a] = (g[a] + VXA_GAUSS_B - 1) / VXA_GAUSS_B;   /* blocks along the axis */
        else g[2] = (size_t)((vol->dim[2] + VXA_GAUSS_B - 1) / VXA_GAUSS_B * vol->channels);
        st = vxa_cl_args(ctx, k, name, VXA_ARG(src), VXA_ARG(dst), VXA_ARG(dim), VXA_ARG(axis), VXA_ARG(radius),
                         VXA_ARG(m), VXA_ARG(w));
        if (st == VXA_OK && rows) {   /* one work-item per row along i, or per line of rows */
            size_t gr[3] = { (size_t)vol->dim[1], (size_t)(vol->dim[2] * vol->channels), 1 };
            if (walk && a == 1) {
                gr[0] = lines;
                gr[1] = 1;
            } else if (walk) {
                gr[1] = (size_t)vol->channels;
            }
            st = vxa_cl_launch(ctx, k, name, 2, gr);
        } else if (st == VXA_OK) {
            st = vxa_cl_launch(ctx, k, name, 3, g);
        }
        clReleaseMemObject(w);   /* the queue keeps it alive until the pass has run */
        w = NULL;
        if (st != VXA_OK) goto done;
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
