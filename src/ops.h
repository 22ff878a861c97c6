/* SPDX-License-Identifier: MIT */
/* The op table: every op the spec parser, the pipeline, `voxaug --help` and the README know. Each family
 * defines its descriptors in its own file (src/ops_spatial.c, src/ops_elastic.c, src/ops_intensity.c);
 * src/ops.c joins them. An op's parameters are fixed values or [lo, hi] ranges, drawn once per sample. */
#ifndef VXA_OPS_H
#define VXA_OPS_H

#include "internal.h"
#include "sample.h"

#define VXA_OP_MAXPARAMS 8

enum {
    VXA_P_INT = 1,        /* integer values; a range draws uniformly over the integers lo..hi inclusive */
    VXA_P_FIXED = 2,      /* no ranges: the value shapes the output (crop size, resize shape) */
    VXA_P_REQUIRED = 4,   /* must be given */
    VXA_P_LIST = 8,       /* takes 1..count values, no broadcast (e.g. flip's axes); val->given says how many */
    VXA_P_AUTO = 16,      /* left out, it is computed from the input (crop's start: centred); def[] is unused */
    VXA_P_ABOVE_LO = 32,  /* lo is an open bound: every given value must be > lo (a sigma of 0 is no sigma) */
    VXA_P_LONG = 64,      /* a list of 1..VXA_OP_MAXLIST fixed values (classes, ratios), kept in the op's `list`
                           * (at most one such parameter per op); count is unused */
    VXA_P_PAIRS = 256,    /* any number of integer pairs FROM:TO (remap's), kept in the op's data as
                           * from0, to0, from1, to1, ...; its value slot unused */
    VXA_P_PATH = 128,     /* a file name instead of numbers (letters, digits and ._-/+~@%: only), read when the
                           * spec is parsed by the op's `load`; at most one per op, its value slot unused */
};

#define VXA_OP_MAXLIST 256

typedef struct vxa_param_desc {
    const char *name;
    int count;            /* values it takes: 1..3 (a 3-value param given 1 value broadcasts it) */
    int flags;            /* VXA_P_* */
    double lo, hi;        /* accepted bounds of every value */
    double def[3];        /* defaults when not given */
    const char *doc;
    const char *const *choices;  /* NULL, or names accepted instead of numbers (value = index), NULL-ended */
} vxa_param_desc;

/* SAMPLING: sets how the spatial passes that follow resample (its values are fixed, it draws nothing, its
 * row in the draw record carries no values); LABEL acts on the label map alone; the others act on the volume
 * (and spatial and elastic ops on the label map too). */
/* GROUP: one_of, some_of, shuffle: ops that pick which of the ops inside them run, per sample (src/plan.c). */
typedef enum { VXA_OPK_SAMPLING, VXA_OPK_SPATIAL, VXA_OPK_ELASTIC, VXA_OPK_INTENSITY, VXA_OPK_GROUP,
               VXA_OPK_LABEL } vxa_op_kind;
enum { VXA_GROUP_ONE_OF = 1, VXA_GROUP_SOME_OF, VXA_GROUP_SHUFFLE };
#define VXA_GROUP_MAX 64        /* ops directly inside one group */
#define VXA_GROUP_DEPTH 8       /* groups inside groups */

/* The parameters of sampling(order=, mode=, cval=, label_mode=, label_order=, label_rule=, geometry=), by position
 * in its descriptor. */
enum { VXA_SAMPLING_ORDER, VXA_SAMPLING_MODE, VXA_SAMPLING_CVAL, VXA_SAMPLING_LABEL_MODE, VXA_SAMPLING_LABEL_ORDER,
       VXA_SAMPLING_LABEL_RULE, VXA_SAMPLING_GEOMETRY, VXA_SAMPLING_NPARAMS };
/* sampling(geometry=...): what the spatial ops after it do to the output's affine (SPEC "Geometry"). CONTENT: an
 * augmentation op keeps its grid's affine (the anatomy moves in world space), a grid op writes its new grid's;
 * TRACK: every op's affine follows the voxels (the output overlays the input in world space). */
enum { VXA_GEOMETRY_CONTENT = 0, VXA_GEOMETRY_TRACK = 1 };

