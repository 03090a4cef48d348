"""The fused online step (adaptlr/mlp/online_step.py) against the unfused pieces.

Oracle: a plain Python driver calls the public, separately tested pieces step by step
(MLP.gradient, MLP.bbprop, the method's ``step_flat``: test_mlp.py checks them against
finite differences and brute force, test_optim_reference.py against NumPy references
written from the papers). The compiled loop with batch size 1 takes the fused path for
every method with a scalar rule, so parametrizing over the registry tests each method
the moment it is registered. Fused and unfused sums run in different orders: agreement
is to rounding (rtol 1e-9 in float64 after one epoch of 40 steps), not bit for bit.
"""
from __future__ import annotations

import numpy as np
import pytest

from adaptlr.mlp import MLP, train
from adaptlr.mlp import make_workspace, training
from adaptlr.mlp.activations import SOFTMAX
from adaptlr.mlp.forward import forward
from adaptlr.mlp.online_step import online_kernel
from adaptlr.optimizers import make, names
from adaptlr.optimizers.registry import get
from test_training import data as training_data

FUSED = [n for n in names() if online_kernel(get(n)) is not None]
#: settings that move the parameters visibly in a few dozen steps without diverging
HP = {"sgd": dict(eta0=0.05), "momentum": dict(lr=0.05), "adagrad": dict(lr=0.05),
      "rmsprop": dict(lr=0.01), "adam": dict(lr=0.01), "vsgd-l": dict(n0=3, C=2.0),
      "almeida": dict(eta0=0.01), "amari": dict(eta0=0.01), "diag-newton": dict(lr=0.05)}


pytestmark = pytest.mark.usefixtures("one_numba_thread")  # conftest.py


def data(n=40, out="softmax"):
    return training_data(n=n, out=out)


def python_online(net, opt, X, y, epochs, seed):
    """Batch size 1 by the public unfused pieces, the loop's documented shuffle."""
    n = net.n_params
    st, sc = opt.init_flat(n, net.offsets, net.dtype)
    empty = np.zeros(0, net.dtype)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    t = 0
    for _ in range(epochs):
        for i in rng.permutation(len(X)):
            t += 1
            Xb, yb = X[i:i + 1], y[i:i + 1]
            _, g = net.gradient(Xb, yb)
            curv = net.bbprop(Xb) if opt.needs_curvature else empty
            gsq = g * g if opt.uses_grad_sq else empty
            opt.step_flat(net.theta, g, curv, gsq, empty, st, sc, net.offsets, opt.hyper, t, 1)
    return st


def fused_online(net, opt, X, y, epochs, seed, kernel=None):
    """The same by the fused kernel (default: the method's), driven from Python (no compiled
    loop: each kernel is compiled once and cached on disk, so the registry-wide test stays
    fast)."""
    kernel = online_kernel(opt.method) if kernel is None else kernel
    ws = make_workspace(net.sizes, 1, net.dtype)
    st, _ = opt.init_flat(net.n_params, net.offsets, net.dtype)
    softmax = net.out_code == SOFTMAX
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    t = 0
    for _ in range(epochs):
        for i in rng.permutation(len(X)):
            t += 1
            Xb = np.ascontiguousarray(X[i:i + 1], dtype=net.dtype)
            lab = y[i:i + 1].astype(np.int64) if softmax else np.zeros(0, np.int64)
            tar = np.zeros((0, net.sizes[-1]), net.dtype) if softmax else np.ascontiguousarray(y[i:i + 1], net.dtype)
            forward(net.theta, net.offsets, net.sizes_array, net.act_code, net.out_code, Xb, 1, lab, tar, ws)
            bad = kernel(net.theta, st, opt.hyper, t, net.offsets, net.sizes_array, net.act_code, net.out_code,
                         net.l2, Xb, lab, tar, ws, True if opt.needs_curvature else None, None)
            assert not bad
    return st


def test_every_elementwise_method_takes_the_fused_path():
    assert set(FUSED) == {n for n in names() if get(n).rule is not None and not get(n).needs_hvp}
    assert {"sgd", "adadelta", "vsgd-l"} <= set(FUSED)
    assert "vsgd-b" not in FUSED and "smd" not in FUSED  # reductions across parameters: unfused


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("act,out,l2", [("tanh", "softmax", 1e-3), ("logistic", "linear", 0.0),
                                        ("relu", "softmax", 0.0)])
