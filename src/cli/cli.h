/* SPDX-License-Identifier: MIT */
#ifndef VXA_CLI_H
#define VXA_CLI_H
#include "voxaug.h"

#include <stddef.h>
#include <stdint.h>

typedef struct { const char *name; int (*fn)(int argc, char **argv); const char *help; } cli_command;

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_preview(int argc, char **argv);

/* util.c */
int        cli_parse_u64(const char *s, uint64_t *out);               /* 1 on success */
vxa_status cli_context(const char *device, vxa_context **out);       /* prints the error */
vxa_status cli_convert(const vxa_volume *v, vxa_dtype t, vxa_volume **out);
int        cli_write_text(const char *path, const char *text, char *err, size_t errlen); /* atomic; 0 ok */
#endif
