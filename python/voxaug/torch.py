# SPDX-License-Identifier: MIT
"""PyTorch datasets over image (and label) files, augmented by a voxaug pipeline. Needs torch; voxaug does not.

    ds = voxaug.torch.Dataset("data/images", pipeline, labels="data/labels", seed=2026)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, shuffle=True)
    for epoch in range(n):
        ds.set_epoch(epoch)
        for batch in loader: ... batch["image"] (B, C, i, j, k) float32, batch["label"] (B, 1, i, j, k)

Draws are keyed by the item, as SPEC.md says: item `name` (its image path relative to the dataset root,
'/'-separated) in copy c (= epoch * copies + copy) runs as sample voxaug.item_sample(name, c) of the seed. A
result therefore depends on neither the item's place in the list, nor the number of workers, nor the order of
the loader: 0, 1 or 2 workers give the same tensors for the same item.

Each process runs on its own voxaug context, made on first use (voxaug.default_context(), keyed by process):
a DataLoader worker makes its own after fork and never touches the parent's OpenCL objects. OpenCL runtimes
do not survive fork at all, though: once the parent process has run voxaug on a device (PoCL, a GPU), a forked
worker would hang in its first run, so voxaug.Context raises a DeviceError there instead. voxaug.torch.DataLoader
(torch's, with multiprocessing_context="forkserver" in that case) avoids it; a parent that never runs voxaug
itself can use plain fork workers.

Several copies per item (copies > 1, as nnU-Net's and MONAI's patch samplers take several patches per subject):
each item is read and uploaded once (a voxaug.Resident) and its copies run from the device's copy. The
IterableDataset streams every copy of an item before the next, uploading the next item while this one's copies
run (asynchronously on a GPU); the map-style Dataset keeps the last item resident, so an index order that visits
an item's copies one after another (no shuffle, or a sampler grouping them) reads and uploads it once. The
tensors are the same as from one upload per copy, bit for bit.

Tensors come from torch.from_numpy on the library's output memory (no copy): the image is the float32
(i, j, k) array seen as (1, i, j, k) (or (c, i, j, k) for c channels), both views; label maps keep their
dtype, except uint16/uint32, which torch 1.13 has not (copied to int32/int64).
"""
import os

import numpy as np
import torch
import torch.utils.data

from . import _core

__all__ = ["Dataset", "IterableDataset", "DataLoader", "find_items"]


def _is_nifti(name):
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _stem(name):
    return name[:-7] if name.endswith(".nii.gz") else name[:-4] if name.endswith(".nii") else name


def find_items(images, labels=None, root=None):
    """(root, [(image, label or None), ...]) from a folder of .nii/.nii.gz files (labels from a folder, matched
    by file name without extension, as `voxaug augment --images DIR --labels DIR`), or from a list of image
    paths or (image, label) pairs (root: given, else the list's common folder)."""
    if isinstance(images, (str, os.PathLike)):
        folder = os.fspath(images)
        names = sorted(n for n in os.listdir(folder) if _is_nifti(n))
        lab = {}
        if labels is not None:
            lab = {_stem(n): os.path.join(labels, n) for n in os.listdir(labels) if _is_nifti(n)}
        items = []
        for n in names:
            if labels is not None and _stem(n) not in lab:
                raise FileNotFoundError(f"no label map for {os.path.join(folder, n)} in {labels}")
            items.append((os.path.join(folder, n), lab.get(_stem(n))))
        return (root if root is not None else folder), items
    items = []
    for it in images:
        if isinstance(it, (tuple, list)):
            items.append((os.fspath(it[0]), os.fspath(it[1]) if it[1] is not None else None))
        else:
            items.append((os.fspath(it), None))
    if labels is not None:
        raise ValueError("labels= goes with a folder of images; give a list of (image, label) pairs instead")
    if root is None:
        root = os.path.commonpath([os.path.dirname(os.path.abspath(i)) for i, _ in items]) if items else "."
    return root, items


def _item_name(path, root):
    return os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")


def _label_tensor(a):
    if a.dtype == np.uint16:
        a = a.astype(np.int32)
    elif a.dtype == np.uint32:
        a = a.astype(np.int64)
    return torch.from_numpy(a)


def _channels_first(t):
    return t.unsqueeze(0) if t.dim() == 3 else t.permute(3, 0, 1, 2)


