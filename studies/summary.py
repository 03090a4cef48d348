"""The reproduction report: every study's stored results, the papers' numbers beside ours.

``python -m studies summary`` writes ``data/results/REPORT.md`` from what is stored under
``data/results/<study>/`` (nothing is re-run). For every study it says how complete the
stored results are (trials of the full form stored / total, seeds), then, for every table
cell with a published value: the paper's value, ours (mean and 95% t confidence interval
over the seeds stored), the difference, and a verdict; then each study's own report
(tables, claim tests) and figures.

Verdict rule (stated in the report): a published value is *reproduced* when it lies inside
our 95% prediction interval for the mean of as many new runs as the paper averaged, ``m``,
``mean +- t(0.975, n-1) * sd * sqrt(1/m + 1/n)`` over our ``n`` seeds; otherwise it
*differs* (higher/lower). ADADELTA's tables are single runs (``m = 1``: the interval for one
new run); vSGD's Tables 2-3 are "averaged over ten random initializations" (``m = 10``).
A study's companion report module (:func:`studies.report.companion_module`) states its
paper's ``m`` as ``PUBLISHED_RUNS`` (default 1); the interval assumes the paper's runs
vary as ours do (the papers give no spread). Cells with diverged seeds are reported as
such; with fewer than 2 finished seeds there is no interval and the verdict is
*undetermined*.

Every verdict is a test at the 5% level (:func:`prediction_p` gives its p-value, shown per
cell), and the report makes dozens of them, so a few *differs* are expected by chance even
if every published value were reproduced. :func:`family_section` says how many, and which
differences survive Holm's step-down correction for the number of cells (family-wise 5%).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats as sps

from . import checkpoint
from .api import repo_root
from .claims import CLAIM_STUDIES, claims_section
from .expand import code_version, expand, keyed
from .registry import all_studies
from .stats import holm
from .timing import expected_seconds
from .report import _fmt, find_setting
from .store import atomic_write_bytes, finished_keys, stored_wall_times

#: reading order of the report (studies not listed follow alphabetically)
ORDER = ("adadelta-sec41", "adadelta-table1", "adadelta-table2", "adadelta-fig1",
         "adadelta-fig2", "adadelta-async", "vsgd-quadratic-1d", "vsgd-quadratic-2d",
         "vsgd-nonstationary", "vsgd-tables", "vsgd-tables-cifar", "vsgd-sensitivity",
         "vsgd-sensitivity-cifar",
         "vsgd-slowstart-lr", "vsgd-slowstart-critical", "vsgd-slowstart-sensitivity",
         "vsgd-longrun", "performance")


def _check_runs(paper_runs) -> None:
    if isinstance(paper_runs, bool) or not isinstance(paper_runs, (int, np.integer)) \
            or paper_runs < 1:
        raise ValueError(f"paper_runs={paper_runs!r}: allowed: an int >= 1 (how many runs "
                         "the published value averages)")


def prediction_p(values: np.ndarray, paper: float, paper_runs: int = 1) -> float:
    """Two-sided p-value of the verdict's test: ``t = (paper - mean) / (sd sqrt(1/m + 1/n))``
    with ``n - 1`` degrees of freedom over the finite ``values`` (``m = paper_runs``), so
    ``p < 0.05`` exactly when :func:`prediction_verdict` says *differs*. NaN with fewer than
    2 finite values; with no spread at all (sd = 0) 1.0 when the paper's value equals our
    mean, else 0.0."""
    _check_runs(paper_runs)
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = v.size
    if n < 2:
        return float("nan")
    m, sd = float(v.mean()), float(v.std(ddof=1))
    if sd == 0.0:
        return 1.0 if paper == m else 0.0
    t = (paper - m) / (sd * np.sqrt(1 / paper_runs + 1 / n))
    return float(2 * sps.t.sf(abs(t), n - 1))


def prediction_verdict(values: np.ndarray, paper: float,
                       paper_runs: int = 1) -> tuple[str, float, float, float]:
    """``(verdict, mean, ci_half_width, pi_half_width)`` of finite ``values`` vs ``paper``,
    the mean of ``paper_runs`` published runs (module docstring)."""
    _check_runs(paper_runs)
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return "not run", np.nan, np.nan, np.nan
    m = float(v.mean())
    if n < 2:
        return "undetermined (1 seed)", m, np.nan, np.nan
    sd = float(v.std(ddof=1))
    t = float(sps.t.ppf(0.975, n - 1))
    ci, pi = t * sd / np.sqrt(n), t * sd * np.sqrt(1 / paper_runs + 1 / n)
    if abs(paper - m) <= pi:
        return "reproduced", m, ci, pi
    return ("differs (ours higher)" if m > paper else "differs (ours lower)"), m, ci, pi


def completeness(st, out: Path, trials=None) -> tuple[int, int, list[int]]:
    """(stored trials of the full form, total trials of the full form, seeds with any stored);
    ``trials``: ``keyed(expand(st), code_version(st))`` when the caller has it already."""
    trials = keyed(expand(st), code_version(st)) if trials is None else trials
    done = finished_keys(out) if (out / "trials").is_dir() else set()
    stored = [s for k, s in trials if k in done]
    return len(stored), len(trials), sorted({int(s["seed"]) for s in stored})


def carried_text(out: Path, keys: set) -> str:
    """A sentence on the study's trials that the current code reads through the carry-over
    ledger (:mod:`studies.rekey`), by how each was carried; empty when none is."""
    from .store import read_carried

    if not (out / "trials").is_dir():
        return ""
    led = read_carried(out)["trials"]
    by: dict[str, int] = {}
    for k, e in led.items():
        if k in keys:
            how = e.get("by") or "source proof"
            how = "sampled recomputation" if how.startswith("sampled recomputation") else how
            by[how] = by.get(how, 0) + 1
    if not by:
        return ""
    what = {"source proof": "by the proof that the code they depend on is unchanged",
            "recomputation": "by a recomputation that came out bit for bit the same",
            "sampled recomputation": "because the cheapest trial of their stratum (same "
                                     "spec but seed and hyperparameter values, status and "
                                     "machine) was recomputed bit for bit the same (evidence, "
                                     "not a per-trial proof)"}
    parts = [f"{n} {what.get(h, h)}" for h, n in sorted(by.items(), key=lambda kv: -kv[1])]
    return (f"Carried over from earlier code (`python -m studies rekey`; each trial's "
            f"`code_version_computed` and `carried_by` say which): {'; '.join(parts)}.")


def dataset_is_current(ds, keys: set, code: dict) -> bool:
    """Whether a combined Dataset was made from the trials the current code reads: every
    trial key it names (``trial_key``; also those of its missing cells) is one of ``keys``,
    the study's current keys, which a carry-over (``rekey``, the ledger) keeps for stored
    trials of an older code version. A Dataset without ``trial_key`` is judged by its
    source hash."""
    if "trial_key" not in ds:
        return ds.attrs.get("source_sha256") == code.get("source_sha256")
    named = {str(k) for k in np.asarray(ds["trial_key"].values).ravel() if str(k)}
    return bool(named) and named <= keys


def environment_text(ds: xr.Dataset) -> str:
    """Where a stored Dataset's finished trials were computed, by OpenBLAS kernel set (with
    the Numba target CPUs seen): ``""`` when the Dataset records no environments. The kernel
    set and the thread counts decide a trial's last bits (DEVELOPERS.md), so this says which
    machines' numbers a table mixes and with which ``OPENBLAS_CORETYPE`` a trial reruns bit
    for bit."""
    from .rekey import environment_kernels

    if "environment_id" not in ds or "environments" not in ds.attrs:
        return ""
    try:
        envs = json.loads(str(ds.attrs["environments"]))
    except ValueError:
        return ""
    ids = np.asarray(ds["environment_id"].values).ravel()
    if "status" in ds:
        done = np.isin(np.asarray(ds["status"].values).astype(str).ravel(),
                       ("ok", "diverged", "failed"))
    else:
        done = ids >= 0
    counts: dict[str, int] = {}
    cpus: dict[str, set] = {}
    for i in ids[done]:
        env = envs[int(i)] if 0 <= int(i) < len(envs) and isinstance(envs[int(i)], dict) else None
        if env is None:
            kind = "not recorded"
        else:
            kind = "/".join(sorted(environment_kernels(env) or ())) or "unknown"
            cpus.setdefault(kind, set()).add(str(env.get("cpu_target", "?")))
        counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return ""
    parts = [f"{kind}: {n}" + (f" ({', '.join(sorted(cpus[kind]))})" if kind in cpus else "")
             for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ("Computed with OpenBLAS's kernel sets (trials; Numba's target CPUs): "
            + "; ".join(parts) + ". The kernel set and the thread counts decide a trial's last "
            "bits: `OPENBLAS_CORETYPE` set to a trial's kernel set, on a CPU that has their "
            "instructions (SkylakeX: AVX-512), reruns it bit for bit.")


def _relative_paths(text: str) -> str:
    """Paths under the repository written by a study's own report, made repo-relative (the
    report is read on other machines, where this checkout's absolute path means nothing)."""
    return text.replace(f"{repo_root().resolve()}/", "")


