/* SPDX-License-Identifier: MIT */
/* A draw's spatial passes as one map, both ways (SPEC.md "Geometry": inverse, displacement fields); the public
 * entry points are vxa_pipeline_invert and vxa_pipeline_displacement_field (src/invert.c).
 *
 * The plan of (seed, sample) on the run's input grid has RESAMPLE passes k = 1..N, each pulling from its input
 * grid at F_k(q) = A_k·(q + d_k(q)) + b_k for a position q of its output grid (d_k: its elastic field on that
 * grid, or 0). Output voxel o of the whole draw reads the input at G(o) = F_1(F_2(…F_N(o))):
 *   forward   G(o): d_k exact at the voxels a pass samples, trilinear between them (positions that later passes
 *             reach between the voxels of an earlier pass's grid), clamped at the grid's edges;
 *   inverse   G⁻¹(p) = F_N⁻¹(…F_1⁻¹(p)), F_k⁻¹(y) = the o with o + d_k(o) = A_k⁻¹·(y − b_k): the affine part
 *             exactly, the elastic part by the fixed-point iteration o ← z − d_k(o) from o = z, which converges
 *             where d_k is a contraction (|∇d| < 1: a field that does not fold).
 * Intensity passes change values, not positions: they are not inverted. */
#ifndef VXA_INVERT_H
#define VXA_INVERT_H

#include "plan.h"

#define VXA_INVERT_MAX_ITER 50       /* fixed-point iterations per elastic pass and voxel, at most */
#define VXA_INVERT_TOL 1e-6          /* ... stopping where an update moves the point less than this (voxels) */

typedef struct vxa_passmap {
    const vxa_pass *pass;
    double Ai[3][3];                 /* A⁻¹ */
    float *d;                        /* the elastic field on pass->out (3 channels, NIfTI order), or NULL */
    double dmax[3];                  /* max |d| per component */
} vxa_passmap;

typedef struct vxa_drawmap {
    vxa_plan plan;
    vxa_grid in;                     /* the run's input grid */
    vxa_passmap *maps;               /* the RESAMPLE passes that move something, in the pipeline's order */
    int nmaps;
    bool has_field;                  /* some pass has an elastic field */
    double A[3][3], b[3];            /* without a field: G(o) = A·o + b */
} vxa_drawmap;

/* The map of sample o->seed/o->sample of p on an input of grid `in`: the plan, and each pass's field built on
 * ctx and read back to host memory. Release with vxa_drawmap_free (also after a failure). */
vxa_status vxa_drawmap_make(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o, const vxa_grid *in,
                            vxa_drawmap *m);
void vxa_drawmap_free(vxa_drawmap *m);

/* G(o) for a position o of the output grid (continuous), into pos (input voxels). */
void vxa_drawmap_forward(const vxa_drawmap *m, const double o[3], double pos[3]);

/* G⁻¹(p) for a position p of the input grid, into o (output voxels). Returns false where the point leaves a
 * grid on the way (the nearest voxel of an intermediate or the output grid is outside it: nothing of p reached
 * the output). stats (may be NULL) gathers the iterations and residuals of the elastic passes. */
typedef struct {
    int iterations;                  /* most iterations one inversion took */
    double residual_max, residual_sum;   /* |o + d(o) − z|∞ at the last iterate, voxels */
    uint64_t residual_n, unconverged;
} vxa_invert_stats;
bool vxa_drawmap_inverse(const vxa_drawmap *m, const double p[3], double o[3], vxa_invert_stats *stats);

/* The input voxel that a nearest-neighbour pass chain (label maps) reads for output voxel o (integer), as the
 * resampling passes compute it (float32 positions, kernels/resample_coord.h): idx; false where a pass reads
 * outside its input (the mode's fill). dist2 (may be NULL): the squared distance from idx of the last pass's
 * unrounded position. */
bool vxa_drawmap_forward_nearest(const vxa_drawmap *m, const int64_t o[3], int64_t idx[3], double *dist2);

#endif
