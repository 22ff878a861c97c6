/* SPDX-License-Identifier: MIT */
/* A PNG of the three mid slices of a volume, in anatomical orientation, with an optional label overlay. */
#include "commit.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREVIEW_GAP 4           /* black pixels between panels */
#define PREVIEW_MAX_SIDE 2048   /* the longest panel side; finer grids are shown with larger pixels */
#define PREVIEW_MIN_HEIGHT 256  /* smaller pictures are enlarged by a whole factor, to stay legible */
#define PREVIEW_ALPHA 0.45      /* label overlay opacity */

/* How voxel axes map to the world: axis[w] is the voxel axis closest to world axis w (0 = x, towards the
 * patient's right; 1 = y, anterior; 2 = z, superior), sign[w] is +1 where the voxel index grows towards +w,
 * size[a] the voxel size in mm along voxel axis a (the length of the affine's column a). */
typedef struct { int axis[3], sign[3]; double size[3]; } preview_frame;

/* One panel: the world axis held at the mid slice, the world axes shown left-to-right and bottom-to-top, and its
 * size and place in the picture. */
typedef struct { int fixed, across, up; int64_t width, height, x0, y0; } preview_panel;

/* The permutation of voxel axes that best matches the world axes (largest sum of |cosine|, as nibabel's
 * io_orientation picks them): an oblique affine is shown on its nearest orthogonal orientation. A degenerate
 * affine (a zero or non-finite column) is shown as if it were diag(spacing). */
static void preview_orient(const vxa_volume *v, preview_frame *f)
{
    static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    double norm[3];
    int degenerate = 0;
    for (int a = 0; a < 3; a++) {
        norm[a] = sqrt(v->affine[0][a] * v->affine[0][a] + v->affine[1][a] * v->affine[1][a] +
                       v->affine[2][a] * v->affine[2][a]);
        if (!isfinite(norm[a]) || norm[a] <= 0.0) degenerate = 1;
    }
    if (degenerate) {
        for (int a = 0; a < 3; a++) {
            f->axis[a] = a;
            f->sign[a] = 1;
            f->size[a] = isfinite(v->spacing[a]) && v->spacing[a] > 0.0 ? v->spacing[a] : 1.0;
        }
        return;
    }
    int best = 0;
    double best_score = -1.0;
    for (int p = 0; p < 6; p++) {
        double score = 0.0;
        for (int w = 0; w < 3; w++) score += fabs(v->affine[w][perms[p][w]]) / norm[perms[p][w]];
        if (score > best_score + 1e-12) {
            best_score = score;
            best = p;
        }
    }
    for (int w = 0; w < 3; w++) {
        f->axis[w] = perms[best][w];
        f->sign[w] = v->affine[w][perms[best][w]] < 0.0 ? -1 : 1;
    }
    for (int a = 0; a < 3; a++) f->size[a] = norm[a];
}

/* Raw stored value of an integer-typed volume at linear index idx (labels: no scaling, no float rounding). */
static int64_t preview_label_at(const vxa_volume *v, size_t idx)
{
    switch (v->dtype) {
    case VXA_UINT8: return ((const uint8_t *)v->data)[idx];
    case VXA_INT8: return ((const int8_t *)v->data)[idx];
    case VXA_INT16: return ((const int16_t *)v->data)[idx];
    case VXA_UINT16: return ((const uint16_t *)v->data)[idx];
    case VXA_INT32: return ((const int32_t *)v->data)[idx];
    case VXA_UINT32: return ((const uint32_t *)v->data)[idx];
    case VXA_INT64: return ((const int64_t *)v->data)[idx];
    case VXA_UINT64: return (int64_t)((const uint64_t *)v->data)[idx];
    case VXA_FLOAT32: case VXA_FLOAT64: case VXA_FLOAT16: case VXA_BFLOAT16: break;
    }
    return 0;
}

static int preview_is_integer(vxa_dtype t)
{
    return t == VXA_UINT8 || t == VXA_INT8 || t == VXA_INT16 || t == VXA_UINT16 || t == VXA_INT32 ||
           t == VXA_UINT32;
}

