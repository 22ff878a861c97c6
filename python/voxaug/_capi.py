# SPDX-License-Identifier: MIT
"""Every ctypes mirror of include/voxaug.h in one place: the library's location, its structs and its prototypes.

Nothing else in the package names a C type or a C function's signature, so a change of the C API (issue 22:
results into caller memory, versioned structs) is made here and in the few call sites of _core.py.
The mirrors follow voxaug.h field by field, each starting with its `size` (set by _Sized to the mirror's own
sizeof, so the library reads only the fields mirrored here, whatever a newer library appends); tests/test_capi.py
checks them against what vxa_volume_init_size writes and what the library reports.
"""
import ctypes
import os

__all__ = ["lib", "Volume", "ContextOptions", "RunOptions", "ResidentOptions", "Buffer", "InvertOptions",
           "InvertReport", "status_name", "STATUS", "DTYPES"]

# ---- the library -----------------------------------------------------------------------------------------------
# The package's own copy (installed next to this file by scikit-build-core); VOXAUG_LIBRARY overrides it (a
# development build: VOXAUG_LIBRARY=build/libvoxaug.so).
_here = os.path.dirname(os.path.abspath(__file__))
LIBRARY_PATH = os.environ.get("VOXAUG_LIBRARY") or os.path.join(_here, "libvoxaug.so")
try:
    lib = ctypes.CDLL(LIBRARY_PATH)
except OSError as e:  # pragma: no cover - an installation fault, not a runtime one
    raise ImportError(f"voxaug: cannot load the C library {LIBRARY_PATH}: {e}") from e

# ---- types -------------------------------------------------------------------------------------------------------
c_status = ctypes.c_int  # vxa_status (an enum)
c_dtype = ctypes.c_int   # vxa_dtype (an enum; values are NIfTI's datatype codes)

# vxa_dtype values by NumPy dtype name.
DTYPES = {"uint8": 2, "int16": 4, "int32": 8, "float32": 16, "float64": 64, "int8": 256, "uint16": 512,
          "uint32": 768}


class _Sized(ctypes.Structure):
    """A size-first struct of voxaug.h ("ABI: structs that can grow"): `size` is this mirror's sizeof, set on
    construction (positional arguments fill the fields after it), so the library reads exactly these fields."""

    def __init__(self, *args, **kwargs):
        super().__init__(ctypes.sizeof(type(self)), *args, **kwargs)


class Volume(_Sized):
    """vxa_volume: a description of memory (i fastest: voxel (i,j,k,c) at data[i + nx*(j + ny*(k + nz*c))])."""
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("dim", ctypes.c_int64 * 3),
        ("channels", ctypes.c_int64),
        ("dtype", c_dtype),
        ("scl_slope", ctypes.c_double),
        ("scl_inter", ctypes.c_double),
        ("affine", (ctypes.c_double * 4) * 4),
        ("spacing", ctypes.c_double * 3),
        ("sform_code", ctypes.c_int),
        ("qform_code", ctypes.c_int),
        ("xyzt_units", ctypes.c_int),
        ("toffset", ctypes.c_double),
        ("tr", ctypes.c_double),
        ("descrip", ctypes.c_char * 80),
        ("data", ctypes.c_void_p),
    ]


LogFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)   # vxa_log_fn
CancelFn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)                        # vxa_cancel_fn


class ContextOptions(_Sized):
    """vxa_context_options."""
    _fields_ = [("size", ctypes.c_size_t), ("device", ctypes.c_char_p), ("kernel_dir", ctypes.c_char_p),
                ("max_alloc", ctypes.c_uint64), ("log", LogFn), ("log_user", ctypes.c_void_p),
                ("log_level", ctypes.c_int)]


class RunOptions(_Sized):
    """vxa_run_options."""
    _fields_ = [("size", ctypes.c_size_t), ("seed", ctypes.c_uint64), ("sample", ctypes.c_uint64),
                ("field_out", ctypes.POINTER(ctypes.POINTER(Volume))), ("cancel", CancelFn),
                ("cancel_user", ctypes.c_void_p)]


class ResidentOptions(_Sized):
    """vxa_resident_options."""
    _fields_ = [("size", ctypes.c_size_t), ("async_upload", ctypes.c_int)]


class Buffer(_Sized):
    """vxa_buffer: the caller's memory for outputs (strides in elements; all 0 = dense [n][c][nz][ny][nx])."""
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_void_p), ("bytes", ctypes.c_size_t),
                ("dtype", c_dtype), ("stride", ctypes.c_int64 * 5)]


class InvertOptions(_Sized):
    """vxa_invert_options."""
    _fields_ = [("size", ctypes.c_size_t), ("nearest", ctypes.c_int), ("cval", ctypes.c_double)]


class InvertReport(_Sized):
    """vxa_invert_report."""
    _fields_ = [("size", ctypes.c_size_t), ("voxels", ctypes.c_uint64), ("outside", ctypes.c_uint64),
                ("sampled", ctypes.c_uint64), ("intensity_ops", ctypes.c_int), ("intensity_names", ctypes.c_char * 128),
                ("elastic_passes", ctypes.c_int), ("iterations", ctypes.c_int), ("residual_max", ctypes.c_double),
                ("residual_mean", ctypes.c_double), ("unconverged", ctypes.c_uint64)]


