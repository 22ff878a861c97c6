/* SPDX-License-Identifier: MIT */
/* The subjects of a dataset for `voxaug augment` (src/cli/dataset.c): how they are found in each layout
 * (IMAGE:LABEL arguments, --list, --images/--labels, nnU-Net raw, BIDS), what they are called, and where
 * their augmented copies go (--name templates). A subject is one or more images (modalities: separate files,
 * or one 4D file) and zero or more label maps, all on one grid; they all get one spatial draw.
 *
 * A subject's draws are keyed by its key: its first image's path relative to the dataset root ('/'-separated,
 * no "./"), the input of vxa_item_sample. The root is the list's folder for --list, DIR for --images,
 * --nnunet and --bids, and the current folder for arguments. */
#ifndef VXA_CLI_DATASET_H
#define VXA_CLI_DATASET_H

#include "cli.h"

#include <stddef.h>
#include <stdint.h>

#define DS_MAX_FILES 7 /* images + label maps of one subject; with the sidecar, one commit set (VXA_COMMIT_MAX) */

typedef enum { DS_PLAIN, DS_NNUNET, DS_BIDS } ds_layout;

typedef struct {
    char *path; /* as opened */
    char *role; /* the modality ("0000", "T1w", "image") or the label map's name ("label", "dseg") */
} ds_file;

typedef struct {
    char *key;     /* first image relative to the dataset root: vxa_item_sample's name */
    char *subject; /* {subject}: nnU-Net case id, BIDS sub- label, else the stem */
    char *session; /* {session}: BIDS ses- label, else "" */
    char *stem;    /* {stem}: the first image's file name without .nii / .nii.gz */
    char *dir;     /* {dir}: BIDS folder relative to the root (sub-01/ses-1/anat), else "" */
    char *prefix;  /* {prefix}: BIDS entities before the suffix (sub-01_ses-1_run-1), else the stem */
    ds_file img[DS_MAX_FILES];
    ds_file lab[DS_MAX_FILES];
    int nimg, nlab;
} ds_subject;

typedef struct {
    ds_layout layout;
    ds_subject *s;
    size_t n, cap;
    char *nnunet_json;   /* --nnunet: the input's dataset.json text */
    char *bids_description; /* --bids: the input's dataset_description.json text, or NULL */
    char *file_ending;   /* --nnunet: ".nii.gz" or ".nii" */
    int nnunet_channels; /* --nnunet: channel_names' count */
    const char *bids_labels;     /* --bids: glob pattern of a subject's label maps (see dataset.c) */
    const char *bids_modalities; /* --bids: suffixes kept, in channel order ("T1w,FLAIR"), NULL for all */
} ds_dataset;

void ds_free(ds_dataset *ds);

/* Adders: 0, or -1 after a message naming the file and the problem. */
int ds_add_arg(ds_dataset *ds, const char *arg);                        /* IMG[;IMG...][:LAB[;LAB...]] */
int ds_add_list(ds_dataset *ds, const char *list);                      /* lines in the same form, ',' for ':' */
int ds_add_images(ds_dataset *ds, const char *dir, const char *labels); /* one image per subject */
int ds_add_nnunet(ds_dataset *ds, const char *dir);
int ds_add_bids(ds_dataset *ds, const char *dir);

/* Output names. The case name is TEMPLATE expanded ({subject} {session} {stem} {dir} {prefix} {key} {copy});
 * the layout puts the files (see ds_output_path). Where TEMPLATE holds {modality}, it names each file itself:
 * {modality} is the image's modality, the label map's name, or "draw" for the sidecar. NULL template: the
 * layout's default. -1 and a message for an unknown {field} or a {modality} the layout does not allow. */
int ds_check_template(const ds_dataset *ds, const char *tmpl);

typedef enum { DS_OUT_IMAGE, DS_OUT_LABEL, DS_OUT_SIDECAR } ds_out_kind;
/* The path relative to OUTDIR of file `index` (an image or label map; ignored for the sidecar) of copy `copy`
 * of subject s; compress: ".nii.gz" rather than ".nii" for NIfTI files. 0, or -1 if it does not fit. */
int ds_output_path(const ds_dataset *ds, const ds_subject *s, const char *tmpl, uint64_t copy, ds_out_kind kind,
                   int index, int compress, char *out, size_t len);
#endif
