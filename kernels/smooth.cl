/* SPDX-License-Identifier: MIT */
/* Gaussian smoothing: one separable pass along one axis (scipy.ndimage.correlate1d with the Gaussian kernel).
 * dim = (nx, ny, nz · channels, nz): the channels are stacked along k, and a line along axis 2 never leaves its
 * channel because positions fold within nz. mode: 0 constant (outside reads 0), 1 nearest, 2 reflect
 * (d c b a | a b c d | d c b a).
 *
 * Every form writes a window of the pass along its own axis (at, nout): output position o takes the input
 * position o + at of a line of n inputs, the rest of the line folded by the mode as in the whole pass, so the
 * window is the whole pass cut to [at, at + nout), bit for bit (the whole pass: at = 0, nout = n). Any form gives
 * each output the same sum: +0, then w[t] · x for each tap t ascending whose input lies on the line (or folds onto
 * it), each term rounded and added in turn; the terms the forms add beyond that (zero-padded weights, constant
 * mode's zeros outside the line) are ±0 added to a sum that is never −0, so they change no bit. The output's
 * dims are the input's with the axis's n replaced by nout.
 *
 * Each work-item computes VXA_GAUSS_B consecutive outputs along the axis from one sliding window of
 * 2·radius + B inputs, so each input is loaded once per B outputs (faster than one output per work-item on
 * PoCL, every axis, sigma 1 to 35). The blocked coordinate of the global id counts blocks (for axis 2,
 * blocks × channels). wpad holds the 2·radius + 1 weights with B − 1 zeros on each side,
 * wpad[B − 1 + t'] = w[t'], so that every output takes every input of the window without a test. Windows wholly
 * inside the line read without checks; the others fold each input position once by the mode. */
#include "common.h"
#include "gauss_row.h"

__kernel void vxa_gauss_axis(__global const float *in, __global float *out, long4 dim, int axis, int radius,
                             int mode, __global const float *wpad, long at, long nout)
{
    const long g0 = get_global_id(0), g1 = get_global_id(1), g2 = get_global_id(2);
    const long nz = dim.w, nc = dim.z / dim.w, nb = (nout + VXA_GAUSS_B - 1) / VXA_GAUSS_B;
    long n, stride, pos0, base, obase;   /* pos0: the block's first output; base, obase: position 0 in and out */
    if (axis == 0) {
        if (g0 >= nb || g1 >= dim.y || g2 >= dim.z) return;
        n = dim.x; stride = 1; pos0 = g0 * VXA_GAUSS_B;
        base = dim.x * (g1 + dim.y * g2);
        obase = nout * (g1 + dim.y * g2);
    } else if (axis == 1) {
        if (g0 >= dim.x || g1 >= nb || g2 >= dim.z) return;
        n = dim.y; stride = dim.x; pos0 = g1 * VXA_GAUSS_B;
        base = g0 + dim.x * dim.y * g2;
        obase = g0 + dim.x * nout * g2;
    } else {
        if (g0 >= dim.x || g1 >= dim.y || g2 >= nb * nc) return;
        n = nz; stride = dim.x * dim.y; pos0 = (g2 % nb) * VXA_GAUSS_B;
        base = g0 + dim.x * (g1 + dim.y * (g2 / nb) * nz);
        obase = g0 + dim.x * (g1 + dim.y * (g2 / nb) * nout);
    }
    __global const float *line = in + base;     /* position 0 of this line */
    const long p0 = pos0 + at;                  /* the block's first input position */
    float acc[VXA_GAUSS_B];
    for (int b = 0; b < VXA_GAUSS_B; b++) acc[b] = 0.0f;
    const int width = 2 * radius + VXA_GAUSS_B;
    if (p0 - radius >= 0 && p0 + VXA_GAUSS_B - 1 + radius < n) {
        __global const float *q = line + (p0 - radius) * stride;
        for (int u = 0; u < width; u++, q += stride) {
            const float x = *q;
            for (int b = 0; b < VXA_GAUSS_B; b++) acc[b] += wpad[VXA_GAUSS_B - 1 + u - b] * x;
        }
    } else {
        for (int u = 0; u < width; u++) {
            const long p = vxa_gauss_fold(p0 - radius + u, n, mode);
            const float x = p >= 0 ? line[p * stride] : 0.0f;
            for (int b = 0; b < VXA_GAUSS_B; b++) acc[b] += wpad[VXA_GAUSS_B - 1 + u - b] * x;
        }
    }
    for (int b = 0; b < VXA_GAUSS_B; b++)
        if (pos0 + b < nout) out[obase + (pos0 + b) * stride] = acc[b];
}

/* Adds to the output row o (nx long, cleared) the taps of row p of a line of n rows across the axis: row q of
 * the line starts at line + q · stride; for each tap t ascending, w[t] times the input row at the folded
 * position p + t − r (constant mode: none outside). The CPU forms along j and k. A call, as vxa_gauss_row. */
