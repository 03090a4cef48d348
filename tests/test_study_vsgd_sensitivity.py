"""vsgd-sensitivity (vSGD Fig. 3, supplement Figs. 7-8): the grid sizes of the paper, the
choice of the best setting on a hand-made Dataset, and the quick form end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import studies.vsgd_sensitivity as M
from studies.spec import settings_of

from test_study_vsgd_quadratic_1d import run_quick


def test_grids_have_the_papers_sizes():
    n = {o: len(settings_of(o, g)) for o, g in M.GRIDS.items()}
    assert n == {"sgd": 68, "adagrad": 17, "smd": 476, "amari": 119, "almeida": 119,
                 "vsgd-l": 1, "vsgd-b": 1, "vsgd-g": 1}
    assert tuple(M.STUDY.seeds) == (0, 1)


def test_m1_m2_run_the_stated_cut_with_table1_settings():
    from studies.expand import expand
    from studies.vsgd_benchmarks import TABLE1

    assert M.STUDY.grid("M0") is M.GRIDS and set(M.STUDY.problem_optimizers) == {"M1", "M2"}
    assert M.CUT["sgd"]["eta0"] == [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
    counts = {}
    for p in ("M1", "M2"):
        g = M.STUDY.grid(p)
        for opt in M.CUT:
            full = settings_of(opt, M.GRIDS[opt])
            cut = settings_of(opt, g[opt])
            assert TABLE1[opt][p] in cut and all(s in full for s in cut)   # a subset of Sec. 7's grid
        counts[p] = sum(len(settings_of(o, gg)) for o, gg in g.items())
    assert counts == {"M1": 142, "M2": 143}
    specs = expand(M.STUDY)
    assert len(specs) == 2 * (802 + 142 + 143)


def _fake(test_error, status):
    opts = ["sgd", "sgd", "sgd", "vsgd-l"]
    hyper = [{"eta0": 0.1}, {"eta0": 1.0}, {"eta0": 10.0}, {}]
    te = np.array(test_error, dtype=float)[None, :, :, None]  # problem, setting, seed, epoch
    return xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), te),
         "train_error": (("problem", "setting", "seed", "epoch"), te / 2),
         "status": (("problem", "setting", "seed"), np.array(status)[None])},
        coords={"problem": ["M0"], "setting": [f"s{i}" for i in range(4)], "seed": [0, 1],
                "epoch": [0], "optimizer": ("setting", opts),
                "setting_json": ("setting", [json.dumps(h) for h in hyper])})


def test_best_setting_is_lowest_mean_and_skips_diverged(tmp_path):
    ds = _fake([[0.10, 0.12], [0.05, np.nan], [0.08, 0.07], [0.09, 0.09]],
               [["ok", "ok"], ["ok", "diverged"], ["ok", "ok"], ["ok", "ok"]])
    best = M.best_settings(ds, "M0")
    assert best["sgd"][0] == 2 and best["sgd"][1] == pytest.approx(0.075)
    assert best["vsgd-l"][0] == 3
    figs = M.extra_report(ds, tmp_path)
    md = figs[1].read_text()
    assert "| M0 | sgd | 3 / 3 | 1 | {'eta0': 10.0} | 7.50% |" in md
    # a partial grid: a setting with a seed not yet run is in the grid, not run
    ds = _fake([[0.10, 0.12], [0.05, np.nan], [0.08, np.nan], [0.09, 0.09]],
               [["ok", "ok"], ["ok", "diverged"], ["ok", "missing"], ["ok", "ok"]])
    md = M.extra_report(ds, tmp_path)[1].read_text()
    assert "| M0 | sgd | 2 / 3 | 1 | {'eta0': 0.1} | 11.00% |" in md


def test_tuning_companion_counts_matching_and_dominating_settings_by_hand(tmp_path):
    """vSGD-l at 9% test error, 4.5% train: sgd eta0=10 (7.5% test, 3.75% train) matches it
    and dominates it; eta0=0.1 (11%) does not match; eta0=1.0 diverged (neither)."""
    import studies.vsgd_sensitivity_report as R

    ds = _fake([[0.10, 0.12], [0.05, np.nan], [0.08, 0.07], [0.09, 0.09]],
               [["ok", "ok"], ["ok", "diverged"], ["ok", "ok"], ["ok", "ok"]])
    rows = R.tuning_rows(ds, "M0")
    assert "| sgd | 2 / 3 | 7.50% | 1 (33%) |" in rows
    assert "| vsgd-l | 4.50% | 9.00% | 3 | 1 | 1 |" in rows
    md, png = R.extra_report(ds, tmp_path)
    assert md.name == "vsgd-sensitivity-tuning.md" and "| sgd | 2 / 3 |" in md.read_text()
    assert png.name == "vsgd-sensitivity-fig3-zoom.png" and png.stat().st_size > 5_000
    assert png.name in md.read_text()
    # the front: no other point at most as good in both and better in one; NaN never on it
    tr = np.array([1.0, 2.0, 3.0, 1.0, 2.5, np.nan])
    te = np.array([5.0, 2.0, 1.0, 6.0, 2.0, 0.1])
    assert R.pareto_front(tr, te).tolist() == [0, 1, 2]
    # no finished vSGD variant: nothing to compare with, said plainly
    ds2 = _fake([[0.10, 0.12], [0.05, 0.06], [0.08, 0.07], [np.nan, np.nan]],
                [["ok", "ok"], ["ok", "ok"], ["ok", "ok"], ["missing", "missing"]])
    assert R.tuning_rows(ds2, "M0") == []
    (md,) = R.extra_report(ds2, tmp_path)
    assert "No vSGD variant has finished" in md.read_text()


def test_quick_form_end_to_end(tmp_path):
    ds = run_quick(M.STUDY, tmp_path, only=["sgd", "vsgd-l"])   # compile time: see tables test
    assert ds.sizes["setting"] == 7
    assert set(ds["status"].values.ravel()) <= {"ok", "diverged"}
    figs = M.extra_report(ds, tmp_path / "report")
    assert [f.name for f in figs] == ["vsgd-sensitivity-fig3.png", "vsgd-sensitivity-best.md"]
    assert figs[0].stat().st_size > 10_000
    assert "| M0 | vsgd-l | 1 / 1 |" in figs[1].read_text()
