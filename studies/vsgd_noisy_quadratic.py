"""Drivers and the trial shared by the vSGD noisy-quadratic studies (not a study itself).

Studies: ``vsgd-quadratic-1d`` (supplement Fig. 1), ``vsgd-quadratic-2d`` (supplement
Fig. 2), ``vsgd-nonstationary`` (main paper Fig. 2). The problems, the sample stream, the
SGD/oracle runner and the oracle rates come from :mod:`adaptlr.data.quadratic`; vSGD runs
through ``adaptlr.optimizers.make("vsgd-l", ...)``'s raw kernel.

One trial = one method on ``R`` independent runs of ``T`` online steps, all runs drawn
from the trial's seed (``SampleStream(problem, R, seed)``: every method sees the *same*
samples for the same seed: common random numbers). Methods (the engine's "optimizers"):

``sgd(eta0, decay)``
    online SGD with ``eta_t = eta0 / t**decay``, ``t = 1, 2, ...`` (``decay=0``: fixed
    rate; ``decay=1``: the supplement's ``1/t`` and ``0.2/t`` cooling schedules), Eq. 4.
``vsgd-l(n0, C)``
    vSGD-l (Algorithm 1) with the exact curvature ``h`` as the bbprop sample (bbprop of a
    quadratic is exact) and one sample per step (``nbatch = 1``). The R runs x d
    dimensions are one flat parameter vector of ``R*d`` elements and *one* kernel call per
    step updates all runs: this is valid because vSGD-l is element-wise (every element has
    its own g, v, h, tau; nothing couples elements). ``C`` must be given explicitly: the
    library's default ``C = d/10`` would take ``d = R*d``, the flat length.
``oracle()``
    the greedy optimal rate of Eq. 5 with the true ``theta*``, ``h``, ``sigma`` per
    dimension (in 1-D identical to the global Eq. 6).

Recorded per trial (dims ``step`` = 0..T, ``dim`` = 0..d-1): quantiles over the R runs of
the expected loss ``J(theta_t)`` (Eq. 2, w.r.t. the optimum in force at step t) and of the
learning rate applied at step t (NaN at the last index T: no update follows), the time
average of the loss, the optimum per step, and the trajectory of run 0.
"""
from __future__ import annotations

import numpy as np

#: line colours of the SGD settings (red is vSGD's, black the oracle's, as in the paper)
SGD_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:cyan")
#: quantiles over the R runs stored per step (few, to keep the committed results small)
QUANTILES = {"q25": 0.25, "median": 0.50, "q75": 0.75}


def allowed() -> dict:
    """Methods of the quadratic studies and their hyperparameter names."""
    return {"sgd": ("eta0", "decay"), "vsgd-l": ("n0", "C"), "oracle": ()}


def problem_params(problem, theta0) -> dict:
    """JSON-able problem description from an :class:`adaptlr.data.quadratic.NoisyQuadratic`."""
    return {"h": [float(v) for v in problem.h], "sigma": [float(v) for v in problem.sigma],
            "theta_star": [float(v) for v in problem.theta_star],
            "theta0": [float(v) for v in np.broadcast_to(np.asarray(theta0, float), problem.h.shape)],
            "jump_every": int(problem.jump_every),
            "jump_scale": [float(v) for v in problem.jump_scale]}


def build_problem(pp: dict):
    from adaptlr.data.quadratic import make_quadratic

    prob = make_quadratic(h=pp["h"], sigma=pp["sigma"], theta_star=pp["theta_star"],
                          jump_every=int(pp.get("jump_every", 0)),
                          jump_scale=pp.get("jump_scale", 1.0))
    return prob, np.asarray(pp["theta0"], dtype=np.float64)


def run_vsgd_l(problem, theta0, steps: int, runs: int, seed: int, n0: int, C: float):
    """vSGD-l on ``runs`` independent runs, all in one flat kernel call per step.

    Returns ``(loss (T+1, R), rates (T, R, d), theta_star (T+1, d), path (T+1, d) of run 0,
    final theta (R, d))``, with the conventions of :func:`adaptlr.data.quadratic.run_sgd`.
    """
    from adaptlr.data.quadratic import SampleStream, expected_loss
    from adaptlr.optimizers import make

    opt = make("vsgd-l", n0=int(n0), C=float(C))
    stream = SampleStream(problem, runs, seed)
    d = problem.d
    theta = np.ascontiguousarray(np.broadcast_to(theta0, (runs, d)), dtype=np.float64).copy()
    x = theta.reshape(-1)  # a view: the kernel updates theta in place
    n = x.shape[0]
    offsets = np.array([0, n], dtype=np.int64)
    st, sc = opt.init_flat(n, offsets, np.float64)
    curv = np.ascontiguousarray(np.tile(problem.h, runs))
    empty = np.empty(0, dtype=np.float64)
    eta_row = opt.slots.index("eta")  # vsgd-l keeps the rate of the last step
    loss = np.empty((steps + 1, runs))
    rates = np.empty((steps, runs, d))
    ts_rec = np.empty((steps + 1, d))
    path = np.empty((steps + 1, d))
    for t in range(steps):
        g, ts = stream.gradient(theta)
        ts_rec[t] = ts
        loss[t] = expected_loss(problem, theta, ts)
        path[t] = theta[0]
        opt.step_flat(x, np.ascontiguousarray(g).reshape(-1), curv, empty, empty, st, sc,
                      offsets, opt.hyper, t + 1, 1)
        rates[t] = st[eta_row].reshape(runs, d)
    ts_rec[steps] = stream.optimum(steps)
    loss[steps] = expected_loss(problem, theta, ts_rec[steps])
    path[steps] = theta[0]
    return loss, rates, ts_rec, path, theta


