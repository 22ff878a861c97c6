#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""voxaug from Python against the libraries a PyTorch user would otherwise pick: SciPy/NumPy, TorchIO, MONAI and
batchgenerators, on ch2 (181x217x181, T1) with the aal atlas as the label map, in one run.

Every task is written in each library's own idiom (the transforms a user of that library would call), on
volumes already in memory in that library's format (NumPy arrays, TorchIO subjects, MONAI MetaTensors,
batchgenerators' (b, c, x, y, z) dicts): the timing is of the transforms, not of file reading. The libraries
alternate within each round (the order rotates by round), medians after warm-up. Same cores for all: the
process is pinned to the machine's cores; torch, OpenMP and BLAS get 2 threads, PoCL its default of one
thread per core; SciPy's ndimage is single-threaded.

    bench/setup-peers.sh                                  # once: build/peers-venv (never run by CI)
    build/peers-venv/bin/python bench/peers.py            # -> the peers section of bench/RESULTS.md, bench/peers.png

Where a library has no such transform, the cell says so ("—"); where its transform differs from voxaug's op
in a way that matters (TorchIO's elastic deformation is a B-spline on 7 control points, not a smoothed noise
field), the notes say how.
"""
import os

THREADS = "2"
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_v, THREADS)

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata as md  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as vb  # noqa: E402  (bench/run.py: the SciPy side of the standard pipeline, its alpha and sigma)

import voxaug  # noqa: E402

CH2, AAL = vb.CH2, vb.AAL
ALPHA, SIGMA, NOISE, CROP = vb.ALPHA, vb.SIGMA, 0.1, 128


def pipe_specs():
    """The standard pipeline's spec, and the same with the random crop moved before z-score and noise:
    batchgenerators computes the patch only (its spatial transform samples the crop directly, then normalises
    and adds noise to the patch); that order in voxaug crops inside the spatial pass."""
    full = vb.PIPE_SPEC.format(mode="exact", c=CROP)
    crop = f" random_crop({CROP},{CROP},{CROP})"
    return full, full.replace(crop, "").replace(" zscore", crop + " zscore")
BEGIN, END = "<!-- bench/peers.py: begin -->", "<!-- bench/peers.py: end -->"


def rot(axis, deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    a, b = [k for k in range(3) if k != axis]
    m = np.eye(3)
    m[a, a], m[a, b], m[b, a], m[b, b] = c, -s, s, c
    return m


class Tasks:
    """Each task: {library: callable doing one random call}; a library missing from a task has no such op."""

    def __init__(self, x, lab, affine, rng):
        import torch
        self.x, self.lab, self.affine, self.rng = x, lab, affine, rng
        self.sample = 0
        self.ctx = voxaug.default_context()
        self.t_x = torch.from_numpy(np.ascontiguousarray(x)[None])            # (1, i, j, k)
        self.t_lab = torch.from_numpy(np.ascontiguousarray(lab.astype(np.int16))[None])
        self.bg_x = np.ascontiguousarray(x)[None, None]                        # (b, c, i, j, k)
        self.bg_lab = np.ascontiguousarray(lab.astype(np.float32))[None, None]
        self.have = {}
        for name in ("torchio", "monai", "batchgenerators"):
            try:
                __import__(name)
                self.have[name] = True
            except Exception as e:  # noqa: BLE001 - a missing peer is reported, not fatal
                print(f"{name}: not importable ({e}); its columns stay empty")
                self.have[name] = False

    def vx(self, spec, label=False):
        pipe = voxaug.Pipeline(spec)

        def f():
            self.sample += 1
            return pipe(self.x, label=self.lab if label else None, affine=self.affine, seed=2026,
                        sample=self.sample, ctx=self.ctx)
        return f

    # ---- peers' objects ----
    def tio_subject(self, label=False):
        import torchio as tio
        s = {"image": tio.ScalarImage(tensor=self.t_x, affine=self.affine)}
        if label:
            s["label"] = tio.LabelMap(tensor=self.t_lab, affine=self.affine)
        return tio.Subject(**s)

    def monai_img(self):
        from monai.data import MetaTensor
        return MetaTensor(self.t_x, affine=self.affine)

    def build(self):
        x, rng = self.x, self.rng
        c = (np.array(x.shape) - 1) / 2
        T = {}
        # -- random affine: rotation in [-15, 15] degrees about each axis, isotropic zoom in [0.9, 1.1], trilinear
        def sp_affine():
            a = rng.uniform(-15, 15, 3)
            z = rng.uniform(0.9, 1.1)
            A = rot(0, a[0]) @ rot(1, a[1]) @ rot(2, a[2]) / z
            return ndimage.affine_transform(x, A, offset=c - A @ c, order=1, mode="grid-constant")
        T["random affine"] = {"voxaug": self.vx("rotate3d(angles=[-15,15],[-15,15],[-15,15]) zoom([0.9,1.1])"),
                              "SciPy": sp_affine}
        # -- elastic: d = alpha * G_sigma * U, U uniform on [-1, 1] per voxel and component, trilinear
        def sp_elastic():
            f = vb.elastic_field(x.shape, ALPHA, SIGMA, rng)
            return vb.warp(x, np.eye(3), np.zeros(3), x.shape, f)
        T["elastic"] = {"voxaug": self.vx(f"elastic(alpha={ALPHA:g}, sigma={SIGMA:g})"), "SciPy": sp_elastic}
        # -- resample to 2 mm (ch2 is 1 mm)
        def sp_resample():
            n2 = [round(n / 2) for n in x.shape]
            return ndimage.affine_transform(x, np.diag([2.0] * 3), offset=c - 2 * (np.array(n2) - 1) / 2,
                                            output_shape=n2, order=1, mode="grid-constant")
        T["resample to 2 mm"] = {"voxaug": self.vx("resample(2)"), "SciPy": sp_resample}
        # -- intensity
        T["z-score"] = {"voxaug": self.vx("zscore"), "NumPy": lambda: (x - x.mean()) / x.std()}
        T["percentile clip 0.5-99.5"] = {"voxaug": self.vx("pclip(0.5, 99.5)"),
                                         "NumPy": lambda: np.clip(x, *np.percentile(x, [0.5, 99.5]))}
        T["noise (std 0.1)"] = {"voxaug": self.vx(f"noise({NOISE:g})"),
                                "NumPy": lambda: x + np.float32(NOISE) * rng.standard_normal(x.shape, np.float32)}
        # -- the standard pipeline, image + label map
        PIPE, PIPE_PATCH = pipe_specs()
        draws = [self.vx(PIPE, label=True)()[2] for _ in range(8)]  # SciPy's chain takes voxaug's drawn parameters

        def sp_pipe():
            return vb.pipeline_scipy(x, draws[rng.integers(len(draws))], rng=rng, lab=self.lab)
        T["standard pipeline (image + label)"] = {"voxaug": self.vx(PIPE, label=True),
                                                  "voxaug, patch first": self.vx(PIPE_PATCH, label=True),
                                                  "SciPy": sp_pipe}
        self.add_standardisation(T)
        if self.have["torchio"]:
            self.add_torchio(T)
        if self.have["monai"]:
            self.add_monai(T)
        if self.have["batchgenerators"]:
            self.add_batchgenerators(T)
        return T

    # ---- intensity standardisation, label remap, label interpolation (each peer's own transform) ----
    LANDMARK_Q = [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]
    LANDMARKS = [0, 6.5, 14.25, 22, 31.5, 40, 49.75, 60, 71.5, 84, 100]
    MERGE = None

    def label_sets(self):
        """aal (117 labels), merged into 5 classes, and into 2: the label counts of the label_order=1 rows."""
        lab = self.lab
        five = np.where(lab == 0, 0, 1 + (lab.astype(np.int64) - 1) % 4).astype(np.uint8)
        two = (lab > 0).astype(np.uint8)
        return {int(len(np.unique(lab))): lab, 5: np.asfortranarray(five), 2: np.asfortranarray(two)}

    def add_standardisation(self, T):
        import json
        import tempfile
        x = self.x
        self.lm_path = os.path.join(tempfile.mkdtemp(), "landmarks.json")
        with open(self.lm_path, "w") as f:
            json.dump({"percentiles": self.LANDMARK_Q, "landmarks": self.LANDMARKS}, f)

        def np_rescale():
            a, b = np.percentile(x, [0.5, 99.5])
            return (np.clip(x, a, b) - a) / (b - a) * 2 - 1
        T["rescale 0.5-99.5 to [-1, 1]"] = {"voxaug": self.vx("rescale(-1, 1, 0.5, 99.5)"), "NumPy": np_rescale}
        q, m = np.array(self.LANDMARK_Q, float), np.array(self.LANDMARKS, float)

        def np_histstd():   # TorchIO's _normalize in NumPy
            p = np.percentile(x, q)
            dp = np.diff(p)
            slope = np.where(dp < 1e-5, 0, np.diff(m) / np.where(dp < 1e-5, 1, dp))
            b = np.digitize(x, p[1:-1])
            return slope[b] * x + (m[:-1] - slope * p[:-1])[b]
        T["histstd (11 landmarks)"] = {"voxaug": self.vx(f"histstd(landmarks={self.lm_path})"), "NumPy": np_histstd}
        pairs = {int(v): 1 + (int(v) - 1) % 4 for v in np.unique(self.lab) if v > 0}   # 116 labels -> 4 classes
        self.remap_pairs = pairs
        spec = "remap(" + ", ".join(f"{a}:{b}" for a, b in pairs.items()) + ")"
        lut = np.arange(256, dtype=np.uint8)
        for a, b in pairs.items():
            lut[a] = b
        T["remap aal (116 pairs)"] = {"voxaug": self.vx(spec, label=True), "NumPy": lambda: lut[self.lab]}
        # label_order=1: a rotation of 15 degrees in plane (0, 1), image trilinear, labels per label
        self.rot_specs = {}
        for k, lab in self.label_sets().items():
            def run(spec, lab=lab):
                pipe = voxaug.Pipeline(spec)

                def f():
                    self.sample += 1
                    return pipe(self.x, label=lab, affine=self.affine, seed=2026, sample=self.sample, ctx=self.ctx)
                return f
            T[f"rotate, labels order 1 ({k} labels)"] = {
                "voxaug": run("sampling(label_order=1) rotate(15, plane=0,1)"),
                "voxaug, labels order 0": run("rotate(15, plane=0,1)")}

    def add_torchio(self, T):
        import torchio as tio
        sub, sub_l = self.tio_subject(), self.tio_subject(label=True)
        T["random affine"]["TorchIO"] = lambda t=tio.RandomAffine(scales=(0.9, 1.1), degrees=15, isotropic=True,
                                                                   default_pad_value=0): t(sub)
        T["elastic"]["TorchIO"] = lambda t=tio.RandomElasticDeformation(): t(sub)
        T["resample to 2 mm"]["TorchIO"] = lambda t=tio.Resample(2): t(sub)
        T["z-score"]["TorchIO"] = lambda t=tio.ZNormalization(): t(sub)
        T["percentile clip 0.5-99.5"]["TorchIO"] = lambda t=tio.RescaleIntensity(percentiles=(0.5, 99.5)): t(sub)
        T["noise (std 0.1)"]["TorchIO"] = lambda t=tio.RandomNoise(std=(NOISE, NOISE)): t(sub)
        T["rescale 0.5-99.5 to [-1, 1]"]["TorchIO"] = lambda t=tio.RescaleIntensity((-1, 1), (0.5, 99.5)): t(sub)
        full = np.interp([1, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 99], self.LANDMARK_Q, self.LANDMARKS)
        T["histstd (11 landmarks)"]["TorchIO"] = lambda t=tio.HistogramStandardization({"image": full}): t(sub)
        T["remap aal (116 pairs)"]["TorchIO"] = lambda t=tio.RemapLabels(self.remap_pairs): t(sub_l)
        pipe = tio.Compose([tio.RandomFlip(axes=(0, 1, 2), flip_probability=0.5),
                            tio.RandomAffine(scales=(0.9, 1.1), degrees=(0, 0, 0, 0, -15, 15), isotropic=True,
                                             default_pad_value=0),
                            tio.RandomElasticDeformation(), tio.ZNormalization(), tio.RandomNoise(std=(NOISE, NOISE))])
        sampler = tio.UniformSampler(CROP)  # TorchIO's random crop is a patch sampler

        def tio_pipe():
            return next(iter(sampler(pipe(sub_l))))
        T["standard pipeline (image + label)"]["TorchIO"] = tio_pipe

    def add_monai(self, T):
        import monai.transforms as mt
        img = self.monai_img()
        R = math.pi / 12
        T["random affine"]["MONAI"] = lambda t=mt.RandAffine(prob=1, rotate_range=(R, R, R), scale_range=(0.1,) * 3,
                                                             mode="bilinear", padding_mode="zeros"): t(img)
        T["elastic"]["MONAI"] = lambda t=mt.Rand3DElastic(sigma_range=(SIGMA, SIGMA), magnitude_range=(ALPHA, ALPHA),
                                                          prob=1, mode="bilinear", padding_mode="zeros"): t(img)
        T["resample to 2 mm"]["MONAI"] = lambda t=mt.Spacing(pixdim=(2.0, 2.0, 2.0), mode="bilinear"): t(img)
        T["z-score"]["MONAI"] = lambda t=mt.NormalizeIntensity(): t(img)
        if hasattr(mt, "ClipIntensityPercentiles"):
            T["percentile clip 0.5-99.5"]["MONAI"] = lambda t=mt.ClipIntensityPercentiles(lower=0.5, upper=99.5): t(img)
        try:
            noise = mt.RandGaussianNoise(prob=1, std=NOISE, sample_std=False)
        except TypeError:
            noise = mt.RandGaussianNoise(prob=1, std=NOISE)
        T["noise (std 0.1)"]["MONAI"] = lambda: noise(img)
        T["rescale 0.5-99.5 to [-1, 1]"]["MONAI"] = lambda t=mt.ScaleIntensityRangePercentiles(
            0.5, 99.5, -1, 1, clip=True): t(img)
        T["remap aal (116 pairs)"]["MONAI"] = lambda t=mt.MapLabelValue(list(self.remap_pairs),
                                                                        list(self.remap_pairs.values())): t(self.t_lab)
        keys = ["image", "label"]
        pipe = mt.Compose([mt.RandFlipd(keys, prob=0.5, spatial_axis=0), mt.RandFlipd(keys, prob=0.5, spatial_axis=1),
                           mt.RandFlipd(keys, prob=0.5, spatial_axis=2),
                           # rotation, zoom and the elastic field in one resampling pass, as voxaug fuses them
                           mt.Rand3DElasticd(keys, sigma_range=(SIGMA, SIGMA), magnitude_range=(ALPHA, ALPHA), prob=1,
                                             rotate_range=(0, 0, R), scale_range=(0.1, 0.1, 0.1),
                                             mode=("bilinear", "nearest"), padding_mode="zeros"),
                           mt.NormalizeIntensityd("image"), mt.RandGaussianNoised("image", prob=1, std=NOISE),
                           mt.RandSpatialCropd(keys, roi_size=(CROP,) * 3, random_size=False)])
        from monai.data import MetaTensor
        d = {"image": img, "label": MetaTensor(self.t_lab, affine=self.affine)}
        T["standard pipeline (image + label)"]["MONAI"] = lambda: pipe(dict(d))

    def add_batchgenerators(self, T):
        from batchgenerators.transforms.abstract_transforms import Compose
        from batchgenerators.transforms.noise_transforms import GaussianNoiseTransform
        from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform
        from batchgenerators.augmentations.normalizations import zero_mean_unit_variance_normalization
        shape = self.x.shape
        a15 = (-math.pi / 12, math.pi / 12)

        def spatial(patch, elastic, rotate, random_crop=False):
            # random_crop: the patch's centre at least half a patch from the border (the patch lies inside)
            border = [n // 2 for n in patch] if random_crop else None
            return SpatialTransform(patch, patch_center_dist_from_border=border, do_elastic_deform=elastic,
                                    alpha=(ALPHA, ALPHA), sigma=(SIGMA, SIGMA), do_rotation=rotate is not None,
                                    angle_x=rotate[0] if rotate else (0, 0), angle_y=rotate[1] if rotate else (0, 0),
                                    angle_z=rotate[2] if rotate else (0, 0), do_scale=rotate is not None,
                                    scale=(0.9, 1.1), border_mode_data="constant", border_cval_data=0, order_data=1,
                                    border_mode_seg="constant", border_cval_seg=0, order_seg=0,
                                    random_crop=random_crop, p_el_per_sample=1, p_scale_per_sample=1,
                                    p_rot_per_sample=1)
        d = {"data": self.bg_x}
        T["random affine"]["batchgenerators"] = lambda t=spatial(shape, False, (a15, a15, a15)): t(**dict(d))
        T["elastic"]["batchgenerators"] = lambda t=spatial(shape, True, None): t(**dict(d))
        T["z-score"]["batchgenerators"] = lambda: zero_mean_unit_variance_normalization(self.bg_x.copy(), True)
        T["noise (std 0.1)"]["batchgenerators"] = lambda t=GaussianNoiseTransform(
            noise_variance=(NOISE ** 2, NOISE ** 2), p_per_sample=1): t(**{"data": self.bg_x.copy()})

        class ZScore:  # nnU-Net normalises in its preprocessing; per sample and channel here
            def __call__(self, **dd):
                dd["data"] = zero_mean_unit_variance_normalization(dd["data"], True)
                return dd
        pipe = Compose([MirrorTransform(axes=(0, 1, 2)),
                        spatial((CROP,) * 3, True, ((0, 0), (0, 0), a15), random_crop=True), ZScore(),
                        GaussianNoiseTransform(noise_variance=(NOISE ** 2, NOISE ** 2), p_per_sample=1)])
        dl = {"data": self.bg_x, "seg": self.bg_lab}
        T["standard pipeline (image + label)"]["batchgenerators"] = lambda: pipe(**dict(dl))
        a = math.radians(15)
        for k, lab in self.label_sets().items():   # order_seg=1: batchgenerators' per-label loop
            t = SpatialTransform(shape, patch_center_dist_from_border=None, do_elastic_deform=False,
                                 do_rotation=True, angle_x=(0, 0), angle_y=(0, 0), angle_z=(a, a), do_scale=False,
                                 border_mode_data="constant", order_data=1, border_mode_seg="constant",
                                 border_cval_seg=0, order_seg=1, random_crop=False, p_rot_per_sample=1)
            seg = np.ascontiguousarray(lab.astype(np.float32))[None, None]
            T[f"rotate, labels order 1 ({k} labels)"]["batchgenerators"] = \
                lambda t=t, seg=seg: t(**{"data": self.bg_x, "seg": seg})


SECTION_NOTES = (
    "Notes: every voxaug call runs a pipeline from Python and returns the image (a float32 copy where the ops "
    "leave it alone) and the label map: the remap row is that whole call against NumPy's table lookup of the label "
    "map alone (lut[lab]), which is faster; TorchIO's RemapLabels and MONAI's MapLabelValue loop over the pairs. "
    "histstd: 11 landmarks, voxaug's exact percentiles on the device (six reductions) against np.percentile and "
    "TorchIO's HistogramStandardization. The label rows rotate ch2 by 15 degrees with aal as the label map (117 "
    "labels), merged into 5 and into 2 classes: voxaug's order 1 (per-label linear, batchgenerators' rule) "
    "against its own order 0 (↳ rows: the extra cost of order 1, about the same whatever the number of labels, "
    "since at most 8 are present around a voxel) and batchgenerators' SpatialTransform(order_seg=1), which "
    "interpolates one indicator per label (its time grows with the labels). voxaug's label kernel is the "
    "one-voxel-per-work-item form (no CPU vector form yet).")
SLOW_S = 20.0  # a library whose warm-up call takes longer is timed by that one call (marked † in the table)


def bench(tasks, warmup, rounds):
    res, slow = {}, set()
    for task, libs in tasks.items():
        names = list(libs)
        times = {n: [] for n in names}
        for n in names:
            for _ in range(warmup):
                t0 = time.perf_counter()
                libs[n]()
                if time.perf_counter() - t0 > SLOW_S:
                    times[n].append(time.perf_counter() - t0)
                    slow.add((task, n))
                    break
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                if (task, n) in slow:
                    continue
                t0 = time.perf_counter()
                libs[n]()
                times[n].append(time.perf_counter() - t0)
        res[task] = {n: statistics.median(t) for n, t in times.items()}
        print(f"{task}: " + ", ".join(f"{n} {1e3 * v:.1f} ms" for n, v in res[task].items()), flush=True)
    return res, slow


def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "absent"


COLS = ["voxaug", "SciPy", "NumPy", "TorchIO", "MONAI", "batchgenerators"]
EXTRA = ["voxaug, patch first", "voxaug, labels order 0"]   # voxaug variants, as ↳ rows


def table(res, slow=()):
    L = ["| task | voxaug ms | " + " | ".join(f"{c} ms (× voxaug)" for c in COLS[1:]) + " |",
         "|---|---|" + "---|" * (len(COLS) - 1)]
    for task, r in res.items():
        v = r["voxaug"]
        cells = [f"{1e3 * v:.1f}"]
        for c in COLS[1:]:
            mark = "†" if (task, c) in slow else ""
            cells.append(f"{1e3 * r[c]:.1f}{mark} ({r[c] / v:.1f}×)" if c in r else "—")
        L.append(f"| {task} | " + " | ".join(cells) + " |")
        if "voxaug, patch first" in r:
            p = r["voxaug, patch first"]
            L.append(f"| ↳ voxaug computing the 128³ patch only (crop before z-score and noise) | {1e3 * p:.1f} | "
                     + " | ".join(f"{1e3 * r[c]:.1f}{'†' if (task, c) in slow else ''} ({r[c] / p:.1f}×)"
                                  if c in r else "—" for c in COLS[1:]) + " |")
        if "voxaug, labels order 0" in r:
            p = r["voxaug, labels order 0"]
            L.append(f"| ↳ voxaug with labels order 0 (nearest): order 1 costs {1e3 * (v - p):+.1f} ms | "
                     f"{1e3 * p:.1f} | " + " | ".join("—" for c in COLS[1:]) + " |")
    return "\n".join(L)


def chart(res, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tasks = list(res)
    fig, ax = plt.subplots(figsize=(11, 5))
    w = 0.8 / len(COLS)
    for k, c in enumerate(COLS):
        xs = [i + k * w for i, t in enumerate(tasks) if c in res[t]]
        ys = [1e3 * res[t][c] for t in tasks if c in res[t]]
        ax.bar(xs, ys, w, label=c)
    ax.set_yscale("log")
    ax.set_ylabel("median ms per call (log)")
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(tasks))])
    ax.set_xticklabels([t.replace(" (", "\n(") for t in tasks], fontsize=8)
    ax.set_title("ch2 (181×217×181) + aal, one call, 2 cores: voxaug (PoCL) and its peers")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--only", help="comma-separated task names (substrings)")
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--chart", default=os.path.join(HERE, "peers.png"))
    ap.add_argument("--section", help="write the table as its own section of RESULTS.md under this name (for a "
                    "run of some tasks, --only), leaving the main peers section as it is")
    ap.add_argument("--smoke", action="store_true", help="a 72^3 corner of ch2 and 48^3 crops: checks that every "
                    "library's code runs (not a measurement)")
    args = ap.parse_args()
    global CROP
    import torch
    torch.set_num_threads(int(THREADS))
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cores)
    import nibabel as nib
    img, seg = nib.load(CH2), nib.load(AAL)
    x = np.asfortranarray(img.get_fdata(dtype=np.float32))
    lab = np.asfortranarray(np.asanyarray(seg.dataobj).astype(np.uint8))
    if args.smoke:
        x, lab, CROP = np.asfortranarray(x[50:122, 60:132, 50:122]), np.asfortranarray(lab[50:122, 60:132, 50:122]), 48
    tasks = Tasks(x, lab, img.affine, np.random.default_rng(2026)).build()
    if args.only:
        keep = args.only.split(",")
        tasks = {t: v for t, v in tasks.items() if any(k in t for k in keep)}
    t0 = time.time()
    load_start = os.getloadavg()[0]
    res, slow = bench(tasks, args.warmup, args.rounds)
    took = time.time() - t0
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    vers = f"voxaug {voxaug.version()} (library), " + ", ".join(
        f"{n} {version(p)}" for n, p in [("NumPy", "numpy"), ("SciPy", "scipy"), ("torch", "torch"),
                                         ("TorchIO", "torchio"), ("MONAI", "monai"),
                                         ("batchgenerators", "batchgenerators")])
    # Quiet or shared, from the load average at the start and the end (the run's own processes load ~1-2).
    load_end = os.getloadavg()
    load_text = f"load average {load_start:.1f} at the start, {load_end[0]:.1f} at the end"
    if max(load_start, load_end[0]) > len(cores) + 0.5:
        load_text = f"The machine was shared with other work during the run ({load_text})."
    else:
        load_text = f"Quiet machine ({load_text}, the run's own processes included)."
    global BEGIN, END
    if args.section:
        BEGIN, END = (f"<!-- bench/peers.py {args.section}: begin -->", f"<!-- bench/peers.py {args.section}: end -->")
    have_chart = chart(res, args.chart) if not args.section else False
    text = [BEGIN, "## voxaug from Python and its peers (bench/peers.py%s)" % (
                f", {args.section}" if args.section else ""), "",
            f"Run of {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {took:.0f} s: {cpu}, "
            f"{len(cores)} cores (the process pinned to cores {cores}), Python {platform.python_version()}; "
            f"voxaug on {voxaug.default_context().device_name}. {vers}. Threads: torch.set_num_threads({THREADS}), "
            f"OMP/MKL/OpenBLAS {THREADS}, PoCL one per core, SciPy's ndimage single-threaded. ch2 "
            f"({'×'.join(map(str, x.shape))}, float32 in memory) with aal as the label map; median of {args.rounds} "
            f"alternating rounds after {args.warmup} warm-up call(s) per library; × = the peer's time over voxaug's "
            f"(higher: voxaug faster). {load_text}",
            "", table(res, slow), "",
            f"† one call only: its warm-up call took over {SLOW_S:.0f} s, so that call is the figure.", "",
            SECTION_NOTES if args.section else ("Notes: voxaug's elastic is the exact field (alpha 200, sigma 8; `mode=fast` is faster still); MONAI's "
            "Rand3DElastic and batchgenerators' elastic deformation are the same definition (Gaussian-smoothed "
            "uniform noise), TorchIO's RandomElasticDeformation is a cubic B-spline on 7×7×7 control points "
            "(max 7.5 mm). TorchIO's percentile row is RescaleIntensity(percentiles=(0.5, 99.5)) (clips, then "
            "rescales to [0, 1]); batchgenerators has no resampling or percentile transform. In the pipeline, MONAI "
            "runs rotation, zoom and the field in one Rand3DElasticd pass (as voxaug fuses them), TorchIO crops with "
            "its UniformSampler, batchgenerators' SpatialTransform samples the 128³ patch directly (so it normalises "
            "and adds noise to the patch only: compare it with the ↳ row), SciPy runs bench/run.py's chain "
            "(one affine_transform or map_coordinates per spatial run).")]
    if have_chart:
        text += ["", "![peers](peers.png)"]
    text.append(END)
    block = "\n".join(text) + "\n"
    old = open(args.results).read() if os.path.exists(args.results) else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + block + old[old.index(END) + len(END) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    with open(args.results, "w") as f:
        f.write(new)
    print(table(res, slow))


if __name__ == "__main__":
    main()
