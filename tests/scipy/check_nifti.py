#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""voxaug reads NIfTI files as nibabel does.

Makes files with nibabel (every dtype in both byte orders, with scl_slope/scl_inter, NaNs in float data,
.nii and .nii.gz, a NIfTI-2 file and a .hdr/.img pair) in $VOXAUG_TEST_OUT, and for each, and for ch2, aal,
anatomical.nii and example4d.nii.gz, compares `voxaug info --json FILE` with nibabel: dims, channels, dtype,
spacing, affine, value range after scaling (min, max, mean) and NaN count.

usage: /usr/bin/python3 check_nifti.py <voxaug CLI>     exit 0 ok, 1 mismatch, 77 nibabel/scipy missing
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import nibabel as nib
    import scipy  # noqa: F401  (the SciPy stack these checks assume)
except ImportError as e:
    print("skipped: %s (use /usr/bin/python3 with python3-nibabel and python3-scipy)" % e)
    sys.exit(77)

CLI = sys.argv[1] if len(sys.argv) > 1 else "voxaug"
OUT = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp(prefix="vxa_check_nifti_")
os.makedirs(OUT, exist_ok=True)
NIBDATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
failures = []

DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64"]
# A rotation about z by 0.3 rad with spacing (1.5, 0.75, 2) and an origin.
C, S = np.cos(0.3), np.sin(0.3)
AFFINE = np.array([[1.5 * C, -0.75 * S, 0, -20.5], [1.5 * S, 0.75 * C, 0, 14.0], [0, 0, 2.0, 3.25], [0, 0, 0, 1]])


def random_data(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    a = (rng.standard_normal(shape) * 1000).astype(dt)
    a.flat[[3, 17]] = np.nan  # NaN voxels are counted and left out of the range
    return a


def patch_scaling(path, version, endian, slope, inter):
    """Sets scl_slope/scl_inter in the header bytes (nibabel decides its own scaling when it writes)."""
    off, fmt = (112, "ff") if version == 1 else (176, "dd")
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(endian + fmt, slope, inter))


def expected(path):
    """What nibabel reads: the numbers `voxaug info --json` must agree with."""
    img = nib.load(path)
    shape = img.shape + (1,) * (4 - len(img.shape))
    data = img.get_fdata(dtype=np.float64)
    finite = data[~np.isnan(data)]
    return {
        "dims": list(shape[:3]), "channels": int(np.prod(shape[3:])),
        "dtype": img.header.get_data_dtype().newbyteorder("=").name,
        "spacing": [float(z) for z in img.header.get_zooms()[:3]], "affine": img.affine,
        "min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean()),
        "nan_count": int(np.isnan(data).sum()),
    }


def check(path, what):
    proc = subprocess.run([CLI, "info", "--json", path], capture_output=True, text=True)
    if proc.returncode != 0:
        failures.append("%s (%s): voxaug info exit %d: %s" % (path, what, proc.returncode, proc.stderr.strip()))
        return
    got = json.loads(proc.stdout)
    want = expected(path)
    problems = []
    for key in ("dims", "channels", "dtype", "nan_count"):
        if got[key] != want[key]:
            problems.append("%s %r, nibabel %r" % (key, got[key], want[key]))
    if not np.allclose(got["spacing"], want["spacing"], rtol=1e-6, atol=0):
        problems.append("spacing %r, nibabel %r" % (got["spacing"], want["spacing"]))
    if not np.allclose(np.array(got["affine"]), want["affine"], rtol=0, atol=1e-4):
        problems.append("affine\n%s\nnibabel\n%s" % (np.array(got["affine"]), want["affine"]))
    span = max(want["max"] - want["min"], 1e-30)
    for key in ("min", "max", "mean"):
        # scaling in double (voxaug info) versus nibabel's float types: agree to float32 rounding of the range
        if got[key] is None or abs(got[key] - want[key]) > 1e-6 * max(span, abs(want[key])):
            problems.append("%s %r, nibabel %r" % (key, got[key], want[key]))
    if problems:
        failures.append("%s (%s): %s" % (path, what, "; ".join(problems)))
    else:
        print("ok  %-60s %s" % (os.path.basename(path), what))


