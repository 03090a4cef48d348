"""Trial files -> one self-describing :class:`xarray.Dataset` per study.

Dimensions: ``problem``, ``setting``, ``seed`` and the trial variables' own dims
(``epoch`` for learning curves; others such as ``lr_record``/``layer`` where recorded).
Settings differ per optimizer, so ``setting`` is one flat dimension whose index is a
readable label (``"sgd(lr=0.1)"``) with per-setting coordinates ``optimizer`` (name),
``setting_json`` (the hyperparameters as JSON) and one float coordinate per
hyperparameter name (``lr``, ``rho``, ...; NaN where the optimizer has no such
hyperparameter). Select e.g. ``ds.sel(setting=ds.optimizer == "sgd")`` or
``ds.where(ds.lr == 0.1, drop=True)``.

Per-trial variables (``problem, setting, seed``): ``status`` (``ok``, ``diverged``,
``failed``, or ``missing`` when no trial file exists yet), ``message``, ``diverged``
(int8 0/1), ``diverged_step`` (-1 if not), ``wall_time`` (s), ``trial_key``,
``environment_id`` (index into the Dataset attribute ``environments``, a JSON list of the
distinct worker environments: CPU, thread counts, BLAS; -1 where not recorded). Trial result
variables are float64 with NaN where a trial failed or is missing (trial arrays shorter
than the longest are NaN-padded). Every variable and coordinate carries CF-style
``long_name``, ``units`` and ``description`` attributes.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr

from . import store
from .expand import code_version, expand, keyed, setting_label
from .spec import Study, settings_of

ENGINE_ATTRS = {
    "problem": ("problem", "1", "name of the problem (data set + model, or synthetic problem)"),
    "setting": ("optimizer setting", "1", "optimizer name and hyperparameter values"),
    "seed": ("random seed", "1", "seed fixing initialisation and data order; shared across "
             "optimizers so comparisons are paired"),
    "epoch": ("epoch", "1", "passes through the training data; 0 = before training"),
    "optimizer": ("optimizer", "1", "name of the optimizer (adaptlr.optimizers.make name)"),
    "setting_json": ("hyperparameters", "1", "hyperparameters of the setting as JSON"),
    "status": ("trial status", "1", "ok, diverged, failed (exception; see message), missing "
               "(not run yet) or excluded (the setting is not in this problem's grid)"),
    "message": ("trial message", "1", "error message of a failed trial, divergence note, or empty"),
    "diverged": ("diverged flag", "1", "1 if training produced a non-finite loss or parameters "
                 "and was stopped, else 0"),
    "diverged_step": ("divergence step", "1", "minibatch step (1-based) at which divergence "
                      "was detected; -1 if the trial did not diverge"),
    "wall_time": ("wall-clock time", "s", "wall-clock time of the trial on its worker (a "
                  "resumed trial's: this run's plus its earlier runs' training time; at least "
                  "the trial's train_seconds where it has one)"),
    "trial_key": ("trial key", "1", "sha256 of the trial spec and code version; the file "
                  "trials/<key>.nc holds the trial, or the file that the carry-over "
                  "ledger trials/carried.json maps the key to"),
    "environment_id": ("trial environment", "1", "index into the JSON list in the Dataset "
                       "attribute 'environments' (CPU, Numba's target CPU, thread counts, BLAS "
                       "kernels and threads of the worker that ran the trial; "
                       "studies.provenance.environment); -1 if not recorded (missing "
                       "trials, or trials stored before it was recorded). The same seed is "
                       "bit-identical only within one environment"),
}


def _attrs(name: str, meta: dict | None) -> dict:
    if meta is not None:
        a = {"long_name": meta.get("long_name", name), "units": meta.get("units", "1"),
             "description": meta.get("description", "")}
    elif name in ENGINE_ATTRS:
        ln, u, d = ENGINE_ATTRS[name]
        a = {"long_name": ln, "units": u, "description": d}
    else:
        a = {"long_name": name, "units": "1", "description": f"hyperparameter or variable {name}"}
    return a


def union_settings(study: Study) -> tuple[list, list]:
    """``(settings, labels)``: every ``(optimizer, hyper)`` of the study's grids (the common
    one, then each problem's own), once, grouped by optimizer in order of first appearance."""
    by_opt: dict[str, dict[str, dict]] = {}
    for grid in study.grids():
        for opt, g in grid.items():
            for h in settings_of(opt, g):
                by_opt.setdefault(opt, {}).setdefault(setting_label(opt, h), h)
    settings = [(o, h) for o, hs in by_opt.items() for h in hs.values()]
    return settings, [setting_label(o, h) for o, h in settings]


