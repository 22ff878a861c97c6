/* SPDX-License-Identifier: MIT */
/* Pipelines run into the caller's memory (vxa_buffer): the buffer checks, the float16/bfloat16 and integer
 * conversions, one sample and batches. */
#include "internal.h"
#include "pipeline.h"
#include "resident.h"

#include <stdlib.h>
#include <string.h>

void vxa_buffer_init_size(vxa_buffer *b, size_t size, void *data, size_t bytes, vxa_dtype dtype)
{
    if (!b) return;
    memset(b, 0, size < sizeof *b ? size : sizeof *b);
    b->size = size;
    if (size < VXA_BUFFER_SIZE_V1) return; /* vxa_pipeline_run_into rejects it, naming the size */
    b->data = data;
    b->bytes = bytes;
    b->dtype = dtype;
}

/* float32 -> IEEE binary16, rounded to nearest, ties to even; NaN stays NaN (quiet), overflow is inf. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u | (m >> 13) : 0u));
    if (e >= 143) return (uint16_t)(sign | 0x7c00u);          /* >= 2^16: beyond the largest half, 65504 */
    if (e >= 113) {                                            /* a normal half: 13 mantissa bits dropped */
        uint32_t h = ((e - 112) << 10) | (m >> 13);
        const uint32_t rem = m & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry into the exponent is right, up to inf */
        return (uint16_t)(sign | h);
    }
    /* Below 2^-14: a subnormal half, value / 2^-24 = M * 2^(e - 126) with M the 24-bit significand. */
    const uint32_t shift = 126 - e;
    if (e == 0 || shift > 24) return sign;                     /* below 2^-25 (or a float subnormal): zero */
    const uint32_t M = m | 0x800000u, half = 1u << (shift - 1);
    uint32_t h = M >> shift;
    const uint32_t rem = M & ((1u << shift) - 1u);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

/* float32 -> bfloat16 (the top 16 bits), rounded to nearest, ties to even; NaN stays NaN (quiet). */
static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Integer v stored in dtype t, saturated to its range. */
static void store_int(void *dst, vxa_dtype t, int64_t v)
{
#define SAT(lo, hi) (v < (lo) ? (lo) : v > (hi) ? (hi) : v)
    switch (t) {
    case VXA_UINT8: *(uint8_t *)dst = (uint8_t)SAT(0, UINT8_MAX); break;
    case VXA_INT8: *(int8_t *)dst = (int8_t)SAT(INT8_MIN, INT8_MAX); break;
    case VXA_INT16: *(int16_t *)dst = (int16_t)SAT(INT16_MIN, INT16_MAX); break;
    case VXA_UINT16: *(uint16_t *)dst = (uint16_t)SAT(0, UINT16_MAX); break;
    case VXA_INT32: *(int32_t *)dst = (int32_t)SAT(INT32_MIN, INT32_MAX); break;
    case VXA_UINT32: *(uint32_t *)dst = (uint32_t)SAT(0, (int64_t)UINT32_MAX); break;
    case VXA_INT64: *(int64_t *)dst = v; break;
    case VXA_UINT64: *(uint64_t *)dst = (uint64_t)(v < 0 ? 0 : v); break;
    case VXA_FLOAT32: case VXA_FLOAT64: case VXA_FLOAT16: case VXA_BFLOAT16: break; /* not label types */
    }
#undef SAT
}

static int64_t load_int(const void *src, vxa_dtype t, size_t i)
{
    switch (t) {
    case VXA_UINT8: return ((const uint8_t *)src)[i];
    case VXA_INT8: return ((const int8_t *)src)[i];
    case VXA_INT16: return ((const int16_t *)src)[i];
    case VXA_UINT16: return ((const uint16_t *)src)[i];
    case VXA_INT32: return ((const int32_t *)src)[i];
    case VXA_UINT32: return ((const uint32_t *)src)[i];
    case VXA_INT64: case VXA_UINT64: case VXA_FLOAT32: case VXA_FLOAT64: case VXA_FLOAT16: case VXA_BFLOAT16:
        break; /* a pipeline's label maps have the storage integer types only */
    }
    return 0;
}

static bool is_integer(vxa_dtype t)
{
    return t != VXA_FLOAT32 && t != VXA_FLOAT64 && t != VXA_FLOAT16 && t != VXA_BFLOAT16 && vxa_dtype_size(t);
}

