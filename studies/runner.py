"""Running a study's trials on Dask distributed, resumably.

* Default: a :class:`distributed.LocalCluster` of ``workers`` worker *processes*
  (default: the number of cores), one thread each. Each worker process gets
  ``NUMBA_NUM_THREADS = OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS =
  max(1, cores // workers)`` so that workers x threads never oversubscribes the cores.
* ``scheduler="tcp://host:port"`` (or the path of a scheduler file) connects to an
  existing cluster instead, unchanged (a short connect timeout, then a clear error). Start
  its scheduler with ``distributed.scheduler.worker-ttl`` off or longer than a trial (the
  local cluster turns it off): a trial holds the GIL in compiled code for minutes, so
  its worker cannot heartbeat, and the default 5 minutes drops it.
  Workers there must be able to import ``adaptlr`` and ``studies`` (install the package).
* Trials whose file already exists in ``OUT/trials`` are skipped (nothing recomputed;
  with ``retry_failed=True`` trials stored as ``failed`` are run again and replaced);
  the others are submitted at once and written by the client *as each completes*
  (:func:`distributed.as_completed`), so a killed run loses at most the trials in flight.
* A trial that raises is caught inside the task (:func:`execute`) and stored with
  ``status="failed"`` and the message; a worker that dies is recorded the same way. A
  diverged trial is stored with ``status="diverged"``. Neither aborts the study.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import platform
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checkpoint, store
from .blas_host import check_environment
from .expand import code_version, expand, keyed
from .provenance import THREAD_VARS, environment
from .spec import Study


class SchedulerError(ConnectionError):
    """The Dask scheduler given with --scheduler cannot be reached."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _normalise(out) -> tuple[dict, bool, int, str]:
    """Check a trial's return value; returns (vars, diverged, diverged_step, message)."""
    if not isinstance(out, dict):
        raise TypeError(f"trial must return a dict of (dims, values), got {type(out).__name__}")
    out = dict(out)
    diverged = bool(out.pop("diverged", False))
    step = int(out.pop("diverged_step", -1))
    message = str(out.pop("message", ""))
    variables = {}
    for name, item in out.items():
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"trial variable {name!r} must be a (dims, values) tuple, got {item!r}")
        dims, values = item
        dims = tuple(str(d) for d in dims)
        values = np.asarray(values)
        if values.ndim != len(dims):
            raise ValueError(f"trial variable {name!r}: {values.ndim}-d values for dims {dims}")
        if values.dtype == bool:
            values = values.astype(np.int8)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"trial variable {name!r}: numeric values expected, got {values.dtype}")
        variables[name] = (dims, values)
    return variables, diverged, step, message


def execute(trial, key: str, spec: dict, code: dict, checkpoints: str | None = None,
            stop_at: float | None = None) -> dict:
    """Run one trial (on a worker); never raises. Returns a result record.

    ``checkpoints`` (a resumable study's ``OUT/checkpoints``, :mod:`studies.checkpoint`):
    the trial runs with its checkpoint file there as the current one, and ``stop_at`` as
    the time to pause by; a trial that pauses gives ``status="paused"`` (not stored).
    A trial that resumes from its checkpoint records as ``wall_time`` the whole trial's:
    this run's wall time plus the training time of its earlier runs (the checkpoint's; their
    start-up and checkpoint writes are not in it), with ``wall_time_run`` (this run's) and
    ``resumed_after_epochs`` beside it.
    """
    t0 = time.perf_counter()
    record = {"key": key, "spec": spec, "code": code, "vars": {}, "diverged": False,
              "diverged_step": -1, "worker": f"{socket.gethostname()}:{os.getpid()}"}
    earlier = None
    try:
        if checkpoints is not None:
            earlier = checkpoint.so_far(checkpoints, key)
        # a worker on another host may have a kernel set it cannot run (studies.blas_host):
        # a failed trial that says so, not a worker killed by SIGILL
        check_environment()
        load_numba_blas()
        with (checkpoint.active(checkpoint.path_for(checkpoints, key), stop_at)
              if checkpoints is not None else contextlib.nullcontext()):
            variables, diverged, step, message = _normalise(trial(dict(spec)))
        record.update(vars=variables, diverged=diverged, diverged_step=step, message=message,
                      status="diverged" if diverged else "ok")
    except checkpoint.TrialPaused as e:
        record.update(status="paused", message=str(e))
    except Exception as e:  # noqa: BLE001 - a failing trial must not abort the study
        tb = traceback.format_exc(limit=-3)
        record.update(status="failed", message=f"{type(e).__name__}: {e}\n{tb}")
    record["wall_time"] = time.perf_counter() - t0
    if earlier is not None and earlier[0] > 0:
        record.update(wall_time_run=record["wall_time"], resumed_after_epochs=earlier[0],
                      wall_time=record["wall_time"] + earlier[1])
    record["finished"] = _now()
    try:
        record["environment"] = json.dumps(environment(), sort_keys=True)
    except Exception as e:  # noqa: BLE001 - provenance must not lose a finished trial
        record["environment"] = json.dumps({"error": f"{type(e).__name__}: {e}"})
    return record


