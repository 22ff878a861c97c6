/* SPDX-License-Identifier: MIT */
/* The op table: the families' descriptors joined, and the host-side draws ops make. */
#include "ops.h"
#include "shared/philox.h"

#include <string.h>

static const char *const sampling_modes[] = { "constant", "nearest", "reflect", NULL };
static const char *const label_rules[] = { "threshold", "argmax", NULL };
static const char *const geometries[] = { "content", "track", NULL };  /* VXA_GEOMETRY_* */

static const vxa_param_desc sampling_params[] = {
    [VXA_SAMPLING_ORDER] = { "order", 1, VXA_P_INT | VXA_P_FIXED, 0, 1, { 1 }, "interpolation of images: 1 "
                             "trilinear, 0 nearest", NULL },
    [VXA_SAMPLING_MODE] = { "mode", 1, VXA_P_FIXED, 0, 2, { 0 }, "boundary: constant (cval), nearest, reflect",
                            sampling_modes },
    [VXA_SAMPLING_CVAL] = { "cval", 1, VXA_P_FIXED, -1e30, 1e30, { 0 }, "value outside the input in constant mode",
                            NULL },
    [VXA_SAMPLING_LABEL_MODE] = { "label_mode", 1, VXA_P_FIXED, 0, 2, { 0 }, "boundary for label maps (labels "
                                  "use cval 0)", sampling_modes },
    [VXA_SAMPLING_LABEL_ORDER] = { "label_order", 1, VXA_P_INT | VXA_P_FIXED, 0, 1, { 0 }, "interpolation of label "
                                   "maps: 0 nearest, 1 each label's indicator trilinear, then label_rule picks",
                                   NULL },
    [VXA_SAMPLING_LABEL_RULE] = { "label_rule", 1, VXA_P_FIXED, 0, 1, { 0 }, "with label_order=1: threshold (the "
                                  "largest label of weight >= 0.5, else 0: batchgenerators' order 1) or argmax (the "
                                  "label of largest weight, ties to the larger label)", label_rules },
    [VXA_SAMPLING_GEOMETRY] = { "geometry", 1, VXA_P_FIXED, 0, 1, { 0 }, "the output's affine: content (an "
                                "augmentation op keeps its grid's affine, the anatomy moves in world space; a grid "
                                "op writes its new grid's) or track (the affine follows the voxels for every op, "
                                "the output overlays the input in world space)", geometries },
};

/* Not an op on the volume: the settings of the spatial passes that follow it (src/pipeline.c reads them). */
const vxa_op_desc vxa_sampling_op = {
    .name = "sampling", .kind = VXA_OPK_SAMPLING, .params = sampling_params, .nparams = VXA_SAMPLING_NPARAMS,
    .doc = "how the following spatial passes resample images and label maps (labels use cval 0, and order 0 "
           "unless label_order=1: nnU-Net's order_seg=1, per-label linear interpolation) and what their ops do to "
           "the affine (geometry)",
    .scipy = "`order`, `mode` ('grid-constant' for constant), `cval`",
};

static const vxa_op_desc *table[128];
static int ntable = -1;

const vxa_op_desc *const *vxa_op_table(int *count)
{
    if (ntable < 0) { /* filled once; the families' arrays are constant */
        int n = 0;
        const struct { const vxa_op_desc *ops; int n; } fams[] = {
            { &vxa_sampling_op, 1 },
            { vxa_spatial_ops, vxa_spatial_nops },
            { vxa_sample_ops, vxa_sample_nops },
            { vxa_elastic_ops, vxa_elastic_nops },
        };
        for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++)
            for (int i = 0; i < fams[f].n && n < 127; i++) table[n++] = &fams[f].ops[i];
        for (int i = 0; i < vxa_intensity_nops && n < 127; i++) table[n++] = vxa_intensity_ops[i];
        for (int i = 0; i < vxa_group_nops && n < 127; i++) table[n++] = &vxa_group_ops[i];
        for (int i = 0; i < vxa_label_nops && n < 127; i++) table[n++] = &vxa_label_ops[i];
        table[n] = NULL;
        ntable = n;
    }
    if (count) *count = ntable;
    return table;
}

const vxa_op_desc *vxa_op_find(const char *name)
{
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i]->name, name) == 0) return t[i];
    return NULL;
}

/* Philox words on the draw stream: counter block = next++, one 32-bit word pair per double. */
double vxa_draw_uniform(vxa_draw_rng *r)
{
    vxa_philox4 x = vxa_philox_block(r->seed, r->sample, r->stream, r->next++);
    uint64_t bits = ((uint64_t)x.v[0] << 21) ^ (x.v[1] >> 11);  /* 53 bits */
    return (double)(bits & ((1ull << 53) - 1)) * 0x1.0p-53;
}

int64_t vxa_draw_int(vxa_draw_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo) return lo;
    int64_t v = lo + (int64_t)(vxa_draw_uniform(r) * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}