/* A checked output buffer: the caller's struct in the library's layout, the shape it receives, element
 * strides in effect (dense ones filled in) and whether they are dense. */
typedef struct {
    vxa_buffer b;
    int64_t ext[5];              /* nx, ny, nz, channels, samples */
    int64_t stride[5];
    bool dense;
} out_buf;

static vxa_status check_buffer(vxa_context *ctx, const vxa_buffer *caller, const char *what, bool label,
                               const int64_t dim[3], int64_t channels, size_t n, out_buf *ob)
{
    vxa_status st = vxa_abi_import(ctx, NULL, 0, &ob->b, sizeof ob->b, caller, VXA_BUFFER_SIZE_V1, what);
    if (st != VXA_OK) return st;
    const vxa_buffer *b = &ob->b;
    const size_t es = vxa_dtype_size(b->dtype);
    if (!b->data) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: data is NULL", what);
    if (label ? !is_integer(b->dtype)
              : (b->dtype != VXA_FLOAT32 && b->dtype != VXA_FLOAT16 && b->dtype != VXA_BFLOAT16))
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: dtype %s (%d), expected %s", what,
                        vxa_dtype_name(b->dtype), (int)b->dtype,
                        label ? "an integer type" : "float32, float16 or bfloat16");
    if ((uintptr_t)b->data % es)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: data %p is not aligned to its %zu-byte %s elements",
                        what, b->data, es, vxa_dtype_name(b->dtype));
    const int64_t ext[5] = { dim[0], dim[1], dim[2], channels, (int64_t)n };
    memcpy(ob->ext, ext, sizeof ext);
    ob->dense = true;
    for (int a = 0; a < 5; a++) ob->dense = ob->dense && b->stride[a] == 0;
    int64_t dense = 1;
    for (int a = 0; a < 5; a++) {
        ob->stride[a] = ob->dense ? dense : b->stride[a];
        if (__builtin_mul_overflow(dense, ext[a], &dense))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the output's element count overflows", what);
    }
    /* The addressed elements must lie in `bytes` and be distinct: every axis that has more than one element has
     * a positive stride, and sorted by stride each axis steps over the whole extent of the ones below it. */
    static const char *const axis[5] = { "i", "j", "k", "channel", "sample" };
    int order[5], m = 0;
    uint64_t last = 0;
    for (int a = 0; a < 5; a++) {
        if (ext[a] <= 1) continue;
        if (ob->stride[a] <= 0)
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: stride[%d] (%s) = %lld for an extent of %lld, "
                            "expected > 0", what, a, axis[a], (long long)ob->stride[a], (long long)ext[a]);
        uint64_t reach;
        if (__builtin_mul_overflow((uint64_t)(ext[a] - 1), (uint64_t)ob->stride[a], &reach) ||
            __builtin_add_overflow(last, reach, &last))
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: the strides reach past 2^64 elements", what);
        int k = m++;
        for (; k > 0 && ob->stride[order[k - 1]] > ob->stride[a]; k--) order[k] = order[k - 1];
        order[k] = a;
    }
    for (int k = 1; k < m; k++) {
        const int lo = order[k - 1], hi = order[k];
        if (ob->stride[hi] < ob->stride[lo] * ext[lo])
            return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: stride[%d] (%s) = %lld overlaps axis %s (stride %lld "
                            "x extent %lld): elements would alias", what, hi, axis[hi], (long long)ob->stride[hi],
                            axis[lo], (long long)ob->stride[lo], (long long)ext[lo]);
    }
    uint64_t need;
    if (__builtin_add_overflow(last, 1, &need) || __builtin_mul_overflow(need, (uint64_t)es, &need) ||
        need > b->bytes)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "%s: %zu bytes, the output %lldx%lldx%lld x %lld channel(s) x "
                        "%zu sample(s) of %s with these strides needs %llu", what, b->bytes, (long long)dim[0],
                        (long long)dim[1], (long long)dim[2], (long long)channels, n, vxa_dtype_name(b->dtype),
                        (unsigned long long)need);
    return VXA_OK;
}

