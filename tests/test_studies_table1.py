"""The adadelta-table1 study: grid, paper values, table layout, and real (tiny) trials."""
from __future__ import annotations

import numpy as np
import pytest

from studies import adadelta_table1 as T
from studies.combine import combine
from studies.expand import expand
from studies.report import find_setting, table_markdown

pytestmark = pytest.mark.timeout(600)


def test_grid_and_quick_form():
    full, quick = T.STUDY.resolved(False), T.STUDY.resolved(True)
    specs = expand(full)
    assert len(specs) == (3 * 5 + 1) * 10
    assert {(s["optimizer"], s["hyper"].get("lr")) for s in specs} >= {
        ("sgd", 1.0), ("momentum", 1e-4), ("adagrad", 1e-2), ("adadelta", None)}
    assert all(s["epochs"] == 6 and s["batch_size"] == 100 for s in specs)
    assert all(s["hyper"]["rho"] == 0.9 for s in specs if s["optimizer"] == "momentum")
    assert [s["hyper"] for s in specs if s["optimizer"] == "adadelta"][0] == {"rho": 0.95, "eps": 1e-6}
    assert full.problems["mnist-relu"] == {"sizes": [784, 500, 300, 10], "activation": "relu"}
    q = expand(quick, quick=True)
    assert len(q) == 14 and {s["seed"] for s in q} == {0, 1}
    assert q[0]["params"]["n_train"] == 5000 and q[0]["epochs"] == 2


def test_validated_against_the_optimizer_registry():
    from adaptlr.optimizers import names

    allowed = T.allowed()
    assert set(allowed) == set(names())
    T.STUDY.validate()
    with pytest.raises(ValueError, match="unknown hyperparameter 'mu' for optimizer 'momentum'"):
        T.STUDY.restricted(overrides={"momentum": {"mu": [0.5]}}).validate()


def test_paper_values_and_table_layout(tmp_path):
    (t,) = T.STUDY.tables
    assert t.columns == ["SGD", "Momentum", "AdaGrad", "AdaDelta"] and len(t.rows) == 6
    paper = {"SGD": [2.26, 2.51, 7.02, 17.01, 58.10], "Momentum": [89.68, 2.03, 2.68, 6.98, 16.98],
             "AdaGrad": [43.76, 2.82, 1.79, 5.21, 12.59]}
    for col, vals in paper.items():
        assert [t.published[(r, col)] for r in t.rows[:5]] == vals
    assert t.published[(t.rows[5], "AdaDelta")] == 1.83
    # every cell selects exactly one setting of the full grid (no trial run: all "missing")
    (tmp_path / "trials").mkdir()
    ds = combine(T.STUDY, tmp_path)
    assert (ds.status == "missing").all() and ds.sizes["setting"] == 16
    found = {find_setting(ds, sel) for sel in t.cells.values()}
    assert found == set(range(16))
    md = table_markdown(ds, t)
    assert "| ε = 1e0 | not run (paper: 2.26) | not run (paper: 89.68) | not run (paper: 43.76) |  |" in md


def test_real_trials_tiny(monkeypatch):
    """Two real (tiny) trials through the library: result layout, and divergence recorded."""
    base = expand(T.STUDY.resolved(True), quick=True)[0]
    base = {**base, "epochs": 1, "params": {**base["params"], "n_train": 300, "n_test": 200}}
    out = T.trial({**base, "optimizer": "sgd", "hyper": {"lr": 0.1}})
    assert out["test_error"][0] == ("epoch",) and out["test_error"][1].shape == (2,)
    assert np.isfinite(out["test_error"][1]).all() and "diverged" not in out
    assert 0 <= out["test_error"][1][-1] <= 1
    assert out["lr_median"][0] == ("lr_record", "layer") and out["lr_median"][1].shape[1] == 3
    # SGD with lr = 1e4 blows up: the trial reports divergence (the runner stores it as such)
    bad = T.trial({**base, "optimizer": "sgd", "hyper": {"lr": 1e4}})
    assert bad["diverged"] is True and bad["diverged_step"] >= 1
    assert "diverged at step" in bad["message"]
    assert bad["train_loss"][1].shape == (2,)


