"""Report-only analysis of ``vsgd-slowstart-lr``: where a minimum learning rate is exactly 0.

Companion of :mod:`studies.vsgd_slowstart_lr` (see :func:`studies.report.companion_module`;
it reads the stored Dataset only and is outside the study's trial keys).

The recorded rate of a dimension is ``|dx_i / g_i|`` over the entries with ``g_i != 0``.
An exact 0 therefore means that a step with a nonzero gradient did not move the
parameter. On M0 this happens to AdaGrad, and the mechanism is floating point, not
learning: with inputs centred by the training mean, the pixels that are 0 in every
training image are exactly 0 after centring, so their weights see only the L2 gradient
``g = lambda w``. AdaGrad's accumulator ``G`` of such a weight stops growing once ``w`` is
small, and its step becomes ``w <- w (1 - eta0 lambda / sqrt(G))``; with ``eta0 = 0.1``,
``lambda = 1e-4`` and ``sqrt(G)`` about ``8e-6`` (set by the first few steps) the factor is
about ``-0.2``, so ``w`` decays geometrically into the subnormal range within a few hundred
steps. There ``g`` is a few subnormal ulps and the kernel's ``eta0 * g`` (computed first)
can round to 0: ``dx = 0`` with ``g != 0``, and ``|dx/g|`` is rounding noise. The same weights give AdaGrad's *maximum*
rate, ``eta0 / sqrt(G)`` of order 1e4. :func:`zero_min_rows` measures how often the
minimum is exactly 0 per method; :func:`l2_only_adagrad` reproduces the recursion.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def l2_only_adagrad(w0: float, eta0: float = 0.1, lam: float = 1e-4, eps: float = 1e-10,
                    steps: int = 3000) -> np.ndarray:
    """``w_t`` of AdaGrad (``x <- x - eta0 g / (sqrt(G) + eps)``, ``G += g^2``) on the
    L2 term alone (``g = lam w``), in float64; ``w_0 = w0``."""
    w = np.empty(steps + 1)
    w[0] = w0
    G = 0.0
    for t in range(steps):
        g = lam * w[t]
        G += g * g
        w[t + 1] = w[t] - eta0 * g / (np.sqrt(G) + eps)
    return w


def zero_min_rows(ds) -> list[str]:
    """Markdown rows: per problem and method, the share of records (after any slow start)
    whose minimum rate is exactly 0, and the median epoch of the first such record."""
    rows = ["| problem | method | records with min rate exactly 0 | first at epoch (median "
            "over seeds) | median of the max rate, last record |", "|---|---|---|---|---|"]
    for p in ds["problem"].values.astype(str):
        for i, opt in enumerate(ds["optimizer"].values.astype(str)):
            lo = ds["lr_min"].sel(problem=p).isel(setting=i).values  # seed, record, layer
            hi = ds["lr_max"].sel(problem=p).isel(setting=i).values
            ep = ds["lr_epoch"].sel(problem=p).isel(setting=i).values
            if not np.isfinite(lo).any():
                continue
            lo, hi = lo[..., 0], hi[..., 0]
            # after the slow start: records whose max is positive (some dimension moved)
            live = np.isfinite(lo) & (hi > 0)
            zero = live & (lo == 0)
            firsts = [ep[s][np.flatnonzero(zero[s])[0]] for s in range(lo.shape[0]) if zero[s].any()]
            first = f"{np.median(firsts):.3g} ({len(firsts)}/{lo.shape[0]} seeds)" if firsts else "never"
            last = np.nanmedian(hi[:, -1]) if np.isfinite(hi[:, -1]).any() else np.nan
            rows.append(f"| {p} | {opt} | {zero.sum() / max(1, live.sum()):.1%} | {first} | "
                        f"{last:.3g} |")
    return rows


def extra_report(ds, outdir) -> list[Path]:
    """``vsgd-slowstart-lr-zero-min.md``: the table of :func:`zero_min_rows` and the
    mechanism, with the recursion's numbers for one weight of the M0 network."""
    from .vsgd_plotting import write_text

    if "lr_min" not in ds:
        return []
    w = l2_only_adagrad(0.0238)
    sub = int(np.argmax(np.abs(w) < np.finfo(np.float64).tiny))
    lines = ["# vSGD supplement Fig. 6: minimum learning rates that are exactly 0", "",
             *zero_min_rows(ds), "",
             "Why (AdaGrad; module docstring of `studies/vsgd_slowstart_lr_report.py`): the "
             "pixels that are 0 in every MNIST training image are exactly 0 after centring, "
             "so their weights see only the L2 gradient λw. Under AdaGrad (η0 = 0.1, "
             "λ = 1e-4) such a weight decays geometrically once its accumulator has settled: "
             f"the recursion started from w0 = 0.0238 (a Glorot draw) is subnormal after {sub} "
             "steps. There g = λw is a few subnormal ulps and η0·g can round to 0, so dx = 0 "
             "while g ≠ 0: the minimum |dx/g| over the layer is exactly 0, a floating-point "
             "artefact of the definition, not a rate of 0. The true rate of those weights, "
             "η0/√G ≈ 1e4, is AdaGrad's maximum in the figure. The figure cannot draw 0 on "
             "its log axis, so AdaGrad's minimum curve ends there. vSGD-l has exact zeros in "
             "a few per cent of its records as well; we have not traced which weights cause "
             "them. A definition that skips subnormal gradients would remove the artefact; "
             "it needs a library change (adaptlr.mlp.training.record_effective_lr) and a "
             "re-run, so it is left for a later change of the library.", ""]
    return [write_text("\n".join(lines), Path(outdir) / "vsgd-slowstart-lr-zero-min.md")]
