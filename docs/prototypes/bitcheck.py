"""Bit-identity oracle for a refactor of adaptlr/ (the 'library batch').

Usage (the adaptlr/ + studies/ that are importable decide which code runs):
  python bitcheck.py dump OUT.npz          # arrays from the optimizer API, the MLP and train()
  NUMBA_ENABLE_CUDASIM=1 python bitcheck.py dump-cuda OUT.npz   # the CUDA twins
  python bitcheck.py compare A.npz B.npz   # every array bit for bit (NaN where NaN)
  python bitcheck.py studies-ref DIR       # quick forms of the studies, stored under DIR/<name>
  python bitcheck.py studies-verify DIR    # rekey --verify of those with the current code:
                                           #   every trial must be carried (bit for bit)
Set PYTHONPATH to the checkout whose code should run (e.g. a git worktree).
"""
import sys
import numpy as np


def _opt_arrays(out):
    from adaptlr import optimizers
    from adaptlr.optimizers.registry import storage_methods
    shapes_small = [(7, 5), (5,), (3,)]
    shapes_big = [(400, 500), (500,), (300, 300)]      # > prange thresholds
    for name in optimizers.names():
        for arith in ("float64", "storage"):
            if arith == "storage" and name not in storage_methods():
                continue
            for dt in (np.float32, np.float64):
                for tag, shapes in (("small", shapes_small), ("big", shapes_big)):
                    rng = np.random.default_rng(7)
                    opt = optimizers.make(name, arithmetic=arith)
                    P = [rng.standard_normal(s).astype(dt) for s in shapes]
                    st = opt.init(P)
                    for t in range(6):
                        G = [rng.standard_normal(s).astype(dt) for s in shapes]
                        kw = {}
                        if opt.needs_curvature:
                            kw["curvature"] = [np.abs(rng.standard_normal(s)).astype(dt) + dt(0.1) for s in shapes]
                        if opt.uses_grad_sq:
                            kw["grad_sq"] = [(g * g + np.abs(rng.standard_normal(g.shape)).astype(dt)) for g in G]
                            kw["batch_size"] = 4
                        if opt.needs_hvp:
                            kw["hvp"] = lambda V: [dt(0.5) * v for v in V]
                        opt.step(P, G, st, **kw)
                    key = f"opt/{name}/{arith}/{np.dtype(dt).name}/{tag}"
                    for k, p in enumerate(P):
                        out[f"{key}/p{k}"] = p.copy()
                    for k, s in enumerate(st.st):
                        out[f"{key}/s{k}"] = np.asarray(s).copy()
                    for k, s in enumerate(list(getattr(st, "sc", None) if getattr(st, "sc", None) is not None else [])):
                        out[f"{key}/sc{k}"] = np.asarray(s).copy()


def _mlp_arrays(out):
    from adaptlr.mlp import MLP
    rng = np.random.default_rng(3)
    for act in ("tanh", "relu", "logistic"):
        for output in ("softmax", "linear"):
            for dt in (np.float32, np.float64):
                for l2 in (0.0, 1e-3):
                    net = MLP([6, 5, 4, 3], activation=act, output=output, l2=l2, dtype=dt, seed=2)
                    for B in (1, 7):
                        X = rng.standard_normal((B, 6)).astype(dt)
                        y = (rng.integers(0, 3, B) if output == "softmax"
                             else rng.standard_normal((B, 3)).astype(dt))
                        key = f"mlp/{act}/{output}/{np.dtype(dt).name}/{l2}/{B}"
                        out[key + "/obj"] = np.asarray(net.objective(X, y))
                        g = net.gradient(X, y)
                        out[key + "/grad"] = np.asarray(g[0] if isinstance(g, tuple) else g).copy()
                        out[key + "/bbprop"] = np.asarray(net.bbprop(X, y)).copy()
                        out[key + "/gsq"] = np.asarray(net.grad_sq(X, y)).copy()
                        v = rng.standard_normal(net.theta.shape).astype(dt) if hasattr(net, "theta") else None
                        if v is not None:
                            out[key + "/gnvp"] = np.asarray(net.gnvp(X, v)).copy()
                        out[key + "/pred"] = np.asarray(net.predict(X)).copy()


def _train_arrays(out):
    from adaptlr import optimizers
    from adaptlr.mlp import MLP, train
    from adaptlr.optimizers.registry import storage_methods
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 8)).astype(np.float32)
    y = rng.integers(0, 3, 120)
    Xt = rng.standard_normal((30, 8)).astype(np.float32)
    yt = rng.integers(0, 3, 30)
    configs = []
    for name in optimizers.names():
        configs += [(name, "float64", np.float32, 1, "tanh"), (name, "float64", np.float32, 7, "relu"),
                    (name, "float64", np.float64, 7, "tanh")]
    for name in ("adadelta", "adam"):
        assert name in storage_methods()
        configs += [(name, "storage", np.float32, 1, "tanh"), (name, "storage", np.float32, 7, "tanh")]
    for name, arith, dt, B, act in configs:
        net = MLP([8, 6, 3], activation=act, l2=1e-4, dtype=dt, seed=4)
        opt = optimizers.make(name, arithmetic=arith)
        r = train(net, opt, X.astype(dt), y, Xt.astype(dt), yt, epochs=2,
                  batch_size=B, seed=9, record_lr_every=5, record_dims=3)
        key = f"train/{name}/{arith}/{np.dtype(dt).name}/{B}/{act}"
        out[key + "/theta"] = np.asarray(net.theta).copy()
        for f in ("train_loss", "train_error", "test_loss", "test_error",
                  "lr_min", "lr_median", "lr_max", "lr_trace", "update_trace",
                  "batch_loss"):
            v = getattr(r, f, None)
            if v is not None:
                out[f"{key}/{f}"] = np.asarray(v).copy()
        out[key + "/diverged"] = np.asarray(getattr(r, "diverged_step", -1))


