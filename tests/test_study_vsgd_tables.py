"""vsgd-tables (vSGD Tables 2-3, MNIST): the declared set-up against the paper, the unit
conversions, an independent NumPy check of the trial's epoch-0 errors, and the quick form
end to end (a minute or two with a cold Numba cache: eight optimizers are compiled)."""
from __future__ import annotations

import numpy as np
import pytest

import studies.vsgd_benchmarks as B
import studies.vsgd_tables as M

from test_study_vsgd_quadratic_1d import run_quick


def test_setup_is_the_papers():
    st = M.STUDY
    assert st.batch_size == 1 and st.epochs == 6 and list(st.seeds) == list(range(10))
    assert {p: v["sizes"] for p, v in st.problems.items()} == {
        "M0": [784, 10], "M1": [784, 120, 10], "M2": [784, 500, 300, 10]}
    assert list(st.optimizers) == list(B.TABLE_COLUMNS)
    assert B.TABLE1["sgd"]["M1"] == {"eta0": 3e-2, "gamma_n": 0.5}
    assert B.TABLE1["smd"]["M2"] == {"eta0": 3e-2, "mu": 1e-3, "tau": 1e2}
    assert B.TABLE1["amari"]["M1"] == {"eta0": 1e-6, "tau": 5e3}
    # 6 tables (train/test x 3 problems), each with the 8 published values
    assert len(st.tables) == 6
    for t in st.tables:
        assert len(t.published) == 8 and t.problem in ("M0", "M1", "M2")
    t = [t for t in st.tables if t.problem == "M2" and t.metric == "test_error"][0]
    assert t.published[("M2", "vsgd-b")] == 2.05
    # Sec. 7 grids: 17 eta0 values from 1e-7 to 10, the settings counts of Table 3
    assert len(B.ETA0_GRID) == 17 and B.ETA0_GRID[0] == 1e-7 and B.ETA0_GRID[-1] == 10.0
    assert B.ETA0_GRID[1] == 3e-7 and 3.0 in B.ETA0_GRID


def test_units_are_converted():
    sgd = B.make_optimizer("sgd", {"eta0": 3e-2, "gamma_n": 0.5}, 60000, 1)
    assert sgd.hyper.eta0 == 3e-2 and sgd.hyper.gamma == pytest.approx(0.5 / 60000)
    assert B.make_optimizer("sgd", {"eta0": 1.0, "gamma_n": 1.0}, 60000, 100).hyper.gamma == \
        pytest.approx(100 / 60000)
    v = B.make_optimizer("vsgd-l", {}, 60000, 1)
    assert v.hyper.n0 == 60 and v.hyper.C == 0.0          # 0.0 = the library's d/10
    assert B.make_optimizer("vsgd-g", {"C": 5.0}, 10000, 1).hyper.n0 == 10
    assert B.make_optimizer("vsgd-b", {}, 300, 1, n0_min=10).hyper.n0 == 10
    assert B.resolve_hyper("amari", {}, "M2") == {"eta0": 3e-7, "tau": 5e3}
    with pytest.raises(ValueError, match="no tuned setting for problem 'C0'"):
        B.resolve_hyper("smd", {}, "C0")
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        B.make_optimizer("adam", {}, 100, 1)


def _numpy_errors(theta, sizes, X, y):
    """Independent forward pass: tanh hidden layers, linear output, argmax vs label."""
    o, a = 0, X
    for k in range(len(sizes) - 1):
        fi, fo = sizes[k], sizes[k + 1]
        W = theta[o:o + fi * fo].reshape(fi, fo)
        b = theta[o + fi * fo:o + fi * fo + fo]
        o += fi * fo + fo
        a = a @ W + b
        if k < len(sizes) - 2:
            a = np.tanh(a)
    return float(np.mean(np.argmax(a, axis=1) != y))


def test_epoch0_errors_match_a_numpy_forward_pass_on_centred_mnist():
    from adaptlr.data import load_mnist
    from adaptlr.mlp import MLP

    spec = {"problem": "M1", "problem_params": B.PROBLEMS["M1"], "optimizer": "sgd",
            "hyper": {}, "seed": 3, "epochs": 1, "batch_size": 1,
            "params": {"n_train": 300, "n_test": 200, "dtype": "float64", "l2": 1e-4}}
    out = B.mlp_trial(spec)
    d = load_mnist(preprocess=None, dtype=np.float64)
    X = d.X_train / 255.0
    mean = X.mean(axis=0)
    net = MLP([784, 120, 10], activation="tanh", output="softmax", l2=1e-4,
              dtype=np.float64, seed=3)
    e_tr = _numpy_errors(net.theta, net.sizes, X[:300] - mean, d.y_train[:300])
    e_te = _numpy_errors(net.theta, net.sizes, d.X_test[:200] / 255.0 - mean, d.y_test[:200])
    assert out["train_error"][1][0] == pytest.approx(e_tr, abs=1e-12)
    assert out["test_error"][1][0] == pytest.approx(e_te, abs=1e-12)
    assert out["used_eta0"][1] == 3e-2 and out["used_gamma_n"][1] == 0.5
    assert out["n_params"][1] == 784 * 120 + 120 + 120 * 10 + 10


