# SPDX-License-Identifier: MIT
"""vxa_gauss_smooth (reference path and the default device) against scipy.ndimage.gaussian_filter.

Run as: /usr/bin/python3 check_smooth.py <voxaug CLI>; drives $VXA_TOOLS_DIR/vxa_smooth_tool through raw float32
files in NIfTI order. Cases: ch2 (181x217x181) with sigma 0.5, 1, 2.5, 8 and anisotropic (1, 2.5, 4), the three
modes; small random volumes with kernels wider than the volume. Tolerance: 1e-4 x (max - min) of the input.
Exit 77 (skipped) without the tool, SciPy or nibabel; the device part is skipped, visibly, without a device.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from scipy import ndimage
    import device_rule
except ImportError as e:
    print("skip: %s" % e)
    sys.exit(77)

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
MODES = ("constant", "nearest", "reflect")


def tool_path():
    d = os.environ.get("VXA_TOOLS_DIR")
    p = os.path.join(d, "vxa_smooth_tool") if d else None
    return p if p and os.access(p, os.X_OK) else None


def smooth(tool, device, x, sigma, mode, truncate, scratch):
    """x: float32 array (nx, ny, nz) or (nx, ny, nz, c). Returns the tool's output, same shape."""
    shape = x.shape
    c = shape[3] if x.ndim == 4 else 1
    src = os.path.join(scratch, "in.raw")
    dst = os.path.join(scratch, "out.raw")
    np.asarray(x, dtype=np.float32).ravel(order="F").tofile(src)
    cmd = [tool, device, str(shape[0]), str(shape[1]), str(shape[2]), str(c)] + \
        ["%.17g" % s for s in sigma] + [mode, "%.17g" % truncate, src, dst]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return np.fromfile(dst, dtype=np.float32).reshape(shape, order="F")


def expected(x, sigma, mode, truncate):
    if x.ndim == 4:
        return np.stack([expected(x[..., c], sigma, mode, truncate) for c in range(x.shape[3])], axis=3)
    return ndimage.gaussian_filter(x, sigma, mode=mode, truncate=truncate)


def main():
    tool = tool_path()
    if tool is None:
        print("skip: vxa_smooth_tool not found (VXA_TOOLS_DIR=%s)" % os.environ.get("VXA_TOOLS_DIR"))
        return 77
    scratch = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp()
    os.makedirs(scratch, exist_ok=True)
    rng = np.random.default_rng(int(os.environ.get("VOXAUG_TEST_SEED", "12345")))
    print("# VOXAUG_TEST_SEED=%s; replay: VOXAUG_TEST_SEED=%s ctest -R '^scipy_check_smooth$'" % (
        os.environ.get("VOXAUG_TEST_SEED", "12345"), os.environ.get("VOXAUG_TEST_SEED", "12345")))

    devices = ["reference"]
    if device_rule.device_is_reference():
        if device_rule.no_device("VOXAUG_DEVICE=reference"):
            return 1
    else:
        try:
            smooth(tool, "default", np.ones((2, 2, 2), np.float32), (1, 1, 1), "nearest", 4.0, scratch)
            devices.append("default")
        except RuntimeError as e:
            if device_rule.no_device(e):
                return 1

    cases = []   # (name, array, sigma, mode, truncate)
    for shape, c in (((23, 17, 31), 1), ((5, 3, 40), 2), ((1, 9, 2), 1)):
        x = rng.uniform(-1000, 1000, size=shape + ((c,) if c > 1 else ())).astype(np.float32)
        for mode in MODES:
            for sigma in ((0.5, 1, 2.5), (8, 8, 8), (0, 3, 0.7)):
                cases.append(("random %s" % (x.shape,), x, sigma, mode, 4.0))
        cases.append(("random %s" % (x.shape,), x, (1.3, 2, 0.9), "reflect", 2.5))
    if os.access(CH2, os.R_OK):
        try:
            import nibabel as nib
        except ImportError as e:
            print("skip: %s" % e)
            return 77
        ch2 = np.asarray(nib.load(CH2).get_fdata(dtype=np.float32))
        for sigma in ((0.5,) * 3, (1,) * 3, (8,) * 3, (1, 2.5, 4)):
            cases.append(("ch2", ch2, sigma, "nearest", 4.0))
        for mode in MODES:
            cases.append(("ch2", ch2, (2.5,) * 3, mode, 4.0))
    else:
        print("ch2 not installed (%s): random volumes only" % CH2)

    failures = 0
    for name, x, sigma, mode, truncate in cases:
        want = expected(x, sigma, mode, truncate)
        tol = 1e-4 * float(x.max() - x.min())
        for dev in devices:
            got = smooth(tool, dev, x, sigma, mode, truncate, scratch)
            err = float(np.max(np.abs(got.astype(np.float64) - want)))
            ok = err <= tol
            failures += not ok
            print("%-4s %-9s %-22s sigma=%-16s mode=%-8s truncate=%g  max|diff|=%.3g (tol %.3g)" % (
                "ok" if ok else "FAIL", dev, name, sigma, mode, truncate, err, tol))
    print("%d of %d comparisons failed" % (failures, len(cases) * len(devices)))
    return device_rule.exit_code(failures, "default" in devices)


if __name__ == "__main__":
    sys.exit(main())
