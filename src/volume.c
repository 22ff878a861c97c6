/* SPDX-License-Identifier: MIT */
/* Host volumes: allocation, typed access, geometry helpers. */
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#include "internal.h"
#include "fold.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

size_t vxa_dtype_size(vxa_dtype t)
{
    switch (t) {
    case VXA_UINT8: case VXA_INT8: return 1;
    case VXA_INT16: case VXA_UINT16: return 2;
    case VXA_INT32: case VXA_UINT32: case VXA_FLOAT32: return 4;
    case VXA_FLOAT64: case VXA_INT64: case VXA_UINT64: return 8;
    case VXA_FLOAT16: case VXA_BFLOAT16: return 2;
    }
    return 0;
}

static const struct { vxa_dtype t; const char *name; } dtype_names[] = {
    { VXA_UINT8, "uint8" }, { VXA_INT8, "int8" }, { VXA_INT16, "int16" }, { VXA_UINT16, "uint16" },
    { VXA_INT32, "int32" }, { VXA_UINT32, "uint32" }, { VXA_FLOAT32, "float32" }, { VXA_FLOAT64, "float64" },
    { VXA_INT64, "int64" }, { VXA_UINT64, "uint64" }, { VXA_FLOAT16, "float16" }, { VXA_BFLOAT16, "bfloat16" },
};

bool vxa_dtype_is_storage(vxa_dtype t)
{
    switch (t) {
    case VXA_UINT8: case VXA_INT8: case VXA_INT16: case VXA_UINT16: case VXA_INT32: case VXA_UINT32:
    case VXA_FLOAT32: case VXA_FLOAT64: return true;
    case VXA_INT64: case VXA_UINT64: case VXA_FLOAT16: case VXA_BFLOAT16: return false;
    }
    return false;
}

const char *vxa_dtype_name(vxa_dtype t)
{
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (dtype_names[i].t == t) return dtype_names[i].name;
    return "unknown";
}

int vxa_dtype_parse(const char *name, vxa_dtype *out)
{
    if (!name || !out) return 0;
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (strcmp(dtype_names[i].name, name) == 0) {
            *out = dtype_names[i].t;
            return 1;
        }
    return 0;
}

void vxa_volume_init_size(vxa_volume *v, size_t size, const int64_t dim[3], int64_t channels, vxa_dtype dtype)
{
    if (!v) return;
    /* Everything up to `data` exists in every accepted layout (VXA_VOLUME_SIZE_V1); fields appended later are
     * zeroed up to the caller's size only. */
    if (size < VXA_VOLUME_SIZE_V1) size = VXA_VOLUME_SIZE_V1;
    memset(v, 0, size < sizeof *v ? size : sizeof *v);
    v->size = size;
    for (int a = 0; a < 3; a++) {
        v->dim[a] = dim ? dim[a] : 0;
        v->spacing[a] = 1.0;
        v->affine[a][a] = 1.0;
    }
    v->affine[3][3] = 1.0;
    v->channels = channels;
    v->dtype = dtype;
    v->xyzt_units = 2; /* NIFTI_UNITS_MM */
}

size_t vxa_volume_voxels(const vxa_volume *v)
{
    size_t n = 1;
    if (!v) return 0;
    for (int a = 0; a < 3; a++)
        if (v->dim[a] < 1 || !vxa_mul_size(n, (size_t)v->dim[a], &n)) return 0;
    if (v->channels < 1 || !vxa_mul_size(n, (size_t)v->channels, &n)) return 0;
    return n;
}

size_t vxa_volume_bytes(const vxa_volume *v)
{
    size_t b;
    if (!v) return 0;
    return vxa_mul_size(vxa_volume_voxels(v), vxa_dtype_size(v->dtype), &b) ? b : 0;
}

