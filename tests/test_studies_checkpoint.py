"""Resumable studies (studies/checkpoint.py): a trial that pauses at the deadline is not
stored and the next run resumes it; a failed trial keeps its checkpoint for
``--retry-failed``; a stored trial's checkpoint is removed; a study that is not resumable
never sees one. The engine's self-test trial is resumable when a study makes it so; the
real one is vsgd-longrun's (adaptlr.mlp.train's checkpoints, tests/test_mlp_resume.py)."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

import fake_checkpoint

import studies.expand
from studies import checkpoint, store
from studies.expand import expand, keyed
from studies.runner import Deadline, compute_trials, execute, run_trials
from studies.selftest import STUDY

VARS = ("train_loss", "test_loss", "train_error", "test_error")


def resumable():
    return dataclasses.replace(STUDY.resolved(True), resumable=True)


def trials(st):
    code = studies.expand.code_version(st)
    return code, keyed(expand(st, quick=True), code)


def assert_same_trials(a, b, keys):
    for k in keys:
        ra, rb = store.read_trial(a, k), store.read_trial(b, k)
        assert str(ra.attrs["status"]) == str(rb.attrs["status"])
        for v in VARS:
            np.testing.assert_array_equal(ra[v].values, rb[v].values, err_msg=f"{k} {v}")


class PastDeadline(Deadline):
    """Lets every trial start (its clock reads 0) while its time, handed to the trials as
    ``stop_at``, has passed: every trial runs one epoch and pauses."""

    def __init__(self):
        super().__init__(time.time() - 1.0, clock=lambda: 0.0)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_paused_trial_is_not_stored_and_the_next_run_resumes_it(tmp_path, workers):
    st = resumable()
    code, todo = trials(st)
    ck = (tmp_path / "p" / checkpoint.FOLDER).resolve()
    got = []
    left = compute_trials(st, todo, code, got.append, workers=workers, progress=False,
                          deadline=PastDeadline(), checkpoints=ck)
    # every one paused after epoch 1, but those that diverged within it (lr = 2.5)
    assert {r["status"] for r in got} <= {"diverged"} and 0 < left == len(todo) - len(got)
    done = {r["key"] for r in got}
    assert sorted(p.name for p in ck.iterdir()) == sorted(f"{k}.npz" for k, _ in todo
                                                          if k not in done)
    # the next run (no deadline) resumes each from its epoch 1, stores it, drops the file
    out = tmp_path / "p"
    s = run_trials(st, out, quick=True, workers=workers, progress=False)
    assert (s.computed, s.not_started) == (len(todo), 0)
    ds = [store.read_trial(out, k) for k, _ in todo]
    resumed = [int(d["resumed_from_epoch"].values) for d in ds
               if str(d.attrs["status"]) == "ok"]
    assert resumed and set(resumed) == {1}
    assert list(ck.iterdir()) == []
    # bit for bit the trials of a run that never paused
    plain = tmp_path / "plain"
    run_trials(st, plain, quick=True, workers=0, progress=False)
    assert_same_trials(out, plain, [k for k, _ in todo])


def test_run_trials_stop_by_pauses_and_says_so(tmp_path, capsys):
    st = resumable()
    code, todo = trials(st)
    first = todo[:2]
    got = []
    n = compute_trials(st, first, code, got.append, workers=0, progress="lines",
                       deadline=PastDeadline(), checkpoints=tmp_path / checkpoint.FOLDER)
    assert n == 2 - len(got) and n > 0
    out = capsys.readouterr().out
    assert out.count("trial paused:") == n and "after 1 of" in out
    assert f"{n} trials paused at the deadline" in out


def test_a_failed_trial_keeps_its_checkpoint_and_retry_resumes(tmp_path, monkeypatch):
    st = resumable()
    code, todo = trials(st)
    k, spec = todo[0]
    ck = tmp_path / checkpoint.FOLDER
    real_save = __import__("studies.selftest", fromlist=["_save"])._save
    calls = []

    def dying_save(path, **arrays):
        real_save(path, **arrays)
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("killed after epoch 1")

    import studies.selftest as S

    monkeypatch.setattr(S, "_save", dying_save)
    rec = execute(st.trial, k, spec, code, str(ck))
    assert rec["status"] == "failed" and "killed after epoch 1" in rec["message"]
    assert checkpoint.path_for(ck, k).exists()
    rec = execute(st.trial, k, spec, code, str(ck))
    assert rec["status"] == "ok" and int(rec["vars"]["resumed_from_epoch"][1]) == 1
    again = execute(st.trial, k, spec, code)                   # not resumable: from scratch
    assert "resumed_from_epoch" not in again["vars"]
    for v in VARS:
        np.testing.assert_array_equal(rec["vars"][v][1], again["vars"][v][1])


def test_a_study_that_is_not_resumable_never_gets_a_checkpoint(tmp_path, monkeypatch):
    seen = []
    real = checkpoint.current
    monkeypatch.setattr(checkpoint, "current", lambda: seen.append(real()) or real())
    st = STUDY.resolved(True)
    run_trials(st, tmp_path, quick=True, workers=0, progress=False,
               stop_by=time.time() + 3600)
    assert seen and set(seen) == {None} and not (tmp_path / checkpoint.FOLDER).exists()
    assert checkpoint.current() is None


def test_a_resumable_trial_starts_while_one_epoch_fits():
    now = [1000.0]
    d = Deadline(1100.0, {("p", "a"): [600.0]}, clock=lambda: now[0])
    spec = {"problem": "p", "optimizer": "a", "epochs": 6}
    assert not d.allows(spec) and d.allows_a_part(spec)       # 1000 + 600/6 <= 1100
    now[0] = 1001.0
    assert not d.allows_a_part(spec)
    d.record({"spec": spec, "wall_time": 5.0, "status": "paused"})   # a part, not a trial
    assert d.expected(spec) == 600.0


def test_checkpoint_context_is_the_engines():
    assert checkpoint.current() is None
    with checkpoint.active("/x/k.npz", 12.5):
        c = checkpoint.current()
        assert c.path.name == "k.npz" and c.stop_at == 12.5
    assert checkpoint.current() is None
    assert checkpoint.path_for("/a", "abc").as_posix() == "/a/abc.npz"


def test_begun_trials_resume_first_and_the_run_says_so(tmp_path, capsys, monkeypatch):
    """A resumable study's trials with a checkpoint go before the others (in their order),
    so a run finishes what an earlier one began before it begins more."""
    from studies.runner import resume_first

    st = resumable()
    code, todo = trials(st)
    assert len(todo) >= 4
    out = tmp_path / "p"
    ck = out / checkpoint.FOLDER
    assert resume_first(st.name, todo, ck) == todo and capsys.readouterr().out == ""
    # pause the last two trials after their first epoch
    got = []
    compute_trials(st, todo[-2:], code, got.append, workers=0, progress=False,
                   deadline=PastDeadline(), checkpoints=ck.resolve())
    begun = [k for k, _ in todo[-2:] if checkpoint.path_for(ck, k).exists()]
    assert begun
    order = [k for k, _ in resume_first(st.name, todo, ck)]
    assert order[:len(begun)] == begun
    assert order[len(begun):] == [k for k, _ in todo if k not in begun]
    # the self-test's own checkpoint format has no epochs_done entry
    assert (f"{st.name}: {len(begun)} trials resume from their checkpoints (epochs done: "
            f"{len(begun)} unknown)" in capsys.readouterr().out)
    # the run resumes them first: their records come before every other trial's
    seen = []
    real = store.write_trial

    def spy(o, rec):
        seen.append(rec["key"])
        return real(o, rec)

    monkeypatch.setattr(store, "write_trial", spy)
    run_trials(st, out, quick=True, workers=0, progress=False)
    assert seen[:len(begun)] == begun and list(ck.iterdir()) == []


def test_resume_first_names_the_epochs_of_adaptlr_checkpoints(tmp_path, capsys):
    from studies.runner import resume_first

    todo = [("a", {}), ("b", {}), ("c", {}), ("d", {}), ("e", {})]
    for k, e in (("b", 7), ("d", 30), ("e", 7)):
        fake_checkpoint.write(checkpoint.path_for(tmp_path, k), e)
    (tmp_path / "c.npz").write_bytes(b"not a checkpoint")     # begun, progress unknown
    # the furthest on first, ties in their order, unknown progress after them, then the rest
    assert [k for k, _ in resume_first("x", todo, tmp_path)] == ["d", "b", "e", "c", "a"]
    assert "x: 4 trials resume from their checkpoints (epochs done: 7, 7, 30, 1 unknown)" in \
        capsys.readouterr().out


def _pausing_trial(spec):
    """Stands for a resumable trial that trains one epoch (0.3 s), checkpoints it in
    adaptlr's format and pauses."""
    ck = checkpoint.current()
    done = checkpoint.progress(ck.path.parent, [ck.path.stem]).get(ck.path.stem) or 0
    time.sleep(0.3)
    fake_checkpoint.write(ck.path, done + 1)
    raise checkpoint.TrialPaused(f"after {done + 1} of {spec['epochs']} epochs")


