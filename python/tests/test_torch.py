# SPDX-License-Identifier: MIT
"""voxaug.torch: the same samples whatever the number of DataLoader workers, draws keyed by the item, tensors
viewing the library's memory, and a clear error instead of a hang where OpenCL cannot follow a fork."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch") if os.environ.get("VOXAUG_REQUIRE_DEVICE") != "1" else __import__("torch")
import voxaug  # noqa: E402
import voxaug.torch  # noqa: E402

SPEC = ("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15]) elastic(alpha=[50,100], sigma=4, mode=fast) zscore "
        "noise(0.1) random_crop(12)")


def make_dataset(folder, rng, n=5):
    import nibabel as nib
    (folder / "images").mkdir()
    (folder / "labels").mkdir()
    for i in range(n):
        shape = (20 + i, 18, 16)
        aff = np.diag([1.5, 1.0, 1.2, 1.0])
        nib.save(nib.Nifti1Image(rng.random(shape, dtype=np.float32), aff), folder / "images" / f"s{i}.nii.gz")
        nib.save(nib.Nifti1Image((rng.random(shape) * 5).astype(np.int16), aff), folder / "labels" / f"s{i}.nii.gz")
    return folder / "images", folder / "labels"


def collect(loader):
    out = {}
    for batch in loader:
        for k, name in enumerate(batch["name"]):
            out[(name, int(batch["copy"][k]))] = (batch["image"][k].clone(), batch["label"][k].clone())
    return out


FORK_SCRIPT = textwrap.dedent("""
    import sys, torch, voxaug, voxaug.torch
    ds = voxaug.torch.Dataset(sys.argv[1], voxaug.Pipeline(sys.argv[3]), labels=sys.argv[2], copies=2, seed=11)
    res = {}
    for nw in (1, 2):  # plain fork workers: this process never runs voxaug itself
        loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=nw)
        assert loader.multiprocessing_context is None
        res[nw] = torch.cat([b["image"] for b in loader]), torch.cat([b["label"] for b in loader])
    torch.save(res, sys.argv[4])
