"""``performance``: speed of adaptlr's kernels and training against the machine's limits.

The speed sections of issues 2 (optimizer kernels), 4 (MLP training) and 7 (GPU), as a
study whose results are one xarray Dataset like every study's. Run it serially:

    python -m studies run performance --workers 1          # full form (about 15 min)
    python -m studies run performance --workers 1 --quick  # smoke form (under a minute)

(each trial also takes an exclusive file lock while it measures, so trials never time
each other even with more workers; but then every worker gets ``cores // workers``
threads, so the figures would be for fewer threads: the Dataset records the count).

Grid: problems = sections ``kernels``, ``mlp``, ``gpu``; settings = every registered
optimizer (``adaptlr.optimizers.names()``, default hyperparameters); one seed (timings
are repeated inside a trial; medians are stored). Every ratio in a trial is against a
limit measured *in the same trial* (same process, interleaved rounds), because the
machine is shared and its load changes between trials.

kernels (issue 2)
    For ``n`` = 1M and 10M float32 elements: the raw flat kernel ``step_flat`` (one
    block), the Python API ``opt.step`` with ``check_finite`` False/True, STREAM-like
    copy and triad (Numba ``prange``) and NumPy copy, torch.optim's fastest CPU path for
    the same method (fused where torch has one, else foreach) and torch's fused Adam,
    in interleaved rounds; the fast-math build (``ADAPTLR_FASTMATH=1``) in a subprocess
    with its own Numba cache. Effective GB/s = bytes the method must move per element
    (table below, from its equations) x n / median step time.
    Targets: every method >= torch fused Adam's GB/s; AdaDelta and RMSprop >= 5x
    torch's own path.
mlp (issue 4)
    784-500-300-10 tanh, softmax cross-entropy, float32, MNIST. Epoch (60,000 samples,
    minibatch 100) time of ``adaptlr.mlp.train`` = 600 x the per-step time from two runs
    (1 and 2 epochs, full-set evaluations at epoch 0 and the last only, so they cancel);
    PyTorch on the CPU with the same network, optimizer, batch size and thread count;
    the lower bound = 600 x the sum of the measured times of the step's matrix products
    at exactly these shapes (forward X W, weight gradients X^T D, input gradients D W^T
    except for the first layer: 2.486 MFLOP per sample, 149.2 GFLOP per epoch; best of
    NumPy's BLAS and Numba's np.dot, which calls SciPy's BLAS). Batch size 1: samples/s
    of adaptlr (a subset, same two-run difference) and of PyTorch (a Python loop).
    bbprop's extra cost (methods that need curvature) = t_step / (t_step - t_bbprop),
    t_bbprop the median time of one compiled bbprop call on one sample.
    Targets (stated for these methods in the issue): AdaDelta >= 1.5x PyTorch and within
    1.4x of the bound; SGD at batch 1 >= 5x PyTorch; vSGD-l's bbprop cost <= 1.6x.
gpu (issue 7)
    On a real CUDA device only (not the simulator): the CUDA twin's GB/s vs the card's
    device-to-device copy, one MNIST epoch vs PyTorch CUDA, and quick training runs'
    trials per second with 1, 2, 4 runs sharing the GPU (AdaDelta). Otherwise the trial
    stores ``gpu_measured = 0`` and the message "not measured: no CUDA device".

Choices where the issue is silent (also in the Dataset's ``description``):

* bytes per element count what the equations must read and write once (write-allocate
  traffic not counted, as in STREAM); two-phase methods (vSGD-b/g, SMD) also have a
  ``passes`` count of what a two-pass implementation moves;
* vSGD methods are timed in their minibatch form (``gsq`` given, ``nbatch = 100``);
  the gradient alternates sign between timed steps so no state overflows or turns
  denormal; 20 untimed steps first (past vSGD's slow start);
* the non-finite check cost = median API step with the check / without it;
* torch's hyperparameters are mapped from adaptlr's defaults; where update forms
  differ the bytes moved are the same (see studies/perf_torch.py);
* the PyTorch MLP draws a fresh permutation per epoch and drops the last partial
  minibatch, as ``train`` does;
* machine facts (CPU model, cores, threads, BLAS, versions) are measured on the worker
  and stored as JSON in each trial's ``message``; :func:`dataset_attrs` turns them into
  Dataset attributes.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import tempfile
import traceback
from pathlib import Path

import numpy as np

from . import perf_kernels, perf_machine
from .spec import Study

#: published / orientation figures from the issue (same kind of machine, 2 threads, 10M float32)
ORIENTATION = {
    "torch fused Adam": "~43 GB/s",
    "torch Adadelta (foreach, no fused path)": "~4.5 GB/s",
    "plain Numba prange AdaDelta, no fast-math": "~25 GB/s",
    "plain Numba prange AdaDelta, fast-math": "~45 GB/s",
}

#: targets of the issues: name -> description
TARGETS = {
    "target_kernel_ge_torch_adam": "kernel GB/s >= torch fused Adam GB/s (every method, each size)",
    "target_kernel_5x_torch": "kernel >= 5x torch's own path (AdaDelta and RMSprop)",
    "target_kernel_storage_ge_torch_adam": "kernel GB/s with arithmetic='storage' (float32 "
                                           "arithmetic) >= torch fused Adam GB/s (the "
                                           "elementwise methods, each size)",
    "target_mlp_1p5x_torch": "MNIST epoch >= 1.5x PyTorch's speed (AdaDelta, batch 100)",
    "target_mlp_within_1p4x_bound": "MNIST epoch <= 1.4x the GEMM lower bound (AdaDelta)",
    "target_b1_5x_torch": "batch-1 samples/s >= 5x PyTorch (SGD)",
    "target_bbprop_le_1p6": "step with bbprop <= 1.6x the same step without it (vSGD-l)",
}

#: machine-wide lock held while a trial measures; ``ADAPTLR_PERF_LOCK`` overrides the path
#: (read at trial time; tests use a private one so they never wait for a real run)
LOCK_PATH = Path(tempfile.gettempdir()) / "adaptlr-performance.lock"


def lock_path() -> Path:
    return Path(os.environ.get("ADAPTLR_PERF_LOCK") or LOCK_PATH)


def _method_names() -> list[str]:
    from adaptlr import optimizers

    return list(optimizers.names())


def allowed() -> dict:
    """Every registered optimizer, with no hyperparameters (defaults are timed)."""
    return {m: () for m in _method_names()}


# ---------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def exclusive_machine(path: Path | None = None):
    """Hold an exclusive lock so two timing trials on this machine never overlap."""
    path = lock_path() if path is None else path
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _flag(ok) -> float:
    """1.0 / 0.0 for a pass/fail comparison, NaN when it could not be evaluated."""
    if ok is None:
        return float("nan")
    return 1.0 if bool(ok) else 0.0


def _cmp(value: float, limit: float, ge: bool = True) -> float:
    if not (np.isfinite(value) and np.isfinite(limit)):
        return float("nan")
    return _flag(value >= limit if ge else value <= limit)


def _message(notes: list[str]) -> str:
    return json.dumps({"machine": perf_machine.machine_info(), "notes": notes}, sort_keys=True)


# ---------------------------------------------------------------------------- sections
def _kernels(spec: dict, notes: list) -> dict:
    p = spec["problem_params"]
    method = spec["optimizer"]
    sizes = [int(s) for s in p["sizes"]]
    repeats = int(p["repeats"])
    from . import perf_torch

    perf_torch.set_threads(_threads())
    K = len(sizes)
    v = {k: np.full(K, np.nan) for k in (
        "step_time", "gbps", "api_step_time", "api_checked_step_time", "check_finite_cost",
        "copy_gbps", "triad_gbps", "numpy_copy_gbps", "fraction_of_copy", "torch_step_time",
        "torch_gbps", "torch_adam_gbps", "speedup_vs_torch", "ratio_vs_torch_adam",
        "fastmath_step_time", "fastmath_gbps", "fastmath_speedup",
        "storage_step_time", "storage_gbps", "storage_ratio_vs_torch_adam",
        "target_ge_torch_adam", "target_5x_torch", "target_storage_ge_torch_adam")}
    must = passes = 0
    torch_path = -1
    finite = 1
    for i, n in enumerate(sizes):
        r = perf_kernels.measure(method, n, repeats, seed=int(spec["seed"]))
        med, nb = r["median"], r["bandwidth_bytes"]
        must, passes = r["bytes_per_element"], r["passes_bytes_per_element"]
        if not r["bytes_known"]:
            notes.append(f"{method}: no byte count from its equations in BYTES_TABLE; counted "
                         "every input and state row once (read) and state rows + x (write)")
        finite &= int(r["state_finite"])
        B = must * n
        v["step_time"][i] = med["kernel"]
        v["gbps"][i] = B / med["kernel"] / 1e9
        v["api_step_time"][i] = med["api"]
        v["api_checked_step_time"][i] = med["api_checked"]
        v["check_finite_cost"][i] = med["api_checked"] / med["api"]
        v["copy_gbps"][i] = nb["copy_numba"] / med["copy_numba"] / 1e9
        v["triad_gbps"][i] = nb["triad_numba"] / med["triad_numba"] / 1e9
        v["numpy_copy_gbps"][i] = nb["copy_numpy"] / med["copy_numpy"] / 1e9
        v["fraction_of_copy"][i] = v["gbps"][i] / v["copy_gbps"][i]
        if "torch" in med:
            v["torch_step_time"][i] = med["torch"]
            v["torch_gbps"][i] = B / med["torch"] / 1e9
            v["speedup_vs_torch"][i] = med["torch"] / med["kernel"]
            torch_path = perf_torch.PATH_CODES[r["torch_paths"]["torch"]]
        if "torch_adam" in med:
            v["torch_adam_gbps"][i] = r["adam_bytes_per_element"] * n / med["torch_adam"] / 1e9
            v["ratio_vs_torch_adam"][i] = v["gbps"][i] / v["torch_adam_gbps"][i]
        v["target_ge_torch_adam"][i] = _cmp(v["gbps"][i], v["torch_adam_gbps"][i])
        if method in ("adadelta", "rmsprop"):
            v["target_5x_torch"][i] = _cmp(v["speedup_vs_torch"][i], 5.0)
        if "kernel_storage" in med:
            v["storage_step_time"][i] = med["kernel_storage"]
            v["storage_gbps"][i] = B / med["kernel_storage"] / 1e9
            v["storage_ratio_vs_torch_adam"][i] = v["storage_gbps"][i] / v["torch_adam_gbps"][i]
            v["target_storage_ge_torch_adam"][i] = _cmp(v["storage_gbps"][i], v["torch_adam_gbps"][i])
    if perf_torch.torch_module() is None:
        notes.append("torch is not installed: torch references are NaN")
    elif method not in perf_torch.TORCH_METHODS:
        notes.append(f"torch.optim has no {method}: its own-path reference is NaN")
    if not finite:
        notes.append("the benchmark state became non-finite: timings may not be representative")
    if p.get("fastmath", True):
        fm, note = perf_kernels.fastmath_child_times(method, sizes, repeats, int(spec["seed"]))
        if note:
            notes.append(note)
        v["fastmath_step_time"][:] = fm
        v["fastmath_gbps"][:] = must * np.array(sizes) / np.array(fm, dtype=float) / 1e9
        v["fastmath_speedup"][:] = v["step_time"] / v["fastmath_step_time"]
    else:
        notes.append("fast-math variant not measured (fastmath=False in this form)")
    out = {(k.replace("target_", "target_kernel_") if k.startswith("target_") else f"kernel_{k}"):
           (("size",), a) for k, a in v.items()}
    out["kernel_n_elements"] = (("size",), np.array(sizes, dtype=np.int64))
    out["kernel_bytes_per_element"] = ((), must)
    out["kernel_passes_bytes_per_element"] = ((), passes)
    out["kernel_torch_path"] = ((), torch_path)
    out["kernel_state_finite"] = ((), finite)
    return out


@functools.lru_cache(maxsize=1)
def _mnist_train():
    from adaptlr.data import load_mnist

    d = load_mnist(preprocess="scale", dtype=np.float32)
    return d.X_train, d.y_train


def _mnist(n_samples: int):
    """The first ``n_samples`` MNIST training rows (scaled to [0, 1], float32), loaded once."""
    X, y = _mnist_train()
    return X[:n_samples], y[:n_samples], None


def _median(a) -> float:
    """Median of the non-NaN values of ``a``; NaN if none (``np.nanmedian`` without its
    All-NaN RuntimeWarning: a method without a PyTorch path has all-NaN references)."""
    a = np.asarray(a, dtype=float)
    a = a[~np.isnan(a)]
    return float(np.median(a)) if a.size else float("nan")


def _get(s, name, k=None):
    """``s[name]`` (element ``k`` of it), NaN where a Dataset from older code lacks it."""
    if name not in s:
        return float("nan")
    v = s[name].values
    return v if k is None else v[k]


def _epoch_variants(p: dict) -> list[dict]:
    """The problem's ``epoch_variants``, checked: each ``{"name", "arithmetic", "env"}`` with
    a distinct identifier name (not 'adaptlr' or 'torch'), an arithmetic of
    ``adaptlr.optimizers.make`` and an environment of string variables for its process."""
    from adaptlr.optimizers.arithmetic import check_arithmetic

    out, seen = [], set()
    for v in p.get("epoch_variants", ()):
        name = v.get("name") if isinstance(v, dict) else None
        if not (isinstance(name, str) and name.isidentifier()) or name in seen | {"adaptlr", "torch"}:
            raise ValueError(f"performance epoch variant {v!r}: allowed, a dict whose 'name' is a "
                             "new identifier other than 'adaptlr' and 'torch'")
        seen.add(name)
        check_arithmetic(v.get("arithmetic", "float64"))
        env = v.get("env", {})
        if not (isinstance(env, dict) and all(isinstance(a, str) and isinstance(b, str)
                                              for a, b in env.items())):
            raise ValueError(f"performance epoch variant {name!r}: env={env!r}; allowed: a dict "
                             "of strings")
        out.append({"name": name, "arithmetic": v.get("arithmetic", "float64"), "env": dict(env)})
    return out


def _round_sequence(jobs: list, seed: int, k: int) -> list:
    """The order in which round ``k`` runs its timing jobs (``(name, ...)`` tuples, one
    named 'adaptlr', perhaps one 'torch'): a shuffle seeded by ``(seed, k)``, so that no
    setting always follows the same one, with adaptlr before PyTorch in even rounds and
    after it in odd ones (the pair the targets compare goes first equally often)."""
    rng = np.random.default_rng([seed, k])
    out = [jobs[i] for i in rng.permutation(len(jobs))]
    names = [j[0] for j in out]
    if "torch" in names:
        a, t = names.index("adaptlr"), names.index("torch")
        if (a < t) != (k % 2 == 0):
            out[a], out[t] = out[t], out[a]
    return out


def _mlp(spec: dict, notes: list) -> dict:
    from adaptlr import optimizers

    from . import perf_isolated, perf_mlp, perf_torch

    p = spec["problem_params"]
    if isinstance(p["rounds"], bool) or int(p["rounds"]) != p["rounds"] or int(p["rounds"]) < 1:
        raise ValueError(f"performance problem parameter rounds={p['rounds']!r}; allowed: an "
                         "integer >= 1")
    method = spec["optimizer"]
    sizes = [int(s) for s in p["layers"]]
    B = int(p["batch_size"])
    N = int(p["n_samples"])
    threads = _threads()
    X, y, _ = _mnist(max(N, int(p["b1_samples"]), int(p["torch_b1_samples"])))
    opt = optimizers.make(method)
    nan = float("nan")
    out = {}
    # Rounds: adaptlr's timings and PyTorch's, each in a fresh process (perf_isolated.py:
    # no other library's thread pool spinning beside it), alternating which goes first;
    # the figures are medians over the rounds and the speed-ups medians of the per-round
    # ratios (the machines are shared: a load that comes and goes hits both libraries)
    rounds = int(p["rounds"]) if method in p.get("rounds_methods", ()) else 1
    has_torch = perf_torch.has_method(method)
    ours, refs, order = [], [], []
    variants = _epoch_variants(p) if method in p.get("variant_methods", ()) else []
    var_epochs = {v["name"]: [] for v in variants}
    positions = {who: [] for who in ["adaptlr", "torch"] + [v["name"] for v in variants]}
    for k in range(rounds):
        jobs = [("adaptlr", "studies.perf_mlp", "adaptlr_references", dict(
                    method=method, X=X, y=y, sizes=sizes, n_epoch=N, batch_size=B,
                    extra_epochs=int(p["extra_epochs"]), seed=int(spec["seed"]),
                    b1_samples=int(p["b1_samples"]), bbprop=bool(opt.needs_curvature)))]
        if has_torch:
            jobs.append(("torch", "studies.perf_torch", "mlp_references", dict(
                method=method, X=X, y=y, sizes=sizes, n_epoch=N, batch_size=B,
                hyper=opt.hyperparameters, seed=int(spec["seed"]), repeats=int(p["torch_repeats"]),
                threads=threads, b1_samples=int(p["torch_b1_samples"]))))
        for v in variants:
            jobs.append((v["name"], "studies.perf_mlp", "train_step_time", dict(
                method=method, X=X[:N], y=y[:N], sizes=sizes, batch_size=B,
                extra_epochs=int(p["extra_epochs"]), seed=int(spec["seed"]),
                hyper={"arithmetic": v["arithmetic"]}), v["env"]))
        jobs = _round_sequence(jobs, int(spec["seed"]), k)
        names = [j[0] for j in jobs]
        order.append(0 if names.index("adaptlr") < (names.index("torch") if "torch" in names
                                                     else len(names)) else 1)
        for who in positions:
            positions[who].append(float(names.index(who)) if who in names else nan)
        for who, module, fn, kw, *env in jobs:
            res = perf_isolated.call(module, fn, kw, env=env[0] if env else None)
            if who == "adaptlr":
                ours.append(res)
            elif who == "torch":
                refs.append(res)
            else:
                var_epochs[who].append((res["step_time"] * (N // B),
                                        res["step_time_upper"] * (N // B))
                                       if not res["diverged"] else (nan, nan))
    g = perf_mlp.isolated_gemm_bound(sizes, B, N, repeats=int(p["gemm_repeats"]))
    steps = N // B
    diverged = any(o["epoch"]["diverged"] or o["b1"]["diverged"] for o in ours)
    epochs = np.array([o["epoch"]["step_time"] * steps for o in ours])
    uppers = np.array([o["epoch"]["step_time_upper"] * steps for o in ours])
    b1_steps = np.array([o["b1"]["step_time"] for o in ours])
    b1_rates = np.where(b1_steps > 0, 1.0 / b1_steps, nan)
    # the conservative rate: the 2-epoch run's wall time per step, its two evaluations of the
    # b1_samples rows included (a few per cent here). The two-run difference above can
    # overstate the rate many times over when the machine's load falls between the two runs
    # (seen: AdaDelta at 11,285 and 24,521 samples/s in rounds whose others gave 1,100-3,500),
    # so the target is judged on this one; PyTorch's rate is a wall time too
    b1_wall = np.array([o["b1"]["step_time_upper"] for o in ours])
    b1_wall_rates = np.where(b1_wall > 0, 1.0 / b1_wall, nan)
    torch_epochs = np.full(rounds, nan)
    torch_b1 = np.full(rounds, nan)
    torch_path = None
    for k, (tt, tb) in enumerate(refs):
        if tt is not None:
            torch_epochs[k], torch_path = tt
        if tb is not None:
            torch_b1[k] = tb[0]
    epoch = _median(epochs)
    out["mlp_rounds"] = ((), rounds)
    out["mlp_round_order"] = (("round",), np.array(order, dtype=float))
    out["mlp_round_position"] = (("round",), np.array(positions["adaptlr"]))
    out["mlp_round_torch_position"] = (("round",), np.array(positions["torch"]) if has_torch
                                       else np.full(rounds, nan))
    out["mlp_round_epoch_time"] = (("round",), epochs)
    out["mlp_round_torch_epoch_time"] = (("round",), torch_epochs)
    out["mlp_round_b1_samples_per_s"] = (("round",), b1_rates)
    out["mlp_round_b1_wall_samples_per_s"] = (("round",), b1_wall_rates)
    out["mlp_round_b1_torch_samples_per_s"] = (("round",), torch_b1)
    out["mlp_train_loss"] = (("epoch",), ours[0]["epoch"]["train_loss"])
    out["mlp_n_samples"] = ((), N)
    out["mlp_batch_size"] = ((), B)
    out["mlp_epoch_time"] = ((), epoch)
    out["mlp_epoch_time_upper"] = ((), _median(uppers))
    if not np.isfinite(epochs).any() and not diverged:
        notes.append("epoch time NaN: the two-run difference was not positive (the machine's "
                     "load changed between the runs); see mlp_epoch_time_upper")
    speedup = _median(torch_epochs / epochs)
    b1_speedup = _median(b1_rates / torch_b1)
    b1_wall_speedup = _median(b1_wall_rates / torch_b1)
    out["mlp_samples_per_s"] = ((), steps * B / epoch if epoch > 0 else nan)
    out["mlp_torch_epoch_time"] = ((), _median(torch_epochs))
    out["mlp_torch_path"] = ((), perf_torch.PATH_CODES[torch_path])
    out["mlp_speedup_vs_torch"] = ((), speedup)
    out["mlp_gemm_bound_time"] = ((), g["bound_time"])
    out["mlp_gemm_numpy_time"] = ((), g["numpy_time"])
    out["mlp_gemm_numba_time"] = ((), g["numba_time"])
    out["mlp_gemm_gflop"] = ((), g["gflop"])
    out["mlp_gemm_gflops"] = ((), g["rate_gflops"])
    to_bound = epoch / g["bound_time"]
    out["mlp_ratio_to_bound"] = ((), to_bound)
    is_ad = method == "adadelta"
    out["target_mlp_1p5x_torch"] = ((), _cmp(speedup, 1.5) if is_ad else nan)
    out["target_mlp_within_1p4x_bound"] = ((), _cmp(to_bound, 1.4, ge=False) if is_ad else nan)
    # the epoch under other settings (the same rounds): arithmetic and thread-pool variables
    for v in variants:
        t, up = np.array(var_epochs[v["name"]], dtype=float).reshape(-1, 2).T
        pre = f"mlp_{v['name']}"
        v_epoch, v_speedup = _median(t), _median(torch_epochs / t)
        v_to_bound = v_epoch / g["bound_time"]
        out[f"{pre}_round_epoch_time"] = (("round",), t)
        out[f"{pre}_round_position"] = (("round",), np.array(positions[v["name"]]))
        out[f"{pre}_epoch_time"] = ((), v_epoch)
        out[f"{pre}_epoch_time_upper"] = ((), _median(up))
        out[f"{pre}_ratio_to_bound"] = ((), v_to_bound)
        out[f"{pre}_speedup_vs_torch"] = ((), v_speedup)
        out[f"target_{pre}_within_1p4x_bound"] = ((), _cmp(v_to_bound, 1.4, ge=False))
        out[f"target_{pre}_1p5x_torch"] = ((), _cmp(v_speedup, 1.5))
    # batch size 1
    out["mlp_b1_samples_per_s"] = ((), _median(b1_rates))
    out["mlp_b1_torch_samples_per_s"] = ((), _median(torch_b1))
    out["mlp_b1_speedup_vs_torch"] = ((), b1_speedup)
    out["mlp_b1_wall_samples_per_s"] = ((), _median(b1_wall_rates))
    out["mlp_b1_wall_speedup_vs_torch"] = ((), b1_wall_speedup)
    out["target_b1_5x_torch"] = ((), _cmp(b1_wall_speedup, 5.0) if method == "sgd" else nan)
    bb_time = ratio = nan
    if opt.needs_curvature:
        bbs = np.array([o["bbprop_time"] for o in ours])
        ratios = np.where(b1_steps > bbs, b1_steps / (b1_steps - bbs), np.inf)
        ratios = np.where(np.isfinite(b1_steps), ratios, nan)
        bb_time, ratio = _median(bbs), _median(ratios)
    out["mlp_bbprop_time"] = ((), bb_time)
    out["mlp_bbprop_cost_ratio"] = ((), ratio)
    out["target_bbprop_le_1p6"] = ((), _cmp(ratio, 1.6, ge=False) if method == "vsgd-l" else nan)
    out["mlp_diverged"] = ((), int(diverged))
    if diverged:
        notes.append(f"{method} diverged during a timing run (default hyperparameters): its "
                     "MLP times are NaN")
    if not np.isfinite(torch_epochs).any():
        notes.append(f"no PyTorch reference for {method} (torch missing or no such optimizer)")
    return out


def _gpu(spec: dict, notes: list) -> dict:
    from . import perf_gpu

    ok, why = perf_gpu.gpu_status()
    if not ok:
        notes.append(why)
        return {"gpu_measured": ((), 0)}
    p = spec["problem_params"]
    method = spec["optimizer"]
    sizes = [int(s) for s in p["sizes"]]
    K = len(sizes)
    v = {k: np.full(K, np.nan) for k in ("step_time", "gbps", "copy_gbps", "fraction_of_copy")}
    for i, n in enumerate(sizes):
        r = perf_gpu.kernel_times(method, n, int(p["repeats"]))
        v["step_time"][i] = r["step_time"]
        v["gbps"][i] = r["bytes"] / r["step_time"] / 1e9
        v["copy_gbps"][i] = r["copy_bytes"] / r["copy_time"] / 1e9
        v["fraction_of_copy"][i] = v["gbps"][i] / v["copy_gbps"][i]
    out = {f"gpu_{k}": (("gpu_size",), a) for k, a in v.items()}
    out["gpu_n_elements"] = (("gpu_size",), np.array(sizes, dtype=np.int64))
    out["gpu_measured"] = ((), 1)
    notes.append(f"GPU: {perf_gpu.device_name()}")
    nan = float("nan")
    layers = [int(s) for s in p["layers"]]
    B = int(p["batch_size"])
    if method in p.get("epoch_methods", ["adadelta"]):
        X, y, _ = _mnist(int(p["n_samples"]))
        r = perf_gpu.epoch_step_time(method, X, y, layers, batch_size=B)
        epoch = r["step_time"] * (X.shape[0] // B)
        tt = perf_gpu.torch_cuda_epoch_time(method, X, y, layers, batch_size=B)
        t_epoch = tt[0] if tt is not None else nan
        if tt is None:
            notes.append("no PyTorch CUDA reference (torch without CUDA, or no such optimizer)")
        out["gpu_epoch_time"] = ((), epoch)
        out["gpu_torch_epoch_time"] = ((), t_epoch)
        out["gpu_speedup_vs_torch"] = ((), t_epoch / epoch)
        conc = [int(k) for k in p["concurrency"]]
        Xq, yq = X[:int(p["concurrent_samples"])], y[:int(p["concurrent_samples"])]
        try:
            rates = perf_gpu.trials_per_second(method, Xq, yq, layers, conc, batch_size=B)
        except Exception as e:  # noqa: BLE001 - keep the kernel and epoch figures
            rates = [nan] * len(conc)
            notes.append(f"trials sharing the GPU not measured: {type(e).__name__}: {e}")
        out["gpu_trials_per_s"] = (("concurrency",), np.array(rates))
        out["gpu_concurrency"] = (("concurrency",), np.array(conc, dtype=np.int64))
    return out


SECTIONS = {"kernels": _kernels, "mlp": _mlp, "gpu": _gpu}


def trial(spec: dict) -> dict:
    """One section for one optimizer; every ratio is against limits measured here."""
    p = spec["problem_params"]
    section = p.get("section")
    if section not in SECTIONS:
        raise ValueError(f"unknown performance section {section!r}; allowed: {sorted(SECTIONS)}")
    notes: list[str] = []
    with exclusive_machine():
        threads = _threads()
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if threads < (cores or 1):
            notes.append(f"ran with {threads} Numba threads on {cores} usable cores (run with "
                         "--workers 1 for the machine's full figures)")
        out = SECTIONS[section](spec, notes)
    out["threads"] = ((), threads)
    out["cores"] = ((), int(cores or 0))
    out["message"] = _message(notes)
    return out


# ---------------------------------------------------------------------------- report
VARIABLES = {
    "threads": {"long_name": "Numba threads", "units": "1",
                "description": "numba.get_num_threads() in the trial (torch used the same)"},
    "cores": {"long_name": "usable cores", "units": "1", "description": "len(sched_getaffinity)"},
    "kernel_n_elements": {"long_name": "elements", "units": "1",
                          "description": "float32 elements of the flat parameter vector"},
    "kernel_step_time": {"long_name": "kernel step time", "units": "s",
                         "description": "median time of one raw step_flat call"},
    "kernel_gbps": {"long_name": "kernel effective bandwidth", "units": "GB/s",
                    "description": "kernel_bytes_per_element x n / kernel_step_time / 1e9"},
    "kernel_bytes_per_element": {"long_name": "bytes per element", "units": "B",
                                 "description": "bytes the method's equations must read and write "
                                                "per element per step (float32)"},
    "kernel_passes_bytes_per_element": {
        "long_name": "bytes per element of a two-pass implementation", "units": "B",
        "description": "with the second pass over g (and v) of block-reduction methods"},
    "kernel_api_step_time": {"long_name": "API step time", "units": "s",
                             "description": "median opt.step([x], [g], state, check_finite=False)"},
    "kernel_api_checked_step_time": {"long_name": "API step time with check", "units": "s",
                                     "description": "median opt.step(..., check_finite=True)"},
    "kernel_check_finite_cost": {"long_name": "cost of the non-finite check", "units": "1",
                                 "description": "api_checked_step_time / api_step_time"},
    "kernel_copy_gbps": {"long_name": "copy bandwidth (Numba prange)", "units": "GB/s",
                         "description": "b[i] = a[i], 2 x 4 x n bytes, same trial"},
    "kernel_triad_gbps": {"long_name": "triad bandwidth (Numba prange)", "units": "GB/s",
                          "description": "a[i] = b[i] + s c[i], 3 x 4 x n bytes, same trial"},
    "kernel_numpy_copy_gbps": {"long_name": "copy bandwidth (NumPy)", "units": "GB/s",
                               "description": "np.copyto(b, a), same trial"},
    "kernel_fraction_of_copy": {"long_name": "fraction of copy bandwidth", "units": "1",
                                "description": "kernel_gbps / kernel_copy_gbps"},
    "kernel_torch_step_time": {"long_name": "torch step time", "units": "s",
                               "description": "median optimizer.step() of torch's fastest path"},
    "kernel_torch_gbps": {"long_name": "torch effective bandwidth", "units": "GB/s",
                          "description": "same byte count as ours / torch step time"},
    "kernel_torch_path": {"long_name": "torch path", "units": "1",
                          "description": "-1 none, 0 for-loop, 1 foreach, 2 fused"},
    "kernel_torch_adam_gbps": {"long_name": "torch fused Adam bandwidth", "units": "GB/s",
                               "description": "28 B/element / torch fused Adam step, same trial"},
    "kernel_speedup_vs_torch": {"long_name": "speed-up vs torch's own path", "units": "1",
                                "description": "torch step time / kernel step time"},
    "kernel_ratio_vs_torch_adam": {"long_name": "GB/s ratio vs torch fused Adam", "units": "1",
                                   "description": "kernel_gbps / kernel_torch_adam_gbps"},
    "kernel_fastmath_step_time": {"long_name": "fast-math kernel step time", "units": "s",
                                  "description": "ADAPTLR_FASTMATH=1 subprocess, own Numba cache"},
    "kernel_fastmath_gbps": {"long_name": "fast-math effective bandwidth", "units": "GB/s",
                             "description": "bytes / fast-math step time"},
    "kernel_fastmath_speedup": {"long_name": "fast-math speed-up", "units": "1",
                                "description": "kernel_step_time / kernel_fastmath_step_time"},
    "kernel_storage_step_time": {"long_name": "kernel step time, arithmetic='storage'",
                                 "units": "s",
                                 "description": "median raw step_flat of make(method, "
                                                "arithmetic='storage'): float32 arithmetic; "
                                                "NaN for the blocked methods (no such kernel)"},
    "kernel_storage_gbps": {"long_name": "effective bandwidth, arithmetic='storage'",
                            "units": "GB/s", "description": "bytes / storage step time"},
    "kernel_storage_ratio_vs_torch_adam": {"long_name": "storage GB/s ratio vs torch fused Adam",
                                           "units": "1",
                                           "description": "kernel_storage_gbps / "
                                                          "kernel_torch_adam_gbps"},
    "target_kernel_storage_ge_torch_adam": {"long_name": "target: arithmetic='storage' >= torch "
                                                         "fused Adam GB/s", "units": "1",
                                            "description": "1 pass, 0 fail, NaN not evaluated"},
    "kernel_state_finite": {"long_name": "state stayed finite", "units": "1",
                            "description": "1 if x and the state were finite after timing"},
    "target_kernel_ge_torch_adam": {"long_name": "target: >= torch fused Adam GB/s", "units": "1",
                             "description": "1 pass, 0 fail, NaN not evaluated"},
    "target_kernel_5x_torch": {"long_name": "target: >= 5x torch's own path", "units": "1",
                        "description": "AdaDelta and RMSprop; 1 pass, 0 fail, NaN not applicable"},
    "mlp_n_samples": {"long_name": "samples per epoch", "units": "1", "description": ""},
    "mlp_train_loss": {"long_name": "training loss of the timed run", "units": "1",
                       "description": "mean cross-entropy on the epoch's samples before (epoch 0) "
                                      "and after the timed 1-epoch run (batch 100): evidence that "
                                      "the timed training learned"},
    "mlp_batch_size": {"long_name": "minibatch size", "units": "1", "description": ""},
    "mlp_rounds": {"long_name": "alternating rounds", "units": "1",
                   "description": "rounds of adaptlr's and PyTorch's timings, each in a fresh "
                                  "process, alternating which goes first (problem params "
                                  "'rounds' for the methods in 'rounds_methods', else 1)"},
    "mlp_round_order": {"long_name": "which library went first", "units": "1",
                        "description": "0 adaptlr first, 1 PyTorch first (NaN-padded rounds: "
                                       "fewer rounds)"},
    "mlp_round_position": {"long_name": "adaptlr's place in the round", "units": "1",
                           "description": "0-based position of adaptlr's timing process in "
                                          "the round's sequence (a seeded shuffle of adaptlr, "
                                          "PyTorch and the epoch variants; adaptlr before "
                                          "PyTorch in even rounds)"},
    "mlp_round_torch_position": {"long_name": "PyTorch's place in the round", "units": "1",
                                 "description": "as mlp_round_position, PyTorch's process "
                                                "(NaN: no PyTorch reference)"},
    "mlp_round_epoch_time": {"long_name": "epoch time per round", "units": "s",
                             "description": "as mlp_epoch_time, one round"},
    "mlp_round_torch_epoch_time": {"long_name": "PyTorch epoch time per round", "units": "s",
                                   "description": "as mlp_torch_epoch_time, one round"},
    "mlp_round_b1_samples_per_s": {"long_name": "batch-1 samples per second per round",
                                   "units": "1/s", "description": "one round"},
    "mlp_round_b1_torch_samples_per_s": {"long_name": "PyTorch batch-1 samples per second per "
                                         "round", "units": "1/s", "description": "one round"},
    "mlp_epoch_time": {"long_name": "epoch time", "units": "s",
                       "description": "steps per epoch x per-step time of adaptlr.mlp.train "
                                      "(two-run difference; evaluations excluded); median over "
                                      "the rounds"},
    "mlp_epoch_time_upper": {"long_name": "epoch time, upper bound", "units": "s",
                             "description": "wall time of the 2-epoch run per step x steps per "
                                            "epoch (its two full-set evaluations included); "
                                            "median over the rounds"},
    "mlp_samples_per_s": {"long_name": "training samples per second", "units": "1/s",
                          "description": "minibatch training"},
    "mlp_torch_epoch_time": {"long_name": "PyTorch epoch time", "units": "s",
                             "description": "same network, optimizer, batch size, threads; "
                                            "median over the rounds"},
    "mlp_torch_path": {"long_name": "torch optimizer path", "units": "1",
                       "description": "-1 none, 0 for-loop, 1 foreach, 2 fused"},
    "mlp_speedup_vs_torch": {"long_name": "speed-up vs PyTorch", "units": "1",
                             "description": "median over the rounds of torch epoch time / "
                                            "adaptlr epoch time of the same round"},
    "mlp_gemm_bound_time": {"long_name": "GEMM lower bound of the epoch", "units": "s",
                            "description": "steps x sum of the best measured product times"},
    "mlp_gemm_numpy_time": {"long_name": "epoch GEMM time with NumPy's BLAS", "units": "s",
                            "description": ""},
    "mlp_gemm_numba_time": {"long_name": "epoch GEMM time with Numba np.dot", "units": "s",
                            "description": "Numba calls SciPy's BLAS"},
    "mlp_gemm_gflop": {"long_name": "matrix-product work of the epoch", "units": "GFLOP",
                       "description": "sum of 2 m k n over the products x steps"},
    "mlp_gemm_gflops": {"long_name": "GEMM rate at the network's shapes", "units": "GFLOP/s",
                        "description": "mlp_gemm_gflop / mlp_gemm_bound_time"},
    "mlp_ratio_to_bound": {"long_name": "epoch time / lower bound", "units": "1",
                           "description": ""},
    "mlp_b1_samples_per_s": {"long_name": "batch-1 samples per second", "units": "1/s",
                             "description": "adaptlr.mlp.train, batch size 1, two-run "
                                            "difference; median over the rounds"},
    "mlp_b1_torch_samples_per_s": {"long_name": "PyTorch batch-1 samples per second",
                                   "units": "1/s", "description": "Python loop over samples; "
                                                                  "median over the rounds"},
    "mlp_b1_speedup_vs_torch": {"long_name": "batch-1 speed-up vs PyTorch", "units": "1",
                                "description": "median over the rounds of the same round's "
                                               "ratio"},
    "mlp_round_b1_wall_samples_per_s": {"long_name": "batch-1 samples per second from wall "
                                        "time, per round", "units": "1/s",
                                        "description": "one round: steps / wall time of the "
                                                       "2-epoch batch-1 run, its two "
                                                       "evaluations included"},
    "mlp_b1_wall_samples_per_s": {"long_name": "batch-1 samples per second from wall time",
                                  "units": "1/s",
                                  "description": "the conservative rate (evaluations included, "
                                                 "no two-run difference); median over the rounds"},
    "mlp_b1_wall_speedup_vs_torch": {"long_name": "batch-1 speed-up vs PyTorch, wall time",
                                     "units": "1",
                                     "description": "median over the rounds of the same round's "
                                                    "mlp_round_b1_wall_samples_per_s / PyTorch's "
                                                    "rate; the batch-1 target is judged on it"},
    "mlp_bbprop_time": {"long_name": "one bbprop call, batch 1", "units": "s",
                        "description": "median over calls (in the round's adaptlr process); "
                                       "median over the rounds"},
    "mlp_bbprop_cost_ratio": {"long_name": "bbprop extra cost ratio", "units": "1",
                              "description": "t_step / (t_step - t_bbprop), batch 1, both from "
                                             "the same round; median over the rounds"},
    "mlp_diverged": {"long_name": "diverged in a timing run", "units": "1", "description": ""},
    "target_mlp_1p5x_torch": {"long_name": "target: epoch >= 1.5x PyTorch", "units": "1",
                              "description": "AdaDelta; NaN for other methods"},
    "target_mlp_within_1p4x_bound": {"long_name": "target: epoch <= 1.4x bound", "units": "1",
                                     "description": "AdaDelta; NaN for other methods"},
    "target_b1_5x_torch": {"long_name": "target: batch 1 >= 5x PyTorch", "units": "1",
                           "description": "SGD, judged on mlp_b1_wall_speedup_vs_torch (the "
                                          "conservative rate); NaN for other methods"},
    "target_bbprop_le_1p6": {"long_name": "target: bbprop cost <= 1.6x", "units": "1",
                             "description": "vSGD-l; NaN for other methods"},
    "gpu_measured": {"long_name": "GPU measured", "units": "1",
                     "description": "0 when no real CUDA device was present"},
    "gpu_n_elements": {"long_name": "GPU elements", "units": "1", "description": ""},
    "gpu_step_time": {"long_name": "CUDA twin step time", "units": "s", "description": ""},
    "gpu_gbps": {"long_name": "CUDA twin effective bandwidth", "units": "GB/s", "description": ""},
    "gpu_copy_gbps": {"long_name": "device-to-device copy bandwidth", "units": "GB/s",
                      "description": "same trial"},
    "gpu_fraction_of_copy": {"long_name": "fraction of device copy bandwidth", "units": "1",
                             "description": ""},
    "gpu_epoch_time": {"long_name": "GPU epoch time", "units": "s", "description": ""},
    "gpu_torch_epoch_time": {"long_name": "PyTorch CUDA epoch time", "units": "s",
                             "description": ""},
    "gpu_speedup_vs_torch": {"long_name": "GPU speed-up vs PyTorch CUDA", "units": "1",
                             "description": ""},
    "gpu_trials_per_s": {"long_name": "quick trials per second sharing the GPU", "units": "1/s",
                         "description": "k runs in k threads"},
    "gpu_concurrency": {"long_name": "concurrent trials", "units": "1", "description": ""},
}


def machine_from(ds) -> dict:
    """The machine record of the first trial that has one (from its ``message`` JSON)."""
    if "message" not in ds:
        return {}
    for m in np.asarray(ds["message"].values).ravel():
        try:
            rec = json.loads(str(m))
        except (TypeError, ValueError):
            continue
        if isinstance(rec, dict) and "machine" in rec:
            return rec["machine"]
    return {}


def dataset_attrs(ds) -> dict:
    """Global attributes with the machine the timings were taken on (str/int only)."""
    m = machine_from(ds)
    if not m:
        return {"perf_machine": "unknown (no trial recorded it)"}
    attrs = {f"perf_{k}": (v if isinstance(v, (str, int)) and not isinstance(v, bool) else
                           json.dumps(v, sort_keys=True))
             for k, v in m.items()}
    attrs["perf_targets"] = json.dumps(TARGETS, sort_keys=True)
    return attrs


def _sel(ds, problem, method):
    opt = np.asarray(ds["optimizer"].values).astype(str)
    idx = np.flatnonzero(opt == method)
    if idx.size == 0 or problem not in list(ds["problem"].values.astype(str)):
        return None
    return ds.sel(problem=problem).isel(setting=int(idx[0]), seed=0)


def _f(x, d=1):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else "inf"
    return f"{x:.{d}f}"


def _pf(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(x) else ("PASS" if x >= 0.5 else "FAIL")


def report_markdown(ds) -> str:
    methods = [str(m) for m in np.asarray(ds["optimizer"].values)]
    lines = [f"# {ds.attrs.get('title', 'Performance')}", ""]
    m = machine_from(ds)
    if m:
        lines += ["## Machine", "",
                  f"* CPU: {m.get('cpu_model')} ({m.get('cpus_usable')} usable of "
                  f"{m.get('cpu_count')} cpus), Numba threads {m.get('numba_threads')} "
                  f"({m.get('numba_threading_layer')}), fast-math {m.get('fastmath')}",
                  f"* BLAS: NumPy {m.get('numpy_blas')}; SciPy {m.get('scipy_blas')}",
                  f"* versions: {json.dumps(m.get('versions', {}), sort_keys=True)}", ""]
    lines += ["## Bytes per element (float32) counted from the equations", "",
              "| method | reads | writes | bytes | two-pass bytes |", "|---|---|---|---|---|"]
    for meth in methods:
        if meth in perf_kernels.BYTES_TABLE:
            r, w, e = perf_kernels.BYTES_TABLE[meth]
            b, bp, _ = perf_kernels.bytes_per_element(meth)
            lines.append(f"| {meth} | {', '.join(r)} | {', '.join(w)} | {b} | {bp} |")
    lines.append("")
    if "kernel_gbps" in ds:
        lines += ["## Optimizer kernels (issue 2): medians, same-trial limits", ""]
        lines += ["Orientation from the issue (2 threads, 10M float32): " +
                  "; ".join(f"{k} {v}" for k, v in ORIENTATION.items()), ""]
        lines += ["`storage`: the same kernel with `arithmetic=\"storage\"` (float32 arithmetic, "
                  "as torch computes; the elementwise methods), same rounds.", ""]
        lines += ["| method | n | GB/s | storage GB/s | fast-math GB/s | copy | triad | NumPy copy | "
                  "torch own (path) | torch fused Adam | x torch | / Adam | storage / Adam | "
                  "check cost | >= Adam | storage >= Adam | 5x torch |",
                  "|" + "---|" * 17]
        paths = {-1: "-", 0: "for-loop", 1: "foreach", 2: "fused"}
        for meth in methods:
            s = _sel(ds, "kernels", meth)
            if s is None:
                continue
            for i in range(s.sizes.get("size", 0)):
                n = s["kernel_n_elements"].values[i]
                if not np.isfinite(n):
                    continue
                tp = s["kernel_torch_path"].values
                tp = paths.get(int(tp) if np.isfinite(tp) else -1, "?")
                lines.append(
                    f"| {meth} | {int(n):,} | {_f(s['kernel_gbps'].values[i])} | "
                    f"{_f(_get(s, 'kernel_storage_gbps', i))} | "
                    f"{_f(s['kernel_fastmath_gbps'].values[i])} | {_f(s['kernel_copy_gbps'].values[i])} | "
                    f"{_f(s['kernel_triad_gbps'].values[i])} | {_f(s['kernel_numpy_copy_gbps'].values[i])} | "
                    f"{_f(s['kernel_torch_gbps'].values[i])} ({tp}) | "
                    f"{_f(s['kernel_torch_adam_gbps'].values[i])} | "
                    f"{_f(s['kernel_speedup_vs_torch'].values[i], 2)} | "
                    f"{_f(s['kernel_ratio_vs_torch_adam'].values[i], 2)} | "
                    f"{_f(_get(s, 'kernel_storage_ratio_vs_torch_adam', i), 2)} | "
                    f"{_f(s['kernel_check_finite_cost'].values[i], 2)} | "
                    f"{_pf(s['target_kernel_ge_torch_adam'].values[i])} | "
                    f"{_pf(_get(s, 'target_kernel_storage_ge_torch_adam', i))} | "
                    f"{_pf(s['target_kernel_5x_torch'].values[i])} |")
        lines.append("")
    if "mlp_epoch_time" in ds:
        lines += ["## MLP 784-500-300-10 on MNIST (issue 4)", "",
                  "Medians over the rounds (each library in its own fresh process, alternating "
                  "which goes first); the x PyTorch columns are medians of the per-round ratios. "
                  "b1 samples/s is the two-run difference (evaluations cancel, but a load that "
                  "falls between the two runs inflates it); b1 wall samples/s is the 2-epoch run's "
                  "steps over its wall time, evaluations included: the conservative figure, on "
                  "which the batch-1 target is judged.",
                  "",
                  "| method | rounds | epoch s | PyTorch s | x PyTorch | bound s | / bound | "
                  "GEMM GFLOP/s | b1 samples/s | b1 wall samples/s | PyTorch b1 | x PyTorch b1 | "
                  "x PyTorch b1 (wall) | bbprop ratio | targets |",
                  "|" + "---|" * 15]
        per_round = []
        for meth in methods:
            s = _sel(ds, "mlp", meth)
            if s is None or not np.isfinite(s["mlp_n_samples"].values):
                continue
            flags = [f"{k[7:]}: {_pf(s[k].values)}" for k in (
                "target_mlp_1p5x_torch", "target_mlp_within_1p4x_bound", "target_b1_5x_torch",
                "target_bbprop_le_1p6") if k in s and _pf(s[k].values)]
            nr = s["mlp_rounds"].values if "mlp_rounds" in s else np.nan
            if np.isfinite(nr) and nr > 1:
                for k in range(int(nr)):
                    per_round.append(
                        f"| {meth} | {k + 1} | {_round_sequence_words(s, k)} | "
                        f"{_f(s['mlp_round_epoch_time'].values[k], 2)} | "
                        f"{_f(s['mlp_round_torch_epoch_time'].values[k], 2)} | "
                        f"{_f(s['mlp_round_b1_samples_per_s'].values[k], 0)} | "
                        f"{_f(_get(s, 'mlp_round_b1_wall_samples_per_s', k), 0)} | "
                        f"{_f(s['mlp_round_b1_torch_samples_per_s'].values[k], 0)} |")
            lines.append(
                f"| {meth} | {_f(nr, 0)} | {_f(s['mlp_epoch_time'].values, 2)} | "
                f"{_f(s['mlp_torch_epoch_time'].values, 2)} | {_f(s['mlp_speedup_vs_torch'].values, 2)} | "
                f"{_f(s['mlp_gemm_bound_time'].values, 2)} | {_f(s['mlp_ratio_to_bound'].values, 2)} | "
                f"{_f(s['mlp_gemm_gflops'].values, 1)} | {_f(s['mlp_b1_samples_per_s'].values, 0)} | "
                f"{_f(_get(s, 'mlp_b1_wall_samples_per_s'), 0)} | "
                f"{_f(s['mlp_b1_torch_samples_per_s'].values, 0)} | "
                f"{_f(s['mlp_b1_speedup_vs_torch'].values, 2)} | "
                f"{_f(_get(s, 'mlp_b1_wall_speedup_vs_torch'), 2)} | "
                f"{_f(s['mlp_bbprop_cost_ratio'].values, 2)} | {'; '.join(flags)} |")
        n = ds["mlp_n_samples"].max().values if "mlp_n_samples" in ds else np.nan
        lines += ["", f"Samples per epoch: {_f(n, 0)} (the bound and times scale with it).", ""]
        hows, unreadable = _report_variants(ds)
        missing = f"(spec unreadable: {unreadable})" if unreadable else "(not in the Dataset's spec)"
        var_rows = []
        for meth in methods:
            s = _sel(ds, "mlp", meth)
            if s is None:
                continue
            for k in sorted(k for k in s.data_vars if k.startswith("mlp_")
                            and k.endswith("_ratio_to_bound") and k != "mlp_ratio_to_bound"):
                pre = k[:-len("_ratio_to_bound")]
                if not np.isfinite(_get(s, f"{pre}_epoch_time_upper")):
                    continue   # not timed for this method
                how = hows.get(pre[len("mlp_"):], missing)
                flags = [f"{t}: {_pf(s[f'target_{pre}_{t}'].values)}" for t in
                         ("within_1p4x_bound", "1p5x_torch") if f"target_{pre}_{t}" in s
                         and _pf(s[f"target_{pre}_{t}"].values)]
                var_rows.append(
                    f"| {meth} | {pre[4:]} | {how} | {_f(s[f'{pre}_epoch_time'].values, 2)} | "
                    f"{_f(s[f'{pre}_epoch_time_upper'].values, 2)} | "
                    f"{_f(s[k].values, 2)} | {_f(s[f'{pre}_speedup_vs_torch'].values, 2)} | "
                    f"{'; '.join(flags)} |")
        if var_rows:
            lines += ["### The epoch under other settings", "",
                      "The same rounds, each setting in its own fresh process (the 'how' "
                      "column says what differs from the default row above, the library as a "
                      "user gets it): the optimizer computing in float32 "
                      "(`arithmetic='storage'`), OpenBLAS's idle threads spinning 2^4 cycles "
                      "(`OPENBLAS_THREAD_TIMEOUT=4`, read when OpenBLAS loads, so a user sets "
                      "it in the environment), or both.", "",
                      "| method | setting | how | epoch s | epoch s, upper | / bound | x PyTorch "
                      "| targets |",
                      "|---|---|---|---|---|---|---|---|"] + var_rows + [""]
        if per_round:
            lines += ["### The rounds", "",
                      "| method | round | sequence | epoch s | PyTorch s | b1 samples/s | "
                      "b1 wall samples/s | PyTorch b1 |",
                      "|---|---|---|---|---|---|---|---|"] + per_round + [""]
    lines += ["## GPU (issue 7)", ""]
    measured = "gpu_measured" in ds and float(ds["gpu_measured"].max()) > 0
    if not measured:
        notes = set()
        for msg in np.asarray(ds["message"].values).ravel():
            try:
                notes.update(n for n in json.loads(str(msg)).get("notes", []) if "not measured" in n)
            except (TypeError, ValueError, AttributeError):
                pass
        lines += ["; ".join(sorted(notes)) or "not measured: no GPU trial in these results", ""]
    else:
        lines += ["| method | n | GB/s | device copy GB/s | fraction | epoch s | PyTorch CUDA s |",
                  "|---|---|---|---|---|---|---|"]
        for meth in methods:
            s = _sel(ds, "gpu", meth)
            if s is None or not float(s["gpu_measured"].values) > 0:
                continue
            for i in range(s.sizes.get("gpu_size", 0)):
                lines.append(
                    f"| {meth} | {_f(s['gpu_n_elements'].values[i], 0)} | {_f(s['gpu_gbps'].values[i])} | "
                    f"{_f(s['gpu_copy_gbps'].values[i])} | {_f(s['gpu_fraction_of_copy'].values[i], 2)} | "
                    f"{_f(s['gpu_epoch_time'].values, 2) if 'gpu_epoch_time' in s else 'n/a'} | "
                    f"{_f(s['gpu_torch_epoch_time'].values, 2) if 'gpu_torch_epoch_time' in s else 'n/a'} |")
        lines.append("")
    # target summary
    lines += ["## Targets", "", "| target | result |", "|---|---|"]
    for k, desc in TARGETS.items():
        if k in ds:
            vals = np.asarray(ds[k].values, dtype=float).ravel()
            vals = vals[np.isfinite(vals)]
            res = "not evaluated" if vals.size == 0 else (
                "PASS" if vals.min() >= 0.5 else f"FAIL ({int((vals < 0.5).sum())} of {vals.size})")
        else:
            res = "not evaluated"
        lines.append(f"| {desc} | {res} |")
    return "\n".join(lines) + "\n"


def _kernels_png(ds, path: Path) -> Path | None:
    if "kernel_gbps" not in ds:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    methods = [str(m) for m in np.asarray(ds["optimizer"].values)]
    sel = [(m, _sel(ds, "kernels", m)) for m in methods]
    sel = [(m, s) for m, s in sel if s is not None and np.isfinite(s["kernel_gbps"].values).any()]
    if not sel:
        return None
    nsz = max(s.sizes.get("size", 1) for _, s in sel)
    fig = Figure(figsize=(max(6, 0.8 * len(sel) + 4.5), 3.2 * nsz))
    FigureCanvasAgg(fig)
    for i in range(nsz):
        ax = fig.add_subplot(nsz, 1, i + 1)
        x = np.arange(len(sel))
        ours = [float(s["kernel_gbps"].values[i]) for _, s in sel]
        fm = [float(s["kernel_fastmath_gbps"].values[i]) for _, s in sel]
        th = [float(s["kernel_torch_gbps"].values[i]) for _, s in sel]
        ax.bar(x - 0.27, ours, 0.27, label="adaptlr")
        ax.bar(x, fm, 0.27, label="adaptlr fast-math")
        ax.bar(x + 0.27, th, 0.27, label="torch own path")
        for var, marker, color, lab in (("kernel_copy_gbps", "_", "k", "copy (prange), same trial"),
                                        ("kernel_triad_gbps", "x", "k", "triad (prange), same trial"),
                                        ("kernel_torch_adam_gbps", "_", "r",
                                         "torch fused Adam, same trial")):
            vals = [float(s[var].values[i]) for _, s in sel]
            ax.scatter(x, vals, marker=marker, color=color, s=300 if marker == "_" else 40,
                       linewidths=2, label=lab, zorder=3)
        n = np.nanmax([float(s["kernel_n_elements"].values[i]) for _, s in sel])
        ax.set_title(f"n = {int(n):,} float32", fontsize=9)
        ax.set_ylabel("effective GB/s")
        ax.set_xticks(x)
        ax.set_xticklabels([m for m, _ in sel], rotation=30, fontsize=8)
        if i == 0:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _mlp_png(ds, path: Path) -> Path | None:
    if "mlp_epoch_time" not in ds:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    methods = [str(m) for m in np.asarray(ds["optimizer"].values)]
    sel = [(m, _sel(ds, "mlp", m)) for m in methods]
    sel = [(m, s) for m, s in sel if s is not None and np.isfinite(s["mlp_n_samples"].values)]
    if not sel:
        return None
    fig = Figure(figsize=(max(6, 0.8 * len(sel) + 4.5), 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(sel))
    ax.bar(x - 0.2, [float(s["mlp_epoch_time"].values) for _, s in sel], 0.4, label="adaptlr")
    ax.bar(x + 0.2, [float(s["mlp_torch_epoch_time"].values) for _, s in sel], 0.4,
           label="PyTorch (same threads)")
    ax.scatter(x, [float(s["mlp_gemm_bound_time"].values) for _, s in sel], marker="_",
               color="k", s=500, linewidths=2, zorder=3, label="GEMM lower bound, same trial")
    ax.set_ylabel("seconds per epoch")
    ax.set_xticks(x)
    ax.set_xticklabels([m for m, _ in sel], rotation=30, fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("784-500-300-10 tanh, minibatch 100, float32", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def extra_report(ds, outdir) -> list[Path]:
    """Markdown tables and PNG figures of the performance study (from the Dataset only)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    md = out / "performance-speed.md"
    md.write_text(report_markdown(ds))
    paths.append(md)
    for fn, name in ((_kernels_png, "performance-kernels.png"), (_mlp_png, "performance-mlp.png")):
        try:
            p = fn(ds, out / name)
        except Exception:  # noqa: BLE001 - a figure must not lose the tables
            (out / (name + ".error.txt")).write_text(traceback.format_exc())
            p = None
        if p is not None:
            paths.append(p)
    return paths


