"""``adadelta-table2``: ADADELTA Table 2 (Zeiler 2012): rho x eps on MNIST, ReLU, 6 epochs.

Grid: rho in {0.9, 0.95, 0.99} x eps in {1e-2, 1e-4, 1e-6, 1e-8}, the 784-500-300-10
ReLU network of Table 1 (the brief; the paper's Sec. 4.2 puts Tables 1 and 2 side by
side), minibatch 100, test error after 6 epochs, 10 seeds. Trial: the shared ADADELTA
MNIST trial (:func:`studies.adadelta_sec41.mlp_trial`).

The report adds the test of the paper's claim (Sec. 4.2) that, unlike SGD, Momentum and
AdaGrad in Table 1, "the two hyperparameters do not significantly alter performance"
(:func:`insensitivity`), using the ``adadelta-table1`` results when they are stored.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import adadelta_sec41 as base
from .spec import Study, Table

RHOS = [0.9, 0.95, 0.99]
EPSS = [1e-2, 1e-4, 1e-6, 1e-8]
ROW_LABELS = ["ε = 1e-2", "ε = 1e-4", "ε = 1e-6", "ε = 1e-8"]
COL_LABELS = ["ρ = 0.9", "ρ = 0.95", "ρ = 0.99"]
#: Zeiler (2012) Table 2, test error in percent; rows eps, columns rho
PAPER = {
    1e-2: (2.59, 2.58, 2.32),
    1e-4: (2.05, 1.99, 2.28),
    1e-6: (1.90, 1.83, 2.05),
    1e-8: (2.29, 2.13, 2.00),
}
#: chance-level error of a diverged 10-class network (used in one variant of the spread)
CHANCE_ERROR = 90.0
N_BOOT = 2000


def _table() -> Table:
    cells, pub = {}, {}
    for r, eps in zip(ROW_LABELS, EPSS):
        for c, rho, p in zip(COL_LABELS, RHOS, PAPER[eps]):
            cells[(r, c)] = {"optimizer": "adadelta", "rho": rho, "eps": eps}
            pub[(r, c)] = p
    return Table(title="ADADELTA Table 2: MNIST test error after 6 epochs (ReLU 784-500-300-10)",
                 rows=ROW_LABELS, columns=COL_LABELS, cells=cells, metric="test_error",
                 problem="mnist-relu", scale=100.0, unit="%", published=pub,
                 published_source="Zeiler (2012) Table 2 (single runs, 6 epochs)")


# ----------------------------------------------------------------------------- statistics
def _spread(cells: np.ndarray) -> tuple[float, float]:
    """(range, SD with ddof=1) of the cell means; ``cells`` is (n_cells, n_seeds)."""
    m = cells.mean(axis=1)
    return float(m.max() - m.min()), float(m.std(ddof=1))


def _prepare(cells: np.ndarray, diverged: str) -> np.ndarray:
    """Cells with non-finite seeds removed (``"drop"``) or set to chance error (``"chance"``)."""
    c = np.asarray(cells, dtype=float)
    if diverged == "chance":
        return np.where(np.isfinite(c), c, CHANCE_ERROR)
    if diverged == "drop":
        return c[np.all(np.isfinite(c), axis=1)]
    raise ValueError(f"diverged must be 'drop' or 'chance', got {diverged!r}")


def insensitivity(table2: np.ndarray, table1: dict, *, n_boot: int = N_BOOT, seed: int = 0,
                  diverged: str = "drop") -> dict:
    """Spread of ADADELTA's Table 2 against the spread of each column of Table 1.

    ``table2``: (12 cells, n seeds) test errors in percent; ``table1``: ``{column: (5 cells,
    n seeds)}`` with NaN for diverged/failed seeds, seeds in the same order (paired).
    Statistic per table/column: the range and the SD (ddof=1) of the *cell means over
    seeds* (how much the hyperparameter choice moves the expected error). Returns for each
    Table 1 column: ``range``, ``sd``, ``n_cells``, the ratio ``sd / sd(Table 2)`` with a
    95% percentile bootstrap CI (``n_boot`` resamples of the seeds with replacement, the
    same resampled seeds for every cell: cells are paired by seed), and the Fligner-Killeen
    test (:func:`scipy.stats.fligner`) of equal dispersion of the two sets of cell means;
    plus the Friedman test (:func:`scipy.stats.friedmanchisquare`, blocks = seeds) of
    "the hyperparameters do not alter the test error" within Table 2 and within each column.

    ``diverged="drop"`` leaves out Table 1 cells with a non-finite seed (conservative: it
    can only *shrink* Table 1's spread); ``"chance"`` counts a diverged run as 90% error
    (chance level of 10 classes; the paper printed 89.68% for such a cell).
    """
    from scipy import stats as st

    t2 = np.asarray(table2, dtype=float)
    if t2.ndim != 2 or t2.shape[0] < 2 or not np.all(np.isfinite(t2)):
        raise ValueError(f"table2 must be (cells >= 2, seeds) finite values, got shape {t2.shape} "
                         f"with {int((~np.isfinite(t2)).sum())} non-finite entries")
    rng = np.random.default_rng(seed)
    n = t2.shape[1]
    idx = rng.integers(0, n, size=(n_boot, n))
    r2, sd2 = _spread(t2)
    boot2 = np.array([_spread(t2[:, i])[1] for i in idx])
    out = {"table2": {"range": r2, "sd": sd2, "n_cells": t2.shape[0],
                      "sd_ci": tuple(np.percentile(boot2, [2.5, 97.5]))}}
    if n >= 2:
        fr = st.friedmanchisquare(*t2)
        out["table2"]["friedman"] = (float(fr.statistic), float(fr.pvalue))
    for col, cells in table1.items():
        c = _prepare(cells, diverged)
        res = {"n_cells": int(c.shape[0]), "n_dropped": int(np.asarray(cells).shape[0] - c.shape[0])}
        if c.shape[0] < 2:
            res["note"] = "fewer than 2 usable cells"
            out[col] = res
            continue
        if c.shape[1] != n:
            raise ValueError(f"Table 1 column {col!r} has {c.shape[1]} seeds, Table 2 has {n}; "
                             "the comparison pairs seeds, so they must match")
        r1, sd1 = _spread(c)
        ratio = np.array([_spread(c[:, i])[1] for i in idx]) / np.maximum(boot2, 1e-300)
        res.update(range=r1, sd=sd1, ratio=sd1 / sd2,
                   ratio_ci=tuple(np.percentile(ratio, [2.5, 97.5])),
                   fligner=tuple(float(x) for x in st.fligner(c.mean(axis=1), t2.mean(axis=1))))
        if n >= 2 and c.shape[0] >= 3:
            fr = st.friedmanchisquare(*c)
            res["friedman"] = (float(fr.statistic), float(fr.pvalue))
        out[col] = res
    return out


def table1_columns(ds1) -> dict:
    """``{"SGD": (5, n), "Momentum": ..., "AdaGrad": ...}`` test errors (%) from an
    ``adadelta-table1`` Dataset, learning rates 1e0 .. 1e-4 (those present)."""
    out = {}
    p = str(ds1["problem"].values[0])
    for col, opt in (("SGD", "sgd"), ("Momentum", "momentum"), ("AdaGrad", "adagrad")):
        sel = np.flatnonzero(ds1["optimizer"].values == opt)
        if sel.size == 0:
            continue
        order = sel[np.argsort(-ds1["lr"].values[sel])]
        out[col] = ds1["test_error"].sel(problem=p).isel(setting=order, epoch=-1).values * 100
    return out


def table2_cells(ds) -> np.ndarray:
    return ds["test_error"].sel(problem="mnist-relu").isel(epoch=-1).values * 100


def _load_table1(path=None):
    import xarray as xr

    from .api import default_out

    p = Path(path) if path else default_out("adadelta-table1", False) / "adadelta-table1.nc"
    if not p.is_file():
        return None, p
    with xr.open_dataset(p) as d:
        return d.load(), p


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def insensitivity_markdown(res: dict, source: str, diverged: str) -> list[str]:
    t2 = res["table2"]
    lines = [f"Table 1 source: {source}. Diverged Table 1 runs: "
             + ("cells with a diverged seed left out (conservative)" if diverged == "drop"
                else f"counted as {CHANCE_ERROR:.0f}% error (chance)") + ".", "",
             "| table / column | cells | range of cell means [points] | SD of cell means | "
             "SD ratio vs Table 2 [95% bootstrap CI] | Fligner-Killeen p | Friedman p (within) |",
             "|---|---|---|---|---|---|---|",
             f"| Table 2 (ADADELTA rho x eps) | {t2['n_cells']} | {t2['range']:.2f} | "
             f"{t2['sd']:.3f} [{t2['sd_ci'][0]:.3f}, {t2['sd_ci'][1]:.3f}] | 1 | - | "
             f"{_fmt_p(t2['friedman'][1]) if 'friedman' in t2 else '-'} |"]
    for col, r in res.items():
        if col == "table2":
            continue
        if "sd" not in r:
            lines.append(f"| Table 1 {col} | {r['n_cells']} | - | - | {r.get('note', '')} | - | - |")
            continue
        dropped = f" ({r['n_dropped']} dropped)" if r["n_dropped"] else ""
        lines.append(
            f"| Table 1 {col} (lr 1e0..1e-4) | {r['n_cells']}{dropped} | "
            f"{r['range']:.2f} | {r['sd']:.3f} | {r['ratio']:.1f} [{r['ratio_ci'][0]:.1f}, "
            f"{r['ratio_ci'][1]:.1f}] | {_fmt_p(r['fligner'][1])} | "
            f"{_fmt_p(r['friedman'][1]) if 'friedman' in r else '-'} |")
    return lines


def insensitivity_verdict(res: dict) -> str:
    """Plain-language reading of :func:`insensitivity` (ratio CI above 1 = less sensitive)."""
    parts = []
    for col, r in res.items():
        if col == "table2" or "ratio_ci" not in r:
            continue
        lo, hi = r["ratio_ci"]
        if lo > 1:
            parts.append(f"{col}: Table 1's spread is larger (SD ratio {r['ratio']:.1f}, CI above 1)")
        elif hi < 1:
            parts.append(f"{col}: Table 1's spread is SMALLER than ADADELTA's (CI below 1)")
        else:
            parts.append(f"{col}: no clear difference (ratio CI {lo:.1f}-{hi:.1f} contains 1)")
    t2 = res["table2"]
    if "friedman" in t2:
        chi, p = t2["friedman"]
        lit = ("the hyperparameters DO alter ADADELTA's test error significantly"
               if p < 0.01 else "no significant effect of the hyperparameters")
        parts.append(f"within Table 2 (Friedman chi2 = {chi:.1f}, p = {_fmt_p(p)}): {lit} "
                     "(alpha = 0.01)")
    return "; ".join(parts) + "."


DESCRIPTION = (
    "ADADELTA Table 2 (Zeiler 2012, Sec. 4.2): MNIST, 784-500-300-10 ReLU network (as Table 1, "
    "per the brief; the paper places the two tables side by side), softmax cross-entropy, "
    "minibatch 100, 6 epochs, ADADELTA rho in {0.9, 0.95, 0.99} x eps in {1e-2, 1e-4, 1e-6, "
    "1e-8}, 10 seeds. Paper (single runs, %): eps 1e-2: 2.59 2.58 2.32; 1e-4: 2.05 1.99 2.28; "
    "1e-6: 1.90 1.83 2.05; 1e-8: 2.29 2.13 2.00 (columns rho 0.9, 0.95, 0.99). Verdict per "
    "cell: 'reproduced' when the paper's single run lies in our 95% prediction interval for "
    "one run. Insensitivity claim ('the two hyperparameters do not significantly alter "
    "performance', vs Table 1's learning rates): statistic = SD (and range) over the cells of "
    "the per-cell mean test error; ratio SD(Table 1 column) / SD(Table 2) with a 95% "
    "percentile bootstrap CI over seeds (2000 resamples, seeds paired across cells), a "
    "Fligner-Killeen test of the two sets of cell means, and a Friedman test (blocks = seeds) "
    "of any effect of the hyperparameters within Table 2. Table 1's diverged cells are "
    "either left out (conservative) or counted as 90% error (chance); both are reported. "
    "Same choices as adadelta-sec41 (pixels in [0,1], Glorot init, float32, no weight decay). "
    "Quick form: first 2000/1000 images, 2 epochs, 2 seeds, (rho, eps) = (0.95, 1e-2), "
    "(0.95, 1e-6), (0.99, 1e-6): a smoke test, not a result.")

STUDY = Study(
    name="adadelta-table2",
    title="ADADELTA Table 2: MNIST test error vs rho and eps (ReLU, 6 epochs)",
    paper="Zeiler (2012), ADADELTA: An Adaptive Learning Rate Method, Table 2 and Sec. 4.2",
    description=DESCRIPTION,
    trial=base.mlp_trial,
    problems={"mnist-relu": {"activation": "relu", "sizes": base.SIZES}},
    optimizers={"adadelta": {"rho": RHOS, "eps": EPSS}},
    seeds=tuple(range(10)),
    epochs=6,
    batch_size=100,
    params={"dtype": "float32"},
    quick={"seeds": (0, 1), "epochs": 2, "params": dict(base.QUICK_DATA),
           "optimizers": {"adadelta": [{"rho": 0.95, "eps": 1e-2}, {"rho": 0.95, "eps": 1e-6},
                                       {"rho": 0.99, "eps": 1e-6}]}},
    allowed=base.allowed,
    variables=base.VARIABLES,
    tables=(_table(),),
    curve_metric="test_error",
    checksums=base.mnist_checksums,
)


def _cell_index(ds, rho, eps):
    from .report import find_setting

    return find_setting(ds, {"optimizer": "adadelta", "rho": rho, "eps": eps})


def extra_report(ds, outdir, table1=None) -> list:
    """``adadelta-table2-paper.md`` (paper vs ours per cell, the insensitivity test) and
    ``adadelta-table2-sensitivity.png`` (cell means with 95% CIs, Table 2 vs Table 1).

    ``table1``: an ``adadelta-table1`` Dataset; by default loaded from
    ``data/results/adadelta-table1/adadelta-table1.nc`` when that exists.
    """
    from . import store

    outdir = Path(outdir)
    if table1 is None:
        table1, src = _load_table1()
        source = f"`{src}`" if table1 is not None else None
    else:
        source = "the Dataset given to extra_report"
    lines = [f"# {STUDY.title}: paper vs ours", "", ds.attrs.get("description", DESCRIPTION), "",
             base.PAPER_TABLE_HEAD]
    for eps, rl in zip(EPSS, ROW_LABELS):
        for rho, cl, pub in zip(RHOS, COL_LABELS, PAPER[eps]):
            i = _cell_index(ds, rho, eps)
            if i is None:
                lines.append(f"| {rl}, {cl} | {pub:.2f} | not in this run | | | |")
                continue
            v = base.final_errors(ds, "mnist-relu", i)
            lines.append(base.paper_row(f"{rl}, {cl}", v, pub))
    lines += ["", "## Is ADADELTA insensitive to its hyperparameters? (Sec. 4.2)", ""]
    t2 = table2_cells(ds)
    t2 = t2[np.all(np.isfinite(t2), axis=1)]
    figs = []
    if table1 is None:
        lines.append("Table 1 results (`adadelta-table1`) are not stored yet; run "
                     "`python -m studies run adadelta-table1` and re-run the report.")
        t1 = {}
    else:
        t1 = table1_columns(table1)
        if t1 and next(iter(t1.values())).shape[1] != t2.shape[1]:
            lines.append(f"Table 1 has {next(iter(t1.values())).shape[1]} seeds, Table 2 "
                         f"{t2.shape[1]}: the paired comparison needs the same seeds.")
            t1 = {}
    if t1 and t2.shape[0] >= 2 and t2.shape[1] >= 2:
        for mode in ("drop", "chance"):
            res = insensitivity(t2, t1, diverged=mode)
            lines += insensitivity_markdown(res, source, mode)
            lines += ["", "Reading: " + insensitivity_verdict(res), ""]
        lines.append("SD ratio > 1: the learning rate moves the expected test error of that "
                     "method more than rho and eps move ADADELTA's. The range of hyperparameter "
                     "values differs between the tables (Table 1: 4 decades of the learning "
                     "rate; Table 2: 6 decades of eps and rho 0.9-0.99), as in the paper.")
    if int(ds.attrs.get("quick", 0)):
        lines += ["", "**Quick form (data subset, 2 epochs, 2 seeds): not comparable with "
                  "the paper; statistics with 2 seeds are not meaningful.**"]
    lines += ["", "![sensitivity](adadelta-table2-sensitivity.png)"]
    md = store.atomic_write_bytes(("\n".join(lines) + "\n").encode(),
                                  outdir / "adadelta-table2-paper.md")
    figs.append(store.atomic_write_bytes(_sensitivity_png(ds, t1), outdir /
                                         "adadelta-table2-sensitivity.png"))
    return [md] + figs


def _sensitivity_png(ds, t1: dict) -> bytes:
    from .stats import summarize

    fig, canvas = base.new_figure(1, 1, w=7.5, h=4.2)
    ax = fig.axes[0]
    groups = []
    labels2 = []
    vals2 = []
    for eps, rl in zip(EPSS, ROW_LABELS):
        for rho, cl in zip(RHOS, COL_LABELS):
            i = _cell_index(ds, rho, eps)
            if i is not None:
                vals2.append(base.final_errors(ds, "mnist-relu", i))
                labels2.append(f"ρ={rho:g}, ε={eps:g} (paper {PAPER[eps][RHOS.index(rho)]:.2f})")
    groups.append(("ADADELTA (Table 2)", vals2, labels2))
    lr_labels = ["1e0", "1e-1", "1e-2", "1e-3", "1e-4"]
    for col, cells in t1.items():
        groups.append((f"{col} (Table 1)", list(cells), [f"lr {l}" for l in lr_labels]))
    x = 0
    ticks, tick_labels = [], []
    for gi, (name, vals, labs) in enumerate(groups):
        for v, lab in zip(vals, labs):
            v = np.asarray(v, dtype=float)
            ok = np.isfinite(v)
            if ok.sum() >= 2:
                s = summarize(v[ok])
                ax.errorbar([x], [float(s["mean"])], yerr=[[float(s["half_width"])]],
                            fmt="o", color=f"C{gi}", ms=4, capsize=2)
            elif ok.sum() == 1:
                ax.plot([x], v[ok], "o", color=f"C{gi}", ms=4)
            if not ok.all():
                ax.plot([x], [CHANCE_ERROR], "x", color=f"C{gi}")
            ticks.append(x)
            tick_labels.append(lab)
            x += 1
        ax.text(x - len(vals) / 2 - 0.5, 1.02, name, transform=ax.get_xaxis_transform(),
                ha="center", fontsize=7, color=f"C{gi}")
        x += 1
    ax.set_yscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels(tick_labels, rotation=90, fontsize=6)
    ax.set_ylabel("test error after the last epoch [%] (log); x = diverged seeds")
    fig.tight_layout()
    return base.png_bytes(canvas)
