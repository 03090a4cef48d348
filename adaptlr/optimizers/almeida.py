"""Almeida & Langlois (1999) per-parameter rates, in the form of the vSGD paper, Sec. 2.

Update (per element i, t = 1, 2, ...)::

    v_i      <- (1 - 1/tau) v_i + (1/tau) g_i(t)^2          (v_i starts at 1)
    eta_i(t)  = max(0, eta0 * g_i(t) * g_i(t-1) / v_i)       (vSGD paper, Sec. 2)
    x_i      <- x_i - eta_i(t) * g_i(t)
    g_i(t-1) <- g_i(t)                                        (g_i(0) = 0)

Symbols: ``eta0`` >= 0 base rate, ``tau`` >= 1 time constant of the running
average v_i ~ E[g_i^2], ``g`` the gradient. State rows: 0 = v (starts at 1, as
py-optim's almeida.py/amari.py), 1 = the previous gradient (starts at 0, so the
first step does not move).

Choice: we follow the paper's displayed formula. py-optim's almeida.py computes
``clip(eta0 * g_prev / v, 1e-10, 1e10)`` after g_prev has already been
overwritten by the current gradient, which turns the rule into a one-signed
update unrelated to the agreement of successive gradients; the paper's form
keeps the intended effect (rate > 0 only when successive gradients agree).
"""
from __future__ import annotations

from typing import NamedTuple

from .arithmetic import as_type
from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "almeida"
N_SLOTS = 2
N_SCALARS = 0
SLOTS = ("v", "g_prev")
SLOT_INIT = (1.0, 0.0)


class AlmeidaHyper(NamedTuple):
    eta0: float
    tau: float


Hyper = AlmeidaHyper
PARAMS = (
    Param("eta0", 0.01, "nonneg", "base learning rate"),
    Param("tau", 1000.0, "ge1", "time constant of the running average of g^2"),
)
ALIASES = {"lr": "eta0"}


def almeida_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    one = as_type(1.0, g)
    a = one / hp.tau
    v = (one - a) * s0 + a * g * g
    eta = hp.eta0 * g * s1 / v
    if eta < 0.0:
        eta = as_type(0.0, g)
    return x - eta * g, v, g, s2, s3, s4


RULE = almeida_rule
step_flat = make_cpu_kernel(almeida_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(almeida_rule, N_SLOTS, parallel=False)
