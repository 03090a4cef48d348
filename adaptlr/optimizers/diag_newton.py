"""Diagonal Newton (Becker & LeCun 1988; ADADELTA paper, Eq. 6).

Update (per element)::

    x <- x - lr * g / (|h| + mu)            (Eq. 6 with an optional rate lr)

Symbols: ``h`` the diagonal curvature estimate passed as ``curvature=``
(e.g. bbprop), ``mu`` > 0 the conditioning constant of Eq. 6, ``lr`` >= 0 a
multiplier (default 1.0 = the paper's Eq. 6). Default mu=1e-2: the paper only
says "a small constant"; 1e-2 keeps steps bounded by 100 |g| where the
curvature vanishes. No state.
"""
from __future__ import annotations

from typing import NamedTuple

from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "diag-newton"
N_SLOTS = 0
N_SCALARS = 0
SLOTS = ()
SLOT_INIT = ()
NEEDS_CURVATURE = True


class DiagNewtonHyper(NamedTuple):
    lr: float
    mu: float


Hyper = DiagNewtonHyper
PARAMS = (
    Param("lr", 1.0, "nonneg", "multiplier of the Newton step (1.0 = Eq. 6)"),
    Param("mu", 1e-2, "pos", "conditioning constant added to |diag H|"),
)
ALIASES = {}


def diag_newton_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    return x - hp.lr * g / (abs(c) + hp.mu), s0, s1, s2, s3, s4


RULE = diag_newton_rule
step_flat = make_cpu_kernel(diag_newton_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(diag_newton_rule, N_SLOTS, parallel=False)
