/* SPDX-License-Identifier: MIT */
/* Elastic-field building blocks on the device (kernels/noise.cl): Philox noise per voxel, trilinear
 * upsampling of coarse fields, and the known-answer hooks for Philox. */
#include "cl_backend.h"
#include "elastic.h"

vxa_status vxa_cl_noise_uniform(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3])
{
    vxa_status st;
    const bool x16 = ctx->cl->chunked;   /* the CPU form: sixteen Philox blocks per work-item, as vector lanes */
    const char *name = x16 ? "vxa_noise_uniform_x16" : "vxa_noise_uniform";
    cl_kernel k;
    if ((st = vxa_cl_kernel(ctx, "noise", "", name, &k)) != VXA_OK) return st;
    const cl_ulong nvox = (cl_ulong)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    const cl_ulong seed = key->seed, sample = key->sample;
    const cl_uint op = key->op_index;
    const cl_float4 a = { { amp[0], amp[1], amp[2], 0.0f } };
    cl_mem m = (cl_mem)vol->mem;
    st = vxa_cl_args(ctx, k, name, VXA_ARG(m), VXA_ARG(nvox), VXA_ARG(seed), VXA_ARG(sample), VXA_ARG(op),
                     VXA_ARG(a));
    if (st != VXA_OK) return st;
    const size_t blocks = (size_t)((nvox + 3) / 4);
    const size_t g[3] = { x16 ? (blocks + 15) / 16 : blocks, (size_t)vol->channels, 1 };
    return vxa_cl_launch(ctx, k, name, 2, g);
}

vxa_status vxa_cl_noise_block_mean(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key,
                                   const float amp[3], const int64_t fine_dim[3], const int64_t first[3],
                                   const int64_t step[3])
{
    vxa_status st;
    const bool rows = ctx->cl->chunked;   /* the CPU form: one work-item per coarse row and channel */
    /* blocks of one voxel (an exact field's noise on a window): the CPU form writes each row's noise at once */
    const bool box = rows && step[0] == 1 && step[1] == 1 && step[2] == 1;
    const char *name = box ? "vxa_noise_box_rows" : rows ? "vxa_noise_block_mean_rows" : "vxa_noise_block_mean";
    cl_kernel k;
    if ((st = vxa_cl_kernel(ctx, "noise", "", name, &k)) != VXA_OK) return st;
    const cl_long4 cd = { { coarse->dim[0], coarse->dim[1], coarse->dim[2], coarse->channels } };
    const cl_long4 fd = { { fine_dim[0], fine_dim[1], fine_dim[2], 1 } };
    const cl_long4 f0 = { { first[0], first[1], first[2], 0 } };
    const cl_long4 s = { { step[0], step[1], step[2], 1 } };
    const cl_ulong seed = key->seed, sample = key->sample;
    const cl_uint op = key->op_index;
    const cl_float4 a = { { amp[0], amp[1], amp[2], 0.0f } };
    const cl_float inv = (cl_float)(1.0 / (double)(step[0] * step[1] * step[2]));
    cl_mem m = (cl_mem)coarse->mem;
    st = vxa_cl_args(ctx, k, name, VXA_ARG(m), VXA_ARG(cd), VXA_ARG(fd), VXA_ARG(f0), VXA_ARG(s), VXA_ARG(seed),
                     VXA_ARG(sample), VXA_ARG(op), VXA_ARG(a), VXA_ARG(inv));
    if (st != VXA_OK) return st;
    const size_t g[3] = { (size_t)coarse->dim[0], (size_t)coarse->dim[1], (size_t)coarse->dim[2] };
    const size_t gr[3] = { (size_t)coarse->dim[1], (size_t)coarse->dim[2], (size_t)coarse->channels };
    return vxa_cl_launch(ctx, k, name, 3, rows ? gr : g);
}


