"""Carry stored trials over to new keys when the code that computed them is unchanged.

The trial key holds a hash of the source files a study's results depend on
(:func:`studies.expand.hashed_files`). When the *rule* that picks those files or what of
them is hashed changes (:data:`studies.expand.KEY_SCHEME`: scheme 2 leaves out the method
modules of optimizers a study does not use, scheme 3 hashes code text without comments and
docstrings, scheme 4 gives each trial the method module of its own optimizer only), or
when a library change touches only files that a study's rule leaves out, the stored
trials get other keys although the code that computed them is, file for file, the code
the new key covers.

:func:`rekey` proves that per trial and only then carries it over. For a trial of study S
stored with code version ``c`` (of scheme ``s``: 1 when ``c`` names none), it looks for a
git commit ``R`` among ``revs`` such that:

1. ``c`` is S's scheme-``s`` code version at ``R`` and the trial's key is the key of its
   own spec with ``c`` (the trial is what commit R computes), and
2. S's code version under the current scheme at ``R`` equals S's code version of the
   checkout now (every file the new key covers is the same as the key rule sees it), and
   the package version is the same,
3. its spec is one of S's trials now;

where, from rule 4 on, "code version" means the part of it that covers this trial
(:func:`studies.expand.trial_code`: the shared files and the trial's own method module).

Then the trial is carried: the ledger ``trials/carried.json`` (:mod:`studies.store`) maps
its current key to the stored file, with ``R`` and the current code version, and every
reader sees it under the current key, with the code version that computed it in the
attribute ``code_version_computed`` and ``R`` in ``rekeyed_from``. The trial file itself is
not rewritten (rewriting every stored study's files made a submission too large to land).
Anything else is left alone (and ``prune`` lists it as stale). A trial carried earlier
(a ledger key) is checked against the code version the ledger gave it and carried from
the same file.

:func:`verify` is the carry-over for what that proof cannot cover: a change to a covered
file that keeps the arithmetic (a refactor, a faster loop in the same order). It
*recomputes* each stored trial that the current code would key differently, with the
current code, and compares the result with the stored file: the status, the message,
the divergence step and every variable bit for bit (NaN where NaN), except the variables
that time the machine (:func:`timing_vars`: their units are seconds). Where all agree the
stored trial is what the current code computes, and the ledger carries it as above with
``by = "recomputation"`` and ``rev`` the checkout's commit (``-dirty`` appended when the
covered code differs from it): it costs the compute, but no trial file is written, so a
refactor of a shared module re-keys nothing that the submission's diff limit sees. Where
anything differs the recomputed trial is a result of the current code and is stored
under its key like any run's, and the old file becomes stale (``prune``). Trials stored
as failed are not results and are not recomputed here (``run --retry-failed``).

``verify(sample=K)`` (``rekey --verify --sample K``) is the same check on a stratified
sample, for a change that is meant to keep every bit (a faster loop in the same order)
where recomputing every stored trial would cost the study again. The candidates are
grouped into strata (:func:`stratum`: everything of the spec but the seed and the
hyperparameters' values, the stored status and the stored environment, so ok and diverged
trials, every optimizer, problem, batch size, dtype, L2 and machine are strata of their
own; a trial whose recorded OpenBLAS kernel set is not this process's is left out with a
note, as its bits depend on it: run again with ``OPENBLAS_CORETYPE`` set to it; so is one
whose recorded thread counts are not those the recomputations get, :func:`run_threads`:
a local cluster gives each worker cores // ``--workers`` threads, and two verify runs of
``--workers 1`` side by side on 2 cores recomputed 1-thread M2 trials with 2 threads and
stored them as new trials, their losses 1 ulp off, 2026-12-06); in each,
the ``K
trials that took least wall time when stored are recomputed and compared as above. Where
every one of them is bit for bit the stored trial, the stratum's other trials are carried
too, with ``by = "sampled recomputation (k of n)"``; where one differs or fails, none of
the stratum's others is (they stay stale: ``run`` recomputes them, or ``--sample`` with a
larger K or plain ``--verify``). This is evidence, not the per-trial proof of the plain
form: it holds for a change whose arithmetic is the same in every stratum or different in
all its trials (a different order of sums moves the bits of every trial of a stratum,
as six epochs of training amplify one ulp); it can miss a change that only moves the bits
of some hyperparameter values or some seeds of a stratum. The ledger and each trial's
``carried_by`` say which trials were carried this way.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from . import store
from .expand import (SourceTree, code_at, code_version, expand, git_info, keyed, trial_code,
                     trial_key)


def full_commit(rev: str) -> str:
    """The full hash of commit ``rev`` of the checkout (what the ledger records), or ``rev``
    itself where git cannot resolve it (:class:`~studies.expand.SourceTree` then names it)."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet",
                          f"{rev}^{{commit}}"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else rev


