/* SPDX-License-Identifier: MIT */
/* voxaug preview: a PNG of the three mid slices of a NIfTI volume, optionally with a label map overlaid. */
#include "cli.h"
#include "ops.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void preview_usage(FILE *f)
{
    fprintf(f,
            "usage: voxaug preview FILE -o OUT.png [--label LABELS] [--window LO,HI | --values LO,HI | --ct PRESET]\n"
            "                      [--channel C]\n\n"
            "Writes the sagittal, coronal and axial mid slices of FILE side by side as a PNG picture (OUT must\n"
            "end in .png), in the neurological convention: sagittal anterior right and superior up; coronal and\n"
            "axial with the patient's right on the right; axial anterior up. Voxels are drawn with their true\n"
            "aspect.\n\n"
            "  -o, --output OUT.png  the picture to write (replaced atomically)\n"
            "  --label LABELS        an integer label map on the same grid, overlaid in colour\n"
            "  --window LO,HI        grey window as percentiles of the shown channel (default 0.5,99.5)\n"
            "  --values LO,HI        grey window as values of the image instead (e.g. Hounsfield units)\n"
            "  --ct PRESET           a CT window by name, as the window op's presets: brain, subdural,\n"
            "                        stroke, lung, bone, soft, liver, mediastinum (values centre +- width/2)\n"
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

/* "LO,HI" into two finite numbers with LO <= HI; 0 if the text is anything else. */
static int preview_parse_pair(const char *text, double *lo, double *hi)
{
    char *end = NULL;
    errno = 0;
    *lo = strtod(text, &end);
    if (end == text || *end != ',' || errno) return 0;
    const char *second = end + 1;
    *hi = strtod(second, &end);
    if (end == second || *end != '\0' || errno) return 0;
    return isfinite(*lo) && isfinite(*hi) && *lo <= *hi;
}

/* Whether name ends in ".png", in any case: the only format written, so "-o x.jpg" is refused, not mislabelled. */
static int preview_is_png_name(const char *name)
{
    const size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

int cmd_preview(int argc, char **argv)
{
    const char *input = NULL, *output = NULL, *label_path = NULL;
    double lo = 0.5, hi = 99.5;
    const char *window_by = NULL;   /* the option that set the window: percentiles unless --values or --ct */
    int window_in_values = 0;
    const char *asked = NULL;       /* a second window option, refused */
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
            if (!preview_parse_pair(value, &lo, &hi) || lo < 0.0 || hi > 100.0) {
                fprintf(stderr, "voxaug preview: --window '%s': expected LO,HI percentiles with "
                                "0 <= LO <= HI <= 100, e.g. 0.5,99.5\n", value);
                return 2;
            }
            if (window_by && strcmp(window_by, "--window") != 0) {
                asked = "--window";
                goto two_windows;
            }
            window_by = "--window";
            window_in_values = 0;
        } else if (preview_is_option(a, NULL, "--values")) {
            if (!(value = preview_option_value(argc, argv, &i, "--values"))) return 2;
            if (!preview_parse_pair(value, &lo, &hi)) {
                fprintf(stderr, "voxaug preview: --values '%s': expected LO,HI values with LO <= HI, "
                                "e.g. -1000,400\n", value);
                return 2;
            }
            if (window_by && strcmp(window_by, "--values") != 0) {
                asked = "--values";
                goto two_windows;
            }
            window_by = "--values";
            window_in_values = 1;
        } else if (preview_is_option(a, NULL, "--ct")) {
            if (!(value = preview_option_value(argc, argv, &i, "--ct"))) return 2;
            double center, width;
            if (!vxa_window_preset(value, &center, &width)) {
                fprintf(stderr, "voxaug preview: --ct '%s': not a CT window; one of", value);
                for (const char *const *n = vxa_window_preset_names(); *n; n++) fprintf(stderr, " %s", *n);
                fprintf(stderr, "\n");
                return 2;
            }
            if (window_by && strcmp(window_by, "--ct") != 0) {
                asked = "--ct";
                goto two_windows;
            }
            window_by = "--ct";
            window_in_values = 1;
            lo = center - width / 2;
            hi = center + width / 2;
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
    if (!preview_is_png_name(output)) {
        fprintf(stderr, "voxaug preview: -o '%s': the picture is a PNG, so its name must end in .png\n", output);
        return 2;
    }

    const cli_path paths[] = { { input, "input", 0 }, { label_path, "--label", 0 }, { output, "-o", 1 } };
    if (cli_check_distinct("preview", paths, 3) != 0) return 2;

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
    const vxa_status st = window_in_values ? vxa_preview_png_values(output, &view, label, lo, hi, err, sizeof err)
                                           : vxa_preview_png(output, &view, label, lo, hi, err, sizeof err);
    if (st != VXA_OK) goto done;
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "voxaug preview: %s\n", err);
    vxa_volume_free(image);
    vxa_volume_free(label);
    return rc;
two_windows:
    fprintf(stderr, "voxaug preview: %s and %s both set the window; give one\n", window_by, asked);
    return 2;
}
