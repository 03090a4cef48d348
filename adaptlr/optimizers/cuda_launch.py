"""The ``@cuda.jit`` twins, built from the same scalar rules as the CPU kernels.

This module is imported only on first CUDA use (it imports :mod:`numba.cuda`); kernels are created on
first use (:func:`elementwise_launcher`, :func:`blocked_launcher`) and cached per
rule. Every kernel is a grid-stride loop, so any grid size covers any n (tests
use tiny grids to exercise the tails). Launchers take the uniform kernel
signature with CUDA device arrays, plus optional ``threads=`` and ``blocks=``
(defaults 256 threads per block and enough blocks to cover n, at most
``MAX_BLOCKS``).

Reductions (vSGD-b/g, SMD) run as: per-thread float64 partials over the
grid-stride range, combined with ``cuda.atomic.add``/``cuda.atomic.max`` into a
3-entry float64 accumulator, then one thread runs the block rule on the device,
then the apply kernel reads the block scalars from device memory (no host
round trip of values). Atomic float additions make GPU sums order-dependent at
the last bits: GPU results are reproducible only to rounding, CPU results are
bit-identical.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda  # this module is imported only when CUDA is used

from .. import targets

THREADS = 256
MAX_BLOCKS = 4096

_cache: dict = {}


def _grid(n, threads, blocks):
    threads = THREADS if threads is None else int(threads)
    if blocks is None:
        blocks = max(1, min(MAX_BLOCKS, math.ceil(max(n, 1) / threads)))
    return int(blocks), threads


_bounds_cache: dict = {}


def _host_bounds(offsets):
    """Block bounds from host or device ``offsets``; device offsets are copied once per object
    (the layout of a buffer does not change; the cache keeps a reference so ids stay unique)."""
    if not hasattr(offsets, "copy_to_host"):
        off = np.asarray(offsets)
        return [(int(off[b]), int(off[b + 1])) for b in range(len(off) - 1)]
    hit = _bounds_cache.get(id(offsets))
    if hit is not None and hit[0] is offsets:
        return hit[1]
    off = offsets.copy_to_host()
    bounds = [(int(off[b]), int(off[b + 1])) for b in range(len(off) - 1)]
    if len(_bounds_cache) > 64:
        _bounds_cache.clear()
    _bounds_cache[id(offsets)] = (offsets, bounds)
    return bounds


def empty_like_device(x):
    """A length-0 device array of x's dtype (the 'not given' marker)."""
    return cuda.device_array(0, dtype=x.dtype)


def elementwise_launcher(rule, n_slots: int, prepare=None):
    """Host launcher ``step_cuda(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch, threads=, blocks=)``.

    ``prepare(hp, t)`` (the method's per-step preparation, elementwise.make_cpu_kernel) runs
    on the host, in Python, from the same function the CPU kernel compiles."""
    key = ("ew", rule, n_slots, prepare)
    if key in _cache:
        return _cache[key]
    r = targets.gpu_rule(rule)
    NS = n_slots

    @cuda.jit
    def kernel(x, g, curv, gsq, hv, st, hp, t, nbatch):
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < n:
            gi = np.float64(g[i])
            c = np.float64(curv[i]) if hasc else 0.0
            q = np.float64(gsq[i]) if hasq else gi * gi
            h = np.float64(hv[i]) if hash_ else 0.0
            s0 = np.float64(st[0, i]) if NS > 0 else 0.0
            s1 = np.float64(st[1, i]) if NS > 1 else 0.0
            s2 = np.float64(st[2, i]) if NS > 2 else 0.0
            s3 = np.float64(st[3, i]) if NS > 3 else 0.0
            s4 = np.float64(st[4, i]) if NS > 4 else 0.0
            xn, s0, s1, s2, s3, s4 = r(np.float64(x[i]), gi, c, q, h, s0, s1, s2, s3, s4, hp, t, nbatch)
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
            i += stride

    def step_cuda(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch, threads=None, blocks=None):
        nblk, nthr = _grid(x.shape[0], threads, blocks)
        hq = hp if prepare is None else prepare(hp, int(t))
        kernel[nblk, nthr](x, g, curv, gsq, hv, st, hq, np.int64(t), np.int64(nbatch))

    _cache[key] = step_cuda
    return step_cuda


