"""adadelta-sec41: the quick form end to end through the engine (Dask, store, combine, report)."""
from __future__ import annotations

import numpy as np
import pytest

from studies import api
from studies import adadelta_sec41 as mod
from studies.registry import get_study


def test_registered_and_full_form_is_the_papers_setup():
    st = get_study("adadelta-sec41")
    assert st is mod.STUDY
    assert list(st.seeds) == list(range(10)) and st.epochs == 6 and st.batch_size == 100
    assert st.problems["mnist-tanh"] == {"activation": "tanh", "sizes": [784, 500, 300, 10]}
    assert st.optimizers == {"adadelta": {"rho": [0.95], "eps": [1e-6]}}
    assert "n_train" not in st.params            # the full form uses all of MNIST
    st.validate()


def test_quick_run_through_engine(tmp_path):
    summary = api.run("adadelta-sec41", out=tmp_path, quick=True, workers=0, progress=False)
    assert summary.status_counts == {"ok": 2}
    ds = api.xr.open_dataset(summary.dataset).load()
    err = ds["test_error"].sel(problem="mnist-tanh").isel(setting=0).values
    assert err.shape == (2, 3)                     # 2 seeds, epochs 0..2
    assert np.all((err > 0) & (err < 1))
    assert np.all(err[:, -1] < 0.5 * err[:, 0])    # it learned something on 2000 images
    assert not np.array_equal(err[0], err[1])      # seeds differ
    assert ds.attrs["study"] == "adadelta-sec41" and ds.attrs["quick"] == 1
    assert "2.00%" in ds.attrs["description"]
    assert len(ds.attrs["dataset_checksums"]) > 10
    files = mod.extra_report(ds, tmp_path)
    names = sorted(p.name for p in files)
    assert names == ["adadelta-sec41-paper.md", "adadelta-sec41-seeds.png"]
    for p in files:
        assert p.stat().st_size > 500
    assert (tmp_path / "adadelta-sec41-seeds.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "adadelta-sec41-paper.md").read_text()
    assert "2.00" in md and "Quick form" in md


def test_verdict_uses_prediction_interval():
    rng = np.random.default_rng(0)
    v = 2.0 + 0.05 * rng.standard_normal(10)
    assert mod.verdict(v, 2.0) == "reproduced"
    assert mod.verdict(v, 2.5).startswith("differs (-0.5")
    assert mod.verdict(np.array([2.0, np.nan]), 2.0).startswith("incomplete")
    lo, hi = mod.prediction_interval(np.array([1.0, 2.0, 3.0]))
    # t_{0.975, 2} = 4.3027, s = 1, sqrt(1 + 1/3)
    assert hi - 2.0 == pytest.approx(4.302653 * np.sqrt(4 / 3), rel=1e-5)
