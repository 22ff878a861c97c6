# SPDX-License-Identifier: MIT
"""SPEC "Geometry" on real data, through the CLI (C reference path):

    voxaug apply IN --ops SPEC -o OUT.nii --device reference

on ch2.nii.gz (1 mm, RAS), an anisotropic volume made from it with resample(1,1,3) (181x217x60, 1x1x3 mm) and
nibabel's anatomical.nii (2 mm, LAS):
- augmentation ops (flip, rotate, zoom, elastic) keep the input's affine (sform and qform) and spacing; the label
  map follows (nearest, the same map);
- the augmentation survives the loaders that would undo an affine-only change: after nib.as_closest_canonical
  a flip is still a mirror of the canonical input; after resampling to 1 mm (nibabel.processing, as MONAI
  Spacing or TorchIO Resample) the zoom and the rotation measured by correlation against the input's own
  zoomed or rotated versions are the ones asked for;
- with sampling(geometry=track) the output overlays the input in world space (measured: the output resampled
  onto the input's grid by nibabel correlates with the input), and the same measure finds the rotation under the
  default geometry;
- on the 1x1x3 mm volume rotate equals affine_transform(x, S^-1 R S, offset) within 1e-4 x range, and under
  geometry=track the written sform is orthogonal, equals the qform and has the input's spacing;
- shift(t, unit=mm) is ndimage.shift(x, t / spacing); reorient(CODE) equals nibabel's as_closest_canonical /
  ornt_transform + apply_orientation exactly (images and labels, affine included);
- voxaug info names the orientation code and flags a sheared affine.
Usage: check_geometry.py <voxaug CLI>; exit 77 = skipped."""
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import nibabel as nib
    import nibabel.processing as nibproc
    from nibabel import orientations as ornt
    from scipy import ndimage, special
except ImportError as e:  # pragma: no cover
    print("skip: %s" % e)
    sys.exit(77)

CLI = sys.argv[1]
CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
ANAT = os.path.join(os.path.dirname(nib.__file__), "tests", "data", "anatomical.nii")
OUT = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp(prefix="check_geometry_")
os.makedirs(OUT, exist_ok=True)
failures = []


def fail(msg):
    print("FAIL: " + msg)
    failures.append(msg)


def check(cond, name, detail=""):
    print("%-72s %s%s" % (name, "ok" if cond else "FAIL", (" " + detail) if detail else ""))
    if not cond:
        failures.append(name + " " + detail)


_runs = {}


def run(inp, spec, tag, label=None):
    """The output image (and label map) of one apply; the same (input, spec, label) is run once."""
    key = (inp, spec, label)
    if key not in _runs:
        _runs[key] = _run(inp, spec, tag, label)
    return _runs[key]


def _run(inp, spec, tag, label):
    out = os.path.join(OUT, tag + ".nii")
    cmd = [CLI, "apply", inp, "--ops", spec, "-o", out, "--device", "reference"]
    lout = None
    if label:
        lout = os.path.join(OUT, tag + "_label.nii")
        cmd += ["--label", label, "--label-out", lout]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s: voxaug exited %d: %s" % (spec, r.returncode, r.stderr.strip()))
        return None, None
    return nib.load(out), (nib.load(lout) if lout else None)


def data(img):
    return np.asarray(img.dataobj).astype(np.float64)


def corr(a, b):
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def rot_pull(deg, a, b):
    c, s = special.cosdg(deg), special.sindg(deg)
    R = np.eye(3)
    R[a, a], R[a, b], R[b, a], R[b, b] = c, s, -s, c
    return R


def spacing(aff):
    return np.sqrt((aff[:3, :3] ** 2).sum(axis=0))


def keeps_affine(name, inp, out):
    """The output's sform, qform and zooms are the input's."""
    a, b = inp.affine, out.affine
    same = np.allclose(a, b, atol=1e-5) and np.allclose(out.get_qform(), a, atol=1e-4) and \
        np.allclose(out.header.get_zooms()[:3], inp.header.get_zooms()[:3], atol=1e-6)
    check(same, name + ": affine, qform and zooms are the input's")


def measure_scale(y, x, cands):
    """The zoom factor z (about the grid's centre) for which zoom(x, z) correlates best with y; on every second
    voxel."""
    x2, y2 = x[::2, ::2, ::2], y[::2, ::2, ::2]
    c = (np.array(x2.shape) - 1) / 2
    scores = [corr(y2, ndimage.affine_transform(x2, np.eye(3) / z, offset=c - c / z, order=1)) for z in cands]
    return cands[int(np.argmax(scores))], scores


def measure_angle(y, x, cands, plane, sp):
    """The rotation (degrees, in mm, in plane) for which rotate(x) correlates best with y; every second voxel."""
    x2, y2 = x[::2, ::2, ::2], y[::2, ::2, ::2]
    c = (np.array(x2.shape) - 1) / 2
    S = np.diag(sp)
    scores = []
    for t in cands:
        A = np.linalg.inv(S) @ rot_pull(t, *plane) @ S
        scores.append(corr(y2, ndimage.affine_transform(x2, A, offset=c - A @ c, order=1)))
    return cands[int(np.argmax(scores))], scores


