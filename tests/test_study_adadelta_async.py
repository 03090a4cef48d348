"""adadelta-async: quick form through the engine's trial/store/combine path, staleness
recorded, N = 1 equal to the synchronous trial, the report and its claims."""
from __future__ import annotations

import numpy as np

from studies import adadelta_async as mod
from studies import adadelta_sec41 as base
from studies.expand import expand

from study_inline import run_inline


def test_full_form_is_the_papers_setting():
    st = mod.STUDY
    assert {p: v["replicas"] for p, v in st.problems.items()} == {
        "relu-n1": 1, "relu-n100": 100, "relu-n200": 200, "logistic-n1": 1, "logistic-n100": 100}
    assert st.problems["logistic-n100"]["activation"] == "logistic"
    assert st.optimizers == {"adagrad": {"lr": [0.01]}, "momentum": {"lr": [0.1], "rho": [0.9]},
                             "adadelta": {"rho": [0.95], "eps": [1e-6]}}
    assert list(st.seeds) == list(range(10)) and st.batch_size == 100
    assert "SIMULATION" in st.description and "NOT the speech experiment" in st.description


def test_quick_form_and_extra_report(tmp_path):
    ds, st = run_inline("adadelta-async", tmp_path)
    assert (ds["status"].values == "ok").all()
    assert list(ds["problem"].values) == ["relu-n1", "relu-n10"]
    sm = ds["staleness_mean"].values               # problem, setting, seed, epoch
    assert np.all(sm[0, :, :, 1:] == 0)            # N = 1: fresh gradients
    assert np.all(sm[1, :, :, 1:] > 3)             # N = 10: mean near 9 after the start-up
    assert np.all(ds["replicas"].values[1] == 10)
    err = ds["test_error"].values
    assert np.all(err[0, ..., -1] < 0.85)          # synchronous: every method learns
    ag = int(np.flatnonzero(ds["optimizer"].values == "adagrad")[0])
    assert np.all(err[1, ag, :, -1] < 0.85)        # (momentum may stall with stale gradients)
    # N = 1 is the synchronous trial of the other ADADELTA studies, bit for bit
    spec = next(s for s in expand(st, quick=True)
                if s["problem"] == "relu-n1" and s["optimizer"] == "adadelta" and s["seed"] == 1)
    sync = base.mlp_trial(spec)
    i = int(np.flatnonzero(ds["optimizer"].values == "adadelta")[0])
    assert np.array_equal(sync["test_error"][1], ds["test_error"].values[0, i, 1])
    files = mod.extra_report(ds, tmp_path)
    assert sorted(p.name for p in files) == ["adadelta-async-paper.md", "adadelta-async.png"]
    png = (tmp_path / "adadelta-async.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 10000
    md = (tmp_path / "adadelta-async-paper.md").read_text()
    assert "simulation" in md and "not the paper's speech experiment" in md
    assert "relu-n10 vs relu-n1 (cost of staleness)" in md
    assert "| relu-n1 | 0.0 / 0 |" in md
