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


def test_deadline_expects_the_median_of_stored_and_finished_trials():
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
