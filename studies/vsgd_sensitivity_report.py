"""Report-only analysis of ``vsgd-sensitivity``: how much tuning it takes to match vSGD.

Companion of :mod:`studies.vsgd_sensitivity` (see :func:`studies.report.companion_module`;
it reads the stored Dataset only and is outside the study's trial keys).

The paper's Fig. 3 (and supplement Figs. 7-8) plots training against test error for every
setting of every method's grid, with vSGD's untuned variants among them, and reads from
it that vSGD lands where the best-tuned baselines are. Two numbers make that reading
checkable per problem, from the means over the stored seeds of the errors after the last
epoch:

* **settings that match it**: for each baseline, how many of its grid's settings reach
  a test error at most that of untuned vSGD-l (vSGD-b, vSGD-g), out of the settings whose
  every seed finished (diverged settings count as not matching). A small share says the
  baseline must be tuned to match vSGD; 0 says no setting of the grid did.
* **dominated by**: how many settings, of any method, have both a lower training error
  and a lower test error than the vSGD variant (0: it is on the Pareto front of the whole
  grid).

With 2 seeds these compare means, not significance; the study's tables give intervals.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

VSGD = ("vsgd-l", "vsgd-b", "vsgd-g")


def final_means(ds, problem: str, scale: float = 100.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(optimizer, mean train error, mean test error, finished)`` per setting of
    ``problem`` after the last epoch, errors times ``scale`` (100: in %); ``finished``:
    every seed ran to the end with status ``ok`` (no diverged, failed, missing or excluded
    seed)."""
    tr = ds["train_error"].sel(problem=problem).isel(epoch=-1).values
    te = ds["test_error"].sel(problem=problem).isel(epoch=-1).values
    ok = np.all(ds["status"].sel(problem=problem).values == "ok", axis=1)
    ok &= np.all(np.isfinite(tr), axis=1) & np.all(np.isfinite(te), axis=1)
    mtr = np.where(ok, scale * np.where(ok[:, None], tr, 0).mean(axis=1), np.nan)
    mte = np.where(ok, scale * np.where(ok[:, None], te, 0).mean(axis=1), np.nan)
    return ds["optimizer"].values.astype(str), mtr, mte, ok


def tuning_rows(ds, problem: str, scale: float = 100.0, unit: str = "%") -> list[str]:
    """Markdown rows for ``problem``: per baseline, its finished settings, best test error
    and how many settings match each untuned vSGD variant; then per vSGD variant, its
    errors and how many settings dominate it. Empty if no vSGD variant finished. Errors
    are written times ``scale`` with ``unit`` (an autoencoder's: 1 and "")."""
    opt, tr, te, ok = final_means(ds, problem, scale)
    run = ~np.all(ds["status"].sel(problem=problem).values == "excluded", axis=1)
    ref = {v: int(np.flatnonzero((opt == v) & ok)[0]) for v in VSGD if ((opt == v) & ok).any()}
    if not ref:
        return []
    head = " | ".join(f"test error <= {v} ({te[i]:.2f}{unit})" for v, i in ref.items())
    rows = [f"| {problem}: method | settings finished / in grid | best test error | {head} |",
            "|---|---|---|" + "---|" * len(ref)]
    for o in dict.fromkeys(opt):
        if o in VSGD:
            continue
        sel = (opt == o) & ok
        n_run = int(((opt == o) & run).sum())
        if not n_run:
            continue
        best = f"{te[sel].min():.2f}{unit}" if sel.any() else "—"
        cells = []
        for v, i in ref.items():
            k = int((te[sel] <= te[i]).sum())
            cells.append(f"{k} ({k / n_run:.0%})")
        rows.append(f"| {o} | {int(sel.sum())} / {n_run} | {best} | " + " | ".join(cells) + " |")
    rows += ["", f"| {problem}: untuned | train error | test error | settings finished | "
             "dominated by (lower train and test error) | of which baselines |",
             "|---|---|---|---|---|---|"]
    for v, i in ref.items():
        dom = ok & (tr < tr[i]) & (te < te[i])
        base = dom & ~np.isin(opt, VSGD)
        rows.append(f"| {v} | {tr[i]:.2f}{unit} | {te[i]:.2f}{unit} | {int(ok.sum())} | {int(dom.sum())} | "
                    f"{int(base.sum())} |")
    return rows


