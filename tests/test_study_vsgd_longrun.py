"""vsgd-longrun (vSGD supplement Fig. 3): its set-up, the quick form end to end, the figure."""
from __future__ import annotations

import numpy as np
import xarray as xr

import studies.vsgd_longrun as M
from studies import vsgd_longrun_report as R

from test_study_vsgd_quadratic_1d import run_quick


def test_setup_is_the_captions():
    st = M.STUDY
    assert st.problems[M.PROBLEM]["sizes"] == [784, 800, 10]
    assert st.epochs == 100 and st.batch_size == 1 and list(st.optimizers) == ["vsgd-l"]
    assert st.params == {"dtype": "float64", "l2": 1e-4} and len(st.seeds) == 10
    (table,) = st.tables
    assert table.published == {(M.PROBLEM, "vsgd-l"): 1.87} and table.metric == "test_error"
    n = sum(a * b + b for a, b in zip([784, 800], [800, 10]))
    assert n == 636010 and "636,010" in M.DESCRIPTION
    from studies.registry import get_study
    from studies.summary import published_runs
    assert published_runs(get_study("vsgd-longrun")) == 1


def test_quick_form_end_to_end(tmp_path):
    ds = run_quick(M.STUDY, tmp_path / "out")
    assert list(ds["epoch"].values) == [0, 1, 2, 3]
    assert (ds["status"].values == "ok").all() and ds.sizes["seed"] == 2
    e = ds["train_error"].sel(problem=M.PROBLEM).isel(setting=0).values     # (seed, epoch)
    assert np.all(e[:, -1] < e[:, 0])                                      # it learns
    assert np.all(ds["n_params"].values == 636010)
    cs = R.curves(ds)
    ep, mean, lo, hi, n = cs["test_error"]
    assert list(ep) == [1, 2, 3] and n == 2 and np.all(lo <= mean) and np.all(mean <= hi)
    v = 100 * ds["test_error"].sel(problem=M.PROBLEM).isel(setting=0, epoch=-1).values
    assert np.isclose(mean[-1], v.mean()) and np.isclose(hi[-1], v.max())
    [png] = R.extra_report(ds, tmp_path)
    assert png.name == "vsgd-longrun-fig3.png" and png.read_bytes()[:4] == b"\x89PNG"
    from studies.summary import cell_rows
    [row] = cell_rows(ds, M.STUDY)
    assert row.startswith("| M1-800: test error after 100 epochs: vsgd-l | 1.87 | ")


def test_no_finished_seed_draws_nothing(tmp_path):
    ds = xr.Dataset({"train_error": (("problem", "setting", "seed", "epoch"), np.full((1, 1, 2, 3), np.nan)),
                     "test_error": (("problem", "setting", "seed", "epoch"), np.full((1, 1, 2, 3), np.nan)),
                     "status": (("problem", "setting", "seed"), np.array([[["failed", "diverged"]]]))},
                    coords={"problem": [M.PROBLEM], "setting": ["vsgd-l()"], "seed": [0, 1],
                            "epoch": [0, 1, 2]})
    assert R.curves(ds) == {} and R.extra_report(ds, tmp_path) == []


def test_a_killed_trial_resumes_inside_and_computes_the_same(tmp_path, monkeypatch):
    """The study is resumable (studies/checkpoint.py): a trial killed after its second
    epoch's checkpoint is stored as failed with the checkpoint kept; ``--retry-failed``
    trains only the third epoch and stores what the uninterrupted trial stores."""
    import dataclasses

    import adaptlr.mlp.training as training
    from studies import store
    from studies.runner import run_trials

    assert M.STUDY.resumable
    st = dataclasses.replace(M.STUDY.resolved(True), seeds=(0,))
    plain = tmp_path / "plain"
    run_trials(st, plain, quick=True, workers=0, progress=False)
    real, saves = training.save_checkpoint, []

    def dying(*a, **k):
        real(*a, **k)
        saves.append(k["epochs_done"])
        if len(saves) == 2:
            raise RuntimeError("killed")

    monkeypatch.setattr(training, "save_checkpoint", dying)
    out = tmp_path / "killed"
    assert run_trials(st, out, quick=True, workers=0, progress=False).status_counts == \
        {"failed": 1}
    assert len(list((out / "checkpoints").iterdir())) == 1 and saves == [1, 2]
    s = run_trials(st, out, quick=True, workers=0, progress=False, retry_failed=True)
    assert s.status_counts == {"ok": 1} and saves == [1, 2, 3]      # only epoch 3 trained
    assert list((out / "checkpoints").iterdir()) == []
    [key] = store.finished_keys(out)
    a, b = store.read_trial(plain, key), store.read_trial(out, key)
    for v in ("train_error", "test_error", "train_loss", "test_loss"):
        np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)


def test_a_dataset_before_any_trial_is_stored_draws_nothing(tmp_path):
    """Seen 2026-12-07: a run whose trials all paused combined a Dataset with no curves;
    the companion report must draw nothing rather than fail."""
    ds = xr.Dataset({"status": (("problem", "setting", "seed"), np.array([[["missing"] * 2]]))},
                    coords={"problem": [M.PROBLEM], "setting": ["vsgd-l()"], "seed": [0, 1],
                            "epoch": [0, 1, 2]})
    assert R.curves(ds) == {} and R.extra_report(ds, tmp_path) == []
