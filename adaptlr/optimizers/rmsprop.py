"""RMSProp (Tieleman & Hinton 2012; ADADELTA paper, Eqs. 8-10).

Update (per element)::

    E[g^2] <- rho E[g^2] + (1 - rho) g^2           (Eq. 8)
    x      <- x - lr * g / sqrt(E[g^2] + eps)      (Eqs. 9-10: RMS[g] = sqrt(E[g^2] + eps))

Symbols: ``lr`` rate eta >= 0, ``rho`` decay in [0, 1), ``eps`` > 0 *inside* the
square root as in the ADADELTA paper's RMS. torch.optim.RMSprop adds eps outside
the root (g / (sqrt(E) + eps)); the two agree to within eps-sized terms. State
row 0 = E[g^2] (starts at 0). Defaults lr=1e-3, rho=0.9 (the slides' rho ~ 0.9), eps=1e-8.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .arithmetic import as_type
from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "rmsprop"
N_SLOTS = 1
N_SCALARS = 0
SLOTS = ("E_g2",)
SLOT_INIT = (0.0,)


class RMSPropHyper(NamedTuple):
    lr: float
    rho: float
    eps: float


Hyper = RMSPropHyper
PARAMS = (
    Param("lr", 1e-3, "nonneg", "learning rate eta"),
    Param("rho", 0.9, "unit_open", "decay of the running average of g^2"),
    Param("eps", 1e-8, "pos", "constant inside the square root"),
)
ALIASES = {"eta": "lr", "alpha": "rho"}


def rmsprop_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    E = hp.rho * s0 + (as_type(1.0, g) - hp.rho) * g * g
    return x - hp.lr * g / math.sqrt(E + hp.eps), E, s1, s2, s3, s4


RULE = rmsprop_rule
step_flat = make_cpu_kernel(rmsprop_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(rmsprop_rule, N_SLOTS, parallel=False)
