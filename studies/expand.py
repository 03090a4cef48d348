"""From a study to its trials: grid expansion, code version and trial keys.

A *trial spec* is a JSON-able dict, one per (problem, optimizer setting, seed)::

    {"study": name, "problem": str, "problem_params": {...}, "optimizer": str,
     "hyper": {hp: value}, "seed": int, "epochs": int, "batch_size": int,
     "record": [...], "params": {...}, "quick": bool, "device": "cpu"|"cuda"}

Its key is ``sha256(canonical JSON of {"spec": spec, "code": code_version})`` where the
code version is ``adaptlr.__version__`` + a sha256 of the *content* of every ``*.py``
file under ``adaptlr/`` and of the study's own code under ``studies/``: the module that
declares it and every ``studies`` module it imports, found by reading the ``import``
statements of the source (also those inside functions), transitively (relative path and
bytes, sorted by path). Any edit of the library or of a study's code therefore gives new
keys, so stored trials are never reused with code they were not computed with; the trial
function's source alone is not enough (it calls the library and shared helpers). Editing
one study (say the performance study's report) leaves the keys of the others alone, so
hours of committed trials of another study stay usable. Without a study (or for a study
declared outside ``studies/``) every study module is hashed. The
engine's own modules (:data:`ENGINE_SOURCES`: expansion, storage, Dask, combination,
statistics, reports, CLI) are left out: they do not compute trial results (what they
pass to a trial is the spec, which is in the key), so improving a report does not throw
away hours of committed trials. The git commit is deliberately *not* part of the key: it
changes whenever anything is committed (the trial files themselves, a README line), so a
key holding it would make committed results unusable for resuming; the commit and the
dirty flag are stored in the provenance attributes instead.
Canonical JSON: ``sort_keys=True``, separators ``(",", ":")``, floats written by
``repr`` (shortest round-trip), ``allow_nan=False``.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .registry import ENGINE_MODULES, study_module
from .spec import Study, settings_of

PACKAGE_DIRS = ("adaptlr", "studies")
#: engine modules of ``studies/`` that never compute trial results (not in the source hash)
ENGINE_SOURCES = frozenset(f"{m}.py" for m in ENGINE_MODULES)


def canonical_json(obj) -> str:
    """Deterministic JSON text used for keys (sorted keys, no whitespace, no NaN)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _roots() -> dict[str, Path]:
    import adaptlr

    import studies

    return {"adaptlr": Path(adaptlr.__file__).resolve().parent,
            "studies": Path(studies.__file__).resolve().parent}


def _study_files(root: Path, module_file: Path) -> set[Path]:
    """``module_file`` and the ``studies`` modules it imports, transitively (by the AST)."""
    import ast

    todo, seen = [module_file.resolve()], set()
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen.add(f)
        for node in ast.walk(ast.parse(f.read_text(), filename=str(f))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level == 1 or (node.level == 0 and base.split(".")[0] == "studies"):
                    base = base.removeprefix("studies").lstrip(".")
                    if base:
                        names.append(base)
                    else:   # from . import a, b
                        names.extend(a.name for a in node.names)
                    if base:   # from .x import y: y may itself be a module of studies/
                        names.extend(f"{base}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.extend(a.name.removeprefix("studies.") for a in node.names
                             if a.name.startswith("studies."))
            for n in names:
                cand = root / (n.replace(".", "/") + ".py")
                if cand.is_file():
                    todo.append(cand.resolve())
    return seen


def source_hash(study=None) -> str:
    """sha256 over (relative path, content) of the .py files of adaptlr/ and of the study
    modules of studies/ (every file there but :data:`ENGINE_SOURCES`); with ``study``,
    only that study's module and the studies modules it imports (module docstring)."""
    roots = _roots()
    only = None
    if study is not None:
        mod_file = _study_module_file(study)
        if mod_file is not None and roots["studies"] in mod_file.resolve().parents:
            only = _study_files(roots["studies"], mod_file)
    h = hashlib.sha256()
    for name, root in sorted(roots.items()):
        files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts
                       and not (name == "studies" and p.relative_to(root).as_posix()
                                in ENGINE_SOURCES)
                       and not (name == "studies" and only is not None
                                and p.resolve() not in only))
        for p in files:
            rel = f"{name}/{p.relative_to(root).as_posix()}"
            h.update(rel.encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _study_module_file(study) -> Path | None:
    """The source file of the module that declares ``study`` (None if unknown)."""
    mod = study_module(study)
    f = getattr(mod, "__file__", None)
    return Path(f) if f else None


def git_info() -> tuple[str, bool]:
    """(commit, dirty) of the checkout holding the package; ("unknown", False) if none."""
    root = _roots()["adaptlr"].parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown", False
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *PACKAGE_DIRS],
            capture_output=True, text=True, timeout=10)
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def code_version(study=None) -> dict:
    """``{"adaptlr": version, "source_sha256": hex}`` of ``study`` (see the module docstring;
    without a study: the library and every study module).

    Read afresh at each call (milliseconds): a run computes it once at its start and uses
    that one version for every key, the trial files and the provenance, so a long-lived
    session that edits the code never reuses results of the old code.
    """
    import adaptlr

    return {"adaptlr": adaptlr.__version__, "source_sha256": source_hash(study)}


def trial_key(spec: dict, code: dict | None = None) -> str:
    """sha256 hex digest of the canonical JSON of ``{"spec": spec, "code": code}``."""
    code = code_version() if code is None else code
    return hashlib.sha256(canonical_json({"spec": spec, "code": code}).encode()).hexdigest()


def setting_label(optimizer: str, hyper: dict) -> str:
    """Human-readable, unique label of one optimizer setting, e.g. ``sgd(lr=0.1)``."""
    inner = ",".join(f"{k}={hyper[k]!r}" for k in sorted(hyper))
    return f"{optimizer}({inner})"


def expand(study: Study, *, quick: bool = False, device: str = "cpu") -> list[dict]:
    """All trial specs of ``study`` (already resolved for quick), in a stable order.

    Order: problem, optimizer (declaration order), setting (grid order), seed.
    """
    study.validate()
    specs = []
    for problem, pparams in study.problems.items():
        for opt, grid in study.grid(problem).items():
            for hyper in settings_of(opt, grid):
                for seed in study.seeds:
                    specs.append({
                        "study": study.name,
                        "problem": problem,
                        "problem_params": dict(pparams),
                        "optimizer": opt,
                        "hyper": dict(hyper),
                        "seed": int(seed),
                        "epochs": int(study.epochs),
                        "batch_size": int(study.batch_size),
                        "record": list(study.record),
                        "params": dict(study.params),
                        "quick": bool(quick),
                        "device": device,
                    })
    # canonical round trip: what the trial sees is exactly what the key hashes
    return [json.loads(canonical_json(s)) for s in specs]


def keyed(specs: list[dict], code: dict | None = None) -> list[tuple[str, dict]]:
    """``[(key, spec), ...]`` with one code version for all."""
    code = code_version() if code is None else code
    return [(trial_key(s, code), s) for s in specs]
