# SPDX-License-Identifier: MIT
"""No leak: 1,000 calls through every path that allocates (outputs, label maps, draws, fields, NIfTI reads,
pipelines, errors), the resident set measured from /proc/self/statm after a warm-up."""
import os

import numpy as np

import voxaug


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leak_over_1000_calls(ctx, rng, tmp_path):
    x = np.asfortranarray(rng.random((24, 24, 24), dtype=np.float32))
    lab = (x > 0.5).astype(np.uint8)
    path = tmp_path / "x.nii"
    voxaug.save(path, x)
    pipe = voxaug.Pipeline("flip(axes=0,1,2, p_axis=0.5) rotate([-10,10]) elastic(alpha=30, sigma=3, mode=fast) "
                           "zscore noise(0.1)")

    def calls(n):
        for i in range(n):
            img, olab, draw, field = pipe.run(x, lab, seed=1, sample=i, ctx=ctx, field=True)
            assert field is not None and img.shape == x.shape
            if i % 10 == 0:
                voxaug.load(path)
                voxaug.Pipeline("rotate(3) zoom(1.1)")
                try:
                    voxaug.Pipeline("crop(99)")(x, ctx=ctx)
                except voxaug.VoxaugError:
                    pass

    calls(100)  # warm-up: kernel builds, the context's buffer pool, Python's own caches
    before = rss_bytes()
    calls(1000)
    grown = rss_bytes() - before
    # Each call makes ~220 KB of outputs (image, label map, 3-channel field); a leak of any of them over 1,000
    # calls is >= 13 MB. 4 MB leaves room for allocator noise.
    assert grown < 4 << 20, f"RSS grew by {grown / 2**20:.1f} MiB over 1,000 calls"
