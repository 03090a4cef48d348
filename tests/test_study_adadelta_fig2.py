"""adadelta-fig2: quick form through the engine's trial/store/combine path (step sizes and
updates recorded), the measured claims on synthetic records with known answers."""
from __future__ import annotations

import json
import re

import numpy as np
import xarray as xr

from studies import adadelta_fig2 as mod

from study_inline import run_inline


def test_full_form_is_the_papers_setup():
    st = mod.STUDY
    assert st.epochs == 25 and st.batch_size == 100 and list(st.seeds) == list(range(10))
    assert st.params["record_lr_every"] == 60 and st.params["record_dims"] == 10
    assert st.params["dtype"] == "float64"        # exact dx = theta_new - theta_old
    assert st.problems["mnist-tanh"] == {"activation": "tanh", "sizes": [784, 500, 300, 10]}
    assert st.optimizers == {"adadelta": {"rho": [0.95], "eps": [1e-6]}}


def _synthetic(early, late, n_seeds=4, epochs=3, spe=10, every=2, dims=3):
    """Records where the median step size per layer is ``early`` in epoch 1 and ``late`` in
    the last epoch; updates shrink by 10x."""
    steps = np.arange(every, epochs * spe + 1, every)
    ep = np.ceil(steps / spe)
    R = steps.size
    med = np.where((ep == 1)[:, None], np.asarray(early)[None, :], 1.0)
    med = np.where((ep == epochs)[:, None], np.asarray(late)[None, :], med)
    med = np.broadcast_to(med, (n_seeds, R, 3)).copy()
    med *= np.exp(0.01 * np.random.default_rng(0).standard_normal(med.shape))
    tr = np.repeat(med[..., None], dims, axis=3)
    up = np.where((ep == 1)[None, :, None, None], 1e-2, 1e-3) * np.ones_like(tr)
    full = lambda a: a[None, None]   # noqa: E731  (problem, setting)
    ds = xr.Dataset(
        {"lr_median": (("problem", "setting", "seed", "lr_record", "layer"), full(med)),
         "lr_min": (("problem", "setting", "seed", "lr_record", "layer"), full(med / 10)),
         "lr_max": (("problem", "setting", "seed", "lr_record", "layer"), full(med * 10)),
         "lr_step": (("problem", "setting", "seed", "lr_record"),
                     full(np.broadcast_to(steps, (n_seeds, R)).astype(float))),
         "lr_trace": (("problem", "setting", "seed", "lr_record", "layer", "dim"), full(tr)),
         "update_trace": (("problem", "setting", "seed", "lr_record", "layer", "dim"), full(up)),
         "test_error": (("problem", "setting", "seed", "epoch"),
                        np.full((1, 1, n_seeds, epochs + 1), 0.02))},
        coords={"problem": ["mnist-tanh"], "setting": ["adadelta"], "seed": np.arange(n_seeds),
                "epoch": np.arange(epochs + 1)},
        attrs={"spec": json.dumps({"params": {"n_train": spe * 100}, "batch_size": 100}),
               "quick": 0})
    return ds


def test_claims_supported_and_not():
    good = mod.claims(_synthetic(early=[30.0, 3.0, 0.1], late=[1.1, 0.9, 1.3]))
    assert len(good) == 3
    assert "in 4/4 seeds" in good[0] and good[0].endswith("Verdict: supported.")
    assert re.search(r"W0 \(784x500\): (29\.\d|30)", good[0])
    assert "At the first record (step 2)" in good[0]
    assert "within [0.5, 2] in 4/4 seeds" in good[1] and good[1].endswith("Verdict: supported.")
    assert "W0: 1.00" in good[1]
    assert "Verdict: supported (the 95% CI" in good[2]
    bad = mod.claims(_synthetic(early=[0.1, 3.0, 30.0], late=[1e-3, 1e-3, 1e-3]))
    assert "in 0/4 seeds" in bad[0] and "not supported" in bad[0]
    assert "not supported" in bad[1]
    assert mod.figure_png(_synthetic([3, 2, 1], [1, 1, 1]))[:4] == b"\x89PNG"


def test_quick_form_and_extra_report(tmp_path):
    ds, _ = run_inline("adadelta-fig2", tmp_path)
    assert (ds["status"].values == "ok").all()
    n_rec = 2 * 20 // 5
    assert ds.sizes["lr_record"] == n_rec and ds.sizes["layer"] == 3 and ds.sizes["dim"] == 10
    steps = ds["lr_step"].isel(problem=0, setting=0).values
    assert (steps == np.arange(5, 41, 5)).all()
    tr = ds["lr_trace"].isel(problem=0, setting=0).values
    med = ds["lr_median"].isel(problem=0, setting=0).values
    assert np.all(med > 0) and np.all(np.isfinite(med))
    # |dx/g| >= 0; dx is measured as theta_new - theta_old, which can round to 0 in float32
    # when the update is below half an ulp of the weight, so only "mostly > 0" holds
    fin = tr[np.isfinite(tr)]
    assert fin.size > 0.5 * tr.size and np.all(fin >= 0) and np.mean(fin > 0) > 0.9
    dims = ds["record_dim"].isel(problem=0, setting=0).values      # (seed, layer, dim)
    assert dims.shape == (2, 3, 10) and (dims[:, 2] < 300 * 10).all()
    assert not np.array_equal(dims[0], dims[1])                     # drawn from the seed
    files = mod.extra_report(ds, tmp_path)
    assert sorted(p.name for p in files) == ["adadelta-fig2-paper.md", "adadelta-fig2.png"]
    png = (tmp_path / "adadelta-fig2.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 20000
    md = (tmp_path / "adadelta-fig2-paper.md").read_text()
    assert "(1) Early" in md and "(2) Late" in md and "(3) Median |dx|" in md
