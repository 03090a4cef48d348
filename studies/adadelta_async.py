"""``adadelta-async``: ADADELTA Sec. 4.4 / Figs. 3-4 (Zeiler 2012), *simulated* on MNIST.

The paper trained a speech network on a parameter server with 100 (logistic units,
Fig. 3: AdaGrad vs ADADELTA) or 200 (ReLU, Fig. 4: AdaGrad, Momentum, ADADELTA)
asynchronous replicas. The speech data is not public. This study simulates the
*setting*, not the experiment: asynchronous data-parallel training with stale gradients
(:mod:`adaptlr.mlp.async_sim`: N workers with exponential compute times, so the gradient
applied at each server step comes from a uniformly random worker and was computed on
parameters that are geometric(1/N)-many steps old, mean N - 1), on MNIST with the
784-500-300-10 network of the single-machine runs and the *same hyperparameters* as
those runs (the paper's point: ADADELTA's rho = 0.95, eps = 1e-6 need no retuning).

Problems: ReLU with N = 1 (the synchronous reference: bit-identical to ``adaptlr.mlp.train``
and so to ``adadelta-table1``'s cells), 100 and 200 replicas; logistic with N = 1 and 100.
Optimizers: AdaGrad lr = 1e-2, Momentum lr = 1e-1 (rho = 0.9), ADADELTA rho = 0.95,
eps = 1e-6 (the paper's Table 1 best settings, as in ``adadelta-fig1``), all on every problem.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import adadelta_fig1 as fig1
from . import adadelta_sec41 as base
from .spec import Study

OPTIMIZERS = {
    "adagrad": {"lr": [0.01]},
    "momentum": {"lr": [0.1], "rho": [0.9]},
    "adadelta": {"rho": [0.95], "eps": [1e-6]},
}


def _problem(act: str, n: int) -> dict:
    return {"activation": act, "sizes": base.SIZES, "replicas": n}


PROBLEMS = {
    "relu-n1": _problem("relu", 1),
    "relu-n100": _problem("relu", 100),
    "relu-n200": _problem("relu", 200),
    "logistic-n1": _problem("logistic", 1),
    "logistic-n100": _problem("logistic", 100),
}
#: which simulated problem stands for which figure of the paper
PAPER_FIGURES = {"logistic-n100": "Fig. 3 (100 replicas, logistic)",
                 "relu-n200": "Fig. 4 (200 replicas, ReLU)",
                 "relu-n100": "(not in the paper: ReLU, 100 replicas)"}

VARIABLES = {
    **{k: base.VARIABLES[k] for k in ("train_error", "test_error", "train_loss", "test_loss",
                                      "train_seconds")},
    "staleness_mean": {"long_name": "mean staleness", "units": "steps",
                       "description": "mean over the epoch's server steps of the staleness s_t "
                                      "(updates applied since the worker read its parameters); "
                                      "NaN at epoch 0"},
    "staleness_max": {"long_name": "largest staleness", "units": "steps",
                      "description": "max over the epoch's server steps of the staleness"},
    "replicas": {"long_name": "simulated replicas N", "units": "1",
                 "description": "number of asynchronous workers of the simulated parameter "
                                "server"},
}


def trial(spec: dict) -> dict:
    """One simulated asynchronous run (:func:`adaptlr.mlp.async_sim.train_async`)."""
    from adaptlr.mlp import MLP
    from adaptlr.mlp.async_sim import train_async

    pp, params = spec["problem_params"], spec["params"]
    seed = int(spec["seed"])
    Xtr, ytr, Xte, yte = base.mnist_data(params)
    opt = base.make_optimizer(spec["optimizer"], spec["hyper"])
    net = MLP(pp.get("sizes", base.SIZES), activation=pp["activation"], output="softmax",
              l2=0.0, dtype=np.dtype(params.get("dtype", "float32")), seed=seed)
    res = train_async(net, opt, Xtr, ytr, Xte, yte, replicas=int(pp["replicas"]),
                      epochs=int(spec["epochs"]), batch_size=int(spec["batch_size"]), seed=seed)
    out = base.curves(res)
    out["train_seconds"] = ((), float(res.wall_time))
    out["staleness_mean"] = (("epoch",), np.asarray(res.staleness_mean, dtype=np.float64))
    out["staleness_max"] = (("epoch",), np.asarray(res.staleness_max, dtype=np.float64))
    out["replicas"] = ((), int(pp["replicas"]))
    out.update(base.divergence(res))
    return out


DESCRIPTION = (
    "SIMULATION of ADADELTA Sec. 4.4 / Figs. 3-4 (Zeiler 2012), NOT the speech experiment "
    "(its data is not public): asynchronous data-parallel training with stale gradients on "
    "MNIST. Model (adaptlr.mlp.async_sim): a parameter server with N workers; each worker "
    "reads the parameters, computes a minibatch-100 gradient on them (minibatches taken in "
    "read order from the shuffled epochs of the single-machine runs) and sends it; the server "
    "applies each gradient on arrival with the optimizer (state on the server). Compute times "
    "are i.i.d. exponential, so each arriving gradient comes from a uniformly random worker "
    "(drawn from the seed) and its staleness is geometric with P(s) = (1/N)(1-1/N)^s, mean "
    "N-1 (the mean of N equally fast round-robin workers, with the spread of unequal speeds); "
    "CHOICE, because the paper does not describe its staleness, and uniform staleness on "
    "{0..N-1} would halve the mean. N = 1 is synchronous training, bit-identical to "
    "adaptlr.mlp.train (so relu-n1 equals adadelta-table1's cells). Network 784-500-300-10 "
    "(the paper's speech net had 4 x 2560 units and 8000 outputs), ReLU (N = 1, 100, 200; Fig. "
    "4 used 200 replicas with ReLU) and logistic units (N = 1, 100; Fig. 3 used 100 replicas "
    "with logistic units). Hyperparameters as the single-machine runs, not retuned: AdaGrad "
    "lr 1e-2, Momentum lr 1e-1 rho 0.9, ADADELTA rho 0.95 eps 1e-6. CHOICE: 6 epochs (the "
    "budget of Tables 1-2; one epoch = 600 applied updates; the N gradients in flight at the "
    "end are discarded). The paper's figures have no numbers; its statements are tested: "
    "Fig. 3 'ADADELTA initially converges faster and outperforms ADAGRAD throughout "
    "training'; Fig. 4 'ADADELTA performs well, quickly converging to the same [accuracy] as "
    "the other methods'. Diverged runs are results (stored as diverged). Quick form: first "
    "2000/1000 images, N = 1 and 10, ReLU, 2 epochs, 2 seeds: a smoke test, not a result.")

STUDY = Study(
    name="adadelta-async",
    title="ADADELTA Figs. 3-4 in simulation: stale-gradient asynchronous SGD on MNIST",
    paper="Zeiler (2012), ADADELTA: An Adaptive Learning Rate Method, Sec. 4.4, Figs. 3-4 "
          "(simulated setting, MNIST instead of speech)",
    description=DESCRIPTION,
    trial=trial,
    problems=PROBLEMS,
    optimizers=OPTIMIZERS,
    seeds=tuple(range(10)),
    epochs=6,
    batch_size=100,
    params={"dtype": "float32"},
    quick={"seeds": (0, 1), "epochs": 2, "params": dict(base.QUICK_DATA),
           "problems": {"relu-n1": _problem("relu", 1), "relu-n10": _problem("relu", 10)}},
    allowed=base.allowed,
    variables=VARIABLES,
    curve_metric="test_error",
    checksums=base.mnist_checksums,
)

LABELS = {"adagrad": "AdaGrad (lr 0.01)", "momentum": "Momentum (lr 0.1, ρ 0.9)",
          "adadelta": "ADADELTA (ρ 0.95, ε 1e-6)"}


def _reference(problem: str) -> str | None:
    act = problem.split("-")[0]
    return f"{act}-n1" if not problem.endswith("-n1") else None


def claims(ds) -> list[str]:
    """The paper's statements about Figs. 3-4, tested on the simulated problems present."""
    out = []
    probs = [str(p) for p in ds["problem"].values]
    last = ds.sizes["epoch"] - 1
    for p in probs:
        if p.endswith("-n1"):
            continue
        E = {o: fig1.errors(ds, p, o) for o in OPTIMIZERS}
        if E["adadelta"] is None or E["adagrad"] is None:
            continue
        a, g = E["adadelta"], E["adagrad"]
        fin = np.isfinite(a[:, 1:]) & np.isfinite(g[:, 1:])
        with np.errstate(invalid="ignore"):
            better = [(k + 1) for k in range(last)
                      if fin[:, k].sum() >= 2 and np.nanmean(a[:, k + 1] - g[:, k + 1]) < 0]
        ci1 = fig1._diff_ci(a[:, 1], g[:, 1])
        cil = fig1._diff_ci(a[:, -1], g[:, -1])
        out.append(
            f"{p} {PAPER_FIGURES.get(p, '')}: 'ADADELTA initially converges faster and "
            f"outperforms ADAGRAD throughout training': ADADELTA - AdaGrad after epoch 1: "
            f"{fig1.paired(a[:, 1], g[:, 1])} ({fig1._word(ci1)}); after epoch {last}: "
            f"{fig1.paired(a[:, -1], g[:, -1])} ({fig1._word(cil)}); ADADELTA's mean lower "
            f"at {len(better)}/{last} epochs.")
        others = {o: E[o][:, -1] for o in OPTIMIZERS if o != "adadelta" and E[o] is not None}
        fins = {o: float(np.mean(v)) for o, v in others.items() if np.all(np.isfinite(v))}
        div = [o for o, v in others.items() if not np.all(np.isfinite(v))]
        if fins:
            best = min(fins, key=fins.get)
            out.append(
                f"{p}: 'ADADELTA ... converging to the same [error] as the other methods': "
                f"ADADELTA - best other ({LABELS[best]}, {fins[best]:.2f}%) at epoch {last}: "
                f"{fig1.paired(a[:, -1], others[best])}"
                + (f"; diverged (some seeds): {', '.join(LABELS[o] for o in div)}" if div else "")
                + ".")
        ref = _reference(p)
        if ref in probs:
            for o in OPTIMIZERS:
                e, r = fig1.errors(ds, p, o), fig1.errors(ds, ref, o)
                if e is not None and r is not None:
                    out.append(f"{p} vs {ref} (cost of staleness), {LABELS[o]}, epoch {last}: "
                               f"{fig1.paired(e[:, -1], r[:, -1])} points.")
    return out


