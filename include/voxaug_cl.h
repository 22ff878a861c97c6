/* SPDX-License-Identifier: MIT */
/* Interoperation with a caller's OpenCL: wrap its context and queue, run pipelines on its buffers. */
#ifndef VOXAUG_CL_H
#define VOXAUG_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include "voxaug.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context over the caller's cl_context and in-order cl_command_queue (the caller keeps ownership and must
 * outlive the vxa_context). Programs are built for the queue's device on first use. */
VXA_API vxa_status vxa_context_create_cl(cl_context context, cl_command_queue queue, vxa_context **out);
/* The context's OpenCL objects (NULL for the reference path); not retained for the caller. */
VXA_API cl_context       vxa_context_cl_context(const vxa_context *ctx);
VXA_API cl_command_queue vxa_context_cl_queue(const vxa_context *ctx);

/* Runs a pipeline on buffers in the context's device memory, for callers that keep data on the device.
 * image_desc (and label_desc) give dims, channels, dtype, scaling and affine; their data pointers are ignored.
 * out_image must hold the output shape of vxa_pipeline_output_shape as float32, out_label the same shape in
 * the label's type; both are written, the inputs only read. Work is enqueued on the context's queue and
 * finished before return. Same statuses as vxa_pipeline_run_ex. */
VXA_API vxa_status vxa_pipeline_run_cl(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                       const vxa_volume *image_desc, cl_mem image,
                                       const vxa_volume *label_desc, cl_mem label,
                                       cl_mem out_image, cl_mem out_label, vxa_draw **draw);

#ifdef __cplusplus
}
#endif
#endif
