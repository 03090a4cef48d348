"""adaptlr.mlp.async_sim: stale-gradient (asynchronous parameter server) simulation.

Oracle: a plain-NumPy re-implementation written from the module's model description
(parameter *copies* theta_0, theta_1, ... kept in a list; the gradient applied at step t
is computed on theta_{t-1-s_t}; optimizers from the papers' equations). It shares no
code with the library; its batch gradient is itself checked against finite differences.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from adaptlr.mlp import MLP, train
from adaptlr.mlp.async_sim import staleness_of, train_async, worker_sequence
from adaptlr.optimizers import make
from plain_python import assert_plain_matches_compiled


# ----------------------------------------------------------------- NumPy reference
def _unpack(theta, sizes):
    Ws, bs, pos = [], [], 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        Ws.append(theta[pos:pos + a * b].reshape(a, b))
        pos += a * b
        bs.append(theta[pos:pos + b])
        pos += b
    return Ws, bs


def _act(a, act):
    return {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0),
            "logistic": lambda z: 1.0 / (1.0 + np.exp(-z))}[act](a)


def _dact(h, act):
    return {"tanh": lambda: 1.0 - h * h, "relu": lambda: (h > 0).astype(float),
            "logistic": lambda: h * (1.0 - h)}[act]()


def ref_loss(theta, sizes, act, X, y):
    Ws, bs = _unpack(np.asarray(theta, np.float64), sizes)
    h = X
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = h @ W + b
        h = _act(z, act) if k < len(Ws) - 1 else z
    z = h - h.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def ref_grad(theta, sizes, act, X, y):
    """Minibatch-mean cross-entropy gradient (softmax output), flat layout."""
    Ws, bs = _unpack(np.asarray(theta, np.float64), sizes)
    hs = [X]
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = hs[-1] @ W + b
        hs.append(_act(z, act) if k < len(Ws) - 1 else z)
    z = hs[-1] - hs[-1].max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    d = p.copy()
    d[np.arange(len(y)), y] -= 1.0
    d /= len(y)
    parts = []
    for k in range(len(Ws) - 1, -1, -1):
        parts.append((hs[k].T @ d, d.sum(axis=0)))
        if k > 0:
            d = (d @ Ws[k].T) * _dact(hs[k], act)
    return np.concatenate([np.concatenate([gW.ravel(), gb]) for gW, gb in parts[::-1]])


def ref_opt(name, hp):
    """(state, step(x, g, state) -> x) from the papers' equations."""
    if name == "adadelta":       # Zeiler 2012, Algorithm 1
        st = {"eg2": 0.0, "edx2": 0.0}

        def step(x, g):
            st["eg2"] = hp["rho"] * st["eg2"] + (1 - hp["rho"]) * g * g
            dx = -np.sqrt(st["edx2"] + hp["eps"]) / np.sqrt(st["eg2"] + hp["eps"]) * g
            st["edx2"] = hp["rho"] * st["edx2"] + (1 - hp["rho"]) * dx * dx
            return x + dx
    elif name == "momentum":     # Eq. 4
        st = {"dx": 0.0}

        def step(x, g):
            st["dx"] = hp["rho"] * st["dx"] - hp["lr"] * g
            return x + st["dx"]
    elif name == "adagrad":      # Eq. 5, eps outside the root
        st = {"G": 0.0}

        def step(x, g):
            st["G"] = st["G"] + g * g
            return x - hp["lr"] * g / (np.sqrt(st["G"]) + hp["eps"])
    else:
        raise ValueError(name)
    return step


def ref_train_async(theta0, sizes, act, X, y, name, hp, replicas, epochs, bs, seed):
    """Parameter-copy formulation: keep every theta_t; step t uses theta_{t-1-s_t}."""
    n = X.shape[0]
    per_epoch = n // bs
    total = per_epoch * epochs
    ss_data, _, ss_workers = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(ss_data)
    stream = []
    while len(stream) < total + replicas:
        perm = rng.permutation(n)
        stream += [perm[i * bs:(i + 1) * bs] for i in range(per_epoch)]
    workers = np.random.default_rng(ss_workers).integers(0, replicas, size=total)
    step = ref_opt(name, hp)
    hist = [np.asarray(theta0, np.float64).copy()]
    last_read = {}                    # worker -> step whose result it read
    stale = []
    for t in range(1, total + 1):
        w = int(workers[t - 1])
        r = last_read.get(w, 0)
        s = t - 1 - r
        stale.append(s)
        batch = stream[w] if r == 0 else stream[replicas + r - 1]
        g = ref_grad(hist[t - 1 - s], sizes, act, X[batch], y[batch])
        hist.append(step(hist[-1], g))
        last_read[w] = t
    return hist[-1], np.array(stale)


# ----------------------------------------------------------------- fixtures
SIZES = [6, 5, 4, 3]


