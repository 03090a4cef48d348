"""Bad input to the optimizer API, non-finite gradients, and hypothesis property tests."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptlr import optimizers
from adaptlr.optimizers import NonFiniteGradientError
from reference.optim_ref import make_ref

NAMES = optimizers.names()

BAD = {
    "unit_open": [-0.1, 1.0, 1.5, float("nan")],
    "pos": [0.0, -1.0, float("inf"), float("nan")],
    "nonneg": [-1e-3, float("-inf"), float("nan")],
    "ge1": [0.5, 0.0, -2.0, float("inf")],
    "int_ge1": [0, -3, 2.5, "ten"],
    "pos_or_none": [0.0, -1.0, float("nan")],
}


def kw_for(opt, arrays):
    kw = {}
    if opt.needs_curvature:
        kw["curvature"] = [np.ones_like(a) for a in arrays]
    if opt.needs_hvp:
        kw["hvp"] = lambda vs: [2.0 * v for v in vs]
    return kw


def test_names_and_specs():
    assert NAMES == ["sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam", "vsgd-l",
                     "vsgd-b", "vsgd-g", "smd", "almeida", "amari", "diag-newton"]
    for name in NAMES:
        json.dumps(optimizers.spec(name))
        opt = optimizers.make(name)
        assert json.loads(json.dumps(opt.spec()))["name"] == name
        assert isinstance(opt.hyper, tuple) and len(opt.hyper) == len(opt.hyperparameters)


def test_class_aliases():
    a = optimizers.AdaDelta(rho=0.9, eps=1e-5)
    b = optimizers.make("adadelta", rho=0.9, eps=1e-5)
    assert isinstance(a, optimizers.Optimizer) and a.name == "adadelta" and a.hyper == b.hyper
    for cls, name in [("SGD", "sgd"), ("Momentum", "momentum"), ("AdaGrad", "adagrad"),
                      ("RMSProp", "rmsprop"), ("Adam", "adam"), ("VSGDLocal", "vsgd-l"),
                      ("VSGDBlock", "vsgd-b"), ("VSGDGlobal", "vsgd-g"), ("SMD", "smd"),
                      ("Almeida", "almeida"), ("Amari", "amari"), ("DiagNewton", "diag-newton"),
                      ("VSGD", "vsgd-l")]:
        assert getattr(optimizers, cls)().name == name
    assert optimizers.SGD(lr=0.3).hyperparameters["eta0"] == 0.3


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown optimizer name 'adadelat'.*adadelta.*vsgd-g"):
        optimizers.make("adadelat")


def test_unknown_keyword():
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'learning_rate'=0\.1.*rho, eps, lr"):
        optimizers.make("adadelta", learning_rate=0.1)
    with pytest.raises(ValueError, match="given twice"):
        optimizers.make("sgd", lr=0.1, eta0=0.2)


CASES = [(n, p.name, p.domain, v) for n in NAMES for p in optimizers.get(n).params for v in BAD[p.domain]]


@pytest.mark.parametrize("name,param,domain,value", CASES)
def test_out_of_domain_hyperparameters(name, param, domain, value):
    with pytest.raises(ValueError) as e:
        optimizers.make(name, **{param: value})
    msg = str(e.value)
    assert param in msg and repr(value) in msg and "allowed" in msg, msg


def test_domain_edges_accepted():
    optimizers.make("adadelta", rho=0.0)
    optimizers.make("sgd", eta0=0.0, gamma=0.0)
    optimizers.make("amari", tau=1.0)
    optimizers.make("vsgd-l", n0=1, C=None)
    optimizers.make("vsgd-l", n0=3.0)          # integral float accepted as n0
    with pytest.raises(ValueError, match="check_finite"):
        optimizers.make("sgd", check_finite="yes")


@pytest.fixture
def setup():
    opt = optimizers.make("adam")
    p = [np.zeros((3, 4)), np.zeros(5)]
    return opt, p, opt.init(p)


def test_count_mismatch(setup):
    opt, p, s = setup
    with pytest.raises(ValueError, match="grads has 1 arrays but params has 2"):
        opt.step(p, [np.zeros((3, 4))], s)
    with pytest.raises(ValueError, match="params has 1 arrays but the state was initialised for 2"):
        opt.step(p[:1], [np.zeros((3, 4))], s)


def test_shape_dtype_layout_mismatch_names_index(setup):
    opt, p, s = setup
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(6,\) but params\[1\] has shape \(5,\)"):
        opt.step(p, [np.zeros((3, 4)), np.zeros(6)], s)
    with pytest.raises(ValueError, match=r"grads\[0\] has dtype float32 but params\[0\] has dtype float64"):
        opt.step(p, [np.zeros((3, 4), np.float32), np.zeros(5)], s)
    with pytest.raises(ValueError, match=r"grads\[0\] is not C-contiguous"):
        opt.step(p, [np.zeros((4, 3)).T, np.zeros(5)], s)
    with pytest.raises(ValueError, match=r"params\[1\] has shape \(5, 1\).*initialised for shape \(5,\)"):
        opt.step([p[0], np.zeros((5, 1))], [np.zeros((3, 4)), np.zeros((5, 1))], s)
    with pytest.raises(TypeError, match=r"grads\[1\] must be a NumPy ndarray"):
        opt.step(p, [np.zeros((3, 4)), [0.0] * 5], s)
    with pytest.raises(ValueError, match=r"params\[0\] has dtype int64; allowed: float32, float64"):
        opt.init([np.zeros(3, dtype=np.int64)])
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\] is read-only"):
        opt.init([ro])
    with pytest.raises(ValueError, match="state was created by 'adam'"):
        optimizers.make("sgd").step(p, [np.zeros((3, 4)), np.zeros(5)], s)
    with pytest.raises(ValueError, match="batch_size=0"):
        opt.step(p, [np.zeros((3, 4)), np.zeros(5)], s, batch_size=0)


def test_missing_curvature_hvp_grad_sq():
    p = [np.zeros(4)]
    g = [np.ones(4)]
    for name in ("vsgd-l", "vsgd-b", "vsgd-g", "diag-newton"):
        opt = optimizers.make(name)
        with pytest.raises(ValueError, match="needs curvature="):
            opt.step(p, g, opt.init(p))
    opt = optimizers.make("smd")
    with pytest.raises(ValueError, match="needs hvp="):
        opt.step(p, g, opt.init(p))
    for name in ("vsgd-l", "vsgd-b", "vsgd-g"):
        opt = optimizers.make(name)
        with pytest.raises(ValueError, match="batch_size=8 > 1 needs grad_sq="):
            opt.step(p, g, opt.init(p), curvature=[np.ones(4)], batch_size=8)
    opt = optimizers.make("smd")
    with pytest.raises(ValueError, match=r"hvp\(v\)\[0\] has shape \(3,\)"):
        opt.step(p, g, opt.init(p), hvp=lambda vs: [np.zeros(3)])


def _snapshot(params, state):
    return ([p.tobytes() for p in params], [s.tobytes() for s in state.st], state.sc.tobytes(), state.t)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_changes_nothing(name, bad):
    opt = optimizers.make(name, **({"n0": 1} if name.startswith("vsgd") else {}))
    rng = np.random.default_rng(0)
    p = [rng.standard_normal((3, 4)), rng.standard_normal(7)]
    s = opt.init(p)
    kw = kw_for(opt, p)
    for _ in range(3):  # non-trivial state first
        opt.step(p, [rng.standard_normal((3, 4)), rng.standard_normal(7)], s, **kw)
    before = _snapshot(p, s)
    g = [rng.standard_normal((3, 4)), rng.standard_normal(7)]
    g[1][4] = bad
    with pytest.raises(NonFiniteGradientError, match=r"grads\[1\] contains NaN or inf") as e:
        opt.step(p, g, s, **kw)
    assert e.value.index == 1 and e.value.what == "grads" and isinstance(e.value, ValueError)
    assert _snapshot(p, s) == before
    if opt.needs_curvature:
        c = [np.ones((3, 4)), np.ones(7)]
        c[0][1, 1] = bad
        with pytest.raises(NonFiniteGradientError, match=r"curvature\[0\]"):
            opt.step(p, [np.ones((3, 4)), np.ones(7)], s, curvature=c)
        assert _snapshot(p, s) == before
    if opt.uses_grad_sq:
        q = [np.ones((3, 4)), np.ones(7)]
        q[1][0] = bad
        with pytest.raises(NonFiniteGradientError, match=r"grad_sq\[1\]"):
            opt.step(p, [np.ones((3, 4)), np.ones(7)], s, grad_sq=q, **kw)
        assert _snapshot(p, s) == before
    if opt.needs_hvp:
        def badhvp(vs):
            out = [2.0 * v for v in vs]
            out[0][0, 0] = bad
            return out
        with pytest.raises(NonFiniteGradientError, match=r"hvp\[0\]"):
            opt.step(p, [np.ones((3, 4)), np.ones(7)], s, hvp=badhvp)
        assert _snapshot(p, s) == before


def test_check_finite_switch():
    p = [np.zeros(4)]
    opt = optimizers.make("sgd")
    s = opt.init(p)
    opt.step(p, [np.array([1.0, np.nan, 0.0, 0.0])], s, check_finite=False)
    assert np.isnan(p[0][1]) and s.t == 1
    opt = optimizers.make("sgd", check_finite=False)
    p = [np.zeros(4)]
    s = opt.init(p)
    opt.step(p, [np.array([np.inf, 0.0, 0.0, 0.0])], s)
    assert np.isinf(p[0][0])
    with pytest.raises(NonFiniteGradientError):
        opt.step(p, [np.array([np.inf, 0.0, 0.0, 0.0])], s, check_finite=True)


def test_init_flat_and_bad_offsets():
    opt = optimizers.make("vsgd-b")
    st_, sc = opt.init_flat(10, np.array([0, 4, 10]), np.float32)
    assert st_.shape == (2, 10) and st_.dtype == np.float32 and sc.shape == (2, 4)
    st_, sc = optimizers.make("smd", eta0=0.5).init_flat(10, [0, 10])
    assert sc[0, 0] == 0.5
    assert optimizers.make("almeida").init_flat(3)[0][0].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="offsets"):
        opt.init_flat(10, np.array([0, 4, 9]))
    with pytest.raises(ValueError, match="dtype=int32"):
        opt.init_flat(10, None, np.int32)


def test_learning_rates_and_slots():
    opt = optimizers.make("vsgd-l", n0=1)
    p = [np.zeros((2, 3))]
    s = opt.init(p)
    for _ in range(3):
        opt.step(p, [np.ones((2, 3)) + np.arange(6).reshape(2, 3)], s, curvature=[np.ones((2, 3))])
    lr = opt.learning_rates(s)
    assert lr[0].shape == (2, 3) and np.all(lr[0] > 0)
    assert s.slot("eta")[0].shape == (2, 3)
    with pytest.raises(ValueError, match="no state slot"):
        s.slot("m")
    with pytest.raises(ValueError, match="learning_rates"):
        optimizers.make("adam").learning_rates(optimizers.make("adam").init(p))


# ----------------------------------------------------------------------------- hypothesis
def _value_strategy(param):
    d = param.domain
    if d == "unit_open":
        return st.floats(0.0, 0.99)
    if d == "pos":
        return st.floats(1e-6, 1.0)
    if d == "nonneg":
        return st.floats(0.0, 0.1)
    if d == "ge1":
        return st.floats(1.0, 100.0)
    if d == "int_ge1":
        return st.integers(1, 4)
    return st.one_of(st.none(), st.floats(0.5, 10.0))


shapes_st = st.lists(st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple), min_size=1, max_size=3)


@st.composite
def configs(draw):
    name = draw(st.sampled_from(NAMES))
    hp = {p.name: draw(_value_strategy(p)) for p in optimizers.get(name).params}
    if name == "smd":
        hp["mu"] = min(hp["mu"], 0.05)
    return name, hp, draw(shapes_st), draw(st.sampled_from([np.float32, np.float64])), draw(st.integers(0, 2**31))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_property_any_shape_dtype_hyperparameters_match_reference(cfg):
    name, hp, shapes, dtype, seed = cfg
    opt = optimizers.make(name, **hp)
    rng = np.random.default_rng(seed)
    p = [rng.standard_normal(s).astype(dtype) for s in shapes]
    rp = [a.copy() for a in p]
    ref = make_ref(name, opt.hyperparameters, shapes, dtype)
    s = opt.init(p)
    hvp = (lambda vs: [(1.5 * v).astype(v.dtype) for v in vs]) if opt.needs_hvp else None
    tol = 1e-9 if dtype == np.float64 else 2e-5
    for _ in range(6):
        g = [(rng.standard_normal(sh) + 0.5).astype(dtype) for sh in shapes]
        c = [rng.uniform(0.1, 2.0, sh).astype(dtype) for sh in shapes]
        opt.step(p, g, s, curvature=c, hvp=hvp)
        rp = ref.step(rp, g, curv=c, hvp=hvp)
        for a, b in zip(p, rp):
            assert a.dtype == np.dtype(dtype) and a.shape == b.shape
            scale = max(1.0, float(np.max(np.abs(b))))
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)
        assert all(np.all(np.isfinite(a)) for a in p)
    assert s.t == 6 and math.isfinite(float(np.sum([x.sum() for x in p])))
