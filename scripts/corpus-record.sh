#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Re-records the behaviour corpus (tests/corpus/expected-*.txt) from a build: for a change that alters results
# on purpose. Its commit names the lines that changed and why. Usage: scripts/corpus-record.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tool=$build/tests/tools/vxa_corpus
"$tool" tests/corpus/pipelines.txt --device reference > tests/corpus/expected-reference.txt
"$tool" tests/corpus/pipelines.txt ${VOXAUG_DEVICE:+--device "$VOXAUG_DEVICE"} > tests/corpus/expected-device.txt
git diff --stat tests/corpus/
