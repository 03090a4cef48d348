"""A checkpoint file in ``adaptlr.mlp.resume``'s format whose only meaningful entry is
``epochs_done``: what the engine's progress reads (``studies.checkpoint.progress``), the
summary's begun-trials lines and the runner's resume order are tested with. Its arrays are
placeholders; ``adaptlr.mlp.train`` would refuse it (tests/test_mlp_resume.py covers real
checkpoints)."""
from __future__ import annotations

import numpy as np


def write(path, epochs_done: int, wall_time: float = 0.0, **identity) -> None:
    """``wall_time``: the training loop's seconds so far (0: a pace no one can read)."""
    from adaptlr.mlp import resume

    z = np.zeros(1)
    resume.save(path, resume.run_identity(**identity), **{k: z for k in resume.ARRAYS},
                epochs_done=epochs_done, steps=0, diverged_step=-1, wall_time=wall_time)