def test_quick_form_end_to_end(tmp_path):
    """The quick form restricted to SGD and vSGD-l: compiling the training loop for all eight
    methods takes many minutes on a loaded 2-core machine (`python -m studies run vsgd-tables
    --quick` runs all eight)."""
    ds = run_quick(M.STUDY, tmp_path, only=["vsgd-l", "sgd"])
    assert set(ds["status"].values.ravel()) <= {"ok", "diverged"}
    assert ds.sizes["setting"] == 2 and ds.sizes["epoch"] == 2 and ds.sizes["problem"] == 3
    for v in ("train_error", "test_error", "tied_with_best", "test_error_final_mean",
              "used_eta0", "used_C", "used_n0"):
        assert v in ds
    # vSGD used its untuned C = d/10; n0 = max(10, round(0.001 x 300)) = 10 (quick floor)
    i = int(np.flatnonzero(ds.optimizer.values == "vsgd-l")[0])
    assert float(ds["used_C"].sel(problem="M0").isel(setting=i, seed=0)) == pytest.approx(785.0)
    assert float(ds["used_n0"].sel(problem="M0").isel(setting=i, seed=0)) == 10.0
    # SGD learns M0 in 300 online steps; vSGD-l's slow start (C = d/10 = 785, meant for an
    # epoch of 60000 samples) keeps it slow on this tiny subset, but its error still falls
    j = int(np.flatnonzero(ds.optimizer.values == "sgd")[0])
    assert float(ds["train_error"].sel(problem="M0").isel(setting=j, epoch=-1).max()) < 0.4
    e = ds["train_error"].sel(problem="M0").isel(setting=i).values  # (seed, epoch)
    assert np.all(e[:, -1] < e[:, 0])
    from studies.report import report_markdown
    md = report_markdown(ds, M.STUDY.resolved(True).restricted(only=["vsgd-l", "sgd"]))
    assert "(paper: 7.50)" in md and "M0: test error" in md


def test_slow_start_companion_puts_paper_earlier_forms_and_stored_run_side_by_side(tmp_path):
    import numpy as np
    import xarray as xr

    from studies import vsgd_tables_report as rep

    err = np.array([[[[0.5, 0.004], [0.5, 0.006]]]])              # problem, setting, seed, epoch
    ds = xr.Dataset({"train_error": (("problem", "setting", "seed", "epoch"), err),
                     "test_error": (("problem", "setting", "seed", "epoch"), 2 * err),
                     "used_tau0": (("problem", "setting", "seed"), np.full((1, 1, 2), 2.0)),
                     "used_C_h": (("problem", "setting", "seed"), np.full((1, 1, 2), 9541.0))},
                    coords={"problem": ["M1"], "setting": ["vsgd-l()"], "seed": [0, 1],
                            "optimizer": ("setting", ["vsgd-l"])})
    rows = rep.rows(ds)
    assert rows[2].startswith("| M1 | vsgd-l | train | 0.18 | 2.00 | 2.67 | 0.19 | 2, yes | 0.50 ± ")
    assert rows[3].startswith("| M1 | vsgd-l | test | 2.42 | 3.34 | 4.54 | 2.33 | 2, yes | 1.00 ± ")
    # a trial from before the option (no used_C_h) is the text form
    assert ", no | 0.50 ± " in rep.rows(ds.drop_vars("used_C_h"))[2]
    (path,) = rep.extra_report(ds, tmp_path)
    text = path.read_text()
    assert "tau0 = n0 = 60" in text and "d-vsgd" in text


