#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost of a patch: the standard pipeline with a random crop, old build and new build side by side, and
batchgenerators doing the same patch work (where its venv is given). Not run by CI.

    /usr/bin/python3 bench/patch.py --old OLD/build/bench/vxa_bench --new build/bench/vxa_bench \
        [--bg-python build/bg-venv/bin/python] [--work build/patch] [--quick]

Volumes: ch2 with aal (181×217×181) and a 512×512×300 int16 volume made from them (ch2 and aal zoomed to that
grid, order 1 and 0; the field of view kept: spacings scaled), written once under --work.
Orders of the standard pipeline (alpha 200, sigma 8, as bench/run.py):
  written  flip rotate zoom elastic zscore noise random_crop: z-score's statistics are those of the whole
           deformed image, so the whole field is needed whatever the crop;
  patch    flip rotate zoom elastic random_crop zscore noise: batchgenerators' order (it normalises the patch).
Each row: vxa_bench's e2e median (host memory in and out) and its CPU time per run; the load average before
and after. batchgenerators: MirrorTransform, SpatialTransform (patch of the crop, elastic alpha/sigma as
bench/peers.py, rotation about one axis, scale, random crop), z-score of the patch, Gaussian noise; data and seg.
Prints a markdown table and writes the rows as JSON (--work/patch.json)."""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ALPHA, SIGMA, NOISE = 200, 8, 0.1
CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
HEAD = ("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) "
        f"elastic(alpha={ALPHA}, sigma={SIGMA}, mode={{mode}})")


def spec(order, mode, c):
    crop = f"random_crop({c},{c},{c})"
    if order == "written":
        return f"{HEAD.format(mode=mode)} zscore noise({NOISE:g}) {crop}"
    return f"{HEAD.format(mode=mode)} {crop} zscore noise({NOISE:g})"


def make_big(work):
    """512×512×300 int16 image and label map from ch2 and aal, under work; returns their paths."""
    import nibabel as nib
    from scipy import ndimage
    img_p, lab_p = os.path.join(work, "ct512.nii.gz"), os.path.join(work, "ct512_aal.nii.gz")
    if os.path.exists(img_p) and os.path.exists(lab_p):
        return img_p, lab_p
    shape = (512, 512, 300)
    for src, dst, order, dtype in ((CH2, img_p, 1, np.int16), (AAL, lab_p, 0, np.int16)):
        im = nib.load(src)
        x = np.asarray(im.dataobj, dtype=np.float32)
        z = [n / m for n, m in zip(shape, x.shape)]
        y = ndimage.zoom(x, z, order=order, grid_mode=True, mode="grid-constant")
        if order == 1:
            y = y * 8.0 - 1000.0      # a CT-like range (the pipeline's z-score makes it irrelevant)
        aff = im.affine.copy()
        aff[:3, :3] = aff[:3, :3] / np.array(z)[None, :]
        out = nib.Nifti1Image(np.round(y).astype(dtype), aff)
        out.header.set_xyzt_units("mm")
        nib.save(out, dst)
    return img_p, lab_p


def load():
    return os.getloadavg()[0]


def run_vxa(bench, img, lab, sp, repeat):
    cmd = [bench, "--input", img, "--label", lab, "--spec", sp, "--warmup", "1", "--repeat", str(repeat)]
    l0 = load()
    r = subprocess.run(cmd, capture_output=True, text=True)
    l1 = load()
    try:
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "error", "error": (r.stderr or r.stdout)[-400:], "load": [l0, l1]}
    j["load"] = [l0, l1]
    return j


BG_CODE = r"""
import json, math, sys, time, os
import numpy as np, nibabel as nib
from batchgenerators.transforms.abstract_transforms import Compose
from batchgenerators.transforms.noise_transforms import GaussianNoiseTransform
from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform
from batchgenerators.augmentations.normalizations import zero_mean_unit_variance_normalization
img, lab, c, repeat, alpha, sigma, noise = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
x = np.asarray(nib.load(img).dataobj, dtype=np.float32)[None, None]
s = np.asarray(nib.load(lab).dataobj, dtype=np.float32)[None, None]
a15 = (-math.pi / 12, math.pi / 12)
class ZScore:
    def __call__(self, **d):
        d["data"] = zero_mean_unit_variance_normalization(d["data"], True)
        return d
