#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (Debian packages), builds with warnings as errors, and runs the whole test suite on PoCL:
# once plainly, then under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
jobs=$(nproc)
export VOXAUG_REQUIRE_DEVICE=1

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVOXAUG_WERROR=ON
cmake --build build -j"$jobs"
# Seeds: the plain suite runs the fixed seed (the tests' default), the sanitizer suite one random seed; both are
# printed here, and a failing test prints the one-line command that replays it.
fixed_seed=20261207
random_seed=${VOXAUG_RANDOM_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# plain suite: VOXAUG_TEST_SEED=$fixed_seed (fixed); sanitizer suite: VOXAUG_TEST_SEED=$random_seed (random)"
# The Python venv of the stage below (Debian's Python, which sees Debian's NumPy, SciPy, nibabel and torch), made
# first so that it also gives SimpleITK (a wheel, ~20 s) to tests/scipy/check_field_itk.py (VXA_ITK_PYTHON): ITK's
# own reading of the displacement fields. Without PyPI that check skips (77), saying so.
venv=build/python-venv
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install -q pytest==8.3.5
"$venv/bin/python" -m pip install -q SimpleITK==2.5.7 || echo "# SimpleITK not installed: check_field_itk will skip"
(cd build && VOXAUG_TEST_SEED=$fixed_seed VXA_ITK_PYTHON="$PWD/python-venv/bin/python" ctest --output-on-failure -j"$jobs")

# The GPU check (scripts/gpu-check.sh), run here on PoCL so that it does not rot: the plain build reused, the
# behaviour corpus and one benchmark row in quick mode, its cold-start step (~1 min). On a machine with a GPU it
# runs whole: scripts/gpu-check.sh.
gpu_start=$SECONDS
scripts/gpu-check.sh --device cpu --build build --tests '^corpus$' --bench-only rotate
echo "GPU check on PoCL: $((SECONDS - gpu_start)) s"

# The Python package (python/): in the venv made above, the package built by pip from this tree (scikit-build-core
# compiles libvoxaug into it; its build folder lives in the venv, so a rerun only recompiles what changed), then its
# tests. pytest's status is the stage's: set -e stops the script on a failure.
py_start=$SECONDS
"$venv/bin/python" -m pip install -q --config-settings=build-dir="$PWD/$venv/skbuild" ./python
VOXAUG_CLI="$PWD/build/voxaug" "$venv/bin/python" -m pytest -p no:cacheprovider -q python/tests
echo "Python stage: $((SECONDS - py_start)) s"

# Sanitizers: the same suite (less the SciPy cross-checks) under ASan + UBSan, on the OpenCL device, so the
# device path and the reference path it is compared with are both checked. PoCL and LLVM keep allocations
# until exit by design; tests/lsan.supp names them, so voxaug's own leaks still fail the run.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVOXAUG_WERROR=ON -DVOXAUG_SANITIZE=ON
cmake --build build-asan -j"$jobs"
# The ABI check compares the plain build's library only.
# use_sigaltstack=0: ASan's own thread-exit clean-up aborts ("unable to unmap" its signal stack) on threads
# that have run PoCL. The install test links the installed library into plain programs, and the Slurm check
# runs the CLI under a private Slurm: plain build only. The kill test (29 runs of augment, 2 min under ASan) runs
# in the plain build; its write path (src/commit.c) runs under ASan in cli_outputs, cli_augment and cli_dataset.
echo "# sanitizer suite: VOXAUG_TEST_SEED=$random_seed (random; replay with VOXAUG_TEST_SEED=$random_seed ctest -R ...)"
(cd build-asan && VOXAUG_TEST_SEED=$random_seed ASAN_OPTIONS=detect_leaks=1:use_sigaltstack=0 LSAN_OPTIONS=suppressions="$PWD/../tests/lsan.supp" \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs" -E '^(scipy_|peers_|cli_install_|bench_|abi_|cli_kill$|slurm_)')

# ThreadSanitizer: the library and tests/test_threads.c only (a shared pipeline from 8 threads, own contexts,
# outputs identical to serial runs; ~20 s to build, ~25 s to run on 2 cores), on PoCL. PoCL itself is not
# instrumented, but its locks and threads are pthreads that TSan intercepts: the run is clean, and a counter
# shared by contexts inside vxa_pipeline_run_dvol was reported as a data race when tried.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVOXAUG_WERROR=ON -DVOXAUG_TSAN=ON
cmake --build build-tsan -j"$jobs" --target test_threads
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ./tests/test_threads)

# Fuzzing (libFuzzer + ASan + UBSan), a bounded time per target.
FUZZ_SECONDS=${FUZZ_SECONDS:-60} scripts/fuzz.sh
