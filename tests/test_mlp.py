"""MLP kernels against plain-NumPy references (tests/reference/mlp_ref.py) and finite differences.

float64 throughout except the dtype checks; tiny networks so finite differences
and dense Gauss-Newton matrices stay cheap.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from adaptlr.mlp import MLP, param_offsets
from adaptlr.mlp.layout import weight_mask
from reference import mlp_ref as ref

ACTS = ["tanh", "relu", "logistic"]
OUTS = ["softmax", "linear"]
SHAPES = [[3, 2], [4, 5, 3], [3, 4, 3, 2]]


def make_case(sizes, act, out, l2, m, seed=0, dtype=np.float64):
    net = MLP(sizes, activation=act, output=out, l2=l2, dtype=dtype, seed=seed)
    rng = np.random.default_rng(100 + seed)
    # perturb biases too so every parameter matters, keep relu units mostly away from kinks
    net.theta[:] = net.theta + rng.normal(0, 0.1, net.n_params).astype(dtype)
    X = rng.normal(size=(m, sizes[0]))
    if out == "softmax":
        Y = rng.integers(0, sizes[-1], size=m)
    else:
        Y = rng.normal(size=(m, sizes[-1]))
    return net, X, Y


# ---------------------------------------------------------------- layout and init
def test_layout_offsets_and_views():
    sizes = [4, 5, 3]
    off = param_offsets(sizes)
    assert off.dtype == np.int64
    assert off.tolist() == [0, 20, 25, 40, 43]
    net = MLP(sizes, dtype=np.float64, seed=3)
    W1 = net.weights(1)
    assert W1.shape == (5, 3) and np.shares_memory(W1, net.theta)
    np.testing.assert_array_equal(W1.ravel(), net.theta[25:40])
    np.testing.assert_array_equal(net.biases(0), np.zeros(5))
    assert weight_mask(sizes).sum() == 20 + 15


@pytest.mark.parametrize("act,factor", [("tanh", 1.0), ("relu", 1.0), ("logistic", 4.0)])
def test_glorot_init(act, factor):
    sizes = [300, 200, 10]
    net = MLP(sizes, activation=act, dtype=np.float64, seed=1)
    s0 = factor * np.sqrt(6 / 500)
    s1 = np.sqrt(6 / 210)  # output layer: never scaled
    W0, W1 = net.weights(0), net.weights(1)
    assert np.abs(W0).max() <= s0 and np.abs(W0).max() > 0.99 * s0
    assert np.abs(W1).max() <= s1 and np.abs(W1).max() > 0.95 * s1
    assert abs(W0.std() - s0 / np.sqrt(3)) < 0.01 * s0  # U(-s, s) has std s/sqrt(3)
    assert np.all(net.biases(0) == 0) and np.all(net.biases(1) == 0)
    same = MLP(sizes, activation=act, dtype=np.float64, seed=1)
    other = MLP(sizes, activation=act, dtype=np.float64, seed=2)
    np.testing.assert_array_equal(net.theta, same.theta)
    assert not np.array_equal(net.theta, other.theta)
    f32 = MLP(sizes, activation=act, dtype=np.float32, seed=1)
    np.testing.assert_array_equal(f32.theta, net.theta.astype(np.float32))


# ---------------------------------------------------------------- forward / loss
@pytest.mark.parametrize("act,out", list(itertools.product(ACTS, OUTS)))
def test_forward_and_loss_match_reference(act, out):
    net, X, Y = make_case([4, 5, 3], act, out, 0.01, 7)
    loss, err = net.evaluate(X, Y)
    ref_data = ref.objective(net.theta, net.sizes, act, out, 0.0, X, Y)
    assert loss == pytest.approx(ref_data, rel=1e-12)
    assert net.objective(X, Y) == pytest.approx(ref.objective(net.theta, net.sizes, act, out, 0.01, X, Y),
                                                rel=1e-12)
    P = net.predict(X)
    Z = np.stack([ref.logits(net.theta, net.sizes, act, x) for x in X])
    if out == "softmax":
        np.testing.assert_allclose(P, np.stack([ref.softmax(z) for z in Z]), rtol=1e-12)
        assert err == pytest.approx(np.mean(Z.argmax(1) != Y))
    else:
        np.testing.assert_allclose(P, Z, rtol=1e-12, atol=1e-14)
        assert err == pytest.approx(loss)


def test_softmax_loss_is_stable_for_huge_logits():
    net = MLP([2, 3], dtype=np.float64)
    net.weights(0)[:] = [[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]]
    loss, err = net.evaluate(np.array([[1.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(2000.0) and err == 1.0


# ---------------------------------------------------------------- gradient vs finite differences
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("act,out", list(itertools.product(ACTS, OUTS)))
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("m", [1, 7])
def test_gradient_matches_finite_differences(sizes, act, out, l2, m):
    net, X, Y = make_case(sizes, act, out, l2, m, seed=m)
    J, g = net.gradient(X, Y)
    fun = lambda th: ref.objective(th, net.sizes, act, out, l2, X, Y)  # noqa: E731
    assert J == pytest.approx(fun(net.theta), rel=1e-12)
    g_fd = ref.fd_gradient(fun, net.theta)
    np.testing.assert_allclose(g, g_fd, rtol=1e-5, atol=1e-7)
    # and the textbook per-sample reference averaged (exact up to rounding)
    g_ref = np.mean([ref.sample_gradient(net.theta, net.sizes, act, out, l2, X[n], Y[n]) for n in range(m)], 0)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("act,out", list(itertools.product(ACTS, OUTS)))
def test_float32_matches_float64(act, out):
    net64, X, Y = make_case([6, 5, 4], act, out, 0.1, 7)
    net32 = net64.copy()
    net32.dtype = np.dtype(np.float32)
    net32.theta = net64.theta.astype(np.float32)
    for meth in ("gradient", "bbprop", "grad_sq"):
        r64 = getattr(net64, meth)(X, Y)
        r32 = getattr(net32, meth)(X, Y)
        r64 = r64[1] if meth == "gradient" else r64
        r32 = r32[1] if meth == "gradient" else r32
        assert r32.dtype == np.float32
        np.testing.assert_allclose(r32, r64, rtol=2e-4, atol=2e-6)
    v = np.random.default_rng(0).normal(size=net64.n_params)
    np.testing.assert_allclose(net32.gnvp(X, v), net64.gnvp(X, v), rtol=2e-4, atol=2e-6)


# ---------------------------------------------------------------- bbprop
@pytest.mark.parametrize("sizes", [[3, 2], [3, 4, 3], [3, 4, 3, 2]], ids=str)
@pytest.mark.parametrize("act,out", list(itertools.product(ACTS, OUTS)))
@pytest.mark.parametrize("l2", [0.0, 0.2])
@pytest.mark.parametrize("m", [1, 5])  # m = 1: the fused online path
def test_bbprop(sizes, act, out, l2, m):
    net, X, Y = make_case(sizes, act, out, l2, m, seed=2)
    curv = net.bbprop(X)
    # 1. the bbprop recursion, implemented independently per sample: equal everywhere
    rec = np.mean([ref.bbprop_sample(net.theta, net.sizes, act, out, l2, x) for x in X], 0)
    np.testing.assert_allclose(curv, rec, rtol=1e-10, atol=1e-14)
    # 2. positivity
    assert np.all(curv >= 0)
    if l2 > 0:
        assert np.all(curv[weight_mask(sizes)] >= l2)
    # 3. brute-force Gauss-Newton diagonal diag(J^T H J), averaged
    gn = np.diag(ref.gauss_newton(net.theta, net.sizes, act, out, l2, X))
    off = param_offsets(sizes)
    last = slice(int(off[-3]), int(off[-1]))  # W_{L-1} and b_{L-1}: bbprop is exact there
    np.testing.assert_allclose(curv[last], gn[last], rtol=1e-6, atol=1e-9)
    if out == "linear" and len(sizes) == 3:
        # one hidden layer, diagonal output Hessian: exact everywhere
        np.testing.assert_allclose(curv, gn, rtol=1e-6, atol=1e-9)


def test_bbprop_differs_from_gn_diagonal_where_it_drops_terms():
    """Documented comparison: with softmax (off-diagonal -p_i p_j dropped) or two hidden layers
    (cross terms between units dropped) the hidden-layer estimates differ from diag(GN),
    but stay within a modest factor on average (a test that bbprop is an approximation
    there, not a silently wrong exact value)."""
    for sizes, out in (([3, 4, 3], "softmax"), ([3, 4, 3, 2], "linear")):
        net, X, _ = make_case(sizes, "tanh", out, 0.0, 5, seed=4)
        curv = net.bbprop(X)
        gn = np.diag(ref.gauss_newton(net.theta, net.sizes, "tanh", out, 0.0, X))
        first = slice(0, sizes[0] * sizes[1])
        assert not np.allclose(curv[first], gn[first], rtol=1e-3)
        ratio = np.exp(np.mean(np.log(curv[first] / gn[first])))
        assert 0.2 < ratio < 5.0


# ---------------------------------------------------------------- squared per-sample gradients
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("act,out", [("tanh", "softmax"), ("relu", "linear"), ("logistic", "softmax")])
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("m", [1, 7])
def test_grad_sq_matches_per_sample_loop(sizes, act, out, l2, m):
    net, X, Y = make_case(sizes, act, out, l2, m, seed=5)
    gsq = net.grad_sq(X, Y)
    per = np.stack([ref.sample_gradient(net.theta, net.sizes, act, out, l2, X[n], Y[n]) for n in range(m)])
    np.testing.assert_allclose(gsq, np.mean(per ** 2, 0), rtol=1e-10, atol=1e-14)
    if m == 1:
        np.testing.assert_allclose(gsq, net.gradient(X, Y)[1] ** 2, rtol=1e-12)


# ---------------------------------------------------------------- Gauss-Newton-vector products
@pytest.mark.parametrize("sizes", [[3, 2], [3, 4, 3, 2]], ids=str)
@pytest.mark.parametrize("act,out", list(itertools.product(ACTS, OUTS)))
@pytest.mark.parametrize("l2", [0.0, 0.2])
@pytest.mark.parametrize("m", [1, 4])
def test_gnvp_matches_dense_gauss_newton(sizes, act, out, l2, m):
    net, X, _ = make_case(sizes, act, out, l2, m, seed=6)
    G = ref.gauss_newton(net.theta, net.sizes, act, out, l2, X)
    rng = np.random.default_rng(7)
    for _ in range(2):
        v = rng.normal(size=net.n_params)
        hv = net.gnvp(X, v)
        np.testing.assert_allclose(hv, G @ v, rtol=1e-6, atol=1e-8)
        assert v @ hv >= -1e-12


# ---------------------------------------------------------------- bad input
def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP([3, 2], activation="sigmoid")
    with pytest.raises(ValueError, match="output must be one of"):
        MLP([3, 2], output="mse")
    with pytest.raises(ValueError, match=r"sizes\[1\] must be >= 1"):
        MLP([3, 0])
    with pytest.raises(ValueError, match="at least an input and an output"):
        MLP([3])
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        MLP([3, 2], l2=-1e-4)
    with pytest.raises(ValueError, match="dtype must be"):
        MLP([3, 2], dtype=np.int32)
    net = MLP([3, 2], dtype=np.float64)
    theta0 = net.theta.copy()
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        net.gradient(np.zeros((4, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\).*y\[1\] = 2"):
        net.gradient(np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(ValueError, match="integer class labels"):
        net.gradient(np.zeros((2, 3)), np.array([0.0, 1.0]))
    X = np.zeros((2, 3)); X[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"X\[1, 2\]"):
        net.gradient(X, np.array([0, 1]))
    lin = MLP([3, 2], output="linear")
    with pytest.raises(ValueError, match=r"target matrix of shape \(2, 2\)"):
        lin.gradient(np.zeros((2, 3)), np.array([0, 1]))
    np.testing.assert_array_equal(net.theta, theta0)


# ---- float32 tanh (activations._tanh_f32) against float64 np.tanh ------------------------------

def _ulp_error(got32, exact64):
    exact32 = exact64.astype(np.float32)
    spacing = np.spacing(np.abs(exact32)).astype(np.float64)
    return np.abs(got32.astype(np.float64) - exact64) / spacing


def test_tanh_f32_accuracy_and_special_values():
    from adaptlr.mlp.activations import TANH, bias_activate

    rng = np.random.default_rng(11)
    a = np.concatenate([
        rng.standard_normal(20000) * 3,
        np.linspace(-12, 12, 20001),
        10.0 ** rng.uniform(-30, 1.3, 20000) * rng.choice([-1, 1], 20000),
        [0.0, 1e-40, -1e-40, 9.09, 9.1, 9.11, -9.1, 20.0, -20.0, 1e30, -1e30],
    ]).astype(np.float32)
    A = a.reshape(1, -1).copy()
    bias_activate(A, np.zeros(A.shape[1], np.float32), TANH)
    exact = np.tanh(a.astype(np.float64))
    assert np.max(_ulp_error(A[0], exact)) <= 1.0
    # sign symmetry, saturation, non-finite values
    S = np.array([[np.inf, -np.inf, np.nan, 0.5, -0.5]], np.float32)
    bias_activate(S, np.zeros(5, np.float32), TANH)
    assert S[0, 0] == 1.0 and S[0, 1] == -1.0 and np.isnan(S[0, 2]) and S[0, 3] == -S[0, 4]


def test_bias_activate_adds_bias_for_every_activation_and_dtype():
    from adaptlr.mlp.activations import ACTIVATIONS, bias_activate

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for name, code in ACTIVATIONS.items():
            A0 = rng.standard_normal((7, 5)).astype(dtype)
            b = rng.standard_normal(5).astype(dtype)
            A = A0.copy()
            bias_activate(A, b, code)
            z = A0.astype(np.float64) + b.astype(np.float64)
            ref = {"tanh": np.tanh(z), "relu": np.maximum(z, 0), "logistic": 1 / (1 + np.exp(-z))}[name]
            tol = 1e-6 if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(A, ref, rtol=tol, atol=tol)
