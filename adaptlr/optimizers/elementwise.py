"""Generic fused CPU kernel for elementwise methods ("one rule, two targets").

An elementwise method is a plain scalar Python function with the uniform signature::

    rule(x, g, c, q, hv, s0, s1, s2, s3, s4, hp, t, nb) -> (x, s0, s1, s2, s3, s4)

``x`` parameter, ``g`` gradient, ``c`` curvature sample (0 when absent), ``q``
mean squared per-sample gradient (``g*g`` when absent), ``hv`` curvature-vector
product (0 when absent), ``s0..s4`` the element's state (slots beyond the
method's ``N_SLOTS`` are passed as 0 and ignored on return), ``hp`` the method's
Hyper NamedTuple, ``t`` the 1-based step index, ``nb`` the minibatch size.

Arithmetic (:mod:`adaptlr.optimizers.arithmetic`): by default (``arithmetic="float64"``)
inputs are promoted to float64 inside the rule (hyperparameters are float64), results are
rounded to the array dtype when stored. For float32 arrays this is one rounding per stored
value and step. With ``arithmetic="storage"`` nothing is promoted: the per-step hyper tuple
and the minibatch size are rounded to the array dtype and the rule computes in it (rules
write their constants as ``as_type(1.0, g)`` so that no literal promotes them).

:func:`make_cpu_kernel` builds the ``step_flat`` kernel (``@njit(parallel=True)``,
``prange`` over elements) with the uniform signature of docs/architecture.md.
The closure is over the compiled rule and the slot count only, never over
hyperparameters. The CUDA twin is built from the same rule in
:mod:`adaptlr.optimizers.cuda_launch`.
"""
from __future__ import annotations

import hashlib

import numpy as np

from numba import prange

from .. import targets
from .arithmetic import as_type, cast_fields, check_arithmetic


def stable_cpu_rule(rule):
    """``targets.cpu_rule(rule)`` with a deterministic identity for Numba's cache.

    Kernels built by factories close over the compiled rule. Numba's on-disk cache
    keys a closure on the pickled closure cells, and a dispatcher pickles with a
    random per-process UUID, so without this every process would recompile (seconds
    per kernel and dtype). We give the rule dispatcher a UUID derived from the
    rule's qualified name and a hash of its bytecode and constants, so a cached
    kernel is reused across processes and invalidated when the rule changes.
    (Changes to helper functions that a rule calls are not seen: clear
    ``__pycache__`` after editing those.)
    """
    return stable_identity(targets.cpu_rule(rule), rule)


def stable_identity(disp, fn, salt: str = ""):
    """Give dispatcher ``disp`` (compiled from ``fn``) a deterministic UUID; returns ``disp``."""
    code = fn.__code__
    cells = []
    for cell in fn.__closure__ or ():
        v = cell.cell_contents
        cells.append(str(getattr(v, "_MemoMixin__uuid", None)) if hasattr(v, "py_func") else repr(v))
    h = hashlib.sha256(code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
                       + salt.encode() + repr(cells).encode())
    try:  # private Numba API; on failure caching just misses, results are unaffected
        disp._set_uuid(f"adaptlr:{fn.__module__}.{fn.__qualname__}:{h.hexdigest()[:16]}")
    except Exception:  # pragma: no cover  (NUMBA_DISABLE_JIT: plain functions)
        pass
    return disp


#: arrays shorter than this are updated by the serial kernel variants in the list API
#: (a parallel launch costs more than the work); also used by the finiteness check.
PARALLEL_MIN = 1 << 16


def same_hyper(hp, t):
    """The default per-step preparation: the rule gets the Hyper tuple unchanged."""
    return hp


