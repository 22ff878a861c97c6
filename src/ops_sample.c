/* SPDX-License-Identifier: MIT */
/* Grid ops that read the data: patch sampling by class (fg_crop: nnU-Net's foreground oversampling;
 * balanced_crop: MONAI RandCropByPosNegLabel; label_crop: MONAI RandCropByLabelClasses) and the crop to the
 * foreground's box (MONAI CropForeground). Each is a crop, p = o + q (padding, filled by the sampling mode, where
 * the patch leaves the volume), so it fuses into the resampling pass like random_crop. The class voxels and boxes
 * come from the pipeline's input through vxa_draw_rng.data (device reductions, src/sample.h); a voxel drawn
 * there is carried into this op's input grid by the inverse of the spatial ops before it. */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BIG 1e6

static int64_t ival(double x) { return (int64_t)llround(x); }

/* The label index, or an error naming the op: these ops need a label map. */
static vxa_status labels_of(const char *op, const vxa_draw_rng *rng, const vxa_label_index **ix, char *err,
                            size_t errlen)
{
    const vxa_op_data *d = rng->data;
    if (!d || !d->has_label)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "%s draws its patch centre from the label map: "
                            "run it with one (--label)", op);
    return d->labels(d->user, ix, err, errlen);
}

/* No data to read (shape queries, or a map made without the executor): the patch is drawn as if uniform. */
static bool no_data(const vxa_draw_rng *rng)
{
    return !rng->data || rng->data->shape_only;
}

/* Input voxel p of the pipeline's input, in this op's input grid: o = A⁻¹·(p - b), rounded to the nearest voxel. */
static void to_op_grid(const vxa_draw_rng *rng, const int64_t p[3], int64_t o[3])
{
    const double (*A)[3] = rng->to_input_A;
    double r[3], inv[3][3];
    for (int a = 0; a < 3; a++) r[a] = (double)p[a] - rng->to_input_b[a];
    const double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
                       A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
                       A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++) {
            /* cofactor (c, a) over det: the inverse's (a, c) entry */
            const int r0 = (c + 1) % 3, r1 = (c + 2) % 3, c0 = (a + 1) % 3, c1 = (a + 2) % 3;
            inv[a][c] = (A[r0][c0] * A[r1][c1] - A[r0][c1] * A[r1][c0]) / det;
        }
    for (int a = 0; a < 3; a++) {
        const double x = inv[a][0] * r[0] + inv[a][1] * r[1] + inv[a][2] * r[2];
        o[a] = (int64_t)floor(x + 0.5);
    }
}

/* ---- fg_crop: nnU-Net's rule --------------------------------------------------------------------------------
 * nnU-Net v2 (nnUNetDataLoader.get_bbox, with need_to_pad 0 as for a final patch): where the patch is larger
 * than the volume, need = m - n and the start runs over lbs = -ceil(need/2) .. ubs = n + ceil(need/2) - m; with
 * probability p_fg a class is drawn uniformly among the eligible ones present (non-zero values, or those listed
 * in classes=), a voxel v uniformly among its voxels, and the start is max(lbs, v - floor(m/2)): clamped below
 * only, so a patch about a voxel near the far edge reaches past it (padded). No eligible class present: uniform,
 * as nnU-Net falls back. Otherwise the start is uniform over lbs .. ubs. */
static bool eligible(const vxa_op_values *val, int64_t v)
{
    if (!val->nlist) return v != 0;
    for (int q = 0; q < val->nlist; q++)
        if ((int64_t)val->list[q] == v) return true;
    return false;
}

