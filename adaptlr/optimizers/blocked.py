"""Generic CPU kernels for methods with per-block reductions (vSGD-b/g, SMD).

A blocked method is three plain scalar Python functions ("one rule, two targets"):

``elem_reduce(x, g, c, q, hv, s0, s1, b0, b1, b2, b3, hp, t, nb) -> (s0, s1, r0, r1, r2)``
    phase 1, per element: may update the element state ``s0, s1`` and returns its
    contributions ``r0`` (summed), ``r1`` (max-reduced), ``r2`` (summed).
    ``b0..b3`` are the block's scalars *before* the block update.
``block_rule(b0, b1, b2, b3, r0, r1, r2, hp, t, nb, d) -> (b0, b1, b2, b3)``
    phase 2, once per block: new block scalars from the reductions; ``d`` is the
    total number of parameters (all blocks; vSGD's C = d/10).
``elem_apply(x, g, c, q, hv, s0, s1, b0, b1, b2, b3, hp, t, nb) -> (x, s0, s1)``
    phase 3, per element, with the *updated* block scalars.

Reductions run in float64 in fixed chunks of ``CHUNK`` elements (chunk partials in
parallel, then combined in chunk order), so results are bit-identical whatever the
number of threads. :func:`make_blocked` returns the per-segment phase functions
(used by the list API for reductions across arrays) and ``step_flat`` with the
uniform signature. With ``global_=True`` step_flat treats the whole flat vector as
one block whatever ``offsets`` says (vSGD-g, SMD) and uses row 0 of ``sc``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numba import prange

from .. import targets
from .elementwise import stable_cpu_rule, stable_identity

CHUNK = 4096
N_BLOCK_SCALARS = 4


def make_blocked(elem_reduce, block_rule, elem_apply, n_slots: int, *, global_: bool, name: str,
                 parallel: bool = True):
    er = stable_cpu_rule(elem_reduce)
    br = stable_cpu_rule(block_rule)
    ea = stable_cpu_rule(elem_apply)
    NS = n_slots
    CH = CHUNK

    def reduce_segment(x, g, curv, gsq, hv, st, lo, hi, b0, b1, b2, b3, hp, t, nbatch):
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        m = hi - lo
        nch = (m + CH - 1) // CH
        part = np.zeros((nch, 3), dtype=np.float64)
        for k in prange(nch):
            a0 = 0.0
            a1 = -np.inf
            a2 = 0.0
            start = lo + k * CH
            stop = min(start + CH, hi)
            for i in range(start, stop):
                gi = np.float64(g[i])
                c = np.float64(curv[i]) if hasc else 0.0
                q = np.float64(gsq[i]) if hasq else gi * gi
                h = np.float64(hv[i]) if hash_ else 0.0
                s0 = np.float64(st[0, i]) if NS > 0 else 0.0
                s1 = np.float64(st[1, i]) if NS > 1 else 0.0
                s0, s1, r0, r1, r2 = er(np.float64(x[i]), gi, c, q, h, s0, s1, b0, b1, b2, b3, hp, t, nbatch)
                if NS > 0:
                    st[0, i] = s0
                if NS > 1:
                    st[1, i] = s1
                a0 += r0
                a1 = max(a1, r1)
                a2 += r2
            part[k, 0] = a0
            part[k, 1] = a1
            part[k, 2] = a2
        t0 = 0.0
        t1 = -np.inf
        t2 = 0.0
        for k in range(nch):
            t0 += part[k, 0]
            t1 = max(t1, part[k, 1])
            t2 += part[k, 2]
        return t0, t1, t2

    def apply_segment(x, g, curv, gsq, hv, st, lo, hi, b0, b1, b2, b3, hp, t, nbatch):
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        for i in prange(lo, hi):
            gi = np.float64(g[i])
            c = np.float64(curv[i]) if hasc else 0.0
            q = np.float64(gsq[i]) if hasq else gi * gi
            h = np.float64(hv[i]) if hash_ else 0.0
            s0 = np.float64(st[0, i]) if NS > 0 else 0.0
            s1 = np.float64(st[1, i]) if NS > 1 else 0.0
            xn, s0, s1 = ea(np.float64(x[i]), gi, c, q, h, s0, s1, b0, b1, b2, b3, hp, t, nbatch)
            x[i] = xn
            if NS > 0:
                st[0, i] = s0
            if NS > 1:
                st[1, i] = s1

    def block_update(sc, b, r0, r1, r2, hp, t, nbatch, d):
        b0, b1, b2, b3 = br(sc[b, 0], sc[b, 1], sc[b, 2], sc[b, 3], r0, r1, r2, hp, t, nbatch, d)
        sc[b, 0] = b0
        sc[b, 1] = b1
        sc[b, 2] = b2
        sc[b, 3] = b3

    if not parallel:
        name = name + "_serial"
    for f in (reduce_segment, apply_segment, block_update):
        f.__name__ = f"{f.__name__}_{name}"
        f.__qualname__ = f.__name__
    red = stable_identity(targets.cpu_kernel(reduce_segment, parallel=parallel), reduce_segment,
                          f"NS={NS},parallel={parallel}")
    app = stable_identity(targets.cpu_kernel(apply_segment, parallel=parallel), apply_segment,
                          f"NS={NS},parallel={parallel}")
    blk = stable_identity(targets.cpu_kernel(block_update), block_update)
    GLOBAL = global_

    def step_flat(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
        n = x.shape[0]
        nblocks = 1 if GLOBAL else offsets.shape[0] - 1
        for b in range(nblocks):
            lo = 0 if GLOBAL else offsets[b]
            hi = n if GLOBAL else offsets[b + 1]
            r0, r1, r2 = red(x, g, curv, gsq, hv, st, lo, hi,
                             sc[b, 0], sc[b, 1], sc[b, 2], sc[b, 3], hp, t, nbatch)
            blk(sc, b, r0, r1, r2, hp, t, nbatch, n)
            app(x, g, curv, gsq, hv, st, lo, hi,
                sc[b, 0], sc[b, 1], sc[b, 2], sc[b, 3], hp, t, nbatch)

    step_flat.__name__ = f"step_flat_{name}"
    step_flat.__qualname__ = step_flat.__name__
    sf = stable_identity(targets.cpu_kernel(step_flat), step_flat, f"G={GLOBAL},parallel={parallel}")
    return SimpleNamespace(reduce_segment=red, apply_segment=app, block_update=blk, step_flat=sf)
