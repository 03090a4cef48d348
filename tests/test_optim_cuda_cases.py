"""CUDA twins against the CPU kernels. Runs under NUMBA_ENABLE_CUDASIM=1 (started by
tests/test_optim_cuda.py in a subprocess) or on a real GPU; skipped otherwise.

Tiny grids (threads=4, blocks=2 or 3) make every thread walk several grid-stride
iterations, so the loop tails are exercised.
"""
from __future__ import annotations

import numpy as np
import pytest

import cuda_gate
from adaptlr import optimizers, targets

pytestmark = cuda_gate.require("tests/test_optim_cuda.py")

from numba import cuda  # noqa: E402  (after the gate)

from adaptlr.optimizers import NonFiniteGradientError  # noqa: E402

SIM = targets.CUDA_SIMULATOR
SHAPES = [(5, 3), (17,)] if SIM else [(50, 30), (1700,), (4099,)]
STEPS = 6 if SIM else 40
HP = {"vsgd-l": dict(n0=2), "vsgd-b": dict(n0=2), "vsgd-g": dict(n0=2, C=3.0),
      "smd": dict(eta0=0.05, mu=0.1, tau=5.0), "almeida": dict(tau=5.0), "amari": dict(tau=5.0)}
LAUNCH = dict(threads=4, blocks=2) if SIM else dict(threads=64, blocks=3)
TOL = {np.float64: 1e-10, np.float32: 2e-5}


def host(a):
    return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)


def data(opt, shapes, dtype, rng, dev):
    g = [rng.standard_normal(s).astype(dtype) + 0.3 for s in shapes]
    kw_h, kw_d = {}, {}
    if opt.needs_curvature:
        c = [rng.uniform(0.1, 2.0, s).astype(dtype) for s in shapes]
        kw_h["curvature"], kw_d["curvature"] = c, [dev(a) for a in c]
    if opt.needs_hvp:
        kw_h["hvp"] = lambda vs: [(1.5 * v).astype(v.dtype) for v in vs]
        kw_d["hvp"] = lambda vs: [dev((1.5 * host(v)).astype(dtype)) for v in vs]
    return g, [dev(a) for a in g], kw_h, kw_d


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", optimizers.names())
def test_cuda_list_api_equals_cpu(name, dtype):
    opt = optimizers.make(name, **HP.get(name, {}))
    rng = np.random.default_rng(0)
    p = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ph = [a.copy() for a in p]
    pd = [cuda.to_device(a) for a in p]
    sh, sd = opt.init(ph), opt.init(pd)
    assert sd.device == "cuda" and hasattr(sd.st[0], "copy_to_host")
    for _ in range(STEPS):
        g, gd, kw_h, kw_d = data(opt, SHAPES, dtype, rng, cuda.to_device)
        opt.step(ph, g, sh, **kw_h)
        opt.step(pd, gd, sd, _launch=LAUNCH, **kw_d)
    tol = TOL[dtype]
    for a, b in zip(pd, ph):
        np.testing.assert_allclose(host(a), b, rtol=tol, atol=tol * np.max(np.abs(b)))
    for a, b in zip(sd.st, sh.st):
        if b.size == 0:
            continue
        np.testing.assert_allclose(host(a), b, rtol=tol, atol=tol * max(1.0, np.max(np.abs(b))))
    if sh.sc.size:
        np.testing.assert_allclose(host(sd.sc), sh.sc, rtol=tol)


@pytest.mark.parametrize("name", optimizers.names())
def test_step_cuda_flat_equals_step_flat(name):
    """The raw launcher (uniform signature) against step_flat, several blocks."""
    opt = optimizers.make(name, **HP.get(name, {}))
    dtype = np.float64
    sizes = [int(np.prod(s)) for s in SHAPES] + [7]
    n = sum(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n)
    st, sc = opt.init_flat(n, offsets, dtype)
    xd, std, scd, offd = (cuda.to_device(a) for a in (x, st, sc, offsets))
    empty = np.zeros(0)
    empty_d = cuda.device_array(0, dtype=np.float64)
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(n) + 0.3
        c = rng.uniform(0.1, 2.0, n) if opt.needs_curvature else empty
        hv = 1.5 * st[opt.V_SLOT] if opt.needs_hvp else empty
        hvd = cuda.to_device(1.5 * host(std)[opt.V_SLOT]) if opt.needs_hvp else empty_d
        opt.step_flat(x, g, c, empty, hv, st, sc, offsets, opt.hyper, t, 1)
        opt.step_cuda(xd, cuda.to_device(g), cuda.to_device(c) if c.size else empty_d, empty_d, hvd,
                      std, scd, offd, opt.hyper, t, 1, **LAUNCH)
    np.testing.assert_allclose(host(xd), x, rtol=1e-10, atol=1e-10 * np.max(np.abs(x)))


def test_mixed_host_device_and_nonfinite_on_device():
    opt = optimizers.make("adadelta")
    p = [cuda.to_device(np.zeros(4)), cuda.to_device(np.zeros(3))]
    s = opt.init(p)
    with pytest.raises(ValueError, match=r"grads\[1\] is on the cpu but params is on the cuda"):
        opt.step(p, [cuda.to_device(np.ones(4)), np.ones(3)], s)
    with pytest.raises(ValueError, match=r"params\[1\] is on the cpu but params\[0\] is on the cuda"):
        opt.init([cuda.to_device(np.zeros(4)), np.zeros(3)])
    with pytest.raises(ValueError, match="params are on the cpu but the state lives on the cuda"):
        opt.step([np.zeros(4), np.zeros(3)], [np.ones(4), np.ones(3)], s)
    opt.step(p, [cuda.to_device(np.ones(4)), cuda.to_device(np.ones(3))], s)
    before = [host(a).tobytes() for a in p] + [host(a).tobytes() for a in s.st]
    bad = np.ones(3)
    bad[2] = np.nan
    with pytest.raises(NonFiniteGradientError, match=r"grads\[1\]"):
        opt.step(p, [cuda.to_device(np.ones(4)), cuda.to_device(bad)], s)
    assert [host(a).tobytes() for a in p] + [host(a).tobytes() for a in s.st] == before
    assert s.t == 1


def test_storage_arithmetic_is_refused_on_device_before_anything():
    """``arithmetic="storage"`` has no CUDA twin: opt.step on device arrays and step_cuda
    raise a ValueError naming it, and nothing changes."""
    opt = optimizers.make("adadelta", arithmetic="storage")
    x0 = np.linspace(-1, 1, 17).astype(np.float32)
    x = [cuda.to_device(x0)]
    state = opt.init(x)
    with pytest.raises(ValueError, match="arithmetic='storage'.*allowed there: 'float64'"):
        opt.step(x, [cuda.to_device(np.ones(17, np.float32))], state)
    assert host(x[0]).tobytes() == x0.tobytes() and state.t == 0
    with pytest.raises(ValueError, match="arithmetic='storage'"):
        opt.step_cuda
