"""The reproduction report (python -m studies summary): verdict rule and completeness."""
import numpy as np
from scipy import stats

import fake_checkpoint

import studies.timing

from studies.summary import build, prediction_verdict


def test_prediction_interval_verdict_by_hand():
    v = np.array([2.0, 2.2, 1.8, 2.1, 1.9])
    m, sd, n = v.mean(), v.std(ddof=1), v.size
    t = stats.t.ppf(0.975, n - 1)
    pi = t * sd * np.sqrt(1 + 1 / n)
    verdict, mean, ci, half = prediction_verdict(v, m + 0.99 * pi)
    assert verdict == "reproduced" and np.isclose(mean, m) and np.isclose(half, pi)
    assert np.isclose(ci, t * sd / np.sqrt(n))
    assert prediction_verdict(v, m + 1.01 * pi)[0] == "differs (ours lower)"
    assert prediction_verdict(v, m - 1.01 * pi)[0] == "differs (ours higher)"
    assert prediction_verdict(v[:1], 2.0)[0].startswith("undetermined")
    assert prediction_verdict(np.array([np.nan]), 2.0)[0] == "not run"


def test_verdict_for_a_published_mean_of_m_runs_by_hand():
    """vSGD's tables average ten runs: the interval is the one for the mean of 10 new runs,
    t sd sqrt(1/10 + 1/n), narrower than the one-run interval, so a value inside the one-run
    interval can differ from a 10-run mean."""
    import pytest

    v = np.array([2.0, 2.2, 1.8, 2.1, 1.9, 2.05, 1.95, 2.15])
    m, sd, n = v.mean(), v.std(ddof=1), v.size
    t = stats.t.ppf(0.975, n - 1)
    pi10 = t * sd * np.sqrt(1 / 10 + 1 / n)
    verdict, _, _, half = prediction_verdict(v, m + 0.99 * pi10, 10)
    assert verdict == "reproduced" and np.isclose(half, pi10)
    assert prediction_verdict(v, m + 1.01 * pi10, 10)[0] == "differs (ours lower)"
    assert prediction_verdict(v, m + 1.01 * pi10, 1)[0] == "reproduced"   # one run: wider
    assert np.isclose(prediction_verdict(v, m, 1)[3], t * sd * np.sqrt(1 + 1 / n))
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ValueError, match="paper_runs"):
            prediction_verdict(v, m, bad)


def test_claim_studies_are_registered_and_hold_the_claims_methods():
    """A renamed study or a dropped column would silently empty the claims section."""
    from studies.claims import CLAIM_STUDIES, CLAIMS
    from studies.registry import all_studies

    st = all_studies()
    for name in CLAIM_STUDIES:
        assert name in st, name
        methods = set(st[name].optimizers)
        assert {m for c in CLAIMS for m in c[:2]} <= methods, (name, methods)


def test_published_runs_per_study():
    from studies.registry import all_studies
    from studies.summary import published_runs

    st = all_studies()
    assert published_runs(st["vsgd-tables"]) == 10       # "averaged over ten random initializations"
    assert published_runs(st["vsgd-tables-cifar"]) == 10
    for name in ("adadelta-sec41", "adadelta-table1", "adadelta-table2"):
        assert published_runs(st[name]) == 1             # Zeiler's tables: single runs


def test_summary_on_empty_results_lists_every_study_as_not_run(tmp_path):
    path = build(tmp_path)
    text = path.read_text()
    assert path == tmp_path / "REPORT.md"
    assert "| [adadelta-table1](#adadelta-table1) |" in text
    assert "0/160 (not run)" in text
    assert "selftest" not in text  # internal studies are not part of the reproduction
    assert "## The papers' central claims" in text
    assert "No stored vSGD Tables 2-3 results yet." in text
    assert "t·sd·√(1/m+1/n)" in text and "(m = 10" in text


