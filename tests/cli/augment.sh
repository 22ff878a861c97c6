#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `voxaug augment`'s guarantees on three small items (image + label, image + label, image alone), K = 2:
#   - shards 0/2 and 1/2 together give the full run's files, byte for byte after decompression, and their
#     manifests merged by sort the full run's; --shard auto takes I/N from Slurm's array variables;
#   - -j 2 gives the same files as -j 1; --device reference agrees with the default device (images within
#     1e-4 of the range, labels exactly, sidecars equal);
#   - sidecars are valid JSON naming the subject (its key), images, labels, copy, sample and draw, even for
#     paths with quotes and backslashes; copy c of a subject is sample vxa_item_sample(key, c) (the formula
#     rebuilt here) as `voxaug apply --sample` shows;
#   - a failing item is reported on stderr, the others are written, and the exit status is 1;
#   - --list FILE gives the same files as the same subjects on the command line, and --images DIR --labels DIR
#     the same as a list in DIR naming them relative to it (keys relative to the list's folder);
#   - getopt_long forms (--ops=SPEC, -n2, -j2, --) give the same files; progress lines off a terminal every N
#     volumes, a bar on one (script(1));
#   - bad --shard, -n, -j values and option mix-ups are usage errors (exit 2).
# usage: bash augment.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: augment.sh CLI DATA_DIR}
data=${2:?usage: augment.sh CLI DATA_DIR}
py=/usr/bin/python3
case $cli in /*) ;; *) cli=$PWD/$cli ;; esac
data=$(cd "$data" && pwd)
tmp=$(mktemp -d /tmp/vxa_augment.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1 # subjects named by relative paths: their keys, and so their draws, do not depend on $tmp
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

# ---- inputs: three items in $tmp/in (a: phantom + label, b: float + label, c: int16 alone)
in=$tmp/in
if ! "$cli" demo --size 32 -n 1 -o "$tmp/demo" > /dev/null 2> "$tmp/err"; then
    echo "cannot make the test inputs: $(cat "$tmp/err")"; exit 1
fi
mkdir -p "$in/img" "$in/lab"
cp "$tmp/demo/phantom.nii.gz" "$in/img/a.nii.gz"
cp "$tmp/demo/phantom_label.nii.gz" "$in/lab/a.nii.gz"
"$py" - "$in" << 'EOF' || { echo "cannot make the test inputs with nibabel"; exit 1; }
import sys
import numpy as np, nibabel as nib
d = sys.argv[1]
x, y, z = np.meshgrid(np.arange(21), np.arange(18), np.arange(13), indexing="ij")
b = (np.sin(x / 4.0) + np.cos(y / 3.0) * z / 13.0).astype(np.float32)
aff = np.diag([1.5, 1.0, 2.0, 1.0]); aff[:3, 3] = [-10, 5, 3]
nib.save(nib.Nifti1Image(b, aff), d + "/img/b.nii.gz")
nib.save(nib.Nifti1Image((b > 0.5).astype(np.uint8) + (x > 10).astype(np.uint8), aff), d + "/lab/b.nii.gz")
c = (300 * np.cos(x / 5.0 + y / 7.0) + z).astype(np.int16)[:17, :, :]
nib.save(nib.Nifti1Image(c, np.eye(4)), d + "/c.nii")
EOF
A="in/img/a.nii.gz:in/lab/a.nii.gz"
B="in/img/b.nii.gz:in/lab/b.nii.gz"
C="in/c.nii"
spec="flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) shift([-2,2])"

# run OUTDIR ARGS...: voxaug augment -q --ops SPEC -n 2 --seed 7 -o OUTDIR ARGS; exit code in $rc, stderr in $tmp/err
run() {
    local o=$1; shift
    "$cli" augment -q --ops "$spec" -n 2 --seed 7 -o "$o" "$@" > "$tmp/stdout" 2> "$tmp/err"
    rc=$?
    if grep -qE "Sanitizer|runtime error|core dumped|Segmentation|Aborted" "$tmp/err"; then bad "crash report: $(cat "$tmp/err")"; fi
}

# same_files DIR1 DIR2 [DIR3]: the files of DIR1 are those of DIR2 (and DIR3 together), equal after decompression
# (manifests aside; with NIFTI_ONLY=1 in the environment, sidecars aside too)
same_files() {
    "$py" - "$@" << 'EOF'
import gzip, os, sys
first, rest = sys.argv[1], sys.argv[2:]
def load(p):
    with (gzip.open if p.endswith(".gz") else open)(p, "rb") as f:
        return f.read()
def names(d):
    return [n for n in os.listdir(d) if not n.startswith("manifest")]
want = sorted(names(first))
got = sorted(n for d in rest for n in names(d))
if want != got:
    sys.exit("file names differ: %s vs %s" % (want, got))
for n in want:
    if os.environ.get("NIFTI_ONLY") and n.endswith(".json"):
        continue  # sidecars name the inputs as opened: the same files under other paths
    d = next(d for d in rest if os.path.exists(os.path.join(d, n)))
    if load(os.path.join(first, n)) != load(os.path.join(d, n)):
        sys.exit("%s differs" % n)
EOF
}

expected="a_aug0.json a_aug0.nii.gz a_aug0_label.nii.gz a_aug1.json a_aug1.nii.gz a_aug1_label.nii.gz b_aug0.json b_aug0.nii.gz b_aug0_label.nii.gz b_aug1.json b_aug1.nii.gz b_aug1_label.nii.gz c_aug0.json c_aug0.nii.gz c_aug1.json c_aug1.nii.gz manifest.jsonl "

# ---- the full run
run "$tmp/full" "$A" "$B" "$C"
check "full run: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
files=$(ls "$tmp/full" | tr '\n' ' ')
check "full run wrote '$files'" [ "$files" = "$expected" ]
grep -q "^6 volumes written" "$tmp/stdout" && ok || bad "full run summary: $(cat "$tmp/stdout")"

# ---- the sidecars
"$py" - "$tmp/full" << 'EOF' && ok || bad "sidecars"
import json, os, sys
d = sys.argv[1]
def sample(name, copy):  # vxa_item_sample, from FNV-1a 64's and splitmix64's definitions
    M = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001b3) & M
    x = h ^ ((copy * 0x9e3779b97f4a7c15) & M)
    x ^= x >> 30; x = (x * 0xbf58476d1ce4e5b9) & M
    x ^= x >> 27; x = (x * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
items = {"a": ("in/img/a.nii.gz", ["in/lab/a.nii.gz"]), "b": ("in/img/b.nii.gz", ["in/lab/b.nii.gz"]),
         "c": ("in/c.nii", [])}
draws = set()
for name, (image, labels) in items.items():
    for c in range(2):
        j = json.load(open("%s/%s_aug%d.json" % (d, name, c)))
        assert j["subject"] == image and j["images"] == [image], j
        assert j["labels"] == labels, j
        assert j["copy"] == c and j["seed"] == 7 and j["sample"] == sample(image, c), j
        outs = [o["output"] for o in j["outputs"]]
        assert outs == ["%s_aug%d.nii.gz" % (name, c)] + (["%s_aug%d_label.nii.gz" % (name, c)] if labels else []), outs
        assert isinstance(j["draw"], (dict, list)) and j["draw"], j
        draws.add(json.dumps(j["draw"], sort_keys=True))
assert len(draws) == 6, "copies drew the same parameters: %d distinct of 6" % len(draws)
EOF

# ---- shards: 0/2 and 1/2 together are the full run
run "$tmp/s0" --shard 0/2 "$A" "$B" "$C"
check "shard 0/2: exit $rc" [ "$rc" -eq 0 ]
run "$tmp/s1" --shard 1/2 "$A" "$B" "$C"
check "shard 1/2: exit $rc" [ "$rc" -eq 0 ]
check "shard 0/2 holds items 0 and 2" [ "$(ls "$tmp/s0" | cut -c1 | sort -u | tr -d '\n')" = "acm" ]
check "shards 0/2 + 1/2 equal the full run" same_files "$tmp/full" "$tmp/s0" "$tmp/s1"
LC_ALL=C sort "$tmp/s0/manifest.0-of-2.jsonl" "$tmp/s1/manifest.1-of-2.jsonl" | cmp -s - "$tmp/full/manifest.jsonl" \
    && ok || bad "the shards' manifests, merged with sort, are not the full run's"
# --shard auto: I and N from a Slurm job array (COUNT, or MIN/MAX for an array numbered from 1)
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 run "$tmp/auto1" --shard auto "$A" "$B" "$C"
check "--shard auto as task 1 of 2: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
check "--shard auto as task 1 of 2 is shard 1/2" same_files "$tmp/s1" "$tmp/auto1"
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=2 run "$tmp/auto2" --shard auto "$A" "$B" "$C"
check "--shard auto as task 2 of an array 1-2 is shard 1/2" same_files "$tmp/s1" "$tmp/auto2"
check "--shard auto names its manifest 1-of-2" [ -f "$tmp/auto2/manifest.1-of-2.jsonl" ]
run "$tmp/s3" --shard 2/3 "$A" "$B" "$C"
check "shard 2/3 holds item 2 alone" [ "$(ls "$tmp/s3" | cut -c1 | sort -u | tr -d '\n')" = "cm" ]

run "$tmp/s5" --shard 5/6 "$A" "$B" "$C"
check "a shard with no items: exit $rc" [ "$rc" -eq 0 ]
check "a shard with no items writes an empty manifest alone" [ "$(ls -A "$tmp/s5")" = "manifest.5-of-6.jsonl" ] && [ ! -s "$tmp/s5/manifest.5-of-6.jsonl" ]

# ---- jobs
run "$tmp/j2" -j 2 "$A" "$B" "$C"
check "-j 2: exit $rc" [ "$rc" -eq 0 ]
check "-j 2 equals -j 1" same_files "$tmp/full" "$tmp/j2"

# ---- the reference path agrees with the default device
run "$tmp/ref" --device reference "$A" "$B" "$C"
check "--device reference: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
"$py" - "$tmp/full" "$tmp/ref" << 'EOF' && ok || bad "reference vs default device"
import json, os, sys
import numpy as np, nibabel as nib
a, b = sys.argv[1:3]
assert sorted(os.listdir(a)) == sorted(os.listdir(b))
for n in sorted(os.listdir(a)):
    if n.startswith("manifest"):
        continue
    if n.endswith(".json"):
        ja, jb = json.load(open(os.path.join(a, n))), json.load(open(os.path.join(b, n)))
        for j in (ja, jb):  # checksums of float images differ within float rounding
            for o in j["outputs"]:
                if o["kind"] == "image":
                    del o["sha256"], o["bytes"]
        assert ja == jb, n
        continue
    x = np.asanyarray(nib.load(os.path.join(a, n)).dataobj)
    y = np.asanyarray(nib.load(os.path.join(b, n)).dataobj)
    assert x.shape == y.shape and x.dtype == y.dtype, n
    if "_label" in n:
        assert np.array_equal(x, y), n + ": labels differ"
    else:
        tol = 1e-4 * max(float(x.max() - x.min()), 1e-30)
        err = float(np.abs(x.astype(np.float64) - y).max())
        assert err <= tol, "%s: max error %g > %g" % (n, err, tol)
EOF

# ---- --list and --images/--labels: the same items give the same files
printf '# items\n%s,%s\n\n  %s , %s  \n%s\n' in/img/a.nii.gz in/lab/a.nii.gz in/img/b.nii.gz in/lab/b.nii.gz \
    in/c.nii > "$tmp/list.txt"
run "$tmp/list" --list "$tmp/list.txt"
check "--list: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
NIFTI_ONLY=1 check "--list equals the command line" same_files "$tmp/full" "$tmp/list"
run "$tmp/dirs" --images "$in/img" --labels "$in/lab"
check "--images/--labels: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
printf 'a.nii.gz,../lab/a.nii.gz\nb.nii.gz,../lab/b.nii.gz\n' > "$in/img/list.txt"
(cd / && "$cli" augment -q --ops "$spec" -n 2 --seed 7 -o "$tmp/ab" --list "$in/img/list.txt" > /dev/null 2> "$tmp/err")
check "--list with paths relative to its folder, run from elsewhere: $(cat "$tmp/err")" [ -s "$tmp/ab/b_aug1_label.nii.gz" ]
NIFTI_ONLY=1 check "--images/--labels equals a --list of the same names in DIR" same_files "$tmp/ab" "$tmp/dirs"
run "$tmp/mixed" --images "$in/img" --labels "$in/lab" "$C"
check "--images with an item on the command line: exit $rc" [ "$rc" -eq 0 ]
check "--images with an item on the command line: 16 files and the manifest" [ "$(ls "$tmp/mixed" | wc -l)" -eq 17 ]

# ---- a failing item: reported, the others written, exit 1
printf '%s,%s\n%s\n%s\n' in/img/a.nii.gz in/lab/a.nii.gz "$data/bad/truncated_data.nii.gz" in/c.nii > "$tmp/badlist.txt"
run "$tmp/fail" --list "$tmp/badlist.txt"
check "failing item: exit $rc, expected 1" [ "$rc" -eq 1 ]
grep -q "subject .*truncated_data.nii.gz" "$tmp/err" && ok || bad "failing item not named: $(cat "$tmp/err")"
files=$(ls "$tmp/fail" | tr '\n' ' ')
check "failing item: the others written ('$files')" [ "$files" = "a_aug0.json a_aug0.nii.gz a_aug0_label.nii.gz a_aug1.json a_aug1.nii.gz a_aug1_label.nii.gz c_aug0.json c_aug0.nii.gz c_aug1.json c_aug1.nii.gz manifest.jsonl " ]
grep -q "4 volumes written.* 2 failed" "$tmp/stdout" && ok || bad "failing item summary: $(cat "$tmp/stdout")"
# the items after a failure keep their draws: c's copies equal the full run's
cmp -s <(gzip -dc "$tmp/fail/c_aug1.nii.gz") <(gzip -dc "$tmp/full/c_aug1.nii.gz") && ok || bad "c after a failed item differs"
# a label map on another grid fails that item only
run "$tmp/grid" "in/img/a.nii.gz:in/lab/b.nii.gz" "$C"
check "label on another grid: exit $rc, expected 1" [ "$rc" -eq 1 ]
grep -q "a.nii.gz is on grid 32x32x32, .* but in/lab/b.nii.gz is on grid 21x18x13, spacing 1.5,1,2" "$tmp/err" && ok || bad "label on another grid: both grids not named: $(cat "$tmp/err")"
check "label on another grid: only c written" [ "$(ls "$tmp/grid" | cut -c1 | sort -u | tr -d '\n')" = "cm" ]

# ---- paths with a quote, a backslash and a tab still give valid JSON sidecars
q="$tmp/we\"ird\\dir	x"
mkdir -p "$q"
cp "$in/c.nii" "$q/c\"q\\.nii"
cp "$in/img/b.nii.gz" "$q/b.nii.gz"
cp "$in/lab/b.nii.gz" "$q/b,l.nii.gz"
run "$tmp/quote" "$q/c\"q\\.nii" "$q/b.nii.gz:$q/b,l.nii.gz"
check "quoted paths: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
"$py" - "$tmp/quote" "$q" << 'EOF' && ok || bad "sidecars of quoted paths are not valid JSON naming the files"
import json, sys
d, q = sys.argv[1:3]
j = json.load(open(d + '/c"q\\_aug0.json'))
assert j["images"] == [q + '/c"q\\.nii'] and j["labels"] == [], j
j = json.load(open(d + "/b_aug1.json"))
assert j["images"] == [q + "/b.nii.gz"] and j["labels"] == [q + "/b,l.nii.gz"] and j["copy"] == 1, j
EOF

# ---- non-ASCII paths: UTF-8 is kept, a byte that is not UTF-8 becomes U+FFFD; the JSON stays valid
u="$tmp/utf8_é"
mkdir -p "$u"
cp "$in/c.nii" "$u/ü.nii"
cp "$in/c.nii" "$u/$(printf 'x\xff').nii"
run "$tmp/utf8" "$u/ü.nii" "$u/$(printf 'x\xff').nii"
check "non-ASCII paths: exit $rc: $(cat "$tmp/err")" [ "$rc" -eq 0 ]
"$py" - "$tmp/utf8" "$u" << 'EOF' && ok || bad "sidecars of non-ASCII paths"
import json, sys
d, u = sys.argv[1:3]
j = json.load(open(d + "/ü_aug0.json", encoding="utf-8"))
assert j["images"] == [u + "/ü.nii"], j
j = json.load(open(d.encode() + b"/x\xff_aug1.json", encoding="utf-8"))
assert j["images"] == [u + "/x\ufffd.nii"] and j["copy"] == 1, j
EOF

# ---- copy c of a subject is sample vxa_item_sample(key, c) of the seed: `voxaug apply --sample` of b's copy 1
s3=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sample"])' "$tmp/full/b_aug1.json")
"$cli" apply "$in/img/b.nii.gz" --label "$in/lab/b.nii.gz" --ops "$spec" --seed 7 --sample "$s3" \
    -o "$tmp/b3.nii.gz" --label-out "$tmp/b3_label.nii.gz" --params-out "$tmp/b3.json" 2> "$tmp/err" || bad "apply b: $(cat "$tmp/err")"
"$py" - "$tmp" << 'EOF' && ok || bad "augment's b copy 1 is not apply's sample $s3"
import json, sys
import numpy as np, nibabel as nib
t = sys.argv[1]
for a, b in (("b3.nii.gz", "full/b_aug1.nii.gz"), ("b3_label.nii.gz", "full/b_aug1_label.nii.gz")):
    x, y = nib.load(t + "/" + a), nib.load(t + "/" + b)
    assert np.array_equal(np.asanyarray(x.dataobj), np.asanyarray(y.dataobj)), a
    assert np.allclose(x.affine, y.affine), a
assert json.load(open(t + "/b3.json")) == json.load(open(t + "/full/b_aug1.json"))["draw"]
EOF

# ---- getopt_long forms: --ops=SPEC, -n2, -j2, --seed=7, inputs before and after options, -- before inputs
"$cli" augment -q "--ops=$spec" -n2 -j2 --seed=7 "$A" -o "$tmp/getopt" "$B" -- "$C" > /dev/null 2> "$tmp/err"
check "getopt_long forms: exit $?: $(cat "$tmp/err")" [ -s "$tmp/getopt/c_aug1.json" ]
check "getopt_long forms equal the spelled-out run" same_files "$tmp/full" "$tmp/getopt"

# ---- progress: without a terminal a line every N volumes (--log-every) with the count, rate and ETA; -q none
"$cli" augment --ops "$spec" -n 2 --seed 7 -o "$tmp/prog" --log-every 2,3600 "$A" "$B" "$C" > /dev/null 2> "$tmp/err"
n=$(grep -cE "^voxaug augment: [0-9]+/6 volumes \([0-9]+%\), 0 failed, [0-9.]+ vol/s, [0-9]+ s elapsed, ETA " "$tmp/err")
check "progress lines every 2 volumes off a terminal: $n lines: $(cat "$tmp/err")" [ "$n" -eq 3 ]
grep -q "6/6 volumes (100%)" "$tmp/err" && ok || bad "progress: no final line"
if command -v script > /dev/null; then
    script -qec "'$cli' augment --ops '$spec' -n 2 --seed 7 -o '$tmp/tty' $C" /dev/null > "$tmp/tty.txt" 2>&1
    grep -qE "\[#+ *\] 2/2 volumes, 0 failed, [0-9.]+ vol/s, ETA" "$tmp/tty.txt" && ok || bad "progress bar on a terminal: $(cat -v "$tmp/tty.txt")"
fi

# ---- more workers than items
run "$tmp/j4" -j 4 "$A" "$B" "$C"
check "-j 4: exit $rc" [ "$rc" -eq 0 ]
check "-j 4 equals -j 1" same_files "$tmp/full" "$tmp/j4"

# ---- usage errors: exit 2, nothing written
usage() {
    local what=$1; shift
    "$cli" augment -q "$@" > /dev/null 2> "$tmp/err"
    local rc=$?
    if [ "$rc" -eq 2 ] && grep -q "^voxaug augment: " "$tmp/err" && [ ! -e "$tmp/u" ]; then ok
    else bad "$what: exit $rc, expected 2 and no output folder: $(cat "$tmp/err")"; fi
    rm -rf "$tmp/u"
}
for s in 2/2 1/0 x 0/ /2 0/2/3 -1/2 1/-2 "0/2 " 0x/2 ""; do
    usage "--shard '$s'" --ops "$spec" -o "$tmp/u" --shard "$s" "$C"
done
(unset SLURM_ARRAY_TASK_ID; usage "--shard auto outside a job array" --ops "$spec" -o "$tmp/u" --shard auto "$C")
SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_COUNT=4 usage "--shard auto: task 5 of 4" --ops "$spec" -o "$tmp/u" --shard auto "$C"
for n in 0 -1 x ""; do usage "-n '$n'" --ops "$spec" -o "$tmp/u" -n "$n" "$C"; done
for j in 0 65 x; do usage "-j '$j'" --ops "$spec" -o "$tmp/u" -j "$j" "$C"; done
usage "bad spec" --ops "zoom(" -o "$tmp/u" "$C"
usage "no --ops" -o "$tmp/u" "$C"
usage "no -o" --ops "$spec" "$C"
usage "no input" --ops "$spec" -o "$tmp/u"
usage "unknown option" --ops "$spec" -o "$tmp/u" --bogus "$C"
usage "option without its value" --ops "$spec" "$C" -o
usage "--labels without --images" --ops "$spec" -o "$tmp/u" --labels "$in/lab" "$C"
usage "two items with one output name" --ops "$spec" -o "$tmp/u" "$in/img/b.nii.gz" "$q/b.nii.gz"

# ---- failures before any item runs: exit 1
"$cli" augment -q --ops "$spec" -o "$tmp/u" --list "$tmp/no_such_list.txt" > /dev/null 2> "$tmp/err"
rc=$?
{ [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; } && grep -q "no_such_list.txt" "$tmp/err" && ok || bad "missing --list: exit $rc: $(cat "$tmp/err")"
: > "$tmp/afile"
run "$tmp/afile" "$C"
check "output folder is a file: exit $rc" [ "$rc" -eq 1 ]
grep -q "afile" "$tmp/err" && ok || bad "output folder is a file: not named: $(cat "$tmp/err")"
run "$tmp/dev" --device no-such-dev "$C"
check "unknown device: exit $rc" [ "$rc" -eq 1 ]
grep -q "no-such-dev" "$tmp/err" && ok || bad "unknown device not named: $(cat "$tmp/err")"
check "unknown device: nothing written" [ -z "$(ls -A "$tmp/dev" 2> /dev/null)" ]

# ---- a copy whose label cannot be written leaves none of its files (a folder is in the way of its label)
mkdir -p "$tmp/partial/a_aug1_label.nii.gz"
run "$tmp/partial" "$A"
check "blocked label output: exit $rc, expected 1" [ "$rc" -eq 1 ]
files=$(ls "$tmp/partial" | tr '\n' ' ')
check "blocked label output: copy 0 written, nothing of copy 1 ('$files')" \
    [ "$files" = "a_aug0.json a_aug0.nii.gz a_aug0_label.nii.gz a_aug1_label.nii.gz manifest.jsonl " ]

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