def _scheme(code: dict) -> int | None:
    """The key rule a stored code version was made under (None: not a code version)."""
    if set(code) == {"adaptlr", "source_sha256"}:
        return 1
    s = code.get("key_scheme")
    if not isinstance(s, int) or isinstance(s, bool):
        return None
    if set(code) == {"adaptlr", "key_scheme", "source_sha256"} and 2 <= s <= 3:
        return s
    if set(code) == {"adaptlr", "key_scheme", "source_sha256", "methods"} and s >= 4:
        return s
    return None


def rekey(study, out: Path, revs: list[str], *, apply: bool = False) -> dict:
    """Carry over the trials of ``study`` in ``out`` that the proof above covers.

    Returns ``{"rekeyed": [(old key, new key, rev)], "current": n, "left": [(key, why)]}``;
    with ``apply=False`` nothing is written (a dry run).
    """
    now = code_version(study)
    wanted = {k for k, _ in keyed(expand(study), now)}
    trees = {rev: SourceTree(rev) for rev in revs}
    codes: dict[tuple[str, int], dict] = {}

    def at(rev: str, scheme: int) -> dict:
        if (rev, scheme) not in codes:
            codes[rev, scheme] = code_at(study, trees[rev], scheme=scheme)
        return codes[rev, scheme]

    res: dict = {"rekeyed": [], "current": 0, "left": []}
    carry: dict[str, tuple[str, str, dict]] = {}
    carried_from = {e["stored"] for k, e in store.read_carried(out)["trials"].items()
                    if k in wanted}
    for key in sorted(store.finished_keys(out)):
        if key in wanted:
            res["current"] += 1
            continue
        if key in carried_from:     # the file of a current carried key: nothing to do
            continue
        ds = store.read_trial(out, key)
        spec = json.loads(ds.attrs["spec"])
        code = json.loads(ds.attrs["code_version"])
        if trial_key(spec, code) != key:
            res["left"].append((key, "its key is not the key of its own spec and code"))
            continue
        new = trial_key(spec, now)
        if new not in wanted:
            res["left"].append((key, "its spec is not among the study's trials now"))
            continue
        if code.get("adaptlr") != now["adaptlr"]:
            res["left"].append((key, f"package version {code.get('adaptlr')} != {now['adaptlr']}"))
            continue
        scheme = _scheme(code)
        mine = trial_code(spec, code) if scheme is not None else None
        rev = None if scheme is None else next(
            (r for r in revs if mine == trial_code(spec, at(r, scheme))), None)
        if rev is None:
            res["left"].append((key, f"computed at none of {revs}"))
            continue
        if trial_code(spec, at(rev, now["key_scheme"])) != trial_code(spec, now):
            res["left"].append((key, f"files its new key covers changed since {rev}"))
            continue
        if new in carry:        # two stored trials of one spec (a rerun and a carry-over)
            continue
        res["rekeyed"].append((key, new, rev))
        carry[new] = (store.stored_path(out, key).stem, str(rev), now)
    if apply and carry:
        store.write_carried(out, carry)
    return res