vxa_status vxa_cl_noise_upsample(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine, const double start[3],
                                 const double step[3])
{
    vxa_status st;
    cl_kernel k;
    if ((st = vxa_cl_kernel(ctx, "noise", "", "vxa_noise_upsample", &k)) != VXA_OK) return st;
    const cl_long4 cd = { { coarse->dim[0], coarse->dim[1], coarse->dim[2], coarse->channels } };
    const cl_long4 fd = { { fine->dim[0], fine->dim[1], fine->dim[2], fine->channels } };
    const cl_float4 s = { { (float)start[0], (float)start[1], (float)start[2], 0.0f } };
    const cl_float4 inv = { { (float)(1.0 / step[0]), (float)(1.0 / step[1]), (float)(1.0 / step[2]), 0.0f } };
    cl_mem cm = (cl_mem)coarse->mem, fm = (cl_mem)fine->mem;
    st = vxa_cl_args(ctx, k, "vxa_noise_upsample", VXA_ARG(cm), VXA_ARG(fm), VXA_ARG(cd), VXA_ARG(fd), VXA_ARG(s),
                     VXA_ARG(inv));
    if (st != VXA_OK) return st;
    const size_t g[3] = { (size_t)fine->dim[0], (size_t)fine->dim[1], (size_t)fine->dim[2] };
    return vxa_cl_launch(ctx, k, "vxa_noise_upsample", 3, g);
}

/* Runs one of the two known-answer kernels over n items, with up to three buffers. */
static vxa_status run_hook(vxa_context *ctx, const char *name, size_t n, const void *in, size_t in_bytes,
                           void *out0, size_t out0_bytes, void *out1, size_t out1_bytes)
{
    if (ctx->reference)
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "%s: a device hook, not available on the reference path", name);
    if (n == 0 || n > UINT32_MAX)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: %zu items, expected 1..2^32-1", name, n);
    cl_kernel k;
    cl_mem b[3] = { NULL, NULL, NULL };
    vxa_status st = vxa_cl_kernel(ctx, "noise", "", name, &k);
    if (st != VXA_OK) return st;
    if ((st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, in_bytes, (void *)in, &b[0], name)) ||
        (st = vxa_cl_buffer(ctx, CL_MEM_WRITE_ONLY, out0_bytes, NULL, &b[1], name)) ||
        (out1 && (st = vxa_cl_buffer(ctx, CL_MEM_WRITE_ONLY, out1_bytes, NULL, &b[2], name))))
        goto done;
    const cl_uint cn = (cl_uint)n;
    if (out1)
        st = vxa_cl_args(ctx, k, name, VXA_ARG(b[0]), VXA_ARG(b[1]), VXA_ARG(b[2]), VXA_ARG(cn));
    else
        st = vxa_cl_args(ctx, k, name, VXA_ARG(b[0]), VXA_ARG(b[1]), VXA_ARG(cn));
    const size_t g[3] = { n, 1, 1 };
    if (st == VXA_OK) st = vxa_cl_launch(ctx, k, name, 1, g);
    cl_int err = CL_SUCCESS;
    if (st == VXA_OK)
        err = clEnqueueReadBuffer(ctx->cl->queue, b[1], CL_TRUE, 0, out0_bytes, out0, 0, NULL, NULL);
    if (st == VXA_OK && err == CL_SUCCESS && out1)
        err = clEnqueueReadBuffer(ctx->cl->queue, b[2], CL_TRUE, 0, out1_bytes, out1, 0, NULL, NULL);
    if (err != CL_SUCCESS) st = vxa_cl_fail(ctx, err, "clEnqueueReadBuffer: %s results", name);
done:
    for (int i = 0; i < 3; i++)
        if (b[i]) clReleaseMemObject(b[i]);
    return st;
}

vxa_status vxa_philox_device_words(vxa_context *ctx, const uint32_t *ctr_key, size_t n, uint32_t *out)
{
    return run_hook(ctx, "vxa_philox_kat", n, ctr_key, 24 * n, out, 16 * n, NULL, 0);
}

vxa_status vxa_philox_device_uniform(vxa_context *ctx, const uint32_t *words, size_t n, float *u01, float *sym)
{
    return run_hook(ctx, "vxa_philox_uniform", n, words, 4 * n, u01, 4 * n, sym, 4 * n);
}
