#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Seeds for the fuzz targets: small valid NIfTI files of several kinds, and op specs."""
import gzip, os, sys
import numpy as np
import nibabel as nib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fuzz", "corpus")
nd = os.path.join(root, "nifti_read")
sd = os.path.join(root, "spec_parse")
os.makedirs(nd, exist_ok=True)
os.makedirs(sd, exist_ok=True)
rng = np.random.default_rng(7)
aff = np.diag([1.5, 1.0, 2.0, 1.0])
for i, dt in enumerate([np.uint8, np.int16, np.float32, np.float64, np.int8, np.uint16]):
    a = (rng.random((3, 4, 2)) * 100).astype(dt)
    img = nib.Nifti1Image(a, aff)
    if i % 2:  # big-endian
        img = nib.Nifti1Image(a, aff, img.header.as_byteswapped(">"))
    nib.save(img, os.path.join(nd, f"seed{i}.nii"))
nib.save(nib.Nifti2Image(rng.random((2, 3, 2, 2)).astype(np.float32), aff), os.path.join(nd, "seed_nifti2_4d.nii"))
with open(os.path.join(nd, "seed0.nii"), "rb") as f:
    raw = f.read()
with open(os.path.join(nd, "seed_gz.nii.gz"), "wb") as f:  # the target names .gz inputs by their magic
    f.write(gzip.compress(raw))
specs = [
    "rotate(15, plane=0,1) zoom(1.1) crop(128,128,128)",
    "flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) random_crop(64)",
    "sampling(order=0, mode=reflect) shift(1.5,2,-3) affine(row0=1,0.1,0, offset=2)",
    "resize(32,40,48) scale(0.5) resample(2) center_crop(20) pad(10)",
    "zscore(nonzero=1) pclip(0.5,99.5) noise([0,0.1], p=0.3) gamma([0.7,1.5])",
    "elastic(alpha=4, sigma=8) window(preset=brain) minmax",
]
for i, s in enumerate(specs):
    with open(os.path.join(sd, f"spec{i}.txt"), "w") as f:
        f.write(s)
print("corpus written to", root)
