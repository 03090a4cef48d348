"""Fused rank-1 products for one-sample minibatches (the online, batch-size-1 path).

For m = 1 the weight-shaped products ``X^T @ D`` are outer products; a plain
loop that also applies the L2 / constant term in the same pass is about twice as
fast as a k = 1 BLAS ``gemm`` followed by a second pass, and allocates nothing.
"""
from __future__ import annotations

from ..targets import cpu_kernel


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
