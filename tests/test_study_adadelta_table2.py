"""adadelta-table2: quick form through the engine's trial/store/combine/report path, the
insensitivity statistics against hand-computed values, and the extra report."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from studies import adadelta_table2 as mod

from study_inline import run_inline


def test_full_form_is_the_papers_grid():
    st = mod.STUDY
    assert st.optimizers == {"adadelta": {"rho": [0.9, 0.95, 0.99],
                                          "eps": [1e-2, 1e-4, 1e-6, 1e-8]}}
    assert st.problems["mnist-relu"]["activation"] == "relu"
    assert list(st.seeds) == list(range(10)) and st.epochs == 6 and st.batch_size == 100
    t = st.tables[0]
    assert t.published[("ε = 1e-6", "ρ = 0.95")] == 1.83
    assert t.published[("ε = 1e-2", "ρ = 0.99")] == 2.32
    assert t.published[("ε = 1e-8", "ρ = 0.9")] == 2.29
    assert len(t.cells) == 12


def test_insensitivity_statistics_by_hand():
    rng = np.random.default_rng(1)
    n = 10
    noise = 0.01 * rng.standard_normal((12, n))
    t2 = 2.0 + np.linspace(0, 0.3, 12)[:, None] + noise
    means1 = np.array([2.3, 2.5, 7.0, 17.0, 58.0])
    c1 = means1[:, None] + 0.01 * rng.standard_normal((5, n))
    same = t2[:5] - t2[:5].mean() + 5.0          # the same spread pattern as part of Table 2
    res = mod.insensitivity(t2, {"SGD": c1, "Same": same}, n_boot=500)
    m2 = t2.mean(axis=1)
    assert res["table2"]["range"] == pytest.approx(m2.max() - m2.min())
    assert res["table2"]["sd"] == pytest.approx(m2.std(ddof=1))
    r = res["SGD"]
    assert r["range"] == pytest.approx(np.ptp(c1.mean(axis=1)))
    assert r["ratio"] == pytest.approx(c1.mean(axis=1).std(ddof=1) / m2.std(ddof=1))
    assert r["ratio_ci"][0] > 10                  # much larger spread, tight CI
    assert r["ratio_ci"][0] <= r["ratio"] <= r["ratio_ci"][1]
    assert "SGD: Table 1's spread is larger" in mod.insensitivity_verdict(res)
    # Friedman within Table 2: the linear trend is far above the noise
    assert res["table2"]["friedman"][1] < 1e-6
    # a column with a smaller spread is called so
    small = {"Tiny": 2.0 + 0.001 * rng.standard_normal((5, n))}
    assert "SMALLER" in mod.insensitivity_verdict(mod.insensitivity(t2, small, n_boot=200))


def test_insensitivity_diverged_handling():
    n = 4
    t2 = 2.0 + np.arange(12)[:, None] * 0.01 + np.zeros((12, n))
    t2 = t2 + np.linspace(0, 1e-3, n)
    c = np.array([[2.0] * n, [3.0] * n, [np.nan, 4.0, 4.0, 4.0]])
    drop = mod.insensitivity(t2, {"M": c}, n_boot=50, diverged="drop")["M"]
    assert drop["n_cells"] == 2 and drop["n_dropped"] == 1 and drop["range"] == pytest.approx(1.0)
    chance = mod.insensitivity(t2, {"M": c}, n_boot=50, diverged="chance")["M"]
    assert chance["range"] == pytest.approx((90 + 12) / 4 - 2.0)
    with pytest.raises(ValueError, match="diverged must be"):
        mod.insensitivity(t2, {"M": c}, diverged="ignore")
    with pytest.raises(ValueError, match="table2"):
        mod.insensitivity(np.full((12, 3), np.nan), {})


def _fake_table1(seeds, rng):
    lrs = [1e0, 1e-1, 1e-2, 1e-3, 1e-4]
    opts = [o for o in ("sgd", "momentum", "adagrad") for _ in lrs]
    lr = np.array(lrs * 3)
    err = 0.02 + 0.1 * rng.random((1, len(opts), len(seeds), 3))
    err[0, 5, 0, -1] = np.nan                      # momentum lr=1 diverged in one seed
    return xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), err)},
        coords={"problem": ["mnist-relu"], "setting": [f"s{i}" for i in range(len(opts))],
                "seed": list(seeds), "optimizer": ("setting", opts), "lr": ("setting", lr),
                "epoch": [0, 1, 2]})


def test_quick_form_and_extra_report(tmp_path):
    ds, _ = run_inline("adadelta-table2", tmp_path, report=True)
    assert (ds["status"].values == "ok").all()
    assert ds.sizes["setting"] == 3 and ds.sizes["seed"] == 2 and ds.sizes["epoch"] == 3
    err = ds["test_error"].isel(epoch=-1).values
    assert np.all((err > 0) & (err < 0.85))       # better than chance everywhere
    assert np.all(err[0, 1:] < 0.3)               # eps = 1e-6 learns fast even on 2000 images
    assert sorted(set(ds["rho"].values.tolist())) == [0.95, 0.99]
    t1 = _fake_table1(ds["seed"].values, np.random.default_rng(0))
    files = mod.extra_report(ds, tmp_path, table1=t1)
    names = sorted(p.name for p in files)
    assert names == ["adadelta-table2-paper.md", "adadelta-table2-sensitivity.png"]
    md = (tmp_path / "adadelta-table2-paper.md").read_text()
    assert "| ε = 1e-2, ρ = 0.9 | 2.59 |" in md
    assert "not in this run" in md                 # quick grid has 3 of 12 cells
    assert "Table 1 SGD" in md and "Friedman" in md and "Quick form" in md
    png = (tmp_path / "adadelta-table2-sensitivity.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000
    assert (tmp_path / "adadelta-table2.md").is_file()   # the engine's own table
    assert (tmp_path / "adadelta-table2-curves.png").is_file()


def test_extra_report_without_table1(tmp_path, monkeypatch):
    monkeypatch.setattr(mod, "_load_table1", lambda path=None: (None, tmp_path / "none.nc"))
    rng = np.random.default_rng(0)
    err = 0.02 + 0.001 * rng.random((1, 12, 3, 7))
    rho = np.repeat(mod.RHOS, 4)
    eps = np.tile(mod.EPSS, 3)
    ds = xr.Dataset({"test_error": (("problem", "setting", "seed", "epoch"), err)},
                    coords={"problem": ["mnist-relu"], "setting": [f"s{i}" for i in range(12)],
                            "seed": [0, 1, 2], "optimizer": ("setting", ["adadelta"] * 12),
                            "rho": ("setting", rho), "eps": ("setting", eps),
                            "epoch": np.arange(7)})
    files = mod.extra_report(ds, tmp_path)
    md = files[0].read_text()
    assert "not stored yet" in md and "not in this run" not in md
    assert md.count("| ε = ") == 12
