"""``arithmetic="storage"``: the elementwise rules computing in the arrays' own dtype.

Oracles:
* float64 arrays: bit for bit the default (float64-arithmetic) kernels, every method that
  has the option (the registry), parallel and serial kernels;
* float32 arrays: the plain-NumPy references of tests/reference/optim_ref.py (float64
  arithmetic) within float32 rounding, and bit for bit a float32 emulation written here in
  NumPy float32 scalars for AdaDelta (Zeiler 2012, Algorithm 1) and Adam (Kingma & Ba);
* the compiled float32 kernels contain no float64 arithmetic (LLVM IR) where the method has
  no per-step preparation, so no literal silently promotes a rule back to float64;
* the serial loops of both kernels are vectorised (SIMD arithmetic in the LLVM IR);
* the plain-Python path (NUMBA_DISABLE_JIT=1) agrees with the compiled one.
"""
from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from adaptlr import optimizers
from adaptlr.mlp import MLP, train
from adaptlr.optimizers.arithmetic import cast_fields
from adaptlr.optimizers.elementwise import make_cpu_kernel
from adaptlr.optimizers.registry import storage_methods
from plain_python import assert_plain_matches_compiled
from reference.optim_ref import make_ref
from test_optim_reference import HP, SHAPES, make_data, spd_hvp

STORAGE = storage_methods()
BLOCKED = [n for n in optimizers.names() if n not in STORAGE]


def test_storage_methods_are_the_elementwise_ones():
    assert set(STORAGE) == {n for n in optimizers.names() if optimizers.get(n).rule is not None}
    assert set(BLOCKED) == {"vsgd-b", "vsgd-g", "smd"}


def _run(name, dtype, shapes, arithmetic, steps, seed=0, nb=1):
    opt = optimizers.make(name, arithmetic=arithmetic, **HP[name])
    rng = np.random.default_rng(seed + 1000)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    state = opt.init(params)
    for g, c, q in make_data(name, dtype, shapes, nb, steps, seed):
        kw = {"curvature": c} if opt.needs_curvature else {}
        if opt.uses_grad_sq and q is not None:
            kw["grad_sq"] = q
        opt.step(params, g, state, batch_size=nb, **kw)
    return params, state


# arrays above and below the size where the list API switches to the parallel kernel
BIG = [(300, 300), (13,), (7, 5)]


@pytest.mark.parametrize("name", STORAGE)
def test_float64_arrays_are_the_default_bit_for_bit(name):
    a, sa = _run(name, np.float64, BIG, "float64", 40)
    b, sb = _run(name, np.float64, BIG, "storage", 40)
    for k, (x, y) in enumerate(zip(a, b)):
        assert x.tobytes() == y.tobytes(), f"{name} array {k}"
    for x, y in zip(sa.st, sb.st):
        assert x.tobytes() == y.tobytes()


def _float32_run(name, arithmetic, steps, store):
    """Parameters after ``steps`` list-API steps on float32 arrays, and the plain-NumPy
    reference on the same inputs keeping its state in ``store`` (float32: the default
    kernels' one rounding per stored value; float64: no rounding at all)."""
    opt = optimizers.make(name, arithmetic=arithmetic, **HP[name])
    rng = np.random.default_rng(1000)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ref_params = [p.astype(store) for p in params]
    ref = make_ref(name, opt.hyperparameters, SHAPES, store)
    state = opt.init(params)
    hvp = spd_hvp(SHAPES, 0) if opt.needs_hvp else None
    for g, c, q in make_data(name, np.float32, SHAPES, 1, steps, 0):
        kw = {"curvature": c} if opt.needs_curvature else {}
        opt.step(params, g, state, hvp=hvp, **kw)
        ref_params = ref.step(ref_params, [a.astype(store) for a in g],
                              curv=[a.astype(store) for a in c], gsq=q, hvp=hvp, nb=1)
    flat = lambda L: np.concatenate([np.asarray(a, np.float64).ravel() for a in L])  # noqa: E731
    return flat(params), flat(ref_params)


