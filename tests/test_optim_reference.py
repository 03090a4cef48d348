"""Every registered optimizer against its plain-NumPy reference (tests/reference/optim_ref.py).

200 random steps, several arrays (one larger than the reduction chunk), float64 to
1e-10 and float32 to 1e-5 relative; plus the flat kernel (``step_flat`` on one
buffer with ``offsets``) against the list API, bit-identical reproducibility, the
hand-checked AdaDelta value, and step-for-step agreement with torch.optim.
"""
from __future__ import annotations

import numpy as np
import pytest

from adaptlr import optimizers
from reference.optim_ref import make_ref

SHAPES = [(7, 5), (13,), (3, 2, 4), (70, 70)]   # 70*70 = 4900 > the 4096-element reduction chunk
STEPS = 200
TOL = {np.float64: 1e-10, np.float32: 1e-5}

# non-default hyperparameters, so every term of every rule is exercised
HP = {
    "sgd": dict(eta0=0.05, gamma=0.01),
    "momentum": dict(lr=0.01, rho=0.8),
    "adagrad": dict(lr=0.05, eps=1e-3),
    "rmsprop": dict(lr=0.01, rho=0.7, eps=1e-4),
    "adadelta": dict(rho=0.9, eps=1e-4, lr=0.5),
    "adam": dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-3),
    "vsgd-l": dict(n0=5, C=3.0, eps=0.3, tau0=3.0),
    "vsgd-b": dict(n0=5, C=None, eps=0.3, C_h=1.0),
    "vsgd-g": dict(n0=5, C=2.0, eps=0.3, tau0=1.5, C_h=0.5),
    "smd": dict(eta0=0.02, mu=0.05, tau=20.0),
    "almeida": dict(eta0=0.01, tau=10.0),
    "amari": dict(eta0=0.01, tau=10.0),
    "diag-newton": dict(lr=0.5, mu=0.1),
}


def test_every_method_has_test_hyperparameters():
    assert set(HP) == set(optimizers.names()), "add test hyperparameters for new methods"


def spd_hvp(shapes, seed):
    """Exact H·v for a fixed SPD H = diag(a) + U U^T / n per array (spectrum about [0.5, 5])."""
    rng = np.random.default_rng(seed)
    mats = []
    for s in shapes:
        n = int(np.prod(s))
        mats.append((rng.uniform(0.5, 2.0, n), rng.standard_normal((n, 3))))

    def hvp(vs):
        out = []
        for v, (a, U) in zip(vs, mats):
            f = np.asarray(v, dtype=np.float64).reshape(-1)
            out.append((a * f + U @ (U.T @ f) / f.size).reshape(v.shape).astype(v.dtype))
        return out
    return hvp


def make_data(name, dtype, shapes, nb, steps, seed):
    """Gradients (with a per-array mean), curvature (some negative / tiny), grad_sq."""
    rng = np.random.default_rng(seed)
    # SMD raises its rate while gradients agree; with x-independent gradients of nonzero
    # mean it would grow without bound, so its gradients are zero-mean noise.
    means = [rng.standard_normal(s) * (0.0 if name == "smd" else 0.5) for s in shapes]
    data = []
    for _ in range(steps):
        if nb == 1:
            g = [m + rng.standard_normal(s) for m, s in zip(means, shapes)]
            q = None
        else:
            per = [m + rng.standard_normal((nb,) + s) for m, s in zip(means, shapes)]
            g = [p.mean(axis=0) for p in per]
            q = [(p ** 2).mean(axis=0).astype(dtype) for p in per]
        c = [rng.uniform(-0.5, 2.0, s) for s in shapes]      # |.| and the eps bound are exercised
        data.append(([a.astype(dtype) for a in g], [a.astype(dtype) for a in c], q))
    return data


