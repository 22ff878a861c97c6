# SPDX-License-Identifier: MIT
"""Contexts, pipelines, arrays and NIfTI files: the binding proper, over the ctypes mirrors of _capi.py.

Memory, exactly (python/README section "What copies" and the tests in tests/test_arrays.py):
- In: an array is handed to the library as it is when it is Fortran-contiguous (i fastest: voxel (i,j,k,c) at
  i + nx*(j + ny*(k + nz*c)), as nibabel returns NIfTI data), aligned, in native byte order, of one of the
  library's dtypes (uint8, int8, uint16, int16, uint32, int32, float32, float64). Anything else (C order, a
  strided view, a byte-swapped or other dtype) is copied once, by np.asfortranarray, into that layout (and
  dtype: bool -> uint8, float16 -> float32, int64/uint64 images -> float32, int64/uint64 labels -> int32 when
  their values fit, else an error).
- Out: the library allocates each output volume; the returned array is a view of that memory (no copy), owned
  by a small object that calls vxa_volume_free when the last view goes. Images are float32, label maps keep
  their dtype; both are Fortran-ordered (i, j, k) (3D input) or (i, j, k, c).
"""
import ctypes
import json
import math
import os

import numpy as np

from . import _capi
from ._capi import lib

__all__ = ["VoxaugError", "Context", "Pipeline", "Image", "Resident", "load", "save", "save_displacement", "invert",
           "item_sample", "default_context", "devices", "version", "program_cache_dir"]

_ERRLEN = 4096
_EINVAL = _capi.STATUS["VXA_ERR_INVALID_ARGUMENT"]


# ---- errors --------------------------------------------------------------------------------------------------------
class VoxaugError(Exception):
    """A failure reported by the C library: .status (the vxa_status value), .status_name ("VXA_ERR_PARSE"),
    .message (the library's own detail: vxa_last_error or the err buffer)."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = _capi.status_name(self.status)
        self.message = message
        super().__init__(f"{message} [{self.status_name}]" if message else self.status_name)


class ParseError(VoxaugError, ValueError):
    """VXA_ERR_PARSE: an op spec that does not parse (the message points at the column)."""


class InvalidArgumentError(VoxaugError, ValueError):
    """VXA_ERR_INVALID_ARGUMENT: an argument out of range or inconsistent."""


class FileError(VoxaugError, OSError):
    """VXA_ERR_IO / VXA_ERR_FORMAT: a file that cannot be read or written, or is not valid NIfTI."""


class DeviceError(VoxaugError, RuntimeError):
    """VXA_ERR_DEVICE, VXA_ERR_DEVICE_MEMORY, VXA_ERR_BUILD, VXA_ERR_NOT_FOUND: the device failed or is absent."""


_ERROR_CLASSES = {"VXA_ERR_PARSE": ParseError, "VXA_ERR_INVALID_ARGUMENT": InvalidArgumentError,
                  "VXA_ERR_IO": FileError, "VXA_ERR_FORMAT": FileError, "VXA_ERR_DEVICE": DeviceError,
                  "VXA_ERR_DEVICE_MEMORY": DeviceError, "VXA_ERR_BUILD": DeviceError,
                  "VXA_ERR_NOT_FOUND": DeviceError}


def _error(status, message):
    cls = _ERROR_CLASSES.get(_capi.status_name(status), VoxaugError)
    return cls(status, message)


def _text(b):
    return b.decode("utf-8", "replace") if b else ""


def version():
    """The linked C library's version string ("0.2.0")."""
    return _text(lib.vxa_version_string())


def devices():
    """The OpenCL platforms and devices, as `voxaug devices` lists them."""
    buf = ctypes.create_string_buffer(1 << 16)
    lib.vxa_devices_list(buf, len(buf))
    return _text(buf.value)


def program_cache_dir():
    """The folder of the program cache in force ("" when VOXAUG_CACHE=0): $VOXAUG_CACHE_DIR, else
    $XDG_CACHE_HOME/voxaug, else ~/.cache/voxaug. `voxaug warmup` fills it ahead."""
    buf = ctypes.create_string_buffer(4096)
    lib.vxa_program_cache_dir(buf, len(buf))
    return os.fsdecode(buf.value)


