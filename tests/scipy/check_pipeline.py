# SPDX-License-Identifier: MIT
"""Issue #6's pipeline on real data through the CLI and through the C API, with identical results.

Run as: /usr/bin/python3 check_pipeline.py <voxaug CLI>. The pipeline of random flip, rotate, zoom, elastic
(exact and fast fields), z-score, noise and random crop to 128^3 on ch2.nii.gz with its aal.nii.gz label map:
  - `voxaug apply --seed S --sample I` and $VXA_TOOLS_DIR/vxa_pipeline_api (vxa_pipeline_run, the public API
    alone) give the same image bit for bit, the same label map, the same geometry and the same draw, for several
    (seed, sample) pairs, whose draws differ from each other;
  - the outputs are 128^3, the image float32 and finite, the label map uint8 with labels from aal's own set
    only (that the labels sit where the image's voxels do is checked by test_pipeline, device against reference,
    and by bench/run.py against SciPy's order 0 at the same positions);
  - the exact-mode run against SciPy at ch2 size (check_against_scipy): map_coordinates at A·(o + d) + b with
    voxaug's field, the label map by order 0 (equal except at rounding ties), zscore, the drawn crop, the noise's
    residual;
  - `voxaug preview` writes before and after PNGs (valid signature, chunk CRCs, the sizes of the volumes' mid
    slices side by side).
Exit 77 (skipped) without ch2/aal, nibabel or the tool.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
SPEC = ("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) "
        "elastic(alpha=200, sigma=8, mode={mode}) zscore noise(0.1) random_crop(128,128,128)")
RUNS = (("fast", 1, 0), ("fast", 1, 1), ("fast", 7, 3), ("exact", 5, 2))


def tool_path():
    d = os.environ.get("VXA_TOOLS_DIR")
    p = os.path.join(d, "vxa_pipeline_api") if d else None
    return p if p and os.access(p, os.X_OK) else None


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))


def png_size(path):
    """(width, height) of a PNG whose signature, chunk CRCs and IHDR-first / IEND-last order hold."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s: no PNG signature" % path
    pos, kinds, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) == crc, "%s: bad CRC in %r" % (path, kind)
        kinds.append(kind)
        if kind == b"IHDR":
            ihdr = body
        pos += 12 + n
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND", (path, kinds)
    return struct.unpack(">II", ihdr[:8])


def pull_map(draw, shape):
    """The spatial run's pull map p = A·(o + d(o)) + b from the draw, written out from SPEC.md: flip
    p_a = n_a - 1 - o_a; rotate in plane (a, b) about c = (n - 1)/2 with scipy.ndimage.rotate's matrix
    [[cos, sin], [-sin, cos]]; zoom p = (o - c)/z + c. Ops in spec order: the output pulls through the last first."""
    import numpy as np
    n = np.asarray(shape, dtype=np.float64)
    c = (n - 1) / 2
    A, b = np.eye(3), np.zeros(3)
    for op in draw["ops"]:
        if not op.get("applied", True):
            continue
        Ak, bk = np.eye(3), np.zeros(3)
        if op["op"] == "flip":
            for a in range(3):
                if op["flipped"][a]:
                    Ak[a, a], bk[a] = -1.0, n[a] - 1
        elif op["op"] == "rotate":
            t = np.deg2rad(op["angle"])
            i, j = sorted(op["plane"])
            Ak[i, i], Ak[i, j], Ak[j, i], Ak[j, j] = np.cos(t), np.sin(t), -np.sin(t), np.cos(t)
            bk = c - Ak @ c
        elif op["op"] == "zoom":
            Ak = np.diag(1.0 / np.asarray(op["z"], dtype=np.float64))
            bk = c - Ak @ c
        else:
            continue
        A, b = A @ Ak, A @ bk + b
    return A, b


def check_against_scipy(cli_img, cli_lab, field_path, draw, tag):
    """Issue #6's pipeline in SciPy at ch2 size, from voxaug's draw and its exact elastic field (checked against
    alpha * gaussian_filter of the Philox noise by check_elastic.py): map_coordinates(order=1, grid-constant) at
    A·(grid + d) + b, the label map by order 0 at the same positions, zscore (population std, all voxels), the
    random crop at its drawn start; the noise is left out, so the residual must be N(0, 0.1²): mean within 5% of
    sigma, std within 5%, no voxel beyond 7 sigma. Labels equal, except voxels on a rounding tie (a position within
    1e-4 of .5 on some axis, where float32 and float64 may round apart). Returns a list of failures."""
    import numpy as np
    import nibabel as nib
    from scipy import ndimage
    x = np.asarray(nib.load(CH2).get_fdata(dtype=np.float32), dtype=np.float64)
    lab = np.asarray(nib.load(AAL).dataobj)
    d = np.asarray(nib.load(field_path).dataobj, dtype=np.float64)
    d = d.reshape(x.shape + (3,), order="F") if d.ndim != 4 else d
    A, b = pull_map(draw, x.shape)
    q = np.indices(x.shape, dtype=np.float64) + np.moveaxis(d, 3, 0)
    coords = np.tensordot(A, q, axes=1) + b[:, None, None, None]
    y = ndimage.map_coordinates(x, coords, order=1, mode="grid-constant", cval=0.0)
    want_lab = ndimage.map_coordinates(lab, coords, order=0, mode="grid-constant", cval=0)
    y = (y - y.mean()) / y.std()
    start = [o for o in draw["ops"] if o["op"] == "random_crop"][0]["start"]
    sigma = [o for o in draw["ops"] if o["op"] == "noise"][0]["std"]
    win = tuple(slice(s0, s0 + 128) for s0 in start)
    y, want_lab, coords = y[win], want_lab[win], coords[(slice(None),) + win]
    got = np.asarray(nib.load(cli_img).dataobj, dtype=np.float64)
    got_lab = np.asarray(nib.load(cli_lab).dataobj)
    r = got - y
    m, sd, worst = float(r.mean()), float(r.std()), float(np.abs(r).max())
    frac = coords - np.floor(coords)
    tie = np.any(np.abs(frac - 0.5) < 1e-4, axis=0)
    diff = got_lab != want_lab
    print("%-16s vs SciPy (map_coordinates at A(o+d)+b, zscore, crop at %s): residual mean %.3g, std %.4g "
          "(noise %g), max %.3g; labels: %d differ, %d of them off a tie" % (tag, start, m, sd, sigma, worst,
                                                                             int(diff.sum()), int((diff & ~tie).sum())))
    bad = []
    if not (abs(m) < 0.05 * sigma and abs(sd / sigma - 1) < 0.05 and worst < 7 * sigma):
        bad.append("%s: image vs SciPy: residual mean %.3g, std %.4g, max %.3g (noise %g)" % (tag, m, sd, worst,
                                                                                            sigma))
    if np.any(diff & ~tie):
        bad.append("%s: %d labels differ from SciPy's order 0 away from ties" % (tag, int((diff & ~tie).sum())))
    return bad


