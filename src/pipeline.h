/* SPDX-License-Identifier: MIT */
/* Pipelines: the parsed spec (src/spec.c) and its execution (src/pipeline.c). */
#ifndef VXA_PIPELINE_H
#define VXA_PIPELINE_H

#include "ops.h"

/* One op as written: each value slot is a fixed value (lo == hi) or a range [lo, hi]. */
typedef struct vxa_op_inst {
    const vxa_op_desc *desc;
    double lo[VXA_OP_MAXPARAMS][3], hi[VXA_OP_MAXPARAMS][3];
    int given[VXA_OP_MAXPARAMS];
    double prob;
    int column;                       /* where it started in the spec, for messages */
    double *list;                     /* the VXA_P_LONG parameter's values (owned), or NULL */
    int nlist;
    int nchildren, span;              /* a group: the ops directly inside it, and the entries after it that are
                                       * its (children and their children) */
    char *path;                       /* its VXA_P_PATH parameter's file name, or NULL (owned) */
    double *data;                     /* what the op's load read from it (owned), ndata values */
    int ndata;
} vxa_op_inst;

struct vxa_pipeline {
    vxa_op_inst *ops;
    int nops;
    char *text;                       /* normalised spec */
};

/* The values one op instance draws for one sample, and whether it applies (probability). */
void vxa_op_draw(const vxa_op_inst *op, uint64_t seed, uint64_t sample, uint32_t index, vxa_op_values *val,
                 bool *applied);

/* The core of vxa_pipeline_run: device volumes in (only read), new device volumes out (the caller releases
 * them with vxa_dvol_release), and the output grid. */
vxa_status vxa_pipeline_run_dvol(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                 const vxa_grid *grid, const vxa_dvol *image, const vxa_dvol *label,
                                 vxa_dvol *out_image, vxa_dvol *out_label, vxa_grid *out_grid, vxa_draw **draw);

/* The same, with `kept` (may be NULL) the label map's class index kept by the caller across runs of the same
 * label map (a resident input): made there by the first run that needs it, then reused; the caller frees it. */
vxa_status vxa_pipeline_run_dvol_kept(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                      const vxa_grid *grid, const vxa_dvol *image, const vxa_dvol *label,
                                      vxa_label_index *kept, vxa_dvol *out_image, vxa_dvol *out_label,
                                      vxa_grid *out_grid, vxa_draw **draw);

/* Host volumes wrapped on the device (in, lin) and run into new device volumes (out, lout): the core of
 * vxa_pipeline_run_ex and vxa_pipeline_run_into. The caller releases all four (zeroed first), even on failure. */
vxa_status vxa_pipeline_run_host(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                 const vxa_volume *image, const vxa_volume *label, vxa_dvol *in, vxa_dvol *lin,
                                 vxa_dvol *out, vxa_dvol *lout, vxa_grid *out_grid, vxa_draw **draw);

/* Host-memory helpers of vxa_pipeline_run, shared with the overlapped batch (host/pipeline_cl.c): the checks of
 * an image and its label map; whether a run must go through slabs along k (some volume over the device's
 * allocation limit); an output volume on grid g with like's header fields. */
vxa_status vxa_pipeline_check_inputs(vxa_context *ctx, const vxa_volume *image, const vxa_volume *label);
bool vxa_pipeline_needs_slabs(const vxa_context *ctx, const vxa_pipeline *p, const vxa_volume *image,
                              const vxa_volume *label);
vxa_status vxa_pipeline_alloc_output(vxa_context *ctx, const vxa_volume *like, const vxa_grid *g,
                                     int64_t channels, vxa_dtype dtype, vxa_volume **out);
/* The batch with transfers on their own queue, overlapped with the compute of the neighbouring samples
 * (host/pipeline_cl.c); the arguments checked and the outputs cleared by vxa_pipeline_run_batch. */
vxa_status vxa_pipeline_batch_overlapped(vxa_context *ctx, const vxa_pipeline *p, uint64_t seed,
                                         uint64_t first_sample, size_t n, const vxa_volume *const *images,
                                         const vxa_volume *const *labels, vxa_volume **out_images,
                                         vxa_volume **out_labels, vxa_draw **draws);
/* Whether a batch on ctx takes the overlapped path: a device that is not a CPU (there buffers wrap host memory,
 * nothing to transfer), or VOXAUG_BATCH_OVERLAP=1 (tests run the path on PoCL); at least two samples. */
bool vxa_pipeline_batch_overlaps(const vxa_context *ctx, size_t n);

/* The caller's run options in the library's layout (the ABI rule of voxaug.h); VXA_OK or the detail in ctx. */
vxa_status vxa_run_options_import(vxa_context *ctx, const vxa_run_options *o, vxa_run_options *full);
/* At the entry of every run: a context whose creation failed is refused (it has no device; its error says why),
 * and vxa_last_error is cleared, so that it describes this call. */
vxa_status vxa_run_entry(vxa_context *ctx, const char *fn);
/* VXA_ERR_CANCELLED with the detail if o's cancel hook says stop before pass `where` `index`, else VXA_OK. */
vxa_status vxa_run_cancelled(vxa_context *ctx, const vxa_run_options *o, const char *where, int index);

/* Writes the normalised text of one op into buf. */
void vxa_op_format(const vxa_op_inst *op, char *buf, size_t len);

#endif