def run_pair(name, dtype, shapes, nb=1, steps=STEPS, seed=0, every=1, hp=None):
    opt = optimizers.make(name, **(HP[name] if hp is None else hp))
    rng = np.random.default_rng(seed + 1000)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ref_params = [p.copy() for p in params]
    ref = make_ref(name, opt.hyperparameters, shapes, dtype)
    state = opt.init(params)
    hvp = spd_hvp(shapes, seed) if opt.needs_hvp else None
    tol = TOL[dtype]
    for step, (g, c, q) in enumerate(make_data(name, dtype, shapes, nb, steps, seed)):
        kw = {}
        if opt.needs_curvature:
            kw["curvature"] = c
        if opt.uses_grad_sq and q is not None:
            kw["grad_sq"] = q
        opt.step(params, g, state, hvp=hvp, batch_size=nb, **kw)
        ref_params = ref.step(ref_params, g, curv=c, gsq=q, hvp=hvp, nb=nb)
        if step % every == 0 or step == steps - 1:
            for k, (a, b) in enumerate(zip(params, ref_params)):
                scale = float(np.max(np.abs(b))) or 1.0
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale,
                                           err_msg=f"{name} {np.dtype(dtype)} step {step + 1} array {k}")
    return opt, params, state, ref


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", optimizers.names())
def test_matches_reference(name, dtype):
    opt, params, state, ref = run_pair(name, dtype, SHAPES)
    assert state.t == STEPS
    if name == "vsgd-l":
        np.testing.assert_allclose(np.concatenate([a.ravel() for a in opt.learning_rates(state)]),
                                   np.concatenate([a.ravel() for a in ref.eta]), rtol=TOL[dtype])
    if name in ("vsgd-b", "vsgd-g"):
        lr = opt.learning_rates(state)
        np.testing.assert_allclose([a.flat[0] for a in lr][: len(ref.eta)], ref.eta, rtol=TOL[dtype])


@pytest.mark.parametrize("name", [n for n in optimizers.names() if optimizers.get(n).uses_grad_sq])
def test_vsgd_minibatch_matches_reference(name):
    run_pair(name, np.float64, SHAPES[:3], nb=4, steps=60)


def test_parameters_actually_move():
    """Guards the reference test against a silent no-op: every method changes x."""
    for name in optimizers.names():
        opt = optimizers.make(name, **HP[name])
        rng = np.random.default_rng(3)
        p = [rng.standard_normal((4, 3))]
        p0 = [a.copy() for a in p]
        s = opt.init(p)
        for _ in range(8):
            opt.step(p, [rng.standard_normal((4, 3)) + 1.0], s, curvature=[np.ones((4, 3))],
                     hvp=lambda v: [2.0 * a for a in v])
        assert np.all(p[0] != p0[0]), name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", optimizers.names())
def test_flat_kernel_equals_list_api(name, dtype):
    """step_flat on one buffer with offsets = the list API on the separate arrays."""
    shapes = SHAPES
    opt = optimizers.make(name, **HP[name])
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.concatenate([p.ravel() for p in params])
    st, sc = opt.init_flat(flat.size, offsets, dtype)
    state = opt.init(params)
    hvp = spd_hvp(shapes, 1)
    empty = np.zeros(0, dtype)
    for t, (g, c, q) in enumerate(make_data(name, dtype, shapes, 1, 30, 9), start=1):
        opt.step(params, g, state, curvature=c, hvp=hvp)
        gf = np.concatenate([a.ravel() for a in g])
        cf = np.concatenate([a.ravel() for a in c]) if opt.needs_curvature else empty
        hf = empty
        if opt.needs_hvp:
            vs = [st[opt.V_SLOT, offsets[k]:offsets[k + 1]].reshape(s) for k, s in enumerate(shapes)]
            hf = np.concatenate([a.ravel() for a in hvp(vs)])
        # opt.hyper: vSGD's C=None is 0.0 there, and the kernel resolves d/10 from len(x)
        opt.step_flat(flat, gf, cf, empty, hf, st, sc, offsets, opt.hyper, t, 1)
    got = np.concatenate([p.ravel() for p in params])
    if optimizers.get(name).global_:
        # one reduction over the buffer vs per-array reductions: summation order differs
        tol = TOL[dtype]
        np.testing.assert_allclose(flat, got, rtol=tol, atol=tol * np.max(np.abs(got)))
    else:
        assert flat.tobytes() == got.tobytes()      # same arithmetic, bit for bit


@pytest.mark.parametrize("name", optimizers.names())
def test_bit_identical_reruns(name):
    outs = []
    for _ in range(2):
        _, params, _, _ = run_pair(name, np.float32, SHAPES, steps=20, every=100)
        outs.append(np.concatenate([p.ravel() for p in params]))
    assert outs[0].tobytes() == outs[1].tobytes()