def test_fused_online_step_matches_unfused_pieces(name, act, out, l2):
    X, y = data(out=out)
    net = MLP([5, 6, 4, 3], activation=act, output=out, l2=l2, dtype=np.float64, seed=1)
    ref = net.copy()
    opt = make(name, **HP.get(name, {}))
    st = fused_online(net, opt, X, y, 1, 3)
    st_ref = python_online(ref, opt, X, y, 1, 3)
    assert not np.allclose(net.theta, MLP([5, 6, 4, 3], activation=act, output=out, dtype=np.float64,
                                          seed=1).theta)
    # rounding differences grow (diag-newton: 1e-16 after 1 step, 3e-12 after 40), so one epoch
    np.testing.assert_allclose(net.theta, ref.theta, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(st, st_ref, rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("name", ["adadelta", "vsgd-l"])
def test_fused_equals_forced_unfused_loop_in_float32_and_records(name, monkeypatch):
    """The compiled loop both ways: float32 parameters, effective-learning-rate records, and the
    fused path's own determinism (bit-identical reruns)."""
    X, y = data()
    opt = make(name, **({"n0": 3, "C": 100.0} if name == "vsgd-l" else {}))  # C = 2 runs away in float32
    outs = {}
    for fuse in (True, False, True):
        monkeypatch.setattr(training, "FUSE_ONLINE", fuse)
        net = MLP([5, 6, 3], activation="tanh", l2=1e-3, dtype=np.float32, seed=2)
        res = train(net, opt, X, y, epochs=1, batch_size=1, seed=4, record_lr_every=5, record_dims=3)
        outs.setdefault(fuse, []).append((net.theta.copy(), res))
    (a, ra), (a2, ra2) = outs[True]
    (b, rb), = outs[False]
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(ra.lr_median, ra2.lr_median)
    assert np.abs(a).max() < 20
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)
    assert ra.lr_steps.tolist() == rb.lr_steps.tolist() == list(range(5, 41, 5))
    for f in ("lr_min", "lr_median", "lr_max", "lr_trace", "update_trace"):
        np.testing.assert_allclose(getattr(ra, f), getattr(rb, f), rtol=2e-3, atol=1e-7, err_msg=f)
    np.testing.assert_allclose(ra.batch_loss, rb.batch_loss, rtol=1e-4)


@pytest.mark.parametrize("fuse", [True, False])
def test_divergence_detected_at_the_same_step_both_ways(fuse, monkeypatch):
    monkeypatch.setattr(training, "FUSE_ONLINE", fuse)
    X, y = data()
    net = MLP([5, 4, 3], activation="relu", output="linear", dtype=np.float64, seed=0)
    res = train(net, make("sgd", eta0=1e3), X, X[:, :3], epochs=3, batch_size=1, seed=0)
    assert res.diverged and 1 <= res.diverged_step < 40
    assert np.all(np.isnan(res.batch_loss[res.diverged_step:]))
    # the same run unfused/fused (the other value of the switch) stops at the same step
    monkeypatch.setattr(training, "FUSE_ONLINE", not fuse)
    net2 = MLP([5, 4, 3], activation="relu", output="linear", dtype=np.float64, seed=0)
    res2 = train(net2, make("sgd", eta0=1e3), X, X[:, :3], epochs=3, batch_size=1, seed=0)
    assert res2.diverged_step == res.diverged_step


def test_overflow_to_inf_in_float32_storage_is_divergence():
    """A finite float64 result that overflows float32 when stored is caught (the check reads
    the stored value)."""
    X, y = data(n=10)
    net = MLP([5, 3], output="linear", dtype=np.float32, seed=0)
    res = train(net, make("sgd", eta0=1e37), X * 1e3, X[:, :3], epochs=1, batch_size=1, seed=0)
    assert res.diverged and res.diverged_step == 1


# The fused path as plain Python (NUMBA_DISABLE_JIT=1): test_training.py's
# test_runs_as_plain_python_with_jit_disabled includes a batch-size-1 run.


# --- skipping the rows of zero inputs, and the rows dealt to threads -----------------------

ZERO_IDENTITY = [n for n in names() if get(n).zero_grad_identity]


def test_some_methods_claim_zero_grad_identity_and_only_elementwise_ones():
    assert {"sgd", "adagrad"} <= set(ZERO_IDENTITY)
    assert "momentum" not in ZERO_IDENTITY and "adadelta" not in ZERO_IDENTITY  # state decays
    assert set(ZERO_IDENTITY) <= set(FUSED)


@pytest.mark.parametrize("name", ZERO_IDENTITY)
@pytest.mark.parametrize("g0", [0.0, -0.0])
def test_zero_grad_identity_claim_holds(name, g0):
    """A method that claims ZERO_GRAD_IDENTITY: its rule returns x and the state bit for bit
    for a zero gradient (and zero curvature: the skipped weights' c = x_i^2 C + l2 = 0),
    over random parameters, states, steps and its default and other hyperparameters."""
    m = get(name)
    rule = m.rule
    prep = m.prepare or (lambda hp, t: hp)
    rng = np.random.default_rng(0)
    for hp_values in ({}, HP.get(name, {})):
        hp = make(name, **hp_values).hyper
        for _ in range(200):
            x = float(rng.normal() * 10.0 ** rng.integers(-8, 3))
            s = [float(abs(rng.normal()) * 10.0 ** rng.integers(-8, 3)) for _ in range(5)]
            t = int(rng.integers(1, 10 ** 6))
            out = rule(x, g0, 0.0, g0 * g0, 0.0, *s, prep(hp, t), t, 1)
            assert out[0] == x and np.signbit(out[0]) == np.signbit(x)
            assert list(out[1:1 + m.n_slots]) == s[:m.n_slots]


def _sparse_data(n=30):
    X, y = data(n=n)
    rng = np.random.default_rng(5)
    X = X * (rng.random(X.shape) < 0.3)      # most inputs exactly zero, as MNIST's pixels
    assert (X == 0).mean() > 0.5
    return X, y


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skipping_zero_input_rows_is_exact(name, dtype):
    """With l2 = 0 the rows of zero inputs are skipped; the result is bit for bit that of
    the same kernel made without the claim (every row computed)."""
    from adaptlr.mlp import online_step

    X, y = _sparse_data()
    opt = make(name, **HP[name])
    m = get(name)
    net0 = MLP([5, 6, 4, 3], activation="tanh", l2=0.0, dtype=dtype, seed=1)
    thetas, states = [], []
    for claim in (True, False):
        net = net0.copy()
        kern = online_step.make_online_step(m.rule, m.n_slots, m.prepare, claim)
        states.append(fused_online(net, opt, X, y, 2, 2, kernel=kern))
        thetas.append(net.theta.copy())
    np.testing.assert_array_equal(thetas[0], thetas[1])
    np.testing.assert_array_equal(states[0], states[1])
    assert not np.array_equal(thetas[0], net0.theta)


def test_skipping_takes_effect():
    """The skip is real: a kernel of a rule that does *not* leave its state alone at g = 0
    (momentum), made with a false claim, leaves the zero-input rows' velocity undecayed,
    so it differs from the honest kernel. (Why the claim is tested for every method.)"""
    from adaptlr.mlp import online_step

    X, y = _sparse_data()
    m = get("momentum")
    opt = make("momentum", lr=0.05)
    net0 = MLP([5, 6, 3], activation="tanh", l2=0.0, dtype=np.float64, seed=1)
    res = []
    for claim in (False, True):
        net = net0.copy()
        kern = online_step.make_online_step(m.rule, m.n_slots, m.prepare, claim)
        fused_online(net, opt, X, y, 1, 2, kernel=kern)
        res.append(net.theta.copy())
    assert not np.array_equal(res[0], res[1])


def test_result_is_the_same_for_any_number_of_threads():
    """Rows are dealt to ROW_PARTS parts, not to threads: 1 and 2 threads agree bit for bit
    (vSGD-l with bbprop and l2, SGD on sparse inputs with the skip)."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    X, y = _sparse_data()
    outs = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            for name, l2 in (("vsgd-l", 1e-3), ("sgd", 0.0)):
                net = MLP([5, 40, 36, 3], activation="tanh", l2=l2, dtype=np.float64, seed=1)
                fused_online(net, make(name, **HP[name]), X, y, 1, 2)
                outs.setdefault(name, []).append(net.theta.copy())
        finally:
            numba.set_num_threads(1)
    for name, (a, b) in outs.items():
        np.testing.assert_array_equal(a, b, err_msg=name)
