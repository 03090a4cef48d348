"""Statistics over seeds with scipy.stats: summaries, confidence intervals, ties with the best.

Summary of ``n`` per-seed values ``x_1..x_n``:

* mean ``m = sum(x)/n``; standard deviation ``s`` with ``ddof=1`` (unbiased variance);
* 95% confidence interval of the mean (Student t): ``m +- t_{0.975, n-1} * s / sqrt(n)``
  (``scipy.stats.t.ppf``). ``n = 1`` gives an infinite interval (NaN half-width is avoided
  on purpose: one seed says nothing about spread).

"Tied with the best" (bold in the vSGD paper's Tables 2-3, "don't differ statistically
significantly from the best one (p = 0.01)"):

1. the best entry is the one with the lowest (or highest, ``lower_is_better=False``) mean
   among the *eligible* entries: those with a finite value for every seed. Entries with
   a diverged or failed seed are never best and never tied;
2. each other eligible entry is compared with the best by a **paired** two-sided test
   over the seeds (seed ``i`` of one entry is paired with seed ``i`` of the other: the
   seed fixes initialisation and data order, shared across optimizers):
   ``test="wilcoxon"`` (default): :func:`scipy.stats.wilcoxon` signed-rank, default
   ``zero_method="wilcox"`` and ``method="auto"`` (exact null distribution for n <= 50
   without ties or zero differences, else the normal approximation);
   ``test="t"``: :func:`scipy.stats.ttest_rel` (paired t). If all paired differences are
   exactly zero the p-value is 1 (identical results are not different);
3. optionally (``correction="holm"``) the p-values of the ``m`` comparisons are adjusted
   by Holm's step-down method: sorted ascending, ``p'_(j) = max_{i<=j} min(1, (m-i+1) p_(i))``;
4. an entry is *tied* if its (adjusted) p-value is ``>= alpha`` (not significant at
   ``alpha``); the best entry is tied with itself.

Defaults: Wilcoxon, ``alpha = 0.01`` (the vSGD paper's level), no correction (the vSGD
paper does not correct for multiple comparisons; Holm is available and makes more ties).
With n = 10 seeds the smallest exact two-sided Wilcoxon p-value is 2/1024 ~ 0.002 < 0.01,
so significance is reachable; with the 2 seeds of a ``--quick`` run it is 0.5, so every
eligible entry ties: quick runs are for first looks, not for claims.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

DEFAULT_TEST = "wilcoxon"
DEFAULT_ALPHA = 0.01
TESTS = ("wilcoxon", "t")
CORRECTIONS = (None, "holm")


def summarize(values, axis: int = -1, confidence: float = 0.95) -> dict:
    """Mean, std (ddof=1), n and the t confidence interval of the mean along ``axis``.

    NaN values are *not* skipped: a cell with a diverged/failed seed has a NaN mean,
    which the report shows as diverged/failed rather than silently averaging fewer seeds.
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    std = x.std(axis=axis, ddof=1) if n > 1 else np.full_like(mean, np.nan)
    if n > 1:
        half = _st.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)
    else:
        half = np.full_like(mean, np.inf)
    return {"mean": mean, "std": std, "n": n, "half_width": half,
            "ci_low": mean - half, "ci_high": mean + half}


def paired_pvalue(a, b, test: str = DEFAULT_TEST) -> float:
    """Two-sided p-value of a paired test of ``a`` vs ``b`` (same seeds, same order)."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; allowed: {list(TESTS)}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples need equal 1-d shapes, got {a.shape} and {b.shape}")
    d = a - b
    if np.all(d == 0):
        return 1.0
    if test == "wilcoxon":
        return float(_st.wilcoxon(a, b, alternative="two-sided").pvalue)
    return float(_st.ttest_rel(a, b, alternative="two-sided").pvalue)


def min_pvalue(test: str, n: int) -> float:
    """The smallest two-sided p-value the paired ``test`` can give with ``n`` pairs: the
    exact Wilcoxon signed-rank test's is ``2 / 2**n`` (every difference of one sign; scipy
    uses the exact distribution for these sizes), the t test's is 0 for ``n >= 2``; 1 with
    fewer pairs. Where it is >= alpha no entry can differ significantly from the best."""
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; allowed: {list(TESTS)}")
    if n < 2:
        return 1.0
    return 2.0 ** (1 - n) if test == "wilcoxon" else 0.0


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries are left out and stay NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@dataclass
class TieResult:
    best: int            # index of the best entry (-1 if none is eligible)
    eligible: np.ndarray  # bool (k,)
    pvalues: np.ndarray   # raw paired p-values vs the best (NaN for best/ineligible)
    adjusted: np.ndarray  # after correction (== pvalues without correction)
    tied: np.ndarray      # bool (k,): not significantly different from the best
    test: str
    alpha: float
    correction: str | None


def tie_with_best(values, *, alpha: float = DEFAULT_ALPHA, test: str = DEFAULT_TEST,
                  correction: str | None = None, lower_is_better: bool = True) -> TieResult:
    """Which entries are not significantly different from the best.

    ``values`` has shape ``(k entries, n seeds)``; column ``i`` is seed ``i`` for every
    entry (the pairing). See the module docstring for the procedure.
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; allowed: {list(CORRECTIONS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; allowed: {list(TESTS)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be (entries, seeds), got shape {v.shape}")
    k = v.shape[0]
    eligible = np.all(np.isfinite(v), axis=1) if v.shape[1] else np.zeros(k, bool)
    p = np.full(k, np.nan)
    tied = np.zeros(k, dtype=bool)
    if not eligible.any():
        return TieResult(-1, eligible, p, p.copy(), tied, test, alpha, correction)
    means = np.where(eligible, v.mean(axis=1) if v.shape[1] else np.nan,
                     np.inf if lower_is_better else -np.inf)
    best = int(np.argmin(means) if lower_is_better else np.argmax(means))
    for i in np.flatnonzero(eligible):
        if i != best:
            p[i] = paired_pvalue(v[i], v[best], test)
    adj = holm(p) if correction == "holm" else p.copy()
    tied = eligible & (adj >= alpha)
    tied[best] = True
    return TieResult(best, eligible, p, adj, tied, test, alpha, correction)


def stats_attrs(test: str = DEFAULT_TEST, alpha: float = DEFAULT_ALPHA,
                correction: str | None = None) -> dict:
    """How ties were decided, for the results' attributes (str/float only)."""
    name = {"wilcoxon": "Wilcoxon signed-rank (scipy.stats.wilcoxon, two-sided, "
                        "zero_method=wilcox, method=auto)",
            "t": "paired t-test (scipy.stats.ttest_rel, two-sided)"}[test]
    return {
        "stats_test": name,
        "stats_alpha": float(alpha),
        "stats_pairing": "paired by seed (same initialisation and data order across optimizers)",
        "stats_correction": correction or "none",
        "stats_ci": "95% Student t interval of the mean over seeds (std with ddof=1)",
        "stats_best": "lowest mean among entries finite for every seed; entries with a "
                      "diverged or failed seed are never best nor tied",
    }
