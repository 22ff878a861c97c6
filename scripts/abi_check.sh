#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The exported ABI of a built libvoxaug.so against the committed baseline abi/libvoxaug.abi (abigail-tools):
#   scripts/abi_check.sh build/libvoxaug.so            fails on any change to an existing symbol or public type
#   scripts/abi_check.sh build/libvoxaug.so --update   rewrites the baseline (an intended change: say in the
#                                                      commit whether it is compatible, see voxaug.h "ABI")
# Both sides go through abidw with the same filters (public headers only, private types dropped), so only what a
# caller of include/ can see is compared. Added functions pass (--no-added-syms); a removed or changed function,
# or a public struct whose layout changed (even a field appended, which the size rule makes compatible) fails:
# the baseline is then updated on purpose, with the SONAME decision, never by accident.
set -euo pipefail
lib=$1
root=$(cd "$(dirname "$0")/.." && pwd)
base=$root/abi/libvoxaug.abi
if ! command -v abidw > /dev/null; then echo "abidw not found (Debian: abigail-tools)"; exit 77; fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
abidw --headers-dir "$root/include" --drop-private-types --out-file "$tmp" "$lib"
if [ "${2:-}" = "--update" ]; then cp "$tmp" "$base"; echo "baseline rewritten: $base"; exit 0; fi
if abidiff --no-added-syms "$base" "$tmp"; then
    echo "ABI of $lib matches abi/libvoxaug.abi"
else
    rc=$?
    echo "ABI CHANGE (abidiff exit $rc) in $lib against abi/libvoxaug.abi: see the report above." >&2
    echo "If intended: scripts/abi_check.sh $lib --update, and bump VXA_ABI_VERSION if it is incompatible." >&2
    exit 1
fi