static void preview_swap(float *a, float *b)
{
    const float t = *a;
    *a = *b;
    *b = t;
}

/* The k-th smallest of a[0..n) (k < n), reordering a so that a[k+1..n) >= a[k]. Quickselect with a three-way
 * partition, so the long runs of equal values in medical images (zero background) cost O(n). */
static float preview_select(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        const float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        const float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi;  /* [lo, lt) < pivot, [lt, i) == pivot, [gt, hi) > pivot */
        while (i < gt) {
            if (a[i] < pivot) preview_swap(&a[lt++], &a[i++]);
            else if (a[i] > pivot) preview_swap(&a[i], &a[--gt]);
            else i++;
        }
        if (k < lt) hi = lt;
        else if (k >= gt) lo = gt;
        else return pivot;
    }
    return a[lo];
}

/* np.percentile(a, q) with the default linear method, over a[0..n) (n >= 1, finite values); reorders a. */
static double preview_percentile(float *a, size_t n, double q)
{
    const double pos = q / 100.0 * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    if (k > n - 1) k = n - 1;
    const double frac = pos - (double)k;
    const double below = preview_select(a, n, k);
    if (frac <= 0.0 || k + 1 >= n) return below;
    float above = a[k + 1];
    for (size_t i = k + 2; i < n; i++)
        if (a[i] < above) above = a[i];
    return below + frac * ((double)above - below);
}

/* The grey-level window [lo, hi]: the lo_pct and hi_pct percentiles of channel 0's finite values. */
static vxa_status preview_window(const vxa_volume *v, double lo_pct, double hi_pct, double *lo, double *hi,
                                 char *err, size_t errlen)
{
    const size_t n = (size_t)(v->dim[0] * v->dim[1] * v->dim[2]);
    float *vals = malloc(n * sizeof *vals);
    if (!vals) return vxa_fail_buf(err, errlen, VXA_ERR_OUT_OF_MEMORY, "preview: %zu values for the window", n);
    size_t m = 0;
    for (int64_t k = 0; k < v->dim[2]; k++)
        for (int64_t j = 0; j < v->dim[1]; j++)
            for (int64_t i = 0; i < v->dim[0]; i++) {
                const float x = vxa_volume_get(v, i, j, k, 0);
                if (isfinite(x)) vals[m++] = x;
            }
    if (m == 0) {
        *lo = *hi = 0.0;
    } else {
        *lo = preview_percentile(vals, m, lo_pct);
        *hi = preview_percentile(vals, m, hi_pct);
    }
    free(vals);
    return VXA_OK;
}

/* Grey level of x in the window: linear from lo (0) to hi (255), clamped; NaN is black. A window of zero width
 * is a threshold: above it white, else black. */
static uint8_t preview_grey(double x, double lo, double hi)
{
    if (isnan(x)) return 0;
    double g;
    if (hi > lo) g = (x - lo) / (hi - lo) * 255.0;
    else g = x > lo ? 255.0 : 0.0;
    if (!(g > 0.0)) return 0;
    if (g >= 255.0) return 255;
    return (uint8_t)floor(g + 0.5);
}

/* A fixed colour per label value: hues spaced by the golden ratio, so neighbouring values differ clearly. */
static void preview_label_colour(int64_t label, double rgb[3])
{
    const double h = fmod((double)((uint64_t)label % 1000003u) * 0.6180339887498949, 1.0) * 6.0;
    const double s = 0.85, val = 255.0;
    const int sector = (int)h % 6;
    const double f = h - floor(h);
    const double p = val * (1 - s), q = val * (1 - s * f), t = val * (1 - s * (1 - f));
    const double table[6][3] = { { val, t, p }, { q, val, p }, { p, val, t }, { p, q, val }, { t, p, val },
                                 { val, p, q } };
    for (int c = 0; c < 3; c++) rgb[c] = table[sector][c];
}

