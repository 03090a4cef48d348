"""Run in a fresh process by tests/test_studies_checkpoint.py: the BLAS libraries that
``adaptlr.mlp.train`` names a checkpoint's run by (``training._compute_setting``), in the
first and the second trial of the process (vsgd-longrun's trial on 50 images, one epoch).
Prints one JSON line ``[first, second]``. With the argument ``bare`` the runner's
``load_numba_blas`` is switched off, to show what it is for."""
import json
import sys
import tempfile

import adaptlr.mlp.training as T
import studies.runner as R
from studies.expand import expand
from studies.vsgd_longrun import STUDY

if sys.argv[1:] == ["bare"]:
    R.load_numba_blas = lambda: None
seen = []
orig = T._compute_setting


def spy():
    got = orig()
    seen.append(got["blas"])
    return got


T._compute_setting = spy
st = STUDY.resolved(True)
spec = dict(expand(st, quick=True)[0])
spec["epochs"] = 1
spec["params"] = {**spec["params"], "n_train": 50, "n_test": 50}
for _ in range(2):
    rec = R.execute(st.trial, "k" * 64, spec, {}, tempfile.mkdtemp(), None)
    assert rec["status"] == "ok", rec["message"]
print(json.dumps(seen))
