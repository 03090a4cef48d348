"""Elementwise, row and column kernels of the MLP on CUDA (Numba).

All kernels use grid-stride loops, so any launch geometry covers any size
(tests use tiny blocks so the loop tails run). Host launchers take device
arrays and a :class:`~adaptlr.mlp.cuda_launch.CudaLaunch`.

Activations: the scalar rules ``_activate``/``_deriv`` of
:mod:`adaptlr.mlp.activations` (tanh, relu, logistic; ``f'`` written with the
unit output ``h = f(a)``) are compiled here as CUDA device functions with
:func:`adaptlr.targets.gpu_rule`, so the CPU and GPU networks share the same
arithmetic and cannot drift apart. The extra code :data:`ACT_LINEAR` (-1)
means the identity (bias only), used for the output layer.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..targets import gpu_rule
from .activations import _activate, _deriv, activation_code  # noqa: F401 (re-exported)
from .cuda_launch import CUDA_FASTMATH, CudaLaunch, DEFAULT_LAUNCH, grid_1d

#: identity "activation" of the output layer (not a hidden-unit choice)
ACT_LINEAR = -1

#: sentinel of the divergence flag: no divergence seen yet
NO_DIVERGENCE = np.iinfo(np.int64).max

_act_rule = gpu_rule(_activate)
_deriv_rule = gpu_rule(_deriv)


@cuda.jit(device=True, inline=True, fastmath=CUDA_FASTMATH)
def _act(a, code, one):
    if code == ACT_LINEAR:
        return a
    return _act_rule(a, code)


@cuda.jit(device=True, inline=True, fastmath=CUDA_FASTMATH)
def _dact(h, code, one):
    if code == ACT_LINEAR:
        return one
    return _deriv_rule(h, code)


@cuda.jit(fastmath=CUDA_FASTMATH)
def _bias_act_kernel(Z, b, Y, code, one):
    # Y = f(Z + b) ; Z may be Y
    m, n = Z.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, m * n, stride):
        r = i // n
        c = i - r * n
        Y[r, c] = _act(Z[r, c] + b[c], code, one)


@cuda.jit(fastmath=CUDA_FASTMATH)
def _mul_dact_kernel(D, Y, code, power, one):
    # D *= f'(Y) ** power, power in {1, 2}
    m, n = D.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, m * n, stride):
        r = i // n
        c = i - r * n
        d = _dact(Y[r, c], code, one)
        if power == 2:
            d = d * d
        D[r, c] = D[r, c] * d


@cuda.jit(fastmath=CUDA_FASTMATH)
def _bias_dact_kernel(RA, v, Y, code, out, one):
    # out = f'(Y) * (RA + v)   (R-operator forward through bias + activation)
    m, n = RA.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, m * n, stride):
        r = i // n
        c = i - r * n
        out[r, c] = _dact(Y[r, c], code, one) * (RA[r, c] + v[c])


@cuda.jit(fastmath=CUDA_FASTMATH)
def _col_sum_kernel(D, out, alpha, square):
    # out[c] = alpha * sum_r D[r, c] (squared when square); rows summed in order
    m, n = D.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for c in range(start, n, stride):
        acc = alpha * 0
        for r in range(m):
            d = D[r, c]
            if square:
                d = d * d
            acc += d
        out[c] = alpha * acc


@cuda.jit(fastmath=CUDA_FASTMATH)
def _gather_rows_kernel(X, idx, start_row, out):
    # out[i, :] = X[idx[start_row + i], :]
    m, n = out.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, m * n, stride):
        r = i // n
        c = i - r * n
        out[r, c] = X[idx[start_row + r], c]


@cuda.jit(fastmath=CUDA_FASTMATH)
def _gather_labels_kernel(y, idx, start_row, out):
    m = out.shape[0]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, m, stride):
        out[i] = y[idx[start_row + i]]


@cuda.jit(fastmath=CUDA_FASTMATH)
def _l2_kernel(w, g, curv, gsq, hv, v, l2):
    # data terms -> terms of  L + (l2/2) ||w||^2  for one weight block:
    #   gsq += l2 w (2 g + l2 w)   (mean of (g_s + l2 w)^2, uses the data-only g)
    #   g   += l2 w ;  curv += l2 ;  hv += l2 v
    n = w.shape[0]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, n, stride):
        lw = l2 * w[i]
        if gsq.shape[0] > 0:
            q = gsq[i] + lw * (g[i] + g[i] + lw)
            gsq[i] = q if q > 0 else q * 0  # a mean of squares: clip rounding below 0
        g[i] = g[i] + lw
        if curv.shape[0] > 0:
            curv[i] = curv[i] + l2
        if hv.shape[0] > 0:
            hv[i] = hv[i] + l2 * v[i]


@cuda.jit(fastmath=CUDA_FASTMATH)
def _nonfinite_kernel(x, flag, step):
    # flag[0] = min(flag[0], step) if any x is NaN or +-inf
    n = x.shape[0]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, n, stride):
        if not math.isfinite(x[i]):
            cuda.atomic.min(flag, 0, step)


@cuda.jit(fastmath=CUDA_FASTMATH)
def _copy2d_kernel(src, dst):
    m, n = dst.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, m * n, stride):
        r = i // n
        c = i - r * n
        dst[r, c] = src[r, c]


@cuda.jit(fastmath=CUDA_FASTMATH)
def _fill_kernel(x, value):
    n = x.shape[0]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, n, stride):
        x[i] = value


def _one(a):
    return a.dtype.type(1)


def _flat(a):
    return a.reshape(a.size) if a.ndim != 1 else a


# ----------------------------------------------------------------- launchers
def bias_act(Z, b, Y, code: int, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``Y = f(Z + b)`` row-wise bias then activation (``Y`` may be ``Z``)."""
    _bias_act_kernel[grid_1d(Z.size, launch)](Z, b, Y, code, _one(Z))


