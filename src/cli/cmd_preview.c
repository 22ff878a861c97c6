/* SPDX-License-Identifier: MIT */
/* voxaug preview: a PNG of the three mid slices of a NIfTI volume, optionally with a label map overlaid. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void preview_usage(FILE *f)
{
    fprintf(f,
            "usage: voxaug preview FILE -o OUT.png [--label LABELS] [--window LO,HI] [--channel C]\n\n"
            "Writes the sagittal, coronal and axial mid slices of FILE side by side, in the neurological\n"
            "convention: sagittal anterior right and superior up; coronal and axial with the patient's right\n"
            "on the right; axial anterior up. Voxels are drawn with their true aspect.\n\n"
            "  -o, --output OUT.png  the picture to write (replaced atomically)\n"
            "  --label LABELS        an integer label map on the same grid, overlaid in colour\n"
            "  --window LO,HI        grey window as percentiles of the shown channel (default 0.5,99.5)\n"
            "  --channel C           the channel (4th dimension) to show, from 0 (default 0)\n"
            "  -h, --help            this text\n");
}

/* The value of option argv[*i] ("--name VALUE" or "--name=VALUE"); NULL (after a message) if it is missing. */
static const char *preview_option_value(int argc, char **argv, int *i, const char *name)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq && strncmp(argv[*i], "--", 2) == 0) return eq + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "voxaug preview: %s needs a value (voxaug preview --help)\n", name);
        return NULL;
    }
    return argv[++*i];
}

/* Matches "-o", "--output" or "--output=..." against the short and long names. */
static int preview_is_option(const char *arg, const char *shortname, const char *longname)
{
    if (shortname && strcmp(arg, shortname) == 0) return 1;
    const size_t n = strlen(longname);
    return strncmp(arg, longname, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int preview_parse_window(const char *text, double *lo, double *hi)
{
    char *end = NULL;
    errno = 0;
    *lo = strtod(text, &end);
    if (end == text || *end != ',' || errno) return 0;
    const char *second = end + 1;
    *hi = strtod(second, &end);
    if (end == second || *end != '\0' || errno) return 0;
    return isfinite(*lo) && isfinite(*hi) && *lo >= 0.0 && *lo <= *hi && *hi <= 100.0;
}

int cmd_preview(int argc, char **argv)
{
    const char *input = NULL, *output = NULL, *label_path = NULL;
    double lo = 0.5, hi = 99.5;
    uint64_t channel = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            preview_usage(stdout);
            return 0;
        } else if (preview_is_option(a, "-o", "--output")) {
            if (!(value = preview_option_value(argc, argv, &i, "--output"))) return 2;
            output = value;
        } else if (preview_is_option(a, NULL, "--label")) {
            if (!(value = preview_option_value(argc, argv, &i, "--label"))) return 2;
            label_path = value;
        } else if (preview_is_option(a, NULL, "--window")) {
            if (!(value = preview_option_value(argc, argv, &i, "--window"))) return 2;
            if (!preview_parse_window(value, &lo, &hi)) {
                fprintf(stderr, "voxaug preview: --window '%s': expected LO,HI percentiles with "
                                "0 <= LO <= HI <= 100, e.g. 0.5,99.5\n", value);
                return 2;
            }
        } else if (preview_is_option(a, NULL, "--channel")) {
            if (!(value = preview_option_value(argc, argv, &i, "--channel"))) return 2;
            if (!cli_parse_u64(value, &channel)) {
                fprintf(stderr, "voxaug preview: --channel '%s': expected an integer >= 0\n", value);
                return 2;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "voxaug preview: unknown option '%s' (voxaug preview --help)\n", a);
            return 2;
        } else if (!input) {
            input = a;
        } else {
            fprintf(stderr, "voxaug preview: one input file, got '%s' and '%s'\n", input, a);
            return 2;
        }
    }
    if (!input || !output) {
        fprintf(stderr, "voxaug preview: %s\n", !input ? "no input FILE given" : "no output given (-o OUT.png)");
        preview_usage(stderr);
        return 2;
    }

    char err[4096] = "";
    vxa_volume *image = NULL, *label = NULL;
    int rc = 1;
    if (vxa_nifti_read(input, &image, err, sizeof err) != VXA_OK) goto done;
    if (label_path && vxa_nifti_read(label_path, &label, err, sizeof err) != VXA_OK) goto done;
    if (channel >= (uint64_t)image->channels) {
        snprintf(err, sizeof err, "%s has %lld channel%s; --channel %llu is out of range", input,
                 (long long)image->channels, image->channels == 1 ? "" : "s", (unsigned long long)channel);
        goto done;
    }
    /* a view of the chosen channel: the same header, one channel, data from that channel on */
    vxa_volume view = *image;
    view.channels = 1;
    view.data = (char *)image->data + (size_t)channel * (vxa_volume_bytes(image) / (size_t)image->channels);
    if (vxa_preview_png(output, &view, label, lo, hi, err, sizeof err) != VXA_OK) goto done;
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "voxaug preview: %s\n", err);
    vxa_volume_free(image);
    vxa_volume_free(label);
    return rc;
}
