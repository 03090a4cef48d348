"""AdaDelta minibatch epoch (MNIST 784-500-300-10, batch 100, float32): the training loop's
serial optimizer step (the library's choice, training._kernel_for_size) against the parallel
one, under the thread-pool settings of the caller's environment.

    ADAPTLR_DATA_DIR=data python3 docs/prototypes/epoch_parallel_step.py serial
    OPENBLAS_THREAD_TIMEOUT=4 OMP_WAIT_POLICY=passive \
        ADAPTLR_DATA_DIR=data python3 docs/prototypes/epoch_parallel_step.py parallel [storage]
    ADAPTLR_DATA_DIR=data python3 docs/prototypes/epoch_parallel_step.py bound

A second argument ``storage`` makes the optimizer with ``arithmetic="storage"`` (float32
arithmetic, the library's variant). ``bound`` prints this machine's GEMM lower bound of the
epoch instead (studies.perf_mlp.isolated_gemm_bound, in its own process).

Prints the epoch time (two-run difference, studies.perf_mlp.train_step_time) and its upper
bound (the 2-epoch run's wall time per step, two evaluations included).
"""
import os, sys, json, numpy as np
mode = sys.argv[1]
arithmetic = sys.argv[2] if len(sys.argv) > 2 else "float64"
if mode == "bound":
    from studies import perf_mlp
    g = perf_mlp.isolated_gemm_bound([784, 500, 300, 10], 100, 60000, repeats=5)
    print(json.dumps({"mode": mode, "bound": g["bound_time"], "gflops": g["rate_gflops"]}))
    sys.exit(0)
from adaptlr.mlp import training
if mode == "parallel":
    training._kernel_for_size = lambda opt, step_flat, n: step_flat
from studies import perf_mlp, performance
X, y, _ = performance._mnist(60000)
r = perf_mlp.train_step_time("adadelta", X, y, [784, 500, 300, 10], batch_size=100, extra_epochs=1,
                            hyper={"arithmetic": arithmetic})
print(json.dumps({"mode": mode, "arithmetic": arithmetic, "env": {k: os.environ.get(k) for k in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}, "epoch": r["step_time"] * 600,
                  "upper": r["step_time_upper"] * 600}))