#: vSGD-l with the test hyperparameters amplifies rounding in some elements: after 200
#: steps the default float32 kernel (float64 arithmetic) is up to 150% away from a
#: float64-storage run in a few elements (measured 2026-12-03), so no tolerance on single
#: elements can separate float32 arithmetic from float32 storage there
CHAOTIC = {"vsgd-l"}


@pytest.mark.parametrize("name", STORAGE)
def test_float32_arrays_match_the_reference_and_differ_from_float64_arithmetic(name):
    """200 steps. Against the float64-arithmetic reference with float32 storage: within
    rtol 1e-4 (each stored value now carries a few float32 roundings, not one), except where
    the method amplifies rounding (:data:`CHAOTIC`). Against a float64-storage reference: the
    median and 90th percentile of the relative errors at most 4x those of the default
    float32 kernel (float32 arithmetic adds no more than float32 storage costs anyway).
    And not the default's bits (the arithmetic did change)."""
    steps = 200
    x, ref32 = _float32_run(name, "storage", steps, np.float32)
    if name not in CHAOTIC:
        np.testing.assert_allclose(x, ref32, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(ref32))),
                                   err_msg=name)
    x_def, ref64 = _float32_run(name, "float64", steps, np.float64)
    x, ref64b = _float32_run(name, "storage", steps, np.float64)
    assert ref64.tobytes() == ref64b.tobytes()
    den = np.maximum(np.abs(ref64), 1e-3)
    err, err_def = np.abs(x - ref64) / den, np.abs(x_def - ref64) / den
    for q in (0.5, 0.9):
        a, b = np.quantile(err, q), np.quantile(err_def, q)
        assert a <= 4 * b + 1e-7, f"{name}: quantile {q} of the error {a:.2e} against {b:.2e}"
    assert np.median(err) < 1e-5, name
    assert x.tobytes() != x_def.tobytes(), f"{name}: arithmetic='storage' gave float64's bits"


def _adadelta32(x, g, eg2, edx2, rho, eps, lr):
    f = np.float32
    rho, eps, lr, one = f(rho), f(eps), f(lr), f(1.0)
    eg2 = rho * eg2 + (one - rho) * g * g
    dx = -(np.sqrt(edx2 + eps) / np.sqrt(eg2 + eps)) * g
    edx2 = rho * edx2 + (one - rho) * dx * dx
    return x + lr * dx, eg2, edx2


def _adam32(x, g, m, v, t, lr, b1, b2, eps):
    f = np.float32
    bc1, bc2 = f(1.0 - b1 ** t), f(1.0 - b2 ** t)     # per step in float64, then rounded
    lr, b1, b2, eps, one = f(lr), f(b1), f(b2), f(eps), f(1.0)
    m = b1 * m + (one - b1) * g
    v = b2 * v + (one - b2) * g * g
    return x - lr * (m / bc1) / (np.sqrt(v / bc2) + eps), m, v


@pytest.mark.parametrize("n", [1000, 100_000])   # serial and parallel kernels
def test_float32_adadelta_and_adam_are_float32_emulations_bit_for_bit(n):
    rng = np.random.default_rng(5)
    grads = [(rng.standard_normal(n) + 0.3).astype(np.float32) for _ in range(30)]
    x0 = rng.standard_normal(n).astype(np.float32)
    hp = dict(rho=0.9, eps=1e-4, lr=0.5)
    opt = optimizers.make("adadelta", arithmetic="storage", **hp)
    x = [x0.copy()]
    st = opt.init(x)
    e = [x0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)]
    for g in grads:
        opt.step(x, [g], st)
        e = list(_adadelta32(e[0], g, e[1], e[2], **hp))
    assert x[0].tobytes() == e[0].tobytes()
    assert st.st[0].tobytes() == np.stack(e[1:]).tobytes()
    hp = dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-3)
    opt = optimizers.make("adam", arithmetic="storage", **hp)
    x = [x0.copy()]
    st = opt.init(x)
    e = [x0.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32)]
    for t, g in enumerate(grads, start=1):
        opt.step(x, [g], st)
        xe, m, v = _adam32(e[0], g, e[1], e[2], t, hp["lr"], hp["beta1"], hp["beta2"], hp["eps"])
        e = [xe, m, v]
    assert x[0].tobytes() == e[0].tobytes()
    assert st.st[0].tobytes() == np.stack(e[1:]).tobytes()


