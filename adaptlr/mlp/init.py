"""Glorot & Bengio (2010) uniform initialisation of the flat parameter buffer.

For layer k with fan-in ``a`` and fan-out ``b``::

    W_k ~ U(-s_k, s_k),   s_k = c_k * sqrt(6 / (a + b)),     b_k = 0

with ``c_k = 4`` for layers feeding logistic hidden units (Glorot & Bengio's
recommendation for the sigmoid, as in the Theano deep-learning tutorials of the
ADADELTA era) and ``c_k = 1`` otherwise (tanh and ReLU hidden layers, and the
output layer for every activation). He et al.'s ReLU scaling is *not* used: the
papers reproduced here (ADADELTA 2012, vSGD 2013) predate it and vSGD names
Glorot & Bengio.

Draws come from ``numpy.random.default_rng(seed)`` in float64, layer by layer
(W_0, W_1, ...), each of shape (a, b) in row-major order, and are then rounded
to the network's dtype, so float32 and float64 networks with the same seed start
from the same values up to rounding.
"""
from __future__ import annotations

import math

import numpy as np

from .activations import LOGISTIC


def glorot_uniform(sizes, offsets, act_code: int, dtype, seed) -> np.ndarray:
    """A fresh flat parameter buffer initialised as described in the module docstring."""
    rng = np.random.default_rng(seed)
    theta = np.zeros(int(offsets[-1]), dtype=dtype)
    n_layers = len(sizes) - 1
    for k in range(n_layers):
        a, b = int(sizes[k]), int(sizes[k + 1])
        s = math.sqrt(6.0 / (a + b))
        if act_code == LOGISTIC and k < n_layers - 1:
            s *= 4.0
        o = int(offsets[2 * k])
        theta[o:o + a * b] = rng.uniform(-s, s, size=a * b)
    return theta