/* Element (i, j, k, c) of sample s in ob. */
static void *element(const out_buf *ob, int64_t s, int64_t i, int64_t j, int64_t k, int64_t c)
{
    const int64_t off = i * ob->stride[0] + j * ob->stride[1] + k * ob->stride[2] + c * ob->stride[3] +
                        s * ob->stride[4];
    return (char *)ob->b.data + (size_t)off * vxa_dtype_size(ob->b.dtype);
}

/* Writes dense NIfTI-ordered values src (float32 for images, the label's type for labels) into sample s of ob,
 * converting and striding. */
static void store_sample(const out_buf *ob, int64_t s, const void *src, vxa_dtype src_type)
{
    const vxa_dtype t = ob->b.dtype;
    size_t idx = 0;
    for (int64_t c = 0; c < ob->ext[3]; c++)
        for (int64_t k = 0; k < ob->ext[2]; k++)
            for (int64_t j = 0; j < ob->ext[1]; j++)
                for (int64_t i = 0; i < ob->ext[0]; i++, idx++) {
                    void *dst = element(ob, s, i, j, k, c);
                    if (src_type != VXA_FLOAT32) store_int(dst, t, load_int(src, src_type, idx));
                    else if (t == VXA_FLOAT32) *(float *)dst = ((const float *)src)[idx];
                    else if (t == VXA_FLOAT16) *(uint16_t *)dst = f32_to_f16(((const float *)src)[idx]);
                    else *(uint16_t *)dst = f32_to_bf16(((const float *)src)[idx]);
                }
}

/* Whether sample s of ob can take the values of type src_type as they are: dense and the same type. */
static bool direct(const out_buf *ob, vxa_dtype src_type)
{
    return ob->dense && ob->b.dtype == src_type;
}

/* The context's staging buffer, at least `bytes`. */
static vxa_status stage(vxa_context *ctx, size_t bytes, void **out)
{
    if (ctx->stage_bytes < bytes) {
        free(ctx->stage);
        ctx->stage_bytes = 0;
        if (!(ctx->stage = vxa_host_alloc(bytes, 64)))
            return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "run_into: a %zu-byte staging buffer", bytes);
        ctx->stage_bytes = bytes;
    }
    *out = ctx->stage;
    return VXA_OK;
}

/* Device result d into sample s of ob: read straight into the caller's memory when it takes the values as they
 * are, else through the staging buffer and one conversion. */
static vxa_status store_dvol(vxa_context *ctx, const vxa_dvol *d, const out_buf *ob, int64_t s)
{
    if (direct(ob, d->dtype)) return vxa_dvol_read(ctx, d, element(ob, s, 0, 0, 0, 0));
    void *tmp = NULL;
    vxa_status st = stage(ctx, vxa_dvol_bytes(d), &tmp);
    if (st == VXA_OK) st = vxa_dvol_read(ctx, d, tmp);
    if (st == VXA_OK) store_sample(ob, s, tmp, d->dtype);
    return st;
}

static bool same_dim(const int64_t a[3], const int64_t b[3])
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

/* One sample into sample s of the buffers; o is in the library's layout, inputs checked. From the host volumes
 * image and label, or (r not NULL) from the resident's copies, its label map where lb is given. */