def _tables_dataset(errors: dict, status=None):
    """A minimal vsgd-tables-like Dataset: errors[optimizer] = per-seed final test/train error."""
    import xarray as xr

    opts = list(errors)
    n = len(next(iter(errors.values())))
    v = np.array([errors[o] for o in opts], dtype=np.float64)[None, :, :, None]  # problem, setting, seed, epoch
    st = np.full(v.shape[:3], "ok", dtype="<U8") if status is None else status
    return xr.Dataset(
        {"train_error": (("problem", "setting", "seed", "epoch"), v),
         "test_error": (("problem", "setting", "seed", "epoch"), v + 0.01),
         "status": (("problem", "setting", "seed"), st)},
        coords={"problem": ["M0"], "setting": [f"{o}()" for o in opts],
                "optimizer": ("setting", opts), "seed": np.arange(n), "epoch": [6]})


def test_claim_comparison_verdicts_by_hand():
    from studies.claims import compare

    rng = np.random.default_rng(0)
    b = 0.07 + 0.001 * rng.standard_normal(10)
    better = compare(b - 0.002, b)  # every paired difference negative: exact Wilcoxon p = 2/1024
    assert better["verdict"] == "better" and np.isclose(better["p"], 2 / 1024)
    assert np.isclose(better["diff"], -0.002) and better["equivalent"]
    assert compare(b + 0.002, b)["verdict"] == "worse"
    noise = 1e-4 * rng.standard_normal(10)
    same = compare(b + noise, b)
    d = noise
    half = stats.t.ppf(0.975, 9) * d.std(ddof=1) / np.sqrt(10)
    assert same["verdict"] == "not different" and same["p"] >= 0.01
    assert np.allclose(same["ci"], (d.mean() - half, d.mean() + half))
    far = compare(b + 0.02 + 1e-3 * rng.standard_normal(10), b)  # 0.02 >> 5% of 0.07
    assert far["verdict"] == "worse" and not far["equivalent"]
    assert compare(b[:1], b[:1])["verdict"].startswith("undetermined")
    # 5 pairs, all one sign: Wilcoxon's smallest p is 2/32 > 0.01, so no verdict either way
    few = compare(b[:5] - 0.002, b[:5])
    assert np.isclose(few["p"], 2 / 32) and few["verdict"] == (
        "undetermined (5 paired seeds: the Wilcoxon test cannot reach p < 0.01)")
    assert compare(b[:8] - 0.002, b[:8])["verdict"] == "better"       # 2/256 < 0.01


def test_claim_rows_use_only_seeds_finished_for_both_methods():
    from studies.claims import vsgd_claim_rows

    rng = np.random.default_rng(1)
    sgd = 0.075 + 0.001 * rng.standard_normal(10)
    status = np.full((1, 3, 10), "ok", dtype="<U8")
    status[0, 0, 3] = "diverged"  # vsgd-l seed 3
    ds = _tables_dataset({"vsgd-l": sgd - 0.003, "sgd": sgd, "adagrad": sgd + 0.001}, status)
    rows = vsgd_claim_rows(ds)
    assert len(rows) == 2 + 3
    assert all("| M0 |" in r and "| 9 |" in r for r in rows[2:])  # 9 paired seeds
    assert "better than best-tuned SGD | 9 | -0.300" in rows[2] and "| better |" in rows[2]
    assert "| better |" in rows[3]  # vs AdaGrad: -0.4 points
    assert vsgd_claim_rows(ds.sel(setting=["sgd()", "adagrad()"])) == []  # no vSGD-l: nothing


def test_report_paths_under_the_repository_become_relative():
    from studies.api import repo_root
    from studies.summary import _relative_paths

    root = repo_root().resolve()
    assert _relative_paths(f"source: `{root}/data/results/x/x.nc`") == "source: `data/results/x/x.nc`"
    assert _relative_paths("/elsewhere/file.nc") == "/elsewhere/file.nc"


