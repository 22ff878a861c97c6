/* SPDX-License-Identifier: MIT */
/* Gaussian smoothing: one separable pass along one axis (scipy.ndimage.correlate1d with a symmetric kernel).
 * dim = (nx, ny, nz · channels, nz): the channels are stacked along k, and a line along axis 2 never leaves its
 * channel because positions fold within nz. w holds the 2·radius + 1 weights, symmetric: w[r + t] == w[r − t].
 * mode: 0 constant (outside reads 0), 1 nearest, 2 reflect (d c b a | a b c d | d c b a). */

inline long vxa_gauss_fold(long p, long n, int mode)
{
    if (p >= 0 && p < n) return p;
    if (mode == 1) return p < 0 ? 0 : n - 1;
    if (mode == 2) {
        const long period = 2 * n;
        long m = p % period;
        if (m < 0) m += period;
        return m < n ? m : period - 1 - m;
    }
    return -1;
}

__kernel void vxa_gauss_axis(__global const float *in, __global float *out, long4 dim, int axis, int radius,
                             int mode, __global const float *w)
{
    const long i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    if (i >= dim.x || j >= dim.y || k >= dim.z) return;
    const long idx = i + dim.x * (j + dim.y * k);
    const long n = axis == 0 ? dim.x : axis == 1 ? dim.y : dim.w;
    const long pos = axis == 0 ? i : axis == 1 ? j : k % dim.w;
    const long stride = axis == 0 ? 1 : axis == 1 ? dim.x : dim.x * dim.y;
    __global const float *p = in + idx;
    float sum;
    if (pos >= radius && pos + radius < n) {        /* interior: every tap inside, no checks */
        sum = w[radius] * p[0];
        long off = stride;
        for (int t = 1; t <= radius; t++, off += stride)
            sum += w[radius + t] * (p[-off] + p[off]);
    } else {
        sum = 0.0f;
        for (int t = -radius; t <= radius; t++) {
            const long q = vxa_gauss_fold(pos + t, n, mode);
            if (q >= 0) sum += w[radius + t] * p[(q - pos) * stride];
        }
    }
    out[idx] = sum;
}
