"""bbprop: the Gauss-Newton diagonal by back-propagation (LeCun, Bottou, Orr, Mueller 1998,
"Efficient BackProp", Sec. 7; used by vSGD, Schaul, Zhang & LeCun 2013, Sec. 4.3).

Per sample n, with ``C_k[n, i]`` the curvature estimate w.r.t. the pre-activation
``A_k[n, i]``::

    softmax + cross-entropy:  C_L[n, i] = p_ni (1 - p_ni)          (diagonal of diag(p) - p p^T)
    linear + MSE:             C_L[n, i] = 1                        (the exact output Hessian)
    hidden:                   C_k = (C_{k+1} @ (W_{k+1}^2)^T) * f'(A_k)^2

and the minibatch mean over ``m`` rows (``lambda`` = ``l2``)::

    curv(W_k) = (X_k^2)^T @ C_k / m + lambda,     curv(b_k) = sum_n C_k[n] / m

(squares elementwise). Every entry is >= 0 (> 0 for weights when lambda > 0).

Approximations (the usual bbprop ones), compared with the Gauss-Newton diagonal
``diag(J^T H_out J)`` averaged over the samples:

* the off-diagonal output-Hessian terms ``-p_i p_j`` of the softmax are dropped;
* all cross terms between units are dropped (the sum over paths is replaced by
  a sum of squares, ``sum_i W_ji^2 C_i`` instead of ``(sum_i W_ji J_i)^2``-type terms);
* the ``f''`` (second-derivative) terms are dropped: that is the Gauss-Newton
  approximation itself, which makes the estimate positive.

Consequently bbprop equals the Gauss-Newton diagonal exactly for the last layer
(weights and biases, both losses), and for every layer of a one-hidden-layer
network with linear output and MSE (diagonal output Hessian, single path per
weight); elsewhere it is a positive approximation. Unlike some ports (e.g.
py-optim), no ``abs()`` is needed: the estimate is positive by construction.
The L2 term contributes its exact curvature ``lambda`` to every weight.
For one sample (m = 1) the propagation ``C_{k+1} @ (W_{k+1}^2)^T`` is one pass over
``W_{k+1}`` (rank1.propagate_rows) instead of squaring it into a buffer and a BLAS product.
For m > 1 the propagation is back-propagation's (layer_loops.propagate_errors) with ``W^2``
and ``f'^2``; the bias sums and the squares of ``X_k`` are layer_loops.py's too.
Requires :func:`adaptlr.mlp.forward.forward` on the same rows first.
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import SOFTMAX
from .forward import layer_input, layer_rows, layer_weights
from .layer_loops import column_means, propagate_errors, square_rows
from .rank1 import outer_sq_plus_const, propagate_rows


@cpu_kernel
def output_curvature(sizes, out, m, ws):
    """bbprop's output curvature C_L into ``ws.c``: p (1 - p) (softmax + cross-entropy) or 1."""
    n_layers = sizes.shape[0] - 1
    b = sizes[n_layers]
    P = layer_rows(ws.h, ws, sizes, n_layers - 1, m)
    C = layer_rows(ws.c, ws, sizes, n_layers - 1, m)
    if out == SOFTMAX:
        for i in range(m):
            for j in range(b):
                C[i, j] = P[i, j] * (1 - P[i, j])
    else:
        for i in range(m):
            for j in range(b):
                C[i, j] = 1


@cpu_kernel
def square_weights(theta, offsets, ws, k):
    """``ws.wsq[W_k] <- W_k^2`` (layer k only)."""
    lo = offsets[2 * k]
    hi = offsets[2 * k + 1]
    src = theta[lo:hi]
    dst = ws.wsq[lo:hi]
    for i in range(hi - lo):
        dst[i] = src[i] * src[i]


@cpu_kernel
def bbprop(theta, offsets, sizes, act, out, l2, X, m, ws, curv):
    """Minibatch-mean bbprop curvature of every parameter into ``curv`` (flat layout)."""
    n_layers = sizes.shape[0] - 1
    output_curvature(sizes, out, m, ws)
    inv_m = 1.0 / m
    for k in range(n_layers - 1, -1, -1):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        Ck = layer_rows(ws.c, ws, sizes, k, m)
        Xin = layer_input(X, ws, sizes, k, m)
        cW = layer_weights(curv, offsets, sizes, k)
        if m == 1:
            outer_sq_plus_const(Xin[0], Ck[0], cW, l2)
        else:
            np.dot(square_rows(Xin, m, a, ws.t1).T, Ck, cW)
            cw = curv[ow:ow + a * b]
            for i in range(a * b):
                cw[i] = cw[i] * inv_m + l2
        column_means(Ck, m, b, curv, ob, inv_m)
        if k > 0:
            if m == 1:  # one pass over W_k, no W_k^2 buffer
                sp = ws.row_offsets[k - 1]
                propagate_rows(theta[ow:ow + a * b], a, b, Ck[0], Ck[0], Ck[0], ws.c[sp:sp + a],
                               ws.h[sp:sp + a], act, False, True)
                continue
            square_weights(theta, offsets, ws, k)  # W_0^2 is never needed
            propagate_errors(layer_weights(ws.wsq, offsets, sizes, k), ws.c, ws, sizes, act, m, k,
                             True)