def _stored_walls(st, out, by):
    """Median-ready wall times of the stored trials of ``st`` in ``out``, grouped by
    ``by(spec)``; with the trials and the stored keys."""
    import netCDF4

    from studies.expand import code_version, expand, keyed
    from studies.store import finished_keys, trial_path

    done = finished_keys(out)
    trials = keyed(expand(st), code_version(st))
    walls = {}
    for k, s in trials:
        if k in done:
            with netCDF4.Dataset(trial_path(out, k)) as nc:
                walls.setdefault(by(s), []).append(float(nc.wall_time))
    return walls, trials, done


def test_remaining_estimate_from_stored_trial_times(tmp_path):
    import studies
    from studies.expand import expand
    from studies.registry import get_study
    from studies.summary import _remaining_text, remaining_estimate

    st = get_study("selftest")
    out = tmp_path / "selftest"
    hours, unknown, _, _, _ = remaining_estimate(st, out)  # nothing stored: nothing to estimate from
    total = len(expand(st))
    assert hours == 0.0 and unknown == total
    studies.run("selftest", out=out, workers=0, seeds=(0, 1), progress=False)
    walls, trials, done = _stored_walls(st, out, lambda s: (s["problem"], s["optimizer"]))
    expected = sum(np.median(walls[(s["problem"], s["optimizer"])])
                   for k, s in trials if k not in done) / 3600
    hours, unknown, by_data, scaled, _ = remaining_estimate(st, out)
    assert unknown == 0 and by_data == {} and scaled == 0 and 0 < len(done) < total
    assert np.isclose(hours, expected)
    assert _remaining_text(hours, 0, total - len(done)).startswith(("≈", "<"))
    assert _remaining_text(0.0, 3, 3) == "3 trials without a timed reference"
    assert _remaining_text(0.0, 0, 0) == "—"
    assert (_remaining_text(1.0, 5, 10, {"cifar10": 5})
            == "≈ 1.0 core-h; 5 trials without a timed reference (CIFAR-10: 5)")
    assert _remaining_text(2.0, 0, 4, scaled=4).startswith("≈ 2.0 core-h (4 trials scaled")


def test_remaining_estimate_scales_from_a_smaller_network_by_parameters_and_samples():
    from studies.timing import problem_work

    assert problem_work({"problem_params": {"sizes": [784, 10]}}) == 7850
    assert problem_work({"problem_params": {"sizes": [2, 10, 2], "n_train": 100}}) == 52 * 100
    assert problem_work({"problem_params": {"h": [1.0]}}) is None


def test_default_table_shows_error_rates_in_percent():
    import xarray as xr

    from studies.registry import get_study
    from studies.report import default_table

    st = get_study("adadelta-async")
    ds = xr.Dataset({"test_error": (("problem", "setting", "seed"), np.full((1, 1, 2), 0.05),
                                    {"long_name": "test error rate", "units": "1"})},
                    coords={"problem": ["p"], "setting": ["sgd()"], "optimizer": ("setting", ["sgd"]),
                            "setting_json": ("setting", ["{}"])})
    assert st.curve_metric == "test_error"
    t = default_table(ds, st)
    assert t.scale == 100.0 and t.unit == "%"
    ds["test_error"].attrs["long_name"] = "test loss"
    assert default_table(ds, st).scale == 1.0


def test_a_dataset_is_current_when_it_names_only_current_trial_keys():
    """The summary labels a partial study's stored Dataset 'from code X' only when it was
    made from other trials than the current code reads: a carry-over (same trials, new
    keys through the ledger, and a Dataset rebuilt from them) is current although its
    source hash differs; a Dataset naming a key the code no longer has is not."""
    import xarray as xr

    from studies.summary import dataset_is_current

    keys = np.array([["a", "b"], ["c", ""]], dtype=object)   # "": an excluded cell
    ds = xr.Dataset({"trial_key": (("setting", "seed"), keys.astype(str))},
                    attrs={"source_sha256": "old"})
    code = {"source_sha256": "new"}
    assert dataset_is_current(ds, {"a", "b", "c", "d"}, code)
    assert not dataset_is_current(ds, {"a", "b"}, code)
    assert not dataset_is_current(ds.assign(trial_key=ds["trial_key"].where(False, "")),
                                  {"a"}, code)
    old = ds.drop_vars("trial_key")          # a Dataset combined before trial_key existed
    assert not dataset_is_current(old, {"a", "b", "c"}, code)
    assert dataset_is_current(old, set(), {"source_sha256": "old"})