def in_progress(st, out: Path, trials=None) -> dict[str, tuple[int | None, int | None]]:
    """A resumable study's trials (:mod:`studies.checkpoint`) that are not stored but have
    a checkpoint in ``OUT/checkpoints``: ``{key: (epochs done, epochs of the trial)}``,
    either None where unknown. Empty for a study that is not resumable. Checkpoints are not
    committed, so this describes the host whose ``OUT`` it reads."""
    if not getattr(st, "resumable", False):
        return {}
    trials = keyed(expand(st), code_version(st)) if trials is None else trials
    done = finished_keys(out) if (out / "trials").is_dir() else set()
    todo = {k: s for k, s in trials if k not in done}
    got = checkpoint.progress(out / checkpoint.FOLDER, todo)
    return {k: (e, todo[k].get("epochs")) for k, e in got.items()}


def in_progress_text(begun: dict) -> str:
    """``"2 in progress, checkpointed after epochs 12 and 14 of 100"`` for
    :func:`in_progress`'s result; empty when it is."""
    if not begun:
        return ""
    total = {E for _, E in begun.values()}
    done = sorted((e for e, _ in begun.values() if e is not None))
    unknown = sum(e is None for e, _ in begun.values())
    parts = []
    if done:
        of = f" of {total.pop()}" if len(total) == 1 and None not in total else ""
        if len(set(done)) == 1:
            each = " each" if len(done) > 1 else ""
            parts.append(f"checkpointed after epoch {done[0]}{of}{each}")
        else:
            es = [str(e) for e in done]
            es = ", ".join(es[:-1]) + " and " + es[-1]
            parts.append(f"checkpointed after epochs {es}{of}")
    if unknown:
        parts.append(f"{unknown} at an epoch the checkpoint does not say")
    return f"{len(begun)} in progress, " + "; ".join(parts)


