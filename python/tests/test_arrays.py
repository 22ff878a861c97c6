# SPDX-License-Identifier: MIT
"""Arrays in and out: every dtype the library reads, every layout, what is copied and what is not."""
import ctypes

import numpy as np
import pytest

import voxaug
from voxaug import _core

DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
SHAPE = (7, 5, 6)


def _values(rng, dtype, shape):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt) * 100
    info = np.iinfo(dt)
    # Extremes included: float32 holds every int8..int16/uint16 value exactly, and the int32/uint32 values are
    # kept to 2^24 so that their float32 image is exact too.
    lo, hi = max(info.min, -(2**24)), min(info.max, 2**24)
    a = rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)
    a.flat[0], a.flat[-1] = lo, hi
    return a


def _layouts(a):
    """(name, array, copy expected) for one Fortran-ordered array a of 3 or 4 dims."""
    yield "fortran", a, False
    yield "c", np.ascontiguousarray(a), a.ndim > 1
    big = np.zeros(tuple(2 * n for n in a.shape), dtype=a.dtype, order="F")
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    yield "strided", view, True
    yield "reversed", np.asfortranarray(a[::-1])[::-1], True  # negative stride along i
    sw = a.astype(a.dtype.newbyteorder("S"), order="F")
    yield "byteswapped", sw, a.dtype.itemsize > 1
    # A Fortran-ordered array sliced along the last axis stays Fortran-contiguous: no copy.
    yield "fortran_slab", np.asfortranarray(np.concatenate([a, a], axis=-1))[..., : a.shape[-1]], False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [None, 2])
def test_round_trip_every_dtype_and_layout(ctx, rng, dtype, channels):
    shape = SHAPE if channels is None else SHAPE + (channels,)
    base = np.asfortranarray(_values(rng, dtype, shape))
    # crop to the whole shape: an exact copy of every voxel, and of the label map in its own dtype
    pipe = voxaug.Pipeline(voxaug.ops.Crop(list(SHAPE)))
    for name, a, copies in _layouts(base):
        v, held = _core.as_volume(a)
        shares = np.shares_memory(held, a) and v.data == a.ctypes.data
        assert shares == (not copies), f"{dtype} {name}: copy {not shares}, expected {copies}"
        assert held.flags.f_contiguous and held.dtype.isnative
        img, lab, draw = pipe(a, label=a if np.dtype(dtype).kind in "iu" and channels is None else None, ctx=ctx)
        assert img.dtype == np.float32 and img.shape == a.shape and img.flags.f_contiguous
        assert np.array_equal(img, base.astype(np.float32)), f"{dtype} {name}"
        if lab is not None:
            assert lab.dtype == np.dtype(dtype) and np.array_equal(lab, base), f"{dtype} {name} label"


def test_output_views_the_library_memory(ctx, rng):
    x = np.asfortranarray(rng.random((9, 8, 7), dtype=np.float32))
    img, _, _ = voxaug.Pipeline("noise(0.1)")(x, ctx=ctx)
    owner = img.base
    assert isinstance(owner, _core._Owned)  # the library's buffer, not a NumPy copy of it
    assert img.__array_interface__["data"][0] == owner.__array_interface__["data"][0]
    del owner
    view = img[1:3]
    del img
    assert np.isfinite(view).all()  # the view keeps the volume alive


def test_other_dtypes_convert_once(ctx, rng):
    pipe = voxaug.Pipeline("crop(4,3,2)")
    b = rng.random((4, 3, 2)) > 0.5
    img, lab, _ = pipe(b, label=b, ctx=ctx)
    assert np.array_equal(img, b.astype(np.float32)) and lab.dtype == np.uint8 and np.array_equal(lab, b)
    h = rng.random((4, 3, 2)).astype(np.float16)
    assert np.array_equal(pipe(h, ctx=ctx)[0], h.astype(np.float32))
    i64 = rng.integers(-1000, 1000, (4, 3, 2))
    img, lab, _ = pipe(i64, label=i64, ctx=ctx)
    assert lab.dtype == np.int32 and np.array_equal(lab, i64) and np.array_equal(img, i64.astype(np.float32))
    with pytest.raises(voxaug.InvalidArgumentError, match="do not fit int32"):
        pipe(i64, label=i64 * 2**40, ctx=ctx)
    with pytest.raises(voxaug.InvalidArgumentError, match="integer dtype"):
        pipe(h, label=h, ctx=ctx)
    with pytest.raises(voxaug.InvalidArgumentError, match="complex128"):
        pipe(h.astype(complex), ctx=ctx)
    with pytest.raises(voxaug.InvalidArgumentError, match=r"\(i, j, k\)"):
        pipe(np.zeros((3, 3)), ctx=ctx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nifti_round_trip_through_the_library(tmp_path, rng, dtype):
    import nibabel as nib
    a = _values(rng, dtype, SHAPE + (2,))
    aff = np.array([[0, 0, 2.0, -5], [-1.0, 0, 0, 3], [0, 1.5, 0, 1], [0, 0, 0, 1]])
    voxaug.save(tmp_path / "x.nii.gz", np.ascontiguousarray(a), affine=aff)
    back = voxaug.load(tmp_path / "x.nii.gz")
    assert back.data.dtype == np.dtype(dtype) and np.array_equal(back.data, a) and np.allclose(back.affine, aff)
    assert isinstance(back.data.base, _core._Owned)  # a view of what vxa_nifti_read allocated
    ni = nib.load(tmp_path / "x.nii.gz")
    assert np.array_equal(np.asanyarray(ni.dataobj), a) and np.allclose(ni.affine, aff)


def test_nibabel_image_in_gives_nibabel_images_out(ctx, rng):
    import nibabel as nib
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    img = nib.Nifti1Image(rng.random((8, 8, 8), dtype=np.float32), aff)
    lab = nib.Nifti1Image((rng.random((8, 8, 8)) * 4).astype(np.uint8), aff)
    out, olab, draw = voxaug.Pipeline("resample(4)")(img, label=lab, ctx=ctx)
    assert isinstance(out, nib.Nifti1Image) and out.shape == (4, 4, 4) and out.get_data_dtype() == np.float32
    assert np.allclose(out.affine, draw["affine"]) and np.allclose(np.diag(out.affine)[:3], 4.0)
    assert olab.get_data_dtype() == np.uint8


def test_affine_in_and_out(ctx, rng):
    x = rng.random((10, 12, 14), dtype=np.float32)
    aff = np.array([[0, 0, 1.0, -7], [0, -1.0, 0, 6], [2.0, 0, 0, 5], [0, 0, 0, 1]])
    pipe = voxaug.Pipeline("crop(4,5,6, start=1,2,3)")
    _, _, draw = pipe(x, affine=aff, ctx=ctx)
    want = aff @ np.array([[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1.0]])
    assert np.allclose(draw["affine"], want)
    assert pipe.output_shape(x) == (4, 5, 6) and pipe.output_shape((10, 12, 14, 3)) == (4, 5, 6, 3)
    with pytest.raises(voxaug.InvalidArgumentError, match="4x4"):
        pipe(x, affine=np.eye(3), ctx=ctx)


def test_volume_pointer_is_the_array_pointer():
    a = np.zeros((3, 4, 5), dtype=np.float32, order="F")
    v, held = _core.as_volume(a)
    assert held is a and v.data == a.ctypes.data and ctypes.sizeof(v) > 0
