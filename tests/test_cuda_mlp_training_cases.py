"""train_cuda (the GPU training loop) against the CPU training loop.

Runs under Numba's CUDA simulator (spawned by tests/test_cuda_mlp_sim.py) or
on a real GPU (marked ``gpu``); skipped elsewhere. The CPU loop
(adaptlr.mlp.train, device='cpu') is the oracle: the GPU path sees the same
minibatches and must give the same curves, minibatch losses, learning-rate
records and final parameters to float32 tolerance (float64: ~1e-10).
"""
from __future__ import annotations

import numpy as np
import pytest

import cuda_gate

pytestmark = cuda_gate.require("tests/test_cuda_mlp_sim.py")

from adaptlr import optimizers  # noqa: E402
from adaptlr.mlp import MLP  # noqa: E402
from adaptlr.mlp.cuda_launch import CudaLaunch  # noqa: E402
from adaptlr.mlp.cuda_training import train_cuda  # noqa: E402
from adaptlr.mlp.training import train  # noqa: E402

# tile 8 > every width here: one partial tile per product (multi-tile products are covered
# by test_cuda_mlp_cases.py); 4 threads x 2 blocks < every parameter block: grid-stride tails.
LAUNCH = CudaLaunch(tile=8, threads=4, max_blocks=2)
SIZES = [7, 5, 3]


