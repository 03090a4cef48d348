"""``adadelta-sec41``: ADADELTA Sec. 4.1 (Zeiler 2012): MNIST, tanh 784-500-300-10, 6 epochs.

The paper: "Setting the hyperparameters to eps = 1e-6 and rho = 0.95 we achieve 2.00% test
set error compared to the 2.10% of Schaul et al." (minibatches of 100, 6 epochs).

This module also holds the MNIST trial shared by every ADADELTA study of issue 6
(``adadelta-table2``, ``-fig1``, ``-fig2``; ``-async`` wraps it), so that all of them
train with exactly the same code path:

* data: :func:`adaptlr.data.load_mnist` with ``preprocess="scale"`` (pixels / 255 in
  [0, 1], as the brief specifies; the paper does not say), 60,000 training / 10,000 test
  images; quick forms use the *first* ``n_train`` / ``n_test`` images;
* network: :class:`adaptlr.mlp.MLP` ``sizes`` with ``activation`` from the problem, softmax
  cross-entropy, no weight decay (the paper mentions none), Glorot-uniform initialisation
  (the library's; the paper does not say how it initialised), float32 (GPU-era precision;
  CHOICE, ``params["dtype"]`` switches);
* training: :func:`adaptlr.mlp.train`, minibatch 100, the seed fixes initialisation and
  data order (shared by all optimizers, so comparisons are paired over seeds);
* a diverged run is stored as diverged (never retried or re-tuned).
"""
from __future__ import annotations

import functools

import numpy as np

from .spec import Study, Table

SIZES = [784, 500, 300, 10]

#: quick forms: a data subset (the first images) and two seeds; a smoke test, not a result
QUICK_DATA = {"n_train": 2000, "n_test": 1000}

VARIABLES = {
    "train_error": {"long_name": "training error rate", "units": "1",
                    "description": "fraction of misclassified training images after each epoch "
                                   "(epoch 0 = initial network); NaN after divergence"},
    "test_error": {"long_name": "test error rate", "units": "1",
                   "description": "fraction of misclassified test images after each epoch"},
    "train_loss": {"long_name": "training loss", "units": "1",
                   "description": "mean softmax cross-entropy on the training set"},
    "test_loss": {"long_name": "test loss", "units": "1",
                  "description": "mean softmax cross-entropy on the test set"},
    "train_seconds": {"long_name": "training time", "units": "s",
                      "description": "wall-clock seconds of the training loop (compilation "
                                     "excluded) on the trial's worker"},
    "lr_step": {"long_name": "recorded step", "units": "1",
                "description": "minibatch step (1-based) at which the effective learning rate "
                               "was recorded"},
    "lr_min": {"long_name": "smallest step size", "units": "1",
               "description": "min over the entries of weight matrix W_layer (g != 0) of the "
                              "step size |dx/g|"},
    "lr_median": {"long_name": "median step size", "units": "1",
                  "description": "median over the entries of W_layer (g != 0) of |dx/g|"},
    "lr_max": {"long_name": "largest step size", "units": "1",
               "description": "max over the entries of W_layer (g != 0) of |dx/g|"},
    "lr_trace": {"long_name": "step size of recorded dimensions", "units": "1",
                 "description": "|dx/g| (ADADELTA: RMS[dx]_{t-1} / RMS[g]_t, all terms of Eq. 14 "
                                "except g_t) of the dimensions record_dim of W_layer"},
    "update_trace": {"long_name": "parameter update of recorded dimensions", "units": "1",
                     "description": "dx of the step just taken, dimensions record_dim of W_layer"},
    "record_dim": {"long_name": "recorded dimension", "units": "1",
                   "description": "flat index within W_layer of the recorded dimension, drawn "
                                  "at random (without replacement) from the trial's seed"},
}


def allowed() -> dict:
    """Optimizers of the ADADELTA studies and their hyperparameter names."""
    return {"sgd": ("lr",), "momentum": ("lr", "rho"), "adagrad": ("lr", "eps"),
            "adadelta": ("rho", "eps")}


@functools.lru_cache(maxsize=2)
def _mnist(dtype_name: str):
    from adaptlr.data import load_mnist

    return load_mnist(preprocess="scale", dtype=np.dtype(dtype_name))