def main():
    if subprocess.run([CLI, "apply", "--help"], capture_output=True).returncode != 0:
        print("skip: %s has no 'apply' command" % CLI)
        return 77
    if not (os.path.exists(CH2) and os.path.exists(AAL) and os.path.exists(ANAT)):
        print("skip: mricron templates or nibabel's test data not installed")
        return 77
    ch2 = nib.load(CH2)
    # the anisotropic volume: resample(1,1,3) of ch2 (a grid op: its affine is the true one of the new grid)
    aniso, aniso_lab = run(CH2, "resample(1,1,3)", "aniso", label=AAL)
    if aniso is None:
        return 1
    check(np.allclose(spacing(aniso.affine), [1, 1, 3]) and aniso.shape == (181, 217, 60),
          "resample(1,1,3): 181x217x60 at 1x1x3 mm")
    ANISO = os.path.join(OUT, "aniso.nii")
    ANISO_LAB = os.path.join(OUT, "aniso_label.nii")
    anat = nib.load(ANAT)

    # 1. augmentation ops keep the affine; labels follow the same map
    for tag, path, lab, img in (("ch2", CH2, AAL, ch2), ("aniso", ANISO, ANISO_LAB, aniso), ("anat", ANAT, None, anat)):
        for spec in ("flip(axes=0)", "rotate(20, plane=0,1)", "zoom(1.25)", "elastic(alpha=300, sigma=6, mode=fast)"):
            if tag == "ch2" and spec.startswith("elastic"):
                continue  # the same rule on the smaller volumes; the pass is one pull map either way
            out, lout = run(path, spec, "%s_%s" % (tag, spec.split("(")[0]), label=lab)
            if out is None:
                continue
            keeps_affine("%s %s" % (tag, spec), img, out)
            if lout is not None:
                keeps_affine("%s %s label map" % (tag, spec), img, lout)
            if spec.startswith("flip") and lout is not None:
                check(np.array_equal(np.asarray(lout.dataobj), np.flip(np.asarray(nib.load(lab).dataobj), 0)),
                      "%s flip: the label map is np.flip of the input's" % tag)

    # 2. after as_closest_canonical the flip is still there: canonical(out) mirrors canonical(in) along the
    #    canonical axis of voxel axis 0 (LAS input: canonical flips axis 0 itself)
    for tag, path, lab, img in (("ch2", CH2, AAL, ch2), ("anat", ANAT, None, anat)):
        out, _ = run(path, "flip(axes=0)", tag + "_flip", label=lab)
        if out is None:
            continue
        cin = data(nib.as_closest_canonical(img))
        cout = data(nib.as_closest_canonical(out))
        w = int(ornt.io_orientation(img.affine)[0, 0])
        check(np.array_equal(cout, np.flip(cin, w)) and not np.array_equal(cout, cin),
              "%s flip(axes=0): as_closest_canonical keeps the mirror" % tag)

    # 3. after resampling to 1 mm (nibabel.processing) the zoom and the rotation are measured where they were put
    x_aniso = data(aniso)
    for tag, img, path in (("ch2", ch2, CH2), ("aniso", aniso, ANISO)):
        base = data(nibproc.resample_to_output(img, (1, 1, 1), order=1))
        for geom in ("content", "track"):
            spec = "sampling(geometry=%s) zoom(1.25)" % geom
            out, _ = run(path, spec, "%s_zoom_%s" % (tag, geom))
            if out is None:
                continue
            res = nibproc.resample_to_output(out, (1, 1, 1), order=1)
            y = data(res)
            if geom == "content":
                cands = [1.0, 1.1, 1.2, 1.25, 1.3, 1.4]
                z, sc = measure_scale(y, base, cands)
                check(z == 1.25 and sc[3] - sc[0] > 0.05, "%s zoom(1.25), resampled to 1 mm: zoom measured" % tag,
                      "%.2f (corr at 1.25 %.3f, at 1.0 %.3f)" % (z, sc[3], sc[0]))
            else:
                # track: the loader's resampling puts the content back: on the input's world grid it overlays
                back = data(nibproc.resample_from_to(out, img, order=1))
                inside = back != 0
                c = corr(back[inside], data(img)[inside])
                check(c > 0.98, "%s zoom(1.25) geometry=track: overlays the input in world space" % tag,
                      "corr %.4f" % c)
        for geom in ("content", "track"):
            out, _ = run(path, "sampling(geometry=%s) rotate(20, plane=0,2)" % geom, "%s_rot_%s" % (tag, geom))
            if out is None:
                continue
            back = data(nibproc.resample_from_to(out, img, order=1))   # the output seen on the input's grid
            cands = [0.0, 10.0, 15.0, 20.0, 25.0, 30.0]
            t, sc = measure_angle(back, data(img), cands, (0, 2), spacing(img.affine))
            want = 20.0 if geom == "content" else 0.0
            check(t == want, "%s rotate(20, plane=0,2) geometry=%s: rotation measured in world space" % (tag, geom),
                  "%.0f deg (corr %s)" % (t, " ".join("%.3f" % s for s in sc)))

    # 4. anisotropic rotation in mm: affine_transform(x, S^-1 R S); the affine under both geometries
    S = np.diag(spacing(aniso.affine))
    n = np.array(x_aniso.shape)
    c = (n - 1) / 2
    R = rot_pull(30, 0, 2)
    A = np.linalg.inv(S) @ R @ S
    want = ndimage.affine_transform(x_aniso, A, offset=c - A @ c, order=1, mode="grid-constant")
    tol = 1e-4 * float(x_aniso.max() - x_aniso.min())
    for geom in ("content", "track"):
        out, _ = run(ANISO, "sampling(geometry=%s) rotate(30, plane=0,2)" % geom, "aniso_rot30_" + geom)
        if out is None:
            continue
        d = float(np.max(np.abs(data(out) - want)))
        check(d <= tol, "1x1x3 mm rotate(30, plane=0,2) %s = affine_transform(x, S^-1 R S)" % geom,
              "max|diff| %.3g (tol %.3g)" % (d, tol))
        aff = out.affine
        M = aff[:3, :3]
        G = M.T @ M
        ortho = np.max(np.abs(G - np.diag(np.diag(G))))
        check(ortho < 1e-4 and np.allclose(spacing(aff), [1, 1, 3], atol=1e-5) and
              np.allclose(out.get_qform(), out.get_sform(), atol=1e-4),
              "1x1x3 mm rotate %s: orthogonal sform (|off-diag AtA| %.2g), spacing 1x1x3, qform = sform" % (geom, ortho))
        if geom == "content":
            keeps_affine("1x1x3 mm rotate content", aniso, out)
        else:
            want_aff = aniso.affine @ np.block([[A, (c - A @ c)[:, None]], [np.zeros((1, 3)), np.ones((1, 1))]])
            check(np.allclose(aff, want_aff, atol=1e-4), "1x1x3 mm rotate track: affine = input @ [A b]")

    # 5. shift in mm
    out, _ = run(ANISO, "shift(3, 3, 6, unit=mm)", "aniso_shift_mm")
    if out is not None:
        d = float(np.max(np.abs(data(out) - ndimage.shift(x_aniso, [3, 3, 2], order=1, mode="grid-constant"))))
        check(d <= tol, "shift(3,3,6, unit=mm) on 1x1x3 mm = ndimage.shift(x, (3,3,2))", "max|diff| %.3g" % d)

    # 6. reorient: exact copies, as nibabel
    out, lout = run(ANAT, "reorient(RAS)", "anat_ras")
    if out is not None:
        can = nib.as_closest_canonical(anat)
        check(np.array_equal(data(out), data(can)) and np.allclose(out.affine, can.affine, atol=1e-5),
              "anatomical.nii (LAS) reorient(RAS) == as_closest_canonical")
    for code in ("PIR", "LPS", "SAL"):
        out, lout = run(CH2, "reorient(%s)" % code, "ch2_" + code, label=AAL)
        if out is None:
            continue
        t = ornt.ornt_transform(ornt.io_orientation(ch2.affine), ornt.axcodes2ornt(code))
        want = ornt.apply_orientation(np.asarray(ch2.dataobj), t)
        waff = ch2.affine @ ornt.inv_ornt_aff(t, ch2.shape)
        lwant = ornt.apply_orientation(np.asarray(nib.load(AAL).dataobj), t)
        check(np.array_equal(np.asarray(out.dataobj), want) and np.array_equal(np.asarray(lout.dataobj), lwant)
              and np.allclose(out.affine, waff, atol=1e-5) and "".join(nib.aff2axcodes(out.affine)) == code,
              "ch2 reorient(%s) == nibabel ornt_transform + apply_orientation (image, labels, affine)" % code)

    # 7. info: the orientation code; a sheared affine flagged
    r = subprocess.run([CLI, "info", ANAT], capture_output=True, text=True)
    check(r.returncode == 0 and "orient    LAS\n" in r.stdout, "voxaug info anatomical.nii: orient LAS")
    sheared = np.diag([1.0, 1.0, 3.0, 1.0])
    sheared[0, 2] = 1.5
    path = os.path.join(OUT, "sheared.nii")
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), sheared), path)
    r = subprocess.run([CLI, "info", path], capture_output=True, text=True)
    check(r.returncode == 0 and "NOT ORTHOGONAL" in r.stdout, "voxaug info: a sheared affine is flagged")
    r = subprocess.run([CLI, "info", ANAT, "--json"], capture_output=True, text=True)
    check('"orientation": "LAS", "orthogonal": true' in r.stdout, "voxaug info --json: orientation, orthogonal")

    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all geometry checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