def figure_png(ds) -> bytes:
    probs = [str(p) for p in ds["problem"].values if not str(p).endswith("-n1")]
    ncol = max(1, len(probs))
    fig, canvas = base.new_figure(1, ncol, w=max(4.4, 7.0 / ncol), h=3.6)
    ep = ds["epoch"].values
    for ax, p in zip(fig.axes, probs):
        ref = _reference(p)
        for o in OPTIMIZERS:
            c = {"adagrad": "C2", "momentum": "C1", "adadelta": "C3"}[o]
            e = fig1.errors(ds, p, o)
            if e is not None:
                fig1.band(ax, ep[1:], e[:, 1:], LABELS[o], c)
            if ref in ds["problem"].values:
                r = fig1.errors(ds, ref, o)
                if r is not None:
                    fig1.band(ax, ep[1:], r[:, 1:], f"{o}, N=1", c, ls=":")
        n = ds["replicas"].sel(problem=p).values if "replicas" in ds else np.array([np.nan])
        n = f"{int(np.nanmax(n))}" if np.isfinite(n).any() else "?"
        ax.set(xlabel="epoch (n_train / 100 applied updates)", ylabel="test error [%]",
               title=f"{p}: N = {n} {PAPER_FIGURES.get(p, '')}")
        ax.title.set_fontsize(7)
        ax.set_yscale("log")
        ax.legend(fontsize=5)
    fig.suptitle("SIMULATED asynchronous SGD (stale gradients) on MNIST, not the speech data; "
                 "dotted: N = 1", fontsize=8)
    fig.tight_layout()
    return base.png_bytes(canvas)


