"""Prototype (not library code): vSGD-b's reduce pass with 8 float64 lanes per chunk
(LLVM can keep 8 independent add chains busy) against the library's strict-order chunk
sums, 10M float32, 2 threads. Prints ms per step and GB/s counted as the performance
study counts vSGD-b (36 bytes per element, one pass)."""
import sys
import time

import numpy as np
from numba import njit, prange

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from adaptlr import optimizers  # noqa: E402
from adaptlr.optimizers import vsgd  # noqa: E402
from adaptlr.optimizers.elementwise import stable_cpu_rule  # noqa: E402

er = stable_cpu_rule(vsgd.vsgd_b_reduce)
CH = 4096
L = 8


@njit(parallel=True, error_model="numpy")
def reduce_lanes(x, g, curv, gsq, st, lo, hi, b0, b1, b2, b3, hp, t, nbatch):
    m = hi - lo
    nch = (m + CH - 1) // CH
    part = np.zeros((nch, 3), dtype=np.float64)
    for k in prange(nch):
        a0 = np.zeros(L)
        a1 = np.full(L, -np.inf)
        a2 = np.zeros(L)
        start = lo + k * CH
        stop = min(start + CH, hi)
        for i in range(start, stop):
            gi = np.float64(g[i])
            s0, s1, r0, r1, r2 = er(np.float64(x[i]), gi, np.float64(curv[i]), np.float64(gsq[i]),
                                    0.0, np.float64(st[0, i]), np.float64(st[1, i]),
                                    b0, b1, b2, b3, hp, t, nbatch)
            st[0, i] = s0
            st[1, i] = s1
            ln = (i - start) % L
            a0[ln] += r0
            a1[ln] = max(a1[ln], r1)
            a2[ln] += r2
        part[k, 0] = a0.sum()
        part[k, 1] = a1.max()
        part[k, 2] = a2.sum()
    t0 = 0.0
    t1 = -np.inf
    t2 = 0.0
    for k in range(nch):
        t0 += part[k, 0]
        t1 = max(t1, part[k, 1])
        t2 += part[k, 2]
    return t0, t1, t2


def main():
    n = 10_000_000
    rng = np.random.default_rng(0)
    opt = optimizers.make("vsgd-b", n0=1, C=1.0)
    x = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    c = np.abs(rng.standard_normal(n)).astype(np.float32) + 0.1
    q = g * g
    offs = np.array([0, n], dtype=np.int64)
    st, sc = opt.init_flat(n, offs, np.float32)
    hp = opt.hyper
    e = np.empty(0, np.float32)
    B = vsgd.BLOCKED_B
    lib, lanes, full = [], [], []
    for rep in range(12):
        t0 = time.perf_counter()
        B.reduce_segment(x, g, c, q, e, st, 0, n, sc[0, 0], sc[0, 1], sc[0, 2], sc[0, 3], hp, 5, 1)
        t1 = time.perf_counter()
        reduce_lanes(x, g, c, q, st, 0, n, sc[0, 0], sc[0, 1], sc[0, 2], sc[0, 3], hp, 5, 1)
        t2 = time.perf_counter()
        opt.step_flat(x, g, c, q, e, st, sc, offs, hp, 5 + rep, 1)
        t3 = time.perf_counter()
        if rep >= 2:
            lib.append(t1 - t0)
            lanes.append(t2 - t1)
            full.append(t3 - t2)
    ms = lambda v: 1e3 * float(np.median(v))  # noqa: E731
    print(f"reduce pass, library strict order: {ms(lib):.2f} ms; 8 lanes: {ms(lanes):.2f} ms; "
          f"whole vSGD-b step (library): {ms(full):.2f} ms = {36 * n / np.median(full) / 1e9:.1f} GB/s "
          f"(36 B/elem); with the 8-lane reduce it would be about "
          f"{36 * n / (np.median(full) - np.median(lib) + np.median(lanes)) / 1e9:.1f} GB/s")


if __name__ == "__main__":
    main()
