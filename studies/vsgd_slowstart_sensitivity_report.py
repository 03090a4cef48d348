"""Report-only analysis of ``vsgd-slowstart-sensitivity``: how long the slow start can last.

Companion of :mod:`studies.vsgd_slowstart_sensitivity` (see
:func:`studies.report.companion_module`; it reads the stored Dataset only and is outside
the study's trial keys).

The paper (Sec. 4.4, supplement Fig. 10) says the slow-start constant C "has only a
transient initialization effect". How transient it can be follows from Algorithm 1. At the
end of the slow start, ``v = C q0`` (q0 the mean squared gradient of the first n0
samples) and ``tau = tau0`` (2 in the authors' code; n0 in adaptlr before 2026-11-23, the
trials record ``used_tau0`` and older ones are read as tau0 = n0); after that every step
does ``v <- (1 - 1/tau) v + q/tau`` and ``tau <- (1 - r) tau + 1 <= tau + 1`` (r = g^2/v
>= 0). So after k more steps ``tau <= tau0 + k`` and the start-up value keeps a weight of
*at most* ``prod_i (1 - 1/(tau0 + i)) = tau0 / (tau0 + k)``: its contribution to v is at
most ``C q0 tau0 / (tau0 + k)``. The bound is reached when r stays near 0 all along, which
is what an overestimated v (small r) itself causes. With C = d/10 and tau0 = n0 = 60 this
ceiling after 6 epochs (k = 360,000) is M0 0.13 q0, M1 1.6 q0, M2 9.1 q0: the start-up
value could dominate v through all 6 epochs on M1 and M2, and it did (vSGD-l's M1 training
error 2.0% against the paper's 0.18%). With tau0 = 2 the ceilings are 30 times lower.
Since 2026-11-23 adaptlr also overestimates h by C at the end of the slow start, as Zhang's
Torch d-vsgd does (``C_h``, trials record ``used_C_h``); h decays from ``C h0`` by the same
weights, so the same ceiling holds for h's start-up share (in units of h0) and the two
together slow the first rates by up to C^2. Whether the start-up value dominates is
measured: in that regime v falls like 1/k, so the rates grow roughly in proportion to the
step count instead of settling. This module tabulates the
ceiling per problem and C beside the measured test errors and vSGD-l's median effective
learning rate of the last weight layer (|dx/g|, recorded every 0.1 epoch) and its growth.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: epochs at which the report reads the curves (when the run has them)
EPOCHS = (1, 3, 6)


def _steps_per_epoch(ds) -> float:
    """Steps per epoch from the recorded learning-rate steps (lr_epoch = step / steps per
    epoch, every ``record_lr_every`` steps); NaN when nothing was recorded."""
    if "lr_epoch" not in ds or ds.sizes.get("lr_record", 0) == 0:
        return float("nan")
    spec = ds.attrs.get("spec")
    if spec:  # the study as it ran (the engine stores it in every Dataset)
        every = json.loads(spec).get("params", {}).get("record_lr_every", 0)
    else:
        from .vsgd_slowstart_sensitivity import RECORD_EVERY as every
    first = np.nanmin(ds["lr_epoch"].values)
    return float(every) / float(first) if every and np.isfinite(first) and first > 0 else float("nan")


def floor_rows(ds) -> list[str]:
    """Markdown rows per problem and C: tau0, the ceiling C tau0 / (tau0 + k) of the start-up value's
    contribution to v (in units of q0) at the end of epochs 1, 3, 6 (k = e x steps per epoch),
    and vSGD-l's mean test error there."""
    spe = _steps_per_epoch(ds)
    n_ep = ds.sizes["epoch"] - 1
    eps = [e for e in EPOCHS if e <= n_ep]
    head = ("| problem | C | tau0 | " + " | ".join(f"start-up share of v, at most [q0], epoch {e}" for e in eps)
            + " | " + " | ".join(f"vSGD-l test error [%] at epoch {e}" for e in eps) + " |")
    rows = [head, "|" + "---|" * (3 + 2 * len(eps))]
    opt = ds["optimizer"].values.astype(str)
    for p in ds["problem"].values.astype(str):
        sub = ds.sel(problem=p)
        for k in np.flatnonzero(opt == "vsgd-l")[np.argsort(ds["C"].values[opt == "vsgd-l"])]:
            n0 = (np.nanmax(sub["used_n0"].values[k])
                  if "used_n0" in sub and np.isfinite(sub["used_n0"].values[k]).any() else np.nan)
            tau0 = (np.nanmax(sub["used_tau0"].values[k])
                    if "used_tau0" in sub and np.isfinite(sub["used_tau0"].values[k]).any() else n0)
            C = float(ds["C"].values[k])
            if not np.isfinite(tau0):
                continue
            floors = [C * tau0 / (tau0 + e * spe) if np.isfinite(spe) else np.nan for e in eps]
            te = [100 * np.nanmean(sub["test_error"].values[k, :, e]) for e in eps]
            rows.append(f"| {p} | {C:g} | {tau0:g} | " + " | ".join(f"{f:.3g}" for f in floors)
                        + " | " + " | ".join(f"{x:.2f}" for x in te) + " |")
    return rows


