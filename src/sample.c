/* SPDX-License-Identifier: MIT */
/* The label index (src/sample.h): which values a label map holds, how many voxels each, and where, per block,
 * from two device passes; a voxel of a class found from the block counts and one scan of its block. */
#include "sample.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN 4096                 /* voxels per block at least */
#define COUNTS_BUDGET (1 << 22)        /* block counts kept at most (16 MiB): blocks grow with the classes */

void vxa_label_index_free(vxa_label_index *ix)
{
    free(ix->value);
    free(ix->count);
    free(ix->block_counts);
    memset(ix, 0, sizeof *ix);
}

/* Block length for n voxels and ncls classes: at least BLOCK_MIN, the counts within COUNTS_BUDGET. */
static int64_t block_for(int64_t n, int64_t ncls)
{
    int64_t nblocks = COUNTS_BUDGET / ncls;
    if (nblocks < 1) nblocks = 1;
    int64_t block = (n + nblocks - 1) / nblocks;
    return block < BLOCK_MIN ? BLOCK_MIN : block;
}

vxa_status vxa_label_index_make(vxa_context *ctx, const vxa_dvol *lab, vxa_label_index *ix)
{
    memset(ix, 0, sizeof *ix);
    memcpy(ix->dim, lab->dim, sizeof ix->dim);
    const int64_t n = lab->dim[0] * lab->dim[1] * lab->dim[2];
    int64_t lo, hi;
    vxa_status st = vxa_label_range(ctx, lab, &lo, &hi);
    if (st != VXA_OK) return st;
    if (hi - lo >= VXA_LABEL_MAX_RANGE)
        return vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "label map: values from %lld to %lld, more than %d apart: patch "
                        "sampling indexes label maps of classes, not continuous values", (long long)lo,
                        (long long)hi, VXA_LABEL_MAX_RANGE);
    const int64_t nlut = hi - lo + 1;
    int32_t *lut = malloc((size_t)nlut * sizeof *lut);
    uint32_t *counts = NULL;
    if (!lut) return vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "label index: %lld values", (long long)nlut);
    /* Pass 1, every value of the range its own column (blocks as long as the budget needs): which are present.
     * Where the range is small (most label maps) these already are the final counts. */
    for (int64_t v = 0; v < nlut; v++) lut[v] = (int32_t)v;
    int64_t block = block_for(n, nlut), nblocks = (n + block - 1) / block;
    if (!(counts = malloc((size_t)(nblocks * nlut) * sizeof *counts))) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "label index: %lld block counts", (long long)(nblocks * nlut));
        goto done;
    }
    if ((st = vxa_label_block_counts(ctx, lab, block, lo, lut, nlut, (int)nlut, counts)) != VXA_OK) goto done;
    int ncls = 0;
    for (int64_t v = 0; v < nlut; v++) {
        uint64_t total = 0;
        for (int64_t b = 0; b < nblocks; b++) total += counts[b * nlut + v];
        lut[v] = total ? ncls++ : -1;
    }
    if (ncls > VXA_LABEL_MAX_CLASSES) {
        st = vxa_fail(ctx, VXA_ERR_UNSUPPORTED, "label map: %d distinct values, more than %d classes", ncls,
                      VXA_LABEL_MAX_CLASSES);
        goto done;
    }
    ix->nclasses = ncls;
    ix->value = malloc((size_t)ncls * sizeof *ix->value);
    ix->count = calloc((size_t)ncls, sizeof *ix->count);
    if (!ix->value || !ix->count) {
        st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "label index: %d classes", ncls);
        goto done;
    }
    const int64_t fblock = block_for(n, ncls), fnblocks = (n + fblock - 1) / fblock;
    if (fblock == block && ncls == nlut) { /* pass 1 counted exactly these columns */
        ix->block_counts = counts;
        counts = NULL;
    } else {  /* pass 2: the present values alone */
        free(counts);
        if (!(counts = malloc((size_t)(fnblocks * ncls) * sizeof *counts))) {
            st = vxa_fail(ctx, VXA_ERR_OUT_OF_MEMORY, "label index: %lld block counts", (long long)(fnblocks * ncls));
            goto done;
        }
        if ((st = vxa_label_block_counts(ctx, lab, fblock, lo, lut, nlut, ncls, counts)) != VXA_OK) goto done;
        ix->block_counts = counts;
        counts = NULL;
    }
    ix->block = fblock;
    ix->nblocks = fnblocks;
    for (int64_t v = 0; v < nlut; v++)
        if (lut[v] >= 0) ix->value[lut[v]] = lo + v;
    for (int64_t b = 0; b < fnblocks; b++)
        for (int q = 0; q < ncls; q++) ix->count[q] += ix->block_counts[b * ncls + q];
done:
    free(lut);
    free(counts);
    if (st != VXA_OK) vxa_label_index_free(ix);
    return st;
}

int vxa_label_index_class(const vxa_label_index *ix, int64_t v)
{
    int lo = 0, hi = ix->nclasses - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        if (ix->value[mid] == v) return mid;
        if (ix->value[mid] < v) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

vxa_status vxa_label_index_locate(vxa_context *ctx, const vxa_dvol *lab, const vxa_label_index *ix, int cls,
                                  uint64_t skip, int64_t idx[3])
{
    if (cls < 0 || cls >= ix->nclasses || skip >= ix->count[cls])
        return vxa_fail(ctx, VXA_ERR_INVALID_ARGUMENT, "label index: voxel %llu of class %d (%llu voxels)",
                        (unsigned long long)skip, cls, cls >= 0 && cls < ix->nclasses ?
                        (unsigned long long)ix->count[cls] : 0ull);
    const int64_t n = ix->dim[0] * ix->dim[1] * ix->dim[2];
    int64_t b = 0;
    for (; b < ix->nblocks; b++) {
        const uint32_t c = ix->block_counts[b * ix->nclasses + cls];
        if (skip < c) break;
        skip -= c;
    }
    const int64_t first = b * ix->block, end = first + ix->block < n ? first + ix->block : n;
    int64_t at;
    vxa_status st = vxa_label_locate(ctx, lab, first, end, ix->value[cls], (int64_t)skip, &at);
    if (st != VXA_OK) return st;
    if (at < 0)
        return vxa_fail(ctx, VXA_ERR_DEVICE, "label index: value %lld not found in block %lld where its counts put "
                        "it", (long long)ix->value[cls], (long long)b);
    idx[0] = at % ix->dim[0];
    idx[1] = at / ix->dim[0] % ix->dim[1];
    idx[2] = at / (ix->dim[0] * ix->dim[1]);
    return VXA_OK;
}
