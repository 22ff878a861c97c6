/* SPDX-License-Identifier: MIT */
/* One subject in memory for augment: its images stacked as the channels of one volume and its label maps as the
 * channels of another, so that one pipeline run gives every file the same spatial draw (SPEC: all channels of a
 * volume and its label map get the same transform; intensity ops take their statistics per channel). Checked on
 * the way in: one grid for every file, label maps with integer values. Split again on the way out. */
#include "subject.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID_TOL 1e-3 /* mm, per affine entry: NIfTI stores the affine as float32 */

static void describe_grid(const vxa_volume *v, char *out, size_t len)
{
    snprintf(out, len, "%lldx%lldx%lld, spacing %g,%g,%g, origin (%g, %g, %g)", (long long)v->dim[0],
             (long long)v->dim[1], (long long)v->dim[2], v->spacing[0], v->spacing[1], v->spacing[2], v->affine[0][3],
             v->affine[1][3], v->affine[2][3]);
}

static int same_grid(const vxa_volume *a, const vxa_volume *b)
{
    for (int i = 0; i < 3; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (!(fabs(a->affine[r][c] - b->affine[r][c]) <= GRID_TOL)) return 0;
    return 1;
}

/* A float label map whose every value is an integer, converted to the smallest of uint8, int16, int32 that
 * holds them; anything else is an error naming the file and the first offending voxel. */
static vxa_status integer_labels(const char *path, vxa_volume **lab, char *err, size_t errlen)
{
    vxa_volume *v = *lab;
    if (v->dtype != VXA_FLOAT32 && v->dtype != VXA_FLOAT64) return VXA_OK;
    double lo = 0, hi = 0;
    for (int64_t c = 0; c < v->channels; c++)
        for (int64_t k = 0; k < v->dim[2]; k++)
            for (int64_t j = 0; j < v->dim[1]; j++)
                for (int64_t i = 0; i < v->dim[0]; i++) {
                    const size_t at = (size_t)(i + v->dim[0] * (j + v->dim[1] * (k + v->dim[2] * c)));
                    double x = v->dtype == VXA_FLOAT32 ? ((const float *)v->data)[at] : ((const double *)v->data)[at];
                    if (isfinite(v->scl_slope) && v->scl_slope != 0) x = x * v->scl_slope + v->scl_inter;
                    if (!isfinite(x) || x != rint(x) || fabs(x) > 2147483647.0) {
                        char at_c[40] = "";
                        if (v->channels > 1) snprintf(at_c, sizeof at_c, ", channel %lld", (long long)c);
                        snprintf(err, errlen, "%s: a %s label map must hold integers; voxel (%lld, %lld, %lld)%s is %.9g",
                                 path, vxa_dtype_name(v->dtype), (long long)i, (long long)j, (long long)k, at_c, x);
                        return VXA_ERR_INVALID_ARGUMENT;
                    }
                    if (x < lo) lo = x;
                    if (x > hi) hi = x;
                }
    const vxa_dtype t = lo >= 0 && hi <= 255 ? VXA_UINT8 : lo >= -32768 && hi <= 32767 ? VXA_INT16 : VXA_INT32;
    vxa_volume *out = NULL;
    if (cli_convert(v, t, &out) != VXA_OK) {
        snprintf(err, errlen, "%s: out of memory", path);
        return VXA_ERR_OUT_OF_MEMORY;
    }
    vxa_volume_free(v);
    *lab = out;
    return VXA_OK;
}

void cli_subject_free(cli_subject_data *d)
{
    vxa_volume_free(d->image);
    vxa_volume_free(d->label);
    memset(d, 0, sizeof *d);
}

/* vols[0..n-1] (one grid) as the channels of one new volume of type t, geometry from vols[0]. */
static vxa_status stack(vxa_volume *const *vols, int n, vxa_dtype t, vxa_volume **out)
{
    int64_t channels = 0;
    for (int f = 0; f < n; f++) channels += vols[f]->channels;
    vxa_status st = vxa_volume_alloc(vols[0]->dim, channels, t, out);
    if (st != VXA_OK) return st;
    vxa_volume *o = *out;
    void *data = o->data;
    *o = *vols[0];
    o->data = data;
    o->channels = channels;
    o->dtype = t;
    o->scl_slope = o->scl_inter = 0.0;
    int64_t c0 = 0;
    for (int f = 0; f < n; f++)
        for (int64_t c = 0; c < vols[f]->channels; c++, c0++)
            for (int64_t k = 0; k < o->dim[2]; k++)
                for (int64_t j = 0; j < o->dim[1]; j++)
                    for (int64_t i = 0; i < o->dim[0]; i++)
                        vxa_volume_set(o, i, j, k, c0, vxa_volume_get(vols[f], i, j, k, c));
    return VXA_OK;
}

vxa_status cli_subject_load(const ds_subject *s, cli_subject_data *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    vxa_volume *img[DS_MAX_FILES] = { NULL }, *lab[DS_MAX_FILES] = { NULL };
    vxa_status st = VXA_OK;
    for (int f = 0; f < s->nimg && st == VXA_OK; f++) st = vxa_nifti_read(s->img[f].path, &img[f], err, errlen);
    for (int f = 0; f < s->nlab && st == VXA_OK; f++) {
        st = vxa_nifti_read(s->lab[f].path, &lab[f], err, errlen);
        if (st == VXA_OK) st = integer_labels(s->lab[f].path, &lab[f], err, errlen);
    }
    /* one grid: every file against the first image, both grids named when not */
    for (int f = 0; f < s->nimg + s->nlab && st == VXA_OK; f++) {
        const vxa_volume *v = f < s->nimg ? img[f] : lab[f - s->nimg];
        const char *path = f < s->nimg ? s->img[f].path : s->lab[f - s->nimg].path;
        if (same_grid(img[0], v)) continue;
        char a[200], b[200];
        describe_grid(img[0], a, sizeof a);
        describe_grid(v, b, sizeof b);
        snprintf(err, errlen, "%s is on grid %s but %s is on grid %s: a subject's images and label maps must share "
                 "one grid", s->img[0].path, a, path, b);
        st = VXA_ERR_INVALID_ARGUMENT;
    }
    if (st != VXA_OK) goto fail;
    for (int f = 0; f < s->nimg; f++) d->img_channels[f] = img[f]->channels;
    for (int f = 0; f < s->nlab; f++) {
        d->lab_channels[f] = lab[f]->channels;
        d->lab_dtype[f] = lab[f]->dtype;
    }
    if (s->nimg == 1) { /* as read: any type, a 4D file's channels together */
        d->image = img[0];
        img[0] = NULL;
    } else if ((st = stack(img, s->nimg, VXA_FLOAT32, &d->image)) != VXA_OK) {
        snprintf(err, errlen, "%s: out of memory stacking %d images", s->img[0].path, s->nimg);
        goto fail;
    }
    if (s->nlab == 1) {
        d->label = lab[0];
        lab[0] = NULL;
    } else if (s->nlab > 1) {
        vxa_dtype t = lab[0]->dtype; /* one type for the stack: theirs where they agree, else int32 */
        for (int f = 1; f < s->nlab; f++)
            if (lab[f]->dtype != t) t = VXA_INT32;
        if ((st = stack(lab, s->nlab, t, &d->label)) != VXA_OK) {
            snprintf(err, errlen, "%s: out of memory stacking %d label maps", s->lab[0].path, s->nlab);
            goto fail;
        }
    }
fail:
    for (int f = 0; f < DS_MAX_FILES; f++) {
        vxa_volume_free(img[f]);
        vxa_volume_free(lab[f]);
    }
    if (st != VXA_OK) cli_subject_free(d);
    return st;
}

/* Channels [c0, c0 + n) of v as a volume that borrows v's data. */
static vxa_volume channel_view(const vxa_volume *v, int64_t c0, int64_t n)
{
    vxa_volume w = *v;
    const size_t plane = (size_t)v->dim[0] * (size_t)v->dim[1] * (size_t)v->dim[2] * vxa_dtype_size(v->dtype);
    w.data = (char *)v->data + (size_t)c0 * plane;
    w.channels = n;
    return w;
}

vxa_volume cli_subject_image_out(const cli_subject_data *d, const vxa_volume *out, int f)
{
    int64_t c0 = 0;
    for (int g = 0; g < f; g++) c0 += d->img_channels[g];
    return channel_view(out, c0, d->img_channels[f]);
}

vxa_status cli_subject_label_out(const cli_subject_data *d, const vxa_volume *out, int f, vxa_volume *view,
                                 vxa_volume **converted)
{
    int64_t c0 = 0;
    for (int g = 0; g < f; g++) c0 += d->lab_channels[g];
    *view = channel_view(out, c0, d->lab_channels[f]);
    *converted = NULL;
    if (view->dtype == d->lab_dtype[f]) return VXA_OK;
    /* stacked as int32: back to the file's own type (its values came from it, so they fit) */
    vxa_status st = cli_convert(view, d->lab_dtype[f], converted);
    if (st == VXA_OK) *view = **converted;
    return st;
}