def rate_rows(ds) -> list[str]:
    """Markdown rows: vSGD-l's median effective learning rate of the last weight layer, mean
    over seeds, at the records nearest to epochs 1, 3, 6, per problem and C."""
    if "lr_median" not in ds or ds.sizes.get("lr_record", 0) == 0:
        return []
    n_ep = ds.sizes["epoch"] - 1
    eps = [e for e in EPOCHS if e <= n_ep]
    lr_ep = ds["lr_epoch"].values
    rows = ["| problem | C | " + " | ".join(f"median rate, last layer, epoch {e}" for e in eps)
            + f" | growth epoch {eps[0]} to {eps[-1]} |",
            "|" + "---|" * (3 + len(eps))]
    opt = ds["optimizer"].values.astype(str)
    for p in ds["problem"].values.astype(str):
        sub = ds.sel(problem=p)
        med = sub["lr_median"].values  # setting, seed, lr_record, layer
        for k in np.flatnonzero(opt == "vsgd-l")[np.argsort(ds["C"].values[opt == "vsgd-l"])]:
            vals = []
            for e in eps:
                r = int(np.nanargmin(np.abs(lr_ep - e)))
                finite = np.flatnonzero(np.isfinite(med[k, :, r, :]).any(axis=0))
                v = med[k, :, r, finite[-1]] if finite.size else med[k, :, r, -1]  # last layer of this net
                vals.append(float(np.nanmean(v)) if np.isfinite(v).any() else np.nan)
            cells = [f"{v:.3g}" if np.isfinite(v) else "n/a" for v in vals]
            growth = vals[-1] / vals[0] if np.isfinite(vals[0]) and vals[0] > 0 else np.nan
            rows.append(f"| {p} | {float(ds['C'].values[k]):g} | " + " | ".join(cells)
                        + (f" | x{growth:.3g} |" if np.isfinite(growth) else " | n/a |"))
    return rows


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-sensitivity-memory.md``: the ceiling, the measured errors and rates."""
    from .vsgd_plotting import write_text

    if "used_n0" not in ds or "vsgd-l" not in set(ds["optimizer"].values.astype(str)):
        return []
    lines = ["# vSGD supplement Fig. 10: how long can the slow start last? (bound and measurement)",
             "",
             "After the slow start (n0 samples, v = C q0, tau = tau0: 2 in the authors' code and "
             "in adaptlr since 2026-11-23, n0 before), tau grows by at most 1 per "
             "step, so the start-up value keeps a weight of at most tau0 / (tau0 + k) in v after k "
             "steps: its share of v is at most C q0 tau0 / (tau0 + k) (q0: the mean squared "
             "gradient of the first n0 samples), reached when r = g^2/v stays near 0, which an "
             "overestimated v causes. A ceiling above 1 means the setting allows the start-up "
             "value to still dominate v; the measured rates below say whether it did (then "
             "they grow roughly in proportion to the step count). Trials with used_C_h = C "
             "(adaptlr since 2026-11-23, Zhang's Torch d-vsgd) overestimate h the same way, "
             "with the same ceiling in units of h0.", "",
             *floor_rows(ds), "",
             "## Measured: vSGD-l's median effective learning rate |dx/g| of the last weight layer",
             "",
             *(rate_rows(ds) or ["(no learning-rate records in this Dataset)"]), ""]
    return [write_text("\n".join(lines), Path(outdir) / "vsgd-slowstart-sensitivity-memory.md"),
            *claims_report(ds, outdir)]


# ------------------------------------------------------------------- the caption's claims

#: a C is in the "sweet spot" when its mean test error is at most this times the best C's
SWEET = 1.25
#: "unstable"/"still felt": the mean test error is more than SWEET times the best C's


def errors(ds, problem: str, variant: str, epoch: int):
    """``(C values, mean test error over the seeds that finished, at ``epoch``)`` of one
    variant on one problem, C ascending; NaN where no seed finished."""
    opt = ds["optimizer"].values.astype(str)
    idx = np.flatnonzero(opt == variant)
    Cs = ds["C"].values[idx].astype(float)
    order = np.argsort(Cs)
    idx, Cs = idx[order], Cs[order]
    te = ds["test_error"].sel(problem=problem).isel(setting=idx).sel(epoch=epoch).values
    ok = ds["status"].sel(problem=problem).isel(setting=idx).values.astype(str) == "ok"
    te = np.where(ok, te, np.nan)
    with np.errstate(invalid="ignore"):
        m = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in te])
    return Cs, 100.0 * m


def _d_over_10(ds, problem: str) -> float:
    if "n_params" not in ds:
        return float("nan")
    v = ds["n_params"].sel(problem=problem).values.astype(float)
    return float(np.nanmax(v)) / 10.0 if np.isfinite(v).any() else float("nan")


def claim_rows(ds) -> list[str]:
    """Markdown rows (figure_claims format): the claims of Fig. 10's caption and of the
    supplement's Sec. E, per problem with stored results, from the means over seeds."""
    from . import figure_claims as F

    variants = [v for v in ("vsgd-l", "vsgd-b", "vsgd-g")
                if v in set(ds["optimizer"].values.astype(str))]
    last = int(ds["epoch"].values[-1])
    rows = []
    for p in ds["problem"].values.astype(str):
        per = {v: errors(ds, p, v, last) for v in variants}
        if not all(np.isfinite(e).all() for _, e in per.values()):
            continue                     # not every C of this problem stored yet
        best = {v: np.nanmin(e) for v, (_, e) in per.items()}
        small = {v: per[v][1][0] / best[v] for v in variants}
        worst = max(small, key=small.get)
        rows.append(F.note(
            f"{p}: \"the updates are unstable if C is chosen too small (the element-wise 'l' "
            "variant being most affected)\"",
            "test error at the smallest C (%g) over the best C's: " % per[variants[0]][0][0]
            + ", ".join(f"{v} {small[v]:.2f}x" for v in variants),
            ("reproduced" if worst == "vsgd-l" and small[worst] > SWEET else
             f"not reproduced: the smallest C costs at most {small[worst]:.2f}x"
             if small[worst] <= SWEET else f"partly: unstable, but {worst} most affected")))
        spans = {}
        for v in variants:
            Cs, e = per[v]
            lo = hi = int(np.nanargmin(e))       # the run of good C around the best one
            while lo > 0 and e[lo - 1] <= SWEET * best[v]:
                lo -= 1
            while hi < len(e) - 1 and e[hi + 1] <= SWEET * best[v]:
                hi += 1
            spans[v] = (Cs[lo], Cs[hi], np.log10(Cs[hi] / Cs[lo]))
        rows.append(F.note(
            f"{p}: \"otherwise C has very little effect, up until when it becomes extremely "
            "large\" ('its sweet spot spans many orders of magnitude')",
            f"the run of C around the best one with test error within {SWEET}x of the best: "
            + ", ".join(f"{v} {lo:g} to {hi:g} ({dec:.0f} decades)" for v, (lo, hi, dec)
                        in spans.items()),
            "reproduced" if min(d for _, _, d in spans.values()) >= 3 else
            "partly: a sweet spot of fewer than 3 decades for "
            + ", ".join(v for v, (_, _, d) in spans.items() if d < 3)))
        e1 = {v: errors(ds, p, v, 1)[1] for v in variants}
        felt = {v: (e1[v][-1] / np.nanmin(e1[v]), per[v][1][-1] / best[v]) for v in variants}
        rows.append(F.note(
            f"{p}: \"for C = 10^8, this initialization basically neutralizes the whole first "
            "epoch, and is still felt at epoch 6\"",
            "test error at the largest C over the best C's, epoch 1 / epoch %d: " % last
            + ", ".join(f"{v} {a:.2f}x / {b:.2f}x" for v, (a, b) in felt.items()),
            "reproduced" if all(a > SWEET and b > 1.0 for a, b in felt.values()) else
            "partly: " + ", ".join(v for v, (a, b) in felt.items() if not (a > SWEET and b > 1.0))
            + " barely affected"))
        d10 = _d_over_10(ds, p)
        if np.isfinite(d10):
            near = {v: per[v][0][np.argmin(np.abs(np.log10(per[v][0]) - np.log10(d10)))]
                    for v in variants}
            inside = {v: per[v][1][per[v][0] == near[v]][0] <= SWEET * best[v] for v in variants}
            rows.append(F.every_seed(
                f"{p}: C = d/10 = {d10:g} is a 'safe' pick inside the sweet spot",
                "the grid C nearest d/10 (" + ", ".join(f"{near[v]:g}" for v in variants)
                + f") within {SWEET}x of the best C's test error, per variant", list(
                    inside.values())))
    return rows


def claims_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-sensitivity-claims.md``: :func:`claim_rows`, where a problem has
    every C stored."""
    from . import figure_claims as F

    rows = claim_rows(ds)
    if not rows:
        return []
    return F.write(
        outdir, "vsgd-slowstart-sensitivity",
        "vSGD supplement Fig. 10: the paper's claims, tested",
        f"Test error after the last epoch, mean over the {ds.sizes['seed']} seeds stored (the "
        "paper's Sec. 7 uses 2 runs); the rules and thresholds (a sweet spot = test error "
        f"within {SWEET}x of the best C's; 'many orders of magnitude' = at least 3 decades; "
        f"'too small' and 'extremely large' = the grid's ends) are ours, the paper gives "
        "none. With 2 seeds these are descriptions, not tests.", rows)
