"""``vsgd-slowstart-sensitivity``: test error vs the slow-start constant C over eight orders
of magnitude (vSGD supplement Fig. 10), for vSGD-l, vSGD-b and vSGD-g on M0, M1, M2,
after 1, 3 and 6 epochs, with the rule of thumb C = d/10 marked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vsgd_benchmarks as B
from .spec import Study
from .vsgd_tables import VARIABLES

C_GRID = [10.0 ** k for k in range(0, 9)]
#: effective learning rates (min / median / max |dx/g| per weight layer) every 0.1 epoch, to
#: see how long the slow start's overestimate of v (and l) holds the rates down
RECORD_EVERY = 6000
COLORS = {"vsgd-l": "tab:red", "vsgd-b": "tab:purple", "vsgd-g": "tab:blue"}

DESCRIPTION = (
    "Supplement Fig. 10 of Schaul, Zhang & LeCun (2013): test error after 1, 3 and 6 epochs "
    f"vs the slow-start constant C in {C_GRID} (eight orders of magnitude) for vSGD-l/b/g on "
    "M0, M1, M2; the paper's C = d/10 is marked (M0: 785, M1: 9,541, M2: 54,581). The "
    "effective learning rates |dx/g| (min / median / max per weight layer) are recorded every "
    f"{RECORD_EVERY} steps (0.1 epoch). CHOICE "
    "(the paper does not give the number of runs): 2 seeds per setting, as the paper's "
    "tuning runs; n0 = 0.001 x #traindata. Diverged runs are stored as diverged and drawn "
    "at the top edge. Same networks and other choices as vsgd-tables (batch size 1, "
    "float64). Quick form (vSGD n0 floored at 10 samples, see vsgd_benchmarks.make_optimizer): M0 on 200 training images, 3 epochs, C in {1, 1e3, 1e6}, "
    "vSGD-l and vSGD-g, 1 seed.")

STUDY = Study(
    name="vsgd-slowstart-sensitivity",
    title="vSGD supplement Fig. 10: sensitivity of the test error to the slow-start constant C",
    paper="Schaul, Zhang & LeCun (2013), supplementary Fig. 10",
    description=DESCRIPTION,
    trial=B.mlp_trial,
    problems={p: B.PROBLEMS[p] for p in B.MNIST_PROBLEMS},
    optimizers={v: {"C": C_GRID} for v in B.VSGD},
    seeds=(0, 1),
    epochs=6,
    batch_size=1,
    params={"dtype": "float64", "l2": 1e-4, "record_lr_every": RECORD_EVERY},
    quick={"problems": {"M0": B.PROBLEMS["M0"]}, "seeds": (0,), "epochs": 3,
           "params": {"n0_min": 10, "n_train": 200, "n_test": 200, "record_lr_every": 20},
           "optimizers": {"vsgd-l": {"C": [1.0, 1e3, 1e6]}, "vsgd-g": {"C": [1.0, 1e3, 1e6]}}},
    allowed=B.allowed_hyper,
    variables=VARIABLES,
)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-sensitivity-fig10.png``: test error vs C per problem, epochs 1/3/6
    (light to dark), one colour per variant, C = d/10 as a vertical line."""
    from .vsgd_plotting import canvas, save

    outdir = Path(outdir)
    problems = [str(p) for p in ds["problem"].values]
    fig = canvas(1, len(problems), 4.8, 4.0)
    axes = fig.subplots(1, len(problems), squeeze=False)[0]
    n_ep = ds.sizes["epoch"] - 1
    epochs = [e for e in (1, 3, 6) if e <= n_ep]
    for ax, p in zip(axes, problems):
        sub = ds.sel(problem=p)
        te_all = 100 * sub["test_error"].values
        top = np.nanmax(te_all) * 1.05 if np.isfinite(te_all).any() else 100.0
        for opt in dict.fromkeys(str(o) for o in ds["optimizer"].values):
            idx = np.flatnonzero(ds["optimizer"].values == opt)
            C = ds["C"].values[idx]
            o = np.argsort(C)
            for k, e in enumerate(epochs):
                y = 100 * sub["test_error"].isel(setting=idx[o], epoch=e).mean("seed").values
                bad = ~np.isfinite(y)
                alpha = 0.35 + 0.65 * (k + 1) / len(epochs)
                ax.plot(C[o], np.where(bad, top, y), marker="o", ms=3,
                        color=COLORS.get(opt), alpha=alpha,
                        label=f"{opt}, epoch {e}" if k == len(epochs) - 1 or opt ==
                        "vsgd-l" else None)
        d = float(np.nanmax(sub["n_params"].values)) if "n_params" in sub else np.nan
        if np.isfinite(d):
            ax.axvline(d / 10, color="black", lw=1, label="C = d/10")
        ax.set_xscale("log")
        ax.set_xlabel("slow-start constant C")
        ax.set_ylabel("test error [%] (top edge: diverged)")
        ax.set_title(f"{p}: mean over {ds.sizes['seed']} seed(s)", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=6)
    return [save(fig, outdir / "vsgd-slowstart-sensitivity-fig10.png")]