VXA_CALL void vxa_gauss_across(__global const float *line, long stride, __global float *o, long p, long n,
                               long nx, int radius, int mode, __global const float *w)
{
    const int taps = 2 * radius + 1;
    for (int t = 0; t < taps;) {
        const long q0 = vxa_gauss_fold(p + t - radius, n, mode);
        if (t + 4 <= taps) {   /* four taps whose rows all exist in one loop: the same additions, a quarter
                                * of the loads and stores of o */
            const long q1 = vxa_gauss_fold(p + t + 1 - radius, n, mode);
            const long q2 = vxa_gauss_fold(p + t + 2 - radius, n, mode);
            const long q3 = vxa_gauss_fold(p + t + 3 - radius, n, mode);
            if (q0 >= 0 && q1 >= 0 && q2 >= 0 && q3 >= 0) {
                __global const float *r0 = line + q0 * stride, *r1 = line + q1 * stride;
                __global const float *r2 = line + q2 * stride, *r3 = line + q3 * stride;
                const float w0 = w[t], w1 = w[t + 1], w2 = w[t + 2], w3 = w[t + 3];
                for (long i = 0; i < nx; i++)
                    o[i] = (((o[i] + w0 * r0[i]) + w1 * r1[i]) + w2 * r2[i]) + w3 * r3[i];
                t += 4;
                continue;
            }
        }
        if (q0 >= 0) {   /* constant mode: a row outside adds zeros */
            const float wt = w[t];
            __global const float *row = line + q0 * stride;
            for (long i = 0; i < nx; i++) o[i] += wt * row[i];
        }
        t++;
    }
}

/* The CPU form (PoCL): one work-item per output row along i, global (output ny, output nz · channels). The row is
 * cleared, then for each tap t (ascending, the order of vxa_gauss_axis) out[i] += w[t] · in[i + at + t - r]
 * along axis 0, or the whole input row at j + at + t - r (axis 1) or k + at + t - r (axis 2): contiguous loops
 * the compiler vectorises. Along axis 0 the positions that leave the line are folded one by one; along the
 * others a folded row index of -1 (constant mode) adds nothing. Weights: w[t] = wpad[VXA_GAUSS_B - 1 + t]. */
__kernel void vxa_gauss_rows(__global const float *in, __global float *out, long4 dim, int axis, int radius,
                             int mode, __global const float *wpad, long at, long nout)
{
    const long j = get_global_id(0), kc = get_global_id(1);
    const long nx = dim.x, ny = dim.y, nz = dim.w;
    const long onx = axis == 0 ? nout : nx, ony = axis == 1 ? nout : ny, onz = axis == 2 ? nout : nz;
    if (j >= ony || kc >= dim.z / nz * onz) return;
    const long k = kc % onz, c = kc / onz;   /* output plane k of channel c */
    __global const float *w = wpad + VXA_GAUSS_B - 1;
    __global float *o = out + onx * (j + ony * kc);
    for (long i = 0; i < onx; i++) o[i] = 0.0f;
    if (axis == 0) {
        vxa_gauss_row(in + nx * (j + ny * kc), nx, o, onx, at, radius, mode, w);
    } else if (axis == 1) {
        vxa_gauss_across(in + nx * ny * kc, nx, o, at + j, ny, nx, radius, mode, w);
    } else {
        vxa_gauss_across(in + nx * (j + ny * nz * c), nx * ny, o, at + k, nz, nx, radius, mode, w);
    }
}

/* The CPU form along axis 1 or 2 (PoCL): one work-item per line of rows, walking along the axis: for axis 1 one
 * per plane k (of every channel), global (nz · channels), j from 0 to nout - 1; for axis 2 one per row index j and
 * channel, global (ny, channels), k from 0 to nout - 1. Each output row is computed as vxa_gauss_rows computes
 * it (the same additions in the same order). Neighbouring outputs along the axis share all but one of their
 * 2r + 1 input rows, so a work-item's window stays in its core's caches (faster than one work-item per row
 * along k, whose windows came from shared memory). */
__kernel void vxa_gauss_rows_walk(__global const float *in, __global float *out, long4 dim, int axis, int radius,
                                  int mode, __global const float *wpad, long at, long nout)
{
    const long g0 = get_global_id(0), g1 = get_global_id(1);
    const long nx = dim.x, ny = dim.y, nz = dim.w;
    long n, stride, base, obase;   /* input row p of the line starts at base + p · stride, output row at obase */
    if (axis == 1) {
        if (g0 >= dim.z || g1 > 0) return;
        n = ny; stride = nx; base = nx * ny * g0; obase = nx * nout * g0;
    } else {
        if (g0 >= ny || g1 >= dim.z / nz) return;
        n = nz; stride = nx * ny; base = nx * (g0 + ny * nz * g1); obase = nx * (g0 + ny * nout * g1);
    }
    __global const float *w = wpad + VXA_GAUSS_B - 1;
    for (long p = 0; p < nout; p++) {
        __global float *o = out + obase + p * stride;
        for (long i = 0; i < nx; i++) o[i] = 0.0f;
        vxa_gauss_across(in + base, stride, o, at + p, n, nx, radius, mode, w);
    }
}
