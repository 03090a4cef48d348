"""Checkpoints of a training run, so that a killed run resumes where it stopped.

:func:`adaptlr.mlp.train` with ``checkpoint=PATH`` writes, after every
``checkpoint_every`` epochs, everything the compiled loop carries from one epoch to the
next: the parameters, the optimizer state ``(st, sc)``, the step counter, the epoch
reached, the divergence status, the seconds trained so far and every result buffer
filled so far (curves, minibatch losses, learning-rate records). The rest of a run (the
epoch permutations, the recorded dimensions) is drawn again from the seed. So a run
resumed from a checkpoint computes, from there on, exactly what the uninterrupted run
computes: bit for bit on the same host with the same thread counts (tested for every
registered optimizer, ``tests/test_mlp_resume.py``).

A checkpoint belongs to one run. Its ``identity`` (:func:`run_identity`) names the
network, the optimizer and its hyperparameters, the seed, the epochs, the batch size, the
recording settings, the code path (fused online step, sparse forward pass), digests of
the data and of the initial parameters, and the compute setting (BLAS kernel set and thread
counts, Numba's thread count: a run resumed on another CPU or thread budget would be what
no single setting computes); a file whose identity differs is refused with a
``ValueError`` that names the differing entries, and is left as it is (nothing is lost;
remove it to start afresh). A file that cannot be read likewise. A finished run's
checkpoint holds the finished state, so calling ``train`` again returns the same result
at once (the studies engine removes the file once the trial is stored).

File format: a NumPy ``.npz`` (no pickles), written to ``PATH + ".tmp"`` and moved over
``PATH`` with ``os.replace`` after an ``fsync``, so a kill during a write leaves the
previous checkpoint whole.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

#: bumped when the file layout changes (a different format is refused, not misread)
FORMAT = 1

#: the arrays of a checkpoint besides the identity and the scalars
ARRAYS = ("theta", "st", "sc", "train_loss", "train_error", "test_loss", "test_error",
          "batch_loss", "lr_steps", "lr_min", "lr_median", "lr_max", "lr_trace",
          "update_trace")
SCALARS = ("epochs_done", "steps", "diverged_step", "wall_time")


def digest(*arrays) -> str:
    """blake2b (16 bytes, hex) over the dtypes, shapes and bytes of ``arrays``."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def run_identity(**fields) -> dict:
    """The identity of a run: ``fields`` as JSON-able values plus the format number.

    Floats keep their exact value (``repr`` round-trips); NamedTuples (hyperparameters)
    become ``{field: value}`` dicts; NumPy scalars and arrays become Python numbers and
    lists.
    """
    def plain(v):
        if hasattr(v, "_asdict"):
            return {k: plain(x) for k, x in v._asdict().items()}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, np.ndarray):
            return plain(v.tolist())
        if isinstance(v, np.generic):
            return v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        return repr(v)

    out = {k: plain(v) for k, v in sorted(fields.items())}
    out["format"] = FORMAT
    return out


def _differences(stored: dict, wanted: dict) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [f"{k}: checkpoint {stored.get(k, '(absent)')!r}, this run {wanted.get(k, '(absent)')!r}"
            for k in keys if stored.get(k, "(absent)") != wanted.get(k, "(absent)")]


def load(path, identity: dict) -> dict | None:
    """The checkpoint at ``path`` for the run ``identity``, or None when there is no file.

    Returns ``{name: array}`` for :data:`ARRAYS` and Python numbers for :data:`SCALARS`.
    Raises ``ValueError`` (the file left untouched) when the file cannot be read, lacks an
    entry, or belongs to another run.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            got = {k: z[k] for k in z.files}
        stored = json.loads(str(got["identity"][()]))
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"checkpoint {str(path)!r} cannot be read ({type(e).__name__}: {e}); "
                         "it is left as it is: remove it to train from the start") from e
    missing = [k for k in (*ARRAYS, *SCALARS) if k not in got]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} lacks {missing}; it is left as it is: "
                         "remove it to train from the start")
    diff = _differences(stored, identity)
    if diff:
        raise ValueError(f"checkpoint {str(path)!r} belongs to another run ("
                         + "; ".join(diff) + "); it is left as it is: remove it, or give "
                         "this run another checkpoint path")
    out = {k: got[k] for k in ARRAYS}
    out["epochs_done"] = int(got["epochs_done"])
    out["steps"] = int(got["steps"])
    out["diverged_step"] = int(got["diverged_step"])
    out["wall_time"] = float(got["wall_time"])
    return out


def save(path, identity: dict, **entries) -> None:
    """Write the checkpoint ``entries`` (:data:`ARRAYS` and :data:`SCALARS`) of the run
    ``identity`` to ``path`` atomically (a temporary file, fsync, ``os.replace``)."""
    path = Path(path)
    missing = [k for k in (*ARRAYS, *SCALARS) if k not in entries]
    if missing:
        raise ValueError(f"checkpoint entries missing: {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    arrays = {k: np.asarray(entries[k]) for k in (*ARRAYS, *SCALARS)}
    arrays["identity"] = np.asarray(json.dumps(identity, sort_keys=True))
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
