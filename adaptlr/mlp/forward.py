"""Forward pass and loss on a minibatch (compiled).

For layers k = 0 .. L-1 with input ``X_0 = X`` (m rows)::

    A_k = X_k @ W_k + b_k,      X_{k+1} = f(A_k)      (hidden layers, f = tanh | relu | logistic)
    z   = A_{L-1}                                     (output pre-activation)

Softmax output with integer labels y_n (cross-entropy, computed with
log-sum-exp so it never takes log of 0)::

    p_n = softmax(z_n),   loss_n = -log p_n[y_n] = log sum_j exp(z_nj) - z_n[y_n]

Linear output with target rows t_n (vSGD's CR autoencoder)::

    loss_n = 1/2 ||z_n - t_n||^2

The returned ``loss_sum`` is ``sum_n loss_n`` (data term only: the L2 term
lambda/2 ||W||^2 is added by the caller that wants the objective), and
``n_err`` is the number of misclassified rows (argmax p_n != y_n, first maximum
wins) for softmax, or the same as ``loss_sum`` for linear outputs (the contract's
"mean squared reconstruction error per sample, sum over outputs / 2").

Note: vSGD (Sec. 7.2) writes p(c) = exp(-y_c) / sum_k exp(-y_k); we use the usual
sign exp(+z); the two differ only by the sign of the last layer's parameters.
"""
from __future__ import annotations

import math

import numpy as np

from ..targets import cpu_kernel
from .activations import SOFTMAX, bias_activate


@cpu_kernel
def layer_rows(buf, ws, sizes, k, m):
    """The (m, sizes[k+1]) block of layer ``k``'s units in a per-unit workspace buffer
    (``ws.h``, ``ws.d``, ``ws.c``, ``ws.r``, ``ws.rd``: one row per sample, workspace.py)."""
    s = ws.row_offsets[k]
    b = sizes[k + 1]
    return buf[s:s + m * b].reshape(m, b)


@cpu_kernel
def layer_weights(theta, offsets, sizes, k):
    """The (sizes[k], sizes[k+1]) weight block ``W_k`` of a flat parameter-sized buffer
    (``theta``, a direction ``v``, ``ws.wsq``; layout.py)."""
    a = sizes[k]
    b = sizes[k + 1]
    ow = offsets[2 * k]
    return theta[ow:ow + a * b].reshape(a, b)


@cpu_kernel
def layer_input(X, ws, sizes, k, m):
    """Input matrix of layer ``k`` (m rows): ``X`` for k = 0, else the outputs of layer k-1."""
    if k == 0:
        return X
    return layer_rows(ws.h, ws, sizes, k - 1, m)


@cpu_kernel
def forward(theta, offsets, sizes, act, out, X, m, labels, targets, ws):
    """Forward pass of ``m`` rows of ``X``; fills ``ws.h``; returns ``(loss_sum, n_err)``.

    ``labels`` (int64, softmax) or ``targets`` (2-D, linear) may be empty
    (length 0): then no loss is computed and ``(0.0, 0.0)`` is returned.
    """
    n_layers = sizes.shape[0] - 1
    for k in range(n_layers):
        b = sizes[k + 1]
        ob = offsets[2 * k + 1]
        A = layer_rows(ws.h, ws, sizes, k, m)
        np.dot(layer_input(X, ws, sizes, k, m), layer_weights(theta, offsets, sizes, k), A)
        if k < n_layers - 1:
            bias_activate(A, theta[ob:ob + b], act)
        else:
            for i in range(m):
                for j in range(b):
                    A[i, j] = A[i, j] + theta[ob + j]
    return output_loss(sizes, out, m, labels, targets, ws)


@cpu_kernel
def output_loss(sizes, out, m, labels, targets, ws):
    """The output layer of a forward pass whose pre-activations ``z`` are in ``ws.h`` (last
    block, ``m`` rows): softmax in place and the cross-entropy, or the squared error;
    returns ``(loss_sum, n_err)`` as :func:`forward` does."""
    n_layers = sizes.shape[0] - 1
    b = sizes[n_layers]
    Z = layer_rows(ws.h, ws, sizes, n_layers - 1, m)
    loss_sum = 0.0
    n_err = 0.0
    if out == SOFTMAX:
        have = labels.shape[0] >= m
        for i in range(m):
            zmax = Z[i, 0]
            jmax = 0
            for j in range(1, b):
                if Z[i, j] > zmax:
                    zmax = Z[i, j]
                    jmax = j
            zy = 0.0
            if have:
                zy = Z[i, labels[i]] - zmax
            ssum = 0.0
            for j in range(b):
                e = math.exp(Z[i, j] - zmax)
                Z[i, j] = e
                ssum += e
            if have:
                loss_sum += math.log(ssum) - zy
                if jmax != labels[i]:
                    n_err += 1.0
            inv = 1.0 / ssum
            for j in range(b):
                Z[i, j] = Z[i, j] * inv
    else:
        if targets.shape[0] >= m:
            for i in range(m):
                acc = 0.0
                for j in range(b):
                    r = Z[i, j] - targets[i, j]
                    acc += r * r
                loss_sum += 0.5 * acc
            n_err = loss_sum
    return loss_sum, n_err