void *vxa_host_alloc(size_t bytes, size_t align)
{
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (bytes >= 2 * huge && bytes <= SIZE_MAX - huge) {
        const size_t len = (bytes + huge - 1) & ~(huge - 1);
        if (posix_memalign(&p, huge, len) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        (void)madvise(p, len, MADV_HUGEPAGE);  /* advice only: without transparent huge pages nothing changes */
#endif
        return p;
    }
    return posix_memalign(&p, align, bytes ? bytes : 1) == 0 ? p : NULL;
}

vxa_status vxa_dvol_host_alloc(vxa_context *ctx, vxa_dvol *d, size_t bytes)
{
    void *p = vxa_host_alloc((bytes + 127) & ~(size_t)127, 128);
    if (!p) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "device volume: %zu bytes of host memory", bytes);
    d->host = p;
    d->owns_host = true;
    return VXA_OK;
}

/* Header and data in one block; data aligned to 64 bytes for zero-copy device buffers. */
static vxa_status volume_block(const vxa_volume *hdr, vxa_volume **out)
{
    *out = NULL;
    size_t bytes = vxa_volume_bytes(hdr);
    if (bytes == 0 || vxa_dtype_size(hdr->dtype) == 0) return VXA_ERR_INVALID_ARGUMENT;
    const size_t head = (sizeof(vxa_volume) + 63) & ~(size_t)63;
    if (bytes > SIZE_MAX - head - 64) return VXA_ERR_OUT_OF_MEMORY;
    void *block = vxa_host_alloc(head + ((bytes + 63) & ~(size_t)63), 64);
    if (!block) return VXA_ERR_OUT_OF_MEMORY;
    vxa_volume *v = block;
    *v = *hdr;
    v->size = sizeof *v;   /* the library's layout, whatever the size of the struct it was described by */
    v->data = (char *)block + head;
    *out = v;
    return VXA_OK;
}

vxa_status vxa_volume_alloc(const int64_t dim[3], int64_t channels, vxa_dtype dtype, vxa_volume **out)
{
    vxa_volume hdr;
    if (!out) return VXA_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!dim) return VXA_ERR_INVALID_ARGUMENT;
    vxa_volume_init(&hdr, dim, channels, dtype);
    vxa_status st = volume_block(&hdr, out);
    if (st == VXA_OK) memset((*out)->data, 0, vxa_volume_bytes(*out));
    return st;
}

vxa_status vxa_volume_clone(const vxa_volume *v, vxa_volume **out)
{
    if (!out) return VXA_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!v || !v->data) return VXA_ERR_INVALID_ARGUMENT;
    if (vxa_volume_check_size(NULL, NULL, 0, v, "v") != VXA_OK) return VXA_ERR_INVALID_ARGUMENT;
    vxa_status st = volume_block(v, out);
    if (st == VXA_OK) memcpy((*out)->data, v->data, vxa_volume_bytes(v));
    return st;
}

void vxa_volume_free(vxa_volume *v) { free(v); }

static double scaled(double x, double slope, double inter)
{
    return (slope != 0.0 && isfinite(slope)) ? x * slope + inter : x;
}

static double raw_value(const void *data, vxa_dtype t, size_t i)
{
    switch (t) {
    case VXA_UINT8: return ((const uint8_t *)data)[i];
    case VXA_INT8: return ((const int8_t *)data)[i];
    case VXA_INT16: return ((const int16_t *)data)[i];
    case VXA_UINT16: return ((const uint16_t *)data)[i];
    case VXA_INT32: return ((const int32_t *)data)[i];
    case VXA_UINT32: return ((const uint32_t *)data)[i];
    case VXA_FLOAT32: return ((const float *)data)[i];
    case VXA_FLOAT64: return ((const double *)data)[i];
    case VXA_INT64: return (double)((const int64_t *)data)[i];
    case VXA_UINT64: return (double)((const uint64_t *)data)[i];
    case VXA_FLOAT16: case VXA_BFLOAT16: break; /* output-only, never read */
    }
    return 0.0;
}

static double saturate(double x, double lo, double hi)
{
    if (isnan(x)) return 0.0;
    x = round(x);
    return x < lo ? lo : x > hi ? hi : x;
}

