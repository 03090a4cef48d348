"""Hidden-unit activations and output kinds, as integer codes for compiled kernels.

Hidden units (applied elementwise, ``h = f(a)``):

=============  ====  =======================  ===========================
name           code  f(a)                     f'(a) written with h = f(a)
=============  ====  =======================  ===========================
``"tanh"``     0     tanh(a)                  1 - h^2
``"relu"``     1     max(a, 0)                1 if h > 0 else 0 (0 at a = 0)
``"logistic"`` 2     1 / (1 + exp(-a))        h (1 - h)
=============  ====  =======================  ===========================

Outputs: ``"softmax"`` (code 0; cross-entropy with integer labels) and
``"linear"`` (code 1; mean squared error 1/2 ||z - y||^2 against a target matrix).
"""
from __future__ import annotations

import math

from ..targets import cpu_rule

TANH, RELU, LOGISTIC = 0, 1, 2
SOFTMAX, LINEAR = 0, 1

ACTIVATIONS = {"tanh": TANH, "relu": RELU, "logistic": LOGISTIC}
OUTPUTS = {"softmax": SOFTMAX, "linear": LINEAR}


def activation_code(name) -> int:
    """Integer code of a hidden activation; ``ValueError`` naming the allowed ones otherwise."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def output_code(name) -> int:
    """Integer code of an output kind; ``ValueError`` naming the allowed ones otherwise."""
    if not isinstance(name, str) or name not in OUTPUTS:
        raise ValueError(f"output must be one of {sorted(OUTPUTS)}, got {name!r}")
    return OUTPUTS[name]


def _activate(a, code):
    """f(a) for the activation ``code`` (scalar)."""
    if code == TANH:
        return math.tanh(a)
    elif code == RELU:
        return a if a > 0 else a * 0
    else:
        # split by sign so exp never overflows
        if a >= 0:
            return 1 / (1 + math.exp(-a))
        e = math.exp(a)
        return e / (1 + e)


def _deriv(h, code):
    """f'(a) written in terms of the unit's output h = f(a) (scalar)."""
    if code == TANH:
        return 1 - h * h
    elif code == RELU:
        return h * 0 + 1 if h > 0 else h * 0
    else:
        return h * (1 - h)


activate = cpu_rule(_activate)
deriv = cpu_rule(_deriv)
