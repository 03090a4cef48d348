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
per-sample errors D_k (not divided by m): per_sample.py uses them. The backward pass
itself (:func:`backprop_mean`) is also gnvp.py's, run on its errors ``U`` with ``lambda V_k``
in place of ``lambda W_k``; the propagation through ``W_k`` (:func:`backprop_errors`) is
layer_loops.py's, which bbprop.py runs with ``W_k^2`` and ``f'^2``.
Requires :func:`adaptlr.mlp.forward.forward` on the same rows first.
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import SOFTMAX
from .forward import layer_input, layer_rows, layer_weights
from .layer_loops import column_means, propagate_errors
from .rank1 import outer_plus


@cpu_kernel
def output_errors(sizes, out, m, labels, targets, ws):
    """Per-sample output errors D_L = dloss_n/dz_n into ``ws.d`` (last layer block)."""
    n_layers = sizes.shape[0] - 1
    b = sizes[n_layers]
    P = layer_rows(ws.h, ws, sizes, n_layers - 1, m)
    D = layer_rows(ws.d, ws, sizes, n_layers - 1, m)
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
    propagate_errors(layer_weights(theta, offsets, sizes, k), buf, ws, sizes, act, m, k, False)


@cpu_kernel
def backprop_mean(theta, offsets, sizes, act, l2, X, m, ws, errs, reg, out):
    """The backward pass from the output errors in ``errs`` (last layer block; ``ws.d`` here,
    ``ws.rd`` for gnvp.py): for k = L-1 .. 0, ``out(W_k) = X_k^T @ E_k / m + l2 * reg(W_k)``,
    ``out(b_k) = sum_n E_k[n] / m``, then ``E_{k-1}`` by :func:`backprop_errors` (in ``errs``).
    ``reg`` is the flat buffer the L2 term multiplies (``theta``; gnvp.py's ``v``)."""
    n_layers = sizes.shape[0] - 1
    inv_m = 1.0 / m
    for k in range(n_layers - 1, -1, -1):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        D = layer_rows(errs, ws, sizes, k, m)
        gW = layer_weights(out, offsets, sizes, k)
        Xin = layer_input(X, ws, sizes, k, m)
        if m == 1:  # online path: one fused pass
            outer_plus(Xin[0], D[0], gW, l2, layer_weights(reg, offsets, sizes, k))
        else:
            np.dot(Xin.T, D, gW)
            gw = out[ow:ow + a * b]  # 0-based loops over views: no negative-index wraparound, vectorises
            tw = reg[ow:ow + a * b]
            for i in range(a * b):
                gw[i] = gw[i] * inv_m + l2 * tw[i]
        column_means(D, m, b, out, ob, inv_m)
        if k > 0:
            backprop_errors(theta, offsets, sizes, act, m, errs, ws, k)


@cpu_kernel
def backward(theta, offsets, sizes, act, out, l2, X, m, labels, targets, ws, g):
    """Mean gradient of the objective over ``m`` rows into ``g`` (flat layout)."""
    output_errors(sizes, out, m, labels, targets, ws)
    backprop_mean(theta, offsets, sizes, act, l2, X, m, ws, ws.d, theta, g)
