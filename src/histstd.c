/* SPDX-License-Identifier: MIT */
/* Histogram standardisation's landmarks (Nyul and Udupa, as TorchIO's HistogramStandardization trains them):
 * the percentiles of training, the average mapping over images, the landmarks file (JSON) read and written.
 * The op that applies them is histstd in src/ops_intensity.c. */
#include "commit.h"
#include "intensity.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vxa_histstd_percentiles(const double cutoff[2], double *q)
{
    int n = 0;
    q[n++] = 100.0 * cutoff[0];
    for (int d = 1; d <= 9; d++) q[n++] = 10.0 * d;
    q[n++] = 100.0 * cutoff[1];
    return n;
}

vxa_status vxa_histstd_average(const double *p, int nimg, int n, double *map, char *err, size_t errlen)
{
    for (int j = 0; j < n; j++) map[j] = 0.0;
    for (int i = 0; i < nimg; i++) {
        const double *r = p + (size_t)i * (size_t)n;
        if (!(r[n - 1] > r[0]))
            return vxa_fail_buf(err, errlen, VXA_ERR_INVALID_ARGUMENT, "image %d: its percentiles %g and %g are "
                                "equal: no intensity range to standardise", i + 1, r[0], r[n - 1]);
        const double slope = 100.0 / (r[n - 1] - r[0]);   /* onto TorchIO's standard range [0, 100] */
        for (int j = 0; j < n; j++) map[j] += slope * (r[j] - r[0]) / nimg;
    }
    return VXA_OK;
}

/* ---- the file ---------------------------------------------------------------------------------------------- */
typedef struct {
    const char *s;
    size_t pos;
} jreader;

static void jws(jreader *j)
{
    while (isspace((unsigned char)j->s[j->pos])) j->pos++;
}

static bool jchar(jreader *j, char c)
{
    jws(j);
    if (j->s[j->pos] != c) return false;
    j->pos++;
    return true;
}

/* A string without escapes into buf (a key, or a value we skip). */
static bool jstring(jreader *j, char *buf, size_t len)
{
    if (!jchar(j, '"')) return false;
    size_t n = 0;
    for (; j->s[j->pos] && j->s[j->pos] != '"'; j->pos++) {
        if (j->s[j->pos] == '\\') j->pos++;   /* skipped, kept as the next character */
        if (!j->s[j->pos]) return false;
        if (n + 1 < len) buf[n++] = j->s[j->pos];
    }
    if (len) buf[n] = '\0';
    return jchar(j, '"');
}

static bool jnumber(jreader *j, double *x)
{
    jws(j);
    char *end;
    errno = 0;
    *x = strtod(j->s + j->pos, &end);
    if (end == j->s + j->pos || errno || !isfinite(*x)) return false;
    j->pos = (size_t)(end - j->s);
    return true;
}

/* A value: a number array into a (at most cap, count in *n, a == NULL skips it), or a number, string, true,
 * false, null (skipped). */
static bool jvalue(jreader *j, double *a, int cap, int *n)
{
    jws(j);
    const char c = j->s[j->pos];
    if (c == '[') {
        j->pos++;
        int k = 0;
        if (jchar(j, ']')) goto done;
        for (;;) {
            double x;
            if (!jnumber(j, &x)) return false;
            if (a && k >= cap) return false;
            if (a) a[k] = x;
            k++;
            if (jchar(j, ']')) break;
            if (!jchar(j, ',')) return false;
        }
done:
        if (n) *n = k;
        return true;
    }
    if (a) return false;
    if (c == '"') return jstring(j, NULL, 0);
    for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
        if (strncmp(j->s + j->pos, w, strlen(w)) == 0) {
            j->pos += strlen(w);
            return true;
        }
    double x;
    return jnumber(j, &x);
}

