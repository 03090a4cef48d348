"""Report-only figure of ``vsgd-longrun`` (companion of :mod:`studies.vsgd_longrun`, see
:func:`studies.report.companion_module`; not part of the study's trial keys).

``vsgd-longrun-fig3.png``: the paper's supplementary Fig. 3 redrawn from the stored
Dataset: training (green) and test (red) error after every epoch, log-scaled epochs as in
the paper; the line is the mean over the finished seeds, the band their minimum to
maximum, and the paper's 1.87% (test, after 100 epochs) is marked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: the caption's 1.87% is an "average" over an unstated number of runs: judged as one run
PUBLISHED_RUNS = 1


def curves(ds) -> dict:
    """``{metric: (epochs, mean, min, max, n)}`` over the seeds whose trial finished ``ok``,
    epochs from 1 (the log axis has no epoch 0), error in percent."""
    from .vsgd_longrun import PROBLEM

    sub = ds.sel(problem=PROBLEM).isel(setting=0)
    ok = sub["status"].values.astype(str) == "ok"
    out = {}
    for metric in ("train_error", "test_error"):
        if metric not in sub.data_vars:     # no trial stored yet: the Dataset has no curves
            continue
        e = sub[metric].isel(epoch=np.flatnonzero(sub["epoch"].values >= 1))
        v = 100.0 * e.values[ok]                                  # (seed, epoch)
        if not v.size:
            continue
        out[metric] = (e["epoch"].values, v.mean(axis=0), v.min(axis=0), v.max(axis=0),
                       int(ok.sum()))
    return out


def extra_report(ds, outdir) -> list[Path]:
    """Write ``vsgd-longrun-fig3.png`` (nothing when no seed finished)."""
    from .vsgd_longrun import EPOCHS, PUBLISHED_TEST
    from .vsgd_plotting import canvas, save

    cs = curves(ds)
    if not cs:
        return []
    fig = canvas(1, 1, w=6.0, h=4.2)
    ax = fig.add_subplot(1, 1, 1)
    for metric, colour, label in (("train_error", "tab:green", "training"),
                                  ("test_error", "tab:red", "test")):
        if metric not in cs:
            continue
        ep, mean, lo, hi, n = cs[metric]
        ax.plot(ep, mean, color=colour, label=f"{label} error (mean of {n} seeds)")
        ax.fill_between(ep, lo, hi, color=colour, alpha=0.2, linewidth=0)
    ax.plot([EPOCHS], [PUBLISHED_TEST], "k*", markersize=10,
            label=f"paper: test error after {EPOCHS} epochs ({PUBLISHED_TEST}%)")
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error [%]")
    ax.set_title("vSGD-l, MNIST [784, 800, 10] (band: min-max over seeds)")
    ax.legend(fontsize=8)
    return [save(fig, Path(outdir) / "vsgd-longrun-fig3.png")]

