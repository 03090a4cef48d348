"""Slow subprocess suites (the CUDA simulator) on the core the rest of the suite leaves idle.

The simulator suites must run in fresh processes (``NUMBA_ENABLE_CUDASIM`` has to be set
before ``numba.cuda`` is imported) and take minutes of one core each, while the rest of
the test suite is mostly single-threaded. A wrapper test registers its command with
:func:`register` and marks itself with :func:`uses`; when such tests are selected,
conftest.py starts their commands right after collection, one at a time in a background
thread, and each wrapper then waits for its own result with :func:`result`. Run alone
(nothing started in the background), :func:`result` runs the command in the foreground,
so a wrapper test means the same thing either way.
"""
from __future__ import annotations

import subprocess
import threading

_jobs: dict[str, tuple[list, dict, str]] = {}
_done: dict[str, threading.Event] = {}
_results: dict[str, object] = {}
_procs: list[subprocess.Popen] = []


def register(key: str, argv: list, env: dict, cwd) -> None:
    """Declare the command of background job ``key``."""
    _jobs[key] = (list(argv), dict(env), str(cwd))


def uses(*keys: str):
    """Decorator: the test waits for these background jobs (conftest starts them)."""
    def mark(fn):
        fn.background_keys = tuple(keys)
        return fn
    return mark


def _run(key: str) -> subprocess.CompletedProcess:
    argv, env, cwd = _jobs[key]
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _procs.append(proc)
    out, err = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def start(keys) -> None:
    """Run the registered jobs ``keys`` one after another in a daemon thread."""
    todo = [k for k in dict.fromkeys(keys) if k in _jobs and k not in _done]
    if not todo:
        return
    for k in todo:
        _done[k] = threading.Event()

    def work():
        for k in todo:
            try:
                _results[k] = _run(k)
            except BaseException as e:  # reported by result()
                _results[k] = e
            finally:
                _done[k].set()

    threading.Thread(target=work, name="background-suites", daemon=True).start()


def result(key: str, timeout: float) -> subprocess.CompletedProcess:
    """The finished job ``key`` (run now, in the foreground, if it was not started)."""
    if key not in _jobs:
        raise KeyError(f"no background job {key!r}; registered: {sorted(_jobs)}")
    ev = _done.get(key)
    if ev is None:
        argv, env, cwd = _jobs[key]
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if not ev.wait(timeout):
        raise TimeoutError(f"background job {key!r} did not finish within {timeout} s")
    r = _results[key]
    if isinstance(r, BaseException):
        raise r
    return r


def stop() -> None:
    """Kill jobs still running (the session ends early, e.g. with -x or Ctrl-C)."""
    for p in _procs:
        if p.poll() is None:
            p.kill()