def remaining_estimate(st, out: Path, trials=None, begun: dict | None = None,
                       paces: dict | None = None) -> tuple[float, int, dict, int, int]:
    """``(hours, unknown, by_data, scaled, paced)``: core-hours the missing trials of the
    full form would take, each at its :func:`studies.timing.expected_seconds` (measured,
    else scaled from another problem, else from the other optimizers of the problem;
    ``scaled`` says how many trials the rough scaled figure covers); how many missing trials
    have no reference at all, and those per data set (``problem_params["dataset"]``, where a
    problem names one: CIFAR-10 trials cannot run where the data is absent). ``begun``
    (:func:`in_progress`): a checkpointed trial counts for the epochs it has left.
    ``paces`` (:func:`studies.checkpoint.paces`, seconds per epoch of begun trials): where
    no stored trial of a problem and optimizer times its trials (none, or only scaled from
    another problem or taken from other methods), the median pace of its begun trials
    times each trial's epochs does; ``paced`` counts the trials so timed."""
    trials = keyed(expand(st), code_version(st)) if trials is None else trials
    done = finished_keys(out) if (out / "trials").is_dir() else set()
    expected = expected_seconds(trials, stored_wall_times(out, trials, done))
    by_pair: dict = {}
    for k, s in trials:
        if k in (paces or {}) and k not in done:
            by_pair.setdefault((s["problem"], s["optimizer"]), []).append(paces[k])
    hours, unknown, scaled, paced, by_data = 0.0, 0, 0, 0, {}
    for k, s in trials:
        if k in done:
            continue
        pair = (s["problem"], s["optimizer"])
        sec, how = expected[pair]
        if how != "timed" and pair in by_pair and s.get("epochs"):
            sec, how = float(np.median(by_pair[pair])) * s["epochs"], "paced"
            paced += 1
        if sec is not None:
            e, E = (begun or {}).get(k, (None, None))
            if e is not None and E:
                sec *= max(0.0, 1.0 - e / E)
            hours += sec / 3600.0
            scaled += how == "scaled"
            continue
        unknown += 1
        data = (s.get("problem_params") or {}).get("dataset")
        if data:
            by_data[data] = by_data.get(data, 0) + 1
    return hours, unknown, by_data, scaled, paced


