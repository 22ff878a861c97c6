#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# voxaug preview on real data (ch2 with the AAL labels, nibabel's 4D example) checked with Python: a PNG by its
# signature, IHDR size and CRCs; failures (label on another grid, unwritable output) leave no file. voxaug demo
# writes exactly the files it lists, and they read back. Exit 77 when neither ch2 nor nibabel's data is there.
# usage: bash preview_demo.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: preview_demo.sh CLI DATA_DIR}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/vxa_preview_demo.XXXXXX)
trap 'chmod -R u+w "$tmp" 2> /dev/null; rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
crashed() { grep -qE "Sanitizer|runtime error|core dumped|Segmentation|Aborted" "$1"; }

# png_check FILE [WIDTH HEIGHT]: a PNG with a valid signature and chunk CRCs, an IHDR first and an IEND last,
# 8-bit RGB or grey; prints "WIDTH HEIGHT".
png_check() {
    "$py" - "$@" << 'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
pos, chunks = 8, []
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(kind + body) == crc, "bad CRC in %r" % kind
    chunks.append((kind, body))
    pos += 12 + n
assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", [c[0] for c in chunks]
w, h, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
assert depth == 8 and colour in (0, 2), (depth, colour)
raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
assert len(raw) == h * (1 + w * (3 if colour == 2 else 1)), "IDAT holds %d bytes" % len(raw)
if len(sys.argv) > 3:
    assert (w, h) == (int(sys.argv[2]), int(sys.argv[3])), (w, h)
print(w, h)
EOF
}

ch2=/usr/share/mricron/templates/ch2.nii.gz
aal=/usr/share/mricron/templates/aal.nii.gz
nib=/usr/lib/python3/dist-packages/nibabel/tests/data
ran=0

if [ -r "$ch2" ] && [ -r "$aal" ]; then
    ran=1
    "$cli" preview "$ch2" --label "$aal" -o "$tmp/ch2.png" 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq 0 ] && ok || bad "ch2 + aal: exit $rc: $(cat "$tmp/err")"
    # sagittal 217x181, coronal 181x181, axial 181x217 (1 mm), 4 px gaps, enlarged 2x: 1166 x 434
    size=$(png_check "$tmp/ch2.png" 1166 434) && ok || bad "ch2 + aal: not the PNG expected: $size"
    # the overlay is in colour: some pixels have R != G
    "$py" - "$tmp/ch2.png" << 'EOF' && ok || bad "ch2 + aal: no coloured (label) pixels"
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
pos, idat, ihdr = 8, b"", None
while pos < len(d):
    n, k = struct.unpack(">I4s", d[pos:pos + 8]); b = d[pos + 8:pos + 8 + n]; pos += 12 + n
    if k == b"IHDR": ihdr = b
    if k == b"IDAT": idat += b
w, h, depth, colour = struct.unpack(">IIBB", ihdr[:10])
assert colour == 2
raw = zlib.decompress(idat)
stride, bpp = 3 * w, 3
prev, coloured = bytearray(stride), 0
for y in range(h):  # undo the five PNG row filters
    f, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
    cur = bytearray(stride)
    for x in range(stride):
        l = cur[x - bpp] if x >= bpp else 0
        u = prev[x]
        ul = prev[x - bpp] if x >= bpp else 0
        if f == 0: pred = 0
        elif f == 1: pred = l
        elif f == 2: pred = u
        elif f == 3: pred = (l + u) >> 1
        else:
            q = l + u - ul
            pl, pu, pul = abs(q - l), abs(q - u), abs(q - ul)
            pred = l if pl <= pu and pl <= pul else (u if pu <= pul else ul)
        cur[x] = (line[x] + pred) & 255
    coloured += sum(1 for x in range(0, stride, 3) if not cur[x] == cur[x + 1] == cur[x + 2])
    prev = cur
assert coloured > 100, coloured
EOF
    # a label map on another grid: exit 1, both named, no file
    if [ -r "$nib/anatomical.nii" ]; then
        "$cli" preview "$ch2" --label "$nib/anatomical.nii" -o "$tmp/grid.png" 2> "$tmp/err"
        rc=$?
        { [ "$rc" -eq 1 ] && ! crashed "$tmp/err" && grep -q "181x217x181" "$tmp/err" &&
          [ ! -e "$tmp/grid.png" ]; } && ok || bad "label on another grid: exit $rc: $(cat "$tmp/err")"
    fi
    # a float "label map": refused, no file
    "$cli" demo --size 16 -n 1 -o "$tmp/d16" > /dev/null 2>&1
    "$cli" preview "$tmp/d16/phantom.nii.gz" --label "$tmp/d16/phantom.nii.gz" -o "$tmp/float.png" 2> "$tmp/err"
    rc=$?
    { [ "$rc" -eq 1 ] && ! crashed "$tmp/err" && [ ! -e "$tmp/float.png" ]; } && ok ||
        bad "float label map: exit $rc: $(cat "$tmp/err")"
    # unwritable outputs: a read-only folder, a missing folder, a folder in the way; no file, no temporary
    mkdir "$tmp/ro"
    mkdir "$tmp/ro/in_the_way.png"
    chmod a-w "$tmp/ro"
    outs=("$tmp/missing/x.png" "$tmp/ro/in_the_way.png")
    [ "$(id -u)" -ne 0 ] && outs+=("$tmp/ro/x.png")  # root writes into a read-only folder
    for o in "${outs[@]}"; do
        "$cli" preview "$ch2" -o "$o" 2> "$tmp/err"
        rc=$?
        { [ "$rc" -eq 1 ] && ! crashed "$tmp/err" && grep -qF "$o" "$tmp/err"; } && ok ||
            bad "unwritable output $o: exit $rc: $(cat "$tmp/err")"
    done
    [ "$(ls -A "$tmp/ro")" = in_the_way.png ] && [ -z "$(ls -A "$tmp/ro/in_the_way.png")" ] && ok ||
        bad "files left in a read-only folder (running as root?): $(ls -AR "$tmp/ro")"
    [ ! -e "$tmp/missing" ] && ok || bad "the missing folder was created"
    left=$(compgen -G "$tmp/*.tmp*")
    [ -z "$left" ] && ok || bad "temporary file left: $left"
