/* SPDX-License-Identifier: MIT */
/* voxaug histstd-train IMG[:MASK] ... -o landmarks.json: the landmarks of histogram standardisation (Nyul and
 * Udupa, TorchIO's HistogramStandardization.train) over a set of images, for the histstd op. */
#include "cli.h"
#include "intensity.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void histstd_usage(FILE *f)
{
    fprintf(f, "usage: voxaug histstd-train IMG[:MASK] ... -o LANDMARKS.json [--cutoff LO,HI] [--nonzero]\n"
               "                             [--device D]\n\n"
               "Trains the landmarks of histogram standardisation (Nyul and Udupa; TorchIO's\n"
               "HistogramStandardization.train): for each image the percentiles 100*LO, 10, 20, ..., 90, 100*HI of\n"
               "its finite voxels (with :MASK those where MASK, a label map on its grid, is non-zero; with --nonzero\n"
               "the non-zero ones) are mapped linearly so that the first goes to 0 and the last to 100, and the\n"
               "landmarks are their means over the images. Apply them with the op histstd(landmarks=FILE).\n\n"
               "  -o, --output FILE  the landmarks file (JSON), written whole or not at all\n"
               "  --cutoff LO,HI     the outer quantiles (default 0.01,0.99; LO < 0.1 < 0.9 < HI)\n"
               "  --nonzero          percentiles of the non-zero voxels (apply with histstd(..., nonzero=1))\n"
               "  --device D         gpu, cpu, reference, an index or a name (default $VOXAUG_DEVICE)\n"
               "  -q, --quiet        no line per image\n"
               "  -h, --help         this text\n\n"
               "exit status: 0 written, 1 an input could not be read or has no intensity range, 2 usage error\n");
}

int cmd_histstd_train(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' }, { "cutoff", required_argument, NULL, 'c' },
        { "nonzero", no_argument, NULL, 'z' }, { "device", required_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    const char *out = NULL, *device = NULL;
    double cutoff[2] = { 0.01, 0.99 };
    int nonzero = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c': {
            char *end;
            cutoff[0] = strtod(optarg, &end);
            if (*end != ',' || (cutoff[1] = strtod(end + 1, &end), *end) || !(cutoff[0] >= 0 && cutoff[0] < 0.1) ||
                !(cutoff[1] > 0.9 && cutoff[1] <= 1)) {
                fprintf(stderr, "voxaug histstd-train: --cutoff %s: expected LO,HI with 0 <= LO < 0.1 and "
                                "0.9 < HI <= 1\n", optarg);
                return 2;
            }
            break;
        }
        case 'z': nonzero = 1; break;
        case 'd': device = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': histstd_usage(stdout); return 0;
        default: histstd_usage(stderr); return 2;
        }
    }
    const int nimg = argc - optind;
    if (!out || nimg < 1) {
        fprintf(stderr, "voxaug histstd-train: %s\n", !out ? "-o LANDMARKS.json is required" : "no images given");
        histstd_usage(stderr);
        return 2;
    }
    double q[VXA_HIST_MAXQ], map[VXA_HIST_MAXQ];
    const int nq = vxa_histstd_percentiles(cutoff, q);
    double *p = malloc((size_t)nimg * (size_t)nq * sizeof *p);
    vxa_context *ctx = NULL;
    int rc = 1, masks = 0;
    char err[4096];
    if (!p) {
        fprintf(stderr, "voxaug histstd-train: out of memory\n");
        return 1;
    }
    if (cli_context(device, &ctx) != VXA_OK) goto done;
    for (int i = 0; i < nimg; i++) {
        char *arg = argv[optind + i], *colon = strrchr(arg, ':');
        vxa_volume *img = NULL, *mask = NULL;
        if (colon) *colon = '\0';   /* IMG:MASK */
        vxa_status st = vxa_nifti_read(arg, &img, err, sizeof err);
        if (st == VXA_OK && colon) st = vxa_nifti_read(colon + 1, &mask, err, sizeof err);
        if (st == VXA_OK && (st = vxa_histstd_image(ctx, img, mask, nonzero, q, nq, p + (size_t)i * nq)) != VXA_OK)
            snprintf(err, sizeof err, "%s: %s", arg, vxa_last_error(ctx));
        masks += mask != NULL;
        vxa_volume_free(img);
        vxa_volume_free(mask);
        if (colon) *colon = ':';
        if (st != VXA_OK) {
            fprintf(stderr, "voxaug histstd-train: %s\n", err);
            goto done;
        }
        const double lo = p[(size_t)i * nq], hi = p[(size_t)i * nq + nq - 1];
        if (!(hi > lo)) {
            fprintf(stderr, "voxaug histstd-train: %s: its percentiles %g and %g are both %g: no intensity range to "
                            "standardise\n", arg, q[0], q[nq - 1], lo);
            goto done;
        }
        if (!quiet) fprintf(stderr, "%s: percentiles %g..%g: %g .. %g\n", arg, q[0], q[nq - 1], lo, hi);
    }
    if (vxa_histstd_average(p, nimg, nq, map, err, sizeof err) != VXA_OK) {
        fprintf(stderr, "voxaug histstd-train: %s\n", err);
        goto done;
    }
    const char *masking = masks == nimg ? "mask" : masks ? "mixed" : nonzero ? "nonzero" : "none";
    if (vxa_histstd_write(out, q, map, nq, cutoff, nimg, masking, err, sizeof err) != VXA_OK) {
        fprintf(stderr, "voxaug histstd-train: %s\n", err);
        goto done;
    }
    if (!quiet) fprintf(stderr, "%s: landmarks of %d image(s) written\n", out, nimg);
    rc = 0;
done:
    vxa_context_destroy(ctx);
    free(p);
    return rc;
}
