"""Finding studies: every module of the ``studies`` package that defines ``STUDY``.

Study modules are discovered (not listed by hand), so adding ``studies/<name>.py`` with
``STUDY = Study(...)`` is enough. A study may also be given as the path of a Python file
defining ``STUDY`` (a researcher's own study): it is loaded as module
``studies_user_<stem>`` and its functions are shipped to Dask workers by value.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
import warnings
from pathlib import Path

from .spec import SpecError, Study

#: engine modules, never studies; they compute no trial results, so
#: :func:`studies.expand.source_hash` leaves them out of the trial keys
ENGINE_MODULES = frozenset({
    "spec", "expand", "store", "runner", "combine", "stats", "report", "provenance",
    "cli", "registry", "api", "__main__", "summary", "claims", "rekey", "source_text",
    "timing", "interrupt", "impact", "blas_host", "checkpoint",
})


def study_module(study: Study):
    """The imported module that declares ``study`` (``STUDY`` with the same name, in the
    ``studies`` package or loaded from a user's file), or None."""
    for name, mod in list(sys.modules.items()):
        st = getattr(mod, "STUDY", None)
        if (name.startswith(("studies.", "studies_user_")) and st is not None
                and getattr(st, "name", None) == study.name):
            return mod
    return None


class UnknownStudyError(LookupError):
    """No study of that name."""


def _study_modules() -> list[str]:
    import studies

    return sorted(m.name for m in pkgutil.iter_modules(studies.__path__)
                  if m.name not in ENGINE_MODULES and not m.name.startswith("_"))


def _import(mod: str):
    """Import ``studies.<mod>``; a module that fails to import is skipped with a warning."""
    try:
        return importlib.import_module(f"studies.{mod}")
    except Exception as e:  # noqa: BLE001 - one broken module must not hide the others
        warnings.warn(f"studies.{mod} could not be imported ({type(e).__name__}: {e}); "
                      "its study is not available", RuntimeWarning, stacklevel=3)
        return None


def all_studies() -> dict[str, Study]:
    """``{study name: Study}`` of every study module of the package."""
    found = {}
    for mod in _study_modules():
        m = _import(mod)
        st = getattr(m, "STUDY", None)
        if isinstance(st, Study):
            found[st.name] = st
    return found


def _load_file(path: Path) -> Study:
    name = f"studies_user_{path.stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UnknownStudyError(f"cannot load a study from {str(path)!r}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    st = getattr(mod, "STUDY", None)
    if not isinstance(st, Study):
        raise SpecError(f"{str(path)!r} defines no STUDY = Study(...)")
    try:
        import cloudpickle

        cloudpickle.register_pickle_by_value(mod)
    except Exception:  # pragma: no cover - old cloudpickle
        pass
    return st


def get_study(name_or_path) -> Study:
    """The study named ``name_or_path`` (``-``/``_`` interchangeable) or defined in that file."""
    if isinstance(name_or_path, Study):
        return name_or_path
    s = str(name_or_path)
    if s.endswith(".py"):
        p = Path(s)
        if not p.is_file():
            raise UnknownStudyError(f"study file {s!r} does not exist")
        return _load_file(p)
    # fast path: the module named like the study (adadelta-table1 -> adadelta_table1)
    mod = s.replace("-", "_")
    if mod.isidentifier() and mod not in ENGINE_MODULES and mod in _study_modules():
        st = getattr(_import(mod), "STUDY", None)
        if isinstance(st, Study) and st.name in (s, s.replace("_", "-")):
            return st
    studies = all_studies()
    for n in (s, s.replace("_", "-"), s.replace("-", "_")):
        if n in studies:
            return studies[n]
    raise UnknownStudyError(
        f"unknown study {s!r}; valid studies: {', '.join(sorted(studies)) or '(none)'} "
        "(or the path of a .py file defining STUDY)")
