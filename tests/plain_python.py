"""Run a snippet as plain Python (``NUMBA_DISABLE_JIT=1``) in a subprocess, for the tests
that compare the debugging path with the compiled code.

The snippet must leave its results in a list named ``out`` (of arrays or numbers); the
subprocess prints them as a Python literal and :func:`run_plain` parses that back.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def run_plain(code: str, timeout: int = 300) -> list:
    """``out`` of ``code`` run with ``NUMBA_DISABLE_JIT=1`` (as lists)."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    show = "\nprint(repr([np.asarray(o).tolist() for o in out]))\n"
    proc = subprocess.run([sys.executable, "-c", "import numpy as np\n" + code + show],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return eval(proc.stdout.strip().splitlines()[-1])


def assert_plain_matches_compiled(code: str, rtol=1e-9, atol=1e-12, timeout: int = 300):
    """``out`` of ``code`` as plain Python equals ``out`` compiled (run in this process)."""
    plain = run_plain(code, timeout)
    ns: dict = {}
    exec(code, ns)
    assert len(plain) == len(ns["out"])
    for a, b in zip(plain, ns["out"]):
        np.testing.assert_allclose(np.array(a), np.asarray(b), rtol=rtol, atol=atol)
