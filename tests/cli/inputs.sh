#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What voxaug reads (issue 16, items 5, 7 and 8): the NIfTI reader checks a .nii.gz to the end of its gzip
# stream and rejects a singular affine when the file is read; augment's --list has limits that are errors.
#  - a flipped voxel byte with 2 MiB of stream after the voxel data: the CRC32 mismatch is reported (it was
#    read silently: the reader stopped one byte after the data); the same file with a right CRC reads, and a
#    wrong ISIZE is reported too
#  - an all-zero srow (sform_code 1) or a rank-2 one: `info`, `preview` and `apply` fail naming the input and
#    srow_x..z, and apply runs nothing (no output, no mention of the output)
#  - --list: a line over 8191 characters is an error naming the line (it was split into two items), a NUL byte
#    too, and `--list /dev/zero` ends at once (it never ended); a line of exactly 8191 characters is one item
# usage: bash inputs.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: inputs.sh CLI DATA_DIR}
py=/usr/bin/python3
export VOXAUG_DEVICE=reference  # about files, not devices: the C path starts at once (2 min less under ASan)
tmp=$(mktemp -d /tmp/vxa_inputs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
pass=0; fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }

"$py" - <<'EOF' || exit 1
import struct, zlib
import numpy as np
import nibabel as nib

def nifti_bytes(srow=None, extra=0):
    img = nib.Nifti1Image(np.arange(8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8), np.diag([2.0, 2.0, 2.0, 1.0]))
    img.header.set_sform(np.diag([2.0, 2.0, 2.0, 1.0]), code=1)
    h = img.header
    h["vox_offset"] = 352
    raw = bytearray(h.binaryblock) + b"\0" * 4 + img.get_fdata(dtype=np.float32).tobytes(order="F")
    if srow is not None:
        for r in range(3): raw[280 + 16 * r: 296 + 16 * r] = struct.pack("<4f", *srow[r])
    return bytes(raw) + b"\0" * extra

def gzip_of(payload, crc_of=None, isize=None):
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = c.compress(payload) + c.flush()
    crc = zlib.crc32(crc_of if crc_of is not None else payload)
    n = len(payload) if isize is None else isize
    return b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + body + struct.pack("<II", crc & 0xffffffff, n & 0xffffffff)

good = nifti_bytes(extra=2 << 20)  # 2 MiB of zeros in the stream after the voxel data (vox_offset 352)
flipped = bytearray(good); flipped[352 + 1000] ^= 0x40
open("trailing_ok.nii.gz", "wb").write(gzip_of(good))
open("trailing_bad_crc.nii.gz", "wb").write(gzip_of(bytes(flipped), crc_of=good))
open("trailing_bad_isize.nii.gz", "wb").write(gzip_of(good, isize=len(good) + 1))
open("srow_zero.nii", "wb").write(nifti_bytes(srow=[[0] * 4] * 3))
open("srow_rank2.nii.gz", "wb").write(gzip_of(nifti_bytes(srow=[[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 5]])))
open("srow_ok.nii", "wb").write(nifti_bytes(srow=[[0, 0, 1e-3, 0], [0, 1e-3, 0, 0], [-1e-3, 0, 0, 5]]))
EOF

"$cli" info trailing_ok.nii.gz > out 2> err; rc=$?
check "2 MiB after the data, right CRC: reads ($(cat err))" '[ $rc -eq 0 ]'
"$cli" info trailing_bad_crc.nii.gz > out 2> err; rc=$?
check "2 MiB after the data, flipped voxel byte: exit 1 naming the file and the check ($(cat err))" \
    '[ $rc -eq 1 ] && grep -q "trailing_bad_crc.nii.gz: .*incorrect data check" err'
"$cli" info trailing_bad_isize.nii.gz > out 2> err; rc=$?
check "wrong ISIZE: exit 1 naming the file ($(cat err))" \
    '[ $rc -eq 1 ] && grep -q "trailing_bad_isize.nii.gz: .*incorrect length check" err'
for f in srow_zero.nii srow_rank2.nii.gz; do
    "$cli" info "$f" > out 2> err; rc=$?
    check "$f: info fails naming the file and srow ($(cat err))" \
        '[ $rc -eq 1 ] && grep -q "$f: srow_x..z (sform) is singular" err'
    "$cli" preview "$f" -o p.png > out 2> err; rc=$?
    check "$f: preview fails, no picture ($(cat err))" '[ $rc -eq 1 ] && grep -q "$f: srow" err && [ ! -e p.png ]'
    "$cli" apply "$f" --ops "zoom(1.5)" -o o.nii.gz > out 2> err; rc=$?
    check "$f: apply fails on the input, not the output ($(cat err))" \
        '[ $rc -eq 1 ] && grep -q "$f: srow" err && ! grep -q o.nii.gz err && [ ! -e o.nii.gz ]'
done
"$cli" info srow_ok.nii > out 2> err; rc=$?
check "a 1e-3 mm rotated grid is not singular ($(cat err))" '[ $rc -eq 0 ]'

# ---- --list limits ------------------------------------------------------------------------------------------
mkdir lo
{ echo "# a list"; echo "trailing_ok.nii.gz"; printf 'x%.0s' $(seq 8200); echo; } > long.list
timeout 20 "$cli" augment --ops "flip(axes=0)" -o lo -q --list long.list > out 2> err; rc=$?
check "--list: an 8200-character line is an error naming line 3 ($(cat err))" \
    '[ $rc -eq 2 ] && grep -q "long.list: line 3 is longer than 8191 characters" err && [ -z "$(ls -A lo)" ]'
timeout 20 "$cli" augment --ops "flip(axes=0)" -o lo -q --list /dev/zero > out 2> err; rc=$?
check "--list /dev/zero ends with an error ($(cat err))" '[ $rc -eq 2 ] && grep -q "/dev/zero: line 1 holds a NUL byte" err'
printf 'trailing_ok.nii.gz\nsrow_ok.nii\0\n' > nul.list
"$cli" augment --ops "flip(axes=0)" -o lo -q --list nul.list > out 2> err; rc=$?
check "--list: a NUL byte is an error naming line 2 ($(cat err))" '[ $rc -eq 2 ] && grep -q "nul.list: line 2 holds a NUL" err'
# one subject, named in one message (augment refuses its 8191-character output names before reading: exit 2)
printf '%s\n' "$(printf 'z%.0s' $(seq 8191))" > max.list
"$cli" augment --ops "flip(axes=0)" -o lo -q --list max.list > out 2> err; rc=$?
check "--list: an 8191-character line is one item (a missing file, not a split) ($(head -c 200 err))" \
    '{ [ $rc -eq 1 ] || [ $rc -eq 2 ]; } && [ "$(grep -c "^voxaug augment: subject " err)" -eq 1 ]'

echo "inputs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
