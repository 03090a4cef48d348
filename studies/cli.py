"""Command line: ``python -m studies list | run NAME | report NAME | prune NAME | rekey NAME |
impact [NAME ...] | summary``.

Errors in what the user asked for (unknown study, optimizer or hyperparameter, an empty
grid, an unreachable scheduler, an output directory that is not writable, no stored
results, an ``OPENBLAS_CORETYPE`` this CPU cannot run: :mod:`studies.blas_host`) print one
``error: ...`` line naming the value and what is allowed, and exit
with status 2; no traceback. Interrupting with Ctrl-C exits with 130, SIGTERM with 143
(either way the local Dask cluster is closed first, its workers with it); finished trials
are kept. A stop that arrives while a result file is being written is raised once the file
is complete (:mod:`studies.interrupt`: raised inside the netCDF writer it could hang the
run).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys

from .interrupt import deliver
from .spec import SpecError

EXIT_USAGE = 2


def _parse_set(items) -> dict:
    """``["sgd.lr=0.1,0.01", ...]`` -> ``{"sgd": {"lr": [0.1, 0.01]}}``."""
    out: dict = {}
    for item in items or ():
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise SpecError(f"--set {item!r}: expected OPTIMIZER.HYPERPARAMETER=V1,V2,...")
        lhs, rhs = item.split("=", 1)
        opt, hp = lhs.split(".", 1)
        vals = []
        for v in (x.strip() for x in rhs.split(",")):
            if not v:
                continue
            try:
                vals.append(float(v))
            except ValueError:
                raise SpecError(f"--set {item!r}: {v!r} is not a number") from None
        out.setdefault(opt, {})[hp] = vals
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studies",
                                description="Run and report adaptlr optimizer studies.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the available studies")

    def stats_opts(sp):
        sp.add_argument("--alpha", type=float, default=0.01,
                        help="significance level for ties with the best (default 0.01)")
        sp.add_argument("--test", choices=["wilcoxon", "t"], default="wilcoxon",
                        help="paired test over seeds (default wilcoxon signed-rank)")
        sp.add_argument("--correction", choices=["none", "holm"], default="none",
                        help="multiple-comparison correction (default none)")

    r = sub.add_parser("run", help="run a study (skipping stored trials), then report")
    r.add_argument("name", help="study name (see `list`) or path of a .py file defining STUDY")
    r.add_argument("--quick", action="store_true",
                   help="the quick form (data subset, fewer seeds/epochs; about a minute)")
    r.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: number of cores; 0: run the "
                   "trials in this process without Dask, for debugging)")
    r.add_argument("--scheduler", default=None,
                   help="address (tcp://host:port) or scheduler file of an existing Dask cluster")
    r.add_argument("--out", default=None, help="output directory (default: data/results/NAME/, "
                   "or results/NAME-quick/ with --quick)")
    r.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    r.add_argument("--only", default=None, help="comma-separated optimizers to run (a subset)")
    r.add_argument("--problems", default=None,
                   help="comma-separated problems to run (a subset; same trial keys as the full run)")
    r.add_argument("--set", action="append", default=[], metavar="OPT.HP=V1,V2",
                   help="replace one hyperparameter axis of an optimizer's grid (repeatable)")
    r.add_argument("--seeds", type=int, default=None, help="use seeds 0..N-1")
    r.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    r.add_argument("--retry-failed", action="store_true",
                   help="run again the trials stored as failed (ok/diverged ones are kept)")
    r.add_argument("--no-progress", action="store_true",
                   help="no progress bar: one line per finished trial instead (for logs)")
    r.add_argument("--stop-by", default=None, metavar="WHEN",
                   help="start no trial that is not expected to finish by WHEN (timed from the "
                        "stored trials of the same problem and optimizer); running ones finish, "
                        "the rest wait for the next run; a resumable study's trials "
                        "(vsgd-longrun) start while one epoch fits and pause by WHEN, "
                        "checkpointed. WHEN: HH:MM (local, its next "
                        "occurrence: tomorrow if already past today), an ISO date-time, or +N "
                        "with s, m or h (e.g. +90m)")
    stats_opts(r)

    rp = sub.add_parser("report", help="tables and figures from stored results (no re-run)")
    rp.add_argument("name")
    rp.add_argument("--out", default=None, help="results directory (default: data/results/NAME/ "
                    "if it has results, else results/NAME-quick/)")
    rp.add_argument("--rebuild", action="store_true",
                    help="combine the Dataset again from the stored trial files (automatic "
                    "when a run was interrupted before writing it)")
    stats_opts(rp)

    pr = sub.add_parser("prune", help="list (or with --yes delete) stored trial files that the "
                        "current code would never read (older code versions, --set grids), "
                        "stale lines of the carry-over ledger, and checkpoints that no run "
                        "resumes (a resumable study's begun trials of older code)")
    pr.add_argument("name")
    pr.add_argument("--out", default=None, help="results directory (default: data/results/NAME/)")
    pr.add_argument("--yes", action="store_true", help="delete them (default: only list them)")

    rk = sub.add_parser("rekey", help="carry stored trials over to the current keys where the "
                        "code that computed them is unchanged in every file the key covers "
                        "(studies/rekey.py says how that is proved); recorded in the "
                        "ledger trials/carried.json, the trial files are left as they are")
    rk.add_argument("name")
    rk.add_argument("--from", dest="revs", action="append", default=[], metavar="REV",
                    help="git commit the trials may have been computed at (repeatable; "
                    "required without --verify)")
    rk.add_argument("--verify", action="store_true",
                    help="instead of the proof from the source: recompute each stored trial "
                    "the current code keys differently and carry it over where the result is "
                    "bit for bit the stored one (timings aside); a trial that differs is "
                    "stored as a new result")
    rk.add_argument("--sample", type=int, default=None, metavar="K",
                    help="with --verify: recompute only the K cheapest stored trials of each "
                    "stratum (same spec but seed and hyperparameter values, same status) and "
                    "carry the stratum's others where all K agree bit for bit (evidence, "
                    "not a per-trial proof: studies/rekey.py)")
    rk.add_argument("--workers", type=int, default=None,
                    help="with --verify: local worker processes (0: in this process)")
    rk.add_argument("--stop-by", default=None, metavar="WHEN",
                    help="with --verify: start no recomputation that would not finish by WHEN "
                    "(as run --stop-by; a resumable study's pause by WHEN, checkpointed, and "
                    "the same command resumes them)")
    rk.add_argument("--scheduler", default=None,
                    help="with --verify: address or scheduler file of an existing Dask cluster")
    rk.add_argument("--only", default=None,
                    help="with --verify: comma-separated optimizers (a part of the study)")
    rk.add_argument("--problems", default=None,
                    help="with --verify: comma-separated problems (a part of the study)")
    rk.add_argument("--no-progress", action="store_true",
                    help="no progress bar: one line per finished trial instead (for logs)")
    rk.add_argument("--out", default=None, help="results directory (default: data/results/NAME/)")
    rk.add_argument("--yes", action="store_true",
                    help="write the ledger; with --verify, compute (default: only list them)")

    im = sub.add_parser("impact", help="what the code as it is now (uncommitted edits "
                        "included) would re-key of the stored trials, the core-hours they "
                        "took, and what must be redone (studies/impact.py)")
    im.add_argument("names", nargs="*", help="studies (default: every registered one)")
    im.add_argument("--results", default=None,
                    help="results directory holding one folder per study (default data/results/)")

    sm = sub.add_parser("summary", help="write data/results/REPORT.md: every study's stored "
                        "results, the papers' numbers beside ours, completeness (no re-run)")
    sm.add_argument("--results", default=None,
                    help="results directory holding one folder per study (default data/results/)")
    return p


def _cmd_list() -> int:
    from .registry import all_studies

    for name, st in sorted(all_studies().items()):
        tag = "  [internal self-test]" if st.internal else ""
        print(f"{name:24s} {st.title}{tag}")
        if st.paper:
            print(f"{'':24s} reproduces: {st.paper}")
    return 0


def _names(text, flag: str, what: str) -> list[str] | None:
    """A comma-separated command-line list (None when the flag was not given)."""
    if text is None:
        return None
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        raise SpecError(f"{flag}: empty grid: no {what} given")
    return names


def _cmd_run(a) -> int:
    from .api import run

    if a.workers is not None and a.workers < 0:
        raise SpecError(f"--workers must be >= 0 (0: in this process, no Dask), got {a.workers}")
    if a.seeds is not None and a.seeds < 1:
        raise SpecError(f"--seeds must be >= 1, got {a.seeds}")
    if a.epochs is not None and a.epochs < 1:
        raise SpecError(f"--epochs must be >= 1, got {a.epochs}")
    only = _names(a.only, "--only", "optimizer")
    problems = _names(a.problems, "--problems", "problem")
    stop_by = _stop_by(a.stop_by)
    s = run(a.name, out=a.out, quick=a.quick, workers=a.workers, scheduler=a.scheduler,
            device=a.device, only=only, overrides=_parse_set(a.set),
            seeds=range(a.seeds) if a.seeds else None, epochs=a.epochs,
            progress="lines" if a.no_progress else True, alpha=a.alpha, test=a.test,
            correction=None if a.correction == "none" else a.correction,
            retry_failed=a.retry_failed, problems=problems, stop_by=stop_by)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(s.status_counts.items())) or "nothing new"
    if s.table is not None:
        print(s.table.read_text())
    print(f"{a.name}: {s.total} trials: {s.skipped} already stored, {s.computed} run ({counts})"
          + (f", {s.not_started} not started or paused (--stop-by)" if s.not_started else ""))
    if s.dataset is None:
        print(f"no trial of {a.name} is stored yet: no Dataset or report written "
              f"(`python -m studies summary` shows the paused trials' checkpoints)")
        return 0
    print(f"table (Markdown): {s.table}")
    print("figures (PNG):    " + "\n                  ".join(str(f) for f in s.figures))
    print(f"Dataset (netCDF): {s.dataset}")
    print(f"open it with:     adaptlr.load_results({str(s.dataset)!r})")
    return 0


def _cmd_report(a) -> int:
    from .api import report

    path, table, figs = report(a.name, out=a.out, alpha=a.alpha, test=a.test,
                               correction=None if a.correction == "none" else a.correction,
                               echo=True, rebuild=a.rebuild)
    print(f"table (Markdown): {table}")
    print("figures (PNG):    " + "\n                  ".join(str(f) for f in figs))
    print(f"Dataset (netCDF): {path}")
    return 0


def _stop_by(text: str | None) -> float | None:
    """``--stop-by WHEN`` as seconds since the epoch (None without it), said once."""
    if text is None:
        return None
    from .runner import parse_deadline

    try:
        stop_by = parse_deadline(text)
    except ValueError as e:
        raise SpecError(str(e)) from None
    when = _dt.datetime.fromtimestamp(stop_by).astimezone()
    print(f"--stop-by {text}: no trial starts that would not finish by "
          f"{when.isoformat(timespec='minutes')}", flush=True)
    return stop_by


def _cmd_prune(a) -> int:
    from . import store
    from .api import stale as find_stale

    from .api import stale_checkpoints

    out, stale, kept, lines = find_stale(a.name, a.out)
    checkpoints = stale_checkpoints(a.name, out)
    for f in [*stale, *checkpoints]:
        print(f"{'deleting' if a.yes else 'stale'}: {f}")
        if a.yes:
            f.unlink()
    if a.yes and lines:
        store.write_carried(out, {}, drop=set(lines))
    verb = "deleted" if a.yes else "stale (run again with --yes to delete)"
    print(f"{a.name}: {len(stale)} trial files {verb}; {kept} of the current code kept in {out}"
          + (f"; {len(lines)} carry-over ledger entries {verb}" if lines else "")
          + (f"; {len(checkpoints)} checkpoint files {verb}" if checkpoints else ""))
    return 0


def _cmd_verify(a) -> int:
    from pathlib import Path

    from .api import default_out, prepare
    from .rekey import verify

    if a.revs:
        raise SpecError("rekey: --from and --verify exclude each other (--from proves from "
                        "the source at a commit, --verify recomputes)")
    if a.workers is not None and a.workers < 0:
        raise SpecError(f"--workers must be >= 0 (0: in this process, no Dask), got {a.workers}")
    if a.sample is not None and a.sample < 1:
        raise SpecError(f"--sample must be >= 1 (trials recomputed per stratum), got {a.sample}")
    st = prepare(a.name, only=_names(a.only, "--only", "optimizer"),
                 problems=_names(a.problems, "--problems", "problem"))
    out = Path(a.out) if a.out else default_out(st.name, False)
    stop_by = _stop_by(a.stop_by) if a.yes else None
    res = verify(st, out, apply=a.yes, workers=a.workers, scheduler=a.scheduler,
                 progress="lines" if a.no_progress else True, whole=prepare(a.name), sample=a.sample,
                 stop_by=stop_by)
    if not a.yes:
        for old, new in res["candidates"]:
            print(f"can verify: {old} -> {new}")
    if a.sample is not None:
        n_rec = sum(r for r, _ in res["strata"].values())
        n_all = sum(n for _, n in res["strata"].values())
        print(f"{st.name}: sample of {a.sample} per stratum: {len(res['strata'])} strata, "
              f"{n_rec} of {n_all} trials to recompute")
        for old, new in res["by_sample"]:
            print(f"rekeyed: {old} -> {new} (its stratum's sample recomputed bit for bit)")
    for old, new in res["carried"]:
        print(f"rekeyed: {old} -> {new} (recomputed bit for bit)")
    for old, new, why in res["recomputed"]:
        print(f"differs: {old}: stored the recomputed trial as {new} ({', '.join(why)})")
    for key, why in res["left"]:
        print(f"left: {key}: {why}")
    if a.yes:
        print(f"{st.name}: {len(res['carried'])} trials carried over by recomputation"
              + (f" and {len(res['by_sample'])} by their stratum's sample" if a.sample else "")
              + " (ledger trials/carried.json), "
              f"{len(res['recomputed'])} differed and were stored as new "
              f"trials; {res['current']} already current; {len(res['left'])} left in {out}"
              + (f" ({res['outside']} of other parts not looked at)" if res["outside"] else ""))
    else:
        print(f"{st.name}: {len(res['candidates'])} trials to recompute (run again with --yes); "
              f"{res['current']} already current; {len(res['left'])} left in {out}"
              + (f" ({res['outside']} of other parts not looked at)" if res["outside"] else ""))
    return 0


def _cmd_rekey(a) -> int:
    from pathlib import Path

    from .api import default_out, prepare
    from .rekey import full_commit, rekey

    if a.verify:
        return _cmd_verify(a)
    if not a.revs:
        raise SpecError("rekey: give --from REV (the commit the trials were computed at) or "
                        "--verify (recompute and compare)")
    extra = [f for f, v in (("--workers", a.workers), ("--scheduler", a.scheduler),
                            ("--sample", a.sample), ("--stop-by", a.stop_by),
                            ("--only", a.only), ("--problems", a.problems)) if v is not None]
    if extra:
        raise SpecError(f"rekey: {', '.join(extra)} go with --verify only")
    st = prepare(a.name)
    out = Path(a.out) if a.out else default_out(st.name, False)
    res = rekey(st, out, [full_commit(r) for r in a.revs], apply=a.yes)
    for old, new, rev in res["rekeyed"]:
        print(f"{'rekeyed' if a.yes else 'can rekey'}: {old} -> {new} (computed at {rev})")
    for key, why in res["left"]:
        print(f"left: {key}: {why}")
    verb = ("carried over (ledger trials/carried.json)" if a.yes
            else "can be carried over (run again with --yes)")
    print(f"{st.name}: {len(res['rekeyed'])} trials {verb}; {res['current']} already "
          f"current; {len(res['left'])} left in {out}")
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so that a run closes its Dask cluster
    (a runner killed by the default handler left its worker processes computing)."""


