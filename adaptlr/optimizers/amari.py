"""Diagonal natural gradient (Amari et al. 2000), in the form of the vSGD paper, Sec. 2.

Update (per element i)::

    v_i <- (1 - 1/tau) v_i + (1/tau) g_i^2        (v_i starts at 1, as py-optim's amari.py)
    x_i <- x_i - (eta0 / v_i) * g_i               (eta_i = eta0 / v_i)

Symbols: ``eta0`` >= 0 base rate, ``tau`` >= 1 time constant of the running
average v_i ~ E[g_i^2] (the diagonal of the empirical Fisher matrix). v is
updated with the current gradient before the step. State row 0 = v.
"""
from __future__ import annotations

from typing import NamedTuple

from .arithmetic import as_type
from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "amari"
N_SLOTS = 1
N_SCALARS = 0
SLOTS = ("v",)
SLOT_INIT = (1.0,)


class AmariHyper(NamedTuple):
    eta0: float
    tau: float


Hyper = AmariHyper
PARAMS = (
    Param("eta0", 1e-4, "nonneg", "base learning rate"),
    Param("tau", 1000.0, "ge1", "time constant of the running average of g^2"),
)
ALIASES = {"lr": "eta0"}


def amari_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    one = as_type(1.0, g)
    a = one / hp.tau
    v = (one - a) * s0 + a * g * g
    return x - (hp.eta0 / v) * g, v, s1, s2, s3, s4


RULE = amari_rule
step_flat = make_cpu_kernel(amari_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(amari_rule, N_SLOTS, parallel=False)
