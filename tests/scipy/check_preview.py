# SPDX-License-Identifier: MIT
"""voxaug preview against an independent rendering with nibabel and NumPy, on real data.

nibabel's io_orientation / apply_orientation put the voxels in RAS order; the mid slices (voxel n // 2 of the
stored axes), the neurological layout (sagittal anterior right, coronal and axial patient's right on the right,
superior / anterior up), the square-pixel nearest-neighbour resampling and the np.percentile window are then
written out here with NumPy, and the PNG voxaug wrote must equal that picture pixel for pixel.

Cases: ch2 (RAS, 1 mm), nibabel's anatomical.nii (LAS, big-endian int16, 2 mm) and example4d.nii.gz (oblique,
2 x 2 x 2.2 mm, 4D: both channels).

usage: /usr/bin/python3 check_preview.py <voxaug CLI>     exit 0 ok, 1 mismatch, 77 no data / no nibabel
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import nibabel as nib
    from nibabel.orientations import io_orientation, apply_orientation
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

GAP, MIN_HEIGHT, MAX_SIDE = 4, 256, 2048


def read_png_rgb(path):
    """Decodes an 8-bit RGB, non-interlaced PNG (what voxaug writes) with zlib and the five row filters."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour == 2 and interlace == 0, "expected 8-bit RGB, non-interlaced"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride, bpp = width * 3, 3
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for r in range(height):
        f = raw[r * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, r * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 0:
                pred = 0
            elif f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pred) & 255
        out[r] = cur
        prev = cur
    return out.reshape(height, width, 3)


def expected_picture(vol, affine, lo_pct, hi_pct):
    """The documented rendering, built on nibabel's orientation code."""
    finite = vol[np.isfinite(vol)].astype(np.float64)      # float32 values, interpolated in double
    lo, hi = np.percentile(finite, [lo_pct, hi_pct]) if finite.size else (0.0, 0.0)
    size = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))      # voxel size along each stored axis
    ornt = io_orientation(affine)                           # stored axis a -> world axis ornt[a, 0], flip ornt[a, 1]
    ras = apply_orientation(vol, ornt)                      # now indexed (x, y, z) in RAS order
    world_of = {int(ornt[a, 0]): a for a in range(3)}       # world axis -> stored axis
    ras_size = [size[world_of[w]] for w in range(3)]
    mid = []                                                # mid slice (stored n // 2) in RAS indices
    for w in range(3):
        a = world_of[w]
        n = vol.shape[a]
        mid.append(n // 2 if ornt[a, 1] > 0 else n - 1 - n // 2)
    pixel = min(size)
    pixel = max([pixel] + [vol.shape[a] * size[a] / MAX_SIDE for a in range(3)])
    panels_axes = [(1, 2), (0, 2), (0, 1)]                  # (across, up) world axes: sagittal, coronal, axial

    def layout(px):
        ws = [max(1, int(np.floor(ras.shape[a] * ras_size[a] / px + 0.5))) for a, _ in panels_axes]
        hs = [max(1, int(np.floor(ras.shape[u] * ras_size[u] / px + 0.5))) for _, u in panels_axes]
        return ws, hs

    ws, hs = layout(pixel)
    k = (MIN_HEIGHT + max(hs) - 1) // max(hs)
    k = min(k, MAX_SIDE // max(ws + hs))
    if k >= 2:
        pixel /= k
        ws, hs = layout(pixel)
    height = max(hs)
    width = sum(ws) + 2 * GAP
    picture = np.zeros((height, width), np.uint8)
    x0 = 0
    for p, (across, up) in enumerate(panels_axes):
        fixed = 3 - across - up
        sl = np.take(ras, mid[fixed], axis=fixed)           # 2D, axes in increasing world order (across < up)
        cols = np.clip(np.floor((np.arange(ws[p]) + 0.5) * pixel / ras_size[across]).astype(int), 0,
                       ras.shape[across] - 1)
        rows = np.clip(np.floor((np.arange(hs[p]) + 0.5) * pixel / ras_size[up]).astype(int), 0,
                       ras.shape[up] - 1)
        panel = sl[np.ix_(cols, ras.shape[up] - 1 - rows)].T  # row 0 = the high (superior / anterior) end
        with np.errstate(invalid="ignore"):
            if hi > lo:
                g = (panel.astype(np.float64) - lo) / (hi - lo) * 255.0
            else:
                g = np.where(panel > lo, 255.0, 0.0)
            g = np.where(np.isnan(g), 0.0, g)
            g = np.where(g >= 255.0, 255.0, np.where(g > 0.0, np.floor(g + 0.5), 0.0))
        y0 = (height - hs[p]) // 2
        picture[y0:y0 + hs[p], x0:x0 + ws[p]] = g.astype(np.uint8)
        x0 += ws[p] + GAP
    return picture


def main():
    cli = sys.argv[1]
    out = os.environ.get("VOXAUG_TEST_OUT") or tempfile.mkdtemp()
    os.makedirs(out, exist_ok=True)
    nib_data = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
    cases = [("/usr/share/mricron/templates/ch2.nii.gz", 0, (0.5, 99.5)),
             (os.path.join(nib_data, "anatomical.nii"), 0, (0.5, 99.5)),
             (os.path.join(nib_data, "example4d.nii.gz"), 0, (2, 98)),
             (os.path.join(nib_data, "example4d.nii.gz"), 1, (0, 100))]
    cases = [c for c in cases if os.path.exists(c[0])]
    if not cases:
        print("skip: no real data installed")
        return 77
    failed = 0
    for path, channel, (lo, hi) in cases:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)      # scaled as voxaug reads it (float32)
        vol = data[..., channel] if data.ndim == 4 else data
        png = os.path.join(out, f"{os.path.basename(path).split('.')[0]}_c{channel}.png")
        subprocess.run([cli, "preview", path, "-o", png, "--window", f"{lo},{hi}", "--channel", str(channel)],
                       check=True)
        got = read_png_rgb(png)
        want = expected_picture(vol, img.affine, lo, hi)
        name = f"{os.path.basename(path)} channel {channel}"
        if got.shape[:2] != want.shape:
            print(f"FAIL {name}: picture {got.shape[1]}x{got.shape[0]}, expected {want.shape[1]}x{want.shape[0]}")
            failed += 1
            continue
        grey = (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()
        diff = np.abs(got[..., 0].astype(int) - want.astype(int))
        if not grey or diff.max() > 0:  # both sides: float32 values, window and levels in double
            y, x = np.unravel_index(np.argmax(diff), diff.shape)
            print(f"FAIL {name}: max |diff| {diff.max()} at ({x}, {y}), {(diff > 0).sum()} pixels differ")
            failed += 1
        else:
            print(f"ok {name}: {want.shape[1]}x{want.shape[0]}, identical")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
