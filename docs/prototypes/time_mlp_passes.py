"""Time bbprop / gnvp / backward at batch 100 on [784, 500, 300, 10], float32 (median of rounds).

Usage: PYTHONPATH=TREE OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python3 time_mlp_passes.py [ROUNDS]
Run it alternately against the two trees being compared (one process each), idle host.
"""
import sys, time, numpy as np
from adaptlr.mlp import MLP
from adaptlr.mlp.bbprop import bbprop as _bbprop
from adaptlr.mlp.gnvp import gnvp as _gnvp
from adaptlr.mlp.backward import backward
import adaptlr; print(adaptlr.__file__)
rng = np.random.default_rng(0)
net = MLP([784, 500, 300, 10], l2=1e-4, dtype=np.float32, seed=0)
X = rng.random((100, 784), dtype=np.float32); y = rng.integers(0, 10, 100)
v = rng.standard_normal(net.n_params).astype(np.float32)
Xc, labels, targets, m, ws, _, _ = net._run_forward(X, y)
curv = np.empty(net.n_params, np.float32); hv = np.empty_like(curv); g = np.empty_like(curv)
fns = {
 "bbprop": lambda: _bbprop(net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, net.l2, Xc, m, ws, curv),
 "gnvp": lambda: _gnvp(net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, net.l2, Xc, m, ws, v, hv),
 "backward": lambda: backward(net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, net.l2, Xc, m, labels, targets, ws, g),
}
for f in fns.values(): f()
res = {k: [] for k in fns}
for r in range(int(sys.argv[1]) if len(sys.argv) > 1 else 15):
    for k, f in fns.items():
        t = time.perf_counter()
        for _ in range(20): f()
        res[k].append((time.perf_counter() - t) / 20 * 1e3)
for k, v_ in res.items():
    print(f"{k}: median {np.median(v_):.3f} ms  (min {min(v_):.3f})")
