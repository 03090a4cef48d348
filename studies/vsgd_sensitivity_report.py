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


def final_means(ds, problem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(optimizer, mean train error, mean test error, finished)`` per setting of
    ``problem`` after the last epoch, errors in %; ``finished``: every seed ran to the end
    with status ``ok`` (no diverged, failed, missing or excluded seed)."""
    tr = ds["train_error"].sel(problem=problem).isel(epoch=-1).values
    te = ds["test_error"].sel(problem=problem).isel(epoch=-1).values
    ok = np.all(ds["status"].sel(problem=problem).values == "ok", axis=1)
    ok &= np.all(np.isfinite(tr), axis=1) & np.all(np.isfinite(te), axis=1)
    mtr = np.where(ok, 100 * np.where(ok[:, None], tr, 0).mean(axis=1), np.nan)
    mte = np.where(ok, 100 * np.where(ok[:, None], te, 0).mean(axis=1), np.nan)
    return ds["optimizer"].values.astype(str), mtr, mte, ok


def tuning_rows(ds, problem: str) -> list[str]:
    """Markdown rows for ``problem``: per baseline, its finished settings, best test error
    and how many settings match each untuned vSGD variant; then per vSGD variant, its
    errors and how many settings dominate it. Empty if no vSGD variant finished."""
    opt, tr, te, ok = final_means(ds, problem)
    run = ~np.all(ds["status"].sel(problem=problem).values == "excluded", axis=1)
    ref = {v: int(np.flatnonzero((opt == v) & ok)[0]) for v in VSGD if ((opt == v) & ok).any()}
    if not ref:
        return []
    head = " | ".join(f"test error <= {v} ({te[i]:.2f}%)" for v, i in ref.items())
    rows = [f"| {problem}: method | settings finished / in grid | best test error | {head} |",
            "|---|---|---|" + "---|" * len(ref)]
    for o in dict.fromkeys(opt):
        if o in VSGD:
            continue
        sel = (opt == o) & ok
        n_run = int(((opt == o) & run).sum())
        if not n_run:
            continue
        best = f"{te[sel].min():.2f}%" if sel.any() else "—"
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
        rows.append(f"| {v} | {tr[i]:.2f}% | {te[i]:.2f}% | {int(ok.sum())} | {int(dom.sum())} | "
                    f"{int(base.sum())} |")
    return rows


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-sensitivity-tuning.md``: :func:`tuning_rows` for every problem with a
    finished vSGD variant (module docstring)."""
    from .vsgd_plotting import write_text

    lines = ["# vsgd-sensitivity: how much tuning it takes to match untuned vSGD", "",
             f"Means over {ds.sizes['seed']} seed(s) of the errors after the last epoch. "
             "'test error <= vSGD': how many of a baseline's grid settings reach a test error "
             "at most the untuned vSGD variant's (share of the settings in its grid; diverged "
             "and unfinished settings do not match). 'dominated by': settings of any method "
             "with both a lower training and a lower test error (0: on the Pareto front of "
             "the whole grid). Compares means, not significance (see the study's tables).", ""]
    done = False
    for p in ds["problem"].values.astype(str):
        rows = tuning_rows(ds, p)
        if rows:
            lines += rows + [""]
            done = True
    if not done:
        lines.append("No vSGD variant has finished on any problem yet.")
    return [write_text("\n".join(lines) + "\n", Path(outdir) / "vsgd-sensitivity-tuning.md")]
