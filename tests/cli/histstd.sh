#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# voxaug histstd-train from the shell on the default device: usage errors (exit 2), bad inputs (exit 1, no file
# left), a training whose landmarks are those of its definition (TorchIO's average mapping, recomputed here
# from np.percentile), read back by histstd(landmarks=...) in a pipeline. Needs Debian's python3 with NumPy and
# nibabel for the inputs (else exit 77).
set -u
cli=$1
. "$(dirname "$0")/../cli_lib.sh"   # $tmp, ok, bad, expect
py=/usr/bin/python3
"$py" -c "import numpy, nibabel" 2> /dev/null || { echo "skip: no NumPy/nibabel"; exit 77; }
"$py" - "$tmp" <<'PY'
import sys, numpy as np, nibabel as nib
rng = np.random.default_rng(5)
for i, (mu, sd) in enumerate([(100, 20), (300, 50), (50, 5)]):
    x = rng.normal(mu, sd, (23, 19, 17)).astype(np.float32) * (1 + 0.3 * rng.random((23, 19, 17))).astype(np.float32)
    nib.save(nib.Nifti1Image(x, np.eye(4)), f"{sys.argv[1]}/a{i}.nii")
nib.save(nib.Nifti1Image(np.full((5, 5, 5), 3, np.float32), np.eye(4)), f"{sys.argv[1]}/const.nii")
PY
expect 2 "no -o" "$cli" histstd-train "$tmp/a0.nii"
expect 2 "no images" "$cli" histstd-train -o "$tmp/lm.json"
expect 2 "bad cutoff" "$cli" histstd-train --cutoff 0.2,0.99 "$tmp/a0.nii" -o "$tmp/lm.json"
expect 1 "missing image" "$cli" histstd-train "$tmp/nope.nii" -o "$tmp/lm.json"
expect 1 "constant image" "$cli" histstd-train "$tmp/a0.nii" "$tmp/const.nii" -o "$tmp/lm.json"
[ -e "$tmp/lm.json" ] && bad "a failed training left $tmp/lm.json" || ok "a failed training leaves no file"
expect 0 "training" "$cli" histstd-train -q --cutoff 0.02,0.98 "$tmp/a0.nii" "$tmp/a1.nii" "$tmp/a2.nii" -o "$tmp/lm.json"
if "$py" - "$tmp" <<'PY'
import json, sys, numpy as np, nibabel as nib
t = sys.argv[1]
q = [2] + list(range(10, 100, 10)) + [98]
p = np.array([np.percentile(nib.load(f"{t}/a{i}.nii").get_fdata(dtype=np.float32), q) for i in range(3)])
want = np.mean([(r - r[0]) * 100 / (r[-1] - r[0]) for r in p], axis=0)
got = json.load(open(f"{t}/lm.json"))
assert got["percentiles"] == q, got["percentiles"]
err = np.max(np.abs(np.array(got["landmarks"]) - want))
print("landmarks within %.3g of the definition" % err)
sys.exit(0 if err < 1e-9 else 1)
PY
then ok "landmarks as defined"; else bad "landmarks differ from the definition"; fi
expect 0 "histstd reads them" "$cli" apply "$tmp/a1.nii" --ops "histstd(landmarks=$tmp/lm.json)" -o "$tmp/o.nii"
expect 2 "a missing landmarks file is a parse error" "$cli" apply "$tmp/a1.nii" --ops "histstd(landmarks=$tmp/x.json)" -o "$tmp/o2.nii"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
