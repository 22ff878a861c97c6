#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The limit of the standard pipeline on ch2 on this machine: each pass's time against its floor. Not run by CI.

    /usr/bin/python3 bench/limit.py --build build [--mode exact] [--runs 3]

Rates (bench/vxa_floor, measured on the device): float multiply-adds per second (independent float8 chains),
Philox4x32-10 words per second (the CPU noise kernel's generator, nothing stored) and the bandwidth of a float32
copy through the context (one read + one write, the floor bench/vxa_bench measures). Passes: the kernels of one
run of the standard pipeline (as bench/run.py writes it, crop 128³, with aal) timed one by one
(VOXAUG_PROFILE=1: each launch waits for the device), the median over the runs after a warm-up. Each pass's floor
is the larger of its compute (Philox words, or multiply-adds at the measured rate) and its memory traffic (bytes
read and written at the measured copy bandwidth). Prints a markdown table."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

CH2 = "/usr/share/mricron/templates/ch2.nii.gz"
AAL = "/usr/share/mricron/templates/aal.nii.gz"
SPEC = ("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15], plane=0,1) zoom([0.9,1.1]) "
        "elastic(alpha=200, sigma=8, mode={mode}) zscore noise(0.1) random_crop(128,128,128)")
PROFILE = re.compile(r"voxaug profile: (\S+)\s+(\d+)x\s*(\d+)x\s*(\d+) local \S+\s+([\d.]+) ms")


def runs_of(lines):
    """The profiled launches grouped into pipeline runs: a run starts where the first launch's name recurs."""
    launches = [(m.group(1), float(m.group(5))) for m in map(PROFILE.search, lines) if m]
    if not launches:
        return []
    first = launches[0][0]
    runs, cur = [], []
    for name, ms in launches:
        if name == first and cur:
            runs.append(cur)
            cur = []
        cur.append((name, ms))
    runs.append(cur)
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--mode", default="exact")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    floor = json.loads(subprocess.run([os.path.join(args.build, "bench", "vxa_floor"), "--repeat", "5"],
                                      capture_output=True, text=True, check=True).stdout)
    env = dict(os.environ, VOXAUG_PROFILE="1")
    spec = SPEC.format(mode=args.mode)
    r = subprocess.run([os.path.join(args.build, "bench", "vxa_bench"), "--input", CH2, "--label", AAL, "--spec", spec,
                        "--warmup", "1", "--repeat", str(args.runs)], capture_output=True, text=True, env=env)
    bench = json.loads(r.stdout.strip().splitlines()[-1])
    runs = runs_of(r.stderr.splitlines())
    # the pipeline's runs: the most common launch sequence (the floor probes' copies and the first run differ)
    seqs = {}
    for run in runs:
        seqs.setdefault(tuple(n for n, _ in run), []).append([ms for _, ms in run])
    names, times = max(seqs.items(), key=lambda kv: len(kv[1]))
    times = times[1:] if len(times) > 1 else times   # the first is the warm-up
    med = [statistics.median(t[i] for t in times) for i in range(len(names))]

    nx, ny, nz = bench["in_dim"]
    n = nx * ny * nz
    crop = 128 ** 3
    taps = 2 * int(4 * 8 + 0.5) + 1
    fma = floor["fma_gflops"] * 1e9 / 2          # multiply-adds per second
    philox = floor["philox_gdraws"] * 1e9        # words per second
    bw = floor["copy_gbs"] * 1e9                 # bytes per second
    # per pass: (what, compute seconds, bytes); in launch order of the exact pipeline
    work = {
        "vxa_noise_uniform_x16": ("3 × N Philox words, 3 × N × 4 B written", 3 * n / philox, 12 * n),
        "vxa_gauss_rows": (f"3 × N × {taps} multiply-adds, 3 × N × 8 B", 3 * n * taps / fma, 24 * n),
        "vxa_gauss_rows_walk": (f"3 × N × {taps} multiply-adds, 3 × N × 8 B", 3 * n * taps / fma, 24 * n),
        "vxa_resample": ("N × (1 B image + 12 B field + 4 B out)", 0.0, 17 * n),
        "vxa_resample_field": ("N × (1 B image + 12 B field + 4 B out)", 0.0, 17 * n),
        "vxa_resample_field_1": ("N × (1 B image + 12 B field + 4 B out)", 0.0, 17 * n),
        "vxa_reduce_stats_chunk": ("N × 4 B read", 0.0, 4 * n),
        "vxa_reduce_moments_chunk": ("N × 4 B read", 0.0, 4 * n),
        "vxa_intensity_window": ("128³ × 8 B", 0.0, 8 * crop),
        "vxa_copy_rows": ("128³ label copy", 0.0, 4 * crop),
    }
    print(f"vxa_floor: {json.dumps(floor)}")
    print(f"load: {os.getloadavg()}, e2e median {bench['e2e_ms']['median']:.1f} ms, kernel median "
          f"{bench['kernel_ms']['median']:.1f} ms, {len(times)} profiled runs\n")
    print("| pass (kernel) | work | measured ms | floor ms | × floor |")
    print("|---|---|---|---|---|")
    tot_m = tot_f = 0.0
    seen = {}
    for name, ms in zip(names, med):
        seen[name] = seen.get(name, 0) + 1
        what, comp, nbytes = work.get(name, ("(not modelled)", 0.0, 0))
        if name.startswith("vxa_resample") and seen[name] == 2:   # the label map's pass: int16 in and out
            what, comp, nbytes = "N × (2 B label + 12 B field + 2 B out)", 0.0, 16 * n
        f = 1e3 * max(comp, nbytes / bw) if nbytes or comp else float("nan")
        tot_m += ms
        if f == f:
            tot_f += f
        print(f"| {name} | {what} | {ms:.1f} | {f:.1f} | {ms / f:.1f}× |" if f == f else
              f"| {name} | {what} | {ms:.1f} | | |")
    print(f"| all passes | | {tot_m:.1f} | {tot_f:.1f} | {tot_m / tot_f:.1f}× |")


if __name__ == "__main__":
    sys.exit(main())
