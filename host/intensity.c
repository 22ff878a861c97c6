/* SPDX-License-Identifier: MIT */
/* Intensity ops on the device: consecutive elementwise ops become one program (kernels/intensity_ops.h) run by
 * one kernel pass (kernels/intensity.cl); each op's instructions come from its descriptor (vxa_iop_impl.lower,
 * src/ops_intensity.c). Ops that need statistics first flush the pending program, reduce on the device
 * (host/reduce.c), then join the next program with per-channel parameters. Ops that are not elementwise (blur,
 * lowres) flush and run their own passes. */
#include "cl_backend.h"
#include "intensity.h"
#include "intensity_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct iprog {
    int n, npar;                 /* instructions, parameters used per channel */
    cl_int4 ins[VXA_IPROG_MAX];
    float *par;                  /* channels x VXA_IPROG_MAXPAR */
    uint64_t seed, sample;       /* of the noise ops in the program (one pipeline sample: all the same) */
    bool has_noise;              /* seed and sample are set */
    bool clears_scale;           /* the program bakes the volume's scl_slope in */
    const vxa_dvol *src;         /* where the values still are until the first pass writes the volume, or NULL */
    const int64_t *part_grid;    /* NULL, or the volume is the part at part_off of a grid of these dims */
    const int64_t *part_off;
} iprog;

/* The volume as the next reduction must read it: the source while no pass has written the volume yet. */
static const vxa_dvol *prog_view(const iprog *p, const vxa_dvol *vol)
{
    return p->src ? p->src : vol;
}

/* Kernel `name` of the intensity program built for the type of the values the pass reads, and the program's
 * instructions and per-channel parameters as device buffers (*insm and *parm NULL until made). */
static vxa_status prog_prepare(vxa_context *ctx, const iprog *p, const vxa_dvol *vol, const char *name, cl_kernel *k,
                               cl_mem *insm, cl_mem *parm)
{
    char opts[64];
    snprintf(opts, sizeof opts, "-DIN_T=%s", vxa_dtype_cl_name(prog_view(p, vol)->dtype));
    vxa_status st = vxa_cl_kernel(ctx, "intensity", opts, name, k);
    if (st != VXA_OK) return st;
    const cl_int4 nop = { { 0, 0, 0, 0 } };   /* no instruction (a buffer cannot be empty) */
    st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, (size_t)(p->n ? p->n : 1) * sizeof(cl_int4),
                       p->n ? (void *)p->ins : (void *)&nop, insm, "intensity program");
    if (st == VXA_OK)
        st = vxa_cl_buffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                           (size_t)vol->channels * VXA_IPROG_MAXPAR * sizeof(float), p->par, parm,
                           "intensity parameters");
    return st;
}

/* After a pass has run the program: nothing pending, the source (if any) read. */
static void prog_ran(iprog *p)
{
    p->src = NULL;
    p->clears_scale = p->has_noise = false;
    p->n = p->npar = 0;
}

/* Runs the pending program over the volume, one launch; with a pending source, the launch also converts it
 * (even an empty program then runs, when `materialize` asks for the volume itself). */
static vxa_status prog_run_window(vxa_context *ctx, iprog *p, vxa_dvol *vol, const int64_t off[3], vxa_dvol *win);

