"""CUDA MLP kernels and passes against plain-NumPy references.

Runs where CUDA kernels can run: under Numba's CUDA simulator (spawned by
tests/test_cuda_mlp_sim.py with NUMBA_ENABLE_CUDASIM=1 set before numba.cuda
is imported), or directly on a real GPU (marked ``gpu``). Elsewhere the whole
module is skipped. Shapes and launch geometry are tiny so that partial tiles
(tile 3 and 4 against widths 5, 6, 7) and grid-stride tails (8 threads x 2
blocks against 35 elements) are exercised.

The NumPy references below are written from the equations (LeCun et al. 1998
for bbprop, Schraudolph 2002 for the Gauss-Newton product) and share no code
with adaptlr; the gradient reference is itself checked by finite differences
and the curvature references by brute-force Jacobians.
"""
from __future__ import annotations

import numpy as np
import pytest

import cuda_gate

pytestmark = cuda_gate.require("tests/test_cuda_mlp_sim.py")

from numba import cuda  # noqa: E402  (after the gate)

from adaptlr.mlp.cuda_launch import CudaLaunch  # noqa: E402
from adaptlr.mlp import cuda_layers as cl  # noqa: E402
from adaptlr.mlp import cuda_losses as closs  # noqa: E402
from adaptlr.mlp.cuda_matmul import gemm  # noqa: E402
from adaptlr.mlp.cuda_network import CudaMLP  # noqa: E402

LAUNCH = CudaLaunch(tile=4, threads=8, max_blocks=2)
LAUNCH3 = CudaLaunch(tile=3, threads=5, max_blocks=1)
DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def tol(dt):
    return dict(rtol=RTOL[dt], atol=RTOL[dt])


def dev(a):
    return cuda.to_device(np.ascontiguousarray(a))


# --------------------------------------------------------------------------- references
def ref_act(a, name):
    if name == "tanh":
        return np.tanh(a)
    if name == "relu":
        return np.maximum(a, 0)
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-a))
    return a


def ref_dact_of_a(a, name):
    if name == "tanh":
        return 1.0 - np.tanh(a) ** 2
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "logistic":
        s = 1.0 / (1.0 + np.exp(-a))
        return s * (1 - s)
    return np.ones_like(a)


def ref_unflatten(theta, sizes):
    out, o = [], 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = theta[o:o + a * b].reshape(a, b); o += a * b
        c = theta[o:o + b]; o += b
        out.append((W, c))
    assert o == theta.size
    return out


def ref_flatten(blocks):
    return np.concatenate([np.concatenate([W.ravel(), c]) for W, c in blocks])


def ref_forward(theta, sizes, X, act):
    """Returns the list of layer inputs, the pre-activations and the output logits."""
    ys, As = [X], []
    blocks = ref_unflatten(theta, sizes)
    for k, (W, c) in enumerate(blocks):
        A = ys[-1] @ W + c
        As.append(A)
        if k + 1 < len(blocks):
            ys.append(ref_act(A, act))
    return ys, As, As[-1]


def ref_softmax(Z):
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_sample_losses(Z, target, output):
    if output == "softmax":
        m = Z.max(axis=1)
        lse = m + np.log(np.exp(Z - m[:, None]).sum(axis=1))
        return lse - Z[np.arange(len(Z)), target]
    return 0.5 * ((Z - target) ** 2).sum(axis=1)


def ref_loss(theta, sizes, X, target, act, output, l2):
    _, _, Z = ref_forward(theta, sizes, X, act)
    pen = sum((W ** 2).sum() for W, _ in ref_unflatten(theta, sizes))
    return ref_sample_losses(Z, target, output).mean() + 0.5 * l2 * pen


def ref_out_delta(Z, target, output):
    if output == "softmax":
        P = ref_softmax(Z)
        P[np.arange(len(Z)), target] -= 1
        return P
    return Z - target


