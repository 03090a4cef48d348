"""``python -m studies impact``: what the current code would re-key of the stored trials, and
what must be redone (studies/impact.py). Runs the NumPy-only ``selftest`` study."""
from __future__ import annotations

import shutil

import netCDF4
import pytest

from studies import api
from studies.cli import main
from studies.impact import impact, study_impact, table


def _older_copy(out, hours, keep=False):
    """A stored trial file under a key the current code never makes (as if computed by an
    older code version), with the given wall time. The trial's current file is moved there
    (so the current code has not got that trial: a rekey candidate); with ``keep`` it is
    copied (the older file is then superseded by the current one)."""
    src = sorted((out / "trials").glob("*.nc"))[0]
    older = out / "trials" / ("e" * 64 + ".nc")
    (shutil.copy if keep else shutil.move)(src, older)
    with netCDF4.Dataset(older, "a") as nc:
        nc.setncattr("wall_time", hours * 3600.0)
    return older


@pytest.mark.parametrize("full", [False, True])
def test_counts_rekeyed_trials_their_hours_and_what_to_redo(tmp_path, full, capsys):
    out = tmp_path / "selftest"
    kw = {} if full else {"seeds": [0], "only": ["sgd"]}
    api.run("selftest", out=out, workers=0, progress=False, **kw)
    n = len(list((out / "trials").glob("*.nc")))
    r = study_impact("selftest", tmp_path)
    assert r == {"study": "selftest", "stored": n, "rekeyed": 0, "rekeyed_hours": 0.0,
                 "state": "complete" if full else "partial", "redo_hours": 0.0,
                 "sample_hours": 0.0, "not_here": 0, "superseded": 0}
    _older_copy(out, 2.5)
    n -= 1                                                   # its current file moved away
    r = study_impact("selftest", tmp_path)
    assert r["stored"] == n + 1 and r["rekeyed"] == 1 and r["superseded"] == 0
    assert r["rekeyed_hours"] == pytest.approx(2.5)
    # a complete study's stored Dataset stays a labelled result: nothing to redo
    assert r["redo_hours"] == (0.0 if full else pytest.approx(2.5))
    assert r["sample_hours"] == pytest.approx(2.5)          # one trial: its own stratum
    assert main(["impact", "selftest", "--results", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert f"| selftest | {n + 1} | 1 | 2.50 | {'complete' if full else 'partial'} |" in text


def test_studies_without_results_and_the_totals(tmp_path):
    rows = impact(["selftest", "vsgd-tables"], tmp_path)
    assert [r["stored"] for r in rows] == [0, 0] and {r["state"] for r in rows} == {"none"}
    assert table(rows).splitlines()[-1] == "| total | 0 | 0 | 0.00 | | 0.00 | 0.00 | 0 | 0 |"


def test_a_stale_file_whose_trial_is_current_is_superseded_not_rekeyed(tmp_path):
    """An older result of a trial the current code has (recomputed, or carried from another
    file) costs nothing to redo or verify: counted as superseded (session 22's note: impact
    counted such files of sec41, table1 and slowstart-lr as rekeyed)."""
    from studies import store

    out = tmp_path / "selftest"
    api.run("selftest", out=out, workers=0, progress=False, seeds=[0], only=["sgd"])
    n = len(list((out / "trials").glob("*.nc")))
    cur = sorted((out / "trials").glob("*.nc"))[0]           # the file _older_copy copies
    _older_copy(out, 2.5, keep=True)
    r = study_impact("selftest", tmp_path)
    assert (r["stored"], r["rekeyed"], r["superseded"]) == (n + 1, 0, 1)
    assert r["rekeyed_hours"] == r["redo_hours"] == r["sample_hours"] == 0.0
    # a current key held by the carry-over ledger supersedes as a file does
    other = out / "trials" / ("d" * 64 + ".nc")
    shutil.move(cur, other)
    store.write_carried(out, {cur.stem: (other.stem, "rev", {}, "test")})
    r = study_impact("selftest", tmp_path)
    assert r["superseded"] == 1 and r["rekeyed"] == 0
    assert table([r]).splitlines()[-1].endswith("| 0 | 1 |")


def test_sample_hours_take_the_cheapest_trial_of_each_stratum(tmp_path):
    from studies.impact import _sample_hours

    out = tmp_path / "selftest"
    api.run("selftest", out=out, workers=0, progress=False, seeds=[0, 1], only=["sgd"],
            problems=[sorted(api.prepare("selftest").problems)[0]])
    files = sorted((out / "trials").glob("*.nc"))
    for i, f in enumerate(files):
        with netCDF4.Dataset(f, "a") as nc:
            nc.setncattr("wall_time", 3600.0 * (i + 1))
    from studies.rekey import stratum
    import json

    strata = {}
    for i, f in enumerate(files):
        with netCDF4.Dataset(f) as nc:
            s = stratum(json.loads(nc.getncattr("spec")), str(nc.getncattr("status")),
                        str(nc.getncattr("environment")))
        strata.setdefault(s, []).append(i + 1)
    assert len(strata) < len(files)                  # some stratum has more than one trial
    assert _sample_hours(files) == pytest.approx(sum(min(v) for v in strata.values()))
    assert _sample_hours(files, 2) == pytest.approx(sum(sum(sorted(v)[:2])
                                                        for v in strata.values()))


def test_unknown_study_is_a_usage_error(tmp_path, capsys):
    assert main(["impact", "no-such-study", "--results", str(tmp_path)]) == 2
    assert "no-such-study" in capsys.readouterr().err


def test_counts_rekeyed_trials_whose_kernels_this_cpu_cannot_run(tmp_path, monkeypatch):
    """A rekeyed trial recorded with OpenBLAS's SkylakeX kernels counts as not verifiable
    here on a CPU without AVX-512, and does not on one with it (studies.blas_host)."""
    import json

    from studies import blas_host

    out = tmp_path / "selftest"
    api.run("selftest", out=out, workers=0, progress=False, seeds=[0], only=["sgd"])
    older = _older_copy(out, 1.0)
    with netCDF4.Dataset(older, "a") as nc:
        env = json.loads(str(nc.getncattr("environment")))
        env["blas"] = [{"architecture": "SkylakeX", "internal_api": "openblas"}]
        nc.setncattr("environment", json.dumps(env))
    no512 = frozenset({"avx", "avx2", "fma"})
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: no512)
    assert study_impact("selftest", tmp_path)["not_here"] == 1
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: no512 | blas_host.AVX512)
    assert study_impact("selftest", tmp_path)["not_here"] == 0


def test_the_code_version_is_computed_once_and_used_for_the_stale_files(tmp_path,
                                                                          monkeypatch):
    """``study_impact`` hashes the study's code once and hands it to ``api.stale``; a version
    given to ``stale`` is the one its keys are made with (another version: every file is
    stale)."""
    from studies import expand

    out = tmp_path / "selftest"
    api.run("selftest", out=out, workers=0, progress=False, seeds=[0], only=["sgd"])
    n = len(list((out / "trials").glob("*.nc")))
    _, old, kept, _ = api.stale("selftest", out, code=expand.code_version(
        api.prepare("selftest")))
    assert (len(old), kept) == (0, n)
    _, old, kept, _ = api.stale("selftest", out, code="another version")
    assert (len(old), kept) == (n, 0)
    calls = []
    real = expand.code_version
    monkeypatch.setattr(expand, "code_version", lambda st: calls.append(st) or real(st))
    _older_copy(out, 1.0, keep=True)
    r = study_impact("selftest", tmp_path)
    assert len(calls) == 1 and (r["superseded"], r["rekeyed"]) == (1, 0)