def load_numba_blas() -> None:
    """Load the BLAS library Numba binds for compiled matrix products (SciPy's
    ``scipy.linalg.cython_blas``, a second OpenBLAS beside NumPy's), as its first
    compilation of one would, before a trial runs.

    Why: ``adaptlr.mlp.train`` names a checkpoint's run by the BLAS libraries loaded when
    it starts (``training._compute_setting``), before it compiles; so the first trial of a
    fresh process saw one OpenBLAS and every later one two, and a checkpoint written by
    one could not be resumed by the other ("belongs to another run (blas: ...)": seen
    2026-12-07 when vsgd-longrun seeds 2 and 3, begun second in their workers, were
    resumed first in fresh ones). With the library loaded first every trial sees the
    same libraries. A library loaded but not called changes no result. (The library
    itself should take its identity after compiling: with the next batch, DEVELOPERS.md.)
    Nothing happens where Numba or SciPy is missing."""
    try:
        from numba.np.linalg import ensure_blas

        ensure_blas()
    except Exception:  # noqa: BLE001 - not having it is no reason to fail a trial
        pass


def _failed_record(key: str, spec: dict, code: dict, exc: BaseException) -> dict:
    return {"key": key, "spec": spec, "code": code, "vars": {}, "diverged": False,
            "diverged_step": -1, "status": "failed", "wall_time": float("nan"),
            "message": f"{type(exc).__name__}: {exc} (the task did not return; e.g. worker died)",
            "worker": "", "finished": _now()}


def worker_env(workers: int, cores: int | None = None) -> dict:
    threads = max(1, (cores or os.cpu_count() or 1) // max(1, workers))
    return {v: str(threads) for v in THREAD_VARS}


#: Dask settings of the runner's own LocalCluster (not of a cluster given by --scheduler).
#: ``worker-ttl`` off: see :func:`dask_client`. The rest quiets Dask's housekeeping, which
#: takes cores from the trials: idle, 30 s, 2 worker processes (2026-12-07, Zen 4 host,
#: `psutil` CPU times, through this function), the defaults cost 4.9-5.6% of a core in
#: this process and 3.6-4.2% in each worker; with the event-loop tick at 1 s (default
#: 20 ms), the system monitor at 5 s (0.5 s), the nanny's memory monitor at 1 s (0.1 s) and
#: the workers' statistical profiler off (it samples the trial's stack every 10 ms),
#: 0.8-1.0% and 0.3-0.4%. During a
#: vsgd-longrun run this process took 5.8% of a core (60 s of /proc stat). What is lost:
#: the dashboard's profile page and a coarser system plot.
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.worker-ttl": None,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.profile.enabled": False,
}


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                connect_timeout: float = 5.0):
    """A connected :class:`distributed.Client` (own LocalCluster unless ``scheduler``)."""
    from distributed import Client, LocalCluster

    if scheduler:
        kwargs = ({"scheduler_file": scheduler} if Path(scheduler).is_file()
                  else {"address": scheduler})
        try:
            client = Client(timeout=f"{connect_timeout}s", **kwargs)
        except (OSError, TimeoutError, ValueError) as e:
            raise SchedulerError(
                f"cannot reach the Dask scheduler at {scheduler!r} within "
                f"{connect_timeout:g} s ({type(e).__name__}: {e}); start one with "
                "`dask scheduler` or leave out --scheduler to use a local cluster") from None
        try:
            yield client
        finally:
            client.close()
        return
    cores = os.cpu_count() or 1
    n = int(workers) if workers else cores
    if n < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    env = worker_env(n, cores)
    import dask

    # A trial is mostly one compiled call that holds the GIL (MLP training: minutes), so a
    # worker cannot heartbeat meanwhile; with the default worker-ttl (5 minutes) the
    # scheduler dropped both workers of a vSGD-l M2 run (7-10 min trials) and the client
    # waited for ever. A dead worker process is still seen: its connection closes.
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR, env=env)
    client = Client(cluster)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()
        with contextlib.suppress(Exception):
            cluster.close()


