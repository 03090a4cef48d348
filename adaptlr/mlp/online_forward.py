"""The forward pass of one sample without BLAS, over the nonzero inputs only (batch size 1).

For one input row ``x`` of layer k (``a`` inputs, ``b`` units; forward.py)::

    A_j = b_j + sum_{i : x_i != 0} x_i W_ij

The rows ``i`` are dealt to :data:`FORWARD_PARTS` contiguous parts, which run in a
``prange``; part ``p`` sums its rows, in row order, into its own float64 row
``parts[p, :]``, and ``A_j`` is ``sum_p parts[p, j]`` in the order p = 0, 1, ... (then
rounded to the dtype, plus the bias, then the activation: bias_activate). The number of
parts is fixed, so the result is the same, bit for bit, for any number of threads. Rows
whose input is exactly zero add nothing and are not read: on MNIST 81% of the pixels are
zero, so about a fifth of ``W_0`` (the 784 x 500 of 784-500-300-10, 72% of its weights) is
read per sample. The output layer and the loss are forward.py's (:func:`output_loss`).

Why: the batch-1 forward pass by BLAS (forward.py's ``np.dot`` on a 1-row matrix) reads
all of ``W_0`` per sample, and a BLAS call next to the fused online step's OpenMP region
(online_step.py) makes the two thread pools fight over the cores (docs/prototypes/README.md:
SGD ran slower on two threads than on one). With this pass and the skip of the fused step,
a batch-1 SGD step touches only the rows of the nonzero inputs of ``W_0`` and no BLAS runs.

Rounding differs from forward.py's (float64 sums in another order, against BLAS's own), so
the training loop uses this pass only where it pays and where no stored result depends on
the old one: batch size 1 with a method whose rule is the identity at a zero gradient
(``Method.zero_grad_identity``: SGD, AdaGrad) and ``l2 = 0`` (``training.SPARSE_FORWARD``;
tests/test_online_forward.py checks it against forward.py to rounding).
"""
from __future__ import annotations

import numpy as np

from ..targets import cpu_kernel, prange
from .activations import bias_activate
from .forward import layer_input, layer_rows, output_loss

#: the rows of each weight matrix are split into this many contiguous parts (one per
#: prange iteration); fixed, so the sums and hence the results do not depend on the threads
FORWARD_PARTS = 16
#: layers with fewer weights than this sum their parts on one thread (a thread launch costs
#: more than the sums); the parts and their order are the same, so are the bits
PARALLEL_MIN = 16384


def make_parts(sizes) -> np.ndarray:
    """The float64 scratch rows of :func:`online_forward` for a network of ``sizes``."""
    return np.zeros((FORWARD_PARTS, int(max(sizes[1:]))), dtype=np.float64)


@cpu_kernel
def sum_part(x, W, a, b, p, P, row):
    """``row[:b] = sum x_i W[i, :]`` over the rows ``i`` of part ``p`` of ``P``
    (``[p a / P, (p + 1) a / P)``, in order) whose input ``x_i`` is not zero; ``W`` flat
    (``a*b``, row-major); float64 sums."""
    for j in range(b):
        row[j] = 0.0
    for i in range(p * a // P, (p + 1) * a // P):
        xi = np.float64(x[i])
        if xi != 0.0:
            w = W[i * b:(i + 1) * b]
            for j in range(b):
                row[j] += xi * np.float64(w[j])


@cpu_kernel(parallel=True)
def online_forward(theta, offsets, sizes, act, out, X, labels, targets, ws, parts):
    """Forward pass of the one row of ``X`` (1, n_in) as forward.py's ``forward(..., m=1,
    ...)``, with the sums above; fills ``ws.h``; returns ``(loss_sum, n_err)``.

    One ``prange`` per layer, in this function itself (a cached function that calls a
    ``parallel=True`` one is numba/numba#8578's crash pattern, DEVELOPERS.md)."""
    n_layers = sizes.shape[0] - 1
    P = parts.shape[0]
    for k in range(n_layers):
        a = sizes[k]
        b = sizes[k + 1]
        ow = offsets[2 * k]
        ob = offsets[2 * k + 1]
        A = layer_rows(ws.h, ws, sizes, k, 1)
        x = layer_input(X, ws, sizes, k, 1)[0]
        W = theta[ow:ow + a * b]
        if a * b >= PARALLEL_MIN:
            for p in prange(P):
                sum_part(x, W, a, b, p, P, parts[p])
        else:   # a small layer: the same parts, one after the other (no thread launch)
            for p in range(P):
                sum_part(x, W, a, b, p, P, parts[p])
        first = parts[0]
        for p in range(1, P):   # parts in order p = 1, 2, ... onto part 0; vectorises over j
            row = parts[p]
            for j in range(b):
                first[j] += row[j]
        for j in range(b):
            A[0, j] = first[j]
        if k < n_layers - 1:
            bias_activate(A, theta[ob:ob + b], act)
        else:
            for j in range(b):
                A[0, j] = A[0, j] + theta[ob + j]
    return output_loss(sizes, out, 1, labels, targets, ws)
