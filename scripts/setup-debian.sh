#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what voxaug needs to build, test and benchmark on Debian 12, from Debian's packages only.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
    build-essential cmake pkg-config git ca-certificates \
    ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo \
    libnifti2-dev zlib1g-dev libdeflate-dev libpng-dev libcmocka-dev \
    python3 python3-numpy python3-scipy python3-nibabel python3-matplotlib time \
    python3-venv python3-dev python3-pip python3-torch ninja-build \
    mricron-data valgrind clang abigail-tools slurm-wlm munge