static void raw_store(void *data, vxa_dtype t, size_t i, double x)
{
    switch (t) {
    case VXA_UINT8: ((uint8_t *)data)[i] = (uint8_t)saturate(x, 0, UINT8_MAX); break;
    case VXA_INT8: ((int8_t *)data)[i] = (int8_t)saturate(x, INT8_MIN, INT8_MAX); break;
    case VXA_INT16: ((int16_t *)data)[i] = (int16_t)saturate(x, INT16_MIN, INT16_MAX); break;
    case VXA_UINT16: ((uint16_t *)data)[i] = (uint16_t)saturate(x, 0, UINT16_MAX); break;
    case VXA_INT32: ((int32_t *)data)[i] = (int32_t)saturate(x, INT32_MIN, INT32_MAX); break;
    case VXA_UINT32: ((uint32_t *)data)[i] = (uint32_t)saturate(x, 0, UINT32_MAX); break;
    case VXA_FLOAT32: ((float *)data)[i] = (float)x; break;
    case VXA_FLOAT64: ((double *)data)[i] = x; break;
    case VXA_INT64: ((int64_t *)data)[i] = (int64_t)saturate(x, -0x1p63, 0x1p63 - 1024.0); break;
    case VXA_UINT64: ((uint64_t *)data)[i] = (uint64_t)saturate(x, 0, 0x1p64 - 2048.0); break;
    case VXA_FLOAT16: case VXA_BFLOAT16: break; /* output-only: vxa_buffer's conversions (src/buffer.c) */
    }
}

static size_t volume_index(const vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c)
{
    return (size_t)(i + v->dim[0] * (j + v->dim[1] * (k + v->dim[2] * c)));
}

float vxa_volume_get(const vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c)
{
    if (!v || !v->data) return NAN;
    return (float)scaled(raw_value(v->data, v->dtype, volume_index(v, i, j, k, c)), v->scl_slope, v->scl_inter);
}

void vxa_volume_set(vxa_volume *v, int64_t i, int64_t j, int64_t k, int64_t c, double x)
{
    if (!v || !v->data) return;
    raw_store(v->data, v->dtype, volume_index(v, i, j, k, c), x);
}

void vxa_volume_set_spacing(vxa_volume *v, const double spacing[3])
{
    if (!v || !spacing) return;
    memset(v->affine, 0, sizeof v->affine);
    for (int a = 0; a < 3; a++) {
        v->spacing[a] = spacing[a];
        v->affine[a][a] = spacing[a];
        v->affine[a][3] = -0.5 * (double)(v->dim[a] - 1) * spacing[a];
    }
    v->affine[3][3] = 1.0;
    v->sform_code = v->qform_code = 2; /* NIFTI_XFORM_ALIGNED_ANAT */
}

/* ---- dvol helpers shared by every backend ---- */
size_t vxa_dvol_voxels(const vxa_dvol *d)
{
    size_t n = 1;
    for (int a = 0; a < 3; a++)
        if (d->dim[a] < 1 || !vxa_mul_size(n, (size_t)d->dim[a], &n)) return 0;
    if (d->channels < 1 || !vxa_mul_size(n, (size_t)d->channels, &n)) return 0;
    return n;
}

size_t vxa_dvol_bytes(const vxa_dvol *d)
{
    size_t b;
    return vxa_mul_size(vxa_dvol_voxels(d), vxa_dtype_size(d->dtype), &b) ? b : 0;
}

double vxa_dvol_value(const vxa_dvol *d, size_t idx)
{
    return scaled(raw_value(d->host, d->dtype, idx), d->slope, d->inter);
}

void vxa_dvol_store(vxa_dvol *d, size_t idx, double x)
{
    raw_store(d->host, d->dtype, idx, x);
}

const char *vxa_dtype_cl_name(vxa_dtype t)
{
    switch (t) {
    case VXA_UINT8: return "uchar";
    case VXA_INT8: return "char";
    case VXA_INT16: return "short";
    case VXA_UINT16: return "ushort";
    case VXA_INT32: return "int";
    case VXA_UINT32: return "uint";
    case VXA_FLOAT32: return "float";
    case VXA_FLOAT64: return "double";
    case VXA_INT64: return "long";
    case VXA_UINT64: return "ulong";
    case VXA_FLOAT16: case VXA_BFLOAT16: break; /* never on the device */
    }
    return "float";
}

VXA_DEF_FOLD(fold, int64_t)

int64_t vxa_fold_index(int64_t q, int64_t n, vxa_mode mode)
{
    return fold(q, n, (int)mode);
}
