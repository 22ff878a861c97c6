/* SPDX-License-Identifier: MIT */
/* The intensity ops of the op table. */
#include "ops.h"

const vxa_op_desc vxa_intensity_ops[] = {
    { .name = NULL },
};
const int vxa_intensity_nops = 0;

vxa_status vxa_intensity_run(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals, int n,
                             vxa_dvol *vol)
{
    (void)ops; (void)vals; (void)vol;
    return n == 0 ? VXA_OK : vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "intensity ops are not built yet");
}
