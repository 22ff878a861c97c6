#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the bad-NIfTI corpus into tests/data/bad/: one small file per way a file can be broken.

Deterministic (fixed seeds, gzip mtime 0), so re-running it gives the same bytes. tests/test_nifti_bad.c has
one test per file, with the status and message voxaug must give; tests/cli/bad_input.sh runs `voxaug info` on
every file here. Headers are packed by hand with struct (not nibabel) so that any field can be set to any value.

usage: /usr/bin/python3 scripts/make_bad_nifti.py [OUTDIR]
"""
import gzip
import os
import struct
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "tests", "data", "bad")

DTYPES = {2: ("u1", 8), 4: ("i2", 16), 8: ("i4", 32), 16: ("f4", 32), 64: ("f8", 64), 256: ("i1", 8),
          512: ("u2", 16), 768: ("u4", 32)}


def n1_header(dim=(3, 4, 5, 6, 1, 1, 1, 1), datatype=4, bitpix=None, pixdim=(1, 1, 1, 1, 1, 1, 1, 1),
              vox_offset=352.0, scl_slope=1.0, scl_inter=0.0, magic=b"n+1\0", sizeof_hdr=348, sform_code=0,
              qform_code=0, srow=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0)), quatern=(0, 0, 0, 0, 0, 0),
              endian="<"):
    """A NIfTI-1 header (348 bytes), every field settable (nifti1.h layout)."""
    if bitpix is None:
        bitpix = DTYPES.get(datatype, ("", 8))[1]
    e = endian
    h = bytearray(348)
    struct.pack_into(e + "i", h, 0, sizeof_hdr)
    struct.pack_into(e + "8h", h, 40, *dim)
    struct.pack_into(e + "hhh", h, 70, datatype, bitpix, 0)
    struct.pack_into(e + "8f", h, 76, *pixdim)
    struct.pack_into(e + "fff", h, 108, vox_offset, scl_slope, scl_inter)
    struct.pack_into("B", h, 123, 10)  # xyzt_units: mm, s
    h[148:148 + 20] = b"voxaug bad corpus".ljust(20, b"\0")
    struct.pack_into(e + "hh", h, 252, qform_code, sform_code)
    struct.pack_into(e + "6f", h, 256, *quatern)
    struct.pack_into(e + "12f", h, 280, *[x for row in srow for x in row])
    h[344:348] = magic
    return bytes(h)


def n2_header(dim=(3, 4, 5, 6, 1, 1, 1, 1), datatype=4, bitpix=None, pixdim=(1, 1, 1, 1, 1, 1, 1, 1),
              vox_offset=544, scl_slope=1.0, scl_inter=0.0, magic=b"n+2\0\r\n\x1a\n", endian="<"):
    """A NIfTI-2 header (540 bytes), nifti2.h layout."""
    if bitpix is None:
        bitpix = DTYPES.get(datatype, ("", 8))[1]
    e = endian
    h = bytearray(540)
    struct.pack_into(e + "i", h, 0, 540)
    h[4:12] = magic
    struct.pack_into(e + "hh", h, 12, datatype, bitpix)
    struct.pack_into(e + "8q", h, 16, *dim)
    struct.pack_into(e + "8d", h, 104, *pixdim)
    struct.pack_into(e + "qdd", h, 168, vox_offset, scl_slope, scl_inter)
    h[240:240 + 20] = b"voxaug bad corpus".ljust(20, b"\0")
    struct.pack_into(e + "i", h, 500, 10)
    return bytes(h)


def data_for(dim, datatype, endian="<", seed=0):
    """Random bytes of the right size for the header's shape (all dims up to dim[0])."""
    n = 1
    for i in range(1, (dim[0] if 1 <= dim[0] <= 7 else 3) + 1):
        n *= max(dim[i], 1)
    code, _ = DTYPES[datatype]
    rng = np.random.RandomState(seed)
    return (rng.randint(0, 100, size=n)).astype(endian + code).tobytes()


