"""``adadelta-fig2``: ADADELTA Fig. 2 (Zeiler 2012, Sec. 4.3): step sizes and parameter updates.

MNIST, tanh 784-500-300-10, ADADELTA rho = 0.95, eps = 1e-6, minibatch 100, 25 epochs;
every 60 minibatches the step sizes ("effective learning rates, all terms except g_t from
Eq. 14"), i.e. ``|dx_t / g_t| = RMS[dx]_{t-1} / RMS[g]_t`` and the updates ``dx_t`` of 10
random dimensions of each of the 3 weight matrices (:func:`adaptlr.mlp.train` with
``record_lr_every=60, record_dims=10``), plus min / median / max over *all* entries of
each weight matrix. 10 seeds (the paper shows one run; seed 0 is drawn like the paper,
all seeds test the claims).

Claims checked (Sec. 4.3): (1) "the step sizes ... are larger for the lower layers of the
network and much smaller for the top layer at the beginning of training"; (2) "near the
end of training these step sizes converge to 1"; (3) "the parameter updates ... tend
towards zero".
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import adadelta_sec41 as base
from .spec import Study

RECORD_EVERY = 60
N_DIMS = 10
LAYER_NAMES = ("W0 (784x500)", "W1 (500x300)", "W2 (300x10)")


def steps_per_epoch(ds) -> int:
    """Minibatches per epoch of the run stored in ``ds`` (from its spec attribute)."""
    try:
        spec = json.loads(ds.attrs["spec"])
        n = int(spec["params"].get("n_train") or 60000)
        return n // int(spec["batch_size"])
    except (KeyError, ValueError, TypeError):
        return 600


def _geo(x, axis=None):
    import warnings

    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN slices give NaN
        return np.exp(np.nanmean(np.log(x), axis=axis))


def step_size_summary(ds, problem: str = "mnist-tanh") -> dict:
    """Per-seed, per-layer measures of the claims (arrays (seeds, layers)).

    ``early``: median step size over all weights of the layer (``lr_median``), geometric
    mean over the records of the first epoch; ``first``: the same at the first record;
    ``late``: geometric mean of ``lr_median`` over the records of the last epoch;
    ``late_dims_near1``: fraction of the recorded dimensions whose step size in the last
    epoch (geometric mean over its records) lies in [0.5, 2]; ``late_dims``: that
    geometric mean per dimension (seeds, layers, dims); ``upd_early`` / ``upd_late``:
    median |dx| of the recorded dimensions over the first / last epoch's records.
    """
    med = ds["lr_median"].sel(problem=problem).isel(setting=0).values   # seed, rec, layer
    steps = ds["lr_step"].sel(problem=problem).isel(setting=0).values   # seed, rec
    spe = steps_per_epoch(ds)
    last_epoch = ds.sizes["epoch"] - 1
    rec_epoch = np.ceil(steps[0] / spe)          # epoch each record belongs to (1-based)
    first = rec_epoch == 1
    late = rec_epoch == last_epoch
    out = {"first": med[:, 0, :], "early": _geo(med[:, first, :], axis=1),
           "late": _geo(med[:, late, :], axis=1), "records_early": int(first.sum()),
           "records_late": int(late.sum()), "last_epoch": last_epoch,
           "first_step": int(steps[0, 0])}
    if "lr_trace" in ds:
        tr = ds["lr_trace"].sel(problem=problem).isel(setting=0).values  # seed, rec, layer, dim
        up = np.abs(ds["update_trace"].sel(problem=problem).isel(setting=0).values)
        ld = _geo(tr[:, late], axis=1)                                   # seed, layer, dim
        out["late_dims"] = ld
        ok = np.isfinite(ld)
        out["late_dims_near1"] = np.where(ok.sum(axis=2) > 0,
                                          ((ld >= 0.5) & (ld <= 2.0)).sum(axis=2)
                                          / np.maximum(ok.sum(axis=2), 1), np.nan)
        out["late_dims_undefined"] = (~ok).sum(axis=2)
        def per_layer(sel):      # (seed, rec, layer, dim) -> (seed, layer) median over rec, dim
            u = up[:, sel].transpose(0, 2, 1, 3)
            with np.errstate(all="ignore"):
                return np.nanmedian(u.reshape(u.shape[0], u.shape[1], -1), axis=2)

        out["upd_early"] = per_layer(first)
        out["upd_late"] = per_layer(late)
    return out


def _ci(x):
    from .stats import summarize

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return f"{x.mean():.3g} (n={x.size})" if x.size else "n/a"
    s = summarize(x)
    return f"{float(s['mean']):.3g} [{float(s['ci_low']):.3g}, {float(s['ci_high']):.3g}]"


def claims(ds, problem: str = "mnist-tanh") -> list[str]:
    """The paper's three statements (module docstring), each measured with a verdict."""
    from .stats import summarize

    s = step_size_summary(ds, problem)
    L = s["early"].shape[1]
    out = []
    early = s["early"]
    order = np.all(np.diff(early, axis=1) < 0, axis=1)           # layer 0 > 1 > 2 per seed
    ratios = np.log10(early[:, :-1] / early[:, 1:])
    out.append(
        "(1) Early (first epoch, geometric mean over its " f"{s['records_early']} records of the "
        "median step size over all weights of each layer; mean [95% CI] over seeds): "
        + "; ".join(f"{LAYER_NAMES[k]}: {_ci(early[:, k])}" for k in range(L))
        + f". Strictly decreasing from the bottom to the top layer in {int(order.sum())}/"
        f"{order.size} seeds; log10 ratio lower/upper: "
        + ", ".join(f"W{k}/W{k + 1}: {_ci(ratios[:, k])}" for k in range(L - 1))
        + f". At the first record (step {s['first_step']}): "
        + "; ".join(f"W{k}: {_ci(s['first'][:, k])}" for k in range(L)) + ". Verdict: "
        + ("supported" if order.all() else "partly supported" if order.any() else
           "not supported") + ".")
    late = s["late"]
    near = np.all((late >= 0.5) & (late <= 2.0), axis=1)
    txt = (f"(2) Late (epoch {s['last_epoch']}, {s['records_late']} records): median step size "
           "over all weights: " + "; ".join(f"{LAYER_NAMES[k]}: {_ci(late[:, k])}"
                                            for k in range(L))
           + f"; all layers within [0.5, 2] in {int(near.sum())}/{near.size} seeds.")
    if "late_dims_near1" in s:
        txt += (" Recorded dimensions with step size in [0.5, 2] (fraction per layer, mean over "
                "seeds): " + ", ".join(f"W{k}: {np.nanmean(s['late_dims_near1'][:, k]):.2f}"
                                       for k in range(L))
                + "; dimensions with g = 0 at every late record (step size |dx/g| undefined, "
                "e.g. always-blank pixels; in the paper's RMS form these are exactly 1): "
                + ", ".join(f"W{k}: {int(s['late_dims_undefined'][:, k].sum())}"
                            for k in range(L)) + " over all seeds.")
    txt += " Verdict: " + ("supported" if near.all() else "partly supported" if near.any()
                           else "not supported (measured values above)") + "."
    out.append(txt)
    if "upd_early" in s:
        r = s["upd_late"] / s["upd_early"]
        lr = np.log10(r)
        hi = []
        for k in range(L):
            x = lr[:, k][np.isfinite(lr[:, k])]
            hi.append(float(summarize(x)["ci_high"]) if x.size >= 2 else np.nan)
        hi = np.array(hi)
        verdict = ("supported (the 95% CI of the ratio is below 1 in every layer)"
                   if np.all(hi < 0) else
                   "a tendency only (mean ratio below 1 in every layer, CI not)"
                   if np.all(np.nanmean(lr, axis=0) < 0) else "not supported in every layer")
        out.append("(3) Median |dx| of the recorded dimensions, last epoch / first epoch (mean "
                   "[95% CI] over seeds): " + "; ".join(f"W{k}: {_ci(r[:, k])}" for k in range(L))
                   + f". Verdict: {verdict}.")
    return out


