"""Optimizer-kernel timings for the performance study (issue 2, "Speed").

Helper of :mod:`studies.performance` (not a study: it defines no ``STUDY``).

For one registered method and one size ``n`` (float32), :func:`measure` times in
interleaved rounds (see :func:`studies.perf_machine.interleaved_times`), all in this
process and run:

* ``kernel``: the raw flat kernel ``opt.step_flat(x, g, curv, gsq, hv, st, sc, offsets, hp,
  t, nbatch)`` (docs/architecture.md) on one block ``offsets = [0, n]``;
* ``kernel_storage``: the same with ``arithmetic="storage"`` (float32 arithmetic; the
  elementwise methods only);
* ``api`` / ``api_checked``: the Python API ``opt.step([x], [g], state, ...,
  check_finite=False / True)``; the difference is the cost of the non-finite check;
* ``copy_numba``, ``triad_numba``, ``copy_numpy``: the machine's bandwidth
  (:mod:`studies.perf_machine`);
* ``torch``: torch.optim's fastest CPU path for the same method, where torch has it;
  ``torch_adam``: torch's fused Adam, the common yardstick of the targets.

Inputs: ``x``, ``g`` standard normal (scaled 0.1 and 0.01); the gradient alternates sign
between steps (two arrays ``g`` and ``-g``, the same bytes) so that no method's state
drifts to overflow or denormals over the repeated steps of a benchmark; ``curv = |N| +
0.1`` where the method needs curvature; ``gsq = g^2 (1 + |N|)`` for methods that use
squared per-sample gradients (the minibatch form of vSGD, ``nbatch = 100``, as in MLP
training); ``hv`` standard normal for SMD. Before timing, 20 untimed steps (``t = 1..20``)
bring the state out of initialisation and vSGD's slow start (``n0 = 10``); timed steps use
``t = 21``.

Bytes per element (:data:`BYTES_TABLE`) are counted from each method's equations: the
arrays it must read and must write once per step (write-allocate traffic not counted, as
in STREAM). Two-phase methods (vSGD-b/g and SMD need a reduction over the block before
they can update ``x``) read some arrays twice in any implementation that does not keep
the block in cache; ``passes_bytes`` counts that traffic too, for information.

The fast-math variant: ``ADAPTLR_FASTMATH`` is read when adaptlr is imported, so
:func:`fastmath_child_times` runs :func:`measure_kernel_only` in a subprocess with
``ADAPTLR_FASTMATH=1`` and its own Numba cache directory. (Numba's on-disk cache key
does not include the fast-math flags, so with the shared cache the subprocess would
silently load the non-fast-math machine code.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import perf_machine, perf_torch

#: arrays of n elements each method must read / write per step, from its equations.
#: Inputs: x, g, curv (bbprop), gsq (mean squared per-sample gradients), hv (H v);
#: state rows by their symbols. Second entry: extra reads of a two-phase implementation.
BYTES_TABLE = {
    "sgd": (("x", "g"), ("x",), ()),
    "momentum": (("x", "g", "dx"), ("x", "dx"), ()),
    "adagrad": (("x", "g", "G"), ("x", "G"), ()),
    "rmsprop": (("x", "g", "E[g^2]"), ("x", "E[g^2]"), ()),
    "adadelta": (("x", "g", "E[g^2]", "E[dx^2]"), ("x", "E[g^2]", "E[dx^2]"), ()),
    "adam": (("x", "g", "m", "v"), ("x", "m", "v"), ()),
    "almeida": (("x", "g", "v", "g_prev"), ("x", "v", "g_prev"), ()),
    "amari": (("x", "g", "v"), ("x", "v"), ()),
    "diag-newton": (("x", "g", "curv"), ("x",), ()),
    "vsgd-l": (("x", "g", "curv", "gsq", "gbar", "vbar", "hbar", "tau"),
               ("x", "gbar", "vbar", "hbar", "tau", "eta"), ()),
    "vsgd-b": (("x", "g", "curv", "gsq", "gbar", "hbar"), ("x", "gbar", "hbar"), ("g",)),
    "vsgd-g": (("x", "g", "curv", "gsq", "gbar", "hbar"), ("x", "gbar", "hbar"), ("g",)),
    "smd": (("x", "g", "hv", "v"), ("x", "v"), ("g", "v")),
}

WARM_STEPS = 20
MINIBATCH = 100


def bytes_per_element(method: str, itemsize: int = 4) -> tuple[int, int, bool]:
    """``(must bytes, two-phase bytes, known)`` per element for ``method``.

    ``known`` is False for a method missing from :data:`BYTES_TABLE`; then every state
    row and every input the method uses is counted as read and written once.
    """
    if method in BYTES_TABLE:
        r, w, extra = BYTES_TABLE[method]
        return itemsize * (len(r) + len(w)), itemsize * (len(r) + len(w) + len(extra)), True
    from adaptlr import optimizers

    m = optimizers.get(method)
    inputs = 2 + int(m.needs_curvature) + int(m.uses_grad_sq) + int(m.needs_hvp)
    k = inputs + 2 * m.n_slots + 1
    return itemsize * k, itemsize * k, False


def inputs(opt, n: int, dtype=np.float32, seed: int = 0) -> dict:
    """Benchmark inputs for ``opt`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    empty = np.zeros(0, dtype=dt)
    x = (0.1 * rng.standard_normal(n)).astype(dt)
    g = (0.01 * rng.standard_normal(n)).astype(dt)
    d = {"x": x, "g": g, "gneg": -g, "curv": empty, "gsq": empty, "hv": empty,
         "nbatch": 1}
    if opt.needs_curvature:
        d["curv"] = (np.abs(rng.standard_normal(n)) + 0.1).astype(dt)
    if opt.uses_grad_sq:
        d["gsq"] = (g.astype(np.float64) ** 2 * (1 + np.abs(rng.standard_normal(n)))).astype(dt)
        d["nbatch"] = MINIBATCH
    if opt.needs_hvp:
        d["hv"] = rng.standard_normal(n).astype(dt)
    return d


def _kernel_fn(opt, d, dtype):
    """Warmed-up raw-kernel step closure (own copy of x and state; inputs ``d`` shared)."""
    n = d["x"].shape[0]
    x = d["x"].copy()
    offsets = np.array([0, n], dtype=np.int64)
    st, sc = opt.init_flat(n, offsets, dtype)
    hp = opt.hyper
    if "C" in hp._fields and hp.C == 0.0:        # vSGD's C = d/10 rule at kernel level
        hp = hp._replace(C=n / 10.0)
    sf = opt.step_flat
    nb = np.int64(d["nbatch"])
    grads = (d["g"], d["gneg"])
    for t in range(1, WARM_STEPS + 1):
        sf(x, grads[t % 2], d["curv"], d["gsq"], d["hv"], st, sc, offsets, hp, np.int64(t), nb)
    tt = np.int64(WARM_STEPS + 1)
    k = [0]

    def step():
        k[0] ^= 1
        sf(x, grads[k[0]], d["curv"], d["gsq"], d["hv"], st, sc, offsets, hp, tt, nb)

    step.arrays = (x, st)
    return step


def _api_fn(opt, d, check):
    """Warmed-up API step closure (``opt.step`` on ``[x]``), check_finite on or off."""
    x = d["x"].copy()
    state = opt.init([x])
    kw = {"batch_size": int(d["nbatch"]), "check_finite": bool(check)}
    if opt.needs_curvature:
        kw["curvature"] = [d["curv"]]
    if opt.uses_grad_sq:
        kw["grad_sq"] = [d["gsq"]]
    if opt.needs_hvp:
        hv = [d["hv"]]
        kw["hvp"] = lambda vs: hv
    grads = ([d["g"]], [d["gneg"]])
    for t in range(1, WARM_STEPS + 1):
        opt.step([x], grads[t % 2], state, **kw)
    k = [0]

    def step():
        k[0] ^= 1
        opt.step([x], grads[k[0]], state, **kw)

    return step


def measure_kernel_only(method: str, sizes, repeats: int, seed: int = 0) -> dict:
    """Median raw-kernel step time (s) per size (used by the fast-math child)."""
    from adaptlr import optimizers

    opt = optimizers.make(method)
    out = []
    for n in sizes:
        fn = _kernel_fn(opt, inputs(opt, int(n), np.float32, seed), np.float32)
        t = perf_machine.interleaved_times({"kernel": fn}, repeats)
        out.append(float(np.median(t["kernel"])))
    return {"step_time": out}


def measure(method: str, n: int, repeats: int, seed: int = 0, with_torch: bool = True) -> dict:
    """All same-run timings for one method and size; medians (s) and bytes moved."""
    from adaptlr import optimizers

    opt = optimizers.make(method)
    dtype = np.float32
    fns, nbytes = perf_machine.bandwidth_fns(n, dtype, seed)
    d = inputs(opt, n, dtype, seed)
    kernel = _kernel_fn(opt, d, dtype)
    fns["kernel"] = kernel
    if method in optimizers.registry.storage_methods():
        # the same kernel computing in float32 (make(method, arithmetic="storage"))
        fns["kernel_storage"] = _kernel_fn(optimizers.make(method, arithmetic="storage"), d, dtype)
    fns["api"] = _api_fn(opt, d, check=False)
    fns["api_checked"] = _api_fn(opt, d, check=True)
    paths = {"torch": None, "torch_adam": None}
    if with_torch:
        own = perf_torch.optimizer_step(method, d["x"], d["g"], opt.hyperparameters)
        if own is not None:
            fns["torch"], paths["torch"] = own
        adam = perf_torch.optimizer_step("adam", d["x"], d["g"], {})
        if adam is not None:
            fns["torch_adam"], paths["torch_adam"] = adam
    times = perf_machine.interleaved_times(fns, repeats, warmup=2)
    med = {k: float(np.median(v)) for k, v in times.items()}
    must, passes, known = bytes_per_element(method, np.dtype(dtype).itemsize)
    x, st = kernel.arrays
    finite = bool(np.isfinite(x).all() and np.isfinite(st).all())
    return {"median": med, "times": times, "bandwidth_bytes": nbytes,
            "bytes_per_element": must, "passes_bytes_per_element": passes,
            "bytes_known": known, "torch_paths": paths, "state_finite": finite,
            "adam_bytes_per_element": bytes_per_element("adam")[0]}


def fastmath_child_times(method: str, sizes, repeats: int, seed: int = 0,
                         timeout: float = 600.0) -> tuple[list, str]:
    """Raw-kernel medians with ``ADAPTLR_FASTMATH=1`` from a subprocess; ``(times, note)``.

    Returns NaNs and the reason when the subprocess fails.
    """
    env = dict(os.environ)
    env["ADAPTLR_FASTMATH"] = "1"
    env["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "adaptlr-numba-cache-fastmath")
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    payload = json.dumps({"method": method, "sizes": [int(s) for s in sizes],
                          "repeats": int(repeats), "seed": int(seed)})
    try:
        r = subprocess.run([sys.executable, "-m", "studies.perf_kernels"], input=payload,
                           capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.SubprocessError) as e:
        return [float("nan")] * len(sizes), f"fast-math subprocess failed: {e}"
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return [float("nan")] * len(sizes), "fast-math subprocess failed: " + " | ".join(tail)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if not res.get("fastmath"):
        return [float("nan")] * len(sizes), "fast-math subprocess did not see ADAPTLR_FASTMATH=1"
    return res["step_time"], ""


def _child_main() -> int:
    from adaptlr import targets

    req = json.loads(sys.stdin.read())
    res = measure_kernel_only(req["method"], req["sizes"], req["repeats"], req["seed"])
    res["fastmath"] = bool(targets.FASTMATH)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(_child_main())
