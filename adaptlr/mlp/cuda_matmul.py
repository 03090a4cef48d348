"""Tiled shared-memory matrix products on CUDA (Numba), for dense layers.

One kernel computes

.. math::

    C \\leftarrow \\alpha \\, \\mathrm{op}(A)\\,\\mathrm{op}(B) + \\beta C,
    \\qquad \\mathrm{op}(M) \\in \\{M, M^\\top, M \\odot M, (M \\odot M)^\\top\\}

which covers the three shapes a dense layer needs (forward ``X @ W``,
backward ``dA @ W^T``, weight gradient ``X^T @ dA``) and the squared forms
used by bbprop (``H @ (W*W)^T``, ``(X*X)^T @ H``) and by the mean squared
per-sample gradients (``(X*X)^T @ (dA*dA) / B``).

Each block computes one ``tile x tile`` tile of ``C`` with ``tile x tile``
threads, staging ``tile x tile`` tiles of both operands in shared memory;
loads outside the matrices read as zero, so any shape (partial tiles) is
correct. Accumulation is in the arrays' dtype (float32 or float64), in the
order k = 0, 1, ... within each thread, as in a naive triple loop. Because
shared-memory arrays need a compile-time shape and dtype, kernels are built
per ``(tile, dtype)`` by :func:`gemm_kernel` and cached.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda, from_dtype

from ..targets import FASTMATH
from .cuda_launch import CudaLaunch, DEFAULT_LAUNCH, ensure_cuda

_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=None)
def gemm_kernel(tile: int, dtype):
    """The ``@cuda.jit`` product kernel for square tiles of side ``tile``."""
    dt = np.dtype(dtype)
    nbtype = from_dtype(dt)
    zero = dt.type(0)
    T = int(tile)

    @cuda.jit(fastmath=FASTMATH)
    def gemm(A, B, C, trans_a, trans_b, sq_a, sq_b, alpha, beta):
        # C[M, N]; op(A)[M, K]; op(B)[K, N]
        sa = cuda.shared.array((T, T), dtype=nbtype)
        sb = cuda.shared.array((T, T), dtype=nbtype)
        tx = cuda.threadIdx.x  # column within the tile
        ty = cuda.threadIdx.y  # row within the tile
        row = cuda.blockIdx.y * T + ty
        col = cuda.blockIdx.x * T + tx
        M = C.shape[0]
        N = C.shape[1]
        if trans_a:
            K = A.shape[0]
        else:
            K = A.shape[1]
        acc = zero
        for k0 in range(0, K, T):
            # sa[ty, tx] = op(A)[row, k0 + tx]
            ka = k0 + tx
            va = zero
            if row < M and ka < K:
                if trans_a:
                    va = A[ka, row]
                else:
                    va = A[row, ka]
                if sq_a:
                    va = va * va
            sa[ty, tx] = va
            # sb[ty, tx] = op(B)[k0 + ty, col]
            kb = k0 + ty
            vb = zero
            if kb < K and col < N:
                if trans_b:
                    vb = B[col, kb]
                else:
                    vb = B[kb, col]
                if sq_b:
                    vb = vb * vb
            sb[ty, tx] = vb
            cuda.syncthreads()
            kmax = K - k0  # (no min(): Numba's CUDA target mistypes min(literal, int))
            if kmax > T:
                kmax = T
            for kk in range(kmax):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        if row < M and col < N:
            if beta == 0:
                C[row, col] = alpha * acc
            else:
                C[row, col] = alpha * acc + beta * C[row, col]

    return gemm


def gemm(A, B, C, *, trans_a=False, trans_b=False, square_a=False, square_b=False,
         alpha=1.0, beta=0.0, launch: CudaLaunch = DEFAULT_LAUNCH):
    """Launch ``C <- alpha * op(A) @ op(B) + beta * C`` on device arrays.

    ``op`` transposes when ``trans_*`` and squares elementwise when
    ``square_*`` (squared then transposed). ``beta == 0`` ignores the old
    ``C`` (so NaN there does not propagate), as in BLAS. Shapes are checked
    here, on the host, with an error naming them.
    """
    ensure_cuda("the CUDA matrix product")
    dt = np.dtype(C.dtype)
    if dt not in _SUPPORTED or A.dtype != dt or B.dtype != dt:
        raise TypeError(f"gemm needs float32 or float64 arrays of one dtype, got "
                        f"{A.dtype}, {B.dtype}, {C.dtype}")
    m, ka = (A.shape[1], A.shape[0]) if trans_a else (A.shape[0], A.shape[1])
    kb, n = (B.shape[1], B.shape[0]) if trans_b else (B.shape[0], B.shape[1])
    if ka != kb or C.shape != (m, n):
        raise ValueError(f"gemm shapes do not match: op(A) is ({m}, {ka}), op(B) is ({kb}, {n}), "
                         f"C is {tuple(C.shape)}")
    if m == 0 or n == 0:
        return
    T = launch.tile
    grid = (-(-n // T), -(-m // T))
    gemm_kernel(T, dt)[grid, (T, T)](A, B, C, bool(trans_a), bool(trans_b), bool(square_a),
                                     bool(square_b), dt.type(alpha), dt.type(beta))
