"""``vsgd-quadratic-1d``: the 1-D noisy quadratic of the vSGD supplement, Fig. 1.

d = 1, h = 1: SGD with fixed rates 1.0 and 0.2, the cooling schedules eta = 1/t and
0.2/t, vSGD-l with the paper's slow start, and the oracle (Eq. 5 with the true
quantities); median loss over 1000 runs per step, and the median learning rates.
Drivers and recorded variables: :mod:`studies.vsgd_noisy_quadratic`.
"""
from __future__ import annotations

from pathlib import Path

from . import vsgd_noisy_quadratic as Q

STEPS, RUNS = 1000, 1000


def _problem() -> dict:
    from adaptlr.data.quadratic import supplement_fig1_problem

    return Q.problem_params(*supplement_fig1_problem())


METHODS = {
    "sgd": [{"eta0": 1.0, "decay": 0}, {"eta0": 0.2, "decay": 0},
            {"eta0": 1.0, "decay": 1}, {"eta0": 0.2, "decay": 1}],
    # C = max(1, d/10) = 1 (see DESCRIPTION); C = 0.1 is the literal d/10, shown for honesty.
    "vsgd-l": [{"n0": 10, "C": 1.0}, {"n0": 10, "C": 0.1}],
    "oracle": [{}],
}

LABELS = {
    "sgd(decay=0,eta0=1.0)": "SGD eta = 1.0", "sgd(decay=0,eta0=0.2)": "SGD eta = 0.2",
    "sgd(decay=1,eta0=1.0)": "SGD eta = 1/t", "sgd(decay=1,eta0=0.2)": "SGD eta = 0.2/t",
    "vsgd-l(C=1.0,n0=10)": "vSGD (C=1, n0=10)",
    "vsgd-l(C=0.1,n0=10)": "vSGD (C=d/10=0.1)", "oracle()": "oracle (Eq. 5)",
}

DESCRIPTION = (
    "Supplement Fig. 1 of Schaul, Zhang & LeCun (2013): noisy quadratic, d = 1, h = 1. "
    "CHOICE (not in the paper): sigma = 1, theta* = 0, theta0 = 10 (adaptlr.data.quadratic."
    "supplement_fig1_problem; the excess loss starts at 50, far from the noise floor J* = 0.5), "
    f"T = {STEPS} online steps, {RUNS} runs per trial. Methods: SGD eta = 1.0, 0.2 (fixed), "
    "1/t, 0.2/t (t = 1, 2, ...); vSGD-l through adaptlr.optimizers (vsgd-l kernel, exact "
    "curvature h = 1 as the bbprop sample, one sample per step); the oracle eta* = (1/h) "
    "(theta - theta*)^2 / ((theta - theta*)^2 + sigma^2) (Eq. 5) with the true values. "
    "CHOICE (slow start): n0 = 10 samples (py-optim's default; the paper's 0.001 x "
    "#traindata has no training set here) and C = max(1, d/10) = 1: the paper's rule of "
    "thumb d/10 gives C = 0.1 < 1 for d = 1, which *under*estimates v instead of "
    "overestimating it (Sec. 4.4) and lets the rate exceed 1/h; that literal setting is "
    "run as well (vsgd-l(C=0.1)) and reported. The R runs are one flat vector of R "
    "elements for the element-wise vsgd-l kernel (one call per step for all runs). Every "
    "method sees the same samples for a given seed. 10 seeds x 1000 runs: each seed gives "
    "one median curve; the figure shows the median curve of seed 0 with the spread of the "
    "10 seeds' medians; tables give the final median loss and the time-averaged loss, "
    "mean +- 95% CI over the 10 seeds. Paper's claims (caption): vSGD first descends as "
    "fast as the largest fixed rate, then reduces its rate and keeps reducing the loss "
    "beyond any fixed rate; eta = 1/t beats vSGD; 0.2/t is catastrophic although its rates "
    "are close to the oracle's. Quick form: 100 runs, 200 steps, 2 seeds.")


STUDY = Q.quadratic_study(
    name="vsgd-quadratic-1d",
    title="vSGD supplement Fig. 1: 1-D noisy quadratic, fixed rates, 1/t schedules, vSGD, oracle",
    paper="Schaul, Zhang & LeCun (2013), supplementary Fig. 1",
    description=DESCRIPTION,
    problem=("quadratic-1d", _problem()),
    optimizers=METHODS,
    steps=STEPS, runs=RUNS, quick_params={"steps": 200, "runs": 100},
    tables=(Q.loss_table("final", LABELS, title="Final expected loss J(theta_T), median over "
                         "runs (mean over seeds)"),
            Q.loss_table("time", LABELS)),
)


def label(ds, i: int) -> str:
    s = str(ds["setting"].values[i])
    return LABELS.get(s, s)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-quadratic-1d-fig1.png``: median excess loss (top) and median rates (bottom)."""
    from .vsgd_plotting import save

    return [save(Q.loss_rate_figure(ds, "vSGD supplement Fig. 1 (ours)", LABELS),
                 Path(outdir) / "vsgd-quadratic-1d-fig1.png")]
