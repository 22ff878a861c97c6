#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# voxaug preview from the shell: exit codes (0 ok, 1 failure, 2 usage), messages, and no file left on failure.
# Real-data cases run when Debian's mricron templates or nibabel's test data are installed.
set -u
cli=$1
. "$(dirname "$0")/../cli_lib.sh"   # $tmp, ok, bad, expect

# png_size FILE: "WIDTH HEIGHT" from the IHDR chunk.
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8 }'; }
is_png() { [ "$(od -An -c -N4 "$1" | tr -d ' ')" = '211PNG' ]; }

expect 0 "--help" "$cli" preview --help
grep -q "usage: voxaug preview FILE -o OUT.png" "$tmp/out" && ok "--help prints the usage" || bad "--help prints the usage"
expect 2 "no arguments" "$cli" preview
expect 2 "no output" "$cli" preview in.nii
expect 2 "-o without a value" "$cli" preview in.nii -o
expect 2 "bad --window" "$cli" preview in.nii -o "$tmp/x.png" --window 5
grep -q "^voxaug preview: --window '5'" "$tmp/err" && ok "bad --window is named" || bad "bad --window is named"
expect 2 "--window out of order" "$cli" preview in.nii -o "$tmp/x.png" --window 60,40
expect 2 "--window past 100" "$cli" preview in.nii -o "$tmp/x.png" --window=0,101
expect 2 "a JPEG name" "$cli" preview in.nii -o "$tmp/x.jpg"
grep -q "must end in .png" "$tmp/err" && ok "a non-PNG name is explained" || bad "a non-PNG name is explained"
expect 2 "bad --values" "$cli" preview in.nii -o "$tmp/x.png" --values 400,-160
expect 2 "unknown --ct" "$cli" preview in.nii -o "$tmp/x.png" --ct brian
grep -q "one of brain subdural" "$tmp/err" && ok "unknown --ct lists the presets" || bad "unknown --ct lists the presets"
expect 2 "two windows" "$cli" preview in.nii -o "$tmp/x.png" --ct lung --window 1,99
expect 2 "bad --channel" "$cli" preview in.nii -o "$tmp/x.png" --channel x
expect 2 "unknown option" "$cli" preview in.nii -o "$tmp/x.png" --bogus
expect 2 "two inputs" "$cli" preview a.nii b.nii -o "$tmp/x.png"
expect 1 "missing input" "$cli" preview "$tmp/none.nii" -o "$tmp/x.png"
grep -q "^voxaug preview: .*none.nii" "$tmp/err" && ok "missing input is named" || bad "missing input is named"
[ ! -e "$tmp/x.png" ] && ok "no file after a failure" || bad "no file after a failure"

ch2=/usr/share/mricron/templates/ch2.nii.gz
aal=/usr/share/mricron/templates/aal.nii.gz
nib=/usr/lib/python3/dist-packages/nibabel/tests/data
ran=0
if [ -r "$ch2" ] && [ -r "$aal" ]; then
    ran=1
    expect 0 "ch2 with the AAL labels" "$cli" preview "$ch2" --label "$aal" -o "$tmp/ch2.png"
    is_png "$tmp/ch2.png" && ok "ch2 preview is a PNG" || bad "ch2 preview is a PNG"
    # 1 mm voxels: sagittal 217 x 181, coronal 181 x 181, axial 181 x 217, gaps of 4, enlarged 2x (217 < 256)
    size=$(png_size "$tmp/ch2.png")
    [ "$size" = "1166 434" ] && ok "ch2 preview is 1166 x 434" || bad "ch2 preview is $size, expected 1166 434"
    expect 0 "ch2 with a window in values" "$cli" preview "$ch2" -o "$tmp/v.png" --values=20,120
    expect 0 "ch2 with a CT preset" "$cli" preview "$ch2" -o "$tmp/ct.png" --ct brain
    expect 0 "ch2 with the same window in values" "$cli" preview "$ch2" -o "$tmp/v80.png" --values 0,80
    cmp -s "$tmp/ct.png" "$tmp/v80.png" && ok "--ct brain is --values 0,80" || bad "--ct brain is --values 0,80"
    cmp -s "$tmp/v.png" "$tmp/ch2.png" && bad "--values changed nothing" || ok "--values changes the picture"
    expect 1 "--channel past the last" "$cli" preview "$ch2" -o "$tmp/c.png" --channel 1
    grep -q "has 1 channel; --channel 1 is out of range" "$tmp/err" && ok "channel range is explained" ||
        bad "channel range is explained"
    [ ! -e "$tmp/c.png" ] && ok "no file after a bad channel" || bad "no file after a bad channel"
    expect 1 "missing folder" "$cli" preview "$ch2" -o "$tmp/nodir/x.png"
    grep -q "nodir/x.png.*No such file or directory" "$tmp/err" && ok "missing folder is explained" ||
        bad "missing folder is explained"
    ls "$tmp" | grep -q tmp- && bad "a temporary file was left" || ok "no temporary file left"
fi
if [ -r "$nib/example4d.nii.gz" ] && [ -r "$nib/anatomical.nii" ]; then
    ran=1
    expect 0 "second channel of a 4D file" "$cli" preview "$nib/example4d.nii.gz" --channel 1 -o "$tmp/4d.png"
    is_png "$tmp/4d.png" && ok "4D preview is a PNG" || bad "4D preview is a PNG"
    expect 1 "label on another grid" "$cli" preview "$nib/example4d.nii.gz" --label "$nib/anatomical.nii" -o "$tmp/g.png"
    grep -q "128x96x24.*33x41x25" "$tmp/err" && ok "both grids are named" || bad "both grids are named"
    [ ! -e "$tmp/g.png" ] && ok "no file after a grid mismatch" || bad "no file after a grid mismatch"
fi
[ "$ran" -eq 0 ] && echo "note: no real data installed; only the usage checks ran"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
