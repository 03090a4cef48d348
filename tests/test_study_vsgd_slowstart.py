"""The three slow-start studies (vSGD supplement Figs. 6, 9, 10): learning-rate records
checked against SGD's known schedule, the critical-C rule on a hand-made Dataset, the XOR
data, and the quick forms end to end with their figures."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import studies.vsgd_benchmarks as B
import studies.vsgd_slowstart_critical as CRIT
import studies.vsgd_slowstart_lr as LR
import studies.vsgd_slowstart_sensitivity as SENS

from test_study_vsgd_quadratic_1d import run_quick


def test_xor_data_is_xor_and_seeded():
    Xtr, ytr, Xte, yte = B.xor_data(200, 100, seed=4)
    assert Xtr.shape == (200, 2) and Xte.shape == (100, 2)
    assert np.array_equal(ytr, (Xtr[:, 0] * Xtr[:, 1] > 0).astype(np.int64))
    assert 0.35 < ytr.mean() < 0.65
    again = B.xor_data(200, 100, seed=4)
    assert np.array_equal(again[0], Xtr)
    assert not np.array_equal(B.xor_data(200, 100, seed=5)[0], Xtr)


def test_lr_records_of_sgd_are_its_schedule():
    """|dx/g| of SGD is eta0 / (1 + gamma (t - 1)) exactly (the L2 term is inside g)."""
    spec = {"problem": "M0", "problem_params": B.PROBLEMS["M0"], "optimizer": "sgd",
            "hyper": {}, "seed": 0, "epochs": 1, "batch_size": 1,
            "params": {"n_train": 1000, "n_test": 100, "dtype": "float64", "l2": 1e-4,
                       "record_frac": 0.01}}
    out = LR.trial(spec)
    ep = out["lr_epoch"][1]
    steps = np.round(ep * 1000).astype(int)
    assert steps[0] == 10 and np.all(np.diff(steps) == 10)
    expect = 3e-2 / (1 + (1.0 / 1000) * (steps - 1))       # M0: eta0 3e-2, gamma 1/#train
    np.testing.assert_allclose(out["lr_min"][1][:, 0], expect, rtol=1e-6)
    np.testing.assert_allclose(out["lr_max"][1][:, 0], expect, rtol=1e-6)


def test_lr_quick_form_and_figure(tmp_path):
    ds = run_quick(LR.STUDY, tmp_path, only=["vsgd-l", "sgd"])  # compile time: see tables test
    ds = ds.sel(problem=["M0"])  # C0 runs only where CIFAR-10 is present
    assert set(ds["status"].values.ravel()) <= {"ok", "diverged"}
    lo, hi = ds["lr_min"].values, ds["lr_max"].values
    fin = np.isfinite(lo) & np.isfinite(hi)
    assert fin.any() and np.all(lo[fin] <= hi[fin])
    # vSGD: no step during the slow start (n0 = 10 samples; a record every step)
    i = int(np.flatnonzero(ds.optimizer.values == "vsgd-l")[0])
    assert float(ds["lr_max"].sel(problem="M0").isel(setting=i, lr_record=0).max()) == 0.0
    figs = LR.extra_report(ds, tmp_path / "report")
    assert figs[0].name == "vsgd-slowstart-lr-fig6.png" and figs[0].stat().st_size > 10_000


def _fake_unstable(frac_by_c, d=100.0, n_seeds=10):
    C = sorted(frac_by_c)
    uns = np.zeros((1, len(C), n_seeds))
    for i, c in enumerate(C):
        uns[0, i, :int(round(frac_by_c[c] * n_seeds))] = 1
    return xr.Dataset(
        {"unstable": (("problem", "setting", "seed"), uns),
         "status": (("problem", "setting", "seed"), np.full(uns.shape, "ok")),
         "n_params": (("problem", "setting", "seed"), np.full(uns.shape, d))},
        coords={"problem": ["P"], "setting": [f"c{c}" for c in C], "seed": range(n_seeds),
                "C": ("setting", np.array(C, float)),
                "optimizer": ("setting", ["vsgd-l"] * len(C))})


def test_critical_c_is_smallest_c_from_which_on_fewer_than_10_percent_are_unstable(tmp_path):
    ds = _fake_unstable({0.01: 1.0, 0.1: 0.0, 1.0: 0.3, 10.0: 0.0, 100.0: 0.0})
    d, crit, frac = CRIT.critical_c(ds)["P"]
    assert crit == 10.0 and d == 100.0 and frac[1.0] == pytest.approx(0.3)
    assert np.isnan(CRIT.critical_c(_fake_unstable({1.0: 1.0, 10.0: 0.2}))["P"][1])
    figs = CRIT.extra_report(ds, tmp_path)
    assert "| P | 100 | 100% | 0% | 30% | 0% | 0% | 10 | 10 |" in figs[1].read_text()


def test_critical_quick_form_and_figure(tmp_path):
    ds = run_quick(CRIT.STUDY, tmp_path)
    assert set(ds["status"].values.ravel()) <= {"ok", "diverged"}
    assert set(np.unique(ds["unstable"].values)) <= {0.0, 1.0}
    assert float(ds["n_params"].sel(problem="XOR-10").max()) == 52
    figs = CRIT.extra_report(ds, tmp_path / "report")
    assert figs[0].stat().st_size > 10_000 and "XOR-2" in figs[1].read_text()


def test_c_sensitivity_quick_form_and_figure(tmp_path):
    ds = run_quick(SENS.STUDY, tmp_path, only=["vsgd-l"])  # compile time: see tables test
    assert set(ds["status"].values.ravel()) <= {"ok", "diverged"}
    assert ds.sizes["epoch"] == 4 and ds.sizes["setting"] == 3
    assert sorted(set(ds["C"].values.tolist())) == [1.0, 1e3, 1e6]
    figs = SENS.extra_report(ds, tmp_path / "report")
    assert figs[0].name == "vsgd-slowstart-sensitivity-fig10.png"
    assert figs[0].stat().st_size > 10_000
    # companion: the ceiling C n0 / (n0 + k) of the start-up value's share of v, and the rates
    from studies import vsgd_slowstart_sensitivity_report as MEM

    ds.attrs["spec"] = SENS.STUDY.resolved(True).as_json()  # as the engine's provenance stores it
    assert ds.sizes["lr_record"] == 30 and MEM._steps_per_epoch(ds) == pytest.approx(200)
    rows = MEM.floor_rows(ds)
    c1000 = next(r for r in rows if r.startswith("| M0 | 1000 |")).split("|")
    n0 = float(c1000[3])
    assert float(c1000[4]) == pytest.approx(1000 * n0 / (n0 + 200), rel=1e-2)  # epoch 1
    assert float(c1000[5]) == pytest.approx(1000 * n0 / (n0 + 600), rel=1e-2)  # epoch 3
    rates = MEM.rate_rows(ds)
    assert len(rates) == 2 + 3 and all(r.count("|") == 6 for r in rates)
    md, claims = MEM.extra_report(ds, tmp_path / "report")
    assert md.name == "vsgd-slowstart-sensitivity-memory.md" and "at most" in md.read_text()
    assert claims.name == "vsgd-slowstart-sensitivity-claims.md"
    assert "C = d/10" in claims.read_text()


def test_slowstart_lr_zero_minimum_analysis():
    import xarray as xr

    from studies import vsgd_slowstart_lr_report as R

    w = R.l2_only_adagrad(0.0238)
    tiny = np.finfo(np.float64).tiny
    assert abs(w[0]) == 0.0238 and 0 < abs(w[-1]) < tiny  # decays into the subnormal range
    # the first steps oscillate in sign (the factor 1 - eta0 lambda / sqrt(G) is negative)
    assert np.sign(w[1]) == -np.sign(w[0])
    lo = np.array([[[0.0], [0.5], [0.0], [0.0]], [[0.0], [0.4], [0.3], [0.0]]])  # seed, record, layer
    hi = np.array([[[0.0], [2.0], [3.0], [4.0]], [[0.0], [2.0], [3.0], [5.0]]])
    ep = np.array([[0.1, 0.2, 0.3, 0.4]] * 2)
    ds = xr.Dataset(
        {"lr_min": (("problem", "setting", "seed", "lr_record", "layer"), lo[None, None]),
         "lr_max": (("problem", "setting", "seed", "lr_record", "layer"), hi[None, None]),
         "lr_epoch": (("problem", "setting", "seed", "lr_record"), ep[None, None])},
        coords={"problem": ["M0"], "setting": ["adagrad()"], "optimizer": ("setting", ["adagrad"])})
    rows = R.zero_min_rows(ds)
    # records with max > 0: 3 + 3; exact-zero minima among them: 2 + 1; first at 0.3 and 0.4
    assert rows[2] == "| M0 | adagrad | 50.0% | 0.35 (2/2 seeds) | 4.5 |"


def test_vsgd_l_zero_rates_are_tiny_real_rates_not_subnormal_gradients():
    """The trace behind the report's vSGD-l paragraph, on its first 400 steps of MNIST M0:
    weights that did not move had normal gradients (so skipping subnormal gradients cannot
    remove these zeros), tiny but positive rates, and steps below half an ulp."""
    from studies import vsgd_slowstart_lr_report as R

    got = R.vsgd_l_unmoved_weights(n_steps=400)
    assert got["steps"] == 340 and got["steps_with_unmoved"] >= 1
    assert got["abs_g"][0] >= np.finfo(np.float64).tiny
    assert 0 < got["eta"][0] <= got["eta"][1] < 1e-9
    assert got["step_over_half_ulp"][1] <= 1.0
    assert got["pixel_zero_share"] == 0.0


@pytest.mark.parametrize("kw, named", [({"problem": "X"}, "problem='X'"),
                                        ({"n_steps": 0}, "n_steps=0")])
def test_vsgd_l_unmoved_weights_refuses_bad_input(kw, named):
    from studies import vsgd_slowstart_lr_report as R

    with pytest.raises(ValueError, match=named):
        R.vsgd_l_unmoved_weights(**kw)


def test_slowstart_critical_rule_of_thumb_analysis():
    import xarray as xr

    from studies import vsgd_slowstart_critical_report as R

    C = [0.01, 1.0, 100.0]
    # one problem, d = 50: unstable at C = 0.01 (3/4 seeds) and 1 (1/4), stable at 100
    unstable = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], float)
    loss = np.zeros((3, 4, 2))
    loss[..., 0] = 0.7
    loss[..., 1] = [[2.0, 2.0, 2.0, 0.1], [2.0, 0.1, 0.1, 0.69], [0.69, 0.68, 0.1, 0.1]]
    ds = xr.Dataset(
        {"unstable": (("problem", "setting", "seed"), unstable[None]),
         "status": (("problem", "setting", "seed"), np.full((1, 3, 4), "ok")),
         "n_params": (("problem", "setting", "seed"), np.full((1, 3, 4), 50.0)),
         "train_loss": (("problem", "setting", "seed", "epoch"), loss[None])},
        coords={"problem": ["XOR-5"], "setting": [f"vsgd-l(C={c})" for c in C],
                "C": ("setting", C), "optimizer": ("setting", ["vsgd-l"] * 3)})
    rows = R.rule_rows(ds)
    assert rows[2] == "| XOR-5 | 50 | 5 | 100 | 20 | at the top of the grid (censored) |"
    # stable runs whose final loss >= 95% of 0.7 (= 0.665): C=1: 0.69 -> 1 of 3; C=100: 2 of 4
    assert R.no_learning_rows(ds)[2] == "| XOR-5 | 0/1 | 1/3 | 2/4 |"
    # a part run (cells missing): no critical C is claimed from the cells that are there
    ds["status"][0, 2, 1:] = "missing"
    assert R.rule_rows(ds)[2] == ("| XOR-5 | 50 | 5 | not determined | | only 9 of 12 trials "
                                  "stored |")


def test_slowstart_critical_runs_that_did_not_move_count_as_stable_in_the_second_table():
    import xarray as xr

    from studies import vsgd_slowstart_critical_report as R

    C = [1.0, 100.0, 1e4]
    # d = 50 (d/10 = 5). C=1: 2 of 4 runs blew up (loss 2.0); C=100: all learned;
    # C=1e4: 2 of 4 runs ended a hair above the initial 0.7 (0.7005, 0.7069: within 1%),
    # one ended 2% above (0.714: moved, still unstable), one learned a little.
    loss = np.zeros((3, 4, 2))
    loss[..., 0] = 0.7
    loss[..., 1] = [[2.0, 2.0, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1], [0.7005, 0.7069, 0.714, 0.69]]
    unstable = (loss[..., 1] > loss[..., 0]).astype(float)
    status = np.full((1, 3, 4), "ok", dtype="<U8")
    status[0, 0, 0] = "diverged"   # a diverged run is never reclassified, whatever its loss
    loss[0, 0, 1] = 0.7001
    unstable[0, 0] = 1.0
    ds = xr.Dataset(
        {"unstable": (("problem", "setting", "seed"), unstable[None]),
         "status": (("problem", "setting", "seed"), status),
         "n_params": (("problem", "setting", "seed"), np.full((1, 3, 4), 50.0)),
         "train_loss": (("problem", "setting", "seed", "epoch"), loss[None])},
        coords={"problem": ["XOR-5"], "setting": [f"vsgd-l(C={c})" for c in C],
                "C": ("setting", C), "optimizer": ("setting", ["vsgd-l"] * 3)})
    flat = R.did_not_move(ds)
    assert flat[0].tolist() == [[False] * 4, [False] * 4, [True, True, False, False]]
    # the study's rule: C=1e4 has 3 of 4 unstable -> above the grid
    assert R.rule_rows(ds)[2].startswith("| XOR-5 | 50 | 5 | above the grid |")
    # without the two flat runs C=1e4 has 1 of 4 (25%) unstable: still above the grid
    assert R.moved_rows(ds)[2] == "| XOR-5 | 5 | above the grid | > 2e+03 | 1e+04: 2 |"
    # the moved run learned after all: 1e4 now has no unstable run -> critical C = 100
    ds["unstable"][0, 2, 2] = 0.0
    ds["train_loss"][0, 2, 2, 1] = 0.1
    assert R.moved_rows(ds)[2] == "| XOR-5 | 5 | 100 | 20 | 1e+04: 2 |"
    assert R.rule_rows(ds)[2].startswith("| XOR-5 | 50 | 5 | above the grid |")
    # a part run: not determined
    ds["status"][0, 1, 3] = "missing"
    assert R.moved_rows(ds)[2] == "| XOR-5 | 5 | not determined | | 1e+04: 2 |"
