"""From a study to its trials: grid expansion, code version and trial keys.

A *trial spec* is a JSON-able dict, one per (problem, optimizer setting, seed)::

    {"study": name, "problem": str, "problem_params": {...}, "optimizer": str,
     "hyper": {hp: value}, "seed": int, "epochs": int, "batch_size": int,
     "record": [...], "params": {...}, "quick": bool, "device": "cpu"|"cuda"}

Its key is ``sha256(canonical JSON of {"spec": spec, "code": code_version})`` where the
code version is ``adaptlr.__version__``, the key rule :data:`KEY_SCHEME` and a sha256 of
the *code* of the files the study's results depend on (:func:`hashed_files`; since rule 3
each file's code text, :func:`studies.source_text.code_text`: its tokens without comments,
docstrings, blank lines and spacing, so such edits keep every key): every
``*.py`` file under ``adaptlr/`` except the optimizer method modules
(``adaptlr/optimizers/adadelta.py`` ...) of optimizers the study's grids do not name (all
of them when a grid names something the registry does not know, an oracle or torch), and
the study's own code under ``studies/``: the module that declares it and every ``studies``
module it imports, found by reading the ``import`` statements of the source (also those
inside functions), transitively (relative path and code, sorted by path). Since rule 4
the code version splits that hash into the shared files and one digest per method module,
and a trial's key covers the shared part and its own optimizer's method module only
(:func:`trial_code`), so a vSGD fix keeps the keys of the SGD trials in a vSGD study. A
part of a study (``--only``, ``--problems``) covers the method modules of the whole form
(``Study.key_names``), so its trials have the whole form's keys. Any change of code in
the library (but a method module the study does not use) or in a study's code therefore
gives new keys, so stored trials are never reused with code they were not computed with;
the trial function's source alone is not enough (it calls the library and shared
helpers). A method module only computes its own method (the registry imports them all,
and nothing else does), so a vSGD fix leaves the ADADELTA studies' keys alone; editing one
study leaves the keys of the others alone. Without a study (or for a study declared
outside ``studies/``) every study module is hashed. The
engine's own modules (:data:`ENGINE_SOURCES`: expansion, storage, Dask, combination,
statistics, reports, CLI) are left out: they do not compute trial results (what they
pass to a trial is the spec, which is in the key), so improving a report does not throw
away hours of committed trials. The git commit is deliberately *not* part of the key: it
changes whenever anything is committed (the trial files themselves, a README line), so a
key holding it would make committed results unusable for resuming; the commit and the
dirty flag are stored in the provenance attributes instead. Key rule 1 (trials stored
before 2026-11-23) hashed the bytes of every file of ``adaptlr/``, rule 2 (until
2026-12-02) the bytes of the files rule 3 covers, rule 3 (2026-12-02) their code text in
one hash for the whole study; :mod:`studies.rekey` carries such trials
over where every file the new rule covers is unchanged, in a ledger beside the files.
Canonical JSON: ``sort_keys=True``, separators ``(",", ":")``, floats written by
``repr`` (shortest round-trip), ``allow_nan=False``.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .registry import ENGINE_MODULES, study_module
from .source_text import code_text
from .spec import SpecError, Study, settings_of

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


#: version of the rule that picks the hashed files and what of them is hashed (part of the
#: code version, so keys of different rules never collide); 2: a study's adaptlr files leave
#: out the method modules of optimizers it does not use; 3: as 2, hashing each file's code
#: text (:func:`studies.source_text.code_text`: no comments, docstrings, blank lines or
#: spacing) instead of its bytes; 4: as 3, and a trial's key covers the method module of its
#: own optimizer only (:func:`trial_code`)
KEY_SCHEME = 4

_CODE_TEXT_SHA: dict[bytes, bytes] = {}   # sha256 of a file's bytes -> sha256 of its code text


def content_digest(data: bytes, scheme: int = KEY_SCHEME) -> bytes:
    """What the code version hashes of one file: sha256 of its bytes (rules 1-2) or of its
    code text (rule 3 on)."""
    raw = hashlib.sha256(data).digest()
    if scheme < 3:
        return raw
    if raw not in _CODE_TEXT_SHA:
        _CODE_TEXT_SHA[raw] = hashlib.sha256(code_text(data)).digest()
    return _CODE_TEXT_SHA[raw]


class SourceTree:
    """The ``*.py`` files of ``adaptlr/`` and ``studies/`` as ``{"adaptlr/x.py": bytes}``:
    from the installed checkout (default) or, with ``rev``, from a git commit (for
    :mod:`studies.rekey`)."""

    def __init__(self, rev: str | None = None):
        self.rev = rev
        self._cache: dict[str, bytes] = {}
        self._root = _roots()["adaptlr"].parent
        self._paths: dict[str, Path] = {}
        if rev is None:
            for name, root in _roots().items():
                for f in root.rglob("*.py"):
                    if "__pycache__" not in f.parts:
                        self._paths[f"{name}/{f.relative_to(root).as_posix()}"] = f
            self.files = sorted(self._paths)
            return
        out = subprocess.run(["git", "-C", str(self._root), "ls-tree", "-r", "--name-only", rev,
                              "--", *PACKAGE_DIRS], capture_output=True, text=True)
        if out.returncode != 0:
            raise SpecError(f"--from {rev!r} is not a git commit of {str(self._root)!r} "
                            f"({out.stderr.strip() or 'git failed'}); allowed: a commit, tag or "
                            "branch of this checkout")
        self.files = sorted(f for f in out.stdout.split("\n") if f.endswith(".py"))

    def read(self, rel: str) -> bytes:
        if rel not in self._cache:
            if self.rev is None:
                self._cache[rel] = self._paths[rel].read_bytes()
            else:
                self._cache[rel] = subprocess.run(
                    ["git", "-C", str(self._root), "show", f"{self.rev}:{rel}"],
                    capture_output=True, check=True).stdout
        return self._cache[rel]


def _study_files(tree: SourceTree, module_rel: str) -> set[str]:
    """``module_rel`` and the ``studies`` modules it imports, transitively (by the AST)."""
    import ast

    todo, seen = [module_rel], set()
    have = set(tree.files)
    while todo:
        f = todo.pop()
        if f in seen or f not in have:
            continue
        seen.add(f)
        for node in ast.walk(ast.parse(tree.read(f), filename=f)):
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
                todo.append("studies/" + n.replace(".", "/") + ".py")
    return seen


def method_map() -> dict[str, str]:
    """``{optimizer name: its method module}`` of the registry (``adaptlr/optimizers/sgd.py``
    ...); empty for a library outside the checkout (tests' fake trees: no exclusions)."""
    from adaptlr.optimizers import registry

    root = _roots()["adaptlr"]
    out = {}
    for n in registry.names():
        f = Path(registry.get(n).module.__file__).resolve()
        if root not in f.parents:
            return {}
        out[n] = "adaptlr/" + f.relative_to(root).as_posix()
    return out


def method_modules(study=None) -> tuple[set[str], set[str]]:
    """``(all, used)``: the registry's optimizer method modules (``adaptlr/optimizers/adadelta.py``
    ...) and those of the optimizers ``study``'s grids name (and its ``key_names``: a part of
    a study covers the modules of the whole form, so its trials have the whole form's keys).
    A study that names anything the registry does not know (an oracle, torch) or no study:
    every method module is used."""
    every = method_map()
    if not every:                         # a library elsewhere (tests' fake trees): no exclusions
        return set(), set()
    grids = getattr(study, "grids", None)
    if grids is None:
        return set(every.values()), set(every.values())
    names = {o for g in grids() for o in g} | set(getattr(study, "key_names", ()))
    if not names <= set(every):
        return set(every.values()), set(every.values())
    return set(every.values()), {every[n] for n in names}


def hashed_files(study=None, tree: SourceTree | None = None, scheme: int = KEY_SCHEME) -> list[str]:
    """The files whose content the code version of ``study`` covers (module docstring).

    Scheme 1 (before 2026-11-23): every file of ``adaptlr/``. Scheme 2: every file of
    ``adaptlr/`` but the method modules of optimizers the study does not use. Both: the
    study's module and the ``studies`` modules it imports (every study module without a
    study), never the engine modules."""
    tree = SourceTree() if tree is None else tree
    only = None
    if study is not None:
        mod_file = _study_module_file(study)
        root = _roots()["studies"]
        if mod_file is not None and root in mod_file.resolve().parents:
            only = _study_files(tree, "studies/" + mod_file.resolve().relative_to(root).as_posix())
    skip: set[str] = set()
    if scheme >= 2:
        every, used = method_modules(study)
        skip = every - used
    out = []
    for f in tree.files:
        top, rest = f.split("/", 1)
        if top == "studies" and (rest in ENGINE_SOURCES or (only is not None and f not in only)):
            continue
        if f in skip:
            continue
        out.append(f)
    return out


def _files_hash(files, tree, scheme: int) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0")
        h.update(content_digest(tree.read(rel), scheme))
    return h.hexdigest()


def source_hash(study=None, tree: SourceTree | None = None, scheme: int = KEY_SCHEME) -> str:
    """sha256 over (relative path, :func:`content_digest`) of :func:`hashed_files` (sorted
    by path)."""
    tree = SourceTree() if tree is None else tree
    return _files_hash(hashed_files(study, tree, scheme), tree, scheme)


def code_at(study=None, tree: SourceTree | None = None, scheme: int = KEY_SCHEME) -> dict:
    """The code version of ``study`` under key rule ``scheme`` for the files of ``tree``
    (default: the checkout); :func:`code_version` is the current rule's.

    Rule 1: ``{"adaptlr", "source_sha256"}``; rules 2-3 add ``key_scheme``; rule 4 splits
    the hash: ``source_sha256`` covers :func:`hashed_files` but the method modules, and
    ``methods`` maps each optimizer the study uses to the digest of its method module, of
    which a trial's key takes its own (:func:`trial_code`)."""
    import adaptlr

    tree = SourceTree() if tree is None else tree
    if scheme < 4:
        code = {"adaptlr": adaptlr.__version__, "source_sha256": source_hash(study, tree, scheme)}
        if scheme >= 2:
            code["key_scheme"] = scheme
        return code
    files = hashed_files(study, tree, scheme)
    every = method_map()
    modules = set(every.values())
    methods = {n: content_digest(tree.read(f), scheme).hex() for n, f in sorted(every.items())
               if f in files}
    return {"adaptlr": adaptlr.__version__, "key_scheme": scheme,
            "source_sha256": _files_hash([f for f in files if f not in modules], tree, scheme),
            "methods": methods}


def trial_code(spec: dict, code: dict) -> dict:
    """The part of a study's code version that the key of trial ``spec`` covers: all of it
    before rule 4; from rule 4 the shared part and the digest of the trial's own optimizer's
    method module (``method_sha256``). A trial of a name outside the registry (an oracle,
    torch) covers every method module the study's code version holds. A method module only
    computes its own method and a trial function builds only its own optimizer, so a change
    to one method re-keys that method's trials only (a vSGD fix keeps the baselines' keys of
    the vSGD studies)."""
    if "methods" not in code:
        return code
    out = {k: v for k, v in code.items() if k != "methods"}
    m = code["methods"]
    opt = spec.get("optimizer")
    out["method_sha256"] = (m[opt] if opt in m else
                            hashlib.sha256(canonical_json(m).encode()).hexdigest())
    return out


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
    """``{"adaptlr": version, "key_scheme": n, "source_sha256": hex, "methods": {...}}`` of
    ``study`` under the current key rule (:func:`code_at`; see the module docstring; without
    a study: the library and every study module).

    Read afresh at each call (milliseconds): a run computes it once at its start and uses
    that one version for every key, the trial files and the provenance, so a long-lived
    session that edits the code never reuses results of the old code.
    """
    return code_at(study)


def trial_key(spec: dict, code: dict | None = None) -> str:
    """sha256 hex digest of the canonical JSON of ``{"spec": spec, "code": c}``, ``c`` the
    part of the study's code version ``code`` that covers this trial (:func:`trial_code`)."""
    code = code_version() if code is None else code
    return hashlib.sha256(canonical_json({"spec": spec, "code": trial_code(spec, code)})
                          .encode()).hexdigest()


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
