"""``vsgd-quadratic-2d``: the 2-D noisy bowl of the vSGD supplement, Fig. 2.

Curvature 10x larger in one dimension; 400-step trajectories of vSGD-l and of SGD with
three learning-rate schedules (two fixed rates, one 1/t cooling schedule), plus the
oracle, drawn over the loss contours. Drivers and variables:
:mod:`studies.vsgd_noisy_quadratic`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vsgd_noisy_quadratic as Q

STEPS, RUNS = 400, 1000

METHODS = {
    "sgd": [{"eta0": 0.1, "decay": 0}, {"eta0": 0.02, "decay": 0}, {"eta0": 0.1, "decay": 1}],
    "vsgd-l": [{"n0": 10, "C": 1.0}],
    "oracle": [{}],
}
LABELS = {
    "sgd(decay=0,eta0=0.1)": "SGD eta = 0.1 (fixed)", "sgd(decay=0,eta0=0.02)":
    "SGD eta = 0.02 (fixed)", "sgd(decay=1,eta0=0.1)": "SGD eta = 0.1/t",
    "vsgd-l(C=1.0,n0=10)": "vSGD (C=1, n0=10)", "oracle()": "oracle (Eq. 5)",
}
MARKERS = {"sgd(decay=0,eta0=0.1)": ("x", "tab:blue"), "sgd(decay=0,eta0=0.02)":
           ("x", "tab:cyan"), "sgd(decay=1,eta0=0.1)": ("o", "hotpink"),
           "vsgd-l(C=1.0,n0=10)": ("^", "tab:green"), "oracle()": (".", "black")}


def _problem() -> dict:
    from adaptlr.data.quadratic import supplement_fig2_problem

    return Q.problem_params(*supplement_fig2_problem())


DESCRIPTION = (
    "Supplement Fig. 2 of Schaul, Zhang & LeCun (2013): noisy quadratic bowl with 10x larger "
    "curvature in one dimension, 400-step trajectories. CHOICE (not in the paper; adaptlr."
    "data.quadratic.supplement_fig2_problem): h = (1, 10), sigma = (1, 1), theta* = 0, "
    "theta0 = (5, 5). CHOICE (the caption names 'three schedules': fixed-rate SGD shown as "
    "crosses, 'descending to a depth that depends on eta', and a 1/t schedule): fixed eta = "
    "0.1 (= 1/h_max, the largest rate without oscillation in the steep direction) and 0.02, "
    "and eta = 0.1/t; vSGD-l with n0 = 10, C = max(1, d/10) = 1 (see vsgd-quadratic-1d), "
    "and the oracle (Eq. 5, per dimension). The trajectory drawn is run 0 of seed 0 (the "
    "same samples for every method); the tables give the final median loss and the "
    f"time-averaged loss over {RUNS} runs (mean +- 95% CI over 10 seeds). The paper's "
    "claims: fixed rates descend to a depth depending on eta then oscillate, 1/t converges "
    "prematurely (stalls in the flat direction), vSGD is much less disrupted by the noise "
    "and keeps approaching the optimum. Quick form: 100 runs, 100 steps, 2 seeds.")

STUDY = Q.quadratic_study(
    name="vsgd-quadratic-2d",
    title="vSGD supplement Fig. 2: 2-D noisy bowl (10x curvature ratio), 400-step trajectories",
    paper="Schaul, Zhang & LeCun (2013), supplementary Fig. 2",
    description=DESCRIPTION,
    problem=("bowl-2d", _problem()),
    optimizers=METHODS,
    steps=STEPS, runs=RUNS, quick_params={"steps": 100, "runs": 100},
    tables=(Q.loss_table("final", LABELS), Q.loss_table("time", LABELS)),
)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-quadratic-2d-trajectories.png`` (over the contours of J) and
    ``vsgd-quadratic-2d-loss.png`` (median loss and per-dimension rates)."""
    from .vsgd_plotting import canvas, save

    outdir = Path(outdir)
    sub = ds.isel(problem=0, seed=0)
    fig = canvas(1, 2, 5.6, 5.0)
    axes = fig.subplots(1, 2)
    paths = [sub["path"].isel(setting=i).values for i in range(sub.sizes["setting"])]
    allp = np.concatenate([p[np.all(np.isfinite(p), axis=1)] for p in paths])
    ts = sub["theta_star"].isel(setting=0, step=0).values
    h = np.asarray(STUDY.problems[str(ds["problem"].values[0])]["h"], dtype=float)
    for ax, zoom in zip(axes, (False, True)):
        if zoom:
            lim = np.array([[ts[0] - 1.5, ts[0] + 1.5], [ts[1] - 0.6, ts[1] + 0.6]])
        else:
            lo, hi = allp.min(axis=0), allp.max(axis=0)
            pad = 0.1 * (hi - lo + 1e-9)
            lim = np.stack([lo - pad, hi + pad], axis=1)
        gx, gy = np.meshgrid(np.linspace(*lim[0], 200), np.linspace(*lim[1], 200))
        J = 0.5 * (h[0] * (gx - ts[0]) ** 2 + h[1] * (gy - ts[1]) ** 2)
        ax.contour(gx, gy, J, levels=np.geomspace(max(J.min(), 1e-4), J.max(), 12),
                   colors="lightgrey", linewidths=0.7)
        for i, p in enumerate(paths):
            s = str(ds["setting"].values[i])
            m, c = MARKERS.get(s, ("+", None))
            ax.plot(p[:, 0], p[:, 1], lw=0.5, color=c, alpha=0.6)
            ax.plot(p[:, 0], p[:, 1], ls="none", marker=m, ms=3, color=c,
                    label=LABELS.get(s, s), alpha=0.8)
        ax.plot(*ts, marker="*", ms=12, color="gold", mec="black", ls="none", label="optimum")
        ax.set_xlim(*lim[0])
        ax.set_ylim(*lim[1])
        ax.set_xlabel("theta_1 (h = %g)" % h[0])
        ax.set_ylabel("theta_2 (h = %g)" % h[1])
        ax.set_title("zoom on the optimum" if zoom else
                     f"{sub.sizes['step'] - 1} steps, run 0 of seed {int(sub['seed'])}")
    axes[0].legend(fontsize=7)
    f1 = save(fig, outdir / "vsgd-quadratic-2d-trajectories.png")
    f2 = save(Q.loss_rate_figure(ds, "vSGD supplement Fig. 2 (ours)", LABELS, dims=(0, 1)),
              outdir / "vsgd-quadratic-2d-loss.png")
    return [f1, f2]
