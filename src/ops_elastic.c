/* SPDX-License-Identifier: MIT */
/* The elastic ops of the op table. */
#include "ops.h"

const vxa_op_desc vxa_elastic_ops[] = {
    { .name = NULL },
};
const int vxa_elastic_nops = 0;