#: data set names as the report writes them
DATA_NAMES = {"cifar10": "CIFAR-10", "mnist": "MNIST", "xor": "XOR"}


def _remaining_text(hours: float, unknown: int, missing: int, by_data: dict | None = None,
                    scaled: int = 0, paced: int = 0) -> str:
    if missing == 0:
        return "—"
    parts = []
    if missing > unknown:
        how = []
        if scaled:
            how.append(f"{scaled} trials scaled from another problem by the time ratio of "
                       "the methods that ran both, else by parameters x samples")
        if paced:
            how.append(f"{paced} trials timed by the seconds per epoch in the checkpoints "
                       "of begun trials of their problem and method")
        parts.append((f"≈ {hours:.1f} core-h" if hours >= 0.05 else "< 0.1 core-h")
                     + (f" ({'; '.join(how)})" if how else ""))
    if unknown:
        per = ", ".join(f"{DATA_NAMES.get(d, d)}: {n}" for d, n in sorted((by_data or {}).items()))
        parts.append(f"{unknown} trials without a timed reference" + (f" ({per})" if per else ""))
    return "; ".join(parts)


def published_runs(st) -> int:
    """How many runs the paper averaged for ``st``'s published values: ``PUBLISHED_RUNS`` of
    its companion report module, else 1 (a single run)."""
    from .report import companion_module

    return getattr(companion_module(st), "PUBLISHED_RUNS", 1)   # checked by prediction_verdict


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def cell_rows(ds: xr.Dataset, st, collect: list | None = None) -> list[str]:
    """Markdown rows: table, cell, paper, ours (mean ± CI, n), difference, the verdict's
    interval (± the half-width of the prediction interval: the smallest difference the
    verdict can call *differs*), p (of :func:`prediction_p`), verdict. ``collect``: a list that receives ``(study, cell, p,
    verdict)`` for every cell with a p-value (for :func:`family_section`)."""
    rows = []
    runs = published_runs(st)
    for table in st.tables:
        default_problem = table.problem or str(ds["problem"].values[0])
        for (r, c), sel in table.cells.items():
            pub = table.published.get((r, c))
            if pub is None:
                continue
            sel = dict(sel)
            problem = sel.pop("problem", default_problem)
            i = find_setting(ds, sel) if problem in ds["problem"].values else None
            head = table.title.split(":")[0]
            # one-row tables titled by their row ("M0: test error ...") keep the full title,
            # so that a training and a test table of one problem stay distinguishable
            where = f"{table.title}: {c}" if head == str(r) else f"{head}: {r} / {c}"
            if i is None or table.metric not in ds.data_vars:
                rows.append(f"| {where} | {_fmt(pub)} | not in the stored results | | | | not run |")
                continue
            da = ds[table.metric].sel(problem=problem).isel(setting=i)
            v = (da.isel(epoch=-1) if "epoch" in da.dims else da).values.astype(float) * table.scale
            status = ds["status"].sel(problem=problem).isel(setting=i).values.astype(str)
            n_div = int((status == "diverged").sum())
            ok = (status == "ok") & np.isfinite(v)
            verdict, m, ci, pi = prediction_verdict(v[ok], pub, runs)
            p = prediction_p(v[ok], pub, runs)
            if collect is not None and np.isfinite(p):
                collect.append((st.name, where, p, verdict))
            if n_div:
                verdict = f"diverged {n_div}/{status.size}" + (f"; rest {verdict}" if ok.any() else "")
            ours = "—" if not np.isfinite(m) else (
                f"{_fmt(m)} ± {_fmt(ci)} (n={int(ok.sum())})" if np.isfinite(ci)
                else f"{_fmt(m)} (n={int(ok.sum())})")
            diff = _fmt(m - pub) if np.isfinite(m) else ""
            band = f"± {_fmt(pi)}" if np.isfinite(pi) else ""
            rows.append(f"| {where} | {_fmt(pub)} | {ours} | {diff} | {band} | {_p_text(p)} | "
                        f"{verdict} |")
    return rows