def good_n1(**kw):
    """A valid single-file NIfTI-1: header, 4-byte extender, data."""
    h = n1_header(**kw)
    return h + b"\0\0\0\0" + data_for(kw.get("dim", (3, 4, 5, 6, 1, 1, 1, 1)), kw.get("datatype", 4),
                                      kw.get("endian", "<"))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):  # start clean: the corpus is exactly what this script writes
        os.remove(os.path.join(OUT, f))

    # not NIfTI at all, or cut short
    write("empty.nii", b"")
    write("not_nifti.nii", b"This is a text file, not a NIfTI volume.\n" * 12)
    write("sizeof_hdr_1000.nii", n1_header(sizeof_hdr=1000) + b"\0" * 400)
    write("truncated_header.nii", good_n1()[:200])
    write("truncated_header_n2.nii", n2_header()[:400])
    write("bad_magic.nii", good_n1(magic=b"xyz\0"))
    write("analyze_no_magic.nii", good_n1(magic=b"\0\0\0\0"))
    write("magic_n2_in_n1.nii", good_n1(magic=b"n+2\0"))
    write("bad_magic_n2.nii", n2_header(magic=b"n+2\0\0\0\0\0") + b"\0" * 4 + data_for((3, 4, 5, 6), 4))
    write("pair_magic_in_nii.nii", good_n1(magic=b"ni1\0"))

    # dimensions
    write("dim0_zero.nii", good_n1(dim=(0, 4, 5, 6, 1, 1, 1, 1)))
    write("dim0_nine.nii", good_n1(dim=(9, 4, 5, 6, 1, 1, 1, 1)))
    write("dim0_nine_be.nii", good_n1(dim=(9, 4, 5, 6, 1, 1, 1, 1), endian=">"))
    write("dim_zero.nii", good_n1(dim=(3, 4, 0, 6, 1, 1, 1, 1)))
    write("dim_negative.nii", good_n1(dim=(3, 4, 5, -6, 1, 1, 1, 1)))
    write("dim_negative_n2.nii", n2_header(dim=(3, 4, -5, 6, 1, 1, 1, 1)) + b"\0" * 4)
    write("dims_overflow_n2.nii", n2_header(dim=(3, 1 << 40, 1 << 40, 1 << 40, 1, 1, 1, 1)) + b"\0" * 4)
    write("two_extra_dims.nii", good_n1(dim=(5, 2, 2, 2, 2, 3, 1, 1)))
    write("huge_dims_small_file.nii", n1_header(dim=(3, 32767, 32767, 32767, 1, 1, 1, 1)) + b"\0" * 100)
    write("huge_dims_small_file.nii.gz", gz(n1_header(dim=(3, 32767, 32767, 32767, 1, 1, 1, 1)) + b"\0" * 100))

    # data type
    write("bitpix_mismatch.nii", good_n1(datatype=4, bitpix=8))
    write("datatype_unknown_zero.nii", n1_header(datatype=0, bitpix=8) + b"\0" * 200)
    write("datatype_invalid.nii", n1_header(datatype=9999, bitpix=8) + b"\0" * 200)
    # int64 and uint64 are read (narrowed exactly): tests/data/dtype_int64.nii and dtype_uint64.nii, not bad ones
    for code, bits, name in [(1, 1, "binary"), (32, 64, "complex64"), (128, 24, "rgb24"),
                             (1536, 128, "float128"), (1792, 128, "complex128"), (2304, 32, "rgba32")]:
        n = 4 * 5 * 6 * max(bits // 8, 1)
        write("dtype_%s.nii" % name, n1_header(datatype=code, bitpix=bits) + b"\0" * 4 + bytes(n))

    # where the data are
    write("vox_offset_small.nii", good_n1(vox_offset=100.0))
    write("vox_offset_negative.nii", good_n1(vox_offset=-352.0))
    write("vox_offset_fraction.nii", good_n1(vox_offset=352.5))
    write("vox_offset_nan.nii", good_n1(vox_offset=float("nan")))
    write("vox_offset_past_end.nii", good_n1(vox_offset=1e6))
    write("vox_offset_past_end.nii.gz", gz(good_n1(vox_offset=4000.0)))
    write("vox_offset_huge.nii.gz", gz(good_n1(vox_offset=1e9)))
    write("vox_offset_small_n2.nii", n2_header(vox_offset=348) + b"\0" * 4 + data_for((3, 4, 5, 6), 4))
    good = good_n1()
    write("truncated_data.nii", good[:352 + 100])
    write("truncated_data.nii.gz", gz(good[:352 + 100]))
    write("truncated_data_be.nii", good_n1(endian=">")[:352 + 100])

    # gzip damage: a volume big enough that the stream has several blocks' worth of bytes
    big = good_n1(dim=(3, 12, 12, 12, 1, 1, 1, 1), datatype=16)
    stream = gz(big)
    write("truncated_gzip.nii.gz", stream[:len(stream) // 2])
    write("gzip_missing_trailer.nii.gz", stream[:-8])
    corrupt = bytearray(stream)
    for i in range(len(stream) // 2, len(stream) // 2 + 16):
        corrupt[i] ^= 0x5A
    write("corrupt_gzip.nii.gz", bytes(corrupt))
    bad_crc = bytearray(stream)
    bad_crc[-8] ^= 0xFF  # CRC32 of the trailer
    write("gzip_bad_crc.nii.gz", bytes(bad_crc))
    bad_method = bytearray(stream)
    bad_method[2] = 7  # compression method 7: not deflate
    write("gzip_bad_method.nii.gz", bytes(bad_method))

    # a .hdr whose .img is missing
    write("pair_no_img.hdr", n1_header(magic=b"ni1\0", vox_offset=0.0))

    # spacing and scaling
    write("pixdim_nan.nii", good_n1(pixdim=(1, 1, float("nan"), 1, 1, 1, 1, 1)))
    write("pixdim_inf.nii", good_n1(pixdim=(1, float("inf"), 1, 1, 1, 1, 1, 1)))
    write("pixdim_zero.nii", good_n1(pixdim=(1, 0, 1, 1, 1, 1, 1, 1)))
    write("pixdim_negative.nii", good_n1(pixdim=(1, 1, 1, -2, 1, 1, 1, 1)))
    write("pixdim_nan_n2.nii", n2_header(pixdim=(1, 1, 1, float("nan"), 1, 1, 1, 1)) + b"\0" * 4
          + data_for((3, 4, 5, 6), 4))
    write("scl_inter_nan.nii", good_n1(scl_slope=2.0, scl_inter=float("nan")))
    write("scl_inter_inf.nii", good_n1(scl_slope=0.5, scl_inter=float("-inf")))

    # geometry
    write("srow_nan.nii", good_n1(sform_code=1, srow=((1, 0, 0, float("nan")), (0, 1, 0, 0), (0, 0, 1, 0))))
    write("quatern_inf.nii", good_n1(qform_code=1, quatern=(0, 0, 0, float("inf"), 0, 0)))


if __name__ == "__main__":
    main()
