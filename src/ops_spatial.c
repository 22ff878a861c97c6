/* SPDX-License-Identifier: MIT */
/* The spatial ops of the op table: each gives the pull map p = A·o + b from its output grid to its input grid
 * (voxel indices, SPEC.md "Spatial ops") and its output dims. The pipeline composes consecutive ops with
 * vxa_xform_compose and resamples once; order, mode and cval belong to the pipeline's sampling(...) pseudo-op.
 * Centre of an axis of n voxels: c = (n - 1)/2.
 * Grid ops (crop, pad, resize, scale, resample, reorient) make a new grid; augmentation ops (`augment`: flip,
 * rotate, rotate3d, zoom, shift, affine) move the content on their grid, in millimetres (SPEC "Geometry"): a map
 * given in the physical frame x = S·(p - c) becomes A_vox = S⁻¹·A_mm·S (vxa_xform_physical) about the centre. */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define BIG 1e6
#define UNIT_MM 1   /* shift's and affine's unit=mm (the index of "mm" in units[]) */

static double centre(int64_t n) { return 0.5 * (double)(n - 1); }

static void identity(const vxa_grid *in, int64_t out_dim[3], double A[3][3], double b[3])
{
    vxa_xform_identity(A, b);
    for (int a = 0; a < 3; a++) out_dim[a] = in->dim[a];
}

/* Integer parameter values: the parser gives whole numbers for VXA_P_INT; round anyway. */
static int64_t ival(double x) { return (int64_t)llround(x); }

/* round(x) with ties to even, as Python's round() that ndimage.zoom uses for its output shape. */
static int64_t round_even(double x)
{
    double r = floor(x + 0.5);
    if (r - x == 0.5 && fmod(r, 2.0) != 0.0) r -= 1.0;  /* an exact tie rounded up to an odd number */
    return (int64_t)r;
}

/* cos and sin of an angle in degrees, exact at multiples of 90 (as scipy.special.cosdg/sindg), so that quarter
 * turns are exact permutations. */
static void cos_sin_deg(double deg, double *c, double *s)
{
    double r = fmod(deg, 360.0);
    if (r < 0) r += 360.0;
    if (r == 0.0) { *c = 1; *s = 0; }
    else if (r == 90.0) { *c = 0; *s = 1; }
    else if (r == 180.0) { *c = -1; *s = 0; }
    else if (r == 270.0) { *c = 0; *s = -1; }
    else {
        const double t = r * (3.14159265358979323846 / 180.0);
        *c = cos(t);
        *s = sin(t);
    }
}

/* Pull matrix of scipy.ndimage.rotate(x, deg, axes=(a, b), reshape=False) with a < b:
 * (p_a, p_b) - c = [[cos, sin], [-sin, cos]] · ((o_a, o_b) - c). */
static void rotation(double deg, int a, int b, double R[3][3])
{
    double c, s;
    cos_sin_deg(deg, &c, &s);
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) R[r][q] = r == q;
    R[a][a] = c; R[a][b] = s;
    R[b][a] = -s; R[b][b] = c;
}

/* b = c - A·c: the map A acts about the centre of a grid that keeps its shape. */
static void about_centre(const vxa_grid *in, double A[3][3], double b[3])
{
    for (int r = 0; r < 3; r++) {
        b[r] = centre(in->dim[r]);
        for (int q = 0; q < 3; q++) b[r] -= A[r][q] * centre(in->dim[q]);
    }
}

/* ---- flip ------------------------------------------------------------------------------------------------ */
static vxa_status flip_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                           double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    identity(in, out_dim, A, b);
    const int n = val->given[0] > 0 ? val->given[0] : 1;
    int flipped[3] = { 0, 0, 0 };
    for (int i = 0; i < n && i < 3; i++) {
        const int64_t ax = ival(val->v[0][i]);
        if (ax < 0 || ax > 2)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "flip: axes value %g is not an axis (0, 1 or 2)",
                                val->v[0][i]);
        /* one draw per listed axis, always, so the stream does not depend on p_axis */
        if (vxa_draw_uniform(rng) < val->v[1][0]) flipped[ax] = 1;
    }
    for (int a = 0; a < 3; a++)
        if (flipped[a]) {
            A[a][a] = -1.0;
            b[a] = (double)(in->dim[a] - 1);
        }
    snprintf(note, notelen, "\"flipped\":[%d,%d,%d]", flipped[0], flipped[1], flipped[2]);
    return VXA_OK;
}

