"""vsgd-sensitivity-cifar (vSGD supplement Fig. 4, CIFAR halves of Figs. 5, 7-8): the grids
of the paper for the methods it ran on CIFAR, missing data recorded as failed, CR written
without percent, and the quick form end to end on a synthetic CIFAR-10 (monkeypatched
loader, so the test behaves the same with or without the real files)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import studies.vsgd_benchmarks as B
import studies.vsgd_sensitivity_cifar as M
import studies.vsgd_sensitivity_cifar_report as R
from studies.spec import settings_of

from test_study_vsgd_quadratic_1d import run_quick
from test_study_vsgd_tables_cifar import fake_cifar, no_cifar  # noqa: F401 - fixtures


def test_grids_are_the_papers_for_its_cifar_methods():
    n = {o: len(settings_of(o, g)) for o, g in M.GRIDS.items()}
    assert n == {"sgd": 68, "adagrad": 17, "vsgd-l": 1, "vsgd-b": 1, "vsgd-g": 1}  # Table 3
    st = M.STUDY
    assert list(st.problems) == ["C0", "C1", "CR"] and tuple(st.seeds) == (0, 1)
    assert st.batch_size == 1 and st.epochs == 6
    from studies.expand import expand
    assert len(expand(st)) == 3 * 88 * 2
    for p in st.problems:                       # Table 1's tuned points lie on the grid
        for o in ("sgd", "adagrad"):
            assert B.TABLE1[o][p] in settings_of(o, M.GRIDS[o])


def test_missing_data_fails_every_trial_clearly(no_cifar):  # noqa: F811
    from studies.expand import code_version, expand, keyed
    from studies.runner import execute

    st = M.STUDY.resolved(True)
    code = code_version()
    key, spec = keyed(expand(st, quick=True), code)[0]
    rec = execute(st.trial, key, spec, code)
    assert rec["status"] == "failed" and "data not available: cifar10" in rec["message"]


def _fake(problem, test_error, status):
    opts = ["sgd", "sgd", "adagrad", "vsgd-l"]
    hyper = [{"eta0": 0.01, "gamma_n": 1.0}, {"eta0": 0.1, "gamma_n": 1.0}, {"eta0": 0.01}, {}]
    te = np.array(test_error, dtype=float)[None, :, :, None]
    return xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), te),
         "train_error": (("problem", "setting", "seed", "epoch"), te / 2),
         "status": (("problem", "setting", "seed"), np.array(status)[None])},
        coords={"problem": [problem], "setting": [f"s{i}" for i in range(4)], "seed": [0, 1],
                "epoch": [0], "optimizer": ("setting", opts),
                "setting_json": ("setting", [json.dumps(h) for h in hyper])})


def test_best_rows_by_hand_in_percent_and_for_the_autoencoder_without():
    status = [["ok", "ok"], ["ok", "diverged"], ["ok", "ok"], ["ok", "ok"]]
    ds = _fake("C0", [[0.60, 0.62], [0.55, np.nan], [0.58, 0.60], [0.65, 0.67]], status)
    rows = R.best_rows(ds, "C0")
    assert "| C0 | sgd | 2 / 2 | 1 | {'eta0': 0.01, 'gamma_n': 1.0} | 61.00% | 30.50% | " \
           "{'eta0': 0.003, 'gamma_n': 1.0} |" in rows
    assert "| C0 | vsgd-l | 1 / 1 | 0 | untuned | 66.00% | 33.00% | untuned |" in rows
    ds = _fake("CR", [[10.4, 10.6], [9.0, np.nan], [10.2, 10.4], [11.0, 11.1]], status)
    rows = R.best_rows(ds, "CR")
    assert "| CR | adagrad | 1 / 1 | 0 | {'eta0': 0.01} | 10.30 | 5.15 | {'eta0': 0.01} |" in rows
    assert R.scale_unit("CR") == (1.0, "") and R.scale_unit("C1") == (100.0, "%")
    # a partial grid: a setting with a seed not yet run is in the grid, not run
    status[0] = ["ok", "missing"]
    ds = _fake("C0", [[0.60, np.nan], [0.55, np.nan], [0.58, 0.60], [0.65, 0.67]], status)
    assert "| C0 | sgd | 1 / 2 | 1 |" in "\n".join(R.best_rows(ds, "C0"))


def test_quick_form_end_to_end_on_synthetic_cifar(tmp_path, fake_cifar):  # noqa: F811
    ds = run_quick(M.STUDY, tmp_path, only=["sgd", "vsgd-l"])
    assert list(ds["problem"].values) == ["C0", "CR"] and ds.sizes["setting"] == 5
    assert set(ds["status"].values.ravel()) <= {"ok", "diverged"}
    md, png = R.extra_report(ds, tmp_path / "report")
    assert md.name == "vsgd-sensitivity-cifar-best.md"
    assert png.name == "vsgd-sensitivity-cifar-fig4.png" and png.stat().st_size > 10_000
    text = md.read_text()
    assert "| C0 | vsgd-l | 1 / 1 | 0 | untuned |" in text and "| CR | vsgd-l | 1 / 1 | 0 | untuned |" in text
    cr = [r for r in text.splitlines() if r.startswith("| CR | sgd |")][0]
    assert "%" not in cr                               # the autoencoder's error is no rate
    assert "How much tuning it takes" in text
