"""The benchmark problems of the vSGD paper and the MLP trial shared by the vSGD studies.

Schaul, Zhang & LeCun (2013), "No More Pesky Learning Rates", Sec. 7 and Table 1.
Not a study itself (no ``STUDY``): the studies ``vsgd-tables``, ``vsgd-tables-cifar``,
``vsgd-sensitivity``, ``vsgd-slowstart-lr``, ``vsgd-slowstart-critical`` and
``vsgd-slowstart-sensitivity`` import their problems and the trial from here.

Problems (Sec. 7.1-7.2, Table 1)::

    M0  MNIST     [784, 10]            softmax cross-entropy (logistic regression, convex)
    M1  MNIST     [784, 120, 10]       tanh hidden units, cross-entropy
    M2  MNIST     [784, 500, 300, 10]  tanh, cross-entropy
    C0  CIFAR-10  [3072, 10]           'batch1': 10,000 training images
    C1  CIFAR-10  [3072, 360, 10]
    CR  CIFAR-10  [3072, 120, 3072]    tanh autoencoder, MSE  1/2 ||x - y||^2

Every network: Glorot & Bengio initialisation, L2 term ``lambda/2 ||W||^2`` on the weights
with ``lambda = 1e-4`` (Sec. 7.2), inputs centred by the training mean per input dimension
(Sec. 7.1, ``preprocess="center"``), 6 epochs.

Choices where the paper is ambiguous (they go into every study's description):

* **Batch size 1 (online SGD).** Algorithm 1 draws one sample per update; the annealing
  constant gamma is given "per #traindata" (so eta halves after one pass of single-sample
  steps); the slow start averages n0 = 0.001 x #traindata *samples*; the authors' public code
  (``schaul/py-optim``) defaults to ``batch_size = 1``; the minibatch form of vSGD is the
  subject of the companion paper (Schaul & LeCun 2013), not of this one. With a batch size
  ``B > 1`` (``--batch-size``, for exploration) we convert consistently: SGD's
  ``gamma = gamma_n * B / n_train`` per step and vSGD's ``n0 = max(1, round(0.001 n_train / B))``
  steps, and vSGD uses its minibatch correction with the per-sample squared gradients.
* **gamma in units of 1/#traindata.** The grid value ``gamma_n`` (Table 1: 1, 1/2, ...) is
  ``gamma x n_train``; the library's SGD uses ``eta_t = eta0 / (1 + gamma (t - 1))``.
* **vSGD settings (no tuning).** ``C = d/10`` with ``d`` the number of parameters of the
  whole network (the library's default ``C=None``), ``n0 = 0.001 x n_train`` samples
  (60 for MNIST, 10 for CIFAR batch1), curvature from bbprop (Gauss-Newton diagonal).
* **Input scale.** "Subtract the mean of the training data along each input dimension"
  (Sec. 7.1) is applied to pixels scaled to [0, 1] (the library's ``preprocess="center"``);
  the paper does not state the scale (raw 0..255 would make every tuned eta0 of Table 1
  255^2 times too large for the linear models).
* **Float64** parameters (the authors' NumPy code computes in float64).
* **Errors** are classification error rates (fraction, tables show percent) of the network
  after each epoch on the full training and test sets; for CR the reconstruction error
  (mean over samples of 1/2 ||x - y||^2), as the paper's Tables 2-3.

Where CIFAR-10 is not on this machine, :func:`adaptlr.data.load_cifar10` raises
``DataNotFoundError``; the CIFAR trials then fail with a message that starts with
``data not available`` (the engine stores them as ``failed`` with that message), so a study
never crashes and the report says why the cells are empty.
"""
from __future__ import annotations

import functools

import numpy as np

from . import checkpoint

#: #train samples of the paper's data sets (MNIST: 60k; CIFAR-10 'batch1': 10k).
N_TRAIN = {"mnist": 60000, "cifar10": 10000}

PROBLEMS = {
    "M0": {"dataset": "mnist", "sizes": [784, 10], "output": "softmax"},
    "M1": {"dataset": "mnist", "sizes": [784, 120, 10], "output": "softmax"},
    "M2": {"dataset": "mnist", "sizes": [784, 500, 300, 10], "output": "softmax"},
    "C0": {"dataset": "cifar10", "sizes": [3072, 10], "output": "softmax"},
    "C1": {"dataset": "cifar10", "sizes": [3072, 360, 10], "output": "softmax"},
    "CR": {"dataset": "cifar10", "sizes": [3072, 120, 3072], "output": "linear"},
}
MNIST_PROBLEMS = ("M0", "M1", "M2")
CIFAR_PROBLEMS = ("C0", "C1", "CR")