/* ---- rotate, rotate3d ------------------------------------------------------------------------------------- */
static const char *rotate_check(const double lo[][3], const double hi[][3])
{
    (void)hi; /* plane is fixed: lo == hi */
    return lo[1][0] == lo[1][1] ? "plane must name two different axes among 0, 1, 2" : NULL;
}

static vxa_status rotate_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                             double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    identity(in, out_dim, A, b);
    int64_t a = ival(val->v[1][0]), c = ival(val->v[1][1]);
    if (a < 0 || a > 2 || c < 0 || c > 2 || a == c)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "rotate: plane=%g,%g must name two different "
                            "axes among 0, 1, 2", val->v[1][0], val->v[1][1]);
    if (a > c) { const int64_t t = a; a = c; c = t; }  /* as SciPy: the plane's axes are sorted */
    double R[3][3];
    rotation(val->v[0][0], (int)a, (int)c, R);  /* in millimetres: the anatomy is not sheared */
    vxa_xform_physical(in, R, A);
    about_centre(in, A, b);
    return VXA_OK;
}

static vxa_status rotate3d_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in,
                               int64_t out_dim[3], double A[3][3], double b[3], char *note, size_t notelen,
                               char *err, size_t errlen)
{
    identity(in, out_dim, A, b);
    double M[3][3], R[3][3], zero[3] = { 0, 0, 0 }, z2[3];
    rotation(val->v[0][0], 1, 2, M);  /* about axis 0 first: rotate(ax, plane=1,2) */
    rotation(val->v[0][1], 0, 2, R);  /* then about axis 1: rotate(ay, plane=0,2) */
    vxa_xform_compose(M, zero, R, zero, M, z2);
    rotation(val->v[0][2], 0, 1, R);  /* then about axis 2: rotate(az, plane=0,1) */
    vxa_xform_compose(M, zero, R, zero, M, z2);
    vxa_xform_physical(in, M, A);     /* in millimetres */
    about_centre(in, A, b);
    return VXA_OK;
}

/* ---- zoom, shift, affine ------------------------------------------------------------------------------------ */
static vxa_status zoom_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                           double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    identity(in, out_dim, A, b);
    for (int a = 0; a < 3; a++) {
        const double z = val->v[0][a];
        if (!(z > 0) || !isfinite(z))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "zoom: z = %g along axis %d, expected > 0", z, a);
        A[a][a] = 1.0 / z;  /* p = (o - c)/z + c */
        b[a] = centre(in->dim[a]) - centre(in->dim[a]) / z;
    }
    return VXA_OK;
}

static vxa_status shift_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                            double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    identity(in, out_dim, A, b);
    const bool mm = val->v[1][0] == UNIT_MM;
    for (int a = 0; a < 3; a++)
        if (mm && !(in->spacing[a] > 0 && isfinite(in->spacing[a])))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "shift: unit=mm needs a positive spacing; "
                                "the input's along axis %d is %g mm", a, in->spacing[a]);
    for (int a = 0; a < 3; a++) b[a] = -(mm ? val->v[0][a] / in->spacing[a] : val->v[0][a]);  /* p = o - t */
    return VXA_OK;
}