def combine(study: Study, out, *, quick: bool = False, device: str = "cpu",
            code: dict | None = None, attrs: dict | None = None) -> xr.Dataset:
    """Read the study's trial files from ``out`` and build the combined Dataset."""
    code = code_version(study) if code is None else code
    trials = keyed(expand(study, quick=quick, device=device), code)
    problems = list(study.problems)
    settings, labels = union_settings(study)
    seeds = [int(s) for s in study.seeds]
    P, S, N = len(problems), len(settings), len(seeds)
    pi = {p: i for i, p in enumerate(problems)}
    si = {lab: i for i, lab in enumerate(labels)}
    ni = {s: i for i, s in enumerate(seeds)}

    status = np.full((P, S, N), "missing", dtype=object)
    message = np.full((P, S, N), "", dtype=object)
    keys = np.full((P, S, N), "", dtype=object)
    diverged = np.zeros((P, S, N), dtype=np.int8)
    dstep = np.full((P, S, N), -1, dtype=np.int64)
    wall = np.full((P, S, N), np.nan)
    env_id = np.full((P, S, N), -1, dtype=np.int32)
    environments: dict[str, int] = {}  # JSON text -> index, in order of first sight
    present = store.finished_keys(out)
    loaded = []
    for key, spec in trials:
        idx = (pi[spec["problem"]], si[setting_label(spec["optimizer"], spec["hyper"])],
               ni[spec["seed"]])
        keys[idx] = key
        if key not in present:
            continue
        ds = store.read_trial(out, key)
        status[idx] = ds.attrs["status"]
        message[idx] = ds.attrs.get("message", "")
        diverged[idx] = int(ds.attrs.get("diverged", 0))
        dstep[idx] = int(ds.attrs.get("diverged_step", -1))
        w = store.trial_wall_time(ds.attrs.get("wall_time"),
                                  ds["train_seconds"].item() if "train_seconds" in ds
                                  and ds["train_seconds"].size == 1 else None)
        wall[idx] = np.nan if w is None else w
        env = str(ds.attrs.get("environment", ""))
        if env:
            env_id[idx] = environments.setdefault(env, len(environments))
        loaded.append((idx, ds))
    status[keys == ""] = "excluded"   # no trial there: the setting is not in this problem's grid

    # shapes of the trial variables: union over trials, longest along each dim
    var_dims: dict[str, tuple] = {}
    dim_len: dict[str, int] = {}
    for _, ds in loaded:
        for name, da in ds.data_vars.items():
            if name in var_dims and var_dims[name] != da.dims:
                raise ValueError(f"trial variable {name!r} has dims {da.dims} in one trial and "
                                 f"{var_dims[name]} in another")
            var_dims[name] = da.dims
            for d, n in da.sizes.items():
                dim_len[d] = max(dim_len.get(d, 0), n)
    if "epoch" not in dim_len:
        dim_len["epoch"] = study.epochs + 1
    data = {name: np.full((P, S, N) + tuple(dim_len[d] for d in dims), np.nan)
            for name, dims in var_dims.items()}
    for idx, ds in loaded:
        for name, da in ds.data_vars.items():
            sl = idx + tuple(slice(0, n) for n in da.shape)
            data[name][sl] = da.values

    base = ("problem", "setting", "seed")
    data_vars = {
        "status": (base, status.astype(str)),
        "message": (base, message.astype(str)),
        "diverged": (base, diverged),
        "diverged_step": (base, dstep),
        "wall_time": (base, wall),
        "trial_key": (base, keys.astype(str)),
        "environment_id": (base, env_id),
    }
    for name, dims in var_dims.items():
        data_vars[name] = (base + tuple(dims), data[name])
    hp_names = sorted({k for _, h in settings for k in h})
    coords = {
        "problem": ("problem", np.array(problems, dtype=str)),
        "setting": ("setting", np.array(labels, dtype=str)),
        "seed": ("seed", np.array(seeds, dtype=np.int64)),
        "optimizer": ("setting", np.array([o for o, _ in settings], dtype=str)),
        "setting_json": ("setting", np.array([json.dumps(h, sort_keys=True) for _, h in settings],
                                             dtype=str)),
    }
    for hp in hp_names:
        coords[hp] = ("setting", np.array([float(h[hp]) if hp in h else np.nan
                                          for _, h in settings]))
    for d, n in dim_len.items():
        if d not in coords and any(d in dims for dims in var_dims.values()) or d == "epoch":
            coords[d] = (d, np.arange(n, dtype=np.int64))
    ds = xr.Dataset(data_vars, coords=coords)
    for name in list(ds.data_vars) + list(ds.coords):
        meta = study.variables.get(name) if name not in ENGINE_ATTRS else None
        if name in hp_names:
            meta = {"long_name": f"hyperparameter {name}", "units": "1",
                    "description": f"value of hyperparameter {name!r} in this setting; NaN "
                                   "where the optimizer has no such hyperparameter"}
        ds[name].attrs.update(_attrs(name, meta))
    if attrs:
        ds.attrs.update(attrs)
    ds.attrs["environments"] = "[" + ",".join(environments) + "]"
    return ds


