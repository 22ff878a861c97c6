#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `voxaug augment` on datasets laid out as people keep them, from ch2 + aal (mricron-data) shrunk to 32x38x32:
#   - nnU-Net raw (4 cases x 2 channels: T1 and a derived T2-like channel, labels left/right from aal, one case's
#     labels stored as float32): the output is an nnU-Net raw dataset that tests/tools/check_nnunet_raw.py (our
#     reading of nnU-Net's documented rules) accepts, dataset.json kept with numTraining updated, nibabel reads every
#     output, the manifest has one line per NIfTI output whose SHA-256 and size match the file; both channels got
#     the draw `voxaug apply --sample` gives each alone (one spatial draw per subject);
#   - BIDS (sessions, two suffixes, labels in derivatives): entity-aware names, --modalities, --name {modality},
#     the input's dataset_description.json and one for derivatives/voxaug;
#   - stable draws: adding a subject, removing one, reversing the list, -j 2, --shard 0/3..2/3 leave every other
#     subject's files (images, labels, sidecars) byte for byte the same;
#   - resume: stopped after 1, 3 and 5 copies by SIGINT, SIGKILL and SIGTERM (VOXAUG_TEST_SIGNAL_AFTER), and once
#     by a SIGKILL at a moment of the OS's choosing, then --resume: the same bytes as an uninterrupted run, and
#     only the copies missing recomputed (counted from the summary);
#   - bad input: a float label map with a non-integer value (file and voxel named), a case missing a channel,
#     channels on two grids (both named), int64/uint64 files (narrowed exactly; beyond 2^53 a clear error).
# usage: bash dataset.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: dataset.sh CLI DATA_DIR}
case $cli in /*) ;; *) cli=$PWD/$cli ;; esac
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
ch2=/usr/share/mricron/templates/ch2.nii.gz
aal=/usr/share/mricron/templates/aal.nii.gz
if [ ! -r "$ch2" ] || [ ! -r "$aal" ]; then echo "skip: mricron-data (ch2, aal) not installed"; exit 77; fi
tmp=$(mktemp -d /tmp/vxa_dataset.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
spec="flip(axes=0, p_axis=0.5) rotate([-12,12], plane=0,1) zoom([0.9,1.1]) gamma([0.8,1.25]) zscore"

# ---- the data: an nnU-Net raw dataset and a BIDS tree from the same volumes
"$py" - "$ch2" "$aal" << 'EOF' || { echo "cannot make the test data"; exit 1; }
import json, os, sys
import numpy as np, nibabel as nib
from scipy import ndimage
t1 = nib.load(sys.argv[1]); aal = nib.load(sys.argv[2])
f = (40 / 181, 48 / 217, 40 / 181)
x = ndimage.zoom(np.asanyarray(t1.dataobj).astype(np.float32), f, order=1)
a = ndimage.zoom(np.asanyarray(aal.dataobj), f, order=0)
lab = np.where(a == 0, 0, np.where(a % 2 == 1, 1, 2)).astype(np.uint8)  # aal: odd left, even right
t2 = ndimage.gaussian_filter(np.where(x > 20, 255.0 - x, 0.0), 1.0).astype(np.float32)  # a derived modality
aff = np.diag([4.5, 4.5, 4.5, 1.0]); aff[:3, 3] = [-90, -126, -72]
os.makedirs("nn/imagesTr"); os.makedirs("nn/labelsTr")
for i, (dx, dy, dz) in enumerate([(0, 0, 0), (4, 2, 1), (8, 10, 3), (2, 6, 8)]):
    sl = (slice(dx, dx + 32), slice(dy, dy + 38), slice(dz, dz + 32))
    af = aff.copy(); af[:3, 3] += 4.5 * np.array([dx, dy, dz])
    case = "case_%03d" % (i + 1)
    nib.save(nib.Nifti1Image(x[sl].astype(np.int16), af), "nn/imagesTr/%s_0000.nii.gz" % case)
    nib.save(nib.Nifti1Image(t2[sl], af), "nn/imagesTr/%s_0001.nii.gz" % case)
    l = lab[sl].astype(np.float32 if i == 2 else np.uint8)  # float32 label maps: accepted when integer
    nib.save(nib.Nifti1Image(l, af), "nn/labelsTr/%s.nii.gz" % case)
    # BIDS: sub-01, sub-02 with sessions 1 and 2 ...
    sub, ses = "sub-%02d" % (i // 2 + 1), "ses-%d" % (i % 2 + 1)
    d = "bids/%s/%s/anat" % (sub, ses); dd = "bids/derivatives/manual/%s/%s/anat" % (sub, ses)
    os.makedirs(d); os.makedirs(dd)
    nib.save(nib.Nifti1Image(x[sl].astype(np.int16), af), "%s/%s_%s_T1w.nii.gz" % (d, sub, ses))
    nib.save(nib.Nifti1Image(t2[sl], af), "%s/%s_%s_T2w.nii.gz" % (d, sub, ses))
    nib.save(nib.Nifti1Image(lab[sl], af), "%s/%s_%s_dseg.nii.gz" % (dd, sub, ses))
json.dump({"channel_names": {"0": "T1", "1": "T2"}, "labels": {"background": 0, "left": 1, "right": 2},
           "numTraining": 4, "file_ending": ".nii.gz", "name": "voxaug test"}, open("nn/dataset.json", "w"), indent=4)
json.dump({"Name": "voxaug test", "BIDSVersion": "1.8.0"}, open("bids/dataset_description.json", "w"))
EOF

# ---- nnU-Net in, nnU-Net out
"$cli" augment --ops "$spec" --seed 3 -n 2 --nnunet nn -o nnout -q > out 2> err; rc=$?
check "nnU-Net: exit $rc: $(cat err)" [ "$rc" -eq 0 ]
grep -q "^8 volumes written.*subjects: 4 computed, 0 complete already" out && ok || bad "nnU-Net summary: $(cat out)"
"$py" "$here/../tools/check_nnunet_raw.py" nnout > check.out 2>&1 && ok || bad "nnU-Net layout check: $(cat check.out)"
cat check.out
"$py" - << 'EOF' && ok || bad "nnU-Net outputs, dataset.json, manifest"
import hashlib, json, os
import numpy as np, nibabel as nib
meta = json.load(open("nnout/dataset.json"))
src = json.load(open("nn/dataset.json"))
assert meta["numTraining"] == 8 and meta["file_ending"] == ".nii.gz", meta
assert {k: v for k, v in meta.items() if k != "numTraining"} == {k: v for k, v in src.items() if k != "numTraining"}
want = {"imagesTr/case_%03d_aug%d_%04d.nii.gz" % (i, c, m) for i in range(1, 5) for c in range(2) for m in range(2)}
want |= {"labelsTr/case_%03d_aug%d.nii.gz" % (i, c) for i in range(1, 5) for c in range(2)}
lines = [json.loads(l) for l in open("nnout/manifest.jsonl")]
assert sorted(l["output"] for l in lines) == sorted(want), sorted(l["output"] for l in lines)
for l in lines:
    p = "nnout/" + l["output"]
    data = open(p, "rb").read()
    assert hashlib.sha256(data).hexdigest() == l["sha256"] and len(data) == l["bytes"], p
    v = nib.load(p)
    assert v.shape == (32, 38, 32), (p, v.shape)
    arr = np.asanyarray(v.dataobj)
    if l["kind"] == "label":
        assert arr.dtype == np.uint8 and set(np.unique(arr)) <= {0, 1, 2}, (p, arr.dtype)  # float32 -> uint8
    case = l["output"].split("/")[1][:8]
    assert l["subject"] == "imagesTr/%s_0000.nii.gz" % case and l["images"][1].endswith("%s_0001.nii.gz" % case), l
    side = json.load(open("nnout/draws/%s_aug%d.json" % (case, l["copy"])))
    assert side["draw"] == l["draw"] and side["sample"] == l["sample"], p
EOF
# one spatial draw for both channels: each equals `voxaug apply` of that channel alone with the copy's sample
s=$("$py" -c 'import json; print(json.load(open("nnout/draws/case_002_aug1.json"))["sample"])')
for m in 0 1; do
    "$cli" apply nn/imagesTr/case_002_000$m.nii.gz --label nn/labelsTr/case_002.nii.gz --ops "$spec" --seed 3 --sample "$s" \
        -o apply$m.nii.gz --label-out apply_label.nii.gz 2> err || bad "apply channel $m: $(cat err)"
done
"$py" - << 'EOF' && ok || bad "the two channels of a case did not get apply's draw for their sample"
import numpy as np, nibabel as nib
for m in (0, 1):
    a = np.asanyarray(nib.load("apply%d.nii.gz" % m).dataobj)
    b = np.asanyarray(nib.load("nnout/imagesTr/case_002_aug1_%04d.nii.gz" % m).dataobj)
    assert np.array_equal(a, b), "channel %d: max difference %g" % (m, np.abs(a - b).max())
assert np.array_equal(np.asanyarray(nib.load("apply_label.nii.gz").dataobj), np.asanyarray(nib.load("nnout/labelsTr/case_002_aug1.nii.gz").dataobj))
EOF

# ---- BIDS: entity-aware names, labels from derivatives, --modalities order; a link to a folder above is
# not followed (it would loop)
ln -s .. bids/sub-01/loop
"$cli" augment --ops "$spec" -n 1 --bids bids --modalities T2w,T1w -o bout -q > out 2> err; rc=$?
check "BIDS: exit $rc: $(cat err)" [ "$rc" -eq 0 ]
got=$(cd bout && find . -type f | LC_ALL=C sort | tr '\n' ' ')
want="./dataset_description.json ./derivatives/voxaug/dataset_description.json "
for s in 1 2; do for e in 1 2; do
    want="$want./derivatives/voxaug/sub-0$s/ses-$e/anat/sub-0${s}_ses-${e}_desc-aug0_draw.json "
    want="$want./derivatives/voxaug/sub-0$s/ses-$e/anat/sub-0${s}_ses-${e}_desc-aug0_dseg.nii.gz "
done; done
want="$want./manifest.jsonl "
for s in 1 2; do for e in 1 2; do
    want="$want./sub-0$s/ses-$e/anat/sub-0${s}_ses-${e}_desc-aug0_T1w.nii.gz ./sub-0$s/ses-$e/anat/sub-0${s}_ses-${e}_desc-aug0_T2w.nii.gz "
done; done
check "BIDS output names: got '$got'" [ "$got" = "$want" ]
"$py" - << 'EOF' && ok || bad "BIDS sidecars, outputs"
import glob, json
import numpy as np, nibabel as nib
j = json.load(open("bout/derivatives/voxaug/sub-02/ses-1/anat/sub-02_ses-1_desc-aug0_draw.json"))
assert j["subject"] == "sub-02/ses-1/anat/sub-02_ses-1_T2w.nii.gz", j["subject"]  # --modalities T2w first: the key
assert [o["role"] for o in j["outputs"]] == ["T2w", "T1w", "dseg"], j["outputs"]
assert j["labels"] == ["bids/derivatives/manual/sub-02/ses-1/anat/sub-02_ses-1_dseg.nii.gz"], j["labels"]
assert json.load(open("bout/dataset_description.json")) == json.load(open("bids/dataset_description.json"))
d = json.load(open("bout/derivatives/voxaug/dataset_description.json"))
assert d["DatasetType"] == "derivative" and d["GeneratedBy"][0]["Name"] == "voxaug", d
for p in glob.glob("bout/**/*.nii.gz", recursive=True):
    assert nib.load(p).shape == (32, 38, 32), p