def item_sample(name, copy=0):
    """The sample index of copy `copy` of the dataset item `name` (its path relative to the dataset root,
    '/'-separated): the C library's vxa_item_sample, FNV-1a 64 of the UTF-8 name mixed with the copy (voxaug.h
    has the exact formula). An item's draws then depend on the item, not on its place in a list."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if isinstance(name, str):
        name = name.encode("utf-8")
    return int(lib.vxa_item_sample(name, int(copy)))


# The process that first made an OpenCL (non-reference) context. OpenCL runtimes (PoCL's worker threads, a
# GPU driver's state) do not survive fork: a child forked after that point hangs in its first run, even on a
# context of its own, so Context refuses to make one there. None: no OpenCL used in this process's lineage.
_opencl_pid = [None]


# ---- contexts ------------------------------------------------------------------------------------------------------
class _Closes:
    """Closed when collected or at the end of a with-block; subclasses define close()."""

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Context(_Closes):
    """A device context: "gpu", "cpu", "reference" (the C reference path, no OpenCL), an index "N" or "P:D"
    from voxaug.devices(), or a substring of the device's name; None: $VOXAUG_DEVICE, else a GPU, else the
    first device.

    One thread at a time, and one process: a context belongs to the process that made it. A forked child
    (a DataLoader worker) must make its own (voxaug.default_context() and voxaug.torch do); using the parent's
    raises VoxaugError instead of touching OpenCL state that does not survive fork.
    """

    def __init__(self, device=None, kernel_dir=None, max_alloc=0):
        opt = _capi.ContextOptions()
        lib.vxa_context_options_init_size(ctypes.byref(opt), ctypes.sizeof(opt))
        self._keep = [device.encode() if device is not None else None,
                      kernel_dir.encode() if kernel_dir is not None else None]
        opt.device, opt.kernel_dir = self._keep
        opt.max_alloc = int(max_alloc)
        h = ctypes.c_void_p()
        self._pid = os.getpid()
        if _opencl_pid[0] not in (None, self._pid) and device != "reference":
            raise DeviceError(_capi.STATUS["VXA_ERR_DEVICE"], f"process {self._pid} was forked from process {_opencl_pid[0]} after that one "
                                 "had used OpenCL; the runtime's threads and state do not survive fork, so a device "
                                 "context here would hang. Start workers with multiprocessing_context='spawn' or "
                                 "'forkserver' (voxaug.torch.DataLoader does), or use voxaug only in the workers")
        st = lib.vxa_context_create(ctypes.byref(opt), ctypes.byref(h))
        if st != 0:
            msg = _text(lib.vxa_last_error(h)) if h.value else ""
            lib.vxa_context_destroy(h)
            raise _error(st, msg or f"no context for device {device!r}")
        self._h = h
        self._destroy = lib.vxa_context_destroy  # held so that __del__ works during interpreter shutdown
        if not lib.vxa_context_is_reference(h):
            _opencl_pid[0] = self._pid

    @property
    def handle(self):
        """The vxa_context pointer, checked: open, and in the process that created it."""
        if self._h is None:
            raise VoxaugError(_EINVAL, "the context is closed")
        if os.getpid() != self._pid:
            raise VoxaugError(_EINVAL, f"a voxaug.Context made in process {self._pid} used in process {os.getpid()} "
                                 "(after fork): make one per process, e.g. voxaug.default_context()")
        return self._h

    @property
    def device_name(self):
        return _text(lib.vxa_context_device_name(self.handle))

    @property
    def is_reference(self):
        return bool(lib.vxa_context_is_reference(self.handle))

    def last_error(self):
        return _text(lib.vxa_last_error(self.handle))

    def trim(self):
        """Frees the device buffers the context keeps for reuse (vxa_context_trim)."""
        lib.vxa_context_trim(self.handle)

    def close(self):
        # Only in the creating process: a forked child's copy is the parent's memory, never its OpenCL objects.
        if getattr(self, "_h", None) is not None and os.getpid() == self._pid:
            self._destroy(self._h)
        self._h = None

    def __repr__(self):
        state = "closed" if self._h is None else repr(self.device_name) if os.getpid() == self._pid else "forked"
        return f"voxaug.Context({state})"


_default = {}


def default_context():
    """This process's shared context (made on first use, again in a forked child), on $VOXAUG_DEVICE or the
    first GPU, else the first device."""
    ctx = _default.get(os.getpid())
    if ctx is None:
        ctx = _default[os.getpid()] = Context()
    return ctx


# ---- arrays <-> volumes --------------------------------------------------------------------------------------------
class Image:
    """A NIfTI volume as the library read it: .data (the stored values, the file's dtype, Fortran-ordered
    (i, j, k) or (i, j, k, c), a view of the library's memory), .affine (4x4, voxel -> world mm), .scl_slope and
    .scl_inter (NIfTI scaling; the library reads voxels as data * slope + inter, a slope of 0 meaning none).
    np.asarray(image) gives the scaled values (float32, a copy) where there is scaling, else .data."""

    def __init__(self, data, affine=None, scl_slope=0.0, scl_inter=0.0):
        self.data = data
        self.affine = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
        self.scl_slope, self.scl_inter = float(scl_slope), float(scl_inter)

    @property
    def scaled(self):
        return np.isfinite(self.scl_slope) and self.scl_slope != 0 and (self.scl_slope != 1 or self.scl_inter != 0)

    @property
    def shape(self):
        return self.data.shape

    def __array__(self, dtype=None):
        a = self.data
        if self.scaled:
            a = (a.astype(np.float32) * np.float32(self.scl_slope) + np.float32(self.scl_inter))
        return a if dtype is None else a.astype(dtype, copy=False)

    def __repr__(self):
        return f"voxaug.Image(shape={self.data.shape}, dtype={self.data.dtype})"


class _Owned:
    """Owns one volume the library allocated; its __array_interface__ lets NumPy view the data in place."""
    __slots__ = ("_v", "_free", "__array_interface__")

    def __init__(self, vp, shape, typestr):
        self._v = vp
        self._free = lib.vxa_volume_free
        v = vp.contents
        itemsize = int(typestr[2:])
        strides, s = [], itemsize
        for n in shape:
            strides.append(s)
            s *= n
        self.__array_interface__ = {"shape": shape, "typestr": typestr, "data": (v.data, False),
                                    "strides": tuple(strides), "version": 3}

    def __del__(self):
        if self._v:
            self._free(self._v)
            self._v = None


_NP_OF_DTYPE = {code: np.dtype(name) for name, code in _capi.DTYPES.items()}
_DTYPE_OF_NP = {np.dtype(name): code for name, code in _capi.DTYPES.items()}


def _from_volume(vp, four_d):
    """An array viewing the library-allocated volume *vp (ownership passes to the array), and its affine."""
    v = vp.contents
    dt = _NP_OF_DTYPE[v.dtype]
    shape = (v.dim[0], v.dim[1], v.dim[2])
    if four_d or v.channels != 1:
        shape += (v.channels,)
    affine = np.frombuffer(v.affine, dtype=np.float64).reshape(4, 4).copy()
    arr = np.asarray(_Owned(vp, shape, dt.str))
    return arr, affine, v


def _layout(a, label):
    """a, or one copy of it, in the library's layout and a dtype it reads; the vxa_dtype code."""
    dt = a.dtype
    target = dt.newbyteorder("=") if dt.byteorder not in ("=", "|") else dt
    if target == np.bool_:
        target = np.dtype(np.uint8)
    elif target == np.float16:
        target = np.dtype(np.float32)
    elif target.kind in "iu" and target.itemsize == 8:
        if not label:
            target = np.dtype(np.float32)
        else:
            if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
                raise InvalidArgumentError(_EINVAL, f"label values {a.min()}..{a.max()} do not fit int32, the widest "
                                              "signed label type voxaug reads")
            target = np.dtype(np.int32)
    if target not in _DTYPE_OF_NP:
        raise InvalidArgumentError(_EINVAL, f"dtype {dt} is not one voxaug reads ({', '.join(_capi.DTYPES)})")
    if label and target.kind == "f":
        raise InvalidArgumentError(_EINVAL, f"a label map must have an integer dtype, not {dt}")
    if not (a.flags.f_contiguous and a.flags.aligned and a.dtype == target):
        a = np.asfortranarray(a, dtype=target)
    return a, _DTYPE_OF_NP[target]


def _unwrap(x, affine):
    """(array, affine, slope, inter) of an input: an ndarray, a voxaug.Image or a nibabel image."""
    slope = inter = 0.0
    if isinstance(x, Image):
        return x.data, x.affine if affine is None else affine, x.scl_slope, x.scl_inter
    if hasattr(x, "dataobj") and hasattr(x, "affine"):  # a nibabel image: its stored values and scaling
        dobj = x.dataobj
        if hasattr(dobj, "get_unscaled"):
            data = dobj.get_unscaled()
            s, i = getattr(dobj, "slope", 1.0), getattr(dobj, "inter", 0.0)
            if s is not None and (s != 1.0 or i != 0.0):
                slope, inter = float(s), float(i or 0.0)
        else:
            data = np.asanyarray(dobj)
        return np.asarray(data), x.affine if affine is None else affine, slope, inter
    return np.asarray(x), affine, slope, inter


_EYE = np.eye(4)


def _fill(v, a, code, affine, slope=0.0, inter=0.0):
    """Describes array a (already in the library's layout) in the ctypes vxa_volume v. Plain Python on lists
    where NumPy's per-call cost would dominate: this runs on every call (python/README: the call overhead)."""
    shape = a.shape
    if len(shape) not in (3, 4):
        raise InvalidArgumentError(_EINVAL, f"expected an array of shape (i, j, k) or (i, j, k, c), got {shape}")
    v.dim[0], v.dim[1], v.dim[2] = shape[0], shape[1], shape[2]
    v.channels = shape[3] if len(shape) == 4 else 1
    v.dtype = code
    v.scl_slope, v.scl_inter = slope, inter
    v.xyzt_units = 2
    if affine is None:
        aff = _EYE
    else:
        aff = np.ascontiguousarray(affine, dtype=np.float64)
        if aff.shape != (4, 4):
            raise InvalidArgumentError(_EINVAL, f"the affine must be 4x4, got {aff.shape}")
        v.sform_code = v.qform_code = 1
    ctypes.memmove(ctypes.addressof(v.affine), aff.ctypes.data, 128)
    r = aff[:3, :3].tolist()
    v.spacing[0], v.spacing[1], v.spacing[2] = (math.hypot(r[0][c], r[1][c], r[2][c]) for c in range(3))
    v.data = a.ctypes.data if a.size else None


def as_volume(x, affine=None, label=False):
    """(ctypes vxa_volume, the array it describes) for an input; the array must outlive the volume's use."""
    a, aff, slope, inter = _unwrap(x, affine)
    a, code = _layout(a, label)
    v = _capi.Volume()
    _fill(v, a, code, aff, slope, inter)
    return v, a


# ---- NIfTI through the library -------------------------------------------------------------------------------------
def load(path):
    """Reads a NIfTI file (.nii, .nii.gz, .hdr/.img; NIfTI-1 or 2) with the library's reader: a voxaug.Image
    whose .data views the library's memory (no copy), in the file's dtype and NIfTI order."""
    vp = _capi.VolumeP()
    err = ctypes.create_string_buffer(_ERRLEN)
    st = lib.vxa_nifti_read(os.fsencode(path), ctypes.byref(vp), err, _ERRLEN)
    if st != 0:
        raise _error(st, _text(err.value))
    data, affine, v = _from_volume(vp, four_d=vp.contents.channels != 1)
    return Image(data, affine, v.scl_slope, v.scl_inter)


def save(path, x, affine=None):
    """Writes x (an array, a voxaug.Image or a nibabel image) as NIfTI-1 (.nii or .nii.gz by the name),
    atomically (a failed write leaves no file), with the affine as sform and qform."""
    v, a = as_volume(x, affine)
    err = ctypes.create_string_buffer(_ERRLEN)
    st = lib.vxa_nifti_write(os.fsencode(path), ctypes.byref(v), err, _ERRLEN)
    if st != 0:
        raise _error(st, _text(err.value))


def save_displacement(path, field, affine, lps=False):
    """Writes a displacement field (an array (i, j, k, 3) in RAS millimetres, Pipeline.displacement_field's) as
    ITK, ANTs and 3D Slicer read one, atomically: NIfTI-1 with the vector in dim[5] and the affine as sform and
    qform; intent_code 1006 (DISPVECT) with the vectors as given (ITK 5.4 and later, SimpleITK 2.4 and later, turn
    them into LPS on reading), or with lps=True intent_code 1007 (VECTOR) with x and y negated (LPS, the layout of
    ANTs' warp files, which every ITK version reads as it is)."""
    a = np.asarray(field)
    if a.ndim != 4 or a.shape[3] != 3 or a.dtype.kind != "f":
        raise InvalidArgumentError(_EINVAL, f"a displacement field is a float array (i, j, k, 3), got {a.dtype} "
                                   f"{a.shape}")
    v, a = as_volume(a if a.dtype in (np.float32, np.float64) else a.astype(np.float32), affine)
    err = ctypes.create_string_buffer(_ERRLEN)
    st = lib.vxa_nifti_write_displacement(os.fsencode(path), ctypes.byref(v), 1 if lps else 0, err, _ERRLEN)
    if st != 0:
        raise _error(st, _text(err.value))


def _grid_volume(like, affine):
    """(ctypes vxa_volume, None) for an input grid: an array, voxaug.Image or nibabel image (its data is not
    read), or a shape tuple (i, j, k) with `affine`."""
    if isinstance(like, tuple):
        shape, aff = like, affine
    elif isinstance(like, Image):
        shape, aff = like.data.shape, like.affine if affine is None else affine
    elif hasattr(like, "dataobj") and hasattr(like, "affine"):
        shape, aff = like.shape, like.affine if affine is None else affine
    else:
        shape, aff = np.shape(like), affine
    v = _capi.Volume()
    _fill(v, _ShapeOnly(tuple(shape)[:3]), 16, aff)
    return v, None


def _draw_record(draw):
    """The draw record as a dict: a dict, JSON text or a path to one; augment's sidecar gives its "draw"."""
    if isinstance(draw, (str, os.PathLike)) and not str(draw).lstrip().startswith("{"):
        with open(draw) as f:
            draw = f.read()
    if isinstance(draw, (str, bytes)):
        draw = json.loads(draw)
    if "draw" in draw and isinstance(draw["draw"], dict):
        draw = draw["draw"]
    return draw


def invert(out, draw, like, *, nearest=None, cval=0.0, affine=None, ctx=None, report=False):
    """Maps `out`, an output of the run that `draw` records (Pipeline.run's draw dict, `voxaug apply
    --params-out`'s JSON or augment's sidecar: a dict, JSON text or a path), back onto the grid of that run's
    input `like` (its data is not read): Pipeline(draw["spec"]).invert(...) with the draw's seed and sample,
    after checking that the pipeline draws on like's grid exactly what the record says (else `like` is not the
    run's input: InvalidArgumentError)."""
    d = _draw_record(draw)
    pipe = Pipeline(d["spec"])
    return pipe.invert(out, like, seed=int(d["seed"]), sample=int(d["sample"]), nearest=nearest, cval=cval,
                       affine=affine, ctx=ctx, report=report, _expect_ops=d.get("ops"))


# ---- pipelines -----------------------------------------------------------------------------------------------------
def _spec_text(ops):
    if isinstance(ops, str):
        return ops
    if isinstance(ops, Pipeline):
        return ops.spec
    if hasattr(ops, "spec"):  # a voxaug.ops op or Compose
        return ops.spec
    return " ".join(_spec_text(o) for o in ops)


class Pipeline:
    """An ordered list of ops, from the spec text the CLI takes ("flip(axes=0,1,2, p=0.5) rotate([-15,15])"),
    from voxaug.ops objects (Rotate((-15, 15)) + Zoom((0.9, 1.1))) or a list of either.

    pipe(image, label=None, seed=0, sample=0, affine=None, ctx=None) -> (image, label, draw): image float32,
    label in its own dtype (None without one), draw the dict of what was drawn (the library's JSON) with
    "affine", the output's 4x4 affine. The same (seed, sample) gives the same result on every device.
    A nibabel image in gives nibabel images out (Nifti1Image, float32 image, the output affine).
    """

    def __init__(self, ops):
        text = _spec_text(ops)
        h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRLEN)
        st = lib.vxa_pipeline_parse(text.encode("utf-8"), ctypes.byref(h), err, _ERRLEN)
        if st != 0:
            raise _error(st, _text(err.value))
        self._h = h
        self._free = lib.vxa_pipeline_free
        self.spec = _text(lib.vxa_pipeline_string(h))

    def __del__(self):
        if getattr(self, "_h", None) is not None:
            self._free(self._h)
            self._h = None

    def __repr__(self):
        return f"voxaug.Pipeline({self.spec!r})"

    def __str__(self):
        return self.spec

    def output_shape(self, image, affine=None):
        """The output's shape for an input array, image or shape tuple (i, j, k[, c]), known before running
        (it depends on the draw only through random crop sizes, which are fixed)."""
        if isinstance(image, tuple):
            aff, code, shape = affine, 16, image
        else:
            a, aff, _, _ = _unwrap(image, affine)
            shape, code = a.shape, _DTYPE_OF_NP.get(a.dtype, 16)
        v = _capi.Volume()
        _fill(v, _ShapeOnly(shape), code, aff)
        out = _capi.Volume()
        st = lib.vxa_pipeline_output_shape(self._h, ctypes.byref(v), ctypes.byref(out))
        if st != 0:
            raise _error(st, f"no output shape for input {tuple(shape)} through {self.spec!r}")
        return (out.dim[0], out.dim[1], out.dim[2]) + ((out.channels,) if len(shape) == 4 else ())

    def run_many(self, resident, *, seed=0, samples=1, label=True):
        """Several samples of a voxaug.Resident in one call: samples = a count n (samples 0 .. n - 1) or a range
        of consecutive sample indices. Returns (images, labels, draws): images float32 (n, i, j, k) (or
        (n, i, j, k, c)), images[s] equal to pipe(resident, seed=seed, sample=first + s)[0]; labels (n, i, j, k)
        in the label map's dtype (None without one, or with label=False); draws a list of dicts. Every sample
        must have the same output shape (a crop with p < 1 does not)."""
        if not isinstance(resident, Resident):
            raise InvalidArgumentError(_EINVAL, "run_many takes a voxaug.Resident")
        if isinstance(samples, range):
            if samples.step != 1:
                raise InvalidArgumentError(_EINVAL, f"run_many: samples must be consecutive, got {samples}")
            first, n = samples.start, len(samples)
        else:
            first, n = 0, int(samples)
        if not (0 <= seed < 2**64 and 0 <= first and first + n <= 2**64 and n >= 0):
            raise InvalidArgumentError(_EINVAL, f"seed and samples are unsigned 64-bit integers, got {seed}, {samples}")
        return _run_many(self, resident, seed, first, n, label)

    def __call__(self, image, label=None, seed=0, sample=0, affine=None, ctx=None):
        return self.run(image, label, seed=seed, sample=sample, affine=affine, ctx=ctx)

    def run(self, image, label=None, *, seed=0, sample=0, affine=None, ctx=None, field=False):
        """As pipe(...); field=True appends the last elastic displacement field (float32 (i, j, k, 3), voxels;
        None if no elastic op ran) to the returned tuple."""
        if not (0 <= seed < 2**64 and 0 <= sample < 2**64):
            raise InvalidArgumentError(_EINVAL, f"seed and sample are unsigned 64-bit integers, got {seed}, {sample}")
        if isinstance(image, Resident):
            if label is not None or affine is not None or (ctx is not None and ctx is not image.ctx):
                raise InvalidArgumentError(_EINVAL, "a Resident carries its label map, affine and context")
            return _run_resident(self, image, seed, sample, field)
        nib_in = hasattr(image, "dataobj") and hasattr(image, "affine")
        ctx = ctx or default_context()
        iv, ia = as_volume(image, affine)
        four_d = ia.ndim == 4
        lv = la = None
        if label is not None:
            lv, la = as_volume(label, affine if affine is not None else _affine_of(image), label=True)
        opts = _capi.RunOptions(int(seed), int(sample), None)
        fp = _capi.VolumeP()
        if field:
            opts.field_out = ctypes.pointer(fp)
        oi, ol, d = _capi.VolumeP(), _capi.VolumeP(), ctypes.c_void_p()
        st = lib.vxa_pipeline_run_ex(ctx.handle, self._h, ctypes.byref(opts), ctypes.byref(iv),
                                     ctypes.byref(lv) if lv is not None else None, ctypes.byref(oi),
                                     ctypes.byref(ol) if lv is not None else None, ctypes.byref(d))
        del ia, la  # the inputs (or their copies) lived through the run
        if st != 0:
            raise _error(st, ctx.last_error())
        try:
            draw = json.loads(lib.vxa_draw_json(d))
        finally:
            lib.vxa_draw_free(d)
        img, aff, _ = _from_volume(oi, four_d)
        draw["affine"] = aff
        lab = _from_volume(ol, False)[0] if lv is not None else None
        if nib_in:
            img, lab = _to_nibabel(img, aff), (_to_nibabel(lab, aff) if lab is not None else None)
        if field:
            fld = _from_volume(fp, True)[0] if fp else None
            return img, lab, draw, fld
        return img, lab, draw


    def invert(self, out, like, *, seed=0, sample=0, nearest=None, cval=0.0, affine=None, ctx=None, report=False,
               _expect_ops=None):
        """Maps `out` back onto the grid of `like`, the input of run(like, seed=seed, sample=sample): out is that
        run's image or label map, or anything on its output grid (a network's prediction: an array (i, j, k) or
        (i, j, k, c), a voxaug.Image or a nibabel image); like is the input (array, image, nibabel image; its data
        is not read) or its shape (i, j, k) with `affine`. The spatial ops are undone in one resampling pass
        (vxa_pipeline_invert): affine parts exactly, elastic fields by fixed-point iteration; what left the field
        of view gets `cval`. Intensity ops are NOT undone (report["intensity_names"] lists them).
        nearest: True for label maps (out's dtype kept; a voxel the run sampled gets back that value), False for
        images (trilinear, float32); None chooses by out's dtype (integer: nearest).
        Returns the array (a nibabel image with like's affine when like is one), and the report dict too with
        report=True: voxels, outside, sampled, intensity_ops, intensity_names, elastic_passes, iterations,
        residual_max, residual_mean, unconverged."""
        if not (0 <= seed < 2**64 and 0 <= sample < 2**64):
            raise InvalidArgumentError(_EINVAL, f"seed and sample are unsigned 64-bit integers, got {seed}, {sample}")
        ctx = ctx or default_context()
        oa = _unwrap(out, None)[0]
        if nearest is None:
            nearest = np.asarray(oa).dtype.kind in "iub"
        ov, oarr = as_volume(out, None, label=False)
        lv, _ = _grid_volume(like, affine)
        opts = _capi.RunOptions(int(seed), int(sample), None)
        iopt = _capi.InvertOptions(int(bool(nearest)), float(cval))
        rep = _capi.InvertReport()
        bp, d = _capi.VolumeP(), ctypes.c_void_p()
        st = lib.vxa_pipeline_invert(ctx.handle, self._h, ctypes.byref(opts), ctypes.byref(lv), ctypes.byref(ov),
                                     ctypes.byref(iopt), ctypes.byref(bp), ctypes.byref(rep), ctypes.byref(d))
        del oarr
        if st != 0:
            raise _error(st, ctx.last_error())
        try:
            drawn = json.loads(lib.vxa_draw_json(d))
        finally:
            lib.vxa_draw_free(d)
        back, aff, _ = _from_volume(bp, oa.ndim == 4)
        if _expect_ops is not None and drawn["ops"] != _expect_ops:
            first = next((i for i, (a, b) in enumerate(zip(_expect_ops, drawn["ops"])) if a != b),
                         min(len(_expect_ops), len(drawn["ops"])))
            theirs = _expect_ops[first] if first < len(_expect_ops) else None
            ours = drawn["ops"][first] if first < len(drawn["ops"]) else None
            raise InvalidArgumentError(_EINVAL, f"the draw record does not match: its op {first} is {theirs}, but "
                                       f"{self.spec!r} draws {ours} on like's grid {tuple(lv.dim)}: is like the "
                                       "run's input?")
        if hasattr(like, "dataobj") and hasattr(like, "affine"):
            back = _to_nibabel(back, aff)
        if not report:
            return back
        r = {k: getattr(rep, k) for k in ("voxels", "outside", "sampled", "intensity_ops", "elastic_passes",
                                          "iterations", "residual_max", "residual_mean", "unconverged")}
        r["intensity_names"] = _text(rep.intensity_names)
        return back, r

    def displacement_field(self, image, *, seed=0, sample=0, affine=None, ctx=None):
        """The displacement of the whole spatial part of run(image, seed=seed, sample=sample) as ITK reads one
        (vxa_pipeline_displacement_field): (field, affine), field float32 (i, j, k, 3) on the output grid whose
        affine is returned, each voxel the world point sampled minus its own world point, in millimetres of the
        NIfTI world frame (RAS). save_displacement writes it for ITK, ANTs or 3D Slicer. image: the input (its data
        is not read) or its shape with `affine`."""
        if not (0 <= seed < 2**64 and 0 <= sample < 2**64):
            raise InvalidArgumentError(_EINVAL, f"seed and sample are unsigned 64-bit integers, got {seed}, {sample}")
        ctx = ctx or default_context()
        v, _ = _grid_volume(image, affine)
        opts = _capi.RunOptions(int(seed), int(sample), None)
        fp = _capi.VolumeP()
        st = lib.vxa_pipeline_displacement_field(ctx.handle, self._h, ctypes.byref(opts), ctypes.byref(v),
                                                 ctypes.byref(fp))
        if st != 0:
            raise _error(st, ctx.last_error())
        fld, aff, _ = _from_volume(fp, True)
        return fld, aff