fi

if [ -r "$nib/example4d.nii.gz" ]; then
    ran=1
    for c in 0 1; do
        "$cli" preview "$nib/example4d.nii.gz" --channel $c -o "$tmp/4d_$c.png" 2> "$tmp/err"
        rc=$?
        [ "$rc" -eq 0 ] && ok || bad "4D channel $c: exit $rc: $(cat "$tmp/err")"
        png_check "$tmp/4d_$c.png" > "$tmp/size_$c" && ok || bad "4D channel $c: not a PNG"
    done
    cmp -s "$tmp/size_0" "$tmp/size_1" && ok || bad "4D: the channels give pictures of different sizes"
    cmp -s "$tmp/4d_0.png" "$tmp/4d_1.png" && bad "4D: channels 0 and 1 give the same picture" || ok
    "$cli" preview "$nib/example4d.nii.gz" --channel 2 -o "$tmp/4d_2.png" 2> "$tmp/err"
    rc=$?
    { [ "$rc" -eq 1 ] && [ ! -e "$tmp/4d_2.png" ]; } && ok || bad "4D channel 2 of 2: exit $rc"
fi

# ---- demo: writes the files it lists, exit 0, and they read back
"$cli" demo -o "$tmp/demo" --size 32 -n 2 > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "demo: exit $rc: $(cat "$tmp/err")"
files=$(ls "$tmp/demo" | tr '\n' ' ')
want="after0.png after1.png aug0.json aug0.nii.gz aug0_label.nii.gz aug1.json aug1.nii.gz aug1_label.nii.gz before.png phantom.nii.gz phantom_label.nii.gz "
[ "$files" = "$want" ] && ok || bad "demo wrote '$files', expected '$want'"
grep -q "^wrote phantom.nii.gz, phantom_label.nii.gz, before.png" "$tmp/out" && ok || bad "demo does not list its files"
tail -1 "$tmp/out" | grep -qx "$tmp/demo" && ok || bad "demo does not print its folder last: $(tail -1 "$tmp/out")"
[ "$(grep -c "^sample " "$tmp/out")" -eq 2 ] && ok || bad "demo: not two samples in $(cat "$tmp/out")"
for p in before after0 after1; do png_check "$tmp/demo/$p.png" > /dev/null && ok || bad "demo: $p.png is not a PNG"; done
"$py" - "$tmp/demo" << 'EOF' && ok || bad "demo outputs do not read back"
import json, sys
import numpy as np, nibabel as nib
d = sys.argv[1]
img = nib.load(d + "/phantom.nii.gz"); lab = nib.load(d + "/phantom_label.nii.gz")
assert img.shape == (32, 32, 32) and lab.shape == (32, 32, 32)
assert img.get_data_dtype() == np.float32 and lab.get_data_dtype().kind in "iu"
assert np.asanyarray(lab.dataobj).max() > 0
for s in (0, 1):
    a = nib.load("%s/aug%d.nii.gz" % (d, s)); l = nib.load("%s/aug%d_label.nii.gz" % (d, s))
    assert a.shape == l.shape and np.allclose(a.affine, l.affine), s
    assert np.isfinite(np.asanyarray(a.dataobj)).all(), s
    assert set(np.unique(np.asanyarray(l.dataobj))) <= set(np.unique(np.asanyarray(lab.dataobj))), s
    assert json.load(open("%s/aug%d.json" % (d, s))), s
EOF
# the same seed gives the same files; another seed another draw
"$cli" demo -o "$tmp/demo2" --size 32 -n 1 > /dev/null 2>&1
cmp -s <(gzip -dc "$tmp/demo/aug0.nii.gz") <(gzip -dc "$tmp/demo2/aug0.nii.gz") && ok || bad "demo: the same seed gave another aug0"
"$cli" demo -o "$tmp/demo3" --size 32 -n 1 --seed 5 > /dev/null 2>&1
cmp -s "$tmp/demo/aug0.json" "$tmp/demo3/aug0.json" && bad "demo: --seed 5 drew the same parameters" || ok
# demo usage errors and an unwritable folder
for args in "--size 8" "--size x" "-n 0" "-n 101" "--bogus 1" "-o"; do
    # shellcheck disable=SC2086
    "$cli" demo $args > /dev/null 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] && ok || bad "demo $args: exit $rc, expected 2"
done
"$cli" demo -o "$tmp/nodir/sub" --size 16 -n 1 > /dev/null 2> "$tmp/err"
rc=$?
{ [ "$rc" -eq 1 ] && grep -q "nodir/sub" "$tmp/err"; } && ok || bad "demo into a missing parent: exit $rc: $(cat "$tmp/err")"
"$cli" demo -o "$tmp/demo_dev" --size 16 -n 1 --device no-such-dev > /dev/null 2> "$tmp/err"
rc=$?
{ [ "$rc" -eq 1 ] && grep -q "no-such-dev" "$tmp/err" && [ -z "$(ls -A "$tmp/demo_dev" 2> /dev/null)" ]; } && ok ||
    bad "demo on an unknown device: exit $rc, files: $(ls -A "$tmp/demo_dev" 2> /dev/null)"

[ "$ran" -eq 0 ] && { echo "skipped: neither ch2 nor nibabel's test data is installed"; exit 77; }
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
