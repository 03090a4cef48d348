"""Storage: one netCDF file per finished trial, written atomically.

Layout of an output directory ``OUT``::

    OUT/trials/<key>.nc     one finished trial (any status), named by its key
    OUT/<study>.nc          the combined Dataset (studies.combine)
    OUT/<study>.md, OUT/*.png   the report (studies.report)

Every file is written to a temporary file in the *same* directory, flushed and fsync'ed,
then moved over the final name with :func:`os.replace` (atomic on POSIX). A reader
therefore sees either the old complete file or the new complete file, never a partial
one; a process killed mid-write leaves only a ``.tmp-*`` file, which is ignored and
removed by the next run (:func:`clean_temporaries`).

A trial file holds the trial's variables (named dims) and the attributes ``key``,
``spec`` (JSON), ``code_version`` (JSON), ``status`` (``ok``/``diverged``/``failed``),
``message``, ``wall_time``, ``worker``, ``finished``. Its existence means "done": a rerun
skips it.

``OUT/trials/carried.json`` is the carry-over ledger of :mod:`studies.rekey`: trials that
are stored under an older key but proved to be what the current code computes. It maps a
current key to the stored file's key, with the commit that proved it and the current
code version, so a carry-over writes a line of JSON instead of a copy of the trial (a
re-keying of every stored study rewrote about 120 MB of netCDF before)::

    {"versions": [<code version>, ...],
     "trials": {<current key>: {"stored": <key of the file>, "rev": <commit>,
                                 "version": <index into versions>[, "by": <how>]}}}

``by`` says how the carry-over was proved: absent for the proof from the source
(:func:`studies.rekey.rekey`: the covered code is unchanged since ``rev``), ``"recomputation"``
for :func:`studies.rekey.verify` (the code at ``rev`` recomputed the trial bit for bit), and
``"sampled recomputation (k of n)"`` for its sampled form (k trials of the trial's stratum
of n were recomputed bit for bit; this one was not: evidence, not a per-trial proof).

:func:`finished_keys`, :func:`read_trial` and :func:`trial_status` see a carried key as a
stored trial; :func:`read_trial` gives it its current key and code version and keeps the
code version that computed it in ``code_version_computed``, the commit in ``rekeyed_from``
and, for a recomputed one, ``carried_by`` (``"recomputation"``). A trial file stored under
the key itself (a rerun) takes precedence.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from .interrupt import deferred

TRIALS = "trials"
TMP_PREFIX = ".tmp-"
CARRIED = "carried.json"


class OutputDirError(OSError):
    """The output directory cannot be created or written."""


def ensure_writable(out: Path) -> Path:
    """Create ``out/trials`` and check that files can be created there.

    Raises :class:`OutputDirError` with the path and the reason otherwise.
    """
    out = Path(out)
    try:
        (out / TRIALS).mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX, dir=out / TRIALS)
        os.close(fd)
        os.unlink(probe)
        fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX, dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputDirError(
            f"output directory {str(out)!r} is not writable ({e.strerror or e}); "
            "choose another with --out DIR") from None
    return out


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process's umask: from ``/proc/self/status`` where Linux says it, else by
    ``os.umask`` (which only sets it, returning the old one: set, then put back; a file
    another thread creates in between would get 022)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    m = os.umask(0o022)
    os.umask(m)
    return m


@contextlib.contextmanager
def _replacing(path: Path, suffix: str = ""):
    """Yield a temporary file name beside ``path``; on success move it over ``path``
    (``os.replace``, then fsync of the folder); on any error delete it. A stop of the run
    (SIGTERM, Ctrl-C) that arrives meanwhile is raised when this is done."""
    with deferred():       # a SIGTERM / Ctrl-C waits for the file (studies.interrupt)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=path.parent)
        os.close(fd)
        try:
            # mkstemp makes the file 0600; a result is read by others (a group's cluster,
            # a web server), so give it the mode open() would: 0666 less the umask
            os.chmod(tmp, 0o666 & ~_umask())
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)


def atomic_write_dataset(ds: xr.Dataset, path: Path) -> Path:
    """Write ``ds`` as netCDF4 to ``path`` atomically (temp file + fsync + os.replace)."""
    path = Path(path)
    enc = {v: {"zlib": True, "complevel": 4} for v in ds.variables
           if ds[v].dtype.kind in "biuf" and ds[v].ndim > 0}
    with _replacing(path, ".nc") as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=enc)
    return path


def atomic_write_bytes(data: bytes, path: Path) -> Path:
    """Write ``data`` to ``path`` atomically (used for Markdown and PNG reports)."""
    path = Path(path)
    with _replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return path


def trial_path(out: Path, key: str) -> Path:
    """Where the trial file of ``key`` is written (see :func:`stored_path` for reading)."""
    return Path(out) / TRIALS / f"{key}.nc"


def file_keys(out: Path) -> set[str]:
    """Keys of the trial files present in ``out/trials`` (temporaries excluded)."""
    d = Path(out) / TRIALS
    if not d.is_dir():
        return set()
    return {p.stem for p in d.glob("*.nc") if not p.name.startswith(TMP_PREFIX)}


class LedgerError(ValueError):
    """``trials/carried.json`` is not a carry-over ledger (corrupt or hand-edited)."""


_LEDGERS: dict[str, tuple[tuple, dict]] = {}   # path -> ((mtime_ns, size, inode), ledger)


def read_carried(out: Path) -> dict:
    """The carry-over ledger of ``out`` (module docstring); empty if there is none. Parsed
    once per version of the file (a combine reads it for every trial); do not modify."""
    p = Path(out) / TRIALS / CARRIED
    try:
        st = p.stat()
    except FileNotFoundError:
        return {"versions": [], "trials": {}}
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _LEDGERS.get(str(p))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    led = _parse_carried(p)
    _LEDGERS[str(p)] = (stamp, led)
    return led


def _parse_carried(p: Path) -> dict:
    try:
        led = json.loads(p.read_text())
        versions, trials = led["versions"], led["trials"]
        for k, e in trials.items():
            if not (isinstance(e["stored"], str) and isinstance(e["rev"], str)
                    and 0 <= int(e["version"]) < len(versions)
                    and isinstance(e.get("by", ""), str)):
                raise ValueError(k)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LedgerError(f"{str(p)!r} is not a carry-over ledger ({type(e).__name__}: {e}); "
                          "allowed: the JSON studies.rekey writes; restore it from git or "
                          "delete it (its trials then count as stale)") from None
    return led


def write_carried(out: Path, entries: dict[str, tuple], *,
                  drop: set[str] = frozenset()) -> Path:
    """Add ``{current key: (stored key, rev, code version[, by])}`` to the ledger of ``out``
    and remove the keys in ``drop``; written atomically, keys sorted (small, stable diffs).
    ``by`` (module docstring) is left out of the line when it is empty."""
    led = read_carried(out)
    versions = [json.dumps(v, sort_keys=True) for v in led["versions"]]
    trials = {k: dict(e) for k, e in led["trials"].items() if k not in drop}
    for key, (stored, rev, code, *by) in entries.items():
        text = json.dumps(code, sort_keys=True)
        if text not in versions:
            versions.append(text)
        trials[key] = {"stored": stored, "rev": rev, "version": versions.index(text)}
        if by and by[0]:
            trials[key]["by"] = str(by[0])
    used = sorted({e["version"] for e in trials.values()})
    remap = {old: new for new, old in enumerate(used)}
    for e in trials.values():
        e["version"] = remap[e["version"]]
    led = {"versions": [json.loads(versions[i]) for i in used],
           "trials": dict(sorted(trials.items()))}
    path = Path(out) / TRIALS / CARRIED
    if not led["trials"]:
        path.unlink(missing_ok=True)
        return path
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(e, sort_keys=True)}"
                      for k, e in led["trials"].items())
    text = ('{\n "versions": ' + json.dumps(led["versions"], sort_keys=True)
            + ',\n "trials": {\n' + rows + "\n }\n}\n")
    return atomic_write_bytes(text.encode(), path)


def _resolve(out: Path, key: str) -> tuple[Path, dict | None]:
    """(file to read, ledger entry or None) of a finished trial ``key``."""
    own = trial_path(out, key)
    if own.is_file():
        return own, None
    led = read_carried(out)
    e = led["trials"].get(key)
    if e is None:
        return own, None       # not stored: the caller's open raises FileNotFoundError
    return trial_path(out, e["stored"]), {**e, "code": led["versions"][e["version"]]}


def stored_path(out: Path, key: str) -> Path:
    """The file that holds trial ``key`` (its own, or the one the ledger carries it from)."""
    return _resolve(out, key)[0]


def finished_keys(out: Path) -> set[str]:
    """Keys of every stored trial: the trial files in ``out/trials`` (temporaries excluded)
    and the ledger's carried keys whose file is there."""
    files = file_keys(out)
    carried = {k for k, e in read_carried(out)["trials"].items() if e["stored"] in files}
    return files | carried