# ---------------------------------------------------------------------------- the study
MLP_FULL = {"section": "mlp", "layers": [784, 500, 300, 10], "batch_size": 100,
            "n_samples": 60000, "extra_epochs": 1, "torch_repeats": 1, "gemm_repeats": 5,
            "b1_samples": 3000, "torch_b1_samples": 2000, "rounds": 7,
            "rounds_methods": ["sgd", "adadelta", "vsgd-l"],
            # the epoch of these methods is also timed, in the same rounds, under other
            # settings: OpenBLAS's idle threads spinning 2^4 cycles instead of its default
            # (a variable read when OpenBLAS loads, so it is set in the process's
            # environment: a library cannot set it), float32 arithmetic, and both
            "variant_methods": ["adadelta"],
            "epoch_variants": [
                {"name": "blas_timeout", "arithmetic": "float64",
                 "env": {"OPENBLAS_THREAD_TIMEOUT": "4"}},
                {"name": "storage", "arithmetic": "storage", "env": {}},
                {"name": "storage_blas_timeout", "arithmetic": "storage",
                 "env": {"OPENBLAS_THREAD_TIMEOUT": "4"}}]}
PROBLEMS = {
    "kernels": {"section": "kernels", "sizes": [1_000_000, 10_000_000], "repeats": 15,
                "fastmath": True},
    "mlp": MLP_FULL,
    "gpu": {"section": "gpu", "sizes": [1_000_000, 10_000_000], "repeats": 15,
            "layers": [784, 500, 300, 10], "batch_size": 100, "n_samples": 60000,
            "epoch_methods": ["adadelta"], "concurrency": [1, 2, 4],
            "concurrent_samples": 6000},
}


