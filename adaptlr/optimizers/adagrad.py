"""AdaGrad (Duchi et al. 2011; ADADELTA paper, Eq. 5).

Update (per element)::

    G <- G + g^2
    x <- x - lr * g / (sqrt(G) + eps)          (Eq. 5, with eps for safety)

Symbols: ``lr`` global rate eta >= 0, ``eps`` > 0 added *outside* the square root
(torch.optim.Adagrad's placement and default 1e-10; the slides write
sqrt(G + eps); Eq. 5 of the paper has no eps). State row 0 = G (starts at 0).
Default lr=0.01 (ADADELTA Table 1's best AdaGrad rate on MNIST).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from .elementwise import make_cpu_kernel
from .hyperparams import Param

NAME = "adagrad"
N_SLOTS = 1
N_SCALARS = 0
SLOTS = ("G",)
SLOT_INIT = (0.0,)


class AdaGradHyper(NamedTuple):
    lr: float
    eps: float


Hyper = AdaGradHyper
PARAMS = (
    Param("lr", 0.01, "nonneg", "global learning rate eta"),
    Param("eps", 1e-10, "pos", "added outside the square root"),
)
ALIASES = {"eta": "lr"}


def adagrad_rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb):
    G = s0 + g * g
    return x - hp.lr * g / (math.sqrt(G) + hp.eps), G, s1, s2, s3, s4


#: the rule leaves x and the state as they are when g = 0 (G + 0 = G and
#: x - lr * 0 / (sqrt(G) + eps) = x, as eps > 0), so the fused online step may skip the
#: weights whose input is zero (``adaptlr.mlp.online_step``)
ZERO_GRAD_IDENTITY = True
RULE = adagrad_rule
step_flat = make_cpu_kernel(adagrad_rule, N_SLOTS)
step_flat_serial = make_cpu_kernel(adagrad_rule, N_SLOTS, parallel=False)
