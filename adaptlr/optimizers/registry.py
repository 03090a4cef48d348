"""The registry of methods: names, specs (defaults, domains, needs) and ``make``.

Each registered :class:`Method` bundles what the API and the tests need to know
about one method; tests parametrize over :func:`names` so a newly registered
method is tested automatically.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from . import (adadelta, adagrad, adam, almeida, amari, diag_newton, momentum, rmsprop, sgd,
               smd, vsgd)
from .arithmetic import check_arithmetic
from .elementwise import make_cpu_kernel
from .hyperparams import Param


@dataclass(frozen=True)
class Method:
    """Everything about one registered method (see docs/architecture.md)."""

    name: str
    class_name: str
    module: Any
    Hyper: type
    params: tuple[Param, ...]
    aliases: dict
    n_slots: int
    slots: tuple[str, ...]
    slot_init: tuple[float, ...]
    n_scalars: int
    scalars: tuple[str, ...]
    scalar_init: Callable[[dict], tuple]
    step_flat: Any
    step_flat_serial: Any = None            # same kernel without prange (small arrays)
    rule: Callable | None = None            # elementwise scalar rule (None for blocked methods)
    prepare: Callable | None = None         # per-step preparation of the rule's hyper (elementwise)
    block_rules: tuple | None = None        # (elem_reduce, block_rule, elem_apply) for blocked ones
    blocked: Any = None                     # CPU phase kernels (namespace) for blocked methods
    blocked_serial: Any = None              # their serial variants
    global_: bool = False                   # one block over all parameters (vsgd-g, smd)
    needs_curvature: bool = False
    needs_hvp: bool = False
    zero_grad_identity: bool = False        # rule leaves x and state as they are when g = 0
    uses_grad_sq: bool = False
    v_slot: int | None = None
    kernel_hyper: Callable[[dict], Any] | None = None
    reference: str = ""
    extra: dict = field(default_factory=dict)

    def hyper_from(self, values: dict):
        if self.kernel_hyper is not None:
            return self.kernel_hyper(values)
        return self.Hyper(**{k: float(v) for k, v in values.items()})

    def spec(self) -> dict:
        """JSON-able description: defaults, domains and needs."""
        return {
            "name": self.name,
            "class": self.class_name,
            "hyperparameters": {p.name: {"default": p.default, "domain": p.allowed(), "doc": p.doc}
                                for p in self.params},
            "aliases": dict(self.aliases),
            "needs_curvature": self.needs_curvature,
            "needs_hvp": self.needs_hvp,
            "uses_grad_sq": self.uses_grad_sq,
            "state_slots": list(self.slots),
            "block_scalars": list(self.scalars),
            "reference": self.reference,
        }


def _zeros(n):
    return lambda values: (0.0,) * n


def _elementwise(mod, class_name, reference, needs_curvature=False):
    return Method(
        name=mod.NAME, class_name=class_name, module=mod, Hyper=mod.Hyper, params=mod.PARAMS,
        aliases=mod.ALIASES, n_slots=mod.N_SLOTS, slots=mod.SLOTS, slot_init=mod.SLOT_INIT,
        n_scalars=0, scalars=(), scalar_init=_zeros(0), step_flat=mod.step_flat,
        step_flat_serial=mod.step_flat_serial, rule=mod.RULE,
        prepare=getattr(mod, "PREPARE", None),
        zero_grad_identity=bool(getattr(mod, "ZERO_GRAD_IDENTITY", False)),
        needs_curvature=needs_curvature, reference=reference,
    )


_METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in _METHODS:
        raise ValueError(f"optimizer name {method.name!r} is already registered")
    _METHODS[method.name] = method
    return method


register(_elementwise(sgd, "SGD", "Schaul et al. 2013, Sec. 2: eta(t) = eta0 / (1 + gamma t)"))
register(_elementwise(momentum, "Momentum", "Zeiler 2012, Eq. 4"))
register(_elementwise(adagrad, "AdaGrad", "Duchi et al. 2011; Zeiler 2012, Eq. 5"))
register(_elementwise(rmsprop, "RMSProp", "Tieleman & Hinton 2012; Zeiler 2012, Eqs. 8-10"))
register(_elementwise(adadelta, "AdaDelta", "Zeiler 2012, Algorithm 1"))
register(_elementwise(adam, "Adam", "Kingma & Ba 2015, Algorithm 1"))
register(Method(
    name="vsgd-l", class_name="VSGDLocal", module=vsgd, Hyper=vsgd.VSGDHyper, params=vsgd.PARAMS,
    aliases=vsgd.ALIASES, n_slots=5, slots=vsgd.VSGD_L_SLOTS, slot_init=(0.0,) * 5, n_scalars=0,
    scalars=(), scalar_init=_zeros(0), step_flat=vsgd.vsgd_l_step_flat,
    step_flat_serial=vsgd.vsgd_l_step_flat_serial, rule=vsgd.vsgd_l_rule,
    needs_curvature=True, uses_grad_sq=True, kernel_hyper=vsgd.kernel_hyper,
    reference="Schaul, Zhang & LeCun 2013, Sec. 4-5, Algorithm 1",
    extra={"make_kernels": vsgd.make_l_kernels},
))
for _name, _cls, _blk, _ser, _glob in (
        ("vsgd-b", "VSGDBlock", vsgd.BLOCKED_B, vsgd.BLOCKED_B_SERIAL, False),
        ("vsgd-g", "VSGDGlobal", vsgd.BLOCKED_G, vsgd.BLOCKED_G_SERIAL, True)):
    register(Method(
        name=_name, class_name=_cls, module=vsgd, Hyper=vsgd.VSGDHyper, params=vsgd.PARAMS,
        aliases=vsgd.ALIASES, n_slots=2, slots=vsgd.VSGD_B_SLOTS, slot_init=(0.0, 0.0), n_scalars=4,
        scalars=vsgd.VSGD_B_SCALARS, scalar_init=_zeros(4), step_flat=_blk.step_flat,
        step_flat_serial=_ser.step_flat, block_rules=vsgd.BLOCK_RULES, blocked=_blk,
        blocked_serial=_ser, global_=_glob, needs_curvature=True,
        uses_grad_sq=True, kernel_hyper=vsgd.kernel_hyper,
        reference="Schaul, Zhang & LeCun 2013, Sec. 4-5, Eq. 8, supplement B",
    ))
register(Method(
    name="smd", class_name="SMD", module=smd, Hyper=smd.Hyper, params=smd.PARAMS,
    aliases=smd.ALIASES, n_slots=1, slots=smd.SLOTS, slot_init=smd.SLOT_INIT, n_scalars=4,
    scalars=smd.SCALARS, scalar_init=smd.scalar_init, step_flat=smd.step_flat,
    step_flat_serial=smd.step_flat_serial, block_rules=smd.BLOCK_RULES, blocked=smd.BLOCKED,
    blocked_serial=smd.BLOCKED_SERIAL, global_=True, needs_hvp=True,
    v_slot=smd.V_SLOT, reference="Schraudolph 1999; Schaul et al. 2013, supplement C",
))
register(_elementwise(almeida, "Almeida", "Almeida & Langlois 1999; Schaul et al. 2013, Sec. 2"))
register(_elementwise(amari, "Amari", "Amari et al. 2000; Schaul et al. 2013, Sec. 2"))
register(_elementwise(diag_newton, "DiagNewton", "Becker & LeCun 1988; Zeiler 2012, Eq. 6",
                      needs_curvature=True))


_KERNELS: dict = {}


def storage_methods() -> list[str]:
    """The methods that compute in the arrays' dtype with ``arithmetic="storage"``: those
    with an elementwise rule (vSGD-b/g and SMD reduce over blocks and have none)."""
    return [n for n, m in _METHODS.items() if m.rule is not None]


def kernels(method: Method, arithmetic: str = "float64") -> tuple:
    """``(step_flat, step_flat_serial)`` of ``method`` computing in ``arithmetic``
    (:mod:`adaptlr.optimizers.arithmetic`); the "storage" kernels are built on first use."""
    if check_arithmetic(arithmetic) == "float64":
        return method.step_flat, method.step_flat_serial
    if method.rule is None:
        raise ValueError(f"arithmetic={arithmetic!r} is not available for {method.name} (it "
                         f"reduces over blocks); allowed for: {', '.join(storage_methods())}")
    key = (method.name, arithmetic)
    if key not in _KERNELS:
        make = method.extra.get("make_kernels")
        if make is not None:
            _KERNELS[key] = make(arithmetic)
        else:
            _KERNELS[key] = tuple(make_cpu_kernel(method.rule, method.n_slots, parallel=par,
                                                  prepare=method.prepare, arithmetic=arithmetic)
                                  for par in (True, False))
    return _KERNELS[key]


def names() -> list[str]:
    """Every registered method name, in registration order."""
    return list(_METHODS)


def get(name: str) -> Method:
    """The :class:`Method` registered as ``name`` (ValueError listing valid names)."""
    if not isinstance(name, str) or name not in _METHODS:
        raise ValueError(f"unknown optimizer name {name!r}; valid names: {', '.join(_METHODS)}")
    return _METHODS[name]


def spec(name: str) -> dict:
    """JSON-able spec of method ``name``: defaults, domains, needs."""
    return get(name).spec()
