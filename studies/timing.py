"""How long a study's trials take: measured where stored, else estimated.

Used by the report (``summary``: core-hours left to run) and by ``run --stop-by``
(:class:`studies.runner.Deadline`: whether a trial can finish before a deadline). Wall
times are those stored with each trial (``wall_time``, one trial per core as the runs
here go; :func:`studies.store.stored_wall_times`).

A trial's expected duration (:func:`expected_seconds`), for its problem and optimizer:

1. *timed*: the median wall time of the stored trials of the same problem and optimizer;
2. *scaled*: for networks, the same optimizer on the largest other problem of the study on
   the same data set with stored trials, times :func:`problem_ratio` (the time ratio of the
   two problems measured with the optimizers that ran both, else parameters x samples; a
   rough figure: methods differ several-fold in how their cost grows);
3. *other methods*: the median of the stored trials of the other optimizers on the problem;
4. none (no reference at all).

The report gives core-hours of the hosts that timed the trials, whatever host writes it
(so it does not change with the machine that rebuilds it). ``run --stop-by`` asks how
long a trial takes *here*: :func:`on_host` puts the stored times on the running host's
scale first, as the hosts differ several-fold (an M2 trial took 2.5-3x longer on a Zen 3
core than on a Zen 5 one, DEVELOPERS.md).
"""
from __future__ import annotations

import numpy as np


def problem_work(spec: dict) -> float | None:
    """Relative cost of one trial of ``spec``'s problem: parameters of its network (layer
    ``sizes``) times training samples (``n_train`` where given, else 1); None when the
    problem names no layer sizes."""
    pp = spec.get("problem_params") or {}
    sizes = pp.get("sizes")
    if not sizes or len(sizes) < 2:
        return None
    n = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    return float(n) * float(pp.get("n_train") or 1)


def problem_ratio(times: dict, ref: str, target: str, work: dict) -> float:
    """How much longer a trial of problem ``target`` takes than one of ``ref``: the median,
    over the optimizers with stored trials on both, of the ratio of their median wall times
    (measured: on vsgd-tables M2 / M1 this ran 6.7x for AdaGrad, 7.3x for SGD and 11.4x for
    vSGD-l, against 5.7x by parameters); failing that, the ratio of :func:`problem_work`
    (parameters x samples). ``times``: ``{(problem, optimizer): [wall seconds]}``."""
    both = [float(np.median(ws)) / float(np.median(times[(ref, o)]))
            for (q, o), ws in times.items()
            if q == target and times.get((ref, o)) and float(np.median(times[(ref, o)])) > 0]
    if both:
        return float(np.median(both))
    return work[target] / work[ref]


def expected_seconds(trials: list, times: dict) -> dict:
    """``{(problem, optimizer): (seconds, how)}`` for every pair of ``trials`` (``(key,
    spec)``), ``how`` one of ``"timed"``, ``"scaled"``, ``"other methods"`` (module
    docstring), or ``(None, None)`` where nothing stored gives a reference. ``times``:
    ``{(problem, optimizer): [wall seconds]}`` of the stored trials."""
    work: dict[str, float | None] = {}
    dataset: dict[str, str | None] = {}
    pairs = []
    for _, s in trials:
        work.setdefault(s["problem"], problem_work(s))
        dataset.setdefault(s["problem"], (s.get("problem_params") or {}).get("dataset"))
        if (s["problem"], s["optimizer"]) not in pairs:
            pairs.append((s["problem"], s["optimizer"]))
    out = {}
    for p, o in pairs:
        if times.get((p, o)):
            out[(p, o)] = (float(np.median(times[(p, o)])), "timed")
            continue
        others = [q for (q, oo) in times if oo == o and q != p and times[(q, o)]
                  and work.get(q) and work.get(p) and dataset.get(q) == dataset[p]]
        if others:          # the optimizer's own cost, scaled: methods differ several-fold
            q = max(others, key=work.__getitem__)
            out[(p, o)] = (float(np.median(times[(q, o)])) * problem_ratio(times, q, p, work),
                           "scaled")
            continue
        ref = [w for (q, _), ws in times.items() if q == p for w in ws]
        out[(p, o)] = (float(np.median(ref)), "other methods") if ref else (None, None)
    return out


def host_ratio(timings: dict, src: str, dst: str, problem: str | None = None) -> float | None:
    """How much longer a trial takes on host ``dst`` than on ``src`` (CPU names, the
    ``cpu_target`` of the trials' provenance): the median, over the (problem, optimizer)
    pairs timed on both, of the ratio of their median wall times; only the pairs of
    ``problem`` where it has any (a host's speed-up differs with the network's size: cache),
    else all. None when no pair was timed on both. ``timings``: ``{(problem, optimizer):
    [(seconds, cpu)]}`` (:func:`studies.store.stored_timings`)."""
    ratios: dict[str, list[float]] = {}
    for (p, _), ts in timings.items():
        a = [w for w, c in ts if c == src]
        b = [w for w, c in ts if c == dst]
        if a and b and float(np.median(a)) > 0:
            ratios.setdefault(p, []).append(float(np.median(b)) / float(np.median(a)))
    pick = ratios.get(problem) or [r for rs in ratios.values() for r in rs]
    return float(np.median(pick)) if pick else None


def on_host(timings: dict, host: str | None) -> tuple[dict, dict]:
    """The stored times on host ``host``'s scale, for ``run --stop-by``: ``({(problem,
    optimizer): [seconds]}, {(problem, optimizer): how})``. Per pair, ``how`` is

    * ``"this host"``: only the times measured on ``host`` (the others are left out);
    * ``"scaled"``: every time measured on another host ``h`` times :func:`host_ratio` of
      ``h`` to ``host`` (on the same problem where measured), or as it is where nothing was
      timed on both (``"scaled, partly unscaled"`` / ``"unscaled"`` then);
    * ``"pooled"``: ``host`` is None (a remote cluster, whose workers' hosts are unknown
      here), or no time of the pair names its host: the times as they are.
    """
    out: dict = {}
    how: dict = {}
    for pair, ts in timings.items():
        here = [w for w, c in ts if c is not None and c == host]
        if host is None or all(c is None for _, c in ts):
            out[pair], how[pair] = [w for w, _ in ts], "pooled"
        elif here:
            out[pair], how[pair] = here, "this host"
        else:
            ws, scaled, unscaled = [], 0, 0
            for w, c in ts:
                r = host_ratio(timings, c, host, pair[0]) if c is not None else None
                ws.append(w * r if r is not None else w)
                scaled, unscaled = scaled + (r is not None), unscaled + (r is None)
            out[pair] = ws
            how[pair] = ("scaled" if not unscaled else "unscaled" if not scaled
                         else "scaled, partly unscaled")
    return out, how
