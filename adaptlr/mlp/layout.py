"""The flat parameter layout of an MLP (docs/architecture.md, "MLP parameter layout").

All parameters live in one 1-D buffer ``theta``. For layer ``k`` with fan-in
``a = sizes[k]`` and fan-out ``b = sizes[k+1]``::

    W_k = theta[offsets[2k] : offsets[2k] + a*b].reshape(a, b)     # row-major, A_k = X_k @ W_k + b_k
    b_k = theta[offsets[2k+1] : offsets[2k+1] + b]

so the blocks are ``[W_0, b_0, W_1, b_1, ...]`` and ``offsets`` (int64) has
``2*L + 1`` entries with ``offsets[0] = 0`` and ``offsets[-1] = n``. These
offsets are also vSGD-b's blocks. Gradients, curvature, mean squared per-sample
gradients, Gauss-Newton-vector products and optimizer state use the same layout,
on the CPU and (as device arrays) on the GPU.
"""
from __future__ import annotations

import numpy as np


def validate_sizes(sizes) -> np.ndarray:
    """Return ``sizes`` as an int64 array after checking it describes a network.

    Raises ``ValueError`` naming the offending value: at least two sizes (input
    and output) are needed, each a positive integer.
    """
    try:
        seq = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a sequence of layer widths, got {sizes!r}") from None
    if len(seq) < 2:
        raise ValueError(
            f"sizes must list at least an input and an output width (>= 2 entries), got {seq!r}"
        )
    out = []
    for i, s in enumerate(seq):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"sizes[{i}] must be a positive integer, got {s!r} in {seq!r}")
        if s < 1:
            raise ValueError(f"sizes[{i}] must be >= 1, got {s!r} in {seq!r}")
        out.append(int(s))
    return np.asarray(out, dtype=np.int64)


def param_offsets(sizes) -> np.ndarray:
    """Block boundaries ``[W_0, b_0, W_1, b_1, ...]`` in the flat buffer (int64, 2L+1 entries)."""
    sz = validate_sizes(sizes)
    n_layers = len(sz) - 1
    off = np.zeros(2 * n_layers + 1, dtype=np.int64)
    pos = 0
    for k in range(n_layers):
        a, b = int(sz[k]), int(sz[k + 1])
        off[2 * k] = pos
        pos += a * b
        off[2 * k + 1] = pos
        pos += b
    off[-1] = pos
    return off


def n_params(sizes) -> int:
    """Total number of parameters (weights and biases)."""
    return int(param_offsets(sizes)[-1])


def weight_view(theta: np.ndarray, sizes, offsets: np.ndarray, k: int) -> np.ndarray:
    """Layer ``k``'s weight matrix ``W_k`` (shape (fan_in, fan_out)) as a view of ``theta``."""
    a, b = int(sizes[k]), int(sizes[k + 1])
    o = int(offsets[2 * k])
    return theta[o:o + a * b].reshape(a, b)


def bias_view(theta: np.ndarray, sizes, offsets: np.ndarray, k: int) -> np.ndarray:
    """Layer ``k``'s bias vector ``b_k`` (shape (fan_out,)) as a view of ``theta``."""
    b = int(sizes[k + 1])
    o = int(offsets[2 * k + 1])
    return theta[o:o + b]


def weight_mask(sizes) -> np.ndarray:
    """Boolean mask over the flat buffer, True on weights (where L2 applies), False on biases."""
    off = param_offsets(sizes)
    mask = np.zeros(int(off[-1]), dtype=bool)
    for k in range(len(off) // 2):
        mask[off[2 * k]:off[2 * k + 1]] = True
    return mask