def main():
    try:
        import numpy as np
        import nibabel as nib
    except ImportError as e:
        print("skip: %s" % e)
        return 77
    tool = tool_path()
    if tool is None:
        print("skip: vxa_pipeline_api not found (VXA_TOOLS_DIR=%s)" % os.environ.get("VXA_TOOLS_DIR"))
        return 77
    if not (os.path.exists(CH2) and os.path.exists(AAL)):
        print("skip: %s or %s missing (Debian package mricron-data)" % (CH2, AAL))
        return 77
    cli = sys.argv[1]
    scratch = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp()
    os.makedirs(scratch, exist_ok=True)
    atlas = np.asarray(nib.load(AAL).dataobj)
    labels_in = set(np.unique(atlas).tolist())
    failures, draws = [], []
    for mode, seed, sample in RUNS:
        spec = SPEC.format(mode=mode)
        tag = "%s_%d_%d" % (mode, seed, sample)
        ends = (".nii.gz", "_lab.nii.gz", ".json")
        c_img, c_lab, c_par = (os.path.join(scratch, "cli_%s%s" % (tag, e)) for e in ends)
        a_img, a_lab, a_par = (os.path.join(scratch, "api_%s%s" % (tag, e)) for e in ends)
        c_field = os.path.join(scratch, "cli_%s_field.nii" % tag)
        run([cli, "apply", CH2, "--ops", spec, "--label", AAL, "-o", c_img, "--label-out", c_lab,
             "--params-out", c_par, "--seed", str(seed), "--sample", str(sample)]
            + (["--field-out", c_field, "--field-units", "vox"] if mode == "exact" else []))
        run([tool, CH2, AAL, spec, str(seed), str(sample), a_img, a_lab, a_par])
        ci, ai, cl, al = (nib.load(p) for p in (c_img, a_img, c_lab, a_lab))
        x, y = np.asarray(ci.dataobj), np.asarray(ai.dataobj)
        lc, la = np.asarray(cl.dataobj), np.asarray(al.dataobj)
        dc, da = json.load(open(c_par)), json.load(open(a_par))
        draws.append(json.dumps(da, sort_keys=True))
        checks = [
            ("image shape", x.shape == (128, 128, 128) and y.shape == x.shape),
            ("image float32", x.dtype == np.float32 and y.dtype == np.float32),
            ("image bit for bit", x.tobytes() == y.tobytes()),
            ("label uint8", lc.dtype == np.uint8 and la.dtype == np.uint8),
            ("label map identical", np.array_equal(lc, la)),
            ("labels from aal's set", set(np.unique(lc).tolist()) <= labels_in),
            ("affines", np.array_equal(ci.affine, ai.affine) and np.array_equal(cl.affine, ai.affine)),
            ("draw", dc == da),
            ("finite", bool(np.isfinite(x).all())),
        ]
        bad = [what for what, good in checks if not good]
        print("%-16s %s" % (tag, "ok" if not bad else "FAILED: " + ", ".join(bad)))
        failures += ["%s: %s" % (tag, b) for b in bad]
        if mode == "exact":
            failures += check_against_scipy(c_img, c_lab, c_field, dc, tag)
        if tag == "fast_1_0":
            before, after = os.path.join(scratch, "before.png"), os.path.join(scratch, "after.png")
            run([cli, "preview", CH2, "--label", AAL, "-o", before])
            run([cli, "preview", c_img, "--label", c_lab, "-o", after])
            wb, hb = png_size(before)
            wa, ha = png_size(after)
            print("previews: before %dx%d, after %dx%d" % (wb, hb, wa, ha))
            # three mid slices side by side: the same enlargement and gaps, so the widths differ by the
            # enlargement times the extents' difference (ch2's 217 + 181 + 181 against 128 * 3)
            scale = (wb - wa) / float((217 + 181 + 181) - 3 * 128)
            if not (scale >= 1 and scale == int(scale) and hb == scale * 217 and ha == scale * 128):
                failures.append("previews: before %dx%d, after %dx%d" % (wb, hb, wa, ha))
    if len(set(draws)) != len(draws):
        failures.append("two (seed, sample) pairs drew the same parameters")
    for f in failures:
        print("FAIL: " + f)
    print("%d runs, %d failures" % (len(RUNS), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
