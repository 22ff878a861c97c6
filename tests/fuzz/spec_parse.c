/* SPDX-License-Identifier: MIT */
/* Fuzz target: any text as an op spec. It parses or fails with a message; what parses normalises to a text
 * that parses again to the same text (a fixed point). */
#include "voxaug.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    vxa_pipeline *p = NULL, *q = NULL;
    char err[2048] = "";
    vxa_status st = vxa_pipeline_parse(spec, &p, err, sizeof err);
    if (st == VXA_OK) {
        const char *text = vxa_pipeline_string(p);
        if (vxa_pipeline_parse(text, &q, err, sizeof err) != VXA_OK) abort();
        if (strcmp(text, vxa_pipeline_string(q)) != 0) abort();
    } else if (p != NULL || err[0] == '\0') {
        abort();
    }
    vxa_pipeline_free(p);
    vxa_pipeline_free(q);
    free(spec);
    return 0;
}