def test_adadelta_hand_checked_first_step():
    opt = optimizers.AdaDelta(rho=0.95, eps=1e-6)
    p = [np.zeros(3)]
    s = opt.init(p)
    opt.step(p, [np.ones(3)], s)
    expected = -np.sqrt(1e-6) / np.sqrt(0.05 + 1e-6)
    np.testing.assert_allclose(p[0], expected, rtol=1e-14)
    # second step, by hand from Algorithm 1
    Eg = 0.95 * 0.05 + 0.05 * 1.0
    Edx = 0.05 * expected ** 2
    second = expected - np.sqrt(Edx + 1e-6) / np.sqrt(Eg + 1e-6)
    opt.step(p, [np.ones(3)], s)
    np.testing.assert_allclose(p[0], second, rtol=1e-14)


def test_sgd_schedule_and_vsgd_slow_start_by_hand():
    opt = optimizers.SGD(eta0=0.5, gamma=1.0)
    p = [np.zeros(1)]
    s = opt.init(p)
    for _ in range(3):
        opt.step(p, [np.ones(1)], s)
    np.testing.assert_allclose(p[0], -(0.5 + 0.25 + 0.5 / 3), rtol=1e-15)
    # vSGD-l, n0 = 2, C = 4, the paper's text (h not overestimated): no move during slow
    # start, then g=1.5, v=4*2.5, h=1, tau=2
    opt = optimizers.make("vsgd-l", n0=2, C=4.0, C_h=1.0)
    p = [np.zeros(1)]
    s = opt.init(p)
    for g in (1.0, 2.0):
        opt.step(p, [np.array([g])], s, curvature=[np.ones(1)])
        assert p[0][0] == 0.0
    np.testing.assert_allclose([a[0] for a in s.st[0][:4]], [1.5, 10.0, 1.0, 2.0])
    opt.step(p, [np.array([3.0])], s, curvature=[np.ones(1)])
    g, v = 0.5 * 1.5 + 0.5 * 3.0, 0.5 * 10.0 + 0.5 * 9.0
    eta = g * g / v
    np.testing.assert_allclose(p[0][0], -eta * 3.0, rtol=1e-15)
    np.testing.assert_allclose(s.st[0][3, 0], (1 - g * g / v) * 2.0 + 1.0, rtol=1e-15)


def test_vsgd_default_C_is_d_over_10():
    opt = optimizers.make("vsgd-g", n0=1)
    shapes = [(20,), (30,)]
    s = opt.init([np.zeros(s) for s in shapes])
    assert s.hyper.C == 5.0
    p = [np.zeros(s_) for s_ in shapes]
    opt.step(p, [np.ones(20), np.ones(30)], s, curvature=[np.ones(20), np.ones(30)])
    assert s.sc[0, 1] == 5.0 * 50.0   # l = C * sum g^2


# ------------------------------------------------------------------------------- torch

def _torch_run(name, hp, tcls, tkw, steps=200, shapes=((6, 5), (11,)), seed=0):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in shapes]
    tparams = [torch.tensor(p.copy(), dtype=torch.float64, requires_grad=True) for p in params]
    topt = tcls(tparams, **tkw)
    opt = optimizers.make(name, **hp)
    state = opt.init(params)
    for _ in range(steps):
        grads = [rng.standard_normal(s) + 0.3 for s in shapes]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g)
        topt.step()
        opt.step(params, grads, state)
    return params, [tp.detach().numpy() for tp in tparams]


TORCH_CASES = {
    "momentum": (dict(lr=0.01, rho=0.9), "SGD", dict(lr=0.01, momentum=0.9), 1e-10),
    "adagrad": (dict(lr=0.1, eps=1e-10), "Adagrad", dict(lr=0.1, eps=1e-10), 1e-10),
    # torch puts eps outside the root, we inside (ADADELTA Eq. 9): a tiny eps on both
    # sides makes the placement difference far below the tolerance.
    "rmsprop": (dict(lr=0.01, rho=0.9, eps=1e-30), "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-30), 1e-10),
    "adadelta": (dict(rho=0.95, eps=1e-6, lr=1.0), "Adadelta", dict(lr=1.0, rho=0.95, eps=1e-6), 1e-10),
    "adadelta-lr": (dict(rho=0.9, eps=1e-6, lr=0.5), "Adadelta", dict(lr=0.5, rho=0.9, eps=1e-6), 1e-10),
    "adam": (dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8), "Adam",
             dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8), 1e-10),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_matches_torch_step_for_step(case):
    torch = pytest.importorskip("torch")
    hp, tname, tkw, tol = TORCH_CASES[case]
    name = case.split("-")[0]
    ours, theirs = _torch_run(name, hp, getattr(torch.optim, tname), tkw)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.max(np.abs(b)))