def test_remaining_estimate_scales_missing_problems_from_stored_ones(tmp_path, monkeypatch):
    """Trials of a problem with nothing stored are estimated from the same optimizer on
    the largest stored problem, times the ratio of problem_work."""
    import studies
    import studies.summary as sm
    from studies.registry import get_study

    st = get_study("selftest")
    p1, p2 = sorted(st.problems)[:2]
    out = tmp_path / "selftest"
    studies.run("selftest", out=out, workers=0, seeds=(0, 1), problems=[p1], progress=False)
    monkeypatch.setattr(studies.timing, "problem_work", lambda s: {p1: 1.0, p2: 3.0}.get(s["problem"]))
    walls, trials, done = _stored_walls(st, out, lambda s: s["optimizer"])
    hours, unknown, _, scaled, _ = sm.remaining_estimate(st, out)
    missing2 = [s for k, s in trials if k not in done and s["problem"] == p2]
    assert scaled == len(missing2) > 0
    expect = sum(3.0 * np.median(walls[s["optimizer"]]) for s in missing2)
    expect += sum(np.median(walls[s["optimizer"]]) for k, s in trials
                  if k not in done and s["problem"] == p1)
    assert np.isclose(hours * 3600, expect)
    assert unknown == sum(1 for k, s in trials if k not in done and s["problem"] not in (p1, p2))


def test_remaining_estimate_prefers_the_same_optimizer_scaled_to_other_optimizers(
        tmp_path, monkeypatch):
    """A problem where one optimizer is stored: another optimizer's missing trials there
    take that optimizer's own time from the stored problem, scaled, not the other
    optimizer's time on this problem (methods differ several-fold in cost)."""
    import studies
    import studies.summary as sm
    from studies.registry import get_study

    st = get_study("selftest")
    p1, p2 = sorted(st.problems)[:2]
    opts = sorted(st.optimizers)
    out = tmp_path / "selftest"
    studies.run("selftest", out=out, workers=0, seeds=(0, 1), problems=[p1], progress=False)
    studies.run("selftest", out=out, workers=0, seeds=(0,), problems=[p2], only=[opts[0]],
                progress=False)
    monkeypatch.setattr(studies.timing, "problem_work", lambda s: {p1: 1.0, p2: 3.0}.get(s["problem"]))
    walls, trials, done = _stored_walls(st, out, lambda s: (s["problem"], s["optimizer"]))
    _, _, _, scaled, _ = sm.remaining_estimate(st, out)
    missing_other = [s for k, s in trials
                     if k not in done and s["problem"] == p2 and s["optimizer"] != opts[0]]
    assert missing_other and scaled == len(missing_other)


def test_vsgd_table_cells_are_judged_as_means_of_ten_runs():
    """A seed spread that puts the paper's 6.72% inside the one-run interval but outside the
    interval for a mean of ten runs: vsgd-tables' row says 'differs', an m = 1 verdict would
    have said 'reproduced'."""
    from studies.registry import all_studies
    from studies.summary import cell_rows

    st = all_studies()["vsgd-tables"]
    rng = np.random.default_rng(3)
    z = rng.standard_normal(10)
    z = (z - z.mean()) / z.std(ddof=1)                      # sd exactly 1 (in 0.1 points)
    t = stats.t.ppf(0.975, 9)
    shift = 0.5 * (np.sqrt(1 / 10 + 1 / 10) + np.sqrt(1 + 1 / 10)) * t   # between the two
    errors = {o: (6.72 + 0.1 * (shift + z)) / 100 for o in ("vsgd-l", "sgd")}
    rows = cell_rows(_tables_dataset(errors), st)
    row = next(r for r in rows if r.startswith("| M0: training error after 6 epochs: vsgd-l |"))
    assert row.endswith("| differs (ours higher) |")
    assert prediction_verdict(100 * errors["vsgd-l"], 6.72, 1)[0] == "reproduced"