def dump(path):
    out = {}
    _opt_arrays(out)
    _mlp_arrays(out)
    _train_arrays(out)
    np.savez(path, **out)
    print(f"{len(out)} arrays -> {path}")


def _same(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        na, nb = np.isnan(a), np.isnan(b)
        return bool(np.array_equal(na, nb)) and a[~na].tobytes() == b[~nb].tobytes()
    return bool(np.array_equal(a, b))


def compare(pa, pb):
    a, b = np.load(pa), np.load(pb)
    ka, kb = set(a.files), set(b.files)
    bad = sorted(kb - ka)          # the new dump may cover a subset of the reference
    if ka - kb:
        print(f"({len(ka - kb)} reference arrays not in the new dump: not compared)")
    for k in sorted(ka & kb):
        if not _same(a[k], b[k]):
            bad.append(k)
    print(f"{len(ka & kb)} arrays compared; {len(bad)} differ or are on one side only")
    for k in bad[:50]:
        print("  DIFF", k)
    return 1 if bad else 0


QUICK_SKIP = {"performance", "selftest"}


def studies_ref(base):
    from pathlib import Path
    from studies import api
    from studies.registry import all_studies
    for name in sorted(all_studies()):
        if name in QUICK_SKIP:
            continue
        try:
            api.run(name, quick=True, out=Path(base) / name, workers=0, progress=False)
            print("ran", name, flush=True)
        except Exception as e:  # a study whose data is absent (CIFAR-10)
            print("skipped", name, type(e).__name__, str(e)[:120], flush=True)


def studies_verify(base):
    from pathlib import Path
    from studies import api
    from studies.rekey import verify
    bad = 0
    for d in sorted(Path(base).iterdir()):
        if not (d / "run.json").is_file():
            continue
        st = api.prepare(d.name, quick=True)
        r = verify(st, d, apply=True, workers=0, progress=False)
        n_c, n_r, n_l = len(r["carried"]), len(r["recomputed"]), len(r["left"])
        print(f"{d.name}: {len(r['candidates'])} candidates, {n_c} carried bit for bit, "
              f"{n_r} differ, {n_l} left, {r['current']} already current", flush=True)
        for s, c, why in r["recomputed"][:5]:
            print("   differs:", s[:12], why)
        for k, why in r["left"][:5]:
            print("   left:", k[:12], why[:200])
        bad += n_r + n_l
    print("ALL CARRIED" if bad == 0 else f"{bad} trials NOT bit-identical / left")
    return 1 if bad else 0



def dump_cuda(path):
    """The CUDA twins under NUMBA_ENABLE_CUDASIM=1 (or a GPU): list API and train()."""
    from numba import cuda
    from adaptlr import optimizers
    from adaptlr.mlp import MLP, train
    shapes = [(5, 3), (17,)]
    launch = dict(threads=4, blocks=2)
    out = {}
    for name in optimizers.names():
        for dt in (np.float32, np.float64):
            rng = np.random.default_rng(11)
            opt = optimizers.make(name)
            pd = [cuda.to_device(rng.standard_normal(s).astype(dt)) for s in shapes]
            sd = opt.init(pd)
            for _ in range(4):
                gd = [cuda.to_device(rng.standard_normal(s).astype(dt) + dt(0.3)) for s in shapes]
                kw = {}
                if opt.needs_curvature:
                    kw["curvature"] = [cuda.to_device(rng.uniform(0.1, 2.0, s).astype(dt)) for s in shapes]
                if opt.needs_hvp:
                    kw["hvp"] = lambda vs: [cuda.to_device((1.5 * v.copy_to_host()).astype(dt)) for v in vs]
                opt.step(pd, gd, sd, _launch=launch, **kw)
            key = f"cuda/{name}/{np.dtype(dt).name}"
            for k, p in enumerate(pd):
                out[f"{key}/p{k}"] = p.copy_to_host()
            for k, s in enumerate(sd.st):
                out[f"{key}/s{k}"] = s.copy_to_host() if hasattr(s, "copy_to_host") else np.asarray(s)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((12, 4)).astype(np.float64)
    y = rng.integers(0, 3, 12)
    for name in ("adadelta", "vsgd-l", "smd", "vsgd-b"):
        for B in (1, 3):
            net = MLP([4, 3, 3], activation="tanh", l2=1e-4, dtype=np.float64, seed=4)
            r = train(net, optimizers.make(name), X, y, X[:6], y[:6], epochs=1, batch_size=B,
                      seed=9, device="cuda")
            key = f"cudatrain/{name}/{B}"
            out[key + "/theta"] = np.asarray(net.theta).copy()
            out[key + "/train_loss"] = np.asarray(r.train_loss).copy()
            out[key + "/test_error"] = np.asarray(r.test_error).copy()
    np.savez(path, **out)
    print(f"{len(out)} arrays -> {path}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dump":
        dump(sys.argv[2])
    elif cmd == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    elif cmd == "studies-ref":
        studies_ref(sys.argv[2])
    elif cmd == "studies-verify":
        sys.exit(studies_verify(sys.argv[2]))
    elif cmd == "dump-cuda":
        dump_cuda(sys.argv[2])
