#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the Python binding adds to a call: voxaug.Pipeline on a 64^3 float32 volume (with a uint8 label map
where the spec's row says so) against the same call through the C API (tests/tools/vxa_call_timing: outputs,
label and draw requested, the draw's JSON read, all freed, as the binding does), in alternating rounds in one
run, on the same device; medians per round, then the median of the rounds.

    build/python-venv/bin/python bench/python_overhead.py --tool build/tests/tools/vxa_call_timing
"""
import argparse
import statistics
import subprocess
import time

import numpy as np

import voxaug

ROWS = [("noise", "noise(0.1)", False),
        ("zscore", "zscore", False),
        ("flip+rotate+zoom+zscore+noise, label", "flip(axes=0,1,2, p_axis=0.5) rotate([-15,15]) zoom([0.9,1.1]) "
         "zscore noise(0.1)", True)]


def python_times(pipe, x, lab, reps, ctx):
    out = []
    for r in range(reps):
        t0 = time.perf_counter()
        pipe(x, label=lab, seed=1, sample=r, ctx=ctx)
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default="build/tests/tools/vxa_call_timing")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    ctx = voxaug.default_context()
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.random((args.n,) * 3, dtype=np.float32))
    lab = np.asfortranarray((rng.random((args.n,) * 3) * 4).astype(np.uint8))
    print(f"device: {ctx.device_name}; {args.n}^3 float32; {args.rounds} alternating rounds of {args.reps} calls "
          f"(the first 10 of each dropped as warm-up)")
    print("| spec | C API median µs | Python median µs | added µs | added % |\n|---|---|---|---|---|")
    for name, spec, with_label in ROWS:
        pipe = voxaug.Pipeline(spec)
        c_med, p_med = [], []
        for _ in range(args.rounds):
            c = subprocess.run([args.tool, str(args.n), str(args.reps), spec, "1" if with_label else "0"],
                               check=True, capture_output=True, text=True).stdout.split()
            c_med.append(statistics.median(map(float, c[10:])))
            p = python_times(pipe, x, lab if with_label else None, args.reps, ctx)
            p_med.append(statistics.median(p[10:]))
        c, p = statistics.median(c_med), statistics.median(p_med)
        print(f"| `{name}` | {c:.0f} | {p:.0f} | {p - c:.0f} | {100 * (p - c) / c:.1f} |")


if __name__ == "__main__":
    main()