def _data(n=120, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.random((n, SIZES[0]))
    y = rng.integers(0, SIZES[-1], n)
    return X, y


def test_reference_gradient_matches_finite_differences():
    X, y = _data(20)
    theta = MLP(SIZES, activation="tanh", dtype=np.float64, seed=1).theta.copy()
    g = ref_grad(theta, SIZES, "tanh", X, y)
    h = 1e-6
    fd = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        fd[i] = (ref_loss(theta + e, SIZES, "tanh", X, y)
                 - ref_loss(theta - e, SIZES, "tanh", X, y)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name,hp,act,replicas", [
    ("adadelta", {"rho": 0.95, "eps": 1e-6}, "relu", 7),
    ("momentum", {"lr": 0.1, "rho": 0.9}, "logistic", 3),
    ("adagrad", {"lr": 0.05, "eps": 1e-10}, "tanh", 5),
    ("adadelta", {"rho": 0.9, "eps": 1e-4}, "tanh", 1),
])
def test_matches_parameter_copy_reference(name, hp, act, replicas):
    X, y = _data()
    net = MLP(SIZES, activation=act, dtype=np.float64, seed=2)
    theta0 = net.theta.copy()
    res = train_async(net, make(name, **hp), X, y, X[:30], y[:30], replicas=replicas,
                      epochs=2, batch_size=10, seed=5)
    want, stale = ref_train_async(theta0, SIZES, act, X, y, name, hp, replicas, 2, 10, 5)
    assert not res.diverged and res.steps == 24
    np.testing.assert_array_equal(res.staleness, stale)
    np.testing.assert_allclose(net.theta, want, rtol=1e-9, atol=1e-12)
    # errors recorded at every epoch agree with the reference loss of the final parameters
    assert res.test_loss.shape == (3,)
    assert math.isclose(res.test_loss[-1], ref_loss(want, SIZES, act, X[:30], y[:30]),
                        rel_tol=1e-9)
    if replicas == 1:
        assert (res.staleness == 0).all()
    else:
        assert res.staleness.max() > 0    # the test can tell stale from fresh gradients


def test_one_replica_reproduces_synchronous_train_bit_for_bit():
    X, y = _data()
    a = MLP(SIZES, activation="relu", dtype=np.float32, seed=1)
    b = a.copy()
    ra = train_async(a, make("adadelta"), X, y, X[:40], y[:40], replicas=1, epochs=3,
                     batch_size=10, seed=7)
    rb = train(b, make("adadelta"), X, y, X[:40], y[:40], epochs=3, batch_size=10, seed=7)
    assert np.array_equal(a.theta, b.theta)
    for f in ("train_loss", "train_error", "test_loss", "test_error"):
        assert np.array_equal(getattr(ra, f), getattr(rb, f)), f


def test_float32_close_to_float64():
    X, y = _data()
    out = {}
    for dt in (np.float32, np.float64):
        net = MLP(SIZES, activation="relu", dtype=dt, seed=2)
        train_async(net, make("adadelta"), X, y, X, y, replicas=4, epochs=1, batch_size=10,
                    seed=0)
        out[dt] = net.theta.astype(np.float64)
    np.testing.assert_allclose(out[np.float32], out[np.float64], rtol=1e-3, atol=1e-4)


def test_bit_identical_for_same_seed_and_different_otherwise():
    X, y = _data()
    runs = []
    for seed in (4, 4, 5):
        net = MLP(SIZES, activation="relu", dtype=np.float32, seed=0)
        r = train_async(net, make("momentum", lr=0.1, rho=0.9), X, y, X, y, replicas=6,
                        epochs=2, batch_size=10, seed=seed)
        runs.append((net.theta.copy(), r))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1].test_error, runs[1][1].test_error)
    assert np.array_equal(runs[0][1].staleness, runs[1][1].staleness)
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_staleness_model_is_geometric_with_mean_n_minus_1():
    N = 10
    w = worker_sequence(N, 60000, np.random.default_rng(0))
    s = staleness_of(w, N)[1000:]          # past the start-up transient
    assert abs(s.mean() - (N - 1)) < 0.2
    # P(s = 0) = 1/N for a geometric law on {0, 1, ...}
    assert abs((s == 0).mean() - 1 / N) < 0.01
    assert (staleness_of(worker_sequence(1, 50, np.random.default_rng(0)), 1) == 0).all()


def test_divergence_is_recorded_not_raised():
    X, y = _data()
    net = MLP(SIZES, activation="relu", dtype=np.float32, seed=0)
    r = train_async(net, make("sgd", lr=1e30), X, y, X, y, replicas=3, epochs=3,
                    batch_size=10, seed=0)
    assert r.diverged and r.diverged_step >= 1
    assert np.isnan(r.test_error[-1])


@pytest.mark.parametrize("kw,match", [
    ({"replicas": 0}, "replicas"),
    ({"replicas": 2.5}, "replicas"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 1000}, "batch_size"),
])
def test_bad_arguments_raise_clear_errors(kw, match):
    X, y = _data()
    net = MLP(SIZES, activation="relu", dtype=np.float32, seed=0)
    before = net.theta.copy()
    args = {"replicas": 2, "epochs": 1, "batch_size": 10, "seed": 0, **kw}
    with pytest.raises(ValueError, match=match):
        train_async(net, make("adadelta"), X, y, X, y, **args)
    assert np.array_equal(net.theta, before)


def test_second_order_methods_are_rejected():
    X, y = _data()
    net = MLP(SIZES, activation="relu", dtype=np.float32, seed=0)
    with pytest.raises(ValueError, match="first-order"):
        train_async(net, make("vsgd-l"), X, y, X, y, replicas=2, epochs=1, batch_size=10)


def test_runs_as_plain_python_with_jit_disabled():
    """NUMBA_DISABLE_JIT=1 (plain Python) gives the same numbers as the compiled code."""
    code = (
        "import numpy as np\n"
        "from adaptlr.mlp import MLP\n"
        "from adaptlr.mlp.async_sim import train_async\n"
        "from adaptlr.optimizers import make\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.random((60, 6)); y = rng.integers(0, 3, 60)\n"
        "net = MLP([6, 5, 3], activation='relu', dtype=np.float64, seed=0)\n"
        "r = train_async(net, make('adadelta'), X, y, X[:20], y[:20], replicas=3, epochs=2,\n"
        "                batch_size=10, seed=0)\n"
        "out = [net.theta]\n")
    assert_plain_matches_compiled(code, rtol=1e-12, atol=1e-14, timeout=600)