class Resident(_Closes):
    """A subject (image, optional label map) uploaded once to a context's device, for many samples:

        with voxaug.Resident(image, label, ctx=ctx) as subj:
            for i in range(8):
                img, lab, draw = pipe(subj, seed=2026, sample=i)      # from the device's copy
            imgs, labs, draws = pipe.run_many(subj, seed=2026, samples=range(8, 16))   # one call, stacked

    Each sample equals pipe(image, label, ...)'s bit for bit. async_upload (default True): on a GPU the copy
    runs on the context's transfer queue while Python goes on (upload the next subject, then run this one's
    samples); the arrays are kept alive here until the first run has waited for the copy; do not write into them
    before. On a CPU device and the reference path the copy is made at once. close() (or the with block's end)
    frees the device's copy; so does the context's end."""

    def __init__(self, image, label=None, *, affine=None, ctx=None, async_upload=True):
        self.ctx = ctx or default_context()
        self._h = None
        self._free = lib.vxa_resident_free
        self.nibabel = hasattr(image, "dataobj") and hasattr(image, "affine")
        iv, ia = as_volume(image, affine)
        lv = la = None
        if label is not None:
            lv, la = as_volume(label, affine if affine is not None else _affine_of(image), label=True)
        opt = _capi.ResidentOptions()
        opt.async_upload = 1 if async_upload else 0
        h = ctypes.c_void_p()
        st = lib.vxa_resident_create(self.ctx.handle, ctypes.byref(iv), ctypes.byref(lv) if lv is not None else None,
                                     ctypes.byref(opt), ctypes.byref(h))
        if st != 0:
            raise _error(st, self.ctx.last_error())
        self._h = h
        self._arrays = (ia, la)   # until the first run: an asynchronous copy may still read them
        self.four_d = ia.ndim == 4
        self.shape = ia.shape
        self.has_label = la is not None
        self.label_dtype = la.dtype if la is not None else None

    @property
    def handle(self):
        if self._h is None:
            raise VoxaugError(_EINVAL, "the resident is closed")
        self.ctx.handle   # the context's checks (open, this process)
        return self._h

    def _ran(self):
        self._arrays = None   # the first run returned: the copy is complete

    def close(self):
        if getattr(self, "_h", None) is not None and os.getpid() == self.ctx._pid:
            self._free(self._h)
        self._h = None
        self._arrays = None

    def __repr__(self):
        return f"voxaug.Resident(shape={self.shape}, label={self.has_label}, {'closed' if self._h is None else 'open'})"


