"""Machine limits for the performance study: memory bandwidth, GEMM rate, machine facts.

Helper of :mod:`studies.performance` (not a study: it defines no ``STUDY``).

Everything here is measured *in the same process and run* as the code it is compared
with, so ratios are not spoiled by a different load on a shared machine.

* :func:`stream_copy` / :func:`stream_triad`: STREAM-like kernels (McCalpin), compiled
  like adaptlr's own kernels (:func:`adaptlr.targets.cpu_kernel` with ``parallel=True``,
  a ``prange`` loop, fast-math only when ``ADAPTLR_FASTMATH=1``). Bytes counted as in
  STREAM: copy ``b[i] = a[i]`` moves 2 arrays, triad ``a[i] = b[i] + s c[i]`` moves 3
  (write-allocate traffic is not counted, as in STREAM and as in the optimizer byte
  counts of the study).
* ``numpy`` copy: ``np.copyto(b, a)`` (single-threaded memcpy in NumPy).
* :func:`gemm_shapes` / :func:`time_gemms`: the matrix products of one minibatch step of
  an MLP, timed at exactly those shapes (and memory layouts: ``X^T D`` and ``D W^T`` use
  transposed views, as the library does) with NumPy's ``np.dot`` and with ``np.dot``
  compiled by Numba (Numba calls SciPy's BLAS, which may be a different build from
  NumPy's). The faster of the two per shape is the machine's GEMM rate there.
* :func:`interleaved_times`: time several functions in rounds (each round calls each
  function once, in a rotated order), so slow drifts of the machine's load hit all of
  them alike; the study reports medians over rounds.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np
from numba import prange

from adaptlr import targets


@targets.cpu_kernel(parallel=True)
def stream_copy(a, b):
    """``b[i] = a[i]`` (2 arrays moved)."""
    for i in prange(a.shape[0]):
        b[i] = a[i]


@targets.cpu_kernel(parallel=True)
def stream_triad(a, b, c, s):
    """``a[i] = b[i] + s * c[i]`` (3 arrays moved); ``s`` has the arrays' dtype."""
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


@targets.cpu_kernel
def _nb_dot(a, b, out):
    np.dot(a, b, out)


