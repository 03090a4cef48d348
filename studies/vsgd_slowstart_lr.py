"""``vsgd-slowstart-lr``: evolution of the learning rates (supplement Fig. 6).

Minimum and maximum effective learning rate over all weight dimensions, as a function of
the epoch (log-log), for vSGD-l, vSGD-b, vSGD-g (untuned: C = d/10, n0 = 0.001 x
#traindata) and SGD and AdaGrad at the paper's Table 1 settings, on M0 (MNIST, no hidden
layer) and C0 (CIFAR-10 batch1, no hidden layer; its trials fail with "data not available"
where CIFAR-10 is absent). The figure shows the median over seeds of the min and the max,
with the band between them, as the paper's Fig. 6.

The effective learning rate of a dimension is ``|dx_i / g_i|`` of an update (recorded by
:func:`adaptlr.mlp.train` with ``record_lr_every``; per weight layer min/median/max, biases
not included): the rate each method actually applied, whatever its form. Recorded every
0.001 epoch (60 online steps on MNIST, 10 on CIFAR batch1). During vSGD's slow start
(the first n0 steps) no step is taken, so the rate is 0 and not drawn on the log axis.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vsgd_benchmarks as B
from .spec import Study
from .vsgd_tables import VARIABLES as TABLE_VARIABLES

OPTIMIZERS = ("vsgd-l", "vsgd-b", "vsgd-g", "sgd", "adagrad")
COLORS = {"vsgd-l": "tab:red", "vsgd-b": "tab:purple", "vsgd-g": "tab:blue",
          "sgd": "tab:green", "adagrad": "goldenrod"}


def trial(spec: dict) -> dict:
    """:func:`studies.vsgd_benchmarks.mlp_trial` recording the learning rates every
    ``params["record_frac"]`` epoch (min and max per weight layer; the median is dropped)."""
    spec = dict(spec)
    params = dict(spec["params"])
    pp = spec["problem_params"]
    n_train = int(params.get("n_train") or B.N_TRAIN[pp["dataset"]])
    params["record_lr_every"] = max(1, int(round(float(params["record_frac"]) * n_train
                                                / int(spec["batch_size"]))))
    spec["params"] = params
    out = B.mlp_trial(spec)
    out.pop("lr_median", None)  # the figure needs min and max only; keeps results small
    return out


VARIABLES = dict(TABLE_VARIABLES)
VARIABLES.update({
    "lr_epoch": {"long_name": "time of the learning-rate record", "units": "epoch",
                 "description": "step of the record / steps per epoch"},
    "lr_min": {"long_name": "minimum effective learning rate", "units": "1",
               "description": "min over the dimensions of a weight layer of |dx/g| at the "
                              "recorded step (0 during vSGD's slow start)"},
    "lr_max": {"long_name": "maximum effective learning rate", "units": "1",
               "description": "max over the dimensions of a weight layer of |dx/g|"},
})

DESCRIPTION = (
    "Supplement Fig. 6 of Schaul, Zhang & LeCun (2013): minimum and maximum learning rate "
    "over all weight dimensions vs epoch (log-log), median over 10 seeds, for vSGD-l/b/g "
    "(C = d/10, n0 = 0.001 x #traindata), SGD and AdaGrad (Table 1 settings) on M0 and C0 "
    "(C0 only where CIFAR-10 is present; otherwise its trials are 'failed: data not "
    "available'). CHOICE: the learning rate is the effective one, |dx_i/g_i| of the update "
    "(the same definition for every method, also for AdaGrad and SGD); biases are not "
    "included (the recorder summarises weight layers). CHOICE: records every 0.001 epoch; "
    "batch size 1, float64 and the other set-up choices as in vsgd-tables. Quick form (vSGD n0 floored at 10 samples, see vsgd_benchmarks.make_optimizer): M0 "
    "(and C0 where present) on 500 training images (a record every step), 1 epoch, 2 seeds.")

STUDY = Study(
    name="vsgd-slowstart-lr",
    title="vSGD supplement Fig. 6: evolution of the learning rates (slow start)",
    paper="Schaul, Zhang & LeCun (2013), supplementary Fig. 6",
    description=DESCRIPTION,
    trial=trial,
    problems={p: B.PROBLEMS[p] for p in ("M0", "C0")},
    optimizers={o: {} for o in OPTIMIZERS},
    seeds=tuple(range(10)),
    epochs=6,
    batch_size=1,
    params={"dtype": "float64", "l2": 1e-4, "record_frac": 1e-3},
    quick={"seeds": (0, 1), "epochs": 1,
           "params": {"n0_min": 10, "n_train": 500, "n_test": 300}},
    allowed=B.allowed_hyper,
    variables=VARIABLES,
    tables=B.table_cells(("M0", "C0"), "test_error", {}, columns=OPTIMIZERS),
)


def lr_curves(ds, problem: str, optimizer: str):
    """(epoch, median over seeds of the min, of the max) for one problem and optimizer.

    The min (max) is taken over the weight layers first; records with a rate of 0 (slow
    start, or no step) are NaN so that they do not show on a log axis.
    """
    i = int(np.flatnonzero(ds["optimizer"].values == optimizer)[0])
    sub = ds.sel(problem=problem).isel(setting=i)
    x = np.nanmedian(sub["lr_epoch"].values, axis=0)
    lo = sub["lr_min"].min("layer").values
    hi = sub["lr_max"].max("layer").values
    lo = np.where(lo > 0, lo, np.nan)
    hi = np.where(hi > 0, hi, np.nan)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return x, np.nanmedian(lo, axis=0), np.nanmedian(hi, axis=0)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-lr-fig6.png``: min/max learning rates vs epoch (log-log)."""
    from .vsgd_plotting import canvas, save

    outdir = Path(outdir)
    problems = [str(p) for p in ds["problem"].values
                if "lr_epoch" in ds and np.isfinite(ds["lr_epoch"].sel(problem=p).values).any()]
    fig = canvas(1, max(1, len(problems)), 5.5, 4.2)
    axes = fig.subplots(1, max(1, len(problems)), squeeze=False)[0]
    for ax, p in zip(axes, problems):
        for opt in dict.fromkeys(str(o) for o in ds["optimizer"].values):
            x, lo, hi = lr_curves(ds, p, opt)
            ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
            if not ok.any():
                continue
            c = COLORS.get(opt)
            ax.plot(x[ok], lo[ok], color=c, lw=1, label=opt)
            ax.plot(x[ok], hi[ok], color=c, lw=1, ls="--")
            ax.fill_between(x[ok], lo[ok], hi[ok], color=c, alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate |dx/g| (min solid, max dashed)")
        ax.set_title(f"{p}: median over {ds.sizes['seed']} seeds")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if not problems:
        axes[0].text(0.5, 0.5, "no learning-rate records", ha="center",
                     transform=axes[0].transAxes)
    return [save(fig, outdir / "vsgd-slowstart-lr-fig6.png")]
