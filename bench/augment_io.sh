#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# voxaug augment end to end on 20 ch2 + aal subjects (181x217x181, float32 outputs of ch2's size, 28 MB each
# before compression): volumes/s for gzip levels 1 and 6, zlib and libdeflate, -j 1 and 2, one writer thread or
# none (compression in the compute thread), uncompressed .nii, next to the pipeline's own rate (--dry-run: read
# and compute, write nothing). Prints a Markdown table for bench/RESULTS.md. Each row is one run (the machine is
# shared: say so next to the figures).
# usage: bash bench/augment_io.sh BUILD_DIR
set -eu
cli=${1:?usage: augment_io.sh BUILD_DIR}/voxaug
ch2=/usr/share/mricron/templates/ch2.nii.gz
aal=/usr/share/mricron/templates/aal.nii.gz
tmp=$(mktemp -d /tmp/vxa_augment_io.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in"
for i in $(seq -w 1 20); do # 20 subjects: one file each under its own name (its own key, its own draws)
    ln -s "$ch2" "$tmp/in/sub$i.nii.gz"
    ln -s "$aal" "$tmp/in/sub${i}_aal.nii.gz"
    echo "sub$i.nii.gz,sub${i}_aal.nii.gz"
done > "$tmp/in/list.txt"
spec="flip(axes=0, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) zscore"
echo "| run | options | s | volumes/s | MB written |"
echo "|---|---|---|---|---|"
row() {
    local what=$1; shift
    rm -rf "$tmp/out"
    local t0 t1
    t0=$(date +%s.%N)
    "$cli" augment -q --ops "$spec" -o "$tmp/out" --list "$tmp/in/list.txt" "$@" > /dev/null
    t1=$(date +%s.%N)
    local mb
    mb=$(du -sm "$tmp/out" | cut -f1)
    awk -v w="$what" -v o="$*" -v a="$t0" -v b="$t1" -v mb="$mb" \
        'BEGIN { printf "| %s | `%s` | %.2f | %.2f | %s |\n", w, o, b - a, 20 / (b - a), mb }'
}
row "pipeline alone" -j 1 --dry-run
row "pipeline alone" -j 2 --dry-run
for lib in zlib libdeflate; do
    for level in 1 6; do
        for j in 1 2; do
            row "gzip $level, $lib" -j $j --writers 1 --gzip-level $level --deflate $lib
        done
    done
done
row "gzip 1, libdeflate, no writer thread" -j 1 --writers 0 --deflate libdeflate
row "gzip 1, zlib, no writer thread" -j 1 --writers 0 --deflate zlib
row "gzip 1, libdeflate, 2 writers" -j 1 --writers 2 --deflate libdeflate
row "uncompressed .nii" -j 1 --writers 1 --nii
