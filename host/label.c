/* SPDX-License-Identifier: MIT */
/* Label-map statistics and foreground boxes on the device (kernels/label.cl): each runs one kernel and reads
 * back a few numbers (per-chunk extremes, per-block class counts, one index, one box). */
#include "cl_backend.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Voxels per work-item of the range kernel: enough to keep the partials small, few enough for a GPU's width. */
#define RANGE_CHUNK 4096

static vxa_status read_small(vxa_context *ctx, cl_mem m, size_t bytes, void *dst, const char *what)
{
    cl_int err = clEnqueueReadBuffer(ctx->cl->queue, m, CL_TRUE, 0, bytes, dst, 0, NULL, NULL);
    if (err != CL_SUCCESS) return vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: %s, %zu bytes", what, bytes);
    return VXA_OK;
}

/* Kernel `name` of kernels/label.cl for the type of d (IN_T). */
static vxa_status label_kernel(vxa_context *ctx, const vxa_dvol *d, const char *name, cl_kernel *k)
{
    char opts[64];
    snprintf(opts, sizeof opts, "-DIN_T=%s", vxa_dtype_cl_name(d->dtype));
    return vxa_cl_kernel(ctx, "label", opts, name, k);
}

vxa_status vxa_cl_label_range(vxa_context *ctx, const vxa_dvol *lab, int64_t *lo, int64_t *hi)
{
    const char *name = "vxa_label_range";
    cl_kernel k;
    vxa_status st = label_kernel(ctx, lab, name, &k);
    if (st != VXA_OK) return st;
    const cl_long n = lab->dim[0] * lab->dim[1] * lab->dim[2], chunk = RANGE_CHUNK;
    const size_t groups = (size_t)((n + chunk - 1) / chunk);
    cl_long *mm = malloc(groups * 2 * sizeof *mm);
    cl_mem mmm = NULL;
    if (!mm) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "label range: %zu partials", groups);
    cl_mem labm = (cl_mem)lab->mem;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_WRITE_ONLY, groups * 2 * sizeof *mm, NULL, &mmm, "label range partials")) ==
            VXA_OK &&
        (st = vxa_cl_args(ctx, k, name, VXA_ARG(labm), VXA_ARG(n), VXA_ARG(chunk), VXA_ARG(mmm))) == VXA_OK) {
        const size_t g[3] = { groups, 1, 1 };
        if ((st = vxa_cl_launch(ctx, k, name, 1, g)) == VXA_OK)
            st = read_small(ctx, mmm, groups * 2 * sizeof *mm, mm, "label range partials");
    }
    if (st == VXA_OK) {
        *lo = mm[0];
        *hi = mm[1];
        for (size_t q = 1; q < groups; q++) {
            if (mm[2 * q] < *lo) *lo = mm[2 * q];
            if (mm[2 * q + 1] > *hi) *hi = mm[2 * q + 1];
        }
    }
    if (mmm) clReleaseMemObject(mmm);
    free(mm);
    return st;
}

vxa_status vxa_cl_label_block_counts(vxa_context *ctx, const vxa_dvol *lab, int64_t block, int64_t vmin,
                                     const int32_t *lut, int64_t nlut, int ncls, uint32_t *counts)
{
    const char *name = "vxa_label_block_counts";
    cl_kernel k;
    vxa_status st = label_kernel(ctx, lab, name, &k);
    if (st != VXA_OK) return st;
    const cl_long n = lab->dim[0] * lab->dim[1] * lab->dim[2], chunk = block, lo = vmin;
    const cl_int nc = ncls;
    const size_t nblocks = (size_t)((n + chunk - 1) / chunk), bytes = nblocks * (size_t)ncls * sizeof *counts;
    cl_mem lutm = NULL, cm = NULL, labm = (cl_mem)lab->mem;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, (size_t)nlut * sizeof *lut, (void *)lut,
                            &lutm, "label lookup table")) == VXA_OK &&
        (st = vxa_cl_buffer(ctx, CL_MEM_WRITE_ONLY, bytes, NULL, &cm, "label block counts")) == VXA_OK &&
        (st = vxa_cl_args(ctx, k, name, VXA_ARG(labm), VXA_ARG(n), VXA_ARG(chunk), VXA_ARG(lo), VXA_ARG(lutm),
                          VXA_ARG(nc), VXA_ARG(cm))) == VXA_OK) {
        const size_t g[3] = { nblocks, 1, 1 };
        if ((st = vxa_cl_launch(ctx, k, name, 1, g)) == VXA_OK)
            st = read_small(ctx, cm, bytes, counts, "label block counts");
    }
    if (lutm) clReleaseMemObject(lutm);
    if (cm) clReleaseMemObject(cm);
    return st;
}

vxa_status vxa_cl_label_locate(vxa_context *ctx, const vxa_dvol *lab, int64_t first, int64_t end, int64_t value,
                               int64_t skip, int64_t *index)
{
    const char *name = "vxa_label_locate";
    cl_kernel k;
    vxa_status st = label_kernel(ctx, lab, name, &k);
    if (st != VXA_OK) return st;
    const cl_long f = first, e = end, v = value, s = skip;
    cl_long found = -1;
    cl_mem om = NULL, labm = (cl_mem)lab->mem;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_WRITE_ONLY, sizeof found, NULL, &om, "label locate")) == VXA_OK &&
        (st = vxa_cl_args(ctx, k, name, VXA_ARG(labm), VXA_ARG(f), VXA_ARG(e), VXA_ARG(v), VXA_ARG(s),
                          VXA_ARG(om))) == VXA_OK) {
        const size_t g[3] = { 1, 1, 1 };
        if ((st = vxa_cl_launch(ctx, k, name, 1, g)) == VXA_OK)
            st = read_small(ctx, om, sizeof found, &found, "label locate");
    }
    if (om) clReleaseMemObject(om);
    *index = found;
    return st;
}

vxa_status vxa_cl_fg_box(vxa_context *ctx, const vxa_dvol *vol, double threshold, int64_t box[6])
{
    const char *name = "vxa_fg_box";
    cl_kernel k;
    vxa_status st = label_kernel(ctx, vol, name, &k);
    if (st != VXA_OK) return st;
    cl_int b[6] = { INT_MAX, INT_MAX, INT_MAX, -1, -1, -1 };
    const cl_long4 dim = { { vol->dim[0], vol->dim[1], vol->dim[2], vol->channels } };
    const cl_float thr = (cl_float)threshold;
    cl_mem bm = NULL, vm = (cl_mem)vol->mem;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof b, b, &bm, "foreground box")) ==
            VXA_OK &&
        (st = vxa_cl_args(ctx, k, name, VXA_ARG(vm), VXA_ARG(dim), VXA_ARG(vol->slope), VXA_ARG(vol->inter),
                          VXA_ARG(thr), VXA_ARG(bm))) == VXA_OK) {
        const size_t g[3] = { (size_t)vol->dim[1], (size_t)vol->dim[2], 1 };
        if ((st = vxa_cl_launch(ctx, k, name, 2, g)) == VXA_OK) st = read_small(ctx, bm, sizeof b, b, "foreground box");
    }
    if (bm) clReleaseMemObject(bm);
    for (int q = 0; q < 6; q++) box[q] = b[q];
    return st;
}
