"""Runs the CUDA MLP cases under Numba's CUDA simulator, and checks the no-GPU error.

NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported in a
process, so the simulator cases (tests/test_cuda_mlp_cases.py) run in a fresh
``python -m pytest`` subprocess. The no-GPU check also runs in a subprocess
with the simulator switched off, so it does not depend on how this process
imported numba.cuda.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ["tests/test_cuda_mlp_cases.py", "tests/test_cuda_mlp_training_cases.py"]


def _env(**extra):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cases", CASES)
def test_cuda_cases_in_simulator(cases):
    if not (ROOT / cases).exists():
        pytest.fail(f"{cases} is missing")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", cases],
        cwd=ROOT, env=_env(NUMBA_ENABLE_CUDASIM="1"), capture_output=True, text=True)
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"simulator cases failed:\n{tail}"
    assert " passed" in proc.stdout and " skipped" not in proc.stdout.splitlines()[-1], tail


_NO_GPU = textwrap.dedent("""
    import numpy as np
    from numba import cuda
    if cuda.is_available():
        print("HAS-GPU")
        raise SystemExit(0)
    from adaptlr.targets import CudaUnavailableError
    from adaptlr.mlp.cuda_training import train_cuda
    from adaptlr.mlp.cuda_network import CudaMLP
    from adaptlr.mlp.cuda_matmul import gemm
    from adaptlr.mlp import cuda_layers
    X = np.zeros((4, 3), np.float32); y = np.zeros(4, np.int64)
    for call in (lambda: CudaMLP([3, 2]), lambda: train_cuda(None, None, X, y),
                 lambda: gemm(X, X.T, np.zeros((4, 4), np.float32)),
                 lambda: cuda_layers.fill(X.ravel(), 1.0)):
        try:
            call()
        except CudaUnavailableError as e:
            assert "device='cpu'" in str(e), str(e)
        else:
            raise AssertionError("no CudaUnavailableError")
    try:
        from adaptlr.mlp import MLP, train
    except ImportError:
        print("NO-CPU-TRAIN")
        raise SystemExit(0)
    net = MLP([3, 2], seed=0)
    try:
        train(net, None, X, y, epochs=1, batch_size=2, device="cuda")
    except CudaUnavailableError as e:
        assert "device='cpu'" in str(e), str(e)
        print("OK-TRAIN")
    else:
        raise AssertionError("train(device='cuda') did not raise CudaUnavailableError")
""")


def test_without_gpu_cuda_entry_points_raise_clear_error():
    proc = subprocess.run([sys.executable, "-c", _NO_GPU], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if "HAS-GPU" in proc.stdout:
        pytest.skip("a real CUDA GPU is present")
    if "NO-CPU-TRAIN" in proc.stdout:
        pytest.skip("adaptlr.mlp.train not available yet; train_cuda and CudaMLP checked")
    assert "OK-TRAIN" in proc.stdout
