"""Launch geometry of the MLP's CUDA kernels.

The geometry is a plain :class:`CudaLaunch` NamedTuple passed to every host
launcher, so tests can choose tiles and blocks small enough that partial
tiles and grid-stride tails are exercised (for example ``tile=4,
threads=8, max_blocks=2`` on a 7-5-3 network), while real runs use the
defaults.
"""
from __future__ import annotations

from typing import NamedTuple

from ..targets import require_cuda

_cuda_checked = False

#: fast-math for the MLP's ``@cuda.jit`` kernels: always off, even with
#: ADAPTLR_FASTMATH=1. Numba's CUDA target accepts only ``fastmath=True``,
#: which sets LLVM's ``fast`` flags (including ``nnan``/``ninf``, forbidden
#: here: the kernels must see NaN and inf to detect divergence) besides NVVM's
#: ftz/approximate division; NVVM already contracts multiply-adds into FMAs
#: without it.
CUDA_FASTMATH = False


def ensure_cuda(what: str = "this CUDA kernel") -> None:
    """:func:`adaptlr.targets.require_cuda`, remembered after the first success.

    Called by every host launcher of the MLP kernels, so that without a GPU the
    user gets :class:`~adaptlr.targets.CudaUnavailableError` (naming device='cpu')
    instead of a driver error, at the cost of one flag test per launch.
    """
    global _cuda_checked
    if not _cuda_checked:
        require_cuda(what)
        _cuda_checked = True


class CudaLaunch(NamedTuple):
    """Launch geometry.

    tile
        side of the square shared-memory tiles of the matrix products
        (``tile * tile`` threads per block).
    threads
        threads per block of the one-dimensional (elementwise, row-wise,
        column-wise) kernels.
    max_blocks
        upper bound on the number of blocks of the one-dimensional kernels;
        they use grid-stride loops, so any size is covered.
    """

    tile: int = 16
    threads: int = 256
    max_blocks: int = 1024


#: Geometry used when none is given.
DEFAULT_LAUNCH = CudaLaunch()


def check_launch(launch) -> CudaLaunch:
    """Return ``launch`` (or the default) after checking its fields."""
    if launch is None:
        return DEFAULT_LAUNCH
    if not isinstance(launch, CudaLaunch):
        raise TypeError(f"launch must be a CudaLaunch, got {type(launch).__name__}")
    for name in ("tile", "threads", "max_blocks"):
        v = getattr(launch, name)
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"CudaLaunch.{name} must be a positive int, got {v!r}")
    if launch.tile * launch.tile > 1024:
        raise ValueError(f"CudaLaunch.tile={launch.tile} gives {launch.tile ** 2} threads per "
                         "block; CUDA allows at most 1024 (tile <= 32)")
    if launch.threads > 1024:
        raise ValueError(f"CudaLaunch.threads={launch.threads} exceeds CUDA's 1024 threads per block")
    return launch


def grid_1d(n: int, launch: CudaLaunch) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride kernel over ``n`` items (checks CUDA is usable)."""
    ensure_cuda("the MLP's CUDA kernels")
    blocks = max(1, min(launch.max_blocks, -(-n // launch.threads)))
    return blocks, launch.threads
