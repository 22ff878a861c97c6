# SPDX-License-Identifier: MIT
"""sampling(label_order=1) against batchgenerators' own order-1 segmentation resampling (nnU-Net's order_seg=1) on
the AAL atlas (116 regions; a box of it by default, the whole with VOXAUG_PEERS_FULL=1), through `voxaug apply` on
the reference path and on the device:

- a zoom: `resize` to 0.8x and 1.3x against batchgenerators.augmentations.utils.resize_segmentation(seg, shape,
  order=1) (each label's indicator through skimage's resize, mode 'edge', then `>= 0.5`, later labels
  overwriting): voxaug `sampling(label_order=1, label_mode=nearest) resize(shape)`;
- a rotation with a zoom: interpolate_img(seg, coords, order=1, mode='constant', is_seg=True), the function
  augment_spatial calls, on the coordinates of voxaug's own pull map p = A o + b (an `affine` op).

Labels must be identical except at ties: where float32 (voxaug) and float64 (SciPy) weights lie on either side of
0.5. Every differing voxel is checked to be one: some label's float64 weight there is within 3e-5 of 0.5 (float32
positions of up to 256 carry an error of ~1.5e-5). The arg-max rule is checked to equal the threshold rule wherever
a label reaches 0.5, and to give the label of largest float64 weight elsewhere (ties aside).
Run as: check_label_interp.py <voxaug CLI>; exit 77 without batchgenerators (bench/setup-peers.sh's venv)."""
import os
import subprocess
import sys
import tempfile

import peers

peers.require(sys.argv[1], "numpy", "nibabel", "scipy", "batchgenerators", "skimage")
import numpy as np  # noqa: E402
import nibabel as nib  # noqa: E402
from scipy import ndimage  # noqa: E402
from batchgenerators.augmentations.utils import resize_segmentation, interpolate_img  # noqa: E402
import device_rule  # noqa: E402

CLI = sys.argv[1]
CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
TIE = 3e-5
if not (os.path.exists(CH2) and os.path.exists(AAL)):
    print("skip: mricron-data's ch2 and aal are not installed")
    sys.exit(77)


def voxaug(spec, device, tmp):
    out, lab = os.path.join(tmp, "o.nii.gz"), os.path.join(tmp, "l.nii.gz")
    dev = [] if device == "default" else ["--device", device]
    subprocess.run([CLI, "apply", os.path.join(tmp, "img.nii"), "--label", os.path.join(tmp, "seg.nii"), "--ops",
                    spec, "-o", out, "--label-out", lab] + dev, check=True)
    return np.asanyarray(nib.load(lab).dataobj)


def devices(tmp):
    """The reference path, and the default device where there is one (tests/scipy/device_rule.py's rule)."""
    ds = ["reference"]
    if device_rule.device_is_reference():
        if device_rule.no_device("VOXAUG_DEVICE=reference"):
            sys.exit(1)
        return ds
    try:
        voxaug("clip(0, 1)", "default", tmp)
        ds.append("default")
    except subprocess.CalledProcessError as e:
        if device_rule.no_device(e):
            sys.exit(1)
    return ds


def oracle(seg, coords, mode):
    """Per output voxel, in float64: the labels of the eight neighbours of coords (mode 'nearest' clamps, else
    outside reads label 0) and each one's label weight (the sum of the trilinear weights of the corners with its
    label): (labels, sums), each (voxels, 8)."""
    n = np.array(seg.shape)
    p = coords.reshape(3, -1)
    labs, sums = [], []
    for a in range(0, p.shape[1], 1 << 20):
        q = p[:, a:a + (1 << 20)]
        f = np.floor(q)
        t = q - f
        f = f.astype(np.int64)
        lab = np.zeros((q.shape[1], 8), seg.dtype)
        w = np.ones((q.shape[1], 8))
        for c in range(8):
            idx, inside = [], np.ones(q.shape[1], bool)
            for ax in range(3):
                up = (c >> ax) & 1
                i = f[ax] + up
                w[:, c] *= t[ax] if up else 1 - t[ax]
                if mode == "nearest":
                    i = np.clip(i, 0, n[ax] - 1)
                inside &= (i >= 0) & (i < n[ax])
                idx.append(np.clip(i, 0, n[ax] - 1))
            lab[:, c] = np.where(inside, seg[tuple(idx)], 0)
        s = np.zeros_like(w)
        for c in range(8):
            s[:, c] = (w * (lab == lab[:, c:c + 1])).sum(axis=1)
        labs.append(lab)
        sums.append(s)
    return np.concatenate(labs), np.concatenate(sums)


def check_ties(name, got, want, lab, s):
    """Every voxel where got != want must have some label weight within TIE of 0.5."""
    diff = np.nonzero(got.reshape(-1) != want.reshape(-1))[0]
    if len(diff) == 0:
        print("%s: identical (%d voxels)" % (name, got.size), flush=True)
        return 0
    closest = np.abs(s[diff] - 0.5).min(axis=1)
    bad = int((closest > TIE).sum())
    print("%s: %d of %d voxels differ, each at a tie (largest distance of a weight to 0.5 there: %.3g); %d not "
          "at a tie" % (name, len(diff), got.size, closest.max(), bad), flush=True)
    if bad:
        i = diff[np.nonzero(closest > TIE)[0][0]]
        print("  first: voxel %d voxaug %d batchgenerators %d labels %s weights %s" % (
            i, got.reshape(-1)[i], want.reshape(-1)[i], lab[i], np.round(s[i], 6)))
    return bad