def optimizer_affinity(specs: list, workers: list) -> dict:
    """``{optimizer: worker address}``: a *preferred* worker per optimizer.

    Compiled training loops are specialised per optimizer and compiled once per worker
    process, so keeping an optimizer's trials on one worker saves compile time. Used only
    when there are at least as many optimizers as workers (otherwise workers would idle);
    optimizers are assigned greedily, largest trial count first, to the least-loaded
    worker. The preference is loose (``allow_other_workers=True``).
    """
    counts: dict = {}
    for s in specs:
        counts[s["optimizer"]] = counts.get(s["optimizer"], 0) + 1
    if len(workers) < 2 or len(counts) < len(workers):
        return {}
    load = {w: 0 for w in workers}
    out = {}
    for opt, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        w = min(load, key=lambda a: (load[a], a))
        out[opt] = w
        load[w] += n
    return out


def pending(trials: list, out: Path, retry_failed: bool = False) -> list:
    """The ``(key, spec)`` pairs still to run: no trial file yet (or stored as failed and
    ``retry_failed``)."""
    done = store.finished_keys(out)
    if retry_failed:  # failed trials (exception, lost worker) are run again; ok/diverged kept
        done = {k for k in done if store.trial_status(out, k) != "failed"}
    return [(k, s) for k, s in trials if k not in done]


def resume_first(name: str, todo: list, folder: Path) -> list:
    """``todo`` with the trials that have a checkpoint in ``folder`` first, the furthest on
    (most epochs done, :func:`studies.checkpoint.progress`) first and those of unknown
    progress last among them (otherwise in their order), so that a resumable study finishes
    what it began, soonest done first, before it begins more; says how many resume and from
    which epochs."""
    begun = checkpoint.progress(folder, [k for k, _ in todo])
    if not begun:
        return todo
    epochs = sorted(e for e in begun.values() if e is not None)
    unknown = sum(e is None for e in begun.values())
    where = ", ".join(map(str, epochs)) + (f"{', ' if epochs else ''}{unknown} unknown"
                                            if unknown else "")
    print(f"{name}: {len(begun)} trials resume from their checkpoints (epochs done: {where})",
          flush=True)
    def rank(ks):
        e = begun.get(ks[0])
        return (ks[0] not in begun, e is None, -(e or 0))

    return sorted(todo, key=rank)   # stable: ties and the rest keep their order


