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
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

TRIALS = "trials"
TMP_PREFIX = ".tmp-"


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


@contextlib.contextmanager
def _replacing(path: Path, suffix: str = ""):
    """Yield a temporary file name beside ``path``; on success move it over ``path``
    (``os.replace``, then fsync of the folder); on any error delete it."""
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
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
    return Path(out) / TRIALS / f"{key}.nc"


def finished_keys(out: Path) -> set[str]:
    """Keys of every trial file present in ``out/trials`` (temporaries excluded)."""
    d = Path(out) / TRIALS
    if not d.is_dir():
        return set()
    return {p.stem for p in d.glob("*.nc") if not p.name.startswith(TMP_PREFIX)}


def trial_status(out: Path, key: str) -> str:
    """The stored status of one trial (reads only the file's attributes)."""
    import netCDF4

    with netCDF4.Dataset(trial_path(out, key)) as nc:
        return str(nc.getncattr("status"))


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
        "worker": result.get("worker", ""),
        "finished": result.get("finished", ""),
        "environment": result.get("environment", ""),
    }
    return ds


def write_trial(out: Path, result: dict) -> Path:
    """Store one finished trial atomically under its key."""
    return atomic_write_dataset(trial_dataset(result), trial_path(out, result["key"]))


def read_trial(out: Path, key: str) -> xr.Dataset:
    """Load one stored trial fully into memory (the file is closed afterwards)."""
    with xr.open_dataset(trial_path(out, key), engine="netcdf4") as ds:
        return ds.load()
