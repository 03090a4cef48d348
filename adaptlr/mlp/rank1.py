"""Fused rank-1 products for one-sample minibatches (the online, batch-size-1 path).

For m = 1 the weight-shaped products ``X^T @ D`` are outer products; a plain
loop that also applies the L2 / constant term in the same pass is about twice as
fast as a k = 1 BLAS ``gemm`` followed by a second pass, and allocates nothing.
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel
from .activations import deriv


@cpu_kernel
def outer_plus(x, d, out, lam, base):
    """``out[i, j] = x[i] * d[j] + lam * base[i, j]`` (x, d 1-D; out, base 2-D)."""
    a = x.shape[0]
    b = d.shape[0]
    for i in range(a):
        xi = x[i]
        o = out[i]
        w = base[i]
        for j in range(b):
            o[j] = xi * d[j] + lam * w[j]


@cpu_kernel
def outer_sq_plus_const(x, d, out, c):
    """``out[i, j] = x[i]^2 * d[j] + c`` (bbprop's weight curvature for one sample)."""
    a = x.shape[0]
    b = d.shape[0]
    for i in range(a):
        xi = x[i] * x[i]
        o = out[i]
        for j in range(b):
            o[j] = xi * d[j] + c


@cpu_kernel
def propagate_row(w, b, D, C, Dp, Cp, Hp, i, act, errors, curvature):
    """Row ``i`` of one layer for one sample: ``Dp_i = f'(h_i) sum_j w_j D_j`` (if
    ``errors``) and ``Cp_i = f'(h_i)^2 sum_j w_j^2 C_j`` (if ``curvature``), ``w`` the row
    ``W_i`` (length ``b``).

    Four float64 partial sums (no fast-math needed to keep the loop busy), j = 0, 1, 2, 3
    mod 4, the tail into the first, combined as ``(s0 + s1) + (s2 + s3)``."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    q0 = 0.0
    q1 = 0.0
    q2 = 0.0
    q3 = 0.0
    j = 0
    while j + 4 <= b:
        w0 = np.float64(w[j])
        w1 = np.float64(w[j + 1])
        w2 = np.float64(w[j + 2])
        w3 = np.float64(w[j + 3])
        if errors:
            s0 += w0 * D[j]
            s1 += w1 * D[j + 1]
            s2 += w2 * D[j + 2]
            s3 += w3 * D[j + 3]
        if curvature:
            q0 += w0 * w0 * C[j]
            q1 += w1 * w1 * C[j + 1]
            q2 += w2 * w2 * C[j + 2]
            q3 += w3 * w3 * C[j + 3]
        j += 4
    while j < b:
        w0 = np.float64(w[j])
        if errors:
            s0 += w0 * D[j]
        if curvature:
            q0 += w0 * w0 * C[j]
        j += 1
    fp = deriv(np.float64(Hp[i]), act)
    if errors:
        Dp[i] = ((s0 + s1) + (s2 + s3)) * fp
    if curvature:
        Cp[i] = ((q0 + q1) + (q2 + q3)) * (fp * fp)


@cpu_kernel
def propagate_rows(W, a, b, D, C, Dp, Cp, Hp, act, errors, curvature):
    """One sample, one layer: :func:`propagate_row` for every row ``i < a`` of ``W``
    (flat, ``a*b``, row-major)."""
    for i in range(a):
        propagate_row(W[i * b:(i + 1) * b], b, D, C, Dp, Cp, Hp, i, act, errors, curvature)
