/* SPDX-License-Identifier: MIT */
#ifndef VXA_CLI_H
#define VXA_CLI_H
#include "voxaug.h"

typedef struct { const char *name; int (*fn)(int argc, char **argv); const char *help; } cli_command;

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
#endif
