"""The BLAS-free batch-1 forward pass over nonzero inputs (adaptlr/mlp/online_forward.py).

Oracle: forward.py's pass (BLAS), itself checked against finite differences and NumPy in
test_mlp.py, and a plain NumPy forward written here. The sums run in another order, so
agreement is to rounding; across thread counts it is bit for bit (fixed parts). The
training loop takes the pass only for zero-gradient-identity rules (SGD, AdaGrad) at
l2 = 0: everywhere else training must stay bit for bit what it was (the stored studies'
results depend on it).
"""
from __future__ import annotations

import numba
import numpy as np
import pytest

from adaptlr.mlp import MLP, make_workspace, train
from adaptlr.mlp import training
from adaptlr.mlp.forward import forward
from adaptlr.mlp.online_forward import FORWARD_PARTS, PARALLEL_MIN, make_parts, online_forward
from adaptlr.optimizers import make
from adaptlr.optimizers.registry import get

pytestmark = pytest.mark.usefixtures("one_numba_thread")  # conftest.py


def _sparse_x(rng, n_in, zero=0.7):
    x = rng.normal(size=(1, n_in))
    x[rng.random(x.shape) < zero] = 0.0
    return x


def _numpy_forward(net, x):
    """Plain NumPy: tanh / relu / logistic hidden layers, softmax or linear output."""
    f = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0),
         "logistic": lambda a: 1 / (1 + np.exp(-a))}[net.activation]
    h = np.asarray(x, np.float64)
    L = net.n_layers
    for k in range(L):
        a = h @ np.asarray(net.weights(k), np.float64) + np.asarray(net.biases(k), np.float64)
        h = f(a) if k < L - 1 else a
    if net.output == "softmax":
        e = np.exp(h - h.max())
        return e / e.sum()
    return h


def _both(net, x, label):
    out = {}
    for name in ("blas", "online"):
        ws = make_workspace(net.sizes, 1, net.dtype)
        X = np.ascontiguousarray(x, dtype=net.dtype)
        if net.output == "softmax":
            lab = np.array([label], np.int64)
            tar = np.zeros((0, net.sizes[-1]), net.dtype)
        else:
            lab = np.zeros(0, np.int64)
            tar = np.full((1, net.sizes[-1]), 0.25, net.dtype)
        args = (net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, X)
        if name == "blas":
            loss, err = forward(*args, 1, lab, tar, ws)
        else:
            loss, err = online_forward(*args, lab, tar, ws, make_parts(net.sizes))
        out[name] = (ws.h.copy(), loss, err)
    return out