def ref_per_sample_grads(theta, sizes, X, target, act, output):
    """Per-sample data gradients (B, n) by explicit back-propagation, sample by sample."""
    blocks = ref_unflatten(theta, sizes)
    out = []
    for s in range(X.shape[0]):
        ys, As, Z = ref_forward(theta, sizes, X[s:s + 1], act)
        d = ref_out_delta(Z, target[s:s + 1], output)[0]
        grads = [None] * len(blocks)
        for k in range(len(blocks) - 1, -1, -1):
            grads[k] = (np.outer(ys[k][0], d), d.copy())
            if k > 0:
                d = (blocks[k][0] @ d) * ref_dact_of_a(As[k - 1][0], act)
        out.append(ref_flatten(grads))
    return np.array(out)


def ref_output_jacobian(theta, sizes, x, act, h=1e-6):
    """dZ/dtheta (n_out, n) of one sample by central differences (float64)."""
    n = theta.size
    J = np.empty((sizes[-1], n))
    for i in range(n):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        J[:, i] = (ref_forward(tp, sizes, x, act)[2][0] - ref_forward(tm, sizes, x, act)[2][0]) / (2 * h)
    return J


def ref_output_hessian(z, output):
    if output == "softmax":
        p = ref_softmax(z[None])[0]
        return np.diag(p) - np.outer(p, p)
    return np.eye(z.size)


def ref_gauss_newton(theta, sizes, X, act, output):
    """G = mean_s J_s^T H_s J_s (brute force)."""
    G = 0
    for s in range(X.shape[0]):
        J = ref_output_jacobian(theta, sizes, X[s:s + 1], act)
        z = ref_forward(theta, sizes, X[s:s + 1], act)[2][0]
        G = G + J.T @ ref_output_hessian(z, output) @ J
    return G / X.shape[0]


def ref_bbprop(theta, sizes, X, act, output):
    """bbprop diagonal, sample by sample: h_pre = f'^2 h_post, h_post = sum_i w^2 h_pre."""
    blocks = ref_unflatten(theta, sizes)
    total = 0
    for s in range(X.shape[0]):
        ys, As, Z = ref_forward(theta, sizes, X[s:s + 1], act)
        if output == "softmax":
            p = ref_softmax(Z)[0]
            h = p * (1 - p)
        else:
            h = np.ones(sizes[-1])
        curv = [None] * len(blocks)
        for k in range(len(blocks) - 1, -1, -1):
            curv[k] = (np.outer(ys[k][0] ** 2, h), h.copy())
            if k > 0:
                h = ((blocks[k][0] ** 2) @ h) * ref_dact_of_a(As[k - 1][0], act) ** 2
        total = total + ref_flatten(curv)
    return total / X.shape[0]


def make_problem(sizes, output, dtype, batch=5, seed=0, scale=0.7):
    rng = np.random.default_rng(seed)
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    theta = (scale * rng.standard_normal(n)).astype(dtype)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if output == "softmax":
        target = rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    else:
        target = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    return theta, X, target


def weight_mask(sizes):
    return np.concatenate([np.concatenate([np.ones(a * b), np.zeros(b)])
                           for a, b in zip(sizes[:-1], sizes[1:])])


# --------------------------------------------------------------------------- gemm
@pytest.mark.parametrize("dt,launch", [(np.float32, LAUNCH), (np.float64, LAUNCH3)])
def test_gemm_three_layer_shapes_and_squares(dt, launch):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 7)).astype(dt)
    W = rng.standard_normal((7, 6)).astype(dt)
    D = rng.standard_normal((5, 6)).astype(dt)
    C = cuda.device_array((5, 6), dtype=dt)
    gemm(dev(X), dev(W), C, launch=launch)
    np.testing.assert_allclose(C.copy_to_host(), X @ W, **tol(dt))
    C = cuda.device_array((5, 7), dtype=dt)
    gemm(dev(D), dev(W), C, trans_b=True, launch=launch)
    np.testing.assert_allclose(C.copy_to_host(), D @ W.T, **tol(dt))
    C = dev(np.full((7, 6), 3.0, dt))
    gemm(dev(X), dev(D), C, trans_a=True, alpha=0.25, beta=-2.0, launch=launch)
    np.testing.assert_allclose(C.copy_to_host(), 0.25 * X.T @ D - 6.0, **tol(dt))
    C = cuda.device_array((7, 6), dtype=dt)
    gemm(dev(X), dev(D), C, trans_a=True, square_a=True, square_b=True, alpha=0.2, launch=launch)
    np.testing.assert_allclose(C.copy_to_host(), 0.2 * (X * X).T @ (D * D), **tol(dt))
    C = cuda.device_array((5, 7), dtype=dt)
    gemm(dev(D), dev(W), C, trans_b=True, square_b=True, launch=launch)
    np.testing.assert_allclose(C.copy_to_host(), D @ (W * W).T, **tol(dt))


