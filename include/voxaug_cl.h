/* SPDX-License-Identifier: MIT */
/* Interoperation with a caller's OpenCL: wrap its context and queue, run pipelines on its buffers.
 *
 * Sharing with CUDA or HIP frameworks (PyTorch, LibTorch, JAX on NVIDIA or AMD GPUs): core OpenCL has no CUDA or
 * HIP interop; Khronos defines sharing with OpenGL, Direct3D and EGL only. The one standard route is the OpenCL 3.0
 * extension family cl_khr_external_memory (with _opaque_fd or _dma_buf), which imports memory another API exported
 * as a file descriptor (e.g. CUDA's cuMemExportToShareableHandle on a cuMemCreate allocation); whether a driver
 * offers it, and for which handle types, varies, and voxaug does not use it (nothing here imports external
 * memory, and no GPU was available to test one). So a cl_mem and a CUDA/HIP pointer are never the same memory
 * through voxaug. What works on every device: vxa_pipeline_run_into (voxaug.h) into the framework's pinned host
 * tensor, then the framework's own asynchronous host-to-device copy (examples/libtorch_train.cpp). Callers whose
 * framework is itself OpenCL share cl_mem buffers with vxa_pipeline_run_cl below, with no copy. */
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
