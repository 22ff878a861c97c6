# SPDX-License-Identifier: MIT
"""Patch sampling and crop to foreground, on the C reference path, against NumPy statements of the peers' rules
(tests/scipy/sample_rules.py), on the AAL atlas and ch2 (mricron-data), through the Python binding:

  * fg_crop(24, p_fg=0.33) on aal at 2 mm: over N draws the share of patches that hold the smallest AAL region
    matches the exact probability under nnU-Net's get_bbox rule (computed from box sums), every class eligible and
    that class alone (classes=, nnU-Net's overwrite_class), and a NumPy re-implementation of get_bbox run alongside
    matches it too; random_crop's share matches the uniform rule's (and is smaller);
  * crop_foreground(margin, threshold, allow_smaller) equals MONAI's generate_spatial_bounding_box box (its rule in
    NumPy) on ch2 and on ch2 placed off-centre in a larger volume, image and label sources; the output is the box's
    voxels exactly.
N defaults to 200 (CI's time); VOXAUG_SAMPLE_DRAWS sets it (bench/sample_share.py runs 1,000 at 1 mm).
Usage: check_sample.py <voxaug CLI>; exit 77 = skipped."""
import os
import sys

import numpy as np

try:
    import nibabel as nib
except ImportError as e:  # pragma: no cover
    print("skip: %s" % e)
    sys.exit(77)

CLI = sys.argv[1]
BUILD = os.path.dirname(os.path.abspath(CLI))
os.environ.setdefault("VOXAUG_LIBRARY", os.path.join(BUILD, "libvoxaug.so"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import voxaug  # noqa: E402
import sample_rules  # noqa: E402

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
if not (os.path.exists(CH2) and os.path.exists(AAL)):
    print("skip: mricron-data (ch2, aal) not installed")
    sys.exit(77)
N = int(os.environ.get("VOXAUG_SAMPLE_DRAWS", "200"))
failures = []


def fail(msg):
    print("FAIL: " + msg)
    failures.append(msg)


ctx = voxaug.Context("reference")
aal = np.asarray(nib.load(AAL).dataobj).astype(np.int16)[::2, ::2, ::2].copy()
ch2 = np.asarray(nib.load(CH2).dataobj).astype(np.float32)
counts = np.bincount(aal.ravel())
small = [c for c in range(1, len(counts)) if 0 < counts[c] < 0.005 * aal.size]
target = min(small, key=lambda c: counts[c])
patch = (24, 24, 24)
p_fg = 0.33
exact, exact_uniform, forced = sample_rules.exact_share(aal, target, patch, p_fg)
exact_one, _, _ = sample_rules.exact_share(aal, target, patch, p_fg, classes=[target])
img = np.zeros(aal.shape, np.float32)


def share(spec, seed):
    hits = 0
    pipe = voxaug.Pipeline(spec)
    for s in range(N):
        _, lab, draw = pipe(img, aal, seed=seed, sample=s, ctx=ctx)
        hits += bool((lab == target).any())
    return hits / N


def within(name, got, want):
    sd = np.sqrt(max(want * (1 - want), 1e-9) / N)
    ok = abs(got - want) <= 4 * sd + 1e-9
    print("%-44s %.3f (exact %.3f, 4 sd %.3f)%s" % (name, got, want, 4 * sd, "" if ok else "  <-- FAIL"))
    if not ok:
        fail("%s: %.3f vs %.3f" % (name, got, want))


print("aal at 2 mm %s, region %d: %d voxels (%.3f%% of the volume), patch %s, %d draws"
      % (aal.shape, target, counts[target], 100.0 * counts[target] / aal.size, patch, N))
within("voxaug fg_crop(24, p_fg=0.33)", share("fg_crop(24, p_fg=0.33)", 11), exact)
within("voxaug fg_crop(24, p_fg=0.33, classes=%d)" % target,
       share("fg_crop(24, p_fg=0.33, classes=%d)" % target, 14), exact_one)
within("voxaug random_crop(24)", share("random_crop(24)", 12), exact_uniform)
rng = np.random.default_rng(13)
locs = {int(c): np.argwhere(aal == c) for c in np.unique(aal) if c != 0}
sim = 0
for _ in range(N):
    q = sample_rules.nnunet_bbox(rng, aal.shape, patch, rng.uniform() < p_fg, locs)
    box = tuple(slice(max(q[a], 0), q[a] + patch[a]) for a in range(3))
    sim += bool((aal[box] == target).any())
within("nnU-Net get_bbox in NumPy, p_fg=0.33", sim / N, exact)
if not exact_one > 3 * exact_uniform:
    fail("the class is not oversampled: %.3f vs uniform %.3f" % (exact_one, exact_uniform))

# crop_foreground against MONAI's box rule: ch2 as it is, and off-centre in a larger volume
off = np.zeros((230, 250, 200), np.float32)
off[40:40 + 181, 3:3 + 217, 19:19 + 181] = ch2
lab_full = np.asarray(nib.load(AAL).dataobj).astype(np.int16)
off_lab = np.zeros(off.shape, np.int16)
off_lab[40:40 + 181, 3:3 + 217, 19:19 + 181] = lab_full
for name, vol, lab in (("ch2", ch2, lab_full), ("ch2 off-centre", off, off_lab)):
    for margin, thr, allow, source in ((5, 40.0, 1, "image"), (30, 0.0, 0, "label")) if name == "ch2" else \
            ((0, 0.0, 1, "image"), (30, 60.0, 0, "image"), (2, 0.0, 1, "label")):
        spec = "crop_foreground(margin=%d, threshold=%g, allow_smaller=%d, source=%s)" % (margin, thr, allow, source)
        out, olab, draw = voxaug.Pipeline(spec)(vol, lab, ctx=ctx)
        src = vol if source == "image" else lab
        lo, hi = sample_rules.monai_box(src[None], thr, margin, allow)
        got = draw["ops"][0]["box"]
        if got != lo + hi:
            fail("%s %s: box %s, MONAI's rule %s" % (name, spec, got, lo + hi))
            continue
        pad = [(max(0, -lo[a]), max(0, hi[a] - vol.shape[a])) for a in range(3)]
        want = np.pad(vol, pad)[tuple(slice(lo[a] + pad[a][0], hi[a] + pad[a][0]) for a in range(3))]
        if out.shape != want.shape or not np.array_equal(out, want):
            fail("%s %s: the output is not the box's voxels" % (name, spec))
        else:
            print("%-16s %-72s box %s ok" % (name, spec, got))
sys.exit(1 if failures else 0)
