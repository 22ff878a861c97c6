# SPDX-License-Identifier: MIT
"""`voxaug apply` then `voxaug invert` on ch2 + aal: the round trip of the standard pipeline without its
intensity ops, through the CLI.

Run as: /usr/bin/python3 check_invert.py <voxaug CLI>. VOXAUG_INVERT_DRAWS draws (default 1 here; the figures in
README and the issue note come from 20), each of
    flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) elastic(alpha=200, sigma=8)
    random_crop(128,128,128)
with seed 2026 and samples 0, 1, ...:
  - a label map holding each voxel's own index (int32) goes through the same draw: after invert, a voxel holds
    its own index exactly where the run sampled it (the report's `sampled` count), a neighbour's (within one
    voxel) elsewhere in the field of view, 0 where its content left it (the report's `outside` count);
  - aal comes back identical on every sampled voxel (counted: the rest of the field of view, and outside);
  - ch2 comes back within the range of its own values 2 voxels around (two trilinear interpolations), away from
    the field of view's edge; RMS, 99th percentile and max error are printed as fractions of ch2's range;
  - the elastic inverse's residual (report) stays below 1e-4 voxel;
and VOXAUG_INVERT_CROPS draws (default 1) of flips, a pad and a random crop that come back exactly (ch2 and aal
voxel for voxel, the outside count equal to the crop's). Exit 77 without ch2/aal or nibabel.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
SPEC = ("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) "
        "elastic(alpha=200, sigma=8, mode=exact) random_crop(128,128,128)")
CROP_SPEC = "flip(axes=0,1,2, p_axis=0.5) pad(4, after=7) random_crop(150,160,140)"
SEED = 2026


def run(cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, cmd)), r.returncode, r.stderr.strip()))
    return r.stdout


def main():
    if len(sys.argv) < 2:
        print("usage: check_invert.py VOXAUG_CLI")
        return 2
    cli = sys.argv[1]
    if not (os.path.exists(CH2) and os.path.exists(AAL)):
        print("SKIP: ch2/aal not installed (mricron-data)")
        return 77
    try:
        import nibabel as nib
        import numpy as np
        from scipy import ndimage
    except ImportError as e:
        print("SKIP: %s" % e)
        return 77
    draws = int(os.environ.get("VOXAUG_INVERT_DRAWS", "1"))
    crops = int(os.environ.get("VOXAUG_INVERT_CROPS", "1"))
    scratch = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp(prefix="vxa_invert_")
    os.makedirs(scratch, exist_ok=True)
    ch2n, aaln = nib.load(CH2), nib.load(AAL)
    ch2 = np.asarray(ch2n.dataobj, dtype=np.float32)
    aal = np.asarray(aaln.dataobj)
    shape = ch2.shape
    idx = (np.arange(ch2.size, dtype=np.int32) + 1).reshape(shape, order="F")
    idx_path = os.path.join(scratch, "index.nii.gz")
    nib.save(nib.Nifti1Image(idx, ch2n.affine), idx_path)   # (not ch2's header: its uint8 would squeeze idx)
    rng_ = float(ch2.max() - ch2.min())
    lo5 = ndimage.minimum_filter(ch2, size=5, mode="nearest")
    hi5 = ndimage.maximum_filter(ch2, size=5, mode="nearest")
    coords = np.indices(shape)
    failures, rows = [], []

    def check(ok, what):
        if not ok:
            failures.append(what)
            print("FAIL: " + what)

    def invert(out, draw, tag, extra=()):
        back, rep = (os.path.join(scratch, "%s_back.nii.gz" % tag), os.path.join(scratch, "%s_rep.json" % tag))
        run([cli, "invert", out, "--draw", draw, "--like", CH2, "-o", back, "--report-out", rep, "-q"] + list(extra))
        return np.asarray(nib.load(back).dataobj), json.load(open(rep))

    for s in range(draws):
        t0 = time.time()
        tag = "s%d" % s
        o_img, o_aal, o_idx, o_img2, par, par2 = (os.path.join(scratch, "%s_%s" % (tag, n)) for n in (
            "img.nii.gz", "aal.nii.gz", "idx.nii.gz", "img2.nii.gz", "draw.json", "draw2.json"))
        run([cli, "apply", CH2, "--label", AAL, "--ops", SPEC, "--seed", SEED, "--sample", s, "-o", o_img,
             "--label-out", o_aal, "--params-out", par])
        run([cli, "apply", CH2, "--label", idx_path, "--ops", SPEC, "--seed", SEED, "--sample", s, "-o", o_img2,
             "--label-out", o_idx, "--params-out", par2])
        t_apply = time.time() - t0
        b_idx, r_idx = invert(o_idx, par2, tag + "_idx")
        b_aal, r_aal = invert(o_aal, par, tag + "_aal")
        b_img, r_img = invert(o_img, par, tag + "_img")
        t_inv = time.time() - t0 - t_apply
        # the index map: own index where sampled, a neighbour's elsewhere inside, 0 outside
        inside = b_idx > 0
        own = b_idx == idx
        check(int(own.sum()) == r_idx["sampled"], "%s: %d voxels hold their own index, the report says %d sampled" % (
            tag, int(own.sum()), r_idx["sampled"]))
        # (a voxel on ch2's border whose nearest output voxel read just outside ch2 holds the run's own 0 too)
        zeros_in = int((~inside).sum()) - r_idx["outside"]
        border = np.zeros(shape, bool)
        border[[0, -1], :, :] = border[:, [0, -1], :] = border[:, :, [0, -1]] = True
        check(r_idx["outside"] == r_aal["outside"] and 0 <= zeros_in <= int((~inside & border).sum()),
              "%s: outside %d (index map zeros) vs reports %d %d" % (tag, int((~inside).sum()), r_idx["outside"],
                                                                   r_aal["outside"]))
        other = inside & ~own
        w = b_idx[other].astype(np.int64) - 1
        wc = np.stack([w % shape[0], (w // shape[0]) % shape[1], w // (shape[0] * shape[1])])
        far = int((np.abs(wc - coords[:, other]).max(axis=0) > 1).sum()) if other.any() else 0
        check(far == 0, "%s: %d voxels came back from farther than one voxel" % (tag, far))
        # aal: identical where sampled
        aal_bad = int((b_aal[own] != aal[own]).sum())
        check(aal_bad == 0, "%s: aal differs on %d sampled voxels" % (tag, aal_bad))
        check(bool(np.all(b_aal[~inside] == 0)), "%s: aal outside the field of view is not 0" % tag)
        aal_other_same = float((b_aal[other] == aal[other]).mean()) if other.any() else 1.0
        # ch2: interior of the field of view (every voxel around inside), within the local range
        interior = ndimage.binary_erosion(inside, np.ones((3, 3, 3)), border_value=0)
        e = b_img[interior].astype(np.float64) - ch2[interior]
        bi, tol = b_img[interior], 1e-4 * rng_
        oob = int(((bi < lo5[interior] - tol) | (bi > hi5[interior] + tol)).sum())
        check(oob == 0, "%s: %d voxels of ch2 came back outside their neighbourhood's range" % (tag, oob))
        rms, p99, emax = (float(np.sqrt(np.mean(e * e))) / rng_, float(np.percentile(np.abs(e), 99)) / rng_,
                          float(np.abs(e).max()) / rng_)
        check(r_img["residual_max"] < 1e-4, "%s: elastic residual %g voxel" % (tag, r_img["residual_max"]))
        check(r_img["intensity_ops_not_inverted"] == 0, "%s: intensity ops reported" % tag)
        n = ch2.size
        rows.append((s, r_idx["outside"] / n, r_idx["sampled"] / n, int(other.sum()) / n, aal_other_same, rms, p99,
                     emax, r_img["iterations"], r_img["residual_max"], t_apply, t_inv))
        print("draw %2d: outside %5.1f%%  sampled %5.1f%%  nearest-filled %4.2f%% (aal same there %5.1f%%)  "
              "ch2 RMS %.4f p99 %.4f max %.4f of range  elastic %d it, residual %.1e vox  (%.1f s apply x2, "
              "%.1f s invert x3)" % (s, 100 * rows[-1][1], 100 * rows[-1][2], 100 * rows[-1][3],
                                     100 * aal_other_same, rms, p99, emax, r_img["iterations"],
                                     r_img["residual_max"], t_apply, t_inv), flush=True)
    if rows:
        # the scale of "interpolation error": ch2 shifted by half a voxel along each axis and back, trilinear
        # (SciPy), on voxels away from the border
        half = ndimage.shift(ndimage.shift(ch2.astype(np.float64), 0.5, order=1, mode="grid-constant"), -0.5, order=1,
                             mode="grid-constant")
        core = (slice(3, -3),) * 3
        eh = (half - ch2)[core]
        print("reference: ch2 shifted by (0.5, 0.5, 0.5) voxel and back, trilinear: RMS %.4f p99 %.4f max %.4f of "
              "range" % (float(np.sqrt(np.mean(eh * eh))) / rng_, float(np.percentile(np.abs(eh), 99)) / rng_,
                         float(np.abs(eh).max()) / rng_))
        a = np.array([r[1:10] for r in rows], dtype=np.float64)
        print("summary over %d draws: outside %.1f-%.1f%%, sampled %.1f-%.1f%%, nearest-filled %.2f-%.2f%% (aal "
              "identical there %.1f-%.1f%%), aal identical on every sampled voxel; ch2 RMS %.4f-%.4f, p99 %.4f-%.4f, "
              "max %.4f-%.4f of range; elastic inverse <= %d iterations, residual <= %.1e voxel" % (
                  len(rows), 100 * a[:, 0].min(), 100 * a[:, 0].max(), 100 * a[:, 1].min(), 100 * a[:, 1].max(),
                  100 * a[:, 2].min(), 100 * a[:, 2].max(), 100 * a[:, 3].min(), 100 * a[:, 3].max(),
                  a[:, 4].min(), a[:, 4].max(), a[:, 5].min(), a[:, 5].max(), a[:, 6].min(), a[:, 6].max(),
                  int(a[:, 7].max()), a[:, 8].max()))

    # flips, pads and crops: exact
    for s in range(crops):
        tag = "c%d" % s
        o_img, o_aal, par = (os.path.join(scratch, "%s_%s" % (tag, n)) for n in ("img.nii.gz", "aal.nii.gz", "d.json"))
        run([cli, "apply", CH2, "--label", AAL, "--ops", CROP_SPEC, "--seed", SEED, "--sample", s, "-o", o_img,
             "--label-out", o_aal, "--params-out", par])
        b_aal, r_aal = invert(o_aal, par, tag + "_aal", ["--cval", "-1"])
        b_img, r_img = invert(o_img, par, tag + "_img", ["--cval", "-1"])
        stay = b_img != -1
        # of the padded (n+11) grid the crop keeps start..start+m-1; ch2's voxel i sits at i+4 there
        start = [o for o in json.load(open(par))["ops"] if o["op"] == "random_crop"][0]["start"]
        want = int(np.prod([max(0, min(4 + n, q + m) - max(4, q)) for n, q, m in zip(shape, start, (150, 160, 140))]))
        check(r_img["outside"] == r_aal["outside"] == int((~stay).sum()) == ch2.size - want,
              "%s: outside %d/%d, %d not -1, expected %d" % (tag, r_img["outside"], r_aal["outside"],
                                                          int((~stay).sum()), ch2.size - want))
        check(bool(np.all(b_img[stay] == ch2[stay])), "%s: ch2 not identical after a crop/pad/flip" % tag)
        check(bool(np.array_equal(b_aal[stay], aal[stay])), "%s: aal not identical after a crop/pad/flip" % tag)
        print("crop draw %d: %d voxels outside, ch2 and aal identical on the other %d" % (
            s, r_img["outside"], int(stay.sum())))
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
