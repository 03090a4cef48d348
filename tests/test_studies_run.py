"""The studies engine end to end on Dask: local cluster, external scheduler + workers,
resume after SIGKILL, divergence/failure, netCDF round trip, CLI errors.

Runs use the NumPy-only ``selftest`` study (seconds, no compile). Subprocess runs use a
*snapshot* of ``adaptlr/`` and ``studies/`` copied to a temporary directory (no git
there, so the code version is fixed): other people committing to the repository during
the test cannot change the trial keys between a run and its resume.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import studies
import studies.api
import studies.expand
import studies.runner
from studies import store
from studies.expand import expand, keyed
from studies.selftest import STUDY

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("snapshot")
    ign = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
    for pkg in ("adaptlr", "studies"):
        shutil.copytree(REPO / pkg, root / pkg, ignore=ign)
    return root


def _env(snapshot, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIES_SELFTEST")}
    env["PYTHONPATH"] = str(snapshot)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _cli(snapshot, *args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "studies", *args], cwd=snapshot,
                          env=env or _env(snapshot), capture_output=True, text=True,
                          timeout=timeout)


# --------------------------------------------------------------------------- in process
@pytest.fixture(scope="module")
def fixed_code():
    """One code version for the in-process runs of this module: others may commit to the
    repository while the tests run, which would (rightly) change the trial keys."""
    code = studies.expand.code_version()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(studies.api, "code_version", lambda *a, **k: code)
        yield code


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, fixed_code):
    """The quick selftest with one failing setting, on a 2-process LocalCluster."""
    out = tmp_path_factory.mktemp("local")
    s = studies.run("selftest", quick=True, workers=2, out=out, progress=False,
                    overrides={"sgd": {"lr": [0.1, 2.5, -1.0]}})
    return s, out


def test_local_cluster_end_to_end(local_run):
    s, out = local_run
    st = STUDY.resolved(True)
    n = len(st.problems) * 4 * len(st.seeds)  # sgd x3 + momentum x1 settings
    assert (s.total, s.skipped, s.computed) == (n, 0, n)
    assert s.dataset == out / "selftest.nc" and s.table == out / "selftest.md"
    assert len(store.finished_keys(out)) == n
    ds = xr.open_dataset(s.dataset)
    assert dict(ds.sizes) == {"problem": 2, "setting": 4, "seed": 3, "epoch": 3}
    assert list(ds.optimizer.values) == ["sgd", "sgd", "sgd", "momentum"]
    np.testing.assert_array_equal(ds.lr.values, [0.1, 2.5, -1.0, 0.05])
    assert np.isnan(ds.mu.values[:3]).all() and ds.mu.values[3] == 0.9
    assert not (ds.status == "missing").any()
    # 2 worker processes share the cores: each got cores // 2 threads (at least 1)
    ok = ds.numba_threads.values[ds.status.values != "failed"]
    assert (ok == max(1, (os.cpu_count() or 1) // 2)).all()
    assert studies.runner.worker_env(4, 16) == {v: "4" for v in studies.runner.THREAD_VARS}
    # the distributed result equals a direct call of the trial function, bit for bit
    spec = json.loads(xr.open_dataset(store.trial_path(out, str(ds.trial_key.values[0, 0, 1])))
                      .attrs["spec"])
    direct = STUDY.trial(spec)
    np.testing.assert_array_equal(ds.test_loss.values[0, 0, 1], direct["test_loss"][1])
    ds.close()


def test_optimizer_affinity():
    aff = studies.runner.optimizer_affinity
    specs = [{"optimizer": o} for o in ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2]
    assert aff(specs, ["w1", "w2"]) == {"a": "w1", "b": "w2", "c": "w2", "d": "w1"}
    assert aff(specs, ["w1"]) == {} and aff(specs, [f"w{i}" for i in range(5)]) == {}


def test_diverged_and_failed_are_recorded(local_run):
    _, out = local_run
    ds = xr.load_dataset(out / "selftest.nc")
    d = ds.sel(problem="ls-d8", setting="sgd(lr=2.5)")
    assert (d.status == "diverged").all() and (d.diverged == 1).all()
    assert (d.diverged_step > 0).all()
    assert all("non-finite" in m or "exceeded" in m for m in d.message.values)
    f = ds.sel(setting="sgd(lr=-1.0)")
    assert (f.status == "failed").all() and (f.diverged == 0).all()
    assert all("ValueError: lr must be > 0, got -1.0" in m for m in f.message.values.ravel())
    assert np.isnan(f.test_error).all()
    ok = ds.sel(setting="sgd(lr=0.1)")
    assert (ok.status == "ok").all() and np.isfinite(ok.test_error).all()
    assert (ok.diverged_step == -1).all()
    # failed/diverged cells are never best nor tied
    assert ds.tied_with_best.sel(setting="sgd(lr=-1.0)").values.tolist() == [0, 0]
    md = (out / "selftest.md").read_text()
    assert "diverged 3/3" in md and "failed 3/3" in md


def test_netcdf_round_trip_every_attribute(local_run):
    s, out = local_run
    with xr.open_dataset(s.dataset) as d0:
        stored = dict(d0.attrs)
    mem = studies.api.build_dataset(
        studies.api.prepare("selftest", quick=True, overrides={"sgd": {"lr": [0.1, 2.5, -1.0]}}),
        out, quick=True, device="cpu", alpha=0.01, test="wilcoxon", correction=None,
        started=stored["created"], finished=stored["finished"],
        code=json.loads(stored["code_version"]))
    disk = xr.open_dataset(s.dataset)  # plain xarray, no adaptlr
    assert set(disk.data_vars) == set(mem.data_vars) and set(disk.coords) == set(mem.coords)
    for name in list(mem.data_vars) + list(mem.coords):
        assert disk[name].attrs == mem[name].attrs, name
        for a in ("long_name", "units", "description"):
            assert isinstance(disk[name].attrs[a], str), (name, a)
        if mem[name].dtype.kind in "fiu":
            np.testing.assert_array_equal(disk[name].values, mem[name].values)
        else:
            assert (disk[name].values.astype(str) == mem[name].values.astype(str)).all(), name
    volatile = {"combined", "git_dirty"}  # others may edit the repository meanwhile
    assert {k: v for k, v in disk.attrs.items() if k not in volatile} == \
        {k: v for k, v in mem.attrs.items() if k not in volatile}
    for k, v in disk.attrs.items():
        assert isinstance(v, (str, int, float, np.integer, np.floating)), (k, v)
    for k in ("adaptlr_version", "git_commit", "git_dirty", "python_version", "numpy_version",
              "numba_version", "xarray_version", "scipy_version", "dask_version", "machine",
              "cpu_count", "dataset_checksums", "spec", "created", "finished", "stats_test",
              "stats_alpha", "stats_pairing", "stats_correction"):
        assert k in disk.attrs, k
    assert json.loads(disk.attrs["spec"])["name"] == "selftest"
    assert disk.attrs["stats_alpha"] == 0.01
    import adaptlr

    loaded = adaptlr.load_results(s.dataset)
    assert loaded.identical(disk.load())
    assert adaptlr.load_results(out).identical(loaded)  # directory form
    disk.close()


def test_each_trial_records_its_environment(local_run):
    """CPU, Numba's target CPU, thread counts and BLAS of the worker are stored per trial
    (they change the rounding: studies.provenance.environment) and indexed in the Dataset;
    a trial file written before they were recorded maps to -1."""
    s, out = local_run
    with xr.open_dataset(s.dataset) as ds:
        envs = json.loads(ds.attrs["environments"])
        ids = ds["environment_id"].values
        status = ds["status"].values
    assert envs, "no environment recorded"
    for env in envs:
        assert {"cpu_model", "cpu_target", "numba_threads", "thread_env", "blas"} <= set(env)
        # LocalCluster workers of a 2-worker run get cores // 2 threads each
        assert env["thread_env"]["OPENBLAS_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
        assert any(b.get("internal_api") == "openblas" for b in env["blas"]), env["blas"]
    assert ((ids >= 0) == (status != "missing")).all() and ids.max() < len(envs)

    # an older trial file without the attribute: kept, environment not recorded (-1)
    old = out.parent / (out.name + "-noenv")
    shutil.copytree(out, old)
    path = sorted((old / "trials").glob("*.nc"))[0]
    with xr.open_dataset(path) as t:
        t = t.load()
    del t.attrs["environment"]
    path.unlink()
    t.to_netcdf(path)
    with xr.open_dataset(s.dataset) as ds:
        code = json.loads(ds.attrs["code_version"])
    ds2 = studies.api.build_dataset(
        studies.api.prepare("selftest", quick=True, overrides={"sgd": {"lr": [0.1, 2.5, -1.0]}}),
        old, quick=True, device="cpu", alpha=0.01, test="wilcoxon", correction=None, code=code)
    key = path.stem
    hit = ds2["trial_key"].values == key
    assert hit.sum() == 1 and ds2["environment_id"].values[hit][0] == -1
    assert (ds2["environment_id"].values[~hit & (ds2["status"].values != "missing")] >= 0).all()


def test_rerun_skips_everything_and_report_without_rerun(local_run, monkeypatch, fixed_code):
    s, out = local_run
    before = {k: store.trial_path(out, k).read_bytes() for k in store.finished_keys(out)}
    calls = []
    monkeypatch.setattr(studies.runner, "dask_client",
                        lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError))
    s2 = studies.run("selftest", quick=True, out=out, progress=False,
                     overrides={"sgd": {"lr": [0.1, 2.5, -1.0]}})
    assert (s2.skipped, s2.computed) == (s.total, 0) and not calls  # no cluster even started
    assert before == {k: store.trial_path(out, k).read_bytes() for k in store.finished_keys(out)}
    # --retry-failed: the 6 failed trials (and only they) would run again
    trials = keyed(expand(studies.api.prepare("selftest", quick=True, overrides={
        "sgd": {"lr": [0.1, 2.5, -1.0]}}), quick=True), fixed_code)
    assert studies.runner.pending(trials, out) == []
    again = studies.runner.pending(trials, out, retry_failed=True)
    assert len(again) == 6 and {s["hyper"]["lr"] for _, s in again} == {-1.0}
    assert {store.trial_status(out, k) for k, _ in again} == {"failed"}
    with pytest.raises(AssertionError):
        studies.run("selftest", quick=True, out=out, progress=False, retry_failed=True,
                    overrides={"sgd": {"lr": [0.1, 2.5, -1.0]}})
    assert calls == [1]
    (out / "selftest.md").unlink()
    (out / "selftest-curves.png").unlink()
    path, table, figs = studies.report_study("selftest", out=out, alpha=0.05, correction="holm")
    assert table.is_file() and all(f.stat().st_size > 1000 for f in figs)
    ds = xr.load_dataset(path)
    assert ds.attrs["stats_alpha"] == 0.05 and ds.attrs["stats_correction"] == "holm"
    for f in figs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- subprocesses
def test_resume_after_sigkill(snapshot, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.txt"
    env = _env(snapshot, STUDIES_SELFTEST_LOG=log, STUDIES_SELFTEST_SLEEP=0.4)
    args = [sys.executable, "-m", "studies", "run", "selftest", "--quick", "--workers", "2",
            "--out", str(out), "--no-progress"]
    p = subprocess.Popen(args, cwd=snapshot, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        while len(store.finished_keys(out)) < 4 and time.time() < deadline:
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)  # the runner (client + scheduler) only
        p.wait(10)
    finally:
        try:  # then its orphaned worker processes: the process group we created
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    done = store.finished_keys(out)
    n = 18
    assert 4 <= len(done) < n, len(done)
    assert not (out / "selftest.nc").exists()  # never half-written: absent until the end
    kept = {k: store.trial_path(out, k).read_bytes() for k in done}
    for k in done:  # every stored trial is a complete, readable file
        xr.load_dataset(store.trial_path(out, k))
    first = log.read_text().splitlines()
    log.write_text("")
    r = subprocess.run(args, cwd=snapshot, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already stored, {n - len(done)} run" in r.stdout
    second = [json.loads(x) for x in log.read_text().splitlines()]
    # the keys of the snapshot's code version, computed in a subprocess of the snapshot
    keys = json.loads(subprocess.run(
        [sys.executable, "-c", "import json; from studies.selftest import STUDY; "
         "from studies.expand import code_version, expand, keyed; "
         "print(json.dumps([k for k, s in keyed(expand(STUDY.resolved(True), quick=True), "
         "code_version(STUDY))]))"],
        cwd=snapshot, env=_env(snapshot), capture_output=True, text=True, check=True).stdout)
    specs = expand(STUDY.resolved(True), quick=True)
    by_json = {json.dumps(s, sort_keys=True): k for k, s in zip(keys, specs)}
    recomputed = {by_json[json.dumps(s, sort_keys=True)] for s in second}
    assert len(second) == n - len(done) and not (recomputed & done)  # nothing recomputed
    assert len(first) >= len(done)
    assert {k: store.trial_path(out, k).read_bytes() for k in done} == kept  # nothing lost
    ds = xr.load_dataset(out / "selftest.nc")
    assert not (ds.status == "missing").any() and ds.sizes["seed"] == 3
    assert sorted(ds.trial_key.values.ravel().tolist()) == sorted(keys)
    assert not list(out.rglob(".tmp-*"))


def test_sigterm_closes_the_cluster_and_keeps_finished_trials(snapshot, tmp_path):
    """SIGTERM to a running study (how a scheduler or `kill` stops a background run, which
    ignores Ctrl-C): exit 143 with a clear line, every worker process gone, finished
    trials kept."""
    import psutil

    out = tmp_path / "out"
    env = _env(snapshot, STUDIES_SELFTEST_SLEEP=0.4)
    args = [sys.executable, "-m", "studies", "run", "selftest", "--quick", "--workers", "2",
            "--out", str(out), "--no-progress"]
    p = subprocess.Popen(args, cwd=snapshot, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 90
        while len(store.finished_keys(out)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        children = psutil.Process(p.pid).children(recursive=True)
        assert children                                # the LocalCluster's processes
        os.kill(p.pid, signal.SIGTERM)
        err = p.communicate(timeout=60)[1]
        _, alive = psutil.wait_procs(children, timeout=20)
        assert p.returncode == 143 and "terminated; finished trials are stored" in err, err
        assert not alive, [c.cmdline() for c in alive]
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    done = store.finished_keys(out)
    assert 2 <= len(done) < 18
    for k in done:
        xr.load_dataset(store.trial_path(out, k))


def _scheduler_address(sched_file, deadline):
    """The scheduler's address once its file is complete. The scheduler creates the
    file before it writes the JSON, so its existence alone is not enough (a read in
    between gave ``JSONDecodeError: Expecting value``)."""
    while True:
        try:
            return json.loads(sched_file.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_external_scheduler_and_two_workers(snapshot, tmp_path):
    sched_file = tmp_path / "scheduler.json"
    env = _env(snapshot, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    procs = []
    try:
        procs.append(subprocess.Popen(
            ["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(sched_file)], cwd=tmp_path, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = _scheduler_address(sched_file, deadline=time.time() + 60)
        for _ in range(2):
            procs.append(subprocess.Popen(
                ["dask", "worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                 "--no-dashboard", "--name", f"w{len(procs)}"], cwd=tmp_path, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        script = ("import sys, time; from distributed import Client; "
                  f"c = Client({address!r}, timeout='30s'); c.wait_for_workers(2, timeout=60); "
                  "print(len(c.scheduler_info()['workers']))")
        w = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=90)
        assert w.stdout.strip() == "2", w.stderr
        out = tmp_path / "out"
        r = _cli(snapshot, "run", "selftest", "--quick", "--scheduler", address, "--out",
                 str(out), "--no-progress", env=env)
        assert r.returncode == 0, r.stderr
        assert "18 run" in r.stdout and f"Dataset (netCDF): {out / 'selftest.nc'}" in r.stdout
        ds = xr.load_dataset(out / "selftest.nc")
        assert set(ds.status.values.ravel()) == {"ok", "diverged"}
        workers = {xr.open_dataset(store.trial_path(out, k)).attrs["worker"]
                   for k in store.finished_keys(out)}
        assert len(workers) == 2  # both external workers ran trials, not the client
        # report from the stored results (no re-run), in a separate process
        rep = _cli(snapshot, "report", "selftest", "--out", str(out), "--test", "t", env=env)
        assert rep.returncode == 0, rep.stderr
        assert "momentum(lr=0.05,mu=0.9)" in rep.stdout and "paired t test" in rep.stdout
        assert "table (Markdown):" in rep.stdout and "Dataset (netCDF):" in rep.stdout
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def test_cli_list_in_process(capsys):
    from studies.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "selftest" in out and "internal self-test" in out and "adadelta-table1" in out


BAD = {  # each: a clear one-line message, exit status 2, no traceback
    "unknown study": (["run", "nosuch"], "unknown study 'nosuch'; valid studies: "),
    "unknown optimizer": (["run", "selftest", "--quick", "--only", "adamm"],
                          "unknown optimizer(s) ['adamm']"),
    "unknown problem": (["run", "selftest", "--quick", "--problems", "ls-d9"],
                        "unknown problem(s) ['ls-d9'] for study 'selftest'"),
    "empty --problems": (["run", "selftest", "--quick", "--problems", ","],
                         "--problems: empty grid: no problem given"),
    "unknown optimizer in --set": (["run", "selftest", "--set", "adamm.lr=0.1"],
                                   "unknown optimizer 'adamm'; allowed: ['momentum', 'sgd']"),
    "unknown hyperparameter": (["run", "selftest", "--quick", "--set", "sgd.rho=0.9"],
                               "unknown hyperparameter 'rho' for optimizer 'sgd'; allowed: ['lr']"),
    "empty grid": (["run", "selftest", "--quick", "--set", "sgd.lr="],
                   "empty grid for optimizer 'sgd'"),
    "empty grid file": (["run", "{tmp}/empty_study.py"], "empty grid: no optimizers declared"),
    "bad names in a study file": (["run", "{tmp}/typo_study.py"],
                                  "unknown hyperparameter 'lrate' for optimizer 'sgd'"),
    "unreachable scheduler": (["run", "selftest", "--quick", "--scheduler", "tcp://127.0.0.1:9",
                               "--out", "{tmp}/o1"], "cannot reach the Dask scheduler at "
                              "'tcp://127.0.0.1:9'"),
    "unwritable out": (["run", "selftest", "--quick", "--out", "{tmp}/afile/sub"],
                       "is not writable"),
    "unwritable out /proc": (["run", "selftest", "--quick", "--out", "/proc/adaptlr-results"],
                             "is not writable"),
    "no stored results": (["report", "selftest", "--out", "{tmp}/nothing"],
                          "no stored results for study 'selftest'"),
    "cuda without a GPU": (["run", "selftest", "--quick", "--device", "cuda", "--out",
                            "{tmp}/o2"], "CUDA is unavailable"),
    "bad --workers": (["run", "selftest", "--workers", "-1"], "--workers must be >= 0"),
    "bad --alpha": (["run", "selftest", "--alpha", "2"], "alpha must be a number in (0, 1)"),
}
#: checked in separate processes (the rest in process, through studies.cli.main)
SUBPROCESS = ("unknown study", "unknown hyperparameter", "empty grid", "unreachable scheduler",
              "unwritable out")


@pytest.fixture()
def bad_files(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty_study.py").write_text(
        "from studies.spec import Study\nfrom studies.selftest import trial\n"
        "STUDY = Study(name='empty', title='e', trial=trial, problems={'p': {}}, optimizers={})\n")
    (tmp_path / "typo_study.py").write_text(
        "from studies.spec import Study\nfrom studies.selftest import trial, allowed\n"
        "STUDY = Study(name='typo', title='t', trial=trial, problems={'p': {}},\n"
        "              optimizers={'sgd': {'lrate': [0.1]}}, allowed=allowed)\n")
    return tmp_path


def test_bad_inputs_subprocess_clear_message_no_traceback(snapshot, bad_files):
    env = _env(snapshot)
    procs = {}
    for what in SUBPROCESS:
        args = [a.replace("{tmp}", str(bad_files)) for a in BAD[what][0]]
        procs[what] = subprocess.Popen([sys.executable, "-m", "studies", *args], cwd=snapshot,
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
    for what, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 2, (what, p.returncode, stderr)
        assert "Traceback" not in stderr + stdout, (what, stderr)
        assert stderr.startswith("error: ") and BAD[what][1] in stderr, (what, stderr)
    trials = bad_files / "o1" / "trials"
    assert not trials.exists() or not list(trials.iterdir())  # nothing written


@pytest.mark.parametrize("what", [w for w in BAD if w not in SUBPROCESS])
def test_bad_inputs_in_process(what, bad_files, capsys, monkeypatch):
    from studies.cli import main

    monkeypatch.setattr("adaptlr.targets.cuda_available", lambda: False)
    args = [a.replace("{tmp}", str(bad_files)) for a in BAD[what][0]]
    assert main(args) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    assert cap.err.startswith("error: ") and BAD[what][1] in cap.err, cap.err


def test_in_process_run_without_dask_matches_stored_format(tmp_path):
    """workers=0 runs the trials in this process (no Dask) with the same records."""
    from studies import api

    s = api.run("selftest", out=tmp_path, quick=True, workers=0, progress=False)
    assert s.computed == s.total > 0 and s.dataset.is_file()
    again = api.run("selftest", out=tmp_path, quick=True, workers=0, progress=False)
    assert again.computed == 0 and again.skipped == s.total


def test_report_rebuilds_the_dataset_of_an_interrupted_run(tmp_path):
    """No combined file (the run was stopped): report combines the stored trials."""
    import xarray as xr

    from studies import api

    s = api.run("selftest", out=tmp_path, quick=True, workers=0, progress=False)
    ds0 = xr.open_dataset(s.dataset).load()
    s.dataset.unlink()
    victim = sorted((tmp_path / "trials").glob("*.nc"))[0]
    victim.unlink()  # one trial "was in flight" when the run stopped
    path, table, figs = api.report("selftest", out=tmp_path)
    ds = xr.open_dataset(path).load()
    assert (ds["status"].values == "missing").sum() == 1
    assert ds.sizes == ds0.sizes and table.is_file() and figs


def test_prune_lists_then_deletes_only_what_the_current_code_never_reads(tmp_path, capsys):
    """Full-form trials of partial runs are kept; older-code and --set trials are stale."""
    import shutil

    from studies import api
    from studies.cli import main

    api.run("selftest", out=tmp_path, workers=0, progress=False, seeds=[0], only=["sgd"])
    kept = sorted((tmp_path / "trials").glob("*.nc"))
    api.run("selftest", out=tmp_path, workers=0, progress=False, seeds=[0], only=["sgd"],
            overrides={"sgd": {"lr": [0.123]}})
    older = tmp_path / "trials" / ("f" * 64 + ".nc")       # as if from an older code version
    shutil.copy(kept[0], older)
    out, stale, n_kept = api.stale_trials("selftest", tmp_path)
    assert n_kept == len(kept) and older in stale and not set(stale) & set(kept)
    assert len(stale) == 1 + 2     # the copy + the two problems' lr=0.123 trials
    assert main(["prune", "selftest", "--out", str(tmp_path)]) == 0
    assert "3 trial files stale" in capsys.readouterr().out and older.is_file()  # list only
    assert main(["prune", "selftest", "--out", str(tmp_path), "--yes"]) == 0
    assert not older.exists() and sorted((tmp_path / "trials").glob("*.nc")) == kept
    assert (tmp_path / "selftest.nc").is_file()  # the combined Dataset is never touched


def test_atomic_writes_replace_whole_files_and_leave_nothing_on_error(tmp_path):
    """A write that fails keeps the old file as it was and leaves no temporary file."""
    target = tmp_path / "report.md"
    store.atomic_write_bytes(b"old", target)
    store.atomic_write_bytes(b"new", target)
    assert target.read_bytes() == b"new"
    nc = tmp_path / "trial.nc"
    store.atomic_write_dataset(xr.Dataset({"a": ("x", np.arange(3.0))}), nc)
    before = nc.read_bytes()
    bad = xr.Dataset({"a": ("x", np.array([object(), object()], dtype=object))})
    with pytest.raises(Exception):
        store.atomic_write_dataset(bad, nc)
    assert nc.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "trial.nc"]


def test_atomic_writes_give_the_mode_of_a_plain_open(tmp_path):
    """The temporary file's 0600 (mkstemp) does not stay: a result gets 0666 less the umask,
    as a file open() creates."""
    import os

    old = os.umask(0o027)
    try:
        store.atomic_write_bytes(b"x", tmp_path / "a.md")
        store.atomic_write_dataset(xr.Dataset({"a": ("x", np.arange(3.0))}), tmp_path / "a.nc")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"a.md": 0o640, "a.nc": 0o640, "plain": 0o640}


def test_per_problem_grid_cells_outside_a_grid_are_excluded_not_missing(tmp_path):
    """A problem with its own (cut) grid: the Dataset's setting axis is the union, the cells
    outside that problem's grid say 'excluded', the report counts only the design's trials."""
    import dataclasses

    import xarray as xr

    from studies import api
    from studies.selftest import STUDY

    st = dataclasses.replace(STUDY, name="selftest-cut", quick={},
                             seeds=(0, 1), epochs=1, params={"n_train": 100, "n_test": 100},
                             problem_optimizers={"ls-d16-ill": {"sgd": {"lr": [0.1, 0.3]}}})
    s = api.run(st, out=tmp_path, workers=0, progress=False)
    assert s.computed == s.total == 2 * (6 + 2)
    ds = xr.open_dataset(s.dataset).load()
    labels = [str(v) for v in ds["setting"].values]
    assert labels == ["sgd(lr=0.01)", "sgd(lr=0.1)", "sgd(lr=0.5)", "sgd(lr=2.5)", "sgd(lr=0.3)",
                      "momentum(lr=0.01,mu=0.9)", "momentum(lr=0.05,mu=0.9)"]
    st_ill = ds["status"].sel(problem="ls-d16-ill").values
    assert (st_ill == "excluded").sum() == 5 * 2 and (st_ill != "missing").all()
    assert (ds["status"].sel(problem="ls-d8", setting="sgd(lr=0.3)").values == "excluded").all()
    assert np.isnan(ds["test_loss"].sel(problem="ls-d16-ill", setting="sgd(lr=0.5)").values).all()
    text = s.table.read_text()
    assert "Trials: 16 (" in text and "missing 0" in text


def test_a_part_run_into_the_studys_own_directory_combines_the_whole_form(tmp_path, monkeypatch):
    """--problems/--seeds parts leave one whole Dataset (the rest 'missing'); a part outside
    the grid, or a run into another directory, keeps its own form."""
    import xarray as xr

    from studies import api

    own = tmp_path / "own"
    monkeypatch.setattr(api, "default_out", lambda name, quick: own)
    a = api.run("selftest", quick=True, workers=0, progress=False, problems=["ls-d8"], seeds=[0])
    ds = xr.open_dataset(a.dataset).load()
    assert list(ds["problem"].values) == ["ls-d8", "ls-d16-ill"] and ds.sizes["seed"] == 3
    assert a.computed == 3 and (ds["status"].values != "missing").sum() == 3
    form = json.loads((own / "run.json").read_text())
    assert form["problems"] is None and form["seeds"] == [0, 1, 2] and form["overrides"] == {}
    b = api.run("selftest", quick=True, workers=0, progress=False, problems=["ls-d16-ill"])
    ds = xr.open_dataset(b.dataset).load()
    assert b.computed == 9 and (ds["status"].values != "missing").sum() == 12
    # the report rebuilds the same whole form
    path, _, _ = api.report("selftest", out=own, rebuild=True)
    assert (xr.open_dataset(path)["status"].values != "missing").sum() == 12
    # values outside the grid: the run's own form
    c = api.run("selftest", quick=True, workers=0, progress=False, overrides={"sgd": {"lr": [0.7]}},
                only=["sgd"])
    ds = xr.open_dataset(c.dataset).load()
    assert [str(v) for v in ds["setting"].values] == ["sgd(lr=0.7)"]
    assert json.loads((own / "run.json").read_text())["overrides"] == {"sgd": {"lr": [0.7]}}
    # another directory: the part's own form
    d = api.run("selftest", out=tmp_path / "other", quick=True, workers=0, progress=False,
                problems=["ls-d8"])
    assert list(xr.open_dataset(d.dataset)["problem"].values) == ["ls-d8"]


def test_rekey_carries_over_only_trials_whose_covered_code_is_unchanged(tmp_path, monkeypatch):
    """Trials stored under key rule 1 at an (in-memory) commit: carried over when every file
    the new key covers is the same, left alone when one of them changed or the commit is not
    the one that computed them; the carried trials combine as current."""
    from studies import api, rekey as rk, store
    from studies import expand as ex
    from studies.runner import execute

    class Tree:
        def __init__(self, edits=None):
            self._base, self._edits = ex.SourceTree(), dict(edits or {})
            self.files = self._base.files

        def read(self, rel):
            return self._edits.get(rel, self._base.read(rel))

    edit = lambda rel: {rel: ex.SourceTree().read(rel) + b"\nEDITED = 1\n"}   # noqa: E731
    trees = {"A": Tree(), "B": Tree(edit("adaptlr/optimizers/vsgd.py")),
             "C": Tree(edit("adaptlr/optimizers/sgd.py"))}
    monkeypatch.setattr(rk, "SourceTree", lambda rev: trees[rev])
    st = api.prepare("selftest", quick=True).restricted(seeds=[0])
    old = {"adaptlr": ex.code_version(st)["adaptlr"],
           "source_sha256": ex.source_hash(st, trees["B"], scheme=1)}   # computed at "B"
    store.ensure_writable(tmp_path)
    for key, spec in ex.keyed(ex.expand(st), old):
        store.write_trial(tmp_path, execute(st.trial, key, spec, old))
    n = len(store.finished_keys(tmp_path))
    res = rk.rekey(st, tmp_path, ["A"])                 # not the commit that computed them
    assert not res["rekeyed"] and len(res["left"]) == n and "none of" in res["left"][0][1]
    res = rk.rekey(st, tmp_path, ["A", "B"])            # B differs from now in vsgd.py only
    assert len(res["rekeyed"]) == n and all(r == "B" for _, _, r in res["rekeyed"])
    assert {k for k, _, _ in res["rekeyed"]} == store.finished_keys(tmp_path)   # dry run
    # a covered file changed since the computing commit: left alone
    monkeypatch.setattr(rk, "code_version", lambda s: {
        "adaptlr": old["adaptlr"], "key_scheme": ex.KEY_SCHEME,
        "source_sha256": ex.source_hash(s, trees["C"])})
    res = rk.rekey(st, tmp_path, ["B"])
    assert not res["rekeyed"] and "changed since B" in res["left"][0][1]
    monkeypatch.undo()
    monkeypatch.setattr(rk, "SourceTree", lambda rev: trees[rev])
    files = {p.name: p.read_bytes() for p in (tmp_path / store.TRIALS).glob("*.nc")}
    res = rk.rekey(st, tmp_path, ["B"], apply=True)
    new_keys = {k for _, k, _ in res["rekeyed"]}
    old_keys = {k for k, _, _ in res["rekeyed"]}
    assert len(new_keys) == n and store.finished_keys(tmp_path) == old_keys | new_keys
    # carried in the ledger: no trial file rewritten, renamed or added
    assert {p.name: p.read_bytes() for p in (tmp_path / store.TRIALS).glob("*.nc")} == files
    assert store.file_keys(tmp_path) == old_keys
    cur = {k for k, _ in ex.keyed(ex.expand(st), ex.code_version(st))}
    assert new_keys <= cur
    k0 = sorted(new_keys)[0]
    t = store.read_trial(tmp_path, k0)
    assert t.attrs["key"] == k0 and json.loads(t.attrs["code_version"]) == ex.code_version(st)
    assert t.attrs["rekeyed_from"] == "B" and json.loads(t.attrs["code_version_computed"]) == old
    assert store.trial_status(tmp_path, k0) == t.attrs["status"]
    ds = api.build_dataset(st, tmp_path, quick=False, device="cpu", alpha=0.01, test="wilcoxon",
                           correction=None, code=ex.code_version(st))
    assert (ds["status"].values != "missing").all()
    assert rk.rekey(st, tmp_path, ["B"])["current"] == n   # idempotent
    # the files the ledger reads are not stale; a ledger line of a spec outside the study is
    monkeypatch.setattr(api, "code_version", ex.code_version)   # not the module's fixed one
    _, stale, kept = api.stale_trials(st, tmp_path)
    assert not stale and kept == n and not api.stale_carried(st, tmp_path)
    store.write_carried(tmp_path, {"f" * 64: (sorted(old_keys)[0], "B", old)})
    assert api.stale_carried(st, tmp_path) == ["f" * 64]
    # a rerun stored under the current key takes precedence over the carried file
    key, spec = next((k, s) for k, s in ex.keyed(ex.expand(st), ex.code_version(st)) if k == k0)
    rerun = execute(st.trial, key, spec, ex.code_version(st))
    rerun["message"] = "rerun"
    store.write_trial(tmp_path, rerun)
    t = store.read_trial(tmp_path, k0)
    assert t.attrs["message"] == "rerun" and "rekeyed_from" not in t.attrs


def test_rekey_proves_per_trial_under_rule_4_a_changed_method_leaves_only_its_trials(
        tmp_path, monkeypatch):
    """Trials stored under rule 1 at a commit D where momentum.py differed from now: the
    sgd trials' new keys cover sgd.py and the shared code only, so they are carried; the
    momentum trials are left, their method module changed."""
    from studies import api, rekey as rk, store
    from studies import expand as ex
    from studies.runner import execute
    from test_studies_spec import _EditedTree

    rel = "adaptlr/optimizers/momentum.py"
    trees = {"D": _EditedTree({rel: ex.SourceTree().read(rel) + b"\nEDITED = 1\n"})}
    monkeypatch.setattr(rk, "SourceTree", lambda rev: trees[rev])
    st = api.prepare("selftest", quick=True).restricted(seeds=[0])
    old = ex.code_at(st, trees["D"], scheme=1)
    store.ensure_writable(tmp_path)
    opts = {}
    for key, spec in ex.keyed(ex.expand(st), old):
        store.write_trial(tmp_path, execute(st.trial, key, spec, old))
        opts[key] = spec["optimizer"]
    res = rk.rekey(st, tmp_path, ["D"], apply=True)
    assert {opts[k] for k, _, _ in res["rekeyed"]} == {"sgd"}
    assert {opts[k] for k, _ in res["left"]} == {"momentum"}
    assert all("changed since D" in why for _, why in res["left"])


def test_carry_over_ledger_that_is_corrupt_is_a_clear_error_naming_the_file(tmp_path, capsys):
    from studies import store

    store.ensure_writable(tmp_path)
    (tmp_path / store.TRIALS).mkdir(exist_ok=True)
    led = tmp_path / store.TRIALS / store.CARRIED
    for bad in ("{", '{"versions": [], "trials": {"k": {"stored": "a", "rev": "r", "version": 0}}}',
                '{"trials": {}}'):
        led.write_text(bad)
        with pytest.raises(store.LedgerError, match=r"carried\.json.*is not a carry-over ledger"
                                                    r".*restore it from git"):
            store.finished_keys(tmp_path)
    from studies.cli import main

    assert main(["prune", "selftest", "--out", str(tmp_path)]) == 2   # one clear line, no traceback
    assert "error: " in capsys.readouterr().err and "carried.json" in led.name
    assert led.read_text() == '{"trials": {}}'                          # nothing lost
    led.unlink()
    store.write_carried(tmp_path, {"k1": ("a" * 64, "HEAD", {"x": 1}),
                                   "k0": ("b" * 64, "HEAD", {"x": 1})})
    text = led.read_text()
    assert text.index('"k0"') < text.index('"k1"') and text.count("\n") == 7   # one line a trial
    assert store.read_carried(tmp_path)["versions"] == [{"x": 1}]
    assert store.finished_keys(tmp_path) == set()          # their files are not there
    store.write_carried(tmp_path, {}, drop={"k0", "k1"})
    assert not led.exists()


def test_local_cluster_never_drops_a_worker_for_missed_heartbeats():
    """A trial holds the GIL in compiled code for minutes (an M2 vSGD-l trial: 7-10 min),
    so its worker cannot heartbeat; the default worker-ttl (5 minutes) made the scheduler
    drop both workers of such a run and the client waited for ever. The local cluster
    turns the ttl off (a dead worker is still seen: its connection closes)."""
    import dask
    import distributed  # noqa: F401  (its config defaults load with it; alone this test ran first)

    assert dask.config.get("distributed.scheduler.worker-ttl") is not None   # the default
    with studies.runner.dask_client(workers=1) as client:
        assert client.cluster.scheduler.worker_ttl is None
        # the quiet housekeeping (runner.LOCAL_CLUSTER_CONFIG) reaches the worker processes
        got = client.run(lambda: (dask.config.get("distributed.worker.profile.enabled"),
                                  dask.config.get("distributed.admin.tick.interval")))
        assert list(got.values()) == [(False, "1s")]
    assert dask.config.get("distributed.scheduler.worker-ttl") is not None   # restored
    assert dask.config.get("distributed.worker.profile.enabled") is True


def test_no_progress_writes_one_line_per_finished_trial(tmp_path, capsys):
    """--no-progress (a run logging to a file): no bar, one line per finished trial with the
    count of the whole form's trials stored; the API's progress=False stays silent."""
    import re

    from studies import api
    from studies.cli import main

    out = tmp_path / "out"
    assert main(["run", "selftest", "--quick", "--workers", "0", "--no-progress",
                 "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert not cap.err.strip()                      # no bar
    lines = [ln for ln in cap.out.splitlines() if re.match(r"^\d\d:\d\d:\d\d ", ln)]
    pat = re.compile(r"^\d\d:\d\d:\d\d (\d+)/(\d+) \S+ \S+( \S+)* seed \d+: (ok|diverged), "
                     r"[\d.]+ (s|min)$")
    got = [pat.match(ln) for ln in lines]
    assert all(got), lines
    n = int(got[0].group(2))
    assert [int(m.group(1)) for m in got] == list(range(1, n + 1))
    assert n == len(store.finished_keys(out))
    assert "lr=" in lines[0]                        # the hyperparameters are named
    api.run("selftest", out=tmp_path / "quiet", quick=True, workers=0, progress=False)
    cap = capsys.readouterr()
    assert not re.search(r"^\d\d:\d\d:\d\d \d+/", cap.out + cap.err, re.M)
