#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `voxaug apply` on bad input: every failure exits 1 (files, data, device) or 2 (usage, spec), names the file or
# token at fault, does not crash, and leaves no file at all in the output folder (no partial output, no
# temporary). A good run writes exactly the files asked for; --keep-type keeps the input's data type.
# usage: bash apply_errors.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: apply_errors.sh CLI DATA_DIR}
data=${2:?usage: apply_errors.sh CLI DATA_DIR}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/vxa_apply_errors.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

in=$tmp/in
out=$tmp/out
mkdir -p "$out"
if ! "$cli" demo --size 32 -n 1 -o "$in" > /dev/null 2> "$tmp/err"; then
    echo "cannot make the test inputs: $(cat "$tmp/err")"
    exit 1
fi
img=$in/phantom.nii.gz        # 32^3 float32
lab=$in/phantom_label.nii.gz  # 32^3 uint8
other=$in/aug0_label.nii.gz   # a label map on another grid
spec="rotate(10, plane=0,1) zoom(1.1)"

# expect WANT_RC DESCRIPTION NAME -- ARGS...: runs `voxaug apply ARGS`, then checks the exit code, that stderr
# starts with "voxaug" and contains NAME, that nothing crashed, and that the output folder is still empty.
expect() {
    local want=$1 what=$2 name=$3
    shift 4
    "$cli" apply "$@" > "$tmp/stdout" 2> "$tmp/err"
    local rc=$? why=""
    [ "$rc" -eq "$want" ] || why="exit $rc, expected $want"
    [ "$rc" -lt 128 ] || why="crashed (exit $rc)"
    grep -q "^voxaug" "$tmp/err" || why="${why:+$why; }no 'voxaug' message on stderr"
    grep -qF -- "$name" "$tmp/err" || why="${why:+$why; }message does not name '$name'"
    if grep -qE "Sanitizer|runtime error|core dumped|Segmentation|Aborted" "$tmp/err"; then
        why="${why:+$why; }crash report on stderr"
    fi
    local left
    left=$(ls -A "$out")
    [ -z "$left" ] || why="${why:+$why; }files left in the output folder: $left"
    if [ -n "$why" ]; then
        bad "$what: $why"
        sed 's/^/      /' "$tmp/err"
    else
        ok
    fi
    rm -rf "${out:?}"/* "$out"/.[!.]* 2> /dev/null
}

# input files
expect 1 "missing input" "no_such.nii.gz" -- "$tmp/no_such.nii.gz" --ops "$spec" -o "$out/o.nii.gz"
mkdir "$tmp/folder.nii"
expect 1 "input is a folder" "folder.nii" -- "$tmp/folder.nii" --ops "$spec" -o "$out/o.nii.gz"
n=0
for f in "$data"/bad/*; do
    [ -f "$f" ] || continue
    expect 1 "bad input $(basename "$f")" "$(basename "$f")" -- "$f" --ops "$spec" -o "$out/o.nii.gz"
    n=$((n + 1))
done
[ "$n" -ge 40 ] && ok || bad "only $n files in $data/bad"
expect 1 "missing label map" "no_label.nii.gz" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$tmp/no_label.nii.gz" --label-out "$out/l.nii.gz"
expect 1 "corrupt label map" "truncated_data.nii.gz" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$data/bad/truncated_data.nii.gz" --label-out "$out/l.nii.gz"

# specs: exit 2, the message shows the column and the token
expect 2 "unknown op" "unknown op 'zoomx'" -- "$img" --ops "rotate(10) zoomx(1.1)" -o "$out/o.nii.gz"
grep -q "column 12" "$tmp/err" && ok || bad "unknown op: no column 12 in: $(head -1 "$tmp/err")"
expect 2 "bad value" "'abc'" -- "$img" --ops "zoom(abc)" -o "$out/o.nii.gz"
grep -q "column 6" "$tmp/err" && ok || bad "bad value: no column 6 in: $(head -1 "$tmp/err")"
expect 2 "unclosed parenthesis" "rotate" -- "$img" --ops "rotate(10, plane=0,1" -o "$out/o.nii.gz"
grep -q "column 21" "$tmp/err" && ok || bad "unclosed parenthesis: no column 21 in: $(head -1 "$tmp/err")"
expect 2 "unknown parameter" "planes" -- "$img" --ops "rotate(10, planes=0,1)" -o "$out/o.nii.gz"

# data the pipeline rejects: exit 1, both files named
expect 1 "label on another grid" "aug0_label.nii.gz" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$other" --label-out "$out/l.nii.gz"
grep -q "32x32x32" "$tmp/err" && ok || bad "label on another grid: the image's grid is not named"
expect 1 "float label map" "float32" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$img" --label-out "$out/l.nii.gz"

# outputs: every output that cannot be written leaves none of the others
expect 1 "output into a missing folder" "nodir/o.nii.gz" -- "$img" --ops "$spec" -o "$out/nodir/o.nii.gz"
expect 1 "output named .png" "o.png" -- "$img" --ops "$spec" -o "$out/o.png"
expect 1 "label output into a missing folder" "nodir/l.nii.gz" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$lab" --label-out "$out/nodir/l.nii.gz"
expect 1 "label output named .png" "l.png" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$lab" --label-out "$out/l.png"
expect 1 "params output into a missing folder" "nodir/p.json" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$lab" --label-out "$out/l.nii.gz" --params-out "$out/nodir/p.json"
# a folder that passes the checks made before the run (as root) but takes no new file: the outputs written
# before the failing one are removed again
expect 1 "label output in /proc" "/proc/vxa_l.nii.gz" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$lab" --label-out "/proc/vxa_l.nii.gz"
expect 1 "params output in /proc" "/proc/vxa_p.json" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$lab" --label-out "$out/l.nii.gz" --params-out "/proc/vxa_p.json"
expect 1 "output folder is a file" "o.nii.gz" -- "$img" --ops "$spec" -o "$img/o.nii.gz"
expect 2 "--field-units of another kind" "--field-units" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --field-out "$out/f.nii.gz" --field-units voxels
expect 1 "elastic field output into a missing folder" "nodir/f.nii.gz" -- "$img" --ops "elastic(alpha=100, sigma=4)" \
    -o "$out/o.nii.gz" --label "$lab" --label-out "$out/l.nii.gz" --field-out "$out/nodir/f.nii.gz"
mkdir "$out/dir.nii.gz"
"$cli" apply "$img" --ops "$spec" -o "$out/dir.nii.gz" 2> "$tmp/err"
rc=$?
{ [ "$rc" -eq 1 ] && grep -q "dir.nii.gz" "$tmp/err" && [ "$(ls -A "$out")" = "dir.nii.gz" ] &&
  [ -z "$(ls -A "$out/dir.nii.gz")" ]; } && ok || bad "output is a folder: exit $rc, files $(ls -A "$out"): $(cat "$tmp/err")"
rm -rf "${out:?}"/*
expect 2 "one name for two outputs" "o.nii.gz" -- "$img" --ops "$spec" -o "$out/o.nii.gz" \
    --label "$lab" --label-out "$out/o.nii.gz"

# usage
expect 2 "--label without --label-out" "--label" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --label "$lab"
expect 2 "--label-out without --label" "--label" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --label-out "$out/l.nii.gz"
expect 2 "unknown option" "--bogus" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --bogus
expect 2 "option without its value" "--ops" -- "$img" -o "$out/o.nii.gz" --ops
expect 2 "no --ops" "--ops" -- "$img" -o "$out/o.nii.gz"
expect 2 "two inputs" "unexpected argument" -- "$img" "$lab" --ops "$spec" -o "$out/o.nii.gz"
expect 2 "negative seed" "--seed" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --seed -1
expect 2 "seed not a number" "--seed" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --seed 1x
expect 2 "seed with a blank and a sign" "--seed" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --seed " -1"
expect 2 "seed in hexadecimal" "--sample" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --sample 0x10
# numbers are decimal: --seed 010 is seed 10 (not octal 8), and 08 is a valid seed
for s in 010 08; do
    "$cli" apply "$img" --ops "rotate([-30,30])" -o "$out/o.nii.gz" --seed "$s" --params-out "$out/p.json" 2> "$tmp/err"
    got=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["seed"])' "$out/p.json" 2> /dev/null)
    [ "$got" = "$((10#$s))" ] && ok || bad "--seed $s drew with seed '$got': $(cat "$tmp/err")"
    rm -rf "${out:?}"/*
done

# devices
expect 1 "unknown device" "no-such-dev" -- "$img" --ops "$spec" -o "$out/o.nii.gz" --device no-such-dev
VOXAUG_DEVICE=no-such-dev-either "$cli" apply "$img" --ops "$spec" -o "$out/o.nii.gz" 2> "$tmp/err"
rc=$?
{ [ "$rc" -eq 1 ] && grep -q "no-such-dev-either" "$tmp/err" && [ -z "$(ls -A "$out")" ]; } && ok ||
    bad "unknown VOXAUG_DEVICE: exit $rc, $(cat "$tmp/err")"
rm -rf "${out:?}"/*

# a good run writes exactly the files asked for, and nothing else
"$cli" apply "$img" --ops "$spec" -o "$out/o.nii.gz" --label "$lab" --label-out "$out/l.nii" \
    --params-out "$out/p.json" --seed 3 --sample 1 2> "$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && ok || bad "good run: exit $rc: $(cat "$tmp/err")"
files=$(cd "$out" && ls -A | tr '\n' ' ')
[ "$files" = "l.nii o.nii.gz p.json " ] && ok || bad "good run wrote '$files', expected 'l.nii o.nii.gz p.json '"
"$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d' "$out/p.json" && ok || bad "p.json is not JSON"
"$cli" info --json "$out/o.nii.gz" > "$tmp/o.json" && "$cli" info --json "$out/l.nii" > "$tmp/l.json" || bad "info"
"$py" - "$tmp/o.json" "$tmp/l.json" << 'EOF' && ok || bad "good run: the outputs' types or shapes"
import json, sys
o, l = (json.load(open(p)) for p in sys.argv[1:3])
assert o["dtype"] == "float32", o
assert l["dtype"] == "uint8", l
assert o["dims"] == [32, 32, 32] and l["dims"] == [32, 32, 32], (o["dims"], l["dims"])
EOF
# an elastic op's field: 3 channels on the output grid
mkdir "$tmp/el"
"$cli" apply "$img" --ops "elastic(alpha=100, sigma=4)" -o "$tmp/el/e.nii.gz" --field-out "$tmp/el/f.nii.gz" 2> "$tmp/err" ||
    bad "elastic run: $(cat "$tmp/err")"
[ "$(cd "$tmp/el" && ls -A | tr '\n' ' ')" = "e.nii.gz f.nii.gz " ] && ok || bad "elastic run wrote $(ls -A "$tmp/el")"
"$cli" info --json "$tmp/el/f.nii.gz" | "$py" -c 'import json, sys; j = json.load(sys.stdin); assert j["channels"] == 3 and j["dims"] == [32, 32, 32], j' &&
    ok || bad "the field is not 3 channels on the output grid"
# a draw whose elastic op did not apply still has a spatial pass to describe: the field is written, as ITK reads
# one (5D, the vector in dim[5], intent DISPVECT; --field-units lps: VECTOR), or in voxels as zeros (vox)
for units in mm lps vox; do
    "$cli" apply "$img" --ops "flip(axes=0) elastic(alpha=100, sigma=4, p=0)" -o "$tmp/el/n.nii.gz" \
        --field-out "$tmp/el/n_$units.nii.gz" --field-units $units 2> "$tmp/err" || bad "no elastic, --field-units $units: $(cat "$tmp/err")"
done
"$py" - "$tmp/el" << 'EOF' && ok || bad "the fields of a draw without elastic"
import sys
import numpy as np, nibabel as nib
d = sys.argv[1]
for units, intent in (("mm", 1006), ("lps", 1007)):
    f = nib.load("%s/n_%s.nii.gz" % (d, units))
    assert f.header["dim"][0] == 5 and f.shape == (32, 32, 32, 1, 3), (units, f.shape)
    assert int(f.header["intent_code"]) == intent and np.all(np.isfinite(np.asarray(f.dataobj))), units
v = nib.load("%s/n_vox.nii.gz" % d)
assert v.shape == (32, 32, 32, 3) and not np.asarray(v.dataobj).any(), v.shape
EOF
# an existing output is replaced, not appended to or left half-written when the run fails
cp "$out/o.nii.gz" "$tmp/o_before.nii.gz"
"$cli" apply "$img" --ops "zoom(abc)" -o "$out/o.nii.gz" 2> /dev/null
cmp -s "$out/o.nii.gz" "$tmp/o_before.nii.gz" && ok || bad "a failed run changed an existing output"
rm -rf "${out:?}"/*

# --keep-type: int16 in, int16 out (and float32 without it)
"$py" - "$tmp/i16.nii.gz" << 'EOF' || bad "cannot write the int16 input"
import sys
import numpy as np, nibabel as nib
z, y, x = np.meshgrid(np.arange(20), np.arange(24), np.arange(18), indexing="ij")
a = (1000 * np.sin(x / 3.0) * np.cos(y / 5.0) + 10 * z).astype(np.int16).transpose(2, 1, 0)
nib.save(nib.Nifti1Image(a, np.diag([1.0, 1.2, 0.9, 1.0])), sys.argv[1])
EOF
for keep in 1 0; do
    args=(); want=float32
    [ "$keep" -eq 1 ] && { args=(--keep-type); want=int16; }
    "$cli" apply "$tmp/i16.nii.gz" --ops "$spec" -o "$out/k.nii.gz" "${args[@]}" 2> "$tmp/err" || bad "keep-type=$keep: $(cat "$tmp/err")"
    got=$("$cli" info --json "$out/k.nii.gz" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["dtype"])')
    [ "$got" = "$want" ] && ok || bad "keep-type=$keep: dtype $got, expected $want"
    [ "$(ls -A "$out")" = "k.nii.gz" ] && ok || bad "keep-type=$keep: files $(ls -A "$out")"
    rm -rf "${out:?}"/*
done

# every command: an unknown option is a usage error (2, named), --help exits 0 with a usage line on stdout
for c in devices info apply augment demo ops preview; do
    "$cli" $c --no-such-option > /dev/null 2> "$tmp/err"
    rc=$?
    { [ "$rc" -eq 2 ] && grep -q "no-such-option" "$tmp/err"; } && ok || bad "voxaug $c --no-such-option: exit $rc: $(cat "$tmp/err")"
    "$cli" $c --help > "$tmp/stdout" 2> /dev/null
    rc=$?
    { [ "$rc" -eq 0 ] && grep -q "usage: voxaug $c" "$tmp/stdout"; } && ok || bad "voxaug $c --help: exit $rc"
done
"$cli" no-such-command > /dev/null 2> "$tmp/err"
rc=$?
{ [ "$rc" -eq 2 ] && grep -q "no-such-command" "$tmp/err"; } && ok || bad "voxaug no-such-command: exit $rc"

# --keep-type on a scaled input (uint8, slope 10, intercept 5: values to 2005) keeps the scaling: the values
# equal the float32 run's within half a step, instead of saturating at 255
"$py" - "$tmp/u8s.nii" << 'EOF' || bad "cannot write the scaled uint8 input"
import sys
import numpy as np, nibabel as nib
x, y, z = np.meshgrid(np.arange(19), np.arange(16), np.arange(11), indexing="ij")
img = nib.Nifti1Image((110 + 90 * np.sin(x / 3.0) * np.cos(y / 4.0)).astype(np.uint8), np.eye(4))
img.header.set_slope_inter(10.0, 5.0)
nib.save(img, sys.argv[1])
EOF
"$cli" apply "$tmp/u8s.nii" --ops "$spec" -o "$out/k.nii" --keep-type 2> "$tmp/err" || bad "scaled keep-type: $(cat "$tmp/err")"
"$cli" apply "$tmp/u8s.nii" --ops "$spec" -o "$out/f.nii" 2> "$tmp/err" || bad "scaled float run: $(cat "$tmp/err")"
"$py" - "$out/k.nii" "$out/f.nii" << 'EOF' && ok || bad "--keep-type lost the input's scaling"
import sys
import numpy as np, nibabel as nib
k, f = nib.load(sys.argv[1]), nib.load(sys.argv[2])
assert k.get_data_dtype() == np.uint8, k.get_data_dtype()
a, b = k.get_fdata(), f.get_fdata()
assert b.max() > 1500, b.max()
err = np.abs(a - b).max()
assert err <= 5.0 + 1e-3, err
EOF
rm -rf "${out:?}"/*

# the exit codes are documented
"$cli" --help | grep -q "exit status: 0 success, 1 failure" && ok || bad "voxaug --help does not document the exit status"
"$cli" apply --help | grep -q "exit status" && ok || bad "voxaug apply --help does not document the exit status"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