_DOUBLE_OP = re.compile(r"= (fadd|fsub|fmul|fdiv)( \w+)* double ")


def _ir_ops(pattern, fn, *args) -> list:
    """Instructions matching ``pattern`` in the LLVM IR of a fresh, uncached compilation of
    ``fn`` (its ``py_func`` when compiled: Numba cannot show the code of cached functions)."""
    k = numba.njit(error_model="numpy")(getattr(fn, "py_func", fn))
    k(*args)
    return pattern.findall("\n".join(k.inspect_llvm().values()))


def _float32_loops(name) -> tuple:
    """``((storage loop, args), (default serial kernel, args))`` of method ``name`` on 16
    float32 elements: the two loops whose machine code the tests below read."""
    m = optimizers.get(name)
    opt = optimizers.make(name, arithmetic="storage")
    n = 16
    x = np.ones(n, np.float32)
    e = np.zeros(0, np.float32)
    c = np.ones(n, np.float32) if opt.needs_curvature else e
    st, sc = opt.init_flat(n, np.array([0, n]), np.float32)
    hp = opt.hyper._replace(C=1.0) if "C" in opt.hyper._fields else opt.hyper
    hq = cast_fields(m.prepare(hp, 1) if m.prepare is not None else hp, x)
    storage = (opt.step_flat_serial.storage_loop,
               (x, np.ones(n, np.float32), c, e, e, st, hq, np.int64(1), np.float32(1)))
    default = (make_cpu_kernel(m.rule, m.n_slots, parallel=False, prepare=m.prepare),
               (x, np.ones(n, np.float32), c, e, e, st, sc, np.array([0, n]), hp, np.int64(1),
                np.int64(1)))
    return storage, default


@pytest.mark.parametrize("name", STORAGE)
def test_float32_kernels_compute_in_float32(name):
    """The storage kernel's loop (the rule inlined) has no float64 arithmetic for float32
    arrays, where the default kernel's has plenty: no literal promotes a rule back."""
    (loop, args), (default, args64) = _float32_loops(name)
    ops = _ir_ops(_DOUBLE_OP, loop, *args)
    assert not ops, f"{name}: float64 arithmetic in the float32 loop: {ops[:5]}"
    assert _ir_ops(_DOUBLE_OP, default, *args64), \
        f"{name}: the default kernel shows no float64 arithmetic (the check is blind)"


_VECTOR_OP = re.compile(r"= (fadd|fsub|fmul|fdiv)( \w+)* <\d+ x (float|double)> ")


def _prefix_sum(x):
    for i in range(1, x.shape[0]):
        x[i] += x[i - 1]


@pytest.mark.parametrize("name", STORAGE)
def test_elementwise_loops_vectorise(name):
    """The serial loops of the default and the storage kernel are vectorised by LLVM (SIMD
    arithmetic in the IR) for float32 arrays. Measured 2026-12-03: folding the loops' loads
    and stores into an inlined per-element helper (a shared ``make_update``) kept every bit
    but lost all SIMD instructions, 7-130x slower, and the other tests here did not notice.
    The check is not blind: a loop-carried dependency (a prefix sum) shows none."""
    (loop, args), (default, args64) = _float32_loops(name)
    assert _ir_ops(_VECTOR_OP, loop, *args), f"{name}: the float32 storage loop is not vectorised"
    assert _ir_ops(_VECTOR_OP, default, *args64), \
        f"{name}: the default (float64-arithmetic) loop is not vectorised"
    assert not _ir_ops(_VECTOR_OP, _prefix_sum, np.ones(16, np.float32)), "the check is blind"