def test_almeida_companion_puts_the_two_forms_and_the_tuned_best_side_by_side(tmp_path):
    """vsgd-tables-almeida.md on made Datasets: the stored cells (the paper's formula), the
    ad hoc py-optim form (module constants, by hand) and the best sensitivity setting by mean
    test error among settings with every seed ok (a diverged one is never best)."""
    import numpy as np
    import xarray as xr
    from scipy import stats

    from studies import vsgd_tables_report as rep

    err = np.array([[[[0.5, 0.09], [0.5, 0.10]]]])                 # problem, setting, seed, epoch
    ds = xr.Dataset({"train_error": (("problem", "setting", "seed", "epoch"), err),
                     "test_error": (("problem", "setting", "seed", "epoch"), err + 0.01),
                     "status": (("problem", "setting", "seed"), np.full((1, 1, 2), "ok"))},
                    coords={"problem": ["M0"], "setting": ["almeida()"], "seed": [0, 1],
                            "optimizer": ("setting", ["almeida"])})
    te = np.array([[[[0.5, 0.12], [0.5, 0.14]],                    # a: test 13.0 -> best
                    [[0.5, 0.20], [0.5, 0.22]],                    # b: worse
                    [[0.5, 0.01], [0.5, np.nan]]]])                # c: a diverged seed
    sens = xr.Dataset({"train_error": (("problem", "setting", "seed", "epoch"), te - 0.01),
                       "test_error": (("problem", "setting", "seed", "epoch"), te),
                       "status": (("problem", "setting", "seed"),
                                  np.array([[["ok", "ok"], ["ok", "ok"], ["ok", "diverged"]]]))},
                      coords={"problem": ["M0"], "setting": ["almeida(a)", "almeida(b)", "almeida(c)"],
                              "seed": [0, 1], "optimizer": ("setting", ["almeida"] * 3)})
    # settings with every seed ok: a and b (c has a diverged seed); in the grid: all three
    assert rep._grid_best(sens, "M0") == ("almeida(a)", 12.0, 13.0, 2, 2, 3, 1)
    cut = sens.copy(deep=True)
    cut["status"].values[0, 1] = "excluded"                       # b: off a cut grid
    assert rep._grid_best(cut, "M0")[4:] == (1, 2, 1)
    cut["status"].values[0, 2] = ["ok", "missing"]                # c: one seed not run yet
    assert rep._grid_best(cut, "M0")[4:] == (1, 2, 0)
    assert rep._grid_count(1, 2, 0) == "1 of 2 settings with every seed ok, 1 not yet run in full"
    assert rep._grid_count(21, 28, 1) == ("21 of 28 settings with every seed ok, 1 with a "
                                          "diverged seed, 6 not yet run in full")
    assert rep._grid_count(3, 3, 0) == "3 of 3 settings with every seed ok"
    assert rep._grid_best(sens, "M1") is None and rep._grid_best(None, "M0") is None
    rows = rep.almeida_rows(ds, sens)
    code_tr = np.array(rep.ALMEIDA_PYOPTIM["M0"][0])
    half = stats.t.ppf(0.975, 9) * code_tr.std(ddof=1) / np.sqrt(10)
    assert rows[2] == (f"| M0 | train | 11.80 | 9.50 ± 6.35 (n=2) | {code_tr.mean():.2f} ± {half:.2f} (n=10) | "
                       "12.00 (n=2, almeida(a); 2 of 3 settings with every seed ok, 1 with a diverged seed) |")
    assert rows[3].startswith("| M0 | test | 11.13 | 10.50 ± ")
    (tmp_path / "vsgd-tables").mkdir()
    paths = rep.extra_report(ds, tmp_path / "vsgd-tables")
    assert [p.name for p in paths] == ["vsgd-tables-almeida.md"]  # no vSGD-l: no slow-start file
    text = paths[0].read_text()
    assert "py-optim" in text and "| M0 | train | 11.80 | 9.50 ± " in text
    # finding (3) is read from the grid, per problem: M0's best (13.00%) is not below the
    # paper's 11.13%; M1 and M2 have no grid
    grid = rep.almeida_grid_text(sens, ds)
    assert grid == ("on M0 no setting of the grid reaches the paper's value (best: almeida(a), "
                    "13.00% against the paper's 11.13%; 2 of 3 settings with every seed ok, 1 with a "
                    "diverged seed), so "
                    "tuning does not explain the gap; on M1 the grid has no setting with every "
                    "seed ok yet; on M2 the grid has no setting with every seed ok yet.")
    # no vsgd-sensitivity Dataset beside tmp_path/vsgd-tables: the file says so
    assert rep.almeida_grid_text(None, ds) in text and "{grid}" not in text
    low = sens.copy(deep=True)
    low["test_error"].values[0, 0] = [[0.5, 0.05], [0.5, 0.07]]      # a: 6.00% < 11.13%
    low["status"].values[0, 2] = "excluded"                        # every grid setting done
    # the stored run (10.50%) is below the paper's 11.13% too
    assert rep.almeida_grid_text(low, ds).startswith(
        "on M0 the grid's best is lower still (almeida(a), 6.00% against the paper's 11.13%), "
        "so the paper's tuning does not explain a gap where ours is lower; on M1 ")
    high = ds.copy(deep=True)
    high["test_error"].values[0, 0] = [[0.5, 0.12], [0.5, 0.13]]     # stored: 12.50% > 11.13%
    assert rep._stored_almeida(high)["M0"][1] == pytest.approx([12.0, 13.0])
    assert rep.almeida_grid_text(low, high).startswith(
        "on M0, where ours at the paper's setting is higher (12.50%), the grid's best is lower "
        "(almeida(a), 6.00% against the paper's 11.13%): our rule reaches the paper's value at "
        "another setting, so there the gap is in where the best setting lies; on M1 ")
    assert rep._stored_almeida(None) == {}
    assert "| not run |" in text                                   # no sensitivity Dataset beside