/* Voxel index along voxel axis `axis` for pixel position t in a panel (0 at the low-world end), with `count`
 * voxels of `size` mm shown at `pixel` mm per pixel; `sign` says which way the index runs in the world. */
static int64_t preview_pick(int64_t t, double pixel, double size, int64_t count, int sign)
{
    int64_t idx = (int64_t)floor(((double)t + 0.5) * pixel / size);
    if (idx < 0) idx = 0;
    if (idx > count - 1) idx = count - 1;
    return sign > 0 ? idx : count - 1 - idx;
}

typedef struct { char msg[256]; } preview_png_error;

static void preview_png_fail(png_structp png, png_const_charp msg)
{
    preview_png_error *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void preview_png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;  /* the library prints nothing */
}

/* Encodes the RGB rows into f; 0 on success, else the libpng message in e. */
static int preview_png_encode(FILE *f, png_bytep *rows, int64_t width, int64_t height, preview_png_error *e)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, preview_png_fail, preview_png_warn);
    if (!png) {
        snprintf(e->msg, sizeof e->msg, "libpng could not start (out of memory)");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info) snprintf(e->msg, sizeof e->msg, "libpng could not start (out of memory)");
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* Encodes the RGB picture into fd (a commit's temporary), which stays open; name is the target, for messages. */
static vxa_status preview_write_fd(int fd, const char *name, png_bytep *rows, int64_t width, int64_t height,
                                   char *err, size_t errlen)
{
    const int own = dup(fd); /* fclose closes its own descriptor; the commit keeps fd for fsync */
    FILE *f = own >= 0 ? fdopen(own, "wb") : NULL;
    if (!f) {
        if (own >= 0) close(own);
        return vxa_fail_buf(err, errlen, VXA_ERR_IO, "%s: %s", name, strerror(errno));
    }
    preview_png_error pe = { { 0 } };
    if (preview_png_encode(f, rows, width, height, &pe) != 0) {
        fclose(f);
        return vxa_fail_buf(err, errlen, VXA_ERR_IO, "%s: PNG encoding failed: %s", name, pe.msg);
    }
    const int bad = fflush(f) != 0 || ferror(f);
    const int e = errno;
    if (fclose(f) != 0 || bad)
        return vxa_fail_buf(err, errlen, VXA_ERR_IO, "%s: write failed: %s", name, strerror(bad ? e : errno));
    return VXA_OK;
}

static vxa_status preview_check(const char *path, const vxa_volume *image, const vxa_volume *label, char *err,
                                size_t errlen)
{
    if (!path || !path[0]) return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "preview: no output path");
    vxa_status st;
    if ((image && (st = vxa_volume_check_size(NULL, err, errlen, image, "image")) != VXA_OK) ||
        (label && (st = vxa_volume_check_size(NULL, err, errlen, label, "label")) != VXA_OK))
        return st;
    if (!image || !image->data || vxa_volume_bytes(image) == 0)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT,
                            "%s: the image is missing, has no data, or has an invalid shape or dtype", path);
    if (!label) return VXA_OK;
    if (!label->data || vxa_volume_bytes(label) == 0)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT,
                            "%s: the label map has no data, or an invalid shape or dtype", path);
    if (!preview_is_integer(label->dtype))
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT,
                            "%s: the label map is %s; labels must have an integer type", path,
                            vxa_dtype_name(label->dtype));
    double scale = 1.0, diff = 0.0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) {
            scale = fmax(scale, fabs(image->affine[r][c]));
            diff = fmax(diff, fabs(image->affine[r][c] - label->affine[r][c]));
        }
    const int same_dims =
        image->dim[0] == label->dim[0] && image->dim[1] == label->dim[1] && image->dim[2] == label->dim[2];
    if (!same_dims || !(diff <= 1e-4 * scale)) {
        const double *a = &image->affine[0][0], *b = &label->affine[0][0];
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT,
                            "%s: the label map's grid differs from the image's: image %lldx%lldx%lld with affine "
                            "[%g %g %g %g; %g %g %g %g; %g %g %g %g], label %lldx%lldx%lld with affine "
                            "[%g %g %g %g; %g %g %g %g; %g %g %g %g]", path,
                            (long long)image->dim[0], (long long)image->dim[1], (long long)image->dim[2],
                            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
                            (long long)label->dim[0], (long long)label->dim[1], (long long)label->dim[2],
                            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]);
    }
    return VXA_OK;
}