class Deadline:
    """When to stop *starting* trials: none is started unless it is expected to finish by
    ``at`` (seconds since the epoch); trials already running always finish. A trial's
    expected duration is the median wall time of the trials of the same problem and
    optimizer finished in this run where there are any (they measure the machine as it
    runs now), else of those stored before (``times``: on this host's scale,
    :func:`studies.timing.on_host`), else ``fallback[(problem, optimizer)]`` (an estimate,
    :func:`studies.timing.expected_seconds`), else 0 (it starts whenever the deadline has
    not passed). Times were measured one trial per core, as the runs here go."""

    def __init__(self, at: float, times: dict | None = None, clock=time.time,
                 fallback: dict | None = None):
        self.at = float(at)
        self.times = {k: list(v) for k, v in (times or {}).items()}
        self.fresh: dict = {}
        self.fallback = dict(fallback or {})
        self.clock = clock
        self.epoch: dict = {}   # (problem, optimizer): seconds per epoch of paused trials

    def expected(self, spec: dict) -> float:
        pair = (spec["problem"], spec["optimizer"])
        ws = self.fresh.get(pair) or self.times.get(pair)
        if ws:
            return float(np.median(ws))
        guess = self.fallback.get(pair)
        return float(guess) if guess is not None else 0.0

    def allows(self, spec: dict) -> bool:
        return self.clock() + self.expected(spec) <= self.at

    def allows_a_part(self, spec: dict) -> bool:
        """For a resumable trial (it pauses at the deadline, :mod:`studies.checkpoint`):
        one epoch of it fits: the expected time over ``spec["epochs"]``, or the pace of a
        trial of the same problem and optimizer that paused in this run
        (:meth:`record_epoch`) where that is longer."""
        epoch = max(self.expected(spec) / max(1, int(spec["epochs"])),
                    self.epoch.get((spec["problem"], spec["optimizer"]), 0.0))
        return self.clock() + epoch <= self.at

    def record_epoch(self, spec: dict, seconds: float) -> None:
        """A paused trial's seconds per epoch in this run (the runner measures it from its
        checkpoint's epochs before and after); the longest seen per pair counts."""
        if seconds == seconds and seconds > 0:
            pair = (spec["problem"], spec["optimizer"])
            self.epoch[pair] = max(self.epoch.get(pair, 0.0), float(seconds))

    def record(self, rec: dict) -> None:
        w = rec.get("wall_time")
        if w is not None and w == w and rec.get("status") not in ("failed", "paused"):
            s = rec["spec"]
            self.fresh.setdefault((s["problem"], s["optimizer"]), []).append(float(w))


def run_deadline(study: Study, out: Path, trials: list, todo: list, stop_by: float,
                 scheduler: str | None = None, estimates: dict | None = None) -> Deadline:
    """The :class:`Deadline` of a run of ``todo`` (of the study's ``trials``) by ``stop_by``:
    timed by the stored trials on this host's scale, else ``estimates`` (default:
    :func:`studies.timing.expected_seconds`); a resumable study's begun trials tell it
    their pace so far, so no trial of theirs starts unless an epoch at that pace fits (the
    runner adds this run's)."""
    times, how = stored_times_here(out, trials, scheduler)
    warning = unscaled_warning(todo, how)
    if warning:
        print(warning, flush=True)
    if estimates is None:
        from .timing import expected_seconds

        estimates = {k: v for k, (v, _) in expected_seconds(trials, times).items()}
    deadline = Deadline(stop_by, times, fallback=estimates)
    if study.resumable:
        specs = dict(todo)
        for k, sec in checkpoint.paces(out / checkpoint.FOLDER, specs).items():
            deadline.record_epoch(specs[k], sec)
    return deadline


def stored_times_here(out: Path, trials: list, scheduler: str | None) -> tuple[dict, dict]:
    """``({(problem, optimizer): [seconds]}, {(problem, optimizer): how})`` of the stored
    ``trials`` on the scale of the host that runs them (:func:`studies.timing.on_host`);
    with a remote ``scheduler`` the workers' hosts are unknown here, so the stored times
    are pooled as they are."""
    from .provenance import host_cpu
    from .timing import on_host

    return on_host(store.stored_timings(out, trials), None if scheduler else host_cpu())


