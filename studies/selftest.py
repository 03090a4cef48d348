"""``selftest``: a seconds-long study that exercises the whole engine (internal).

Problem: minibatch least squares in plain NumPy (no Numba, no data files), so the
engine's tests and first checks do not depend on compile time. For a problem with
``d`` features, ``n_train``/``n_test`` samples (fixed per problem by ``data_seed``),
``X ~ N(0, diag(scale^2))``, ``y = X w* + noise * N(0, 1)``, the loss of weights ``w``
on a set is ``L = mean((X w - y)^2) / 2`` and the *error* is the fraction of samples with
``|X w - y| > 2 noise`` (a classification-like error rate in [0, 1]).

Optimizers (written here, not from adaptlr, to keep the self-test independent):
``sgd``: ``w <- w - lr g``; ``momentum``: ``v <- mu v - lr g``, ``w <- w + v``, with ``g``
the minibatch-mean gradient ``X_b^T (X_b w - y_b) / B``. With ``lr`` above
``2 / lambda_max(X^T X / n)`` the iteration diverges; ``lr = 2.5`` does so on ``ls-d8``
here, and is in the grid on purpose (recorded as ``diverged``). A negative ``lr`` raises
(to test ``failed`` trials via ``--set sgd.lr=-1``).

The seed fixes the initial weights and the data order. Testing hooks, read from the
environment (not part of the spec, so not part of the key): ``STUDIES_SELFTEST_LOG``
(append one line ``<canonical spec JSON>`` per trial started) and
``STUDIES_SELFTEST_SLEEP`` (seconds to sleep per trial).

Resumable when a study makes it so (``dataclasses.replace(STUDY, resumable=True)``, as
``tests/test_studies_checkpoint.py`` does; :mod:`studies.checkpoint`): it then saves the
weights, the curves and the generator's state after every epoch, resumes from them, pauses
after at least one epoch once the deadline has passed, and returns ``resumed_from_epoch``.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from . import checkpoint
from .spec import Study


def _data(p: dict, n: int, offset: int):
    rng = np.random.default_rng([int(p["data_seed"]), offset])
    d = int(p["d"])
    scale = np.geomspace(1.0, float(p["scale_ratio"]), d)
    w_star = np.random.default_rng(int(p["data_seed"])).standard_normal(d)
    X = rng.standard_normal((n, d)) * scale
    y = X @ w_star + float(p["noise"]) * rng.standard_normal(n)
    return X, y


def _eval(w, X, y, noise):
    r = X @ w - y
    with np.errstate(over="ignore", invalid="ignore"):
        loss = float(np.mean(r * r) / 2)
        err = float(np.mean(np.abs(r) > 2 * noise)) if np.all(np.isfinite(r)) else np.nan
    return loss, err


def _save(path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def trial(spec: dict) -> dict:
    """One least-squares run; returns per-epoch train/test loss and error."""
    log = os.environ.get("STUDIES_SELFTEST_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(spec, sort_keys=True) + "\n")
    time.sleep(float(os.environ.get("STUDIES_SELFTEST_SLEEP", "0") or 0))
    p, hp, par = spec["problem_params"], spec["hyper"], spec["params"]
    lr = float(hp["lr"])
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    mu = float(hp.get("mu", 0.0))
    Xtr, ytr = _data(p, int(par["n_train"]), 1)
    Xte, yte = _data(p, int(par["n_test"]), 2)
    rng = np.random.default_rng(spec["seed"])
    w = 0.1 * rng.standard_normal(Xtr.shape[1])
    v = np.zeros_like(w)
    E, B = spec["epochs"], spec["batch_size"]
    noise = float(p["noise"])
    out = {k: np.full(E + 1, np.nan) for k in ("train_loss", "test_loss", "train_error",
                                                "test_error")}

    def record(e):
        out["train_loss"][e], out["train_error"][e] = _eval(w, Xtr, ytr, noise)
        out["test_loss"][e], out["test_error"][e] = _eval(w, Xte, yte, noise)

    step, diverged_step, start = 0, -1, 1
    ck = checkpoint.current()  # set only in a study made resumable (tests do)
    if ck is not None and ck.path.exists():
        with np.load(ck.path, allow_pickle=False) as z:
            w, v, step, start = z["w"], z["v"], int(z["step"]), int(z["epoch"]) + 1
            for k in out:
                out[k][:] = z[k]
            rng.bit_generator.state = json.loads(str(z["rng"][()]))
    else:
        record(0)
    first = start
    for e in range(start, E + 1):
        if ck is not None and ck.stop_at is not None and e > first and time.time() >= ck.stop_at:
            raise checkpoint.TrialPaused(f"after {e - 1} of {E} epochs")
        order = rng.permutation(len(ytr))
        for b in range(0, len(ytr) - B + 1, B):
            step += 1
            i = order[b:b + B]
            with np.errstate(over="ignore", invalid="ignore"):
                g = Xtr[i].T @ (Xtr[i] @ w - ytr[i]) / B
                if spec["optimizer"] == "momentum":
                    v = mu * v - lr * g
                    w = w + v
                else:
                    w = w - lr * g
            if not np.all(np.isfinite(w)) or np.abs(w).max() > 1e12:
                diverged_step = step
                break
        if diverged_step > 0:
            break
        record(e)
        if ck is not None:
            _save(ck.path, w=w, v=v, step=step, epoch=e, rng=json.dumps(rng.bit_generator.state),
                  **out)
    extra = {} if ck is None else {"resumed_from_epoch": ((), first - 1)}
    return {**extra,
        "train_loss": (("epoch",), out["train_loss"]),
        "test_loss": (("epoch",), out["test_loss"]),
        "train_error": (("epoch",), out["train_error"]),
        "test_error": (("epoch",), out["test_error"]),
        # which thread budget the worker process was given (checks the runner's settings)
        "numba_threads": ((), int(os.environ.get("NUMBA_NUM_THREADS", "-1"))),
        "diverged": diverged_step > 0,
        "diverged_step": diverged_step,
        "message": f"parameters exceeded 1e12 or became non-finite at step {diverged_step}"
                   if diverged_step > 0 else "",
    }


def allowed() -> dict:
    """Optimizers of this study and their hyperparameter names."""
    return {"sgd": ("lr",), "momentum": ("lr", "mu")}


VARIABLES = {
    "train_loss": {"long_name": "training loss", "units": "1",
                   "description": "mean squared residual / 2 on the training set; NaN after "
                                  "divergence"},
    "test_loss": {"long_name": "test loss", "units": "1",
                  "description": "mean squared residual / 2 on the test set"},
    "train_error": {"long_name": "training error rate", "units": "1",
                    "description": "fraction of training samples with |residual| > 2 noise"},
    "test_error": {"long_name": "test error rate", "units": "1",
                   "description": "fraction of test samples with |residual| > 2 noise"},
    "numba_threads": {"long_name": "NUMBA_NUM_THREADS of the worker", "units": "1",
                      "description": "thread budget the runner gave the worker process "
                                     "(-1: not set)"},
}

STUDY = Study(
    name="selftest",
    title="Engine self-test: minibatch least squares with SGD and momentum",
    paper="",
    description="Cheap NumPy-only study exercising keys, storage, Dask, divergence, stats and "
                "reports.",
    trial=trial,
    problems={
        "ls-d8": {"d": 8, "scale_ratio": 1.0, "noise": 0.1, "data_seed": 1},
        "ls-d16-ill": {"d": 16, "scale_ratio": 0.1, "noise": 0.1, "data_seed": 2},
    },
    optimizers={"sgd": {"lr": [0.01, 0.1, 0.5, 2.5]},
                "momentum": {"lr": [0.01, 0.05], "mu": [0.9]}},
    seeds=tuple(range(5)),
    epochs=4,
    batch_size=10,
    params={"n_train": 400, "n_test": 400},
    quick={"seeds": (0, 1, 2), "epochs": 2, "params": {"n_train": 200},
           "optimizers": {"sgd": {"lr": [0.1, 2.5]}, "momentum": {"lr": [0.05], "mu": [0.9]}}},
    allowed=allowed,
    variables=VARIABLES,
    internal=True,
)