static vxa_status fg_crop_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                              double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    int64_t m[3], q[3], lbs[3], ubs[3];
    vxa_status st = vxa_crop_sizes("fg_crop", val, m, err, errlen);
    if (st != VXA_OK) return st;
    for (int a = 0; a < 3; a++) {
        const int64_t need = m[a] > in->dim[a] ? m[a] - in->dim[a] : 0;
        lbs[a] = -((need + 1) / 2);
        ubs[a] = in->dim[a] + (need + 1) / 2 - m[a];
    }
    const bool force = vxa_draw_uniform(rng) < val->v[1][0];
    int pick = -1;
    int64_t voxel[3] = { 0, 0, 0 }, value = 0;
    if (force && !no_data(rng)) {
        const vxa_label_index *ix;
        if ((st = labels_of("fg_crop", rng, &ix, err, errlen)) != VXA_OK) return st;
        int ne = 0;
        for (int c = 0; c < ix->nclasses; c++) ne += eligible(val, ix->value[c]);
        if (ne > 0) {
            for (int c = 0, left = (int)vxa_draw_int(rng, 0, ne - 1); c < ix->nclasses; c++)
                if (eligible(val, ix->value[c]) && left-- == 0) {
                    pick = c;
                    break;
                }
            const uint64_t skip = (uint64_t)vxa_draw_int(rng, 0, (int64_t)ix->count[pick] - 1);
            if ((st = rng->data->locate(rng->data->user, pick, skip, voxel, err, errlen)) != VXA_OK) return st;
            value = ix->value[pick];
        }
    }
    if (pick >= 0) {
        int64_t o[3];
        to_op_grid(rng, voxel, o);
        for (int a = 0; a < 3; a++) q[a] = o[a] - m[a] / 2 > lbs[a] ? o[a] - m[a] / 2 : lbs[a];
        snprintf(note, notelen, "\"fg\":true,\"class\":%lld,\"voxel\":[%lld,%lld,%lld],\"start\":[%lld,%lld,%lld]",
                 (long long)value, (long long)voxel[0], (long long)voxel[1], (long long)voxel[2], (long long)q[0],
                 (long long)q[1], (long long)q[2]);
    } else {
        for (int a = 0; a < 3; a++) q[a] = vxa_draw_int(rng, lbs[a], ubs[a]);
        snprintf(note, notelen, "\"fg\":%s,\"class\":null,\"start\":[%lld,%lld,%lld]", force ? "true" : "false",
                 (long long)q[0], (long long)q[1], (long long)q[2]);
    }
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

/* ---- balanced_crop and label_crop: MONAI's rules ---------------------------------------------------------------
 * A centre voxel c is drawn (below), then moved as MONAI's correct_crop_centers does: the start c - floor(m/2) is
 * clamped into 0 .. n - m, so the patch lies inside the volume. Where m > n MONAI refuses (allow_smaller=False) or
 * shrinks the patch; here the patch keeps its size and is centred, q = floor((n - m)/2), padded as center_crop. */
static void monai_start(const vxa_draw_rng *rng, const vxa_grid *in, const int64_t m[3], const int64_t voxel[3],
                        int64_t q[3])
{
    int64_t o[3];
    to_op_grid(rng, voxel, o);
    for (int a = 0; a < 3; a++) {
        if (m[a] > in->dim[a]) {
            q[a] = vxa_floor_half(in->dim[a] - m[a]);
            continue;
        }
        const int64_t s = o[a] - m[a] / 2;
        q[a] = s < 0 ? 0 : s > in->dim[a] - m[a] ? in->dim[a] - m[a] : s;
    }
}

/* The voxel after `skip` others among classes cls[0..n) taken in that order (a uniform voxel of their union). */
static vxa_status locate_among(const vxa_draw_rng *rng, const vxa_label_index *ix, const int *cls, int n,
                               uint64_t skip, int64_t voxel[3], int64_t *value, char *err, size_t errlen)
{
    for (int q = 0; q < n; q++) {
        if (skip < ix->count[cls[q]]) {
            *value = ix->value[cls[q]];
            return rng->data->locate(rng->data->user, cls[q], skip, voxel, err, errlen);
        }
        skip -= ix->count[cls[q]];
    }
    return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "voxel %llu beyond the classes' counts",
                        (unsigned long long)skip);
}

/* The map of a class-driven crop where there is no data (no_data): the box of size m at the grid's start,
 * centred along the axes where it is the larger (padding), as the shape of every draw. */