def argmax_check(name, got, lab, s):
    """The arg-max rule: the label of largest float64 weight, ties (within TIE, or the larger label at an exact
    tie) aside."""
    k = np.argmax(s, axis=1)
    rows = np.arange(len(k))
    best_w, best = s[rows, k], lab[rows, k]
    second = np.where(lab == best[:, None], -np.inf, s).max(axis=1)
    tie = best_w - second <= TIE
    g = got.reshape(-1)
    bad = int(((g != best) & ~tie).sum())
    print("%s: %d voxels differ from the float64 arg-max, %d of them at a tie; %d not" % (
        name, int((g != best).sum()), int(((g != best) & tie).sum()), bad))
    return bad


def main(tmp):
    # batchgenerators resamples one label at a time (117 passes of SciPy per case): the whole atlas takes tens
    # of minutes on a loaded 2-core machine, so the check runs on a 100x140x120 box of it (116 regions), with a
    # background margin of 3 voxels as the whole atlas has (batchgenerators' mode 'constant' reads nothing past
    # the edge, voxaug's 'grid-constant' reads 0 there: the same labels when the edge is background), unless
    # VOXAUG_PEERS_FULL=1 asks for all of it.
    full = os.environ.get("VOXAUG_PEERS_FULL") == "1"
    box = (slice(None),) * 3 if full else (slice(40, 140), slice(40, 180), slice(30, 150))
    pad = 0 if full else 3
    img = nib.load(CH2)
    seg = np.pad(np.asanyarray(nib.load(AAL).dataobj)[box], pad)
    nib.save(nib.Nifti1Image(np.pad(np.asarray(img.dataobj)[box], pad), img.affine), os.path.join(tmp, "img.nii"))
    nib.save(nib.Nifti1Image(seg, img.affine), os.path.join(tmp, "seg.nii"))
    print("aal%s: %s voxels, %d labels" % ("" if full else " box", "x".join(map(str, seg.shape)),
                                          len(np.unique(seg))), flush=True)
    n = np.array(seg.shape)
    failures = 0
    cases = []
    # zooms: resize_segmentation (skimage resize, mode edge = voxaug label_mode=nearest, grid_mode)
    for f in (0.8, 1.3):
        shape = tuple(int(round(x * f)) for x in n)
        coords = np.stack(np.meshgrid(*[(np.arange(m) + 0.5) * a / m - 0.5 for a, m in zip(n, shape)],
                                      indexing="ij"))
        cases.append(("resize x%g" % f, "sampling(label_order=1, label_mode=nearest) resize(%d,%d,%d)" % shape,
                      resize_segmentation(seg, shape, order=1), oracle(seg, coords, "nearest")))
    # a rotation (20 degrees in plane 0,1, 10 in plane 1,2) with a zoom of 1.1 about the centre
    t1, t2 = np.radians(20), np.radians(10)
    r1 = np.array([[np.cos(t1), -np.sin(t1), 0], [np.sin(t1), np.cos(t1), 0], [0, 0, 1]])
    r2 = np.array([[1, 0, 0], [0, np.cos(t2), -np.sin(t2)], [0, np.sin(t2), np.cos(t2)]])
    A = r1 @ r2 / 1.1
    c = (n - 1) / 2.0
    b = c - A @ c
    rows = ", ".join("row%d=%s" % (r, ",".join("%.17g" % x for x in A[r])) for r in range(3))
    spec = "sampling(label_order=1) affine(%s, offset=%s)" % (rows, ",".join("%.17g" % x for x in b))
    grid = np.stack(np.meshgrid(*[np.arange(m) for m in n], indexing="ij")).reshape(3, -1)
    coords = (A @ grid + b[:, None]).reshape((3,) + tuple(n))
    rot = oracle(seg, coords, "constant")
    cases.append(("rotate+zoom", spec, interpolate_img(seg, coords, order=1, mode="constant", cval=0,
                                                      is_seg=True), rot))
    ds = devices(tmp)
    for device in ds:
        for name, spec, want, (lab, s) in cases:
            got = voxaug(spec, device, tmp)
            failures += check_ties("%s %s" % (device, name), got, want, lab, s)
        got2 = voxaug(cases[-1][1].replace("label_order=1", "label_order=1, label_rule=argmax"), device, tmp)
        lab, s = rot
        failures += argmax_check("%s rotate+zoom argmax" % device, got2, lab, s)
        reach = s.max(axis=1) >= 0.5 + TIE
        same = int((got2.reshape(-1)[reach] != got.reshape(-1)[reach]).sum())
        print("%s: argmax equals threshold wherever a label reaches 0.5: %d differ" % (device, same))
        failures += same
    if failures:
        print("FAIL: %d voxels" % failures)
    sys.exit(device_rule.exit_code(failures, "default" in ds))


with tempfile.TemporaryDirectory() as scratch:
    main(scratch)
