# SPDX-License-Identifier: MIT
"""The elastic op through `voxaug apply` against SciPy, on ch2 with the AAL labels.

Run as: /usr/bin/python3 check_elastic.py <voxaug CLI>. For each case and device (reference, and the default
device when there is one): `voxaug apply ch2 --ops "elastic(...)" --seed 7 --label aal --field-out f.nii.gz
--field-units vox`,
then
  * image  == ndimage.map_coordinates(ch2, grid + d, order=1, mode='grid-constant', cval=0) within
    1e-4 x (max - min) of ch2 (SPEC: the pipeline's default mode 'constant' is SciPy's 'grid-constant');
  * labels == map_coordinates(aal, grid + d, order=0, mode='grid-constant') exactly, except at ties: voxels
    whose sample position lies within 1e-4 of a rounding boundary (float32 on the device vs float64 here);
  * the exact field == alpha * gaussian_filter(U, sigma, mode='constant', truncate=4) in distribution: its
    interior standard deviation within 5% of alpha * sqrt(1/3 * prod(sum(w^2))) (U itself is Philox noise, not
    NumPy's), and for rms/smooth_mm the per-axis standard deviation in mm within 10% of rms/sqrt(3);
  * device and reference: fields within 1e-4 x their range, labels identical (ties aside), images within
    1e-4 x range.
Exit 77 (skipped) without SciPy, nibabel or the data, and without a device under test (device_rule.py).
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import nibabel as nib
    from scipy import ndimage
    import device_rule
except ImportError as e:
    print("skip: %s" % e)
    sys.exit(77)

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"

SEED = 7
CASES = [
    # (name, ops, devices to run it on)
    ("exact", "elastic(alpha=600, sigma=6)", ("reference", "default")),
    ("fast", "elastic(alpha=[4000,6000], sigma=10, mode=fast)", ("reference", "default")),
    ("mm", "elastic(rms=4, smooth_mm=5)", ("default",)),
]


def unit_std(sigma):
    """Standard deviation of gaussian_filter(U, sigma, mode='constant', truncate=4) away from the borders."""
    v = 1.0 / 3.0
    for s in sigma:
        if s > 1e-15:
            r = int(4.0 * s + 0.5)
            x = np.arange(-r, r + 1)
            w = np.exp(-0.5 / (s * s) * x ** 2)
            w /= w.sum()
            v *= float((w ** 2).sum())
    return np.sqrt(v)


MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(block, stream, seed, sample):
    """Philox4x32-10 (Salmon et al., SC11) as src/shared/philox.h keys it, written here from the paper:
    key = (seed low, seed high), counter = (block, stream, sample low, sample high); four words per block."""
    c0 = block.astype(np.uint64)
    c1 = np.full_like(c0, stream)
    c2 = np.full_like(c0, sample & 0xFFFFFFFF)
    c3 = np.full_like(c0, sample >> 32)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(0x9E3779B9)) & MASK32
            k1 = (k1 + np.uint64(0xBB67AE85)) & MASK32
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & MASK32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & MASK32
    return np.stack([c0, c1, c2, c3], axis=1)


def uniform_noise(shape, seed, sample, op_index, component):
    """U_c on the grid: voxel v = i + nx*(j + ny*k) takes word v % 4 of block v / 4 of stream op_index << 8 | c,
    mapped to [-1, 1) as (x >> 8) * 2^-23 - 1 (exact in float32)."""
    n = int(np.prod(shape))
    words = philox4x32_10(np.arange((n + 3) // 4, dtype=np.uint64), (op_index << 8) | component, seed, sample)
    x = words.reshape(-1)[:n]
    u = (x >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
    return u.reshape(shape, order="F")


def exact_field(shape, alpha, sigma, seed, sample, op_index=0):
    """SPEC's field: d_c = alpha * gaussian_filter(U_c, sigma, mode='constant', truncate=4) (alpha * U_c a float32
    product, as voxaug folds it into the noise), in voxels."""
    comps = []
    for c in range(3):
        noise = (np.float32(alpha) * uniform_noise(shape, seed, sample, op_index, c)).astype(np.float64)
        comps.append(ndimage.gaussian_filter(noise, sigma, mode="constant", cval=0.0, truncate=4.0))
    return np.stack(comps, axis=3)


def apply(cli, device, ops, scratch, tag):
    out = {k: os.path.join(scratch, "%s_%s_%s.nii.gz" % (tag, device, k)) for k in ("img", "lab", "field")}
    params = os.path.join(scratch, "%s_%s.json" % (tag, device))
    cmd = [cli, "apply", CH2, "--ops", ops, "--seed", str(SEED), "-o", out["img"], "--label", AAL, "--label-out",
           out["lab"], "--field-out", out["field"], "--field-units", "vox", "--params-out", params]
    if device != "default":
        cmd += ["--device", device]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    res = {k: np.asarray(nib.load(p).dataobj) for k, p in out.items()}
    res["field"] = res["field"].reshape(res["img"].shape + (3,), order="F") if res["field"].ndim != 4 \
        else res["field"]
    with open(params) as f:
        res["params"] = json.load(f)
    return res


def ties(coords):
    """Voxels whose order-0 sample is a near tie on some axis."""
    frac = coords - np.floor(coords)
    return np.any(np.abs(frac - 0.5) < 1e-4, axis=0)


def main():
    if len(sys.argv) < 2:
        print("usage: check_elastic.py <voxaug CLI>")
        return 2
    cli = sys.argv[1]
    if not (os.access(CH2, os.R_OK) and os.access(AAL, os.R_OK)):
        print("skip: %s or %s not installed" % (CH2, AAL))
        return 77
    scratch = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp()
    os.makedirs(scratch, exist_ok=True)
    ch2_img = nib.load(CH2)
    img = np.asarray(ch2_img.get_fdata(dtype=np.float64))
    lab = np.asarray(nib.load(AAL).dataobj)
    spacing = np.asarray(ch2_img.header.get_zooms()[:3], dtype=np.float64)
    tol = 1e-4 * float(img.max() - img.min())
    grid = np.indices(img.shape, dtype=np.float64)

    devices_ok = {"reference": True, "default": True}
    failures = 0
    checks = 0
    if device_rule.device_is_reference():
        devices_ok["default"] = False
        if device_rule.no_device("VOXAUG_DEVICE=reference"):
            return 1

    def check(ok, what):
        nonlocal failures, checks
        checks += 1
        failures += not ok
        print("%-4s %s" % ("ok" if ok else "FAIL", what))

    for tag, ops, devices in CASES:
        results = {}
        for dev in devices:
            if not devices_ok[dev]:
                continue
            try:
                results[dev] = apply(cli, dev, ops, scratch, tag)
            except RuntimeError as e:
                if dev == "default" and "OpenCL" in str(e):
                    devices_ok[dev] = False
                    if device_rule.no_device(e):
                        return 1
                    continue
                raise
        want_field = None
        for dev, r in results.items():
            d = r["field"].astype(np.float64)
            op = r["params"]["ops"][0]
            if op.get("mode", "exact") == "exact" and not op.get("rms") and not op.get("smooth_mm"):
                # the field itself, voxel for voxel, rebuilt from the Philox noise by SciPy
                if want_field is None:
                    want_field = exact_field(img.shape, op["alpha"], op["sigma"], SEED, 0, op.get("index", 0))
                scale = float(np.max(np.abs(want_field)))
                ferr = float(np.max(np.abs(d - want_field)))
                check(ferr <= 2e-6 * scale, "%-5s %-9s field vs alpha*gaussian_filter(U_philox, sigma, 'constant', "
                      "truncate=4): max|diff| %.3g (tol %.3g = 2e-6 x max|d|)" % (tag, dev, ferr, 2e-6 * scale))
            coords = grid + np.moveaxis(d, 3, 0)
            want = ndimage.map_coordinates(img, coords, order=1, mode="grid-constant", cval=0.0)
            err = float(np.max(np.abs(r["img"].astype(np.float64) - want)))
            check(err <= tol, "%-5s %-9s image vs map_coordinates(order=1): max|diff| %.3g (tol %.3g)" % (
                tag, dev, err, tol))
            want_lab = ndimage.map_coordinates(lab, coords, order=0, mode="grid-constant", cval=0)
            diff = r["lab"] != want_lab
            near = ties(coords)
            check(not np.any(diff & ~near), "%-5s %-9s labels vs map_coordinates(order=0): %d differ, %d of them "
                  "at ties" % (tag, dev, int(diff.sum()), int((diff & near).sum())))
            # the field's size against theory, away from the borders
            op = r["params"]["ops"][0]
            sigma = np.asarray(op["sigma"], dtype=np.float64)
            if op.get("smooth_mm"):
                sigma = op["smooth_mm"] / spacing
            m = [int(4 * s) + 1 for s in sigma]
            inner = d[m[0]:-m[0], m[1]:-m[1], m[2]:-m[2], :]
            sd = inner.reshape(-1, 3).std(axis=0)
            if op.get("rms"):
                sd_mm = sd * spacing
                expect = op["rms"] / np.sqrt(3.0)
                check(bool(np.all(np.abs(sd_mm / expect - 1) < 0.10)), "%-5s %-9s field std per axis %s mm, "
                      "expected %.3f (rms/sqrt(3))" % (tag, dev, np.round(sd_mm, 3), expect))
            else:
                expect = op["alpha"] * unit_std(sigma)
                check(bool(np.all(np.abs(sd / expect - 1) < 0.05)), "%-5s %-9s field std %s voxels, expected "
                      "%.3f" % (tag, dev, np.round(sd, 3), expect))
        if "reference" in results and "default" in results:
            a, b = results["reference"], results["default"]
            frange = float(a["field"].max() - a["field"].min())
            ferr = float(np.max(np.abs(a["field"].astype(np.float64) - b["field"])))
            check(ferr <= 1e-4 * frange, "%-5s device vs reference field: max|diff| %.3g (tol %.3g)" % (
                tag, ferr, 1e-4 * frange))
            ierr = float(np.max(np.abs(a["img"].astype(np.float64) - b["img"])))
            check(ierr <= tol, "%-5s device vs reference image: max|diff| %.3g (tol %.3g)" % (tag, ierr, tol))
            coords = grid + np.moveaxis(a["field"].astype(np.float64), 3, 0)
            diff = a["lab"] != b["lab"]
            check(not np.any(diff & ~ties(coords)), "%-5s device vs reference labels: %d differ (ties aside)" % (
                tag, int(diff.sum())))
    print("%d of %d checks failed" % (failures, checks))
    return device_rule.exit_code(failures, devices_ok["default"])


if __name__ == "__main__":
    sys.exit(main())