def timing_vars(study, names) -> set[str]:
    """The trial variables among ``names`` that time the machine rather than compute a
    result: units of seconds in ``study.variables``, or a name ending in ``_seconds`` or
    ``_time`` (``train_seconds``). A recomputation never repeats them; :func:`verify`
    leaves them out of the comparison (the stored file keeps its own)."""
    meta = getattr(study, "variables", {}) or {}
    return {n for n in names
            if (meta.get(n) or {}).get("units") == "s" or n.endswith(("_seconds", "_time"))}


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit, NaN where NaN (netCDF decodes every NaN to one pattern)."""
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    if a.dtype != b.dtype:
        return False
    na, nb = np.isnan(a), np.isnan(b)
    return bool(np.array_equal(na, nb)) and a[~na].tobytes() == b[~nb].tobytes()


def differences(stored, rec: dict, ignore=()) -> list[str]:
    """What differs between a stored trial (Dataset) and a result record of
    :func:`studies.runner.execute` (empty: the same result), leaving out ``ignore``."""
    why = []
    if rec["status"] != stored.attrs.get("status"):
        why.append(f"status {stored.attrs.get('status')} -> {rec['status']}")
    if str(rec["message"]) != str(stored.attrs.get("message", "")):
        why.append("message")
    if int(rec["diverged_step"]) != int(stored.attrs.get("diverged_step", -1)):
        why.append(f"diverged_step {stored.attrs.get('diverged_step')} -> {rec['diverged_step']}")
    new = {n: v for n, v in rec["vars"].items() if n not in ignore}
    old = {n for n in stored.data_vars if n not in ignore}
    if set(new) != old:
        why.append(f"variables {sorted(old ^ set(new))} only on one side")
    for n in sorted(set(new) & old):
        dims, values = new[n]
        if tuple(dims) != tuple(stored[n].dims) or not _same_values(np.asarray(values),
                                                                     stored[n].values):
            why.append(n)
    return why


def stratum(spec: dict, status: str, environment: str = "") -> str:
    """The stratum of a stored trial in a sampled verification (module docstring): its spec
    without the seed, the hyperparameters' names without their values, its status and the
    environment it was computed in (its ``environment`` attribute: bits depend on the CPU,
    Numba's target and the BLAS kernels as well as on the code; "" where not recorded)."""
    s = {k: v for k, v in spec.items() if k != "seed"}
    s["hyper"] = sorted(s.get("hyper") or {})
    return json.dumps([s, status, environment], sort_keys=True)


def stored_facts(path) -> tuple[dict, str, str, float | None]:
    """``(spec, status, environment, wall time or None)`` of one stored trial file, read in
    one open without loading its variables (what :func:`stratum` and
    :func:`sample_strata` need)."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        names = nc.ncattrs()
        spec = json.loads(nc.getncattr("spec"))
        status = str(nc.getncattr("status"))
        env = str(nc.getncattr("environment")) if "environment" in names else ""
        w = store.file_wall_time(nc)
    return spec, status, env, w


def parsed_environment(environment: str) -> dict | None:
    """A recorded trial environment (JSON, :func:`studies.provenance.environment`) as a
    dict: ``{}`` where none is recorded, None where it is not a JSON object. Parsed once
    per stored trial by :func:`verify` for both :func:`environment_kernels` and
    :func:`environment_threads`."""
    try:
        env = json.loads(environment) if environment else {}
    except (ValueError, TypeError):
        return None
    return env if isinstance(env, dict) else None


def blas_kernels(environment: str) -> frozenset | None:
    """The OpenBLAS kernel sets (``architecture``) a recorded trial environment names (JSON,
    :func:`studies.provenance.environment`); None where it names none or is not JSON."""
    env = parsed_environment(environment)
    return None if env is None else environment_kernels(env)


def environment_kernels(env: dict) -> frozenset | None:
    """The OpenBLAS kernel sets an environment dict (:func:`studies.provenance.environment`,
    already parsed) names; None where it names none or is not a dict of that shape."""
    try:
        archs = {str(b["architecture"]) for b in env.get("blas", [])
                 if isinstance(b, dict) and b.get("architecture")}
    except (TypeError, AttributeError):
        return None
    return frozenset(archs) or None


def current_blas_kernels() -> frozenset | None:
    """The OpenBLAS kernel sets of this process (set by ``OPENBLAS_CORETYPE`` or chosen for
    the CPU); the workers of a local cluster inherit the environment variable."""
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS)

    from .provenance import environment
    return environment_kernels(environment())


def _other_kernels(there: frozenset, here: frozenset) -> str:
    """Why a trial computed with OpenBLAS kernels ``there`` is left out of a sampled
    verify run with ``here``, and where it can be verified (:mod:`studies.blas_host`:
    a CPU without AVX-512 cannot run the SkylakeX kernels at all)."""
    from .blas_host import unrunnable

    k = sorted(there)[0]
    why = (f"computed with OpenBLAS kernels {sorted(there)}, this process has {sorted(here)}: "
           "its bits cannot agree here")
    host = unrunnable(k)
    if host is not None:
        return f"{why}; {host}: verify it on a CPU that has them, with OPENBLAS_CORETYPE={k}"
    return f"{why} (OPENBLAS_CORETYPE={k} verifies it)"


def recorded_threads(environment: str) -> dict | None:
    """The thread counts (``NUMBA_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` ...: the
    ``thread_env`` of :func:`studies.provenance.environment`) a recorded trial environment
    names; None where it names none or is not JSON."""
    env = parsed_environment(environment)
    return None if env is None else environment_threads(env)


def environment_threads(env: dict) -> dict | None:
    """The thread counts an environment dict (already parsed) names; None where it names
    none or is not a dict of that shape."""
    te = env.get("thread_env") if isinstance(env, dict) else None
    if not isinstance(te, dict) or not te:
        return None
    return {str(k): str(v) for k, v in sorted(te.items())}


def run_threads(workers: int | None, scheduler: str | None = None) -> dict | None:
    """The thread counts the recomputations of :func:`verify` run with: a local cluster's
    workers get :func:`studies.runner.worker_env` (cores // workers each), ``workers=0``
    runs them in this process with its environment; None with ``scheduler`` (a remote
    cluster's workers are not known here, so nothing is checked)."""
    import os

    from .provenance import THREAD_VARS
    from .runner import worker_env

    if workers is not None and (isinstance(workers, bool) or int(workers) != workers
                                or workers < 0):
        raise ValueError(f"workers must be an integer >= 0 (0: in this process, no Dask), "
                         f"got {workers!r}")
    if scheduler:
        return None
    if workers == 0:
        return {v: os.environ.get(v, "") for v in THREAD_VARS}
    cores = os.cpu_count() or 1
    return dict(sorted(worker_env(int(workers) if workers else cores, cores).items()))


def _other_threads(there: dict, here: dict) -> str:
    """Why a trial computed with the thread counts ``there`` is left out of a sampled verify
    run whose recomputations get ``here``, and how to match it."""
    import os

    def show(d):
        return ", ".join(f"{k}={v or 'unset'}" for k, v in sorted(d.items()))

    why = (f"computed with {show(there)}, this run's recomputations get {show(here)}: the "
           "thread counts decide a trial's last bits, so its bits can differ here")
    try:
        t = int(there.get("NUMBA_NUM_THREADS") or there.get("OPENBLAS_NUM_THREADS") or "")
    except ValueError:
        return why
    cores = os.cpu_count() or 1
    if t >= 1 and cores % t == 0:
        return f"{why} (--workers {cores // t} on this {cores}-core machine matches it)"
    return f"{why} (a machine whose cores // --workers is {t} matches it)"


def sample_strata(cands: dict[str, tuple[str, float | None]], k: int
                  ) -> dict[str, tuple[list[str], list[str]]]:
    """``{stratum: (sampled current keys, the others)}`` of ``cands`` = ``{current key:
    (stratum, stored wall time or None)}``: the ``k`` of least stored wall time (unknown
    times last, ties by key), so the sample is deterministic and as cheap as it can be."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"sample must be an integer >= 1 (trials recomputed per stratum), "
                         f"got {k!r}")
    groups: dict[str, list[tuple[float, str]]] = {}
    for key, (st, w) in cands.items():
        groups.setdefault(st, []).append((float("inf") if w is None else w, key))
    out = {}
    for st, members in sorted(groups.items()):
        members.sort()
        out[st] = ([key for _, key in members[:k]], [key for _, key in members[k:]])
    return out


def verify(study, out: Path, *, apply: bool = False, workers: int | None = None,
           scheduler: str | None = None, progress: bool | str = True, whole=None,
           sample: int | None = None, stop_by: float | None = None) -> dict:
    """Carry over by recomputation (module docstring) the stored trials of ``study`` in
    ``out`` that the current code keys differently.

    ``study`` may be a part of a study (``--problems``, ``--only``, ``--seeds``): its trials
    have the whole form's keys, so a large study can be verified piece by piece; ``whole``
    (the full form) then tells the stored trials of the other parts (counted in
    ``outside``) from those of no part. A recomputation that fails (an exception, a lost
    worker) is not stored: the trial is left, with the message.
    A resumable study's recomputations (:mod:`studies.checkpoint`, vsgd-longrun's hours-long
    trials) checkpoint every epoch under their current key, as a run's do: a killed verify
    goes on from there, and with ``stop_by`` (seconds since the epoch, ``--stop-by``) they
    pause by then; a paused or unstarted recomputation is left ("run the same command
    again"), and a sampled stratum whose sample has not finished carries nothing yet.
    Returns ``{"candidates": [(stored key, current key)], "carried": [(stored, current)],
    "recomputed": [(stored, current, [what differs])], "current": n, "outside": n,
    "left": [(key, why)]}``; with ``apply=False`` nothing is computed or written (it lists
    the candidates). With ``sample=K`` (module docstring) ``candidates`` are the trials to
    recompute, and the result adds ``"by_sample": [(stored, current)]`` (carried without
    recomputation because their stratum's sample agreed bit for bit) and ``"strata":
    {stratum: (number recomputed, number in it)}``.
    """
    from . import checkpoint
    from .runner import compute_trials, run_deadline

    out = Path(out)
    now = code_version(study)
    wanted = dict(keyed(expand(study), now))
    done = store.finished_keys(out)
    carried_from = {e["stored"] for k, e in store.read_carried(out)["trials"].items()
                    if k in wanted}
    others = set(wanted) if whole is None else {k for k, _ in keyed(expand(whole), now)}
    res: dict = {"candidates": [], "carried": [], "recomputed": [], "current": 0, "outside": 0,
                 "left": []}
    todo: dict[str, str] = {}           # current key -> stored key
    specs: dict[str, tuple[dict, str, str]] = {}
    walls: dict[str, float | None] = {}
    for key in sorted(store.file_keys(out)):
        if key in wanted:
            res["current"] += 1
            continue
        if key in carried_from:
            continue
        spec, status, env, wall = stored_facts(store.trial_path(out, key))
        specs[key] = (spec, status, env)
        walls[key] = wall
        new = trial_key(spec, now)
        if new not in wanted and new in others:
            res["outside"] += 1         # another part of the study
        elif new not in wanted:
            res["left"].append((key, "its spec is not among the study's trials now"))
        elif new in done or new in todo:
            continue                     # current already (a rerun, a carry-over)
        elif status == "failed":
            res["left"].append((key, "stored as failed: not a result to carry over "
                                     "(run --retry-failed computes it)"))
        else:
            todo[new] = key
    rest: dict[str, tuple] = {}    # stratum -> (its sample, the keys carried if the sample agrees)
    if sample is not None:
        here = current_blas_kernels()
        threads_here = run_threads(workers, scheduler)
        for new, old in list(todo.items()):
            env = parsed_environment(specs[old][2])
            there = None if env is None else environment_kernels(env)
            if here is not None and there is not None and there != here:
                res["left"].append((old, _other_kernels(there, here)))
                del todo[new]
                continue
            threads_there = None if env is None else environment_threads(env)
            if (threads_here is not None and threads_there is not None
                    and {k: threads_here.get(k, "") for k in threads_there} != threads_there):
                res["left"].append((old, _other_threads(threads_there, threads_here)))
                del todo[new]
        strata = sample_strata({new: (stratum(*specs[old]), walls[old])
                                for new, old in todo.items()}, sample)
        res["by_sample"] = []
        res["strata"] = {st: (len(a), len(a) + len(b)) for st, (a, b) in strata.items()}
        rest = {st: (a, b) for st, (a, b) in strata.items()}
        todo_all, todo = todo, {new: todo[new] for a, _ in strata.values() for new in a}
    res["candidates"] = [(old, new) for new, old in sorted(todo.items(), key=lambda kv: kv[1])]
    if not apply or not todo:
        return res
    commit, dirty = git_info()
    rev = commit + ("-dirty" if dirty else "")

    judged: set = set()

    def judge(rec: dict) -> str:
        judged.add(rec["key"])
        old = todo[rec["key"]]
        stored = store.read_trial(out, old)
        if rec["status"] == "failed":           # (failed stored trials are never in todo)
            first = rec["message"].splitlines()[0] if rec["message"] else ""
            res["left"].append((old, f"its recomputation failed ({first}); nothing stored"))
            return ""
        why = differences(stored, rec, timing_vars(study, set(rec["vars"]) | set(stored.data_vars)))
        if why:
            store.write_trial(out, rec)      # a result of the current code, stored as any run's
            res["recomputed"].append((old, rec["key"], why))
            return f"differs, stored as a new trial: {rec['key'][:12]} ({', '.join(why)[:120]})"
        store.write_carried(out, {rec["key"]: (old, rev, now, "recomputation")})
        res["carried"].append((old, rec["key"]))
        return ""

    store.ensure_writable(out)
    runs = [(k, wanted[k]) for k in sorted(todo)]
    deadline = None if stop_by is None else run_deadline(
        study, out, list(wanted.items()), runs, stop_by, scheduler)
    compute_trials(study, runs, now, judge, workers=workers, scheduler=scheduler,
                   progress=progress, deadline=deadline,
                   checkpoints=(out / checkpoint.FOLDER).resolve() if study.resumable else None)
    unfinished = set(todo) - judged
    res["left"] += [(todo[new], "its recomputation paused or did not start by --stop-by "
                     "(checkpointed where it began): run the same command again")
                    for new in sorted(unfinished)]
    if sample is not None:
        agreed = {new for _, new in res["carried"]}
        for st, (mine, others) in rest.items():
            n_rec, n = res["strata"][st]
            if not others:
                continue
            if set(mine) & unfinished:
                res["left"] += [(todo_all[new], "its stratum's sampled recomputation has not "
                                 "finished: run the same command again") for new in others]
                continue
            if not all(new in agreed for new in mine):
                res["left"] += [(todo_all[new], "its stratum's sampled recomputation did not "
                                 "agree bit for bit (or failed); not carried") for new in others]
                continue
            by = f"sampled recomputation ({n_rec} of {n})"
            store.write_carried(out, {new: (todo_all[new], rev, now, by) for new in others})
            res["by_sample"] += [(todo_all[new], new) for new in others]
    return res
