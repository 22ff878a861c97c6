#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the Python binding adds to a call: voxaug.Pipeline on a 64^3 float32 volume (with a uint8 label map
where the spec's row says so) against the same call through the C API (tests/tools/vxa_call_timing: outputs,
label and draw requested, the draw's JSON read, all freed, as the binding does), in alternating rounds in one
run, on the same device; medians per round, then the median of the rounds. The binding's own cost is the Python
thread's CPU time outside the library's functions (time.thread_time around each ctypes call), which load from
other processes does not inflate; its share is taken of the C API's median wall time.

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


_inner = []  # the C library's own time in each Python call: the run, and the frees of its outputs and draw


def _timed(real):
    def call(*a):
        t0 = time.thread_time()
        st = real(*a)
        _inner.append((time.thread_time() - t0) * 1e6)
        return st
    return call


def python_times(pipe, x, lab, reps, ctx):
    """Each call's wall time, and what the binding added to it: the calling thread's CPU time over the whole
    call less its CPU time inside the library's functions. CPU time, not wall time: on a shared machine the
    Python thread is preempted at random, and wall time would charge that to whichever part was running."""
    out, added = [], []
    for r in range(reps):
        _inner.clear()
        t0, c0 = time.perf_counter(), time.thread_time()
        pipe(x, label=lab, seed=1, sample=r, ctx=ctx)  # the result dropped here: its volumes freed
        c = (time.thread_time() - c0) * 1e6
        out.append((time.perf_counter() - t0) * 1e6)
        added.append(c - sum(_inner))
    return out, added


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default="build/tests/tools/vxa_call_timing")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    ctx = voxaug.default_context()
    from voxaug import _capi
    for f in ("vxa_pipeline_run_ex", "vxa_volume_free", "vxa_draw_free"):  # what the C tool's timing holds too
        setattr(_capi.lib, f, _timed(getattr(_capi.lib, f)))
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.random((args.n,) * 3, dtype=np.float32))
    lab = np.asfortranarray((rng.random((args.n,) * 3) * 4).astype(np.uint8))
    print(f"device: {ctx.device_name}; {args.n}^3 float32; {args.rounds} alternating rounds of {args.reps} calls "
          f"(the first 10 of each dropped as warm-up)")
    print("| spec | C API median µs (separate runs) | Python median µs | binding's own CPU µs per call (Python "
          "thread, outside the library) | binding's share of the C API's time |\n|---|---|---|---|---|")
    for name, spec, with_label in ROWS:
        pipe = voxaug.Pipeline(spec)
        c_med, p_med, a_med = [], [], []
        for _ in range(args.rounds):
            c = subprocess.run([args.tool, str(args.n), str(args.reps), spec, "1" if with_label else "0"],
                               check=True, capture_output=True, text=True).stdout.split()
            c_med.append(statistics.median(map(float, c[10:])))
            p, a = python_times(pipe, x, lab if with_label else None, args.reps, ctx)
            p_med.append(statistics.median(p[10:]))
            a_med.append(statistics.median(a[10:]))
        c, p, a = statistics.median(c_med), statistics.median(p_med), statistics.median(a_med)
        print(f"| `{name}` | {c:.0f} | {p:.0f} | {a:.0f} | {100 * a / c:.1f}% |")


if __name__ == "__main__":
    main()
