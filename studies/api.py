"""The Python API: ``run`` a study and write its report; ``report`` from stored results.

Output directories (``out``), when not given:

* full runs: ``<repo>/data/results/<name>/`` (kept: results worth committing or sharing);
* ``--quick`` runs: ``<repo>/results/<name>-quick/`` (``/results/`` is git-ignored);

where ``<repo>`` is the checkout holding the ``studies`` package (the directory with
``pyproject.toml``), or the current directory for an installed, non-editable package.
``OUT/run.json`` records the run's form (quick, device, seeds, epochs, restrictions), so
``report`` rebuilds exactly the same grid later.

A run of part of a study (``problems``, ``only``, ``seeds``, or ``overrides`` whose values
are all in the grid) into the study's own directory runs only that part but combines and
reports the study's whole form from every trial stored there (the rest shows as
``missing``), and records the whole form in ``run.json``: two processes sharing a study,
or a study run problem by problem, leave one complete Dataset. A part that is not inside
the whole form (other values, other epochs) or a run into another directory keeps its own
form.
"""
from __future__ import annotations

import json
from pathlib import Path

import xarray as xr

from . import store
from .combine import add_summaries, combine
from .expand import code_version, expand, keyed
from .provenance import provenance
from .registry import get_study, study_module
from .report import write_report
from .runner import RunSummary, run_trials
from .spec import SpecError, Study
from .stats import CORRECTIONS, DEFAULT_ALPHA, DEFAULT_TEST, TESTS

DEVICES = ("cpu", "cuda")


def repo_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_out(name: str, quick: bool) -> Path:
    root = repo_root()
    return root / "results" / f"{name}-quick" if quick else root / "data" / "results" / name


def _check_stats(alpha, test, correction):
    if test not in TESTS:
        raise SpecError(f"unknown test {test!r}; allowed: {list(TESTS)}")
    if correction not in CORRECTIONS:
        raise SpecError(f"unknown correction {correction!r}; allowed: none, holm")
    if not (isinstance(alpha, float) and 0 < alpha < 1):
        raise SpecError(f"alpha must be a number in (0, 1), got {alpha!r}")


def prepare(study, *, quick=False, only=None, overrides=None, seeds=None, epochs=None,
            problems=None) -> Study:
    """Resolve a study (name, path or :class:`Study`) into the exact form that runs."""
    st = get_study(study).resolved(quick)
    if only or overrides or seeds is not None or epochs is not None or problems:
        st = st.restricted(only=only, overrides=overrides, seeds=seeds, epochs=epochs,
                           problems=problems)
    st.validate()
    return st