def mnist_data(params: dict):
    """``(X_train, y_train, X_test, y_test)`` scaled to [0, 1], cut to the first n images."""
    d = _mnist(params.get("dtype", "float32"))
    Xtr, ytr, Xte, yte = d.X_train, d.y_train, d.X_test, d.y_test
    if params.get("n_train"):
        Xtr, ytr = Xtr[:int(params["n_train"])], ytr[:int(params["n_train"])]
    if params.get("n_test"):
        Xte, yte = Xte[:int(params["n_test"])], yte[:int(params["n_test"])]
    return Xtr, ytr, Xte, yte


def mnist_checksums(params: dict) -> dict:
    """SHA-256 of the decompressed MNIST files the studies read (provenance)."""
    return dict(_mnist(params.get("dtype", "float32")).checksums)


def make_optimizer(name: str, hyper: dict):
    from adaptlr.optimizers import make

    return make(name, **{k: float(v) for k, v in hyper.items()})


def curves(res) -> dict:
    """The per-epoch result variables of a TrainResult-like object, as float64."""
    return {k: (("epoch",), np.asarray(getattr(res, k), dtype=np.float64))
            for k in ("train_error", "test_error", "train_loss", "test_loss")}


def divergence(res) -> dict:
    if not res.diverged:
        return {}
    return {"diverged": True, "diverged_step": int(res.diverged_step),
            "message": f"diverged at step {int(res.diverged_step)} (non-finite minibatch loss, "
                       "parameters or evaluation loss); errors after it are NaN"}


def mlp_trial(spec: dict) -> dict:
    """One MNIST run: ``problem_params`` {activation, sizes}; ``params`` {dtype, n_train,
    n_test, record_lr_every, record_dims}; the optimizer from ``make(optimizer, **hyper)``.

    Returns per-epoch ``train_error``, ``test_error``, ``train_loss``, ``test_loss``,
    ``train_seconds``; with ``record_lr_every > 0`` also ``lr_step`` (lr_record),
    ``lr_min/median/max`` (lr_record, layer), and with ``record_dims > 0`` ``record_dim``
    (layer, dim), ``lr_trace`` and ``update_trace`` (lr_record, layer, dim).
    """
    from adaptlr.mlp import MLP, train

    pp, params = spec["problem_params"], spec["params"]
    seed = int(spec["seed"])
    dtype = np.dtype(params.get("dtype", "float32"))
    Xtr, ytr, Xte, yte = mnist_data(params)
    opt = make_optimizer(spec["optimizer"], spec["hyper"])
    net = MLP(pp.get("sizes", SIZES), activation=pp["activation"], output="softmax", l2=0.0,
              dtype=dtype, seed=seed)
    rec = int(params.get("record_lr_every", 0))
    dims = int(params.get("record_dims", 0))
    res = train(net, opt, Xtr, ytr, Xte, yte, epochs=int(spec["epochs"]),
                batch_size=int(spec["batch_size"]), seed=seed, record_lr_every=rec,
                record_dims=dims if rec and dims else None, device=spec.get("device", "cpu"))
    out = curves(res)
    out["train_seconds"] = ((), float(res.wall_time))
    if rec > 0:
        out["lr_step"] = (("lr_record",), np.asarray(res.lr_steps, dtype=np.int64))
        for k in ("lr_min", "lr_median", "lr_max"):
            out[k] = (("lr_record", "layer"), np.asarray(getattr(res, k), dtype=np.float64))
        if dims:
            out["record_dim"] = (("layer", "dim"), np.asarray(res.record_dims, dtype=np.int64))
            out["lr_trace"] = (("lr_record", "layer", "dim"),
                               np.asarray(res.lr_trace, dtype=np.float64))
            out["update_trace"] = (("lr_record", "layer", "dim"),
                                   np.asarray(res.update_trace, dtype=np.float64))
    out.update(divergence(res))
    return out