/* A grid: what a spatial op sees of its input and produces. affine: voxel -> world (mm). */
typedef struct vxa_grid {
    int64_t dim[3];
    double spacing[3];
    double affine[4][4];
} vxa_grid;

/* One op of one sample, after the draw: what its functions read. */
typedef struct vxa_op_values {
    double v[VXA_OP_MAXPARAMS][3];   /* drawn values, param-major; broadcast already applied */
    int given[VXA_OP_MAXPARAMS];     /* how many values the user gave for each param (0 = default) */
    uint64_t seed, sample;           /* Philox key and counter words for per-voxel noise */
    uint32_t op_index;               /* position in the pipeline: the Philox stream is op_index << 8 | lane */
    const double *list;              /* the VXA_P_LONG parameter's values (the pipeline's memory), or NULL */
    int nlist;
    const double *data;              /* what the op's `load` read from its VXA_P_PATH file (the pipeline owns it) */
    int ndata;
} vxa_op_values;

/* What data-dependent grid ops (src/ops_sample.c) read of the pipeline's input; the executor fills it
 * (src/pipeline.c: device reductions, src/sample.h), shape queries pass one with shape_only set. */
typedef struct vxa_op_data {
    bool shape_only;                 /* no data: draw as if uniform, box = probe_box (output shapes alone) */
    bool probe_small;                /* shape_only: boxes of one voxel at the centre instead of the whole grid */
    bool has_label;
    /* The label index of the input's label map (channel 0), made on first use. */
    vxa_status (*labels)(void *user, const vxa_label_index **ix, char *err, size_t errlen);
    /* The input voxel after `skip` others of class cls (an index into labels()'s classes). */
    vxa_status (*locate)(void *user, int cls, uint64_t skip, int64_t idx[3], char *err, size_t errlen);
    /* {min i, j, k, max i, j, k} of the input's voxels over threshold, of the image (source 0) or the label map
     * (source 1); max i = -1 when there is none. */
    vxa_status (*box)(void *user, int source, double threshold, int64_t box[6], char *err, size_t errlen);
    void *user;
} vxa_op_data;

/* Further random draws an op makes itself (crop start, flip choices), from Philox on the host. */
typedef struct vxa_draw_rng {
    uint64_t seed, sample;
    uint32_t stream, next;
    /* For data-dependent ops: the input's data (NULL: none), and where this op's input grid lies in the
     * pipeline input's: input index p = to_input_A·o + to_input_b (earlier spatial ops composed; an elastic
     * displacement is not followed). */
    const vxa_op_data *data;
    double to_input_A[3][3], to_input_b[3];
} vxa_draw_rng;
double vxa_draw_uniform(vxa_draw_rng *r);              /* [0, 1) with 53 bits */
int64_t vxa_draw_int(vxa_draw_rng *r, int64_t lo, int64_t hi);   /* uniform over lo..hi inclusive */

