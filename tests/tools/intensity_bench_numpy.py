# SPDX-License-Identifier: MIT
"""NumPy timings of the intensity ops (not a test), to set beside tests/tools/intensity_bench.c:
/usr/bin/python3 intensity_bench_numpy.py [ch2 | N]  -- ch2.nii.gz as float32, or a smooth random N^3 volume.
Median of 5 runs, float32 data as a NumPy user would hold it (float64 statistics where NumPy uses them)."""
import sys
import time

import numpy as np


def load(arg):
    if arg == "ch2":
        import nibabel as nib
        return np.asarray(nib.load("/usr/share/mricron/templates/ch2.nii.gz").get_fdata(), dtype=np.float32)
    n = int(arg)
    g = np.linspace(-1, 1, n, dtype=np.float32)
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    return (500 * np.exp(-(x * x + y * y + z * z) * 3) + 20 * np.sin(7 * x)).astype(np.float32)


def bias(x, rng):
    coef = rng.uniform(-0.5, 0.5, 20)
    m = [((np.arange(n) * 2.0 - (n - 1)) / max(n - 1, 1)).astype(np.float32) for n in x.shape]
    xm, ym, zm = np.meshgrid(*m, indexing="ij")
    p = np.zeros(x.shape, np.float32)
    t = 0
    for a in range(4):
        for b in range(4 - a):
            for c in range(4 - a - b):
                p += coef[t] * xm ** a * ym ** b * zm ** c
                t += 1
    return x * np.exp(p)


def main():
    x = load(sys.argv[1] if len(sys.argv) > 1 else "ch2")
    rng = np.random.default_rng(1)

    def pclip(x, nz):
        v = x[x != 0] if nz else x
        lo, hi = np.percentile(v, [0.5, 99.5])
        return np.where(x == 0, 0, np.clip(x, lo, hi)) if nz else np.clip(x, lo, hi)

    def zs(x, nz):
        if nz:
            m = x != 0
            v = x[m]
            out = x.copy()
            out[m] = (v - v.mean()) / v.std()
            return out
        return (x - x.mean()) / x.std()

    def gamma(x, g):
        mn, mx = x.min(), x.max()
        return ((x - mn) / (mx - mn)) ** g * (mx - mn) + mn

    def contrast(x, f):
        m, mn, mx = x.mean(), x.min(), x.max()
        return np.clip((x - m) * f + m, mn, mx)

    cases = [
        ("clip", lambda: np.clip(x, 0, 500)),
        ("pclip", lambda: pclip(x, False)),
        ("pclip nonzero", lambda: pclip(x, True)),
        ("minmax", lambda: (x - x.min()) / (x.max() - x.min())),
        ("zscore", lambda: zs(x, False)),
        ("zscore nonzero", lambda: zs(x, True)),
        ("window", lambda: (np.clip(x, 0, 80) - 0) / 80),
        ("noise", lambda: x + rng.standard_normal(x.shape, dtype=np.float32) * 10),
        ("gamma", lambda: gamma(x, 1.5)),
        ("brightness", lambda: x * 1.1),
        ("contrast", lambda: contrast(x, 1.2)),
        ("bias", lambda: bias(x, rng)),
        ("chain noise+bias+brightness+clip", lambda: np.clip(bias(x + rng.standard_normal(x.shape, dtype=np.float32)
                                                                    * 10, rng) * 1.1, 0, 500)),
        ("chain pclip+zscore(nonzero)", lambda: zs(pclip(x, True), True)),
    ]
    print("# NumPy %s, %s" % (np.__version__, "x".join(map(str, x.shape))))
    for name, fn in cases:
        t = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            t.append((time.perf_counter() - t0) * 1e3)
        print("%-42s %9.2f ms" % (name, sorted(t)[2]))


if __name__ == "__main__":
    main()