def new_figure(nrows: int, ncols: int, w: float = 5.0, h: float = 3.6):
    """A matplotlib Figure on its own Agg canvas (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h * nrows), dpi=110)
    canvas = FigureCanvasAgg(fig)
    fig.subplots(nrows, ncols, squeeze=False)
    return fig, canvas


def png_bytes(canvas) -> bytes:
    import io

    buf = io.BytesIO()
    canvas.print_png(buf)
    return buf.getvalue()


def final_errors(ds, problem: str, setting: int, scale: float = 100.0) -> np.ndarray:
    """Per-seed test error at the last epoch (percent) of one setting."""
    return ds["test_error"].sel(problem=problem).isel(setting=setting, epoch=-1).values * scale


def summary_line(values: np.ndarray) -> str:
    """``mean [95% CI low, high] (n seeds)`` of finite per-seed values, or what is missing."""
    from .stats import summarize

    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)):
        return f"{int((~np.isfinite(v)).sum())}/{v.size} seeds diverged, failed or missing"
    s = summarize(v)
    return (f"{float(s['mean']):.2f} [{float(s['ci_low']):.2f}, {float(s['ci_high']):.2f}] "
            f"({v.size} seeds)")


PUBLISHED = 2.00
DESCRIPTION = (
    "ADADELTA Sec. 4.1 (Zeiler 2012): MNIST, 784-500-300-10 tanh network, softmax "
    "cross-entropy, minibatches of 100, 6 epochs, ADADELTA rho = 0.95, eps = 1e-6 (no "
    "learning rate), 10 seeds (seed = initialisation and data order). Paper: 2.00% test "
    "error after 6 epochs (and 2.10% for Schaul et al.'s vSGD, quoted by the paper); the "
    "paper reports one run without spread or seed count, so 'reproduced' means the "
    "paper's value lies inside our 95% t prediction interval for a single run "
    "(mean +- t_{0.975,n-1} s sqrt(1 + 1/n) over our seeds). CHOICES where the paper is silent: pixels scaled to [0, 1]; "
    "Glorot-uniform initialisation (the library's); biases start at 0; no weight decay; "
    "float32; a fresh shuffle per epoch, the last incomplete minibatch dropped (60000 / 100 "
    "= 600 full minibatches, so none is dropped here). Quick form: first 2000 training / "
    "1000 test images, 2 epochs, 2 seeds: a smoke test of the pipeline, not a result.")

STUDY = Study(
    name="adadelta-sec41",
    title="ADADELTA Sec. 4.1: MNIST tanh 784-500-300-10, 6 epochs",
    paper="Zeiler (2012), ADADELTA: An Adaptive Learning Rate Method, Sec. 4.1",
    description=DESCRIPTION,
    trial=mlp_trial,
    problems={"mnist-tanh": {"activation": "tanh", "sizes": SIZES}},
    optimizers={"adadelta": {"rho": [0.95], "eps": [1e-6]}},
    seeds=tuple(range(10)),
    epochs=6,
    batch_size=100,
    params={"dtype": "float32"},
    quick={"seeds": (0, 1), "epochs": 2, "params": dict(QUICK_DATA)},
    allowed=allowed,
    variables=VARIABLES,
    tables=(Table(
        title="ADADELTA Sec. 4.1: MNIST test error after 6 epochs (tanh)",
        rows=["ADADELTA rho=0.95 eps=1e-6"], columns=["test error"],
        cells={("ADADELTA rho=0.95 eps=1e-6", "test error"):
               {"optimizer": "adadelta", "rho": 0.95, "eps": 1e-6}},
        published={("ADADELTA rho=0.95 eps=1e-6", "test error"): PUBLISHED},
        published_source="Zeiler (2012) Sec. 4.1: 2.00% (Schaul et al.'s vSGD: 2.10%)"),),
    curve_metric="test_error",
    checksums=mnist_checksums,
)


def prediction_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t prediction interval for ONE new run: ``m +- t_{n-1} s sqrt(1 + 1/n)``."""
    from scipy import stats as st

    v = np.asarray(values, dtype=float)
    n = v.size
    m, s = float(v.mean()), float(v.std(ddof=1))
    h = float(st.t.ppf(0.5 + level / 2, n - 1)) * s * np.sqrt(1 + 1 / n)
    return m - h, m + h