def test_bad_arithmetic_values_and_methods():
    with pytest.raises(ValueError, match="arithmetic='float32'.*allowed: 'float64'.*'storage'"):
        optimizers.make("adam", arithmetic="float32")
    with pytest.raises(ValueError, match="arithmetic=None"):
        optimizers.AdaDelta(arithmetic=None)
    for name in BLOCKED:
        with pytest.raises(ValueError, match=f"not available for {name}.*allowed for: sgd"):
            optimizers.make(name, arithmetic="storage")
    from adaptlr.optimizers.registry import get, kernels
    with pytest.raises(ValueError, match="not available for smd"):
        kernels(get("smd"), "storage")


def test_spec_and_repr_name_the_arithmetic_only_when_not_default():
    assert "arithmetic" not in optimizers.make("adam").spec()
    assert optimizers.make("adam", arithmetic="storage").spec()["arithmetic"] == "storage"
    assert "arithmetic='storage'" in repr(optimizers.Adam(arithmetic="storage"))
    assert "arithmetic" not in repr(optimizers.Adam())


def test_cuda_training_refuses_storage_arithmetic_before_anything():
    net = MLP([4, 3, 2], activation="tanh", output="softmax", dtype=np.float32, seed=0)
    before = net.theta.copy()
    X = np.zeros((10, 4), np.float32)
    y = np.zeros(10, np.int64)
    with pytest.raises(ValueError, match="arithmetic='storage'.*allowed there: 'float64'"):
        train(net, optimizers.make("sgd", arithmetic="storage"), X, y, device="cuda")
    assert net.theta.tobytes() == before.tobytes()


@pytest.mark.parametrize("batch_size", [1, 20])
@pytest.mark.parametrize("name", ["adadelta", "vsgd-l"])
def test_training_with_storage_arithmetic(name, batch_size):
    """float32 network: the storage kernels train it (batch size 1 through step_flat, not the
    fused float64 online step) to nearly the default's loss, not to its bits."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    hp = {"n0": 5} if name == "vsgd-l" else {}
    res, thetas, r0 = [], [], []
    for arithmetic in ("float64", "storage"):
        net = MLP([12, 8, 2], activation="tanh", output="softmax", l2=1e-4, dtype=np.float32, seed=1)
        r = train(net, optimizers.make(name, arithmetic=arithmetic, **hp), X, y, epochs=2,
                  batch_size=batch_size, seed=3)
        assert not r.diverged
        r0.append(float(r.train_loss[0]))
        res.append(float(r.train_loss[-1]))
        thetas.append(net.theta.copy())
    if name == "vsgd-l" and batch_size == 1:
        # online vSGD-l on this toy problem follows a noisy path: over 8 seeds (2026-12-03)
        # the final loss spread 0.08-0.58 with either arithmetic (means 0.233 / 0.262), and a
        # one-ulp change of one initial weight moved it by 0.7%: no tolerance on one seed's
        # loss separates the arithmetics there, so ask only that it learned
        assert res[1] < 0.5 * r0[1]
    else:
        assert abs(res[1] - res[0]) <= 1e-3 * abs(res[0])
    assert thetas[0].tobytes() != thetas[1].tobytes()


def test_plain_python_storage_kernels_match_compiled():
    code = """
import numpy as np
from adaptlr import optimizers
rng = np.random.default_rng(0)
out = []
for name in ("adadelta", "adam", "vsgd-l", "almeida", "sgd"):
    opt = optimizers.make(name, arithmetic="storage", **({"n0": 3} if name == "vsgd-l" else {}))
    x = [rng.standard_normal(50).astype(np.float32)]
    st = opt.init(x)
    for t in range(10):
        g = [(rng.standard_normal(50) + 0.2).astype(np.float32)]
        kw = {"curvature": [np.abs(g[0]) + np.float32(0.5)]} if opt.needs_curvature else {}
        opt.step(x, g, st, **kw)
    out.append(x[0].astype(np.float64))
"""
    assert_plain_matches_compiled(code, rtol=1e-5, atol=1e-6)
