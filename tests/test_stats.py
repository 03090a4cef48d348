"""studies.stats against hand-computed scipy.stats results."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from studies.stats import holm, paired_pvalue, stats_attrs, summarize, tie_with_best


def test_summarize_t_interval_by_hand():
    x = np.array([2.0, 2.4, 1.9, 2.2, 2.1, 2.6, 2.0, 2.3, 1.8, 2.5])
    s = summarize(x)
    m = x.sum() / 10
    sd = np.sqrt(((x - m) ** 2).sum() / 9)
    half = stats.t.ppf(0.975, 9) * sd / np.sqrt(10)
    assert s["n"] == 10
    np.testing.assert_allclose([s["mean"], s["std"], s["half_width"]], [m, sd, half], rtol=1e-14)
    np.testing.assert_allclose([s["ci_low"], s["ci_high"]], [m - half, m + half], rtol=1e-14)
    # agrees with scipy's own interval
    lo, hi = stats.t.interval(0.95, 9, loc=m, scale=stats.sem(x))
    np.testing.assert_allclose([s["ci_low"], s["ci_high"]], [lo, hi], rtol=1e-12)
    # NaN is not skipped (a diverged seed makes the cell NaN)
    assert np.isnan(summarize(np.r_[x[:9], np.nan])["mean"])
    assert np.isinf(summarize(np.array([1.0]))["half_width"])


def test_paired_pvalues_are_scipys():
    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 0.1, 10)
    b = a + rng.normal(0.05, 0.05, 10)
    assert paired_pvalue(a, b, "wilcoxon") == stats.wilcoxon(a, b).pvalue
    assert paired_pvalue(a, b, "t") == stats.ttest_rel(a, b).pvalue
    assert paired_pvalue(a, a.copy(), "wilcoxon") == 1.0
    with pytest.raises(ValueError, match="unknown test 'u'"):
        paired_pvalue(a, b, "u")


def test_holm_by_hand():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    # sorted: 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1)
    expect = np.array([0.03, 0.06, 0.06, np.nan, 0.02])
    np.testing.assert_allclose(holm(p), expect, rtol=1e-12)
    assert np.all(holm([0.5, 0.9]) <= 1.0)


def _table():
    # 4 entries x 10 seeds: entry 0 best, 1 clearly worse, 2 nearly equal, 3 lowest mean
    # but one diverged seed
    rng = np.random.default_rng(1)
    base = rng.normal(2.0, 0.05, 10)
    d2 = np.array([0.03, -0.02, 0.01, -0.04, 0.05, -0.01, 0.02, -0.03, 0.04, 0.01])
    v = np.stack([base, base + 0.5 + rng.normal(0, 0.02, 10), base + d2, base - 0.3])
    v[3, 4] = np.nan
    return v


def test_tie_with_best_matches_hand_computed_wilcoxon():
    v = _table()
    r = tie_with_best(v, alpha=0.01)
    assert r.best == 0  # entry 3 has a lower mean but a diverged seed: never best
    assert list(r.eligible) == [True, True, True, False]
    p1 = stats.wilcoxon(v[1], v[0]).pvalue
    p2 = stats.wilcoxon(v[2], v[0]).pvalue
    assert r.pvalues[1] == p1 and r.pvalues[2] == p2
    assert p1 < 0.01 <= p2  # the data make the two cases distinct
    assert list(r.tied) == [True, False, True, False]


def test_tie_with_best_t_and_holm_and_maximize():
    v = _table()[:3]
    r = tie_with_best(v, test="t", correction="holm", alpha=0.05)
    p1 = stats.ttest_rel(v[1], v[0]).pvalue
    p2 = stats.ttest_rel(v[2], v[0]).pvalue
    assert p1 < p2  # so Holm multiplies p1 by 2 and p2 by 1 (then the running max)
    adj = np.array([np.nan, min(1.0, 2 * p1), max(min(1.0, 2 * p1), min(1.0, p2))])
    np.testing.assert_array_equal(r.pvalues[1:], [p1, p2])
    np.testing.assert_allclose(r.adjusted, adj, rtol=1e-12)
    assert list(r.tied) == [True, bool(adj[1] >= 0.05), bool(adj[2] >= 0.05)]
    # maximising picks the largest mean
    assert tie_with_best(v, lower_is_better=False).best == 1


def test_tie_edge_cases_and_attrs():
    r = tie_with_best(np.full((2, 3), np.nan))
    assert r.best == -1 and not r.tied.any()
    with pytest.raises(ValueError, match="alpha must be in"):
        tie_with_best(np.ones((2, 3)), alpha=1.5)
    with pytest.raises(ValueError, match="unknown correction 'bonf'"):
        tie_with_best(np.ones((2, 3)), correction="bonf")
    # with 2 seeds the smallest exact two-sided Wilcoxon p is 0.5: everything ties
    assert tie_with_best(np.array([[1.0, 1.1], [5.0, 6.0]])).tied.all()
    a = stats_attrs("wilcoxon", 0.01, "holm")
    assert a["stats_alpha"] == 0.01 and "Wilcoxon" in a["stats_test"]
    assert a["stats_correction"] == "holm" and "seed" in a["stats_pairing"]
    assert all(isinstance(x, (str, float)) for x in a.values())


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10])
def test_min_pvalue_is_what_scipy_gives_when_every_difference_has_one_sign(n):
    """The floor of the exact Wilcoxon test, checked against scipy itself; the t test can go
    as low as it likes with n >= 2."""
    from scipy import stats as st

    from studies.stats import min_pvalue

    a, b = np.arange(1.0, n + 1), np.zeros(n)
    assert min_pvalue("wilcoxon", n) == pytest.approx(st.wilcoxon(a, b).pvalue, rel=1e-12)
    assert min_pvalue("t", n) == 0.0 and min_pvalue("wilcoxon", 1) == 1.0
    with pytest.raises(ValueError, match="unknown test 'z'"):
        min_pvalue("z", n)


def test_table_caption_says_when_bold_cannot_mean_anything():
    """2 seeds, Wilcoxon at 0.01: the floor is 0.5, so the caption says bold says nothing;
    10 seeds: it does not."""
    import xarray as xr

    from studies.report import table_markdown
    from studies.spec import Table

    def ds(n):
        te = np.linspace(0.1, 0.2, 2 * n).reshape(2, n)
        te[1] += 1e-3 * np.arange(n) ** 2          # paired differences that are not constant
        te = te[None, :, :, None]
        return xr.Dataset(
            {"test_error": (("problem", "setting", "seed", "epoch"), te),
             "status": (("problem", "setting", "seed"), np.full((1, 2, n), "ok"))},
            coords={"problem": ["p"], "setting": ["a", "b"], "seed": list(range(n)),
                    "epoch": [0], "optimizer": ("setting", ["sgd", "sgd"]),
                    "lr": ("setting", [0.1, 1.0]),
                    "setting_json": ("setting", ['{"lr": 0.1}', '{"lr": 1.0}'])})

    t = Table(title="t", rows=["0.1", "1.0"], columns=["p"],
              cells={("0.1", "p"): {"optimizer": "sgd", "lr": 0.1},
                     ("1.0", "p"): {"optimizer": "sgd", "lr": 1.0}})
    assert "cannot reach p < 0.01" in table_markdown(ds(2), t)
    assert "not in this run" not in table_markdown(ds(2), t)      # the cells were found
    assert "where a cell says how many" not in table_markdown(ds(10), t)   # nothing partial
    assert "cannot reach" not in table_markdown(ds(10), t)
    assert "cannot reach" not in table_markdown(ds(2), t, test="t")


def test_a_cell_with_seeds_not_run_shows_the_finished_seeds_interval():
    """Only seeds not yet run: the finished ones get their t interval and their count
    (by hand: 3 values 0.1, 0.2, 0.3 -> mean 0.2, half-width t(0.975, 2) * 0.1 / sqrt(3),
    shown in percent);
    beside a diverged seed the rest keeps its bare mean; one finished seed has no interval."""
    import xarray as xr
    from scipy import stats as st

    from studies.report import table_markdown
    from studies.spec import Table

    te = np.array([[0.1, 0.2, 0.3, np.nan, np.nan], [0.1, 0.2, np.nan, 0.3, np.nan],
                   [0.1, np.nan, np.nan, np.nan, np.nan]])[None, :, :, None]
    status = np.array([["ok", "ok", "ok", "missing", "missing"],
                       ["ok", "ok", "diverged", "ok", "missing"],
                       ["ok", "missing", "missing", "missing", "missing"]])[None]
    ds = xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), te),
         "status": (("problem", "setting", "seed"), status)},
        coords={"problem": ["p"], "setting": ["a", "b", "c"], "seed": list(range(5)),
                "epoch": [0], "optimizer": ("setting", ["sgd"] * 3),
                "lr": ("setting", [0.1, 1.0, 2.0]),
                "setting_json": ("setting", [f'{{"lr": {x}}}' for x in (0.1, 1.0, 2.0)])})
    t = Table(title="t", rows=["0.1", "1.0", "2.0"], columns=["p"],
              cells={(r, "p"): {"optimizer": "sgd", "lr": float(r)} for r in ("0.1", "1.0", "2.0")})
    md = table_markdown(ds, t)
    half = 100 * st.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)            # the table is in percent
    assert f"| 0.1 | not run 2/5, rest 20.00 ± {half:.2f} (3 seeds) |" in md, md
    assert "| 1.0 | diverged 1/5, not run 1/5, rest 20.00 |" in md, md
    assert "| 2.0 | not run 4/5, rest 10.00 |" in md, md
    assert "where a cell says how many" in md


def _partial_ds():
    """Settings a (2 finished, 1 not run), b (a diverged seed), c (nothing run), d (all
    finished, higher); one problem, two epochs, test_error and train_error."""
    import xarray as xr

    te = np.array([[0.10, 0.20, np.nan], [0.05, np.nan, 0.05], [np.nan] * 3, [0.3, 0.3, 0.3]])
    status = np.array([["ok", "ok", "missing"], ["ok", "diverged", "ok"], ["missing"] * 3,
                       ["ok"] * 3])
    curve = np.stack([2 * te, te], axis=-1)[None]           # (problem, setting, seed, epoch)
    return xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), curve),
         "train_error": (("problem", "setting", "seed", "epoch"), curve / 2),
         "status": (("problem", "setting", "seed"), status[None])},
        coords={"problem": ["p"], "setting": ["a", "b", "c", "d"], "seed": [0, 1, 2],
                "epoch": [1, 2], "optimizer": ("setting", ["x", "x", "y", "y"])})


def test_finished_seeds_draws_a_partial_setting_from_its_finished_seeds():
    from studies.report import finished_seeds

    ds = _partial_ds()
    got = finished_seeds(ds, "p", ds["test_error"].isel(problem=0, epoch=-1).values)
    assert got[0].tolist() == [True, True, False]
    assert got[1] is None and got[2] is None                   # diverged; nothing run
    assert got[3].tolist() == [True, True, True]


def test_curves_and_scatter_of_a_partial_study_draw_its_finished_seeds(monkeypatch):
    """The curves figure draws x's best drawable setting (a, from 2 of 3 seeds: b has a
    diverged seed) and y's (d, c has nothing), and says so; the scatter has a and d."""
    import dataclasses

    import studies.report as R
    from studies.selftest import STUDY

    figs = []
    monkeypatch.setattr(R, "_png", lambda fig: figs.append(fig) or b"")
    st = dataclasses.replace(STUDY, curve_metric="test_error")
    R.curves_png(_partial_ds(), st)
    ax = figs[0].axes[0]
    lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
    assert set(lines) == {"a (2 of 3 seeds)", "d"}
    np.testing.assert_allclose(lines["a (2 of 3 seeds)"], [0.3, 0.15])
    assert "over the finished ones" in figs[0]._suptitle.get_text()
    R.scatter_png(_partial_ds(), dataclasses.replace(st, scatter_metrics=("train_error",
                                                                         "test_error")))
    pts = np.concatenate([c.get_offsets() for c in figs[1].axes[0].collections])
    np.testing.assert_allclose(sorted(pts[:, 1]), [0.15, 0.3])
    assert "of the finished seeds" in figs[1]._suptitle.get_text()