static vxa_status run_sample(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                             const vxa_volume *image, const vxa_volume *label, vxa_resident *r, const out_buf *ib,
                             const out_buf *lb, int64_t s, vxa_draw **draw)
{
    vxa_status st;
    if (!r && vxa_pipeline_needs_slabs(ctx, p, image, label)) { /* rare (volumes over the device's limit): host volumes */
        vxa_volume *oi = NULL, *ol = NULL;
        st = vxa_pipeline_run_ex(ctx, p, o, image, label, &oi, label ? &ol : NULL, draw);
        if (st == VXA_OK) store_sample(ib, s, oi->data, oi->dtype);
        if (st == VXA_OK && label) store_sample(lb, s, ol->data, ol->dtype);
        vxa_volume_free(oi);
        vxa_volume_free(ol);
        return st;
    }
    vxa_grid out_grid;
    vxa_dvol in = { 0 }, lin = { 0 }, out = { 0 }, lout = { 0 };
    if (r)   /* the label map runs whenever the resident has one (a mask); lb NULL leaves it unread */
        st = vxa_pipeline_run_dvol_kept(ctx, p, o, &r->grid, &r->image, r->has_label ? &r->label : NULL,
                                        &r->labels, &out, r->has_label ? &lout : NULL, &out_grid, draw);
    else
        st = vxa_pipeline_run_host(ctx, p, o, image, label, &in, &lin, &out, &lout, &out_grid, draw);
    if (st != VXA_OK) goto done;
    if (!same_dim(out.dim, ib->ext) || out.channels != ib->ext[3] || out.dtype != VXA_FLOAT32) {
        st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_into: sample %llu came out %lldx%lldx%lld, the buffer was "
                      "checked for %lldx%lldx%lld", (unsigned long long)o->sample, (long long)out.dim[0],
                      (long long)out.dim[1], (long long)out.dim[2], (long long)ib->ext[0], (long long)ib->ext[1],
                      (long long)ib->ext[2]);
        goto done;
    }
    if ((st = store_dvol(ctx, &out, ib, s)) != VXA_OK) goto done;
    if (r ? lb != NULL : label != NULL) st = store_dvol(ctx, &lout, lb, s);
    if (st == VXA_OK && r) vxa_resident_ran(ctx, r);
done:
    vxa_dvol_release(ctx, &in);
    vxa_dvol_release(ctx, &lin);
    vxa_dvol_release(ctx, &out);
    vxa_dvol_release(ctx, &lout);
    if (st != VXA_OK && draw) {
        vxa_draw_free(*draw);
        *draw = NULL;
    }
    return st;
}

/* The checks common to one sample and a batch: options imported, the output shape of images[0], the buffers
 * checked for n samples of it. */
static vxa_status prepare(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *caller_o, size_t n,
                          const vxa_volume *image, const vxa_volume *label, const vxa_buffer *out_image,
                          const vxa_buffer *out_label, vxa_run_options *o, vxa_volume *shape, out_buf *ib,
                          out_buf *lb)
{
    vxa_status st;
    if ((st = vxa_run_options_import(ctx, caller_o, o)) != VXA_OK) return st;
    if ((st = vxa_pipeline_check_inputs(ctx, image, label)) != VXA_OK) return st;
    if (!out_image) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_into: out_image is NULL");
    if (!label != !out_label)
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_into: %s", label ? "a label map without out_label"
                                                                             : "out_label without a label map");
    vxa_volume_init(shape, image->dim, image->channels, VXA_FLOAT32);
    if ((st = vxa_pipeline_output_shape(p, image, shape)) != VXA_OK)
        return vxa_fail(ctx, st, "run_into: the pipeline's output shape for a %lldx%lldx%lld image",
                        (long long)image->dim[0], (long long)image->dim[1], (long long)image->dim[2]);
    if ((st = check_buffer(ctx, out_image, "out_image", false, shape->dim, image->channels, n, ib)) != VXA_OK)
        return st;
    if (label && (st = check_buffer(ctx, out_label, "out_label", true, shape->dim, label->channels, n, lb)) != VXA_OK)
        return st;
    return VXA_OK;
}

vxa_status vxa_pipeline_run_into(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                 const vxa_volume *image, const vxa_volume *label,
                                 const vxa_buffer *out_image, const vxa_buffer *out_label, vxa_draw **draw)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (draw) *draw = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run_into");
    if (st != VXA_OK) return st;
    if (!p) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_into: NULL pipeline");
    vxa_run_options full;
    vxa_volume shape;
    out_buf ib, lb;
    st = prepare(ctx, p, o, 1, image, label, out_image, out_label, &full, &shape, &ib, &lb);
    if (st != VXA_OK) return st;
    return run_sample(ctx, p, &full, image, label, NULL, &ib, label ? &lb : NULL, 0, draw);
}

