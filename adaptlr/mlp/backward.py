"""Back-propagation of the minibatch-mean gradient (compiled).

With the per-sample output errors ``D_L`` (rows n = 1..m)::

    softmax + cross-entropy:  D_L[n] = p_n - onehot(y_n)
    linear + MSE:             D_L[n] = z_n - t_n

and for hidden layers (f' written with the unit output h, see activations.py)::

    D_k = (D_{k+1} @ W_{k+1}^T) * f'(A_k)

the gradient of the objective ``J = (1/m) sum_n loss_n + lambda/2 sum_k ||W_k||^2``
(``lambda`` = ``l2``, on weights only, never biases) is::

    dJ/dW_k = X_k^T @ D_k / m + lambda * W_k,      dJ/db_k = sum_n D_k[n] / m

written into the flat buffer ``g`` (layout of layout.py). ``ws.d`` keeps the
per-sample errors D_k (not divided by m): per_sample.py uses them.
Requires :func:`adaptlr.mlp.forward.forward` on the same rows first.
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import SOFTMAX, deriv
from .forward import layer_input
from .rank1 import outer_plus


@cpu_kernel
def output_errors(sizes, out, m, labels, targets, ws):
    """Per-sample output errors D_L = dloss_n/dz_n into ``ws.d`` (last layer block)."""
    n_layers = sizes.shape[0] - 1
    b = sizes[n_layers]
    s = ws.row_offsets[n_layers - 1]
    P = ws.h[s:s + m * b].reshape(m, b)
    D = ws.d[s:s + m * b].reshape(m, b)
    if out == SOFTMAX:
        for i in range(m):
            for j in range(b):
                D[i, j] = P[i, j]
            D[i, labels[i]] -= 1
    else:
        for i in range(m):
            for j in range(b):
                D[i, j] = P[i, j] - targets[i, j]


@cpu_kernel
def backprop_errors(theta, offsets, sizes, act, m, buf, ws, k):
    """``buf`` rows of layer k-1 <- (buf rows of layer k @ W_k^T) * f'(A_{k-1}) (hidden k >= 1)."""
    a = sizes[k]
    b = sizes[k + 1]
    ow = offsets[2 * k]
    W = theta[ow:ow + a * b].reshape(a, b)
    s = ws.row_offsets[k]
    sp = ws.row_offsets[k - 1]
    Dk = buf[s:s + m * b].reshape(m, b)
    Dp = buf[sp:sp + m * a].reshape(m, a)
    np.dot(Dk, W.T, Dp)
    Hp = ws.h[sp:sp + m * a].reshape(m, a)
    for i in range(m):
        for j in range(a):
            Dp[i, j] = Dp[i, j] * deriv(Hp[i, j], act)


@cpu_kernel
def backward(theta, offsets, sizes, act, out, l2, X, m, labels, targets, ws, g):
    """Mean gradient of the objective over ``m`` rows into ``g`` (flat layout)."""
    n_layers = sizes.shape[0] - 1
    output_errors(sizes, out, m, labels, targets, ws)
    inv_m = 1.0 / m
    for k in range(n_layers - 1, -1, -1):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        s = ws.row_offsets[k]
        D = ws.d[s:s + m * b].reshape(m, b)
        gW = g[ow:ow + a * b].reshape(a, b)
        Xin = layer_input(X, ws, sizes, k, m)
        if m == 1:  # online path: one fused pass
            outer_plus(Xin[0], D[0], gW, l2, theta[ow:ow + a * b].reshape(a, b))
        else:
            np.dot(Xin.T, D, gW)
            gw = g[ow:ow + a * b]  # 0-based loops over views: no negative-index wraparound, vectorises
            tw = theta[ow:ow + a * b]
            for i in range(a * b):
                gw[i] = gw[i] * inv_m + l2 * tw[i]
        for j in range(b):
            acc = 0.0
            for i in range(m):
                acc += D[i, j]
            g[ob + j] = acc * inv_m
        if k > 0:
            backprop_errors(theta, offsets, sizes, act, m, ws.d, ws, k)