def unscaled_warning(todo: list, how: dict) -> str:
    """The line ``run --stop-by`` prints when a pair it is to run was timed only on other
    CPUs with no trial timed on both to scale by (:func:`studies.timing.on_host`), else
    ``""``: such a deadline is a guess, give it a margin."""
    loose = sorted({(s["problem"], s["optimizer"]) for _, s in todo
                    if how.get((s["problem"], s["optimizer"])) in
                    ("unscaled", "scaled, partly unscaled")})
    if not loose:
        return ""
    from .provenance import host_cpu

    return (f"--stop-by: {', '.join(f'{p} {o}' for p, o in loose)} timed only on other CPUs "
            f"than this one ({host_cpu()}), with no trial of this study timed on both to "
            "scale by: their expected times are the other hosts' (DEVELOPERS.md measured "
            "2.5-3x between hosts); give the deadline a margin")


def parse_deadline(text: str, now: _dt.datetime | None = None) -> float:
    """``--stop-by``: ``HH:MM`` (local time, its next occurrence: today if still ahead, else
    tomorrow, as ``at`` reads it, so ``00:40`` typed at 22:30 is tonight), an ISO date-time
    (``2026-12-02T15:10``, local unless it names a zone), or ``+N`` with a unit ``s``, ``m``
    or ``h`` (from now). Returns seconds since the epoch; an ISO date-time already past, or
    text of none of these forms, raises ``ValueError`` naming the value and the allowed
    forms."""
    now = now or _dt.datetime.now().astimezone()
    allowed = ("allowed: HH:MM (local, its next occurrence), an ISO date-time, or +N with s, "
               "m or h (e.g. +90m)")
    t = str(text).strip()
    when = None
    if t.startswith("+"):
        unit = {"s": 1, "m": 60, "h": 3600}.get(t[-1:])
        try:
            n = float(t[1:-1]) if unit else float("nan")
        except ValueError:
            n = float("nan")
        if not unit or not (n > 0) or n == float("inf"):
            raise ValueError(f"--stop-by {text!r}: not a positive duration; {allowed}")
        return now.timestamp() + n * unit
    try:
        if len(t) <= 5 and ":" in t:
            hh, mm = (int(x) for x in t.split(":"))
            when = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            if when <= now:
                when += _dt.timedelta(days=1)
        else:
            when = _dt.datetime.fromisoformat(t)
            if when.tzinfo is None:
                when = when.astimezone()
    except ValueError:
        raise ValueError(f"--stop-by {text!r}: not a time; {allowed}") from None
    if when <= now:
        raise ValueError(f"--stop-by {text!r}: {when.isoformat(timespec='minutes')} has already "
                         f"passed (now {now.isoformat(timespec='minutes')}); {allowed}")
    return when.timestamp()


@dataclass
class RunSummary:
    out: Path
    total: int
    skipped: int
    computed: int
    status_counts: dict
    not_started: int = 0
    dataset: Path | None = None
    table: Path | None = None
    figures: tuple = ()
    started: str = ""
    finished: str = ""


def run_trials(study: Study, out: Path, *, quick: bool = False, device: str = "cpu",
               scheduler: str | None = None, workers: int | None = None,
               progress: bool | str = True, connect_timeout: float = 5.0,
               code: dict | None = None, retry_failed: bool = False,
               stop_by: float | None = None, estimates: dict | None = None) -> RunSummary:
    """Run every missing trial of ``study`` (resolved for ``quick``), storing each in ``out``.

    ``workers=0`` runs the trials one after the other in this process, without Dask.
    ``stop_by`` (seconds since the epoch, :func:`parse_deadline`): start no trial that is
    not expected to finish by then (:class:`Deadline`, timed from the stored trials);
    ``not_started`` of the summary counts them, a later run resumes with them. Pairs of
    problem and optimizer with no stored trial are judged by ``estimates`` (``{(problem,
    optimizer): seconds}``; default: :func:`studies.timing.expected_seconds` over
    ``study``'s own trials; ``api.run`` passes those of the whole form, whose other
    problems give a part of a study its references).
    """
    started = _now()
    out = store.ensure_writable(Path(out))
    store.clean_temporaries(out)
    code = code_version(study) if code is None else code
    trials = keyed(expand(study, quick=quick, device=device), code)
    todo = pending(trials, out, retry_failed)
    if study.resumable:
        todo = resume_first(study.name, todo, out / checkpoint.FOLDER)
    counts: dict = {}

    def keep(rec: dict) -> str:
        store.write_trial(out, rec)
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
        return ""

    deadline = None if stop_by is None else run_deadline(study, out, trials, todo, stop_by,
                                                         scheduler, estimates)
    left = compute_trials(study, todo, code, keep, total=len(trials), workers=workers,
                          scheduler=scheduler, progress=progress,
                          connect_timeout=connect_timeout, deadline=deadline,
                          checkpoints=(out / checkpoint.FOLDER).resolve()
                          if study.resumable else None)
    return RunSummary(out=out, total=len(trials), skipped=len(trials) - len(todo),
                      computed=len(todo) - left, status_counts=counts, not_started=left,
                      started=started, finished=_now())