def run_method(spec: dict):
    """Run the trial's method; returns ``(loss, rates, theta_star, path)``."""
    from adaptlr.data.quadratic import run_sgd

    prob, theta0 = build_problem(spec["problem_params"])
    p = spec["params"]
    steps, runs, seed = int(p["steps"]), int(p["runs"]), int(spec["seed"])
    hp = spec["hyper"]
    opt = spec["optimizer"]
    if opt == "vsgd-l":
        loss, rates, ts, path, _ = run_vsgd_l(prob, theta0, steps, runs, seed,
                                              int(hp["n0"]), float(hp["C"]))
        return loss, rates, ts, path
    if opt == "sgd":
        t = np.arange(1, steps + 1, dtype=np.float64)
        rule = float(hp["eta0"]) / t ** float(hp.get("decay", 0.0))
    elif opt == "oracle":
        rule = "oracle-local"
    else:
        raise ValueError(f"unknown method {opt!r}; allowed: {sorted(allowed())}")
    r = run_sgd(prob, rule, steps, theta0, runs=runs, seed=seed, record_theta=True)
    return r.loss, r.rates, r.theta_star, r.theta[:, 0, :]


def trial(spec: dict) -> dict:
    """One method on R runs: loss/rate quantiles per step, time-averaged loss, run 0's path."""
    loss, rates, ts, path = run_method(spec)
    T, R, d = rates.shape
    out = {}
    with np.errstate(all="ignore"):
        for name, q in QUANTILES.items():
            out[f"loss_{name}"] = (("step",), np.quantile(loss, q, axis=1))
            lr = np.full((T + 1, d), np.nan)
            lr[:T] = np.quantile(rates, q, axis=1)
            out[f"lr_{name}"] = (("step", "dim"), lr)
        out["loss_mean"] = (("step",), loss.mean(axis=1))
        finite = np.isfinite(loss)
        out["loss_time_mean"] = ((), float(loss.mean()) if finite.all() else np.nan)
        out["loss_final_median"] = ((), float(np.median(loss[-1])))
    prob, _ = build_problem(spec["problem_params"])
    out["loss_floor"] = ((), float(0.5 * np.sum(prob.h * prob.sigma ** 2)))
    out["n_runs"] = ((), np.int64(R))
    out["theta_star"] = (("step", "dim"), ts)
    out["path"] = (("step", "dim"), path)
    if not finite.all():
        bad = int(np.argmax(~finite.all(axis=1)))
        out["diverged"] = True
        out["diverged_step"] = bad
        out["message"] = (f"{int((~finite.any(axis=0)).sum())} of {R} runs reached a non-finite "
                          f"loss; first at step {bad}")
    return out


VARIABLES = {}
for _n, _q in QUANTILES.items():
    _w = "median" if _n == "median" else f"{int(_q * 100)}% quantile"
    VARIABLES[f"loss_{_n}"] = {
        "long_name": f"expected loss, {_w} over runs", "units": "1",
        "description": f"{_w} over the R runs of J(theta_t) = 1/2 sum_i h_i [(theta_i - "
                       "theta*_i)^2 + sigma_i^2] (vSGD Eq. 2) before update t+1; step 0 = start"}
    VARIABLES[f"lr_{_n}"] = {
        "long_name": f"learning rate, {_w} over runs", "units": "1",
        "description": f"{_w} over the R runs of the rate applied in dimension dim at update "
                       "t+1 (vSGD-l: its eta_i, 0 during the slow start; NaN at the last step)"}
VARIABLES.update({
    "loss_mean": {"long_name": "expected loss, mean over runs", "units": "1",
                  "description": "mean over the R runs of J(theta_t)"},
    "loss_time_mean": {"long_name": "time-averaged expected loss", "units": "1",
                       "description": "mean over all steps 0..T and all runs of J(theta_t)"},
    "loss_final_median": {"long_name": "final expected loss, median over runs", "units": "1",
                          "description": "median over the R runs of J(theta_T)"},
    "loss_floor": {"long_name": "minimum expected loss J*", "units": "1",
                   "description": "1/2 sum_i h_i sigma_i^2, the loss at the optimum"},
    "n_runs": {"long_name": "number of runs R", "units": "1",
               "description": "independent runs per trial (quantiles are over these)"},
    "theta_star": {"long_name": "optimum in force", "units": "1",
                   "description": "theta* at each step (jumps in the non-stationary problem)"},
    "path": {"long_name": "trajectory of run 0", "units": "1",
             "description": "theta_t of the first of the R runs (same samples for every method)"},
})


