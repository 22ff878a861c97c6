# SPDX-License-Identifier: MIT
"""`voxaug apply --field-out` read by SimpleITK: the field warps ch2 to voxaug's own output.

Run as: python3 check_field_itk.py <voxaug CLI>, with a Python that has SimpleITK (pip; scripts/test.sh installs it
in build/python-venv and names that Python in $VXA_ITK_PYTHON, which this script re-runs itself with when its own
Python lacks SimpleITK). For a few draws of flips, a rotation, a zoom, an exact elastic field and a random crop on
ch2 (no intensity ops):
  - SimpleITK reads the field as a vector image (3 components) on the output's grid, in both layouts: `--field-units
    mm` (intent DISPVECT, RAS vectors, which ITK 5.4+ turns into LPS) and `--field-units lps` (intent VECTOR, LPS
    vectors read as they are), and finds the same vectors in both;
  - sitk.Resample(ch2, output grid, DisplacementFieldTransform(field), linear) equals voxaug's output within
    1e-3 of ch2's range (the whole spatial pass is one map: affine and elastic together). ch2 is padded with two
    voxels of zeros first: ITK's linear interpolator extends an image by its edge values within half a voxel of
    its border where voxaug (SciPy's grid-constant) reads cval 0, and ch2's bottom slice is not 0;
  - a pipeline whose elastic op is not drawn (p=0) still writes its field (the affine part), and it warps as
    well; `--field-units vox` still writes the elastic field alone in voxels (4D, 3 channels).
Exit 77 (skipped, with the reason) without SimpleITK, ch2, nibabel or NumPy.
"""
import os
import subprocess
import sys
import tempfile

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
SPECS = (("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) "
          "elastic(alpha=200, sigma=8, mode=exact) random_crop(128,128,128)", (0,)),
         ("rotate(20, plane=1,2) zoom(1.1) elastic(alpha=200, sigma=8, p=0) center_crop(150,150,150)", (0,)))


def main():
    if len(sys.argv) < 2:
        print("usage: check_field_itk.py VOXAUG_CLI")
        return 2
    try:
        import SimpleITK as sitk
    except ImportError as e:
        other = os.environ.get("VXA_ITK_PYTHON")
        if other and not os.environ.get("VXA_ITK_REEXEC") and os.access(other, os.X_OK):
            os.environ["VXA_ITK_REEXEC"] = "1"   # once: a venv's python may resolve to this same binary
            os.execv(other, [other, os.path.abspath(__file__)] + sys.argv[1:])
        print("SKIP: SimpleITK cannot be imported (%s); pip install SimpleITK, or set VXA_ITK_PYTHON to a Python "
              "that has it (scripts/test.sh does)" % e)
        return 77
    try:
        import nibabel as nib
        import numpy as np
    except ImportError as e:
        print("SKIP: %s" % e)
        return 77
    if not os.path.exists(CH2):
        print("SKIP: %s not installed (mricron-data)" % CH2)
        return 77
    cli = sys.argv[1]
    scratch = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp(prefix="vxa_itk_")
    os.makedirs(scratch, exist_ok=True)
    moving = sitk.ReadImage(CH2, sitk.sitkFloat64)
    ch2 = sitk.GetArrayFromImage(moving)
    moving = sitk.ConstantPad(moving, [2, 2, 2], [2, 2, 2], 0.0)   # same world positions, zeros around
    rng = float(ch2.max() - ch2.min())
    failures = []
    print("SimpleITK %s" % sitk.Version_VersionString())
    for case, (spec, samples) in enumerate(SPECS):
        for sample in samples:
            out, field, lps, vox = (os.path.join(scratch, "%d_%d_%s" % (case, sample, n)) for n in (
                "o.nii.gz", "f.nii.gz", "l.nii.gz", "v.nii.gz"))
            for units, path in (("mm", field), ("lps", lps), ("vox", vox)):
                if units == "vox" and "p=0" in spec:
                    continue   # (once is enough)
                r = subprocess.run([cli, "apply", CH2, "--ops", spec, "--seed", "2026", "--sample", str(sample), "-o",
                                    out, "--field-out", path, "--field-units", units], capture_output=True, text=True)
                if r.returncode != 0:
                    print("FAIL: apply (%s): %s" % (units, r.stderr.strip()))
                    return 1
            disp = sitk.ReadImage(field, sitk.sitkVectorFloat64)
            ncomp = disp.GetNumberOfComponentsPerPixel()   # (the transform below takes the image over)
            same_vectors = bool(np.array_equal(sitk.GetArrayFromImage(disp),
                                               sitk.GetArrayFromImage(sitk.ReadImage(lps, sitk.sitkVectorFloat64))))
            ref = sitk.ReadImage(out, sitk.sitkFloat32)
            same_grid = (disp.GetSize() == ref.GetSize() and np.allclose(disp.GetOrigin(), ref.GetOrigin()) and
                         np.allclose(disp.GetDirection(), ref.GetDirection()))
            warped = sitk.Resample(moving, ref, sitk.DisplacementFieldTransform(disp), sitk.sitkLinear, 0.0,
                                   sitk.sitkFloat32)
            err = float(np.abs(sitk.GetArrayFromImage(warped) - sitk.GetArrayFromImage(ref)).max()) / rng
            v = nib.load(vox) if os.path.exists(vox) else None   # the first case's
            ok = ncomp == 3 and same_grid and same_vectors and err <= 1e-3 and \
                (v is None or (v.ndim == 4 and v.shape[3] == 3))
            print("%s sample %d: %s; ITK warp vs voxaug max |diff| %.2e of range (tol 1e-3); grid %s, mm and lps "
                  "files give ITK the same vectors: %s; vox field %s %s" % (
                      "OK  " if ok else "FAIL", sample, spec, err, same_grid, same_vectors,
                      v.shape if v is not None else "-", v.get_data_dtype() if v is not None else ""))
            if not ok:
                failures.append((spec, sample))
    if failures:
        print("%d case(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
