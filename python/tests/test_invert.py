# SPDX-License-Identifier: MIT
"""Undoing a draw from Python (Pipeline.invert, voxaug.invert) and its displacement field
(Pipeline.displacement_field, voxaug.save_displacement)."""
import json

import numpy as np
import pytest

import voxaug


def _index_map(shape):
    """int32 labels holding each voxel's own index + 1 (Fortran order, as the library's)."""
    return (np.arange(np.prod(shape), dtype=np.int32) + 1).reshape(shape, order="F")


def test_crops_pads_and_flips_come_back_exactly(ctx, rng):
    shape = (21, 18, 15)
    img = np.asfortranarray(rng.normal(size=shape).astype(np.float32))
    lab = _index_map(shape)
    pipe = voxaug.Pipeline("flip(axes=0,1,2, p_axis=0.5) pad(3, after=1) random_crop(16,20,12)")
    for sample in range(3):
        out, olab, draw = pipe(img, label=lab, seed=5, sample=sample, ctx=ctx)
        back, rep = pipe.invert(out, img, seed=5, sample=sample, cval=-9, ctx=ctx, report=True)
        blab = pipe.invert(olab, img.shape, seed=5, sample=sample, ctx=ctx)
        assert back.dtype == np.float32 and back.shape == shape and blab.dtype == np.int32
        kept = blab > 0
        assert np.array_equal(blab[kept], lab[kept]) and np.all(back[kept] == img[kept])
        assert np.all(back[~kept] == -9) and rep["outside"] == int((~kept).sum()) > 0
        assert rep["voxels"] == img.size and rep["intensity_ops"] == 0
        # from the draw record, as voxaug.invert takes it (a dict, its JSON text)
        draw.pop("affine")
        for rec in (draw, json.dumps(draw), {"draw": draw}):
            assert np.array_equal(voxaug.invert(olab, rec, img, ctx=ctx), blab)


def test_a_record_of_another_input_is_refused(ctx, rng):
    pipe = voxaug.Pipeline("random_crop(8,8,8)")
    img = rng.normal(size=(20, 20, 20)).astype(np.float32)
    out, _, draw = pipe(img, seed=1, sample=4, ctx=ctx)
    draw.pop("affine")
    voxaug.invert(out, draw, img, ctx=ctx)
    draw["ops"][0]["start"] = [q + 1 for q in draw["ops"][0]["start"]]   # what another input could have drawn
    with pytest.raises(voxaug.InvalidArgumentError, match="does not match"):
        voxaug.invert(out, draw, img, ctx=ctx)


def test_intensity_ops_are_named_not_inverted(ctx, rng):
    pipe = voxaug.Pipeline("zscore rotate(90, plane=0,1)")
    img = rng.normal(5, 2, size=(12, 12, 9)).astype(np.float32)
    out, _, _ = pipe(img, seed=0, ctx=ctx)
    back, rep = pipe.invert(out, img, ctx=ctx, report=True)
    assert rep["intensity_ops"] == 1 and rep["intensity_names"] == "zscore"
    z = (img - img.mean()) / img.std()
    assert np.allclose(back, z, atol=1e-5)


def test_displacement_field_and_its_file(ctx, tmp_path):
    import nibabel as nib
    aff = np.diag([1.5, 1.0, 2.0, 1.0])
    aff[:3, 3] = (-10, 4, 3)
    pipe = voxaug.Pipeline("rotate(20, plane=0,1) elastic(alpha=100, sigma=5) crop(16,14,10)")
    field, faff = pipe.displacement_field((20, 18, 12), affine=aff, seed=3, sample=1, ctx=ctx)
    assert field.shape == (16, 14, 10, 3) and field.dtype == np.float32 and np.abs(field).max() > 1
    img = np.zeros((20, 18, 12), np.float32)
    out, _, draw = pipe(img, affine=aff, seed=3, sample=1, ctx=ctx)
    assert np.allclose(faff, draw["affine"])
    voxaug.save_displacement(tmp_path / "f.nii.gz", field, faff)
    voxaug.save_displacement(tmp_path / "l.nii.gz", field, faff, lps=True)
    f, l = nib.load(tmp_path / "f.nii.gz"), nib.load(tmp_path / "l.nii.gz")
    assert f.header["dim"][0] == 5 and f.shape == (16, 14, 10, 1, 3) and int(f.header["intent_code"]) == 1006
    assert np.array_equal(np.asarray(f.dataobj)[:, :, :, 0, :], field) and np.allclose(f.affine, faff)
    assert int(l.header["intent_code"]) == 1007 and np.allclose(l.affine, faff)
    assert np.array_equal(np.asarray(l.dataobj)[:, :, :, 0, :], field * np.array([-1, -1, 1], np.float32))
    with pytest.raises(voxaug.InvalidArgumentError):
        voxaug.save_displacement(tmp_path / "g.nii", field[..., :2], faff)
