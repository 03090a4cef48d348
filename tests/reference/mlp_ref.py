"""Plain-NumPy reference for the MLP, written from the equations (shares no code with adaptlr).

Layout (docs/architecture.md): theta = [W_0 (a0*b0, row-major), b_0, W_1, b_1, ...];
A_k = X_k @ W_k + b_k. Everything here is float64 and deliberately simple (per-sample
loops, finite differences), for tiny networks only.
"""
from __future__ import annotations

import numpy as np


def unpack(theta, sizes):
    """Lists of (W_k, b_k) copies from the flat layout."""
    theta = np.asarray(theta, dtype=np.float64)
    Ws, bs = [], []
    pos = 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        Ws.append(theta[pos:pos + a * b].reshape(a, b).copy())
        pos += a * b
        bs.append(theta[pos:pos + b].copy())
        pos += b
    assert pos == theta.size
    return Ws, bs


def pack(Ws, bs):
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs)])


def weight_mask(sizes):
    parts = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        parts += [np.ones(a * b, bool), np.zeros(b, bool)]
    return np.concatenate(parts)


def f(a, act):
    if act == "tanh":
        return np.tanh(a)
    if act == "relu":
        return np.maximum(a, 0.0)
    if act == "logistic":
        return 1.0 / (1.0 + np.exp(-a))
    raise ValueError(act)


def fprime(a, act):
    if act == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if act == "relu":
        return (a > 0).astype(float)
    if act == "logistic":
        s = 1.0 / (1.0 + np.exp(-a))
        return s * (1.0 - s)
    raise ValueError(act)


def forward_sample(theta, sizes, act, x):
    """Pre-activations [A_0..A_{L-1}] and inputs [X_0..X_{L-1}] of one sample (1-D x)."""
    Ws, bs = unpack(theta, sizes)
    xs, As = [], []
    h = np.asarray(x, dtype=np.float64)
    for k, (W, b) in enumerate(zip(Ws, bs)):
        xs.append(h)
        a = h @ W + b
        As.append(a)
        h = f(a, act) if k < len(Ws) - 1 else a
    return xs, As


def logits(theta, sizes, act, x):
    return forward_sample(theta, sizes, act, x)[1][-1]


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def sample_loss(theta, sizes, act, out, x, y):
    z = logits(theta, sizes, act, x)
    if out == "softmax":
        return float(np.log(np.sum(np.exp(z - z.max()))) + z.max() - z[int(y)])
    return 0.5 * float(np.sum((z - y) ** 2))


def objective(theta, sizes, act, out, l2, X, Y):
    """(1/m) sum_n loss_n + l2/2 ||W||^2."""
    theta = np.asarray(theta, np.float64)
    m = len(X)
    data = sum(sample_loss(theta, sizes, act, out, X[n], Y[n]) for n in range(m)) / m
    w = theta[weight_mask(sizes)]
    return data + 0.5 * l2 * float(w @ w)


def fd_gradient(fun, theta, h=1e-6):
    theta = np.asarray(theta, np.float64)
    g = np.empty_like(theta)
    for i in range(theta.size):
        tp = theta.copy(); tp[i] += h
        tm = theta.copy(); tm[i] -= h
        g[i] = (fun(tp) - fun(tm)) / (2 * h)
    return g


def sample_gradient(theta, sizes, act, out, l2, x, y):
    """Per-sample gradient (data + l2*W) by textbook backprop, one sample at a time."""
    Ws, _ = unpack(theta, sizes)
    xs, As = forward_sample(theta, sizes, act, x)
    z = As[-1]
    delta = softmax(z) - np.eye(z.size)[int(y)] if out == "softmax" else z - y
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        gW[k] = np.outer(xs[k], delta) + l2 * Ws[k]
        gb[k] = delta.copy()
        if k > 0:
            delta = (Ws[k] @ delta) * fprime(As[k - 1], act)
    return pack(gW, gb)


def jacobian_fd(theta, sizes, act, x, h=1e-6):
    """dz/dtheta (n_out x n_params) of one sample by central differences."""
    theta = np.asarray(theta, np.float64)
    cols = []
    for i in range(theta.size):
        tp = theta.copy(); tp[i] += h
        tm = theta.copy(); tm[i] -= h
        cols.append((logits(tp, sizes, act, x) - logits(tm, sizes, act, x)) / (2 * h))
    return np.stack(cols, axis=1)


def output_hessian(theta, sizes, act, out, x):
    z = logits(theta, sizes, act, x)
    if out == "softmax":
        p = softmax(z)
        return np.diag(p) - np.outer(p, p)
    return np.eye(z.size)


def gauss_newton(theta, sizes, act, out, l2, X):
    """Dense Gauss-Newton matrix (1/m) sum_n J_n^T H_n J_n + l2 * diag(weight mask)."""
    theta = np.asarray(theta, np.float64)
    G = np.zeros((theta.size, theta.size))
    for x in X:
        J = jacobian_fd(theta, sizes, act, x)
        G += J.T @ output_hessian(theta, sizes, act, out, x) @ J
    G /= len(X)
    G += l2 * np.diag(weight_mask(sizes).astype(float))
    return G


def bbprop_sample(theta, sizes, act, out, l2, x):
    """LeCun et al. 1998 bbprop recursion for one sample, from its rules (diagonal only, no f'')."""
    Ws, _ = unpack(theta, sizes)
    xs, As = forward_sample(theta, sizes, act, x)
    z = As[-1]
    if out == "softmax":
        p = softmax(z)
        c = p * (1 - p)
    else:
        c = np.ones_like(z)
    cW, cb = [None] * len(Ws), [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        cW[k] = np.outer(xs[k] ** 2, c) + l2
        cb[k] = c.copy()
        if k > 0:
            c = (Ws[k] ** 2 @ c) * fprime(As[k - 1], act) ** 2
    return pack(cW, cb)
