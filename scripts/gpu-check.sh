#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU check: on a machine with a GPU, finds (or sets up) the vendor's OpenCL ICD, builds, runs the whole test
# suite on the GPU (VOXAUG_DEVICE=gpu, VOXAUG_REQUIRE_DEVICE=1), runs the benchmark's quick mode on the GPU and
# prints one summary. Meant to finish within 8 minutes on a 16-core machine.
#
#   scripts/gpu-check.sh [--deps DIR] [--device D] [--build DIR] [--tests REGEX] [--bench-only ROWS]
#
#   --deps DIR     what scripts/gpu-deps.sh gathered on a Debian machine (an OpenCL ICD loader, voxaug's build
#                  dependencies, nibabel, ch2 and aal), for a bare machine without network: used in place, nothing
#                  is installed, except that the two MRI templates are copied to /usr/share/mricron/templates
#                  when that folder is missing and the script runs as root (the tests read them there).
#   --device D     the device under test (default gpu); CI runs the script with --device cpu against PoCL so
#                  that it does not rot.
#   --build DIR    build folder (default build-gpu); an existing configured build is reused.
#   --tests REGEX  only the ctest tests matching REGEX (default: all).
#   --bench-only ROWS  only the benchmark rows whose names contain one of ROWS (comma-separated; bench/run.py
#                  --only, without the sweeps); scripts/test.sh runs the script this way on PoCL, on the plain
#                  build, with the corpus and one row, so that every step runs in CI in about a minute.
# Besides: a new process's time to its first sample with empty program caches, then with them filled.
# Exit status: 0 when every step passed, 1 otherwise (the summary says which).
set -uo pipefail
cd "$(dirname "$0")/.."
deps="" device=gpu build=build-gpu tests="" bench_only=""
while [ $# -gt 0 ]; do
    case $1 in
        --deps) deps=$(cd "$2" && pwd); shift 2 ;;
        --device) device=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --tests) tests=$2; shift 2 ;;
        --bench-only) bench_only=$2; shift 2 ;;
        -h|--help) sed -n '3,24p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
