"""MLP training timings for the performance study (issue 4, "Speed").

Helper of :mod:`studies.performance` (not a study: it defines no ``STUDY``).

* :func:`train_step_time` : seconds per optimizer step of :func:`adaptlr.mlp.train`.
  ``train`` times its compiled loop *including* the full-set evaluation passes at
  epoch 0 and after the last epoch, so we run it twice from the same initial network
  and seed, with ``1`` and ``1 + R`` epochs and ``eval_every`` larger than both (so
  both runs evaluate exactly twice): ``(wall(1 + R) - wall(1)) / (steps(1 + R) -
  steps(1))`` is the time of a training step alone (gather, forward, backward, the
  optimizer's extra passes such as bbprop, and the step), compilation excluded.
* :func:`bbprop_call_time` : one call of the compiled bbprop kernel
  (:func:`adaptlr.mlp.bbprop.bbprop`) on a minibatch, median over calls; the extra cost
  ratio of bbprop in a step is ``t_step / (t_step - t_bbprop)`` (the step without
  bbprop is the same step minus that pass; we subtract rather than build a second
  training loop, which would duplicate the library's).
* :func:`adaptlr_references` : the epoch and batch-1 timings (and bbprop's call time) of
  one round, for the performance study to run in a fresh process, alternating with
  PyTorch's (perf_isolated.py).
* :func:`gemm_bound` : the lower bound of an epoch from the machine's GEMM rate at the
  network's shapes (:func:`studies.perf_machine.time_gemms`).
"""
from __future__ import annotations

import time

import numpy as np

from . import perf_machine

BIG = 10 ** 6   # eval_every larger than any run here: evaluate at epoch 0 and the last only