def _table1_like(errors: dict, status=None):
    """A stored-results-like Dataset: errors[(optimizer, lr)] = per-seed final test error."""
    import xarray as xr

    keys = list(errors)
    n = len(next(iter(errors.values())))
    v = np.array([errors[k] for k in keys], float)[None, :, :, None] / 100.0  # stored as fractions
    st = np.full(v.shape[:3], "ok", dtype="<U8") if status is None else status
    return xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), v),
         "status": (("problem", "setting", "seed"), st)},
        coords={"problem": ["mnist-relu"], "setting": [f"{o}({lr})" for o, lr in keys],
                "optimizer": ("setting", [o for o, _ in keys]),
                "lr": ("setting", [lr for _, lr in keys]),
                "rho": ("setting", [0.9 if o == "momentum" else np.nan for o, _ in keys]),
                "seed": np.arange(n), "epoch": [6]})


def test_equivalent_lr_by_hand():
    from studies.adadelta_table1_report import equivalent_lr

    lrs, means = [1e-2, 1e-3, 1e-4], [6.0, 14.0, 50.0]
    assert np.isclose(equivalent_lr(lrs, means, 10.0), 10 ** -2.5)  # halfway in log10(lr)
    assert np.isclose(equivalent_lr(lrs, means, 6.0), 1e-2)
    assert np.isclose(equivalent_lr(lrs, means, 32.0), 10 ** -3.5)
    assert np.isnan(equivalent_lr(lrs, means, 60.0)) and np.isnan(equivalent_lr(lrs, means, 5.0))


def test_table1_explanations_on_synthetic_results(tmp_path):
    """Momentum(lr) = SGD(10 lr) exactly, and every curve is ours shifted by a known rate
    factor, so both checks must find what was put in."""
    from studies import adadelta_table1_report as R

    rng = np.random.default_rng(0)
    lrs = T.LRS
    # error as a function of log10(lr) below the best rate (1e-1): linear, 8 points per decade
    def curve(lr, shift=0.0):
        return 2.0 + 8.0 * max(0.0, -1.0 - np.log10(lr) + shift) + 0.01 * rng.standard_normal(10)

    errors = {}
    for lr in lrs:
        errors[("sgd", lr)] = curve(lr)
        errors[("adagrad", lr)] = curve(lr)
        errors[("momentum", lr)] = errors[("sgd", lr * 10)] if lr * 10 <= 1.0 else curve(lr, -1.0)
    ds = _table1_like(errors)
    rows = R.momentum_sgd_rows(ds)
    assert len(rows) == 2 + 4 and "| 0.0001 | 0.001 | +0.00 [+0.00, +0.00] | 10 | 1 |" in rows[-1]
    off = R.offset_rows(ds)
    # the paper's SGD 1e-3 value 17.01 on our synthetic curve 2 + 8 (-1 - log10 lr):
    # log10(lr_eq) = -1 - 15.01 / 8
    sgd_1e3 = [r for r in off if r.startswith("| SGD | 0.001 |")][0]
    expected = 10 ** (-1 - (17.01 - 2.0) / 8.0) / 1e-3
    assert f"| {expected:.2f} [" in sgd_1e3
    out = R.extra_report(ds, tmp_path)
    assert out == [tmp_path / "adadelta-table1-explained.md"]
    assert "Learning-rate offset" in out[0].read_text()


def test_companion_report_module_is_found_and_outside_the_trial_keys(tmp_path, capsys):
    import sys
    import types

    from studies import report
    from studies.expand import SourceTree, _study_files
    from studies.registry import get_study

    st = get_study("adadelta-table1")
    assert report.companion_module(st).__name__ == "studies.adadelta_table1_report"
    assert report.companion_module(get_study("selftest")) is None
    keyed_files = _study_files(SourceTree(), "studies/adadelta_table1.py")
    assert "studies/adadelta_table1.py" in keyed_files
    assert "studies/adadelta_table1_report.py" not in keyed_files
    # a failing companion hook is reported and loses neither the study's outputs nor the run
    fake = types.ModuleType("studies.adadelta_table1_report")
    fake.extra_report = lambda ds, out: 1 / 0
    real = sys.modules["studies.adadelta_table1_report"]
    sys.modules["studies.adadelta_table1_report"] = fake
    try:
        assert report.extra_outputs(None, st, tmp_path) == []
    finally:
        sys.modules["studies.adadelta_table1_report"] = real
    assert "companion report module" in capsys.readouterr().err
