"""Reports from a combined Dataset: Markdown tables and PNG figures (no re-run).

Tables follow the paper's layout (:class:`studies.spec.Table`). A cell shows our mean over
seeds +- the half-width of the 95% t confidence interval, in the table's unit, with the
paper's published value beside it (``paper: 2.26``). Cells tied with the best (see
:mod:`studies.stats`) are **bold**. A cell with diverged seeds shows ``diverged k/n`` (and
the mean of the other seeds, for information; such a cell is never best nor tied); failed
trials show ``failed k/n``, trials not run yet ``not run`` (``not run k/n, rest m ± h (j seeds)``
where the other seeds finished: their interval, as they are not a selection).

Figures (matplotlib, Agg canvas, no global backend change):

* ``<name>-curves.png``: learning curves of ``study.curve_metric`` per epoch, mean over
  seeds with the 95% t confidence band, for the best setting of each optimizer (lowest
  final mean among settings without diverged/failed seeds);
* ``<name>-scatter.png``: train vs test error at the last epoch for every setting (seed
  means), one colour per optimizer, diverged/failed settings left out: the sensitivity
  scatter of the vSGD paper's Fig. 3.

In a partial study both draw a setting whose other seeds are only not run yet from its
finished seeds (:func:`finished_seeds`; the legend of the curves says how many).
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import xarray as xr

from . import store
from .registry import study_module
from .spec import Study, Table
from .stats import DEFAULT_ALPHA, DEFAULT_TEST, min_pvalue, summarize, tie_with_best


def _fmt(x: float, digits: int = 2) -> str:
    if not np.isfinite(x):
        return "inf" if np.isinf(x) else "nan"
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 10 ** (-digits)):
        return f"{x:.{digits}e}"
    return f"{x:.{digits}f}"


def find_setting(ds: xr.Dataset, selector: dict) -> int | None:
    """Index along ``setting`` matching ``{"optimizer": name, hp: value, ...}``, or None."""
    mask = np.asarray(ds["optimizer"].values == selector["optimizer"])
    for hp, v in selector.items():
        if hp == "optimizer":
            continue
        if hp not in ds.coords:
            return None
        mask &= np.isclose(ds[hp].values.astype(float), float(v), rtol=1e-12, atol=0)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    if idx.size > 1:
        raise ValueError(f"table selector {selector} matches several settings: "
                         f"{list(ds['setting'].values[idx])}")
    return int(idx[0])


def default_table(ds: xr.Dataset, study: Study) -> Table:
    """Every setting x problem of ``study.curve_metric`` at the last epoch (studies that
    declare no table). An error *rate* (the variable's CF attributes: ``long_name`` ending
    in "error rate", ``units`` "1") is shown in percent, as the papers print it."""
    labels = [str(s) for s in ds["setting"].values]
    problems = [str(p) for p in ds["problem"].values]
    metric = study.curve_metric
    cells = {}
    for lab, opt, js in zip(labels, ds["optimizer"].values, ds["setting_json"].values):
        import json
        sel = {"optimizer": str(opt), **json.loads(str(js))}
        for p in problems:
            cells[(lab, p)] = {**sel, "problem": p}
    attrs = ds[metric].attrs if metric in ds.data_vars else {}
    rate = (str(attrs.get("long_name", "")).endswith("error rate")
            and str(attrs.get("units", "")) == "1")
    return Table(title=f"{study.title}: {metric} at the last epoch", rows=labels,
                 columns=problems, cells=cells, metric=metric, scale=100.0 if rate else 1.0,
                 unit="%" if rate else "")


def table_markdown(ds: xr.Dataset, table: Table, *, alpha: float = DEFAULT_ALPHA,
                   test: str = DEFAULT_TEST, correction: str | None = None) -> str:
    """One table as Markdown (our mean +- CI, paper's value beside, ties in bold)."""
    default_problem = table.problem or str(ds["problem"].values[0])
    entries, values, positions = [], [], []
    problems = {str(p) for p in ds["problem"].values}
    for (r, c), sel in table.cells.items():
        sel = dict(sel)
        problem = sel.pop("problem", default_problem)
        if problem not in problems:  # e.g. a quick form without this problem
            continue
        i = find_setting(ds, sel)
        if i is None:
            continue
        if table.metric in ds.data_vars:  # absent when no trial has finished yet
            da = ds[table.metric].sel(problem=problem).isel(setting=i)
            v = (da.isel(epoch=-1) if "epoch" in da.dims else da).values.astype(float)
            v = v * table.scale
        else:
            v = np.full(ds.sizes["seed"], np.nan)
        st = ds["status"].sel(problem=problem).isel(setting=i).values.astype(str)
        entries.append((r, c))
        values.append(v)
        positions.append(st)
    tie = tie_with_best(np.array(values).reshape(len(values), -1), alpha=alpha, test=test,
                        correction=correction, lower_is_better=table.lower_is_better) \
        if values else None
    text: dict = {}
    counted = False     # a cell gives the interval of its finished seeds and their count
    for j, ((r, c), v, st) in enumerate(zip(entries, values, positions)):
        n = st.size
        n_div, n_fail, n_miss = (int((st == s).sum()) for s in ("diverged", "failed", "missing"))
        ok = np.isfinite(v) & (st == "ok")
        if int((st == "excluded").sum()) == n:
            cell = "not in this problem's grid"
        elif n_miss == n:
            cell = "not run"
        elif n_div or n_fail or n_miss or not np.all(np.isfinite(v)):
            parts = []
            if n_div:
                parts.append(f"diverged {n_div}/{n}")
            if n_fail:
                parts.append(f"failed {n_fail}/{n}")
            if n_miss:
                parts.append(f"not run {n_miss}/{n}")
            if not parts:
                parts.append(f"non-finite {int((~np.isfinite(v)).sum())}/{n}")
            if ok.sum() >= 1:
                s = summarize(v[ok])
                rest = f"rest {_fmt(float(s['mean']))}"
                if not (n_div or n_fail) and ok.sum() >= 2:
                    # only seeds not run yet: the finished ones are an unselected sample,
                    # so their interval is meaningful (not so beside diverged seeds)
                    rest += f" ± {_fmt(float(s['half_width']))} ({int(ok.sum())} seeds)"
                    counted = True
                parts.append(rest)
            cell = ", ".join(parts)
        else:
            s = summarize(v)
            cell = f"{_fmt(float(s['mean']))} ± {_fmt(float(s['half_width']))}"
            if tie is not None and tie.tied[j]:
                cell = f"**{cell}**"
        pub = table.published.get((r, c))
        if pub is not None:
            cell += f" (paper: {_fmt(pub)})"
        text[(r, c)] = cell
    unit = f" [{table.unit}]" if table.unit else ""
    lines = [f"### {table.title}{unit}", "",
             "| | " + " | ".join(table.columns) + " |",
             "|---|" + "---|" * len(table.columns)]
    for r in table.rows:
        row = [text.get((r, c), "" if (r, c) not in table.cells else "not in this run")
               for c in table.columns]
        lines.append(f"| {r} | " + " | ".join(row) + " |")
    n_seeds = ds.sizes.get("seed", 0)
    lines += ["", f"Mean ± half-width of the 95% t confidence interval over {n_seeds} seed(s)"
              + (" (over the finished seeds where a cell says how many)" if counted else "")
              + f", {table.metric} after the last epoch. **Bold**: not significantly different from "
              f"the best cell (paired {test} test over seeds, alpha = {alpha}, correction: "
              f"{correction or 'none'}); cells with diverged or failed seeds are never best or "
              "tied."]
    floor = min_pvalue(test, n_seeds)
    if floor >= alpha:
        lines.append(f"With {n_seeds} seed(s) the {test} test cannot reach p < {alpha} (its "
                     f"smallest two-sided p-value is {floor:.3g}), so every finished cell is "
                     "bold: here bold says nothing, compare the intervals.")
    if table.published_source:
        lines.append(f"Paper values: {table.published_source}.")
    return "\n".join(lines) + "\n"


def report_markdown(ds: xr.Dataset, study: Study, *, alpha: float = DEFAULT_ALPHA,
                    test: str = DEFAULT_TEST, correction: str | None = None) -> str:
    tables = list(study.tables) or [default_table(ds, study)]
    status = ds["status"].values.astype(str)
    counts = {s: int((status == s).sum()) for s in ("ok", "diverged", "failed", "missing")}
    n_trials = status.size - int((status == "excluded").sum())   # cells outside a problem's grid
    head = [f"# {ds.attrs.get('title', study.title)}", ""]
    if study.paper:
        head += [f"Reproduces: {study.paper}", ""]
    head += [f"Trials: {n_trials} ({', '.join(f'{k} {v}' for k, v in counts.items())}). "
             f"adaptlr {ds.attrs.get('adaptlr_version', '?')}, git "
             f"{str(ds.attrs.get('git_commit', '?'))[:12]}"
             f"{' (dirty)' if ds.attrs.get('git_dirty', 0) else ''}, "
             f"quick={bool(ds.attrs.get('quick', 0))}.", ""]
    body = [table_markdown(ds, t, alpha=alpha, test=test, correction=correction) for t in tables]
    return "\n".join(head) + "\n" + "\n".join(body)


def _canvas(nrows: int, ncols: int, w: float = 5.0, h: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(w * ncols, 7.5), h * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(fig, text: str) -> None:
    import textwrap

    width = int(fig.get_figwidth() * 13)  # characters per line at fontsize 9
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=9)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def curves_png(ds: xr.Dataset, study: Study) -> bytes:
    """Learning curves (mean and 95% CI band) of the best setting of each optimizer."""
    metric = study.curve_metric
    if metric not in ds or "epoch" not in ds[metric].dims:
        return None  # e.g. per-step results of the quadratic studies: drawn by extra_report
    problems = [str(p) for p in ds["problem"].values]
    fig = _canvas(1, len(problems))
    axes = fig.subplots(1, len(problems), squeeze=False)[0]
    partial = False
    for ax, p in zip(axes, problems):
        da = ds[metric].sel(problem=p)
        final = da.isel(epoch=-1).transpose("setting", "seed").values
        use = finished_seeds(ds, p, final)
        optims = list(dict.fromkeys(str(o) for o in ds["optimizer"].values))
        for opt in optims:
            idx = np.flatnonzero(ds["optimizer"].values == opt)
            means = np.array([final[i][use[i]].mean() if use[i] is not None else np.inf
                              for i in idx])
            if not np.isfinite(means).any():
                continue
            i = int(idx[int(np.argmin(means))])
            y = da.isel(setting=i).transpose("seed", "epoch").values[use[i]]
            s = summarize(y, axis=0)
            x = ds["epoch"].values
            label = str(ds["setting"].values[i])
            if y.shape[0] < final.shape[1]:
                partial = True
                label += f" ({y.shape[0]} of {final.shape[1]} seeds)"
            line, = ax.plot(x, s["mean"], marker="o", ms=3, label=label)
            if y.shape[0] > 1:
                ax.fill_between(x, s["ci_low"], s["ci_high"], color=line.get_color(), alpha=0.2)
        ax.set_title(p)
        ax.set_xlabel("epoch")
        units = ds[metric].attrs.get("units", "")
        ax.set_ylabel(f"{ds[metric].attrs.get('long_name', metric)}"
                      + (f" [{units}]" if units not in ("", "1") else ""))
        finite = da.values[np.isfinite(da.values)]
        if finite.size and finite.min() > 0:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:   # a problem with nothing stored yet
            ax.legend(fontsize=7)
    _title(fig, f"{study.title}: best setting per optimizer, mean and 95% CI over "
                f"{ds.sizes['seed']} seeds"
                + (" (over the finished ones where the legend says so)" if partial else ""))
    return _png(fig)


def finished_seeds(ds: xr.Dataset, problem: str, final) -> list:
    """Per setting of ``problem``: the seeds to average (a boolean mask over the seeds), or
    None for a setting not to draw. A setting is drawn from its finished seeds when every
    other seed is only not run yet (an unselected sample of the seeds); one with a diverged
    or failed seed, or with a non-finite finished value, is not drawn; nor is one with
    nothing finished. ``final``: the metric at the last epoch, (setting, seed)."""
    st = ds["status"].sel(problem=problem).transpose("setting", "seed").values.astype(str)
    out = []
    for row, vals in zip(st, final):
        ok = row == "ok"
        bad = ~np.isin(row, ("ok", "missing")) | (ok & ~np.isfinite(vals))
        out.append(ok if ok.any() and not bad.any() else None)
    return out


def scatter_png(ds: xr.Dataset, study: Study) -> bytes:
    """Train vs test metric at the last epoch for every setting (seed means)."""
    xm, ym = study.scatter_metrics
    problems = [str(p) for p in ds["problem"].values]
    fig = _canvas(1, len(problems), 4.4, 4.0)
    axes = fig.subplots(1, len(problems), squeeze=False)[0]
    partial = False
    for ax, p in zip(axes, problems):
        if xm not in ds or ym not in ds:
            ax.text(0.5, 0.5, f"{xm}/{ym} not recorded", ha="center", transform=ax.transAxes)
            continue
        xa, ya = ds[xm].sel(problem=p), ds[ym].sel(problem=p)
        xa = (xa.isel(epoch=-1) if "epoch" in xa.dims else xa).transpose("setting", "seed")
        ya = (ya.isel(epoch=-1) if "epoch" in ya.dims else ya).transpose("setting", "seed")
        use = [a if a is not None and b is not None else None
               for a, b in zip(finished_seeds(ds, p, xa.values), finished_seeds(ds, p, ya.values))]
        partial |= any(u is not None and not u.all() for u in use)
        x = np.array([xa.values[i][u].mean() if u is not None else np.nan
                      for i, u in enumerate(use)])
        y = np.array([ya.values[i][u].mean() if u is not None else np.nan
                      for i, u in enumerate(use)])
        for opt in dict.fromkeys(str(o) for o in ds["optimizer"].values):
            m = (ds["optimizer"].values == opt) & np.isfinite(x) & np.isfinite(y)
            if m.any():
                ax.scatter(x[m], y[m], s=18, label=opt, alpha=0.8)
        both = np.r_[x[np.isfinite(x) & np.isfinite(y)], y[np.isfinite(x) & np.isfinite(y)]]
        if both.size:
            lo, hi = float(both.min()), float(both.max())
            if lo > 0:
                ax.set_xscale("log")
                ax.set_yscale("log")
            if hi > lo and math.isfinite(hi):
                ax.plot([lo, hi], [lo, hi], color="grey", lw=0.7, ls="--", label="train = test")
        ax.set_xlabel(f"{xm} (last epoch)")
        ax.set_ylabel(f"{ym} (last epoch)")
        ax.set_title(p)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:   # a problem with nothing stored yet
            ax.legend(fontsize=7)
    _title(fig, f"{study.title}: sensitivity across settings (seed means"
                + ("; of the finished seeds where others are not run yet)" if partial else ")"))
    return _png(fig)


def write_report(ds: xr.Dataset, study: Study, out: Path, *, alpha: float = DEFAULT_ALPHA,
                 test: str = DEFAULT_TEST, correction: str | None = None,
                 echo: bool = False) -> tuple[Path, list[Path]]:
    """Write ``<name>.md``, ``<name>-curves.png`` and ``<name>-scatter.png`` into ``out``.

    A study module may replace the generic table with its own ``report_markdown(ds)``
    and switch the generic figures off with ``GENERIC_FIGURES = False`` (the performance
    study: its trials are benchmarks, not seeds of a learning curve)."""
    out = Path(out)
    mod = study_module(study)
    custom = getattr(mod, "report_markdown", None)
    md = (custom(ds) if callable(custom) else
          report_markdown(ds, study, alpha=alpha, test=test, correction=correction))
    md_path = store.atomic_write_bytes(md.encode(), out / f"{study.name}.md")
    if echo:
        print(md)
    figs = []
    if getattr(mod, "GENERIC_FIGURES", True):
        curves = curves_png(ds, study)
        if curves is not None:
            figs.append(store.atomic_write_bytes(curves, out / f"{study.name}-curves.png"))
        figs.append(store.atomic_write_bytes(scatter_png(ds, study), out / f"{study.name}-scatter.png"))
    figs += extra_outputs(ds, study, out)
    return md_path, figs


#: suffix of a study's companion module holding report-only code (outside its trial keys)
REPORT_SUFFIX = "_report"


def companion_module(study: Study):
    """``<study module>_report`` beside the study's module, if it exists, else None.

    Analyses that read a study's stored results and never run inside a trial (explanations,
    claim tests added after the trials were computed) can live there: the study module does
    not import it, so it is not part of the study's trial keys
    (:func:`studies.expand.source_hash`), and improving an analysis keeps hours of stored
    trials usable. It may define ``extra_report(ds, outdir)`` like the study module.
    """
    import importlib

    mod = study_module(study)
    if mod is None:
        return None
    name = mod.__name__ + REPORT_SUFFIX
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise


def extra_outputs(ds: xr.Dataset, study: Study, out: Path) -> list[Path]:
    """Call the ``extra_report(ds, outdir)`` hooks of the study module and of its companion
    report module (:func:`companion_module`), where they exist.

    Study-specific figures and tables (trajectories, learning-rate traces, claim tests)
    live with the study. A failing hook is reported on stderr and does not lose the
    generic report written before it, nor the outputs of the other hook.
    """
    import sys

    paths = []
    for where in ("study module", "companion report module"):
        try:
            mod = study_module(study) if where == "study module" else companion_module(study)
        except Exception as e:  # noqa: BLE001 - a broken companion must not lose the report
            print(f"warning: {where} of study {study.name!r} could not be imported: "
                  f"{type(e).__name__}: {e}", file=sys.stderr)
            continue
        hook = getattr(mod, "extra_report", None)
        if hook is None:
            continue
        try:
            paths += [Path(p) for p in (hook(ds, Path(out)) or [])]
        except Exception as e:  # noqa: BLE001 - the generic report is already written
            print(f"warning: extra report ({where}) of study {study.name!r} failed: "
                  f"{type(e).__name__}: {e}", file=sys.stderr)
    return paths