EOF
"$cli" augment --ops "$spec" -n 1 --bids bids --name "flat/{subject}_{session}_{copy}_{modality}" -o bname -q > /dev/null 2> err
check "--name with {modality}: $(cat err)" [ -f bname/flat/01_1_0_T1w.nii.gz ] && [ -f bname/flat/02_2_0_dseg.nii.gz ] && [ -f bname/flat/01_2_0_draw.json ]
"$cli" augment --ops "$spec" --bids bids --name "flat/x_{copy}_{modality}" -o bdup -q > /dev/null 2> err; rc=$?
check "--name naming two subjects alike: exit $rc, both named: $(cat err)" [ "$rc" -eq 2 ] && grep -q "sub-01.*and.*would both write" err
"$cli" augment --ops "$spec" --nnunet nn --name "{subject}_{modality}_{copy}" -o bmod -q 2> err; rc=$?
check "--name {modality} with --nnunet refused: exit $rc" [ "$rc" -eq 2 ]
"$cli" augment --ops "$spec" --nnunet nn --name "{subject}_{bogus}_{copy}" -o bmod -q 2> err; rc=$?
check "--name with an unknown field: exit $rc, named: $(cat err)" [ "$rc" -eq 2 ] && grep -q "{bogus}" err

# ---- stable draws: a list of the four cases (two modalities each), relative to the list's folder
for i in 1 2 3 4; do echo "imagesTr/case_00${i}_0000.nii.gz;imagesTr/case_00${i}_0001.nii.gz,labelsTr/case_00${i}.nii.gz"; done > nn/all.txt
run() { "$cli" augment -q --ops "$spec" -n 2 --seed 11 "$@" > out 2> err || bad "run $*: $(cat err)"; }
run -o ref --list nn/all.txt
# same_subjects A B: every subject file (not manifests) A and B both have is identical, and B has all of A's
# files of the subjects named in $3 (a regex of case numbers)
same() {
    local a=$1 b=$2 cases=$3 n=0 f
    for f in $(cd "$a" && ls | grep -E "case_00[$cases]_0000_aug"); do
        cmp -s "$a/$f" "$b/$f" || { echo "  $f differs or is missing in $b"; return 1; }
        n=$((n + 1))
    done
    [ "$n" -eq $(( ${#cases} * 8 )) ] || { echo "  $n files compared"; return 1; }
}
tail -n 3 nn/all.txt > nn/three.txt                      # case 1 removed: the others move up the list
{ echo "imagesTr/case_002_0001.nii.gz;imagesTr/case_002_0000.nii.gz"; cat nn/all.txt; } > nn/five.txt  # one added first
tac nn/all.txt > nn/reversed.txt
run -o three --list nn/three.txt
run -o five --list nn/five.txt
run -o reversed --list nn/reversed.txt
run -o j2 -j 2 --writers 2 --list nn/all.txt
for s in 0 1 2; do run -o shards --shard $s/3 --list nn/all.txt; done
check "a subject removed: the others unchanged" same ref three 234
check "a subject added: the others unchanged" same ref five 1234
check "the list reversed: every subject unchanged" same ref reversed 1234
check "-j 2 --writers 2: every subject unchanged" same ref j2 1234
check "--shard 0/3, 1/3, 2/3 into one folder: every subject unchanged" same ref shards 1234
LC_ALL=C sort shards/manifest.*-of-3.jsonl | cmp -s - ref/manifest.jsonl && ok || bad "the shards' manifests merged are not the run's"
check "reversed: the manifest too" cmp -s ref/manifest.jsonl reversed/manifest.jsonl
# the added subject (case 2's channels swapped) is a subject of its own: its own key, its own draw
"$py" -c '
import json; a = json.load(open("five/case_002_0001_aug0.json")); b = json.load(open("ref/case_002_0000_aug0.json"))
assert a["sample"] != b["sample"], (a["sample"], b["sample"])' 2> err && ok || bad "an added subject's draw: $(cat err)"

# ---- resume: interrupted at exact points, then --resume; the same bytes, only what was missing recomputed
n_of() { sed -n "s/^\([0-9]*\) volumes written.*subjects: \([0-9]*\) computed, \([0-9]*\) complete already$/\1 \2 \3/p" out; }
for stop in 1:INT 3:KILL 5:TERM; do
    d=stop${stop%%:*}
    (VOXAUG_TEST_SIGNAL_AFTER=$stop exec "$cli" augment -q --ops "$spec" -n 2 --seed 11 -o "$d" --list nn/all.txt > out 2> err)
    rc=$?
    case ${stop#*:} in INT) want=130 ;; KILL) want=137 ;; TERM) want=143 ;; esac
    check "stopped by SIG${stop#*:} after ${stop%%:*} copies: exit $rc (want $want)" [ "$rc" -eq "$want" ]
    k=${stop%%:*}
    check "SIG${stop#*:}: $k sidecars, no temporary left" [ "$(ls "$d"/*.json | wc -l)" -eq "$k" ]
    run -o "$d" --list nn/all.txt --resume
    # 8 copies over 4 subjects of 2: the first k committed, so k / 2 subjects are complete
    check "resume after $k: '$(n_of)', want $((8 - k)) written, $((4 - k / 2)) computed, $((k / 2)) complete" \
        [ "$(n_of)" = "$((8 - k)) $((4 - k / 2)) $((k / 2))" ]
    check "resume after SIG${stop#*:}: the same bytes as an uninterrupted run" same ref "$d" 1234
    check "resume after SIG${stop#*:}: the same manifest" cmp -s ref/manifest.jsonl "$d/manifest.jsonl"
done
run -o ref --list nn/all.txt --resume
check "resume of a complete run: '$(n_of)'" [ "$(n_of)" = "0 0 4" ]
# a sidecar whose outputs were changed (a size that does not match) is recomputed
printf 'x' >> stop3/case_004_0000_aug1_label.nii.gz
run -o stop3 --list nn/all.txt --resume
check "resume redoes a copy whose file changed: '$(n_of)'" [ "$(n_of)" = "1 1 3" ]
check "... and restores its bytes" same ref stop3 1234
# a kill at a moment the OS picks: whatever was complete stays, the rest is redone, the bytes are the same
"$cli" augment -q --ops "$spec" -n 2 --seed 11 -o async --list nn/all.txt > /dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do [ "$(ls async/*.json 2> /dev/null | wc -l)" -ge 2 ] && break; sleep 0.01; done
kill -KILL "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
before=$(ls async/*.json 2> /dev/null | wc -l)
run -o async --list nn/all.txt --resume
check "resume after a SIGKILL at $before of 8 copies: '$(n_of)'" [ "$(n_of | cut -d' ' -f1)" -le $((8 - before)) ]
check "async kill then resume: the same bytes" same ref async 1234
check "async kill then resume: the same manifest" cmp -s ref/manifest.jsonl async/manifest.jsonl
check "async kill then resume: no temporary left" [ -z "$(ls -A async | grep '^\.vxa-')" ]

# ---- bad input
"$py" - << 'EOF'
import numpy as np, nibabel as nib
l = np.asanyarray(nib.load("nn/labelsTr/case_001.nii.gz").dataobj).astype(np.float32)
l[3, 4, 5] = 1.5
nib.save(nib.Nifti1Image(l, nib.load("nn/labelsTr/case_001.nii.gz").affine), "badlabel.nii.gz")
t = nib.load("nn/imagesTr/case_001_0000.nii.gz")
nib.save(nib.Nifti1Image(np.asanyarray(t.dataobj)[:, :, :30], t.affine), "short.nii.gz")
for dt, name in ((np.int64, "int64"), (np.int32, "int32"), (np.uint64, "uint64")):
    hd = nib.Nifti1Header(); hd.set_data_dtype(dt)
    nib.save(nib.Nifti1Image(np.asanyarray(t.dataobj).astype(dt), t.affine, hd), name + ".nii.gz")
big = np.asanyarray(t.dataobj).astype(np.int64)
big[1, 2, 3] = 2**53 + 1            # beyond what float64 holds exactly
hd = nib.Nifti1Header(); hd.set_data_dtype(np.int64)
nib.save(nib.Nifti1Image(big, t.affine, hd), "big64.nii.gz")
wide = np.asanyarray(t.dataobj).astype(np.int64) * 2**33   # past int32, exact in float64
nib.save(nib.Nifti1Image(wide, t.affine, hd), "wide64.nii.gz")
EOF
"$cli" augment -q --ops "$spec" -o bad1 "nn/imagesTr/case_001_0000.nii.gz:badlabel.nii.gz" > out 2> err; rc=$?
check "a non-integer float label: exit $rc, file and voxel named: $(cat err)" [ "$rc" -eq 1 ] && grep -q "badlabel.nii.gz: a float32 label map must hold integers; voxel (3, 4, 5) is 1.5" err
"$cli" augment -q --ops "$spec" -o bad2 "nn/imagesTr/case_001_0000.nii.gz;short.nii.gz" > out 2> err; rc=$?
check "two channels on two grids: exit $rc, both named: $(cat err)" [ "$rc" -eq 1 ] && grep -q "case_001_0000.nii.gz is on grid 32x38x32.* but short.nii.gz is on grid 32x38x30" err
# int64 and uint64 are narrowed exactly on reading: to int32 where every value fits, else float64 (|x| <= 2^53)
for t64 in int64 uint64; do
    "$cli" apply $t64.nii.gz --ops "$spec" --seed 3 -o o_$t64.nii.gz > out 2> err; rc=$?
    "$cli" apply int32.nii.gz --ops "$spec" --seed 3 -o o_int32.nii.gz > /dev/null 2>&1
    check "$t64 read as int32: exit $rc, the same result as the int32 file: $(cat err)" [ "$rc" -eq 0 ] && cmp -s o_$t64.nii.gz o_int32.nii.gz
done
"$cli" info wide64.nii.gz > out 2> err; rc=$?
check "int64 past int32 read as float64: exit $rc: $(cat err)" [ "$rc" -eq 0 ] && grep -q "float64" out
"$cli" augment -q --ops "$spec" -o bad3 big64.nii.gz > out 2> err; rc=$?
check "int64 beyond 2^53: exit $rc, value and voxel named: $(cat err)" [ "$rc" -eq 1 ] && grep -q "big64.nii.gz: int64 value 9007199254740993 at voxel (1, 2, 3, 0) is beyond 2^53" err
mkdir -p nn2 && cp -r nn/dataset.json nn/labelsTr nn2/ && mkdir nn2/imagesTr && cp nn/imagesTr/case_00[12]_000*.nii.gz nn2/imagesTr/ && rm nn2/imagesTr/case_002_0001.nii.gz
"$cli" augment -q --ops "$spec" -o bad4 --nnunet nn2 > out 2> err; rc=$?
check "nnU-Net case missing a channel: exit $rc, named: $(cat err)" [ "$rc" -eq 2 ] && grep -q "case case_002 has no channel 0001" err

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