static vxa_status preview_draw(const char *path, const vxa_volume *image, const vxa_volume *label, double lo,
                               double hi, char *err, size_t errlen);

/* Layout, neurological convention (as nilearn): the coronal panel as if seen from behind the head, the axial one
 * from above, so the patient's right is on the picture's right (radiological viewers mirror this).
 *   sagittal (x = mid): anterior to the right, superior up;
 *   coronal  (y = mid): patient's right to the right, superior up;
 *   axial    (z = mid): patient's right to the right, anterior up.
 * The mid slice is voxel n/2 (integer division, as x[n // 2] in NumPy) of the voxel axis closest to the fixed
 * world axis. Pixels are square: one pixel is the smallest voxel size, larger if a panel would exceed
 * PREVIEW_MAX_SIDE pixels, divided by the whole factor ceil(PREVIEW_MIN_HEIGHT / height) if the picture would be
 * less than PREVIEW_MIN_HEIGHT pixels high (as far as PREVIEW_MAX_SIDE allows). Voxels are picked by nearest
 * neighbour. Panels are vertically centred on a black background, PREVIEW_GAP pixels apart.
 * Returns VXA_ERR_INVALID_ARGUMENT (no path, no image, a bad window, a label map that is not integer or not on
 * the image's grid), VXA_ERR_IO (the file could not be written: the detail names the path and errno's text),
 * VXA_ERR_OUT_OF_MEMORY. */
vxa_status vxa_preview_png(const char *path, const vxa_volume *image, const vxa_volume *label, double lo_pct,
                           double hi_pct, char *err, size_t errlen)
{
    vxa_status st;
    if ((st = preview_check(path, image, label, err, errlen)) != VXA_OK) return st;
    if (!(lo_pct >= 0.0 && lo_pct <= hi_pct && hi_pct <= 100.0))
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT,
                            "%s: window percentiles %g,%g: expected 0 <= lo <= hi <= 100", path, lo_pct, hi_pct);
    double lo = 0.0, hi = 0.0;
    if ((st = preview_window(image, lo_pct, hi_pct, &lo, &hi, err, errlen)) != VXA_OK) return st;
    return preview_draw(path, image, label, lo, hi, err, errlen);
}

vxa_status vxa_preview_png_values(const char *path, const vxa_volume *image, const vxa_volume *label, double lo,
                                  double hi, char *err, size_t errlen)
{
    vxa_status st;
    if ((st = preview_check(path, image, label, err, errlen)) != VXA_OK) return st;
    if (!(isfinite(lo) && isfinite(hi) && lo <= hi))
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT,
                            "%s: window values %g,%g: expected finite lo <= hi", path, lo, hi);
    return preview_draw(path, image, label, lo, hi, err, errlen);
}

