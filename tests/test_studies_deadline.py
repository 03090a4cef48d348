"""``run --stop-by``: start no trial that cannot finish by a deadline, so a run that must end
at a known time wastes no half-finished trial (studies.runner.Deadline)."""
from __future__ import annotations

import datetime as dt

import pytest

import studies.expand
from studies import store
from studies.expand import expand, keyed
from studies.runner import Deadline, compute_trials, parse_deadline, run_trials
from studies.selftest import STUDY

NOW = dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.timezone.utc)


def test_parse_deadline_forms():
    t0 = NOW.timestamp()
    assert parse_deadline("+90m", NOW) == t0 + 5400
    assert parse_deadline("+2h", NOW) == t0 + 7200 and parse_deadline("+30s", NOW) == t0 + 30
    assert parse_deadline("15:10", NOW) == t0 + 2 * 3600 + 600
    assert parse_deadline("2026-12-02T15:10+00:00", NOW) == t0 + 2 * 3600 + 600
    # HH:MM is its next occurrence: one already past today (or now itself) is tomorrow's
    assert parse_deadline("12:30", NOW) == t0 + 24 * 3600 - 1800
    assert parse_deadline("00:40", NOW) == t0 + 11 * 3600 + 2400
    assert parse_deadline("13:00", NOW) == t0 + 24 * 3600
    for bad in ("2026-12-01T15:10+00:00", "2026-12-02T13:00+00:00"):
        with pytest.raises(ValueError, match="already passed"):
            parse_deadline(bad, NOW)
    for bad in ("+0m", "+5x", "+m", "+-3h", "soon", "25:00", "+infh"):
        with pytest.raises(ValueError, match=r"--stop-by .*allowed: HH:MM"):
            parse_deadline(bad, NOW)


def test_deadline_prefers_the_trials_finished_in_this_run_to_the_stored_ones():
    """A trial finished in this run measures the machine as it runs now: once a pair has
    one, the stored times (another host's, another load's) no longer count."""
    d = Deadline(1e9, {("p", "a"): [50.0, 60.0, 70.0]}, clock=lambda: 0.0)
    a = {"problem": "p", "optimizer": "a"}
    assert d.expected(a) == 60.0
    d.record({"spec": a, "wall_time": 500.0, "status": "ok"})
    assert d.expected(a) == 500.0                              # not the median 65 of all four
    d.record({"spec": a, "wall_time": 300.0, "status": "diverged"})
    assert d.expected(a) == 400.0


def test_host_ratio_by_hand():
    t = {("M2", "a"): [(10.0, "z5"), (12.0, "z5"), (30.0, "z3")],
         ("M2", "b"): [(20.0, "z5"), (50.0, "z3")],
         ("M0", "a"): [(1.0, "z5"), (1.1, "z3")]}
    from studies.timing import host_ratio

    # M2: a 30/11, b 50/20 -> median of the two; M0 is another problem, left out
    assert host_ratio(t, "z5", "z3", "M2") == pytest.approx((30 / 11 + 2.5) / 2)
    assert host_ratio(t, "z5", "z3", "M1") == pytest.approx(2.5)   # none on M1: all three
    assert host_ratio(t, "z3", "z5", "M0") == pytest.approx(1 / 1.1)
    assert host_ratio(t, "z5", "zen9", "M2") is None


def test_on_host_puts_stored_times_on_the_running_hosts_scale():
    from studies.timing import on_host

    r = (30 / 11 + 2.5) / 2                                      # z5 -> z3 on M2
    t = {("M2", "a"): [(10.0, "z5"), (12.0, "z5"), (30.0, "z3")],
         ("M2", "b"): [(20.0, "z5"), (50.0, "z3")],
         ("M2", "c"): [(8.0, "z5"), (9.0, "z5")],                 # never run on z3
         ("M2", "d"): [(7.0, "z4")],                              # z4 shares nothing with z3
         ("M2", "e"): [(8.0, "z5"), (7.0, "z4")],
         ("M2", "f"): [(5.0, None), (6.0, None)]}                 # files without a host
    times, how = on_host(t, "z3")
    assert times[("M2", "a")] == [30.0] and how[("M2", "a")] == "this host"
    assert times[("M2", "c")] == pytest.approx([8 * r, 9 * r]) and how[("M2", "c")] == "scaled"
    assert times[("M2", "d")] == [7.0] and how[("M2", "d")] == "unscaled"
    assert times[("M2", "e")] == pytest.approx([8 * r, 7.0])
    assert how[("M2", "e")] == "scaled, partly unscaled"
    assert times[("M2", "f")] == [5.0, 6.0] and how[("M2", "f")] == "pooled"
    pooled, how = on_host(t, None)                                # a remote cluster
    assert pooled[("M2", "a")] == [10.0, 12.0, 30.0] and set(how.values()) == {"pooled"}


