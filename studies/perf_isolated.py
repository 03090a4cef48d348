"""Run one timing function in a fresh Python process (helper of the performance study).

Why: each library brings its own thread pool. Numba's OpenMP workers, OpenBLAS's pthreads
(two copies: SciPy's, which Numba's ``np.dot`` calls, and NumPy's) and PyTorch's OpenMP
workers all keep spinning for a while after their work, so timing one library right after
(or interleaved with) another in the same process measures the fight between the pools,
not the library. Measured on the 2-core machine: PyTorch's MNIST epoch took 7-20 s after
adaptlr had trained in the same process against 3.5 s on its own, and interleaved NumPy and
Numba GEMMs ran at 17-35 GFLOP/s against 95 alone. So the PyTorch references and the GEMM
bound are each measured in a subprocess that imports only what it times.

``call(module, function, kwargs)`` pickles ``kwargs`` (arrays included) to a temporary
file, runs ``python -m studies.perf_isolated FILE`` with the same environment, and returns
the function's (pickled) result. Exceptions in the child come back as ``RuntimeError`` with
the child's last lines of stderr.
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ALLOWED_MODULES = ("studies.perf_torch", "studies.perf_mlp", "studies.perf_machine")


def call(module: str, function: str, kwargs: dict, timeout: float = 1800,
         env: dict | None = None):
    """``module.function(**kwargs)`` evaluated in a fresh interpreter; its return value.

    ``env``: variables set (over this process's environment) in the child only, e.g. a
    thread-pool setting that a library reads once when it loads (``OPENBLAS_THREAD_TIMEOUT``
    is read when NumPy loads OpenBLAS, so it cannot be set from inside a process)."""
    if module not in ALLOWED_MODULES:
        raise ValueError(f"module must be one of {ALLOWED_MODULES}, got {module!r}")
    for k, v in (env or {}).items():
        if not (isinstance(k, str) and k and "=" not in k and isinstance(v, str)):
            raise ValueError(f"env entry {k!r}: {v!r} is not allowed; allowed: a variable name "
                             "(a non-empty string without '=') mapped to a string")
    with tempfile.TemporaryDirectory(prefix="adaptlr-perf-") as d:
        inp, outp = Path(d) / "in.pkl", Path(d) / "out.pkl"
        with open(inp, "wb") as f:
            pickle.dump({"module": module, "function": function, "kwargs": kwargs,
                         "out": str(outp)}, f, protocol=pickle.HIGHEST_PROTOCOL)
        root = Path(__file__).resolve().parent.parent
        child = dict(os.environ)
        child.update(env or {})
        env = child
        env["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in [env.get("PYTHONPATH")] if p])
        r = subprocess.run([sys.executable, "-m", "studies.perf_isolated", str(inp)],
                           capture_output=True, text=True, timeout=timeout, env=env, cwd=root)
        if r.returncode != 0 or not outp.is_file():
            tail = " | ".join(r.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"isolated {module}.{function} failed (exit {r.returncode}): {tail}")
        with open(outp, "rb") as f:
            return pickle.load(f)


def _main(path: str) -> None:
    with open(path, "rb") as f:
        job = pickle.load(f)
    mod = importlib.import_module(job["module"])
    result = getattr(mod, job["function"])(**job["kwargs"])
    with open(job["out"], "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    _main(sys.argv[1])