static vxa_status affine_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                             double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    identity(in, out_dim, A, b);
    if (val->v[4][0] != UNIT_MM) {  /* p = A·o + offset, voxel indices (SciPy's affine_transform) */
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 3; c++) A[r][c] = val->v[r][c];
            b[r] = val->v[3][r];
        }
        return VXA_OK;
    }
    /* unit=mm: x_in = A·x_out + offset in the physical frame x = S·(p - c), i.e.
     * p = S⁻¹·A·S·(o - c) + c + S⁻¹·offset */
    double M[3][3];
    for (int r = 0; r < 3; r++) {
        if (!(in->spacing[r] > 0 && isfinite(in->spacing[r])))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "affine: unit=mm needs a positive spacing; "
                                "the input's along axis %d is %g mm", r, in->spacing[r]);
        for (int c = 0; c < 3; c++) M[r][c] = val->v[r][c];
    }
    vxa_xform_physical(in, M, A);
    about_centre(in, A, b);
    for (int r = 0; r < 3; r++) b[r] += val->v[3][r] / in->spacing[r];
    return VXA_OK;
}

/* ---- reorient: a permutation and flips of the axes ---------------------------------------------------------- */
/* The 48 orientation codes (nibabel's axis codes: the letter a voxel axis points towards in RAS+ world), the
 * index of each being reorient's value. */
static const char *const orientation_codes[] = {
    "RAS", "RAI", "RPS", "RPI", "LAS", "LAI", "LPS", "LPI", "RSA", "RSP", "RIA", "RIP", "LSA", "LSP", "LIA", "LIP",
    "ARS", "ARI", "ALS", "ALI", "PRS", "PRI", "PLS", "PLI", "ASR", "ASL", "AIR", "AIL", "PSR", "PSL", "PIR", "PIL",
    "SRA", "SRP", "SLA", "SLP", "IRA", "IRP", "ILA", "ILP", "SAR", "SAL", "SPR", "SPL", "IAR", "IAL", "IPR", "IPL", NULL,
};

/* Output axis k is the input axis a that points along the code's world axis; flipped where it points the other
 * way: p_a = o_k or n_a - 1 - o_k (nibabel's ornt_transform and apply_orientation; an exact copy). */
static vxa_status reorient_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                               double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    static const char pos[] = "RAS", neg[] = "LPI";
    const char *code = orientation_codes[ival(val->v[0][0])];
    int world[3], sign[3];
    char from[4];
    if (vxa_affine_orientation(in->affine, world, sign) != 0)
        return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "reorient(%s): the input's affine is singular or "
                            "not finite: it has no orientation", code);
    vxa_affine_axcodes(in->affine, from);
    for (int r = 0; r < 3; r++) {
        b[r] = 0.0;
        for (int c = 0; c < 3; c++) A[r][c] = 0.0;
    }
    for (int k = 0; k < 3; k++) {
        const int w = (int)(strchr(pos, code[k]) ? strchr(pos, code[k]) - pos : strchr(neg, code[k]) - neg);
        const int s = strchr(pos, code[k]) ? 1 : -1;
        int a = 0;
        while (world[a] != w) a++;  /* the three voxel axes take the three world axes */
        out_dim[k] = in->dim[a];
        A[a][k] = sign[a] == s ? 1.0 : -1.0;
        b[a] = sign[a] == s ? 0.0 : (double)(in->dim[a] - 1);
    }
    snprintf(note, notelen, "\"from\":\"%s\"", from);
    return VXA_OK;
}

/* ---- resize, scale, resample: new shapes ----------------------------------------------------------------- */
/* p = (o + 0.5)·n/n' - 0.5 per axis: the edges of the fields of view coincide (ndimage.zoom, grid_mode=True). */
static void resize_to(const vxa_grid *in, const int64_t n2[3], int64_t out_dim[3], double A[3][3], double b[3])
{
    vxa_xform_identity(A, b);
    for (int a = 0; a < 3; a++) {
        const double r = (double)in->dim[a] / (double)n2[a];
        out_dim[a] = n2[a];
        A[a][a] = r;
        b[a] = 0.5 * r - 0.5;
    }
}

static vxa_status resize_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                             double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    int64_t n2[3];
    for (int a = 0; a < 3; a++)
        if ((n2[a] = ival(val->v[0][a])) < 1)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "resize: shape %g along axis %d, expected >= 1",
                                val->v[0][a], a);
    resize_to(in, n2, out_dim, A, b);
    return VXA_OK;
}