def blocked_launcher(elem_reduce, block_rule, elem_apply, n_slots: int, global_: bool):
    """Host launchers for a blocked method: namespace with ``step_cuda`` and the phases."""
    key = ("bl", elem_reduce, block_rule, elem_apply, n_slots, global_)
    if key in _cache:
        return _cache[key]
    from types import SimpleNamespace

    er = targets.gpu_rule(elem_reduce)
    br = targets.gpu_rule(block_rule)
    ea = targets.gpu_rule(elem_apply)
    NS = n_slots

    @cuda.jit
    def reduce_kernel(x, g, curv, gsq, hv, st, lo, hi, sc, b, hp, t, nbatch, acc):
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        b0 = sc[b, 0]
        b1 = sc[b, 1]
        b2 = sc[b, 2]
        b3 = sc[b, 3]
        a0 = 0.0
        a1 = -math.inf
        a2 = 0.0
        i = lo + cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < hi:
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
            i += stride
        cuda.atomic.add(acc, 0, a0)
        cuda.atomic.max(acc, 1, a1)
        cuda.atomic.add(acc, 2, a2)

    @cuda.jit
    def block_kernel(sc, b, acc, hp, t, nbatch, d):
        if cuda.grid(1) == 0:
            b0, b1, b2, b3 = br(sc[b, 0], sc[b, 1], sc[b, 2], sc[b, 3], acc[0], acc[1], acc[2],
                                hp, t, nbatch, d)
            sc[b, 0] = b0
            sc[b, 1] = b1
            sc[b, 2] = b2
            sc[b, 3] = b3
            acc[0] = 0.0
            acc[1] = -math.inf
            acc[2] = 0.0

    @cuda.jit
    def apply_kernel(x, g, curv, gsq, hv, st, lo, hi, sc, b, hp, t, nbatch):
        n = x.shape[0]
        hasc = curv.shape[0] == n
        hasq = gsq.shape[0] == n
        hash_ = hv.shape[0] == n
        b0 = sc[b, 0]
        b1 = sc[b, 1]
        b2 = sc[b, 2]
        b3 = sc[b, 3]
        i = lo + cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < hi:
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
            i += stride

    def new_acc():
        return cuda.to_device(np.array([0.0, -np.inf, 0.0]))

    def reduce_segment(x, g, curv, gsq, hv, st, lo, hi, sc, b, hp, t, nbatch, acc,
                       threads=None, blocks=None):
        nblk, nthr = _grid(hi - lo, threads, blocks)
        reduce_kernel[nblk, nthr](x, g, curv, gsq, hv, st, np.int64(lo), np.int64(hi), sc,
                                  np.int64(b), hp, np.int64(t), np.int64(nbatch), acc)

    def block_update(sc, b, acc, hp, t, nbatch, d):
        block_kernel[1, 1](sc, np.int64(b), acc, hp, np.int64(t), np.int64(nbatch), np.int64(d))

    def apply_segment(x, g, curv, gsq, hv, st, lo, hi, sc, b, hp, t, nbatch,
                      threads=None, blocks=None):
        nblk, nthr = _grid(hi - lo, threads, blocks)
        apply_kernel[nblk, nthr](x, g, curv, gsq, hv, st, np.int64(lo), np.int64(hi), sc,
                                 np.int64(b), hp, np.int64(t), np.int64(nbatch))

    def step_cuda(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch, threads=None, blocks=None):
        n = x.shape[0]
        if global_:
            bounds = [(0, n)]
        else:
            bounds = _host_bounds(offsets)
        acc = new_acc()
        for b, (lo, hi) in enumerate(bounds):
            reduce_segment(x, g, curv, gsq, hv, st, lo, hi, sc, b, hp, t, nbatch, acc, threads, blocks)
            block_update(sc, b, acc, hp, t, nbatch, n)
            apply_segment(x, g, curv, gsq, hv, st, lo, hi, sc, b, hp, t, nbatch, threads, blocks)

    ns = SimpleNamespace(step_cuda=step_cuda, reduce_segment=reduce_segment,
                         block_update=block_update, apply_segment=apply_segment, new_acc=new_acc)
    _cache[key] = ns
    return ns


def device_count_nonfinite(a) -> int:
    """Number of non-finite entries of a 1-D device array (0/1 flag; one kernel + one copy)."""
    key = ("finite",)
    if key not in _cache:
        @cuda.jit
        def flag_kernel(a, flag):
            i = cuda.grid(1)
            stride = cuda.gridsize(1)
            bad = 0
            while i < a.shape[0]:
                if not (abs(a[i]) < math.inf):
                    bad = 1
                i += stride
            if bad:
                cuda.atomic.max(flag, 0, 1)

        _cache[key] = flag_kernel
    flag = cuda.to_device(np.zeros(1, dtype=np.int32))
    nblk, nthr = _grid(a.shape[0], None, None)
    _cache[key][nblk, nthr](a, flag)
    return int(flag.copy_to_host()[0])
