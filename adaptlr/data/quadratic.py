"""Noisy quadratic problems of vSGD (Schaul, Zhang & LeCun 2013, Sec. 3 and 6).

The separable noisy quadratic (Eq. 2-4): in each dimension ``i`` of ``d``, sample ``j`` has
the per-sample loss

.. math::

    L^{(j)}(\\theta) = \\tfrac12 \\sum_i h_i (\\theta_i - c^{(j)}_i)^2, \\qquad
    c^{(j)}_i = \\theta^*_i + \\sigma_i \\xi^{(j)}_i, \\quad \\xi \\sim N(0, 1),

so the per-sample gradient is :math:`\\nabla^{(j)}_i = h_i(\\theta_i - c^{(j)}_i)` with
:math:`E[\\nabla_i] = h_i(\\theta_i - \\theta^*_i)` and :math:`Var[\\nabla_i] = h_i^2\\sigma_i^2`
(Eq. 3). The expected loss is (Eq. 2)

.. math::  J(\\theta) = \\tfrac12 \\sum_i h_i [(\\theta_i - \\theta^*_i)^2 + \\sigma_i^2],

the greedy oracle rates are (Eq. 5, per dimension, and Eq. 6, one global rate)

.. math::

    \\eta^*_i = \\frac{1}{h_i}\\frac{(\\theta_i-\\theta^*_i)^2}{(\\theta_i-\\theta^*_i)^2+\\sigma_i^2},
    \\qquad
    \\eta^*_g = \\frac{\\sum_i h_i^2(\\theta_i-\\theta^*_i)^2}
                     {\\sum_i h_i^3(\\theta_i-\\theta^*_i)^2 + h_i^3\\sigma_i^2}.

Symbols -> code: ``h`` = :math:`h_i` (:attr:`NoisyQuadratic.h`), ``sigma`` = :math:`\\sigma_i`,
``theta_star`` = :math:`\\theta^*`, ``theta`` = :math:`\\theta` (arrays ``(R, d)`` for ``R``
independent runs), ``c`` = :math:`c^{(j)}`.

Non-stationary variant (Sec. 6, Fig. 2): the optimum jumps every ``jump_every`` steps (300 in
the paper). The paper does not say how the new optimum is chosen. Here segment ``k`` (steps
``k*jump_every`` .. ``(k+1)*jump_every - 1``) uses :math:`\\theta^*_{(0)} = ` ``theta_star`` and,
for ``k >= 1``, :math:`\\theta^*_{(k)} = ` ``theta_star + jump_scale * z_k`` with
:math:`z_k \\sim N(0, I_d)` i.i.d., drawn from a child stream of the seed that is separate from
the sample noise, so the optimum sequence is the same for every number of runs and every
optimizer. The optimum is shared by all ``R`` runs (one problem, ``R`` independent sample
streams).

Randomness: ``np.random.SeedSequence(seed).spawn(2)`` gives two independent streams:
``[0]`` for the optima, ``[1]`` for the sample noise, drawn as one ``(R, d)`` standard-normal
block per step. The same seed gives bit-identical draws, independent of the optimizer that
consumes them (common random numbers: methods are compared on the same samples).

Feeding any optimizer: use :class:`SampleStream` and :func:`per_sample_gradient`; for an
element-wise optimizer kernel (vSGD-l), flatten ``theta`` of shape ``(R, d)`` to ``R*d``
parameters (the runs are independent element-wise); for per-run block methods (vSGD-g) use
block offsets ``0, d, 2d, ..., R*d``. The exact diagonal curvature is ``h`` (what bbprop
estimates); with one sample per step the mean squared per-sample gradient is ``g*g``.

All arrays are float64.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class NoisyQuadratic(NamedTuple):
    """A separable noisy quadratic problem (vSGD Eq. 2); build it with :func:`make_quadratic`.

    Attributes: ``h`` (d,) curvatures > 0; ``sigma`` (d,) noise standard deviations >= 0;
    ``theta_star`` (d,) optimum (of the first segment); ``jump_every`` steps between optimum
    jumps, 0 = stationary; ``jump_scale`` (d,) standard deviation of a new optimum around
    ``theta_star``.
    """

    h: np.ndarray
    sigma: np.ndarray
    theta_star: np.ndarray
    jump_every: int
    jump_scale: np.ndarray

    @property
    def d(self) -> int:
        return int(self.h.shape[0])


def _vec(name, value, d=None) -> np.ndarray:
    a = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if a.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {a.shape}")
    if d is not None and a.shape[0] not in (1, d):
        raise ValueError(f"{name} has {a.shape[0]} entries, expected 1 or d={d}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}={value!r} must be finite")
    return a if d is None or a.shape[0] == d else np.full(d, a[0])


def make_quadratic(h=1.0, sigma=1.0, theta_star=0.0, *, d=None, jump_every: int = 0,
                   jump_scale=1.0) -> NoisyQuadratic:
    """Build a :class:`NoisyQuadratic`; scalars are broadcast to ``d`` dimensions.

    ``d`` defaults to the longest of ``h``, ``sigma``, ``theta_star``. Raises ValueError for
    non-positive curvature, negative noise, a negative ``jump_every`` or mismatched lengths.
    """
    raw = {n: _vec(n, v) for n, v in (("h", h), ("sigma", sigma), ("theta_star", theta_star),
                                      ("jump_scale", jump_scale))}
    d = max(a.shape[0] for a in raw.values()) if d is None else int(d)
    if d < 1:
        raise ValueError(f"d={d} must be >= 1")
    hv, sv, tv, jv = (_vec(n, a, d) for n, a in raw.items())
    if np.any(hv <= 0):
        raise ValueError(f"h={h!r}: curvatures must be > 0")
    if np.any(sv < 0):
        raise ValueError(f"sigma={sigma!r}: noise standard deviations must be >= 0")
    if np.any(jv < 0):
        raise ValueError(f"jump_scale={jump_scale!r} must be >= 0")
    if int(jump_every) != jump_every or jump_every < 0:
        raise ValueError(f"jump_every={jump_every!r} must be an integer >= 0 (0 = stationary)")
    return NoisyQuadratic(hv, sv, tv, int(jump_every), jv)


# ------------------------------------------------------------------ equations
def _delta(problem, theta, theta_star):
    ts = problem.theta_star if theta_star is None else np.asarray(theta_star, dtype=np.float64)
    return np.asarray(theta, dtype=np.float64) - ts


def per_sample_gradient(problem: NoisyQuadratic, theta, c) -> np.ndarray:
    """Per-sample gradient :math:`h \\odot (\\theta - c^{(j)})` (vSGD Sec. 3.1); shapes broadcast."""
    return problem.h * (np.asarray(theta, dtype=np.float64) - c)


def expected_loss(problem: NoisyQuadratic, theta, theta_star=None) -> np.ndarray:
    """Expected loss :math:`J(\\theta)=\\frac12\\sum_i h_i[(\\theta_i-\\theta^*_i)^2+\\sigma_i^2]` (Eq. 2).

    ``theta`` has shape ``(..., d)``; returns shape ``(...)``. ``theta_star`` defaults to
    ``problem.theta_star`` (pass the current optimum for the non-stationary variant).
    """
    dl = _delta(problem, theta, theta_star)
    return 0.5 * np.sum(problem.h * (dl * dl + problem.sigma ** 2), axis=-1)


def minimum_loss(problem: NoisyQuadratic) -> float:
    """:math:`J(\\theta^*) = \\frac12\\sum_i h_i\\sigma_i^2`, the floor of :func:`expected_loss`."""
    return float(0.5 * np.sum(problem.h * problem.sigma ** 2))


def expected_next_loss(problem: NoisyQuadratic, theta, eta, theta_star=None) -> np.ndarray:
    """:math:`E[J(\\theta^{(t+1)})\\mid\\theta^{(t)}]` after one SGD step with rate(s) ``eta`` (Sec. 3.1).

    :math:`\\frac12\\sum_i h_i[(1-\\eta_i h_i)^2(\\theta_i-\\theta^*_i)^2 + \\eta_i^2h_i^2\\sigma_i^2
    + \\sigma_i^2]`; ``eta`` is a scalar, ``(..., 1)`` (global) or ``(..., d)`` (per dimension).
    """
    dl = _delta(problem, theta, theta_star)
    h, s2 = problem.h, problem.sigma ** 2
    eta = np.asarray(eta, dtype=np.float64)
    return 0.5 * np.sum(h * ((1 - eta * h) ** 2 * dl * dl + eta ** 2 * h * h * s2 + s2), axis=-1)


def oracle_local_rate(problem: NoisyQuadratic, theta, theta_star=None) -> np.ndarray:
    """Greedy optimal per-dimension rates (vSGD Eq. 5), shape ``(..., d)``.

    :math:`\\eta^*_i = \\frac{1}{h_i}\\frac{(\\theta_i-\\theta^*_i)^2}{(\\theta_i-\\theta^*_i)^2+\\sigma_i^2}`.
    At :math:`\\theta_i=\\theta^*_i` with :math:`\\sigma_i=0` (0/0, every rate is optimal) it
    returns 0.
    """
    dl2 = _delta(problem, theta, theta_star) ** 2
    den = dl2 + problem.sigma ** 2
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, dl2 / safe, 0.0) / problem.h


def oracle_global_rate(problem: NoisyQuadratic, theta, theta_star=None) -> np.ndarray:
    """Greedy optimal single rate for all dimensions (vSGD Eq. 6; supplement Sec. B), shape ``(...)``.

    :math:`\\eta^*_g = \\sum_i h_i^2(\\theta_i-\\theta^*_i)^2 \\big/
    \\sum_i \\left(h_i^3(\\theta_i-\\theta^*_i)^2 + h_i^3\\sigma_i^2\\right)`; 0 when the
    denominator is 0 (at the optimum of a noise-free problem).
    """
    dl2 = _delta(problem, theta, theta_star) ** 2
    h = problem.h
    num = np.sum(h ** 2 * dl2, axis=-1)
    den = np.sum(h ** 3 * dl2 + h ** 3 * problem.sigma ** 2, axis=-1)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, 0.0)


# ------------------------------------------------------------------ random stream
def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative int (or a numpy SeedSequence) "
                         "so that the draws are reproducible")
    return np.random.SeedSequence(int(seed))


class SampleStream:
    """Deterministic stream of sample optima :math:`c^{(j)}` for ``runs`` independent runs.

    ``next()`` returns ``(theta_star_t, c_t)`` for the current step ``t`` (0-based) and
    advances: ``theta_star_t`` (d,) is the optimum in force at step ``t`` and ``c_t`` (runs, d)
    is ``theta_star_t + sigma * xi_t``. ``gradient(theta)`` does the same and returns the
    per-sample gradients ``h * (theta - c_t)`` with ``theta_star_t``. See the module docstring
    for how the optimum jumps and how the seed is split.
    """

    def __init__(self, problem: NoisyQuadratic, runs: int, seed=0):
        if int(runs) != runs or runs < 1:
            raise ValueError(f"runs={runs!r} must be an integer >= 1")
        self.problem = problem
        self.runs = int(runs)
        s_opt, s_noise = _seed_sequence(seed).spawn(2)
        self._rng_opt = np.random.default_rng(s_opt)
        self._rng_noise = np.random.default_rng(s_noise)
        self._optima = [problem.theta_star.copy()]
        self.t = 0

    def segment(self, t: int) -> int:
        """Index of the optimum segment that step ``t`` belongs to (0 when stationary)."""
        return 0 if self.problem.jump_every == 0 else int(t) // self.problem.jump_every

    def optimum(self, t: int) -> np.ndarray:
        """The optimum :math:`\\theta^*` in force at step ``t`` (any order of calls, same values)."""
        k = self.segment(t)
        p = self.problem
        while len(self._optima) <= k:
            z = self._rng_opt.standard_normal(p.d)
            self._optima.append(p.theta_star + p.jump_scale * z)
        return self._optima[k].copy()

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        """(theta_star_t, c_t) of the current step; advances the step counter."""
        ts = self.optimum(self.t)
        xi = self._rng_noise.standard_normal((self.runs, self.problem.d))
        self.t += 1
        return ts, ts + self.problem.sigma * xi

    def gradient(self, theta) -> tuple[np.ndarray, np.ndarray]:
        """(per-sample gradients (runs, d) at ``theta``, theta_star_t) for the current step."""
        ts, c = self.next()
        return per_sample_gradient(self.problem, theta, c), ts


# ------------------------------------------------------------------ schedules and runner
def inverse_t_rates(eta0: float, steps: int, offset: float = 0.0) -> np.ndarray:
    """Cooling schedule :math:`\\eta_t = \\eta_0 / (t + \\text{offset})`, ``t = 1..steps`` (shape (steps,)).

    ``offset=0`` gives the supplement's Fig. 1 schedules ``1/t`` and ``0.2/t``. The form used
    for the paper's SGD baselines, :math:`\\eta_0/(1+\\gamma t)`, is ``(eta0/gamma)/(t + 1/gamma)``
    with t counted from 0, i.e. ``inverse_t_rates(eta0/gamma, steps, 1/gamma - 1)``.
    """
    if not eta0 >= 0:
        raise ValueError(f"eta0={eta0!r} must be >= 0")
    t = np.arange(1, int(steps) + 1, dtype=np.float64)
    if np.any(t + offset <= 0):
        raise ValueError(f"offset={offset!r} makes t + offset <= 0")
    return eta0 / (t + offset)


class QuadraticRun(NamedTuple):
    """Result of :func:`run_sgd` for ``R`` runs of ``T`` steps.

    ``loss`` (T+1, R): expected loss :math:`J(\\theta_k)` (Eq. 2) after ``k`` updates, w.r.t.
    the optimum in force at step ``k`` (index 0 = initial point); ``rates`` (T, R, d): the
    rate applied to each dimension at each step; ``theta_star`` (T+1, d): the optimum per
    step index; ``theta`` (T+1, R, d) when ``record_theta`` else None; ``final_theta`` (R, d).
    Subtract :func:`minimum_loss` for the excess loss (log plots).
    """

    loss: np.ndarray
    rates: np.ndarray
    theta_star: np.ndarray
    theta: np.ndarray | None
    final_theta: np.ndarray


RATE_RULES = ("oracle", "oracle-local", "oracle-global")


def run_sgd(problem: NoisyQuadratic, rates, steps: int, theta0, *, runs: int = 1000, seed=0,
            record_theta: bool = False) -> QuadraticRun:
    """Online SGD :math:`\\theta \\leftarrow \\theta - \\eta_t \\odot h\\odot(\\theta - c^{(t)})` (Eq. 4), ``runs`` at once.

    ``rates`` is a fixed rate (float), a schedule (array (steps,) or (steps, d), e.g.
    :func:`inverse_t_rates`), ``"oracle"`` / ``"oracle-local"`` (Eq. 5, per dimension, from the
    true :math:`\\theta^*, h, \\sigma`) or ``"oracle-global"`` (Eq. 6). ``theta0`` is a scalar,
    (d,) or (runs, d). The samples come from ``SampleStream(problem, runs, seed)``, so
    different rate rules with the same seed see the same samples. Vectorised NumPy,
    ``O(steps)`` Python iterations over ``(runs, d)`` arrays.
    """
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps={steps!r} must be >= 0")
    d = problem.d
    rule = None
    if isinstance(rates, str):
        if rates not in RATE_RULES:
            raise ValueError(f"rates={rates!r} is not allowed; use a float, an array of shape "
                             f"(steps,) or (steps, d), or one of {RATE_RULES}")
        rule = "global" if rates == "oracle-global" else "local"
        sched = None
    else:
        sched = np.asarray(rates, dtype=np.float64)
        if sched.ndim == 0:
            sched = np.full((steps, 1), float(sched))
        elif sched.ndim == 1:
            sched = sched[:, None]
        if sched.ndim != 2 or sched.shape[0] != steps or sched.shape[1] not in (1, d):
            raise ValueError(f"rates of shape {np.shape(rates)} do not fit steps={steps}, d={d}: "
                             "use (steps,) or (steps, d)")
    stream = SampleStream(problem, runs, seed)
    theta = np.broadcast_to(np.asarray(theta0, dtype=np.float64), (stream.runs, d)).copy()
    loss = np.empty((steps + 1, stream.runs))
    rate_rec = np.empty((steps, stream.runs, d))
    ts_rec = np.empty((steps + 1, d))
    th_rec = np.empty((steps + 1, stream.runs, d)) if record_theta else None
    for t in range(steps):
        g, ts = stream.gradient(theta)
        ts_rec[t] = ts
        loss[t] = expected_loss(problem, theta, ts)
        if th_rec is not None:
            th_rec[t] = theta
        if rule == "local":
            eta = oracle_local_rate(problem, theta, ts)
        elif rule == "global":
            eta = oracle_global_rate(problem, theta, ts)[:, None]
        else:
            eta = sched[t]
        rate_rec[t] = eta
        theta = theta - eta * g
    ts_rec[steps] = stream.optimum(steps)
    loss[steps] = expected_loss(problem, theta, ts_rec[steps])
    if th_rec is not None:
        th_rec[steps] = theta
    return QuadraticRun(loss, rate_rec, ts_rec, th_rec, theta)


# ------------------------------------------------------------------ the paper's set-ups
def supplement_fig1_problem() -> tuple[NoisyQuadratic, float]:
    """(problem, theta0) for vSGD supplement Fig. 1: d = 1, h = 1 (as stated), sigma = 1.

    Not stated in the paper, chosen here: sigma = 1, theta* = 0 and theta0 = 10 (initial
    excess loss 50, i.e. far from the optimum relative to the noise). The figure's rates:
    fixed 1.0 and 0.2, ``inverse_t_rates(1.0, T)``, ``inverse_t_rates(0.2, T)``, the oracle;
    median over 1000 runs.
    """
    return make_quadratic(h=1.0, sigma=1.0, theta_star=0.0), 10.0


def supplement_fig2_problem() -> tuple[NoisyQuadratic, np.ndarray]:
    """(problem, theta0) for vSGD supplement Fig. 2: d = 2, curvature 10x larger in one dimension.

    Not stated in the paper, chosen here: h = (1, 10), sigma = (1, 1), theta* = 0,
    theta0 = (5, 5); the figure shows 400-step trajectories (``record_theta=True``).
    """
    return make_quadratic(h=[1.0, 10.0], sigma=1.0, theta_star=0.0), np.array([5.0, 5.0])


def nonstationary_fig2_problem() -> tuple[NoisyQuadratic, float]:
    """(problem, theta0) for vSGD main-paper Fig. 2: the optimum jumps every 300 steps.

    Stated: curvature 1, jumps every 300 steps. Chosen here: d = 1, sigma = 1, theta* = 0,
    jump_scale = 10 (new optimum ~ N(0, 10^2)), theta0 = 10.
    """
    return make_quadratic(h=1.0, sigma=1.0, theta_star=0.0, jump_every=300, jump_scale=10.0), 10.0
