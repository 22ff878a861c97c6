/* SPDX-License-Identifier: MIT */
/* vxa_floor: the device's own rates, measured, for the floor of a pipeline (bench/RESULTS.md, "The limit").
 *
 *   vxa_floor [--device D] [--dim NX,NY,NZ] [--repeat R]
 *
 * Prints one JSON object:
 *   fma_gflops     float multiply-adds: a kernel of independent float8 mad chains, no memory traffic
 *                  (2 flops per multiply-add), over enough work-items for every core;
 *   philox_gdraws  Philox4x32-10 words per second: the CPU noise kernel's generator (sixteen blocks as two
 *                  chains of eight lanes, kernels/philox_x4.h), its words folded into one per work-item,
 *                  nothing stored: the draws alone;
 *   copy_gbs       a float32 copy of a volume of dim through the context (vxa_copy_axes: one read + one
 *                  write), bytes moved per second: the bandwidth floor vxa_bench measures;
 *   noise_ms       vxa_noise_uniform of 3 channels on dim (the elastic field's draws as the pipeline makes them).
 * Each rate: the best of R timed runs after one warm-up. Exit 0, or 1 with {"status":"error",...}. */
#include "cl.h"
#include "elastic.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* FMA_ITERS iterations of 8 float8 chains: 8 · 8 · FMA_ITERS multiply-adds per work-item. */
#define FMA_ITERS 4096
static const char fma_src[] =
    "__kernel void vxa_floor_fma(__global float *out, float a, float b)\n"
    "{\n"
    "    const size_t g = get_global_id(0);\n"
    "    float8 x0 = (float8)(g) * 1e-9f, x1 = x0 + 1, x2 = x0 + 2, x3 = x0 + 3;\n"
    "    float8 x4 = x0 + 4, x5 = x0 + 5, x6 = x0 + 6, x7 = x0 + 7;\n"
    "    for (int i = 0; i < " "4096" "; i++) {\n"
    "        x0 = mad(x0, a, b); x1 = mad(x1, a, b); x2 = mad(x2, a, b); x3 = mad(x3, a, b);\n"
    "        x4 = mad(x4, a, b); x5 = mad(x5, a, b); x6 = mad(x6, a, b); x7 = mad(x7, a, b);\n"
    "    }\n"
    "    const float8 s = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));\n"
    "    out[g] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7;\n"
    "}\n";

static int fail(const char *what, cl_int err)
{
    printf("{\"status\":\"error\",\"error\":\"%s (%d)\"}\n", what, (int)err);
    return 1;
}

/* Builds `src` (with the library's kernel folder on the include path for Philox) and times kernel `name` over
 * `global` work-items, best of repeat: ms. */
static double time_kernel(vxa_context *ctx, const char *src, const char *name, size_t global, int repeat,
                          cl_mem out, int nscalar, const float *scalars, cl_int *err)
{
    vxa_cl *cl = ctx->cl;
    const char *srcs[1] = { src };
    cl_program prog = clCreateProgramWithSource(cl->context, 1, srcs, NULL, err);
    if (*err != CL_SUCCESS) return NAN;
    char opts[1024];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 %s", VXA_FLOOR_INCLUDES);
    if ((*err = clBuildProgram(prog, 1, &cl->device, opts, NULL, NULL)) != CL_SUCCESS) {
        char log[4096] = "";
        clGetProgramBuildInfo(prog, cl->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        fprintf(stderr, "%s\n", log);
        clReleaseProgram(prog);
        return NAN;
    }
    cl_kernel k = clCreateKernel(prog, name, err);
    double best = INFINITY;
    if (*err == CL_SUCCESS) *err = clSetKernelArg(k, 0, sizeof out, &out);
    for (int i = 0; i < nscalar && *err == CL_SUCCESS; i++)
        *err = clSetKernelArg(k, (cl_uint)(1 + i), sizeof(float), &scalars[i]);
    for (int r = 0; r <= repeat && *err == CL_SUCCESS; r++) {
        const double t0 = now_ms();
        *err = clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &global, NULL, 0, NULL, NULL);
        if (*err == CL_SUCCESS) *err = clFinish(cl->queue);
        const double t = now_ms() - t0;
        if (r > 0 && t < best) best = t;   /* run 0 warms up */
    }
    if (k) clReleaseKernel(k);
    clReleaseProgram(prog);
    return best;
}

/* PHILOX_GROUPS groups of sixteen blocks per work-item, folded by xor into one word. */
#define PHILOX_GROUPS 64
static const char philox_src[] =
    "#include \"common.h\"\n"
    "#include \"philox.h\"\n"
    "#include \"philox_x4.h\"\n"
    "__kernel void vxa_floor_philox(__global uint *out)\n"
    "{\n"
    "    const uint g = get_global_id(0);\n"
    "    uint8 acc = (uint8)(0);\n"
    "    for (uint q = 0; q < 64; q++) {\n"
    "        uint8 a[4], c[4];\n"
    "        vxa_philox_x8x2(1234, 5678, 3 << 8, (g * 64 + q) * 16, a, c);\n"
    "        acc ^= a[0] ^ a[1] ^ a[2] ^ a[3] ^ c[0] ^ c[1] ^ c[2] ^ c[3];\n"
    "    }\n"
    "    out[g] = acc.s0 ^ acc.s1 ^ acc.s2 ^ acc.s3 ^ acc.s4 ^ acc.s5 ^ acc.s6 ^ acc.s7;\n"
    "}\n";