def _run_resident(pipe, res, seed, sample, field):
    ctx = res.ctx
    opts = _capi.RunOptions(int(seed), int(sample), None)
    fp = _capi.VolumeP()
    if field:
        opts.field_out = ctypes.pointer(fp)
    oi, ol, d = _capi.VolumeP(), _capi.VolumeP(), ctypes.c_void_p()
    st = lib.vxa_pipeline_run_resident(ctx.handle, pipe._h, ctypes.byref(opts), res.handle, ctypes.byref(oi),
                                       ctypes.byref(ol) if res.has_label else None, ctypes.byref(d))
    if st != 0:
        raise _error(st, ctx.last_error())
    res._ran()
    try:
        draw = json.loads(lib.vxa_draw_json(d))
    finally:
        lib.vxa_draw_free(d)
    img, aff, _ = _from_volume(oi, res.four_d)
    draw["affine"] = aff
    lab = _from_volume(ol, False)[0] if res.has_label else None
    if res.nibabel:
        img, lab = _to_nibabel(img, aff), (_to_nibabel(lab, aff) if lab is not None else None)
    if field:
        return img, lab, draw, (_from_volume(fp, True)[0] if fp else None)
    return img, lab, draw


def _run_many(pipe, res, seed, first, n, label):
    """n samples first .. first + n - 1 of a resident in one call: (images, labels, draws) with images a float32
    array (n, i, j, k[, c]) whose [s] is sample first + s's image as pipe() gives it (Fortran-ordered)."""
    ctx = res.ctx
    head = lib.vxa_resident_volume(res.handle, 0)
    out = _capi.Volume()
    st = lib.vxa_pipeline_output_shape(pipe._h, head, ctypes.byref(out))
    if st != 0:
        raise _error(st, f"no output shape for {res!r} through {pipe.spec!r}")
    nx, ny, nz, nc = out.dim[0], out.dim[1], out.dim[2], head.contents.channels
    images = np.empty((n, nc, nz, ny, nx), dtype=np.float32)   # the library's dense [n][c][nz][ny][nx]
    ib = _capi.Buffer(images.ctypes.data, images.nbytes, _capi.DTYPES["float32"])
    labels = lb = None
    with_label = res.has_label and label
    if with_label:
        lc = lib.vxa_resident_volume(res.handle, 1).contents.channels
        labels = np.empty((n, lc, nz, ny, nx), dtype=res.label_dtype)
        lb = _capi.Buffer(labels.ctypes.data, labels.nbytes, _DTYPE_OF_NP[np.dtype(res.label_dtype)])
    draws = (ctypes.c_void_p * max(n, 1))()
    opts = _capi.RunOptions(int(seed), int(first), None)
    st = lib.vxa_pipeline_run_resident_into(ctx.handle, pipe._h, ctypes.byref(opts), res.handle, n,
                                            ctypes.byref(ib), ctypes.byref(lb) if lb is not None else None, draws)
    if st != 0:
        raise _error(st, ctx.last_error())
    res._ran()
    out_draws = []
    for s in range(n):
        try:
            draw = json.loads(lib.vxa_draw_json(draws[s]))
        finally:
            lib.vxa_draw_free(draws[s])
        o = _capi.RunOptions(int(seed), int(first) + s, None)
        v = _capi.Volume()
        lib.vxa_pipeline_output_shape_ex(pipe._h, ctypes.byref(o), head, ctypes.byref(v))
        draw["affine"] = np.frombuffer(v.affine, dtype=np.float64).reshape(4, 4).copy()
        out_draws.append(draw)
    images = images.transpose(0, 4, 3, 2, 1)   # (n, i, j, k, c), each sample Fortran-ordered
    if not res.four_d and nc == 1:
        images = images[..., 0]
    if labels is not None:
        labels = labels.transpose(0, 4, 3, 2, 1)
        if labels.shape[-1] == 1:
            labels = labels[..., 0]
    return images, labels, out_draws


class _ShapeOnly:
    """Stands in for an array where only the shape matters (output_shape): no data."""
    size = 0

    def __init__(self, shape):
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)


def _affine_of(x):
    if isinstance(x, Image) or (hasattr(x, "dataobj") and hasattr(x, "affine")):
        return x.affine
    return None


def _to_nibabel(a, affine):
    import nibabel as nib
    return nib.Nifti1Image(a, affine)