vxa_status vxa_histstd_read(const char *path, double *q, double *map, int *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return vxa_fail_buf(err, errlen, VXA_ERR_IO, "%s: %s", path, strerror(errno));
    char *text = malloc(65537);
    size_t len = text ? fread(text, 1, 65536, f) : 0;
    const bool big = text && len == 65536 && fgetc(f) != EOF;
    const bool bad = ferror(f);
    fclose(f);
    if (!text) return vxa_fail_buf(err, errlen, VXA_ERR_OUT_OF_MEMORY, "%s: reading it", path);
    text[len] = '\0';
    vxa_status st = VXA_OK;
    int nq = -1, nm = -1;
    if (bad || big || strlen(text) != len) {
        st = vxa_fail_buf(err, errlen, bad ? VXA_ERR_IO : VXA_ERR_FORMAT, "%s: %s", path,
                          bad ? "read error" : big ? "over 64 KiB: not a landmarks file" : "holds a NUL byte");
        goto done;
    }
    jreader j = { text, 0 };
    bool ok = jchar(&j, '{');
    while (ok && !jchar(&j, '}')) {
        char key[64];
        if (!(ok = jstring(&j, key, sizeof key) && jchar(&j, ':'))) break;
        if (strcmp(key, "percentiles") == 0) ok = jvalue(&j, q, VXA_HIST_MAXQ, &nq);
        else if (strcmp(key, "landmarks") == 0) ok = jvalue(&j, map, VXA_HIST_MAXQ, &nm);
        else ok = jvalue(&j, NULL, 0, NULL);
        if (ok && !jchar(&j, ',')) {
            ok = jchar(&j, '}');
            break;
        }
    }
    jws(&j);
    if (!ok || text[j.pos]) {
        st = vxa_fail_buf(err, errlen, VXA_ERR_FORMAT, "%s: not a landmarks file (a JSON object with arrays "
                          "\"percentiles\" and \"landmarks\" of at most %d numbers), at byte %zu", path,
                          VXA_HIST_MAXQ, j.pos);
        goto done;
    }
    if (nq < 3 || nq != nm) {
        st = vxa_fail_buf(err, errlen, VXA_ERR_FORMAT, "%s: %d percentiles and %d landmarks, expected the same "
                          "number, at least 3", path, nq < 0 ? 0 : nq, nm < 0 ? 0 : nm);
        goto done;
    }
    for (int i = 0; i < nq; i++) {
        if (!(q[i] >= 0 && q[i] <= 100) || (i > 0 && !(q[i] > q[i - 1]))) {
            st = vxa_fail_buf(err, errlen, VXA_ERR_FORMAT, "%s: percentile %d is %g: they must increase within "
                              "[0, 100]", path, i, q[i]);
            goto done;
        }
        if (i > 0 && !(map[i] >= map[i - 1])) {
            st = vxa_fail_buf(err, errlen, VXA_ERR_FORMAT, "%s: landmark %d is %g, below the one before (%g): "
                              "landmarks must not decrease", path, i, map[i], map[i - 1]);
            goto done;
        }
    }
    *n = nq;
done:
    free(text);
    return st;
}

/* The op's load (src/ops.h): percentiles then landmarks, 2n values. */
vxa_status vxa_histstd_load(const char *path, double **data, int *n, char *err, size_t errlen)
{
    double q[VXA_HIST_MAXQ], map[VXA_HIST_MAXQ];
    int nq;
    vxa_status st = vxa_histstd_read(path, q, map, &nq, err, errlen);
    if (st != VXA_OK) return st;
    if (!(*data = malloc(2 * (size_t)nq * sizeof **data)))
        return vxa_fail_buf(err, errlen, VXA_ERR_OUT_OF_MEMORY, "%s: landmarks", path);
    memcpy(*data, q, (size_t)nq * sizeof *q);
    memcpy(*data + nq, map, (size_t)nq * sizeof *map);
    *n = 2 * nq;
    return VXA_OK;
}

