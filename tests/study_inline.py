"""Run a study's quick form in this process, without Dask, through the engine's own
trial/store/combine path (the same ``execute``, ``write_trial`` and ``build_dataset`` that
``python -m studies run`` uses), for the study tests that inspect the Dataset.
"""
from __future__ import annotations

from studies import api, store
from studies.expand import code_version, expand, keyed
from studies.report import write_report
from studies.runner import execute


def run_inline(name, out, *, report: bool = False):
    """``(Dataset, resolved Study)`` of the quick form of ``name``, trials stored in ``out``.

    One code version for the keys, the trial files and the combination (the source tree may
    change while trials run). ``report=True`` also writes the Markdown report and figures.
    """
    st = api.prepare(name, quick=True)
    store.ensure_writable(out)
    code = code_version(st)
    for key, spec in keyed(expand(st, quick=True), code):
        store.write_trial(out, execute(st.trial, key, spec, code))
    ds = api.build_dataset(st, out, quick=True, device="cpu", alpha=0.01, test="wilcoxon",
                           correction=None, code=code)
    if report:
        write_report(ds, st, out)
    return ds, st
