"""Report-only analysis of ``vsgd-quadratic-2d``: the claims of the vSGD supplement's Fig. 2.

Companion of :mod:`studies.vsgd_quadratic_2d` (see :func:`studies.report.companion_module`;
it reads the stored Dataset only and is outside the study's trial keys). The claims are
the sentences of the figure's caption; :mod:`studies.figure_claims` says how they are
tested.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import figure_claims as F

VSGD, ORACLE = "vsgd-l(C=1.0,n0=10)", "oracle()"
FIXED = ("sgd(decay=0,eta0=0.1)", "sgd(decay=0,eta0=0.02)")
COOLING = "sgd(decay=1,eta0=0.1)"


def half_to_end(ds, label: str) -> np.ndarray:
    """Per seed: median loss at the last step over that at half the run (< 1: still
    descending)."""
    last = ds.sizes["step"] - 1
    return (F.per_seed(ds, label, "loss_median", step=last)
            / F.per_seed(ds, label, "loss_median", step=last // 2))


def claim_rows(ds) -> list[str]:
    floor = float(np.nanmean(ds["loss_floor"].isel(problem=0).values))
    rows = []
    for f in FIXED:
        rows.append(F.paired(
            ds, f"\"SGD with fixed learning rate (crosses) descends until a certain depth ... "
            f"and then oscillates\" (above the oracle: {f})", ORACLE, f, "loss_final_median",
            what=f"final median J (floor {floor:.3g})"))
    rows.append(F.paired(
        ds, "\"(a certain depth) that depends on eta\"", FIXED[1], FIXED[0], "loss_final_median",
        what="final median J"))
    r = half_to_end(ds, COOLING)
    rows.append(F.note(
        "\"SGD with a 1/t cooling schedule (pink circles) converges prematurely\"",
        f"its median J at the end is {np.nanmean(F.per_seed(ds, COOLING, 'loss_final_median')) / floor:.2f} "
        f"x the floor and {np.nanmean(r):.3f} x its value at half the run",
        "reproduced: far above the floor and still slowly descending, its rate too small"))
    rows.append(F.every_seed(
        "\"vSGD ... continually approaches the optimum\"",
        f"vSGD's median J at the end over that at half the run: {np.nanmean(half_to_end(ds, VSGD)):.4f}; "
        "the test: < 1", half_to_end(ds, VSGD) < 1))
    for s in (*FIXED, COOLING):
        rows.append(F.paired(
            ds, f"\"On the other hand, vSGD ... is much less disrupted by the noise\" (vs {s})",
            VSGD, s, "loss_final_median", what="final median J"))
    return rows


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-quadratic-2d-claims.md``: the claims of supplement Fig. 2, tested."""
    if "loss_final_median" not in ds or VSGD not in F.labels(ds):
        return []
    return F.write(
        outdir, "vsgd-quadratic-2d",
        "vSGD supplement Fig. 2: the paper's claims, tested",
        "2-D noisy bowl (h = (1, 10), sigma = 1, theta0 = (5, 5)), 400 steps, 1,000 runs per "
        "seed, 10 seeds paired by their sample streams (`studies/figure_claims.py` says how "
        "the rows are tested). The floor J* = sum h sigma^2 / 2 = 5.5.",
        claim_rows(ds))
