/* SPDX-License-Identifier: MIT */
/* The op table: the families' descriptors joined, and the host-side draws ops make. */
#include "ops.h"
#include "shared/philox.h"

#include <string.h>

static const vxa_op_desc *table[128];
static int ntable = -1;

const vxa_op_desc *const *vxa_op_table(int *count)
{
    if (ntable < 0) { /* filled once; the families' arrays are constant */
        int n = 0;
        const struct { const vxa_op_desc *ops; int n; } fams[] = {
            { vxa_spatial_ops, vxa_spatial_nops },
            { vxa_elastic_ops, vxa_elastic_nops },
            { vxa_intensity_ops, vxa_intensity_nops },
        };
        for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++)
            for (int i = 0; i < fams[f].n && n < 127; i++) table[n++] = &fams[f].ops[i];
        table[n] = NULL;
        ntable = n;
    }
    if (count) *count = ntable;
    return table;
}

const vxa_op_desc *vxa_op_find(const char *name)
{
    int n;
    const vxa_op_desc *const *t = vxa_op_table(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i]->name, name) == 0) return t[i];
    return NULL;
}

/* Philox words on the draw stream: counter block = next++, one 32-bit word pair per double. */
double vxa_draw_uniform(vxa_draw_rng *r)
{
    vxa_philox4 x = vxa_philox_block(r->seed, r->sample, r->stream, r->next++);
    uint64_t bits = ((uint64_t)x.v[0] << 21) ^ (x.v[1] >> 11);  /* 53 bits */
    return (double)(bits & ((1ull << 53) - 1)) * 0x1.0p-53;
}

int64_t vxa_draw_int(vxa_draw_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo) return lo;
    int64_t v = lo + (int64_t)(vxa_draw_uniform(r) * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}