static vxa_status prog_run(vxa_context *ctx, iprog *p, vxa_dvol *vol, bool materialize)
{
    if (p->n == 0 && !(p->src && materialize)) return VXA_OK;
    if (p->part_grid) return prog_run_window(ctx, p, vol, p->part_off, vol);   /* in place, the grid's indices */
    const size_t nc = (size_t)vol->channels;
    cl_mem insm = NULL, parm = NULL;
    cl_kernel k;
    const bool chunked = ctx->cl->chunked;  /* the CPU form on CPU devices (host/cl.h) */
    const char *name = chunked ? "vxa_intensity_chunk" : "vxa_intensity_apply";
    const vxa_dvol *src = prog_view(p, vol);
    vxa_status st = prog_prepare(ctx, p, vol, name, &k, &insm, &parm);
    if (st != VXA_OK) goto done;
    cl_mem xm = (cl_mem)vol->mem, sm = (cl_mem)src->mem;
    cl_long4 dim = { { vol->dim[0], vol->dim[1], vol->dim[2], vol->channels } };
    cl_int nprog = p->n, pstride = VXA_IPROG_MAXPAR, from_src = p->src != NULL;
    cl_ulong seed = p->seed, sample = p->sample;
    cl_float slope = src->slope, inter = src->inter;
    const size_t nvox = (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    /* The CPU form takes contiguous chunks of a multiple of 4 voxels (~64 KiB, at least 8 per core) and the
     * chunk length as a last argument; the GPU form takes 4 voxels per work-item. */
    size_t chunk = nvox / (8 * (size_t)(ctx->cl->compute_units ? ctx->cl->compute_units : 1));
    chunk = chunked ? ((chunk > 16384 ? 16384 : chunk < 256 ? 256 : chunk) + 3) / 4 * 4 : 4;
    const cl_long ch = (cl_long)chunk;
    const vxa_cl_arg args[] = { VXA_ARG(sm), VXA_ARG(xm), VXA_ARG(dim), VXA_ARG(insm), VXA_ARG(nprog),
                                VXA_ARG(parm), VXA_ARG(pstride), VXA_ARG(seed), VXA_ARG(sample), VXA_ARG(slope),
                                VXA_ARG(inter), VXA_ARG(from_src), VXA_ARG(ch) };   /* ch: the CPU form's only */
    const size_t nargs = sizeof args / sizeof args[0] - (chunked ? 0 : 1);
    if ((st = vxa_cl_set_args(ctx, k, name, args, nargs)) != VXA_OK)
        goto done;
    const size_t g[3] = { (nvox + chunk - 1) / chunk, nc, 1 };
    if ((st = vxa_cl_launch(ctx, k, name, 2, g)) != VXA_OK) goto done;
    if (p->clears_scale) vol->slope = vol->inter = 0.0f;
    prog_ran(p);
done:   /* released after the enqueue: OpenCL keeps them alive until the kernel has run */
    if (insm) clReleaseMemObject(insm);
    if (parm) clReleaseMemObject(parm);
    return st;
}

/* The last pass written straight into a window of the volume (CPU devices, vxa_intensity_window): the program
 * (possibly empty) runs on the window's voxels only, read from the pending source or the volume, and the
 * window's float32 volume `win` (vol's channels) receives them; vol itself is left as the earlier passes
 * wrote it. With win == vol (a part, p->part_grid): the program runs in place on vol, the part at off of the
 * grid, with the grid's voxel indices. */
static vxa_status prog_run_window(vxa_context *ctx, iprog *p, vxa_dvol *vol, const int64_t off[3], vxa_dvol *win)
{
    const size_t nc = (size_t)vol->channels;
    cl_mem insm = NULL, parm = NULL;
    cl_kernel k;
    const char *name = "vxa_intensity_window";
    const vxa_dvol *src = prog_view(p, vol);
    vxa_status st = prog_prepare(ctx, p, vol, name, &k, &insm, &parm);
    if (st != VXA_OK) goto done;
    cl_mem sm = (cl_mem)src->mem, xm = (cl_mem)vol->mem, wm = (cl_mem)win->mem;
    const cl_int in_place = win == vol;
    const int64_t *gd = in_place ? p->part_grid : vol->dim;
    cl_long4 dim = { { gd[0], gd[1], gd[2], vol->channels } };
    cl_long4 o = { { off[0], off[1], off[2], 0 } };
    cl_long4 wdim = { { win->dim[0], win->dim[1], win->dim[2], win->channels } };
    cl_int nprog = p->n, pstride = VXA_IPROG_MAXPAR, from_src = p->src != NULL;
    cl_ulong seed = p->seed, sample = p->sample;
    cl_float slope = src->slope, inter = src->inter;
    if ((st = vxa_cl_args(ctx, k, name, VXA_ARG(sm), VXA_ARG(xm), VXA_ARG(wm), VXA_ARG(dim), VXA_ARG(o),
                          VXA_ARG(wdim), VXA_ARG(insm), VXA_ARG(nprog), VXA_ARG(parm), VXA_ARG(pstride),
                          VXA_ARG(seed), VXA_ARG(sample), VXA_ARG(slope), VXA_ARG(inter), VXA_ARG(from_src),
                          VXA_ARG(in_place))) != VXA_OK)
        goto done;
    const size_t g[3] = { (size_t)(win->dim[1] * win->dim[2]), nc, 1 };
    if ((st = vxa_cl_launch(ctx, k, name, 2, g)) != VXA_OK) goto done;
    win->slope = win->inter = 0.0f;
    prog_ran(p);
done:
    if (insm) clReleaseMemObject(insm);
    if (parm) clReleaseMemObject(parm);
    return st;
}

/* Runs the pending program; a pending source stays pending while there is nothing to run (the reductions that
 * follow read it directly). */
static vxa_status prog_flush(vxa_context *ctx, iprog *p, vxa_dvol *vol)
{
    return prog_run(ctx, p, vol, false);
}

/* Appends an instruction with npar parameters per channel (flushing first if the program is full) and returns
 * the index of its first parameter in *off. */
static vxa_status prog_add(vxa_context *ctx, iprog *p, vxa_dvol *vol, int opcode, int op_index, int npar,
                           int extra, int *off)
{
    if (p->n == VXA_IPROG_MAX || p->npar + npar > VXA_IPROG_MAXPAR) {
        vxa_status st = prog_flush(ctx, p, vol);
        if (st != VXA_OK) return st;
    }
    p->ins[p->n] = (cl_int4){ { opcode, op_index, p->npar, extra } };
    p->n++;
    *off = p->npar;
    p->npar += npar;
    return VXA_OK;
}

/* An instruction with the same three parameters on every channel. */
static vxa_status prog_add3(vxa_context *ctx, iprog *p, vxa_dvol *vol, int opcode, double a, double b, double c)
{
    int off;
    vxa_status st = prog_add(ctx, p, vol, opcode, 0, 3, 0, &off);
    if (st != VXA_OK) return st;
    for (int64_t ch = 0; ch < vol->channels; ch++) {
        float *q = p->par + ch * VXA_IPROG_MAXPAR + off;
        q[0] = (float)a;
        q[1] = (float)b;
        q[2] = (float)c;
    }
    return VXA_OK;
}

/* Scratch for the statistics of one op, one entry per channel. */
typedef struct op_scratch {
    vxa_moments *m;
    double *pct;
    vxa_istats *s;
} op_scratch;

static vxa_status add_op(vxa_context *ctx, iprog *p, const vxa_iop *op, vxa_dvol *vol, const vxa_dvol *fmask,
                         op_scratch *w);

/* nnU-Net's augment_gamma with invert_image and retain_stats: [negate] gamma [(y - mean_y) * std_x / (std_y +
 * 1e-8) + mean_x] [negate], the statistics from the device after a flush. m: scratch for one per channel. */
static vxa_status add_gamma_nnunet(vxa_context *ctx, iprog *p, const vxa_iop *op, vxa_dvol *vol, op_scratch *w)
{
    vxa_moments *m = w->m;
    const int64_t nc = vol->channels;
    vxa_iop g = *op;
    g.invert = g.retain = 0;
    vxa_moments *before = NULL;
    vxa_status st = VXA_OK;
    if (op->invert && (st = prog_add3(ctx, p, vol, VXA_IOP_LINEAR, 0, -1, 0)) != VXA_OK) return st;
    if (op->retain) {
        if (!(before = malloc((size_t)nc * sizeof *before)))
            return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "gamma(retain=1): %lld channels", (long long)nc);
        if ((st = prog_flush(ctx, p, vol)) != VXA_OK ||
            (st = vxa_reduce_moments(ctx, prog_view(p, vol), 0, NULL, 1, before)) != VXA_OK)
            goto done;
    }
    if ((st = add_op(ctx, p, &g, vol, NULL, w)) != VXA_OK) goto done;
    if (op->retain) {
        int off;
        if ((st = prog_flush(ctx, p, vol)) != VXA_OK ||
            (st = vxa_reduce_moments(ctx, prog_view(p, vol), 0, NULL, 1, m)) != VXA_OK ||
            (st = prog_add(ctx, p, vol, VXA_IOP_LINEAR, 0, 3, 0, &off)) != VXA_OK)
            goto done;
        for (int64_t c = 0; c < nc; c++) {
            float *q = p->par + c * VXA_IPROG_MAXPAR + off;
            const bool some = before[c].count > 0 && m[c].count > 0;
            q[0] = some ? (float)m[c].mean : 0.0f;
            q[1] = some ? (float)(before[c].std / (m[c].std + 1e-8)) : 1.0f;
            q[2] = some ? (float)before[c].mean : 0.0f;
        }
    }
    if (op->invert) st = prog_add3(ctx, p, vol, VXA_IOP_LINEAR, 0, -1, 0);
done:
    free(before);
    return st;
}