start=$(date +%s)
log=$(mktemp -d)
summary=()
step() { summary+=("$(printf '%-10s %s' "$1" "$2")"); echo "== gpu-check: $1: $2"; }
finish() {
    # the device tool brings back what is left under $OUT
    if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
        cp "$log"/*.txt "$OUT"/ 2> /dev/null
        [ -f "$log/bench/RESULTS.md" ] && cp "$log/bench/RESULTS.md" "$OUT/bench-RESULTS.md"
    fi
    echo
    echo "== gpu-check summary ($(( $(date +%s) - start )) s)"
    printf '%s\n' "${summary[@]}"
    exit "$1"
}

# ---- what this machine has -----------------------------------------------------------------------------------
step machine "$(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
if command -v nvidia-smi > /dev/null; then
    step gpu "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
fi

# ---- carried dependencies: used in place --------------------------------------------------------------------
if [ -n "$deps" ]; then
    root=$deps/root
    arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    export LD_LIBRARY_PATH=$root/usr/lib/$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export CMAKE_PREFIX_PATH=$root/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
    export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$root/usr/lib/$arch/pkgconfig:$root/usr/share/pkgconfig
    export PKG_CONFIG=$root/usr/bin/pkgconf
    [ -d "$deps/python" ] && export PYTHONPATH=$deps/python${PYTHONPATH:+:$PYTHONPATH}
    if [ ! -e /usr/share/mricron/templates/ch2.nii.gz ] && [ "$(id -u)" -eq 0 ] && [ -d "$deps/templates" ]; then
        mkdir -p /usr/share/mricron/templates && cp "$deps"/templates/*.nii.gz /usr/share/mricron/templates/
    fi
    step deps "$deps (loader, headers and libraries used in place)"
fi

# ---- the OpenCL ICD: a vendor file naming NVIDIA's library where the system has none ---------------------------
if [ "$device" != cpu ] && [ "$device" != reference ] && [ -z "${OCL_ICD_VENDORS:-}" ] &&
   ! grep -qsl nvidia /etc/OpenCL/vendors/*.icd; then
    nvlib=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl.so.1/ { print $NF; exit }')
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
        [ -z "$nvlib" ] && [ -e "$d/libnvidia-opencl.so.1" ] && nvlib=$d/libnvidia-opencl.so.1
    done
    if [ -n "$nvlib" ]; then
        mkdir -p "$log/vendors"
        echo "$nvlib" > "$log/vendors/nvidia.icd"
        export OCL_ICD_VENDORS=$log/vendors
        step icd "no NVIDIA entry in /etc/OpenCL/vendors: OCL_ICD_VENDORS names $nvlib"
    else
        step icd "no NVIDIA entry in /etc/OpenCL/vendors and no libnvidia-opencl.so.1 found"
    fi
fi

# ---- a Python with NumPy, SciPy and nibabel for the SciPy checks and the benchmark --------------------------------
py=""
for candidate in "${VXA_PYTHON:-}" python3 /usr/bin/python3; do
    if [ -n "$candidate" ] && "$candidate" -c 'import numpy, scipy, nibabel' 2> /dev/null; then
        py=$(command -v "$candidate"); break
    fi
done
step python "${py:-none with numpy, scipy and nibabel: the SciPy checks will fail and the benchmark is skipped}"

# ---- build -------------------------------------------------------------------------------------------------
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVOXAUG_WERROR=ON ${py:+-DVXA_PYTHON="$py"} ${py:+-DVXA_BENCH_PYTHON="$py"})
[ -n "${PKG_CONFIG:-}" ] && cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$PKG_CONFIG")
if ! { cmake -S . -B "$build" "${cmake_args[@]}" && cmake --build "$build" -j"$(nproc)"; } > "$log/build.txt" 2>&1; then
    tail -30 "$log/build.txt"
    step build "FAILED (above)"
    finish 1
fi
step build "$build"

# ---- the device -------------------------------------------------------------------------------------------
"$build/voxaug" devices > "$log/devices.txt" 2>&1
sed 's/^/    /' "$log/devices.txt"
export VOXAUG_DEVICE=$device VOXAUG_REQUIRE_DEVICE=1
# the device's name, as a context on it reports it (vxa_corpus prints it before running an empty list)
"$build/tests/tools/vxa_corpus" /dev/null --device "$device" > "$log/device.txt" 2>&1
name=$(sed -n 's/^# device //p' "$log/device.txt")
if [ -z "$name" ]; then
    step device "'$device' NOT FOUND: $(cat "$log/device.txt")"
    finish 1
fi
step device "$name"

# ---- cold start: the first sample of a new process with empty program caches (voxaug's and the driver's, PoCL's
# POCL_CACHE_DIR), then of a second process finding what the first left (a machine that has run voxaug before):
# wall time of the whole process, main's start to its first sample done, and that first run --------------------
for run in fresh warm; do
    t0=$(date +%s%N)
    if VOXAUG_CACHE_DIR=$log/program-cache POCL_CACHE_DIR=$log/pocl-cache "$build/bench/vxa_bench" --input smooth:64 \
           --spec "flip(axes=0, p=0.5) rotate([-10,10]) zscore noise(0.1) crop(48, 48, 48)" \
           --repeat 1 --warmup 0 --device "$device" > "$log/cold-$run.txt" 2>&1; then
        first=$(sed -n 's/.*"first_run_ms":\([0-9.e+-]*\).*/\1/p' "$log/cold-$run.txt" | tail -1)
        to=$(sed -n 's/.*"to_first_sample_ms":\([0-9.e+-]*\).*/\1/p' "$log/cold-$run.txt" | tail -1)
        step "cold $run" "process $(( ($(date +%s%N) - t0) / 1000000 )) ms, to the first sample ${to%.*} ms (first run ${first%.*} ms), caches $run"
    else
        step "cold $run" "FAILED: $(tail -1 "$log/cold-$run.txt")"
        rc_cold=1
    fi
done

# ---- the test suite on the device ----------------------------------------------------------------------------
rc=0
(cd "$build" && ctest -j"$(nproc)" --timeout 300 ${tests:+-R "$tests"}) > "$log/ctest.txt" 2>&1 || rc=1
grep -E "tests passed|Failed|\*\*\*|Not Run|Skipped" "$log/ctest.txt" | sed 's/^/    /'
step tests "$(grep -E '% tests passed' "$log/ctest.txt" || echo 'ctest did not finish')"
[ $rc -eq 0 ] || { grep -A40 'The following tests' "$log/ctest.txt" | head -40; }

# ---- benchmark, quick mode, on the device --------------------------------------------------------------------
brc=0
if [ -n "$py" ]; then
    "$py" bench/run.py --quick --device "$device" --bench "$build/bench/vxa_bench" --work "$log/bench" \
        --results "$log/bench/RESULTS.md" --charts "$log/bench" ${bench_only:+--only "$bench_only" --no-sweeps} \
        > "$log/bench.txt" 2>&1 || brc=1
    tail -25 "$log/bench.txt" | sed 's/^/    /'
    step bench "$([ $brc -eq 0 ] && echo "quick mode passed: $log/bench/RESULTS.md" || echo 'quick mode FAILED')"
    [ -f "$log/bench/RESULTS.md" ] && sed -n '1,60p' "$log/bench/RESULTS.md"
else
    step bench "skipped: python3 lacks numpy, scipy or nibabel (carry them with --deps)"
fi
[ $rc -eq 0 ] && [ $brc -eq 0 ] && [ -z "${rc_cold:-}" ] && finish 0
finish 1
