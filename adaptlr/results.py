"""Loading study results: ``adaptlr.load_results(path_or_name)`` -> :class:`xarray.Dataset`.

``path_or_name`` may be

* a netCDF file (``.../<study>.nc``), opened with :func:`xarray.open_dataset`;
* a results directory (the ``--out`` of a run): its ``<dirname>.nc`` or, failing that,
  its only top-level ``*.nc`` file;
* a study name (``adadelta-table1``): ``data/results/<name>/<name>.nc`` of this
  repository (full runs), else ``results/<name>-quick/<name>.nc`` (quick runs), looked
  up under the repository holding adaptlr and then the current directory.

Extra keyword arguments go to :func:`xarray.open_dataset`. The Dataset is loaded into
memory and the file closed (results are small), so the file can be rewritten by a later
run while the Dataset is in use; pass ``lazy=True`` to keep it open and lazy instead.
"""
from __future__ import annotations

from pathlib import Path


def _candidates(name: str) -> list[Path]:
    roots = []
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        roots.append(here)
    roots.append(Path.cwd())
    out = []
    for r in roots:
        for n in {name, name.replace("_", "-")}:
            out += [r / "data" / "results" / n / f"{n}.nc", r / "results" / f"{n}-quick" / f"{n}.nc"]
    return out


def resolve(path_or_name) -> Path:
    """The netCDF file meant by ``path_or_name`` (see the module docstring)."""
    p = Path(path_or_name)
    if p.is_file():
        return p
    if p.is_dir():
        own = p / f"{p.name}.nc"
        if own.is_file():
            return own
        ncs = sorted(q for q in p.glob("*.nc") if not q.name.startswith("."))
        if len(ncs) == 1:
            return ncs[0]
        raise FileNotFoundError(
            f"results directory {str(p)!r} holds {len(ncs)} .nc files "
            f"({[q.name for q in ncs]}); pass the file itself")
    tried = _candidates(str(path_or_name))
    for c in tried:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"no results for {str(path_or_name)!r}: not a file or directory, and none of "
        f"{[str(c) for c in tried]} exists; run `python -m studies run NAME` first")


def load_results(path_or_name, lazy: bool = False, **kwargs):
    """Open a study's combined results as an :class:`xarray.Dataset`."""
    import xarray as xr

    path = resolve(path_or_name)
    if lazy:
        return xr.open_dataset(path, **kwargs)
    with xr.open_dataset(path, **kwargs) as ds:
        return ds.load()
