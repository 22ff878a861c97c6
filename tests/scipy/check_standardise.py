# SPDX-License-Identifier: MIT
"""rescale, histstd (with `voxaug histstd-train`) and remap against the peers' own implementations, through
`voxaug apply` on the reference path and the device:

- rescale(out_min, out_max, lo, hi) against TorchIO RescaleIntensity((out_min, out_max), percentiles=(lo, hi))
  (clip=1) and MONAI ScaleIntensityRangePercentiles(lo, hi, out_min, out_max, clip=False) (clip=0), on ch2 and
  on a float32 volume derived from it; TorchIO's masking_method (the label map) as mask=1;
- histstd: `voxaug histstd-train` on four ch2-derived volumes (ch2; a smooth multiplicative bias; a gamma 0.7;
  a linear map 1.7 x + 30 with noise), against TorchIO's HistogramStandardization.train on the same files
  (landmarks at the cutoffs and deciles, which TorchIO's transform uses), then histstd(landmarks=...) on each
  volume against HistogramStandardization({'image': landmarks}); over all voxels, and over the brain (aal > 0:
  train(mask_path=...) and masking_method against IMG:MASK and mask=1). Tolerances: 1e-6 of the landmarks'
  range (both take the same exact order statistics and interpolate them linearly; NumPy may interpolate a
  float32 array in float32, ~1e-7); 1e-5 of the output's range for the images (the pointwise ops' bar of
  check_intensity.py): the map is piecewise linear, the device evaluates (x - pivot) * slope + landmark in
  float32, an error of about ulp(x) * slope + ulp(y), ~1e-7 of the range at ch2's slopes; the figure seen is
  printed;
- remap(a:b, ..., others=keep|drop) on aal against TorchIO RemapLabels and MONAI MapLabelValue: identical.
Run as: check_standardise.py <voxaug CLI>; exit 77 without TorchIO and MONAI (bench/setup-peers.sh's venv)."""
import json
import os
import subprocess
import sys
import tempfile

import peers

peers.require(sys.argv[1], "numpy", "nibabel", "torch", "torchio", "monai")
import numpy as np  # noqa: E402
import nibabel as nib  # noqa: E402
import torch  # noqa: E402
import torchio as tio  # noqa: E402
from monai.transforms import ScaleIntensityRangePercentiles, MapLabelValue  # noqa: E402
import device_rule  # noqa: E402

CLI = sys.argv[1]
CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
if not (os.path.exists(CH2) and os.path.exists(AAL)):
    print("skip: mricron-data's ch2 and aal are not installed")
    sys.exit(77)


def voxaug(img, spec, device, tmp, label=None):
    out, lab = os.path.join(tmp, "o.nii"), os.path.join(tmp, "l.nii")
    dev = [] if device == "default" else ["--device", device]
    extra = ["--label", label, "--label-out", lab] if label else []
    subprocess.run([CLI, "apply", img, "--ops", spec, "-o", out] + extra + dev, check=True)
    x = nib.load(out).get_fdata(dtype=np.float32)
    return (x, np.asanyarray(nib.load(lab).dataobj)) if label else x


def devices(tmp):
    ds = ["reference"]
    if device_rule.device_is_reference():
        if device_rule.no_device("VOXAUG_DEVICE=reference"):
            sys.exit(1)
        return ds
    try:
        voxaug(CH2, "clip(0, 1)", "default", tmp)
        ds.append("default")
    except subprocess.CalledProcessError as e:
        if device_rule.no_device(e):
            sys.exit(1)
    return ds


def compare(name, got, want, rel):
    scale = float(np.ptp(want)) or 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - want))) / scale
    ok = err <= rel
    print("%s: max |voxaug - peer| = %.3g of the output's range (tolerance %g) %s" % (name, err, rel,
                                                                                    "ok" if ok else "FAIL"))
    return 0 if ok else 1