/* The picture of checked inputs, grey levels windowed to the values [lo, hi]. */
static vxa_status preview_draw(const char *path, const vxa_volume *image, const vxa_volume *label, double lo,
                               double hi, char *err, size_t errlen)
{
    vxa_status st;
    uint8_t *pixels = NULL;
    png_bytep *rows = NULL;

    preview_frame fr;
    preview_orient(image, &fr);
    double pixel = fmin(fr.size[0], fmin(fr.size[1], fr.size[2]));
    for (int a = 0; a < 3; a++)
        pixel = fmax(pixel, (double)image->dim[a] * fr.size[a] / PREVIEW_MAX_SIDE);

    preview_panel panels[3] = { { .fixed = 0, .across = 1, .up = 2 },    /* sagittal */
                                { .fixed = 1, .across = 0, .up = 2 },    /* coronal */
                                { .fixed = 2, .across = 0, .up = 1 } };  /* axial */
    int64_t width = 0, height = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t side = 0;
        width = height = 0;
        for (int p = 0; p < 3; p++) {
            const int ax = fr.axis[panels[p].across], up = fr.axis[panels[p].up];
            panels[p].width = (int64_t)fmax(1.0, floor((double)image->dim[ax] * fr.size[ax] / pixel + 0.5));
            panels[p].height = (int64_t)fmax(1.0, floor((double)image->dim[up] * fr.size[up] / pixel + 0.5));
            panels[p].x0 = width + (p > 0 ? PREVIEW_GAP : 0);
            width = panels[p].x0 + panels[p].width;
            if (panels[p].height > height) height = panels[p].height;
            if (panels[p].width > side) side = panels[p].width;
        }
        /* enlarge small pictures by a whole factor, keeping every panel side within PREVIEW_MAX_SIDE */
        int64_t factor = (PREVIEW_MIN_HEIGHT + height - 1) / height;
        if (side < height) side = height;
        if (factor > PREVIEW_MAX_SIDE / side) factor = PREVIEW_MAX_SIDE / side;
        if (pass > 0 || factor < 2) break;
        pixel /= (double)factor;
    }
    for (int p = 0; p < 3; p++) panels[p].y0 = (height - panels[p].height) / 2;

    pixels = calloc((size_t)(width * height), 3);
    rows = malloc((size_t)height * sizeof *rows);
    if (!pixels || !rows) {
        st = vxa_fail_buf(err, errlen, VXA_ERR_OUT_OF_MEMORY, "%s: %lldx%lld picture: out of memory", path,
                          (long long)width, (long long)height);
        goto done;
    }
    for (int64_t r = 0; r < height; r++) rows[r] = pixels + (size_t)(r * width) * 3;

    for (int p = 0; p < 3; p++) {
        const preview_panel *pn = &panels[p];
        const int af = fr.axis[pn->fixed], aa = fr.axis[pn->across], au = fr.axis[pn->up];
        int64_t ijk[3];
        ijk[af] = image->dim[af] / 2;
        for (int64_t r = 0; r < pn->height; r++) {
            /* row 0 is the top: the high-world end of the upward axis */
            ijk[au] = preview_pick(r, pixel, fr.size[au], image->dim[au], -fr.sign[pn->up]);
            for (int64_t c = 0; c < pn->width; c++) {
                ijk[aa] = preview_pick(c, pixel, fr.size[aa], image->dim[aa], fr.sign[pn->across]);
                const uint8_t g = preview_grey(vxa_volume_get(image, ijk[0], ijk[1], ijk[2], 0), lo, hi);
                double rgb[3] = { g, g, g };
                if (label) {
                    const size_t idx = (size_t)(ijk[0] + label->dim[0] * (ijk[1] + label->dim[1] * ijk[2]));
                    const int64_t l = preview_label_at(label, idx);
                    if (l != 0) {
                        double colour[3];
                        preview_label_colour(l, colour);
                        for (int ch = 0; ch < 3; ch++)
                            rgb[ch] = (1.0 - PREVIEW_ALPHA) * g + PREVIEW_ALPHA * colour[ch];
                    }
                }
                uint8_t *px = rows[pn->y0 + r] + (size_t)(pn->x0 + c) * 3;
                for (int ch = 0; ch < 3; ch++) px[ch] = (uint8_t)floor(rgb[ch] + 0.5);
            }
        }
    }
    vxa_commit c; /* src/commit.h: a temporary next to path, fsynced, renamed into place */
    vxa_commit_init(&c);
    const int i = vxa_commit_add(&c, path, err, errlen);
    if (i < 0) {
        st = VXA_ERR_IO;
        goto done;
    }
    if ((st = preview_write_fd(c.f[i].fd, path, rows, width, height, err, errlen)) != VXA_OK) vxa_commit_abort(&c);
    else st = vxa_commit_all(&c, err, errlen);
done:
    free(rows);
    free(pixels);
    return st;
}
