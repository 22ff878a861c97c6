#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sets up (Debian packages), builds, and runs the demo: a random augmentation pipeline on the built-in head
# phantom, written as NIfTI with before/after previews into the folder it prints. Nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
./build/voxaug demo "$@"
