# SPDX-License-Identifier: MIT
"""NumPy statements of the patch-sampling rules voxaug's fg_crop follows, for the checks (check_sample.py) and
the benchmark (bench/sample_share.py): nnU-Net v2's nnUNetDataLoader.get_bbox re-implemented from its source (the
peer needs torch 2 and a dataset on disk, so it is not run itself), and the exact probability that a patch holds a
given class under the rule, from box sums of the class's indicator."""
import numpy as np


def nnunet_bbox(rng, shape, patch, force_fg, class_locations):
    """nnunetv2/training/dataloading/data_loader.py get_bbox with need_to_pad 0 (a final patch), no ignore label:
    lbs = -need//2 (Python's floor of the negative), ubs = n + need//2 + need%2 - m; forced: a class uniformly
    among those with locations, a voxel uniformly among its locations, start max(lbs, v - m//2)."""
    need = [max(0, m - n) for n, m in zip(shape, patch)]
    lbs = [-d // 2 for d in need]
    ubs = [n + d // 2 + d % 2 - m for n, d, m in zip(shape, need, patch)]
    if force_fg:
        eligible = [c for c in class_locations if len(class_locations[c]) > 0]
        if eligible:
            c = eligible[rng.choice(len(eligible))]
            locs = class_locations[c]
            v = locs[rng.choice(len(locs))]
            return [max(lbs[i], int(v[i]) - patch[i] // 2) for i in range(3)]
    return [int(rng.integers(lbs[i], ubs[i] + 1)) for i in range(3)]


def window_sums(ind, patch):
    """W[s] = number of true voxels of ind in the box [s, s + m) clipped to the volume, for every s in the volume
    (the box may reach past the far edge: zeros there, as the padded patch)."""
    a = np.pad(ind.astype(np.int32), [(1, m) for m in patch])
    c = a.cumsum(0).cumsum(1).cumsum(2)
    n = ind.shape
    s0, s1, s2 = [np.arange(n[i]) for i in range(3)]
    m0, m1, m2 = patch
    def C(i, j, k):
        return c[np.ix_(i, j, k)]
    return (C(s0 + m0, s1 + m1, s2 + m2) - C(s0, s1 + m1, s2 + m2) - C(s0 + m0, s1, s2 + m2) - C(s0 + m0, s1 + m1, s2)
            + C(s0, s1, s2 + m2) + C(s0, s1 + m1, s2) + C(s0 + m0, s1, s2) - C(s0, s1, s2))


def exact_share(labels, target, patch, p_fg, classes=None):
    """The probability that an fg_crop(patch, p_fg) patch (nnU-Net's rule; eligible: `classes`, default every
    non-zero class) holds a voxel of class `target`, the same for a uniform random_crop(patch), and for a forced
    patch alone; patch <= shape."""
    W = window_sums(labels == target, patch) > 0
    n = labels.shape
    uniform = W[: n[0] - patch[0] + 1, : n[1] - patch[1] + 1, : n[2] - patch[2] + 1].mean()
    classes = [c for c in np.unique(labels) if c != 0 and (classes is None or c in classes)]
    forced = 0.0
    for c in classes:
        v = np.argwhere(labels == c)
        s = np.maximum(v - np.array(patch) // 2, 0)
        forced += W[s[:, 0], s[:, 1], s[:, 2]].mean()
    forced /= len(classes)
    return (1 - p_fg) * uniform + p_fg * forced, uniform, forced


def monai_box(data, threshold, margin, allow_smaller):
    """monai.transforms.utils.generate_spatial_bounding_box with select_fn x > threshold over channels (data:
    (C, X, Y, Z)): [min - margin, max + margin + 1) per axis, clamped when allow_smaller; [0]*3, [0]*3 if none."""
    sel = (data > threshold).any(0)
    if not sel.any():
        return [0, 0, 0], [0, 0, 0]
    lo, hi = [], []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        idx = np.nonzero(sel.any(other))[0]
        a, b = int(idx[0]) - margin, int(idx[-1]) + margin + 1
        if allow_smaller:
            a, b = max(a, 0), min(b, sel.shape[ax])
        lo.append(a)
        hi.append(b)
    return lo, hi