def make_cpu_kernel(rule, n_slots: int, parallel: bool = True, prepare=None,
                    arithmetic: str = "float64"):
    """Fused single-pass CPU kernel ``step_flat`` for an elementwise ``rule``.

    ``parallel=False`` gives the serial variant (same arithmetic, bit-identical results).
    ``prepare(hp, t) -> hq``, a plain scalar function like the rule, computes once per step
    what does not depend on the element (Adam's bias corrections ``1 - beta^t``); the rule
    then receives ``hq`` in place of ``hp``. Without it the rule gets ``hp``. A
    per-element ``beta ** t`` is not hoisted out of the loop by LLVM and made the Adam
    kernel about 10x slower than RMSprop's. The CUDA twin evaluates ``prepare`` on the
    host with the same Python function (cuda_launch.py).

    ``arithmetic="storage"`` builds the kernel that computes in the arrays' dtype (module
    docstring); for float64 arrays its arithmetic is the default kernel's, bit for bit.
    """
    if check_arithmetic(arithmetic) == "storage":
        return _make_storage_kernel(rule, n_slots, parallel, prepare)
    if not 0 <= n_slots <= 5:
        raise ValueError(f"n_slots={n_slots} is not supported by the elementwise template (0..5)")
    r = stable_cpu_rule(rule)
    prep = stable_cpu_rule(prepare if prepare is not None else same_hyper)
    NS = n_slots

    def step_flat(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
        hq = prep(hp, t)
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        for i in prange(n):
            gi = np.float64(g[i])
            c = np.float64(curv[i]) if hasc else 0.0
            q = np.float64(gsq[i]) if hasq else gi * gi
            h = np.float64(hv[i]) if hash_ else 0.0
            s0 = np.float64(st[0, i]) if NS > 0 else 0.0
            s1 = np.float64(st[1, i]) if NS > 1 else 0.0
            s2 = np.float64(st[2, i]) if NS > 2 else 0.0
            s3 = np.float64(st[3, i]) if NS > 3 else 0.0
            s4 = np.float64(st[4, i]) if NS > 4 else 0.0
            xn, s0, s1, s2, s3, s4 = r(np.float64(x[i]), gi, c, q, h, s0, s1, s2, s3, s4, hq, t, nbatch)
            x[i] = xn
            if NS > 0:
                st[0, i] = s0
            if NS > 1:
                st[1, i] = s1
            if NS > 2:
                st[2, i] = s2
            if NS > 3:
                st[3, i] = s3
            if NS > 4:
                st[4, i] = s4

    step_flat.__name__ = f"step_flat_{rule.__name__}" + ("" if parallel else "_serial")
    step_flat.__qualname__ = step_flat.__name__
    return stable_identity(targets.cpu_kernel(step_flat, parallel=parallel), step_flat,
                           f"NS={NS},parallel={parallel}")


def _make_storage_kernel(rule, n_slots: int, parallel: bool, prepare):
    """:func:`make_cpu_kernel` for ``arithmetic="storage"``: the same loop without promotion.

    The loop receives the per-step tuple already rounded to the storage type. The parallel
    variant is a Python function around a compiled ``prange`` loop, because Numba's parfor
    lowering rebuilds a NamedTuple inside the loop from the call that defined it and fails
    (NameError) when that call is not the tuple's class (here :func:`cast_fields`); the
    serial variant, which compiled callers (the training loop) use, is compiled whole.
    """
    if not 0 <= n_slots <= 5:
        raise ValueError(f"n_slots={n_slots} is not supported by the elementwise template (0..5)")
    r = stable_cpu_rule(rule)
    prep = stable_cpu_rule(prepare if prepare is not None else same_hyper)
    NS = n_slots

    def storage_loop(x, g, curv, gsq, hv, st, hq, t, nbf):
        zero = as_type(0.0, x)
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        for i in prange(n):
            gi = g[i]
            c = curv[i] if hasc else zero
            q = gsq[i] if hasq else gi * gi
            h = hv[i] if hash_ else zero
            s0 = st[0, i] if NS > 0 else zero
            s1 = st[1, i] if NS > 1 else zero
            s2 = st[2, i] if NS > 2 else zero
            s3 = st[3, i] if NS > 3 else zero
            s4 = st[4, i] if NS > 4 else zero
            xn, s0, s1, s2, s3, s4 = r(x[i], gi, c, q, h, s0, s1, s2, s3, s4, hq, t, nbf)
            x[i] = xn
            if NS > 0:
                st[0, i] = s0
            if NS > 1:
                st[1, i] = s1
            if NS > 2:
                st[2, i] = s2
            if NS > 3:
                st[3, i] = s3
            if NS > 4:
                st[4, i] = s4

    def storage_hyper(hp, t, x):
        return cast_fields(prep(hp, t), x)

    base = f"{rule.__name__}_storage"
    storage_loop.__name__ = storage_loop.__qualname__ = f"loop_{base}" + ("" if parallel else "_serial")
    storage_hyper.__name__ = storage_hyper.__qualname__ = f"hyper_{base}"
    loop = stable_identity(targets.cpu_kernel(storage_loop, parallel=parallel), storage_loop,
                           f"NS={NS},parallel={parallel},storage")
    hyper = stable_identity(targets.cpu_kernel(storage_hyper), storage_hyper, "storage")

    if parallel:
        def step_flat_storage(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
            # the compiled tuple comes back with Python floats (Numba boxes float32 as
            # float): round it again in Python so that the loop is typed for float32
            loop(x, g, curv, gsq, hv, st, cast_fields(hyper(hp, t, x), x), t, as_type(nbatch, x))
    else:
        def step_flat_storage(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
            loop(x, g, curv, gsq, hv, st, hyper(hp, t, x), t, as_type(nbatch, x))

    name = f"step_flat_{base}" + ("" if parallel else "_serial")
    step_flat_storage.__name__ = step_flat_storage.__qualname__ = name
    out = step_flat_storage if parallel else stable_identity(
        targets.cpu_kernel(step_flat_storage), step_flat_storage,
        f"NS={NS},storage," + str(getattr(loop, "_MemoMixin__uuid", "")))
    out.storage_loop = loop      # for inspection (tests read its machine code)
    return out
