""".ci/gpu-check, the prepared real-GPU command for a lent device machine (DEVELOPERS.md,
"A GPU session"), run here without a GPU so that it cannot rot unseen between the rare
sessions that get one: its steps run, the performance study's GPU section stores one trial
per method ("not measured: no CUDA device" here) and comes back packed in perf.tgz, and
every file it leaves in $OUT is one the device tool brings back (at most 8, plain names).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_gpu_check_runs_and_packs_its_results(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_ENABLE_CUDASIM", "NUMBA_DISABLE_JIT", "OPENBLAS_CORETYPE")}
    env.update(OUT=str(out), PATH=str(Path(sys.executable).parent) + os.pathsep + env["PATH"],
               GPU_PERF_S="400", GPU_TEST_S="200")
    r = subprocess.run(["bash", str(ROOT / ".ci" / "gpu-check")], env=env, capture_output=True,
                       text=True, timeout=580)
    facts = (out / "device.txt").read_text()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "performance gpu rc=0" in facts, facts + (out / "perf.log").read_text()[-3000:]
    assert re.search(r"CUDA tests rc=(0|5)\b", facts), facts   # 5: all skipped, no GPU
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files), files
    assert {"device.txt", "perf.log", "perf.tgz", "gpu-tests.log"} <= set(files)
    with tarfile.open(out / "perf.tgz") as tar:
        trials = [n for n in tar.getnames() if re.fullmatch(r"perf/trials/[0-9a-f]{64}\.nc", n)]
    from studies import performance
    assert len(trials) == len(performance.STUDY.optimizers)   # one GPU trial per method