def test_gemm_beta_zero_ignores_nan_and_rejects_bad_shapes():
    A = dev(np.ones((2, 3)))
    B = dev(np.ones((3, 2)))
    C = dev(np.full((2, 2), np.nan))
    gemm(A, B, C, launch=LAUNCH)
    np.testing.assert_array_equal(C.copy_to_host(), 3.0)
    with pytest.raises(ValueError, match=r"op\(A\) is \(2, 3\)"):
        gemm(A, A, C, launch=LAUNCH)
    with pytest.raises(TypeError, match="float32 or float64"):
        gemm(A, B, dev(np.zeros((2, 2), np.float32)), launch=LAUNCH)


# --------------------------------------------------------------------------- elementwise
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("act", ["tanh", "relu", "logistic", "linear"])
def test_bias_act_and_derivatives(dt, act):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((5, 7)).astype(dt) * 3
    Z[0, 0] = 0.0 if act != "relu" else -1.0
    b = rng.standard_normal(7).astype(dt)
    code = cl.ACT_LINEAR if act == "linear" else cl.activation_code(act)
    Y = cuda.device_array((5, 7), dtype=dt)
    cl.bias_act(dev(Z), dev(b), Y, code, LAUNCH)
    A = Z + b
    np.testing.assert_allclose(Y.copy_to_host(), ref_act(A, act), **tol(dt))
    D0 = rng.standard_normal((5, 7)).astype(dt)
    for power in (1, 2):
        D = dev(D0)
        cl.mul_dact(D, Y, code, power, LAUNCH)
        np.testing.assert_allclose(D.copy_to_host(), D0 * ref_dact_of_a(A, act) ** power,
                                   rtol=50 * RTOL[dt], atol=50 * RTOL[dt])
    out = cuda.device_array((5, 7), dtype=dt)
    v = rng.standard_normal(7).astype(dt)
    cl.bias_dact(dev(D0), dev(v), Y, code, out, LAUNCH)
    np.testing.assert_allclose(out.copy_to_host(), ref_dact_of_a(A, act) * (D0 + v),
                               rtol=50 * RTOL[dt], atol=50 * RTOL[dt])


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="activation must be one of.*'swish'"):
        cl.activation_code("swish")


@pytest.mark.parametrize("dt", DTYPES)
def test_column_sums_gather_fill_copy(dt):
    rng = np.random.default_rng(3)
    D = rng.standard_normal((5, 7)).astype(dt)
    out = cuda.device_array(7, dtype=dt)
    for sq in (False, True):
        cl.col_sum(dev(D), out, 0.2, sq, LAUNCH3)
        np.testing.assert_allclose(out.copy_to_host(), 0.2 * (D ** 2 if sq else D).sum(0), **tol(dt))
    X = rng.standard_normal((9, 7)).astype(dt)
    y = rng.integers(0, 3, 9)
    idx = rng.permutation(9).astype(np.int64)
    rows = cuda.device_array((4, 7), dtype=dt)
    labs = cuda.device_array(4, dtype=np.int64)
    cl.gather_rows(dev(X), dev(idx), 5, rows, LAUNCH)
    cl.gather_labels(dev(y), dev(idx), 5, labs, LAUNCH)
    np.testing.assert_array_equal(rows.copy_to_host(), X[idx[5:9]])
    np.testing.assert_array_equal(labs.copy_to_host(), y[idx[5:9]])
    f = cuda.device_array(35, dtype=dt)
    cl.fill(f, 2.5, LAUNCH)
    np.testing.assert_array_equal(f.copy_to_host(), 2.5)
    big = dev(X)
    dst = cuda.device_array((5, 7), dtype=dt)
    cl.copy2d(big[2:7], dst, LAUNCH)
    np.testing.assert_array_equal(dst.copy_to_host(), X[2:7])


