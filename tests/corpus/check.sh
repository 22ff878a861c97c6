#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The behaviour corpus: runs tests/corpus/pipelines.txt through tests/tools/vxa_corpus on the C reference path
# and on the device under test, and compares every output's SHA-256 with the recorded ones:
#   reference: expected-reference.txt, every column, bit for bit;
#   device: expected-device.txt, every column, when the device is the one recorded there (its "# device" line);
#   another device (a GPU, another CPU's PoCL): images and fields may differ within float32 rounding, so only the
#   columns every device must reproduce exactly are compared with the reference's: labels, geometry and draws.
# A deliberate change of behaviour re-records with scripts/corpus-record.sh, and its commit says which lines
# changed and why. Usage: check.sh VXA_CORPUS_TOOL
set -u
tool=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# show_diff WANT GOT COLUMNS: the differing runs, with the pipeline of each line
show_diff() {
    diff <(awk "$3" "$1") <(awk "$3" "$2") | grep '^[<>]' | head -20 | while read -r side run rest; do
        n=${run#L}
        echo "  $side $run $rest    [$(sed -n "${n}p" "$here/pipelines.txt")]"
    done
}

if ! "$tool" "$here/pipelines.txt" --device reference > "$tmp/reference.txt"; then
    echo "FAIL: the corpus did not run on the reference path"; exit 1
fi
if cmp -s "$tmp/reference.txt" "$here/expected-reference.txt"; then
    echo "ok: reference path, $(grep -c '^L' "$tmp/reference.txt") runs, every output bit for bit as recorded"
else
    echo "FAIL: reference path differs from tests/corpus/expected-reference.txt:"
    show_diff "$here/expected-reference.txt" "$tmp/reference.txt" '/^L/'
    fail=1
fi

device=${VOXAUG_DEVICE:-}
if [ "$device" = reference ]; then
    echo "skip: the device under test is the reference path (VOXAUG_DEVICE=reference)"
    [ "$fail" -eq 0 ] && exit 77 || exit 1
fi
if ! "$tool" "$here/pipelines.txt" ${device:+--device "$device"} > "$tmp/device.txt" 2> "$tmp/device.err"; then
    if [ "${VOXAUG_REQUIRE_DEVICE:-0}" = 1 ] || ! grep -qi "no opencl\|not found\|platform" "$tmp/device.err"; then
        echo "FAIL: the corpus did not run on the device: $(cat "$tmp/device.err")"; exit 1
    fi
    echo "skip: no OpenCL device ($(cat "$tmp/device.err"))"
    [ "$fail" -eq 0 ] && exit 77 || exit 1
fi
name=$(head -1 "$tmp/device.txt")
if [ "$name" = "$(head -1 "$here/expected-device.txt")" ]; then
    if cmp -s "$tmp/device.txt" "$here/expected-device.txt"; then
        echo "ok: ${name#\# device }, $(grep -c '^L' "$tmp/device.txt") runs, every output bit for bit as recorded"
    else
        echo "FAIL: ${name#\# device } differs from tests/corpus/expected-device.txt:"
        show_diff "$here/expected-device.txt" "$tmp/device.txt" '/^L/'
        fail=1
    fi
else
    # labels, geometry and draws (less the "slabs" flag, which only the limited context sets) as the reference's
    cols='/^L/ && $3 != "slabs" { print $1, $2, $3, "lab", $7, "geo", $9, "draw", $11 }'
    if diff -q <(awk "$cols" "$tmp/reference.txt") <(awk "$cols" "$tmp/device.txt") > /dev/null; then
        echo "ok: ${name#\# device } is not the recorded $(head -1 "$here/expected-device.txt" | cut -c10-):" \
             "labels, geometry and draws equal the reference's (images and fields not compared)"
    else
        echo "FAIL: ${name#\# device }: labels, geometry or draws differ from the reference path:"
        show_diff "$tmp/reference.txt" "$tmp/device.txt" "$cols"
        fail=1
    fi
fi
exit "$fail"