VolumeP = ctypes.POINTER(Volume)
VolumePP = ctypes.POINTER(VolumeP)
c_void_pp = ctypes.POINTER(ctypes.c_void_p)


def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_proto("vxa_version_string", ctypes.c_char_p)
_proto("vxa_version_number", ctypes.c_uint)
_proto("vxa_status_name", ctypes.c_char_p, c_status)
_proto("vxa_status_string", ctypes.c_char_p, c_status)
_proto("vxa_volume_init_size", None, VolumeP, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int64), ctypes.c_int64,
       c_dtype)
_proto("vxa_volume_free", None, VolumeP)
_proto("vxa_nifti_read", c_status, ctypes.c_char_p, VolumePP, ctypes.c_char_p, ctypes.c_size_t)
_proto("vxa_nifti_write", c_status, ctypes.c_char_p, VolumeP, ctypes.c_char_p, ctypes.c_size_t)
_proto("vxa_context_options_init_size", None, ctypes.POINTER(ContextOptions), ctypes.c_size_t)
_proto("vxa_context_create", c_status, ctypes.POINTER(ContextOptions), c_void_pp)
_proto("vxa_context_destroy", None, ctypes.c_void_p)
_proto("vxa_context_trim", None, ctypes.c_void_p)
_proto("vxa_last_error", ctypes.c_char_p, ctypes.c_void_p)
_proto("vxa_context_device_name", ctypes.c_char_p, ctypes.c_void_p)
_proto("vxa_context_is_reference", ctypes.c_int, ctypes.c_void_p)
_proto("vxa_devices_list", c_status, ctypes.c_char_p, ctypes.c_size_t)
_proto("vxa_pipeline_parse", c_status, ctypes.c_char_p, c_void_pp, ctypes.c_char_p, ctypes.c_size_t)
_proto("vxa_pipeline_free", None, ctypes.c_void_p)
_proto("vxa_pipeline_string", ctypes.c_char_p, ctypes.c_void_p)
_proto("vxa_pipeline_output_shape", c_status, ctypes.c_void_p, VolumeP, VolumeP)
_proto("vxa_run_options_init_size", None, ctypes.POINTER(RunOptions), ctypes.c_size_t)
_proto("vxa_pipeline_run_ex", c_status, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(RunOptions), VolumeP,
       VolumeP, VolumePP, VolumePP, c_void_pp)
_proto("vxa_pipeline_output_shape_ex", c_status, ctypes.c_void_p, ctypes.POINTER(RunOptions), VolumeP, VolumeP)
_proto("vxa_resident_options_init_size", None, ctypes.POINTER(ResidentOptions), ctypes.c_size_t)
_proto("vxa_resident_create", c_status, ctypes.c_void_p, VolumeP, VolumeP, ctypes.POINTER(ResidentOptions),
       c_void_pp)
_proto("vxa_resident_free", None, ctypes.c_void_p)
_proto("vxa_resident_volume", VolumeP, ctypes.c_void_p, ctypes.c_int)
_proto("vxa_pipeline_run_resident", c_status, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(RunOptions),
       ctypes.c_void_p, VolumePP, VolumePP, c_void_pp)
_proto("vxa_pipeline_run_resident_into", c_status, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(RunOptions),
       ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(Buffer), ctypes.POINTER(Buffer), c_void_pp)
_proto("vxa_program_cache_dir", c_status, ctypes.c_char_p, ctypes.c_size_t)
_proto("vxa_invert_options_init_size", None, ctypes.POINTER(InvertOptions), ctypes.c_size_t)
_proto("vxa_invert_report_init_size", None, ctypes.POINTER(InvertReport), ctypes.c_size_t)
_proto("vxa_pipeline_invert", c_status, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(RunOptions), VolumeP,
       VolumeP, ctypes.POINTER(InvertOptions), VolumePP, ctypes.POINTER(InvertReport), c_void_pp)
_proto("vxa_pipeline_displacement_field", c_status, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(RunOptions),
       VolumeP, VolumePP)
_proto("vxa_nifti_write_displacement", c_status, ctypes.c_char_p, VolumeP, ctypes.c_int, ctypes.c_char_p,
       ctypes.c_size_t)
_proto("vxa_draw_free", None, ctypes.c_void_p)
_proto("vxa_draw_json", ctypes.c_char_p, ctypes.c_void_p)
_proto("vxa_ops_json", c_status, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))
_proto("vxa_item_sample", ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint64)


def status_name(st):
    """"VXA_ERR_PARSE" for a status value ("VXA_ERR_UNKNOWN" past the list)."""
    return lib.vxa_status_name(st).decode()


def _statuses():
    out, st = {}, 0
    while True:  # the list is append-only; past its end vxa_status_name says VXA_ERR_UNKNOWN
        name = status_name(st)
        if name == "VXA_ERR_UNKNOWN":
            return out
        out[name] = st
        st += 1


STATUS = _statuses()  # {"VXA_OK": 0, "VXA_ERR_INVALID_ARGUMENT": 1, ...} as the linked library numbers them
