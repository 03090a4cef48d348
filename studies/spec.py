"""What a study is: the :class:`Study` declaration and its validation.

A study module ``studies/<name>.py`` defines ``STUDY = Study(...)``. The declaration is
pure data plus one module-level ``trial`` function; the engine does the rest (expansion
into trials and keys: :mod:`studies.expand`; storage: :mod:`studies.store`; Dask:
:mod:`studies.runner`; one Dataset: :mod:`studies.combine`; statistics and reports:
:mod:`studies.stats`, :mod:`studies.report`).

The grid is ``problems x optimizer settings x seeds``. The seed fixes initialisation and
data order and is shared by every optimizer, so comparisons across optimizers can be
*paired* over seeds (:mod:`studies.stats`).

Choices where the issue is silent (documented here and in the report):

* An optimizer's grid is either a mapping ``{hp: [values...]}`` (the Cartesian product is
  taken) or a list of explicit settings ``[{hp: value, ...}, ...]``. Values must be
  JSON-able scalars (they become coordinates of the results).
* ``quick`` overrides any of ``problems, optimizers, seeds, epochs, batch_size, record,
  params`` for ``--quick``; ``params`` is merged key by key, the rest replace.
* Hyperparameter names are checked against ``allowed`` (a callable returning
  ``{optimizer: names}``) before anything runs; unknown names raise :class:`SpecError`.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

#: Names the engine uses itself; trial variables and hyperparameters must avoid them.
RESERVED = frozenset({
    "problem", "setting", "seed", "epoch", "optimizer", "setting_label", "setting_json",
    "status", "message", "wall_time", "key", "diverged", "diverged_step",
})

QUICK_FIELDS = ("problems", "optimizers", "problem_optimizers", "seeds", "epochs", "batch_size",
                "record", "params")


class SpecError(ValueError):
    """A study declaration (or a command-line override of it) is invalid."""


@dataclass(frozen=True)
class Table:
    """A report table in the paper's layout.

    ``cells`` maps ``(row label, column label)`` to a selector ``{"optimizer": name,
    hp: value, ...}`` that picks exactly one setting; ``published`` maps the same keys to
    the paper's value (in display units, e.g. percent). The value shown is ``metric`` at
    the last epoch times ``scale``. Ties with the best are computed over all cells of
    the table (see :func:`studies.stats.tie_with_best`).
    """

    title: str
    rows: Sequence[str]
    columns: Sequence[str]
    cells: Mapping[tuple, Mapping[str, Any]]
    metric: str = "test_error"
    problem: str | None = None
    scale: float = 100.0
    unit: str = "%"
    published: Mapping[tuple, float] = field(default_factory=dict)
    published_source: str = ""
    lower_is_better: bool = True


@dataclass(frozen=True)
class Study:
    """A named, reproducible comparison of optimizers.

    Parameters
    ----------
    name, title, paper : identification; ``paper`` is the reference reproduced (with
        table/figure number).
    trial : module-level function ``trial(spec: dict) -> dict``. ``spec`` is one trial
        spec (see :func:`studies.expand.expand`). It returns ``{var: (dims, values)}``
        with named dims (``()`` for scalars; typically ``("epoch",)``), and may return
        ``diverged`` (bool), ``diverged_step`` (int) and ``message`` (str). Exceptions are
        caught by the engine and recorded as ``status="failed"``.
    problems : ``{problem name: {param: value}}``.
    optimizers : ``{optimizer name: grid}``, grid as described in the module docstring.
    seeds, epochs, batch_size, record, params : passed to every trial spec.
    quick : overrides for ``--quick`` (about a minute on two cores).
    allowed : callable returning ``{optimizer name: allowed hyperparameter names}``; used
        to reject typos before running. ``None`` accepts anything.
    variables : CF attributes (``long_name``, ``units``, ``description``) of the trial's
        variables.
    tables : report tables (:class:`Table`); if empty, a default table is made.
    curve_metric : variable drawn in the learning-curve figure (dims ``("epoch",)``).
    checksums : callable ``checksums(params) -> {file: sha256}`` of the data the study
        reads, stored in the results' provenance. ``None``: no external data.
    internal : an engine self-test study, flagged as such by ``python -m studies list``.
    max_workers : at most this many local worker processes (``None``: no limit). The
        performance study sets 1 so that timing trials never overlap.
    resumable : the trial function resumes from the checkpoint the engine gives it
        (:mod:`studies.checkpoint`): a killed run resumes inside a trial, and with
        ``--stop-by`` a trial starts while one epoch of it fits and pauses at the deadline.
        For trials of hours; not part of any key.
    problem_optimizers : ``{problem: optimizers}``, the grid of a problem that does not use
        ``optimizers`` (a grid cut where compute forces it on the largest problems). The
        Dataset's ``setting`` axis is the union over problems; a cell whose setting is not
        in its problem's grid has status ``excluded`` (not ``missing``: it is not part of
        the design). A quick form that sets ``optimizers`` and not ``problem_optimizers``
        uses its ``optimizers`` for every problem.
    key_names : set by :meth:`restricted`, not by a study: the optimizer names of the form
        a part was cut from. The code version covers their method modules too
        (:func:`studies.expand.method_modules`), so the trials of a part (``--only``,
        ``--problems``) get the whole form's keys and a later full run reuses them.
    """

    name: str
    title: str
    trial: Callable[[dict], dict]
    problems: Mapping[str, Mapping[str, Any]]
    optimizers: Mapping[str, Any]
    paper: str = ""
    description: str = ""
    seeds: Sequence[int] = tuple(range(10))
    epochs: int = 6
    batch_size: int = 100
    record: Sequence[str] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)
    allowed: Callable[[], Mapping[str, Sequence[str]]] | None = None
    variables: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    tables: Sequence[Table] = ()
    curve_metric: str = "test_error"
    scatter_metrics: tuple = ("train_error", "test_error")
    checksums: Callable[[dict], Mapping[str, str]] | None = None
    internal: bool = False
    max_workers: int | None = None
    resumable: bool = False
    problem_optimizers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    key_names: frozenset = frozenset()

    def grid(self, problem: str) -> Mapping[str, Any]:
        """The optimizers' grid of ``problem`` (``problem_optimizers`` or ``optimizers``)."""
        return self.problem_optimizers.get(problem, self.optimizers)

    def grids(self) -> list[Mapping[str, Any]]:
        """The distinct grids in use: ``optimizers`` and each problem's own grid."""
        return [self.optimizers] + [g for p, g in self.problem_optimizers.items()
                                    if p in self.problems]

    # ---------------------------------------------------------------- derived forms
    def resolved(self, quick: bool = False) -> "Study":
        """The study with its ``quick`` overrides applied (when ``quick``)."""
        if not quick:
            return self
        unknown = set(self.quick) - set(QUICK_FIELDS)
        if unknown:
            raise SpecError(
                f"study {self.name!r}: unknown quick override(s) {sorted(unknown)}; "
                f"allowed: {list(QUICK_FIELDS)}")
        changes = {k: v for k, v in self.quick.items() if k != "params"}
        if "params" in self.quick:
            changes["params"] = {**self.params, **self.quick["params"]}
        if "optimizers" in self.quick and "problem_optimizers" not in self.quick:
            changes["problem_optimizers"] = {}
        return dataclasses.replace(self, **changes)

    def restricted(self, only: Sequence[str] | None = None,
                   overrides: Mapping[str, Mapping[str, Sequence]] | None = None,
                   seeds: Sequence[int] | None = None,
                   epochs: int | None = None,
                   problems: Sequence[str] | None = None) -> "Study":
        """The study limited to optimizers ``only`` (and ``problems``) and with grid axes replaced.

        ``overrides`` is ``{optimizer: {hp: [values]}}``; each listed axis replaces that
        hyperparameter's values in every setting of the optimizer (an optimizer not in
        the grid is added with exactly the given axes).
        """
        if only:
            known = {o for g in self.grids() for o in g}
            unknown = [o for o in only if o not in known]
            if unknown:
                raise SpecError(
                    f"unknown optimizer(s) {unknown} for study {self.name!r}; "
                    f"this study has: {sorted(known)}")
        opts = _restricted_grid(self.optimizers, only, overrides)
        per_problem = {p: _restricted_grid(g, only, overrides)
                       for p, g in self.problem_optimizers.items()}
        changes: dict[str, Any] = {"optimizers": opts, "problem_optimizers": per_problem,
                                   "key_names": frozenset(self.key_names).union(
                                       *(set(g) for g in self.grids()))}
        if problems:
            unknown = [p for p in problems if p not in self.problems]
            if unknown:
                raise SpecError(f"unknown problem(s) {unknown} for study {self.name!r}; "
                                f"this study has: {list(self.problems)}")
            changes["problems"] = {p: self.problems[p] for p in self.problems if p in problems}
            changes["problem_optimizers"] = {p: g for p, g in per_problem.items() if p in problems}
        if seeds is not None:
            changes["seeds"] = tuple(seeds)
        if epochs is not None:
            changes["epochs"] = int(epochs)
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise :class:`SpecError` naming the offending value if the study is invalid."""
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"study name must be a non-empty string, got {self.name!r}")
        if not callable(self.trial):
            raise SpecError(f"study {self.name!r}: trial must be a function, got {self.trial!r}")
        if not self.problems:
            raise SpecError(f"study {self.name!r}: empty grid: no problems declared")
        if not any(self.grids()):
            raise SpecError(f"study {self.name!r}: empty grid: no optimizers declared")
        for prob in self.problem_optimizers:
            if prob not in self.problems:
                raise SpecError(f"study {self.name!r}: problem_optimizers names problem "
                                f"{prob!r}, which is not among its problems {list(self.problems)}")
        seeds = list(self.seeds)
        if not seeds:
            raise SpecError(f"study {self.name!r}: empty grid: no seeds")
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
            raise SpecError(f"study {self.name!r}: seeds must be non-negative ints, got {seeds}")
        if len(set(seeds)) != len(seeds):
            raise SpecError(f"study {self.name!r}: duplicate seeds in {seeds}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise SpecError(f"study {self.name!r}: epochs must be an int >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise SpecError(
                f"study {self.name!r}: batch_size must be an int >= 1, got {self.batch_size!r}")
        allowed = dict(self.allowed()) if self.allowed is not None else None
        for opt, grid in ((o, g) for grid_ in self.grids() for o, g in grid_.items()):
            if allowed is not None and opt not in allowed:
                raise SpecError(
                    f"study {self.name!r}: unknown optimizer {opt!r}; "
                    f"allowed: {sorted(allowed)}")
            settings = settings_of(opt, grid)
            if not settings:
                raise SpecError(
                    f"study {self.name!r}: empty grid for optimizer {opt!r}: "
                    "no hyperparameter settings (an axis has no values?)")
            for s in settings:
                for hp, v in s.items():
                    if allowed is not None and hp not in allowed[opt]:
                        raise SpecError(
                            f"study {self.name!r}: unknown hyperparameter {hp!r} for optimizer "
                            f"{opt!r}; allowed: {sorted(allowed[opt])}")
                    if hp in RESERVED:
                        raise SpecError(
                            f"study {self.name!r}: hyperparameter name {hp!r} is reserved by "
                            f"the engine ({sorted(RESERVED)})")
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                        raise SpecError(
                            f"study {self.name!r}: hyperparameter {opt}.{hp}={v!r} must be a "
                            "finite number")
        for name in self.problems:
            if not isinstance(name, str) or not name:
                raise SpecError(f"study {self.name!r}: problem names must be strings, got {name!r}")
        for v in self.variables:
            if v in RESERVED - {"diverged", "diverged_step", "message"}:
                raise SpecError(f"study {self.name!r}: variable name {v!r} is reserved")
        try:
            json.dumps({"problems": self.problems, "params": dict(self.params),
                        "record": list(self.record)}, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise SpecError(f"study {self.name!r}: problems/params/record must be JSON-able: {e}")

    def as_json(self) -> str:
        """The declaration (without the function objects) as canonical JSON."""
        return json.dumps({
            "name": self.name, "title": self.title, "paper": self.paper,
            "trial": f"{self.trial.__module__}.{self.trial.__qualname__}",
            "problems": self.problems,
            "optimizers": {o: settings_of(o, g) for o, g in self.optimizers.items()},
            "seeds": list(self.seeds), "epochs": self.epochs, "batch_size": self.batch_size,
            "record": list(self.record), "params": dict(self.params),
            **({"problem_optimizers": {p: {o: settings_of(o, g) for o, g in grid.items()}
                                       for p, grid in self.problem_optimizers.items()}}
               if self.problem_optimizers else {}),
        }, sort_keys=True)


def _restricted_grid(grid: Mapping[str, Any], only, overrides) -> dict:
    """``grid`` limited to optimizers ``only`` (those it has) with axes replaced by ``overrides``
    (see :meth:`Study.restricted`)."""
    opts = dict(grid)
    if only:
        opts = {o: opts[o] for o in only if o in opts}
    for opt, axes in (overrides or {}).items():
        if opt in opts:
            base = settings_of(opt, opts[opt])
            new = []
            for s in base:
                keys = list(s) + [k for k in axes if k not in s]
                vals = [list(axes[k]) if k in axes else [s[k]] for k in keys]
                new += [dict(zip(keys, combo)) for combo in itertools.product(*vals)]
            # drop duplicates, keep order
            seen, uniq = set(), []
            for s in new:
                j = json.dumps(s, sort_keys=True)
                if j not in seen:
                    seen.add(j)
                    uniq.append(s)
            opts[opt] = uniq
        else:
            opts[opt] = {k: list(v) for k, v in axes.items()}
    return opts


def settings_of(optimizer: str, grid) -> list[dict]:
    """Expand one optimizer's grid into a list of explicit settings (dicts).

    ``{"lr": [1, .1], "mu": [.9]}`` -> ``[{"lr": 1, "mu": .9}, {"lr": .1, "mu": .9}]``;
    a list of dicts is returned as is; ``{}`` means one setting with no hyperparameters.
    """
    if isinstance(grid, Mapping):
        keys = list(grid)
        vals = []
        for k in keys:
            v = grid[k]
            if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
                raise SpecError(
                    f"grid of optimizer {optimizer!r}: values of {k!r} must be a list, got {v!r}")
            vals.append(list(v))
        return [dict(zip(keys, combo)) for combo in itertools.product(*vals)]
    if isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        out = []
        for s in grid:
            if not isinstance(s, Mapping):
                raise SpecError(
                    f"grid of optimizer {optimizer!r}: explicit settings must be dicts, got {s!r}")
            out.append(dict(s))
        return out
    raise SpecError(
        f"grid of optimizer {optimizer!r} must be a dict of lists or a list of dicts, got {grid!r}")
