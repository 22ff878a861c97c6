/* SPDX-License-Identifier: MIT */
/* The voxaug command: dispatch to subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    { "devices", cmd_devices, "list OpenCL platforms and devices" },
    { "info",    cmd_info,    "describe a NIfTI file: shape, type, geometry, value range" },
    { "apply", cmd_apply, "run ops (fixed or random) on an image and its label map" },
    { "invert", cmd_invert, "map an output (image, label map, prediction) back onto the input's grid" },
    { "augment", cmd_augment, "K augmented copies of each image (+ label) of a dataset, with drawn parameters" },
    { "demo", cmd_demo, "the built-in head phantom through a random pipeline, with previews" },
    { "ops", cmd_ops, "list every op with its parameters and SciPy equivalent" },
    { "preview", cmd_preview, "PNG of the three mid slices, with an optional label overlay" },
    { "warmup", cmd_warmup, "build the programs ahead into the program cache (container images)" },
    { "histstd-train", cmd_histstd_train, "landmarks of histogram standardisation (the histstd op) from images" },
};

static void usage(FILE *f)
{
    fprintf(f, "voxaug %s: preprocessing and augmentation of 3D medical images on OpenCL devices\n\n"
               "usage: voxaug COMMAND [options]\n\ncommands:\n", vxa_version_string());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n  voxaug COMMAND --help   options of one command\n"
               "  voxaug --version\n\nenvironment: VOXAUG_DEVICE (gpu, cpu, reference, an index or a name)\n"
               "exit status: 0 success, 1 failure (input, output, data or device; the reason on stderr),\n"
               "             2 usage error (unknown command or option, bad option value, a spec that does not parse)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("voxaug %s\n", vxa_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "voxaug: unknown command '%s' (voxaug --help lists them)\n", argv[1]);
    return 2;
}
