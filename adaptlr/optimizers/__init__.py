"""Optimizer kernels: every method of ADADELTA (Zeiler 2012) and vSGD (Schaul et al. 2013).

>>> from adaptlr import optimizers
>>> opt = optimizers.make("adadelta", rho=0.95, eps=1e-6)   # or optimizers.AdaDelta(...)
>>> state = opt.init(params)
>>> opt.step(params, grads, state)                          # in place
>>> opt.step(params, grads, state, curvature=h)             # vsgd-*, diag-newton

``names()`` lists the registered methods; ``spec(name)`` gives defaults, domains
and needs. Raw kernels for compiled callers: ``opt.step_flat`` (uniform signature,
docs/architecture.md), ``opt.hyper``, ``opt.init_flat``; CUDA twin ``opt.step_cuda``.

Conventions (each method's module docstring has its equations and sources):

* ``t`` passed to kernels is the 1-based index of the step being taken; the list API
  keeps it in ``state.t`` (steps taken).
* Arithmetic is float64 inside every rule; float32 arrays are rounded on store. The
  elementwise methods (all but vsgd-b, vsgd-g, smd) also compute in the arrays' own
  dtype with ``make(name, arithmetic="storage")`` (float32 arithmetic for float32 arrays,
  as torch.optim does; faster where float64 divisions and roots bound the kernel; CPU only
  for now), see :mod:`adaptlr.optimizers.arithmetic`.
  CPU results are bit-identical across runs and thread counts (reductions use fixed
  chunks); the list API and ``step_flat`` on the concatenated buffer are bit-identical
  except for vsgd-g and smd, whose global sums are grouped differently.
* Blocks: vsgd-b has one rate per block (``offsets`` in the flat kernel, one block per
  array in the list API). vsgd-g and smd always use one block over all parameters,
  whatever ``offsets`` says, and keep their scalars in ``sc[0]``.
* vSGD's ``C=None`` (d/10) appears as ``C = 0.0`` in ``opt.hyper``; kernels resolve it
  with d = len(x) (the list API resolves d over all arrays at ``init``).
* ``check_finite`` (default on) costs one extra read of each input per step; switch it
  off per call or per optimizer (``make(name, check_finite=False)``).
"""
from __future__ import annotations

from .api import OptState, Optimizer
from .errors import NonFiniteGradientError
from .registry import Method, get, names, spec

__all__ = ["make", "names", "spec", "get", "Optimizer", "OptState", "Method",
           "NonFiniteGradientError"]


def make(name: str, *, check_finite: bool = True, arithmetic: str = "float64", **hp) -> Optimizer:
    """The optimizer registered as ``name`` with hyperparameters ``hp``.

    ``arithmetic``: "float64" (default) or "storage" (compute in the arrays' dtype; the
    elementwise methods only), see :mod:`adaptlr.optimizers.arithmetic`.
    Unknown names, unknown keywords and out-of-domain values raise ValueError naming
    the parameter, the value and what is allowed.
    """
    get(name)
    return Optimizer(name, check_finite=check_finite, arithmetic=arithmetic, **hp)


def _alias(method_name: str, class_name: str):
    cls = type(class_name, (Optimizer,), {
        "METHOD": method_name,
        "__doc__": f"``make({method_name!r}, **hp)`` as a class. "
                   + (get(method_name).module.__doc__ or ""),
        "__module__": __name__,
    })

    def __init__(self, *, check_finite: bool = True, arithmetic: str = "float64", **hp):
        Optimizer.__init__(self, None, check_finite=check_finite, arithmetic=arithmetic, **hp)

    cls.__init__ = __init__
    return cls


for _n in names():
    _cls = _alias(_n, get(_n).class_name)
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
VSGD = globals()["VSGDLocal"]
__all__.append("VSGD")
del _n, _cls
