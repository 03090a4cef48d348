"""Runs tests/test_optim_cuda_cases.py under Numba's CUDA simulator in a subprocess
(NUMBA_ENABLE_CUDASIM must be set before numba.cuda is imported; started in the background
right after collection, see background.py), on a real GPU when
there is one (marked gpu), and the whole API once with NUMBA_DISABLE_JIT=1.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import background

ROOT = Path(__file__).resolve().parents[1]
CASES = "tests/test_optim_cuda_cases.py"


def _env(**extra):
    env = dict(os.environ)
    for k in ("NUMBA_ENABLE_CUDASIM", "NUMBA_DISABLE_JIT"):
        env.pop(k, None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _argv():
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CASES]


def _check(proc):
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"CUDA cases failed:\n{tail}"
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1], tail


background.register("optim-cudasim", _argv(), _env(NUMBA_ENABLE_CUDASIM="1"), ROOT)


@pytest.mark.timeout(900)
@background.uses("optim-cudasim")
def test_cuda_twins_in_simulator():
    _check(background.result("optim-cudasim", 880))


@pytest.mark.gpu
@pytest.mark.timeout(900)
def test_cuda_twins_on_gpu():
    from adaptlr import targets

    if targets.CUDA_SIMULATOR or not targets.cuda_available():
        pytest.skip("no CUDA GPU (the simulator's cases run in test_cuda_twins_in_simulator)")
    _check(subprocess.run(_argv(), cwd=ROOT, env=_env(), capture_output=True, text=True))


_NOJIT = textwrap.dedent("""
    import numpy as np
    from adaptlr import optimizers
    for name in optimizers.names():
        opt = optimizers.make(name, **({"n0": 1} if name.startswith("vsgd") else {}))
        p = [np.ones((2, 3)), np.ones(2, dtype=np.float64)]
        s = opt.init(p)
        for _ in range(3):
            opt.step(p, [np.full((2, 3), 0.5), np.full(2, -0.5)], s,
                     curvature=[np.ones((2, 3)), np.ones(2)], hvp=lambda v: [2 * a for a in v])
        assert all(np.all(np.isfinite(a)) for a in p) and s.t == 3
        assert not np.array_equal(p[0], np.ones((2, 3))), name
    try:
        optimizers.make("sgd").step([np.zeros(2)], [np.array([np.nan, 0.0])], optimizers.make("sgd").init([np.zeros(2)]))
    except optimizers.NonFiniteGradientError:
        print("NOJIT-OK")
""")


@pytest.mark.timeout(300)
def test_runs_without_jit():
    proc = subprocess.run([sys.executable, "-c", _NOJIT], cwd=ROOT, env=_env(NUMBA_DISABLE_JIT="1"),
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "NOJIT-OK" in proc.stdout, (proc.stdout + proc.stderr)[-4000:]
