"""The figure-claim tests of the vSGD quadratic studies (studies/figure_claims.py and the
three companion report modules), on made Datasets whose answers are known, and once on
the committed results."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from studies import figure_claims as F
from studies import vsgd_nonstationary_report as NS
from studies import vsgd_quadratic_1d_report as Q1
from studies import vsgd_quadratic_2d_report as Q2

REPO = Path(__file__).resolve().parents[1]


def _made(labels, loss, lr=None, theta_star=None, floor=0.5):
    """A Dataset shaped like the quadratic studies': loss (setting, seed, step)."""
    loss = np.asarray(loss, dtype=np.float64)
    S, N, T = loss.shape
    lr = np.zeros((S, N, T, 1)) if lr is None else np.asarray(lr, np.float64)[..., None]
    ts = np.zeros((S, N, T, 1)) if theta_star is None else np.broadcast_to(
        np.asarray(theta_star, np.float64)[None, None, :, None], (S, N, T, 1))
    d4 = ("problem", "setting", "seed", "step")
    return xr.Dataset(
        {"loss_median": (d4, loss[None]),
         "lr_median": ((*d4, "dim"), lr[None]),
         "theta_star": ((*d4, "dim"), ts[None]),
         "loss_final_median": (d4[:3], loss[None, :, :, -1]),
         "loss_time_mean": (d4[:3], loss[None].mean(axis=-1)),
         "loss_floor": (d4[:3], np.full((1, S, N), floor)),
         "status": (d4[:3], np.full((1, S, N), "ok"))},
        coords={"problem": ["p"], "setting": list(labels), "seed": np.arange(N)})


def test_paired_verdicts_follow_the_claimed_direction():
    rng = np.random.default_rng(0)
    base = 1 + 0.01 * rng.standard_normal((1, 10, 3))
    ds = _made(["a", "b"], np.concatenate([base - 0.1, base]))
    assert F.paired(ds, "c", "a", "b", "loss_final_median").endswith("| reproduced |")
    assert "not reproduced" in F.paired(ds, "c", "a", "b", "loss_final_median", lower=False)
    same = _made(["a", "b"], np.concatenate([base, base + 1e-3 * rng.standard_normal((1, 10, 3))]))
    assert "not significant" in F.paired(same, "c", "a", "b", "loss_final_median")
    assert "not run" in F.paired(ds, "c", "a", "zz", "loss_final_median")
    few = _made(["a", "b"], np.concatenate([base - 0.1, base])[:, :5])
    assert "undetermined (5 paired seeds" in F.paired(few, "c", "a", "b", "loss_final_median")
    ds["status"][0, 0, :] = "failed"          # a's seeds did not finish: no pair
    assert "undetermined" in F.paired(ds, "c", "a", "b", "loss_final_median")
    assert F.every_seed("c", "m", [True, True]).endswith("| reproduced |")
    assert F.every_seed("c", "m", [True, False]).endswith("| partly |")
    assert F.every_seed("c", "m", [False]).endswith("| not reproduced |")


def test_nonstationary_measures_by_hand():
    """Optimum jumps at steps 3 and 8 of 13 (and at the last step, which has no window);
    the rate rises two steps after each jump, the loss recovers after three."""
    T = 13
    ts = np.array([0, 0, 0, 5, 5, 5, 5, 5, 9, 9, 9, 9, 9, 7], dtype=float)[:T + 1]
    lr = np.full((2, 2, T + 1), 0.01)
    loss = np.full((2, 2, T + 1), 0.5)
    for j in (3, 8):
        lr[0, :, j + 2] = 0.5            # "vsgd": peaks two steps late
        lr[1, :, j] = 1.0                # "oracle": peaks at the jump
        loss[0, :, j:j + 4] = 10.0       # back below 2 x floor at j + 4
        loss[1, :, j] = 10.0
    ds = _made([NS.VSGD, NS.ORACLE], loss, lr, ts)
    old = NS.WINDOW
    try:
        NS.WINDOW = 4
        assert list(NS.jumps(ds)) == [3, 8, 13] and list(NS.jumps(ds, 4)) == [3, 8]
        before, peak, at = NS.rate_after_jumps(ds, NS.VSGD)
        assert np.allclose(before, 0.01) and np.allclose(peak, 0.5) and (at == 2).all()
        assert (NS.recovery(ds, NS.VSGD) == 4).all() and (NS.recovery(ds, NS.ORACLE) == 1).all()
        assert np.allclose(NS.segment_ends(ds, NS.VSGD), 0.5)
    finally:
        NS.WINDOW = old