def interleaved_times(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Per-call wall times (s) of each ``fns[name]()``, ``repeats`` rounds, rotated order.

    Each function is called ``warmup`` times first (compilation, page faults), untimed.
    Returns ``{name: float64 array of length repeats}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    out = {name: np.empty(repeats) for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn = fns[name]
            t0 = time.perf_counter()
            fn()
            out[name][r] = time.perf_counter() - t0
    return out


def bandwidth_fns(n: int, dtype=np.float32, seed: int = 0) -> tuple[dict, dict]:
    """Machine-limit functions on arrays of ``n`` elements and the bytes each moves.

    Returns ``(fns, nbytes)`` with names ``copy_numba``, ``triad_numba``, ``copy_numpy``.
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    a = rng.standard_normal(n).astype(dt)
    b = np.empty_like(a)
    c = rng.standard_normal(n).astype(dt)
    s = dt.type(0.5)
    item = dt.itemsize
    fns = {
        "copy_numba": lambda: stream_copy(a, b),
        "triad_numba": lambda: stream_triad(b, a, c, s),
        "copy_numpy": lambda: np.copyto(b, a),
    }
    nbytes = {"copy_numba": 2 * n * item, "triad_numba": 3 * n * item, "copy_numpy": 2 * n * item}
    return fns, nbytes


# ---------------------------------------------------------------------------- GEMM bound
def gemm_shapes(sizes, batch: int) -> list[tuple[str, int, int, int]]:
    """The matrix products of one training step of an MLP: ``(kind, m, k, n)``, C = A(m,k) B(k,n).

    Per layer ``l`` with fan-in ``a``, fan-out ``b`` and minibatch ``B``:
    forward ``X_l @ W_l`` (B, a, b); weight gradient ``X_l^T @ D_l`` (a, B, b); input
    gradient ``D_l @ W_l^T`` (B, b, a) for every layer but the first (the gradient w.r.t.
    the data is not needed). FLOPs of one product: ``2 m k n``.
    For 784-500-300-10 and B = 100 that is 2.486 MFLOP per sample, 149.2 GFLOP per
    60,000-sample epoch (forward 2 x 545,000 multiply-adds per sample, the same for the
    weight gradients, and 2 x (500 x 300 + 300 x 10) for the input gradients).
    """
    shapes = []
    sizes = [int(s) for s in sizes]
    for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes.append((f"fwd{layer}", batch, a, b))
        shapes.append((f"dW{layer}", a, batch, b))
        if layer > 0:
            shapes.append((f"dX{layer}", batch, b, a))
    return shapes


def gemm_flops(sizes, batch: int) -> float:
    """FLOPs of one minibatch step's matrix products (sum of ``2 m k n``)."""
    return float(sum(2.0 * m * k * n for _, m, k, n in gemm_shapes(sizes, batch)))


def _gemm_operands(kind: str, m: int, k: int, n: int, dtype, rng):
    """Operands with the memory layout the library uses for that product."""
    if kind.startswith("dW"):      # X^T @ D: A is the transpose of a C-contiguous (k, m)
        A = rng.standard_normal((k, m)).astype(dtype).T
        B = rng.standard_normal((k, n)).astype(dtype)
    elif kind.startswith("dX"):    # D @ W^T: B is the transpose of a C-contiguous (n, k)
        A = rng.standard_normal((m, k)).astype(dtype)
        B = rng.standard_normal((n, k)).astype(dtype).T
    else:                          # X @ W
        A = rng.standard_normal((m, k)).astype(dtype)
        B = rng.standard_normal((k, n)).astype(dtype)
    return A, B, np.empty((m, n), dtype=dtype)


def time_gemms(sizes, batch: int, dtype=np.float32, repeats: int = 7, inner: int = 0,
               seed: int = 0, libs=("numpy", "numba")) -> dict:
    """Median time (s) of each product of :func:`gemm_shapes`, NumPy and Numba-compiled.

    Each timing sample calls the product ``inner`` times (default: enough for ~2 ms) and
    divides. Returns ``{"kinds": [...], "flops": array, "numpy": array, "numba": array,
    "best": array}`` (times per product, seconds).
    """
    rng = np.random.default_rng(seed)
    shapes = gemm_shapes(sizes, batch)
    kinds, flops, t_np, t_nb = [], [], [], []
    for kind, m, k, n in shapes:
        A, B, C = _gemm_operands(kind, m, k, n, dtype, rng)
        f = 2.0 * m * k * n
        reps = inner or max(1, int(2e-3 * 20e9 / f))   # ~2 ms at 20 GFLOP/s
        fns = {"numpy": lambda: [np.dot(A, B, C) for _ in range(reps)],
               "numba": lambda: [_nb_dot(A, B, C) for _ in range(reps)]}
        # a library left out of ``libs`` is not run (NaN): NumPy's and SciPy's OpenBLAS are
        # two thread pools that slow each other down when interleaved (perf_isolated.py)
        t = interleaved_times({k: f for k, f in fns.items() if k in libs}, repeats, warmup=2)
        t = {k: t.get(k, [float("nan")]) for k in fns}
        kinds.append(kind)
        flops.append(f)
        t_np.append(float(np.median(t["numpy"])) / reps)
        t_nb.append(float(np.median(t["numba"])) / reps)
    t_np, t_nb = np.array(t_np), np.array(t_nb)
    return {"kinds": kinds, "flops": np.array(flops), "numpy": t_np, "numba": t_nb,
            "best": np.fmin(t_np, t_nb)}


# ---------------------------------------------------------------------------- machine facts
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_of(mod) -> str:
    try:
        cfg = mod.show_config(mode="dicts")
        deps = cfg.get("Build Dependencies", {})
        parts = []
        for key in ("blas", "lapack"):
            d = deps.get(key, {})
            if d:
                parts.append(f"{key}={d.get('name', '?')} {d.get('version', '')}".strip())
        return ", ".join(parts) or "unknown"
    except Exception:  # noqa: BLE001 - show_config formats differ between versions
        return "unknown"


def blas_info() -> dict:
    """BLAS of NumPy and SciPy (Numba's np.dot uses SciPy's), plus threadpoolctl if present."""
    import numpy

    info = {"numpy_blas": _blas_of(numpy)}
    try:
        import scipy

        info["scipy_blas"] = _blas_of(scipy)
    except ImportError:  # pragma: no cover - scipy is a dependency
        info["scipy_blas"] = "scipy not installed"
    try:
        import threadpoolctl

        info["threadpools"] = "; ".join(
            f"{p.get('internal_api')} {p.get('version')} ({p.get('threading_layer', '')}, "
            f"{p.get('num_threads')} threads, {os.path.basename(p.get('filepath', ''))})"
            for p in threadpoolctl.threadpool_info())
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def versions() -> dict:
    import numba
    import numpy

    out = {"python": sys.version.split()[0], "numpy": numpy.__version__,
           "numba": numba.__version__}
    for mod in ("scipy", "torch", "adaptlr"):
        try:
            out[mod] = str(__import__(mod).__version__)
        except Exception:  # noqa: BLE001 - optional
            out[mod] = "not installed"
    return out


def machine_info() -> dict:
    """JSON-able description of where the timings were taken."""
    import numba

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        affinity = os.cpu_count() or 0
    try:
        layer = numba.threading_layer()
    except ValueError:       # no parallel region has run yet
        layer = f"not initialised (configured: {numba.config.THREADING_LAYER})"
    info = {
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu_count": int(os.cpu_count() or 0),
        "cpus_usable": int(affinity),
        "numba_threads": int(numba.get_num_threads()),
        "numba_threading_layer": layer,
        "fastmath": bool(targets.FASTMATH),
        "thread_env": {v: os.environ.get(v, "") for v in (
            "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")},
        "versions": versions(),
        **blas_info(),
    }
    json.dumps(info)  # must be JSON-able
    return info