def test_problem_ratio_by_hand():
    from studies.timing import problem_ratio

    work = {"a": 1.0, "b": 5.0}
    times = {("a", "x"): [10.0, 12.0], ("b", "x"): [88.0], ("a", "y"): [2.0], ("b", "y"): [20.0],
             ("a", "z"): [4.0]}                          # z: only on a, not used
    assert np.isclose(problem_ratio(times, "a", "b", work), np.median([88.0 / 11.0, 10.0]))
    assert problem_ratio({("a", "x"): [1.0]}, "a", "b", work) == 5.0   # none ran both: work


def test_remaining_estimate_scales_by_the_measured_ratio_of_methods_that_ran_both(
        tmp_path, monkeypatch):
    """One optimizer stored on both problems: the others' missing trials on the second take
    their own time on the first times that optimizer's measured ratio, not the work ratio."""
    import studies
    import studies.summary as sm
    from studies.registry import get_study

    st = get_study("selftest")
    p1, p2 = sorted(st.problems)[:2]
    opts = sorted(st.optimizers)
    out = tmp_path / "selftest"
    studies.run("selftest", out=out, workers=0, seeds=(0, 1), problems=[p1], progress=False)
    studies.run("selftest", out=out, workers=0, seeds=(0, 1), problems=[p2], only=[opts[0]],
                progress=False)
    monkeypatch.setattr(studies.timing, "problem_work", lambda s: {p1: 1.0, p2: 1e6}.get(s["problem"]))
    walls, trials, done = _stored_walls(st, out, lambda s: (s["problem"], s["optimizer"]))
    ratio = np.median(walls[(p2, opts[0])]) / np.median(walls[(p1, opts[0])])
    hours, _, _, scaled, _ = sm.remaining_estimate(st, out)
    missing = [s for k, s in trials if k not in done]
    own = [s for s in missing if (s["problem"], s["optimizer"]) in walls]   # stored elsewhere
    other = [s for s in missing if s["problem"] == p2 and s["optimizer"] != opts[0]]
    expect = sum(np.median(walls[(p1, s["optimizer"])]) * ratio for s in other)
    expect += sum(np.median(walls[(s["problem"], s["optimizer"])]) for s in own)
    assert scaled == len(other) > 0
    assert np.isclose(hours * 3600, expect)      # the 1e6 work ratio would be far off


def test_claim_tally_counts_each_statement_by_hand():
    from studies.claims import claim_tally

    rng = np.random.default_rng(2)
    sgd = 0.075 + 0.001 * rng.standard_normal(10)
    ds = _tables_dataset({"vsgd-l": sgd - 0.003, "sgd": sgd, "adagrad": sgd - 0.006})
    text = claim_tally(ds)   # training: better than SGD, worse than AdaGrad; test: better
    assert "AdaGrad in 1 of 2 comparisons" in text and "SGD on 1 of 1 problems" in text
    few = claim_tally(ds.isel(seed=slice(0, 5)))   # 5 pairs: no verdict possible at 0.01
    assert "in 0 of 0 (2 more without a verdict yet) comparisons" in few
    assert "on 0 of 0 (1 more without a verdict yet) problems" in few
    assert claim_tally(ds.sel(setting=["sgd()", "adagrad()"])) == ""


