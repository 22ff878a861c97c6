#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `voxaug invert`: apply then invert gives the input back where a crop, pad or flip kept it (the phantom and its
# labels, voxel for voxel, the rest counted and set to --cval), from apply's record and from augment's sidecar;
# intensity ops are named as not inverted; a record of another input, an OUT of other dims, a file that is not a
# record and usage errors exit 1 or 2, name the file at fault and write nothing.
# usage: bash invert.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: invert.sh CLI DATA_DIR}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/vxa_invert.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

in=$tmp/in
out=$tmp/out
mkdir -p "$out" "$tmp/w"
if ! "$cli" demo --size 32 -n 1 -o "$in" > /dev/null 2> "$tmp/err"; then
    echo "cannot make the test inputs: $(cat "$tmp/err")"
    exit 1
fi
img=$in/phantom.nii.gz        # 32^3 float32
lab=$in/phantom_label.nii.gz  # 32^3 uint8
spec="zscore flip(axes=0,1, p_axis=0.5) pad(3, after=1) random_crop(20,24,30)"
w=$tmp/w
"$cli" apply "$img" --label "$lab" --ops "$spec" --seed 4 --sample 9 -o "$w/o.nii.gz" --label-out "$w/l.nii.gz" \
    --params-out "$w/d.json" 2> "$tmp/err" || bad "apply: $(cat "$tmp/err")"
"$cli" invert "$w/l.nii.gz" --draw "$w/d.json" --like "$img" -o "$w/bl.nii.gz" --report-out "$w/r.json" > "$w/stdout" \
    2> "$tmp/err" || bad "invert of the label map: $(cat "$tmp/err")"
"$cli" invert "$w/o.nii.gz" --draw "$w/d.json" --like "$img" -o "$w/bi.nii.gz" --cval -5 > "$w/stdout_i" \
    2> "$tmp/err" || bad "invert of the image: $(cat "$tmp/err")"
grep -q "NOT inverted: 1 intensity op (zscore)" "$w/stdout_i" && ok || bad "the image's invert does not name zscore: $(cat "$w/stdout_i")"
grep -q "outside OUT's field of view" "$w/stdout" && ok || bad "invert does not print the outside count"
"$py" - "$w" "$lab" "$img" << 'EOF' && ok || bad "the crop/pad/flip did not come back exactly"
import json, sys
import numpy as np, nibabel as nib
w, lab, img = sys.argv[1:]
L, B, R = nib.load(lab), nib.load(w + "/bl.nii.gz"), json.load(open(w + "/r.json"))
a, b = np.asarray(L.dataobj), np.asarray(B.dataobj)
assert b.dtype == a.dtype and b.shape == a.shape and np.allclose(B.affine, L.affine), (b.dtype, b.shape)
ops = {o["op"]: o for o in json.load(open(w + "/d.json"))["ops"]}
start, flipped = ops["random_crop"]["start"], ops["flip"]["flipped"]
# the flipped volume's voxel i sits at i + 3 of the padded grid, and the crop keeps start..start+m-1 of it
keep = np.zeros(a.shape, bool)
sl = [(max(0, q - 3), min(32, q - 3 + m)) for q, m in zip(start, (20, 24, 30))]
sl = tuple(slice(32 - hi, 32 - lo) if f else slice(lo, hi) for (lo, hi), f in zip(sl, flipped))
keep[sl] = True
assert np.array_equal(b[keep], a[keep]) and not b[~keep].any(), "labels"
assert R["outside"] == int((~keep).sum()) and R["interpolation"] == "nearest" and R["voxels"] == a.size, R
bi = np.asarray(nib.load(w + "/bi.nii.gz").dataobj)
assert bi.dtype == np.float32 and np.all(bi[~keep] == -5), "cval"
x = np.asarray(nib.load(img).dataobj, dtype=np.float64)
z = (x - x.mean()) / x.std()   # zscore stays in (not inverted)
assert np.abs(bi[keep] - z[keep]).max() < 1e-4, np.abs(bi[keep] - z[keep]).max()
EOF
# augment's sidecar holds the record under "draw"
"$cli" augment --ops "$spec" -n 1 --seed 3 -o "$tmp/aug" -q "$img:$lab" 2> "$tmp/err" || bad "augment: $(cat "$tmp/err")"
side=$(ls "$tmp/aug"/*.json | grep -v manifest | head -1)
auglab=$(ls "$tmp/aug"/*label*.nii.gz | head -1)
"$cli" invert "$auglab" --draw "$side" --like "$img" -o "$w/ba.nii.gz" -q 2> "$tmp/err" && [ ! -s "$tmp/err" ] && ok ||
    bad "invert from augment's sidecar: $(cat "$tmp/err")"

# expect WANT_RC DESCRIPTION NAME -- ARGS...: `voxaug invert ARGS` exits WANT_RC, names NAME, writes nothing
expect() {
    local want=$1 what=$2 name=$3
    shift 4
    "$cli" invert "$@" > /dev/null 2> "$tmp/err"
    local rc=$? why=""
    [ "$rc" -eq "$want" ] || why="exit $rc, expected $want"
    grep -q "^voxaug invert" "$tmp/err" || why="${why:+$why; }no 'voxaug invert' message on stderr"
    grep -qF -- "$name" "$tmp/err" || why="${why:+$why; }message does not name '$name'"
    [ -z "$(ls -A "$out")" ] || why="${why:+$why; }files left in the output folder: $(ls -A "$out")"
    if [ -n "$why" ]; then bad "$what: $why"; sed 's/^/      /' "$tmp/err"; else ok; fi
    rm -rf "${out:?}"/* "$out"/.[!.]* 2> /dev/null
}
echo '{"seed": 1}' > "$tmp/notdraw.json"
expect 1 "not a draw record" "notdraw.json" -- "$w/l.nii.gz" --draw "$tmp/notdraw.json" --like "$img" -o "$out/b.nii.gz"
expect 1 "missing record" "nofile.json" -- "$w/l.nii.gz" --draw "$tmp/nofile.json" --like "$img" -o "$out/b.nii.gz"
expect 1 "OUT of other dims" "not this draw's output" -- "$img" --draw "$w/d.json" --like "$img" -o "$out/b.nii.gz"
"$py" - "$w/d.json" "$tmp/d3.json" << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for o in d["ops"]:
    if o["op"] == "random_crop":
        o["start"] = [q + 1 for q in o["start"]]
json.dump(d, open(sys.argv[2], "w"))
EOF
expect 1 "a record of another draw" "does not match" -- "$w/l.nii.gz" --draw "$tmp/d3.json" --like "$img" \
    -o "$out/b.nii.gz"
expect 2 "no --like" "--like" -- "$w/l.nii.gz" --draw "$w/d.json" -o "$out/b.nii.gz"
expect 2 "bad --cval" "--cval" -- "$w/l.nii.gz" --draw "$w/d.json" --like "$img" -o "$out/b.nii.gz" --cval abc
expect 2 "--nearest with --linear" "exclude" -- "$w/l.nii.gz" --draw "$w/d.json" --like "$img" -o "$out/b.nii.gz" \
    --nearest --linear
expect 2 "BACK is OUT" "same file" -- "$w/l.nii.gz" --draw "$w/d.json" --like "$img" -o "$w/l.nii.gz"
"$cli" invert --help | grep -q "NOT undone" && ok || bad "invert --help does not say that intensity ops are not undone"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
