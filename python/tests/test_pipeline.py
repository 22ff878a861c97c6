# SPDX-License-Identifier: MIT
"""Pipelines from Python: the same bits as the CLI for the same (seed, sample), SciPy's results for the ops
that have an equivalent, voxaug.ops objects, and errors that carry the library's message."""
import json
import os
import subprocess

import numpy as np
import pytest
from scipy import ndimage

import voxaug
from voxaug import ops

from conftest import template

STANDARD = ("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) "
            "elastic(alpha=[200,400], sigma=9, mode=fast) zscore(nonzero=1) noise(0.1) random_crop(96,96,96)")


def test_equals_the_cli_bit_for_bit(ctx, cli, tmp_path):
    import nibabel as nib
    ch2, aal = template("ch2.nii.gz"), template("aal.nii.gz")
    pipe = voxaug.Pipeline(STANDARD)
    image, label = voxaug.load(ch2), voxaug.load(aal)
    nib_image, nib_label = nib.load(ch2), nib.load(aal)
    draws = set()
    for seed, sample in [(2026, 1), (7, 123456789012345)]:
        out, lab = tmp_path / f"o{sample}.nii", tmp_path / f"l{sample}.nii"
        params = tmp_path / f"p{sample}.json"
        subprocess.run([cli, "apply", ch2, "--label", aal, "--ops", STANDARD, "--seed", str(seed), "--sample",
                        str(sample), "-o", out, "--label-out", lab, "--params-out", params], check=True,
                       env={**os.environ, "VOXAUG_DEVICE": ctx.device_name})
        want, want_lab = nib.load(out), nib.load(lab)
        for src, srclab in [(image, label), (nib_image, nib_label)]:
            img, olab, draw = pipe(src, label=srclab, seed=seed, sample=sample, ctx=ctx)
            img, olab = np.asanyarray(getattr(img, "dataobj", img)), np.asanyarray(getattr(olab, "dataobj", olab))
            assert img.dtype == np.float32 and img.tobytes() == np.asanyarray(want.dataobj).tobytes()
            assert olab.dtype == want_lab.get_data_dtype() and np.array_equal(olab, np.asanyarray(want_lab.dataobj))
            assert np.allclose(draw.pop("affine"), want.affine, atol=1e-5)
            assert draw == json.loads(params.read_text())
        draws.add(json.dumps(draw["ops"]))
    assert len(draws) == 2  # the two (seed, sample) pairs drew differently


def _close(got, want, x):
    tol = 1e-4 * float(x.max() - x.min())
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= tol


def test_ops_equal_scipy(ctx, rng):
    x = np.asfortranarray(ndimage.gaussian_filter(rng.random((23, 19, 17)), 2).astype(np.float32))
    x64 = x.astype(np.float64)
    run = lambda op: voxaug.Pipeline(op)(x, ctx=ctx)[0]
    _close(run(ops.Rotate(17.5, plane=[0, 2])),
           ndimage.rotate(x64, 17.5, axes=(0, 2), reshape=False, order=1, mode="grid-constant"), x)
    z = np.array([1.2, 0.9, 1.1])
    c = (np.array(x.shape) - 1) / 2
    _close(run(ops.Zoom(list(z))), ndimage.affine_transform(x64, np.diag(1 / z), offset=c - c / z, order=1,
                                                          mode="grid-constant"), x)
    _close(run(ops.Resize([11, 30, 9])), ndimage.zoom(x64, np.array([11, 30, 9]) / x.shape, order=1,
                                                      grid_mode=True, mode="grid-constant"), x)
    _close(run(ops.Flip(axes=[0, 2])), np.flip(x64, (0, 2)), x)
    _close(run(ops.Zscore()), (x64 - x64.mean()) / x64.std(), x)
    _close(run(ops.Pclip(2, 98)), np.clip(x64, *np.percentile(x64, [2, 98])), x)
    _close(run(ops.Blur(1.5)), ndimage.gaussian_filter(x64, 1.5, mode="nearest", truncate=4.0), x)


def test_ops_objects_compose_into_spec_text():
    a = ops.Flip(axes=[0, 1, 2], p_axis=0.5) + ops.Rotate((-15, 15), plane=(0, 1)) + ops.Zoom((0.9, 1.1), p=0.3)
    b = a + ops.Elastic(alpha=(100, 300), sigma=9, mode="fast")
    text = ("flip(axes=0,1,2, p_axis=0.5) rotate(angle=[-15,15], plane=0,1) zoom(z=[0.9,1.1], p=0.3) "
            "elastic(alpha=[100,300], sigma=9, mode=fast)")
    assert b.spec == text and voxaug.Pipeline(b).spec == voxaug.Pipeline(text).spec
    assert voxaug.Pipeline([ops.Clip(0, 1), "zscore"]).spec == voxaug.Pipeline("clip(0,1) zscore").spec
    # Several values with a range among them; a choice by name.
    assert ops.Zoom([(0.9, 1.1), 1, 1.2]).spec == "zoom(z=[0.9,1.1],1,1.2)"
    assert ops.Sampling(order=0, mode="reflect").spec == "sampling(order=0, mode=reflect)"
    with pytest.raises(TypeError, match="no parameter 'angel'"):
        ops.Rotate(angel=3)
    with pytest.raises(TypeError, match="needs 'angle'"):
        ops.Rotate()
    with pytest.raises(ValueError, match="not one of"):
        ops.Elastic(mode="slow")


def test_every_op_of_the_table_has_a_documented_class():
    names = [d["name"] for d in ops.TABLE]
    assert names[0] == "sampling" and "elastic" in names and "random_crop" in names
    for d in ops.TABLE:
        cls = getattr(ops, "".join(w[:1].upper() + w[1:] for w in d["name"].split("_")))
        assert cls.name == d["name"] and d["doc"] in cls.__doc__
        for pd in d["params"]:
            assert f"    {pd['name']}: " in cls.__doc__


