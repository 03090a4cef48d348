"""adadelta-fig1: quick form through the engine's trial/store/combine path, the figure, and
the claim checks on synthetic curves with known answers."""
from __future__ import annotations

import numpy as np
import xarray as xr

from studies import adadelta_fig1 as mod

from study_inline import run_inline


def test_full_form_is_the_papers_setup():
    st = mod.STUDY
    assert st.epochs == 50 and list(st.seeds) == list(range(10)) and st.batch_size == 100
    assert st.optimizers == {"sgd": {"lr": [1.0]}, "momentum": {"lr": [0.1], "rho": [0.9]},
                             "adagrad": {"lr": [0.01]}, "adadelta": {"rho": [0.95], "eps": [1e-6]}}
    assert st.problems["mnist-relu"]["activation"] == "relu"


def _synthetic(n_seeds=10, epochs=50, seed=0):
    """Curves with a known story: SGD worst, momentum best at the end, AdaGrad flat after
    epoch 10, ADADELTA as fast as AdaGrad early."""
    rng = np.random.default_rng(seed)
    ep = np.arange(epochs + 1)
    base = {"sgd": 3.0 + 5 / (ep + 1), "momentum": 1.5 + 5 / (ep + 1),
            "adagrad": 1.8 + 5 / (np.minimum(ep, 10) + 1), "adadelta": 1.6 + 5 / (ep + 1)}
    opts = list(base)
    err = np.stack([base[o][None, :] + 0.02 * rng.standard_normal((n_seeds, epochs + 1))
                    for o in opts])[None] / 100
    return xr.Dataset({"test_error": (("problem", "setting", "seed", "epoch"), err)},
                      coords={"problem": ["mnist-relu"], "setting": opts,
                              "seed": np.arange(n_seeds), "optimizer": ("setting", opts),
                              "epoch": ep}, attrs={"quick": 0})


def test_claims_on_known_curves():
    c = mod.claims(_synthetic())
    assert len(c) == 5
    assert "SGD (lr 1) (3.10%): supported" in c[0]
    assert c[1].endswith("supported.")
    assert "supported (AdaGrad improves less)" in c[2]
    assert "not significantly slower: matched" in c[3]
    assert "as in the paper" in c[4]
    # reverse the story: momentum worse than SGD -> contradicted, SGD not the worst
    ds = _synthetic()
    ds["test_error"][0, 1] = ds["test_error"][0, 0] + 0.02
    c = mod.claims(ds)
    assert "not supported" in c[0] and "contradicted" in c[1] and "NOT momentum" in c[4]


def test_diverged_seeds_are_reported_not_averaged():
    ds = _synthetic()
    ds["test_error"][0, 0, 3, 20:] = np.nan      # SGD seed 3 diverged at epoch 20
    c = mod.claims(ds)
    assert "(n = 9)" in c[1]
    png = mod.figure_png(ds)
    assert png[:4] == b"\x89PNG"


def test_quick_form_and_extra_report(tmp_path):
    ds, _ = run_inline("adadelta-fig1", tmp_path)
    assert (ds["status"].values == "ok").all()
    assert ds.sizes["setting"] == 4 and ds.sizes["seed"] == 2 and ds.sizes["epoch"] == 4
    err = ds["test_error"].isel(problem=0).values
    assert np.all(err[..., -1] < err[..., 0])      # every method learned
    files = mod.extra_report(ds, tmp_path)
    assert sorted(p.name for p in files) == ["adadelta-fig1-paper.md", "adadelta-fig1.png"]
    png = (tmp_path / "adadelta-fig1.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 10000
    md = (tmp_path / "adadelta-fig1-paper.md").read_text()
    assert "epoch 3" in md and "Quick form" in md and "SGD method does the worst" in md
    assert "not testable with 3 epochs" in md