def test_no_trial_starts_after_a_pause_shows_an_epoch_would_not_fit(tmp_path):
    """A trial that paused tells the deadline its pace: with no stored time to go by, the
    first trial starts (its expected time is unknown), pauses after an epoch of 0.3 s, and
    with 0.2 s left the others of its kind do not start."""
    st = dataclasses.replace(resumable(), trial=_pausing_trial)
    code, todo = trials(st)
    pair = (todo[0][1]["problem"], todo[0][1]["optimizer"])
    same = [(k, s) for k, s in todo if (s["problem"], s["optimizer"]) == pair]
    assert len(same) >= 2
    d = Deadline(1000.0, clock=lambda: 999.8)
    got = []
    left = compute_trials(st, same, code, got.append, workers=0, progress=False, deadline=d,
                          checkpoints=tmp_path)
    assert got == [] and left == len(same)
    assert [p.stem for p in tmp_path.glob("*.npz")] == [same[0][0]]   # only the first began
    assert d.epoch[pair] >= 0.3


def test_deadline_epoch_pace_by_hand():
    d = Deadline(1100.0, clock=lambda: 1000.0)
    spec = {"problem": "p", "optimizer": "a", "epochs": 10}
    assert d.allows_a_part(spec)                                  # nothing known: 0 s
    d.record_epoch(spec, 90.0)
    assert d.allows_a_part(spec)                                  # 1000 + 90 <= 1100
    d.record_epoch(spec, 120.0)
    d.record_epoch(spec, 50.0)                                    # the longest counts
    assert not d.allows_a_part(spec) and d.epoch[("p", "a")] == 120.0
    assert d.allows_a_part({**spec, "optimizer": "b"})            # another pair: unknown
    d.record_epoch(spec, float("nan"))
    assert d.epoch[("p", "a")] == 120.0


