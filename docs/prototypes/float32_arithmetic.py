"""Prototype: optimizer kernels that compute in float32 (the storage type) instead of float64.

The library's kernels promote every float32 value to float64 inside the rule (hyperparameters
are float64) and round once when they store (adaptlr/optimizers/elementwise.py). The
performance study found the methods with float64 divisions and square roots per element
(Adam, AdaDelta, RMSprop, AdaGrad) bound by the divider at 10M elements, below torch's fused
Adam, which computes in float32. This prototype answers two questions before such a variant
goes into adaptlr/ (where any file is part of every stored trial's key):

1. Speed: the same rules written literal-free (every constant, ``1 - rho`` included, comes
   from a float32 hyperparameter tuple, so Numba types nothing as float64) in a ``prange``
   kernel without casts, against the library's raw ``step_flat`` and torch's fused Adam, in
   one process, interleaved rounds, medians.
2. Accuracy: after 200 steps on random gradients (100,000 elements, noise plus a drift,
   inputs exactly representable in float32), the difference of x from a float64-storage run
   of the library kernel on the same inputs, relative to the distance x travelled, for the library's float32 kernel (float64 arithmetic, one rounding per stored
   value) and for the float32-arithmetic prototype.

Run on an idle machine from the repository root:
``NUMBA_NUM_THREADS=2 python3 docs/prototypes/float32_arithmetic.py`` (about 2 minutes), and
the AdaDelta epoch inside ``train`` with each step, in fresh processes:
``ADAPTLR_DATA_DIR=data python3 docs/prototypes/float32_arithmetic.py epoch library|f32|storage``
(``storage``: the library's ``arithmetic="storage"``, landed 2026-12-03).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adaptlr import optimizers  # noqa: E402
from studies import perf_kernels, perf_machine, perf_torch  # noqa: E402

F = np.float32


class H32(NamedTuple):
    a: np.float32   # lr / eta0
    b: np.float32   # rho / beta1
    c: np.float32   # 1 - rho / 1 - beta1
    d: np.float32   # eps
    e: np.float32   # beta2
    f: np.float32   # 1 - beta2
    g: np.float32   # 1 / (1 - beta1^t)
    h: np.float32   # 1 / (1 - beta2^t)   (unused by Adam's exact form below)
    i: np.float32   # 1 - beta1^t
    j: np.float32   # 1 - beta2^t


def h32(**kw) -> H32:
    vals = dict(a=0.0, b=0.0, c=0.0, d=0.0, e=0.0, f=0.0, g=0.0, h=0.0, i=1.0, j=1.0)
    vals.update(kw)
    return H32(**{k: F(v) for k, v in vals.items()})


@njit(parallel=True, error_model="numpy")
def sgd32(x, g, st, hp):
    for k in prange(x.shape[0]):
        x[k] = x[k] - hp.a * g[k]


@njit(parallel=True, error_model="numpy")
def adagrad32(x, g, st, hp):
    for k in prange(x.shape[0]):
        gk = g[k]
        G = st[0, k] + gk * gk
        st[0, k] = G
        x[k] = x[k] - hp.a * gk / (math.sqrt(G) + hp.d)


@njit(parallel=True, error_model="numpy")
def rmsprop32(x, g, st, hp):
    for k in prange(x.shape[0]):
        gk = g[k]
        E = hp.b * st[0, k] + hp.c * gk * gk
        st[0, k] = E
        x[k] = x[k] - hp.a * gk / math.sqrt(E + hp.d)


@njit(parallel=True, error_model="numpy")
def adadelta32(x, g, st, hp):
    for k in prange(x.shape[0]):
        gk = g[k]
        eg2 = hp.b * st[0, k] + hp.c * gk * gk
        dx = -(math.sqrt(st[1, k] + hp.d) / math.sqrt(eg2 + hp.d)) * gk
        st[0, k] = eg2
        st[1, k] = hp.b * st[1, k] + hp.c * dx * dx
        x[k] = x[k] + hp.a * dx


@njit(parallel=True, error_model="numpy")
def adam32(x, g, st, hp):
    for k in prange(x.shape[0]):
        gk = g[k]
        m = hp.b * st[0, k] + hp.c * gk
        v = hp.e * st[1, k] + hp.f * gk * gk
        st[0, k] = m
        st[1, k] = v
        x[k] = x[k] - hp.a * (m / hp.i) / (math.sqrt(v / hp.j) + hp.d)


def serial(kern):
    """The same kernel compiled without ``parallel`` (prange runs as range): what the
    compiled training loop calls once per minibatch."""
    return njit(error_model="numpy")(kern.py_func)


KERNELS = {"sgd": sgd32, "adagrad": adagrad32, "rmsprop": rmsprop32, "adadelta": adadelta32,
           "adam": adam32}


def hyper32(method: str, t: int) -> H32:
    hp = optimizers.make(method).hyper
    if method == "sgd":
        return h32(a=hp.eta0 / (1.0 + hp.gamma * (t - 1)))
    if method == "adagrad":
        return h32(a=hp.lr, d=hp.eps)
    if method in ("rmsprop", "adadelta"):
        return h32(a=hp.lr, b=hp.rho, c=1.0 - hp.rho, d=hp.eps)
    if method == "adam":
        return h32(a=hp.lr, b=hp.beta1, c=1.0 - hp.beta1, d=hp.eps, e=hp.beta2, f=1.0 - hp.beta2,
                   i=1.0 - hp.beta1 ** t, j=1.0 - hp.beta2 ** t)
    raise KeyError(method)


def proto_fn(method: str, d: dict, kernels=None):
    """Warmed-up step closure of the float32-arithmetic kernel (same inputs as the library's)."""
    n = d["x"].shape[0]
    x = d["x"].copy()
    opt = optimizers.make(method)
    st, _ = opt.init_flat(n, np.array([0, n], dtype=np.int64), np.float32)
    kern = (kernels or KERNELS)[method]
    grads = (d["g"], d["gneg"])
    for t in range(1, perf_kernels.WARM_STEPS + 1):
        kern(x, grads[t % 2], st, hyper32(method, t))
    hp = hyper32(method, perf_kernels.WARM_STEPS + 1)
    k = [0]

    def step():
        k[0] ^= 1
        kern(x, grads[k[0]], st, hp)

    return step


def speed(n: int, repeats: int) -> None:
    print(f"speed, n = {n:,} float32, medians of {repeats} interleaved rounds")
    print("| method | library GB/s | float32-arithmetic GB/s | library arithmetic='storage' GB/s | "
          "torch fused Adam GB/s | library / Adam | float32 / Adam | storage / Adam | float32 / library |")
    print("|---|---|---|---|---|---|---|---|---|")
    for method in KERNELS:
        opt = optimizers.make(method)
        d = perf_kernels.inputs(opt, n, np.float32, 0)
        fns = {"library": perf_kernels._kernel_fn(opt, d, np.float32), "f32": proto_fn(method, d),
               "storage": perf_kernels._kernel_fn(optimizers.make(method, arithmetic="storage"), d,
                                                  np.float32)}
        adam = perf_torch.optimizer_step("adam", d["x"], d["g"], {})
        if adam is not None:
            fns["torch_adam"] = adam[0]
        times = perf_machine.interleaved_times(fns, repeats, warmup=2)
        med = {k: float(np.median(v)) for k, v in times.items()}
        must = perf_kernels.bytes_per_element(method)[0]
        gb = {k: must * n / v / 1e9 for k, v in med.items()}
        gb["torch_adam"] = perf_kernels.bytes_per_element("adam")[0] * n / med["torch_adam"] / 1e9
        print(f"| {method} | {gb['library']:.1f} | {gb['f32']:.1f} | {gb['storage']:.1f} | "
              f"{gb['torch_adam']:.1f} | {gb['library'] / gb['torch_adam']:.2f} | "
              f"{gb['f32'] / gb['torch_adam']:.2f} | {gb['storage'] / gb['torch_adam']:.2f} | "
              f"{gb['f32'] / gb['library']:.2f} |")


def serial_step(n: int, repeats: int) -> None:
    """The serial kernels on the MNIST 784-500-300-10 network's parameter count: the
    optimizer's share of the AdaDelta epoch (600 steps of batch 100)."""
    print(f"\nserial step, n = {n:,} float32 (one MNIST network), medians of {repeats}")
    print("| method | library ms | float32-arithmetic ms | library arithmetic='storage' ms | ratio "
          "library / storage | per 600-step epoch: library s | storage s |")
    print("|---|---|---|---|---|---|---|")
    ser = {m: serial(k) for m, k in KERNELS.items()}
    for method in KERNELS:
        opt = optimizers.make(method)
        d = perf_kernels.inputs(opt, n, np.float32, 0)
        # the serial library kernel, same warm-up
        opt_s = SimpleNamespace(init_flat=opt.init_flat, hyper=opt.hyper, step_flat=opt.step_flat_serial)
        opt_f = optimizers.make(method, arithmetic="storage")
        opt_f = SimpleNamespace(init_flat=opt_f.init_flat, hyper=opt_f.hyper,
                                step_flat=opt_f.step_flat_serial)
        fns = {"library": perf_kernels._kernel_fn(opt_s, d, np.float32), "f32": proto_fn(method, d, ser),
               "storage": perf_kernels._kernel_fn(opt_f, d, np.float32)}
        times = perf_machine.interleaved_times(fns, repeats, warmup=2)
        med = {k: float(np.median(v)) for k, v in times.items()}
        print(f"| {method} | {med['library'] * 1e3:.3f} | {med['f32'] * 1e3:.3f} | "
              f"{med['storage'] * 1e3:.3f} | {med['library'] / med['storage']:.2f} | "
              f"{600 * med['library']:.2f} | {600 * med['storage']:.2f} |")


@njit(error_model="numpy")
def adadelta32_step_flat(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch):
    """AdaDelta's float32-arithmetic serial step with the library's flat-kernel signature
    (docs/architecture.md), for the training loop."""
    rho = np.float32(hp.rho)
    c = np.float32(1.0 - hp.rho)
    eps = np.float32(hp.eps)
    lr = np.float32(hp.lr)
    for k in range(x.shape[0]):
        gk = g[k]
        eg2 = rho * st[0, k] + c * gk * gk
        dx = -(math.sqrt(st[1, k] + eps) / math.sqrt(eg2 + eps)) * gk
        st[0, k] = eg2
        st[1, k] = rho * st[1, k] + c * dx * dx
        x[k] = x[k] + lr * dx


def epoch(mode: str, runs: int = 3) -> None:
    """One AdaDelta MNIST epoch (784-500-300-10, batch 100, float32, tanh) inside ``train``,
    with the library's serial step or the float32-arithmetic one: after one untimed run
    (compilation), the wall time of ``runs`` one-epoch runs (each with the same two
    evaluation passes) and the last run's training loss. Run each mode in a fresh process."""
    import json

    from adaptlr.mlp import MLP, train, training
    from studies import perf_mlp, performance

    if mode == "f32":
        training._kernel_for_size = lambda opt, step_flat, n: adadelta32_step_flat
    arithmetic = "storage" if mode == "storage" else "float64"
    X, y, _ = performance._mnist(60000)
    proto = MLP([784, 500, 300, 10], activation="tanh", output="softmax", l2=0.0,
                dtype=np.float32, seed=0)
    walls, loss = [], None
    for r in range(runs + 1):
        res = train(proto.copy(), optimizers.make("adadelta", arithmetic=arithmetic), X, y,
                    epochs=1, batch_size=100,
                    seed=0, eval_every=perf_mlp.BIG)
        if r:
            walls.append(res.wall_time)
        loss = float(np.asarray(res.train_loss)[-1])
    print(json.dumps({"mode": mode, "epoch_wall_s": [round(w, 3) for w in walls],
                      "median_s": round(float(np.median(walls)), 3), "train_loss": loss}))


def accuracy(n: int = 100_000, steps: int = 200) -> None:
    print(f"\naccuracy after {steps} steps, {n:,} elements: max and median |x - x64| / |x64 - x0|"
          " (the error relative to the distance travelled)")
    print("| method | library float32 (f64 arithmetic) max | median | float32 arithmetic max | median "
          "| elements whose x differs from the library's float32 |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    # inputs exactly representable in float32, so the float64 run sees the same data
    x0 = rng.standard_normal(n).astype(np.float32).astype(np.float64)
    G = [(0.1 * rng.standard_normal(n) + 0.02).astype(np.float32).astype(np.float64)
         for _ in range(steps)]
    offs = np.array([0, n], dtype=np.int64)
    e0 = np.zeros(0)
    for method in KERNELS:
        opt = optimizers.make(method)
        out = {}
        for dt in (np.float64, np.float32):
            x = x0.astype(dt)
            st, sc = opt.init_flat(n, offs, dt)
            e = e0.astype(dt)
            for t in range(1, steps + 1):
                opt.step_flat(x, G[t - 1].astype(dt), e, e, e, st, sc, offs, opt.hyper, np.int64(t),
                              np.int64(1))
            out[dt] = x.astype(np.float64)
        x = x0.astype(np.float32)
        st, _ = opt.init_flat(n, offs, np.float32)
        kern = KERNELS[method]
        for t in range(1, steps + 1):
            kern(x, G[t - 1].astype(np.float32), st, hyper32(method, t))
        ref, dist = out[np.float64], np.abs(out[np.float64] - x0) + 1e-300
        r_lib = np.abs(out[np.float32] - ref) / dist
        r_f32 = np.abs(x.astype(np.float64) - ref) / dist
        print(f"| {method} | {r_lib.max():.1e} | {np.median(r_lib):.1e} | {r_f32.max():.1e} | "
              f"{np.median(r_f32):.1e} | {np.mean(x.astype(np.float64) != out[np.float32]):.0%} |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "epoch":
        epoch(sys.argv[2])
        sys.exit(0)
    perf_torch.set_threads(2)
    speed(10_000_000, 15)
    speed(1_000_000, 31)
    serial_step(545_810, 51)
    accuracy()
