/* SPDX-License-Identifier: MIT */
/* The planner: a pipeline, a (seed, sample) and the input's grid become a plan, the list of passes one sample
 * runs, with every random value already drawn. Pure C: no context, no device. The executor (src/pipeline.c)
 * runs the passes; vxa_pipeline_output_shape, slabs and the draw record read the same plan.
 *
 * Passes, in the pipeline's order:
 *   RESAMPLE   a maximal run of spatial ops (and sampling settings, at most one applied elastic op) composed
 *              into one pull map p = A·(o + d(o + field_off)) + b from its output grid to its input grid: one
 *              resampling pass of the image (order and mode of the sampling in force) and of the label map
 *              (order 0); d is defined on field_grid, of which a crop after the elastic op keeps a window;
 *   INTENSITY  a run of intensity ops (the applied ones), one program of elementwise passes on the image
 *              (src/ops_intensity.c lowers each op; label maps never see them);
 *   LABEL      one op on the label map alone (remap), applied or not: `label` set when it runs.
 * Rewrites after the list is made (fusion):
 *   an INTENSITY pass followed by a RESAMPLE pass that only crops inside the image takes the crop into its
 *   last pass (`window`; the crop pass is marked `fused` and the executor skips it);
 *   where that INTENSITY pass's ops are all elementwise without statistics (noise, clip, ...) and a resampling
 *   pass comes before it, the crop moves into that pass (`win`): it resamples the window alone, its field only
 *   there, and the intensity ops run on the window (`part`), each voxel keeping its index in the whole grid, so
 *   the values are those of the whole pass, bit for bit. Ops with statistics of the whole image (zscore, pclip,
 *   gamma, minmax, masks) keep the crop after them. */
#ifndef VXA_PLAN_H
#define VXA_PLAN_H

#include "pipeline.h"

#define VXA_PLAN_MAX_IOPS 64     /* intensity ops per INTENSITY pass (a longer run becomes several passes) */

typedef enum { VXA_PASS_RESAMPLE, VXA_PASS_INTENSITY, VXA_PASS_LABEL } vxa_pass_kind;

typedef struct vxa_pass {
    vxa_pass_kind kind;
    int first, end;                  /* the pipeline's ops first .. end - 1 */
    vxa_grid in, out;                /* the image's grid before and after the pass */
    /* RESAMPLE */
    double A[3][3], b[3];
    const vxa_op_inst *elastic;      /* NULL, or the applied elastic op whose field the pass reads */
    vxa_op_values elastic_val;
    /* The grid the field is defined on, and where the output lies in it: output voxel o reads the field at
     * o + field_off. It is the pass's grid at the elastic op or after the last op following it that is not a
     * window (an op that only cuts out a part of its input: p = o + q, q whole, inside); windows after it (a
     * crop) keep the field of the grid they cut from, so only the part under the output is computed. */
    vxa_grid field_grid;
    int64_t field_off[3];
    int order, mode, label_mode;     /* the sampling in force: the image's order and mode, the label map's mode */
    int label_rule;                  /* 0: labels order 0; VXA_LABEL_THRESHOLD or _ARGMAX: per-label order 1 */
    double cval;
    bool identity;                   /* no field and the identity on the same grid: nothing to resample */
    bool crop;                       /* no field, p = o + crop_off inside the input (an exact copy) */
    int64_t crop_off[3];
    bool fused;                      /* done by the INTENSITY pass before it (its `window`), or moved into the
                                      * RESAMPLE pass before that (its `win`) */
    bool win;                        /* the crop after the INTENSITY pass that follows was moved here: the pass
                                      * computes the window of win_dim voxels from win_off of its output
                                      * (positions and field those of the whole output); `out` is the window */
    int64_t win_off[3];
    /* INTENSITY */
    int nops;
    const vxa_op_desc *descs[VXA_PLAN_MAX_IOPS];
    vxa_op_values vals[VXA_PLAN_MAX_IOPS];
    bool uses_mask;                  /* an op takes its statistics over the label map */
    bool window;                     /* the next pass (a crop) is computed by this pass's last program */
    bool part;                       /* the image is the window at part_off of a grid of part_grid voxels (a
                                      * crop moved before these ops): each voxel keeps that grid's index */
    int64_t part_grid[3], part_off[3];
    /* LABEL */
    const vxa_op_desc *label;        /* the op, NULL when it does not apply; its values in vals[0] */
} vxa_pass;

/* What one op drew, for the draw record: ops of every kind but sampling are drawn, in order. */
typedef struct vxa_plan_op {
    bool drawn, applied;
    vxa_op_values val;
    char note[512];                  /* further draws as JSON members (vxa_op_desc.spatial) */
} vxa_plan_op;

typedef struct vxa_plan {
    uint64_t seed, sample;
    vxa_pass *passes;
    int npasses;
    vxa_plan_op *ops;                /* one per pipeline op */
    vxa_grid out;                    /* the output's grid */
} vxa_plan;

enum { VXA_PLAN_ALL_APPLIED = 1 };  /* flags: every op applies whatever its probability (shape queries) */

/* Plans sample `sample` of `seed` on an input of grid `in`. A spatial op that cannot run on its input (crop
 * larger than it) fails here, with the detail in err. Release with vxa_plan_free (also after a failure). */
vxa_status vxa_plan_make(const vxa_pipeline *p, uint64_t seed, uint64_t sample, const vxa_grid *in, int flags,
                         vxa_plan *plan, char *err, size_t errlen);
/* The same, with the input's data for the data-dependent grid ops (fg_crop, crop_foreground, ...: src/ops.h);
 * vxa_plan_make passes NULL (then those ops fail, needing a label map, or see shape-only data). */
vxa_status vxa_plan_make_data(const vxa_pipeline *p, uint64_t seed, uint64_t sample, const vxa_grid *in, int flags,
                              const vxa_op_data *data, vxa_plan *plan, char *err, size_t errlen);
void vxa_plan_free(vxa_plan *plan);

/* The draw record of a plan (vxa_draw_json): {"seed":..,"sample":..,"spec":..,["slabs":true,]"ops":[..]}. NULL
 * when out of memory. */
vxa_draw *vxa_plan_draw(const vxa_pipeline *p, const vxa_plan *plan, bool slabs);

#endif
