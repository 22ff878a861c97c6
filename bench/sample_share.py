#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Patch sampling and crop to foreground: what the issue asks to be shown, and voxaug against the peers' own
transforms, in one run on ch2 + aal (181x217x181, 1 mm).

1. Share of patches that hold a small structure (the smallest AAL region, well under 0.5% of the volume) over
   DRAWS draws of fg_crop(96, p_fg=0.33) and of random_crop(96), beside the exact probabilities under nnU-Net's
   rule and under the uniform one (tests/scipy/sample_rules.py: box sums over the class's indicator) and a NumPy
   re-implementation of nnU-Net's get_bbox run alongside (nnU-Net itself needs torch 2 and a preprocessed
   dataset; its randomness is not voxaug's, so shares are compared, not patches).
2. Time per patch, alternating, medians: voxaug fg_crop / balanced_crop / label_crop / crop_foreground (device
   chosen by --device; each run builds the label index on the device: two passes over the map) against
   nnU-Net's get_bbox + slicing in NumPy (class locations precomputed, as its preprocessing does; that cost
   stated apart), MONAI RandCropByPosNegLabel, RandCropByLabelClasses (indices computed per call, MONAI's default)
   and CropForeground, and for composition voxaug one_of against MONAI OneOf.

    build/peers-venv/bin/python bench/sample_share.py --build build [--draws 1000] [--device cpu]
MONAI is optional: without it the MONAI rows say so."""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ap = argparse.ArgumentParser()
ap.add_argument("--build", default=os.path.join(ROOT, "build"))
ap.add_argument("--draws", type=int, default=1000)
ap.add_argument("--rounds", type=int, default=15)
ap.add_argument("--device", default=os.environ.get("VOXAUG_DEVICE", "cpu"))
args = ap.parse_args()
os.environ.setdefault("VOXAUG_LIBRARY", os.path.join(args.build, "libvoxaug.so"))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "scipy"))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

import sample_rules  # noqa: E402
import voxaug  # noqa: E402

try:
    import monai
    import torch
    from monai import transforms as mt
except ImportError:
    monai = None

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
ctx = voxaug.Context(args.device)
ch2 = np.asarray(nib.load(CH2).dataobj).astype(np.float32)
aal = np.asarray(nib.load(AAL).dataobj).astype(np.int16)
load = os.getloadavg()
print("device: %s; load average %.1f %.1f %.1f; %s" % (ctx.device_name, *load,
      subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()))

# ---- 1. shares ------------------------------------------------------------------------------------------------
counts = np.bincount(aal.ravel())
patch, p_fg, N = (96, 96, 96), 0.33, args.draws
small = [c for c in range(1, len(counts)) if 0 < counts[c] < 0.005 * aal.size]


def reach(c):
    """An upper bound of the share of uniform patches that reach class c (from its bounding box): to pick the
    small region that uniform patches miss most."""
    v = np.argwhere(aal == c)
    f = 1.0
    for a in range(3):
        starts = np.arange(aal.shape[a] - patch[a] + 1)
        f *= np.mean((starts <= v[:, a].max()) & (starts + patch[a] > v[:, a].min()))
    return f


targets = [min(small, key=lambda c: counts[c]), min(small, key=reach)]
rng = np.random.default_rng(2026)
t0 = time.time()
locs = {int(c): np.argwhere(aal == c) for c in np.unique(aal) if c != 0}
t_locs = time.time() - t0


def share(spec, seed, target):
    pipe, hits = voxaug.Pipeline(spec), 0
    for s in range(N):
        _, lab, _ = pipe(ch2, aal, seed=seed, sample=s, ctx=ctx)
        hits += bool((lab == target).any())
    return hits / N


def nnunet_share(target, only):
    hits = 0
    use = {target: locs[target]} if only else locs
    for _ in range(N):
        q = sample_rules.nnunet_bbox(rng, aal.shape, patch, rng.uniform() < p_fg, use)
        box = tuple(slice(max(q[a], 0), q[a] + patch[a]) for a in range(3))
        hits += bool((aal[box] == target).any())
    return hits / N


sd = lambda p: np.sqrt(p * (1 - p) / N)  # noqa: E731
print("\n%d AAL regions under 0.5%% of the volume; patch 96^3, p_fg=0.33, %d draws per row" % (len(small), N))
print("| region | patches | share holding it | exact under the rule | |\n|---|---|---|---|---|")
for k, target in enumerate(targets):
    t0 = time.time()
    exact, uniform, forced = sample_rules.exact_share(aal, target, patch, p_fg)
    exact_one, _, _ = sample_rules.exact_share(aal, target, patch, p_fg, classes=[target])
    t_exact = time.time() - t0
    name = "%d (%d voxels, %.3f%%)" % (target, counts[target], 100.0 * counts[target] / aal.size)
    rows = [("voxaug `fg_crop(96, p_fg=0.33)`", share("fg_crop(96, p_fg=0.33)", 1 + 10 * k, target), exact,
             "nnU-Net's"),
            ("nnU-Net get_bbox (NumPy)", nnunet_share(target, False), exact, "nnU-Net's"),
            ("voxaug `fg_crop(96, p_fg=0.33, classes=%d)`" % target,
             share("fg_crop(96, p_fg=0.33, classes=%d)" % target, 2 + 10 * k, target), exact_one,
             "nnU-Net's, this class alone"),
            ("nnU-Net get_bbox, this class alone (NumPy)", nnunet_share(target, True), exact_one,
             "nnU-Net's, this class alone"),
            ("voxaug `random_crop(96)`", share("random_crop(96)", 3 + 10 * k, target), uniform, "uniform")]
    for label, got, want, rule in rows:
        print("| %s | %s | %.3f | %.3f (%s) | %+.1f sd |" % (name, label, got, want, rule, (got - want) / sd(want)))
    print("(region %d: exact shares computed in %.1f s)" % (target, t_exact))

# ---- 2. timings ------------------------------------------------------------------------------------------------
tasks = {}
for spec in ("fg_crop(96, p_fg=0.33)", "balanced_crop(96, pos=1, neg=1)", "label_crop(96)",
             "crop_foreground(margin=5)", "one_of(flip(axes=0), flip(axes=1)) random_crop(96)"):
    pipe = voxaug.Pipeline(spec)
    tasks[("voxaug", spec)] = (lambda pipe=pipe: (lambda s: pipe(ch2, aal, seed=3, sample=s, ctx=ctx)))()


def nnunet_patch(s, r=np.random.default_rng(4)):
    q = sample_rules.nnunet_bbox(r, aal.shape, patch, r.uniform() < p_fg, locs)
    box = tuple(slice(max(q[a], 0), q[a] + patch[a]) for a in range(3))
    return ch2[box].copy(), aal[box].copy()


tasks[("nnU-Net (NumPy)", "fg_crop(96, p_fg=0.33)")] = nnunet_patch
if monai is not None:
    torch.set_num_threads(2)
    img_t, lab_t = torch.as_tensor(ch2[None]), torch.as_tensor(aal[None])
    d = {"image": img_t, "label": lab_t}
    pn = mt.RandCropByPosNegLabeld(["image", "label"], "label", (96, 96, 96), pos=1, neg=1, num_samples=1)
    lc = mt.RandCropByLabelClassesd(["image", "label"], "label", (96, 96, 96), num_classes=int(aal.max()) + 1,
                                    num_samples=1, warn=False)
    cf = mt.CropForegroundd(["image", "label"], "image", margin=5, allow_smaller=True)
    oo = mt.Compose([mt.OneOf([mt.Flipd(["image", "label"], 0), mt.Flipd(["image", "label"], 1)]),
                     mt.RandSpatialCropd(["image", "label"], (96, 96, 96), random_size=False)])
    tasks[("MONAI", "balanced_crop(96, pos=1, neg=1)")] = lambda s: pn(d)
    tasks[("MONAI", "label_crop(96)")] = lambda s: lc(d)
    tasks[("MONAI", "crop_foreground(margin=5)")] = lambda s: cf(d)
    tasks[("MONAI", "one_of(flip(axes=0), flip(axes=1)) random_crop(96)")] = lambda s: oo(d)
times = {k: [] for k in tasks}
for r in range(args.rounds + 2):
    for k, f in tasks.items():
        t0 = time.perf_counter()
        f(r)
        if r >= 2:
            times[k].append(1e3 * (time.perf_counter() - t0))
med = {k: statistics.median(v) for k, v in times.items()}
print("\n| task | voxaug ms | peer | peer ms | peer / voxaug |\n|---|---|---|---|---|")
for (lib, spec), t in med.items():
    if lib != "voxaug":
        continue
    peers = [(pl, pt) for (pl, ps), pt in med.items() if pl != "voxaug" and ps == spec]
    if not peers:
        peers = [("MONAI", None)] if monai is None else [("—", None)]
    for pl, pt in peers:
        print("| `%s` | %.1f | %s | %s | %s |" % (spec, t, pl, "%.1f" % pt if pt else "not run",
                                                 "%.1fx" % (pt / t) if pt else ""))
print("(nnU-Net's class locations, np.argwhere per class once per case: %.0f ms, not in its row; %s rounds, "
      "medians; MONAI %s)" % (1e3 * t_locs, args.rounds, monai.__version__ if monai else "not installed"))