vxa_status vxa_pipeline_run_batch_into(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                       size_t n, const vxa_volume *const *images, const vxa_volume *const *labels,
                                       const vxa_buffer *out_image, const vxa_buffer *out_label, vxa_draw **draws)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (draws)
        for (size_t s = 0; s < n; s++) draws[s] = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run_batch_into");
    if (st != VXA_OK) return st;
    if (!p || !images) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_batch_into: NULL argument");
    if (n == 0) return VXA_OK;
    vxa_run_options full;
    vxa_volume shape;
    out_buf ib, lb;
    st = prepare(ctx, p, o, n, images[0], labels ? labels[0] : NULL, out_image, out_label, &full,
                            &shape, &ib, &lb);
    if (st == VXA_OK && full.field_out)
        st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_batch_into: field_out is for single runs");
    for (size_t s = 0; s < n && st == VXA_OK; s++) {
        const vxa_volume *image = images[s], *label = labels ? labels[s] : NULL;
        vxa_run_options os = full;
        os.sample = full.sample + s;
        if ((st = vxa_run_cancelled(ctx, &os, "batch sample", (int)s)) != VXA_OK) break;
        if (s > 0) { /* every sample's shape must be the one the buffers were checked for */
            vxa_volume sh;
            if ((st = vxa_pipeline_check_inputs(ctx, image, label)) != VXA_OK) break;
            if (!label != !out_label) {
                st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_batch_into: sample %zu: %s", s,
                              label ? "a label map without out_label" : "no label map, but out_label is set");
                break;
            }
            vxa_volume_init(&sh, image->dim, image->channels, VXA_FLOAT32);
            if ((st = vxa_pipeline_output_shape(p, image, &sh)) != VXA_OK ||
                !same_dim(sh.dim, shape.dim) || image->channels != ib.ext[3] ||
                (label && label->channels != lb.ext[3])) {
                st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_batch_into: sample %zu's output (%lldx%lldx%lld, "
                              "%lld channel(s)) differs from sample 0's (%lldx%lldx%lld, %lld)", s,
                              (long long)sh.dim[0], (long long)sh.dim[1], (long long)sh.dim[2],
                              (long long)image->channels, (long long)shape.dim[0], (long long)shape.dim[1],
                              (long long)shape.dim[2], (long long)ib.ext[3]);
                break;
            }
        }
        st = run_sample(ctx, p, &os, image, label, NULL, &ib, label ? &lb : NULL, (int64_t)s, draws ? &draws[s] : NULL);
    }
    if (st != VXA_OK && draws)
        for (size_t s = 0; s < n; s++) {
            vxa_draw_free(draws[s]);
            draws[s] = NULL;
        }
    return st;
}

vxa_status vxa_pipeline_run_resident_into(vxa_context *ctx, const vxa_pipeline *p, const vxa_run_options *o,
                                          vxa_resident *r, size_t n, const vxa_buffer *out_image,
                                          const vxa_buffer *out_label, vxa_draw **draws)
{
    if (!ctx) return VXA_ERR_INVALID_ARGUMENT;
    if (draws)
        for (size_t s = 0; s < n; s++) draws[s] = NULL;
    vxa_status st = vxa_run_entry(ctx, "vxa_pipeline_run_resident_into");
    if (st != VXA_OK) return st;
    if (!p) return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "vxa_pipeline_run_resident_into: NULL pipeline");
    if ((st = vxa_resident_check(ctx, r, out_label != NULL, "vxa_pipeline_run_resident_into")) != VXA_OK) return st;
    if (n == 0) return VXA_OK;
    /* The checks of a batch on the resident's headers (their data pointer stands in: it is never read). */
    vxa_volume image = r->image_hdr, label = r->label_hdr;
    image.data = label.data = &image;
    vxa_run_options full;
    vxa_volume shape;
    out_buf ib, lb;
    st = prepare(ctx, p, o, n, &image, out_label ? &label : NULL, out_image, out_label, &full, &shape, &ib, &lb);
    if (st == VXA_OK && full.field_out && n > 1)
        st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "run_resident_into: field_out is for single samples (n = 1)");
    if (st == VXA_OK && full.field_out) *full.field_out = NULL;
    for (size_t s = 0; s < n && st == VXA_OK; s++) {
        vxa_run_options os = full;
        os.sample = full.sample + s;
        if ((st = vxa_run_cancelled(ctx, &os, "batch sample", (int)s)) != VXA_OK) break;
        st = run_sample(ctx, p, &os, NULL, NULL, r, &ib, out_label ? &lb : NULL, (int64_t)s, draws ? &draws[s] : NULL);
    }
    if (st != VXA_OK && draws)
        for (size_t s = 0; s < n; s++) {
            vxa_draw_free(draws[s]);
            draws[s] = NULL;
        }
    return st;
}
