"""vsgd-quadratic-2d (vSGD supplement Fig. 2): quick form end to end, trajectories figure,
and checks of the recorded paths against the problem (a few seconds with a warm cache)."""
from __future__ import annotations

import numpy as np

import studies.vsgd_noisy_quadratic as Q
import studies.vsgd_quadratic_2d as M

from test_study_vsgd_quadratic_1d import run_quick


def test_problem_has_a_10x_curvature_ratio():
    pp = M.STUDY.problems["bowl-2d"]
    assert max(pp["h"]) / min(pp["h"]) == 10.0
    assert M.STUDY.params["steps"] == 400


def test_path_is_run_0_and_loss_is_eq2():
    spec = {"problem_params": M.STUDY.problems["bowl-2d"], "optimizer": "sgd",
            "hyper": {"eta0": 0.1, "decay": 0}, "params": {"steps": 30, "runs": 1},
            "seed": 5}
    out = Q.trial(spec)
    path = out["path"][1]
    h = np.array(M.STUDY.problems["bowl-2d"]["h"])
    # one run: the median is that run's loss, J = 1/2 sum h (theta^2 + sigma^2), theta* = 0
    np.testing.assert_allclose(out["loss_median"][1], 0.5 * np.sum(h * (path ** 2 + 1.0), axis=1),
                               rtol=1e-12)
    # SGD step: theta_{t+1} = theta_t - eta h (theta_t - c_t) with |c_t| finite: path moves
    assert np.all(np.isfinite(path)) and path.shape == (31, 2)
    assert np.all(path[0] == np.array(M.STUDY.problems["bowl-2d"]["theta0"]))


def test_quick_form_end_to_end(tmp_path):
    ds = run_quick(M.STUDY, tmp_path)
    assert set(ds["status"].values.ravel()) == {"ok"}
    assert ds.sizes["dim"] == 2 and ds.sizes["step"] == 101
    # common random numbers: every method starts at theta0 with the same optimum
    p0 = ds["path"].isel(problem=0, step=0).values
    assert np.all(p0 == p0[0, 0])
    # the oracle (Eq. 5) has the lowest time-averaged loss of all methods
    m = ds["loss_time_mean"].isel(problem=0).mean("seed").values
    assert int(np.argmin(m)) == int(np.flatnonzero(ds.optimizer.values == "oracle")[0])
    figs = M.extra_report(ds, tmp_path / "report")
    assert [f.name for f in figs] == ["vsgd-quadratic-2d-trajectories.png",
                                      "vsgd-quadratic-2d-loss.png"]
    assert all(f.stat().st_size > 10_000 for f in figs)
