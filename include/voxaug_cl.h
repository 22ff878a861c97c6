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

#ifdef __cplusplus
}
#endif
#endif