@pytest.mark.parametrize("name", optimizers.names())
def test_large_arrays_parallel_path_matches_reference(name):
    """Arrays of >= PARALLEL_MIN elements take the prange kernels in the list API."""
    from adaptlr.optimizers.elementwise import PARALLEL_MIN

    shapes = [(300, 220), (5,)]
    assert 300 * 220 >= PARALLEL_MIN
    run_pair(name, np.float64, shapes, steps=12, every=4)


@pytest.mark.parametrize("C_h", [None, 1.0])
@pytest.mark.parametrize("C", [None, 2.5])
@pytest.mark.parametrize("name", ["vsgd-l", "vsgd-b", "vsgd-g"])
def test_vsgd_both_slow_start_forms_match_the_reference(name, C, C_h):
    """Zhang's Torch code (h * C: C_h None) and the paper's text (C_h = 1), C automatic or set."""
    opt, *_ = run_pair(name, np.float64, [(7, 3), (4,)], hp=dict(HP[name], C=C, C_h=C_h))
    assert opt.hyperparameters["C_h"] == C_h


@pytest.mark.parametrize("C_h", [None, 1.0])
@pytest.mark.parametrize("name", ["vsgd-l", "vsgd-b", "vsgd-g"])
def test_vsgd_slow_start_overestimates_h_by_C_as_the_torch_code(name, C_h):
    """Hand check with n0 = 1, C = 2, one element, gradients 1 then 3, curvature 2 both
    times. End of step 1: g = 1, v = C * 1 = 2, h = C * 2 = 4 (C_h = C) or 2 (C_h = 1),
    tau = 2. Step 2: g = 2, v = (2 + 9)/2 = 5.5, h = (4 + 2)/2 = 3 or 2, r = 4/5.5,
    eta = r/h, x = -3 eta: -8/11 (C_h = C) or -12/11."""
    opt = optimizers.make(name, n0=1, C=2.0, C_h=C_h)
    x = [np.zeros(1)]
    st = opt.init(x)
    for gval in (1.0, 3.0):
        opt.step(x, [np.full(1, gval)], st, curvature=[np.full(1, 2.0)])
    np.testing.assert_allclose(x[0], [-8.0 / 11.0 if C_h is None else -12.0 / 11.0], rtol=1e-14)


@pytest.mark.parametrize("name", ["vsgd-l", "vsgd-b", "vsgd-g"])
def test_vsgd_default_overestimates_h_like_v_as_the_torch_code(name):
    opt = optimizers.make(name, n0=1)
    assert opt.hyperparameters["C_h"] is None and opt.hyper.C_h == 0.0
    shapes = [(20,), (30,)]                      # d = 50, C = d/10 = 5
    x = [np.zeros(s) for s in shapes]
    st = opt.init(x)
    opt.step(x, [np.ones(20), np.ones(30)], st, curvature=[np.full(20, 2.0), np.full(30, 2.0)])
    h = st.slot("h")
    np.testing.assert_array_equal(np.concatenate([a.ravel() for a in h]), 10.0)   # C * 2


@pytest.mark.parametrize("name", ["vsgd-l", "vsgd-b", "vsgd-g"])
def test_vsgd_memory_after_slow_start_is_the_authors_tau0_2(name):
    """Hand check of the slow start's end (the authors' code: tau = 2, so the first average
    after it weighs the new sample 1/2): n0 = 1, C = 1, one element, gradients 1 then 3,
    curvature 2 both times. Step 2: g = (1 + 3)/2 = 2, v = (1 + 9)/2 = 5, h = 2,
    eta = g^2 / (h v) = 0.4, x = 0 - 0.4 * 3; tau <- (1 - 4/5) * 2 + 1 = 1.4."""
    opt = optimizers.make(name, n0=1, C=1.0)
    assert opt.hyperparameters["tau0"] == 2.0
    x = [np.zeros(1)]
    st = opt.init(x)
    for gval in (1.0, 3.0):
        opt.step(x, [np.full(1, gval)], st, curvature=[np.full(1, 2.0)])
    np.testing.assert_allclose(x[0], [-1.2], rtol=1e-14)
