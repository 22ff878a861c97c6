/* SPDX-License-Identifier: MIT */
/* A subject's files in memory, stacked for one pipeline run and split again (src/cli/subject.c). */
#ifndef VXA_CLI_SUBJECT_H
#define VXA_CLI_SUBJECT_H

#include "dataset.h"

typedef struct {
    vxa_volume *image;                  /* every image's channels, in order (float32 when stacked) */
    vxa_volume *label;                  /* every label map's channels, or NULL */
    int64_t img_channels[DS_MAX_FILES]; /* channels of each image file */
    int64_t lab_channels[DS_MAX_FILES];
    vxa_dtype lab_dtype[DS_MAX_FILES];  /* the type each label map is written back in */
} cli_subject_data;

/* Reads and checks (one grid; integer label values, float label maps converted) a subject; err names the file. */
vxa_status cli_subject_load(const ds_subject *s, cli_subject_data *d, char *err, size_t errlen);
void       cli_subject_free(cli_subject_data *d);
/* Image file f's part of the pipeline's output image: a view borrowing out's data. */
vxa_volume cli_subject_image_out(const cli_subject_data *d, const vxa_volume *out, int f);
/* Label map f's part of the output label map in its own type: a view of out, or *converted (free it). */
vxa_status cli_subject_label_out(const cli_subject_data *d, const vxa_volume *out, int f, vxa_volume *view,
                                 vxa_volume **converted);
#endif
