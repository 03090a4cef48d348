"""``rekey --verify``: the carry-over by recomputation (studies/rekey.py, ``verify``).

Trials of the NumPy-only ``selftest`` study are stored under an older code version (a
made one: the current code keys them differently), then verified with the current code:
the bit-identical ones are carried in the ledger without a trial file written; one whose
stored values were altered by one ulp is recomputed and stored as a new trial; failed
trials are left; timings are not compared.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from studies import api, rekey as rk, store
from studies import expand as ex
from studies.cli import main
from studies.runner import execute

pytestmark = pytest.mark.timeout(300)


def _old_code(st):
    code = ex.code_version(st)
    return {**code, "source_sha256": "0" * 64}      # an older shared code: other keys


def _store_old(st, out, *, lrs=None):
    """The trials of ``st`` computed now but stored under the made older code version."""
    old = _old_code(st)
    store.ensure_writable(out)
    keys = {}
    for key, spec in ex.keyed(ex.expand(st), old):
        store.write_trial(out, execute(st.trial, key, spec, old))
        keys[key] = spec
    return keys


@pytest.fixture
def study():
    return api.prepare("selftest", quick=True).restricted(seeds=[0, 1])


def _alter_one_ulp(out, key, var="test_loss"):
    path = store.trial_path(out, key)
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    v = ds[var].values.copy()
    v[-1] = np.nextafter(v[-1], np.inf)
    ds[var] = (ds[var].dims, v)
    path.unlink()
    store.atomic_write_dataset(ds, path)


def test_verify_lists_then_carries_bit_identical_trials_in_the_ledger(tmp_path, study):
    old = _store_old(study, tmp_path)
    n = len(old)
    cur = dict(ex.keyed(ex.expand(study), ex.code_version(study)))
    assert not set(old) & set(cur) and not store.finished_keys(tmp_path) & set(cur)
    files = {p.name: p.read_bytes() for p in (tmp_path / store.TRIALS).glob("*.nc")}

    res = rk.verify(study, tmp_path)                                  # dry run
    assert len(res["candidates"]) == n and not res["carried"] and not res["left"]
    assert {new for _, new in res["candidates"]} == set(cur)
    assert not (tmp_path / store.TRIALS / store.CARRIED).exists()

    res = rk.verify(study, tmp_path, apply=True, workers=0, progress=False)
    assert len(res["carried"]) == n and not res["recomputed"]
    # no trial file written, renamed or changed: one ledger line each
    assert {p.name: p.read_bytes() for p in (tmp_path / store.TRIALS).glob("*.nc")} == files
    led = store.read_carried(tmp_path)["trials"]
    assert set(led) == set(cur) and all(e["by"] == "recomputation" for e in led.values())
    assert store.finished_keys(tmp_path) >= set(cur)
    k = sorted(cur)[0]
    t = store.read_trial(tmp_path, k)
    assert t.attrs["carried_by"] == "recomputation" and t.attrs["key"] == k
    assert json.loads(t.attrs["code_version"]) == ex.code_version(study)
    assert json.loads(t.attrs["code_version_computed"]) == _old_code(study)
    ds = api.build_dataset(study, tmp_path, quick=False, device="cpu", alpha=0.01,
                           test="wilcoxon", correction=None, code=ex.code_version(study))
    assert (ds["status"].values != "missing").all()
    # nothing stale, and a second verify has nothing to do
    assert rk.verify(study, tmp_path)["candidates"] == []
    # the ledger line of a recomputation survives a source proof's rewrite of the ledger
    store.write_carried(tmp_path, {"f" * 64: (sorted(old)[0], "HEAD", {"x": 1})})
    assert store.read_carried(tmp_path)["trials"][k]["by"] == "recomputation"
    assert "by" not in store.read_carried(tmp_path)["trials"]["f" * 64]


def test_verify_stores_a_trial_that_differs_by_one_ulp_as_a_new_result(tmp_path, study):
    old = _store_old(study, tmp_path)
    bad = sorted(k for k, s in old.items() if s["optimizer"] == "sgd")[0]
    _alter_one_ulp(tmp_path, bad)
    res = rk.verify(study, tmp_path, apply=True, workers=0, progress=False)
    assert len(res["carried"]) == len(old) - 1
    [(o, new, why)] = res["recomputed"]
    assert o == bad and why == ["test_loss"]
    assert store.trial_path(tmp_path, new).is_file()              # its own file, current key
    assert new not in store.read_carried(tmp_path)["trials"]
    t = store.read_trial(tmp_path, new)
    assert "carried_by" not in t.attrs and json.loads(t.attrs["code_version"]) == \
        ex.code_version(study)
    # the altered file is now stale, everything else current
    import studies.api as sa

    _, stale, _, lines = sa.stale(study, tmp_path)
    assert [p.stem for p in stale] == [bad] and not lines


def test_verify_leaves_failed_trials_and_other_specs(tmp_path, study):
    st = api.prepare("selftest", quick=True).restricted(
        seeds=[0], overrides={"sgd": {"lr": [0.1, -1.0]}})
    old = _store_old(st, tmp_path)
    failed = [k for k in old if store.trial_status(tmp_path, k) == "failed"]
    assert failed
    res = rk.verify(st, tmp_path)
    assert {k for k, _ in res["left"]} == set(failed)
    assert "run --retry-failed" in res["left"][0][1]
    # seen from the study without the failing setting: its spec is not among the trials
    res = rk.verify(study.restricted(seeds=[0]), tmp_path)
    assert set(failed) <= {k for k, why in res["left"] if "not among" in why}


def test_differences_compare_bits_and_nan_and_leave_timings_out():
    ds = xr.Dataset({"a": (("epoch",), np.array([1.0, np.nan])),
                     "train_seconds": ((), 3.0), "n": ((), np.int64(4))},
                    attrs={"status": "ok", "message": "", "diverged_step": -1})
    rec = {"status": "ok", "message": "", "diverged_step": -1,
           "vars": {"a": (("epoch",), np.array([1.0, -np.nan])),     # another NaN pattern
                    "train_seconds": ((), np.float64(9.0)), "n": ((), np.int64(4))}}
    ignore = rk.timing_vars(None, {"a", "train_seconds", "n"})
    assert ignore == {"train_seconds"}
    assert rk.differences(ds, rec, ignore) == []
    assert rk.differences(ds, rec) == ["train_seconds"]
    rec["vars"]["a"] = (("epoch",), np.array([np.nextafter(1.0, 2.0), np.nan]))
    assert rk.differences(ds, rec, ignore) == ["a"]
    rec["vars"]["a"] = (("step",), np.array([1.0, np.nan]))
    assert rk.differences(ds, rec, ignore) == ["a"]
    rec["vars"]["a"] = (("epoch",), np.array([1.0, np.nan], dtype=np.float32))
    assert rk.differences(ds, rec, ignore) == ["a"]
    rec["vars"]["a"] = (("epoch",), np.array([1.0, np.nan]))
    rec["vars"]["extra"] = ((), 1.0)
    assert rk.differences(ds, rec, ignore) == ["variables ['extra'] only on one side"]
    del rec["vars"]["extra"]
    rec.update(status="diverged", diverged_step=7, message="diverged")
    assert rk.differences(ds, rec, ignore) == ["status ok -> diverged", "message",
                                               "diverged_step -1 -> 7"]

    class S:
        variables = {"epoch_wall": {"units": "s"}, "loss": {"units": "1"}}
    assert rk.timing_vars(S, {"epoch_wall", "loss", "mlp_epoch_time"}) == {
        "epoch_wall", "mlp_epoch_time"}


def test_cli_rekey_verify_lists_then_computes_and_refuses_bad_flags(tmp_path, capsys, study,
                                                                  monkeypatch):
    full = api.prepare("selftest")
    part = full.restricted(seeds=[0], problems=[sorted(full.problems)[0]])
    n = len(_store_old(part, tmp_path))
    assert main(["rekey", "selftest", "--verify", "--out", str(tmp_path),
                 "--problems", sorted(full.problems)[0]]) == 0
    text = capsys.readouterr().out
    assert text.count("can verify: ") == n and f"{n} trials to recompute" in text
    assert main(["rekey", "selftest", "--verify", "--yes", "--workers", "0", "--no-progress",
                 "--out", str(tmp_path), "--problems", sorted(full.problems)[0]]) == 0
    text = capsys.readouterr().out
    assert text.count("rekeyed: ") == n and f"{n} trials carried over by recomputation" in text
    for bad, msg in ((["--verify", "--from", "HEAD"], "exclude each other"),
                     ([], "give --from REV"),
                     (["--from", "HEAD", "--workers", "2"], "--workers go with --verify"),
                     (["--from", "HEAD", "--stop-by", "+1h"], "--stop-by go with --verify"),
                     (["--verify", "--yes", "--stop-by", "soon"], "--stop-by"),
                     (["--verify", "--workers", "-1"], "--workers must be >= 0"),
                     (["--verify", "--problems", ","], "--problems: empty")):
        assert main(["rekey", "selftest", "--out", str(tmp_path), *bad]) == 2
        assert msg in capsys.readouterr().err


def test_verify_a_part_leaves_the_other_parts_and_never_stores_a_failed_recomputation(
        tmp_path, study):
    import dataclasses

    old = _store_old(study, tmp_path)
    p1 = sorted(study.problems)[0]
    part = study.restricted(problems=[p1])
    res = rk.verify(part, tmp_path, whole=study)
    n1 = sum(1 for s in old.values() if s["problem"] == p1)
    assert len(res["candidates"]) == n1 and res["outside"] == len(old) - n1 and not res["left"]
    # without the whole form, the other parts' trials are 'not among the trials'
    assert len(rk.verify(part, tmp_path)["left"]) == len(old) - n1

    def broken(spec):
        raise RuntimeError("lost the data")

    files = {p.name for p in (tmp_path / store.TRIALS).glob("*.nc")}
    res = rk.verify(dataclasses.replace(part, trial=broken), tmp_path, apply=True, workers=0,
                    progress=False, whole=study)
    assert not res["carried"] and not res["recomputed"] and len(res["left"]) == n1
    assert all("recomputation failed (RuntimeError: lost the data)" in why
               for _, why in res["left"])
    assert {p.name for p in (tmp_path / store.TRIALS).glob("*.nc")} == files
    assert not (tmp_path / store.TRIALS / store.CARRIED).exists()


# --- the sampled form (verify(sample=K), rekey --verify --sample K) -------------------------

def _strata_of(out, cands):
    """{stratum: [current keys]} of the candidate pairs, from the stored files."""
    got: dict = {}
    for old, new in cands:
        t = store.read_trial(out, old)
        got.setdefault(rk.stratum(json.loads(t.attrs["spec"]), t.attrs["status"],
                                  t.attrs.get("environment", "")), []).append(new)
    return got


def test_stratum_ignores_seed_and_hyper_values_but_not_status_or_anything_else():
    spec = {"optimizer": "sgd", "hyper": {"lr": 0.1, "gamma": 0.0}, "seed": 3, "problem": "M1",
            "batch_size": 1, "params": {"l2": 1e-4, "dtype": "float64"}}
    same = {**spec, "seed": 7, "hyper": {"gamma": 1e-3, "lr": 1.0}}
    assert rk.stratum(spec, "ok") == rk.stratum(same, "ok")
    assert rk.stratum(spec, "ok") != rk.stratum(spec, "diverged")
    assert rk.stratum(spec, "ok", '{"cpu_target": "znver5"}') != rk.stratum(
        spec, "ok", '{"cpu_target": "emeraldrapids"}')
    for k, v in (("optimizer", "adagrad"), ("problem", "M2"), ("batch_size", 100),
                 ("params", {"l2": 0.0, "dtype": "float64"}), ("hyper", {"lr": 0.1})):
        assert rk.stratum({**spec, k: v}, "ok") != rk.stratum(spec, "ok"), k


def test_sample_strata_takes_the_cheapest_deterministically_and_refuses_bad_k():
    cands = {"a": ("s1", 5.0), "b": ("s1", 1.0), "c": ("s1", None), "d": ("s1", 1.0),
             "e": ("s2", 9.0)}
    got = rk.sample_strata(cands, 2)
    assert got == {"s1": (["b", "d"], ["a", "c"]), "s2": (["e"], [])}
    assert rk.sample_strata(cands, 9)["s1"] == (["b", "d", "a", "c"], [])
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="sample must be an integer >= 1"):
            rk.sample_strata(cands, bad)


def test_verify_sample_recomputes_one_per_stratum_and_carries_the_rest(tmp_path, study):
    old = _store_old(study, tmp_path)
    full = rk.verify(study, tmp_path)["candidates"]
    strata = _strata_of(tmp_path, full)
    assert 1 < len(strata) < len(old)           # the test means something: strata of >1 trial
    res = rk.verify(study, tmp_path, sample=1, workers=0)  # dry run: lists the sample only
    assert len(res["candidates"]) == len(strata) and res["by_sample"] == []
    assert sorted(res["strata"].values()) == sorted((1, len(v)) for v in strata.values())
    assert not (tmp_path / store.TRIALS / store.CARRIED).exists()

    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    assert len(res["carried"]) == len(strata) and not res["recomputed"] and not res["left"]
    assert len(res["by_sample"]) == len(old) - len(strata)
    led = store.read_carried(tmp_path)["trials"]
    assert set(led) == {new for _, new in full}
    by = sorted({e["by"] for e in led.values()})
    assert "recomputation" in by
    assert {b for b in by if b != "recomputation"} == {
        f"sampled recomputation (1 of {len(v)})" for v in strata.values() if len(v) > 1}
    _, carried_new = res["by_sample"][0]
    t = store.read_trial(tmp_path, carried_new)
    assert t.attrs["carried_by"].startswith("sampled recomputation (1 of ")
    assert json.loads(t.attrs["code_version_computed"]) == _old_code(study)
    assert rk.verify(study, tmp_path, sample=1, workers=0)["candidates"] == []


def test_verify_sample_carries_nothing_more_of_a_stratum_whose_sample_differs(tmp_path, study):
    old = _store_old(study, tmp_path)
    res = rk.verify(study, tmp_path, sample=1, workers=0)
    strata = _strata_of(tmp_path, rk.verify(study, tmp_path)["candidates"])
    big = next(st for st, keys in sorted(strata.items()) if len(keys) > 1)
    cur_to_old = {new: o for o, new in rk.verify(study, tmp_path)["candidates"]}
    [bad] = [o for o, new in res["candidates"] if new in strata[big]]
    _alter_one_ulp(tmp_path, bad)

    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    [(o, new, why)] = res["recomputed"]
    assert o == bad and why == ["test_loss"]
    others = {cur_to_old[k] for k in strata[big]} - {bad}
    assert {k for k, _ in res["left"]} == others
    assert all("sampled recomputation did not agree" in why for _, why in res["left"])
    led = store.read_carried(tmp_path)["trials"]
    assert not set(strata[big]) & set(led)
    assert len(led) == len(old) - len(strata[big])      # every other stratum carried


def test_verify_sample_cannot_see_a_difference_outside_its_sample(tmp_path, study):
    """The documented limit of the sampled form: evidence, not a per-trial proof."""
    _store_old(study, tmp_path)
    res = rk.verify(study, tmp_path, sample=1, workers=0)
    sampled = {o for o, _ in res["candidates"]}
    every = rk.verify(study, tmp_path)["candidates"]
    strata = _strata_of(tmp_path, every)
    big = next(keys for _, keys in sorted(strata.items()) if len(keys) > 1)
    hidden = next(o for o, new in every if new in big and o not in sampled)
    _alter_one_ulp(tmp_path, hidden)
    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    assert hidden in {o for o, _ in res["by_sample"]} and not res["recomputed"]
    # the plain form finds it: that is the check to run where the proof matters
    led = {k: v for k, v in store.read_carried(tmp_path)["trials"].items()
           if v["stored"] != hidden}
    (tmp_path / store.TRIALS / store.CARRIED).unlink()
    store.write_carried(tmp_path, {k: (v["stored"], v["rev"], ex.code_version(study), v["by"])
                                   for k, v in led.items()})
    res = rk.verify(study, tmp_path, apply=True, workers=0, progress=False)
    assert [o for o, _, _ in res["recomputed"]] == [hidden]


def test_cli_rekey_verify_sample(tmp_path, capsys, study):
    full = api.prepare("selftest")
    p1 = sorted(full.problems)[0]
    n = len(_store_old(full.restricted(seeds=[0, 1], problems=[p1]), tmp_path))
    args = ["rekey", "selftest", "--verify", "--out", str(tmp_path), "--problems", p1,
            "--sample", "1", "--workers", "0"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "sample of 1 per stratum" in text and f"of {n} trials to recompute" in text
    assert main(args + ["--yes", "--workers", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "by their stratum's sample" in text and "(its stratum's sample recomputed" in text
    for bad, msg in ((["--verify", "--sample", "0"], "--sample must be >= 1"),
                     (["--from", "HEAD", "--sample", "2"], "--sample go with --verify")):
        assert main(["rekey", "selftest", "--out", str(tmp_path), *bad]) == 2
        assert msg in capsys.readouterr().err


def test_blas_kernels_of_an_environment_and_of_this_process():
    env = json.dumps({"blas": [{"architecture": "Haswell"}, {"architecture": "Haswell"},
                               {"internal_api": "openmp"}]})
    assert rk.blas_kernels(env) == frozenset({"Haswell"})
    assert rk.blas_kernels("") is None and rk.blas_kernels("{}") is None
    assert rk.blas_kernels("not json") is None and rk.blas_kernels("[1]") is None
    assert rk.environment_kernels(json.loads(env)) == frozenset({"Haswell"})
    assert rk.environment_kernels({"blas": [{"architecture": "SkylakeX"},
                                            {"architecture": "Haswell"}]}) == \
        frozenset({"SkylakeX", "Haswell"})
    assert rk.environment_kernels({}) is None and rk.environment_kernels([]) is None
    here = rk.current_blas_kernels()
    assert here is None or len(here) >= 1


def test_verify_sample_leaves_trials_of_other_blas_kernels(tmp_path, study, monkeypatch):
    """A stratum computed with other OpenBLAS kernels is not sampled (its bits cannot agree
    here): left with the OPENBLAS_CORETYPE to use; the others are verified as before."""
    old = _store_old(study, tmp_path)
    every = rk.verify(study, tmp_path)["candidates"]
    monkeypatch.setattr(rk, "current_blas_kernels", lambda: frozenset({"NoSuchKernels"}))
    stored = store.read_trial(tmp_path, every[0][0]).attrs.get("environment", "")
    if rk.blas_kernels(stored) is None:
        pytest.skip("this process records no OpenBLAS kernel set")
    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    assert not res["carried"] and not res["by_sample"] and len(res["left"]) == len(old)
    assert all("OPENBLAS_CORETYPE=" in why for _, why in res["left"])
    monkeypatch.undo()
    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    assert len(res["carried"]) + len(res["by_sample"]) == len(old)


def test_recorded_and_run_thread_counts(monkeypatch):
    env = json.dumps({"thread_env": {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}})
    assert rk.recorded_threads(env) == {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    for none in ("", "{}", "not json", "[1]", json.dumps({"thread_env": {}})):
        assert rk.recorded_threads(none) is None
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert set(rk.run_threads(2).values()) == {"1"}            # 2 workers x 1 thread
    assert set(rk.run_threads(None).values()) == {"1"}         # default: one per core
    assert set(rk.run_threads(1).values()) == {"2"}            # the trap: 1 worker, 2 threads
    assert rk.run_threads(2, scheduler="tcp://x:1") is None    # a remote cluster: not known
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    assert rk.run_threads(0)["NUMBA_NUM_THREADS"] == "3"       # in this process: its own
    why = rk._other_threads({"NUMBA_NUM_THREADS": "1"}, {"NUMBA_NUM_THREADS": "2"})
    assert "NUMBA_NUM_THREADS=1" in why and "NUMBA_NUM_THREADS=2" in why
    assert "--workers 2 on this 2-core machine" in why


@pytest.mark.parametrize("bad", [-1, -4, 1.5, True])
def test_run_threads_rejects_a_bad_worker_count(bad):
    with pytest.raises(ValueError, match=r"workers must be an integer >= 0.*got"):
        rk.run_threads(bad)


def test_verify_parses_each_stored_environment_once(tmp_path, study, monkeypatch):
    """A sampled verify reads a candidate's kernels and threads from one parse of its
    environment (the mend of session 22's note: it parsed the JSON twice)."""
    old = _store_old(study, tmp_path)
    calls = []
    real = rk.parsed_environment
    monkeypatch.setattr(rk, "parsed_environment", lambda e: calls.append(e) or real(e))
    res = rk.verify(study, tmp_path, sample=1, workers=0, progress=False)
    assert res["candidates"] and len(old) >= 2 and len(calls) == len(old)


def test_verify_sample_leaves_trials_of_other_thread_counts(tmp_path, study, monkeypatch):
    """A trial computed with other thread counts than the recomputations would get is not
    sampled (its last bits can differ): left with the --workers that matches it; with the
    recorded counts the same trials are carried."""
    old = _store_old(study, tmp_path)
    every = rk.verify(study, tmp_path)["candidates"]
    stored = store.read_trial(tmp_path, every[0][0]).attrs.get("environment", "")
    recorded = rk.recorded_threads(stored)
    assert recorded, "execute() records the thread counts of the process"
    other = {k: str(int(v or "1") + 1) for k, v in recorded.items()}
    monkeypatch.setattr(rk, "run_threads", lambda workers, scheduler=None: other)
    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    assert not res["carried"] and not res["by_sample"] and len(res["left"]) == len(old)
    assert all("thread counts decide" in why for _, why in res["left"])
    monkeypatch.setattr(rk, "run_threads", lambda workers, scheduler=None: dict(recorded))
    res = rk.verify(study, tmp_path, sample=1, apply=True, workers=0, progress=False)
    assert len(res["carried"]) + len(res["by_sample"]) == len(old)


def _selftest_trial_without_bookkeeping(spec):
    """The self-test trial less ``resumed_from_epoch`` (its record of where a run resumed,
    which a resumed recomputation would otherwise differ in)."""
    from studies.selftest import STUDY

    variables = STUDY.trial(spec)
    variables.pop("resumed_from_epoch", None)
    return variables


def test_verify_of_a_resumable_study_pauses_by_stop_by_and_resumes(tmp_path, study,
                                                                     monkeypatch):
    """A resumable study's recomputations checkpoint under their current key: with nothing
    fitting before --stop-by none starts and nothing is carried (nor a sampled stratum);
    started with the deadline past, each trains an epoch and pauses (left, checkpointed);
    the next verify resumes them and carries them bit for bit, the checkpoints gone."""
    import dataclasses
    import time

    from studies import checkpoint, runner

    st = dataclasses.replace(study, resumable=True, trial=_selftest_trial_without_bookkeeping)
    old = _store_old(st, tmp_path)
    cur = {new for _, new in rk.verify(st, tmp_path)["candidates"]}
    res = rk.verify(st, tmp_path, sample=1, apply=True, workers=0, progress=False,
                    stop_by=time.time() - 1.0)
    assert not res["carried"] and not res["by_sample"] and len(res["left"]) == len(old)
    assert all("run the same command again" in why for _, why in res["left"])
    assert not (tmp_path / store.TRIALS / store.CARRIED).exists()

    class Past(runner.Deadline):          # every recomputation starts and pauses after epoch 1
        def __init__(self):
            super().__init__(time.time() - 1.0, clock=lambda: 0.0)

    monkeypatch.setattr(runner, "run_deadline", lambda *a, **k: Past())
    res = rk.verify(st, tmp_path, apply=True, workers=0, progress=False,
                    stop_by=time.time() + 3600)
    paused = {p.stem for p in (tmp_path / checkpoint.FOLDER).glob("*.npz")}
    assert paused and paused <= cur                 # named by the current keys
    assert {old_key for old_key, _ in res["left"]} == {o for o, n in
                                                        rk.verify(st, tmp_path)["candidates"]}
    assert len(res["left"]) == len(paused) and not res["recomputed"]
    monkeypatch.undo()
    res = rk.verify(st, tmp_path, apply=True, workers=0, progress=False)
    assert {n for _, n in res["carried"]} == paused and not res["recomputed"] and not res["left"]
    assert set(store.read_carried(tmp_path)["trials"]) == cur
    assert not list((tmp_path / checkpoint.FOLDER).glob("*.npz"))
