/* SPDX-License-Identifier: MIT */
/* Ops on the label map alone: remap (TorchIO RemapLabels, MONAI MapLabelValue). The planner gives each a LABEL
 * pass at its place in the pipeline (after the spatial passes before it, so that label_order=1 interpolates the
 * labels as they are there). */
#include "ops.h"

#include <math.h>
#include <stdlib.h>

/* ---- remap --------------------------------------------------------------------------------------------- */
enum { REMAP_MAP, REMAP_OTHERS };
static const char *const remap_others[] = { "keep", "drop", NULL };
static const vxa_param_desc remap_params[] = {
    [REMAP_MAP] = { "map", 1, VXA_P_PAIRS | VXA_P_FIXED | VXA_P_REQUIRED, -2147483648.0, 4294967295.0, { 0 },
                    "pairs FROM:TO, whole numbers (remap(3:1, 4:1, 7:0): labels 3 and 4 become 1, 7 becomes 0)",
                    NULL },
    [REMAP_OTHERS] = { "others", 1, VXA_P_FIXED, 0, 1, { 0 }, "labels not listed: keep, or drop (become 0)",
                       remap_others },
};

static vxa_status remap_label(vxa_context *ctx, const vxa_op_values *val, const vxa_dvol *in, vxa_dvol *out)
{
    const int n = val->ndata / 2;
    int64_t *from = malloc((size_t)(n ? n : 1) * 2 * sizeof *from);
    if (!from) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "remap: %d pairs", n);
    int64_t *to = from + (n ? n : 1);
    for (int i = 0; i < n; i++) {
        from[i] = (int64_t)val->data[2 * i];
        to[i] = (int64_t)val->data[2 * i + 1];
    }
    vxa_status st = vxa_label_remap(ctx, in, out, from, to, n, val->v[REMAP_OTHERS][0] != 0);
    free(from);
    return st;
}

const vxa_op_desc vxa_label_ops[] = {
    { .name = "remap", .kind = VXA_OPK_LABEL, .params = remap_params, .nparams = 2,
      .doc = "map label values FROM:TO (merge or drop classes) in the label map at this point of the pipeline; "
             "others=drop sends every label not listed to 0; images are unchanged",
      .scipy = "TorchIO RemapLabels({from: to}); MONAI MapLabelValue(orig_labels, target_labels)",
      .label = remap_label },
};
const int vxa_label_nops = (int)(sizeof vxa_label_ops / sizeof vxa_label_ops[0]);