def figure_png(ds, problem: str = "mnist-tanh", seed_index: int = 0) -> bytes:
    """The paper's layout: left step sizes, right updates, one row per weight matrix (one
    seed), plus a bottom row with the median over all weights (mean over seeds, min-max of
    the seeds shaded)."""
    spe = steps_per_epoch(ds)
    d = ds.sel(problem=problem).isel(setting=0)
    x = d["lr_step"].values[seed_index] / spe
    L = d.sizes["layer"]
    fig, canvas = base.new_figure(L + 1, 2, w=5.0, h=2.2)
    axes = np.array(fig.axes).reshape(L + 1, 2)
    tr = d["lr_trace"].values[seed_index] if "lr_trace" in d else None
    up = d["update_trace"].values[seed_index] if "update_trace" in d else None
    for k in range(L):
        if tr is not None:
            axes[k, 0].plot(x, tr[:, k, :], lw=0.7)
            axes[k, 1].plot(x, up[:, k, :], lw=0.7)
        axes[k, 0].set_yscale("log")
        axes[k, 0].axhline(1.0, color="k", ls=":", lw=0.8)
        axes[k, 0].set_ylabel(f"{LAYER_NAMES[k]}\nstep size", fontsize=7)
        axes[k, 1].set_ylabel("update dx", fontsize=7)
    axes[0, 0].set_title(f"step sizes |dx/g| of {N_DIMS} random dims (seed {int(d.seed[seed_index])})",
                         fontsize=8)
    axes[0, 1].set_title("parameter updates dx of the same dims", fontsize=8)
    med = d["lr_median"].values        # seed, rec, layer
    for k in range(L):
        g = _geo(med[:, :, k], axis=0)
        axes[L, 0].plot(x, g, color=f"C{k}", label=LAYER_NAMES[k])
        axes[L, 0].fill_between(x, np.nanmin(med[:, :, k], axis=0), np.nanmax(med[:, :, k], axis=0),
                                color=f"C{k}", alpha=0.2, lw=0)
        axes[L, 1].plot(x, d["lr_max"].values[seed_index, :, k], color=f"C{k}", ls="--", lw=0.8)
        axes[L, 1].plot(x, d["lr_min"].values[seed_index, :, k], color=f"C{k}", ls=":", lw=0.8)
    axes[L, 0].set_yscale("log")
    axes[L, 0].axhline(1.0, color="k", ls=":", lw=0.8)
    axes[L, 0].set_ylabel("median step size\n(all weights)", fontsize=7)
    axes[L, 0].legend(fontsize=6)
    axes[L, 1].set_yscale("log")
    axes[L, 1].set_ylabel("max (--) / min (:)\nstep size", fontsize=7)
    for ax in axes[L]:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    return base.png_bytes(canvas)


