"""The compiled training loop against a plain Python driver of the same public pieces.

The Python driver (``python_train``) runs the documented recipe step by step:
shuffle = ``default_rng(SeedSequence(seed).spawn(2)[0]).permutation(N)`` per epoch,
drop the incomplete last minibatch, then per minibatch MLP.gradient / bbprop /
grad_sq / gnvp (tested against NumPy references in test_mlp.py) and the
optimizer's ``step_flat`` called from Python. The compiled loop must agree.
"""
from __future__ import annotations

import numpy as np
import pytest

from adaptlr.mlp import MLP, TrainResult, train
from adaptlr.optimizers import make
from adaptlr.targets import CudaUnavailableError, cuda_available
from plain_python import assert_plain_matches_compiled


pytestmark = pytest.mark.usefixtures("one_numba_thread")  # conftest.py


def data(n=60, n_in=5, n_out=3, out="softmax", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    if out == "softmax":
        y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    else:
        y = np.tanh(X[:, :n_out])
    return X, y


def python_train(net, opt, X, y, epochs, B, seed):
    n = net.n_params
    st, sc = opt.init_flat(n, net.offsets, net.dtype)
    empty = np.zeros(0, net.dtype)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    t = 0
    for _ in range(epochs):
        perm = rng.permutation(len(X))
        for i in range(len(X) // B):
            idx = perm[i * B:(i + 1) * B]
            Xb, yb = X[idx], y[idx]
            t += 1
            _, g = net.gradient(Xb, yb)
            curv = net.bbprop(Xb) if opt.needs_curvature else empty
            gsq = net.grad_sq(Xb, yb) if opt.uses_grad_sq else empty
            hv = net.gnvp(Xb, st[opt.V_SLOT]) if opt.needs_hvp else empty
            opt.step_flat(net.theta, g, curv, gsq, hv, st, sc, net.offsets, opt.hyper, t, B)
    return t


@pytest.mark.parametrize("name,hp", [("sgd", dict(eta0=0.05)), ("vsgd-l", dict(n0=3)), ("smd", dict(eta0=0.01))])
@pytest.mark.parametrize("B", [1, 7])
def test_loop_matches_python_driver(name, hp, B):
    X, y = data()
    net = MLP([5, 4, 3], activation="tanh", l2=1e-3, dtype=np.float64, seed=1)
    ref = net.copy()
    opt = make(name, **hp)
    res = train(net, opt, X, y, epochs=2, batch_size=B, seed=3)
    steps = python_train(ref, opt, X, y, 2, B, 3)
    assert not res.diverged and res.diverged_step == -1
    assert res.steps == steps == 2 * (60 // B)
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-9, atol=1e-12)
    assert not np.allclose(net.theta, MLP([5, 4, 3], dtype=np.float64, seed=1).theta)
    # curves: index 0 = before training, then after each epoch, on the whole set
    loss_end, err_end = net.evaluate(X, y)
    assert res.train_loss[-1] == pytest.approx(loss_end, rel=1e-12)
    assert res.train_error[-1] == pytest.approx(err_end)
    assert res.train_loss[0] == pytest.approx(MLP([5, 4, 3], l2=1e-3, dtype=np.float64, seed=1).evaluate(X, y)[0])
    assert np.all(np.isnan(res.test_loss)) and np.all(np.isnan(res.test_error))
    assert res.batch_loss.shape == (steps,) and np.all(np.isfinite(res.batch_loss))


def test_batch_size_one_online_path_equals_minibatch_path():
    """Online (B=1) steps equal minibatch steps on one-row minibatches: the per-sample
    statistics reduce to g*g and the curvature to the single-sample bbprop."""
    X, y = data(n=20)
    net = MLP([5, 6, 3], activation="relu", dtype=np.float64, seed=2)
    Xb, yb = X[3:4], y[3:4]
    np.testing.assert_allclose(net.grad_sq(Xb, yb), net.gradient(Xb, yb)[1] ** 2, rtol=1e-13)
    two = np.concatenate([Xb, Xb]), np.concatenate([yb, yb])
    np.testing.assert_allclose(net.gradient(*two)[1], net.gradient(Xb, yb)[1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(net.bbprop(two[0]), net.bbprop(Xb), rtol=1e-13, atol=1e-15)
    a, b = net.copy(), net.copy()
    opt = make("vsgd-l", n0=2)
    train(a, opt, X, y, epochs=1, batch_size=1, seed=5)
    python_train(b, opt, X, y, 1, 1, 5)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype,name,hp", [(np.float32, "adadelta", {}), (np.float64, "vsgd-l", {"n0": 2})])
def test_same_seed_bit_identical_different_seed_differs(dtype, name, hp):
    X, y = data(n=50)
    opt = make(name, **hp)
    runs = []
    for seed in (7, 7, 8):
        net = MLP([5, 6, 3], dtype=dtype, seed=0)
        res = train(net, opt, X, y, X[:20], y[:20], epochs=2, batch_size=10, seed=seed)
        runs.append((net.theta.copy(), res))
    (t1, r1), (t2, r2), (t3, r3) = runs
    assert t1.dtype == dtype
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(r1.train_loss, r2.train_loss)
    np.testing.assert_array_equal(r1.test_error, r2.test_error)
    np.testing.assert_array_equal(r1.batch_loss, r2.batch_loss)
    assert not np.array_equal(t1, t3)
    assert np.all(np.isfinite(r1.test_loss))


def test_divergence_is_reported_with_step_not_raised():
    X, _ = data()
    net = MLP([5, 3], output="linear", dtype=np.float64, seed=0)
    y = X[:, :3]
    res = train(net, make("sgd", eta0=1e30), X, y, X, y, epochs=3, batch_size=6, seed=0)
    assert isinstance(res, TrainResult)
    assert res.diverged and 1 <= res.diverged_step <= res.steps
    assert res.steps < 3 * 10
    assert np.isfinite(res.train_loss[0])
    e = res.diverged_step // 10  # epoch in which it happened: its end and later are NaN
    assert np.all(np.isnan(res.train_loss[e + 1:])) and np.all(np.isnan(res.test_error[e + 1:]))
    assert np.all(np.isnan(res.batch_loss[res.diverged_step:]))


def test_nonfinite_parameter_is_divergence_even_when_loss_stays_finite():
    """An inf weight into a saturating relu unit leaves the loss finite: the parameter check catches it."""
    X, y = data()
    X = np.abs(X)
    net = MLP([5, 4, 3], activation="tanh", dtype=np.float64, seed=0)
    net.weights(0)[0, 0] = np.inf
    res = train(net, make("sgd", eta0=0.01), X, y, epochs=1, batch_size=6)
    assert res.diverged and res.diverged_step == 0 and res.steps == 0


def test_effective_learning_rate_recording():
    X, y = data()
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    res = train(net, make("sgd", eta0=0.05), X, y, epochs=2, batch_size=6, record_lr_every=3, record_dims=2)
    n_rec = 20 // 3
    assert res.lr_steps.tolist() == [3 * (i + 1) for i in range(n_rec)]
    assert res.lr_min.shape == (n_rec, 2) and res.lr_trace.shape == (n_rec, 2, 2)
    for arr in (res.lr_min, res.lr_median, res.lr_max, res.lr_trace):
        np.testing.assert_allclose(arr, 0.05, rtol=1e-8)
    assert res.record_dims.shape == (2, 2) and np.all(res.record_dims[1] < 12)
    assert np.all(res.update_trace != 0) and np.all(np.isfinite(res.update_trace))
    # vSGD-l: per-element rates differ, min <= median <= max
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    res = train(net, make("vsgd-l", n0=1), X, y, epochs=1, batch_size=6, record_lr_every=1)
    assert np.all(res.lr_min <= res.lr_median) and np.all(res.lr_median <= res.lr_max)
    assert np.all(res.lr_min[1:] < res.lr_max[1:])
    assert np.all(res.lr_min[0] == 0)  # slow start (n0 = 1): the first step does not move x
    assert res.lr_trace.shape == (10, 2, 0)
    # off by default: nothing recorded
    res = train(net, make("sgd"), X, y, epochs=1, batch_size=6)
    assert res.lr_steps.shape == (0,) and res.lr_min.shape == (0, 2)


def test_linear_output_autoencoder_learns_and_eval_every():
    X, _ = data(n=40, n_in=6)
    net = MLP([6, 3, 6], activation="tanh", output="linear", l2=1e-4, dtype=np.float64, seed=0)
    res = train(net, make("sgd", eta0=0.05), X, X, X, X, epochs=3, batch_size=4, eval_every=2)
    assert np.isnan(res.train_loss[1]) and np.isfinite(res.train_loss[2]) and np.isfinite(res.train_loss[3])
    assert res.train_loss[3] < 0.8 * res.train_loss[0]
    np.testing.assert_array_equal(res.train_error, res.train_loss)  # error = reconstruction loss
    np.testing.assert_array_equal(res.test_loss, res.train_loss)


def test_bad_arguments():
    X, y = data()
    net = MLP([5, 4, 3], dtype=np.float64)
    theta0 = net.theta.copy()
    opt = make("sgd")
    with pytest.raises(ValueError, match="batch_size=61 exceeds the number of training samples"):
        train(net, opt, X, y, batch_size=61)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        train(net, opt, X, y, batch_size=0)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        train(net, opt, X, y, epochs=1.5)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        train(net, opt, X, y, device="tpu")
    with pytest.raises(ValueError, match="both X_test and y_test"):
        train(net, opt, X, y, X, batch_size=6)
    with pytest.raises(ValueError, match=r"y_train labels must lie in \[0, 3\)"):
        train(net, opt, X, y + 5, batch_size=6)
    with pytest.raises(ValueError, match=r"X_test must be a 2-D array of shape \(n_samples, 5\)"):
        train(net, opt, X, y, X[:, :4], y, batch_size=6)
    with pytest.raises(ValueError, match=r"record_dims\[0\] must lie in \[0, 20\)"):
        train(net, opt, X, y, batch_size=6, record_lr_every=1, record_dims=np.array([[25], [0]]))
    with pytest.raises(TypeError, match="lacks"):
        train(net, object(), X, y, batch_size=6)
    if not cuda_available():
        with pytest.raises(CudaUnavailableError, match="device='cpu'"):
            train(net, opt, X, y, batch_size=6, device="cuda")
    np.testing.assert_array_equal(net.theta, theta0)


CODE = """
import numpy as np
from adaptlr.mlp import MLP, train
from adaptlr.optimizers import make
rng = np.random.default_rng(0); X = rng.normal(size=(12, 3)); y = (X[:, 0] > 0).astype(np.int64)
out = []
for kind, yy in (('softmax', y), ('linear', X)):
    net = MLP([3, 4, 2 if kind == 'softmax' else 3], output=kind, l2=0.01, dtype=np.float64, seed=1)
    extra = [net.bbprop(X), net.grad_sq(X, yy), net.gnvp(X, np.ones(net.n_params))]
    r = train(net, make('vsgd-l', n0=2), X, yy, X, yy, epochs=1, batch_size=3, record_lr_every=2, record_dims=1)
    out.append(np.concatenate(extra + [net.theta, r.train_loss, r.lr_median.ravel(), r.lr_trace.ravel()]))
# batch size 1 takes the fused online step (adaptlr/mlp/online_step.py)
net = MLP([3, 4, 2], activation='tanh', l2=1e-3, dtype=np.float64, seed=0)
r = train(net, make('vsgd-l', n0=2, C=2.0), X, y, epochs=1, batch_size=1, seed=1, record_lr_every=4)
out += [net.theta, r.lr_median]
"""


def test_runs_as_plain_python_with_jit_disabled():
    """The whole API (minibatch and fused online paths) as plain Python equals the compiled
    code (tests/plain_python.py)."""
    assert_plain_matches_compiled(CODE)
