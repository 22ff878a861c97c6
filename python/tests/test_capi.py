# SPDX-License-Identifier: MIT
"""The ctypes mirrors of voxaug.h against what the library itself writes and reports."""
import ctypes

import numpy as np

import voxaug
from voxaug import _capi


def test_option_mirrors_match_the_library():
    # The _init_size functions zero what they know and set size: every mirrored field reads as its default, and
    # a mirror missing a field the library writes would show the 0xAB pattern in the next one.
    for cls, init in ((_capi.ContextOptions, _capi.lib.vxa_context_options_init_size),
                      (_capi.RunOptions, _capi.lib.vxa_run_options_init_size),
                      (_capi.ResidentOptions, _capi.lib.vxa_resident_options_init_size),
                      (_capi.InvertOptions, _capi.lib.vxa_invert_options_init_size),
                      (_capi.InvertReport, _capi.lib.vxa_invert_report_init_size)):
        o = cls()
        assert o.size == ctypes.sizeof(cls)
        ctypes.memset(ctypes.byref(o), 0xAB, ctypes.sizeof(o))
        init(ctypes.byref(o), ctypes.sizeof(o))
        raw = ctypes.string_at(ctypes.byref(o), ctypes.sizeof(o))
        assert o.size == ctypes.sizeof(cls) and raw[8:] == bytes(len(raw) - 8), cls.__name__


def test_volume_mirror_matches_vxa_volume_init():
    # vxa_volume_init writes every field it sets at the C offsets: a mirror with a field moved, resized or
    # missing reads them elsewhere.
    v = _capi.Volume()
    ctypes.memset(ctypes.byref(v), 0xAB, ctypes.sizeof(v))
    dim = (ctypes.c_int64 * 3)(7, 8, 9)
    _capi.lib.vxa_volume_init_size(ctypes.byref(v), ctypes.sizeof(v), dim, 3, _capi.DTYPES["int16"])
    assert v.size == ctypes.sizeof(v) and list(v.dim) == [7, 8, 9] and v.channels == 3 and v.dtype == 4
    assert np.array_equal(np.array(v.affine), np.eye(4))
    assert list(v.spacing) == [1.0, 1.0, 1.0]
    assert v.scl_slope == 0 and v.scl_inter == 0 and v.sform_code == 0 and v.qform_code == 0
    assert v.xyzt_units == 2 and v.toffset == 0 and v.tr == 0 and v.descrip == b"" and v.data is None


def test_volume_mirror_matches_the_reader(tmp_path, rng):
    # A file written by nibabel with known geometry and scaling, read by vxa_nifti_read into the mirror.
    import nibabel as nib
    aff = np.array([[0, -2.0, 0, 10], [1.5, 0, 0, -3], [0, 0, 3.0, 7], [0, 0, 0, 1]])
    img = nib.Nifti1Image(rng.integers(-50, 50, (5, 6, 7, 2)).astype(np.int16), aff)
    img.header.set_slope_inter(2.0, -1.0)
    nib.save(img, tmp_path / "a.nii")
    got, ref = voxaug.load(tmp_path / "a.nii"), nib.load(tmp_path / "a.nii")
    assert got.data.shape == (5, 6, 7, 2) and got.data.dtype == np.int16
    assert np.array_equal(got.data, ref.dataobj.get_unscaled())
    assert np.allclose(got.affine, aff) and (got.scl_slope, got.scl_inter) == (ref.dataobj.slope, ref.dataobj.inter)
    assert got.scaled and np.array_equal(np.asarray(got), np.asarray(ref.dataobj, dtype=np.float32))


def test_status_names_and_errors_carry_the_library_message():
    assert _capi.STATUS["VXA_OK"] == 0
    assert _capi.status_name(_capi.STATUS["VXA_ERR_PARSE"]) == "VXA_ERR_PARSE"
    try:
        voxaug.Pipeline("rotate(15) zoom(0.9,")
    except voxaug.ParseError as e:
        assert e.status_name == "VXA_ERR_PARSE" and "column" in e.message and "^" in e.message
        assert isinstance(e, ValueError)
    else:
        raise AssertionError("a bad spec parsed")


def test_item_sample_is_the_documented_formula():
    def fnv1a(b):
        h = 0xcbf29ce484222325
        for c in b:
            h = ((h ^ c) * 0x100000001b3) & (2**64 - 1)
        return h

    def mix(x):
        x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & (2**64 - 1)
        x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & (2**64 - 1)
        return x ^ (x >> 31)

    for name in ["", "ch2.nii.gz", "sub-01/anat/T1w.nii.gz", "caf\u00e9.nii"]:
        for copy in [0, 1, 5, 2**64 - 1]:
            want = mix(fnv1a(name.encode()) ^ ((copy * 0x9e3779b97f4a7c15) & (2**64 - 1)))
            assert voxaug.item_sample(name, copy) == want