static vxa_status scale_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                            double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    int64_t n2[3];
    for (int a = 0; a < 3; a++) {
        const double f = val->v[0][a];
        if (!(f > 0) || !isfinite(f) || (n2[a] = round_even((double)in->dim[a] * f)) < 1)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "scale: f = %g along axis %d gives no voxels "
                                "from %lld (round(n*f) must be >= 1)", f, a, (long long)in->dim[a]);
    }
    resize_to(in, n2, out_dim, A, b);
    return VXA_OK;
}

static vxa_status resample_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                               double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    vxa_xform_identity(A, b);
    for (int a = 0; a < 3; a++) {
        const double s2 = val->v[0][a], s = in->spacing[a];
        if (!(s2 > 0) || !isfinite(s2))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "resample: spacing %g mm along axis %d, "
                                "expected > 0", s2, a);
        if (!(s > 0) || !isfinite(s))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "resample: the input's spacing along axis %d "
                                "is %g mm; it needs a positive spacing", a, s);
        const int64_t n2 = round_even((double)in->dim[a] * s / s2);
        if (n2 < 1)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "resample: spacing %g mm along axis %d leaves "
                                "no voxels of %lld x %g mm", s2, a, (long long)in->dim[a], s);
        out_dim[a] = n2;  /* p = (o - (n'-1)/2)·s'/s + (n-1)/2: the centres coincide */
        A[a][a] = s2 / s;
        b[a] = centre(in->dim[a]) - centre(n2) * s2 / s;
    }
    return VXA_OK;
}

/* ---- crop, center_crop, random_crop, pad: exact index maps ------------------------------------------------- */
vxa_status vxa_crop_sizes(const char *op, const vxa_op_values *val, int64_t m[3], char *err, size_t errlen)
{
    for (int a = 0; a < 3; a++)
        if ((m[a] = ival(val->v[0][a])) < 1)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "%s: size %g along axis %d, expected >= 1", op,
                                val->v[0][a], a);
    return VXA_OK;
}

void vxa_crop_map(const int64_t m[3], const int64_t q[3], int64_t out_dim[3], double A[3][3], double b[3])
{
    vxa_xform_identity(A, b);
    for (int a = 0; a < 3; a++) {
        out_dim[a] = m[a];
        b[a] = (double)q[a];  /* p = o + q */
    }
}

static vxa_status crop_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                           double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    int64_t m[3], q[3];
    vxa_status st = vxa_crop_sizes("crop", val, m, err, errlen);
    if (st != VXA_OK) return st;
    for (int a = 0; a < 3; a++) {
        if (m[a] > in->dim[a])
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "crop: size %lld > input %lld along axis %d "
                                "(center_crop pads)", (long long)m[a], (long long)in->dim[a], a);
        q[a] = val->given[1] > 0 ? ival(val->v[1][a]) : vxa_floor_half(in->dim[a] - m[a]);
        if (q[a] < 0 || q[a] > in->dim[a] - m[a])
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "crop: start %lld along axis %d is outside "
                                "0..%lld (input %lld, size %lld)", (long long)q[a], a,
                                (long long)(in->dim[a] - m[a]), (long long)in->dim[a], (long long)m[a]);
    }
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

static vxa_status center_crop_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in,
                                  int64_t out_dim[3], double A[3][3], double b[3], char *note, size_t notelen,
                                  char *err, size_t errlen)
{
    int64_t m[3], q[3];
    vxa_status st = vxa_crop_sizes("center_crop", val, m, err, errlen);
    if (st != VXA_OK) return st;
    for (int a = 0; a < 3; a++) q[a] = vxa_floor_half(in->dim[a] - m[a]);  /* negative: pads, filled by the mode */
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

static vxa_status random_crop_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in,
                                  int64_t out_dim[3], double A[3][3], double b[3], char *note, size_t notelen,
                                  char *err, size_t errlen)
{
    int64_t m[3], q[3];
    vxa_status st = vxa_crop_sizes("random_crop", val, m, err, errlen);
    if (st != VXA_OK) return st;
    for (int a = 0; a < 3; a++)
        q[a] = m[a] <= in->dim[a] ? vxa_draw_int(rng, 0, in->dim[a] - m[a]) : vxa_floor_half(in->dim[a] - m[a]);
    vxa_crop_map(m, q, out_dim, A, b);
    snprintf(note, notelen, "\"start\":[%lld,%lld,%lld]", (long long)q[0], (long long)q[1], (long long)q[2]);
    return VXA_OK;
}

