#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real fuzzing with libFuzzer (clang), ASan and UBSan: each target runs for FUZZ_SECONDS (default 60) from a
# copy of its corpus, from a fixed seed (FUZZ_SEED, default 1) so that a CI run repeats the start of a longer
# local run. A crash leaves its input in build-fuzz/crashes/ and fails the script; turn each one into a file of
# tests/fuzz/corpus/<target>/ so the ctest replay keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVOXAUG_SANITIZE=ON -DVOXAUG_FUZZ=ON > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_nifti_read fuzz_spec_parse
mkdir -p build-fuzz/crashes
status=0
for t in nifti_read spec_parse; do
    work=build-fuzz/corpus-$t
    rm -rf "$work" && mkdir -p "$work" && cp tests/fuzz/corpus/$t/* "$work"/
    [ "$t" = nifti_read ] && [ -d tests/data/bad ] && cp tests/data/bad/* "$work"/ 2>/dev/null || true
    echo "== fuzzing $t for ${secs}s"
    if ! LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" UBSAN_OPTIONS=halt_on_error=1 \
         ./build-fuzz/tests/fuzz_$t -max_total_time="$secs" -seed="${FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix=build-fuzz/crashes/$t- "$work" > build-fuzz/fuzz-$t.log 2>&1; then
        status=1
        tail -40 build-fuzz/fuzz-$t.log
    fi
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" build-fuzz/fuzz-$t.log | tail -1 || tail -2 build-fuzz/fuzz-$t.log
done
exit $status
