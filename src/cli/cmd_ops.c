/* SPDX-License-Identifier: MIT */
/* voxaug ops: the op table as text or Markdown (the README's op reference is generated from it). */
#include "cli.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

static const char *kind_name(const vxa_op_desc *d)
{
    /* sampling is listed with the spatial ops whose passes it sets; spatial ops by what they do to the grid
     * (SPEC "Geometry"): a grid op makes a new grid, an augmentation op moves the content on its grid */
    if (d->kind == VXA_OPK_SPATIAL) return d->augment ? "spatial, augment" : "spatial, grid";
    return d->kind == VXA_OPK_SAMPLING ? "spatial" : d->kind == VXA_OPK_ELASTIC ? "elastic, augment"
                                                   : d->kind == VXA_OPK_GROUP ? "composition"
                                                   : d->kind == VXA_OPK_LABEL ? "label" : "intensity";
}

static void param_text(const vxa_param_desc *pd, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s", pd->name);
    if (pd->count > 1) n += (size_t)snprintf(buf + n, len - n, "[%d]", pd->count);
    if (pd->flags & VXA_P_REQUIRED) {
        snprintf(buf + n, len - n, " (required)");
        return;
    }
    if (pd->flags & VXA_P_LONG) {
        snprintf(buf + n, len - n, "=v,v,... (a list)");
        return;
    }
    if (pd->flags & VXA_P_AUTO) {
        snprintf(buf + n, len - n, "=auto");
        return;
    }
    if (pd->choices) {
        n += (size_t)snprintf(buf + n, len - n, "=%s (", pd->choices[(int)pd->def[0]]);
        for (int i = 0; pd->choices[i] && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "|" : "", pd->choices[i]);
        if (n < len) snprintf(buf + n, len - n, ")");
        return;
    }
    n += (size_t)snprintf(buf + n, len - n, "=");
    for (int k = 0; k < pd->count && n < len; k++) {
        n += (size_t)snprintf(buf + n, len - n, "%s%g", k ? "," : "", pd->def[k]);
        if (k == 0 && pd->count > 1 && pd->def[1] == pd->def[0] && pd->def[2] == pd->def[0]) break;
    }
}

/* A table cell: '|' escaped so Markdown keeps the columns. */
static void cell(const char *text)
{
    for (; *text; text++) {
        if (*text == '|') fputc('\\', stdout);
        fputc(*text, stdout);
    }
}

int cmd_ops(int argc, char **argv)
{
    int markdown = argc == 2 && strcmp(argv[1], "--markdown") == 0;
    if (argc > 1 && !markdown) {
        const int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        if (!help) {
            int bad = 1;
            while (bad < argc - 1 && strcmp(argv[bad], "--markdown") == 0) bad++;
            fprintf(stderr, "voxaug ops: unexpected argument '%s'\n", argv[bad]);
        }
        fprintf(help ? stdout : stderr, "usage: voxaug ops [--markdown]\n\nLists every op with its parameters, "
                                        "defaults and SciPy equivalent; --markdown as a table.\n");
        return help ? 0 : 2;
    }
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);
    if (markdown)
        printf("| op | kind | parameters (defaults) | what it does | SciPy / NumPy equivalent |\n|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const vxa_op_desc *d = t[i];
        char params[1024] = "";
        size_t used = 0;
        for (int p = 0; p < d->nparams; p++) {
            char one[256];
            param_text(&d->params[p], one, sizeof one);
            used += (size_t)snprintf(params + used, sizeof params - used, "%s%s", p ? ", " : "", one);
        }
        if (markdown) {
            printf("| `%s` | %s | ", d->name, kind_name(d));
            cell(params);
            printf(" | ");
            cell(d->doc);
            printf(" | ");
            cell(d->scipy ? d->scipy : "");
            printf(" |\n");
        }
        else {
            printf("%s(%s%sp=1)\n    %s\n", d->name, params, d->nparams ? ", " : "", d->doc);
            for (int p = 0; p < d->nparams; p++) printf("      %-10s %s\n", d->params[p].name, d->params[p].doc);
            if (d->scipy && d->scipy[0]) printf("    SciPy: %s\n", d->scipy);
        }
    }
    return 0;
}
