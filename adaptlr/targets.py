"""Compilation targets: one place that decides how adaptlr code is compiled.

"One rule, two targets": every optimizer update rule is written once as a plain
scalar Python function. :func:`cpu_rule` compiles it as an inlined ``@njit``
function for the CPU kernels, :func:`gpu_rule` as a CUDA device function for the
``@cuda.jit`` twins. The two kernels therefore share the arithmetic and cannot
drift apart.

Switches (read once, at import):

``ADAPTLR_FASTMATH=1``
    compile with LLVM fast-math flags ``contract, arcp, reassoc, afn, nsz``.
    Off by default. Numba's disk cache ignores fast-math flags, so with this switch on
    nothing is cached (and nothing cached is reused). The ``nnan``/``ninf`` flags are never used: adaptlr must
    see NaN and inf to report divergence and non-finite gradients.
``NUMBA_DISABLE_JIT=1``
    Numba's own switch: everything runs as plain Python (slow), for debugging
    and coverage. All adaptlr kernels are written to work in that mode.
``NUMBA_ENABLE_CUDASIM=1``
    Numba's CUDA simulator: the ``@cuda.jit`` twins run on the CPU, for tests.

Every CPU kernel is compiled with ``error_model="numpy"`` (:data:`ERROR_MODEL`): a
division by zero gives inf/NaN as IEEE 754 says instead of raising
``ZeroDivisionError``. That is the semantics adaptlr wants anyway (a non-finite value is
detected and reported as divergence or a non-finite gradient), and it is what lets LLVM
vectorise loops that divide: with Numba's default ("python") error model every division
carries a zero test and a branch, and the serial AdaDelta kernel ran 4.3x slower
(5.3 ms against 1.26 ms per step on the MNIST 784-500-300-10 network's float32
parameters, this 2-core machine; the network has 545,810, not the 648,010 this said before).
"""
from __future__ import annotations

import os

from numba import njit, prange  # noqa: F401  (re-exported for kernels)

FASTMATH: bool = os.environ.get("ADAPTLR_FASTMATH", "0").strip() in {"1", "true", "yes", "on"}
#: LLVM fast-math flags used when ADAPTLR_FASTMATH=1; never 'nnan' or 'ninf'.
FASTMATH_FLAGS = frozenset({"contract", "arcp", "reassoc", "afn", "nsz"})
JIT_DISABLED: bool = os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in {"", "0"}
CUDA_SIMULATOR: bool = os.environ.get("NUMBA_ENABLE_CUDASIM", "0").strip() not in {"", "0"}


def _fastmath():
    return set(FASTMATH_FLAGS) if FASTMATH else False


#: Numba's on-disk cache does not key on fast-math flags: a fast-math build would be served
#: to a default run and vice versa. So the disk cache is used only without fast-math.
CACHE: bool = not FASTMATH

#: Numba error model of every CPU kernel (module docstring): IEEE results, no zero-division checks.
ERROR_MODEL = "numpy"


def cpu_rule(fn):
    """Compile a scalar rule function as an always-inlined ``@njit`` function."""
    return njit(inline="always", fastmath=_fastmath(), cache=CACHE, error_model=ERROR_MODEL)(fn)


def cpu_kernel(fn=None, *, parallel: bool = False):
    """Compile a CPU kernel (``@njit``, cached, fast-math only when switched on)."""
    def wrap(f):
        return njit(fastmath=_fastmath(), cache=CACHE, parallel=parallel, error_model=ERROR_MODEL)(f)
    return wrap(fn) if fn is not None else wrap


def gpu_rule(fn):
    """Compile the same scalar rule function as a CUDA device function.

    Importing numba.cuda and declaring a device function need no GPU; the code
    is only compiled when a kernel that calls it is launched.

    Fast-math is always off on the GPU: Numba's CUDA ``fastmath=True`` means LLVM's
    full ``fast`` set, which includes ``nnan``/``ninf`` and would break the NaN and
    divergence checks, so ``ADAPTLR_FASTMATH`` affects the CPU kernels only.
    """
    from numba import cuda

    return cuda.jit(device=True, inline=True, fastmath=False)(fn)


class CudaUnavailableError(RuntimeError):
    """Raised by every CUDA entry point when no usable CUDA device is present."""


def cuda_available() -> bool:
    """True when a real CUDA GPU (or the Numba CUDA simulator) can run kernels."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - broken driver installs
        return False


def require_cuda(what: str = "this operation") -> None:
    """Raise :class:`CudaUnavailableError` with a helpful message if CUDA is absent."""
    if not cuda_available():
        raise CudaUnavailableError(
            f"CUDA is unavailable, so {what} cannot run on the GPU: numba.cuda found no "
            "usable NVIDIA GPU/driver. Run on the CPU instead (device='cpu', or "
            "--device cpu on the studies command line), or set NUMBA_ENABLE_CUDASIM=1 "
            "to use Numba's CUDA simulator for testing."
        )


def is_cuda_array(a) -> bool:
    """True for CUDA device arrays (anything exposing ``__cuda_array_interface__``)."""
    return hasattr(a, "__cuda_array_interface__")