class _Items:
    def _setup(self, images, pipeline, labels, root, seed, copies, device):
        self.root, self.items = find_items(images, labels, root)
        self.names = [_item_name(i, self.root) for i, _ in self.items]
        self.pipeline = pipeline if isinstance(pipeline, _core.Pipeline) else None
        self._spec = _core._spec_text(pipeline)
        self.seed, self.copies, self.device = int(seed), int(copies), device
        self.epoch = 0
        self._ctx = None
        self._ctx_pid = None
        self._held = None   # (item, voxaug.Resident) kept for its next copies, when copies > 1

    def set_epoch(self, epoch):
        """Copy c of epoch e draws as copy e * copies + c, so every epoch sees new augmentations (call before
        iterating the loader, whose workers take a fresh copy of the dataset each epoch)."""
        self.epoch = int(epoch)

    def _context(self):
        # Made lazily in the process that uses it: a worker forked from a parent never inherits one in use.
        if self._ctx_pid != os.getpid():
            self._ctx = _core.Context(self.device) if self.device is not None else _core.default_context()
            self._ctx_pid = os.getpid()
        if self.pipeline is None:  # unpickled in a spawned worker; a parsed pipeline is plain host memory
            self.pipeline = _core.Pipeline(self._spec)
        return self._ctx

    def __getstate__(self):
        # Pickled into spawned workers: no context, no pipeline handle; both are remade there.
        d = dict(self.__dict__)
        d["_ctx"] = d["_ctx_pid"] = d["pipeline"] = d["_held"] = None
        return d

    def sample_of(self, item, copy):
        """The (seed, sample) item `item`'s copy `copy` runs with in the current epoch."""
        return self.seed, _core.item_sample(self.names[item], self.epoch * self.copies + copy)

    def _resident(self, item):
        """Item `item` read and uploaded (asynchronously where the device has its own memory)."""
        ctx = self._context()
        image_path, label_path = self.items[item]
        image = _core.load(image_path)
        label = _core.load(label_path) if label_path is not None else None
        return _core.Resident(image, label, ctx=ctx)

    def _held_resident(self, item):
        """The resident of `item`, the one kept from the last call when it is the same item."""
        if self._held is not None and self._held[0] == item and self._ctx_pid == os.getpid():
            return self._held[1]
        if self._held is not None:
            self._held[1].close()
        self._held = (item, self._resident(item))
        return self._held[1]

    def _get(self, item, copy, resident=None):
        ctx = self._context()
        seed, sample = self.sample_of(item, copy)
        if resident is not None:
            img, lab, draw = self.pipeline.run(resident, seed=seed, sample=sample)
        else:
            image_path, label_path = self.items[item]
            image = _core.load(image_path)
            label = _core.load(label_path) if label_path is not None else None
            img, lab, draw = self.pipeline.run(image, label, seed=seed, sample=sample, ctx=ctx)
        out = {"image": _channels_first(torch.from_numpy(img)), "affine": torch.from_numpy(draw.pop("affine")),
               "name": self.names[item], "copy": copy, "sample": str(sample)}
        if lab is not None:
            out["label"] = _channels_first(_label_tensor(lab))
        return out


class Dataset(_Items, torch.utils.data.Dataset):
    """A map-style dataset: index i is item i // copies, copy i % copies. Each element is a dict: "image"
    (C, i, j, k) float32, "label" (1, i, j, k) if the item has one, "affine" (4, 4) float64, "name" (the item's
    name relative to the root), "copy", "sample" (the sample index drawn with, as a decimal string: a uint64 does not fit default_collate's int64)."""

    def __init__(self, images, pipeline, labels=None, *, root=None, seed=0, copies=1, device=None):
        self._setup(images, pipeline, labels, root, seed, copies, device)

    def __len__(self):
        return len(self.items) * self.copies

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        item, copy = index // self.copies, index % self.copies
        if self.copies > 1:
            return self._get(item, copy, self._held_resident(item))
        return self._get(item, copy)


class IterableDataset(_Items, torch.utils.data.IterableDataset):
    """The same elements as Dataset, streamed: each DataLoader worker takes items w, w + W, w + 2W, ... of the
    list (W workers) and yields every copy of an item before the next (its copies from one upload; the next
    item uploads while they run), so the order of the stream depends on W but no element's contents do."""

    def __init__(self, images, pipeline, labels=None, *, root=None, seed=0, copies=1, device=None):
        self._setup(images, pipeline, labels, root, seed, copies, device)

    def __len__(self):
        return len(self.items) * self.copies

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        w, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        items = range(w, len(self.items), nw)
        if self.copies == 1:
            for item in items:
                yield self._get(item, 0)
            return
        following = self._resident(items[0]) if len(items) else None
        for n, item in enumerate(items):
            current = following
            # the next item up while this one's copies run
            following = self._resident(items[n + 1]) if n + 1 < len(items) else None
            try:
                for copy in range(self.copies):
                    yield self._get(item, copy, current)
            finally:
                current.close()


def DataLoader(dataset, *args, **kwargs):
    """torch.utils.data.DataLoader, with workers started by "forkserver" where this process has already used an
    OpenCL device (a forked worker would inherit a runtime that cannot run; see the module's docstring), by
    torch's default (fork) otherwise. An explicit multiprocessing_context= is kept."""
    if kwargs.get("num_workers", args[5] if len(args) > 5 else 0) and "multiprocessing_context" not in kwargs:
        if _core._opencl_pid[0] is not None:
            kwargs["multiprocessing_context"] = "forkserver"
    return torch.utils.data.DataLoader(dataset, *args, **kwargs)