def verdict(values: np.ndarray, published: float) -> str:
    """'reproduced' when the paper's single run is a plausible draw from our seeds.

    The papers report one run per cell (no seeds, no spread), so the right yardstick is the
    spread of single runs, not the CI of our mean: 'reproduced' when the paper's value lies
    in our 95% prediction interval for one new run (see :func:`prediction_interval`),
    'differs (+d points)' otherwise, 'incomplete' with non-finite seeds.
    """
    v = np.asarray(values, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return "incomplete (diverged, failed or missing seeds, or a single seed)"
    lo, hi = prediction_interval(v)
    if lo <= published <= hi:
        return "reproduced"
    return f"differs ({float(v.mean()) - published:+.2f} points; PI {lo:.2f}-{hi:.2f})"


PAPER_TABLE_HEAD = ("| quantity | paper | ours: mean [95% CI] | 95% PI of one run | ours - paper "
                    "| verdict |\n|---|---|---|---|---|---|")


def paper_row(label: str, values: np.ndarray, published: float, shown: str | None = None) -> str:
    """One Markdown row: the paper's value, ours (mean, CI, prediction interval), verdict."""
    v = np.asarray(values, dtype=float)
    ok = v.size >= 2 and bool(np.all(np.isfinite(v)))
    pi = "{:.2f} - {:.2f}".format(*prediction_interval(v)) if ok else "n/a"
    diff = f"{float(v.mean()) - published:+.2f}" if ok else "n/a"
    return (f"| {label} | {shown or f'{published:.2f}'} | {summary_line(v)} | {pi} | {diff} | "
            f"{verdict(v, published)} |")


def extra_report(ds, outdir) -> list:
    """``adadelta-sec41-paper.md``: the paper's 2.00% beside our mean, CI, difference, verdict."""
    from pathlib import Path

    from . import store

    outdir = Path(outdir)
    v = final_errors(ds, "mnist-tanh", 0)
    ok = np.isfinite(v)
    lines = [f"# {STUDY.title}: paper vs ours", "", ds.attrs.get("description", DESCRIPTION), "",
             PAPER_TABLE_HEAD,
             paper_row(f"test error after {ds.sizes['epoch'] - 1} epochs [%]", v, PUBLISHED,
                       "2.00 (vSGD: 2.10)"), ""]
    if ok.any():
        lines.append("Per seed: " + ", ".join(f"{x:.2f}" for x in v[ok]) + " %.")
    if int(ds.attrs.get("quick", 0)):
        lines += ["", "**Quick form (data subset, 2 epochs): not comparable with the paper.**"]
    lines += ["", "![per-seed test error](adadelta-sec41-seeds.png)"]
    p = store.atomic_write_bytes(("\n".join(lines) + "\n").encode(),
                                 outdir / "adadelta-sec41-paper.md")
    fig, canvas = new_figure(1, 2, w=4.6, h=3.4)
    ax0, ax1 = fig.axes
    err = ds["test_error"].sel(problem="mnist-tanh").isel(setting=0).values * 100
    ep = ds["epoch"].values
    for row in err:
        ax0.plot(ep[1:], row[1:], color="0.6", lw=0.8)
    ax0.plot(ep[1:], np.nanmean(err[:, 1:], axis=0), color="C0", lw=2, label="mean over seeds")
    ax0.axhline(PUBLISHED, color="C3", ls="--", label="paper 2.00%")
    ax0.set(xlabel="epoch", ylabel="test error [%]", title="test error per epoch (seeds)")
    ax0.legend(fontsize=7)
    ax1.plot(np.zeros(ok.sum()), v[ok], "o", color="C0", alpha=0.6, label="our seeds")
    if ok.sum() >= 2:
        lo, hi = prediction_interval(v[ok])
        ax1.errorbar([0.3], [v[ok].mean()], yerr=[[v[ok].mean() - lo], [hi - v[ok].mean()]],
                     fmt="s", color="C0", capsize=4, label="mean, 95% PI of one run")
    ax1.axhline(PUBLISHED, color="C3", ls="--", label="paper (ADADELTA) 2.00%")
    ax1.axhline(2.10, color="C2", ls=":", label="paper (vSGD) 2.10%")
    ax1.set(xlim=(-0.5, 1.0), xticks=[], ylabel="test error after the last epoch [%]",
            title="final test error")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    png = store.atomic_write_bytes(png_bytes(canvas), outdir / "adadelta-sec41-seeds.png")
    return [p, png]