@pytest.mark.parametrize("dt", DTYPES)
def test_l2_terms(dt):
    rng = np.random.default_rng(4)
    w, g, c, s, h, v = (rng.standard_normal(35).astype(dt) for _ in range(6))
    G, Cc, S, Hh = dev(g), dev(c), dev(s), dev(h)
    cl.add_l2(dev(w), G, Cc, S, Hh, dev(v), 0.3, LAUNCH)
    np.testing.assert_allclose(G.copy_to_host(), g + dt(0.3) * w, **tol(dt))
    np.testing.assert_allclose(Cc.copy_to_host(), c + dt(0.3), **tol(dt))
    want = s + 0.3 * w * (2 * g + 0.3 * w)
    assert (want < 0).any() and (want > 0).any()   # both branches of the clip at 0
    np.testing.assert_allclose(S.copy_to_host(), np.maximum(want, 0), **tol(dt))
    np.testing.assert_allclose(Hh.copy_to_host(), h + 0.3 * v, **tol(dt))
    G = dev(g)
    empty = cuda.device_array(0, dtype=dt)
    cl.add_l2(dev(w), G, empty, empty, empty, empty, 0.3, LAUNCH)
    np.testing.assert_allclose(G.copy_to_host(), g + dt(0.3) * w, **tol(dt))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_flag_keeps_first_step():
    flag = dev(np.array([cl.NO_DIVERGENCE], dtype=np.int64))
    x = np.zeros(35)
    cl.flag_nonfinite(dev(x), flag, 3, LAUNCH)
    assert flag.copy_to_host()[0] == cl.NO_DIVERGENCE
    x[33] = np.inf          # in the grid-stride tail (16 threads in all)
    cl.flag_nonfinite(dev(x), flag, 7, LAUNCH)
    x[0] = np.nan
    cl.flag_nonfinite(dev(x), flag, 9, LAUNCH)
    assert flag.copy_to_host()[0] == 7


# --------------------------------------------------------------------------- losses
@pytest.mark.parametrize("dt", DTYPES)
def test_softmax_xent_stable_and_exact(dt):
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((5, 3)).astype(dt)
    Z[1] += 1000.0          # would overflow exp without the max shift
    Z[2] = [0.5, 0.5, 0.1]  # tie: first maximum wins, as numpy.argmax
    y = np.array([0, 2, 1, 1, 0], dtype=np.int64)
    P, D, H = (cuda.device_array((5, 3), dtype=dt) for _ in range(3))
    loss = cuda.device_array(5, dtype=dt)
    corr = cuda.device_array(5, dtype=np.int32)
    closs.softmax_xent(dev(Z), dev(y), P, D, loss, corr, H, LAUNCH3)
    Z64 = Z.astype(np.float64)
    p = ref_softmax(Z64)
    np.testing.assert_allclose(P.copy_to_host(), p, **tol(dt))
    np.testing.assert_allclose(loss.copy_to_host(), ref_sample_losses(Z64, y, "softmax"),
                               rtol=RTOL[dt], atol=RTOL[dt] * 100)
    np.testing.assert_allclose(D.copy_to_host(), ref_out_delta(Z64, y, "softmax"), **tol(dt))
    np.testing.assert_allclose(H.copy_to_host(), p * (1 - p), **tol(dt))
    np.testing.assert_array_equal(corr.copy_to_host(), (np.argmax(Z, 1) == y).astype(np.int32))
    R = rng.standard_normal((5, 3)).astype(dt)
    out = cuda.device_array((5, 3), dtype=dt)
    closs.softmax_gn(P, dev(R), out, LAUNCH3)
    want = np.array([ref_output_hessian(Z64[i], "softmax") @ R[i] for i in range(5)])
    np.testing.assert_allclose(out.copy_to_host(), want, **tol(dt))