def run(study, *, out=None, quick: bool = False, workers: int | None = None,
        scheduler: str | None = None, device: str = "cpu", only=None, overrides=None,
        seeds=None, epochs=None, progress: bool | str = True, alpha: float = DEFAULT_ALPHA,
        test: str = DEFAULT_TEST, correction: str | None = None,
        connect_timeout: float = 5.0, retry_failed: bool = False, problems=None,
        stop_by: float | None = None) -> RunSummary:
    """Run ``study`` (skipping stored trials), then combine and write the report.

    Stored trials are skipped; ``retry_failed`` re-runs those stored as ``failed``.
    ``stop_by`` (seconds since the epoch; :func:`studies.runner.parse_deadline` reads the
    CLI's forms): start no trial that is not expected to finish by then, so a run that has
    to end at a known time (a shared machine, a session) wastes no half-finished trial.
    Returns a :class:`~studies.runner.RunSummary` with the paths of the Dataset
    (``<name>.nc``), the Markdown table and the figures. While no trial of the study is
    stored (every one paused at a checkpoint or not started, ``--stop-by``), no Dataset and
    no report are written (a Dataset of all-missing trials says nothing) and those paths are
    ``None``.
    """
    if device not in DEVICES:
        raise SpecError(f"unknown device {device!r}; allowed: {list(DEVICES)}")
    _check_stats(alpha, test, correction)
    st = prepare(study, quick=quick, only=only, overrides=overrides, seeds=seeds, epochs=epochs,
                 problems=problems)
    if device == "cuda" and scheduler is None:
        from adaptlr.targets import require_cuda

        require_cuda(f"study {st.name!r}")
    own_dir = out is None or Path(out).resolve() == default_out(st.name, quick).resolve()
    out = store.ensure_writable(Path(out) if out else default_out(st.name, quick))
    code = code_version(st)  # one code version for the keys, the files and the provenance
    shown = st
    every = None            # the whole form's (key, spec) pairs, where they are needed
    if own_dir and (only or overrides or seeds is not None or problems or epochs is not None):
        whole = prepare(study, quick=quick)
        every = keyed(expand(whole, quick=quick, device=device), code)
        inside = {k for k, _ in every}
        if all(k in inside for k, _ in keyed(expand(st, quick=quick, device=device), code)):
            shown = whole          # a part of the study: combine and report the whole form
    form = {"study": st.name, "quick": bool(quick), "device": device,
            "only": list(only) if only and shown is st else None,
            "problems": list(problems) if problems and shown is st else None,
            "overrides": {k: {h: list(v) for h, v in a.items()}
                          for k, a in (overrides or {}).items()} if shown is st else {},
            "seeds": list(shown.seeds), "epochs": shown.epochs}
    store.atomic_write_bytes(json.dumps(form, indent=1, sort_keys=True).encode(), out / "run.json")
    estimates = None
    if stop_by is not None:     # the whole form's stored trials time the part that runs
        from .runner import stored_times_here
        from .timing import expected_seconds

        if every is None:
            every = keyed(expand(prepare(study, quick=quick), quick=quick, device=device), code)
        estimates = {k: v for k, (v, _) in expected_seconds(
            every, stored_times_here(out, every, scheduler)[0]).items()}
    summary = run_trials(st, out, quick=quick, device=device, scheduler=scheduler,
                         workers=workers, progress=progress, connect_timeout=connect_timeout,
                         code=code, retry_failed=retry_failed, stop_by=stop_by,
                         estimates=estimates)
    # nothing stored yet (all paused or not started): no Dataset of all-missing trials
    if (summary.not_started == summary.total if shown is st
            else not {k for k, _ in every} & store.finished_keys(out)):
        return summary
    ds = build_dataset(shown, out, quick=quick, device=device, alpha=alpha, test=test,
                       correction=correction, started=summary.started, finished=summary.finished,
                       code=code)
    summary.dataset = store.atomic_write_dataset(ds, out / f"{st.name}.nc")
    summary.table, figs = write_report(ds, shown, out, alpha=alpha, test=test,
                                       correction=correction)
    summary.figures = tuple(figs)
    return summary


def build_dataset(st: Study, out: Path, *, quick: bool, device: str, alpha: float,
                  test: str, correction: str | None, started: str = "",
                  finished: str = "", code: dict | None = None) -> xr.Dataset:
    """Combine the stored trials of ``st`` (keys of ``code``) with provenance and statistics."""
    code = code_version(st) if code is None else code
    checksums = st.checksums(dict(st.params)) if st.checksums else {}
    attrs = provenance(st, quick=quick, device=device, started=started, finished=finished,
                       checksums=checksums, code=code)
    ds = combine(st, out, quick=quick, device=device, code=code, attrs=attrs)
    hook = getattr(study_module(st), "dataset_attrs", None)
    if hook is not None:  # study-specific global attributes (e.g. the machine of a benchmark)
        ds.attrs.update({k: v for k, v in hook(ds).items() if isinstance(v, (str, int, float))})
    return add_summaries(ds, st, test=test, alpha=alpha, correction=correction)


def find_out(name: str, out=None) -> Path:
    """Where ``report`` looks: ``out``, else the full-run dir, else the quick-run dir."""
    if out:
        return Path(out)
    full, quick = default_out(name, False), default_out(name, True)
    use_full = ((full / f"{name}.nc").is_file() or (full / "run.json").is_file()
                or not (quick / "run.json").is_file())
    return full if use_full else quick


