/* SPDX-License-Identifier: MIT */
/* Fuzz target: any bytes as a .nii file (and, by the first byte's low bit, as a .nii.gz name, which the
 * reader must refuse or read through zlib). Nothing may crash, leak or hang; success must give a volume whose
 * size matches its header. */
#include "voxaug.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    const int gz = size > 0 && (data[0] & 1) && size > 2 && data[0] == 0x1f;
    snprintf(path, sizeof path, "/tmp/vxa-fuzz-%ld%s", (long)getpid(), gz ? ".nii.gz" : ".nii");
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    vxa_volume *v = NULL;
    char err[1024];
    if (vxa_nifti_read(path, &v, err, sizeof err) == VXA_OK) {
        if (!v || vxa_volume_bytes(v) == 0) abort();  /* success must describe real data */
        volatile uint8_t sink = ((const uint8_t *)v->data)[vxa_volume_bytes(v) - 1];
        (void)sink;
    } else if (v != NULL || err[0] == '\0') {
        abort();                                       /* failure: no volume, and a message */
    }
    vxa_volume_free(v);
    remove(path);
    return 0;
}
