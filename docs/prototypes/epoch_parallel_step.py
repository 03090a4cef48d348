"""AdaDelta minibatch epoch (MNIST 784-500-300-10, batch 100, float32): the training loop's
serial optimizer step (the library's choice, training._kernel_for_size) against the parallel
one, under the thread-pool settings of the caller's environment.

    ADAPTLR_DATA_DIR=data python3 docs/prototypes/epoch_parallel_step.py serial
    OPENBLAS_THREAD_TIMEOUT=4 OMP_WAIT_POLICY=passive \
        ADAPTLR_DATA_DIR=data python3 docs/prototypes/epoch_parallel_step.py parallel

Prints the epoch time (two-run difference, studies.perf_mlp.train_step_time).
"""
import os, sys, json, numpy as np
mode = sys.argv[1]
from adaptlr.mlp import training
if mode == "parallel":
    training._kernel_for_size = lambda opt, step_flat, n: step_flat
from studies import perf_mlp, performance
X, y, _ = performance._mnist(60000)
r = perf_mlp.train_step_time("adadelta", X, y, [784, 500, 300, 10], batch_size=100, extra_epochs=1)
print(json.dumps({"mode": mode, "env": {k: os.environ.get(k) for k in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}, "epoch": r["step_time"] * 600}))