DESCRIPTION = (
    "ADADELTA Fig. 2 (Zeiler 2012, Sec. 4.3): MNIST, tanh 784-500-300-10, ADADELTA rho = 0.95, "
    "eps = 1e-6, minibatch 100, 25 epochs, 10 seeds. Every 60 minibatches: step size |dx/g| "
    "(= RMS[dx]_{t-1}/RMS[g]_t, 'all terms except g_t from Eq. 14') and update dx of 10 random "
    "dimensions of each weight matrix (drawn from the trial's seed), and min/median/max of "
    "|dx/g| over all entries of each weight matrix with g != 0. The paper shows one run and "
    "no numbers; its claims are measured: (1) step sizes larger for lower layers early "
    "(first epoch), (2) step sizes tending to 1 late (last epoch; 'near 1' read as within "
    "[0.5, 2]), (3) updates tending to zero. CHOICE: entries with g = 0 at a record have no "
    "|dx/g| (NaN; in the RMS form they are exactly 1 when both averages are 0, e.g. blank "
    "border pixels); they are counted and reported. CHOICE: float64 (unlike the other "
    "ADADELTA studies): the library measures dx as theta_new - theta_old, and in float32 an "
    "update below half an ulp of its weight rounds to 0, which would bias the late step sizes "
    "(the quantity the claims are about). Otherwise the same data/model choices as "
    "adadelta-sec41. Quick form: first 2000/1000 images, 2 epochs, record every 5 steps, 2 "
    "seeds: a smoke test, not a result.")

STUDY = Study(
    name="adadelta-fig2",
    title="ADADELTA Fig. 2: step sizes and parameter updates per layer (tanh, 25 epochs)",
    paper="Zeiler (2012), ADADELTA: An Adaptive Learning Rate Method, Fig. 2 and Sec. 4.3",
    description=DESCRIPTION,
    trial=base.mlp_trial,
    problems={"mnist-tanh": {"activation": "tanh", "sizes": base.SIZES}},
    optimizers={"adadelta": {"rho": [0.95], "eps": [1e-6]}},
    seeds=tuple(range(10)),
    epochs=25,
    batch_size=100,
    params={"dtype": "float64", "record_lr_every": RECORD_EVERY, "record_dims": N_DIMS},
    quick={"seeds": (0, 1), "epochs": 2,
           "params": {**base.QUICK_DATA, "record_lr_every": 5}},
    allowed=base.allowed,
    variables=base.VARIABLES,
    curve_metric="test_error",
    checksums=base.mnist_checksums,
)


def extra_report(ds, outdir) -> list:
    """``adadelta-fig2.png`` (the figure) and ``adadelta-fig2-paper.md`` (claims measured)."""
    from . import store

    outdir = Path(outdir)
    png = store.atomic_write_bytes(figure_png(ds), outdir / "adadelta-fig2.png")
    lines = [f"# {STUDY.title}: paper vs ours", "", ds.attrs.get("description", DESCRIPTION), "",
             "![Fig. 2](adadelta-fig2.png)", "", "## The paper's statements, measured", ""]
    lines += [f"- {c}" for c in claims(ds)]
    err = ds["test_error"].sel(problem="mnist-tanh").isel(setting=0).values * 100
    lines += ["", f"Test error after {ds.sizes['epoch'] - 1} epochs: {base.summary_line(err[:, -1])} %"
              + (f"; after 6 epochs: {base.summary_line(err[:, 6])} % (paper Sec. 4.1: 2.00%)"
                 if ds.sizes["epoch"] > 6 else "") + "."]
    if int(ds.attrs.get("quick", 0)):
        lines += ["", "**Quick form (data subset, 2 epochs): not comparable with the paper.**"]
    md = store.atomic_write_bytes(("\n".join(lines) + "\n").encode(),
                                  outdir / "adadelta-fig2-paper.md")
    return [md, png]