def train_step_time(method: str, X, y, sizes, *, batch_size: int, extra_epochs: int = 1,
                    seed: int = 0, hyper: dict | None = None) -> dict:
    """Per-step time (s) of ``train`` by the two-run difference (module docstring).

    A non-positive difference (the machine's load changed between the runs) gives NaN;
    ``step_time_upper`` (the longer run's wall time per step, evaluations included) is an
    upper bound that is always measurable.
    Returns ``{"step_time", "step_time_upper", "steps_per_epoch", "diverged", "wall_1", "wall_2", "train_loss"}``
    (``train_loss``: the 1-epoch run's mean training loss at epochs 0 and 1, evidence that
    the timed run learned).
    """
    from adaptlr import optimizers
    from adaptlr.mlp import MLP, train

    if extra_epochs < 1:
        raise ValueError(f"extra_epochs must be >= 1, got {extra_epochs}")
    proto = MLP(list(sizes), activation="tanh", output="softmax", l2=0.0,
                dtype=np.float32, seed=seed)
    runs = []
    for epochs in (1, 1 + extra_epochs):
        net = proto.copy()
        opt = optimizers.make(method, **(hyper or {}))
        res = train(net, opt, X, y, epochs=epochs, batch_size=batch_size, seed=seed,
                    eval_every=BIG)
        runs.append(res)
    r1, r2 = runs
    diverged = bool(r1.diverged or r2.diverged)
    dsteps = r2.steps - r1.steps
    step = (r2.wall_time - r1.wall_time) / dsteps if dsteps > 0 and not diverged else float("nan")
    if not step > 0:
        # the machine's load changed between the two runs (the difference is meaningless)
        step = float("nan")
    # upper bound, always measurable: the longer run's wall time per step, evaluations included
    upper = r2.wall_time / r2.steps if r2.steps > 0 and not diverged else float("nan")
    return {"step_time": float(step), "step_time_upper": float(upper), "steps_per_epoch": int(X.shape[0] // batch_size),
            "diverged": diverged, "wall_1": float(r1.wall_time), "wall_2": float(r2.wall_time),
            "train_loss": np.asarray(r1.train_loss, dtype=float)}


def bbprop_call_time(X, sizes, *, batch_size: int, calls: int = 50, seed: int = 0) -> float:
    """Median seconds of one compiled bbprop call on ``batch_size`` rows of ``X``."""
    from adaptlr.mlp import MLP, make_workspace
    from adaptlr.mlp.bbprop import bbprop
    from adaptlr.mlp.forward import forward

    net = MLP(list(sizes), activation="tanh", output="softmax", l2=0.0, dtype=np.float32, seed=seed)
    Xb = np.ascontiguousarray(X[:batch_size], dtype=np.float32)
    ws = make_workspace(net.sizes, batch_size, np.float32)
    labels = np.zeros(0, dtype=np.int64)
    targets = np.zeros((0, net.sizes[-1]), dtype=np.float32)
    forward(net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, Xb, batch_size,
            labels, targets, ws)
    curv = np.empty(net.n_params, dtype=np.float32)
    args = (net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, net.l2, Xb,
            batch_size, ws, curv)
    bbprop(*args)   # compile / warm
    inner = max(1, calls // 10)
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(inner):
            bbprop(*args)
        times.append((time.perf_counter() - t0) / inner)
    return float(np.median(times))


def adaptlr_references(method, X, y, sizes, *, n_epoch: int, batch_size: int, extra_epochs: int,
                       seed: int, b1_samples: int, bbprop: bool) -> dict:
    """One round of adaptlr's MLP timings: ``{"epoch", "b1", "bbprop_time"}``.

    ``epoch``: :func:`train_step_time` at ``batch_size`` on the first ``n_epoch`` rows;
    ``b1``: the same at batch size 1 on the first ``b1_samples`` rows; ``bbprop_time``:
    :func:`bbprop_call_time` at batch 1 when ``bbprop`` (else NaN). The performance study
    calls this in a fresh process (perf_isolated.py), as it calls PyTorch's references, so
    each library is timed alone; the compiled training loop is compiled there first, outside
    the timed region (train() does that).
    """
    r = train_step_time(method, X[:n_epoch], y[:n_epoch], sizes, batch_size=batch_size,
                        extra_epochs=extra_epochs, seed=seed)
    r1 = train_step_time(method, X[:b1_samples], y[:b1_samples], sizes, batch_size=1,
                         extra_epochs=1, seed=seed)
    bb = bbprop_call_time(X, sizes, batch_size=1) if bbprop else float("nan")
    return {"epoch": r, "b1": r1, "bbprop_time": float(bb)}


def gemm_bound(sizes, batch_size: int, n_samples: int, repeats: int = 5,
               libs=("numpy", "numba")) -> dict:
    """Lower bound of one epoch from the measured GEMM rate at the network's shapes.

    ``bound = steps x sum over the step's products of the best measured time`` with
    ``steps = n_samples // batch_size``. Returns the bound (s), the epoch's GFLOP, the
    rate (GFLOP/s) and the per-product details.
    """
    g = perf_machine.time_gemms(sizes, batch_size, np.float32, repeats=repeats, libs=libs)
    steps = n_samples // batch_size
    bound = steps * float(g["best"].sum())
    gflop = steps * float(g["flops"].sum()) / 1e9
    return {"bound_time": bound, "gflop": gflop, "rate_gflops": gflop / bound if bound > 0 else
            float("nan"), "numpy_time": steps * float(g["numpy"].sum()),
            "numba_time": steps * float(g["numba"].sum()), "kinds": g["kinds"],
            "per_kind_numpy": g["numpy"], "per_kind_numba": g["numba"],
            "per_kind_best": g["best"], "per_kind_flops": g["flops"]}


def isolated_gemm_bound(sizes, batch_size: int, n_samples: int, repeats: int) -> dict:
    """:func:`gemm_bound` with NumPy's and Numba's products each timed in its own fresh
    process (perf_isolated.py; same environment, so the same thread settings); the best
    time per product shape."""
    from . import perf_isolated

    env_kw = dict(sizes=list(sizes), batch_size=batch_size, n_samples=n_samples, repeats=repeats)
    parts = {lib: perf_isolated.call("studies.perf_mlp", "gemm_bound", {**env_kw, "libs": (lib,)})
             for lib in ("numba", "numpy")}
    t_nb, t_np = parts["numba"]["per_kind_numba"], parts["numpy"]["per_kind_numpy"]
    flops = parts["numba"]["per_kind_flops"]
    steps = n_samples // batch_size
    best = np.fmin(t_np, t_nb)
    bound = steps * float(best.sum())
    gflop = steps * float(flops.sum()) / 1e9
    return {"bound_time": bound, "gflop": gflop, "rate_gflops": gflop / bound if bound > 0 else
            float("nan"), "numpy_time": steps * float(t_np.sum()),
            "numba_time": steps * float(t_nb.sum()), "kinds": parts["numba"]["kinds"],
            "per_kind_best": best, "per_kind_flops": flops}
