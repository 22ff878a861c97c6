# SPDX-License-Identifier: MIT
"""voxaug.Resident: samples from one upload equal those from the arrays, bit for bit (one at a time and
run_many's stacked batch), on the device and the reference path, uploads complete or asynchronous; the errors."""
import numpy as np
import pytest

import voxaug

SPEC = ("flip(axes=0,1, p=0.5) rotate([-12,12], plane=0,1) elastic(alpha=100, sigma=3, mode=exact) zscore "
        "noise(0.2) random_crop(13, 11, 9)")


def inputs(rng, channels=1):
    shape = (23, 19, 14) + ((channels,) if channels > 1 else ())
    image = (rng.random(shape) * 1000).astype(np.int16)
    label = (rng.random(shape[:3]) * 5).astype(np.uint8)
    affine = np.diag([1.2, 1.0, 2.0, 1.0])
    return image, label, affine


@pytest.mark.parametrize("device", ["device", "reference"])
@pytest.mark.parametrize("async_upload", [False, True])
def test_resident_equals_arrays(ctx, rng, device, async_upload, monkeypatch):
    c = ctx if device == "device" else voxaug.Context("reference")
    if async_upload:
        monkeypatch.setenv("VOXAUG_BATCH_OVERLAP", "1")   # the transfer queue, as on a GPU
    image, label, affine = inputs(rng)
    pipe = voxaug.Pipeline(SPEC)
    with voxaug.Resident(image, label, affine=affine, ctx=c, async_upload=async_upload) as subj:
        for sample in range(4):
            want = pipe(image, label=label, seed=9, sample=sample, affine=affine, ctx=c)
            got = pipe(subj, seed=9, sample=sample)
            assert np.array_equal(want[0], got[0]) and want[0].dtype == got[0].dtype
            assert np.array_equal(want[1], got[1]) and got[1].dtype == np.uint8
            assert np.array_equal(want[2].pop("affine"), got[2].pop("affine")) and want[2] == got[2]
        images, labels, draws = pipe.run_many(subj, seed=9, samples=range(2, 6))
        assert images.shape == (4, 13, 11, 9) and labels.shape == (4, 13, 11, 9) and labels.dtype == np.uint8
        for s in range(4):
            want = pipe(image, label=label, seed=9, sample=2 + s, affine=affine, ctx=c)
            assert np.array_equal(images[s], want[0]) and np.array_equal(labels[s], want[1])
            assert np.array_equal(draws[s].pop("affine"), want[2].pop("affine")) and draws[s] == want[2]
        no_label = pipe.run_many(subj, seed=9, samples=2, label=False)
        assert no_label[1] is None and np.array_equal(no_label[0][1], pipe(image, seed=9, sample=1,
                                                                           affine=affine, ctx=c)[0])


def test_resident_channels_and_c_order(ctx, rng):
    image, label, affine = inputs(rng, channels=2)
    image = np.ascontiguousarray(image)   # C order: copied once into the library's layout
    pipe = voxaug.Pipeline("rotate([-10,10]) zscore crop(15, 15, 10)")
    subj = voxaug.Resident(image, ctx=ctx)
    got = pipe(subj, seed=1, sample=3)
    want = pipe(image, seed=1, sample=3, ctx=ctx)
    assert got[0].shape == (15, 15, 10, 2) and got[1] is None and np.array_equal(got[0], want[0])
    many = pipe.run_many(subj, seed=1, samples=range(3, 5))[0]
    assert many.shape == (2, 15, 15, 10, 2) and np.array_equal(many[0], want[0])
    subj.close()
    with pytest.raises(voxaug.VoxaugError, match="closed"):
        pipe(subj, seed=1)


def test_resident_errors(ctx, rng):
    image, label, affine = inputs(rng)
    pipe = voxaug.Pipeline(SPEC)
    with pytest.raises(voxaug.InvalidArgumentError, match="integer"):
        voxaug.Resident(image, label.astype(np.float32), ctx=ctx)
    subj = voxaug.Resident(image, label, ctx=ctx)
    with pytest.raises(voxaug.InvalidArgumentError, match="carries"):
        pipe(subj, label=label)
    with pytest.raises(voxaug.InvalidArgumentError, match="consecutive"):
        pipe.run_many(subj, samples=range(0, 8, 2))
    other = voxaug.Context("reference")
    with pytest.raises(voxaug.InvalidArgumentError, match="carries"):
        pipe(subj, ctx=other)
    # the arrays are held only until the first run (an asynchronous copy may read them until then)
    assert subj._arrays is not None
    pipe(subj)
    assert subj._arrays is None


def test_program_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("VOXAUG_CACHE_DIR", str(tmp_path))
    assert voxaug.program_cache_dir() == str(tmp_path)
    monkeypatch.setenv("VOXAUG_CACHE", "0")
    assert voxaug.program_cache_dir() == ""