int main(int argc, char **argv)
{
    const char *device = NULL;
    int64_t dim[3] = { 181, 217, 181 };
    int repeat = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--device") == 0) device = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dim") == 0) {
            long long x, y, z;
            if (sscanf(argv[i + 1], "%lld,%lld,%lld", &x, &y, &z) != 3) return fail("--dim NX,NY,NZ", 0);
            dim[0] = x, dim[1] = y, dim[2] = z;
        } else {
            fprintf(stderr, "usage: vxa_floor [--device D] [--dim NX,NY,NZ] [--repeat R]\n");
            return 2;
        }
    }
    if (repeat < 1) repeat = 1;
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = device;
    vxa_context *ctx = NULL;
    if (vxa_context_create(&opt, &ctx) != VXA_OK || vxa_context_is_reference(ctx)) {
        printf("{\"status\":\"error\",\"error\":\"no OpenCL device: %s\"}\n", ctx ? vxa_last_error(ctx) : "");
        vxa_context_destroy(ctx);
        return 1;
    }
    vxa_cl *cl = ctx->cl;
    const size_t global = 64 * (size_t)cl->compute_units;
    cl_int err;
    cl_mem out = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, global * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) return fail("clCreateBuffer", err);
    const float ab[2] = { 0.999f, 1e-3f };
    const double fma_ms = time_kernel(ctx, fma_src, "vxa_floor_fma", global, repeat, out, 2, ab, &err);
    if (err != CL_SUCCESS) return fail("fma kernel", err);
    const double flops = (double)global * 64.0 * FMA_ITERS * 2.0;
    const double philox_ms = time_kernel(ctx, philox_src, "vxa_floor_philox", global, repeat, out, 0, NULL, &err);
    if (err != CL_SUCCESS) return fail("philox kernel", err);
    const double words = (double)global * PHILOX_GROUPS * 16.0 * 4.0;
    clReleaseMemObject(out);

    /* the copy and the field's noise through the library */
    vxa_dvol a = { 0 }, b = { 0 }, n3 = { 0 };
    const int sign[3] = { 1, 1, 1 };
    const int64_t zero[3] = { 0, 0, 0 };
    double copy_ms = INFINITY, noise_ms = INFINITY;
    const vxa_noise_key key = { 1, 2, 3 };
    const float amp[3] = { 1, 1, 1 };
    if (vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &a) != VXA_OK || vxa_dvol_alloc(ctx, dim, 1, VXA_FLOAT32, &b) != VXA_OK ||
        vxa_dvol_alloc(ctx, dim, 3, VXA_FLOAT32, &n3) != VXA_OK)
        return fail("allocation", 0);
    for (int r = 0; r <= repeat; r++) {
        double t0 = now_ms();
        if (vxa_copy_axes(ctx, r % 2 ? &a : &b, r % 2 ? &b : &a, sign, zero, VXA_MODE_CONSTANT, 0.0) != VXA_OK ||
            vxa_context_finish(ctx) != VXA_OK)
            return fail("copy", 0);
        double t = now_ms() - t0;
        if (r > 0) copy_ms = fmin(copy_ms, t);
        t0 = now_ms();
        if (vxa_noise_uniform(ctx, &n3, &key, amp) != VXA_OK || vxa_context_finish(ctx) != VXA_OK)
            return fail("noise", 0);
        t = now_ms() - t0;
        if (r > 0) noise_ms = fmin(noise_ms, t);
    }
    const double vox = (double)dim[0] * (double)dim[1] * (double)dim[2];
    printf("{\"status\":\"ok\",\"device\":\"%s\",\"compute_units\":%u,\"dim\":[%lld,%lld,%lld],"
           "\"fma_gflops\":%.4g,\"philox_gdraws\":%.4g,\"copy_gbs\":%.4g,\"copy_ms\":%.4g,\"noise_ms\":%.4g,"
           "\"noise_gdraws\":%.4g}\n",
           vxa_context_device_name(ctx), (unsigned)cl->compute_units, (long long)dim[0], (long long)dim[1],
           (long long)dim[2], flops / (fma_ms * 1e6), words / (philox_ms * 1e6), 8.0 * vox / (copy_ms * 1e6),
           copy_ms, noise_ms, 3.0 * vox / (noise_ms * 1e6));
    vxa_dvol_release(ctx, &a);
    vxa_dvol_release(ctx, &b);
    vxa_dvol_release(ctx, &n3);
    vxa_context_destroy(ctx);
    return 0;
}
