# SPDX-License-Identifier: MIT
"""voxaug's spatial ops (C reference path) against SciPy/NumPy, through the CLI:

    voxaug apply IN --ops SPEC -o OUT.nii [--label L --label-out LO] --device reference

on ch2.nii.gz (uint8 T1, 181x217x181) with aal.nii.gz (labels, order 0) and on random float volumes with an
oblique affine. For every op of SPEC.md's table: images within 1e-4 x (max - min) of the input, labels equal
(exactly for exact maps; elsewhere a voxel may differ only where its position is within 1e-4 of a .5 tie,
which float32 positions can round the other way, see kernels/resample_coord.h), and the output affine equal to
affine_in @ [[G, g], [0, 1]] with (G, g) the map of the grid ops alone (SPEC "Geometry": augmentation ops keep
their grid's affine) worked out here from SPEC's formulas; on the anisotropic oblique volumes rotations act in
millimetres, A = S^-1 R S. Then one chain on the default OpenCL device against the reference. Usage: check_spatial.py <voxaug CLI>; exit 77 = skipped."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import nibabel as nib
    from scipy import ndimage
    import device_rule
except ImportError as e:  # pragma: no cover
    print("skip: %s" % e)
    sys.exit(77)

CLI = sys.argv[1]
CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
OUT = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp(prefix="check_spatial_")
os.makedirs(OUT, exist_ok=True)
failures = []


def fail(msg):
    print("FAIL: " + msg)
    failures.append(msg)


def run(inp, spec, label=None, device="reference", tag="x"):
    out = os.path.join(OUT, tag + ".nii")
    cmd = [CLI, "apply", inp, "--ops", spec, "-o", out, "--device", device,
           "--params-out", os.path.join(OUT, tag + ".json")]
    lout = None
    if label:
        lout = os.path.join(OUT, tag + "_label.nii")
        cmd += ["--label", label, "--label-out", lout]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s: voxaug exited %d: %s" % (spec, r.returncode, r.stderr.strip()))
        return None, None, None
    img = nib.load(out)
    lab = nib.load(lout) if lout else None
    with open(os.path.join(OUT, tag + ".json")) as f:
        draw = json.load(f)
    return img, lab, draw


def centre(n):
    return (np.asarray(n, float) - 1) / 2


def rot_pull(deg, a, b):
    """The pull matrix of ndimage.rotate(x, deg, axes=(a, b)): SciPy sorts the axes, then
    (p_a, p_b) - c = [[cos, sin], [-sin, cos]] ((o_a, o_b) - c)."""
    a, b = sorted((a, b))
    from scipy import special
    c, s = special.cosdg(deg), special.sindg(deg)
    R = np.eye(3)
    R[a, a], R[a, b], R[b, a], R[b, b] = c, s, -s, c
    return R


def about_centre(A, n):
    c = centre(n)
    return c - A @ c


def hom(A, b):
    M = np.eye(4)
    M[:3, :3] = A
    M[:3, 3] = b
    return M


def near_tie(A, b, idx):
    """Whether some coordinate of p = A o + b (float64) lies within 1e-4 of a .5 boundary, for voxels idx."""
    o = np.stack(idx, axis=0).astype(float)
    p = A @ o + b[:, None]
    frac = p - np.floor(p)
    return np.any(np.abs(frac - 0.5) < 1e-4, axis=0)


def check_image(name, got, want, x_range):
    if got.shape != want.shape:
        fail("%s: shape %s, expected %s" % (name, got.shape, want.shape))
        return
    d = np.max(np.abs(got.astype(np.float64) - want)) if got.size else 0.0
    tol = 1e-4 * x_range
    status = "ok" if d <= tol else "FAIL"
    print("%-60s image max|diff| %.3g (tol %.3g) %s" % (name, d, tol, status))
    if d > tol:
        fail("%s: image differs by %g > %g" % (name, d, tol))


def check_label(name, got, want, A, b, exact):
    if got.shape != want.shape:
        fail("%s: label shape %s, expected %s" % (name, got.shape, want.shape))
        return
    bad = np.nonzero(got != want)
    n = len(bad[0])
    if n and (exact or not np.all(near_tie(A, b, bad))):
        fail("%s: %d label voxels differ%s" % (name, n, " (exact map)" if exact else ", not all at .5 ties"))
    print("%-60s labels: %d differ (%s) %s" % (name, n, "exact map" if exact else "ties allowed",
                                                 "ok" if not n or not exact else "FAIL"))


def check_affine(name, img, want):
    got = img.affine
    if not np.allclose(got, want, atol=1e-3, rtol=1e-5):
        fail("%s: output affine\n%s\nexpected\n%s" % (name, got, want))
    codes = int(img.header["sform_code"]), int(img.header["qform_code"])
    if codes[0] <= 0:
        fail("%s: sform_code %d, expected > 0" % (name, codes[0]))


def affine_case(name, inp, spec, x, aff, A, b, out_shape, order=1, mode="grid-constant", cval=0.0,
                label=None, lab=None, exact=False, scipy_image=None, grid=None):
    """Runs spec and checks image (and label) against affine_transform(x, A, offset=b) (or scipy_image, the
    op's own SciPy call, which must agree) and the output affine: aff @ grid (default hom(A, b), a grid op's;
    np.eye(4) for augmentation ops, which keep the affine)."""
    img, limg, _ = run(inp, spec, label, tag=name)
    if img is None:
        return
    want = ndimage.affine_transform(x, A, offset=b, output_shape=tuple(out_shape), order=order, mode=mode,
                                    cval=cval)
    xr = float(x.max() - x.min())
    if scipy_image is not None:  # the table's SciPy call is the same map
        check_image(name + " [affine_transform == table's call]", scipy_image, want, xr)
    check_image(name, np.asarray(img.dataobj), want, xr)
    check_affine(name, img, aff @ (hom(A, b) if grid is None else grid))
    if label is not None:
        lwant = ndimage.affine_transform(lab, A, offset=b, output_shape=tuple(out_shape), order=0,
                                         mode="grid-constant", cval=0)
        check_label(name, np.asarray(limg.dataobj), lwant, A, b, exact)
        if limg.get_data_dtype() != np.dtype(np.uint8):
            fail("%s: label type %s, expected uint8" % (name, limg.get_data_dtype()))


def main():
    r = subprocess.run([CLI, "apply", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        print("skip: %s has no 'apply' command" % CLI)
        return 77
    if not (os.path.exists(CH2) and os.path.exists(AAL)):
        print("skip: mricron templates not installed")
        return 77
    ch2 = nib.load(CH2)
    x = np.asarray(ch2.dataobj).astype(np.float64)
    lab = np.asarray(nib.load(AAL).dataobj)
    aff = ch2.affine
    n = np.array(x.shape)
    L = dict(label=AAL, lab=lab)

    # flip: p_a = n_a - 1 - o_a, exact
    A = np.diag([-1.0, 1.0, -1.0]); b = np.array([n[0] - 1, 0, n[2] - 1], float)
    I4 = np.eye(4)  # the grid map of augmentation ops: the affine is kept
    affine_case("flip_0_2", CH2, "flip(axes=0,2)", x, aff, A, b, n, exact=True,
                scipy_image=np.flip(x, (0, 2)), grid=I4, **L)
    # rotate: ndimage.rotate(x, angle, axes, reshape=False); voxaug's plane = SciPy's axes
    for ang, pl in ((15, (0, 1)), (-20, (1, 2)), (33, (2, 0))):
        A = rot_pull(ang, *pl); b = about_centre(A, n)
        sc = ndimage.rotate(x, ang, axes=pl, reshape=False, order=1, mode="grid-constant") if ang == 15 else None
        affine_case("rotate_%d_%d%d" % (ang, pl[0], pl[1]), CH2, "rotate(%g, plane=%d,%d)" % (ang, pl[0], pl[1]),
                    x, aff, A, b, n, scipy_image=sc, grid=I4, **L)
    # a quarter turn in a square plane of 1 mm voxels is np.rot90's permutation: exact
    img, _, _ = run(CH2, "rotate(90, plane=0,2)", tag="rot90")
    if img is not None:
        same = np.array_equal(np.asarray(img.dataobj), np.rot90(x, 1, axes=(0, 2)))
        print("%-60s equals np.rot90: %s" % ("ch2 rotate(90, plane=0,2)", same))
        if not same:
            fail("rotate(90, plane=0,2) on ch2 is not np.rot90")
    # rotate3d(ax, ay, az): rotate(ax, plane=1,2), rotate(ay, plane=0,2), rotate(az, plane=0,1), one pass
    A = rot_pull(10, 1, 2) @ rot_pull(-5, 0, 2) @ rot_pull(20, 0, 1); b = about_centre(A, n)
    affine_case("rotate3d", CH2, "rotate3d(angles=10,-5,20)", x, aff, A, b, n, grid=I4, **L)
    # zoom: p = (o - c)/z + c
    for z in ((1.2, 1.2, 1.2), (0.8, 1.1, 1.0)):
        A = np.diag(1 / np.array(z)); c = centre(n); b = c - c / np.array(z)
        affine_case("zoom_%g_%g_%g" % z, CH2, "zoom(%g,%g,%g)" % z, x, aff, A, b, n, grid=I4, **L)
    # shift: p = o - t; ndimage.shift(x, t)
    t = np.array([2.5, -3.0, 1.25])
    affine_case("shift", CH2, "shift(2.5,-3,1.25)", x, aff, np.eye(3), -t, n,
                scipy_image=ndimage.shift(x, t, order=1, mode="grid-constant"), grid=I4, **L)
    affine_case("shift_int", CH2, "shift(3,-2,0)", x, aff, np.eye(3), -np.array([3.0, -2, 0]), n, exact=True,
                grid=I4, **L)
    # affine: p = A o + offset
    A = np.array([[0.95, 0.1, 0.0], [-0.05, 1.05, 0.02], [0.0, 0.1, 0.9]]); b = np.array([3.0, -4.5, 6.0])
    affine_case("affine", CH2, "affine(row0=0.95,0.1,0, row1=-0.05,1.05,0.02, row2=0,0.1,0.9, offset=3,-4.5,6)",
                x, aff, A, b, n, grid=I4, **L)
    # resize(n'): p = (o + 0.5) n/n' - 0.5 = ndimage.zoom(x, n'/n, grid_mode=True)
    n2 = np.array([90, 100, 120])
    A = np.diag(n / n2); b = 0.5 * n / n2 - 0.5
    affine_case("resize", CH2, "resize(90,100,120)", x, aff, A, b, n2,
                scipy_image=ndimage.zoom(x, n2 / n, order=1, grid_mode=True, mode="grid-constant"), **L)
    # scale(f): n' = round(n f) (Python's round, as ndimage.zoom's output shape)
    f = 0.5
    n2 = np.array([int(round(v * f)) for v in n])
    A = np.diag(n / n2); b = 0.5 * n / n2 - 0.5
    affine_case("scale", CH2, "scale(0.5)", x, aff, A, b, n2,
                scipy_image=ndimage.zoom(x, f, order=1, grid_mode=True, mode="grid-constant"), **L)
    # resample(s'): n' = round(n s/s'), centres coincide
    s = np.sqrt((aff[:3, :3] ** 2).sum(axis=0)); s2 = np.array([2.0, 1.5, 3.0])
    n2 = np.array([int(round(v)) for v in n * s / s2])
    A = np.diag(s2 / s); b = centre(n) - centre(n2) * s2 / s
    affine_case("resample", CH2, "resample(2,1.5,3)", x, aff, A, b, n2, **L)
    # crop(m, start q): x[q:q+m], exact
    m = np.array([128, 100, 90]); q = np.array([10, 20, 30])
    sl = x[q[0]:q[0] + m[0], q[1]:q[1] + m[1], q[2]:q[2] + m[2]]
    affine_case("crop", CH2, "crop(128,100,90, start=10,20,30)", x, aff, np.eye(3), q.astype(float), m,
                exact=True, scipy_image=sl, **L)
    # center_crop(m): q = floor((n - m)/2); m > n pads with cval (axis 2 here)
    m = np.array([150, 200, 190]); q = np.floor((n - m) / 2)
    affine_case("center_crop", CH2, "center_crop(150,200,190)", x, aff, np.eye(3), q, m, exact=True, **L)
    # pad(before, after) = np.pad, modes constant / edge (nearest) / symmetric (reflect)
    bef = np.array([3, 0, 5]); aft = np.array([1, 2, 0])
    for mode, npmode in (("constant", "constant"), ("nearest", "edge"), ("reflect", "symmetric")):
        sm = "grid-constant" if mode == "constant" else mode
        affine_case("pad_" + mode, CH2, "sampling(mode=%s, label_mode=%s) pad(before=3,0,5, after=1,2,0)" % (mode, mode),
                    x, aff, np.eye(3), -bef.astype(float), n + bef + aft, mode=sm, exact=True,
                    scipy_image=np.pad(x, list(zip(bef, aft)), mode=npmode), **(L if mode == "constant" else {}))
    # random_crop(m): the start comes back in the draw; x[q:q+m] with q in 0..n-m
    img, limg, draw = run(CH2, "random_crop(100,120,80)", AAL, tag="random_crop")
    if img is not None:
        q = np.array(draw["ops"][0]["start"])
        m = np.array([100, 120, 80])
        if np.any(q < 0) or np.any(q > n - m):
            fail("random_crop: start %s outside 0..n-m" % q)
        sl = tuple(slice(q[a], q[a] + m[a]) for a in range(3))
        check_image("random_crop", np.asarray(img.dataobj), x[sl], float(x.max() - x.min()))
        check_label("random_crop", np.asarray(limg.dataobj), lab[sl], np.eye(3), q, True)
        check_affine("random_crop", img, aff @ hom(np.eye(3), q))
    # modes and orders on an image: reflect / nearest boundaries, nearest-neighbour images
    A = rot_pull(25, 0, 1) @ np.diag([1 / 0.7] * 3); b = about_centre(A, n)
    for order, mode in ((1, "reflect"), (1, "nearest"), (0, "constant"), (0, "reflect")):
        sm = "grid-constant" if mode == "constant" else mode
        spec = "sampling(order=%d, mode=%s, cval=0) rotate(25, plane=0,1) zoom(0.7)" % (order, mode)
        img, _, _ = run(CH2, spec, tag="modes_%d_%s" % (order, mode))
        if img is None:
            continue
        want = ndimage.affine_transform(x, A, offset=b, order=order, mode=sm)
        got = np.asarray(img.dataobj)
        name = "rotate+zoom order %d mode %s" % (order, mode)
        if order == 0:  # a nearest-neighbour image: as labels, ties allowed
            check_label(name, got, want, A, b, False)
        else:
            check_image(name, got, want, float(x.max() - x.min()))
        check_affine(name, img, aff)
    # a chain: one pass of the composed map (rotate, then zoom, then crop)
    R = rot_pull(15, 0, 1); Z = np.diag([1 / 1.1] * 3)
    m = np.array([128, 128, 128]); q = np.floor((n - m) / 2)
    M = hom(R, about_centre(R, n)) @ hom(Z, about_centre(Z, n)) @ hom(np.eye(3), q)
    chain = "rotate(15, plane=0,1) zoom(1.1) crop(128,128,128)"
    affine_case("chain", CH2, chain, x, aff, M[:3, :3], M[:3, 3], m, grid=hom(np.eye(3), q), **L)
    # geometry=track: the affine follows the voxels (the whole map)
    affine_case("chain_track", CH2, "sampling(geometry=track) " + chain, x, aff, M[:3, :3], M[:3, 3], m)

    # random float volumes with an oblique, anisotropic affine (1.2 x 0.8 x 2 mm), every mode, awkward shapes:
    # rotations act in millimetres, A = S^-1 R S; zoom and shift (in voxels) are diagonal, the same either way
    rng = np.random.default_rng(7)
    for shape in ((29, 23, 17), (12, 12, 12), (1, 15, 9)):
        v = ndimage.gaussian_filter(rng.uniform(-1, 1, shape), 1.5).astype(np.float32) * 100 + 20
        th = 0.3
        va = np.array([[1.2 * np.cos(th), -0.8 * np.sin(th), 0, -10], [1.2 * np.sin(th), 0.8 * np.cos(th), 0, 5],
                       [0, 0, 2.0, 30], [0, 0, 0, 1]])
        path = os.path.join(OUT, "rand_%d_%d_%d.nii" % shape)
        nib.save(nib.Nifti1Image(v, va), path)
        vd = v.astype(np.float64)
        nn = np.array(shape)
        tag = "rand%dx%dx%d" % shape
        for mode in ("constant", "nearest", "reflect"):
            sm = "grid-constant" if mode == "constant" else mode
            S = np.diag(np.sqrt((va[:3, :3] ** 2).sum(axis=0))); Si = np.linalg.inv(S)
            A = Si @ rot_pull(-35, 1, 2) @ rot_pull(10, 0, 1) @ S @ np.diag([0.9, 1.3, 1.1]); b = about_centre(A, nn) + A @ np.full(3, 0.3)  # shift(-0.3) is applied last: p = A (o + 0.3) + ...
            spec = ("sampling(mode=%s, cval=%s) rotate(-35, plane=1,2) rotate(10, plane=0,1) zoom(%.15g,%.15g,%.15g) "
                    "shift(-0.3)" % (mode, "7.5" if mode == "constant" else "0", 1 / 0.9, 1 / 1.3, 1 / 1.1))
            affine_case(tag + "_" + mode, path, spec, vd, va, A, b, nn, mode=sm,
                        cval=7.5 if mode == "constant" else 0.0, grid=np.eye(4))
            s = np.sqrt((va[:3, :3] ** 2).sum(axis=0)); s2 = np.array([0.7, 1.1, 1.3])
            n2 = np.array([max(1, int(round(u))) for u in nn * s / s2])
            A = np.diag(s2 / s); b = centre(nn) - centre(n2) * s2 / s
            affine_case(tag + "_resample_" + mode, path, "sampling(mode=%s) resample(0.7,1.1,1.3)" % mode,
                        vd, va, A, b, n2, mode=sm)

    # the default OpenCL device against the reference on the chain (images within tolerance, labels equal)
    ref, lref, _ = run(CH2, chain, AAL, tag="chain_ref")
    device_ran = False
    if device_rule.device_is_reference():
        r = None
        if device_rule.no_device("VOXAUG_DEVICE=reference"):
            fail("VOXAUG_REQUIRE_DEVICE=1 with the reference path as the device under test")
    else:
        r = subprocess.run([CLI, "apply", CH2, "--ops", chain, "-o", os.path.join(OUT, "chain_dev.nii"), "--label",
                            AAL, "--label-out", os.path.join(OUT, "chain_dev_label.nii")], capture_output=True,
                           text=True)
        if r.returncode != 0 and device_rule.no_device(r.stderr.strip()):
            fail("VOXAUG_REQUIRE_DEVICE=1 but the default device failed")
    if r is not None and r.returncode == 0 and ref is not None:
        device_ran = True
        dev = nib.load(os.path.join(OUT, "chain_dev.nii"))
        ldev = nib.load(os.path.join(OUT, "chain_dev_label.nii"))
        check_image("chain: default device vs reference", np.asarray(dev.dataobj),
                    np.asarray(ref.dataobj).astype(np.float64), float(x.max() - x.min()))
        if not np.array_equal(np.asarray(ldev.dataobj), np.asarray(lref.dataobj)):
            fail("chain: device labels differ from the reference's")
        if not np.allclose(dev.affine, ref.affine):
            fail("chain: device affine differs from the reference's")

    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all spatial checks passed")
    return device_rule.exit_code(0, device_ran)


if __name__ == "__main__":
    sys.exit(main())
