/* SPDX-License-Identifier: MIT */
/* The spatial ops of the op table. */
#include "ops.h"

const vxa_op_desc vxa_spatial_ops[] = {
    { .name = NULL },
};
const int vxa_spatial_nops = 0;