def test_stored_timings_read_the_host_of_each_trial(tmp_path, monkeypatch):
    import time

    import studies.provenance
    import studies.timing
    from studies.provenance import host_cpu

    st = STUDY.resolved(True)
    run_trials(st, tmp_path, quick=True, workers=0, progress=False)
    trials = keyed(expand(st, quick=True), studies.expand.code_version(st))
    timings = store.stored_timings(tmp_path, trials)
    assert timings and {c for ts in timings.values() for _, c in ts} == {host_cpu()}
    assert store.stored_wall_times(tmp_path, trials) == \
        {p: [w for w, _ in ts] for p, ts in timings.items()}
    # run --stop-by times by the host that runs it: as another CPU, nothing stored is "here"
    seen = []
    real = studies.timing.on_host
    monkeypatch.setattr(studies.timing, "on_host", lambda t, h: seen.append(h) or real(t, h))
    monkeypatch.setattr(studies.provenance, "host_cpu", lambda: "zen9")
    run_trials(st, tmp_path, quick=True, workers=0, progress=False, stop_by=time.time() + 60)
    assert seen == ["zen9"]
    from studies.runner import stored_times_here

    # a remote cluster's workers may be any host: its stored times are pooled as they are
    assert stored_times_here(tmp_path, trials, "tcp://nowhere:1")[0] == \
        store.stored_wall_times(tmp_path, trials) and seen[-1] is None


def test_stop_by_warns_when_a_pair_to_run_was_timed_elsewhere_only():
    from studies.runner import unscaled_warning

    todo = [("k1", {"problem": "M2", "optimizer": "sgd"}),
            ("k2", {"problem": "M2", "optimizer": "almeida"}),
            ("k3", {"problem": "M1", "optimizer": "smd"})]
    how = {("M2", "sgd"): "this host", ("M2", "almeida"): "unscaled",
           ("M1", "smd"): "scaled, partly unscaled", ("M0", "smd"): "unscaled"}
    w = unscaled_warning(todo, how)
    assert "M1 smd, M2 almeida timed only on other CPUs" in w and "M0" not in w
    assert "sgd" not in w and "margin" in w
    assert unscaled_warning(todo[:1], how) == ""


def test_deadline_expects_the_median_of_stored_or_finished_trials():
    now = [1000.0]
    d = Deadline(1100.0, {("p", "a"): [50.0, 200.0, 90.0]}, clock=lambda: now[0])
    a, b = {"problem": "p", "optimizer": "a"}, {"problem": "p", "optimizer": "b"}
    assert d.expected(a) == 90.0 and d.allows(a)          # 1000 + 90 <= 1100
    assert d.expected(b) == 0.0 and d.allows(b)           # never timed: starts if not past
    now[0] = 1020.0
    assert not d.allows(a) and d.allows(b)
    d.record({"spec": b, "wall_time": 500.0, "status": "ok"})
    d.record({"spec": b, "wall_time": float("nan"), "status": "failed"})   # a lost worker
    assert d.expected(b) == 500.0 and not d.allows(b)


class CountingDeadline(Deadline):
    """Its clock moves 100 s per finished trial: with the deadline 150 s ahead, the first
    trial starts (0 + 0 <= 150), the second after it (100 <= 150), the third does not
    (200 > 150): only if each trial is checked when it would start, not all at submission."""

    def __init__(self, at):
        self.n = 0
        super().__init__(at, clock=lambda: 100.0 * self.n)

    def record(self, rec):
        self.n += 1
        super().record(rec)


@pytest.mark.parametrize("workers", [0, 1])
def test_no_trial_starts_that_the_deadline_does_not_allow(tmp_path, workers):
    st = STUDY.resolved(True)
    code = studies.expand.code_version(st)
    todo = keyed(expand(st, quick=True), code)
    got = []
    left = compute_trials(st, todo, code, lambda r: got.append(r) or "", workers=workers,
                          progress=False, deadline=CountingDeadline(150.0))
    assert len(got) == 2 and left == len(todo) - 2
    assert [r["key"] for r in got] == [k for k, _ in todo[:2]]   # in order, the rest waits
    assert compute_trials(st, todo[:3], code, got.append, workers=workers, progress=False) == 0


