/* SPDX-License-Identifier: MIT */
/* Reference reductions: double precision loops over each channel, percentiles by sorting. */
#include "intensity.h"

#include <math.h>
#include <stdlib.h>

/* Whether voxel v (index within its channel) with value y counts. */
static bool ref_takes(double y, int nonzero, const vxa_dvol *mask, size_t v)
{
    return isfinite(y) && !(nonzero && y == 0.0) && !(mask && vxa_dvol_value(mask, v) == 0.0);
}

static size_t ref_channel_voxels(const vxa_dvol *vol)
{
    return (size_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
}

vxa_status vxa_ref_reduce_stats(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                const double *shift, vxa_rstats *out)
{
    const size_t n = ref_channel_voxels(vol);
    for (int64_t c = 0; c < vol->channels; c++) {
        const double sh = shift ? shift[c] : 0.0;
        vxa_rstats r = { 0, INFINITY, -INFINITY, 0, 0 };
        for (size_t v = 0; v < n; v++) {
            const double y = vxa_dvol_value(vol, v + (size_t)c * n);
            if (!ref_takes(y, nonzero, mask, v)) continue;
            r.count += 1;
            r.min = fmin(r.min, y);
            r.max = fmax(r.max, y);
            r.sum += y - sh;
            r.sumsq += (y - sh) * (y - sh);
        }
        out[c] = r;
    }
    vxa_count_launch(ctx, "vxa_reduce_stats");
    return VXA_OK;
}

/* mean = sum / n, std = sqrt(sum (x - mean)^2 / n): the textbook two passes. */
vxa_status vxa_ref_reduce_moments(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                  int want_std, vxa_moments *out)
{
    const size_t n = ref_channel_voxels(vol);
    for (int64_t c = 0; c < vol->channels; c++) {
        vxa_moments m = { 0, INFINITY, -INFINITY, 0, NAN };
        for (size_t v = 0; v < n; v++) {
            const double y = vxa_dvol_value(vol, v + (size_t)c * n);
            if (!ref_takes(y, nonzero, mask, v)) continue;
            m.count += 1;
            m.min = fmin(m.min, y);
            m.max = fmax(m.max, y);
            m.mean += y;
        }
        m.mean = m.count > 0 && want_std >= 0 ? m.mean / m.count : NAN;
        if (want_std > 0 && m.count > 0) {
            double ss = 0;
            for (size_t v = 0; v < n; v++) {
                const double y = vxa_dvol_value(vol, v + (size_t)c * n);
                if (ref_takes(y, nonzero, mask, v)) ss += (y - m.mean) * (y - m.mean);
            }
            m.std = sqrt(ss / m.count);
        }
        out[c] = m;
    }
    vxa_count_launch(ctx, "vxa_reduce_stats");
    return VXA_OK;
}

/* NumPy 1.24 'linear': virtual index h = (n - 1) * (q / 100), prev = floor(h), next = prev + 1, both clipped
 * to [0, n - 1]; t = h - prev (0 when clipped at the top, where prev = next anyway). */
void vxa_percentile_ranks(uint64_t n, double q, uint64_t *prev, uint64_t *next, double *t)
{
    const double h = (double)(n - 1) * (q / 100.0);
    double f = floor(h);
    if (h >= (double)(n - 1)) {
        *prev = *next = n - 1;
        *t = 0;
        return;
    }
    if (h < 0) f = 0;
    *prev = (uint64_t)f;
    *next = *prev + 1 < n ? *prev + 1 : n - 1;
    *t = h - f;
}

/* NumPy's _lerp: a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5 (exact at both ends). */
double vxa_percentile_lerp(double a, double b, double t)
{
    const double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

static int ref_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

vxa_status vxa_ref_reduce_percentiles(vxa_context *ctx, const vxa_dvol *vol, int nonzero, const vxa_dvol *mask,
                                      const double q[2], double *out)
{
    const size_t n = ref_channel_voxels(vol);
    double *vals = malloc((n ? n : 1) * sizeof *vals);
    if (!vals) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "percentiles: %zu values to sort", n);
    for (int64_t c = 0; c < vol->channels; c++) {
        size_t m = 0;
        for (size_t v = 0; v < n; v++) {
            const double y = vxa_dvol_value(vol, v + (size_t)c * n);
            if (ref_takes(y, nonzero, mask, v)) vals[m++] = y;
        }
        qsort(vals, m, sizeof *vals, ref_cmp_double);
        for (int i = 0; i < 2; i++) {
            uint64_t prev, next;
            double t;
            if (m == 0) {
                out[2 * c + i] = NAN;
                continue;
            }
            vxa_percentile_ranks(m, q[i], &prev, &next, &t);
            out[2 * c + i] = vxa_percentile_lerp(vals[prev], vals[next], t);
        }
    }
    free(vals);
    vxa_count_launch(ctx, "vxa_reduce_hist");
    return VXA_OK;
}