def derived(tmp):
    """Four ch2-derived float32 volumes, as files."""
    img = nib.load(CH2)
    x = img.get_fdata(dtype=np.float32)
    n = np.array(x.shape)
    g = np.meshgrid(*[np.linspace(-1, 1, m) for m in n], indexing="ij")
    rng = np.random.default_rng(21)
    vols = {"ch2": x,
            "bias": x * np.exp(0.3 * g[0] - 0.2 * g[1] * g[2] + 0.15 * g[2] ** 2),
            "gamma": 255.0 * (x / 255.0) ** 0.7,
            "linear": 1.7 * x + 30 + rng.normal(0, 2, x.shape) * (x > 0)}
    paths = {}
    for k, v in vols.items():
        paths[k] = os.path.join(tmp, k + ".nii")
        nib.save(nib.Nifti1Image(v.astype(np.float32), img.affine), paths[k])
    return paths


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        ds = devices(tmp)
        paths = derived(tmp)
        # ---- rescale -------------------------------------------------------------------------------------
        seg = np.asanyarray(nib.load(AAL).dataobj)
        for path in (CH2, paths["bias"]):
            x = nib.load(path).get_fdata(dtype=np.float32)
            t = torch.from_numpy(x[None].copy())
            want_tio = tio.RescaleIntensity((-1, 1), percentiles=(0.5, 99.5))(tio.ScalarImage(tensor=t)).data[0]
            lm = tio.LabelMap(tensor=torch.from_numpy(seg[None].astype(np.int16)))
            subj = tio.Subject(image=tio.ScalarImage(tensor=t), mask=lm)
            want_mask = tio.RescaleIntensity((0, 1), percentiles=(1, 99), masking_method="mask")(subj).image.data[0]
            want_monai = ScaleIntensityRangePercentiles(2, 98, -5, 5, clip=False)(x[None])[0]
            for device in ds:
                name = os.path.basename(path)
                failures += compare("%s %s rescale vs TorchIO" % (device, name),
                                    voxaug(path, "rescale(out_min=-1, out_max=1, lo=0.5, hi=99.5)", device, tmp),
                                    want_tio.numpy(), 1e-5)
                got, _ = voxaug(path, "rescale(lo=1, hi=99, mask=1)", device, tmp, label=AAL)
                failures += compare("%s %s rescale(mask=1) vs TorchIO masking_method" % (device, name), got,
                                    want_mask.numpy(), 1e-5)
                failures += compare("%s %s rescale(clip=0) vs MONAI" % (device, name),
                                    voxaug(path, "rescale(-5, 5, 2, 98, clip=0)", device, tmp),
                                    np.asarray(want_monai), 1e-5)
        # ---- histstd: over all voxels (ch2's zero background fills the lower percentiles), and over the brain
        # (aal > 0: TorchIO's train(mask_path=...) and masking_method, voxaug's IMG:MASK and mask=1) ---------
        files = [paths[k] for k in ("ch2", "bias", "gamma", "linear")]
        use = [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12]   # TorchIO's range_to_use: cutoffs and deciles
        lm_path = os.path.join(tmp, "landmarks.json")
        seg_t = torch.from_numpy(seg[None].astype(np.int16))
        for masked in (False, True):
            tio_map = tio.HistogramStandardization.train(files, progress=False,
                                                         mask_path=[AAL] * len(files) if masked else None)
            for device in ds:
                dev = [] if device == "default" else ["--device", device]
                args = [f + ":" + AAL for f in files] if masked else files
                subprocess.run([CLI, "histstd-train", "-q", "-o", lm_path] + args + dev, check=True)
                with open(lm_path) as f:
                    ours = np.array(json.load(f)["landmarks"])
                err = float(np.max(np.abs(ours - tio_map[use]))) / float(np.ptp(tio_map))
                ok = err <= 1e-6
                print("%s landmarks%s: %s vs TorchIO %s: max difference %.3g of their range %s" % (
                    device, " (brain)" if masked else "", np.round(ours, 4).tolist(),
                    np.round(tio_map[use], 4).tolist(), err, "ok" if ok else "FAIL"))
                failures += 0 if ok else 1
            hs = tio.HistogramStandardization({"image": tio_map}, masking_method="mask" if masked else None)
            for k, path in zip(("ch2", "bias", "gamma", "linear"), files):
                x = nib.load(path).get_fdata(dtype=np.float32)
                subj = tio.Subject(image=tio.ScalarImage(tensor=torch.from_numpy(x[None].copy())),
                                   mask=tio.LabelMap(tensor=seg_t))
                want = hs(subj).image.data[0].numpy()
                for device in ds:
                    spec = "histstd(landmarks=%s%s)" % (lm_path, ", mask=1" if masked else "")
                    got = voxaug(path, spec, device, tmp, label=AAL)[0]
                    failures += compare("%s histstd%s %s vs TorchIO" % (device, " (brain)" if masked else "", k),
                                        got, want, 1e-5)
        # ---- remap ---------------------------------------------------------------------------------------
        pairs = {1: 100, 2: 100, 3: 7, 50: 0}   # merge two classes into an existing one, move one, drop one
        spec = "remap(%s)" % ", ".join("%d:%d" % kv for kv in pairs.items())
        lmap = tio.LabelMap(tensor=torch.from_numpy(seg[None].astype(np.int64)))
        want_keep = tio.RemapLabels(pairs)(tio.Subject(seg=lmap)).seg.data[0].numpy()
        ml = MapLabelValue(orig_labels=list(pairs), target_labels=list(pairs.values()))
        want_monai = np.asarray(ml(seg.astype(np.int64)))
        keep = set(pairs)
        want_drop = np.where(np.isin(seg, list(keep)), want_keep, 0)
        for device in ds:
            _, got = voxaug(CH2, spec, device, tmp, label=AAL)
            _, got_drop = voxaug(CH2, spec[:-1] + ", others=drop)", device, tmp, label=AAL)
            for name, a, b in (("RemapLabels", got, want_keep), ("MapLabelValue", got, want_monai),
                               ("others=drop", got_drop, want_drop)):
                same = np.array_equal(a.astype(np.int64), b.astype(np.int64))
                print("%s remap vs %s: %s" % (device, name, "identical" if same else "DIFFERENT"))
                failures += 0 if same else 1
    if failures:
        print("FAIL: %d checks" % failures)
    sys.exit(device_rule.exit_code(failures, "default" in ds))


main()
