"""Optimizer kernels: every method of ADADELTA (Zeiler 2012) and vSGD (Schaul et al. 2013).

>>> from adaptlr import optimizers
>>> opt = optimizers.make("adadelta", rho=0.95, eps=1e-6)   # or optimizers.AdaDelta(...)
>>> state = opt.init(params)
>>> opt.step(params, grads, state)                          # in place
>>> opt.step(params, grads, state, curvature=h)             # vsgd-*, diag-newton

``names()`` lists the registered methods; ``spec(name)`` gives defaults, domains
and needs. Raw kernels for compiled callers: ``opt.step_flat`` (uniform signature,
docs/architecture.md), ``opt.hyper``, ``opt.init_flat``; CUDA twin ``opt.step_cuda``.
"""
from __future__ import annotations

from .api import OptState, Optimizer
from .errors import NonFiniteGradientError
from .registry import Method, get, names, spec

__all__ = ["make", "names", "spec", "get", "Optimizer", "OptState", "Method",
           "NonFiniteGradientError"]


def make(name: str, *, check_finite: bool = True, **hp) -> Optimizer:
    """The optimizer registered as ``name`` with hyperparameters ``hp``.

    Unknown names, unknown keywords and out-of-domain values raise ValueError naming
    the parameter, the value and what is allowed.
    """
    get(name)
    return Optimizer(name, check_finite=check_finite, **hp)


def _alias(method_name: str, class_name: str):
    cls = type(class_name, (Optimizer,), {
        "METHOD": method_name,
        "__doc__": f"``make({method_name!r}, **hp)`` as a class. "
                   + (get(method_name).module.__doc__ or ""),
        "__module__": __name__,
    })

    def __init__(self, *, check_finite: bool = True, **hp):
        Optimizer.__init__(self, None, check_finite=check_finite, **hp)

    cls.__init__ = __init__
    return cls


for _n in names():
    _cls = _alias(_n, get(_n).class_name)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
VSGD = globals()["VSGDLocal"]
__all__.append("VSGD")
del _n, _cls