@pytest.mark.parametrize("act", ["tanh", "relu", "logistic"])
@pytest.mark.parametrize("output", ["softmax", "linear"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_blas_forward_and_numpy_to_rounding(act, output, dtype):
    rng = np.random.default_rng(3)
    # 140 x 130 > PARALLEL_MIN: the parallel branch; the others the serial one
    net = MLP([140, 130, 7, 4], activation=act, output=output, dtype=dtype, seed=2)
    assert 140 * 130 >= PARALLEL_MIN > 130 * 7
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for zero in (0.0, 0.7, 1.0):          # dense, sparse and all-zero inputs
        x = _sparse_x(rng, 140, zero)
        got = _both(net, x, 2)
        hb, lb, eb = got["blas"]
        ho, lo, eo = got["online"]
        np.testing.assert_allclose(ho, hb, rtol=tol, atol=tol)
        assert lo == pytest.approx(lb, rel=tol, abs=tol) and eo == pytest.approx(eb, abs=tol)
        last = net.sizes[-1]
        s = make_workspace(net.sizes, 1, dtype).row_offsets[len(net.sizes) - 2]
        np.testing.assert_allclose(ho[s:s + last], _numpy_forward(net, x).ravel(),
                                   rtol=10 * tol, atol=10 * tol)


def test_zero_inputs_are_not_read():
    """A non-finite weight in a row whose input is zero does not reach the output (the row
    is skipped: exact, as its product is zero); forward.py's BLAS pass propagates it."""
    net = MLP([40, 30, 3], activation="tanh", dtype=np.float64, seed=0)
    x = np.zeros((1, 40))
    x[0, 5] = 1.0
    net.weights(0)[7, :] = np.nan                    # row 7: x_7 = 0
    got = _both(net, x, 1)
    assert np.isfinite(got["online"][0]).all() and np.isfinite(got["online"][1])
    assert not np.isfinite(got["blas"][1])


def test_same_bits_for_any_number_of_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    rng = np.random.default_rng(1)
    net = MLP([300, 200, 10], activation="tanh", dtype=np.float32, seed=1)
    x = _sparse_x(rng, 300)
    res = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        res.append(_both(net, x, 3)["online"])
    np.testing.assert_array_equal(res[0][0], res[1][0])
    assert res[0][1] == res[1][1]
    assert FORWARD_PARTS > 2


def _mnist_like(n=80, n_in=64, seed=0):
    rng = np.random.default_rng(seed)
    X = np.maximum(rng.normal(size=(n, n_in)) - 0.8, 0.0)     # about 80% zeros, as MNIST
    y = (X[:, :8].sum(1) > X[:, 8:16].sum(1)).astype(np.int64)
    return X, y


def _train(name, l2, sparse, monkeypatch, threads=1, dtype=np.float64, **hp):
    monkeypatch.setattr(training, "SPARSE_FORWARD", sparse)
    numba.set_num_threads(threads)
    X, y = _mnist_like()
    net = MLP([64, 150, 120, 3], activation="tanh", l2=l2, dtype=dtype, seed=4)
    r = train(net, make(name, **hp), X, y, X[:20], y[:20], epochs=2, batch_size=1, seed=1)
    return net.theta.copy(), r


@pytest.mark.parametrize("name,hp", [("sgd", dict(eta0=0.05)), ("adagrad", dict(lr=0.05))])
def test_training_takes_it_for_zero_identity_rules_at_l2_0(name, hp, monkeypatch):
    assert get(name).zero_grad_identity
    a, ra = _train(name, 0.0, True, monkeypatch, **hp)
    b, rb = _train(name, 0.0, False, monkeypatch, **hp)
    assert not np.array_equal(a, b)                    # another pass: other rounding ...
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)   # ... of the same arithmetic
    np.testing.assert_allclose(ra.train_loss, rb.train_loss, rtol=1e-9)
    if numba.config.NUMBA_NUM_THREADS >= 2:            # and the same bits on two threads
        c, _ = _train(name, 0.0, True, monkeypatch, threads=2, **hp)
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name,l2,hp", [("sgd", 1e-4, dict(eta0=0.05)),
                                        ("momentum", 0.0, dict(lr=0.05)),
                                        ("vsgd-l", 0.0, dict(n0=3, C=2.0))])
def test_training_keeps_its_bits_everywhere_else(name, l2, hp, monkeypatch):
    """L2 > 0, or a rule that moves at a zero gradient: forward.py's pass, bit for bit."""
    a, _ = _train(name, l2, True, monkeypatch, **hp)
    b, _ = _train(name, l2, False, monkeypatch, **hp)
    np.testing.assert_array_equal(a, b)


def test_runs_as_plain_python_with_jit_disabled():
    """NUMBA_DISABLE_JIT=1: the pass and SGD's batch-1 training through it, as plain Python,
    equal the compiled code (tests/plain_python.py)."""
    from plain_python import assert_plain_matches_compiled

    assert_plain_matches_compiled("""
import numpy as np
from adaptlr.mlp import MLP, train
from adaptlr.optimizers import make
rng = np.random.default_rng(0)
X = np.maximum(rng.normal(size=(10, 6)) - 0.5, 0.0); y = (X[:, 0] > X[:, 1]).astype(np.int64)
net = MLP([6, 5, 3], activation='relu', l2=0.0, dtype=np.float64, seed=0)
r = train(net, make('sgd', eta0=0.1), X, y, X, y, epochs=2, batch_size=1, seed=1)
out = [net.theta, r.train_loss]
""")