def compute_trials(study: Study, todo: list, code: dict, on_record, *, total: int | None = None,
                   workers: int | None = None, scheduler: str | None = None,
                   progress: bool | str = True, connect_timeout: float = 5.0,
                   deadline: Deadline | None = None, checkpoints: Path | None = None) -> int:
    """Compute the ``(key, spec)`` pairs ``todo`` of ``study`` with code version ``code``
    and hand each result record to ``on_record(rec)`` *as it completes* (in this process),
    which stores it; it may return a short line to print under the progress bar.

    ``workers=0`` runs the trials one after the other in this process, without Dask (for
    debugging, profilers and tests: compiled code is reused across trials and studies);
    otherwise on a local cluster of ``workers`` processes or the cluster at ``scheduler``.
    A task that does not return (a worker died) gives a ``failed`` record. ``total``: the
    trials of the whole form, for the progress bar (default ``len(todo)``). ``progress``:
    True, a progress bar (stderr); False, nothing; ``"lines"`` (the CLI's
    ``--no-progress``, for runs whose output goes to a log file), one line per finished
    trial on stdout instead: the clock time, trials stored of the whole form, the trial and its
    status and wall time.

    With a :class:`Deadline` the trials are handed to the workers one per free worker
    thread (instead of all at once), and one that the deadline does not allow is not
    started; returns how many were not started or paused (0 without a deadline).

    ``checkpoints`` (a resumable study's ``OUT/checkpoints``, :mod:`studies.checkpoint`):
    each trial runs with its checkpoint file there and pauses by the deadline; a paused
    trial is not handed to ``on_record`` (nothing is stored, the next run resumes it), and
    a trial's checkpoint is removed once its ``ok`` or ``diverged`` record is stored.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    total = len(todo) if total is None else total
    if not todo:
        return 0
    left: list = []
    paused: list = []
    stop_at = deadline.at if (deadline is not None and checkpoints is not None) else None

    before: dict = {}   # a resumable trial's epochs done when it started

    def startable(k, s) -> bool:
        if deadline is None or (deadline.allows_a_part(s) if checkpoints is not None
                                else deadline.allows(s)):
            if deadline is not None and checkpoints is not None:
                before[k] = checkpoint.progress(checkpoints, [k]).get(k) or 0
            return True
        left.append((k, s))
        return False

    def ended(bar) -> int:
        if left:
            bar.write(f"{study.name}: {len(left)} trials not started: by their expected "
                      "time they would not finish by the deadline (--stop-by); run the same "
                      "command again to resume with them")
        if paused:
            bar.write(f"{study.name}: {len(paused)} trials paused at the deadline "
                      "(--stop-by), their progress checkpointed; run the same command again "
                      "to resume them")
        return len(left) + len(paused)

    if study.max_workers and not scheduler and workers != 0:
        workers = min(workers or study.max_workers, study.max_workers)

    def bar_for():
        return tqdm(total=total, initial=total - len(todo), unit="trial", desc=study.name,
                    disable=progress is not True, file=sys.stderr, dynamic_ncols=True,
                    smoothing=0.1)

    stored = [total - len(todo)]

    def handle(rec: dict, bar) -> None:
        if rec["status"] == "paused":
            paused.append(rec["key"])
            s = rec["spec"]
            if deadline is not None and checkpoints is not None:
                # its pace this run (first epoch's loading and compiling included): no trial
                # of its kind starts unless an epoch at that pace fits
                ran = (checkpoint.progress(checkpoints, [rec["key"]]).get(rec["key"]) or 0) \
                    - before.get(rec["key"], 0)
                if ran > 0:
                    deadline.record_epoch(s, rec.get("wall_time_run", rec["wall_time"]) / ran)
            bar.write(f"trial paused: {s['optimizer']} {s['hyper']} seed {s['seed']}: "
                      f"{rec['message']}")
            return
        if deadline is not None:
            deadline.record(rec)
        line = on_record(rec)
        if checkpoints is not None and rec["status"] in ("ok", "diverged"):
            checkpoint.discard(checkpoints, rec["key"])
        bar.update(1)
        stored[0] += 1
        if progress == "lines":
            bar.write(trial_line(rec, stored[0], total))
        if rec["status"] == "failed":
            s = rec["spec"]
            bar.write(f"trial failed: {s['optimizer']} {s['hyper']} seed {s['seed']}: "
                      f"{rec['message'].splitlines()[0]}")
        if line:
            bar.write(line)

    ck = None if checkpoints is None else str(checkpoints)
    if workers == 0 and not scheduler:
        bar = bar_for()
        try:
            for k, s in todo:
                if startable(k, s):
                    handle(execute(study.trial, k, s, code, ck, stop_at), bar)
            return ended(bar)
        finally:
            bar.close()
    with dask_client(scheduler, workers, connect_timeout) as client:
        trial_fn = study.trial
        try:
            affinity = optimizer_affinity([s for _, s in todo], list(client.nthreads()))
        except Exception:  # noqa: BLE001 - an optimisation only
            affinity = {}
        futures = {}
        queue = list(todo)
        # all at once without a deadline (Dask queues them); with one, one per free thread,
        # so that the deadline is checked when a trial would start
        slots = len(queue) if deadline is None else max(1, sum(client.nthreads().values()))

        def fill() -> list:
            new = []
            while queue and len(futures) < slots:
                k, s = queue.pop(0)
                if not startable(k, s):
                    continue
                where = affinity.get(s["optimizer"])
                kw = {"workers": [where], "allow_other_workers": True} if where else {}
                fut = client.submit(execute, trial_fn, k, s, code, ck, stop_at,
                                    key=f"trial-{k}", pure=False, **kw)
                futures[fut] = (k, s)
                new.append(fut)
            return new

        bar = bar_for()
        try:
            done = as_completed(fill())
            for fut in done:
                k, s = futures.pop(fut)
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - worker lost, cancelled...
                    rec = _failed_record(k, s, code, e)
                handle(rec, bar)
                for f in fill():
                    done.add(f)
            return ended(bar)
        finally:
            bar.close()


def trial_line(rec: dict, done: int, total: int) -> str:
    """One line on a finished trial for a log: ``HH:MM:SS done/total problem optimizer
    hyper seed N: status, wall time``."""
    s = rec.get("spec", {})
    hyper = ", ".join(f"{k}={v}" for k, v in sorted((s.get("hyper") or {}).items()))
    wall = rec.get("wall_time", float("nan"))
    took = _duration(wall)
    if "wall_time_run" in rec:
        took += (f" (this run {_duration(rec['wall_time_run'])}, resumed after epoch "
                 f"{rec.get('resumed_after_epochs', '?')})")
    return (f"{_dt.datetime.now().strftime('%H:%M:%S')} {done}/{total} "
            f"{s.get('problem', '?')} {s.get('optimizer', '?')}"
            f"{' ' + hyper if hyper else ''} seed {s.get('seed', '?')}: "
            f"{rec.get('status', '?')}, {took}")


def _duration(seconds: float) -> str:
    return (f"{seconds / 60:.1f} min" if seconds == seconds and seconds >= 60
            else f"{seconds:.1f} s")


def host_description() -> str:
    return f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cpus)"