def test_errors_carry_the_library_message(ctx, tmp_path, rng):
    with pytest.raises(voxaug.ParseError, match="unknown op 'rotat'") as e:
        voxaug.Pipeline("rotat(15)")
    assert e.value.status_name == "VXA_ERR_PARSE"
    with pytest.raises(voxaug.ParseError, match="out of range|outside|bounds|must"):
        voxaug.Pipeline("rotate(1000)")
    bad = tmp_path / "bad.nii"
    bad.write_bytes(b"not a nifti file at all" * 20)
    with pytest.raises(voxaug.FileError) as e:
        voxaug.load(bad)
    assert str(bad) in e.value.message and e.value.status_name in ("VXA_ERR_FORMAT", "VXA_ERR_IO")
    with pytest.raises(voxaug.FileError, match="missing.nii"):
        voxaug.load(tmp_path / "missing.nii")
    with pytest.raises(voxaug.FileError, match="no_such_dir"):
        voxaug.save(tmp_path / "no_such_dir" / "x.nii", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(voxaug.DeviceError) as e:
        voxaug.Context("no such device name")
    assert e.value.status_name == "VXA_ERR_NOT_FOUND" and "no such device name" in e.value.message
    # A run-time failure: crop larger than the input, the library's message through vxa_last_error.
    with pytest.raises(voxaug.VoxaugError, match="crop") as e:
        voxaug.Pipeline("crop(9,9,9)")(np.zeros((4, 4, 4), np.float32), ctx=ctx)
    assert e.value.status_name == "VXA_ERR_INVALID_ARGUMENT"
    # A label map on another grid than the image.
    with pytest.raises(voxaug.VoxaugError) as e:
        voxaug.Pipeline("zscore")(np.zeros((4, 4, 4), np.float32), label=np.zeros((4, 4, 5), np.uint8), ctx=ctx)
    assert e.value.message


def test_same_seed_same_result_and_contexts_agree(ctx, rng):
    x = rng.random((20, 21, 22), dtype=np.float32)
    pipe = voxaug.Pipeline(STANDARD.replace("96,96,96", "16,16,16"))
    a = pipe(x, seed=5, sample=9, ctx=ctx)[0]
    b = pipe(x, seed=5, sample=9, ctx=ctx)[0]
    c = pipe(x, seed=5, sample=10, ctx=ctx)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(voxaug.InvalidArgumentError, match="unsigned 64-bit"):
        pipe(x, seed=-1, ctx=ctx)
    with voxaug.Context("reference") as ref:
        r = pipe(x, seed=5, sample=9, ctx=ref)[0]
    assert np.abs(r - a).max() <= 1e-4 * (a.max() - a.min())


def test_composition_and_patch_sampling_ops():
    """OneOf/SomeOf/Shuffle take ops first, their parameters by keyword; FgCrop's classes are a list; the draw
    record says what was picked and where the patch went."""
    o = ops.OneOf(ops.Flip(axes=0), ops.Rotate(10), weights=[2, 1], p=0.5)
    assert o.spec == "one_of(flip(axes=0), rotate(angle=10), weights=2,1, p=0.5)"
    s = ops.SomeOf(ops.Noise(0.1), "gamma(1.2)", n=(1, 2)) + ops.Shuffle(ops.Zscore(), ops.Minmax())
    assert s.spec == "some_of(noise(std=0.1), gamma(1.2), n=[1,2]) shuffle(zscore(), minmax())"
    x = np.arange(20 * 18 * 16, dtype=np.float32).reshape(20, 18, 16)
    lab = np.zeros(x.shape, np.uint8)
    lab[17, 15, 13] = 4
    pipe = voxaug.Pipeline(ops.FgCrop(8, p_fg=1, classes=[4]) + ops.OneOf(ops.Flip(axes=0), ops.Flip(axes=1)))
    for sample in range(4):
        _, out_lab, draw = pipe(x, lab, seed=1, sample=sample)
        assert out_lab.shape == (8, 8, 8) and (out_lab == 4).any()
        rec = draw["ops"]
        assert rec[0]["op"] == "fg_crop" and rec[0]["voxel"] == [17, 15, 13] and rec[0]["start"] == [13, 11, 9]
        assert rec[1]["op"] == "one_of" and rec[1]["chosen"] in ([0], [1]) and rec[2]["op"] == "flip"


def test_geometry_content_keeps_the_affine_track_follows_the_voxels(ctx, rng):
    """SPEC "Geometry": a rotation of a 1x1x3 mm volume keeps its affine by default; with
    ops.Sampling(geometry="track") the affine follows the voxels and stays orthogonal with the input's spacing
    (the rotation acts in millimetres)."""
    x = rng.random((12, 10, 8), dtype=np.float32)
    aff = np.diag([1.0, 1.0, 3.0, 1.0])
    rot = ops.Rotate(30, plane=[0, 2])
    _, _, d = voxaug.Pipeline(rot)(x, affine=aff, ctx=ctx)
    assert np.array_equal(d["affine"], aff)
    track = ops.Sampling(geometry="track")
    assert track.spec == "sampling(geometry=track)"
    _, _, d = voxaug.Pipeline(track + rot)(x, affine=aff, ctx=ctx)
    m = np.asarray(d["affine"])[:3, :3]
    assert not np.allclose(m, aff[:3, :3])
    assert np.allclose(np.sqrt((m ** 2).sum(axis=0)), [1, 1, 3])
    assert np.allclose(m.T @ m, np.diag([1.0, 1.0, 9.0]))