def test_prediction_p_agrees_with_the_verdict_and_by_hand():
    from studies.summary import prediction_p

    v = np.array([2.0, 2.2, 1.8, 2.1, 1.9, 2.05, 1.95, 2.15])
    m, sd, n = v.mean(), v.std(ddof=1), v.size
    t = stats.t.ppf(0.975, n - 1)
    for runs in (1, 10):
        pi = t * sd * np.sqrt(1 / runs + 1 / n)
        assert np.isclose(prediction_p(v, m + pi, runs), 0.05)        # the interval's edge
        assert prediction_p(v, m + 0.99 * pi, runs) > 0.05
        assert prediction_p(v, m - 1.01 * pi, runs) < 0.05
        assert prediction_verdict(v, m - 1.01 * pi, runs)[0].startswith("differs")
    tt = (2.5 - m) / (sd * np.sqrt(1 / 10 + 1 / n))
    assert np.isclose(prediction_p(v, 2.5, 10), 2 * stats.t.sf(abs(tt), n - 1))
    assert np.isnan(prediction_p(v[:1], 2.0)) and np.isnan(prediction_p([np.nan, 1.0], 2.0))
    assert prediction_p([1.0, 1.0], 1.0) == 1.0 and prediction_p([1.0, 1.0], 1.5) == 0.0
    import pytest
    with pytest.raises(ValueError, match="paper_runs"):
        prediction_p(v, m, 0)


def test_family_section_counts_differs_against_chance():
    from studies.summary import family_section

    recs = [("a", f"cell {i}", p, "differs (ours lower)" if p < 0.05 else "reproduced")
            for i, p in enumerate([1e-6, 0.03, 0.2, 0.5] + [0.6] * 36)]
    text = "\n".join(family_section(recs))
    assert "makes 40 of them" in text and "2 say *differs*" in text
    assert "about 2.0 would say so by chance" in text
    assert "keeps 1 of the 2" in text
    assert f"{stats.binom.sf(1, 40, 0.05):.2g}" in text
    # Holm over 40 tests: 1e-6 * 40 = 4e-5 is kept; 0.03 * 39 > 0.05 is not
    assert "| [a](#a) | cell 0 | < 0.0001 | < 0.0001 | differs (ours lower) |" in text
    assert "| [a](#a) | cell 1 | 0.03 | 1 | not significant after the correction |" in text
    assert family_section([]) == []


def test_cell_rows_show_the_verdict_interval():
    """Each row states the half-width of the interval its verdict used, so that a
    'reproduced' from a wide interval reads as weak."""
    from studies.registry import all_studies
    from studies.summary import cell_rows

    st = all_studies()["vsgd-tables"]
    rng = np.random.default_rng(1)
    errors = {o: (6.72 + 0.1 * rng.standard_normal(10)) / 100 for o in ("vsgd-l", "sgd")}
    rows = cell_rows(_tables_dataset(errors), st)
    row = next(r for r in rows if r.startswith("| M0: training error after 6 epochs: vsgd-l |"))
    v = 100 * errors["vsgd-l"]
    half = prediction_verdict(v, 6.72, 10)[3]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4] == f"± {half:.2f}" and cells[-1] == prediction_verdict(v, 6.72, 10)[0]


def test_carried_text_counts_the_ledger_by_how_each_trial_was_carried(tmp_path):
    from studies import store
    from studies.summary import carried_text

    out = tmp_path / "s"
    (out / "trials").mkdir(parents=True)
    assert carried_text(out, {"a"}) == ""
    store.write_carried(out, {"a": ("x", "r", {"v": 1}, "sampled recomputation (1 of 3)"),
                              "b": ("y", "r", {"v": 1}, "sampled recomputation (1 of 3)"),
                              "c": ("z", "r", {"v": 1}, "recomputation"),
                              "d": ("w", "r", {"v": 1}),
                              "e": ("u", "r", {"v": 1})})
    text = carried_text(out, {"a", "b", "c", "d"})      # "e" is not a trial of the study now
    assert "2 because the cheapest trial of their stratum" in text
    assert "1 by a recomputation" in text and "1 by the proof" in text
    assert carried_text(out, {"zz"}) == ""