def test_api_run_writes_no_dataset_while_no_trial_is_stored(tmp_path):
    """Every trial paused (``--stop-by``): nothing is stored, so ``run`` writes no Dataset
    of all-missing trials and no report; the paths are None and the checkpoints remain."""
    import studies.api

    st = dataclasses.replace(resumable(), trial=_pausing_trial)
    s = studies.api.run(st, quick=True, out=tmp_path, workers=0, progress=False,
                        stop_by=time.time() + 3600)
    assert (s.dataset, s.table, s.figures) == (None, None, ())
    assert s.computed == 0 and s.not_started == s.total > 0
    assert not list(tmp_path.glob("*.nc")) and not list(tmp_path.glob("*.md"))
    assert list((tmp_path / checkpoint.FOLDER).glob("*.npz"))


def test_cli_run_says_no_dataset_while_no_trial_is_stored(tmp_path, monkeypatch, capsys):
    import studies.api
    from studies.cli import main
    from studies.runner import RunSummary

    monkeypatch.setattr(studies.api, "run", lambda *a, **k: RunSummary(
        out=tmp_path, total=4, skipped=0, computed=0, status_counts={}, not_started=4))
    assert main(["run", "selftest", "--quick", "--workers", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "selftest: 4 trials: 0 already stored, 0 run (nothing new), 4 not started" in out
    assert "no trial of selftest is stored yet: no Dataset or report written" in out
    assert "Dataset (netCDF)" not in out


def test_begun_trials_pace_keeps_their_kind_from_starting_when_an_epoch_does_not_fit(
        tmp_path):
    """A checkpoint that records 10,000 s per epoch (wall_time / epochs_done) tells the
    deadline its pace before anything runs: with an hour left, no trial of its problem and
    optimizer starts (it, too, stays paused), while the others run."""
    st = resumable()
    code, todo = trials(st)
    k0, s0 = todo[0]
    pair = (s0["problem"], s0["optimizer"])
    same = [k for k, s in todo if (s["problem"], s["optimizer"]) == pair]
    out = tmp_path / "p"
    fake_checkpoint.write(checkpoint.path_for(out / checkpoint.FOLDER, k0), 1, 10000.0)
    s = run_trials(st, out, quick=True, workers=0, progress=False,
                   stop_by=time.time() + 3600)
    assert s.not_started == len(same) and s.computed == len(todo) - len(same)
    assert not set(same) & store.finished_keys(out)
    assert checkpoint.path_for(out / checkpoint.FOLDER, k0).exists()


def _resuming_trial(spec):
    """Stands for a resumable trial that trained 3 epochs in 100 s in an earlier run (its
    checkpoint says so) and finishes now in about 0.2 s; trial_seconds is its own training
    time over both runs, as adaptlr's train_seconds."""
    time.sleep(0.2)
    done, trained = checkpoint.so_far(checkpoint.current().path.parent,
                                      checkpoint.current().path.stem) or (0, 0.0)
    return {"resumed": ((), np.int64(done)), "train_seconds": ((), trained + 0.2)}


def test_a_resumed_trial_records_the_whole_trials_wall_time(tmp_path):
    """Stored: wall_time = this run (>= 0.2 s) + the earlier runs' 100 s from the
    checkpoint, with this run's in wall_time_run and the epoch it resumed after; the log
    line says both; the Dataset, the summary's timings and impact's read the sum."""
    from studies.combine import combine
    from studies.runner import trial_line

    st = dataclasses.replace(resumable(), trial=_resuming_trial)
    code, todo = trials(st)
    (k0, s0), (k1, _) = todo[0], todo[1]
    out = tmp_path / "p"
    fake_checkpoint.write(checkpoint.path_for(out / checkpoint.FOLDER, k0), 3, 100.0)
    rec = execute(st.trial, k0, s0, code, str((out / checkpoint.FOLDER).resolve()))
    assert rec["status"] == "ok", rec["message"]
    assert rec["resumed_after_epochs"] == 3 and 0.2 <= rec["wall_time_run"] < 100
    assert rec["wall_time"] == pytest.approx(100.0 + rec["wall_time_run"])
    line = trial_line(rec, 1, 4)
    assert f"ok, {rec['wall_time'] / 60:.1f} min (this run 0." in line
    assert line.endswith("s, resumed after epoch 3)")
    (out / "trials").mkdir(parents=True)
    store.write_trial(out, rec)
    a = store.read_trial(out, k0).attrs
    assert (a["wall_time"], a["wall_time_run"], a["resumed_after_epochs"]) == (
        rec["wall_time"], rec["wall_time_run"], 3)
    # a trial that starts afresh (no checkpoint) records this run alone, and no extras
    fresh = execute(st.trial, k1, todo[1][1], code, str((out / checkpoint.FOLDER).resolve()))
    assert fresh["status"] == "ok" and "wall_time_run" not in fresh
    assert 0.2 <= fresh["wall_time"] < 100
    ds = combine(st, out, quick=True)
    assert float(ds["wall_time"].sel(problem=s0["problem"]).values[
        np.isfinite(ds["wall_time"].sel(problem=s0["problem"]).values)].max()) == a["wall_time"]


def test_a_trial_takes_at_least_its_training_time():
    """Resumed trials stored before the runner summed the runs kept the last run's wall
    time only: readers take the trial's own train_seconds where it is larger."""
    import netCDF4

    assert store.trial_wall_time(10.0, 50.0) == 50.0
    assert store.trial_wall_time(60.0, 50.0) == 60.0
    assert store.trial_wall_time(float("nan"), 50.0) == 50.0
    assert store.trial_wall_time(10.0, None) == 10.0
    assert store.trial_wall_time(None, None) is None
    assert store.trial_wall_time(float("nan"), float("nan")) is None


def test_stored_timings_and_rekey_read_the_training_time_of_a_legacy_resumed_trial(tmp_path):
    from studies.rekey import stored_facts

    st = resumable()
    code, todo = trials(st)
    k, s = todo[0]
    rec = {"key": k, "spec": s, "code": code, "vars": {"train_seconds": ((), 50.0)},
           "diverged": False, "diverged_step": -1, "status": "ok", "message": "",
           "wall_time": 10.0}
    (tmp_path / "trials").mkdir()
    p = store.write_trial(tmp_path, rec)
    assert store.trial_timing(p)[0] == 50.0
    assert stored_facts(p)[3] == 50.0
    assert store.stored_wall_times(tmp_path, [(k, s)]) == {(s["problem"], s["optimizer"]): [50.0]}


def test_prune_lists_checkpoints_no_run_resumes_and_keeps_begun_trials(tmp_path, capsys):
    """Stale: a checkpoint of an older key, one whose trial is stored, a temporary; kept:
    the begun trial of the current code. --yes deletes only the stale ones."""
    from studies import api
    from studies.cli import main

    st = resumable()
    code, todo = trials(st)          # the quick form's keys: prune looks at the full form's
    full = keyed(expand(STUDY), studies.expand.code_version(STUDY))
    (k0, s0), (k1, s1) = full[0], full[1]
    folder = tmp_path / checkpoint.FOLDER
    begun, stored = checkpoint.path_for(folder, k0), checkpoint.path_for(folder, k1)
    older, tmp = checkpoint.path_for(folder, "e" * 64), folder / (k0 + ".npz.tmp")
    for p, n in ((begun, 3), (stored, 5), (older, 7)):
        fake_checkpoint.write(p, n)
    tmp.write_bytes(b"half")
    (tmp_path / "trials").mkdir()
    store.write_trial(tmp_path, {"key": k1, "spec": s1, "code": code, "vars": {},
                                 "diverged": False, "diverged_step": -1, "status": "ok",
                                 "message": "", "wall_time": 1.0})
    assert api.stale_checkpoints("selftest", tmp_path) == sorted([stored, older, tmp])
    assert main(["prune", "selftest", "--out", str(tmp_path)]) == 0
    assert "3 checkpoint files stale" in capsys.readouterr().out and older.is_file()
    assert main(["prune", "selftest", "--out", str(tmp_path), "--yes"]) == 0
    assert "3 checkpoint files deleted" in capsys.readouterr().out
    assert sorted(folder.iterdir()) == [begun]
    assert api.stale_checkpoints("selftest", tmp_path / "nothing") == []


@pytest.mark.parametrize("bare", [False, True])
def test_every_trial_of_a_process_names_its_checkpoint_by_the_same_blas_libraries(bare):
    """Numba loads SciPy's OpenBLAS when it first compiles a matrix product, after
    adaptlr.mlp.train took the checkpoint's identity: without the runner loading it first
    (``bare``), the first trial of a fresh process saw one library and the second two, so
    a checkpoint of one could not resume in the other (2026-12-07)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    out = subprocess.run([sys.executable, str(here / "blas_identity_probe.py"),
                          *(["bare"] if bare else [])], capture_output=True, text=True,
                         env=env, timeout=600, check=True).stdout
    first, second = json.loads(out.strip().splitlines()[-1])
    if bare:
        assert len(first) < len(second), (first, second)   # what the runner mends
    else:
        assert first == second and len(first) >= 2, (first, second)