@pytest.mark.parametrize("dt", DTYPES)
def test_linear_mse(dt):
    rng = np.random.default_rng(6)
    Z = rng.standard_normal((5, 7)).astype(dt)
    T = rng.standard_normal((5, 7)).astype(dt)
    D, H = (cuda.device_array((5, 7), dtype=dt) for _ in range(2))
    loss = cuda.device_array(5, dtype=dt)
    closs.linear_mse(dev(Z), dev(T), D, loss, H, LAUNCH3)
    np.testing.assert_allclose(D.copy_to_host(), Z - T, **tol(dt))
    np.testing.assert_allclose(loss.copy_to_host(), 0.5 * ((Z - T) ** 2).sum(1), **tol(dt))
    np.testing.assert_array_equal(H.copy_to_host(), 1.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_softmax_loss_is_nan_for_nonfinite_logits():
    Z = np.array([[np.nan, 0.0, 1.0], [np.inf, 0.0, 0.0], [0.0, 1.0, np.nan]])
    y = np.zeros(3, dtype=np.int64)
    P, D = (cuda.device_array((3, 3)) for _ in range(2))
    loss = cuda.device_array(3)
    corr = cuda.device_array(3, dtype=np.int32)
    closs.softmax_xent(dev(Z), dev(y), P, D, loss, corr, None, LAUNCH3)
    assert np.isnan(loss.copy_to_host()).all()


# --------------------------------------------------------------------------- reference sanity
def test_reference_gradient_matches_finite_differences():
    sizes = [4, 3, 2]
    for output in ("softmax", "linear"):
        theta, X, t = make_problem(sizes, output, np.float64, batch=3)
        g = ref_per_sample_grads(theta, sizes, X, t, "tanh", output).mean(0)
        fd = np.empty_like(theta)
        for i in range(theta.size):
            e = np.zeros_like(theta)
            e[i] = 1e-6
            fd[i] = (ref_loss(theta + e, sizes, X, t, "tanh", output, 0.0)
                     - ref_loss(theta - e, sizes, X, t, "tanh", output, 0.0)) / 2e-6
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_reference_bbprop_is_exact_gauss_newton_diagonal_for_one_layer():
    sizes = [4, 3]
    for output in ("softmax", "linear"):
        theta, X, _ = make_problem(sizes, output, np.float64, batch=3)
        G = ref_gauss_newton(theta, sizes, X, "tanh", output)
        np.testing.assert_allclose(ref_bbprop(theta, sizes, X, "tanh", output), np.diag(G),
                                   rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- passes
CASES = [([7, 5, 3], "tanh", "softmax", np.float64),
         ([7, 5, 3], "relu", "linear", np.float64), ([7, 6, 5, 3], "logistic", "softmax", np.float32)]


def run_passes(sizes, act, output, dt, l2, launch=LAUNCH, batch=5, capacity=6):
    theta, X, t = make_problem(sizes, output, dt, batch=batch)
    net = CudaMLP(sizes, act, output, l2=l2, dtype=dt, capacity=capacity, launch=launch)
    rng = np.random.default_rng(9)
    v = rng.standard_normal(theta.size).astype(dt)
    th, g, c, s, hv = dev(theta), *(cuda.device_array(theta.size, dtype=dt) for _ in range(4))
    vd = dev(v)
    net.forward(th, batch, X)
    net.loss_delta(dev(t), batch, want_h=True)
    net.backward(th, g, batch, gsq=s)
    net.bbprop(th, c, batch)
    net.gnvp(th, vd, hv, batch)
    loss = net.loss[:batch].copy_to_host()
    net.add_l2(th, g, c, s, hv, vd)
    return dict(theta=theta, X=X, t=t, v=v, loss=loss, g=g.copy_to_host(), curv=c.copy_to_host(),
                gsq=s.copy_to_host(), hv=hv.copy_to_host(), Z=net.Z[:batch].copy_to_host())


@pytest.mark.parametrize("sizes,act,output,dt", CASES)
def test_passes_match_references(sizes, act, output, dt):
    l2 = 0.05
    r = run_passes(sizes, act, output, dt, l2)
    theta = r["theta"].astype(np.float64)
    X = r["X"].astype(np.float64)
    t = r["t"] if output == "softmax" else r["t"].astype(np.float64)
    mask = weight_mask(sizes)
    _, _, Z = ref_forward(theta, sizes, X, act)
    k = dict(rtol=50 * RTOL[dt], atol=50 * RTOL[dt])
    np.testing.assert_allclose(r["Z"], Z, **k)
    np.testing.assert_allclose(r["loss"], ref_sample_losses(Z, t, output), **k)
    G = ref_per_sample_grads(theta, sizes, X, t, act, output)
    gbar = G.mean(0)
    np.testing.assert_allclose(r["g"], gbar + l2 * mask * theta, **k)
    np.testing.assert_allclose(r["gsq"], ((G + l2 * mask * theta) ** 2).mean(0), **k)
    np.testing.assert_allclose(r["curv"], ref_bbprop(theta, sizes, X, act, output) + l2 * mask, **k)
    # brute-force Gauss-Newton by finite-difference Jacobians (float64)
    GN = ref_gauss_newton(theta, sizes, X, act, output)
    v = r["v"].astype(np.float64)
    h = 1e-6 if dt == np.float64 else 2e-4
    np.testing.assert_allclose(r["hv"], GN @ v + l2 * mask * v, rtol=h, atol=h)


def test_passes_independent_of_launch_geometry():
    a = run_passes([7, 5, 3], "tanh", "softmax", np.float64, 0.0, launch=LAUNCH)
    b = run_passes([7, 5, 3], "tanh", "softmax", np.float64, 0.0,
                   launch=CudaLaunch(tile=5, threads=16, max_blocks=3))
    for key in ("g", "gsq", "curv", "hv"):
        np.testing.assert_array_equal(a[key], b[key])


def test_cuda_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="output must be one of.*'hinge'"):
        CudaMLP([3, 2], output="hinge")
    with pytest.raises(ValueError, match="l2 must be"):
        CudaMLP([3, 2], l2=-1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        CudaMLP([3, 2], dtype=np.int32)
    net = CudaMLP([3, 2], capacity=4, launch=LAUNCH)
    with pytest.raises(ValueError, match="minibatch of 5 rows"):
        net.forward(dev(np.zeros(8)), 5)
    with pytest.raises(ValueError, match="length 7"):
        net.views(dev(np.zeros(7)))


@pytest.mark.parametrize("sizes,act,output,dt", [([7, 5, 3], "tanh", "softmax", np.float32),
                                                 ([7, 6, 5, 3], "relu", "linear", np.float32),
                                                 ([7, 5, 3], "logistic", "softmax", np.float64)])
def test_passes_match_cpu_mlp_functions(sizes, act, output, dt):
    """Each device pass against its CPU twin in adaptlr.mlp (MLP.evaluate, gradient, bbprop,
    grad_sq, gnvp) on the same parameters and minibatch."""
    from adaptlr.mlp import MLP

    net = MLP(sizes, activation=act, output=output, l2=0.01, dtype=dt, seed=2)
    _, X, t = make_problem(sizes, output, dt, batch=5, seed=4)
    v = np.random.default_rng(5).standard_normal(net.n_params).astype(dt)
    m = CudaMLP(sizes, act, output, l2=0.01, dtype=dt, capacity=5, launch=LAUNCH)
    th, vd = dev(net.theta), dev(v)
    g, c, s, hv = (cuda.device_array(net.n_params, dtype=dt) for _ in range(4))
    m.forward(th, 5, dev(X))
    m.loss_delta(dev(t), 5, want_h=True)
    m.backward(th, g, 5, gsq=s)
    m.bbprop(th, c, 5)
    m.gnvp(th, vd, hv, 5)
    loss = m.loss.copy_to_host()[:5].astype(np.float64).mean()
    m.add_l2(th, g, c, s, hv, vd)
    k = dict(rtol=1e-4, atol=1e-5) if dt == np.float32 else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(loss, net.evaluate(X, t)[0], **k)
    np.testing.assert_allclose(g.copy_to_host(), net.gradient(X, t)[1], **k)
    np.testing.assert_allclose(c.copy_to_host(), net.bbprop(X), **k)
    np.testing.assert_allclose(s.copy_to_host(), net.grad_sq(X, t), **k)
    np.testing.assert_allclose(hv.copy_to_host(), net.gnvp(X, v), **k)


def test_cuda_mlp_rejects_bad_sizes_like_the_cpu_mlp():
    with pytest.raises(ValueError, match=r"sizes\[1\] must be >= 1"):
        CudaMLP([3, 0, 2])
    with pytest.raises(ValueError, match="at least an input and an output"):
        CudaMLP([3])