def _round_sequence_words(s, k: int) -> str:
    """Round ``k``'s timing processes in the order they ran, from the ``*round_position``
    variables (results of older code have only ``mlp_round_order``: which of adaptlr and
    PyTorch went first)."""
    if "mlp_round_position" not in s:
        return ("adaptlr", "PyTorch")[int(s["mlp_round_order"].values[k])] + " first"
    names = {"mlp_round_position": "adaptlr", "mlp_round_torch_position": "PyTorch"}
    names.update({v: v[len("mlp_"):-len("_round_position")] for v in s.data_vars
                  if v.endswith("_round_position") and v not in names})
    placed = sorted((float(s[v].values[k]), who) for v, who in names.items()
                    if v in s and np.isfinite(s[v].values[k]))
    return ", ".join(who for _, who in placed)


def _variant_how(v: dict) -> str:
    """How an epoch variant differs from the default epoch, in words (its VARIABLES
    descriptions and the report's 'how' column)."""
    env = " ".join(f"{a}={b}" for a, b in v["env"].items())
    return f"optimizer arithmetic={v['arithmetic']!r}" + (f", process environment {env}"
                                                          if env else "")


def _report_variants(ds) -> tuple[dict, str]:
    """``({name: how}, problem)`` of the epoch variants in the Dataset's spec (its ``spec``
    attribute: the problems the trials ran with, not this module's ``MLP_FULL``). The dict is
    empty when the spec names none; ``problem`` is ``""``, or why the spec could not be read
    (then the report says so on every variant's row)."""
    try:
        p = json.loads(ds.attrs["spec"])["problems"]["mlp"]
        return {v["name"]: _variant_how(v) for v in _epoch_variants(p)}, ""
    except (KeyError, TypeError, ValueError) as e:
        return {}, f"{type(e).__name__}: {e}"


