"""The vSGD paper's central claim, tested directly on the stored Tables 2-3 results.

Schaul, Zhang & LeCun (2013) claim (abstract) that vSGD "matches the performance of SGD or
other adaptive approaches with their best settings obtained through systematic search", and
make it concrete in Sec. 7.3 and the captions of Tables 2-3: vSGD-l, with no tuning, is

* on the **training** set "almost always significantly better than the best-tuned SGD or
  best-tuned AdaGrad";
* on the **test** set "better or statistically equivalent to the best-tuned SGD in 4 out of
  6 cases" ("statistically equivalent" = not significantly different at p = 0.01, the
  paper's bold face).

:func:`vsgd_claim_rows` tests both on every problem of a stored Dataset
(``vsgd-tables``, ``vsgd-tables-cifar``): per problem and comparison, the paired
difference ``d_s = err(vSGD-l, seed s) - err(baseline, seed s)`` (seeds pair
initialisation and data order), its mean with the 95% Student t interval, the two-sided
Wilcoxon signed-rank p-value (:func:`studies.stats.paired_pvalue`, the test that marks the
tables' ties), and the verdict at ``alpha = 0.01``: *better* (p < alpha, mean d < 0),
*worse* (p < alpha, mean d > 0), or *not different* (p >= alpha).

"Not different" is not evidence of equivalence, so each row also gives a TOST-style
reading: *equivalent* when the 90% t interval of the mean difference lies inside
``+-5%`` of the baseline's mean error (two one-sided t tests at 0.05). CHOICE: the 5%
relative margin is ours (the paper names no margin); it is stated next to the table.

Only seeds finished ("ok") for both methods enter; a comparison with fewer than two such
seeds is reported as undetermined. This module reads stored Datasets only; the summary
report (:mod:`studies.summary`) calls it, no study imports it, so it is not part of any
study's trial keys.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats as sps

from .stats import DEFAULT_ALPHA, min_pvalue, paired_pvalue

#: comparisons of the paper's Sec. 7.3: (vSGD variant, baseline, metric)
CLAIMS = (
    ("vsgd-l", "sgd", "train_error", "training: significantly better than best-tuned SGD"),
    ("vsgd-l", "adagrad", "train_error", "training: significantly better than best-tuned AdaGrad"),
    ("vsgd-l", "sgd", "test_error", "test: better than or not different from best-tuned SGD"),
)
#: the studies whose stored Datasets hold the paper's Tables 2-3 (one setting per method,
#: the Table 1 tuning): the summary hands these, and only these, to :func:`claims_section`
CLAIM_STUDIES = ("vsgd-tables", "vsgd-tables-cifar")
#: equivalence margin of the TOST reading, relative to the baseline's mean error
EQUIVALENCE_MARGIN = 0.05


def _final(ds: xr.Dataset, metric: str, problem: str, optimizer: str):
    """Per-seed final values and 'ok' mask of the one setting of ``optimizer``, or None."""
    idx = np.flatnonzero(ds["optimizer"].values.astype(str) == optimizer)
    if idx.size != 1 or metric not in ds.data_vars:
        return None
    da = ds[metric].sel(problem=problem).isel(setting=int(idx[0]))
    v = (da.isel(epoch=-1) if "epoch" in da.dims else da).values.astype(np.float64)
    ok = ds["status"].sel(problem=problem).isel(setting=int(idx[0])).values.astype(str) == "ok"
    return v, ok & np.isfinite(v)


def compare(a: np.ndarray, b: np.ndarray, *, alpha: float = DEFAULT_ALPHA,
            margin: float = EQUIVALENCE_MARGIN) -> dict:
    """Paired comparison of per-seed errors ``a`` (vSGD) and ``b`` (baseline), lower is better.

    Returns ``n``, ``diff`` (mean of a - b), ``ci`` (95% t interval of it), ``p`` (Wilcoxon),
    ``verdict`` (better / worse / not different at ``alpha``; undetermined when ``n`` pairs
    cannot reach ``alpha`` at all, e.g. 7 or fewer at 0.01), ``equivalent`` (90% t interval
    inside ``+-margin * mean(b)``).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples need equal 1-d shapes, got {a.shape} and {b.shape}")
    n = a.size
    if n < 2:
        return {"n": n, "diff": np.nan, "ci": (np.nan, np.nan), "p": np.nan,
                "verdict": "undetermined (fewer than 2 paired seeds)", "equivalent": None}
    d = a - b
    m, s = d.mean(), d.std(ddof=1)
    half95 = sps.t.ppf(0.975, n - 1) * s / np.sqrt(n)
    half90 = sps.t.ppf(0.95, n - 1) * s / np.sqrt(n)
    p = paired_pvalue(a, b)
    verdict = ("not different" if not p < alpha else "better" if m < 0 else "worse")
    if verdict == "not different" and not min_pvalue("wilcoxon", n) < alpha:
        # too few pairs for the test to reach alpha at all: 'not different' would be empty
        verdict = (f"undetermined ({n} paired seeds: the Wilcoxon test cannot reach "
                   f"p < {alpha:g})")
    bound = margin * abs(b.mean())
    return {"n": n, "diff": m, "ci": (m - half95, m + half95), "p": p, "verdict": verdict,
            "equivalent": bool(m - half90 > -bound and m + half90 < bound)}