static vxa_status shape_only_map(const vxa_grid *in, const int64_t m[3], int64_t out_dim[3], double A[3][3],
                                 double b[3])
{
    int64_t q[3];
    for (int a = 0; a < 3; a++) q[a] = m[a] > in->dim[a] ? vxa_floor_half(in->dim[a] - m[a]) : 0;
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

/* MONAI RandCropByPosNegLabel: with probability pos/(pos+neg) a voxel drawn uniformly among the foreground (label
 * != 0, MONAI's map_binary_to_indices), else among the background (label 0); where one of the two is empty, the
 * other (MONAI sets pos_ratio to 0 or 1). */
static vxa_status balanced_crop_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in,
                                    int64_t out_dim[3], double A[3][3], double b[3], char *note, size_t notelen,
                                    char *err, size_t errlen)
{
    int64_t m[3], q[3];
    vxa_status st = vxa_crop_sizes("balanced_crop", val, m, err, errlen);
    if (st != VXA_OK) return st;
    const double pos = val->v[1][0], neg = val->v[2][0];
    if (!(pos + neg > 0))
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "balanced_crop: pos + neg must be > 0");
    const bool want_fg = vxa_draw_uniform(rng) < pos / (pos + neg);
    if (no_data(rng)) return shape_only_map(in, m, out_dim, A, b);
    const vxa_label_index *ix;
    if ((st = labels_of("balanced_crop", rng, &ix, err, errlen)) != VXA_OK) return st;
    int bg = -1;
    uint64_t nf = 0, nb = 0;
    for (int c = 0; c < ix->nclasses; c++) {
        if (ix->value[c] == 0) {
            bg = c;
            nb = ix->count[c];
        } else {
            nf += ix->count[c];
        }
    }
    const bool use_fg = nf == 0 ? false : nb == 0 ? true : want_fg;
    int64_t voxel[3], value = 0;
    if (use_fg) {
        /* the foreground classes in ascending order; the voxel uniform over their union */
        const uint64_t skip = (uint64_t)vxa_draw_int(rng, 0, (int64_t)nf - 1);
        uint64_t left = skip;
        int c = 0;
        for (; c < ix->nclasses; c++) {
            if (ix->value[c] == 0) continue;
            if (left < ix->count[c]) break;
            left -= ix->count[c];
        }
        value = ix->value[c];
        if ((st = rng->data->locate(rng->data->user, c, left, voxel, err, errlen)) != VXA_OK) return st;
    } else {
        const uint64_t skip = (uint64_t)vxa_draw_int(rng, 0, (int64_t)nb - 1);
        if ((st = rng->data->locate(rng->data->user, bg, skip, voxel, err, errlen)) != VXA_OK) return st;
    }
    monai_start(rng, in, m, voxel, q);
    snprintf(note, notelen, "\"fg\":%s,\"class\":%lld,\"voxel\":[%lld,%lld,%lld],\"start\":[%lld,%lld,%lld]",
             use_fg ? "true" : "false", (long long)value, (long long)voxel[0], (long long)voxel[1],
             (long long)voxel[2], (long long)q[0], (long long)q[1], (long long)q[2]);
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

/* MONAI RandCropByLabelClasses: a class drawn with probability ratios[c] / sum over the classes present (a class
 * with no voxel gets ratio 0, as MONAI does), then a voxel uniformly among its voxels. ratios[i] is the weight of
 * label value i; without ratios every value present weighs 1 (MONAI's default, background included). */
static vxa_status label_crop_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in,
                                 int64_t out_dim[3], double A[3][3], double b[3], char *note, size_t notelen,
                                 char *err, size_t errlen)
{
    int64_t m[3], q[3];
    vxa_status st = vxa_crop_sizes("label_crop", val, m, err, errlen);
    if (st != VXA_OK) return st;
    const double u = vxa_draw_uniform(rng);
    if (no_data(rng)) return shape_only_map(in, m, out_dim, A, b);
    const vxa_label_index *ix;
    if ((st = labels_of("label_crop", rng, &ix, err, errlen)) != VXA_OK) return st;
    double total = 0.0;
    for (int c = 0; c < ix->nclasses; c++) {
        const int64_t v = ix->value[c];
        total += val->nlist ? (v >= 0 && v < val->nlist ? val->list[v] : 0.0) : 1.0;
    }
    if (!(total > 0))
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "label_crop: no label value with a ratio > 0 is "
                            "present in the label map (ratios are for the values 0 .. %d)", val->nlist - 1);
    double acc = 0.0, target = u * total;
    int pick = -1;
    for (int c = 0; c < ix->nclasses; c++) {
        const int64_t v = ix->value[c];
        const double w = val->nlist ? (v >= 0 && v < val->nlist ? val->list[v] : 0.0) : 1.0;
        if (w <= 0) continue;
        pick = c;   /* the last class of weight > 0 takes what rounding leaves */
        acc += w;
        if (target < acc) break;
    }
    const uint64_t skip = (uint64_t)vxa_draw_int(rng, 0, (int64_t)ix->count[pick] - 1);
    int64_t voxel[3], value = ix->value[pick];
    if ((st = locate_among(rng, ix, &pick, 1, skip, voxel, &value, err, errlen)) != VXA_OK) return st;
    monai_start(rng, in, m, voxel, q);
    snprintf(note, notelen, "\"class\":%lld,\"voxel\":[%lld,%lld,%lld],\"start\":[%lld,%lld,%lld]", (long long)value,
             (long long)voxel[0], (long long)voxel[1], (long long)voxel[2], (long long)q[0], (long long)q[1],
             (long long)q[2]);
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

