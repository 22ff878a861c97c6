/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_devices(int argc, char **argv)
{
    if (argc > 1) {
        const int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        if (!help) fprintf(stderr, "voxaug devices: unexpected argument '%s'\n", argv[1]);
        fprintf(help ? stdout : stderr, "usage: voxaug devices\n\nLists the OpenCL platforms and devices, and the "
                                        "reference (C) path, with the names --device and VOXAUG_DEVICE take.\n");
        return help ? 0 : 2;
    }
    char buf[16384];
    vxa_devices_list(buf, sizeof buf);
    fputs(buf, stdout);
    return 0;
}