def report(study, *, out=None, alpha: float = DEFAULT_ALPHA, test: str = DEFAULT_TEST,
           correction: str | None = None, echo: bool = False, rebuild: bool = False):
    """Write the tables and figures from the stored Dataset ``OUT/<name>.nc`` (no re-run).

    Without that file (a run that was interrupted), or with ``rebuild``, the Dataset is first
    combined from the trial files stored so far; trials not yet run show as ``missing``.

    The statistics (ties) are recomputed with the given ``alpha``/``test``/``correction``,
    and stored back into the Dataset's attributes. Returns ``(dataset path, table path,
    figure paths)``.
    """
    _check_stats(alpha, test, correction)
    st0 = get_study(study)
    out = find_out(st0.name, out)
    path = out / f"{st0.name}.nc"
    has_trials = (out / "run.json").is_file() and bool(store.finished_keys(out))
    if not path.is_file() and not has_trials:
        raise FileNotFoundError(
            f"no stored results for study {st0.name!r}: {str(path)!r} does not exist; "
            f"run `python -m studies run {st0.name}` first (or give --out DIR)")
    form = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    st = prepare(st0, quick=form.get("quick", False), only=form.get("only"),
                 overrides=form.get("overrides") or None, seeds=form.get("seeds"),
                 epochs=form.get("epochs"), problems=form.get("problems"))
    if not path.is_file() or rebuild:
        # an interrupted run: combine the trials stored so far (the rest show as 'missing')
        ds = build_dataset(st, out, quick=form.get("quick", False),
                           device=form.get("device", "cpu"), alpha=alpha, test=test,
                           correction=correction)
        store.atomic_write_dataset(ds, path)
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    drop = [v for v in ds.data_vars if v.endswith(("_final_mean", "_final_std", "_final_ci_low",
                                                   "_final_ci_high"))
            or v in ("tied_with_best", "pvalue_vs_best")]
    ds = add_summaries(ds.drop_vars(drop), st, test=test, alpha=alpha, correction=correction)
    store.atomic_write_dataset(ds, path)
    table, figs = write_report(ds, st, out, alpha=alpha, test=test, correction=correction,
                               echo=echo)
    return path, table, figs


def stale(study, out=None, code=None) -> tuple[Path, list[Path], int, list[str]]:
    """What the current code never reads in ``out`` (default ``data/results/NAME/``):
    ``(out, stale trial files, current trial files kept, stale ledger keys)``.

    ``code``: the study's code version when the caller has it already (default: computed
    here with :func:`~studies.expand.code_version`).

    Current: the keys of the study's full form with the current code version, and the files
    the carry-over ledger (``trials/carried.json``) maps such a key to. Trials of the full
    form stored by partial runs (``--seeds``, ``--problems``, ``--only``) have current keys
    and are kept; trials of an older code version, of ``--set`` grids or of ``--epochs``
    overrides are stale, and so are ledger keys that are not current or whose file is gone.
    The combined Dataset of an older run (``NAME.nc``) is never touched.
    """
    st = prepare(study)
    out = Path(out) if out else default_out(st.name, False)
    code = code_version(st) if code is None else code
    current = {k for k, _ in keyed(expand(st), code)}
    carried = store.read_carried(out)["trials"]
    needed = current | {e["stored"] for k, e in carried.items() if k in current}
    files = sorted((out / store.TRIALS).glob("*.nc")) if (out / store.TRIALS).is_dir() else []
    files = [f for f in files if not f.name.startswith(store.TMP_PREFIX)]
    old = [f for f in files if f.stem not in needed]
    have = {f.stem for f in files}
    lines = sorted(k for k, e in carried.items() if k not in current or e["stored"] not in have)
    return out, old, len(files) - len(old), lines


def stale_checkpoints(study, out=None, code=None) -> list[Path]:
    """Checkpoint files in ``OUT/checkpoints`` (:mod:`studies.checkpoint`) that no run of
    the current code resumes: named by a key that is not one of the full form's current
    keys (an older code version: a library change re-keys a begun trial and it starts
    again from epoch 0), or by one whose trial is stored (a run killed between storing it
    and removing its checkpoint); and temporaries of an interrupted write. A begun trial of
    the current code is never among them. They are git-ignored and large (78.5 MB each
    for vsgd-longrun), so they are worth removing once stale."""
    from . import checkpoint

    st = prepare(study)
    out = Path(out) if out else default_out(st.name, False)
    folder = out / checkpoint.FOLDER
    if not folder.is_dir():
        return []
    code = code_version(st) if code is None else code
    live = {k for k, _ in keyed(expand(st), code)} - store.finished_keys(out)
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and not (f.suffix == ".npz" and f.stem in live))


def stale_trials(study, out=None) -> tuple[Path, list[Path], int]:
    """``(out, stale trial files, current trial files kept)`` of :func:`stale`."""
    return stale(study, out)[:3]


def stale_carried(study, out=None) -> list[str]:
    """The stale ledger keys of :func:`stale`."""
    return stale(study, out)[3]
