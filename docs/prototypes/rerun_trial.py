"""Recompute one stored trial's spec with the code on PYTHONPATH and compare it, bit for bit
(timings aside), with one or more stored trial files.

Usage (set the thread counts and kernel set of the environment to reproduce):
  PYTHONPATH=TREE ADAPTLR_DATA_DIR=data OPENBLAS_CORETYPE=Haswell NUMBA_NUM_THREADS=1 \\
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
  python3 docs/prototypes/rerun_trial.py TRIAL.nc [OTHER.nc ...]
The spec is read from the first file. Used 2026-12-06 to tell a change of the library from
a change of host: the commit before the MLP batch and the batch gave the same bits.
"""
import json
import sys

import numpy as np
import xarray as xr

import studies
from studies import api
from studies.runner import execute

print(studies.__file__)
with xr.open_dataset(sys.argv[1]) as ref:
    spec = json.loads(ref.attrs["spec"])
rec = execute(api.prepare(spec["study"]).trial, "x", spec, {})
print(rec["status"], rec.get("message", "")[:200])
for f in sys.argv[1:]:
    with xr.open_dataset(f) as ds:
        diff = [n for n, (dims, vals) in rec["vars"].items()
                if not n.endswith(("_seconds", "_time")) and n in ds
                and not (np.shape(vals) == ds[n].shape
                         and np.array_equal(np.asarray(vals), ds[n].values, equal_nan=True))]
    print(f.rsplit("/", 1)[-1][:12], "differs in", diff)