def _terminate(signum, frame):
    deliver(Terminated())          # raised now, or once a result file is written


def _interrupt(signum, frame):
    deliver(KeyboardInterrupt())


EXIT_TERMINATED = 128 + 15


def main(argv=None) -> int:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    before = signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C likewise, unless it is ignored (a background job of a non-interactive shell)
    before_int = signal.getsignal(signal.SIGINT)
    if before_int is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, before)
        if before_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, before_int)


def _main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .blas_host import HostBlasError, check_environment
    from .registry import UnknownStudyError
    from .runner import SchedulerError
    from .store import LedgerError, OutputDirError

    try:
        from adaptlr.targets import CudaUnavailableError
    except Exception:  # pragma: no cover
        CudaUnavailableError = RuntimeError  # noqa: N806
    expected = (SpecError, UnknownStudyError, SchedulerError, OutputDirError,
                CudaUnavailableError, FileNotFoundError, LedgerError, HostBlasError)
    try:
        check_environment()   # before any matrix product: a wrong kernel set is a SIGILL
        if args.command == "list":
            return _cmd_list()
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "prune":
            return _cmd_prune(args)
        if args.command == "rekey":
            return _cmd_rekey(args)
        if args.command == "impact":
            from .impact import impact, table

            print(table(impact(args.names or None, args.results)))
            return 0
        if args.command == "summary":
            from .summary import build

            print(f"report: {build(args.results)}")
            return 0
        return _cmd_report(args)
    except expected as e:
        msg = e.args[0] if isinstance(e, LookupError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"{what}; finished trials are stored, rerun to continue", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(e, Terminated) else 130
