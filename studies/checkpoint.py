"""Resumable trials: where a trial keeps its progress, and when it should pause.

A study declared with ``resumable=True`` (:class:`studies.spec.Study`; a trial of hours,
such as ``vsgd-longrun``) runs each trial with a checkpoint file ``OUT/checkpoints/KEY.npz``
(KEY the trial's key, so a change of code or spec never resumes another trial's state).
The runner (:func:`studies.runner.execute`) makes it the *current* checkpoint while the
trial function runs; a trial function that can resume reads it with :func:`current` and
hands ``path`` and ``stop_at`` to ``adaptlr.mlp.train(checkpoint=..., stop_at=...)``
(``studies.vsgd_benchmarks.mlp_trial`` does). A killed run then resumes inside the trial
(at the last epoch checkpointed) instead of from its start, and with ``run --stop-by`` a
trial pauses at the deadline: the trial function raises :class:`TrialPaused`, the runner
stores nothing for it, and the next run goes on from the checkpoint. The file is removed
once the trial's result is stored (``ok`` or ``diverged``); a ``failed`` trial keeps it, so
``--retry-failed`` resumes too.

Studies that are not resumable run as before: :func:`current` is None and the trial
function trains in one piece. Only the engine sets the context, so the trial keys and the
results do not depend on it (a resumed run computes the same bits, adaptlr/mlp/resume.py).
Checkpoints live on the file system of the process that runs the trial: with a cluster
(``--scheduler``) a trial resumes only where ``OUT`` is shared or it runs on the same host.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the folder of a study's results directory that holds the checkpoints (git-ignored)
FOLDER = "checkpoints"

_CURRENT: contextvars.ContextVar = contextvars.ContextVar("studies_trial_checkpoint",
                                                          default=None)


@dataclass(frozen=True)
class TrialCheckpoint:
    """The checkpoint of the running trial: the file, and the time (seconds since the
    epoch, ``time.time()``) by which it should pause, or None to run to the end."""

    path: Path
    stop_at: float | None = None


class TrialPaused(Exception):
    """A resumable trial stopped at ``stop_at`` with its progress in its checkpoint; the
    runner stores nothing for it and a later run resumes it."""


def current() -> TrialCheckpoint | None:
    """The checkpoint of the trial running in this thread, or None (not resumable)."""
    return _CURRENT.get()


@contextlib.contextmanager
def active(path, stop_at: float | None = None):
    """Make ``path`` (and ``stop_at``) the current checkpoint while the block runs."""
    token = _CURRENT.set(TrialCheckpoint(Path(path), None if stop_at is None else float(stop_at)))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def path_for(folder, key: str) -> Path:
    """The checkpoint file of the trial ``key`` in ``folder`` (``OUT/checkpoints``)."""
    return Path(folder) / f"{key}.npz"


def discard(folder, key: str) -> None:
    """Remove the checkpoint of the trial ``key`` (and a temporary left by a kill)."""
    p = path_for(folder, key)
    for q in (p, p.with_name(p.name + ".tmp")):
        q.unlink(missing_ok=True)


def _entries(folder, keys, names: tuple) -> dict[str, dict | None]:
    """The trials among ``keys`` that have a checkpoint in ``folder``: ``{key: {name:
    scalar}}`` for those of ``names`` the file holds, None where it cannot be read (a
    damaged file). Reads only those entries, not the parameters, so it is cheap for large
    checkpoints."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    out: dict[str, dict | None] = {}
    for k in keys:
        p = path_for(folder, k)
        if not p.is_file():
            continue
        try:
            with np.load(p, allow_pickle=False) as z:
                out[k] = {n: z[n].item() for n in names if n in z.files}
        except Exception:  # noqa: BLE001 - a damaged file is begun, but says nothing
            out[k] = None
    return out


def progress(folder, keys) -> dict[str, int | None]:
    """The trials among ``keys`` that have a checkpoint in ``folder`` (``OUT/checkpoints``):
    ``{key: epochs done}``, read from the file's ``epochs_done`` entry (the format of
    ``adaptlr.mlp.resume``); None where the file has no such entry or cannot be read (a
    trial function with its own format, a damaged file: the trial still counts as begun)."""
    got = _entries(folder, keys, ("epochs_done",))
    return {k: int(e["epochs_done"]) if e and "epochs_done" in e else None
            for k, e in got.items()}


def so_far(folder, key: str) -> tuple[int, float] | None:
    """``(epochs done, seconds trained)`` of trial ``key``'s checkpoint in ``folder`` as it
    is now, before a run resumes it (the training loop's ``wall_time`` over its earlier
    runs, :func:`paces`); None where there is no checkpoint or it does not say both."""
    e = _entries(folder, [key], ("epochs_done", "wall_time")).get(key)
    if not e or len(e) != 2:
        return None
    wall = float(e["wall_time"])
    return int(e["epochs_done"]), (wall if np.isfinite(wall) and wall > 0 else 0.0)


def paces(folder, keys) -> dict[str, float]:
    """Seconds per epoch of the trials among ``keys`` whose checkpoint in ``folder`` says so:
    its ``wall_time`` (the training loop's time over every run of the trial so far, the
    evaluations included; compilation and the checkpoint writes are not) over its
    ``epochs_done`` (``adaptlr.mlp.resume``'s format). Trials whose file has no such entries,
    none done, or cannot be read are left out."""
    out: dict[str, float] = {}
    for k in keys:
        done, wall = so_far(folder, k) or (0, 0.0)
        if done > 0 and wall > 0:
            out[k] = wall / done
    return out
