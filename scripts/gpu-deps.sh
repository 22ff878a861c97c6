#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Gathers, on this Debian 12 machine, what scripts/gpu-check.sh needs on a lent GPU machine that has NVIDIA's
# driver and CMake but no OpenCL loader, no voxaug build dependencies, no network: Debian's packages unpacked
# (not installed) into .gpu-deps/root, the real MRI of the tests (ch2 and aal from mricron-data) and nibabel
# (.gpu-deps/python).
# The device tool carries the folder: run(carry=[".gpu-deps"], command="scripts/gpu-check.sh --deps .gpu-deps").
# About 10 MiB; the folder is ignored by git.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-deps
rm -rf "$out"
mkdir -p "$out/debs" "$out/root" "$out/templates"
packages=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers
          libnifti2-dev libnifti2-2 libnifticdf-dev libnifticdf2 libniftiio-dev libznz-dev libznz3
          zlib1g-dev libpng-dev libpng16-16 libcmocka-dev libcmocka0 pkgconf pkgconf-bin libpkgconf3)
(cd "$out/debs" && apt-get download "${packages[@]}")
for deb in "$out"/debs/*.deb; do dpkg-deb -x "$deb" "$out/root"; done
rm -rf "$out/debs" "$out/root/usr/share/doc" "$out/root/usr/share/man"
# nibabel from PyPI, not Debian's 5.0: the GPU machine's Python has NumPy 2, which nibabel before 5.2 cannot use.
pip download --no-deps --only-binary=:all: -d "$out/wheels" nibabel==5.3.2
python3 -m zipfile -e "$out"/wheels/nibabel-*.whl "$out/python"
rm -rf "$out/wheels"
for templ in ch2.nii.gz aal.nii.gz; do cp /usr/share/mricron/templates/$templ "$out/templates/"; done
du -sh "$out"