typedef struct vxa_op_desc {
    const char *name;
    vxa_op_kind kind;
    const vxa_param_desc *params;
    int nparams;
    const char *doc;                 /* one line for --help and the README */
    /* SPATIAL, ELASTIC: an augmentation op (SPEC "Geometry"): it moves the content and keeps its grid (same
     * shape, same affine unless sampling(geometry=track)), acting in millimetres about the grid's centre. false:
     * a grid op, whose output affine is the true affine of its new grid. */
    bool augment;
    const char *scipy;               /* the SciPy/NumPy equivalent, or "" */

    /* SPATIAL: the pull map of this op from its output grid to its input grid, p = A·o + b, and the output
     * dims. rng gives further draws (random crop start, flips); what it drew beyond val goes into note as JSON
     * members (e.g. "\"start\":[3,0,5]", no braces; note may be left empty). Writes a detail into err on
     * failure (VXA_ERR_INVALID_ARGUMENT, e.g. "crop(200,..): size 200 > input 181 along axis 0"). */
    vxa_status (*spatial)(const vxa_op_values *val, vxa_draw_rng *rng, const vxa_grid *in, int64_t out_dim[3],
                          double A[3][3], double b[3], char *note, size_t notelen, char *err, size_t errlen);

    /* ELASTIC: the displacement field (float32, 3 channels, voxels) defined on grid `grid`, the part of it that
     * a pass reads: the window of `win` from voxel `off` of that grid (the whole grid: off 0, win = grid->dim),
     * into a device volume of dims win that the callee allocates with vxa_dvol_alloc. The window's values are
     * those of the whole grid's field, bit for bit, however small the window. */
    vxa_status (*field)(vxa_context *ctx, const vxa_op_values *val, const vxa_grid *grid, const int64_t off[3],
                        const int64_t win[3], vxa_dvol *field);
    /* ELASTIC, optional: where the field is interpolated from coarse nodes (fast mode), those nodes instead, for
     * the resampling pass to interpolate itself (vxa_resample_params.coarse: the same values as `field` on the
     * same window, without the full-size volume; start is in the window's voxels); *made = false, and nothing
     * allocated, where there are none (then use `field`). */
    vxa_status (*coarse_field)(vxa_context *ctx, const vxa_op_values *val, const vxa_grid *grid,
                               const int64_t off[3], const int64_t win[3], vxa_dvol *coarse, double start[3],
                               double step[3], bool *made);

    /* INTENSITY: its VXA_INT_* (src/intensity.h: vxa_iop_impl_of gives how it runs); runs go through
     * vxa_intensity_run. */
    int intensity_id;

    /* LABEL: the label map in (integer type) to out (the same type and grid), on the device. */
    vxa_status (*label)(vxa_context *ctx, const vxa_op_values *val, const vxa_dvol *in, vxa_dvol *out);

    /* With a VXA_P_PATH parameter: reads the file when the spec is parsed into *data (malloc'd, *n values; the
     * pipeline frees it), or writes into err what is wrong, naming the file. */
    vxa_status (*load)(const char *path, double **data, int *n, char *err, size_t errlen);

    /* Optional: a check of the parsed values that needs no input (rotate's plane names two different axes),
     * run by the parser so the error points at the op; returns NULL, or what is wrong. */
    const char *(*check)(const double lo[][3], const double hi[][3]);

    /* VXA_OP_*: what a data-dependent grid op needs (src/ops_sample.c). */
    int needs;
    /* GROUP: VXA_GROUP_*. */
    int group;
} vxa_op_desc;

enum {
    VXA_OP_LABEL = 1,    /* the label map (its classes, through vxa_draw_rng.data) */
    VXA_OP_FIRST = 2,    /* the pipeline's input as it is: only sampling settings may come before it */
};

/* ---- grids and affines (src/transform.c) ---- */
/* p = A1·(A2·o + b2) + b1: the map of op 2 (applied after op 1) followed by op 1's. */
void vxa_xform_compose(const double A1[3][3], const double b1[3], const double A2[3][3], const double b2[3],
                       double A[3][3], double b[3]);
void vxa_xform_identity(double A[3][3], double b[3]);
/* The grid of an output whose voxel o samples input index p = A·o + b: affine_out = affine_in · [A b; 0 1],
 * spacing = the column norms of affine_out. */
void vxa_grid_after(const vxa_grid *in, const double A[3][3], const double b[3], const int64_t out_dim[3],
                    vxa_grid *out);
void vxa_grid_of_volume(const vxa_volume *v, vxa_grid *g);
/* The crops' shared parts (src/ops_spatial.c): the patch size m from an op's first parameter (each >= 1, else an
 * error naming op), and the exact index map of the box of size m starting at q: p = o + q. */
vxa_status vxa_crop_sizes(const char *op, const vxa_op_values *val, int64_t m[3], char *err, size_t errlen);
void vxa_crop_map(const int64_t m[3], const int64_t q[3], int64_t out_dim[3], double A[3][3], double b[3]);
/* floor(x / 2) for any sign: the start that centres a box on an axis (x = input size - box size; negative where
 * the box is the larger, which pads). */
static inline int64_t vxa_floor_half(int64_t x) { return x >= 0 ? x / 2 : -((-x + 1) / 2); }
/* An augmentation op's pull matrix A_mm, given in the physical frame of the voxel axes x = S·(p - c) with
 * S = diag(spacing), as a voxel pull matrix: A_vox = S⁻¹·A_mm·S, i.e. A_vox[r][q] = A_mm[r][q]·s_q/s_r (exactly
 * A_mm where s_q == s_r, so isotropic grids keep today's maps bit for bit). A grid without a positive finite
 * spacing along every axis is taken as isotropic (its voxel frame). */
