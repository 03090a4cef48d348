"""The precision the update rules compute in: float64 (default) or the arrays' own type.

``arithmetic="float64"`` (the default, every stored study result): the kernels promote each
loaded value to float64, the rule computes in float64 and the result is rounded once to the
array's dtype when stored. For float32 parameters that is one rounding per stored value and
step, and the kernels of methods with divisions and square roots per element are then bound
by the float64 divider (Adam, AdaDelta, RMSprop, AdaGrad: 0.57-0.88x torch's fused Adam at 10M
float32 elements, docs/prototypes/README.md).

``arithmetic="storage"``: the rule computes in the dtype of the arrays, as torch.optim does
(its float32 "opmath" is float32): float32 parameters get float32 arithmetic, with one
rounding per operation; float64 parameters get exactly the default's arithmetic (the same
bits). The per-step quantities (Adam's bias corrections, SGD's annealed rate) are computed in
float64 once per step and rounded to the storage type with the hyperparameters.

How one rule serves both: the rules contain no bare float literal and no integer in
arithmetic (Numba types ``1.0`` as float64 and ``int * float32`` as float64, which would
promote the whole expression). They write ``as_type(1.0, g)``: the constant in the type of
``g``, which is float64 in the default kernels (so the default arithmetic is the same
expression, bit for bit) and float32 in the storage kernels of float32 arrays. The storage
kernels round the hyperparameter tuple to the storage type with :func:`cast_fields`.
Both helpers are plain Python functions (used as such under ``NUMBA_DISABLE_JIT=1`` and in
the CUDA simulator) with Numba overloads for compiled code.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload

#: the allowed values of ``arithmetic``
ARITHMETIC = ("float64", "storage")


def check_arithmetic(value) -> str:
    """``value`` if it is one of :data:`ARITHMETIC`, else ValueError naming it."""
    if not isinstance(value, str) or value not in ARITHMETIC:
        raise ValueError(f"arithmetic={value!r}; allowed: 'float64' (compute in float64, round "
                         f"once when storing; the default) or 'storage' (compute in the arrays' "
                         f"own dtype, as torch.optim does)")
    return value


def _py_float(like):
    return like.dtype.type if isinstance(like, np.ndarray) else type(like)


def as_type(v, like):
    """``v`` converted to the floating type of ``like`` (a float scalar, or an array: its dtype)."""
    return _py_float(like)(v)


def cast_fields(tup, like):
    """The NamedTuple ``tup`` with every field converted to the floating type of ``like``
    (a float scalar, or an array: its dtype)."""
    conv = _py_float(like)
    return type(tup)(*(conv(v) for v in tup))


def _numba_float(like):
    if isinstance(like, types.Array):
        like = like.dtype
    if isinstance(like, types.Float):
        return np.float32 if like == types.float32 else np.float64
    return None


@overload(as_type)
def _as_type_ol(v, like):
    conv = _numba_float(like)
    if conv is None:
        return None

    def impl(v, like):
        return conv(v)
    return impl


@overload(cast_fields)
def _cast_fields_ol(tup, like):
    conv = _numba_float(like)
    if conv is None or not isinstance(tup, (types.NamedTuple, types.NamedUniTuple)):
        return None
    cls = tup.instance_class
    n = len(tup)
    args = ", ".join(f"conv(tup[{i}])" for i in range(n))
    ns = {"conv": conv, "cls": cls}
    exec(f"def impl(tup, like):\n    return cls({args})\n", ns)
    return ns["impl"]