def _claim_results(ds: xr.Dataset, alpha: float):
    """``(problem, claim, metric, compare result)`` of :data:`CLAIMS` on every problem of
    ``ds`` with stored seeds."""
    for problem in ds["problem"].values.astype(str):
        scale = 1.0 if problem == "CR" else 100.0
        for ours, base, metric, claim in CLAIMS:
            fa, fb = _final(ds, metric, problem, ours), _final(ds, metric, problem, base)
            if fa is None or fb is None:
                continue
            ok = fa[1] & fb[1]
            if not ok.any() and not (fa[1].any() or fb[1].any()):
                continue  # problem not in this Dataset (all seeds missing)
            yield problem, claim, metric, compare(fa[0][ok] * scale, fb[0][ok] * scale,
                                                  alpha=alpha)


def vsgd_claim_rows(ds: xr.Dataset, *, alpha: float = DEFAULT_ALPHA) -> list[str]:
    """Markdown table (header included) of :data:`CLAIMS` on every problem of ``ds``."""
    rows = ["| problem | claim | n | vSGD-l − baseline [points] (95% CI) | Wilcoxon p | "
            f"verdict (α = {alpha}) | equivalent within ±{EQUIVALENCE_MARGIN:.0%}? |",
            "|---|---|---|---|---|---|---|"]
    for problem, claim, _, r in _claim_results(ds, alpha):
        if r["n"] < 2:
            rows.append(f"| {problem} | {claim} | {r['n']} | | | {r['verdict']} | |")
            continue
        lo, hi = r["ci"]
        rows.append(f"| {problem} | {claim} | {r['n']} | {r['diff']:+.3f} "
                    f"[{lo:+.3f}, {hi:+.3f}] | {r['p']:.2g} | {r['verdict']} | "
                    f"{'yes' if r['equivalent'] else 'no'} |")
    return rows if len(rows) > 2 else []


def claim_tally(ds: xr.Dataset, *, alpha: float = DEFAULT_ALPHA) -> str:
    """One sentence: on how many of the stored problems each of the paper's two statements
    holds, beside the paper's own count ('almost always'; '4 out of 6', CIFAR included).
    Comparisons without a verdict (too few paired seeds) are counted apart."""
    train = {"held": 0, "of": 0, "open": 0}
    test = {"held": 0, "of": 0, "open": 0}
    for _, _, metric, r in _claim_results(ds, alpha):
        c = train if metric == "train_error" else test
        if r["verdict"].startswith("undetermined"):
            c["open"] += 1
            continue
        c["of"] += 1
        if (r["verdict"] == "better") if metric == "train_error" else (
                r["verdict"] in ("better", "not different")):
            c["held"] += 1
    if not (train["of"] + train["open"] + test["of"] + test["open"]):
        return ""

    def part(c):
        return f"{c['held']} of {c['of']}" + (f" ({c['open']} more without a verdict yet)"
                                              if c["open"] else "")
    return (f"Tally: vSGD-l significantly better on the training set than best-tuned SGD or "
            f"AdaGrad in {part(train)} comparisons (paper: 'almost always'); on the test set "
            f"better than or not different from best-tuned SGD on {part(test)} problems "
            "(paper: '4 out of 6', CIFAR included).")


def claims_section(datasets: dict[str, xr.Dataset]) -> list[str]:
    """The report section: ADADELTA's claim (pointer) and vSGD's claims (tested here)."""
    lines = ["## The papers' central claims", "",
             "**ADADELTA is insensitive to its hyperparameters** (Zeiler 2012, Sec. 4.2): "
             "tested in [adadelta-table2](#adadelta-table2) (spread of Table 2 against the "
             "spreads of Table 1's columns, bootstrap CI over seeds, Fligner-Killeen and "
             "Friedman tests).", "",
             "**vSGD matches best-tuned SGD without tuning** (Schaul, Zhang & LeCun 2013, "
             "abstract and Sec. 7.3): vSGD-l (one setting, no tuning) against SGD and AdaGrad at "
             "the paper's tuned settings (its Table 1), per problem, paired over seeds. "
             "'Not different' is the paper's 'statistically equivalent' (its bold face); the "
             f"last column is a stricter reading (TOST: 90% interval of the difference inside "
             f"±{EQUIVALENCE_MARGIN:.0%} of the baseline's mean error; the margin is our "
             "choice, the paper names none).", ""]
    found = False
    for name, ds in datasets.items():
        rows = vsgd_claim_rows(ds)
        if rows:
            found = True
            lines += [f"From [{name}](#{name}):", "", *rows, "", claim_tally(ds), ""]
    if not found:
        lines += ["No stored vSGD Tables 2-3 results yet.", ""]
    lines += ["**The figures' claims.** The captions' statements about the noisy quadratics "
              "are tested in [vsgd-nonstationary](#vsgd-nonstationary) (main Fig. 2), "
              "[vsgd-quadratic-1d](#vsgd-quadratic-1d) and [vsgd-quadratic-2d]"
              "(#vsgd-quadratic-2d) (supplement Figs. 1-2); those of ADADELTA's Figs. 1-4 in "
              "[adadelta-fig1](#adadelta-fig1), [adadelta-fig2](#adadelta-fig2) and "
              "[adadelta-async](#adadelta-async).", ""]
    return lines