def test_quadratic_1d_measures_by_hand():
    """vSGD does not move in its n0 slow-start steps, then reaches the floor in one step,
    as SGD with rate 1 does from step 1: 'as fast', counted in moving steps."""
    T = 15
    loss = np.full((3, 3, T + 1), 0.5)
    loss[:, :, 0] = 50.0
    loss[0, :, :Q1.N0 + 1] = 50.0
    loss[2, :, :5] = 50.0                    # a slower method
    lr = np.full((3, 3, T + 1), 0.1)
    lr[2] = 0.2
    ds = _made([Q1.VSGD, Q1.FIXED[0], Q1.ORACLE], loss, lr)
    assert (Q1.first_below(ds, Q1.FIXED[0]) == 1).all()
    assert (Q1.first_below(ds, Q1.VSGD) == Q1.N0 + 1).all()
    assert np.allclose(Q1.final_rate_ratio(ds, Q1.VSGD), 0.5)
    assert "holds in 3 of 3 | reproduced" in Q1.claim_rows(ds)[0]
    loss[0, :, Q1.N0 + 1] = 50.0             # one step slower than SGD: not as fast
    assert "holds in 0 of 3 | not reproduced" in Q1.claim_rows(_made(
        [Q1.VSGD, Q1.FIXED[0], Q1.ORACLE], loss, lr))[0]


@pytest.mark.parametrize("name, mod, n_rows", [
    ("vsgd-nonstationary", NS, 8), ("vsgd-quadratic-1d", Q1, 12), ("vsgd-quadratic-2d", Q2, 8)])
def test_companions_on_the_committed_results(tmp_path, name, mod, n_rows):
    nc = REPO / "data" / "results" / name / f"{name}.nc"
    if not nc.is_file():
        pytest.skip(f"{nc} not stored")
    with xr.open_dataset(nc) as ds:
        ds = ds.load()
    rows = mod.claim_rows(ds)
    assert len(rows) == n_rows and all(r.startswith("| ") and r.count(" | ") >= 3 for r in rows)
    [path] = mod.extra_report(ds, tmp_path)
    text = path.read_text()
    assert path.name == f"{name}-claims.md" and "| claim (the paper's words) |" in text
    assert "undetermined" not in text and "not run" not in text


def test_slowstart_sensitivity_claims_by_hand():
    """Fig. 10's claims on a made Dataset: C in 1..1e3, three variants, known errors."""
    from studies import vsgd_slowstart_sensitivity_report as SS

    Cs = [1.0, 10.0, 100.0, 1000.0]
    last = {"vsgd-l": [0.5, 0.1, 0.1, 0.3], "vsgd-b": [0.2, 0.1, 0.1, 0.3],
            "vsgd-g": [0.11, 0.1, 0.1, 0.3]}
    settings, opts, cs, te = [], [], [], []
    for v, errs in last.items():
        for C, e in zip(Cs, errs):
            settings.append(f"{v}(C={C})")
            opts.append(v)
            cs.append(C)
            # epochs 0, 1, 2: epoch 1 at the largest C is 4x the best epoch-1 error
            e1 = 0.4 if C == Cs[-1] else 0.1
            te.append([[0.9, e1, e], [0.9, e1, e]])
    te = np.array(te)[None]                                # problem, setting, seed, epoch
    ds = xr.Dataset(
        {"test_error": (("problem", "setting", "seed", "epoch"), te),
         "status": (("problem", "setting", "seed"), np.full(te.shape[:3], "ok")),
         "n_params": (("problem", "setting", "seed"), np.full(te.shape[:3], 1000.0))},
        coords={"problem": ["M0"], "setting": settings, "optimizer": ("setting", opts),
                "C": ("setting", cs), "seed": [0, 1], "epoch": [0, 1, 2]})
    rows = SS.claim_rows(ds)
    assert len(rows) == 4
    assert "vsgd-l 5.00x, vsgd-b 2.00x, vsgd-g 1.10x" in rows[0] and rows[0].endswith(
        "| reproduced |")
    assert "vsgd-l 10 to 100 (1 decades)" in rows[1] and "partly" in rows[1]
    assert "vsgd-l 4.00x / 3.00x" in rows[2] and rows[2].endswith("| reproduced |")
    assert "d/10 = 100" in rows[3] and "holds in 3 of 3" in rows[3]
    ds["test_error"][0, 0, :, -1] = 0.105                   # vsgd-l barely minds a small C
    assert "partly: unstable, but vsgd-b most affected" in SS.claim_rows(ds)[0]
    ds["status"][0, 1, :] = "missing"                       # a C not stored: no rows yet
    assert SS.claim_rows(ds) == []
