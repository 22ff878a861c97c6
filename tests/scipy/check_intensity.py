# SPDX-License-Identifier: MIT
"""Intensity ops through `voxaug apply` (reference path and the default device) against their NumPy/SciPy
definitions.

Run as: /usr/bin/python3 check_intensity.py <voxaug CLI>. Inputs: ch2.nii.gz (181x217x181, uint8), small random
float32 volumes (odd shapes, two channels, zeros included) and a 256^3 volume (mean 1000, std 40, zero slab) for
the statistics ops at size. Every op is checked against its definition written
here in float64 NumPy: np.clip, np.percentile (linear), min-max, zscore (MONAI NormalizeIntensity, nonzero too),
CT windows, nnU-Net gamma and contrast, brightness; noise and the bias field are reproduced exactly from the
documented Philox4x32-10 mapping (implemented below in NumPy); blur against ndimage.gaussian_filter, lowres against
ndimage.zoom down and up. Tolerance: 1e-5 x max(max - min, max |x|) of the expected output for pointwise ops,
1e-4 x that for blur and lowres (SPEC's bar for resampling). Exit 77 without NumPy/SciPy/nibabel; the device part
is skipped, visibly, without an OpenCL device.
"""
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
M32 = np.uint64(0xFFFFFFFF)


# ---- Philox4x32-10 as src/shared/philox.h, vectorised -------------------------------------------------------
def philox(block, stream, seed, sample):
    """Four uint32 words (as uint64 arrays) for counter (block, stream, sample lo, sample hi), key seed."""
    block = np.asarray(block, dtype=np.uint64)
    c0 = block & M32
    c1 = np.full_like(c0, stream)
    c2 = np.full_like(c0, sample & 0xFFFFFFFF)
    c3 = np.full_like(c0, sample >> 32)
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for r in range(10):
        if r > 0:
            k0 = (k0 + 0x9E3779B9) & 0xFFFFFFFF
            k1 = (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & M32
        hi1, lo1 = p1 >> np.uint64(32), p1 & M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
    return c0, c1, c2, c3


def u01(w):
    return (w >> np.uint64(8)).astype(np.float64) * 2.0 ** -24


def noise_normal(n, seed, sample, stream):
    """The noise op's standard normals for voxels 0..n-1 of one channel (vxa_ref_noise_normal)."""
    v = np.arange(n, dtype=np.uint64)
    w0, w1, w2, w3 = philox(v >> np.uint64(2), stream, seed, sample)
    lane = v & np.uint64(3)
    wa = np.where(lane < 2, w0, w2)
    wb = np.where(lane < 2, w1, w3)
    r = np.sqrt(-2.0 * np.log(1.0 - u01(wa)))
    theta = 2.0 * np.pi * u01(wb)
    return np.where(lane & np.uint64(1), r * np.sin(theta), r * np.cos(theta))


def draw_uniform(seed, sample, stream, count):
    """vxa_draw_uniform: one Philox block per draw, 53 bits from words 0 and 1."""
    w0, w1, _, _ = philox(np.arange(count, dtype=np.uint64), stream, seed, sample)
    bits = ((w0 << np.uint64(21)) ^ (w1 >> np.uint64(11))) & np.uint64((1 << 53) - 1)
    return bits.astype(np.float64) * 2.0 ** -53


# ---- definitions, per channel (x: float64 3D) ---------------------------------------------------------------
def finite(x, nonzero=False):
    m = np.isfinite(x)
    return x[m & (x != 0)] if nonzero else x[m]


def pclip(x, lo, hi, nonzero=False):
    a, b = np.percentile(finite(x, nonzero), [lo, hi])
    y = np.clip(x, a, b)
    return np.where(x == 0, 0, y) if nonzero else y


def minmax(x):
    v = finite(x)
    return (x - v.min()) / (v.max() - v.min()) if v.max() > v.min() else np.zeros_like(x)


def zscore(x, nonzero=False):
    v = finite(x, nonzero)
    s = v.std()
    y = (x - v.mean()) / s if s > 0 else x - v.mean()
    return np.where(x == 0, 0, y) if nonzero else y


def window(x, c, w):
    return (np.clip(x, c - w / 2, c + w / 2) - (c - w / 2)) / w


def gamma(x, g):
    mn, mx = x.min(), x.max()
    return ((x - mn) / (mx - mn)) ** g * (mx - mn) + mn


def gamma_nnunet(x, g, invert, retain):
    """batchgenerators' augment_gamma(invert_image, retain_stats) with epsilon 0."""
    x = -x if invert else x
    if retain:
        mn, sd = x.mean(), x.std()
    y = gamma(x, g)
    if retain:
        y = y - y.mean()
        y = y / (y.std() + 1e-8) * sd
        y = y + mn
    return -y if invert else y


def contrast(x, f, preserve):
    m = x.mean()
    y = (x - m) * f + m
    return np.clip(y, x.min(), x.max()) if preserve else y


def bias(x, coef_max, order, seed, sample, op_index):
    n = (order + 1) * (order + 2) * (order + 3) // 6
    coef = coef_max * (2 * draw_uniform(seed, sample, op_index << 8, n) - 1)
    g = [(2 * np.arange(d) - (d - 1)) / (d - 1) if d > 1 else np.zeros(1) for d in x.shape]
    xm, ym, zm = np.meshgrid(*g, indexing="ij")
    p = np.zeros(x.shape)
    t = 0
    for a in range(order + 1):              # TorchIO's generate_bias_field order
        for b in range(order + 1 - a):
            for c in range(order + 1 - a - b):
                p += coef[t] * xm ** a * ym ** b * zm ** c
                t += 1
    return x * np.exp(p)


def noise(x, std, seed, sample, op_index, channel):
    z = noise_normal(x.size, seed, sample, (op_index << 8) | channel).reshape(x.shape, order="F")
    return x + std * z


def lowres(x, f):
    small = [max(1, int(np.floor(n / f + 0.5))) for n in x.shape]   # llround: halves away from zero
    down = ndimage.zoom(x, [s / n for s, n in zip(small, x.shape)], order=1, mode="nearest", grid_mode=True)
    assert down.shape == tuple(small), (down.shape, small)
    up = ndimage.zoom(down, [n / s for s, n in zip(small, x.shape)], order=1, mode="nearest", grid_mode=True)
    assert up.shape == x.shape
    return up


# (spec, expected(x, channel), tolerance factor)
def cases(seed, sample):
    return [
        ("clip(-300, 500)", lambda x, c: np.clip(x, -300, 500), 1e-5),
        ("clip(20, 90)", lambda x, c: np.clip(x, 20, 90), 1e-5),
        ("pclip(0.5, 99.5)", lambda x, c: pclip(x, 0.5, 99.5), 1e-5),
        ("pclip(2, 98, nonzero=1)", lambda x, c: pclip(x, 2, 98, True), 1e-5),
        ("pclip(0, 100)", lambda x, c: pclip(x, 0, 100), 1e-5),
        ("minmax", lambda x, c: minmax(x), 1e-5),
        ("zscore", lambda x, c: zscore(x), 1e-5),
        ("zscore(nonzero=1)", lambda x, c: zscore(x, True), 1e-5),
        ("window(40, 80)", lambda x, c: window(x, 40, 80), 1e-5),
        ("window(preset=lung)", lambda x, c: window(x, -600, 1500), 1e-5),
        ("gamma(1.7)", lambda x, c: gamma(x, 1.7), 1e-5),
        ("gamma(0.6)", lambda x, c: gamma(x, 0.6), 1e-5),
        ("gamma(1.5, retain=1)", lambda x, c: gamma_nnunet(x, 1.5, False, True), 1e-5),
        ("gamma(0.8, invert=1, retain=1)", lambda x, c: gamma_nnunet(x, 0.8, True, True), 1e-5),
        ("gamma(2, invert=1)", lambda x, c: gamma_nnunet(x, 2.0, True, False), 1e-5),
        ("brightness(1.3)", lambda x, c: x * 1.3, 1e-5),
        ("contrast(0.7, preserve=1)", lambda x, c: contrast(x, 0.7, True), 1e-5),
        ("contrast(1.4, preserve=0)", lambda x, c: contrast(x, 1.4, False), 1e-5),
        ("noise(5)", lambda x, c: noise(x, 5, seed, sample, 0, c), 1e-5),
        ("bias(0.5)", lambda x, c: bias(x, 0.5, 3, seed, sample, 0), 1e-5),
        ("bias(0.3, order=5)", lambda x, c: bias(x, 0.3, 5, seed, sample, 0), 1e-5),
        ("blur(1.5)", lambda x, c: ndimage.gaussian_filter(x, 1.5, mode="nearest", truncate=4.0), 1e-4),
        ("lowres(2)", lambda x, c: lowres(x, 2), 1e-4),
        ("lowres(3.3)", lambda x, c: lowres(x, 3.3), 1e-4),
        ("pclip(0.5, 99.5) zscore(nonzero=1)", lambda x, c: zscore(pclip(x, 0.5, 99.5), True), 1e-5),
        ("brightness(1.1) noise(2) clip(0, 200)",
         lambda x, c: np.clip(noise(x * 1.1, 2, seed, sample, 1, c), 0, 200), 1e-5),
    ]


def run(cli, src, spec, dst, device, seed, sample, label=None):
    cmd = [cli, "apply", src, "--ops", spec, "-o", dst, "--seed", str(seed), "--sample", str(sample)]
    if label:   # the label map comes out unchanged by intensity ops; written beside dst
        cmd += ["--label", label, "--label-out", dst.replace(".nii", "_label.nii")]
    if device != "default":   # default: the CLI's own choice ($VOXAUG_DEVICE, else a GPU, else the first)
        cmd += ["--device", device]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return np.asarray(nib.load(dst).get_fdata(dtype=np.float64))


def main():
    if len(sys.argv) < 2:
        print("usage: check_intensity.py <voxaug CLI>")
        return 2
    cli = sys.argv[1]
    scratch = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp()
    os.makedirs(scratch, exist_ok=True)
    rng = np.random.default_rng(int(os.environ.get("VOXAUG_TEST_SEED", "2024")))
    print("# VOXAUG_TEST_SEED=%s; replay: VOXAUG_TEST_SEED=%s ctest -R '^scipy_check_intensity$'" % (
        os.environ.get("VOXAUG_TEST_SEED", "2024"), os.environ.get("VOXAUG_TEST_SEED", "2024")))

    inputs = []
    if os.access(CH2, os.R_OK):
        inputs.append(("ch2", CH2))
    else:
        print("ch2.nii.gz not installed: random volumes only")
    for shape in [(37, 23, 19, 2), (1, 13, 17, 1), (29, 31, 7, 2)]:
        x = rng.uniform(-1000, 1000, shape).astype(np.float32)
        x[rng.random(shape) < 0.1] = 0
        path = os.path.join(scratch, "random_%s.nii.gz" % "x".join(map(str, shape)))
        nib.save(nib.Nifti1Image(x if shape[3] > 1 else x[..., 0], np.eye(4)), path)
        inputs.append(("random %s" % (shape,), path))

    # 256^3 with a large offset and a zero background: the reductions' accuracy (1e-5 vs float64) at size
    big = (rng.normal(0, 40, (256, 256, 256)) + 1000).astype(np.float32)
    big[:40] = 0
    big_path = os.path.join(scratch, "big256.nii")
    nib.save(nib.Nifti1Image(big, np.eye(4)), big_path)
    inputs.append(("random 256^3", big_path))
    big_ops = ("zscore", "zscore(nonzero=1)", "minmax", "pclip(0.5, 99.5)", "pclip(2, 98, nonzero=1)")

    devices = ["reference"]
    if device_rule.device_is_reference():
        if device_rule.no_device("VOXAUG_DEVICE=reference"):
            return 1
    else:
        try:
            run(cli, inputs[-1][1], "clip(0, 1)", os.path.join(scratch, "probe.nii.gz"), "default", 0, 0)
            devices.append("default")
        except RuntimeError as e:
            if device_rule.no_device(e):
                return 1

    failures = 0
    seed, sample = 17, 3
    for name, path in inputs:
        x4 = np.asarray(nib.load(path).get_fdata(dtype=np.float32), dtype=np.float64)
        if x4.ndim == 3:
            x4 = x4[..., None]
        for spec, fn, rel in cases(seed, sample):
            if name == "random 256^3" and spec not in big_ops:
                continue
            want = np.stack([fn(x4[..., c], c) for c in range(x4.shape[3])], axis=3)
            scale = max(np.ptp(want[np.isfinite(want)]), np.abs(want[np.isfinite(want)]).max(), 1e-30)
            for dev in devices:
                got = run(cli, path, spec, os.path.join(scratch, "out.nii"), dev, seed, sample)
                if got.ndim == 3:
                    got = got[..., None]
                err = np.abs(got - want).max() / scale if got.shape == want.shape else np.inf
                ok = err <= rel
                failures += not ok
                print("%-5s %-22s %-40s %-10s max error %.2e x scale (limit %.0e)"
                      % ("ok" if ok else "FAIL", name, spec, dev, err, rel))
    # statistics over the label map's voxels (mask=1): ch2 with the AAL atlas (same grid) as the mask
    if os.access(CH2, os.R_OK) and os.access(AAL, os.R_OK):
        x = np.asarray(nib.load(CH2).get_fdata(dtype=np.float32), dtype=np.float64)
        m = np.asarray(nib.load(AAL).dataobj) != 0
        lo, hi = np.percentile(x[m], [1, 99])
        masked = [("zscore(mask=1)", (x - x[m].mean()) / x[m].std()),
                  ("pclip(1, 99, mask=1)", np.clip(x, lo, hi))]
        assert np.percentile(x, 1) != lo   # the mask changes the statistics
        for spec, want in masked:
            scale = max(np.ptp(want), np.abs(want).max())
            for dev in devices:
                got = run(cli, CH2, spec, os.path.join(scratch, "out.nii"), dev, seed, sample, label=AAL)
                err = np.abs(got - want).max() / scale if got.shape == want.shape else np.inf
                ok = err <= 1e-5
                failures += not ok
                print("%-5s %-22s %-40s %-10s max error %.2e x scale (limit %.0e)"
                      % ("ok" if ok else "FAIL", "ch2 + aal mask", spec, dev, err, 1e-5))
    else:
        print("aal.nii.gz not installed: no mask=1 check")
    print("%d failure(s)" % failures)
    return device_rule.exit_code(failures, "default" in devices)


if __name__ == "__main__":
    sys.exit(main())
