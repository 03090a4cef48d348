"""Stops of a study run (SIGTERM, Ctrl-C), held back while a result file is written.

``python -m studies`` turns SIGTERM (and Ctrl-C) into an exception raised in the main
thread, so that a run closes its Dask cluster and keeps its finished trials
(:mod:`studies.cli`). Raised in the middle of writing a netCDF file, such an exception can
leave a lock of the HDF5 / xarray file machinery held, and the run then hangs instead of
exiting: seen in about 1 stop in 30 under load, the main thread stuck in
``Dataset.to_netcdf`` (py-spy). So every atomic write of :mod:`studies.store` runs inside
:func:`deferred`: a stop that arrives meanwhile is raised as soon as the write is done
(the file is then complete and in place), never in the middle of it.

Python runs signal handlers in the main thread only, which is where the runner writes;
:func:`deferred` in another thread does nothing.
"""
from __future__ import annotations

import contextlib
import threading

_state = {"depth": 0, "pending": None}


@contextlib.contextmanager
def deferred():
    """Hold back :func:`deliver`-ed stops until the block ends (nests); then raise the
    first one held (it replaces an exception the block raised, chained to it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0 and _state["pending"] is not None:
            exc, _state["pending"] = _state["pending"], None
            raise exc


def deliver(exc: BaseException) -> None:
    """Raise ``exc`` now, or, inside :func:`deferred`, when the outermost block ends."""
    if _state["depth"] > 0:
        if _state["pending"] is None:
            _state["pending"] = exc
        return
    raise exc
