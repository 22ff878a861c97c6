#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layering, read from the code itself (comments and strings stripped):
  - src/ names no OpenCL (no CL/cl.h, voxaug_cl.h, host/ header, cl_* type or cl* call): the context's
    construction and the OpenCL backend live in host/;
  - host/ (the OpenCL backend) calls nothing of the C reference (vxa_ref_*) and src/reference/ nothing of
    OpenCL (vxa_cl_*, host/ headers): both reach each other only through the table of src/backend.h;
  - only src/backend.c reads the table (ctx->backend), and only host/context.c sets it;
  - the tests of ctx->reference left in host/ are the ones listed in ALLOWED (to shrink, never to grow).
usage: check_includes.py REPO_ROOT"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
HOST_HEADERS = {p.name for p in (root / "host").glob("*.h")}
# host/ files that still test ctx->reference, and how often: the context's construction, the batch overlap
# (a device feature), the Philox test hook.
ALLOWED = {"context.c": 2, "pipeline_cl.c": 2, "elastic.c": 1}


def code(path):
    """The text of a C file without comments and string literals (includes kept as they are)."""
    text = path.read_text()
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] == '"':
            line_start = text.rfind("\n", 0, i) + 1
            if text[line_start:i].lstrip().startswith("#include"):
                j = text.find('"', i + 1)
                out.append(text[i:j + 1])
                i = j + 1
                continue
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif text[i] == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append("' '")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def includes(src):
    return re.findall(r'^\s*#\s*include\s*[<"]([^">]+)[">]', src, re.M)


fails = []
checked = 0
opencl = re.compile(r"\bcl_[a-z]\w*\b|\bcl[A-Z]\w*\s*\(|\bCL_[A-Z_]+\b")
for path in sorted((root / "src").rglob("*.[ch]")):
    rel = path.relative_to(root)
    src = code(path)
    checked += 1
    for inc in includes(src):
        if inc in ("CL/cl.h", "CL/opencl.h", "voxaug_cl.h") or pathlib.Path(inc).name in HOST_HEADERS:
            fails.append(f"{rel}: includes {inc} (OpenCL belongs in host/)")
    for m in opencl.finditer(src):
        fails.append(f"{rel}: names OpenCL ({m.group(0).strip()})")
        break
    m = re.search(r"\bvxa_cl_\w+", src)
    if rel.parts[1] == "reference" and m:
        fails.append(f"{rel}: calls the OpenCL backend ({m.group(0)})")
    if re.search(r"->\s*backend\b", src) and rel.as_posix() != "src/backend.c":
        fails.append(f"{rel}: reads the backend table outside src/backend.c")
for path in sorted((root / "host").glob("*.[ch]")):
    rel = path.relative_to(root)
    src = code(path)
    checked += 1
    for inc in includes(src):
        if inc.startswith("reference/") or "/reference/" in inc:
            fails.append(f"{rel}: includes {inc} (the C reference)")
    m = re.search(r"\bvxa_ref_\w+", src)
    if m:
        fails.append(f"{rel}: calls the C reference ({m.group(0)})")
    n = len(re.findall(r"\bctx\s*->\s*reference\b", src))
    if n > ALLOWED.get(path.name, 0):
        fails.append(f"{rel}: tests ctx->reference {n} times, {ALLOWED.get(path.name, 0)} allowed")
    if re.search(r"->\s*backend\b", src) and path.name != "context.c":
        fails.append(f"{rel}: touches the context's backend (only host/context.c sets it)")

for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"structure: {checked} files of src/ and host/ keep the layering")