sp = SpatialTransform((c, c, c), patch_center_dist_from_border=[c // 2] * 3, do_elastic_deform=True,
                      alpha=(alpha, alpha), sigma=(sigma, sigma), do_rotation=True, angle_x=(0, 0), angle_y=(0, 0),
                      angle_z=a15, do_scale=True, scale=(0.9, 1.1), border_mode_data="constant", border_cval_data=0,
                      order_data=1, border_mode_seg="constant", border_cval_seg=0, order_seg=0, random_crop=True,
                      p_el_per_sample=1, p_scale_per_sample=1, p_rot_per_sample=1)
pipe = Compose([MirrorTransform(axes=(0, 1, 2)), sp, ZScore(),
                GaussianNoiseTransform(noise_variance=(noise ** 2, noise ** 2), p_per_sample=1)])
ts, cpu = [], []
for r in range(repeat + 1):
    t0, c0 = time.perf_counter(), time.process_time()
    out = pipe(data=x, seg=s)
    assert out["data"].shape[2:] == (c, c, c)
    if r:
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
print(json.dumps({"status": "ok", "median_ms": 1e3 * float(np.median(ts)), "cpu_ms": 1e3 * float(np.mean(cpu))}))
"""


def run_bg(py, img, lab, c, repeat):
    l0 = load()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([py, "-c", BG_CODE, img, lab, str(c), str(repeat), str(ALPHA), str(SIGMA), str(NOISE)],
                       capture_output=True, text=True, env=env)
    l1 = load()
    try:
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "error", "error": (r.stderr or r.stdout)[-400:], "load": [l0, l1]}
    j["load"] = [l0, l1]
    return j


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="vxa_bench of the old build")
    ap.add_argument("--new", required=True, help="vxa_bench of the new build")
    ap.add_argument("--bg-python", help="a Python with batchgenerators (bench/setup-peers.sh's venv)")
    ap.add_argument("--work", default="build/patch")
    ap.add_argument("--volumes", default="ch2,ct512")
    ap.add_argument("--crops", default="128,96")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--written-repeat", type=int, default=2, help="repeats of the written order on ct512 (slow)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    vols = {}
    for v in args.volumes.split(","):
        vols[v] = (CH2, AAL) if v == "ch2" else make_big(args.work)
    rows = []
    t_start = time.time()
    print(f"load at start: {os.getloadavg()}", flush=True)
    for v, (img, lab) in vols.items():
        for c in [int(x) for x in args.crops.split(",")]:
            for mode in ("exact", "fast"):
                for order in ("patch", "written"):
                    if order == "written" and v != "ch2" and c != 128:
                        continue   # the whole grid's cost does not depend on the crop
                    rep = args.written_repeat if (order == "written" and v != "ch2") else args.repeat
                    sp = spec(order, mode, c)
                    res = {b: run_vxa(path, img, lab, sp, rep) for b, path in (("old", args.old), ("new", args.new))}
                    row = {"volume": v, "crop": c, "mode": mode, "order": order, "spec": sp, **res}
                    rows.append(row)
                    o, n = res["old"], res["new"]
                    if o["status"] == "ok" and n["status"] == "ok":
                        print(f"{v} {c} {mode} {order}: old {o['e2e_ms']['median']:.1f} ms, new "
                              f"{n['e2e_ms']['median']:.1f} ms (load {o['load'][0]:.2f}-{n['load'][1]:.2f})",
                              flush=True)
                    else:
                        print(f"{v} {c} {mode} {order}: {o.get('error', '')} {n.get('error', '')}", flush=True)
            if args.bg_python:
                b = run_bg(args.bg_python, img, lab, c, args.repeat)
                rows.append({"volume": v, "crop": c, "mode": "batchgenerators", "order": "patch", "bg": b})
                print(f"{v} {c} batchgenerators: {b.get('median_ms', b.get('error'))}", flush=True)
    with open(os.path.join(args.work, "patch.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"\n{time.time() - t_start:.0f} s; load at end: {os.getloadavg()}\n")
    table(rows)


def table(rows):
    bg = {(r["volume"], r["crop"]): r["bg"] for r in rows if r["mode"] == "batchgenerators"}
    written_old = {(r["volume"], r["mode"]): r["old"] for r in rows if r.get("order") == "written"
                   and r["crop"] == 128}
    print("| volume | crop | elastic | order | old e2e ms | new e2e ms | new CPU ms | new vs old, same spec | "
          "new vs old written order | batchgenerators ms | new vs batchgenerators | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["mode"] == "batchgenerators":
            continue
        o, n = r["old"], r["new"]
        if o["status"] != "ok" or n["status"] != "ok":
            print(f"| {r['volume']} | {r['crop']} | {r['mode']} | {r['order']} | {o.get('error', '')} | "
                  f"{n.get('error', '')} | | | | | | |")
            continue
        om, nm = o["e2e_ms"]["median"], n["e2e_ms"]["median"]
        w = written_old.get((r["volume"], r["mode"]))
        vs_w = f"{w['e2e_ms']['median'] / nm:.1f}×" if w and w["status"] == "ok" else ""
        b = bg.get((r["volume"], r["crop"]))
        bms = f"{b['median_ms']:.1f}" if b and b.get("status") == "ok" else "not installed" if not b else "error"
        vs_b = f"{b['median_ms'] / nm:.1f}×" if b and b.get("status") == "ok" and r["order"] == "patch" else ""
        print(f"| {r['volume']} | {r['crop']}³ | {r['mode']} | {r['order']} | {om:.1f} | {nm:.1f} | "
              f"{n['e2e_cpu_ms']:.0f} | {om / nm:.2f}× | {vs_w} | {bms} | {vs_b} | "
              f"{o['load'][0]:.1f}–{n['load'][1]:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
