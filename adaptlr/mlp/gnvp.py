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

G is positive semi-definite, so ``v . G v >= 0``. Requires
:func:`adaptlr.mlp.forward.forward` on the same rows first.
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import SOFTMAX, deriv
from .backward import backprop_errors
from .forward import layer_input
from .rank1 import outer_plus


@cpu_kernel
def gnvp(theta, offsets, sizes, act, out, l2, X, m, ws, v, hv):
    """Gauss-Newton-vector product ``G v`` (minibatch mean) into ``hv`` (flat layout)."""
    n_layers = sizes.shape[0] - 1
    # R-forward
    for k in range(n_layers):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        W = theta[ow:ow + a * b].reshape(a, b)
        V = v[ow:ow + a * b].reshape(a, b)
        s = ws.row_offsets[k]
        RA = ws.r[s:s + m * b].reshape(m, b)
        np.dot(layer_input(X, ws, sizes, k, m), V, RA)
        if k > 0:
            sp = ws.row_offsets[k - 1]
            RX = ws.r[sp:sp + m * a].reshape(m, a)
            T = ws.t2[:m * b].reshape(m, b)
            np.dot(RX, W, T)
            for i in range(m):
                for j in range(b):
                    RA[i, j] = RA[i, j] + T[i, j]
        H = ws.h[s:s + m * b].reshape(m, b)
        for i in range(m):
            for j in range(b):
                r = RA[i, j] + v[ob + j]
                if k < n_layers - 1:
                    r = r * deriv(H[i, j], act)
                RA[i, j] = r
    # output Hessian
    b = sizes[n_layers]
    s = ws.row_offsets[n_layers - 1]
    P = ws.h[s:s + m * b].reshape(m, b)
    RZ = ws.r[s:s + m * b].reshape(m, b)
    U = ws.rd[s:s + m * b].reshape(m, b)
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
    inv_m = 1.0 / m
    for k in range(n_layers - 1, -1, -1):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        s = ws.row_offsets[k]
        Uk = ws.rd[s:s + m * b].reshape(m, b)
        hW = hv[ow:ow + a * b].reshape(a, b)
        Xin = layer_input(X, ws, sizes, k, m)
        if m == 1:
            outer_plus(Xin[0], Uk[0], hW, l2, v[ow:ow + a * b].reshape(a, b))
        else:
            np.dot(Xin.T, Uk, hW)
            hw = hv[ow:ow + a * b]
            vw = v[ow:ow + a * b]
            for i in range(a * b):
                hw[i] = hw[i] * inv_m + l2 * vw[i]
        for j in range(b):
            acc = 0.0
            for i in range(m):
                acc += Uk[i, j]
            hv[ob + j] = acc * inv_m
        if k > 0:
            backprop_errors(theta, offsets, sizes, act, m, ws.rd, ws, k)