def extra_report(ds, outdir) -> list:
    """``adadelta-async.png`` (one panel per simulated replica count) and
    ``adadelta-async-paper.md`` (final errors, staleness measured, the claims tested)."""
    from . import store

    outdir = Path(outdir)
    png = store.atomic_write_bytes(figure_png(ds), outdir / "adadelta-async.png")
    last = ds.sizes["epoch"] - 1
    lines = [f"# {STUDY.title}", "", "**This is a simulation of the asynchronous setting on "
             "MNIST, not the paper's speech experiment.**", "",
             ds.attrs.get("description", DESCRIPTION), "", "![async](adadelta-async.png)", "",
             f"Test error after epoch {last} [%], mean [95% CI] over seeds; measured staleness "
             "(mean over all steps and seeds / largest):", "",
             "| problem | staleness mean / max | " + " | ".join(LABELS[o] for o in OPTIMIZERS)
             + " |", "|---|---|" + "---|" * len(OPTIMIZERS)]
    for p in ds["problem"].values:
        p = str(p)
        sm = ds["staleness_mean"].sel(problem=p).values if "staleness_mean" in ds else None
        sx = ds["staleness_max"].sel(problem=p).values if "staleness_max" in ds else None
        stale = (f"{np.nanmean(sm):.1f} / {np.nanmax(sx):.0f}"
                 if sm is not None and np.isfinite(sm).any() else "n/a")
        cells = []
        for o in OPTIMIZERS:
            e = fig1.errors(ds, p, o)
            cells.append(base.summary_line(e[:, -1]) if e is not None else "-")
        lines.append(f"| {p} | {stale} | " + " | ".join(cells) + " |")
    lines += ["", "## The paper's statements (Sec. 4.4), tested in the simulation", ""]
    lines += [f"- {c}" for c in claims(ds)] or ["- (no asynchronous problem in this run)"]
    if int(ds.attrs.get("quick", 0)):
        lines += ["", "**Quick form (data subset, N = 10, 2 epochs, 2 seeds): not a result.**"]
    md = store.atomic_write_bytes(("\n".join(lines) + "\n").encode(),
                                  outdir / "adadelta-async-paper.md")
    return [md, png]
