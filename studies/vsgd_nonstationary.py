"""``vsgd-nonstationary``: the non-stationary noisy quadratic of the vSGD paper, Fig. 2.

The optimum jumps every 300 steps; loss and learning rates of SGD (fixed and decaying
rates), vSGD-l and the oracle, and the time-averaged loss per method. Drivers and
variables: :mod:`studies.vsgd_noisy_quadratic`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vsgd_noisy_quadratic as Q

STEPS, RUNS = 1500, 1000

METHODS = {
    "sgd": [{"eta0": 1.0, "decay": 0}, {"eta0": 0.2, "decay": 0},
            {"eta0": 1.0, "decay": 1}, {"eta0": 0.2, "decay": 1}],
    "vsgd-l": [{"n0": 10, "C": 1.0}],
    "oracle": [{}],
}
LABELS = {
    "sgd(decay=0,eta0=1.0)": "SGD eta = 1.0", "sgd(decay=0,eta0=0.2)": "SGD eta = 0.2",
    "sgd(decay=1,eta0=1.0)": "SGD eta = 1/t", "sgd(decay=1,eta0=0.2)": "SGD eta = 0.2/t",
    "vsgd-l(C=1.0,n0=10)": "vSGD (C=1, n0=10)", "oracle()": "oracle (Eq. 5)",
}


def _problem() -> dict:
    from adaptlr.data.quadratic import nonstationary_fig2_problem

    return Q.problem_params(*nonstationary_fig2_problem())


DESCRIPTION = (
    "Fig. 2 of Schaul, Zhang & LeCun (2013): noisy quadratic (h = 1) whose optimum jumps "
    "every 300 steps. CHOICE (not in the paper; adaptlr.data.quadratic."
    "nonstationary_fig2_problem): d = 1, sigma = 1, theta*_0 = 0, later optima theta*_k ~ "
    "N(0, 10^2) drawn from the seed (shared by all runs and methods), theta0 = 10; "
    f"T = {STEPS} steps (5 segments), {RUNS} runs per trial, 10 seeds. CHOICE: the SGD "
    "rates are those of the supplement's Fig. 1 on the same loss: fixed 1.0 and 0.2, "
    "decaying 1/t and 0.2/t (t counted from the start, not restarted at jumps: a schedule "
    "cannot know about them). vSGD-l with n0 = 10, C = max(1, d/10) = 1 (see "
    "vsgd-quadratic-1d); the oracle uses the current true optimum (Eq. 5). The loss is the "
    "expected loss J w.r.t. the optimum in force. The paper's claims: fixed rates stall at "
    "a noise floor, cooling schedules cannot cope with the jumps, vSGD follows the oracle "
    "(its rate decays like 1/t within a segment and jumps back up after each change, with a "
    "small delay), and its average loss over time is substantially better than any SGD "
    "cooling schedule: the table 'time-averaged loss' tests this (mean over steps and runs, "
    "mean +- 95% CI over 10 seeds; bold = tied with the best, paired Wilcoxon, p = 0.01). "
    "Quick form: 100 runs, 600 steps, 2 seeds.")

STUDY = Q.quadratic_study(
    name="vsgd-nonstationary",
    title="vSGD Fig. 2: non-stationary noisy quadratic (optimum jumps every 300 steps)",
    paper="Schaul, Zhang & LeCun (2013), Fig. 2",
    description=DESCRIPTION,
    problem=("jumping-quadratic-1d", _problem()),
    optimizers=METHODS,
    steps=STEPS, runs=RUNS, quick_params={"steps": 600, "runs": 100},
    tables=(Q.loss_table("time", LABELS,
                         published_source="Fig. 2 (no numbers; the claim is the ranking)"),),
)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-nonstationary-fig2.png``: median loss and rates over time, jumps marked."""
    from .vsgd_plotting import save

    fig = Q.loss_rate_figure(ds, "vSGD Fig. 2 (ours)", LABELS, logx=False)
    sub = ds.isel(problem=0, seed=0, setting=0)
    jumps = np.flatnonzero(np.diff(sub["theta_star"].isel(dim=0).values) != 0) + 1
    for ax in fig.axes:
        for j in jumps:
            ax.axvline(j, color="grey", lw=0.6, ls=":")
    return [save(fig, Path(outdir) / "vsgd-nonstationary-fig2.png")]