/* ---- crop_foreground: MONAI CropForeground's box ----------------------------------------------------------------
 * The box of the voxels where some channel of the source is > threshold (MONAI's select_fn = x > threshold over
 * the channels, `.any(0)`), widened by margin on each side: [min - margin, max + margin + 1); allow_smaller=1
 * clamps it to the volume (MONAI 1.4's default), 0 keeps it and pads (MONAI 1.5's). No voxel over the threshold:
 * the whole volume (MONAI would return an empty box). */
enum { CF_MARGIN, CF_SOURCE, CF_THRESHOLD, CF_ALLOW_SMALLER };

static vxa_status crop_foreground_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in,
                                      int64_t out_dim[3], double A[3][3], double b[3], char *note, size_t notelen,
                                      char *err, size_t errlen)
{
    const vxa_op_data *d = rng->data;
    const int source = (int)val->v[CF_SOURCE][0];
    int64_t box[6];
    if (!d || d->shape_only) {
        for (int a = 0; a < 3; a++) {
            const int64_t c = (in->dim[a] - 1) / 2;
            box[a] = d && d->probe_small ? c : 0;
            box[3 + a] = d && d->probe_small ? c : in->dim[a] - 1;
        }
    } else {
        if (source == 1 && !d->has_label)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "crop_foreground(source=label) needs a label "
                                "map (--label)");
        vxa_status st = d->box(d->user, source, val->v[CF_THRESHOLD][0], box, err, errlen);
        if (st != VXA_OK) return st;
    }
    const bool empty = box[3] < 0;
    int64_t m[3], q[3];
    for (int a = 0; a < 3; a++) {
        if (empty) {
            q[a] = 0;
            m[a] = in->dim[a];
            continue;
        }
        const int64_t margin = ival(val->v[CF_MARGIN][a]);
        int64_t lo = box[a] - margin, hi = box[3 + a] + margin + 1;
        if (val->v[CF_ALLOW_SMALLER][0] != 0) {
            if (lo < 0) lo = 0;
            if (hi > in->dim[a]) hi = in->dim[a];
        }
        q[a] = lo;
        m[a] = hi - lo;
    }
    if (!(d && d->shape_only))
        snprintf(note, notelen, "\"box\":[%lld,%lld,%lld,%lld,%lld,%lld],\"empty\":%s", (long long)q[0],
                 (long long)q[1], (long long)q[2], (long long)(q[0] + m[0]), (long long)(q[1] + m[1]),
                 (long long)(q[2] + m[2]), empty ? "true" : "false");
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

/* ---- the table ------------------------------------------------------------------------------------------------- */
#define FIXED_INT (VXA_P_INT | VXA_P_FIXED)
#define SIZE_PARAM { "size", 3, FIXED_INT | VXA_P_REQUIRED, 1, BIG, { 1, 1, 1 }, "patch size m per axis", NULL }

static const char *const cf_sources[] = { "image", "label", NULL };