static vxa_status pad_map(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                          double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen)
{
    int64_t m[3], q[3];
    for (int a = 0; a < 3; a++) {
        const int64_t before = ival(val->v[0][a]);
        const int64_t after = val->given[1] > 0 ? ival(val->v[1][a]) : before;  /* after defaults to before */
        if (before < 0 || after < 0)
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "pad: widths %lld, %lld along axis %d, "
                                "expected >= 0", (long long)before, (long long)after, a);
        m[a] = in->dim[a] + before + after;
        q[a] = -before;
    }
    vxa_crop_map(m, q, out_dim, A, b);
    return VXA_OK;
}

/* ---- the table ----------------------------------------------------------------------------------------------- */
#define FIXED_INT (VXA_P_INT | VXA_P_FIXED)

static const vxa_param_desc flip_params[] = {
    { "axes", 3, FIXED_INT | VXA_P_LIST, 0, 2, { 0, 0, 0 }, "the axes that may be flipped, 1 to 3 of 0, 1, 2 (default 0)", NULL },
    { "p_axis", 1, VXA_P_FIXED, 0, 1, { 1, 0, 0 }, "probability that each listed axis is flipped (default 1)", NULL },
};
static const vxa_param_desc rotate_params[] = {
    { "angle", 1, VXA_P_REQUIRED, -360, 360, { 0, 0, 0 }, "degrees, with the sign convention of scipy.ndimage.rotate", NULL },
    { "plane", 2, FIXED_INT, 0, 2, { 0, 1, 0 }, "the two axes of the plane (default 0,1; sorted, as SciPy)", NULL },
};
static const vxa_param_desc rotate3d_params[] = {
    { "angles", 3, VXA_P_REQUIRED, -360, 360, { 0, 0, 0 }, "degrees about axes 0, 1, 2, applied in that order",
      NULL },
};
static const vxa_param_desc zoom_params[] = {
    { "z", 3, VXA_P_REQUIRED, 0.01, 100, { 1, 1, 1 }, "zoom factor per axis (> 1 enlarges), 1 or 3 values", NULL },
};
static const char *const units[] = { "vox", "mm", NULL };
static const vxa_param_desc shift_params[] = {
    { "t", 3, VXA_P_REQUIRED, -BIG, BIG, { 0, 0, 0 }, "shift per axis, 1 or 3 values, in voxels (or mm: unit=mm)",
      NULL },
    { "unit", 1, VXA_P_FIXED, 0, 1, { 0 }, "vox (default, as ndimage.shift) or mm", units },
};
static const vxa_param_desc affine_params[] = {
    { "row0", 3, 0, -BIG, BIG, { 1, 0, 0 }, "row 0 of the pull matrix A (p = A·o + offset)", NULL },
    { "row1", 3, 0, -BIG, BIG, { 0, 1, 0 }, "row 1 of A", NULL },
    { "row2", 3, 0, -BIG, BIG, { 0, 0, 1 }, "row 2 of A", NULL },
    { "offset", 3, 0, -BIG, BIG, { 0, 0, 0 }, "offset, input voxels (mm with unit=mm)", NULL },
    { "unit", 1, VXA_P_FIXED, 0, 1, { 0 }, "vox: p = A·o + offset in voxel indices (default, as "
      "ndimage.affine_transform); mm: x_in = A·x_out + offset in the physical frame x = S·(p - c)", units },
};
static const vxa_param_desc reorient_params[] = {
    { "code", 1, VXA_P_FIXED, 0, 47, { 0 }, "the orientation wanted: the world direction of voxel axes 0, 1, 2 "
      "(R/L, A/P, S/I), any of the 48 codes", orientation_codes },
};
static const vxa_param_desc resize_params[] = {
    { "shape", 3, FIXED_INT | VXA_P_REQUIRED, 1, BIG, { 1, 1, 1 }, "output shape n', 1 or 3 values", NULL },
};
static const vxa_param_desc scale_params[] = {
    { "f", 3, VXA_P_FIXED | VXA_P_REQUIRED, 0.01, 100, { 1, 1, 1 },
      "scale factor per axis: n' = round(n*f), ties to even", NULL },
};
static const vxa_param_desc resample_params[] = {
    { "spacing", 3, VXA_P_FIXED | VXA_P_REQUIRED, 1e-3, 1e3, { 1, 1, 1 }, "output spacing s' in mm, 1 or 3 values",
      NULL },
};
static const vxa_param_desc crop_params[] = {
    { "size", 3, FIXED_INT | VXA_P_REQUIRED, 1, BIG, { 1, 1, 1 }, "output size m per axis (<= input)", NULL },
    { "start", 3, FIXED_INT | VXA_P_AUTO, 0, BIG, { 0, 0, 0 }, "first input voxel q per axis (default: centred)",
      NULL },
};
static const vxa_param_desc size_params[] = {
    { "size", 3, FIXED_INT | VXA_P_REQUIRED, 1, BIG, { 1, 1, 1 }, "output size m per axis", NULL },
};
static const vxa_param_desc pad_params[] = {
    { "before", 3, FIXED_INT, 0, BIG, { 0, 0, 0 }, "voxels added before the first voxel of each axis", NULL },
    { "after", 3, FIXED_INT, 0, BIG, { 0, 0, 0 }, "voxels added after the last (default: as before)", NULL },
};