""")


def test_dataloader_0_1_2_workers_identical(tmp_path, rng):
    images, labels = make_dataset(tmp_path, rng)
    ds = voxaug.torch.Dataset(images, voxaug.Pipeline(SPEC), labels=labels, copies=2, seed=11)
    assert len(ds) == 10
    # 0 workers here (this process has used OpenCL by now, or does so here).
    ref = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=0)
    ref_img = torch.cat([b["image"] for b in ref])
    ref_lab = torch.cat([b["label"] for b in ref])
    assert ref_img.shape == (10, 1, 12, 12, 12) and ref_img.dtype == torch.float32 and ref_lab.dtype == torch.int16
    # 1 and 2 fork workers, from a fresh process that never ran voxaug itself.
    out = tmp_path / "fork.pt"
    subprocess.run([sys.executable, "-c", FORK_SCRIPT, images, labels, SPEC, out], check=True, timeout=300)
    for nw, (img, lab) in torch.load(out).items():
        assert torch.equal(img, ref_img) and torch.equal(lab, ref_lab), f"{nw} fork workers"
    # 2 workers from this process, which has used OpenCL: voxaug.torch.DataLoader starts them by forkserver.
    loader = voxaug.torch.DataLoader(ds, batch_size=3, num_workers=2)
    assert loader.multiprocessing_context is not None
    assert torch.equal(torch.cat([b["image"] for b in loader]), ref_img)
    # Not all the same sample: copies and items differ.
    assert not torch.equal(ref_img[0], ref_img[1])


def test_draws_keyed_by_item_not_by_position(tmp_path, rng):
    images, labels = make_dataset(tmp_path, rng, n=4)
    pipe = voxaug.Pipeline(SPEC)
    names = sorted(os.listdir(images))
    pairs = [(images / n, labels / n) for n in names]
    a = collect(torch.utils.data.DataLoader(voxaug.torch.Dataset(pairs, pipe, copies=2, seed=3), batch_size=2))
    # Reversed and one item dropped: every remaining item's copies are unchanged.
    b = collect(torch.utils.data.DataLoader(voxaug.torch.Dataset(pairs[:0:-1], pipe, copies=2, seed=3),
                                            batch_size=2, shuffle=True))
    assert set(b) == {k for k in a if k[0] != names[0]}
    for k in b:
        assert torch.equal(a[k][0], b[k][0]) and torch.equal(a[k][1], b[k][1]), k
    # The sample is the library's item key of (name, copy).
    ds = voxaug.torch.Dataset(pairs, pipe, copies=2, seed=3)
    assert ds[3]["sample"] == str(voxaug.item_sample(names[1], 1))
    img, lab, _ = pipe(voxaug.load(pairs[1][0]), label=voxaug.load(pairs[1][1]), seed=3,
                       sample=voxaug.item_sample(names[1], 1))
    assert np.array_equal(ds[3]["image"][0].numpy(), img)
    # A new epoch draws anew; the same epoch again repeats.
    ds.set_epoch(1)
    assert not torch.equal(ds[3]["image"], a[(names[1], 1)][0])
    ds.set_epoch(0)
    assert torch.equal(ds[3]["image"], a[(names[1], 1)][0])


def test_iterable_dataset_same_elements(tmp_path, rng):
    images, labels = make_dataset(tmp_path, rng, n=3)
    pipe = voxaug.Pipeline(SPEC)
    a = collect(torch.utils.data.DataLoader(voxaug.torch.Dataset(images, pipe, labels=labels), batch_size=2))
    b = collect(torch.utils.data.DataLoader(voxaug.torch.IterableDataset(images, pipe, labels=labels), batch_size=2))
    assert set(a) == set(b) and all(torch.equal(a[k][0], b[k][0]) for k in a)


def test_tensors_view_the_output_memory(tmp_path, rng):
    images, labels = make_dataset(tmp_path, rng, n=1)
    item = voxaug.torch.Dataset(images, voxaug.Pipeline("rotate(5) zscore"), labels=labels)[0]
    img = item["image"]
    nx, ny, nz = img.shape[1:]
    # Fortran strides seen through (1, i, j, k): the library's i-fastest memory, not a contiguous copy.
    assert img.stride()[1:] == (1, nx, nx * ny) and item["label"].stride()[1:] == (1, nx, nx * ny)


def test_forked_child_refuses_opencl_instead_of_hanging(ctx):
    if ctx.is_reference:
        pytest.skip("the reference device has no OpenCL state to lose")
    voxaug.Pipeline("noise(0.1)")(np.zeros((4, 4, 4), np.float32), ctx=ctx)
    name = ctx.device_name
    pid = os.fork()
    if pid == 0:  # the child: a context must fail with a clear error, quickly
        code = 3
        try:
            voxaug.Context(name)
        except voxaug.DeviceError as e:
            code = 0 if "forkserver" in str(e) else 4
        except BaseException as e:
            print("unexpected", repr(e), flush=True)
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    with pytest.raises(voxaug.VoxaugError, match="after fork"):
        # The parent's context used from a child: the check is on the handle, before any OpenCL call.
        pid = os.fork()
        if pid == 0:
            try:
                ctx.handle
            except voxaug.VoxaugError:
                os._exit(0)
            os._exit(6)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        raise voxaug.VoxaugError(1, "after fork: checked in the child")


def test_copies_from_one_upload_equal_direct_runs(tmp_path, rng):
    # copies > 1: each item read and uploaded once (a voxaug.Resident); every element still equals the run on the
    # item's arrays for its (seed, item_sample(name, copy)), in the map-style dataset (shuffled, so the held item
    # changes often) and the stream (every copy of an item, then the next, prefetched).
    images, labels = make_dataset(tmp_path, rng, n=3)
    pipe = voxaug.Pipeline(SPEC)
    names = sorted(os.listdir(images))
    want = {}
    for name in names:
        image, label = voxaug.load(images / name), voxaug.load(labels / name)
        for copy in range(3):
            img, lab, _ = pipe(image, label=label, seed=5, sample=voxaug.item_sample(name, copy))
            want[(name, copy)] = (img, lab)
    for ds in (voxaug.torch.Dataset(images, pipe, labels=labels, copies=3, seed=5),
               voxaug.torch.IterableDataset(images, pipe, labels=labels, copies=3, seed=5)):
        shuffle = isinstance(ds, voxaug.torch.Dataset)
        got = collect(torch.utils.data.DataLoader(ds, batch_size=2, shuffle=shuffle))
        assert set(got) == set(want)
        for k, (img, lab) in got.items():
            assert np.array_equal(img[0].numpy(), want[k][0]) and np.array_equal(lab[0].numpy(), want[k][1]), k