def test_environment_text_counts_finished_trials_by_kernel_set():
    """Which machines' bits a stored Dataset mixes: finished trials by OpenBLAS kernel set
    (with Numba's target CPUs), unrecorded ones as such, cells not run left out."""
    import json

    import xarray as xr

    from studies.summary import environment_text

    envs = [{"cpu_target": "znver5", "blas": [{"architecture": "Haswell"},
                                               {"architecture": "Haswell"}]},
            {"cpu_target": "emeraldrapids", "blas": [{"architecture": "SkylakeX"}]},
            {"cpu_target": "znver4", "blas": [{"architecture": "SkylakeX"}]}]
    ids = np.array([0, 0, 0, 1, 2, -1, -1, 0], dtype=np.int32)
    status = np.array(["ok", "ok", "diverged", "ok", "failed", "ok", "missing", "missing"])
    ds = xr.Dataset({"environment_id": ("trial", ids), "status": ("trial", status)},
                    attrs={"environments": json.dumps(envs)})
    text = environment_text(ds)
    assert "Haswell: 3 (znver5); SkylakeX: 2 (emeraldrapids, znver4); not recorded: 1." in text
    assert environment_text(ds.drop_vars("environment_id")) == ""
    ds.attrs["environments"] = "not json"
    assert environment_text(ds) == ""


def test_older_dataset_note_says_what_a_run_would_recompute():
    from studies.summary import older_text

    none = older_text("x", "stored Dataset from code abc", 0, 240)
    assert "`python -m studies run x` would recompute it with the current code" in none
    part = older_text("x", "stored Dataset from code abc", 222, 240)
    assert "would recompute the 18 of its 240 trials not stored under the current keys" in part
    assert "(222 are, computed or carried over)" in part
    assert part.startswith("The stored Dataset from code abc. ")


def _fake_checkpoint(path, epochs_done, wall_time=0.0):
    fake_checkpoint.write(path, epochs_done, wall_time, epochs=100)


def test_checkpoint_progress_reads_epochs_done_and_survives_other_files(tmp_path):
    from studies import checkpoint

    folder = tmp_path / checkpoint.FOLDER
    assert checkpoint.progress(folder, ["a"]) == {}            # no folder yet
    _fake_checkpoint(checkpoint.path_for(folder, "a"), 12)
    np.savez(checkpoint.path_for(folder, "b"), epoch=np.asarray(3))   # another trial's format
    checkpoint.path_for(folder, "c").write_bytes(b"not a zip")      # damaged
    _fake_checkpoint(checkpoint.path_for(folder, "other"), 5)       # not among the keys asked
    assert checkpoint.progress(folder, ["a", "b", "c", "d"]) == {"a": 12, "b": None, "c": None}


def test_in_progress_text_by_hand():
    from studies.summary import in_progress_text

    assert in_progress_text({}) == ""
    assert in_progress_text({"k": (7, 100)}) == "1 in progress, checkpointed after epoch 7 of 100"
    assert (in_progress_text({"a": (14, 100), "b": (12, 100), "c": (30, 100)})
            == "3 in progress, checkpointed after epochs 12, 14 and 30 of 100")
    assert (in_progress_text({"a": (2, 100), "b": (None, 100)})
            == "2 in progress, checkpointed after epoch 2 of 100; 1 at an epoch the checkpoint "
               "does not say")
    assert in_progress_text({"a": (2, 10), "b": (3, 20)}) == ("2 in progress, checkpointed "
                                                              "after epochs 2 and 3")
    assert (in_progress_text({"a": (2, 100), "b": (2, 100)})
            == "2 in progress, checkpointed after epoch 2 of 100 each")
    assert (in_progress_text({"a": (2, 100), "b": (2, 100), "c": (5, 100)})
            == "3 in progress, checkpointed after epochs 2, 2 and 5 of 100")


