"""Exceptions raised by the optimizer API."""
from __future__ import annotations


class NonFiniteGradientError(ValueError):
    """A gradient (or curvature / squared-gradient / H·v input) holds NaN or inf.

    Raised by :meth:`Optimizer.step` *before* anything is modified: parameters and
    optimizer state are exactly as they were before the call. ``index`` is the
    position of the offending array in the list, ``what`` names the input
    (``"grads"``, ``"curvature"``, ``"grad_sq"`` or ``"hvp"``).
    """

    def __init__(self, message: str, *, what: str = "grads", index: int = -1):
        super().__init__(message)
        self.what = what
        self.index = index