def _variant_variables(variants: list[dict]) -> dict:
    """VARIABLES' entries of the epoch variants' figures (:func:`_mlp`)."""
    out = {}
    for v in variants:
        how = _variant_how(v)
        pre = f"mlp_{v['name']}"
        out.update({
            f"{pre}_round_epoch_time": {"long_name": f"epoch time per round ({v['name']})",
                                        "units": "s", "description": f"as mlp_epoch_time, {how}; "
                                                                     "one round"},
            f"{pre}_round_position": {"long_name": f"place in the round ({v['name']})",
                                      "units": "1", "description": "as mlp_round_position, this "
                                                                   "setting's process"},
            f"{pre}_epoch_time": {"long_name": f"epoch time ({v['name']})", "units": "s",
                                  "description": f"as mlp_epoch_time, {how}; median over the "
                                                 "rounds"},
            f"{pre}_epoch_time_upper": {"long_name": f"epoch time, upper bound ({v['name']})",
                                        "units": "s", "description": f"as mlp_epoch_time_upper, "
                                                                     f"{how}; median over the "
                                                                     "rounds"},
            f"{pre}_ratio_to_bound": {"long_name": f"epoch / GEMM bound ({v['name']})",
                                      "units": "1", "description": f"{pre}_epoch_time / "
                                                                   "mlp_gemm_bound_time"},
            f"{pre}_speedup_vs_torch": {"long_name": f"speed-up vs PyTorch ({v['name']})",
                                        "units": "1", "description": "median of the per-round "
                                                                     "PyTorch / variant epoch"},
            f"target_{pre}_within_1p4x_bound": {"long_name": f"target: epoch within 1.4x the "
                                                             f"GEMM bound ({v['name']})",
                                                "units": "1",
                                                "description": "1 pass, 0 fail, NaN not evaluated"},
            f"target_{pre}_1p5x_torch": {"long_name": f"target: >= 1.5x PyTorch ({v['name']})",
                                         "units": "1",
                                         "description": "1 pass, 0 fail, NaN not evaluated"}})
    return out