void vxa_xform_physical(const vxa_grid *g, const double A_mm[3][3], double A_vox[3][3]);
/* The orientation of an affine as nibabel's io_orientation finds it (the polar factor of the affine's unit
 * columns, then for voxel axes 0, 1, 2 in turn the world axis it is closest to among those not yet taken):
 * world[a] in 0..2 (x, y, z of RAS+ world) and sign[a] +1 where voxel index a grows towards R, A or S. 0, or -1
 * for a singular or non-finite affine. */
int vxa_affine_orientation(const double affine[4][4], int world[3], int sign[3]);
/* Its axis codes, as nibabel.aff2axcodes: "RAS", "LPS", "PIR", ...: code[4] receives 3 letters and a NUL
 * ("???" for a singular affine). */
void vxa_affine_axcodes(const double affine[4][4], char code[4]);
/* Whether the affine's three columns are orthogonal: |cos| of every pair of columns below tol. */
bool vxa_affine_orthogonal(const double affine[4][4], double tol, double *worst);
/* Sets the volume's geometry from g: affine, spacing, sform/qform codes (kept if set, else 2). */
void vxa_grid_to_volume(const vxa_grid *g, vxa_volume *v);

/* The whole table, NULL-terminated by name; lookup by name. */
const vxa_op_desc *vxa_op_find(const char *name);
const vxa_op_desc *const *vxa_op_table(int *count);

/* Each family's descriptors. */
extern const vxa_op_desc vxa_sampling_op;
extern const vxa_op_desc vxa_spatial_ops[];
extern const int vxa_spatial_nops;
extern const vxa_op_desc vxa_elastic_ops[];
extern const int vxa_elastic_nops;
extern const vxa_op_desc vxa_group_ops[];       /* src/ops_compose.c: one_of, some_of, shuffle */
extern const int vxa_group_nops;
extern const vxa_op_desc vxa_sample_ops[];      /* src/ops_sample.c: patch sampling, crop to foreground */
extern const int vxa_sample_nops;
extern const vxa_op_desc *const vxa_intensity_ops[];   /* in VXA_IOP_LIST's order */
extern const vxa_op_desc vxa_label_ops[];
extern const int vxa_label_nops;
extern const int vxa_intensity_nops;

/* The CT window presets of window(preset=...), for other users of the same windows (voxaug preview --ct):
 * 1 and (centre, width) in HU for a known name, else 0. The names, NULL-terminated. */
int vxa_window_preset(const char *name, double *center, double *width);
const char *const *vxa_window_preset_names(void);

/* Runs n consecutive intensity ops (ops[i] with values vals[i]) in place on a float32 device volume (every
 * channel independently), fusing elementwise ones into one pass where possible. src: NULL, or the typed volume
 * vol starts as (converted by the first pass, vxa_intensity_apply). Label maps never see these; mask (the label
 * map on the volume's grid, or NULL) gives the voxels of mask=1 statistics. */
vxa_status vxa_intensity_run(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals, int n,
                             const vxa_dvol *src, vxa_dvol *vol, const vxa_dvol *mask);
/* The same, the result wanted only in the window of win->dim voxels at off (vxa_intensity_apply_window): win,
 * float32 with vol's channels, receives it; vol's contents are then unspecified. */
vxa_status vxa_intensity_run_window(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals,
                                    int n, const vxa_dvol *src, vxa_dvol *vol, const vxa_dvol *mask,
                                    const int64_t off[3], vxa_dvol *win);
/* Whether an intensity op is elementwise and takes no statistics (noise, clip, ...): its result at a voxel
 * depends on that voxel's value and index alone, so it can run on a part of the image. */
bool vxa_intensity_is_local(const vxa_op_desc *op);
/* Runs n such ops on vol (float32), the part at off of a grid of dims grid: each voxel takes the index it has
 * in that grid (noise, bias), so the values are those of the ops on the whole grid, bit for bit
 * (vxa_intensity_apply_part). */
vxa_status vxa_intensity_run_part(vxa_context *ctx, const vxa_op_desc *const *ops, const vxa_op_values *vals,
                                  int n, vxa_dvol *vol, const int64_t grid[3], const int64_t off[3]);

#endif
