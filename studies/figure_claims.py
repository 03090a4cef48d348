"""The claims of the vSGD paper's noisy-quadratic figures, tested on stored results.

The figures (main Fig. 2, supplement Figs. 1-2) carry no numbers; their captions and Sec. 6
make claims about orderings and shapes ("vSGD ... permits a continual reduction in loss,
beyond what any fixed learning rate could achieve", "the learning rate jumps back up").
The companion report modules of the three studies (``vsgd_quadratic_1d_report``,
``vsgd_quadratic_2d_report``, ``vsgd_nonstationary_report``) state each claim in the
paper's words, measure it on the stored Dataset and give a verdict; this module holds
what they share. It reads Datasets only (no study imports it, so it is outside every
trial key).

Each trial holds, per seed, the median over its 1,000 runs of the expected loss ``J`` per
step (``loss_median``), the time average (``loss_time_mean``), the final median
(``loss_final_median``) and the median learning rate per step (``lr_median``). A seed
fixes the sample stream, shared by all methods (common random numbers), so comparisons
are *paired over the 10 seeds*: two-sided Wilcoxon signed-rank test
(:func:`studies.claims.compare`), alpha = 0.01 as in the paper's tables. Verdicts:

* **reproduced**: the difference has the claimed sign and p < alpha (or, for a measured
  shape, every seed shows it);
* **not reproduced**: significant the other way (or no seed shows it);
* **not significant** / **partly**: neither (the row says what was measured).
"""
from __future__ import annotations

import numpy as np

from .claims import compare
from .stats import DEFAULT_ALPHA

HEADER = ["| claim (the paper's words) | measured (mean over seeds) | test | verdict |",
          "|---|---|---|---|"]


def labels(ds) -> list[str]:
    return [str(s) for s in ds["setting"].values]


def per_seed(ds, label: str, var: str, *, step: int | None = None, dim: int = 0) -> np.ndarray:
    """Values of ``var`` for setting ``label`` over the seeds (NaN where not 'ok')."""
    da = ds[var].isel(problem=0).sel(setting=label)
    if "step" in da.dims:
        da = da.isel(step=step if step is not None else -1)
    if "dim" in da.dims:
        da = da.isel(dim=dim)
    v = np.asarray(da.values, dtype=np.float64)
    ok = ds["status"].isel(problem=0).sel(setting=label).values.astype(str) == "ok"
    return np.where(ok, v, np.nan)


def missing(ds, claim: str, *needed: str) -> str | None:
    """A 'not run' row when a setting the claim needs is not in ``ds``, else None."""
    gone = [s for s in needed if s not in labels(ds)]
    return f"| {claim} | setting {gone[0]} not stored | | not run |" if gone else None


def _fmt(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "n/a"


def paired(ds, claim: str, a: str, b: str, var: str, *, lower: bool = True,
           step: int | None = None, what: str = "", alpha: float = DEFAULT_ALPHA) -> str:
    """A Markdown row: is ``var`` of setting ``a`` lower (``lower``) or higher than that of
    ``b``, paired over the seeds both finished?"""
    gone = missing(ds, claim, a, b)
    if gone:
        return gone
    return paired_values(claim, a, per_seed(ds, a, var, step=step), b,
                         per_seed(ds, b, var, step=step), lower=lower, what=what or var,
                         alpha=alpha)


def paired_values(claim: str, a: str, va, b: str, vb, *, lower: bool = True, what: str = "",
                  alpha: float = DEFAULT_ALPHA) -> str:
    """:func:`paired` on per-seed values ``va`` (of ``a``) and ``vb`` (of ``b``) computed
    by the caller (NaN: the seed did not finish)."""
    va, vb = np.asarray(va, np.float64), np.asarray(vb, np.float64)
    ok = np.isfinite(va) & np.isfinite(vb)
    r = compare(va[ok], vb[ok], alpha=alpha)
    ma, mb = (float(v[ok].mean()) if ok.any() else np.nan for v in (va, vb))
    meas = f"{what}: {a} {_fmt(ma)}, {b} {_fmt(mb)}"
    if r["n"] < 2:
        return f"| {claim} | {meas} | n = {r['n']} | undetermined |"
    test = f"paired Wilcoxon, n = {r['n']}, p = {r['p']:.2g}"
    claimed = "better" if lower else "worse"
    if r["verdict"].startswith("undetermined"):
        verdict = r["verdict"]
    elif r["verdict"] == claimed:
        verdict = "reproduced"
    elif r["verdict"] == "not different":
        verdict = f"not significant (α = {alpha})"
    else:
        verdict = "not reproduced (significant the other way)"
    return f"| {claim} | {meas} | {test} | {verdict} |"


def every_seed(claim: str, meas: str, holds: np.ndarray) -> str:
    """A Markdown row for a shape measured per seed (or per seed and event): reproduced
    when it holds in every case, not reproduced in none, partly otherwise."""
    holds = np.asarray(holds, dtype=bool).ravel()
    k, n = int(holds.sum()), holds.size
    verdict = ("reproduced" if n and k == n else "not reproduced" if k == 0 else "partly")
    return f"| {claim} | {meas} | holds in {k} of {n} | {verdict} |"


def note(claim: str, meas: str, verdict: str) -> str:
    """A Markdown row for what the paper says but no test decides (stated as measured)."""
    return f"| {claim} | {meas} | measured, no test | {verdict} |"


def document(title: str, intro: str, rows: list[str], footer: str = "") -> str:
    lines = [f"# {title}", "", intro, "", *HEADER, *rows, ""]
    if footer:
        lines += [footer, ""]
    return "\n".join(lines)


def write(outdir, study: str, title: str, intro: str, rows: list[str], footer: str = "") -> list:
    """Write ``<study>-claims.md`` (:func:`document`) into ``outdir``; returns its path in a
    list, as an ``extra_report`` hook does."""
    from pathlib import Path

    from .store import atomic_write_bytes

    text = document(title, intro, rows, footer)
    return [atomic_write_bytes(text.encode(), Path(outdir) / f"{study}-claims.md")]
