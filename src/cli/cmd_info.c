/* SPDX-License-Identifier: MIT */
/* voxaug info FILE [--json]: what a NIfTI file holds, as voxaug reads it. */
#include "cli.h"
#include "ops.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void info_usage(FILE *f)
{
    fprintf(f, "usage: voxaug info FILE [--json]\n\n"
               "Reads a NIfTI file (.nii, .nii.gz, .hdr/.img; NIfTI-1 or NIfTI-2) as voxaug does and prints its\n"
               "shape, channels, data type, spacing, the 4x4 voxel-to-world affine (sform if sform_code > 0, else\n"
               "qform, else diag(pixdim)), its orientation code (as nibabel's aff2axcodes: RAS, LPS, ...; a\n"
               "non-orthogonal affine, whose columns are not at right angles, is flagged), sform/qform codes,\n"
               "scl_slope/scl_inter, and the value range (min, max, mean after scaling, over all channels; NaN\n"
               "voxels are counted and left out).\n\n"
               "  --json     one JSON object on stdout\n"
               "  -h, --help this text\n\n"
               "exit status: 0 read, 1 the file could not be read (the reason on stderr), 2 usage error\n");
}

static double raw_at(const vxa_volume *v, size_t i)
{
    switch (v->dtype) {
    case VXA_UINT8: return ((const uint8_t *)v->data)[i];
    case VXA_INT8: return ((const int8_t *)v->data)[i];
    case VXA_INT16: return ((const int16_t *)v->data)[i];
    case VXA_UINT16: return ((const uint16_t *)v->data)[i];
    case VXA_INT32: return ((const int32_t *)v->data)[i];
    case VXA_UINT32: return ((const uint32_t *)v->data)[i];
    case VXA_FLOAT32: return ((const float *)v->data)[i];
    case VXA_FLOAT64: return ((const double *)v->data)[i];
    case VXA_INT64: case VXA_UINT64: case VXA_FLOAT16: case VXA_BFLOAT16: break; /* not read from files */
    }
    return 0.0;
}

typedef struct { double min, max, mean; size_t nan_count, n; } value_range;

/* Over all voxels and channels, after scaling (a slope of 0 or non-finite means none), in double. */
static value_range range_of(const vxa_volume *v)
{
    const bool scale = v->scl_slope != 0 && isfinite(v->scl_slope);
    value_range r = { INFINITY, -INFINITY, NAN, 0, 0 };
    double sum = 0.0;
    const size_t n = vxa_volume_voxels(v);
    for (size_t i = 0; i < n; i++) {
        const double x = scale ? raw_at(v, i) * v->scl_slope + v->scl_inter : raw_at(v, i);
        if (isnan(x)) {
            r.nan_count++;
            continue;
        }
        if (x < r.min) r.min = x;
        if (x > r.max) r.max = x;
        sum += x;
        r.n++;
    }
    if (r.n) r.mean = sum / (double)r.n;
    else r.min = r.max = NAN;
    return r;
}

/* A JSON number, or null for NaN and infinities (JSON has neither). */
static void json_number(FILE *f, double x)
{
    if (isfinite(x)) fprintf(f, "%.17g", x);
    else fputs("null", f);
}

/* A JSON string: valid UTF-8 passes, control characters are escaped, other bytes become U+FFFD. */
static void json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        const unsigned char c = *p;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c), p++;
        else if (c < 0x20) fprintf(f, "\\u%04x", c), p++;
        else if (c < 0x80) fputc(c, f), p++;
        else {
            const int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            int ok = len > 0 && c >= 0xC2 && c <= 0xF4;
            for (int k = 1; ok && k < len; k++) ok = (p[k] & 0xC0) == 0x80;
            if (ok) fwrite(p, 1, (size_t)len, f), p += len;
            else fputs("\\ufffd", f), p++;
        }
    }
    fputc('"', f);
}

/* Columns at right angles within float32 storage of the sform (|cos| of every pair below this). */
#define ORTHO_TOL 1e-4