def family_section(records: list, alpha: float = 0.05) -> list[str]:
    """Markdown: how many of the report's verdicts say *differs*, against how many would by
    chance alone if every published value were reproduced, and which survive Holm's
    correction for the number of cells. ``records``: ``(study, cell, p, verdict)`` as
    :func:`cell_rows` collects them."""
    if not records:
        return []
    p = np.array([r[2] for r in records], float)
    n, d = p.size, int((p < alpha).sum())
    adjusted = holm(p)
    kept = adjusted < alpha
    tail = float(sps.binom.sf(d - 1, n, alpha)) if d else 1.0
    out = ["## Verdicts across the report", "",
           f"Each verdict above is a test at the {alpha:.0%} level, and the report makes {n} "
           f"of them (cells with at least two finished seeds). {d} say *differs*. If every "
           f"published value were reproduced, about {alpha * n:.1f} would say so by chance "
           f"alone (if the cells were independent, the chance of {d} or more would be "
           f"{_p_text(tail) or '1'}; they are not quite: the cells of one study share seeds "
           "and data). Holm's step-down correction for the "
           f"{n} tests keeps {int(kept.sum())} of the {d} as differences at a family-wise "
           f"{alpha:.0%} level. A cell's p is that of its verdict's test (the paper's value "
           "against our prediction interval; p < 0.05 exactly when it says *differs*).", ""]
    if d:
        out += ["| study | cell | p | Holm-adjusted p | after the correction |",
                "|---|---|---|---|---|"]
        for i in np.argsort(p, kind="stable"):
            if p[i] < alpha:
                st, cell, _, verdict = records[i]
                out.append(f"| [{st}](#{st}) | {cell} | {_p_text(p[i])} | {_p_text(adjusted[i])} | "
                           f"{verdict if kept[i] else 'not significant after the correction'} |")
        out.append("")
    return out


def older_label(ds: xr.Dataset) -> tuple[str, list[int]]:
    """How the completeness table labels a stored Dataset an earlier code version made (its
    code, its trials by status, its seeds), and the seeds it holds."""
    st_vals = ds["status"].values.astype(str).ravel()
    label = (f"stored Dataset from code {str(ds.attrs.get('git_commit', '?'))[:10]} "
             f"(source {str(ds.attrs.get('source_sha256', '?'))[:10]}): "
             f"{int((st_vals == 'ok').sum())} ok, "
             f"{int((st_vals == 'diverged').sum())} diverged of {st_vals.size} trials, "
             f"{ds.sizes.get('seed', 0)} seeds")
    return label, [int(x) for x in ds["seed"].values]


def older_text(name: str, older: str, stored: int, total: int) -> str:
    """The note of a study whose stored Dataset an earlier code version made (``older`` says
    which): what ``run`` would recompute, all of it or the trials of the full form (``total``)
    not stored under the current keys (``stored`` are: computed or carried by ``rekey``)."""
    redo = ("it" if stored == 0 else
            f"the {total - stored} of its {total} trials not stored under the current keys "
            f"({stored} are, computed or carried over)")
    return (f"The {older}. The code has changed since (the trial keys differ), so "
            f"`python -m studies run {name}` would recompute {redo} with the current code; "
            "the numbers below are those of the stored Dataset, whose provenance attributes "
            "name the exact commit.")