def main():
    rng = np.random.default_rng(20261125)
    made = 0
    for dtype in DTYPES:
        for endian in "<>":
            for ext in (".nii", ".nii.gz"):
                shape = (5, 6, 7) if dtype != "int16" else (5, 6, 7, 3)
                data = random_data(dtype, shape, rng)
                hdr = nib.Nifti1Header(endianness=endian)
                hdr.set_data_dtype(np.dtype(dtype))
                img = nib.Nifti1Image(data, AFFINE, hdr)
                img.set_qform(AFFINE, code=1)
                img.set_sform(AFFINE, code=2)
                name = "n1_%s_%s%s" % (dtype, "be" if endian == ">" else "le", ext)
                path = os.path.join(OUT, name)
                img.to_filename(path)
                with open(path, "rb") as f:  # really written in that byte order?
                    raw = f.read(4) if ext == ".nii" else None
                if raw is not None and struct.unpack(endian + "i", raw)[0] != 348:
                    failures.append("%s: nibabel did not write %s byte order" % (name, endian))
                what = "%s %s-endian" % (dtype, "big" if endian == ">" else "little")
                if ext == ".nii" and np.dtype(dtype).kind in "iu":
                    patch_scaling(path, 1, endian, 0.5, -10.25)
                    what += ", scl 0.5/-10.25"
                check(path, what)
                made += 1

    # NIfTI-2, with scaling, both byte orders
    for endian in "<>":
        data = random_data("int16", (6, 5, 4, 2), rng)
        hdr = nib.Nifti2Header(endianness=endian)
        hdr.set_data_dtype(np.int16)
        img = nib.Nifti2Image(data, AFFINE, hdr)
        path = os.path.join(OUT, "n2_int16_%s.nii" % ("be" if endian == ">" else "le"))
        img.to_filename(path)
        patch_scaling(path, 2, endian, 2.0, 1.5)
        check(path, "NIfTI-2 %s-endian, scl 2/1.5" % ("big" if endian == ">" else "little"))
        made += 1

    # a slope of 0 or non-finite means no scaling at all (the intercept is ignored too), as nibabel reads it
    for slope, tag in ((0.0, "0"), (float("nan"), "nan"), (float("inf"), "inf")):
        data = random_data("int16", (4, 4, 4), rng)
        path = os.path.join(OUT, "n1_int16_slope_%s.nii" % tag)
        nib.Nifti1Image(data, AFFINE).to_filename(path)
        patch_scaling(path, 1, "<", slope, 5.0)
        check(path, "scl_slope %s, scl_inter 5: no scaling" % tag)
        made += 1

    # .hdr/.img pair, read by either name
    data = random_data("float32", (4, 5, 6), rng)
    pair = nib.Nifti1Pair(data, AFFINE)
    pair.to_filename(os.path.join(OUT, "pair_float32.img"))
    check(os.path.join(OUT, "pair_float32.hdr"), ".hdr/.img pair by .hdr")
    check(os.path.join(OUT, "pair_float32.img"), ".hdr/.img pair by .img")
    made += 1

    # real files
    for path in ["/usr/share/mricron/templates/ch2.nii.gz", "/usr/share/mricron/templates/aal.nii.gz",
                 os.path.join(NIBDATA, "anatomical.nii"), os.path.join(NIBDATA, "example4d.nii.gz"),
                 os.path.join(NIBDATA, "example_nifti2.nii.gz")]:
        if os.path.exists(path):
            check(path, "real data")
        else:
            print("skip %s (not installed)" % path)

    if failures:
        print("\n%d mismatch(es) between voxaug info and nibabel:" % len(failures))
        for f in failures:
            print("FAIL " + f)
        return 1
    print("all %d generated files and the real ones agree with nibabel" % made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