static void print_json(FILE *f, const char *file, const vxa_volume *v, const value_range *r)
{
    fputs("{\"file\": ", f);
    json_string(f, file);
    fprintf(f, ", \"dims\": [%lld, %lld, %lld], \"channels\": %lld, \"dtype\": \"%s\", \"spacing\": [",
            (long long)v->dim[0], (long long)v->dim[1], (long long)v->dim[2], (long long)v->channels,
            vxa_dtype_name(v->dtype));
    for (int a = 0; a < 3; a++) {
        if (a) fputs(", ", f);
        json_number(f, v->spacing[a]);
    }
    fputs("], \"affine\": [", f);
    for (int i = 0; i < 4; i++) {
        fputs(i ? ", [" : "[", f);
        for (int j = 0; j < 4; j++) {
            if (j) fputs(", ", f);
            json_number(f, v->affine[i][j]);
        }
        fputc(']', f);
    }
    char code[4];
    double worst;
    vxa_affine_axcodes(v->affine, code);
    const bool ortho = vxa_affine_orthogonal(v->affine, ORTHO_TOL, &worst);
    fprintf(f, "], \"orientation\": \"%s\", \"orthogonal\": %s, \"max_column_cos\": ", code, ortho ? "true" : "false");
    json_number(f, worst);
    fprintf(f, ", \"sform_code\": %d, \"qform_code\": %d, \"scl_slope\": ", v->sform_code, v->qform_code);
    json_number(f, v->scl_slope);
    fputs(", \"scl_inter\": ", f);
    json_number(f, v->scl_inter);
    fprintf(f, ", \"xyzt_units\": %d, \"tr\": ", v->xyzt_units);
    json_number(f, v->tr);
    fputs(", \"toffset\": ", f);
    json_number(f, v->toffset);
    fputs(", \"descrip\": ", f);
    json_string(f, v->descrip);
    fprintf(f, ", \"voxels\": %zu, \"min\": ", vxa_volume_voxels(v));
    json_number(f, r->min);
    fputs(", \"max\": ", f);
    json_number(f, r->max);
    fputs(", \"mean\": ", f);
    json_number(f, r->mean);
    fprintf(f, ", \"nan_count\": %zu}\n", r->nan_count);
}

static void print_text(FILE *f, const char *file, const vxa_volume *v, const value_range *r)
{
    fprintf(f, "file      %s\n", file);
    fprintf(f, "dims      %lld x %lld x %lld\n", (long long)v->dim[0], (long long)v->dim[1], (long long)v->dim[2]);
    fprintf(f, "channels  %lld\n", (long long)v->channels);
    fprintf(f, "dtype     %s\n", vxa_dtype_name(v->dtype));
    fprintf(f, "spacing   %g x %g x %g\n", v->spacing[0], v->spacing[1], v->spacing[2]);
    fprintf(f, "affine    (%s)\n", v->sform_code > 0 ? "sform" : v->qform_code > 0 ? "qform" : "diag(pixdim)");
    for (int i = 0; i < 4; i++)
        fprintf(f, "          %12.6g %12.6g %12.6g %12.6g\n", v->affine[i][0], v->affine[i][1], v->affine[i][2],
                v->affine[i][3]);
    char code[4];
    double worst;
    vxa_affine_axcodes(v->affine, code);
    if (vxa_affine_orthogonal(v->affine, ORTHO_TOL, &worst)) fprintf(f, "orient    %s\n", code);
    else
        fprintf(f, "orient    %s (nearest) -- NOT ORTHOGONAL: columns at |cos| up to %.3g, sheared voxels; qform "
                   "cannot hold it\n", code, worst);
    fprintf(f, "codes     sform %d, qform %d\n", v->sform_code, v->qform_code);
    const bool scale = v->scl_slope != 0 && isfinite(v->scl_slope);
    fprintf(f, "scaling   slope %g, inter %g%s\n", v->scl_slope, v->scl_inter, scale ? "" : " (none applied)");
    fprintf(f, "range     min %.9g, max %.9g, mean %.9g", r->min, r->max, r->mean);
    if (r->nan_count) fprintf(f, ", %zu NaN", r->nan_count);
    fputc('\n', f);
    if (v->descrip[0]) fprintf(f, "descrip   %s\n", v->descrip);
}

int cmd_info(int argc, char **argv)
{
    const char *file = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            info_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "voxaug info: unknown option '%s'\n", argv[i]);
            info_usage(stderr);
            return 2;
        } else if (file) {
            fprintf(stderr, "voxaug info: one file at a time ('%s' and '%s')\n", file, argv[i]);
            return 2;
        } else file = argv[i];
    }
    if (!file) {
        fprintf(stderr, "voxaug info: no file given\n");
        info_usage(stderr);
        return 2;
    }
    char err[1024];
    vxa_volume *v = NULL;
    vxa_status st = vxa_nifti_read(file, &v, err, sizeof err);
    if (st != VXA_OK) {
        fprintf(stderr, "voxaug info: %s\n", err[0] ? err : vxa_status_string(st));
        return 1;
    }
    const value_range r = range_of(v);
    if (json) print_json(stdout, file, v, &r);
    else print_text(stdout, file, v, &r);
    vxa_volume_free(v);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "voxaug info: writing the output failed\n");
        return 1;
    }
    return 0;
}
