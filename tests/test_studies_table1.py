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
