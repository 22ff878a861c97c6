/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include <stdio.h>

int cmd_devices(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char buf[16384];
    vxa_devices_list(buf, sizeof buf);
    fputs(buf, stdout);
    return 0;
}