def add_summaries(ds: xr.Dataset, study: Study, *, test: str, alpha: float,
                  correction: str | None) -> xr.Dataset:
    """Add final-epoch mean/std/CI over seeds and the ``tied_with_best`` flag per problem.

    For every trial variable with an ``epoch`` dim: ``<var>_final_mean``, ``_std``,
    ``_ci_low``, ``_ci_high`` (problem, setting) at the last epoch; for the study's curve
    metric, ``tied_with_best`` (int8) over all settings of each problem.
    """
    from .stats import stats_attrs, summarize, tie_with_best

    for name in [v for v in ds.data_vars if "epoch" in ds[v].dims and ds[v].ndim == 4]:
        final = ds[name].isel(epoch=-1).transpose("problem", "setting", "seed").values
        s = summarize(final, axis=-1)
        base = ds[name].attrs
        for part, desc in (("mean", "mean over seeds"), ("std", "standard deviation over seeds "
                           "(ddof=1)"), ("ci_low", "lower end of the 95% t confidence interval "
                           "of the mean over seeds"), ("ci_high", "upper end of the 95% t "
                           "confidence interval of the mean over seeds")):
            ds[f"{name}_final_{part}"] = (("problem", "setting"), s[part])
            ds[f"{name}_final_{part}"].attrs = {
                "long_name": f"{base.get('long_name', name)} at the last epoch, {part}",
                "units": base.get("units", "1"),
                "description": f"{desc} of {name} at the last epoch; NaN if any seed "
                               "diverged or failed"}
    metric = study.curve_metric
    if metric in ds.data_vars and "epoch" in ds[metric].dims:
        final = ds[metric].isel(epoch=-1).transpose("problem", "setting", "seed").values
        tied = np.zeros(final.shape[:2], dtype=np.int8)
        pv = np.full(final.shape[:2], np.nan)
        for p in range(final.shape[0]):
            r = tie_with_best(final[p], alpha=alpha, test=test, correction=correction)
            tied[p] = r.tied
            pv[p] = r.adjusted
        ds["tied_with_best"] = (("problem", "setting"), tied)
        ds["tied_with_best"].attrs = {
            "long_name": f"not significantly different from the best ({metric})",
            "units": "1",
            "description": f"1 if {metric} at the last epoch is not significantly different "
                           f"from the best setting of the problem (paired {test} test over "
                           f"seeds, alpha={alpha}, correction={correction or 'none'})",
            **stats_attrs(test, alpha, correction)}
        ds["pvalue_vs_best"] = (("problem", "setting"), pv)
        ds["pvalue_vs_best"].attrs = {
            "long_name": f"p-value vs the best ({metric})", "units": "1",
            "description": "paired test p-value against the best setting of the problem "
                           "(after correction); NaN for the best and ineligible settings"}
    ds.attrs.update(stats_attrs(test, alpha, correction))
    return ds