/* Appends the instructions of one op (its descriptor's program, src/ops_intensity.c); statistics come from the
 * device after a flush. fmask: the mask as float32 on the device, or NULL; used by ops with `masked`. */
static vxa_status add_op(vxa_context *ctx, iprog *p, const vxa_iop *op, vxa_dvol *vol, const vxa_dvol *fmask,
                         op_scratch *w)
{
    const vxa_iop_impl *im = vxa_iop_impl_of(op->id);
    if (!im) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity op %d: no such op", op->id);
    if (op->id == VXA_INT_GAMMA && (op->invert || op->retain)) return add_gamma_nnunet(ctx, p, op, vol, w);
    vxa_status st = VXA_OK;
    if (im->apply) {   /* not elementwise: the pending program (and conversion) runs first */
        if ((st = prog_run(ctx, p, vol, true)) != VXA_OK) return st;
        return im->apply(ctx, op, vol);
    }
    const int64_t nc = vol->channels;
    if (im->stats != VXA_ISTATS_NONE) {
        /* Statistics of the volume as it is now. The three radix passes of percentiles have a typed source
         * converted first (each would convert it again), unless one pass over the stored values finds them; a
         * float32 source (scaled or not: the passes scale as they read) is read as it is, and the program's
         * pass reads it once more. */
        const vxa_dvol *mask = op->masked ? fmask : NULL;
        const vxa_dvol *view = prog_view(p, vol);
        const bool pct = im->stats == VXA_ISTATS_PERCENTILES || im->stats == VXA_ISTATS_QUANTILES;
        const bool converts = pct && view->dtype != VXA_FLOAT32 && !vxa_reduce_percentiles_read_stored(view);
        if ((st = prog_run(ctx, p, vol, converts)) != VXA_OK) return st;
        if (im->stats == VXA_ISTATS_QUANTILES) {
            if ((st = vxa_istats_quantiles(ctx, op, prog_view(p, vol), mask, w->s)) != VXA_OK) return st;
        } else if (pct) {
            const double q[2] = { op->lo, op->hi };
            if ((st = vxa_reduce_percentiles(ctx, prog_view(p, vol), op->nonzero, mask, q, w->pct)) != VXA_OK)
                return st;
        } else {
            /* the range alone, with the mean, or with the std too */
            const int want = im->stats == VXA_ISTATS_STD ? 1 : im->stats == VXA_ISTATS_MEAN ? 0 : -1;
            if ((st = vxa_reduce_moments(ctx, prog_view(p, vol), op->nonzero, mask, want, w->m)) != VXA_OK)
                return st;
        }
        for (int64_t c = 0; c < nc && im->stats != VXA_ISTATS_QUANTILES; c++)
            w->s[c] = pct ? (vxa_istats){ .plo = w->pct[2 * c], .phi = w->pct[2 * c + 1] }
                          : (vxa_istats){ .m = w->m[c] };
    }
    const bool stats = im->stats != VXA_ISTATS_NONE;
    vxa_iins ins[VXA_ILOWER_MAX], insc[VXA_ILOWER_MAX];
    const int n = im->lower(op, stats ? &w->s[0] : NULL, ins);
    for (int t = 0; t < n; t++) {
        if (ins[t].opcode == VXA_IOP_NOISE) {   /* one program draws for one pipeline sample */
            if (p->has_noise && (p->seed != op->seed || p->sample != op->sample))
                if ((st = prog_flush(ctx, p, vol)) != VXA_OK) return st;
            p->seed = op->seed;
            p->sample = op->sample;
            p->has_noise = true;
        }
        int off;
        if ((st = prog_add(ctx, p, vol, ins[t].opcode, ins[t].index, ins[t].npar, ins[t].extra, &off)) != VXA_OK)
            return st;
        for (int64_t c = 0; c < nc; c++) {
            const vxa_iins *in = &ins[t];
            if (stats && c > 0) {   /* the same opcodes, this channel's parameters */
                im->lower(op, &w->s[c], insc);
                in = &insc[t];
            }
            float *q = p->par + c * VXA_IPROG_MAXPAR + off;
            for (int k = 0; k < in->npar; k++) q[k] = (float)in->p[k];
        }
    }
    return VXA_OK;
}