def selector(label: str) -> dict:
    """Table cell selector from a setting label: ``"sgd(decay=1,eta0=0.2)"`` ->
    ``{"optimizer": "sgd", "decay": 1.0, "eta0": 0.2}``."""
    opt, inner = label.split("(", 1)
    sel = {"optimizer": opt}
    for part in filter(None, inner.rstrip(")").split(",")):
        k, v = part.split("=")
        sel[k] = float(v)
    return sel


#: the two loss tables of the quadratic studies: (title, column, metric)
LOSS_TABLES = {
    "final": ("Final expected loss J(theta_T), median over runs", "final loss",
              "loss_final_median"),
    "time": ("Time-averaged expected loss (mean over steps and runs)", "time-averaged loss",
             "loss_time_mean"),
}


def loss_table(kind: str, labels, title: str | None = None, **extra):
    """One :class:`studies.spec.Table` of :data:`LOSS_TABLES` over the setting ``labels``."""
    from .spec import Table

    default_title, column, metric = LOSS_TABLES[kind]
    rows = list(labels)
    return Table(title=title or default_title, rows=rows, columns=[column],
                 cells={(r, column): selector(r) for r in rows}, metric=metric, scale=1.0,
                 unit="", **extra)


def quadratic_study(*, name: str, title: str, paper: str, description: str, problem: tuple,
                    optimizers: dict, steps: int, runs: int, quick_params: dict, tables: tuple):
    """The :class:`studies.spec.Study` of a noisy-quadratic study (10 seeds, quick: 2)."""
    from .spec import Study

    return Study(
        name=name, title=title, paper=paper, description=description, trial=trial,
        problems={problem[0]: problem[1]}, optimizers=optimizers, seeds=tuple(range(10)),
        epochs=1, batch_size=1, params={"steps": steps, "runs": runs},
        quick={"seeds": (0, 1), "params": quick_params}, allowed=allowed, variables=VARIABLES,
        tables=tables, curve_metric="loss_median",
        scatter_metrics=("loss_final_median", "loss_time_mean"))


def loss_rate_figure(ds, title: str, labels: dict, logx: bool = True, dims=(0,)):
    """Two panels: excess median loss J - J* and the median learning rate, per method.

    Lines: seed 0's median over runs; band: min..max over seeds of that median.
    """
    from .vsgd_plotting import canvas

    problem = str(ds["problem"].values[0])
    sub = ds.sel(problem=problem)
    floor = float(np.nanmax(sub["loss_floor"].values))
    runs = int(np.nanmax(sub["n_runs"].values))
    fig = canvas(2, 1, 7.0, 3.6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    steps = sub["step"].values
    x = steps + 1 if logx else steps
    for i in range(sub.sizes["setting"]):
        s = str(ds["setting"].values[i])
        lab = labels.get(s, s)
        style = dict(lw=1.2, color=SGD_COLORS[i % len(SGD_COLORS)])
        if s.startswith("oracle"):
            style = dict(lw=1.5, ls="--", color="black")
        elif s.startswith("vsgd"):
            style = dict(lw=1.2, marker="o", ms=2.5, markevery=0.05,
                         color="tab:red" if "C=1.0" in s else "salmon")
        y = sub["loss_median"].isel(setting=i).values - floor
        line, = ax1.plot(x, y[0], label=lab, **style)
        if y.shape[0] > 1:
            ax1.fill_between(x, np.nanmin(y, axis=0), np.nanmax(y, axis=0),
                             color=line.get_color(), alpha=0.15)
        for k, dd in enumerate(dims):
            lr = sub["lr_median"].isel(setting=i, dim=dd).values
            ax2.plot(x, lr[0], **{**style, "color": line.get_color(),
                                  "ls": style.get("ls", "-") if k == 0 else ":"})
    ax1.set_yscale("log")
    ax1.set_ylabel("median loss J - J*")
    ax2.set_yscale("log")
    ax2.set_ylabel("median learning rate" + (" (dim 0 solid, dim 1 dotted)"
                                             if len(dims) > 1 else ""))
    ax2.set_xlabel("step t" + (" (log)" if logx else ""))
    if logx:
        ax1.set_xscale("log")
    ax1.legend(fontsize=7, ncol=2)
    ax1.grid(True, alpha=0.3)
    ax2.grid(True, alpha=0.3)
    ax1.set_title(f"{title}: median over {runs} runs, "
                  f"band = range over {ds.sizes['seed']} seeds", fontsize=9)
    return fig
