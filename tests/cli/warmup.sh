#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# voxaug warmup from the shell: usage errors (exit 2), and its pipelines run end to end on the reference path
# (cheap: no programs; on a device the same runs build and store them, which test_progcache covers for the
# cache itself), so that a change of an op's syntax cannot leave warmup failing unnoticed.
set -u
cli=$1
. "$(dirname "$0")/../cli_lib.sh"   # $tmp, ok, bad, expect

expect 0 "--help" "$cli" warmup --help
grep -q "VOXAUG_CACHE_DIR" "$tmp/out" && ok "--help names the cache's variables" || bad "--help: no VOXAUG_CACHE_DIR"
expect 2 "unknown option" "$cli" warmup --fast
expect 2 "--dtypes without a value" "$cli" warmup --dtypes
expect 2 "an output-only dtype" "$cli" warmup --dtypes int64
grep -q "int64" "$tmp/err" && ok "the dtype is named" || bad "the dtype is not named: $(cat "$tmp/err")"
expect 2 "a pipeline that does not parse" "$cli" warmup --pipeline "rotate("
expect 1 "a device that does not exist" "$cli" warmup --device "no such device"
VOXAUG_CACHE_DIR=$tmp/cache expect 0 "every pipeline, every default dtype, on the reference path" \
    "$cli" warmup --device reference --pipeline "zoom(0.9) blur(1)"
grep -q "9 pipeline(s) x 3 dtype(s)" "$tmp/out" && ok "9 pipelines x 3 dtypes ran" || bad "summary: $(cat "$tmp/out")"
grep -q "not used by the reference path" "$tmp/out" && ok "the reference path needs no cache" || bad "$(cat "$tmp/out")"
[ ! -e "$tmp/cache" ] && ok "nothing written for the reference path" || bad "$tmp/cache was made"
VOXAUG_CACHE=0 expect 0 "int8 and float64 on the reference path" "$cli" warmup --device reference --dtypes int8,float64
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
