"""vsgd-quadratic-1d (vSGD supplement Fig. 1): quick form end to end, the vectorised vSGD-l
driver against an independent NumPy vSGD-l written from Algorithm 1, and analytic checks.

Runtime: a few seconds once the vsgd-l kernel is in Numba's cache (first compile ~30 s).
"""
from __future__ import annotations

import numpy as np
import pytest

from studies import store
from studies.combine import add_summaries, combine
from studies.expand import code_version, expand, keyed
from studies.runner import execute

import studies.vsgd_noisy_quadratic as Q
import studies.vsgd_quadratic_1d as M


def run_quick(study, out, only=None):
    """Every trial of the quick form through the engine's execute/store/combine (no Dask).

    ``only``: restrict to these optimizers (the MLP studies' tests do, to keep the Numba
    compile time of one training-loop specialisation per optimizer within the test budget).
    """
    st = study.resolved(True)
    if only:
        st = st.restricted(only=only)
    out = store.ensure_writable(out)
    code = code_version()
    for key, spec in keyed(expand(st, quick=True), code):
        store.write_trial(out, execute(st.trial, key, spec, code))
    # combine with the *same* code version: the source tree may change while trials run
    ds = combine(st, out, quick=True, device="cpu", code=code)
    return add_summaries(ds, st, test="wilcoxon", alpha=0.01, correction=None)


# --------------------------------------------------------------------- reference
def vsgd_l_reference(grads, h, n0, C):
    """vSGD-l of one run, plain NumPy/Python, from the paper (Algorithm 1, Sec. 4.4).

    ``grads(theta, t)`` returns the per-sample gradient (d,) at step t. Slow start: the
    first n0 samples are averaged (g; v is C times the mean of grad^2 and h C times the mean
    curvature, as Zhang's Torch d-vsgd; the paper's text scales v only), no update, tau =
    2 (the authors' code; the paper is silent). Then per step: EMAs with 1/tau, eta = g^2 / (h v), tau <- (1 - g^2/v) tau + 1
    (kept >= 1), theta <- theta - eta * grad. Returns the rates applied per step.
    """
    def run(theta0, steps):
        theta = np.array(theta0, dtype=np.float64)
        d = theta.shape[0]
        sg, sv, sh = np.zeros(d), np.zeros(d), np.zeros(d)
        g = v = hh = tau = None
        rates = np.zeros((steps, d))
        path = [theta.copy()]
        for t in range(1, steps + 1):
            grad = grads(theta, t)
            if t <= n0:
                sg += grad
                sv += grad * grad
                sh += h
                if t == n0:
                    g, v, hh = sg / n0, C * sv / n0, C * sh / n0
                    tau = np.full(d, 2.0)
            else:
                a = 1.0 / tau
                g = (1 - a) * g + a * grad
                v = (1 - a) * v + a * grad * grad
                hh = (1 - a) * hh + a * h
                r = g * g / v
                eta = r / hh
                tau = np.maximum(1.0, (1 - r) * tau + 1)
                theta = theta - eta * grad
                rates[t - 1] = eta
            path.append(theta.copy())
        return np.array(path), rates
    return run


@pytest.mark.parametrize("d,C", [(1, 1.0), (2, 3.0)])
def test_flat_vectorised_vsgd_l_matches_per_run_reference(d, C):
    from adaptlr.data.quadratic import SampleStream, make_quadratic

    prob = make_quadratic(h=[1.0, 10.0][:d], sigma=[1.0, 0.5][:d], theta_star=0.0)
    runs, steps, n0, seed = 3, 40, 5, 7
    theta0 = np.array([4.0, -3.0][:d])
    loss, rates, ts, path, final = Q.run_vsgd_l(prob, theta0, steps, runs, seed, n0, C)
    # the same samples, one run at a time
    cs = []
    stream = SampleStream(prob, runs, seed)
    for _ in range(steps):
        cs.append(stream.next()[1])
    cs = np.array(cs)  # (steps, runs, d)
    for r in range(runs):
        ref = vsgd_l_reference(lambda th, t: prob.h * (th - cs[t - 1, r]), prob.h, n0, C)
        ref_path, ref_rates = ref(theta0, steps)
        np.testing.assert_allclose(rates[:, r, :], ref_rates, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(final[r], ref_path[-1], rtol=1e-12, atol=1e-15)
        if r == 0:
            np.testing.assert_allclose(path, ref_path, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(
            loss[:, r], 0.5 * np.sum(prob.h * (ref_path ** 2 + prob.sigma ** 2), axis=1),
            rtol=1e-12)


def _spec(opt, hyper, steps, runs, seed=0):
    return {"problem_params": M.STUDY.problems["quadratic-1d"], "optimizer": opt,
            "hyper": hyper, "params": {"steps": steps, "runs": runs}, "seed": seed}


def test_sgd_one_over_t_is_the_running_mean():
    """eta = 1/t with h = 1 makes theta_T the mean of T samples: J - J* = sigma^2 chi2_1/(2T);
    its median over runs is 0.5 * 0.45494 / T (chi2_1 median 0.45494)."""
    T, R = 50, 4000
    out = Q.trial(_spec("sgd", {"eta0": 1.0, "decay": 1}, T, R))
    excess = out["loss_median"][1][-1] - 0.5
    assert excess == pytest.approx(0.5 * 0.454936 / T, rel=0.1)


def test_literal_d_over_10_locks_the_rate_at_one():
    """C = d/10 = 0.1 < 1 underestimates v; the rate overshoots, tau collapses to 1 and the
    rate stays at 1/h (documented in the study's description)."""
    out = Q.trial(_spec("vsgd-l", {"n0": 10, "C": 0.1}, 100, 50))
    lr = out["lr_median"][1][:-1, 0]
    assert np.all(lr[:10] == 0.0)            # slow start: no step
    assert np.allclose(lr[20:], 1.0)


def test_same_seed_same_bits_and_common_samples():
    a = Q.trial(_spec("vsgd-l", {"n0": 10, "C": 1.0}, 60, 20, seed=3))
    b = Q.trial(_spec("vsgd-l", {"n0": 10, "C": 1.0}, 60, 20, seed=3))
    c = Q.trial(_spec("vsgd-l", {"n0": 10, "C": 1.0}, 60, 20, seed=4))
    assert np.array_equal(a["loss_median"][1], b["loss_median"][1])
    assert not np.array_equal(a["loss_median"][1], c["loss_median"][1])


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown method 'adam'"):
        Q.trial(_spec("adam", {}, 5, 2))


def test_quick_form_end_to_end(tmp_path):
    ds = run_quick(M.STUDY, tmp_path)
    assert set(ds["status"].values.ravel()) == {"ok"}
    assert ds.sizes["step"] == 201 and ds.sizes["seed"] == 2
    for v in ("loss_median", "lr_median", "loss_time_mean", "loss_final_median", "path"):
        assert v in ds
    med = ds["loss_final_median"].sel(problem="quadratic-1d")
    oracle = float(med.isel(setting=int(np.flatnonzero(ds.optimizer.values == "oracle")[0]))
                   .mean())
    fixed = med.isel(setting=0).mean()  # sgd eta = 1.0: stays at J* + sigma^2/2 ... = 1.0
    assert oracle < float(fixed)
    assert float(fixed) == pytest.approx(1.0, rel=0.3)   # theta = last sample: J = sigma^2
    figs = M.extra_report(ds, tmp_path / "report")
    assert [f.name for f in figs] == ["vsgd-quadratic-1d-fig1.png"]
    assert figs[0].stat().st_size > 10_000
