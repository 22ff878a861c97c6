/* SPDX-License-Identifier: MIT */
/* Helpers shared by the CLI's commands. */
#include "cli.h"
#include "commit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_take_arg(const char *cmd, int argc, char **argv, int *i, const char **target, const char **positional)
{
    const char *a = argv[*i];
    if (!target && a[0] == '-') {
        fprintf(stderr, "voxaug %s: unknown option '%s' (voxaug %s --help)\n", cmd, a, cmd);
        return 2;
    }
    if (!target) {
        if (*positional) {
            fprintf(stderr, "voxaug %s: unexpected argument '%s'\n", cmd, a);
            return 2;
        }
        *positional = a;
        return 0;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "voxaug %s: %s needs a value\n", cmd, a);
        return 2;
    }
    *target = argv[++*i];
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || *s < '0' || *s > '9') return 0; /* no sign, no blanks: strtoull would take " -1" */
    unsigned long long v = strtoull(s, &end, 10); /* decimal: "--seed 010" is 10, "08" is valid */
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

vxa_status cli_context(const char *device, vxa_context **out)
{
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = device;
    vxa_status st = vxa_context_create(&opt, out);
    if (st != VXA_OK) {
        fprintf(stderr, "voxaug: device: %s\n", *out ? vxa_last_error(*out) : vxa_status_string(st));
        vxa_context_destroy(*out);
        *out = NULL;
    }
    return st;
}

vxa_status cli_convert(const vxa_volume *v, vxa_dtype t, vxa_volume **out)
{
    vxa_status st = vxa_volume_alloc(v->dim, v->channels, t, out);
    if (st != VXA_OK) return st;
    vxa_volume *o = *out;
    void *data = o->data;
    *o = *v;
    o->data = data;
    o->dtype = t;
    o->scl_slope = o->scl_inter = 0.0;
    for (int64_t c = 0; c < v->channels; c++)
        for (int64_t k = 0; k < v->dim[2]; k++)
            for (int64_t j = 0; j < v->dim[1]; j++)
                for (int64_t i = 0; i < v->dim[0]; i++) vxa_volume_set(o, i, j, k, c, vxa_volume_get(v, i, j, k, c));
    return VXA_OK;
}

int cli_write_text(const char *path, const char *text, char *err, size_t errlen)
{
    vxa_commit c;
    vxa_commit_init(&c);
    const int i = vxa_commit_add(&c, path, err, errlen);
    if (i < 0) return -1;
    if (vxa_commit_write_text(&c, i, text, err, errlen) != VXA_OK) {
        vxa_commit_abort(&c);
        return -1;
    }
    return vxa_commit_all(&c, err, errlen) == VXA_OK ? 0 : -1;
}