#: Table 1 of the paper: the tuned settings (eta0, gamma in 1/#traindata, tau, mu).
TABLE1 = {
    "sgd": {"M0": {"eta0": 3e-2, "gamma_n": 1.0}, "M1": {"eta0": 3e-2, "gamma_n": 0.5},
            "M2": {"eta0": 1e-2, "gamma_n": 0.5}, "C0": {"eta0": 3e-3, "gamma_n": 1.0},
            "C1": {"eta0": 1e-2, "gamma_n": 1.0}, "CR": {"eta0": 3e-3, "gamma_n": 1.0}},
    "adagrad": {"M0": {"eta0": 1e-1}, "M1": {"eta0": 1e-1}, "M2": {"eta0": 3e-2},
                "C0": {"eta0": 1e-2}, "C1": {"eta0": 3e-3}, "CR": {"eta0": 1e-2}},
    "amari": {"M0": {"eta0": 1e-5, "tau": 1e4}, "M1": {"eta0": 1e-6, "tau": 5e3},
              "M2": {"eta0": 3e-7, "tau": 5e3}},
    "smd": {"M0": {"eta0": 1e-1, "mu": 1e-3, "tau": 1e3},
            "M1": {"eta0": 3e-2, "mu": 1e-4, "tau": 1e4},
            "M2": {"eta0": 3e-2, "mu": 1e-3, "tau": 1e2}},
    "almeida": {"M0": {"eta0": 1e-3, "tau": 1e3}, "M1": {"eta0": 1e-3, "tau": 1e4},
                "M2": {"eta0": 1e-3, "tau": 1e4}},
}
VSGD = ("vsgd-l", "vsgd-b", "vsgd-g")
#: column order of the paper's Tables 2-3
TABLE_COLUMNS = ("vsgd-l", "vsgd-b", "vsgd-g", "sgd", "adagrad", "smd", "amari", "almeida")

#: Sec. 7 tuning grids: eta0 in {1e-7, 3e-7, 1e-6, ..., 3, 10} (17 values),
#: gamma in {0, 1/3, 1/2, 1}/#traindata, tau in {1e5, 5e4, 1e4, 5e3, 1e3, 1e2, 1e1},
#: mu in {1e-4, 1e-3, 1e-2, 1e-1}.
ETA0_GRID = tuple(float(f"{m}e{e}") for e in range(-7, 1) for m in (1, 3)) + (10.0,)
GAMMA_N_GRID = (0.0, 1.0 / 3.0, 0.5, 1.0)
TAU_GRID = (1e5, 5e4, 1e4, 5e3, 1e3, 1e2, 1e1)
MU_GRID = (1e-4, 1e-3, 1e-2, 1e-1)


def allowed_hyper() -> dict:
    """Hyperparameter names the vSGD MLP studies accept (checked before anything runs).

    ``gamma_n`` is SGD's gamma in units of 1/#traindata; ``C`` and ``n0_frac`` configure the
    vSGD slow start (``C`` absolute; ``n0_frac`` = n0 / #traindata, default 0.001);
    ``tuned`` (any value) marks "Table 1's setting for this problem".
    """
    return {"sgd": ("eta0", "gamma_n"), "adagrad": ("eta0",), "amari": ("eta0", "tau"),
            "smd": ("eta0", "mu", "tau"), "almeida": ("eta0", "tau"),
            "vsgd-l": ("C", "n0_frac"), "vsgd-b": ("C", "n0_frac"), "vsgd-g": ("C", "n0_frac")}


class DataUnavailable(RuntimeError):
    """The data set of a problem is not on this machine (message starts 'data not available')."""


# --------------------------------------------------------------------------- data

