/* SPDX-License-Identifier: MIT */
/* Shared test helpers: contexts for the device under test and the reference, seeded random volumes,
 * awkward shapes, comparisons. Include after <cmocka.h>'s prerequisites. */
#ifndef VXA_TESTUTIL_H
#define VXA_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

/* The seed of this run: $VOXAUG_TEST_SEED, else the fixed VXA_TEST_FIXED_SEED (so a plain ctest covers the same
 * cases every time; scripts/test.sh runs the plain suite with it and the sanitizer suite with a random seed).
 * Printed once with the one-line command that replays it, and again when a test fails. */
#define VXA_TEST_FIXED_SEED 20261207u
uint64_t vxa_test_seed(void);
/* A small deterministic generator for test data (splitmix64). */
uint64_t vxa_test_rand(uint64_t *state);
double   vxa_test_uniform(uint64_t *state);  /* [0, 1) */

/* The reference context (never fails) and the device under test: $VOXAUG_DEVICE (default: prefer a GPU).
 * Without an OpenCL device, or when VOXAUG_DEVICE=reference makes the device the reference itself,
 * vxa_test_device() calls skip() (and the program exits 77 through vxa_test_exit) unless
 * VOXAUG_REQUIRE_DEVICE=1 (then it fails). */
vxa_context *vxa_test_reference(void);
vxa_context *vxa_test_device(void);
void         vxa_test_contexts_free(void);
/* A second context on the device under test that runs the GPU forms of the kernels (host/cl.h, chunked), which a
 * CPU device otherwise leaves for its CPU forms (on a GPU: the same forms again); skips as vxa_test_device does.
 * Destroyed by the caller. */
vxa_context *vxa_test_gpu_forms_device(void);
/* A test program's exit status from cmocka's count of failed tests: that count if any failed, else 77 (ctest's
 * SKIP_RETURN_CODE) if a test skipped for want of a device, else 0. Frees the contexts. */
int          vxa_test_exit(int failed);

/* Awkward shapes: 1x1x1, 1xNxM, primes, not multiples of any work-group, and one large (181x217x181). */
extern const int64_t vxa_test_shapes[][3];
extern const int vxa_test_nshapes;

/* A host volume of random values for dtype (full range for small ints, [-1000, 1000] otherwise, plus
 * a few zero voxels); free with vxa_volume_free. */
vxa_volume *vxa_test_random_volume(const int64_t dim[3], int64_t channels, vxa_dtype dtype, uint64_t *state);
/* The pipeline of spec; a parse error fails the test, naming the spec and the parser's message. */
vxa_pipeline *vxa_test_parse(const char *spec);
/* A smooth random float volume (sum of a few Gaussian blobs), values in about [0, 1000]. */
vxa_volume *vxa_test_smooth_volume(const int64_t dim[3], uint64_t *state);

/* Runs fn(ctx, in, out) on a context with host volume `in`, returning the output as a host volume of
 * out_dim x channels x out_dtype; asserts on failure with the context's error. */
typedef vxa_status (*vxa_test_op)(vxa_context *ctx, const vxa_dvol *in, vxa_dvol *out, void *arg);
vxa_volume *vxa_test_run(vxa_context *ctx, const vxa_volume *in, const int64_t out_dim[3], vxa_dtype out_dtype,
                         vxa_test_op fn, void *arg);

/* Largest |a - b| over all voxels (as float after scaling); asserts equal shapes. */
double vxa_test_max_abs_diff(const vxa_volume *a, const vxa_volume *b);
/* 1 if the two volumes' bytes are identical (same shape and type). */
int    vxa_test_identical(const vxa_volume *a, const vxa_volume *b);
/* The number of voxels whose bytes differ; asserts the same shape and type. */
size_t vxa_test_count_differences(const vxa_volume *a, const vxa_volume *b);
/* max - min of the volume's values. */
double vxa_test_range(const vxa_volume *v);

/* A context's log kept as text, a line a message (vxa_context_options.log = vxa_test_log_keep, log_user = the
 * buffer); what does not fit is dropped. */
typedef struct { char text[65536]; size_t n; } vxa_test_log;
void vxa_test_log_keep(void *user, vxa_log_level level, const char *msg);
/* A new context on the device under test whose log (every level) goes to lb, emptied first; kernel_dir as
 * vxa_context_options'. NULL where there is no device or it is the reference (the caller skips). */
vxa_context *vxa_test_logged_device(vxa_test_log *lb, const char *kernel_dir);
/* How many times `what` occurs in text. */
int vxa_test_count_of(const char *text, const char *what);

/* Real data from Debian packages; NULL (and a visible skip by the caller) if not installed. */
const char *vxa_test_ch2(void);      /* /usr/share/mricron/templates/ch2.nii.gz */
const char *vxa_test_aal(void);      /* /usr/share/mricron/templates/aal.nii.gz */
const char *vxa_test_nibabel(const char *name);  /* nibabel's tests/data/<name> */

#endif
