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
correct. Global loads always run along the contiguous axis of the stored
matrix (coalesced, also for the transposed operands), and transposed tiles
are stored into padded shared rows (``tile + 1``) to avoid bank conflicts. Accumulation is in the arrays' dtype (float32 or float64), in the
order k = 0, 1, ... within each thread, as in a naive triple loop. Because
shared-memory arrays need a compile-time shape and dtype, kernels are built
per ``(tile, dtype)`` by :func:`gemm_kernel` and cached.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda, from_dtype

from .cuda_launch import CUDA_FASTMATH, CudaLaunch, DEFAULT_LAUNCH, ensure_cuda

_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=None)
def gemm_kernel(tile: int, dtype):
    """The ``@cuda.jit`` product kernel for square tiles of side ``tile``."""
    dt = np.dtype(dtype)
    nbtype = from_dtype(dt)
    zero = dt.type(0)
    T = int(tile)
    TP = T + 1

    @cuda.jit(fastmath=CUDA_FASTMATH)
    def gemm(A, B, C, trans_a, trans_b, sq_a, sq_b, alpha, beta):
        # C[M, N]; op(A)[M, K]; op(B)[K, N]. sa[i, k] = op(A)[by*T + i, k0 + k],
        # sb[k, j] = op(B)[k0 + k, bx*T + j]; padded rows (T + 1) avoid bank conflicts
        # on the transposed stores.
        sa = cuda.shared.array((T, TP), dtype=nbtype)
        sb = cuda.shared.array((T, TP), dtype=nbtype)
        tx = cuda.threadIdx.x  # fastest-varying thread index
        ty = cuda.threadIdx.y
        r0 = cuda.blockIdx.y * T
        c0 = cuda.blockIdx.x * T
        row = r0 + ty
        col = c0 + tx
        M = C.shape[0]
        N = C.shape[1]
        if trans_a:
            K = A.shape[0]
        else:
            K = A.shape[1]
        acc = zero
        for k0 in range(0, K, T):
            # global loads always walk the contiguous (last) axis with tx: coalesced
            va = zero
            if trans_a:  # op(A)[r0 + tx, k0 + ty] = A[k0 + ty, r0 + tx]
                if r0 + tx < M and k0 + ty < K:
                    va = A[k0 + ty, r0 + tx]
            else:        # op(A)[r0 + ty, k0 + tx] = A[r0 + ty, k0 + tx]
                if row < M and k0 + tx < K:
                    va = A[row, k0 + tx]
            if sq_a:
                va = va * va
            if trans_a:
                sa[tx, ty] = va
            else:
                sa[ty, tx] = va
            vb = zero
            if trans_b:  # op(B)[k0 + tx, c0 + ty] = B[c0 + ty, k0 + tx]
                if c0 + ty < N and k0 + tx < K:
                    vb = B[c0 + ty, k0 + tx]
            else:        # op(B)[k0 + ty, c0 + tx] = B[k0 + ty, c0 + tx]
                if k0 + ty < K and col < N:
                    vb = B[k0 + ty, col]
            if sq_b:
                vb = vb * vb
            if trans_b:
                sb[tx, ty] = vb
            else:
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