def trial_status(out: Path, key: str) -> str:
    """The stored status of one trial (reads only the file's attributes)."""
    import netCDF4

    with netCDF4.Dataset(stored_path(out, key)) as nc:
        return str(nc.getncattr("status"))


def stored_timings(out: Path, trials: list, done: set | None = None) -> dict:
    """``{(problem, optimizer): [(wall seconds, cpu)]}`` of the stored trials among
    ``trials`` (``(key, spec)`` pairs; ``done``: :func:`finished_keys` when the caller has
    it): each file's ``wall_time`` and the ``cpu_target`` of its ``environment`` (the host
    CPU that timed it; None where the file has none). Files without a readable wall time
    are left out."""
    done = finished_keys(out) if done is None else done
    times: dict[tuple[str, str], list[tuple[float, str | None]]] = {}
    for k, s in trials:
        if k not in done:
            continue
        w, cpu = trial_timing(stored_path(out, k))
        if w is not None:
            times.setdefault((s["problem"], s["optimizer"]), []).append((w, cpu))
    return times


def stored_wall_times(out: Path, trials: list, done: set | None = None) -> dict:
    """``{(problem, optimizer): [wall seconds]}``: :func:`stored_timings` without the
    hosts (the report's core-hours are those of the hosts that timed the trials)."""
    return {pair: [w for w, _ in ts] for pair, ts in stored_timings(out, trials, done).items()}


