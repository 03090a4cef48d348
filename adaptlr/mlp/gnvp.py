"""Gauss-Newton-vector products ``G v`` on a minibatch (Schraudolph 2002, "Fast curvature
matrix-vector products for second-order gradient descent"; Pearlmutter 1994's R-operator),
used by SMD.

``G = (1/m) sum_n J_n^T H_n J_n + lambda * I_W``, with ``J_n = dz_n/dtheta`` the
Jacobian of the output pre-activation, ``H_n`` the Hessian of the loss w.r.t.
``z_n`` (softmax + cross-entropy: ``diag(p_n) - p_n p_n^T``, full, no terms
dropped; linear + MSE: ``I``), and ``lambda I_W`` the exact Hessian of the L2
term on the weights. ``v`` and the result ``hv`` use the flat layout.

R-forward (``R{X_0} = 0``, ``V_k``/``vb_k`` the blocks of ``v``)::

    R{A_k} = R{X_k} @ W_k + X_k @ V_k + vb_k,     R{X_{k+1}} = f'(A_k) * R{A_k}

then ``U = H R{z}`` (softmax: ``U = p * R{z} - p (p . R{z})`` row-wise) and the
ordinary backward pass of ``U`` (f' only, no f'' terms: that is what makes it
Gauss-Newton rather than the Hessian)::

    U_k = (U_{k+1} @ W_{k+1}^T) * f'(A_k),
    hv(W_k) = X_k^T @ U_k / m + lambda V_k,    hv(b_k) = sum_n U_k[n] / m

(backward.py's pass, :func:`adaptlr.mlp.backward.backprop_mean`, run on ``U`` in ``ws.rd``
with ``V`` in the L2 term). G is positive semi-definite, so ``v . G v >= 0``. Requires
:func:`adaptlr.mlp.forward.forward` on the same rows first.
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import SOFTMAX, deriv
from .backward import backprop_mean
from .forward import layer_input, layer_rows, layer_weights


@cpu_kernel
def gnvp(theta, offsets, sizes, act, out, l2, X, m, ws, v, hv):
    """Gauss-Newton-vector product ``G v`` (minibatch mean) into ``hv`` (flat layout)."""
    n_layers = sizes.shape[0] - 1
    # R-forward
    for k in range(n_layers):
        b = sizes[k + 1]
        ob = offsets[2 * k + 1]
        RA = layer_rows(ws.r, ws, sizes, k, m)
        np.dot(layer_input(X, ws, sizes, k, m), layer_weights(v, offsets, sizes, k), RA)
        if k > 0:
            T = ws.t2[:m * b].reshape(m, b)
            np.dot(layer_rows(ws.r, ws, sizes, k - 1, m), layer_weights(theta, offsets, sizes, k), T)
            for i in range(m):
                for j in range(b):
                    RA[i, j] = RA[i, j] + T[i, j]
        H = layer_rows(ws.h, ws, sizes, k, m)
        for i in range(m):
            for j in range(b):
                r = RA[i, j] + v[ob + j]
                if k < n_layers - 1:
                    r = r * deriv(H[i, j], act)
                RA[i, j] = r
    # output Hessian
    b = sizes[n_layers]
    P = layer_rows(ws.h, ws, sizes, n_layers - 1, m)
    RZ = layer_rows(ws.r, ws, sizes, n_layers - 1, m)
    U = layer_rows(ws.rd, ws, sizes, n_layers - 1, m)
    if out == SOFTMAX:
        for i in range(m):
            dot = 0.0
            for j in range(b):
                dot += P[i, j] * RZ[i, j]
            for j in range(b):
                U[i, j] = P[i, j] * (RZ[i, j] - dot)
    else:
        for i in range(m):
            for j in range(b):
                U[i, j] = RZ[i, j]
    # backward of U
    backprop_mean(theta, offsets, sizes, act, l2, X, m, ws, ws.rd, v, hv)
