# SPDX-License-Identifier: MIT
"""voxaug: preprocessing and augmentation of 3D medical images on OpenCL devices, from Python.

A thin ctypes binding of the C library (bundled with the package): NumPy arrays in and out, without copies
where the layout already matches (Fortran order, as nibabel gives), the same results bit for bit as the C API
and the `voxaug` command for the same (seed, sample).

    import voxaug
    pipe = voxaug.Pipeline("flip(axes=0,1,2, p_axis=0.5) rotate([-15,15]) zscore(nonzero=1) random_crop(128)")
    img, lab, draw = pipe(image, label=labels, seed=2026, sample=i)

voxaug.ops lists every op (generated from the library's op table); voxaug.torch has the PyTorch datasets.
"""
from ._core import (Context, DeviceError, FileError, Image, InvalidArgumentError, ParseError, Pipeline, Resident,
                    VoxaugError, default_context, devices, invert, item_sample, load, program_cache_dir, save,
                    save_displacement, version)
from . import ops

__version__ = version()
__all__ = ["Context", "Pipeline", "Image", "Resident", "load", "save", "save_displacement", "invert", "item_sample",
           "default_context", "devices", "version", "program_cache_dir", "ops", "VoxaugError", "ParseError",
           "InvalidArgumentError", "FileError", "DeviceError"]
