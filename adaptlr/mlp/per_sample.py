"""Mean over the minibatch of each parameter's squared per-sample gradient (vSGD's v).

The per-sample gradient of sample n is the data gradient of its loss plus the
L2 gradient (so that the minibatch gradient is the mean of the per-sample ones)::

    g_n(W_k) = X_k[n]^T D_k[n] + lambda W_k,      g_n(b_k) = D_k[n]

Its mean square over the ``m`` rows needs no per-sample loop (squares elementwise,
``G_k = X_k^T D_k / m`` the data part of the mean gradient)::

    gsq(W_k) = (X_k^2)^T @ (D_k^2) / m + 2 lambda W_k * G_k + lambda^2 W_k^2
    gsq(b_k) = sum_n D_k[n]^2 / m

(the first term is exact because W_k[j, i] sees only the product X[n, j] D[n, i]).
For m = 1 this equals g * g, which is what the kernel computes then. With L2 the sum can round to a tiny negative
number in float32; it is clipped at 0 (it is a mean of squares). Requires :func:`adaptlr.mlp.backward.backward` on
the same rows first (it reads the per-sample errors in ``ws.d`` and the mean
gradient ``g``).
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .forward import layer_input, layer_rows, layer_weights
from .layer_loops import column_means, square_rows


@cpu_kernel
def grad_sq(theta, offsets, sizes, l2, X, m, ws, g, gsq):
    """Mean squared per-sample gradients of every parameter into ``gsq`` (flat layout)."""
    if m == 1:  # one sample: the mean square is the square of its gradient
        for i in range(g.shape[0]):
            gsq[i] = g[i] * g[i]
        return
    n_layers = sizes.shape[0] - 1
    inv_m = 1.0 / m
    for k in range(n_layers):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        Xsq = square_rows(layer_input(X, ws, sizes, k, m), m, a, ws.t1)
        Dsq = square_rows(layer_rows(ws.d, ws, sizes, k, m), m, b, ws.t2)
        np.dot(Xsq.T, Dsq, layer_weights(gsq, offsets, sizes, k))
        qw = gsq[ow:ow + a * b]
        tw = theta[ow:ow + a * b]
        gw = g[ow:ow + a * b]
        if l2 != 0.0:
            for i in range(a * b):
                w = tw[i]
                gdata = gw[i] - l2 * w
                q = qw[i] * inv_m + 2.0 * l2 * w * gdata + l2 * l2 * w * w
                qw[i] = q if q > 0 else q * 0  # a mean of squares: clip rounding below 0
        else:
            for i in range(a * b):
                qw[i] = qw[i] * inv_m
        column_means(Dsq, m, b, gsq, ob, inv_m)
