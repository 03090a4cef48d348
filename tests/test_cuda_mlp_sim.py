"""Runs the CUDA MLP cases under Numba's CUDA simulator, and checks the no-GPU error.

NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported in a
process, so the simulator cases (tests/test_cuda_mlp_cases.py) run in a fresh
``python -m pytest`` subprocess, started in the background right after collection
(background.py). The no-GPU check also runs in a subprocess
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

import background

ROOT = Path(__file__).resolve().parents[1]
CASES = ["tests/test_cuda_mlp_cases.py", "tests/test_cuda_mlp_training_cases.py"]


def _env(**extra):
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


for _cases in CASES:
    background.register(f"cudasim:{_cases}",
                        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", _cases],
                        _env(NUMBA_ENABLE_CUDASIM="1"), ROOT)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("cases", CASES)
@background.uses(*(f"cudasim:{c}" for c in CASES))
def test_cuda_cases_in_simulator(cases):
    if not (ROOT / cases).exists():
        pytest.fail(f"{cases} is missing")
    proc = background.result(f"cudasim:{cases}", 880)
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
    from adaptlr.mlp import MLP, train
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
    assert "OK-TRAIN" in proc.stdout


_PTX = textwrap.dedent("""
    import numpy as np
    import numba.cuda.dispatcher as _d
    from numba import cuda, types, float32, float64, int64, int32, boolean
    from numba.cuda.cudadrv.error import NvvmSupportError


    class _SM90:  # compile-only: device functions target sm_90 without a driver
        compute_capability = (9, 0)


    _d.get_current_device = lambda: _SM90()
    from adaptlr.mlp import cuda_layers as cl, cuda_losses as closs
    from adaptlr.mlp.cuda_matmul import gemm_kernel
    for dt in (float32, float64):  # float64: the kernels whose arithmetic depends on dtype
        A2, A1 = types.Array(dt, 2, "C"), types.Array(dt, 1, "C")
        I1, I32 = types.Array(int64, 1, "C"), types.Array(int32, 1, "C")
        F64 = types.Array(float64, 1, "C")
        sigs = [
            (gemm_kernel(16, np.dtype(dt.name)), (A2, A2, A2, boolean, boolean, boolean, boolean, dt, dt)),
            (cl._bias_act_kernel, (A2, A1, A2, int64, dt)),
            (cl._mul_dact_kernel, (A2, A2, int64, int64, dt)),
            (cl._bias_dact_kernel, (A2, A1, A2, int64, A2, dt)),
            (cl._col_sum_kernel, (A2, A1, dt, boolean)),
            (cl._gather_rows_kernel, (A2, I1, int64, A2)),
            (cl._gather_labels_kernel, (I1, I1, int64, I1)),
            (cl._l2_kernel, (A1, A1, A1, A1, A1, A1, dt)),
            (cl._nonfinite_kernel, (A1, I1, int64)),
            (cl._copy2d_kernel, (A2, A2)),
            (cl._fill_kernel, (A1, dt)),
            (closs._softmax_xent_kernel, (A2, I1, A2, A2, A2, A1, I32, boolean)),
            (closs._linear_mse_kernel, (A2, A2, A2, A2, A1, boolean)),
            (closs._softmax_gn_kernel, (A2, A2, A2)),
            (closs._batch_mean_kernel, (A1, F64, int64, I1, int64)),
        ]
        if dt is float64:
            sigs = [sigs[i] for i in (0, 1, 2, 4, 7, 11, 12)]
        for k, sig in sigs:
            try:
                ptx, _ = cuda.compile_ptx(k.py_func, sig, cc=(9, 0))
            except NvvmSupportError as e:
                print("NO-NVVM", e)
                raise SystemExit(0)
            assert ".entry" in ptx, k.py_func.__name__
            # run with ADAPTLR_FASTMATH=1: fast-math must not leak into the kernels that
            # compute losses and detect NaN/inf (only the shared activation rules follow it)
            assert not k.targetoptions.get("fastmath"), k.py_func.__name__
    print("PTX-OK")
""")


def test_kernels_compile_for_a_real_gpu_target():
    """The simulator does not type-check kernels; compile each one to PTX for sm_90 (H100)
    with Numba's real CUDA compiler (needs libNVVM, not a GPU; skipped without it)."""
    proc = subprocess.run([sys.executable, "-c", _PTX], cwd=ROOT, env=_env(ADAPTLR_FASTMATH="1"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    if "NO-NVVM" in proc.stdout:
        pytest.skip("libNVVM (CUDA toolkit) not installed: " + proc.stdout.strip())
    assert "PTX-OK" in proc.stdout