def test_run_trials_with_a_passed_deadline_starts_nothing_and_resumes_later(tmp_path):
    import time

    st = STUDY.resolved(True)
    s = run_trials(st, tmp_path, quick=True, workers=0, progress=False, stop_by=time.time() - 1)
    assert (s.computed, s.not_started) == (0, s.total) and not store.finished_keys(tmp_path)
    s = run_trials(st, tmp_path, quick=True, workers=0, progress=False,
                   stop_by=time.time() + 3600)
    assert (s.computed, s.not_started) == (s.total, 0)
    assert len(store.finished_keys(tmp_path)) == s.total


def test_cli_names_a_bad_stop_by(capsys):
    from studies.cli import main

    assert main(["run", "selftest", "--quick", "--stop-by", "whenever"]) != 0
    err = capsys.readouterr().err
    assert "--stop-by 'whenever'" in err and "HH:MM" in err


def test_cli_says_the_deadline_it_resolved(capsys, tmp_path):
    """An ``HH:MM`` that rolls over to tomorrow must not pass unseen: the run says its date."""
    from studies.cli import main

    assert main(["run", "selftest", "--quick", "--workers", "0", "--no-progress",
                 "--out", str(tmp_path), "--stop-by", "2099-01-02T03:04+00:00"]) == 0
    when = dt.datetime(2099, 1, 2, 3, 4, tzinfo=dt.timezone.utc).astimezone()
    assert f"no trial starts that would not finish by {when.isoformat(timespec='minutes')}" \
        in capsys.readouterr().out


def test_untimed_pairs_use_the_estimate_of_another_problem():
    """A pair never run (vsgd-sensitivity's M1 here) is not taken as 0 s when the study's
    other problems time it: Deadline falls back on studies.timing.expected_seconds."""
    from studies.timing import expected_seconds

    spec = lambda p, o: {"problem": p, "optimizer": o,                       # noqa: E731
                         "problem_params": {"sizes": {"A": [10, 2], "B": [100, 2]}[p]}}
    trials = [("k1", spec("A", "x")), ("k2", spec("A", "y")), ("k3", spec("B", "y")),
              ("k4", spec("B", "x"))]
    times = {("A", "x"): [10.0, 30.0], ("A", "y"): [4.0], ("B", "y"): [40.0]}
    est = expected_seconds(trials, times)
    assert est[("A", "x")] == (20.0, "timed")
    assert est[("B", "x")] == (200.0, "scaled")            # x on A, times y's measured B/A ratio
    assert expected_seconds([("k", spec("B", "z"))], {("B", "y"): [40.0]})[("B", "z")] == \
        (40.0, "other methods")
    assert expected_seconds([("k", spec("B", "z"))], {}) == {("B", "z"): (None, None)}
    now = [0.0]
    d = Deadline(100.0, times, clock=lambda: now[0],
                 fallback={k: v for k, (v, _) in est.items()})
    assert d.expected(spec("B", "x")) == 200.0 and not d.allows(spec("B", "x"))
    assert d.allows(spec("A", "x"))


def test_api_run_times_a_part_of_a_study_from_the_whole_form(tmp_path, monkeypatch):
    """``run(..., problems=[p2], stop_by=...)``: the deadline's estimates come from the
    stored trials of the whole form (p1 here), not only from the part that runs."""
    import time

    import studies.api
    import studies.runner

    st = STUDY.resolved(True)
    p1, p2 = sorted(st.problems)[:2]
    studies.api.run("selftest", quick=True, out=tmp_path, workers=0, progress=False,
                    problems=[p1])
    seen = {}
    real = studies.runner.run_trials

    def spy(*a, **k):
        seen.update(k.get("estimates") or {})
        return real(*a, **k)

    monkeypatch.setattr(studies.api, "run_trials", spy)
    s = studies.api.run("selftest", quick=True, out=tmp_path, workers=0, progress=False,
                        problems=[p2], stop_by=time.time() + 3600)
    assert s.not_started == 0 and s.computed > 0
    assert {p for p, _ in seen} == {p1, p2}
    assert all(v is not None for (p, _), v in seen.items() if p == p1)     # timed on p1
    # selftest problems name no layer sizes, so p1 cannot be scaled to p2: no estimate
    assert all(v is None for (p, _), v in seen.items() if p == p2)
