"""Stochastic meta-descent (Schraudolph 1999/2002), as in the vSGD supplement, Sec. C.

Update (global learning rate; t = 1, 2, ...)::

    theta_{t+1} <- theta_t - eta_t grad
    eta_{t+1}   <- eta_t exp(-mu grad . v_t)
    v_{t+1}     <- (1 - 1/tau) v_t - eta_t (grad + (1 - 1/tau) H_t v_t)

Symbols: ``eta0`` > 0 the initial rate eta_1, ``mu`` >= 0 the meta-learning rate,
``tau`` >= 1 the time constant of the auxiliary vector v (starts at 0), ``H v``
the curvature-vector product with the *current* v (``hvp=`` in the Python API,
the ``hv`` argument of the kernel; v is state row ``V_SLOT``). ``grad . v`` is
the dot product over all parameters (all arrays / the whole flat vector: one
global eta, whatever the blocks). Both the parameter and the v update use eta_t;
eta is updated afterwards. Block scalars ``sc[0] = (eta_{t+1}, eta_t, grad.v_t, 0)``.
Defaults eta0=0.01, mu=0.01, tau=100 (placeholders: the paper tunes all three
per benchmark, Table 1).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .blocked import make_blocked
from .hyperparams import Param

NAME = "smd"
N_SLOTS = 1
N_SCALARS = 4
SLOTS = ("v",)
SLOT_INIT = (0.0,)
SCALARS = ("eta", "eta_used", "grad_dot_v", "unused")
V_SLOT = 0
NEEDS_HVP = True


class SMDHyper(NamedTuple):
    eta0: float
    mu: float
    tau: float


Hyper = SMDHyper
PARAMS = (
    Param("eta0", 0.01, "pos", "initial global learning rate"),
    Param("mu", 0.01, "nonneg", "meta-learning rate"),
    Param("tau", 100.0, "ge1", "time constant of the auxiliary vector v"),
)
ALIASES = {"lr": "eta0"}


def scalar_init(values: dict):
    return (float(values["eta0"]), 0.0, 0.0, 0.0)


def smd_reduce(x, g, c, q, hv, v, s1, ETA, ETAU, DOT, B3, hp, t, nb):
    return v, s1, g * v, 0.0, 0.0


def smd_block(ETA, ETAU, DOT, B3, dot, r1, r2, hp, t, nb, d):
    return ETA * math.exp(-hp.mu * dot), ETA, dot, B3


def smd_apply(x, g, c, q, hv, v, s1, ETA, ETAU, DOT, B3, hp, t, nb):
    k = 1.0 - 1.0 / hp.tau
    return x - ETAU * g, k * v - ETAU * (g + k * hv), s1


BLOCKED = make_blocked(smd_reduce, smd_block, smd_apply, N_SLOTS, global_=True, name="smd")
step_flat = BLOCKED.step_flat
BLOCKED_SERIAL = make_blocked(smd_reduce, smd_block, smd_apply, N_SLOTS, global_=True, name="smd",
                              parallel=False)
step_flat_serial = BLOCKED_SERIAL.step_flat
BLOCK_RULES = (smd_reduce, smd_block, smd_apply)
