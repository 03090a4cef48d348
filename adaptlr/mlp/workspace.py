"""Preallocated buffers for the compiled kernels, created once per (network, batch size).

A :class:`Workspace` is a NamedTuple of flat arrays, so compiled code takes it as
one argument and the kernels never allocate per step. Per-layer matrices are
views ``buf[s : s + m*width].reshape(m, width)`` with ``s = row_offsets[k]``
(``= capacity * (sizes[1] + ... + sizes[k])``) and ``m <= capacity`` rows, so one
workspace also serves the smaller last chunk of an evaluation pass.

The CUDA path uses the same design (one flat device buffer per field, same
offsets), so a whole epoch can stay on the GPU.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .layout import validate_sizes


class Workspace(NamedTuple):
    """Buffers for minibatches of up to ``capacity`` rows.

    Fields: ``capacity`` (int64 rows); ``row_offsets`` (int64, L+1: start of
    layer k's block in ``h``/``d``/``c``/``r``/``rd``); ``h`` unit outputs
    (hidden f(a); last layer softmax p or linear z); ``d`` per-sample
    back-propagated errors dL_n/da (not divided by the batch size); ``c`` bbprop
    diagonal curvature w.r.t. pre-activations; ``r`` R-forward pre-activations
    R{a}; ``rd`` R-backward errors; ``wsq`` squared parameters (flat layout);
    ``t1``/``t2`` scratch of ``capacity * max(sizes)``; ``xb`` gathered inputs
    (capacity * sizes[0]); ``yb`` gathered integer labels; ``tb`` gathered
    targets (capacity * sizes[-1]); ``theta_prev`` copy of theta before a step
    (effective learning-rate recording).
    """

    capacity: int
    row_offsets: np.ndarray
    h: np.ndarray
    d: np.ndarray
    c: np.ndarray
    r: np.ndarray
    rd: np.ndarray
    wsq: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    xb: np.ndarray
    yb: np.ndarray
    tb: np.ndarray
    theta_prev: np.ndarray


def make_workspace(sizes, capacity: int, dtype=np.float64) -> Workspace:
    """Allocate a :class:`Workspace` for minibatches of up to ``capacity`` rows."""
    sz = validate_sizes(sizes)
    if isinstance(capacity, (bool, np.bool_)) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
        raise ValueError(f"workspace capacity (batch size) must be an integer >= 1, got {capacity!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    cap = int(capacity)
    n_layers = len(sz) - 1
    row_off = np.zeros(n_layers + 1, dtype=np.int64)
    for k in range(n_layers):
        row_off[k + 1] = row_off[k] + cap * sz[k + 1]
    tot = int(row_off[-1])
    n = 0
    for k in range(n_layers):
        n += int(sz[k] * sz[k + 1] + sz[k + 1])
    wmax = int(sz.max())

    def z(k):
        return np.zeros(k, dtype=dtype)

    return Workspace(
        capacity=np.int64(cap),
        row_offsets=row_off,
        h=z(tot), d=z(tot), c=z(tot), r=z(tot), rd=z(tot),
        wsq=z(n), t1=z(cap * wmax), t2=z(cap * wmax),
        xb=z(cap * int(sz[0])), yb=np.zeros(cap, dtype=np.int64), tb=z(cap * int(sz[-1])),
        theta_prev=z(n),
    )
