"""``adadelta-table1``: ADADELTA (Zeiler 2012) Table 1, plus the AdaDelta reference cell.

The paper (Sec. 4.2, Table 1): MNIST, a 784-500-300-10 network with rectified linear
hidden units and a softmax output trained on the cross-entropy, minibatches of 100,
test error after 6 epochs, for SGD, Momentum and AdaGrad with learning rates 1e0, 1e-1,
1e-2, 1e-3 and 1e-4; ADADELTA with rho = 0.95, eps = 1e-6 gives 1.83% (Table 2, same
network). Ten seeds per cell here (the paper reports single runs).

Choices where the paper is silent (also in the final report of issue 5):

* Momentum's decay: not given in the paper; ``rho = 0.9`` (the common default, and the
  value of ``adaptlr.optimizers.make("momentum")``). Update: ``v <- rho v - lr g``,
  ``x <- x + v`` (see :mod:`adaptlr.optimizers.momentum`).
* AdaGrad's eps (not in the paper's equations): the library default (1e-10, outside the
  square root), i.e. ``x <- x - lr g / (sqrt(sum g^2) + eps)``.
* SGD is plain SGD, no annealing (``gamma = 0``).
* Data: :func:`adaptlr.data.load_mnist` with ``preprocess="scale"`` (pixels / 255);
  float32 network (``params["dtype"]``), the library's initialisation of
  :class:`adaptlr.mlp.MLP` (the paper does not say), no weight decay.
* A run whose loss or parameters become non-finite is stopped and recorded as
  ``diverged`` (the paper prints the error such runs end with, e.g. 89.68% for Momentum
  at lr = 1, i.e. chance level); the table shows "diverged k/10" instead of a number.
* The effective learning rate |dx/g| is recorded every ``record_lr_every`` steps
  (min/median/max per weight matrix: ``lr_min``, ``lr_median``, ``lr_max``).

``--quick``: the first 5,000 training and 2,000 test images, 2 epochs, 2 seeds, learning
rates 1e-1 and 1e-2 for SGD/Momentum/AdaGrad plus AdaDelta: 14 trials, about a minute on
two cores once Numba's cache is warm. Quick results are not comparable with the paper's.
"""
from __future__ import annotations

import functools

import numpy as np

from .spec import Study, Table

SIZES = [784, 500, 300, 10]
LRS = [1e0, 1e-1, 1e-2, 1e-3, 1e-4]
LR_LABELS = ["ε = 1e0", "ε = 1e-1", "ε = 1e-2", "ε = 1e-3", "ε = 1e-4"]
MOMENTUM_RHO = 0.9
ADADELTA = {"rho": 0.95, "eps": 1e-6}

#: Zeiler (2012) Table 1, test error in percent, lr 1e0 .. 1e-4
PAPER_TABLE1 = {
    "SGD": [2.26, 2.51, 7.02, 17.01, 58.10],
    "Momentum": [89.68, 2.03, 2.68, 6.98, 16.98],
    "AdaGrad": [43.76, 2.82, 1.79, 5.21, 12.59],
}
#: Zeiler (2012) Table 2, rho = 0.95, eps = 1e-6
PAPER_ADADELTA = 1.83
ADADELTA_ROW = "ρ = 0.95, ε = 1e-6"
COLUMNS = {"SGD": "sgd", "Momentum": "momentum", "AdaGrad": "adagrad", "AdaDelta": "adadelta"}


def allowed() -> dict:
    """Every registered optimizer and its hyperparameter names (including aliases)."""
    from adaptlr.optimizers import get, names

    return {n: tuple(p.name for p in get(n).params) + tuple(get(n).aliases) for n in names()}


@functools.lru_cache(maxsize=2)
def _mnist(dtype_name: str):
    from adaptlr.data import load_mnist

    return load_mnist(preprocess="scale", dtype=np.dtype(dtype_name))


def data(params: dict):
    """``(X_train, y_train, X_test, y_test)``: the first ``n_train``/``n_test`` images (0 = all)."""
    d = _mnist(params.get("dtype", "float32"))
    ntr, nte = int(params.get("n_train") or 0), int(params.get("n_test") or 0)
    return (d.X_train[:ntr or None], d.y_train[:ntr or None],
            d.X_test[:nte or None], d.y_test[:nte or None])


def checksums(params: dict) -> dict:
    """sha256 of the decompressed MNIST files (stored in the results' provenance)."""
    return dict(_mnist(params.get("dtype", "float32")).checksums)