def test_a_resumable_studys_checkpointed_trials_show_as_begun_and_shorten_the_estimate(
        tmp_path, monkeypatch):
    import studies.summary as sm
    from studies import checkpoint
    from studies.expand import code_version, expand, keyed
    from studies.registry import get_study

    st = get_study("vsgd-longrun")
    assert st.resumable
    out = tmp_path / st.name
    trials = keyed(expand(st), code_version(st))
    (k1, s1), (k2, _) = trials[0], trials[1]
    _fake_checkpoint(checkpoint.path_for(out / checkpoint.FOLDER, k1), 25)
    _fake_checkpoint(checkpoint.path_for(out / checkpoint.FOLDER, "0" * 64), 50)  # stale key
    begun = sm.in_progress(st, out, trials)
    assert begun == {k1: (25, s1["epochs"])} and s1["epochs"] == 100
    # every trial estimated at one hour: the begun one has three quarters left
    monkeypatch.setattr(sm, "expected_seconds", lambda ts, walls: {
        (s["problem"], s["optimizer"]): (3600.0, "measured") for _, s in ts})
    hours, unknown, _, _, _ = sm.remaining_estimate(st, out, trials, begun)
    assert unknown == 0 and np.isclose(hours, len(trials) - 0.25)
    assert sm.in_progress(get_study("selftest"), out, trials) == {}  # not resumable
    text = build(tmp_path).read_text()
    assert "0/10 (not run; 1 in progress, checkpointed after epoch 25 of 100)" in text
    assert "Trials begun: 1 in progress, checkpointed after epoch 25 of 100" in text


def test_checkpoint_paces_read_seconds_per_epoch_and_skip_what_times_nothing(tmp_path):
    from studies import checkpoint

    folder = tmp_path / checkpoint.FOLDER
    assert checkpoint.paces(folder, ["a"]) == {}                 # no folder yet
    _fake_checkpoint(checkpoint.path_for(folder, "a"), 25, 500.0)
    _fake_checkpoint(checkpoint.path_for(folder, "b"), 25)        # no wall time recorded
    _fake_checkpoint(checkpoint.path_for(folder, "z"), 0, 3.0)    # no epoch done
    np.savez(checkpoint.path_for(folder, "c"), epochs_done=np.asarray(3))   # no wall_time
    checkpoint.path_for(folder, "d").write_bytes(b"not a zip")    # damaged
    got = checkpoint.paces(folder, ["a", "b", "c", "d", "e", "z"])
    assert got == {"a": 20.0}


def test_remaining_estimate_times_a_study_by_its_begun_trials_pace(tmp_path):
    """No stored trial of vsgd-longrun: its begun trials' checkpoints (100 s per epoch,
    the median of 80 and 120) time every trial at 100 epochs x 100 s, the begun ones for
    the epochs they have left."""
    import studies.summary as sm
    from studies import checkpoint
    from studies.expand import code_version, expand, keyed
    from studies.registry import get_study

    st = get_study("vsgd-longrun")
    out = tmp_path / st.name
    trials = keyed(expand(st), code_version(st))
    (k1, _), (k2, _) = trials[0], trials[1]
    folder = out / checkpoint.FOLDER
    _fake_checkpoint(checkpoint.path_for(folder, k1), 25, 25 * 80.0)
    _fake_checkpoint(checkpoint.path_for(folder, k2), 50, 50 * 120.0)
    begun = sm.in_progress(st, out, trials)
    paces = checkpoint.paces(folder, begun)
    assert paces == {k1: 80.0, k2: 120.0}
    hours, unknown, _, scaled, paced = sm.remaining_estimate(st, out, trials, begun, paces)
    n = len(trials)
    assert (unknown, scaled, paced) == (0, 0, n)
    assert np.isclose(hours, ((n - 2) * 10000.0 + 7500.0 + 5000.0) / 3600.0)
    # without the paces nothing times them, as before
    assert sm.remaining_estimate(st, out, trials, begun)[1] == n
    text = build(tmp_path).read_text()
    want = (f"≈ {hours:.1f} core-h ({n} trials timed by the seconds per epoch in the "
            "checkpoints of begun trials of their problem and method)")
    assert want in text
    assert sm._remaining_text(1.0, 0, 4, scaled=1, paced=3) == (
        "≈ 1.0 core-h (1 trials scaled from another problem by the time ratio of the methods "
        "that ran both, else by parameters x samples; 3 trials timed by the seconds per "
        "epoch in the checkpoints of begun trials of their problem and method)")
