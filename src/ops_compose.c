/* SPDX-License-Identifier: MIT */
/* Composition: ops that hold ops and pick, per sample, which of them run and in what order. Their syntax is the
 * parser's (src/spec.c: `one_of(op, op, ..., weights=w, w, ..., p=P)`), their draws the planner's (src/plan.c,
 * expand()); here are their descriptors: parameters, docs. */
#include "ops.h"

static const vxa_param_desc one_of_params[] = {
    { "weights", 1, VXA_P_FIXED | VXA_P_LONG, 0, 1e6, { 1, 0, 0 }, "relative weight of each op inside, in order "
      "(default: equal)", NULL },
};
static const vxa_param_desc some_of_params[] = {
    { "n", 1, VXA_P_INT, 0, VXA_GROUP_MAX, { 1, 0, 0 }, "how many of the ops inside run; a range [lo, hi] draws it "
      "per sample", NULL },
    { "weights", 1, VXA_P_FIXED | VXA_P_LONG, 0, 1e6, { 1, 0, 0 }, "relative weight of each op inside, in order "
      "(default: equal)", NULL },
};

#define PARAMS(x) .params = x, .nparams = (int)(sizeof x / sizeof x[0])

const vxa_op_desc vxa_group_ops[] = {
    { .name = "one_of", .kind = VXA_OPK_GROUP, PARAMS(one_of_params), .group = VXA_GROUP_ONE_OF,
      .doc = "one_of(op, op, ..., weights=...): runs one of the ops inside, drawn with probability weight/sum; "
             "noted as \"chosen\":[i]",
      .scipy = "torchio OneOf({t: w, ...}, p), monai OneOf(transforms, weights)" },
    { .name = "some_of", .kind = VXA_OPK_GROUP, PARAMS(some_of_params), .group = VXA_GROUP_SOME_OF,
      .doc = "some_of(n, op, op, ..., weights=...): runs n of the ops inside, drawn without replacement by weight, "
             "in the order drawn; noted as \"chosen\":[i, ...]",
      .scipy = "monai SomeOf(transforms, num_transforms=n or (lo, hi), replace=False, weights)" },
    { .name = "shuffle", .kind = VXA_OPK_GROUP, .group = VXA_GROUP_SHUFFLE,
      .doc = "shuffle(op, op, ...): runs every op inside, in a random order; noted as \"chosen\":[order]",
      .scipy = "monai RandomOrder(transforms)" },
    { .name = NULL },
};
const int vxa_group_nops = (int)(sizeof vxa_group_ops / sizeof vxa_group_ops[0]) - 1;
