"""adaptlr studies: reproducible optimizer comparisons (seeds, paired tests, Dask, xarray).

Python API::

    import studies
    summary = studies.run("adadelta-table1", quick=True)     # or a Study object / a .py path
    studies.report_study("adadelta-table1")                       # tables + figures, no re-run
    ds = adaptlr.load_results(summary.dataset)                # xarray.Dataset

Command line: ``python -m studies list | run NAME [--quick] | report NAME``.
Modules: spec (Study), expand (trials, keys), store (atomic files), runner (Dask),
combine (Dataset), provenance, stats (scipy tests), report (Markdown, PNG), cli.
"""
from .spec import Study, SpecError, Table  # noqa: F401


def run_study(*args, **kwargs):
    """Run a study, then combine and report: see :func:`studies.api.run`."""
    from .api import run as _run

    return _run(*args, **kwargs)


run = run_study


def report_study(*args, **kwargs):
    """Tables and figures from stored results: see :func:`studies.api.report`.

    (``studies.report`` is the module :mod:`studies.report`.)
    """
    from .api import report as _report

    return _report(*args, **kwargs)


def list_studies():
    """``{name: Study}`` of the studies in this package."""
    from .registry import all_studies

    return all_studies()
