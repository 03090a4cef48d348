"""The per-layer loops that the backward passes share (backward.py, bbprop.py, gnvp.py,
per_sample.py), each written once.

* :func:`propagate_errors`: the rows of layer k-1 of a per-unit buffer from those of
  layer k through the weights, ``E_{k-1} = (E_k @ W^T) * f'(A_{k-1})`` (back-propagation,
  gnvp.py's backward of ``U``) or, with ``W`` the squared weights and ``squared``,
  ``(E_k @ (W^2)^T) * f'(A_{k-1})^2`` (bbprop). One BLAS product ``np.dot(E_k, W.T, E_{k-1})``
  in either case, then the derivative factor per element.
* :func:`column_means`: the bias blocks, ``sum_n E[n, j] / m`` (float64 sums, rows in order).
* :func:`square_rows`: the elementwise squares of an (m, n) block into a scratch buffer
  (bbprop's ``X_k^2``, per_sample.py's ``X_k^2`` and ``D_k^2``).
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import deriv
from .forward import layer_rows


@cpu_kernel
def propagate_errors(W, buf, ws, sizes, act, m, k, squared):
    """``buf`` rows of layer k-1 <- (buf rows of layer k @ W^T) * f'(A_{k-1}), with
    ``f'^2`` when ``squared`` (``W`` is then the squared ``W_k``; hidden k >= 1)."""
    a = sizes[k]
    Dk = layer_rows(buf, ws, sizes, k, m)
    Dp = layer_rows(buf, ws, sizes, k - 1, m)
    np.dot(Dk, W.T, Dp)
    Hp = layer_rows(ws.h, ws, sizes, k - 1, m)
    for i in range(m):
        for j in range(a):
            fp = deriv(Hp[i, j], act)
            if squared:
                fp = fp * fp
            Dp[i, j] = Dp[i, j] * fp


@cpu_kernel
def column_means(E, m, b, out, o, inv_m):
    """``out[o + j] = (sum_n E[n, j]) * inv_m`` for j < b, n < m (float64 sums, n in order)."""
    for j in range(b):
        acc = 0.0
        for i in range(m):
            acc += E[i, j]
        out[o + j] = acc * inv_m


@cpu_kernel
def square_rows(src, m, n, scratch):
    """The (m, n) view of ``scratch`` holding ``src[i, j]^2`` (i < m, j < n)."""
    dst = scratch[:m * n].reshape(m, n)
    for i in range(m):
        for j in range(n):
            dst[i, j] = src[i, j] * src[i, j]
    return dst