def problem(output, dtype, n=8, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    Xt = rng.standard_normal((n_test, SIZES[0])).astype(dtype)
    if output == "softmax":
        y, yt = rng.integers(0, SIZES[-1], n), rng.integers(0, SIZES[-1], n_test)
    else:
        y = rng.standard_normal((n, SIZES[-1])).astype(dtype)
        yt = rng.standard_normal((n_test, SIZES[-1])).astype(dtype)
    return X, y, Xt, yt


def cpu_oracle(net, opt, X, y, epochs, batch_size, seed):
    """The CPU path step by step from the CPU MLP's public methods and ``opt.step_flat``:
    same permutations (first child of SeedSequence(seed)), last partial batch dropped,
    stop at the first non-finite minibatch loss (before the step), parameter (after the
    step) or end-of-epoch training-set loss (evaluation after every epoch)."""
    N = X.shape[0]
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    perms = [rng.permutation(N) for _ in range(epochs)]
    st, sc = opt.init_flat(net.n_params, net.offsets, net.dtype)
    empty = np.zeros(0, net.dtype)
    t, losses = 0, []
    for e in range(epochs):
        for bi in range(N // batch_size):
            t += 1
            idx = perms[e][bi * batch_size:(bi + 1) * batch_size]
            Xb, yb = X[idx], y[idx]
            with np.errstate(all="ignore"):
                losses.append(net.evaluate(Xb, yb)[0])
            if not np.isfinite(losses[-1]):
                return t, losses
            _, g = net.gradient(Xb, yb)
            curv = net.bbprop(Xb) if opt.needs_curvature else empty
            gsq = net.grad_sq(Xb, yb) if opt.uses_grad_sq else empty
            hv = net.gnvp(Xb, st[opt.V_SLOT]) if opt.needs_hvp else empty
            opt.step_flat(net.theta, g, curv, gsq, hv, st, sc, net.offsets, opt.hyper, t,
                          batch_size)
            if not np.isfinite(net.theta).all():
                return t, losses
        with np.errstate(all="ignore"):
            if not np.isfinite(net.evaluate(X, y)[0]):
                return t, losses
    return -1, losses


def test_gpu_run_equals_cpu_train_float32():
    """The real CPU loop (adaptlr.mlp.train) is the oracle: curves, minibatch losses,
    effective-learning-rate records and final parameters."""
    X, y, Xt, yt = problem("softmax", np.float32)
    out = []
    for dev in ("cpu", "cuda"):
        net = MLP(SIZES, activation="tanh", l2=1e-3, seed=1)
        opt = optimizers.make("adadelta")
        kw = dict(epochs=3, batch_size=3, seed=3, record_lr_every=2, record_dims=2, eval_every=2)
        r = train(net, opt, X, y, Xt, yt, **kw) if dev == "cpu" else \
            train_cuda(net, opt, X, y, Xt, yt, launch=LAUNCH, **kw)
        out.append((r, net.theta.copy()))
    (rc, tc), (rg, tg) = out
    assert rc.steps == rg.steps == 6 and not rc.diverged and not rg.diverged
    assert rg.diverged_step == rc.diverged_step == -1
    assert not np.array_equal(tc, MLP(SIZES, activation="tanh", seed=1).theta)  # it trained
    evaluated = np.array([True, False, True, True])   # epoch 0, every 2nd, the last
    for f in ("train_loss", "train_error", "test_loss", "test_error"):
        np.testing.assert_array_equal(np.isfinite(getattr(rc, f)), evaluated, err_msg=f)
        np.testing.assert_allclose(getattr(rg, f), getattr(rc, f), rtol=1e-5, atol=1e-6,
                                   err_msg=f)
    assert np.isfinite(rc.batch_loss).all() and rc.batch_loss.shape == (6,)
    np.testing.assert_allclose(rg.batch_loss, rc.batch_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tg, tc, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rg.lr_steps, rc.lr_steps)
    np.testing.assert_array_equal(rg.record_dims, rc.record_dims)
    for f in ("lr_min", "lr_median", "lr_max", "lr_trace", "update_trace"):
        assert getattr(rc, f).size and np.isfinite(getattr(rc, f)).all(), f
        np.testing.assert_allclose(getattr(rg, f), getattr(rc, f), rtol=1e-3, atol=1e-7,
                                   err_msg=f)


@pytest.mark.parametrize("name,hp,output,act,dtype", [
    ("vsgd-b", {"n0": 1}, "softmax", "relu", np.float32),   # bbprop + squared per-sample grads
    ("smd", {"eta0": 0.05}, "linear", "logistic", np.float64),  # Gauss-Newton-vector product
])
def test_gpu_steps_equal_cpu_functions(name, hp, output, act, dtype):
    X, y, _, _ = problem(output, dtype)
    net_c = MLP(SIZES, activation=act, output=output, l2=1e-3, dtype=dtype, seed=1)
    net_g = net_c.copy()
    theta0 = net_c.theta.copy()
    div, losses = cpu_oracle(net_c, optimizers.make(name, **hp), X, y, 2, 3, 3)
    r = train_cuda(net_g, optimizers.make(name, **hp), X, y, epochs=2, batch_size=3, seed=3,
                   launch=LAUNCH)
    assert div == -1 and not r.diverged and r.steps == 4
    assert not np.allclose(net_c.theta, theta0)    # it trained
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(r.batch_loss, losses, rtol=tol, atol=tol)
    np.testing.assert_allclose(net_g.theta, net_c.theta, rtol=tol, atol=tol)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("check_every", [1, 4])
def test_divergence_step_detected_on_device_equals_cpu(check_every):
    X, y, _, _ = problem("linear", np.float64)
    net_c = MLP(SIZES, activation="relu", output="linear", dtype=np.float64, seed=1)
    net_g = net_c.copy()
    div, losses = cpu_oracle(net_c, optimizers.make("sgd", eta0=1e30), X, y, 3, 3, 3)
    r = train_cuda(net_g, optimizers.make("sgd", eta0=1e30), X, y, epochs=3, batch_size=3,
                   seed=3, launch=LAUNCH, check_every=check_every)
    assert 1 <= div < 6
    assert r.diverged and r.diverged_step == div and r.steps == div
    bl = r.batch_loss
    assert bl.shape == (6,)
    assert np.isnan(bl[div:]).all()
    np.testing.assert_allclose(bl[:div], losses[:div], rtol=1e-10)
    assert np.isfinite(r.train_loss[0]) and np.isnan(r.train_loss[2:]).all()


def test_same_seed_bit_identical_and_train_device_cuda_routes_here():
    X, y, Xt, yt = problem("softmax", np.float32)
    res = []
    for _ in range(2):
        net = MLP(SIZES, seed=1)
        r = train_cuda(net, optimizers.make("adadelta"), X, y, epochs=1, batch_size=3, seed=5,
                       launch=LAUNCH)
        res.append((r, net.theta.copy()))
    assert not np.array_equal(res[0][1], MLP(SIZES, seed=1).theta)
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_array_equal(res[0][0].batch_loss, res[1][0].batch_loss)
    assert np.isnan(res[0][0].test_loss).all()
    # adaptlr.mlp.train(device="cuda") delegates to train_cuda (default geometry; no steps,
    # to keep the simulator quick): the epoch-0 evaluation equals the CPU's
    net = MLP(SIZES, seed=1)
    rg = train(net, optimizers.make("adadelta"), X, y, Xt, yt, epochs=0, batch_size=3,
               device="cuda")
    rc = MLP(SIZES, seed=1).evaluate(X, y), MLP(SIZES, seed=1).evaluate(Xt, yt)
    np.testing.assert_allclose([rg.train_loss[0], rg.train_error[0], rg.test_loss[0],
                                rg.test_error[0]], [*rc[0], *rc[1]], rtol=1e-6)
    assert rg.steps == 0 and rg.batch_loss.shape == (0,)


def test_bad_arguments_fail_before_any_work():
    X, y, Xt, yt = problem("softmax", np.float32)
    net = MLP(SIZES, seed=1)
    theta0 = net.theta.copy()
    opt = optimizers.make("adadelta")
    with pytest.raises(ValueError, match="batch_size=9"):
        train_cuda(net, opt, X, y, batch_size=9, launch=LAUNCH)
    kw = dict(batch_size=3, launch=LAUNCH)
    with pytest.raises(ValueError, match="both X_test and y_test"):
        train_cuda(net, opt, X, y, Xt, None, **kw)
    with pytest.raises(ValueError, match="device='cuda'"):
        train_cuda(net, opt, X, y, device="cpu", **kw)
    with pytest.raises(TypeError, match="adaptlr optimizer"):
        train_cuda(net, object(), X, y, **kw)
    with pytest.raises(ValueError, match="check_every"):
        train_cuda(net, opt, X, y, check_every=0, **kw)
    with pytest.raises(ValueError, match="CudaLaunch.tile"):
        train_cuda(net, opt, X, y, batch_size=3, launch=CudaLaunch(tile=0))
    bad = y.copy()
    bad[0] = 3
    with pytest.raises(ValueError, match="y_train"):
        train_cuda(net, opt, X, bad, **kw)
    np.testing.assert_array_equal(net.theta, theta0)