static const vxa_param_desc fg_crop_params[] = {
    SIZE_PARAM,
    { "p_fg", 1, VXA_P_FIXED, 0, 1, { 0.33, 0, 0 }, "probability that the patch is centred on a class voxel "
      "(nnU-Net's oversample_foreground_percent, default 0.33)", NULL },
    { "classes", 1, VXA_P_FIXED | VXA_P_INT | VXA_P_LONG, -2147483648.0, 4294967295.0, { 0, 0, 0 },
      "the label values eligible (default: every non-zero value present)", NULL },
};
static const vxa_param_desc balanced_crop_params[] = {
    SIZE_PARAM,
    { "pos", 1, VXA_P_FIXED, 0, BIG, { 1, 0, 0 }, "weight of a foreground centre (label != 0)", NULL },
    { "neg", 1, VXA_P_FIXED, 0, BIG, { 1, 0, 0 }, "weight of a background centre (label 0)", NULL },
};
static const vxa_param_desc label_crop_params[] = {
    SIZE_PARAM,
    { "ratios", 1, VXA_P_FIXED | VXA_P_LONG, 0, BIG, { 1, 0, 0 },
      "weight of label value 0, 1, 2, ... (default: 1 for every value present)", NULL },
};
static const vxa_param_desc crop_foreground_params[] = {
    [CF_MARGIN] = { "margin", 3, FIXED_INT, 0, BIG, { 0, 0, 0 }, "voxels added on each side of the box", NULL },
    [CF_SOURCE] = { "source", 1, VXA_P_FIXED, 0, 1, { 0, 0, 0 }, "what the box is of: image (every channel) or "
                    "label", cf_sources },
    [CF_THRESHOLD] = { "threshold", 1, VXA_P_FIXED, -1e30, 1e30, { 0, 0, 0 }, "foreground: value > threshold",
                       NULL },
    [CF_ALLOW_SMALLER] = { "allow_smaller", 1, FIXED_INT, 0, 1, { 1, 0, 0 }, "1: the box stops at the volume's "
                           "edges; 0: it keeps its margin and pads", NULL },
};

#define PARAMS(x) .params = x, .nparams = (int)(sizeof x / sizeof x[0])

const vxa_op_desc vxa_sample_ops[] = {
    { .name = "fg_crop", .kind = VXA_OPK_SPATIAL, PARAMS(fg_crop_params), .spatial = fg_crop_map,
      .needs = VXA_OP_LABEL,
      .doc = "nnU-Net's patch: with probability p_fg centred on a uniform voxel of a uniform class present (start "
             "max(lbs, v - m//2)), else uniform; pads where it leaves the volume; noted as \"fg\", \"class\", "
             "\"voxel\", \"start\"",
      .scipy = "nnUNetDataLoader.get_bbox(force_fg=u < p_fg) then x[q0:q0+m0, ...] (padded)" },
    { .name = "balanced_crop", .kind = VXA_OPK_SPATIAL, PARAMS(balanced_crop_params), .spatial = balanced_crop_map,
      .needs = VXA_OP_LABEL,
      .doc = "MONAI's pos/neg patch: centre a uniform foreground voxel with probability pos/(pos+neg), else a "
             "background one; start clamped into 0..n-m; noted as \"fg\", \"voxel\", \"start\"",
      .scipy = "monai RandCropByPosNegLabel(spatial_size=m, pos, neg, num_samples=1)" },
    { .name = "label_crop", .kind = VXA_OPK_SPATIAL, PARAMS(label_crop_params), .spatial = label_crop_map,
      .needs = VXA_OP_LABEL,
      .doc = "MONAI's class-ratio patch: class i with weight ratios[i] among those present, a uniform voxel of it "
             "as centre; start clamped into 0..n-m; noted as \"class\", \"voxel\", \"start\"",
      .scipy = "monai RandCropByLabelClasses(spatial_size=m, ratios, num_classes, num_samples=1)" },
    { .name = "crop_foreground", .kind = VXA_OPK_SPATIAL, PARAMS(crop_foreground_params),
      .spatial = crop_foreground_map, .needs = VXA_OP_FIRST,
      .doc = "crop to the box of the voxels > threshold (image: any channel; or the label map) plus margin; must "
             "come first; noted as \"box\":[lo0,lo1,lo2,hi0,hi1,hi2]",
      .scipy = "monai CropForeground(select_fn=lambda x: x > threshold, margin, allow_smaller)" },
    { .name = NULL },
};
const int vxa_sample_nops = (int)(sizeof vxa_sample_ops / sizeof vxa_sample_ops[0]) - 1;
