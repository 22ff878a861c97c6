#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The peers' venv for bench/peers.py: TorchIO, MONAI and batchgenerators beside voxaug's Python package, on
# Debian's Python and Debian's torch 1.13 (CPU, python3-torch) through --system-site-packages. Never run by CI.
# PyPI's torch wheel pulls about 6 GB of CUDA packages (and --no-deps gives a torch that does not import), so the
# peers are pinned to releases that accept torch 1.13 and NumPy 1.24: torchio 0.20.1 (torch>=1.1), monai 1.4.0
# (torch>=1.9, numpy>=1.24,<2), batchgenerators 0.25.1. A constraints file holds Debian's NumPy, SciPy and torch
# where they are, so pip installs no second copy.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/peers-venv}
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
/usr/bin/python3 - > "$constraints" <<'PY'
import importlib.metadata as m
for name in ("numpy", "scipy", "torch", "nibabel"):
    print(f"{name}=={m.version(name)}")
PY
"$venv/bin/python" -m pip install -q -c "$constraints" torchio==0.20.1 monai==1.4.0 batchgenerators==0.25.1
"$venv/bin/python" -m pip install -q --config-settings=build-dir="$PWD/$venv/skbuild" ./python
"$venv/bin/python" -c "import torch, torchio, monai, batchgenerators, voxaug; print('peers venv ready:', torch.__version__, torchio.__version__, monai.__version__, voxaug.version())"
