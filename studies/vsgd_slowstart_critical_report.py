"""Report-only analysis of ``vsgd-slowstart-critical``: the rule of thumb C = d/10, measured.

Companion of :mod:`studies.vsgd_slowstart_critical` (see
:func:`studies.report.companion_module`; it reads the stored Dataset only and is outside
the study's trial keys).

The paper (supplement Sec. 4.4 and Fig. 9) proposes ``C = d/10`` as a safe slow-start
overestimation factor. Per problem this module puts the measured critical C (the smallest
grid C from which on fewer than 10% of the runs are unstable, :func:`critical_c` of the
study) beside ``d/10`` (ratio > 1: the rule of thumb is *not* safe there), flags a
critical C at the top of the grid (censored: the true value may be larger), and counts,
per C, the stable runs that did not learn in their epoch: final training loss at least 95%
of the initial one. A large C keeps every rate small for longer, so "stable" at a large C
can mean "did not move": that is the other side of the trade-off the paper's Fig. 10
(the study ``vsgd-slowstart-sensitivity``) measures on MNIST.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .vsgd_slowstart_critical import critical_c

#: a stable run "did not learn" when its final training loss is at least this fraction of
#: the initial one
NO_LEARNING = 0.95
#: an unstable run "did not move" when it did not diverge and its final training loss is
#: within this fraction of the initial one (the study's rule counts a final loss a hair
#: above the initial as unstable; the paper's instability is "too large initial steps")
NOT_MOVED = 0.01


def _verdict(ds, p: str, d: float, crit: float, top: float) -> tuple[str, str, str]:
    """(critical C, critical C / (d/10), note) cells of problem ``p``: 'not determined' for
    a problem with trials not stored (a part run, failed trials; the fractions of the
    missing cells are unknown), 'above the grid' when every grid C is unstable, censored
    at the top of the grid."""
    st = ds["status"].sel(problem=p).values.astype(str)
    stored = int(np.isin(st, ("ok", "diverged")).sum())
    if stored < st.size:
        return "not determined", "", f"only {stored} of {st.size} trials stored"
    if not np.isfinite(crit):
        return ("above the grid", f"> {top / (d / 10):.3g}",
                "every grid C has >= 10% unstable runs")
    return (f"{crit:.3g}", f"{crit / (d / 10):.3g}",
            "at the top of the grid (censored)" if crit == top else "")


def _cell(text: str) -> str:
    """A Markdown cell's inside: `` text `` (an empty cell is one space)."""
    return f" {text} " if text else " "


def rule_rows(ds) -> list[str]:
    """Markdown rows: d, d/10, critical C, ratio, censoring, per problem (:func:`_verdict`)."""
    top = float(np.nanmax(ds["C"].values.astype(float)))
    rows = ["| problem | d | d/10 | critical C | critical C / (d/10) | note |",
            "|---|---|---|---|---|---|"]
    for p, (d, crit, _) in critical_c(ds).items():
        if np.isfinite(d):
            crit_cell, ratio, note = _verdict(ds, p, d, crit, top)
            rows.append(f"| {p} | {d:.0f} | {d / 10:.4g} | {crit_cell} |{_cell(ratio)}| {note} |")
    return rows


def did_not_move(ds):
    """Boolean array like ``ds["unstable"]``: the runs the study counts as unstable that
    neither diverged nor moved their training loss by more than :data:`NOT_MOVED` of its
    initial value (at a large C every rate stays tiny for the whole epoch, and a loss that
    ends a hair above where it started is noise, not "too large initial steps")."""
    loss = ds["train_loss"].values
    st = ds["status"].values.astype(str)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = (loss[..., -1] - loss[..., 0]) / np.abs(loss[..., 0])
    unstable = np.nan_to_num(ds["unstable"].values, nan=1.0) == 1
    return unstable & (st == "ok") & np.isfinite(rel) & (np.abs(rel) <= NOT_MOVED)


def moved_rows(ds) -> list[str]:
    """Markdown rows: the critical C with the runs that did not move (:func:`did_not_move`)
    counted as stable, beside d/10, and how many runs per C that reclassifies."""
    flat = did_not_move(ds)
    moved = ds.assign(unstable=ds["unstable"].copy(
        data=np.where(flat, 0.0, ds["unstable"].values)))
    C = ds["C"].values.astype(float)
    order = np.argsort(C)
    top = float(C.max())
    rows = ["| problem | d/10 | critical C | critical C / (d/10) | runs reclassified "
            "(C: runs) |", "|---|---|---|---|---|"]
    pi = {p: i for i, p in enumerate(ds["problem"].values.astype(str))}
    for p, (d, crit, _) in critical_c(moved).items():
        if not np.isfinite(d):
            continue
        counts = flat[pi[p]].sum(axis=1)
        re = ", ".join(f"{C[k]:.3g}: {int(counts[k])}" for k in order if counts[k]) or "none"
        crit_cell, ratio, _ = _verdict(ds, p, d, crit, top)
        rows.append(f"| {p} | {d / 10:.4g} | {crit_cell} |{_cell(ratio)}| {re} |")
    return rows


def no_learning_rows(ds) -> list[str]:
    """Markdown rows: per problem and C, the stable runs whose training loss did not fall
    below :data:`NO_LEARNING` of its initial value."""
    C = ds["C"].values.astype(float)
    order = np.argsort(C)
    head = "| problem | " + " | ".join(f"C={C[k]:g}" for k in order) + " |"
    rows = [head, "|" + "---|" * (len(order) + 1)]
    for p in ds["problem"].values.astype(str):
        sub = ds.sel(problem=p)
        st = sub["status"].values.astype(str)
        if not (st == "ok").any():
            continue
        loss = sub["train_loss"].values  # setting, seed, epoch
        stable = (st == "ok") & (np.nan_to_num(sub["unstable"].values, nan=1.0) == 0)
        still = stable & (loss[..., -1] >= NO_LEARNING * loss[..., 0])
        cells = [f"{int(still[k].sum())}/{int(stable[k].sum())}" for k in order]
        rows.append(f"| {p} | " + " | ".join(cells) + " |")
    return rows


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-critical-rule.md``: the two tables and how to read them."""
    from .vsgd_plotting import write_text

    if "unstable" not in ds:
        return []
    lines = ["# vSGD supplement Fig. 9: is C = d/10 safe? (measured)", "",
             *rule_rows(ds), "",
             "Ratio > 1: the paper's rule of thumb C = d/10 leaves 10% or more of the runs "
             "unstable on that problem (diverged, or training loss higher after the epoch "
             "than before).", "",
             f"## Stable runs that did not learn (final training loss >= {NO_LEARNING:.0%} of "
             "the initial one; stable runs per cell)", "",
             *no_learning_rows(ds), "",
             "A large C delays every rate; where the stable runs at large C did not learn, the "
             "critical C is a lower edge of a window, not a free choice.", "",
             f"## The same without the runs that did not move (final training loss within "
             f"{NOT_MOVED:.0%} of the initial one, not diverged)", "",
             "The study's rule counts such a run as unstable when its loss ends a hair above "
             "where it started; the paper's instability is 'too large initial steps'. Here "
             "they count as stable, and the critical C is computed by the same rule. At a "
             "small C the same test also passes a run that moved and came back to its "
             "initial loss (only the losses at the epoch's ends are stored), so read a "
             "change of the critical C as evidence only where the reclassified runs are at "
             "large C:", "",
             *moved_rows(ds), ""]
    return [write_text("\n".join(lines), Path(outdir) / "vsgd-slowstart-critical-rule.md")]