/* vxa_intensity_apply, and with win set the window at off of the result into win: on CPU devices the last
 * pass computes the window only (vxa_intensity_window), elsewhere the whole volume is computed and the window
 * copied. The arguments passed src/backend.c's checks. */
vxa_status vxa_cl_intensity(vxa_context *ctx, const vxa_iop *ops, int n, const vxa_dvol *src, vxa_dvol *vol,
                            const vxa_dvol *mask, const int64_t off[3], vxa_dvol *win)
{
    bool masked = false;
    for (int i = 0; i < n; i++) masked = masked || ops[i].masked;
    if (src && src->dtype == VXA_FLOAT64) {   /* convert first, then as below */
        vxa_status st0 = vxa_cast_float(ctx, src, vol);
        if (st0 != VXA_OK) return st0;
        src = NULL;
    }
    if (win && !ctx->cl->chunked) {   /* the whole volume, then the window */
        const int sign[3] = { 1, 1, 1 };
        vxa_status st = vxa_cl_intensity(ctx, ops, n, src, vol, mask, NULL, NULL);
        return st != VXA_OK ? st : vxa_copy_axes(ctx, vol, win, sign, off, VXA_MODE_CONSTANT, 0.0);
    }
    if (vol->dtype != VXA_FLOAT32)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "intensity ops: expect a float32 volume, got %s",
                        vxa_dtype_name(vol->dtype));
    if (n == 0 && !src && !win) return VXA_OK;
    const size_t nc = (size_t)vol->channels;
    iprog p = { .src = src };
    vxa_dvol fmask = { 0 };      /* the mask as float32, for the reduction kernels */
    op_scratch w = { .m = malloc(nc * sizeof *w.m), .pct = malloc(nc * 2 * sizeof *w.pct),
                     .s = malloc(nc * sizeof *w.s) };
    p.par = calloc(nc * VXA_IPROG_MAXPAR, sizeof *p.par);
    vxa_status st = VXA_OK;
    if (!w.m || !w.pct || !w.s || !p.par) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "intensity program for %zu channels", nc);
        goto done;
    }
    if (masked && (st = vxa_dvol_alloc(ctx, mask->dim, 1, VXA_FLOAT32, &fmask)) == VXA_OK)
        st = vxa_cast_float(ctx, mask, &fmask);
    if (st != VXA_OK) goto done;
    if (!src && vol->slope != 0.0f) {   /* bake the NIfTI scaling in first: x * slope + inter (a source's
                                         * scaling is applied as it is read) */
        if ((st = prog_add3(ctx, &p, vol, VXA_IOP_LINEAR, 0, vol->slope, vol->inter)) != VXA_OK) goto done;
        p.clears_scale = true;
    }
    for (int i = 0; i < n; i++)
        if ((st = add_op(ctx, &p, &ops[i], vol, masked ? &fmask : NULL, &w)) != VXA_OK) goto done;
    st = win ? prog_run_window(ctx, &p, vol, off, win) : prog_run(ctx, &p, vol, true);
done:
    vxa_dvol_release(ctx, &fmask);
    free(w.m);
    free(w.pct);
    free(w.s);
    free(p.par);
    return st;
}

vxa_status vxa_cl_intensity_part(vxa_context *ctx, const vxa_iop *ops, int n, vxa_dvol *vol, const int64_t grid[3],
                                 const int64_t off[3])
{
    iprog p = { .part_grid = grid, .part_off = off };
    op_scratch w = { 0 };   /* the ops take no statistics */
    p.par = calloc((size_t)vol->channels * VXA_IPROG_MAXPAR, sizeof *p.par);
    if (!p.par) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "intensity program for %lld channels",
                                (long long)vol->channels);
    vxa_status st = VXA_OK;
    for (int i = 0; i < n && st == VXA_OK; i++) st = add_op(ctx, &p, &ops[i], vol, NULL, &w);
    if (st == VXA_OK) st = prog_run(ctx, &p, vol, true);
    free(p.par);
    return st;
}