def trial_timing(path: Path) -> tuple[float | None, str | None]:
    """``(wall_time, cpu_target)`` of one trial file, read without loading it: the wall time
    in seconds (None when the file has no readable one or it is NaN, a lost worker's
    record) and the host CPU of its ``environment`` attribute (None when absent)."""
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            w = file_wall_time(nc)
            env = nc.getncattr("environment") if "environment" in nc.ncattrs() else None
    except (OSError, AttributeError, ValueError):
        return None, None
    cpu = None
    if env:
        try:
            cpu = json.loads(env).get("cpu_target") or None
        except (ValueError, AttributeError):
            cpu = None
    return w, (str(cpu) if cpu else None)


def trial_wall_time(wall, train_seconds=None) -> float | None:
    """A stored trial's wall time in seconds: its ``wall_time`` attribute, or its
    ``train_seconds`` variable (the trial function's own training time, over all its runs)
    where that is larger, as a trial takes at least its training time. Trials of a
    resumable study stored before 2026-12-07 recorded only the last run's wall time
    (vsgd-longrun seeds 0 and 1: 4,001 and 4,082 s of 15,168 and 15,177 s trained); the
    runner now records the sum (:func:`studies.runner.execute`). None where neither is a
    number."""
    vals = []
    for v in (wall, train_seconds):
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if v == v:
            vals.append(v)
    return max(vals) if vals else None


def file_wall_time(nc) -> float | None:
    """:func:`trial_wall_time` of an open ``netCDF4.Dataset`` (a trial file), read without
    loading its other variables."""
    w = nc.getncattr("wall_time") if "wall_time" in nc.ncattrs() else None
    t = nc.variables.get("train_seconds")
    t = t[...].item() if t is not None and t.size == 1 else None
    return trial_wall_time(w, t)


def clean_temporaries(out: Path) -> int:
    """Remove leftover temporaries of a killed run; returns how many were removed."""
    n = 0
    for d in (Path(out), Path(out) / TRIALS):
        if d.is_dir():
            for p in d.glob(TMP_PREFIX + "*"):
                try:
                    p.unlink()
                    n += 1
                except OSError:
                    pass
    return n


def trial_dataset(result: dict) -> xr.Dataset:
    """The per-trial Dataset of a result record returned by :func:`studies.runner.execute`."""
    data_vars = {}
    for name, (dims, values) in result["vars"].items():
        data_vars[name] = (tuple(dims), np.asarray(values))
    ds = xr.Dataset(data_vars)
    ds.attrs = {
        "key": result["key"],
        "spec": json.dumps(result["spec"], sort_keys=True),
        "code_version": json.dumps(result["code"], sort_keys=True),
        "status": result["status"],
        "message": result["message"],
        "diverged": int(bool(result["diverged"])),
        "diverged_step": int(result["diverged_step"]),
        "wall_time": float(result["wall_time"]),
        **{k: type_(result[k]) for k, type_ in (("wall_time_run", float),
                                                 ("resumed_after_epochs", int))
           if k in result},
        "worker": result.get("worker", ""),
        "finished": result.get("finished", ""),
        "environment": result.get("environment", ""),
    }
    return ds


def write_trial(out: Path, result: dict) -> Path:
    """Store one finished trial atomically under its key."""
    return atomic_write_dataset(trial_dataset(result), trial_path(out, result["key"]))


def read_trial(out: Path, key: str) -> xr.Dataset:
    """Load one stored trial fully into memory (the file is closed afterwards); a carried
    trial gets its current key and code version (module docstring)."""
    path, entry = _resolve(out, key)
    with xr.open_dataset(path, engine="netcdf4") as ds:
        ds = ds.load()
    if entry is not None:
        computed = ds.attrs.get("code_version_computed", ds.attrs["code_version"])
        ds.attrs.update({"key": key, "code_version": json.dumps(entry["code"], sort_keys=True),
                         "code_version_computed": computed, "rekeyed_from": entry["rev"]})
        if entry.get("by"):
            ds.attrs["carried_by"] = entry["by"]
    return ds
