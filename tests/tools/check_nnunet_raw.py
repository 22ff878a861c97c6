#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks a folder against nnU-Net v2's documented raw dataset format (documentation/dataset_format.md of
MIC-DKFZ/nnUNet), for NIfTI files; written from the documentation, no nnU-Net code:
  - dataset.json with channel_names ({"0": name, ...}, keys 0..C-1), labels (name -> int, background 0, values
    consecutive from 0), numTraining (int), file_ending (a string);
  - labelsTr holds numTraining files CASE<file_ending>; imagesTr holds CASE_XXXX<file_ending> for each case and
    each channel 0000..C-1, and no other image;
  - within a case, every channel and the segmentation share one geometry (shape and affine);
  - segmentations hold integers, all of them values of dataset.json's labels; images are finite.
usage: check_nnunet_raw.py DATASET_DIR     (exit 0 and a summary line if it passes; the first problem otherwise)"""
import json
import os
import sys

import nibabel as nib
import numpy as np


def fail(msg):
    sys.exit("nnU-Net layout: " + msg)


def main(root):
    try:
        meta = json.load(open(os.path.join(root, "dataset.json")))
    except (OSError, ValueError) as e:
        fail("dataset.json: %s" % e)
    for key in ("channel_names", "labels", "numTraining", "file_ending"):
        if key not in meta:
            fail("dataset.json has no %r" % key)
    channels = meta["channel_names"]
    if not isinstance(channels, dict) or sorted(channels, key=int) != [str(i) for i in range(len(channels))]:
        fail("channel_names keys must be \"0\" .. \"C-1\": %r" % channels)
    labels = meta["labels"]
    values = sorted(v for v in labels.values() if isinstance(v, int))
    if labels.get("background") != 0 or values != list(range(len(values))):
        fail("labels must map background to 0 and use consecutive integers: %r" % labels)
    ending = meta["file_ending"]
    if not isinstance(meta["numTraining"], int) or not isinstance(ending, str):
        fail("numTraining must be an int and file_ending a string")
    segs = sorted(f for f in os.listdir(os.path.join(root, "labelsTr")) if f.endswith(ending))
    if len(segs) != meta["numTraining"]:
        fail("numTraining is %d but labelsTr holds %d segmentations" % (meta["numTraining"], len(segs)))
    cases = [f[: -len(ending)] for f in segs]
    want = {"%s_%04d%s" % (c, i, ending) for c in cases for i in range(len(channels))}
    have = {f for f in os.listdir(os.path.join(root, "imagesTr")) if f.endswith(ending)}
    if want - have:
        fail("imagesTr lacks %s" % sorted(want - have)[:5])
    if have - want:
        fail("imagesTr holds images of no training case or channel: %s" % sorted(have - want)[:5])
    allowed = set(labels.values())
    for c in cases:
        seg = nib.load(os.path.join(root, "labelsTr", c + ending))
        s = np.asanyarray(seg.dataobj)
        if s.ndim != 3:
            fail("%s: a segmentation must be 3D, has shape %s" % (c, s.shape))
        if not np.array_equal(s, np.round(s)) or not set(np.unique(s).astype(int).tolist()) <= allowed:
            fail("%s: segmentation values %s are not all labels of dataset.json" % (c, np.unique(s)[:10]))
        for i in range(len(channels)):
            img = nib.load(os.path.join(root, "imagesTr", "%s_%04d%s" % (c, i, ending)))
            if img.shape != seg.shape or not np.allclose(img.affine, seg.affine, atol=1e-4):
                fail("%s channel %d: geometry %s %s differs from the segmentation's %s %s"
                     % (c, i, img.shape, img.affine.tolist(), seg.shape, seg.affine.tolist()))
            if not np.all(np.isfinite(np.asanyarray(img.dataobj))):
                fail("%s channel %d: non-finite voxels" % (c, i))
    print("nnU-Net layout: %d training cases x %d channels, labels %s: ok" % (len(cases), len(channels), sorted(allowed)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
