"""Classical momentum (ADADELTA paper, Eq. 4).

Update (per element)::

    dx <- rho * dx - lr * g          (Eq. 4)
    x  <- x + dx

Symbols: ``lr`` learning rate eta >= 0, ``rho`` momentum decay in [0, 1), ``g``
gradient. State row 0 = dx (starts at 0). Defaults lr=0.1, rho=0.9 (ADADELTA
Table 1's best momentum rate on MNIST).

Relation to torch.optim.SGD(momentum=mu): torch keeps buf <- mu buf + g and
x <- x - lr buf; with a constant lr this is the same iteration with dx = -lr buf
(the two differ only when lr changes between steps).
"""
from __future__ import annotations

from typing import NamedTuple

from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "momentum"
N_SLOTS = 1
N_SCALARS = 0
SLOTS = ("dx",)
SLOT_INIT = (0.0,)


class MomentumHyper(NamedTuple):
    lr: float
    rho: float


Hyper = MomentumHyper
PARAMS = (
    Param("lr", 0.1, "nonneg", "learning rate eta"),
    Param("rho", 0.9, "unit_open", "momentum decay rho"),
)
ALIASES = {"eta": "lr", "momentum": "rho"}


def momentum_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    dx = hp.rho * s0 - hp.lr * g
    return x + dx, dx, s1, s2, s3, s4


RULE = momentum_rule
step_flat = make_cpu_kernel(momentum_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(momentum_rule, N_SLOTS, parallel=False)
