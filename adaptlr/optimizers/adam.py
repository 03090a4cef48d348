"""Adam (Kingma & Ba 2015) with bias correction.

Update (per element, t = 1, 2, ... the step index)::

    m <- beta1 m + (1 - beta1) g
    v <- beta2 v + (1 - beta2) g^2
    m_hat = m / (1 - beta1^t),   v_hat = v / (1 - beta2^t)
    x <- x - lr * m_hat / (sqrt(v_hat) + eps)

Symbols: ``lr`` step size alpha >= 0, ``beta1``, ``beta2`` in [0, 1) moment
decays, ``eps`` > 0 added outside the square root (Kingma & Ba, Algorithm 1; the
lecture slides). Defaults are the paper's: lr=1e-3, beta1=0.9, beta2=0.999,
eps=1e-8. State rows: 0 = m, 1 = v (start at 0). torch.optim.Adam computes the
same quantity as lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps).

Kernel form: the bias corrections ``1 - beta^t`` do not depend on the element, so
:func:`adam_prepare` computes them once per step (``PREPARE``, see
``elementwise.make_cpu_kernel``) and the rule receives them in :class:`AdamStep`.
Computed per element they made this kernel about 10x slower than RMSprop's.

Precision: by default the rule computes in float64 whatever the storage type (one rounding
per stored value); torch.optim computes float32 parameters in float32. ``arithmetic="storage"``
(``make("adam", arithmetic="storage")``) computes in the storage type as torch does, with the
bias corrections computed in float64 once per step and rounded
(:mod:`adaptlr.optimizers.arithmetic`).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .arithmetic import as_type
from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "adam"
N_SLOTS = 2
N_SCALARS = 0
SLOTS = ("m", "v")
SLOT_INIT = (0.0, 0.0)


class AdamHyper(NamedTuple):
    lr: float
    beta1: float
    beta2: float
    eps: float


Hyper = AdamHyper
PARAMS = (
    Param("lr", 1e-3, "nonneg", "step size alpha"),
    Param("beta1", 0.9, "unit_open", "decay of the first moment"),
    Param("beta2", 0.999, "unit_open", "decay of the second moment"),
    Param("eps", 1e-8, "pos", "added outside the square root"),
)
ALIASES = {"alpha": "lr"}


class AdamStep(NamedTuple):
    """What the rule needs at step t: the hyperparameters and both bias corrections."""
    lr: float
    beta1: float
    beta2: float
    eps: float
    bc1: float   # 1 - beta1^t
    bc2: float   # 1 - beta2^t


def adam_prepare(hp, t):
    return AdamStep(hp.lr, hp.beta1, hp.beta2, hp.eps, 1.0 - hp.beta1 ** t, 1.0 - hp.beta2 ** t)


def adam_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hq, t, nb):
    one = as_type(1.0, g)
    m = hq.beta1 * s0 + (one - hq.beta1) * g
    v = hq.beta2 * s1 + (one - hq.beta2) * g * g
    mhat = m / hq.bc1
    vhat = v / hq.bc2
    return x - hq.lr * mhat / (math.sqrt(vhat) + hq.eps), m, v, s2, s3, s4


RULE = adam_rule
PREPARE = adam_prepare
step_flat = make_cpu_kernel(adam_rule, N_SLOTS, prepare=adam_prepare)
step_flat_serial = make_cpu_kernel(adam_rule, N_SLOTS, parallel=False, prepare=adam_prepare)
