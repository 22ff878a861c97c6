#!/bin/bash
# SPDX-License-Identifier: MIT
# `voxaug info` on bad input: a missing file, a directory and every file of tests/data/bad/ must each exit
# non-zero (1, not a crash: < 128), print a message on stderr that names the file, and mention no sanitizer
# report or core dump. Usage errors exit 2.
# usage: bash bad_input.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: bad_input.sh CLI DATA_DIR}
data=${2:?usage: bad_input.sh CLI DATA_DIR}
passed=0
failed=0
scratch=$(mktemp -d /tmp/vxa_bad_input.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# expect_failure FILE WANT_RC: runs `voxaug info FILE`, checks the exit code and the message
expect_failure() {
    local file=$1 want=$2 out rc
    out=$("$cli" info "$file" 2>&1 >/dev/null)
    rc=$?
    local why=""
    if [ "$rc" -ne "$want" ]; then why="exit code $rc, expected $want"; fi
    if [ "$rc" -ge 128 ]; then why="crashed (exit code $rc)"; fi
    if ! grep -qF -- "$(basename "$file")" <<<"$out"; then why="${why:+$why; }message does not name the file"; fi
    if ! grep -q "^voxaug info: " <<<"$out"; then why="${why:+$why; }message does not start with 'voxaug info: '"; fi
    if grep -qE "Sanitizer|core dumped|Segmentation|Aborted|\*\* ERROR" <<<"$out"; then
        why="${why:+$why; }crash report or niftilib noise in the output"
    fi
    if [ -n "$why" ]; then
        echo "FAIL $file: $why"
        echo "     output: $out"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

expect_failure "$scratch/no_such_file.nii" 1
mkdir "$scratch/folder.nii"
expect_failure "$scratch/folder.nii" 1
n=0
for f in "$data"/bad/*; do
    [ -e "$f" ] || continue
    expect_failure "$f" 1
    n=$((n + 1))
done
if [ "$n" -lt 40 ]; then
    echo "FAIL: only $n files in $data/bad (run scripts/make_bad_nifti.py)"
    failed=$((failed + 1))
fi

# usage errors: exit 2, and --help exits 0
for args in "" "--bogus" "a.nii b.nii"; do
    # shellcheck disable=SC2086
    "$cli" info $args >/dev/null 2>&1
    rc=$?
    if [ "$rc" -eq 2 ]; then passed=$((passed + 1)); else echo "FAIL: 'voxaug info $args' exit $rc, expected 2"; failed=$((failed + 1)); fi
done
if "$cli" info --help | grep -q "usage: voxaug info"; then passed=$((passed + 1)); else echo "FAIL: voxaug info --help"; failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