def pareto_front(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Indices of the points that no other point beats in both coordinates (strictly in
    one, at most equal in the other), sorted by ``tr``; NaN points are never on it."""
    idx = [i for i in np.flatnonzero(np.isfinite(tr) & np.isfinite(te))
           if not np.any((tr <= tr[i]) & (te <= te[i]) & ((tr < tr[i]) | (te < te[i])))]
    return np.array(sorted(idx, key=lambda i: (tr[i], te[i])), dtype=int)


def zoom_figure(ds, path: Path, factor: float = 2.0) -> Path | None:
    """Fig. 3 near the front: log-log training vs test error of the finished settings whose
    test error is within ``factor`` of the problem's best, the Pareto front as a step line,
    the vSGD variants large (the study's own figure spans 0-100% and hides that region)."""
    from matplotlib.ticker import ScalarFormatter

    from .vsgd_plotting import canvas, save
    from .vsgd_sensitivity import COLORS, MARKERS

    probs = [p for p in ds["problem"].values.astype(str) if tuning_rows(ds, p)]
    if not probs:
        return None
    fig = canvas(1, len(probs), 4.8, 4.4)
    axes = fig.subplots(1, len(probs), squeeze=False)[0]
    for ax, p in zip(axes, probs):
        opt, tr, te, ok = final_means(ds, p)
        near = ok & (te <= factor * np.nanmin(np.where(ok, te, np.nan)))
        for o in dict.fromkeys(opt):
            m = near & (opt == o)
            big = o in VSGD
            ax.scatter(tr[m], te[m], s=90 if big else 14, color=COLORS.get(o),
                       marker=MARKERS.get(o, "o"), alpha=1.0 if big else 0.6, label=o,
                       edgecolor="black" if big else "none", zorder=5 if big else 2)
        front = pareto_front(np.where(ok, tr, np.nan), np.where(ok, te, np.nan))
        ax.step(tr[front], te[front], where="post", color="red", lw=0.8,
                label="Pareto front (all settings)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(ScalarFormatter())
        ax.set_xlabel("training error after the last epoch [%], mean over seeds")
        ax.set_ylabel("test error after the last epoch [%], mean over seeds")
        ax.set_title(f"{p}: settings within {factor:g}x of the best test error", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    return save(fig, path)


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-sensitivity-tuning.md``: :func:`tuning_rows` for every problem with a
    finished vSGD variant (module docstring), and ``vsgd-sensitivity-fig3-zoom.png``
    (:func:`zoom_figure`)."""
    from .vsgd_plotting import write_text

    lines = ["# vsgd-sensitivity: how much tuning it takes to match untuned vSGD", "",
             f"Means over {ds.sizes['seed']} seed(s) of the errors after the last epoch. "
             "'test error <= vSGD': how many of a baseline's grid settings reach a test error "
             "at most the untuned vSGD variant's (share of the settings in its grid; diverged "
             "and unfinished settings do not match). 'dominated by': settings of any method "
             "with both a lower training and a lower test error (0: on the Pareto front of "
             "the whole grid). Compares means, not significance (see the study's tables). "
             "The captions of supplement Figs. 7-8 count 28 SGD and 11 AdaGrad settings, "
             "where Sec. 7 and the last line of Table 3 count 68 and 17: this study runs "
             "the grids of the text (7 eta0 values x 4 gammas and 11 eta0 values would fit "
             "the captions, so the figures may show a range of the grid).", ""]
    done = False
    for p in ds["problem"].values.astype(str):
        rows = tuning_rows(ds, p)
        if rows:
            lines += rows + [""]
            done = True
    if not done:
        lines.append("No vSGD variant has finished on any problem yet.")
    zoom = zoom_figure(ds, Path(outdir) / "vsgd-sensitivity-fig3-zoom.png")
    if zoom is not None:
        lines += ["", f"![Fig. 3 near the front]({zoom.name})"]
    md = write_text("\n".join(lines) + "\n", Path(outdir) / "vsgd-sensitivity-tuning.md")
    return [md] + ([zoom] if zoom is not None else [])
