"""Input checks for :meth:`Optimizer.step`: array metadata and finiteness.

Everything here only reads; the step calls these before it modifies anything, so
a failed check leaves parameters and state exactly as they were.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .. import targets
from .elementwise import PARALLEL_MIN
from .errors import NonFiniteGradientError


def _count_nonfinite(a):
    n = 0
    for i in prange(a.shape[0]):
        n += 0 if abs(a[i]) < np.inf else 1   # NaN compares False: counted
    return n


count_nonfinite = targets.cpu_kernel(_count_nonfinite, parallel=True)
count_nonfinite_serial = targets.cpu_kernel(_count_nonfinite)


def is_finite_array(a) -> bool:
    """True when every element of the 1-D array ``a`` (host or CUDA device) is finite.

    One compiled pass (parallel on the CPU, one kernel with an atomic flag on the GPU).
    """
    if a.shape[0] == 0:
        return True
    if is_device_array(a):
        from .cuda_launch import device_count_nonfinite

        return device_count_nonfinite(a) == 0
    if a.shape[0] < PARALLEL_MIN:
        return count_nonfinite_serial(a) == 0
    return count_nonfinite(a) == 0


def check_finite(flat_list, what: str):
    for k, a in enumerate(flat_list):
        if a is not None and not is_finite_array(a):
            raise NonFiniteGradientError(
                f"{what}[{k}] contains NaN or inf; nothing was changed (parameters and optimizer "
                f"state are as before the call). Pass check_finite=False to skip this check.",
                what=what, index=k)


def is_device_array(a) -> bool:
    """CUDA device array: ``__cuda_array_interface__``, or a simulator array under NUMBA_ENABLE_CUDASIM."""
    if targets.is_cuda_array(a):
        return True
    return targets.CUDA_SIMULATOR and type(a).__name__ == "FakeCUDAArray"


def as_array(a, what: str, k: int):
    """Host ndarray or numba device array view of ``a``; TypeError naming what[k] otherwise."""
    if is_device_array(a):
        if hasattr(a, "copy_to_host"):       # already a numba device array (or simulator array)
            return a, "cuda"
        from numba import cuda

        return cuda.as_cuda_array(a), "cuda"
    if isinstance(a, np.ndarray):
        return a, "cpu"
    raise TypeError(f"{what}[{k}] must be a NumPy ndarray or a CUDA device array, "
                    f"got {type(a).__name__}")


def _c_contig(a, device):
    if device == "cpu":
        return a.flags.c_contiguous
    return a.is_c_contiguous()


def check_like(ref_arrays, arrays, what: str, ref_what: str, device: str, *, writable=False):
    """Check ``arrays`` matches ``ref_arrays`` in count, shape, dtype, device, C order.

    Returns the list of arrays as host ndarrays / numba device arrays.
    """
    if not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{what} must be a list of arrays, got {type(arrays).__name__}")
    if len(arrays) != len(ref_arrays):
        raise ValueError(f"{what} has {len(arrays)} arrays but {ref_what} has {len(ref_arrays)}")
    out = []
    for k, (r, a) in enumerate(zip(ref_arrays, arrays)):
        a, dev = as_array(a, what, k)
        if dev != device:
            raise ValueError(f"{what}[{k}] is on the {dev} but {ref_what} is on the {device}; "
                             "mixing host and CUDA device arrays is not allowed")
        if tuple(a.shape) != tuple(r.shape):
            raise ValueError(f"{what}[{k}] has shape {tuple(a.shape)} but {ref_what}[{k}] has "
                             f"shape {tuple(r.shape)}")
        if np.dtype(a.dtype) != np.dtype(r.dtype):
            raise ValueError(f"{what}[{k}] has dtype {np.dtype(a.dtype)} but {ref_what}[{k}] has "
                             f"dtype {np.dtype(r.dtype)}")
        if not _c_contig(a, dev):
            raise ValueError(f"{what}[{k}] is not C-contiguous; pass np.ascontiguousarray(...)")
        if writable and dev == "cpu" and not a.flags.writeable:
            raise ValueError(f"{what}[{k}] is read-only; the step updates it in place")
        out.append(a)
    return out


def check_params(params, what="params"):
    """Validate the parameter list itself; returns (arrays, device)."""
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise ValueError(f"{what} must be a non-empty list of arrays, got {params!r:.80}")
    out = []
    device = None
    for k, p in enumerate(params):
        a, dev = as_array(p, what, k)
        if device is None:
            device = dev
        elif dev != device:
            raise ValueError(f"{what}[{k}] is on the {dev} but {what}[0] is on the {device}; "
                             "mixing host and CUDA device arrays is not allowed")
        dt = np.dtype(a.dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"{what}[{k}] has dtype {dt}; allowed: float32, float64")
        if not _c_contig(a, dev):
            raise ValueError(f"{what}[{k}] is not C-contiguous; pass np.ascontiguousarray(...)")
        if dev == "cpu" and not a.flags.writeable:
            raise ValueError(f"{what}[{k}] is read-only; the step updates it in place")
        out.append(a)
    return out, device