@functools.lru_cache(maxsize=4)
def _dataset(name: str):
    from adaptlr.data import DataNotFoundError, load_cifar10, load_mnist

    try:
        if name == "mnist":
            return load_mnist(preprocess="center", dtype=np.float64)
        if name == "cifar10":
            return load_cifar10(preprocess="center", dtype=np.float64, subset="batch1")
    except DataNotFoundError as e:
        raise DataUnavailable(f"data not available: {name} could not be found on this machine "
                              f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if name.startswith("xor"):
        raise ValueError(f"use xor_data() for the XOR problems, not {name!r}")
    raise ValueError(f"unknown data set {name!r}; allowed: mnist, cifar10")


def xor_data(n_train: int, n_test: int, seed: int, noise: float = 0.0):
    """The XOR classification task of the supplement's Fig. 9 (our concrete form).

    Inputs uniform in [-1, 1]^2, label 1 when x1 * x2 > 0 else 0 (the four quadrants of XOR),
    drawn from ``numpy.random.default_rng(seed)``; train and test drawn independently.
    """
    rng = np.random.default_rng([int(seed), 2013])
    X = rng.uniform(-1.0, 1.0, size=(n_train + n_test, 2))
    if noise:
        X = X + noise * rng.standard_normal(X.shape)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def problem_data(pp: dict, params: dict, seed: int):
    """(X_train, y_train, X_test, y_test) of a problem, cut to ``params`` n_train/n_test.

    The subset is the *first* n samples (deterministic, the same for every optimizer and
    seed). For the autoencoder CR the targets are the inputs. XOR problems carry their own
    ``n_train``/``n_test`` in the problem parameters and draw their data from the seed.
    """
    if pp["dataset"] == "xor":
        return xor_data(int(pp.get("n_train", 10000)), int(pp.get("n_test", 2000)), seed)
    d = _dataset(pp["dataset"])
    ntr = params.get("n_train")
    nte = params.get("n_test")
    Xtr, ytr, Xte, yte = d.X_train, d.y_train, d.X_test, d.y_test
    if ntr:
        Xtr, ytr = Xtr[:int(ntr)], ytr[:int(ntr)]
    if nte:
        Xte, yte = Xte[:int(nte)], yte[:int(nte)]
    if pp["output"] == "linear":
        ytr, yte = Xtr, Xte
    return Xtr, ytr, Xte, yte


# --------------------------------------------------------------------------- optimizers

def resolve_hyper(optimizer: str, hyper: dict, problem: str) -> dict:
    """The hyperparameters a trial uses: ``hyper``, or Table 1's when ``hyper`` is empty."""
    if optimizer in VSGD:
        return dict(hyper)
    if hyper:
        return dict(hyper)
    try:
        return dict(TABLE1[optimizer][problem])
    except KeyError:
        raise ValueError(
            f"optimizer {optimizer!r} has no tuned setting for problem {problem!r} in the "
            f"paper's Table 1 (tuned: {sorted(TABLE1.get(optimizer, {}))})") from None


def make_optimizer(optimizer: str, hyper: dict, n_train: int, batch_size: int,
                   n0_min: int = 1):
    """``adaptlr.optimizers.make`` with the paper's units converted (see module docstring).

    ``n0_min`` floors vSGD's slow-start length (quick forms use 10: on a few hundred samples
    0.001 x #traindata rounds to 1, and n0 = 1 sets tau = 1, after which the first EMA update
    forgets the slow start entirely and the rate locks at 1/h).
    """
    from adaptlr.optimizers import make

    h = dict(hyper)
    if optimizer == "sgd":
        return make("sgd", eta0=h["eta0"], gamma=h.get("gamma_n", 0.0) * batch_size / n_train)
    if optimizer == "adagrad":
        # Duchi et al. / the vSGD paper's eta0 / sqrt(sum g^2); eps only guards 0/0.
        return make("adagrad", lr=h["eta0"])
    if optimizer in ("amari", "almeida"):
        return make(optimizer, eta0=h["eta0"], tau=h["tau"])
    if optimizer == "smd":
        return make("smd", eta0=h["eta0"], mu=h["mu"], tau=h["tau"])
    if optimizer in VSGD:
        n0 = max(int(n0_min), int(round(h.get("n0_frac", 1e-3) * n_train / batch_size)))
        kw = {"n0": n0}
        if "C" in h:
            kw["C"] = h["C"]
        return make(optimizer, **kw)
    raise ValueError(f"unknown optimizer {optimizer!r} for the vSGD benchmarks; allowed: "
                     f"{sorted(allowed_hyper())}")


# --------------------------------------------------------------------------- trial

def mlp_trial(spec: dict) -> dict:
    """Train one network of a vSGD benchmark with one optimizer setting and seed.

    Resumable (:mod:`studies.checkpoint`): in a study with ``resumable=True`` it trains
    with the checkpoint the engine gives it and pauses by its deadline.

    Returns per-epoch ``train_error``, ``test_error``, ``train_loss``, ``test_loss``
    (epoch 0 = before training), the hyperparameters actually used as scalars, ``n_params``,
    and, with ``params["record_lr_every"] > 0``, the effective learning-rate summaries
    ``lr_min``/``lr_max``/``lr_median`` (dims ``lr_record, layer``) and ``lr_epoch``
    (the recorded step as a fraction of an epoch).
    """
    from adaptlr.mlp import MLP, train

    pp = spec["problem_params"]
    params = spec["params"]
    seed = int(spec["seed"])
    Xtr, ytr, Xte, yte = problem_data(pp, params, seed)
    n_train = Xtr.shape[0]
    bs = int(spec["batch_size"])
    hyper = resolve_hyper(spec["optimizer"], spec["hyper"], spec["problem"])
    opt = make_optimizer(spec["optimizer"], hyper, n_train, bs, int(params.get("n0_min", 1)))
    dtype = np.float64 if params.get("dtype", "float64") == "float64" else np.float32
    net = MLP(pp["sizes"], activation="tanh", output=pp["output"],
              l2=float(params.get("l2", 1e-4)), dtype=dtype, seed=seed)
    rec = int(params.get("record_lr_every", 0))
    ck = checkpoint.current()  # a resumable study's (studies/checkpoint.py), else None
    res = train(net, opt, Xtr.astype(dtype, copy=False), ytr, Xte.astype(dtype, copy=False), yte,
                epochs=int(spec["epochs"]), batch_size=bs, seed=seed, record_lr_every=rec,
                device=spec.get("device", "cpu"), checkpoint=None if ck is None else ck.path,
                stop_at=None if ck is None else ck.stop_at)
    if not res.complete:
        raise checkpoint.TrialPaused(
            f"after {res.epochs_done} of {int(spec['epochs'])} epochs "
            f"({res.wall_time / 3600:.2f} h trained), checkpoint {ck.path.name}")
    out = {
        "train_error": (("epoch",), np.asarray(res.train_error, dtype=np.float64)),
        "test_error": (("epoch",), np.asarray(res.test_error, dtype=np.float64)),
        "train_loss": (("epoch",), np.asarray(res.train_loss, dtype=np.float64)),
        "test_loss": (("epoch",), np.asarray(res.test_loss, dtype=np.float64)),
        "n_params": ((), np.int64(net.n_params)),
        "train_seconds": ((), float(res.wall_time)),
    }
    for k in ("eta0", "gamma_n", "tau", "mu", "C"):
        if k in hyper:
            out[f"used_{k}"] = ((), float(hyper[k]))
    if spec["optimizer"] in VSGD:
        out["used_C"] = ((), float(hyper.get("C", net.n_params / 10.0)))
        out["used_n0"] = ((), float(opt.hyper.n0))
        out["used_tau0"] = ((), float(opt.hyper.tau0))
        out["used_C_h"] = ((), float(opt.hyper.C_h) if opt.hyper.C_h > 0.0
                           else float(out["used_C"][1]))
    if rec > 0:
        steps = np.asarray(res.lr_steps, dtype=np.float64)
        steps_per_epoch = n_train // bs
        out["lr_epoch"] = (("lr_record",), steps / steps_per_epoch)
        for k in ("lr_min", "lr_median", "lr_max"):
            out[k] = (("lr_record", "layer"), np.asarray(getattr(res, k), dtype=np.float64))
    if res.diverged:
        out["diverged"] = True
        out["diverged_step"] = int(res.diverged_step)
        out["message"] = f"diverged at step {int(res.diverged_step)} (non-finite loss or parameters)"
    return out


def table_cells(problems, metric: str, published: dict, columns=TABLE_COLUMNS):
    """One :class:`studies.spec.Table` per problem (ties are computed within a table)."""
    from .spec import Table

    tables = []
    for p in problems:
        cr = p == "CR"
        cols = [c for c in columns if c in VSGD or p in TABLE1.get(c, {})]
        tables.append(Table(
            title=f"{p}: {'training' if metric.startswith('train') else 'test'} "
                  f"{'reconstruction error' if cr else 'error'} after 6 epochs",
            rows=[p], columns=cols,
            cells={(p, c): {"optimizer": c, "problem": p} for c in cols},
            metric=metric, problem=p, scale=1.0 if cr else 100.0, unit="" if cr else "%",
            published={(p, c): v for c, v in zip(columns, published.get(p, ())) if c in cols},
            published_source="Schaul, Zhang & LeCun (2013), "
                             + ("Table 2 (training set)" if metric.startswith("train")
                                else "Table 3 (test set)")))
    return tuple(tables)
