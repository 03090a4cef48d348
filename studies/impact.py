"""What a code change costs the stored results: ``python -m studies impact [NAME ...]``.

A trial's key covers the code its result depends on (:mod:`studies.expand`), so an edit of
the library re-keys stored trials. Before committing such an edit, this lists, for every
study with stored trial files, what the code as it is now in the working tree (the edit
included) would no longer read, and what that costs:

* ``stored``: trial files in ``data/results/NAME/trials``;
* ``rekeyed``: those the current code does not read (:func:`studies.api.stale`: keys of
  another code version, also those of older ``--set`` grids), and ``rekeyed_hours``, the
  core-hours they took (each file's ``wall_time``), less the superseded ones;
* ``superseded``: stale files whose trial the current code already has (its spec's current
  key is stored, as a file or in the carry-over ledger): an older result of a trial that was
  recomputed or carried from another file. Nothing is redone or verified for them (``rekey``
  finds nothing to carry); ``prune`` lists them;
* ``state``: the study's combined Dataset (``NAME.nc``) before the edit: ``complete``
  (a finished cell for every trial of the full form) or ``partial``;
* ``redo_hours``: what must be computed again before the study can be finished: the
  rekeyed hours of a partial study, none for a complete one (its stored Dataset stays in
  the report as a labelled result of the code that computed it). ``rekey --verify``
  carries rekeyed trials whose result the new code reproduces bit for bit, at the same
  cost (it recomputes them);
* ``sample_hours``: the core-hours of ``rekey --verify --sample 1`` over the rekeyed
  trials (the least stored wall time of each stratum, :func:`studies.rekey.stratum`),
  the cheap check for a change meant to keep every bit (evidence, not a per-trial proof);
* ``not_here``: how many rekeyed trials were computed with OpenBLAS kernels this CPU
  cannot run (:mod:`studies.blas_host`: SkylakeX without AVX-512), so that no
  ``rekey --verify`` on this host can carry them: they need another host, or recomputing
  (a trial that records no environment, as the ADADELTA ones of 2026-11-23, is not
  counted: its kernels are not known).

Measured with it (2026-12-02): any change to a shared ``adaptlr/`` file rekeys every stored
trial; the redo hours are those of the partial studies only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: statuses of a combined Dataset's cells that are trials run to their end
FINISHED = ("ok", "diverged", "failed")
#: ... and those that count as done for ``state`` (cells outside a problem's cut grid)
DONE = FINISHED + ("excluded",)


def _facts(files: list[Path]) -> dict:
    """``{file: (spec, status, environment, wall time)}`` of the readable ``files``."""
    from .rekey import stored_facts

    out = {}
    for f in files:
        try:
            out[str(f)] = stored_facts(f)
        except (OSError, AttributeError, ValueError):
            continue
    return out


def _sample_hours(files: list[Path], k: int = 1, facts: dict | None = None) -> float:
    """Core-hours of recomputing the ``k`` cheapest stored trials of each stratum of
    ``files`` (what ``rekey --verify --sample k`` computes)."""
    from .rekey import sample_strata, stratum

    facts = _facts(files) if facts is None else facts
    cands = {f: (stratum(spec, status, env), wall)
             for f, (spec, status, env, wall) in facts.items() if status != "failed"}
    return sum(cands[key][1] or 0.0 for sample, _ in sample_strata(cands, k).values()
               for key in sample) / 3600.0


def _not_here(files: list[Path], facts: dict | None = None) -> int:
    """How many of ``files`` record OpenBLAS kernels this CPU cannot run."""
    from .blas_host import unrunnable
    from .rekey import blas_kernels

    facts = _facts(files) if facts is None else facts
    return sum(1 for _, _, env, _ in facts.values()
               if any(unrunnable(k) is not None for k in blas_kernels(env) or ()))


def _state(out: Path, st) -> str:
    """``complete`` when the stored combined Dataset has a finished cell for every trial of
    the study's full form (a Dataset of a part, run elsewhere with ``--out``, is not),
    ``partial`` otherwise, ``none`` without one."""
    import xarray as xr

    from .expand import expand

    nc = out / f"{st.name}.nc"
    if not nc.is_file():
        return "none"
    with xr.open_dataset(nc) as ds:
        if "status" not in ds:
            return "unknown"
        status = np.asarray(ds["status"].values).astype(str).ravel()
    finished = int(np.isin(status, FINISHED).sum())
    return "complete" if finished >= len(expand(st)) and np.isin(status, DONE).all() else "partial"


def study_impact(name: str, results_dir: Path | None = None) -> dict:
    """The costs of the module docstring for study ``name`` (results under ``results_dir``,
    default ``data/results/``)."""
    from .api import default_out, stale
    from .expand import code_version
    from .registry import get_study

    st = get_study(name)
    out = Path(results_dir) / st.name if results_dir is not None else default_out(st.name, False)
    now = code_version(st)  # once, for the stale files and the superseded ones
    _, stale_files, kept, _ = stale(st.name, out, code=now)
    facts = _facts(stale_files)
    have = _superseded(out, facts, now)
    old = [f for f in stale_files if str(f) not in have]
    facts = {f: v for f, v in facts.items() if f not in have}
    hours = sum(w for *_, w in facts.values() if w is not None) / 3600.0
    state = _state(out, st)
    return {"study": st.name, "stored": kept + len(stale_files), "rekeyed": len(old),
            "rekeyed_hours": hours, "state": state,
            "redo_hours": hours if state != "complete" else 0.0,
            "sample_hours": _sample_hours(old, facts=facts),
            "not_here": _not_here(old, facts=facts), "superseded": len(have)}


def _superseded(out: Path, facts: dict, now: str) -> set[str]:
    """The stale files of ``facts`` whose spec's key under the current code version ``now``
    is stored (a trial file or a carried key of the ledger): superseded, not rekeyed (module
    docstring)."""
    from . import store
    from .expand import trial_key

    if not facts:
        return set()
    done = store.finished_keys(out)
    return {f for f, (spec, *_) in facts.items() if trial_key(spec, now) in done}


def impact(names=None, results_dir: Path | None = None) -> list[dict]:
    """:func:`study_impact` of each study in ``names`` (default: every registered one)."""
    from .registry import all_studies

    return [study_impact(n, results_dir) for n in (names or sorted(all_studies()))]


def table(rows: list[dict]) -> str:
    """Markdown table of :func:`impact`'s rows, with the totals."""
    lines = ["| study | stored trials | rekeyed by the current code | their core-h | "
             "stored Dataset | core-h to redo | core-h of `rekey --verify --sample 1` | "
             "rekeyed with kernels this CPU cannot run | superseded (stale, their trial "
             "current) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['stored']} | {r['rekeyed']} | "
                     f"{r['rekeyed_hours']:.2f} | {r['state']} | {r['redo_hours']:.2f} | "
                     f"{r['sample_hours']:.2f} | {r['not_here']} | {r['superseded']} |")
    lines.append(f"| total | {sum(r['stored'] for r in rows)} | "
                 f"{sum(r['rekeyed'] for r in rows)} | "
                 f"{sum(r['rekeyed_hours'] for r in rows):.2f} | | "
                 f"{sum(r['redo_hours'] for r in rows):.2f} | "
                 f"{sum(r['sample_hours'] for r in rows):.2f} | "
                 f"{sum(r['not_here'] for r in rows)} | "
                 f"{sum(r['superseded'] for r in rows)} |")
    return "\n".join(lines)
