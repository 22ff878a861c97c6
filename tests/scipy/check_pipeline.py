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
        run([cli, "apply", CH2, "--ops", spec, "--label", AAL, "-o", c_img, "--label-out", c_lab,
             "--params-out", c_par, "--seed", str(seed), "--sample", str(sample)])
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