def trial(spec: dict) -> dict:
    """Train one network; per-epoch errors/losses, effective learning-rate summaries."""
    from adaptlr import optimizers
    from adaptlr.mlp import MLP, train

    pp, params = spec["problem_params"], spec["params"]
    seed = int(spec["seed"])
    Xtr, ytr, Xte, yte = data(params)
    opt = optimizers.make(spec["optimizer"], **spec["hyper"])
    net = MLP(pp["sizes"], activation=pp["activation"], output="softmax", l2=0.0,
              dtype=np.dtype(params.get("dtype", "float32")), seed=seed)
    every = int(params.get("record_lr_every", 0))
    res = train(net, opt, Xtr, ytr, Xte, yte, epochs=int(spec["epochs"]),
                batch_size=int(spec["batch_size"]), seed=seed, record_lr_every=every,
                device=spec.get("device", "cpu"))
    out = {k: (("epoch",), np.asarray(getattr(res, k), dtype=np.float64))
           for k in ("train_error", "test_error", "train_loss", "test_loss")}
    out["train_seconds"] = ((), float(res.wall_time))
    if every > 0:
        out["lr_step"] = (("lr_record",), np.asarray(res.lr_steps, dtype=np.int64))
        for k in ("lr_min", "lr_median", "lr_max"):
            out[k] = (("lr_record", "layer"), np.asarray(getattr(res, k), dtype=np.float64))
    if res.diverged:
        out.update(diverged=True, diverged_step=int(res.diverged_step),
                   message=f"diverged at step {int(res.diverged_step)} (non-finite loss or "
                           "parameters); training stopped, later epochs are NaN")
    return out


VARIABLES = {
    "train_error": {"long_name": "training error rate", "units": "1",
                    "description": "fraction of misclassified training images after each epoch "
                                   "(epoch 0 = initial network); NaN after divergence"},
    "test_error": {"long_name": "test error rate", "units": "1",
                   "description": "fraction of misclassified test images after each epoch; "
                                  "Table 1 reports it after epoch 6, in percent"},
    "train_loss": {"long_name": "training loss", "units": "1",
                   "description": "mean softmax cross-entropy (nats) on the training set"},
    "test_loss": {"long_name": "test loss", "units": "1",
                  "description": "mean softmax cross-entropy (nats) on the test set"},
    "train_seconds": {"long_name": "training time", "units": "s",
                      "description": "seconds of the compiled training loop (evaluations "
                                     "included, compilation excluded)"},
    "lr_step": {"long_name": "recorded step", "units": "1",
                "description": "minibatch step (1-based) at which the effective learning rate "
                               "was recorded"},
    "lr_min": {"long_name": "smallest effective learning rate", "units": "1",
               "description": "min over the entries of weight matrix W_layer with g != 0 of "
                              "|dx/g| at the recorded step"},
    "lr_median": {"long_name": "median effective learning rate", "units": "1",
                  "description": "median over the entries of W_layer with g != 0 of |dx/g|"},
    "lr_max": {"long_name": "largest effective learning rate", "units": "1",
               "description": "max over the entries of W_layer with g != 0 of |dx/g|"},
}


def _table() -> Table:
    cells, published = {}, {}
    for col, opt in COLUMNS.items():
        if opt == "adadelta":
            cells[(ADADELTA_ROW, col)] = {"optimizer": "adadelta", **ADADELTA}
            published[(ADADELTA_ROW, col)] = PAPER_ADADELTA
            continue
        for row, lr, pub in zip(LR_LABELS, LRS, PAPER_TABLE1[col]):
            sel = {"optimizer": opt, "lr": lr}
            if opt == "momentum":
                sel["rho"] = MOMENTUM_RHO
            cells[(row, col)] = sel
            published[(row, col)] = pub
    return Table(
        title="MNIST test error after the last epoch (Zeiler 2012, Table 1; ReLU 784-500-300-10)",
        rows=LR_LABELS + [ADADELTA_ROW], columns=list(COLUMNS), cells=cells,
        metric="test_error", problem="mnist-relu", scale=100.0, unit="%",
        published=published,
        published_source="Zeiler (2012) Table 1 (SGD, Momentum, AdaGrad; ε is the learning "
                         "rate) and Table 2 (ADADELTA ρ = 0.95, ε = 1e-6); single runs, 6 epochs")


STUDY = Study(
    name="adadelta-table1",
    title="ADADELTA Table 1: MNIST test error vs learning rate (SGD, Momentum, AdaGrad, AdaDelta)",
    paper="Zeiler (2012), ADADELTA: An Adaptive Learning Rate Method, Table 1 (and Table 2, "
          "rho=0.95 eps=1e-6)",
    description="784-500-300-10 ReLU MLP, softmax cross-entropy, minibatch 100, 6 epochs; "
                "momentum rho=0.9 (not given in the paper); test error after the last epoch.",
    trial=trial,
    problems={"mnist-relu": {"sizes": SIZES, "activation": "relu"}},
    optimizers={
        "sgd": {"lr": LRS},
        "momentum": {"lr": LRS, "rho": [MOMENTUM_RHO]},
        "adagrad": {"lr": LRS},
        "adadelta": [dict(ADADELTA)],
    },
    seeds=tuple(range(10)),
    epochs=6,
    batch_size=100,
    record=("lr_min", "lr_median", "lr_max"),
    params={"dtype": "float32", "n_train": 0, "n_test": 0, "record_lr_every": 100},
    quick={"seeds": (0, 1), "epochs": 2,
           "params": {"n_train": 5000, "n_test": 2000, "record_lr_every": 10},
           "optimizers": {"sgd": {"lr": [1e-1, 1e-2]},
                          "momentum": {"lr": [1e-1, 1e-2], "rho": [MOMENTUM_RHO]},
                          "adagrad": {"lr": [1e-1, 1e-2]},
                          "adadelta": [dict(ADADELTA)]}},
    allowed=allowed,
    variables=VARIABLES,
    tables=(_table(),),
    checksums=checksums,
    curve_metric="test_error",
)
