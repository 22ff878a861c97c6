/* SPDX-License-Identifier: MIT */
/* voxaug demo: the built-in head phantom and its label map through a random augmentation pipeline, written as
 * NIfTI with before/after previews into a folder it prints. Needs no input files. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The demo pipeline: the standard augmentation chain. The crop stands with the spatial ops so that the whole
 * geometry, elastic field included, is one resampling pass of only the cropped voxels. */
static const char *const demo_spec =
    "flip(axes=0,1,2, p_axis=0.5) rotate([-20,20], plane=0,1) rotate([-10,10], plane=1,2) zoom([0.85,1.15]) "
    "elastic(rms=[1,3], smooth_mm=12, mode=fast, p=0.8) random_crop(112,112,112) "
    "zscore(nonzero=1) noise([0,0.1], p=0.5) gamma([0.7,1.5], p=0.3)";

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void demo_usage(FILE *f)
{
    fprintf(f, "usage: voxaug demo [-o DIR] [--size N] [-n K] [--seed S] [--device D]\n\n"
               "Makes a Shepp-Logan head phantom of N^3 voxels (default 128) with its label map, runs K (default 3)\n"
               "samples of a random pipeline on it, and writes NIfTI volumes, JSON parameters and PNG previews\n"
               "(before and after) into DIR (default: a new folder under /tmp). The pipeline:\n  %s\n", demo_spec);
}

int cmd_demo(int argc, char **argv)
{
    const char *dir = NULL, *device = NULL;
    uint64_t size = 128, copies = 3, seed = 2026;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { demo_usage(stdout); return 0; }
        if (!v) { fprintf(stderr, "voxaug demo: %s needs a value (voxaug demo --help)\n", a); return 2; }
        if (strcmp(a, "-o") == 0) dir = v;
        else if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--size") == 0) { if (!cli_parse_u64(v, &size) || size < 16 || size > 512) { fprintf(stderr, "voxaug demo: --size takes 16..512\n"); return 2; } }
        else if (strcmp(a, "-n") == 0) { if (!cli_parse_u64(v, &copies) || copies < 1 || copies > 100) { fprintf(stderr, "voxaug demo: -n takes 1..100\n"); return 2; } }
        else if (strcmp(a, "--seed") == 0) { if (!cli_parse_u64(v, &seed)) { fprintf(stderr, "voxaug demo: bad --seed\n"); return 2; } }
        else { fprintf(stderr, "voxaug demo: unknown option '%s' (voxaug demo --help)\n", a); return 2; }
        i++;
    }
    char tmpl[] = "/tmp/voxaug-demo-XXXXXX", path[4096], err[8192] = "";
    if (!dir) {
        if (!mkdtemp(tmpl)) { fprintf(stderr, "voxaug demo: mkdtemp: %s\n", strerror(errno)); return 1; }
        dir = tmpl;
    } else if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "voxaug demo: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int rc = 1;
    vxa_volume *img = NULL, *lab = NULL;
    vxa_pipeline *p = NULL;
    vxa_context *ctx = NULL;
    const int64_t dim[3] = { (int64_t)size, (int64_t)size, (int64_t)size };
    if (vxa_phantom(dim, &img, &lab) != VXA_OK) { fprintf(stderr, "voxaug demo: phantom of %llu^3 failed\n", (unsigned long long)size); goto done; }
    if (vxa_pipeline_parse(demo_spec, &p, err, sizeof err) != VXA_OK) { fprintf(stderr, "voxaug demo: %s\n", err); goto done; }
    if (cli_context(device, &ctx) != VXA_OK) goto done;
    printf("voxaug %s demo on %s\npipeline: %s\n", vxa_version_string(), vxa_context_device_name(ctx),
           vxa_pipeline_string(p));
    snprintf(path, sizeof path, "%s/phantom.nii.gz", dir);
    if (vxa_nifti_write(path, img, err, sizeof err) != VXA_OK) { fprintf(stderr, "voxaug demo: %s\n", err); goto done; }
    snprintf(path, sizeof path, "%s/phantom_label.nii.gz", dir);
    if (vxa_nifti_write(path, lab, err, sizeof err) != VXA_OK) { fprintf(stderr, "voxaug demo: %s\n", err); goto done; }
    snprintf(path, sizeof path, "%s/before.png", dir);
    if (vxa_preview_png(path, img, lab, 0.5, 99.5, err, sizeof err) != VXA_OK) { fprintf(stderr, "voxaug demo: %s\n", err); goto done; }
    for (uint64_t s = 0; s < copies; s++) {
        vxa_volume *oi = NULL, *ol = NULL;
        vxa_draw *draw = NULL;
        const double t0 = seconds();
        vxa_status st = vxa_pipeline_run(ctx, p, seed, s, img, lab, &oi, &ol, &draw);
        const double t = seconds() - t0;
        if (st != VXA_OK) { fprintf(stderr, "voxaug demo: %s\n", vxa_last_error(ctx)); goto done; }
        int bad = 0;
        snprintf(path, sizeof path, "%s/aug%llu.nii.gz", dir, (unsigned long long)s);
        bad |= vxa_nifti_write(path, oi, err, sizeof err) != VXA_OK;
        snprintf(path, sizeof path, "%s/aug%llu_label.nii.gz", dir, (unsigned long long)s);
        bad |= !bad && vxa_nifti_write(path, ol, err, sizeof err) != VXA_OK;
        snprintf(path, sizeof path, "%s/after%llu.png", dir, (unsigned long long)s);
        bad |= !bad && vxa_preview_png(path, oi, ol, 0.5, 99.5, err, sizeof err) != VXA_OK;
        snprintf(path, sizeof path, "%s/aug%llu.json", dir, (unsigned long long)s);
        bad |= !bad && cli_write_text(path, vxa_draw_json(draw), err, sizeof err) != 0;
        printf("sample %llu: %lldx%lldx%lld in %.1f ms (host memory in and out)\n", (unsigned long long)s,
               (long long)oi->dim[0], (long long)oi->dim[1], (long long)oi->dim[2], 1e3 * t);
        vxa_volume_free(oi);
        vxa_volume_free(ol);
        vxa_draw_free(draw);
        if (bad) { fprintf(stderr, "voxaug demo: %s\n", err); goto done; }
    }
    printf("wrote phantom.nii.gz, phantom_label.nii.gz, before.png and, per sample, augN.nii.gz, "
           "augN_label.nii.gz, augN.json, afterN.png\n%s\n", dir);
    rc = 0;
done:
    vxa_volume_free(img);
    vxa_volume_free(lab);
    vxa_pipeline_free(p);
    vxa_context_destroy(ctx);
    return rc;
}
