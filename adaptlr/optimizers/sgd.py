"""Plain SGD with the annealing schedule eta_t = eta0 / (1 + gamma t).

Update (per element, step index t = 1, 2, ... as passed to the kernel)::

    eta_t = eta0 / (1 + gamma * (t - 1))
    x    <- x - eta_t * g

Symbols: ``eta0`` initial rate (alias ``lr``), ``gamma`` >= 0 annealing rate
(``gamma = 0`` gives a fixed rate), ``g`` the gradient. ``t - 1`` is the number of
steps already taken, so the first step uses eta0 exactly, as in py-optim's
``AnnealingSGD`` (``init_lr / (1 + num_updates * lr_decay)``) and the schedule
of Schaul et al. 2013 (vSGD paper, Sec. 2, eta(t) = eta0 / (1 + gamma t)).
No state.

Kernel form: ``eta_t`` does not depend on the element, so :func:`sgd_prepare` computes it
once per step in float64 (``PREPARE``, see ``elementwise.make_cpu_kernel``) and the rule
receives it in :class:`SGDStep` (the same float64 value the rule computed per element
before 2026-12-03; with ``arithmetic="storage"`` it is rounded to the storage type once).
"""
from __future__ import annotations

from typing import NamedTuple

from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "sgd"
N_SLOTS = 0
N_SCALARS = 0
SLOTS = ()
SLOT_INIT = ()


class SGDHyper(NamedTuple):
    eta0: float
    gamma: float


Hyper = SGDHyper
PARAMS = (
    Param("eta0", 0.1, "nonneg", "initial learning rate"),
    Param("gamma", 0.0, "nonneg", "annealing rate of eta0 / (1 + gamma t)"),
)
ALIASES = {"lr": "eta0"}


class SGDStep(NamedTuple):
    """What the rule needs at step t: the annealed rate (computed once per step)."""
    eta: float


def sgd_prepare(hp, t):
    return SGDStep(hp.eta0 / (1.0 + hp.gamma * (t - 1)))


def sgd_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hq, t, nb):
    return x - hq.eta * g, s0, s1, s2, s3, s4


#: the rule leaves x and the state as they are when g = 0 (x - eta_t * 0 = x), so the fused
#: online step may skip the weights whose input is zero (``adaptlr.mlp.online_step``)
ZERO_GRAD_IDENTITY = True
RULE = sgd_rule
PREPARE = sgd_prepare
step_flat = make_cpu_kernel(sgd_rule, N_SLOTS, prepare=sgd_prepare)
step_flat_serial = make_cpu_kernel(sgd_rule, N_SLOTS, parallel=False, prepare=sgd_prepare)
