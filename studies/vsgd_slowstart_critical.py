"""``vsgd-slowstart-critical``: the critical slow-start constant C (vSGD supplement Fig. 9).

For problems of widely varying dimension d (M0, M1, M2 and XOR MLPs [2, H, 2] with
H = 2 ... 10^5), vSGD-l is run for one epoch with C on a log grid; a run is *unstable*
when it diverges (non-finite loss or parameters) or ends the epoch with a higher
training loss than it started with. The critical C of a problem is the smallest C of the
grid from which on (it and every larger C) fewer than 10% of the runs are unstable; the
figure plots it against d with the paper's rule of thumb C = d/10.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import vsgd_benchmarks as B
from .spec import Study
from .vsgd_tables import VARIABLES as TABLE_VARIABLES

C_GRID = [10.0 ** k for k in range(-2, 7)]
XOR_HIDDEN = (2, 10, 100, 1000, 10000, 100000)


def xor_problem(h: int) -> dict:
    return {"dataset": "xor", "sizes": [2, int(h), 2], "output": "softmax",
            "n_train": 10000, "n_test": 2000}


PROBLEMS = {**{p: B.PROBLEMS[p] for p in B.MNIST_PROBLEMS},
            **{f"XOR-{h}": xor_problem(h) for h in XOR_HIDDEN}}


def trial(spec: dict) -> dict:
    """:func:`studies.vsgd_benchmarks.mlp_trial` plus the ``unstable`` flag."""
    out = B.mlp_trial(spec)
    loss = out["train_loss"][1]
    unstable = bool(out.get("diverged", False)) or not (np.isfinite(loss[-1])
                                                        and loss[-1] <= loss[0])
    out["unstable"] = ((), np.int8(unstable))
    return out


VARIABLES = dict(TABLE_VARIABLES)
VARIABLES["unstable"] = {
    "long_name": "unstable run", "units": "1",
    "description": "1 if training diverged (non-finite loss/parameters) or the training loss "
                   "after the last epoch is not below the initial one, else 0"}

DESCRIPTION = (
    "Supplement Fig. 9 of Schaul, Zhang & LeCun (2013): the critical value of the slow-start "
    "constant C below which vSGD-l is unstable, vs the problem dimension d, for M0, M1, M2 "
    f"(MNIST) and XOR MLPs [2, H, 2] with H in {list(XOR_HIDDEN)} (d = 5H + 2). "
    f"C in {C_GRID}, 10 seeds, 1 epoch, n0 = 0.001 x #traindata. CHOICE (the paper's XOR "
    "task is not specified): inputs uniform in [-1, 1]^2, label [x1 x2 > 0], 10,000 "
    "training / 2,000 test points drawn from the seed, tanh hidden layer, softmax output, "
    "L2 1e-4; H up to 1e5 (the paper: up to 5e5). CHOICE (definition of unstable; the "
    "paper says 'too large initial steps'): a run is unstable if it diverges or its "
    "training loss after the epoch is not below its initial loss. CHOICE (critical C): "
    "the paper's caption defines it as 'the largest C for which at least 10% of the runs "
    "are unstable'; we report the smallest grid C from which on (it and all larger C) "
    "fewer than 10% of the runs are unstable (one grid step above the caption's value when "
    "instability is monotone in C). Same networks and other choices as vsgd-tables "
    "(batch size 1, float64). Quick form (vSGD n0 floored at 10 samples, see vsgd_benchmarks.make_optimizer): M0 on 300 training images, XOR-2 and XOR-10 "
    "(300 points), C in {1e-2, 1, 1e2}, 2 seeds.")

STUDY = Study(
    name="vsgd-slowstart-critical",
    title="vSGD supplement Fig. 9: critical slow-start constant C vs problem dimension",
    paper="Schaul, Zhang & LeCun (2013), supplementary Fig. 9",
    description=DESCRIPTION,
    trial=trial,
    problems=PROBLEMS,
    optimizers={"vsgd-l": {"C": C_GRID}},
    seeds=tuple(range(10)),
    epochs=1,
    batch_size=1,
    params={"dtype": "float64", "l2": 1e-4},
    quick={"problems": {"M0": B.PROBLEMS["M0"],
                        "XOR-2": {**xor_problem(2), "n_train": 300, "n_test": 300},
                        "XOR-10": {**xor_problem(10), "n_train": 300, "n_test": 300}},
           "seeds": (0, 1), "params": {"n0_min": 10, "n_train": 300, "n_test": 300},
           "optimizers": {"vsgd-l": {"C": [1e-2, 1.0, 1e2]}}},
    allowed=B.allowed_hyper,
    variables=VARIABLES,
    curve_metric="train_error",
)


def critical_c(ds) -> dict:
    """``{problem: (d, critical C or NaN, fractions unstable per C)}`` (see module docstring).

    NaN when even the largest C of the grid has >= 10% unstable runs; trials that are not
    ``ok``/``diverged`` (failed, missing) are left out of the fractions.
    """
    C = ds["C"].values.astype(float)
    order = np.argsort(C)
    out = {}
    for p in ds["problem"].values:
        sub = ds.sel(problem=p)
        st = sub["status"].values
        done = (st == "ok") | (st == "diverged")
        uns = np.where(done, np.nan_to_num(sub["unstable"].values, nan=1.0), 0.0)
        n = done.sum(axis=1)
        with np.errstate(invalid="ignore"):
            frac = np.where(n > 0, uns.sum(axis=1) / np.maximum(n, 1), np.nan)
        d = float(np.nanmax(sub["n_params"].values)) if np.isfinite(
            sub["n_params"].values).any() else np.nan
        crit = np.nan
        fo = frac[order]
        for k in range(len(order)):
            if np.all(np.isfinite(fo[k:])) and np.all(fo[k:] < 0.1):
                crit = float(C[order][k])
                break
        out[str(p)] = (d, crit, dict(zip(C[order].tolist(), fo.tolist())))
    return out


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-critical-fig9.png`` (critical C vs d, log-log, C = d/10 dotted) and
    ``vsgd-slowstart-critical.md`` (fraction of unstable runs per problem and C)."""
    from .vsgd_plotting import canvas, save, write_text

    outdir = Path(outdir)
    res = critical_c(ds)
    fig = canvas(1, 1, 5.5, 4.5)
    ax = fig.subplots()
    ds_ = np.array([v[0] for v in res.values()])
    for name, (d, crit, _) in res.items():
        if np.isfinite(d) and np.isfinite(crit):
            mk = "*" if name.startswith("XOR") else "o"
            ax.scatter([d], [crit], marker=mk, s=80 if mk == "*" else 40,
                       color="tab:green" if mk == "*" else "tab:red")
            ax.annotate(name, (d, crit), fontsize=7, xytext=(3, 3), textcoords="offset points")
    fin = ds_[np.isfinite(ds_)]
    if fin.size:
        x = np.geomspace(fin.min() / 2, fin.max() * 2, 10)
        ax.plot(x, x / 10, "k:", label="C = d/10 (paper's rule of thumb)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("problem dimension d")
    ax.set_ylabel("critical C (smallest grid C with < 10% unstable runs)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    Cs = sorted(next(iter(res.values()))[2]) if res else []
    lines = ["# vsgd-slowstart-critical: fraction of unstable vSGD-l runs", "",
             f"{ds.sizes['seed']} seed(s) per cell; unstable = diverged or training loss not "
             "decreased over the run.", "",
             "| problem | d | " + " | ".join(f"C={c:g}" for c in Cs) + " | critical C | d/10 |",
             "|---|---|" + "---|" * (len(Cs) + 2)]
    for name, (d, crit, fr) in res.items():
        lines.append(f"| {name} | {d:.0f} | " + " | ".join(
            "n/a" if not np.isfinite(fr[c]) else f"{fr[c]:.0%}" for c in Cs)
            + f" | {crit:g} | {d / 10:g} |")
    return [save(fig, outdir / "vsgd-slowstart-critical-fig9.png"),
            write_text("\n".join(lines) + "\n", outdir / "vsgd-slowstart-critical.md")]
