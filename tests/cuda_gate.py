"""The one gate of the CUDA case modules (tests/test_*_cuda_*cases.py).

A case module runs where CUDA kernels can run: under Numba's CUDA simulator (its runner
module starts it in a subprocess with NUMBA_ENABLE_CUDASIM=1, which must be set before
numba.cuda is first imported) or on a real GPU, where its tests carry the ``gpu`` mark so
that ``-m gpu`` selects them. Elsewhere the whole module is skipped, with the reason.

Use at the top of a case module, before anything imports numba.cuda::

    pytestmark = cuda_gate.require("tests/test_optim_cuda.py")
"""
from __future__ import annotations

import pytest

from adaptlr import targets


def require(runner: str) -> list:
    """Skip the calling module unless CUDA kernels can run here; else its ``pytestmark``.

    ``runner`` names the test module that runs these cases under the simulator (said in the
    skip reason). Returns ``[pytest.mark.gpu]`` on a real GPU, ``[]`` under the simulator.
    """
    if not targets.cuda_available():
        pytest.skip(f"needs a CUDA GPU or NUMBA_ENABLE_CUDASIM=1 (run by {runner})",
                    allow_module_level=True)
    return [] if targets.CUDA_SIMULATOR else [pytest.mark.gpu]
