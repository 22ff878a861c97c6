# SPDX-License-Identifier: MIT
"""voxaug's patch sampling and crop to foreground against MONAI itself (the peers' venv, bench/setup-peers.sh;
run with its python, else this check skips with exit 77 and says why):

  * crop_foreground equals MONAI CropForeground (select_fn x > threshold, margin, allow_smaller) on ch2, on ch2
    off-centre in a larger volume, and on the AAL map as the source: same box, same voxels;
  * balanced_crop and label_crop: every patch start equals MONAI's correct_crop_centers(voxel, size, shape) minus
    size // 2 for the voxel voxaug drew (MONAI's own function), the voxel has the class drawn, and over N draws the
    classes come as ratios / sum (MONAI's randomness cannot be seeded to voxaug's, so the distribution is checked).
Usage: check_monai.py <voxaug CLI> (with the peers' python)."""
import os
import sys

import numpy as np

try:
    import monai
    import torch
    from monai.transforms import CropForeground
    from monai.transforms.utils import correct_crop_centers
    import nibabel as nib
except ImportError as e:
    print("skip: MONAI is not importable here (%s); make the peers' venv with bench/setup-peers.sh and run this "
          "check with its python" % e)
    sys.exit(77)

CLI = sys.argv[1]
os.environ.setdefault("VOXAUG_LIBRARY", os.path.join(os.path.dirname(os.path.abspath(CLI)), "libvoxaug.so"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import voxaug  # noqa: E402

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
if not (os.path.exists(CH2) and os.path.exists(AAL)):
    print("skip: mricron-data (ch2, aal) not installed")
    sys.exit(77)
N = int(os.environ.get("VOXAUG_SAMPLE_DRAWS", "200"))
device = os.environ.get("VOXAUG_DEVICE", "reference")
ctx = voxaug.Context(device)
print("MONAI %s, voxaug on %s" % (monai.__version__, ctx.device_name))
failures = []


def fail(msg):
    print("FAIL: " + msg)
    failures.append(msg)


ch2 = np.asarray(nib.load(CH2).dataobj).astype(np.float32)
aal = np.asarray(nib.load(AAL).dataobj).astype(np.int16)
off = np.zeros((230, 250, 200), np.float32)
off[40:40 + 181, 3:3 + 217, 19:19 + 181] = ch2
off_lab = np.zeros(off.shape, np.int16)
off_lab[40:40 + 181, 3:3 + 217, 19:19 + 181] = aal
for name, vol, lab in (("ch2", ch2, aal), ("ch2 off-centre", off, off_lab)):
    for margin, thr, allow, source in ((0, 0.0, True, "image"), (5, 40.0, True, "image"),
                                       (30, 0.0, False, "image"), (2, 0.0, True, "label")):
        spec = ("crop_foreground(margin=%d, threshold=%g, allow_smaller=%d, source=%s)"
                % (margin, thr, int(allow), source))
        out, olab, draw = voxaug.Pipeline(spec)(vol, lab, ctx=ctx)
        t = float(thr)
        cf = CropForeground(select_fn=lambda x, t=t: x > t, margin=margin, allow_smaller=allow, return_coords=True)
        src = torch.as_tensor((vol if source == "image" else lab)[None])
        res, start, end = cf(src)   # MONAI's box, and its crop of the source
        want_box = [int(x) for x in start] + [int(x) for x in end]
        if draw["ops"][0]["box"] != want_box:
            fail("%s %s: box %s, MONAI %s" % (name, spec, draw["ops"][0]["box"], want_box))
            continue
        mine = out if source == "image" else olab
        if tuple(res.shape[1:]) != mine.shape or not np.array_equal(np.asarray(res[0]), mine.astype(np.asarray(res).dtype)):
            fail("%s %s: voxels differ from MONAI's crop" % (name, spec))
        else:
            print("%-16s %-72s = MONAI CropForeground, box %s" % (name, spec, want_box))

# balanced_crop, label_crop: the centre correction is MONAI's; the classes come by ratio
aal2 = aal[::2, ::2, ::2].copy()
img2 = np.zeros(aal2.shape, np.float32)
size = (40, 48, 36)
ratios = [0.0] * 60 + [1.0, 2.0, 0.0, 1.0]
pipes = {"label_crop": voxaug.Pipeline("label_crop(size=40,48,36, ratios=%s)" % ",".join("%g" % r for r in ratios)),
         "balanced_crop": voxaug.Pipeline("balanced_crop(size=40,48,36, pos=1, neg=3)")}
seen = {}
fg = 0
for s in range(N):
    for name, pipe in pipes.items():
        _, lab, draw = pipe(img2, aal2, seed=5, sample=s, ctx=ctx)
        op = draw["ops"][0]
        v, q = op["voxel"], op["start"]
        c = correct_crop_centers(v, size, aal2.shape)
        want = [int(c[a]) - size[a] // 2 for a in range(3)]
        if q != want:
            fail("%s sample %d: start %s, MONAI's correct_crop_centers gives %s" % (name, s, q, want))
        if name == "label_crop":
            if aal2[tuple(v)] != op["class"]:
                fail("label_crop sample %d: voxel %s holds %d, not class %d" % (s, v, aal2[tuple(v)], op["class"]))
            seen[op["class"]] = seen.get(op["class"], 0) + 1
        else:
            fg += op["fg"]
            if (aal2[tuple(v)] != 0) != op["fg"]:
                fail("balanced_crop sample %d: voxel %s does not match fg=%s" % (s, v, op["fg"]))
want = {60: 0.25, 61: 0.5, 63: 0.25}
for c, p in want.items():
    got = seen.get(c, 0) / N
    if abs(got - p) > 4 * np.sqrt(p * (1 - p) / N):
        fail("label_crop: class %d drawn %.3f of the time, ratios say %.3f" % (c, got, p))
if set(seen) - set(want):
    fail("label_crop drew classes of ratio 0: %s" % sorted(set(seen) - set(want)))
if abs(fg / N - 0.25) > 4 * np.sqrt(0.25 * 0.75 / N):
    fail("balanced_crop(pos=1, neg=3): foreground %.3f of the time, expected 0.25" % (fg / N))
print("label_crop classes %s over %d draws (ratios 1:2:1); balanced_crop foreground %.3f (0.25)"
      % ({c: seen.get(c, 0) for c in want}, N, fg / N))
sys.exit(1 if failures else 0)
