/* SPDX-License-Identifier: MIT */
/* Resident inputs (voxaug.h, vxa_resident_create): what the handle holds, for src/resident.c and src/run_into.c. */
#ifndef VXA_RESIDENT_H
#define VXA_RESIDENT_H

#include "pipeline.h"

#include <math.h>

struct vxa_resident {
    vxa_context *ctx;                  /* NULL once the context was destroyed */
    struct vxa_resident *prev, *next;  /* the context's list of live residents */
    vxa_volume image_hdr, label_hdr;   /* the caller's headers, data NULL: the outputs' header codes */
    vxa_grid grid;
    vxa_dvol image, label;             /* the copies, of their own (never pooled), only read by runs */
    bool has_label;
    void *uploaded;                    /* the event of an asynchronous upload not yet known complete, or NULL */
    bool ordered;                      /* the compute queue waits for `uploaded` */
    /* What samplers compute once per subject and reuse for every sample, beside the copy it describes, released
     * in src/resident.c's detach: the label map's class index (fg_crop and the other class samplers), made by
     * the first sample that needs it (nclasses 0 and value NULL until then). */
    vxa_label_index labels;
};

/* At the entry of a run from r on ctx (after vxa_run_entry): r is of ctx, has a label map if want_label, and
 * the compute queue waits for its upload. The detail names fn. */
vxa_status vxa_resident_check(vxa_context *ctx, vxa_resident *r, bool want_label, const char *fn);
/* After a run from r returned with its outputs read back: its upload is complete, the event goes. */
void vxa_resident_ran(vxa_context *ctx, vxa_resident *r);

#endif