def build(results_dir: Path | None = None) -> Path:
    """Write ``REPORT.md`` into ``results_dir`` (default ``data/results/``); return its path."""
    base = Path(results_dir) if results_dir else repo_root() / "data" / "results"
    studies = {n: s for n, s in all_studies().items() if not s.internal}
    names = [n for n in ORDER if n in studies] + sorted(set(studies) - set(ORDER))
    lines = [
        "# adaptlr reproduction report",
        "",
        "Generated by `python -m studies summary` from the results stored under "
        "`data/results/` (nothing is re-run). Each study's Dataset opens with "
        "`adaptlr.load_results(NAME)` or plain `xarray.open_dataset`.",
        "",
        "**Verdicts.** A published value is *reproduced* when it lies in our 95% prediction "
        "interval for the mean of as many new runs as the paper averaged, m (mean ± "
        "t·sd·√(1/m+1/n) over our n seeds stored); otherwise it *differs*. ADADELTA's tables "
        "are single runs (m = 1); vSGD's Tables 2-3 are averages over ten initialisations "
        "(m = 10; each study's section says its m). The interval assumes the paper's runs "
        "vary as ours do: the papers give no spread. Ours: mean ± half-width of the 95% t confidence "
        "interval of the mean. Difference = ours − paper. Nothing was tuned toward a paper's "
        "number; diverged runs are reported as diverged.",
        "",
        "## Completeness",
        "",
        "| study | reproduces | stored trials (full form) | seeds stored | left to run |",
        "|---|---|---|---|---|",
    ]
    sections = []
    family: list = []
    claim_data: dict = {}  # the Datasets the central claims are tested on
    for name in names:
        st = studies[name]
        current = code_version(st)
        trials = keyed(expand(st), current)  # once per study: hashing reads every source file
        out = base / name
        stored, total, seeds = completeness(st, out, trials)
        state = ("complete" if stored == total else
                 "not run" if stored == 0 else "partial")
        nc = out / f"{name}.nc"
        ds = None
        if nc.is_file():
            with xr.open_dataset(nc) as opened:  # once per study: the sections below share it
                ds = opened.load()
        older = ""
        if ds is not None and stored < total and not dataset_is_current(
                ds, {k for k, _ in trials}, current):
            # a Dataset made by an earlier code version: still a valid, labelled result
            older, seeds = older_label(ds)
            state = f"{state}; {older}"
        seed_txt = f"{len(seeds)} of {len(st.seeds)}" if seeds else "—"
        begun = in_progress(st, out, trials)
        begun_txt = in_progress_text(begun)
        paces = checkpoint.paces(out / checkpoint.FOLDER, begun)
        hours, unknown, by_data, scaled, paced = remaining_estimate(st, out, trials, begun,
                                                                    paces)
        left = _remaining_text(hours, unknown, total - stored, by_data, scaled, paced)
        lines.append(f"| [{name}](#{name}) | {st.paper or st.title} | {stored}/{total} "
                     f"({state}{'; ' + begun_txt if begun_txt else ''}) | {seed_txt} | {left} |")
        sec = [f"## {name}", "", f"*{st.title}*", ""]
        if st.paper:
            sec += [f"Reproduces: {st.paper}", ""]
        if older:
            sec += [older_text(name, older, stored, total), ""]
        elif state != "complete":
            sec += [f"Status: {state}, {stored}/{total} trials of the full form stored. Resume "
                    f"with `python -m studies run {name}` (stored trials are skipped).", ""]
        if begun_txt:
            sec += [f"Trials begun: {begun_txt} (the checkpoints in "
                    f"`{checkpoint.FOLDER}/` of the study's results folder; they are not "
                    "committed, so they resume only on the host that wrote them, with the same "
                    "BLAS kernel set and thread counts).", ""]
        carried = carried_text(out, {k for k, _ in trials})
        if carried:
            sec += [carried, ""]
        if ds is not None:
            if name in CLAIM_STUDIES:
                claim_data[name] = ds
            where = environment_text(ds)
            if where:
                sec += [where, ""]
            run = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
            if run.get("seeds") is not None and len(run["seeds"]) != len(st.seeds):
                sec += [f"The stored Dataset holds seeds {run['seeds']} (a reduced run forced by "
                        "compute; see the completeness table).", ""]
            rows = cell_rows(ds, st, collect=family)
            if rows:
                runs = published_runs(st)
                sec += [(f"The published values are means of {runs} runs, so a verdict asks "
                         f"whether the paper's value lies in our 95% interval for the mean of "
                         f"{runs} new runs (m = {runs})." if runs > 1 else
                         "The published values are single runs, so a verdict asks whether the "
                         "paper's value lies in our 95% interval for one new run (m = 1).")
                        + " 'Verdict interval' is that interval's half-width around our mean: "
                        "the smallest difference the verdict can call *differs* (a wide one, "
                        "from few seeds or a large spread, makes 'reproduced' a weak statement).",
                        ""]
                sec += ["| cell | paper | ours | difference | verdict interval | p | verdict |",
                        "|---|---|---|---|---|---|---|", *rows, ""]
            md = out / f"{name}.md"
            if md.is_file():
                body = _relative_paths(md.read_text()).replace("\n# ", "\n### ").replace("\n## ", "\n### ")
                if body.startswith("# "):
                    body = "###" + body[1:]
                sec += [body.strip(), ""]
            for extra in sorted(out.glob("*.md")):
                if extra.name != f"{name}.md":
                    text = _relative_paths(extra.read_text()).replace("\n# ", "\n#### ").replace("\n## ", "\n#### ")
                    sec += [("####" + text[1:] if text.startswith("# ") else text).strip(), ""]
            for png in sorted(out.glob("*.png")):
                sec.append(f"![{png.stem}]({name}/{png.name})")
            sec.append("")
        else:
            sec += ["No stored Dataset yet.", ""]
        sections += sec
    lines += ["", *family_section(family), *claims_section(claim_data), *sections]
    return atomic_write_bytes("\n".join(lines).encode(), base / "REPORT.md")