/* The shortest of %.15g / %.17g that reads back as x. */
static void shortest(char *buf, size_t len, double x)
{
    snprintf(buf, len, "%.15g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, len, "%.17g", x);
}

vxa_status vxa_histstd_write(const char *path, const double *q, const double *map, int n, const double cutoff[2],
                             int nimg, const char *masking, char *err, size_t errlen)
{
    char text[4096], c0[40], c1[40];
    shortest(c0, sizeof c0, cutoff[0]);
    shortest(c1, sizeof c1, cutoff[1]);
    size_t len = (size_t)snprintf(text, sizeof text, "{\"format\": \"voxaug histstd landmarks\", \"version\": 1,\n"
                                  " \"cutoff\": [%s, %s], \"images\": %d, \"masking\": \"%s\",\n"
                                  " \"percentiles\": [", c0, c1, nimg, masking);
    for (int i = 0; i < n; i++) len += (size_t)snprintf(text + len, sizeof text - len, "%s%.17g", i ? ", " : "", q[i]);
    /* (percentiles and landmarks at full precision: the file is read back exactly) */
    len += (size_t)snprintf(text + len, sizeof text - len, "],\n \"landmarks\": [");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%.17g", i ? ", " : "", map[i]);
    snprintf(text + len, sizeof text - len, "]}");
    vxa_commit c;
    vxa_commit_init(&c);
    const int i = vxa_commit_add(&c, path, err, errlen);
    if (i < 0) return VXA_ERR_IO;
    vxa_status st = vxa_commit_write_text(&c, i, text, err, errlen);
    if (st == VXA_OK) return vxa_commit_all(&c, err, errlen);
    vxa_commit_abort(&c);
    return st;
}

vxa_status vxa_histstd_image(vxa_context *ctx, const vxa_volume *img, const vxa_volume *mask, int nonzero,
                             const double *q, int nq, double *out)
{
    if (img->channels != 1)
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "histstd training: %lld channels, expected one image per "
                        "modality (a landmarks file is per modality)", (long long)img->channels);
    vxa_dvol in = { 0 }, x = { 0 }, m = { 0 }, fm = { 0 };
    vxa_status st = vxa_dvol_from_volume(ctx, img, &in);
    if (st == VXA_OK) st = vxa_dvol_alloc(ctx, in.dim, 1, VXA_FLOAT32, &x);
    if (st == VXA_OK) st = vxa_cast_float(ctx, &in, &x);   /* scaled as the pipeline reads it */
    if (st == VXA_OK && mask) {
        for (int a = 0; a < 3; a++)
            if (mask->dim[a] != img->dim[a] || mask->channels != 1)
                st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "histstd training: the mask is %lldx%lldx%lld x %lld, "
                              "the image %lldx%lldx%lld x 1", (long long)mask->dim[0], (long long)mask->dim[1],
                              (long long)mask->dim[2], (long long)mask->channels, (long long)img->dim[0],
                              (long long)img->dim[1], (long long)img->dim[2]);
        if (st == VXA_OK) st = vxa_dvol_from_volume(ctx, mask, &m);
        if (st == VXA_OK) st = vxa_dvol_alloc(ctx, m.dim, 1, VXA_FLOAT32, &fm);
        if (st == VXA_OK) st = vxa_cast_float(ctx, &m, &fm);
    }
    double pct[2];
    for (int i = 0; i < nq && st == VXA_OK; i += 2) {
        const double qq[2] = { q[i], q[i + 1 < nq ? i + 1 : i] };
        st = vxa_reduce_percentiles(ctx, &x, nonzero, mask ? &fm : NULL, qq, pct);
        out[i] = pct[0];
        if (i + 1 < nq) out[i + 1] = pct[1];
    }
    if (st == VXA_OK && isnan(out[0]))
        st = vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "histstd training: no finite voxel%s to take percentiles of",
                      mask ? " inside the mask" : nonzero ? " that is non-zero" : "");
    vxa_dvol_release(ctx, &fm);
    vxa_dvol_release(ctx, &m);
    vxa_dvol_release(ctx, &x);
    vxa_dvol_release(ctx, &in);
    return st;
}