VARIABLES.update(_variant_variables(_epoch_variants(MLP_FULL)))

QUICK_PROBLEMS = {
    "kernels": {"section": "kernels", "sizes": [100_000], "repeats": 3, "fastmath": True},
    "mlp": {**MLP_FULL, "n_samples": 1000, "gemm_repeats": 2, "b1_samples": 100,
            "torch_b1_samples": 100, "rounds": 2},
    "gpu": {**PROBLEMS["gpu"], "sizes": [100_000], "repeats": 3, "n_samples": 2000,
            "concurrency": [1, 2], "concurrent_samples": 1000},
}

DESCRIPTION = (
    "Speed of adaptlr's optimizer kernels (issue 2), MLP training (issue 4) and GPU path "
    "(issue 7) against limits measured in the same trial: STREAM-like copy/triad "
    "bandwidth, torch.optim's fastest CPU path and fused Adam, PyTorch MLP training with "
    "the same network/optimizer/batch/threads, and the GEMM lower bound at the network's "
    "shapes (149.2 GFLOP per 60,000-sample epoch of 784-500-300-10: forward X W and weight "
    "gradients X^T D for every layer, input gradients D W^T for all but the first). "
    "Medians over interleaved rounds; the MLP figures of the methods with a target (SGD, "
    "AdaDelta, vSGD-l) are medians over 7 rounds in which adaptlr and PyTorch (and "
    "AdaDelta's epoch variants) each run in a fresh process, in an order shuffled per round "
    "from the seed with adaptlr before PyTorch in alternate rounds, and their speed-ups "
    "medians of the per-round ratios (the other methods: 1 round); one seed. Targets: " + "; ".join(TARGETS.values()) + ". "
    "Orientation from the issue (2 threads, 10M float32): " +
    "; ".join(f"{k} {v}" for k, v in ORIENTATION.items()) + ". "
    "The elementwise methods' kernels are also timed with arithmetic='storage' (float32 "
    "arithmetic, as torch computes) in the same rounds. AdaDelta's MLP epoch is also timed, "
    "in the same rounds and each in its own fresh process, with OPENBLAS_THREAD_TIMEOUT=4 in "
    "the process's environment (OpenBLAS's idle threads then stop spinning sooner; it is "
    "read when OpenBLAS loads), with arithmetic='storage', and with both. "
    "Choices: bytes per element are what the equations must read and write once (no "
    "write-allocate traffic, as STREAM); vSGD timed in its minibatch form (gsq given, "
    "nbatch 100); gradient sign alternates between timed steps; 20 untimed warm-up steps; "
    "the epoch time is the two-run difference of train() (1 and 2 epochs) so the full-set "
    "evaluations cancel; bbprop's cost ratio is t_step / (t_step - t_bbprop) at batch 1; "
    "fast-math is measured in a subprocess with ADAPTLR_FASTMATH=1 and its own Numba cache "
    "(Numba's cache key ignores fast-math flags). Run serially: --workers 1.")

#: the generic learning-curve and scatter figures mean nothing for benchmarks (report.py)
GENERIC_FIGURES = False

STUDY = Study(
    name="performance",
    title="Performance: optimizer kernels, MLP training and GPU vs the machine's limits",
    paper="adaptlr issues 2, 4 and 7 (speed sections)",
    description=DESCRIPTION,
    trial=trial,
    problems=PROBLEMS,
    optimizers={m: {} for m in _method_names()},
    seeds=(0,),
    epochs=1,
    batch_size=100,
    quick={"problems": QUICK_PROBLEMS,
           "optimizers": {"adadelta": {}, "sgd": {}, "vsgd-l": {}}},
    allowed=allowed,
    variables=VARIABLES,
    max_workers=1,  # timing trials never overlap (the lock also guards other runs)
    curve_metric="mlp_train_loss",
)
