#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Peak host memory (maximum resident set size, GNU time -v) of `voxaug apply` on smooth float32 volumes of
# several sizes, on the default OpenCL device and on the C reference path, as a Markdown table on stdout.
# Each case runs REPEAT times (default 2) and the largest peak is kept; one untimed run per device first
# builds and caches the kernels, so the table shows steady-state use, not the one-off kernel compilation.
#
# usage: scripts/measure_memory.sh [VOXAUG] [SIZE ...]     (default: build/voxaug, sizes 64 128 192 256)
# env:   VXA_MEM_SPEC (the pipeline), VXA_MEM_DEVICES (default "default reference"), VXA_MEM_REPEAT (2),
#        VXA_MEM_DIR (scratch folder; default a new one under /tmp, removed at the end)
set -euo pipefail
cli=${1:-build/voxaug}
shift || true
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(64 128 192 256)
spec=${VXA_MEM_SPEC:-rotate(10, plane=0,1) zoom(1.1)}
devices=${VXA_MEM_DEVICES:-default reference}
repeat=${VXA_MEM_REPEAT:-2}
py=/usr/bin/python3
timer=/usr/bin/time
[ -x "$timer" ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
[ -x "$cli" ] || { echo "no voxaug at $cli" >&2; exit 1; }
if [ -n "${VXA_MEM_DIR:-}" ]; then dir=$VXA_MEM_DIR; mkdir -p "$dir"; else
    dir=$(mktemp -d /tmp/vxa_memory.XXXXXX); trap 'rm -rf "$dir"' EXIT; fi

# smooth volumes: a sum of low-frequency sines, float32, 1 mm, uncompressed .nii (no gzip buffers in the peak)
"$py" - "$dir" "${sizes[@]}" << 'EOF'
import sys
import numpy as np, nibabel as nib
d = sys.argv[1]
for n in map(int, sys.argv[2:]):
    t = np.linspace(0, 2 * np.pi, n, dtype=np.float32)
    a = (np.sin(t)[:, None, None] + np.cos(2 * t)[None, :, None] + np.sin(3 * t + 1)[None, None, :]).astype(np.float32)
    nib.save(nib.Nifti1Image(a * 100 + 300, np.eye(4)), "%s/smooth%d.nii" % (d, n))
EOF

# peak_kb DEVICE FILE: the largest maximum RSS of $repeat runs, in KiB
peak_kb() {
    local dev=$1 file=$2 best=0 kb r
    local args=()
    [ "$dev" = default ] || args=(--device "$dev")
    for ((r = 0; r < repeat; r++)); do
        "$timer" -v "$cli" apply "$file" --ops "$spec" -o "$dir/out.nii" "${args[@]}" 2> "$dir/time.txt" > /dev/null ||
            { cat "$dir/time.txt" >&2; exit 1; }
        kb=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$dir/time.txt")
        [ "$kb" -gt "$best" ] && best=$kb
    done
    echo "$best"
}

# the same for `voxaug info` (reading the file and a pass over it): the floor any command that reads it pays
info_kb() {
    "$timer" -v "$cli" info "$1" 2> "$dir/time.txt" > /dev/null
    awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$dir/time.txt"
}

devname() {
    if [ "$1" = reference ]; then echo "reference (C)"; return; fi
    "$cli" demo --size 16 -n 1 -o "$dir/demo" 2> /dev/null | sed -n 's/^voxaug .* demo on //p'
}

echo "pipeline: \`$spec\`, input float32 .nii, output float32 .nii; peak = maximum resident set size (GNU time -v),"
echo "largest of $repeat runs; multiple = peak / input volume bytes (n^3 x 4)."
echo
echo "| device | n | input MiB | \`info\` peak MiB | \`apply\` peak MiB | peak / input |"
echo "|---|---:|---:|---:|---:|---:|"
: > "$dir/points"
for dev in $devices; do
    name=$(devname "$dev")
    peak_kb "$dev" "$dir/smooth${sizes[0]}.nii" > /dev/null  # builds and caches the kernels
    for n in "${sizes[@]}"; do
        f=$dir/smooth$n.nii
        kb=$(peak_kb "$dev" "$f")
        ikb=$(info_kb "$f")
        echo "$name|$n|$kb" >> "$dir/points"
        awk -v dev="$name" -v n="$n" -v kb="$kb" -v ikb="$ikb" 'BEGIN {
            in_mib = n * n * n * 4 / 1048576
            printf "| %s | %d | %.1f | %.1f | %.1f | %.2f |\n", dev, n, in_mib, ikb / 1024, kb / 1024, kb / 1024 / in_mib }'
    done
done

# least-squares fit peak = fixed + slope x input bytes per device
echo
echo "| device | fixed MiB | slope (x input bytes) |"
echo "|---|---:|---:|"
awk -F'|' '{ x = $2 * $2 * $2 * 4 / 1048576; y = $3 / 1024; d[$1]; n[$1]++; sx[$1] += x; sy[$1] += y
             sxx[$1] += x * x; sxy[$1] += x * y }
     END { for (k in d) { b = (n[k] * sxy[k] - sx[k] * sy[k]) / (n[k] * sxx[k] - sx[k] * sx[k])
                          printf "| %s | %.1f | %.2f |\n", k, (sy[k] - b * sx[k]) / n[k], b } }' "$dir/points"

# the first run on an OpenCL device with an empty PoCL kernel cache also pays for compiling the kernels
if [[ " $devices " == *" default "* ]] && "$cli" devices 2> /dev/null | grep -qi pocl; then
    mkdir -p "$dir/empty_pocl_cache"
    kb=$(POCL_CACHE_DIR=$dir/empty_pocl_cache repeat=1 peak_kb default "$dir/smooth${sizes[0]}.nii")
    echo
    awk -v n="${sizes[0]}" -v kb="$kb" 'BEGIN {
        printf "first run with an empty PoCL kernel cache (POCL_CACHE_DIR), n = %d: %.1f MiB\n", n, kb / 1024 }'
fi
