/* SPDX-License-Identifier: MIT */
/* Reference for the elastic-field building blocks: Philox noise per voxel (the same header as the kernels, so
 * the same bits) and trilinear upsampling in double. */
#include "elastic.h"
#include "shared/philox.h"

#include <math.h>

vxa_status vxa_ref_noise_uniform(vxa_context *ctx, vxa_dvol *vol, const vxa_noise_key *key, const float amp[3])
{
    const uint64_t nvox = (uint64_t)(vol->dim[0] * vol->dim[1] * vol->dim[2]);
    float *out = vol->host;
    for (int64_t c = 0; c < vol->channels; c++) {
        const uint32_t stream = key->op_index << 8 | (uint32_t)c;
        for (uint64_t v = 0; v < nvox; v++) {
            const vxa_philox4 x = vxa_philox_block(key->seed, key->sample, stream, (uint32_t)(v / 4));
            out[(uint64_t)c * nvox + v] = amp[c] * vxa_u01_sym(x.v[v % 4]);   /* a float32 product */
        }
    }
    vxa_count_launch(ctx, "vxa_noise_uniform");
    return VXA_OK;
}

vxa_status vxa_ref_noise_block_mean(vxa_context *ctx, vxa_dvol *coarse, const vxa_noise_key *key,
                                    const float amp[3], const int64_t fine_dim[3], const int64_t first[3],
                                    const int64_t step[3])
{
    const int64_t *cd = coarse->dim, *fd = fine_dim;
    const double count = (double)(step[0] * step[1] * step[2]);
    float *out = coarse->host;
    for (int64_t c = 0; c < coarse->channels; c++)
        for (int64_t m2 = 0; m2 < cd[2]; m2++)
            for (int64_t m1 = 0; m1 < cd[1]; m1++)
                for (int64_t m0 = 0; m0 < cd[0]; m0++) {
                    const int64_t m[3] = { m0, m1, m2 };
                    int64_t lo[3], hi[3];
                    for (int a = 0; a < 3; a++) {   /* the block, clipped to the fine grid */
                        lo[a] = first[a] + m[a] * step[a];
                        hi[a] = lo[a] + step[a];
                        lo[a] = lo[a] < 0 ? 0 : lo[a];
                        hi[a] = hi[a] > fd[a] ? fd[a] : hi[a];
                    }
                    double sum = 0.0;
                    for (int64_t k = lo[2]; k < hi[2]; k++)
                        for (int64_t j = lo[1]; j < hi[1]; j++)
                            for (int64_t i = lo[0]; i < hi[0]; i++) {
                                const uint64_t v = (uint64_t)(i + fd[0] * (j + fd[1] * k));
                                const vxa_philox4 x = vxa_philox_block(key->seed, key->sample,
                                                                       key->op_index << 8 | (uint32_t)c,
                                                                       (uint32_t)(v / 4));
                                sum += vxa_u01_sym(x.v[v % 4]);
                            }
                    out[c * cd[0] * cd[1] * cd[2] + m0 + cd[0] * (m1 + cd[1] * m2)] = (float)(amp[c] * sum / count);
                }
    vxa_count_launch(ctx, "vxa_noise_block_mean");
    return VXA_OK;
}

/* Continuous coarse index of fine position o along one axis, clamped to [0, n − 1]. */
static double coarse_index(int64_t o, double start, double step, int64_t n)
{
    const double q = ((double)o - start) / step;
    return q < 0 ? 0 : q > (double)(n - 1) ? (double)(n - 1) : q;
}

vxa_status vxa_ref_noise_upsample(vxa_context *ctx, const vxa_dvol *coarse, vxa_dvol *fine,
                                  const double start[3], const double step[3])
{
    const int64_t *cd = coarse->dim, *fd = fine->dim;
    const float *in = coarse->host;
    float *out = fine->host;
    for (int64_t ch = 0; ch < fine->channels; ch++)
        for (int64_t k = 0; k < fd[2]; k++)
            for (int64_t j = 0; j < fd[1]; j++)
                for (int64_t i = 0; i < fd[0]; i++) {
                    const int64_t o[3] = { i, j, k };
                    double q[3], f[3];
                    int64_t lo[3];
                    for (int a = 0; a < 3; a++) {
                        q[a] = coarse_index(o[a], start[a], step[a], cd[a]);
                        lo[a] = (int64_t)floor(q[a]);
                        f[a] = q[a] - (double)lo[a];
                    }
                    double sum = 0.0;
                    for (int corner = 0; corner < 8; corner++) {   /* one term per neighbour */
                        int64_t idx[3];
                        double w = 1.0;
                        for (int a = 0; a < 3; a++) {
                            const int up = (corner >> a) & 1;
                            idx[a] = lo[a] + up < cd[a] ? lo[a] + up : cd[a] - 1;
                            w *= up ? f[a] : 1.0 - f[a];
                        }
                        sum += w * in[ch * cd[0] * cd[1] * cd[2] + idx[0] + cd[0] * (idx[1] + cd[1] * idx[2])];
                    }
                    out[ch * fd[0] * fd[1] * fd[2] + i + fd[0] * (j + fd[1] * k)] = (float)sum;
                }
    vxa_count_launch(ctx, "vxa_noise_upsample");
    return VXA_OK;
}

vxa_status vxa_ref_noise_gauss_window(vxa_context *ctx, vxa_dvol *out, const vxa_noise_key *key,
                                      const float amp[3], const int64_t fine_dim[3], const int64_t lo[3],
                                      int64_t box_nx, double sigma, vxa_mode mode, double truncate, int64_t at)
{
    const int64_t dim[3] = { box_nx, out->dim[1], out->dim[2] }, one[3] = { 1, 1, 1 };
    vxa_dvol box = { 0 };
    vxa_status st = vxa_dvol_alloc(ctx, dim, out->channels, VXA_FLOAT32, &box);
    if (st == VXA_OK) st = vxa_ref_noise_block_mean(ctx, &box, key, amp, fine_dim, lo, one);
    if (st == VXA_OK) st = vxa_ref_gauss_window(ctx, &box, out, 0, sigma, mode, truncate, at);
    vxa_dvol_release(ctx, &box);
    return st;
}
