"""ADADELTA (Zeiler 2012, Algorithm 1).

Update (per element, Algorithm 1 of the paper, Eqs. 8, 14)::

    E[g^2]  <- rho E[g^2] + (1 - rho) g^2
    dx      <- - sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g      (Eq. 14, RMS[dx]_{t-1})
    E[dx^2] <- rho E[dx^2] + (1 - rho) dx^2                         (after the step)
    x       <- x + lr * dx

Symbols: ``rho`` decay rate in [0, 1), ``eps`` > 0 the constant inside *both*
RMS terms, ``lr`` an optional multiplier (default 1.0 = the paper: ADADELTA has
no learning rate). State rows: 0 = E[g^2], 1 = E[dx^2], both start at 0.

Defaults rho=0.95, eps=1e-6 are the paper's MNIST settings (Sec. 4.1).
Differences from other libraries: torch.optim.Adadelta defaults rho=0.9 and
Keras/TF default lr=0.001, which changes the method; with ``lr != 1`` we apply
the multiplier as torch does: E[dx^2] accumulates the *un-multiplied* dx.
Hand check: the first step on g = 1 with eps=1e-6, rho=0.95 is
-sqrt(1e-6) / sqrt(0.05 + 1e-6).
Precision: by default in float64 whatever the storage type; torch computes float32
parameters in float32, as ``make("adadelta", arithmetic="storage")`` does
(:mod:`adaptlr.optimizers.arithmetic`).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .arithmetic import as_type
from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "adadelta"
N_SLOTS = 2
N_SCALARS = 0
SLOTS = ("E_g2", "E_dx2")
SLOT_INIT = (0.0, 0.0)


class AdaDeltaHyper(NamedTuple):
    rho: float
    eps: float
    lr: float


Hyper = AdaDeltaHyper
PARAMS = (
    Param("rho", 0.95, "unit_open", "decay rate of both running averages"),
    Param("eps", 1e-6, "pos", "constant inside both RMS terms"),
    Param("lr", 1.0, "nonneg", "optional multiplier of the step (1.0 = the paper)"),
)
ALIASES = {}


def adadelta_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    one = as_type(1.0, g)
    eg2 = hp.rho * s0 + (one - hp.rho) * g * g
    dx = -(math.sqrt(s1 + hp.eps) / math.sqrt(eg2 + hp.eps)) * g
    edx2 = hp.rho * s1 + (one - hp.rho) * dx * dx
    return x + hp.lr * dx, eg2, edx2, s2, s3, s4


RULE = adadelta_rule
step_flat = make_cpu_kernel(adadelta_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(adadelta_rule, N_SLOTS, parallel=False)
