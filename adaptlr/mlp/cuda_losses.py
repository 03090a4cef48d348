"""Output layers and losses of the MLP on CUDA (Numba), one thread per sample.

Softmax + cross-entropy (row ``r`` with logits ``z``, label ``y``):

.. math::

    m = \\max_j z_j, \\quad s = \\sum_j e^{z_j - m}, \\quad p_j = e^{z_j - m}/s,
    \\quad \\ell = m + \\log s - z_y, \\quad \\delta_j = p_j - [j = y],
    \\quad h_j = p_j (1 - p_j)

``delta`` is the per-sample gradient of ``ell`` with respect to ``z`` (not
divided by the batch size), ``h`` the diagonal of the per-sample Gauss-Newton
matrix ``diag(p) - p p^T`` (bbprop's start, LeCun et al. 1998), and the
Gauss-Newton-vector product at the output is ``(diag(p) - p p^T) r``.
Subtracting the row maximum keeps ``exp`` finite. ``correct`` is 1 when the
first maximal logit is the label (``numpy.argmax`` tie rule).

Linear + squared error (target row ``t``): ``ell = 1/2 sum_j (z_j - t_j)^2``
(vSGD's convention, "sum over outputs / 2"), ``delta = z - t``, ``h = 1``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .cuda_launch import CUDA_FASTMATH, CudaLaunch, DEFAULT_LAUNCH, grid_1d


@cuda.jit(fastmath=CUDA_FASTMATH)
def _softmax_xent_kernel(Z, labels, P, D, H, loss, correct, want_h):
    m, n = Z.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for r in range(start, m, stride):
        zmax = Z[r, 0]
        amax = 0
        for j in range(1, n):
            if Z[r, j] > zmax:
                zmax = Z[r, j]
                amax = j
        s = zmax * 0
        for j in range(n):
            e = math.exp(Z[r, j] - zmax)
            P[r, j] = e
            s += e
        y = labels[r]
        lse = zmax + math.log(s)
        loss[r] = lse - Z[r, y]
        correct[r] = 1 if amax == y else 0
        for j in range(n):
            p = P[r, j] / s
            P[r, j] = p
            if j == y:
                D[r, j] = p - 1
            else:
                D[r, j] = p
            if want_h:
                H[r, j] = p * (1 - p)
        if not math.isfinite(zmax):
            # NaN/inf logits: make the loss say so (argmax logic above skips NaN)
            loss[r] = zmax - zmax


@cuda.jit(fastmath=CUDA_FASTMATH)
def _linear_mse_kernel(Z, T, D, H, loss, want_h):
    m, n = Z.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for r in range(start, m, stride):
        acc = Z[r, 0] * 0
        for j in range(n):
            d = Z[r, j] - T[r, j]
            D[r, j] = d
            acc += d * d
            if want_h:
                H[r, j] = d * 0 + 1
        loss[r] = acc / 2


@cuda.jit(fastmath=CUDA_FASTMATH)
def _softmax_gn_kernel(P, R, out):
    # out = (diag(p) - p p^T) r, row-wise
    m, n = P.shape
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for row in range(start, m, stride):
        pr = P[row, 0] * 0
        for j in range(n):
            pr += P[row, j] * R[row, j]
        for j in range(n):
            out[row, j] = P[row, j] * (R[row, j] - pr)


@cuda.jit(fastmath=CUDA_FASTMATH)
def _batch_mean_kernel(loss, out, pos, flag, step):
    # one thread: out[pos] = mean(loss) summed in float64 in row order (as the CPU loop);
    # flag[0] = min(flag[0], step) when it is not finite
    if cuda.grid(1) == 0:
        acc = 0.0
        for i in range(loss.shape[0]):
            acc += loss[i]
        m = acc / loss.shape[0]
        out[pos] = m
        if not math.isfinite(m):
            cuda.atomic.min(flag, 0, step)


def batch_mean_loss(loss, out, pos: int, flag, step: int):
    """``out[pos] = mean(loss)`` on the device; lowers ``flag[0]`` to ``step`` if not finite."""
    _batch_mean_kernel[1, 1](loss, out, np.int64(pos), flag, np.int64(step))


def softmax_xent(Z, labels, P, D, loss, correct, H=None, launch: CudaLaunch = DEFAULT_LAUNCH):
    """Softmax probabilities ``P``, per-sample loss, correctness, ``delta`` and optionally ``h``.

    ``Z`` (logits) is left unchanged; labels must lie in ``[0, Z.shape[1])``
    (checked by the callers on the host, once per data set).
    """
    want_h = H is not None
    _softmax_xent_kernel[grid_1d(Z.shape[0], launch)](Z, labels, P, D, H if want_h else D,
                                                      loss, correct, want_h)


def linear_mse(Z, T, D, loss, H=None, launch: CudaLaunch = DEFAULT_LAUNCH):
    """``delta = Z - T``, per-sample ``1/2 ||Z - T||^2`` and optionally ``h = 1``."""
    want_h = H is not None
    _linear_mse_kernel[grid_1d(Z.shape[0], launch)](Z, T, D, H if want_h else D, loss, want_h)


def softmax_gn(P, R, out, launch: CudaLaunch = DEFAULT_LAUNCH):
    """Per-sample Gauss-Newton product at the softmax output: ``p * (r - p.r)``."""
    _softmax_gn_kernel[grid_1d(P.shape[0], launch)](P, R, out)
