#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs voxaug into a temporary prefix, then builds consumers against it: the C++ example with CMake
# (find_package(voxaug)) and a C program with pkg-config, and runs both.
set -u
cli=$1
build=$(cd "$(dirname "$cli")" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

if cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log" 2>&1; then ok "cmake --install"; else cat "$tmp/install.log"; bad "cmake --install"; fi
for f in include/voxaug.h include/voxaug.hpp include/voxaug_cl.h lib/libvoxaug.a bin/voxaug lib/pkgconfig/voxaug.pc lib/cmake/voxaug/voxaugConfig.cmake; do
    found=$(ls "$tmp/prefix/$f" "$tmp/prefix/lib/x86_64-linux-gnu/${f#lib/}" 2>/dev/null | head -1)
    if [ -n "$found" ]; then ok "installed $f"; else bad "missing $f"; fi
done

# CMake consumer: the C++ prefetching loader.
if cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/ex.log" 2>&1 &&
   cmake --build "$tmp/ex" > "$tmp/exb.log" 2>&1; then ok "examples build with find_package(voxaug)"
else cat "$tmp/ex.log" "$tmp/exb.log" 2>/dev/null | tail -30; bad "examples build with find_package(voxaug)"; fi
if [ -x "$tmp/ex/prefetch_loader" ]; then
    if LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" "$tmp/ex/prefetch_loader" > "$tmp/run.log" 2>&1 &&
       grep -q "16 augmented volumes consumed" "$tmp/run.log"; then ok "prefetch_loader runs"
    else cat "$tmp/run.log"; bad "prefetch_loader runs"; fi
fi

# pkg-config consumer, static.
cat > "$tmp/consumer.c" <<'C'
#include <voxaug.h>
#include <stdio.h>
int main(void) {
    vxa_context *ctx = NULL;
    vxa_context_options opt;
    vxa_context_options_init(&opt);
    opt.device = "reference";
    if (vxa_context_create(&opt, &ctx) != VXA_OK) return 1;
    printf("voxaug %s on %s\n", vxa_version_string(), vxa_context_device_name(ctx));
    vxa_context_destroy(ctx);
    return vxa_version_number() == VXA_VERSION_MAJOR * 10000u + VXA_VERSION_MINOR * 100u + VXA_VERSION_PATCH ? 0 : 1;
}
C
pcdir=$(dirname "$(find "$tmp/prefix" -name voxaug.pc | head -1)")
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@" voxaug; }
libdir=$(pc --variable=libdir)
if cc -o "$tmp/consumer" "$tmp/consumer.c" $(pc --cflags) $(pc --libs) > "$tmp/cc.log" 2>&1 &&
   LD_LIBRARY_PATH="$libdir" "$tmp/consumer" | grep -q "on reference (C)"; then ok "pkg-config consumer builds and runs"
else cat "$tmp/cc.log"; bad "pkg-config consumer builds and runs"; fi

# A non-system prefix: the pkg-config consumer finds libvoxaug.so.1 at run time only through LD_LIBRARY_PATH or
# an rpath (README, "Using voxaug from C"); CMake's consumer gets the rpath from the imported target.
so=$(ls "$libdir"/libvoxaug.so.* 2>/dev/null | head -1)
if [ -n "$so" ] && readelf -d "$so" | grep -q 'SONAME.*\[libvoxaug.so.1\]'; then ok "SONAME libvoxaug.so.1"
else bad "SONAME libvoxaug.so.1 (readelf -d $so)"; fi
if env -u LD_LIBRARY_PATH "$tmp/consumer" > /dev/null 2>&1; then bad "without LD_LIBRARY_PATH or an rpath the consumer should not load"
else ok "without LD_LIBRARY_PATH or an rpath the consumer does not load (documented)"; fi
if cc -o "$tmp/consumer_rpath" "$tmp/consumer.c" $(pc --cflags) $(pc --libs) -Wl,-rpath,"$libdir" > "$tmp/cc2.log" 2>&1 &&
   env -u LD_LIBRARY_PATH "$tmp/consumer_rpath" | grep -q "on reference (C)"; then ok "pkg-config consumer with -Wl,-rpath runs"
else cat "$tmp/cc2.log"; bad "pkg-config consumer with -Wl,-rpath runs"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
