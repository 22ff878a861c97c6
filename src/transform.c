/* SPDX-License-Identifier: MIT */
/* Composition of pull maps and the geometry of the grids they produce. */
#include "ops.h"

#include <math.h>
#include <string.h>

void vxa_xform_identity(double A[3][3], double b[3])
{
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++) A[r][c] = r == c;
        b[r] = 0.0;
    }
}

void vxa_xform_compose(const double A1[3][3], const double b1[3], const double A2[3][3], const double b2[3],
                       double A[3][3], double b[3])
{
    double An[3][3], bn[3];
    for (int r = 0; r < 3; r++) {
        bn[r] = b1[r];
        for (int c = 0; c < 3; c++) {
            An[r][c] = 0.0;
            for (int m = 0; m < 3; m++) An[r][c] += A1[r][m] * A2[m][c];
            bn[r] += A1[r][c] * b2[c];
        }
    }
    memcpy(A, An, sizeof An);
    memcpy(b, bn, sizeof bn);
}

void vxa_grid_after(const vxa_grid *in, const double A[3][3], const double b[3], const int64_t out_dim[3],
                    vxa_grid *out)
{
    vxa_grid g;
    memset(&g, 0, sizeof g);
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < 3; c++) {
            g.affine[r][c] = 0.0;
            for (int m = 0; m < 3; m++) g.affine[r][c] += in->affine[r][m] * A[m][c];
        }
        g.affine[r][3] = in->affine[r][3];
        for (int m = 0; m < 3; m++) g.affine[r][3] += in->affine[r][m] * b[m];
    }
    for (int c = 0; c < 3; c++) {
        g.dim[c] = out_dim[c];
        g.spacing[c] = sqrt(g.affine[0][c] * g.affine[0][c] + g.affine[1][c] * g.affine[1][c] +
                            g.affine[2][c] * g.affine[2][c]);
    }
    *out = g;
}

void vxa_grid_of_volume(const vxa_volume *v, vxa_grid *g)
{
    memset(g, 0, sizeof *g);
    memcpy(g->affine, v->affine, sizeof g->affine);
    for (int a = 0; a < 3; a++) {
        g->dim[a] = v->dim[a];
        g->spacing[a] = v->spacing[a];
    }
}

void vxa_grid_to_volume(const vxa_grid *g, vxa_volume *v)
{
    memcpy(v->affine, g->affine, sizeof v->affine);
    for (int a = 0; a < 3; a++) v->spacing[a] = g->spacing[a];
    if (v->sform_code <= 0) v->sform_code = 2;
    if (v->qform_code <= 0) v->qform_code = 2;
}

void vxa_xform_physical(const vxa_grid *g, const double A_mm[3][3], double A_vox[3][3])
{
    bool ok = true;
    for (int a = 0; a < 3; a++) ok = ok && isfinite(g->spacing[a]) && g->spacing[a] > 0;
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++)
            A_vox[r][q] = !ok || g->spacing[q] == g->spacing[r] ? A_mm[r][q]
                                                                 : A_mm[r][q] * (g->spacing[q] / g->spacing[r]);
}

static double det3(const double m[3][3])
{
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

int vxa_affine_orientation(const double affine[4][4], int world[3], int sign[3])
{
    double X[3][3];
    for (int c = 0; c < 3; c++) {
        double n = 0.0;
        for (int r = 0; r < 3; r++) n += affine[r][c] * affine[r][c];
        n = sqrt(n);
        if (!isfinite(n)) return -1;
        for (int r = 0; r < 3; r++) X[r][c] = n > 0 ? affine[r][c] / n : 0.0;
    }
    /* The polar factor (the orthogonal matrix nearest X, nibabel's P·Qs of the SVD) by Newton's iteration
     * X <- (X + X^-T)/2, which converges quadratically for a non-singular X. */
    for (int it = 0; it < 100; it++) {
        const double d = det3(X);
        if (!isfinite(d) || fabs(d) < 1e-12) return -1;
        double Y[3][3], change = 0.0;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++) {
                /* (X^-T)[r][c] = cofactor(X)[r][c] / det */
                const int r1 = (r + 1) % 3, r2 = (r + 2) % 3, c1 = (c + 1) % 3, c2 = (c + 2) % 3;
                const double cof = X[r1][c1] * X[r2][c2] - X[r1][c2] * X[r2][c1];
                Y[r][c] = 0.5 * (X[r][c] + cof / d);
                change += fabs(Y[r][c] - X[r][c]);
            }
        memcpy(X, Y, sizeof X);
        if (change < 1e-15) break;
    }
    /* Voxel axes in order, each to the world axis of largest |component| not taken yet (numpy's argmax: the
     * first of equals). */
    for (int a = 0; a < 3; a++) {
        int best = 0;
        double big = -1.0;
        for (int w = 0; w < 3; w++)
            if (fabs(X[w][a]) > big) {
                big = fabs(X[w][a]);
                best = w;
            }
        if (!(big > 0)) return -1;
        world[a] = best;
        sign[a] = X[best][a] < 0 ? -1 : 1;
        for (int c = 0; c < 3; c++) X[best][c] = 0.0;
    }
    return 0;
}

void vxa_affine_axcodes(const double affine[4][4], char code[4])
{
    static const char pos[] = "RAS", neg[] = "LPI";
    int world[3], sign[3];
    if (vxa_affine_orientation(affine, world, sign) != 0) {
        memcpy(code, "???", 4);
        return;
    }
    for (int a = 0; a < 3; a++) code[a] = sign[a] > 0 ? pos[world[a]] : neg[world[a]];
    code[3] = '\0';
}

bool vxa_affine_orthogonal(const double affine[4][4], double tol, double *worst)
{
    double n[3], w = 0.0;
    for (int c = 0; c < 3; c++)
        n[c] = sqrt(affine[0][c] * affine[0][c] + affine[1][c] * affine[1][c] + affine[2][c] * affine[2][c]);
    for (int c = 0; c < 3; c++)
        for (int d = c + 1; d < 3; d++) {
            const double dot = affine[0][c] * affine[0][d] + affine[1][c] * affine[1][d] + affine[2][c] * affine[2][d];
            const double cosv = n[c] > 0 && n[d] > 0 ? fabs(dot) / (n[c] * n[d]) : 1.0;
            if (isnan(cosv) || cosv > w) w = isnan(cosv) ? INFINITY : cosv;   /* NaN counts as the worst */
        }
    if (worst) *worst = w;
    return w <= tol;
}