def mul_dact(D, Y, code: int, power: int = 1, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``D *= f'(A)**power`` with ``f'`` written from the outputs ``Y = f(A)``."""
    _mul_dact_kernel[grid_1d(D.size, launch)](D, Y, code, power, _one(D))


def bias_dact(RA, v, Y, code: int, out, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``out = f'(A) * (RA + v)``: the R-operator through bias and activation."""
    _bias_dact_kernel[grid_1d(RA.size, launch)](RA, v, Y, code, out, _one(RA))


def col_sum(D, out, alpha=1.0, square=False, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``out[c] = alpha * sum_r D[r, c]`` (of ``D**2`` when ``square``)."""
    _col_sum_kernel[grid_1d(D.shape[1], launch)](D, out, D.dtype.type(alpha), bool(square))


def gather_rows(X, idx, start_row: int, out, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``out[i] = X[idx[start_row + i]]`` for every row ``i`` of ``out``."""
    _gather_rows_kernel[grid_1d(out.size, launch)](X, idx, np.int64(start_row), out)


def gather_labels(y, idx, start_row: int, out, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``out[i] = y[idx[start_row + i]]``."""
    _gather_labels_kernel[grid_1d(out.shape[0], launch)](y, idx, np.int64(start_row), out)


def add_l2(w, g, curv, gsq, hv, v, l2, launch: CudaLaunch = DEFAULT_LAUNCH):
    """Add the L2 penalty ``(l2/2)||w||^2`` to gradient, curvature, gsq and Hv of one block.

    Empty (length-0) ``curv``/``gsq``/``hv`` are skipped. ``gsq`` must hold the
    data part and is updated with the exact mean of ``(g_s + l2 w)^2``
    before ``g`` gets its ``l2 w``; rounding below 0 (float32) is clipped to 0
    as on the CPU (adaptlr/mlp/per_sample.py).
    """
    _l2_kernel[grid_1d(w.shape[0], launch)](w, g, curv, gsq, hv, v, w.dtype.type(l2))


def flag_nonfinite(x, flag, step: int, launch: CudaLaunch = DEFAULT_LAUNCH):
    """Lower ``flag[0]`` to ``step`` when ``x`` has a NaN or an infinity."""
    x = _flat(x)
    _nonfinite_kernel[grid_1d(x.shape[0], launch)](x, flag, np.int64(step))


def copy2d(src, dst, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``dst[:] = src`` for two device 2-D arrays of one shape (views allowed)."""
    if tuple(src.shape) != tuple(dst.shape):
        raise ValueError(f"copy2d shapes differ: {tuple(src.shape)} vs {tuple(dst.shape)}")
    _copy2d_kernel[grid_1d(dst.size, launch)](src, dst)


def fill(x, value, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``x[:] = value`` on the device (1-D)."""
    x = _flat(x)
    _fill_kernel[grid_1d(x.shape[0], launch)](x, x.dtype.type(value))
