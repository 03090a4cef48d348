"""Noisy quadratic problems (vSGD Eq. 2-6, Fig. 2): statistics, oracle rates, jumps, seeds.

Oracles: the paper's equations re-typed here in plain NumPy (no library code), hand-computed
cases, and a brute-force minimisation of the expected next loss (Sec. 3.1) over a grid of rates.
"""
from __future__ import annotations

import numpy as np
import pytest

from adaptlr.data import quadratic as q


# -------------------------------------------------------------- references from the paper
def ref_J(h, sigma, theta, theta_star):                       # Eq. 2
    return 0.5 * np.sum(h * ((theta - theta_star) ** 2 + sigma ** 2), axis=-1)


def ref_next_J(h, sigma, theta, theta_star, eta):             # Sec. 3.1, after Eq. 4
    dl = theta - theta_star
    return 0.5 * np.sum(h * ((1 - eta * h) ** 2 * dl ** 2 + eta ** 2 * h ** 2 * sigma ** 2 + sigma ** 2), axis=-1)


# -------------------------------------------------------------- Eq. 3: gradient statistics
def test_gradient_mean_and_variance_match_eq3():
    """Mean h(θ-θ*) and variance h²σ², per dimension, within 5 standard errors.

    With n samples the standard error of the mean is hσ/√n and that of the sample variance is
    h²σ²·√(2/(n-1)) (Gaussian), so a 5-SE tolerance fails with probability < 1e-6 per check;
    the seed is fixed, so the test is deterministic.
    """
    h = np.array([0.5, 1.0, 10.0])
    sigma = np.array([2.0, 0.3, 1.0])
    ts = np.array([1.0, -2.0, 0.5])
    p = q.make_quadratic(h=h, sigma=sigma, theta_star=ts)
    theta = np.array([3.0, -2.5, 0.5])
    n = 200_000
    s = q.SampleStream(p, runs=n, seed=123)
    g, ts_t = s.gradient(np.broadcast_to(theta, (n, 3)))
    assert g.shape == (n, 3)
    np.testing.assert_array_equal(ts_t, ts)
    mean, var = g.mean(axis=0), g.var(axis=0, ddof=1)
    se_mean = h * sigma / np.sqrt(n)
    se_var = h ** 2 * sigma ** 2 * np.sqrt(2 / (n - 1))
    assert np.all(np.abs(mean - h * (theta - ts)) < 5 * se_mean), (mean, h * (theta - ts))
    assert np.all(np.abs(var - h ** 2 * sigma ** 2) < 5 * se_var), (var, h ** 2 * sigma ** 2)
    # the test can fail: a wrong variance (h σ² instead of h² σ²) is far outside the tolerance
    assert np.abs(var[0] - h[0] * sigma[0] ** 2) > 5 * se_var[0]
    # per_sample_gradient is exactly h * (theta - c)
    c = np.array([[0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(q.per_sample_gradient(p, theta, c), h * (theta - c))


def test_expected_loss_and_minimum_match_eq2():
    p = q.make_quadratic(h=[1.0, 4.0], sigma=[1.0, 0.5], theta_star=[0.0, 1.0])
    theta = np.array([[2.0, 1.0], [0.0, 3.0]])
    # hand: run 0: 0.5*(1*(4+1) + 4*(0+0.25)) = 3.0 ; run 1: 0.5*(1*(0+1) + 4*(4+0.25)) = 9.0
    np.testing.assert_allclose(q.expected_loss(p, theta), [3.0, 9.0])
    np.testing.assert_allclose(q.expected_loss(p, theta), ref_J(p.h, p.sigma, theta, p.theta_star))
    assert q.minimum_loss(p) == pytest.approx(0.5 * (1 + 4 * 0.25))


def test_one_sgd_step_expected_loss_matches_section_3_1():
    """Monte-Carlo mean of J after one SGD step (Eq. 4) vs the closed form, 5 SE tolerance."""
    p = q.make_quadratic(h=[1.0, 3.0], sigma=[1.0, 0.5], theta_star=[0.5, -1.0])
    theta0 = np.array([2.0, 0.0])
    eta = 0.3
    n = 100_000
    r = q.run_sgd(p, eta, 1, theta0, runs=n, seed=5)
    J1 = r.loss[1]
    want = ref_next_J(p.h, p.sigma, theta0, p.theta_star, eta)
    assert abs(J1.mean() - want) < 5 * J1.std(ddof=1) / np.sqrt(n)
    assert r.loss[0] == pytest.approx(ref_J(p.h, p.sigma, theta0, p.theta_star))
    np.testing.assert_array_equal(r.rates, np.full((1, n, 2), eta))


# -------------------------------------------------------------- Eq. 5 and 6: oracle rates
def test_oracle_local_rate_hand_computed_eq5():
    p = q.make_quadratic(h=[2.0, 1.0, 4.0, 1.0], sigma=[1.0, 0.0, 3.0, 2.0], theta_star=0.0)
    theta = np.array([1.0, 5.0, 0.0, 2.0])
    # (1/h) δ²/(δ²+σ²): 1/2*1/2 = 0.25 ; noise-free: 1/h = 1 ; at optimum with noise: 0 ; 1*4/8
    np.testing.assert_allclose(q.oracle_local_rate(p, theta), [0.25, 1.0, 0.0, 0.5])
    # at the optimum of a noise-free dimension (0/0): documented as 0
    p0 = q.make_quadratic(h=2.0, sigma=0.0)
    assert q.oracle_local_rate(p0, np.array([0.0]))[0] == 0.0


def test_oracle_global_rate_hand_computed_eq6():
    p = q.make_quadratic(h=[1.0, 2.0], sigma=[0.0, 1.0], theta_star=[0.0, 1.0])
    theta = np.array([1.0, 2.0])          # δ = (1, 1)
    # Σh²δ² = 1 + 4 = 5 ; Σ h³δ² + h³σ² = (1 + 0) + (8 + 8) = 17
    assert q.oracle_global_rate(p, theta) == pytest.approx(5 / 17)
    # vectorised over runs, and equal to Eq. 5 when d = 1
    p1 = q.make_quadratic(h=3.0, sigma=0.7, theta_star=0.2)
    th = np.array([[1.0], [0.2], [-4.0]])
    np.testing.assert_allclose(q.oracle_global_rate(p1, th), q.oracle_local_rate(p1, th)[:, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oracle_rates_minimise_expected_next_loss_brute_force(seed):
    rng = np.random.default_rng(seed)
    d = 3
    h = rng.uniform(0.2, 5.0, d)
    sigma = rng.uniform(0.1, 2.0, d)
    ts = rng.normal(size=d)
    theta = ts + rng.normal(scale=2.0, size=d)
    p = q.make_quadratic(h=h, sigma=sigma, theta_star=ts)
    grid = np.linspace(0.0, 2.0 / h.min(), 200_001)
    # global: one rate for all dimensions
    vals = ref_next_J(h, sigma, theta, ts, grid[:, None])
    best = grid[np.argmin(vals)]
    assert q.oracle_global_rate(p, theta) == pytest.approx(best, abs=2 * (grid[1] - grid[0]))
    # local: each dimension separately (the loss is separable)
    loc = q.oracle_local_rate(p, theta)
    for i in range(d):
        vi = 0.5 * h[i] * ((1 - grid * h[i]) ** 2 * (theta[i] - ts[i]) ** 2
                           + grid ** 2 * h[i] ** 2 * sigma[i] ** 2 + sigma[i] ** 2)
        assert loc[i] == pytest.approx(grid[np.argmin(vi)], abs=2 * (grid[1] - grid[0]))
    # and the library's closed form of the expected next loss agrees with the reference
    assert q.expected_next_loss(p, theta, loc) == pytest.approx(ref_next_J(h, sigma, theta, ts, loc))


def test_oracle_run_uses_eq5_and_beats_fixed_rates():
    p, theta0 = q.supplement_fig1_problem()
    T, R = 200, 500
    orc = q.run_sgd(p, "oracle", T, theta0, runs=R, seed=0, record_theta=True)
    # recorded rates are Eq. 5 at the recorded parameters
    for t in (0, 1, 50, T - 1):
        dl = orc.theta[t] - orc.theta_star[t]
        want = (1 / p.h) * dl ** 2 / (dl ** 2 + p.sigma ** 2)
        np.testing.assert_allclose(orc.rates[t], want, rtol=1e-12)
    glob = q.run_sgd(p, "oracle-global", T, theta0, runs=R, seed=0)
    np.testing.assert_allclose(glob.loss, orc.loss, rtol=1e-12)       # d = 1: same rule
    for eta in (1.0, 0.2):
        fixed = q.run_sgd(p, eta, T, theta0, runs=R, seed=0)
        assert np.median(orc.loss[-1]) < np.median(fixed.loss[-1])
    # the oracle's rate decays towards 0 near the optimum (annealing without a schedule)
    assert np.median(orc.rates[-1]) < 0.05 < np.median(orc.rates[0])


def test_schedules_and_rate_validation():
    np.testing.assert_allclose(q.inverse_t_rates(0.2, 4), [0.2, 0.1, 0.2 / 3, 0.05])
    # η0/(1+γt), t = 0.. as inverse_t_rates(η0/γ, T, 1/γ - 1)
    eta0, gamma = 0.5, 0.25
    np.testing.assert_allclose(q.inverse_t_rates(eta0 / gamma, 5, 1 / gamma - 1),
                               eta0 / (1 + gamma * np.arange(5)))
    p = q.make_quadratic(h=[1.0, 2.0], sigma=1.0)
    r = q.run_sgd(p, np.array([[0.1, 0.2], [0.3, 0.4]]), 2, 0.0, runs=3, seed=0)
    np.testing.assert_array_equal(r.rates[1], [[0.3, 0.4]] * 3)
    with pytest.raises(ValueError, match="rates='vsgd' is not allowed"):
        q.run_sgd(p, "vsgd", 2, 0.0)
    with pytest.raises(ValueError, match=r"rates of shape \(3,\) do not fit steps=2"):
        q.run_sgd(p, np.ones(3), 2, 0.0)
    with pytest.raises(ValueError, match="h=.*curvatures must be > 0"):
        q.make_quadratic(h=[1.0, 0.0])
    with pytest.raises(ValueError, match="sigma=-1.0"):
        q.make_quadratic(sigma=-1.0)
    with pytest.raises(ValueError, match="jump_every=2.5"):
        q.make_quadratic(jump_every=2.5)
    with pytest.raises(ValueError, match="seed=None must be a non-negative int"):
        q.SampleStream(p, 2, seed=None)
    with pytest.raises(ValueError, match="h has 2 entries, expected 1 or d=3"):
        q.make_quadratic(h=[1, 2], sigma=[1, 2, 3])


# -------------------------------------------------------------- non-stationary (Fig. 2)
def test_optimum_jumps_every_300_steps_only():
    p, theta0 = q.nonstationary_fig2_problem()
    assert p.jump_every == 300
    T = 1000
    r = q.run_sgd(p, "oracle", T, theta0, runs=50, seed=7)
    ts = r.theta_star[:, 0]
    changes = np.flatnonzero(np.diff(ts) != 0) + 1
    np.testing.assert_array_equal(changes, [300, 600, 900])
    # new optima: theta_star + jump_scale * z, deterministic from the seed, independent of runs
    s = q.SampleStream(p, runs=1, seed=7)
    np.testing.assert_array_equal(r.theta_star[[0, 300, 600, 900, 1000]],
                                  [s.optimum(t) for t in (0, 300, 600, 900, 999)])
    z = np.random.default_rng(np.random.SeedSequence(7).spawn(2)[0]).standard_normal(3)
    np.testing.assert_allclose(ts[[300, 600, 900]], p.theta_star[0] + p.jump_scale[0] * z)
    # the oracle's loss jumps up at each change and its rate grows again (Fig. 2)
    med = np.median(r.loss, axis=1)
    rate = np.median(r.rates[:, :, 0], axis=1)
    for k in (300, 600, 900):
        assert med[k] > 5 * med[k - 1]
        assert rate[k] > 10 * rate[k - 1]
    # stationary problems never move
    st = q.run_sgd(q.make_quadratic(), 0.1, 700, 1.0, runs=2, seed=7)
    assert np.all(st.theta_star == 0.0)


def test_same_seed_same_draws_different_seed_different():
    p = q.make_quadratic(h=[1.0, 2.0], sigma=[1.0, 0.5], jump_every=3, jump_scale=2.0)
    a = q.run_sgd(p, 0.3, 10, 1.0, runs=4, seed=11)
    b = q.run_sgd(p, 0.3, 10, 1.0, runs=4, seed=11)
    c = q.run_sgd(p, 0.3, 10, 1.0, runs=4, seed=12)
    for x, y in zip(a, b):
        assert x is None and y is None or np.array_equal(x, y)      # bit-identical
    assert not np.array_equal(a.loss, c.loss)
    # the sample stream does not depend on the optimizer: oracle and SGD see the same c_t
    s1, s2 = q.SampleStream(p, 4, 11), q.SampleStream(p, 4, 11)
    for _ in range(7):
        t1, c1 = s1.next()
        t2, c2 = s2.next()
        assert np.array_equal(c1, c2) and np.array_equal(t1, t2)
    # SeedSequence seeds are accepted; the optimum sequence does not depend on the run count
    s3 = q.SampleStream(p, 100, np.random.SeedSequence(11))
    assert np.array_equal(s3.optimum(9), q.SampleStream(p, 1, 11).optimum(9))


def test_stream_feeds_an_external_elementwise_optimizer():
    """The pattern the studies use for vSGD: flatten (R, d) into one parameter vector."""
    p = q.make_quadratic(h=[1.0, 10.0], sigma=1.0)
    R, d = 8, 2
    s = q.SampleStream(p, R, seed=3)
    theta = np.full((R, d), 5.0)
    flat = theta.reshape(-1)
    for _ in range(50):
        g, _ = s.gradient(flat.reshape(R, d))
        gf = g.reshape(-1)
        curv = np.broadcast_to(p.h, (R, d)).reshape(-1)
        flat -= 0.5 * gf / curv                 # a preconditioned fixed-rate update
    # same as run_sgd with the per-dimension schedule 0.5 / h
    r = q.run_sgd(p, np.tile(0.5 / p.h, (50, 1)), 50, 5.0, runs=R, seed=3)
    np.testing.assert_allclose(flat.reshape(R, d), r.final_theta, rtol=1e-12)
