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
