"""Report of ``vsgd-sensitivity-cifar`` (companion of :mod:`studies.vsgd_sensitivity_cifar`,
see :func:`studies.report.companion_module`; it reads the stored Dataset only and is outside
the study's trial keys).

* ``vsgd-sensitivity-cifar-fig4.png``: supplement Fig. 4, training vs test error after the
  last epoch of every setting (means over the seeds), one panel per problem, the best
  setting of each method (lowest mean test error, the paper's criterion) large, diverged
  settings at the top-right edge. C0 and C1 in %, CR in its own unit (mean per-sample
  1/2 squared reconstruction error).
* ``vsgd-sensitivity-cifar-best.md``: the best setting per method beside Table 1's CIFAR
  setting, and how much tuning it takes to match untuned vSGD
  (:func:`studies.vsgd_sensitivity_report.tuning_rows`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: CR is an autoencoder: its error is not a rate (no percent)
UNITLESS = ("CR",)


def scale_unit(problem: str) -> tuple[float, str]:
    """How a problem's errors are written: ``(100, "%")`` for error rates, ``(1, "")`` for
    CR's reconstruction error."""
    return (1.0, "") if problem in UNITLESS else (100.0, "%")


def best_rows(ds, problem: str) -> list[str]:
    """Markdown rows: per method, settings run (every seed finished) of those in the grid,
    diverged, its best setting and errors, and
    Table 1's setting for ``problem``."""
    from . import vsgd_benchmarks as B
    from .vsgd_sensitivity import best_settings
    from .vsgd_sensitivity_report import final_means

    scale, unit = scale_unit(problem)
    opt, tr, te, _ = final_means(ds, problem, scale)
    st = ds["status"].sel(problem=problem).values
    best = best_settings(ds, problem)
    rows = []
    for o in dict.fromkeys(opt):
        sel = opt == o
        grid = sel & ~np.all(st == "excluded", axis=1)
        # a setting is run when every seed finished (ok or diverged)
        run = grid & np.all(np.isin(st, ("ok", "diverged")), axis=1)
        n_run = f"{int(run.sum())} / {int(grid.sum())}"
        div = sel & np.any(st == "diverged", axis=1)
        t1 = B.TABLE1.get(o, {}).get(problem, "untuned" if o in B.VSGD else "-")
        if o in best:
            i, _ = best[o]
            hyper = json.loads(str(ds["setting_json"].values[i])) or "untuned"
            rows.append(f"| {problem} | {o} | {n_run} | {int(div.sum())} | {hyper} | "
                        f"{te[i]:.2f}{unit} | {tr[i]:.2f}{unit} | {t1} |")
        else:
            rows.append(f"| {problem} | {o} | {n_run} | {int(div.sum())} | none "
                        f"finished | | | {t1} |")
    return rows


def figure(ds, path: Path) -> Path | None:
    """Supplement Fig. 4 (module docstring); None when no setting finished anywhere."""
    from .vsgd_plotting import canvas, save
    from .vsgd_sensitivity import COLORS, MARKERS, best_settings
    from .vsgd_sensitivity_report import final_means

    probs = [p for p in ds["problem"].values.astype(str) if final_means(ds, p)[3].any()]
    if not probs:
        return None
    fig = canvas(1, len(probs), 4.8, 4.4)
    axes = fig.subplots(1, len(probs), squeeze=False)[0]
    for ax, p in zip(axes, probs):
        scale, unit = scale_unit(p)
        opt, tr, te, ok = final_means(ds, p, scale)
        st = ds["status"].sel(problem=p).values
        best = best_settings(ds, p)
        top, right = np.nanmax(te[ok]) * 1.05, np.nanmax(tr[ok]) * 1.05
        for o in dict.fromkeys(opt):
            c, mk = COLORS.get(o), MARKERS.get(o, "o")
            m = (opt == o) & ok
            ax.scatter(tr[m], te[m], s=14, color=c, marker=mk, alpha=0.6, label=o)
            dv = (opt == o) & ~ok & np.any(st == "diverged", axis=1)
            if dv.any():
                ax.scatter(np.full(dv.sum(), right), np.full(dv.sum(), top), s=14, color=c,
                           marker=mk, alpha=0.3, clip_on=False)
            if o in best:
                i = best[o][0]
                ax.scatter([tr[i]], [te[i]], s=140, color=c, marker=mk, edgecolor="black",
                           zorder=5)
        what = "error [%]" if unit else "reconstruction error"
        ax.set_xlabel(f"training {what} after the last epoch")
        ax.set_ylabel(f"test {what} after the last epoch")
        ax.set_title(f"{p} (large: best setting; top-right edge: diverged)", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    return save(fig, path)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-sensitivity-cifar-best.md`` and ``vsgd-sensitivity-cifar-fig4.png`` (module
    docstring)."""
    from .vsgd_plotting import write_text
    from .vsgd_sensitivity_report import tuning_rows

    outdir = Path(outdir)
    lines = ["# vsgd-sensitivity-cifar: best setting per method (lowest mean test error over "
             f"{ds.sizes['seed']} seed(s))", "",
             "| problem | method | settings run / in the grid | diverged | best setting (ours) | test error | "
             "train error | Table 1 setting |", "|---|---|---|---|---|---|---|---|"]
    tuning = []
    for p in ds["problem"].values.astype(str):
        lines += best_rows(ds, p)
        tuning += tuning_rows(ds, p, *scale_unit(p))
        tuning.append("")
    lines += ["", "C0 and C1: error rates in %; CR: mean per-sample 1/2 squared reconstruction "
              "error. Diverged settings are excluded from 'best'. The paper's Table 1 settings "
              "are the best of its own grid search (tuned on the test set, 2 runs).", ""]
    if any(tuning):
        lines += ["## How much tuning it takes to match untuned vSGD", "",
                  "As in vsgd-sensitivity: how many of a baseline's settings reach a test error "
                  "at most the untuned vSGD variant's, and how many settings of any method "
                  "have both a lower training and a lower test error.", "", *tuning]
    fig = figure(ds, outdir / "vsgd-sensitivity-cifar-fig4.png")
    md = write_text("\n".join(lines) + "\n", outdir / "vsgd-sensitivity-cifar-best.md")
    return [md] + ([fig] if fig is not None else [])