#define PARAMS(x) .params = x, .nparams = (int)(sizeof x / sizeof x[0])

const vxa_op_desc vxa_spatial_ops[] = {
    { .name = "flip", .kind = VXA_OPK_SPATIAL, PARAMS(flip_params), .spatial = flip_map, .augment = true,
      .doc = "mirror each listed axis with probability p_axis: p_a = n_a - 1 - o_a, an exact copy; "
             "draws are noted as \"flipped\":[f0,f1,f2]",
      .scipy = "np.flip(x, a) for each flipped axis a" },
    { .name = "rotate", .kind = VXA_OPK_SPATIAL, PARAMS(rotate_params), .spatial = rotate_map, .check = rotate_check,
      .augment = true,
      .doc = "rotate by angle degrees in the plane of two axes about the centre c = (n-1)/2, same shape, in mm "
             "(A = S^-1·R·S, S = diag(spacing))",
      .scipy = "ndimage.rotate(x, angle, axes=(a, b), reshape=False) (isotropic); affine_transform(x, S^-1 R S, "
               "offset=c - S^-1 R S c)" },
    { .name = "rotate3d", .kind = VXA_OPK_SPATIAL, PARAMS(rotate3d_params), .spatial = rotate3d_map,
      .augment = true,
      .doc = "rotate about axes 0, 1, 2 in turn by angles ax, ay, az degrees, about the centre, same shape, in mm: "
             "rotate(ax, plane=1,2) rotate(ay, plane=0,2) rotate(az, plane=0,1) resampled once",
      .scipy = "affine_transform(x, A, offset=c - A@c), A = S^-1@Rx@Ry@Rz@S, R* the matrices of ndimage.rotate" },
    { .name = "zoom", .kind = VXA_OPK_SPATIAL, PARAMS(zoom_params), .spatial = zoom_map, .augment = true,
      .doc = "scale the content by z about the centre (z > 1 enlarges), same shape: p = (o - c)/z + c",
      .scipy = "ndimage.affine_transform(x, np.diag(1/z), offset=c - c/z)" },
    { .name = "shift", .kind = VXA_OPK_SPATIAL, PARAMS(shift_params), .spatial = shift_map, .augment = true,
      .doc = "move the content by t voxels (unit=mm: t mm, t/spacing voxels): p = o - t",
      .scipy = "ndimage.shift(x, t) (unit=mm: ndimage.shift(x, t / spacing))" },
    { .name = "affine", .kind = VXA_OPK_SPATIAL, PARAMS(affine_params), .spatial = affine_map, .augment = true,
      .doc = "general pull map, same shape, A given by rows: p = A·o + offset in voxel indices, or with unit=mm "
             "x_in = A·x_out + offset, x = S·(p - c)",
      .scipy = "ndimage.affine_transform(x, A, offset=offset) (unit=mm: A' = S^-1 A S, offset c - A'c + offset/s)" },
    { .name = "resize", .kind = VXA_OPK_SPATIAL, PARAMS(resize_params), .spatial = resize_map,
      .doc = "resample to shape n' covering the same field of view: p = (o + 0.5)*n/n' - 0.5",
      .scipy = "ndimage.zoom(x, n'/n, grid_mode=True, mode='grid-constant')" },
    { .name = "scale", .kind = VXA_OPK_SPATIAL, PARAMS(scale_params), .spatial = scale_map,
      .doc = "resize to n' = round(n*f) (ties to even, as Python's round)",
      .scipy = "ndimage.zoom(x, f, grid_mode=True, mode='grid-constant')" },
    { .name = "resample", .kind = VXA_OPK_SPATIAL, PARAMS(resample_params), .spatial = resample_map,
      .doc = "resample to spacing s' mm: n' = round(n*s/s') (ties to even), the centres of the fields of view "
             "coincide: p = (o - (n'-1)/2)*s'/s + (n-1)/2",
      .scipy = "ndimage.affine_transform(x, np.diag(s'/s), offset=(n-1)/2 - (n'-1)/2*s'/s, output_shape=n')" },
    { .name = "crop", .kind = VXA_OPK_SPATIAL, PARAMS(crop_params), .spatial = crop_map,
      .doc = "the box of size m starting at q (default: centred, q = floor((n-m)/2)), an exact copy; "
             "q must lie in 0..n-m",
      .scipy = "x[q0:q0+m0, q1:q1+m1, q2:q2+m2]" },
    { .name = "center_crop", .kind = VXA_OPK_SPATIAL, PARAMS(size_params), .spatial = center_crop_map,
      .doc = "crop to size m about the centre, q = floor((n-m)/2); where m > n it pads, filled by the mode",
      .scipy = "x[q0:q0+m0, ...] (np.pad first where m > n)" },
    { .name = "random_crop", .kind = VXA_OPK_SPATIAL, PARAMS(size_params), .spatial = random_crop_map,
      .doc = "crop to size m at a start q drawn uniformly from 0..n-m (inclusive) per axis; where m > n it pads "
             "centred; noted as \"start\":[q0,q1,q2]",
      .scipy = "x[q0:q0+m0, q1:q1+m1, q2:q2+m2]" },
    { .name = "reorient", .kind = VXA_OPK_SPATIAL, PARAMS(reorient_params), .spatial = reorient_map,
      .doc = "permute and flip the axes to the orientation code (RAS, LPS, PIR, ...; default RAS), an exact copy, "
             "the anatomy unmoved in world space; the input's code is noted as \"from\"",
      .scipy = "nib.as_closest_canonical(img) (RAS); nibabel ornt_transform + apply_orientation; MONAI "
               "Orientation(axcodes)" },
    { .name = "pad", .kind = VXA_OPK_SPATIAL, PARAMS(pad_params), .spatial = pad_map,
      .doc = "add before[a] voxels before and after[a] after each axis (pad(w) pads w on every side), filled by "
             "the mode: p = o - before",
      .scipy = "np.pad(x, list(zip(before, after)), mode='constant'|'edge'|'symmetric')" },
    { .name = NULL },
};
const int vxa_spatial_nops = (int)(sizeof vxa_spatial_ops / sizeof vxa_spatial_ops[0]) - 1;
