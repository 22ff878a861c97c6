#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's op table is `voxaug ops --markdown`, byte for byte: a new op, parameter or doc line in the op
# table that the README does not show fails here. The table is the block of '|' lines starting at its header.
# usage: bash readme_ops.sh <voxaug CLI> <tests/data dir> [--write]   (--write puts the CLI's table in README.md)
set -u
cli=${1:?usage: readme_ops.sh CLI DATA_DIR [--write]}
data=${2:?usage: readme_ops.sh CLI DATA_DIR [--write]}
readme=$data/../../README.md
tmp=$(mktemp -d /tmp/vxa_readme_ops.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
header='| op | kind | parameters (defaults) | what it does | SciPy / NumPy equivalent |'
if ! "$cli" ops --markdown > "$tmp/cli.md"; then echo "FAIL: $cli ops --markdown failed"; exit 1; fi
if [ "$(head -n 1 "$tmp/cli.md")" != "$header" ]; then echo "FAIL: unexpected header from ops --markdown"; exit 1; fi
# The README's table: from the header line through the last consecutive line that starts with '|'.
awk -v h="$header" '$0 == h { t = 1 } t && /^\|/ { print; next } t { exit }' "$readme" > "$tmp/readme.md"
if [ ! -s "$tmp/readme.md" ]; then echo "FAIL: no op table (header line) in $readme"; exit 1; fi
if [ "${3:-}" = "--write" ]; then
    awk -v h="$header" -v f="$tmp/cli.md" '
        $0 == h { while ((getline l < f) > 0) print l; t = 1; next }
        t && /^\|/ { next }
        { t = 0; print }' "$readme" > "$tmp/new" && cp "$tmp/new" "$readme"
    echo "README.md: op table written ($(wc -l < "$tmp/cli.md") lines)"
    exit 0
fi
if ! diff -u "$tmp/readme.md" "$tmp/cli.md"; then
    echo "FAIL: README.md's op table differs from 'voxaug ops --markdown' (above: - README, + CLI);"
    echo "      regenerate it: bash tests/cli/readme_ops.sh build/voxaug tests/data --write"
    exit 1
fi
echo "README op table: $(($(wc -l < "$tmp/cli.md") - 2)) ops, same as voxaug ops --markdown"
