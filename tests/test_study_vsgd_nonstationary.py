"""vsgd-nonstationary (vSGD Fig. 2): quick form end to end, the jumps of the optimum, the
oracle's response to them, and the figure (a few seconds with a warm Numba cache)."""
from __future__ import annotations

import numpy as np

import studies.vsgd_nonstationary as M

from test_study_vsgd_quadratic_1d import run_quick


def test_quick_form_end_to_end(tmp_path):
    ds = run_quick(M.STUDY, tmp_path)
    assert set(ds["status"].values.ravel()) == {"ok"}
    assert ds.sizes["step"] == 601
    ts = ds["theta_star"].isel(problem=0, seed=0, dim=0).values  # (setting, step)
    # the optimum is the same for every method (drawn from the seed) and jumps every 300 steps
    assert np.all(ts == ts[0])
    jumps = np.flatnonzero(np.diff(ts[0]) != 0) + 1
    assert list(jumps) == [300, 600]
    # different seeds draw different optima
    assert ds["theta_star"].isel(problem=0, setting=0, dim=0, seed=1).values[400] != ts[0, 400]
    # the oracle rate (Eq. 5) jumps back up after a jump: (theta - theta*)^2 becomes large
    i = int(np.flatnonzero(ds.optimizer.values == "oracle")[0])
    lr = ds["lr_median"].isel(problem=0, setting=i, dim=0).values
    assert np.all(lr[:, 300] > 5 * lr[:, 299])
    # the SGD 1/t schedule cannot: its rate keeps decreasing
    j = int(np.flatnonzero((ds.optimizer.values == "sgd") & (ds.decay.values == 1)
                           & (ds.eta0.values == 1.0))[0])
    lr_s = ds["lr_median"].isel(problem=0, setting=j, dim=0, seed=0).values
    assert lr_s[300] < lr_s[299]
    assert np.all(np.isfinite(ds["loss_time_mean"].values))
    figs = M.extra_report(ds, tmp_path / "report")
    assert [f.name for f in figs] == ["vsgd-nonstationary-fig2.png"]
    assert figs[0].stat().st_size > 10_000
