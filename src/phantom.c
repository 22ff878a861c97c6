/* SPDX-License-Identifier: MIT */
/* The built-in 3D Shepp-Logan head phantom: ten ellipsoids whose intensities add up. */
#include "internal.h"

#include <math.h>
#include <stdio.h>

/* The 3D Shepp-Logan table of Kak & Slaney (Principles of Computerized Tomographic Imaging, table 3.1), with the
 * "modified" contrast-enhanced intensities of Toft (1996) that phantominator and MATLAB's phantom3d use, so every
 * cumulative sum is >= 0 (skull 1, brain 0.2, ventricles 0, the small features 0.3). Coordinates are the
 * normalised head frame [-1, 1]^3: x right, y anterior, z superior. Each ellipsoid is rotated by theta about
 * the z axis through its own centre; its semi-axis a points along (cos theta, sin theta, 0). */
typedef struct { int tenths; double a, b, c, x0, y0, z0, theta_deg; } phantom_ellipsoid;

static const phantom_ellipsoid phantom_table[10] = {
    /* value/10  a       b      c      x0      y0      z0   theta */
    {   10,  0.69,   0.92,  0.90,   0.00,   0.00,   0.00,    0 },  /* 1 skull */
    {   -8,  0.6624, 0.874, 0.88,   0.00,   0.00,   0.00,    0 },  /* 2 brain */
    {   -2,  0.41,   0.16,  0.21,  -0.22,   0.00,  -0.25,  108 },  /* 3 ventricle, x < 0 */
    {   -2,  0.31,   0.11,  0.22,   0.22,   0.00,  -0.25,   72 },  /* 4 ventricle, x > 0 */
    {    1,  0.21,   0.25,  0.50,   0.00,   0.35,  -0.25,    0 },
    {    1,  0.046,  0.046, 0.046,  0.00,   0.10,  -0.25,    0 },
    {    1,  0.046,  0.023, 0.02,  -0.08,  -0.65,  -0.25,    0 },
    {    1,  0.046,  0.023, 0.02,   0.06,  -0.65,  -0.25,   90 },
    {    1,  0.056,  0.04,  0.10,   0.06,  -0.105,  0.625,  90 },
    {    1,  0.056,  0.056, 0.10,   0.00,   0.10,   0.625,   0 },
};

/* 1 if the normalised point (x, y, z) lies in ellipsoid e (boundary included). */
static int phantom_inside(const phantom_ellipsoid *e, double x, double y, double z)
{
    const double t = e->theta_deg * (3.14159265358979323846 / 180.0);
    const double dx = x - e->x0, dy = y - e->y0, dz = z - e->z0;
    const double u = dx * cos(t) + dy * sin(t);   /* along a */
    const double v = -dx * sin(t) + dy * cos(t);  /* along b */
    return (u * u) / (e->a * e->a) + (v * v) / (e->b * e->b) + (dz * dz) / (e->c * e->c) <= 1.0;
}

/* Centre of voxel i of n in the normalised frame: the grid spans [-1, 1], voxel centres at (2i + 1 - n)/n. */
static double phantom_coord(int64_t i, int64_t n)
{
    return (double)(2 * i + 1 - n) / (double)n;
}

vxa_status vxa_phantom(const int64_t dim[3], vxa_volume **image, vxa_volume **label)
{
    vxa_volume *img = NULL, *lab = NULL;
    vxa_status st = VXA_OK;
    if (image) *image = NULL;
    if (label) *label = NULL;
    if (!dim || dim[0] < 1 || dim[1] < 1 || dim[2] < 1) return VXA_ERR_INVALID_ARGUMENT;
    if (!image && !label) return VXA_OK;

    const double spacing[3] = { 1.0, 1.0, 1.0 };
    if (image) {
        if ((st = vxa_volume_alloc(dim, 1, VXA_FLOAT32, &img)) != VXA_OK) goto done;
        vxa_volume_set_spacing(img, spacing);
        snprintf(img->descrip, sizeof img->descrip, "voxaug Shepp-Logan phantom");
    }
    if (label) {
        if ((st = vxa_volume_alloc(dim, 1, VXA_UINT8, &lab)) != VXA_OK) goto done;
        vxa_volume_set_spacing(lab, spacing);
        snprintf(lab->descrip, sizeof lab->descrip, "voxaug Shepp-Logan phantom labels");
    }
    for (int64_t k = 0; k < dim[2]; k++) {
        const double z = phantom_coord(k, dim[2]);
        for (int64_t j = 0; j < dim[1]; j++) {
            const double y = phantom_coord(j, dim[1]);
            for (int64_t i = 0; i < dim[0]; i++) {
                const double x = phantom_coord(i, dim[0]);
                int tenths = 0, region = 0;  /* integer sum: 1 - 0.8 - 0.2 is exactly 0, not -5.6e-17 */
                for (int e = 0; e < 10; e++)
                    if (phantom_inside(&phantom_table[e], x, y, z)) {
                        tenths += phantom_table[e].tenths;
                        region = e + 1;
                    }
                const size_t idx = (size_t)(i + dim[0] * (j + dim[1] * k));
                if (img) ((float *)img->data)[idx] = (float)(tenths / 10.0);
                if (lab) ((uint8_t *)lab->data)[idx] = (uint8_t)region;
            }
        }
    }
done:
    if (st != VXA_OK) {
        vxa_volume_free(img);
        vxa_volume_free(lab);
        return st;
    }
    if (image) *image = img;
    if (label) *label = lab;
    return VXA_OK;
}
