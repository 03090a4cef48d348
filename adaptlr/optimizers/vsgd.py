"""vSGD: adaptive learning rates without tuning (Schaul, Zhang & LeCun 2013).

Three variants, registered as ``vsgd-l`` (one rate per element), ``vsgd-b`` (one
rate per block; blocks = the arrays of ``params`` or the ``offsets`` of the flat
kernel, so each layer's weights and biases are separate blocks) and ``vsgd-g``
(one rate for all parameters).

Element-wise, vSGD-l (Sec. 4 and Algorithm 1), per element i and step t > n0::

    hs_i   = max(|bbprop_i|, eps)                          (Sec. 4.3: |.| and lower bound eps)
    g_i   <- (1 - 1/tau_i) g_i + (1/tau_i) grad_i          (Sec. 4.1, with the OLD tau)
    v_i   <- (1 - 1/tau_i) v_i + (1/tau_i) q_i             (q = grad^2, or grad_sq for minibatches)
    h_i   <- (1 - 1/tau_i) h_i + (1/tau_i) hs_i
    r_i    = g_i^2 / v_i                       (n = 1)
           = g_i^2 / (v_i/n + (n-1)/n g_i^2)   (minibatch of n, Schaul & LeCun 2013)
    eta_i  = r_i / h_i                                      (Eq. 7 / Algorithm 1)
    tau_i <- max(1, (1 - r_i) tau_i + 1)                     (Sec. 4.2)
    x_i   <- x_i - eta_i * grad_i                            (the current minibatch gradient)

Block/global, vSGD-b / vSGD-g (Sec. 4, Eq. 8, supplement B), per block B::

    g_i, h_i updated as above with the block's tau
    l     <- (1 - 1/tau) l + (1/tau) sum_{i in B} q_i
    r      = sum g_i^2 / l    (n = 1),   sum g_i^2 / (l/n + (n-1)/n sum g_i^2)  (minibatch)
    eta    = r / max_{i in B} h_i                            (h+, Eq. 8)
    tau   <- max(1, (1 - r) tau + 1)                         (supplement B)
    x_i   <- x_i - eta * grad_i

Slow start (Sec. 4.4): the first ``n0`` steps only accumulate the arithmetic means
of grad, q, hs (and sum q for l) without moving x; at the end of step n0,
g is set to its mean, v and l to C times their means, h to C_h times its mean, and
tau = tau0. From step n0 + 1 the loop above runs.

C_h (the paper and the authors' code differ): the text of Sec. 4.4 overestimates
"v_i and l" only (C_h = 1), as does py-optim's vsgd.py; Sixin Zhang's Torch d-vsgd,
whose defaults are the paper's MNIST set-up (initSamples = 60 = 0.001 x 60,000,
slowStartConst = d/10), multiplies the curvature average h by C as well (C_h = C).
Both overestimates shrink eta = r/h, so the code's slow start is stronger: eta starts
about C^2 (not C) below its settled value and both decay as tau grows. Default
``C_h = None`` (= C), the code that produced the paper's MNIST numbers; measured on
MNIST M1 (data/results/vsgd-tables/vsgd-tables-slow-start.md), the text form left vSGD-l bimodal
over seeds (2.7 +- 2.8% training error, 10 seeds), the code form 0.19 +- 0.01% (paper
0.18%). vSGD-b/g take the same option for their element-wise h (the Torch code has no
b/g variant, so there the paper's text is the only source besides this analogy).

tau0 (the paper is silent): the authors' code starts the memory short, py-optim
with ``taus = 2`` (its source shows ``* self.init_samples`` commented out) and the
Torch d-vsgd with ``taus = 1``, updated to about 2 before its first average, so
the first average after the slow start has weight 1/2 in both; default
``tau0 = 2``. While v is overestimated, r ~ 0 and tau grows by 1 per step, so the
overestimate decays like C tau0 / (tau0 + t): with tau0 = n0 (adaptlr's choice
before 2026-11-23) the slow start lasts n0/2 times longer, which on M1 (C = d/10 =
9,541, n0 = 60) left vSGD-l at 2.0% training error after 6 epochs against the
paper's 0.18% (data/results/vsgd-tables, vsgd-slowstart-sensitivity).

Hyperparameters: ``n0`` (integer >= 1, steps of slow start, default 10 as in
py-optim; the paper uses n0 = 0.001 x #train samples), ``C`` (> 0, or None =
d/10 with d the total number of parameters over all arrays, the paper's rule of
thumb; py-optim uses C = 2 or max(1, d/10)), ``eps`` (> 0, lower bound on the
curvature sample, default 1e-9: small enough not to matter with L2 regularised
bbprop, large enough that h never reaches 0), ``tau0`` (>= 1, the memory size at
the end of the slow start, default 2 as the authors' code), ``C_h`` (> 0, or None =
C: the overestimation factor of h, see above; 1 is the paper's text). At kernel level
``C = 0.0`` in the Hyper tuple means "d/10 with d = len(x)" and ``C_h = 0.0`` means "C".
vSGD-b/g's element-wise pass does not see d, so their block rule resolves C at step n0 and
hands C_h to the apply pass in the ``h_max`` scalar, which no step has used yet.

Choices where the paper is silent: the order g, v, h (old tau) -> rate -> tau ->
step follows Algorithm 1 and py-optim's vsgd.py; the tau update uses the same
(minibatch-corrected) variance ratio r as the rate; if the denominator of r is 0
(all gradients exactly 0 so far) r = 0 (no step); tau is kept >= 1.
Without ``grad_sq`` the minibatch size must be 1 (v tracks grad^2 of the
single sample): the variance must come from per-sample gradients.

State. vsgd-l rows: 0 = g, 1 = v, 2 = h, 3 = tau, 4 = eta (the rate of the last
step, 0 during slow start). vsgd-b/g rows: 0 = g, 1 = h; block scalars
``sc[b] = (tau, l, eta, h+)`` (h+ of the last step; before the first step it is bookkeeping:
the max of the sums, then C_h at the end of step n0).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

from .. import targets
from .arithmetic import as_type
from .blocked import make_blocked
from .elementwise import make_cpu_kernel, stable_identity
from .hyperparams import Param

NEEDS_CURVATURE = True
USES_GRAD_SQ = True


class VSGDHyper(NamedTuple):
    n0: float
    C: float
    eps: float
    tau0: float
    C_h: float


PARAMS = (
    Param("n0", 10, "int_ge1", "number of slow-start steps"),
    Param("C", None, "pos_or_none", "overestimation factor of v and l (None: d/10)"),
    Param("eps", 1e-9, "pos", "lower bound of the curvature sample |h|"),
    Param("tau0", 2.0, "ge1", "memory size tau at the end of the slow start (2: the authors' code)"),
    Param("C_h", None, "pos_or_none", "overestimation factor of h at the end of the slow start "
          "(None: C, as Zhang's Torch d-vsgd; 1: the paper's Sec. 4.4 text, py-optim)"),
)
ALIASES = {}


def kernel_hyper(values: dict) -> VSGDHyper:
    """Hyper tuple for the kernels (C=None becomes the sentinel 0.0 = d/10)."""
    C, C_h = values["C"], values["C_h"]
    return VSGDHyper(float(values["n0"]), 0.0 if C is None else float(C), float(values["eps"]),
                     float(values["tau0"]), 0.0 if C_h is None else float(C_h))


# ----------------------------------------------------------------------------- vsgd-l

def vsgd_l_rule(x, g, c, q, hv, G, V, H, TAU, ETA, hp, t, nb):
    one = as_type(1.0, g)
    zero = as_type(0.0, g)
    hs = abs(c)
    if hs < hp.eps:
        hs = hp.eps
    if t <= hp.n0:
        G = G + g
        V = V + q
        H = H + hs
        if t == hp.n0:
            G = G / hp.n0
            V = hp.C * V / hp.n0
            H = (hp.C_h if hp.C_h > 0.0 else hp.C) * H / hp.n0   # C resolved by the wrapper
            TAU = hp.tau0
        return x, G, V, H, TAU, zero
    a = one / TAU
    G = (one - a) * G + a * g
    V = (one - a) * V + a * q
    H = (one - a) * H + a * hs
    g2 = G * G
    if nb > 1:
        den = V / nb + (nb - one) / nb * g2
    else:
        den = V
    r = g2 / den if den > 0.0 else zero
    eta = r / H
    TAU = (one - r) * TAU + one
    if TAU < 1.0:
        TAU = one
    return x - eta * g, G, V, H, TAU, eta


_vsgd_l_inner = make_cpu_kernel(vsgd_l_rule, 5)


def _make_vsgd_l_step_flat(inner, jit: bool):
    """The flat kernel: checks, C = 0.0 resolved to d/10 (d = len(x)), then ``inner``.

    ``jit=False`` (the parallel variant) keeps the wrapper in Python: a cached ``@njit``
    function calling a ``parallel=True`` one can crash when loaded from Numba's disk cache
    (numba/numba#8578; it did here once the rule changed). The serial variant is compiled,
    a closure (not a global) over ``inner`` so Numba's cache sees it change, because the
    compiled training loop calls it.
    """

    def vsgd_l_step_flat(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
        n = x.shape[0]
        if curv.shape[0] != n:
            raise ValueError("vsgd-l: curvature (length n) is required")
        if nbatch > 1 and gsq.shape[0] != n:
            raise ValueError("vsgd-l: nbatch > 1 needs gsq (mean squared per-sample gradients)")
        C = hp.C if hp.C > 0.0 else n / 10.0
        inner(x, g, curv, gsq, hv, st, sc, offsets, VSGDHyper(hp.n0, C, hp.eps, hp.tau0, hp.C_h), t,
              nbatch)

    if not jit:
        return vsgd_l_step_flat
    return stable_identity(targets.cpu_kernel(vsgd_l_step_flat), vsgd_l_step_flat,
                           str(getattr(inner, "_MemoMixin__uuid", "")))


vsgd_l_step_flat = _make_vsgd_l_step_flat(_vsgd_l_inner, jit=False)
_vsgd_l_inner_serial = make_cpu_kernel(vsgd_l_rule, 5, parallel=False)
vsgd_l_step_flat_serial = _make_vsgd_l_step_flat(_vsgd_l_inner_serial, jit=True)


def make_l_kernels(arithmetic: str) -> tuple:
    """vSGD-l's ``(step_flat, step_flat_serial)`` computing in ``arithmetic``
    (:mod:`adaptlr.optimizers.arithmetic`; the registry builds them on first use)."""
    out = []
    for parallel in (True, False):
        inner = make_cpu_kernel(vsgd_l_rule, 5, parallel=parallel, arithmetic=arithmetic)
        flat = _make_vsgd_l_step_flat(inner, jit=not parallel)
        if hasattr(inner, "storage_loop"):
            flat.storage_loop = inner.storage_loop     # for inspection (tests)
        out.append(flat)
    return tuple(out)

# ------------------------------------------------------------------------ vsgd-b / g


def vsgd_b_reduce(x, g, c, q, hv, G, H, TAU, L, ETA, HP, hp, t, nb):
    hs = abs(c)
    if hs < hp.eps:
        hs = hp.eps
    if t <= hp.n0:
        G = G + g
        H = H + hs
        if t == hp.n0:
            G = G / hp.n0
            H = H / hp.n0       # times C_h in vsgd_b_apply, once the block rule has resolved C
    else:
        a = 1.0 / TAU
        G = (1.0 - a) * G + a * g
        H = (1.0 - a) * H + a * hs
    return G, H, G * G, H, q


def vsgd_b_block(TAU, L, ETA, HP, sg2, hmax, sq, hp, t, nb, d):
    if t <= hp.n0:
        L = L + sq
        if t == hp.n0:
            C = hp.C if hp.C > 0.0 else d / 10.0
            L = C * L / hp.n0
            TAU = hp.tau0
            # no step has used h+ yet: the slot carries the factor of h to vsgd_b_apply
            return TAU, L, 0.0, (hp.C_h if hp.C_h > 0.0 else C)
        return TAU, L, 0.0, hmax
    a = 1.0 / TAU
    L = (1.0 - a) * L + a * sq
    if nb > 1:
        den = L / nb + (nb - 1.0) / nb * sg2
    else:
        den = L
    r = sg2 / den if den > 0.0 else 0.0
    eta = r / hmax
    TAU = (1.0 - r) * TAU + 1.0
    if TAU < 1.0:
        TAU = 1.0
    return TAU, L, eta, hmax


def vsgd_b_apply(x, g, c, q, hv, G, H, TAU, L, ETA, HP, hp, t, nb):
    if t == hp.n0:
        return x, G, HP * H     # HP = C_h here (vsgd_b_block): the slow start's h overestimate
    if t < hp.n0:
        return x, G, H
    return x - ETA * g, G, H


def _python_step_flat(blocked, global_: bool):
    """``blocked`` with its parallel ``step_flat`` replaced by the same loop over blocks in
    Python, calling the parallel segment kernels as the list API does: a cached ``@njit``
    function calling ``parallel=True`` ones crashed when loaded from Numba's disk cache
    (numba/numba#8578) once these rules changed. The serial kernels stay compiled (the
    compiled training loop calls them)."""
    red, blk, app = blocked.reduce_segment, blocked.block_update, blocked.apply_segment

    def vsgd_blocked_step_flat(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
        n = x.shape[0]
        for b in range(1 if global_ else offsets.shape[0] - 1):
            lo = 0 if global_ else int(offsets[b])
            hi = n if global_ else int(offsets[b + 1])
            r0, r1, r2 = red(x, g, curv, gsq, hv, st, lo, hi, sc[b, 0], sc[b, 1], sc[b, 2], sc[b, 3],
                             hp, t, nbatch)
            blk(sc, b, r0, r1, r2, hp, t, nbatch, n)
            app(x, g, curv, gsq, hv, st, lo, hi, sc[b, 0], sc[b, 1], sc[b, 2], sc[b, 3], hp, t, nbatch)

    return SimpleNamespace(**{**vars(blocked), "step_flat": vsgd_blocked_step_flat})


VSGD_L_SLOTS = ("g", "v", "h", "tau", "eta")
VSGD_B_SLOTS = ("g", "h")
VSGD_B_SCALARS = ("tau", "l", "eta", "h_max")
BLOCKED_B = _python_step_flat(make_blocked(vsgd_b_reduce, vsgd_b_block, vsgd_b_apply, 2,
                                            global_=False, name="vsgd_b"), global_=False)
BLOCKED_G = _python_step_flat(make_blocked(vsgd_b_reduce, vsgd_b_block, vsgd_b_apply, 2,
                                            global_=True, name="vsgd_g"), global_=True)
BLOCKED_B_SERIAL = make_blocked(vsgd_b_reduce, vsgd_b_block, vsgd_b_apply, 2, global_=False,
                                name="vsgd_b", parallel=False)
BLOCKED_G_SERIAL = make_blocked(vsgd_b_reduce, vsgd_b_block, vsgd_b_apply, 2, global_=True,
                                name="vsgd_g", parallel=False)
BLOCK_RULES = (vsgd_b_reduce, vsgd_b_block, vsgd_b_apply)
