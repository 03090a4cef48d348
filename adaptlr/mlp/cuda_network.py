"""The MLP's passes on CUDA: forward, backward, bbprop, squared per-sample
gradients and the Gauss-Newton-vector product, composed from the kernels of
:mod:`cuda_matmul`, :mod:`cuda_layers` and :mod:`cuda_losses`.

Network: ``Y_0 = X`` (a ``B x n_0`` minibatch), for layers ``k = 0..L-1``
``A_k = Y_k W_k + b_k``; ``Y_{k+1} = f(A_k)`` for hidden layers, and the
output ``Z = A_{L-1}`` feeds softmax + cross-entropy or squared error
(:mod:`cuda_losses`). The loss is the minibatch mean of the per-sample
losses plus ``(l2/2) sum_k ||W_k||^2`` (weights only, not biases).

With ``delta_L = dl/dZ`` per sample (``p - onehot`` or ``Z - T``):

* gradient: ``delta_k = (delta_{k+1} W_k^T) * f'(A_{k-1})``,
  ``g_{W_k} = Y_k^T delta_{k+1} / B + l2 W_k``,
  ``g_{b_k} = sum_rows(delta_{k+1}) / B``;
* squared per-sample gradients (vSGD's ``v`` from one minibatch):
  ``gsq_{W_k} = (Y_k^2)^T (delta_{k+1}^2) / B``,
  ``gsq_{b_k} = sum_rows(delta_{k+1}^2) / B`` — exact for the per-sample
  gradient ``y_s delta_s^T`` because it is a rank-one outer product; with
  L2, ``mean_s (g_s + l2 w)^2 = gsq + l2 w (2 g + l2 w)``;
* bbprop (Gauss-Newton diagonal, LeCun, Bottou, Orr, Mueller 1998;
  Schaul, Zhang & LeCun 2013, Sec. 4.3 and Algorithm 1; same rules as
  adaptlr/mlp/bbprop.py): ``h_L = diag`` of the output Gauss-Newton matrix
  (``p (1 - p)`` or 1), ``h_k = (h_{k+1} (W_k^2)^T) * f'(A_{k-1})^2``,
  ``curv_{W_k} = (Y_k^2)^T h_{k+1} / B + l2``,
  ``curv_{b_k} = sum_rows(h_{k+1}) / B``; positive by construction (no
  ``abs()`` needed, unlike py-optim); it drops the off-diagonal output terms
  and the cross terms between units, so it equals the exact Gauss-Newton
  diagonal only for the last layer (and for one hidden layer with MSE);
* Gauss-Newton-vector product ``G v = J^T H_out J v / B + l2 v_W``
  (Schraudolph 2002; Pearlmutter 1994's R-operator; same as adaptlr/mlp/gnvp.py): ``R(Y_0) = 0``,
  ``R(A_k) = R(Y_k) W_k + Y_k V_{W_k} + v_{b_k}``,
  ``R(Y_{k+1}) = f'(A_k) R(A_k)``, then ``H_out R(Z)`` (``p*(r - p.r)`` or
  ``r``) is back-propagated exactly like ``delta``.

Scaling and conventions (as the CPU MLP, adaptlr/mlp/): every curvature
quantity is a minibatch *mean* (PyTorch-based tools such as BackPACK scale
with the loss reduction, i.e. by B for ``reduction="sum"``); the L2 term
enters the curvature exactly (``+l2`` on weights) and not the biases; the
per-sample squared gradients include the L2 gradient (so their mean is
consistent with the minibatch gradient), clipped at 0 against float32
rounding.

All device arrays of parameters (theta, gradient, curvature, gsq, Hv, v) are
flat vectors in the layout of docs/architecture.md; the passes work on 2-D
views of them, so nothing is copied.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ..targets import is_cuda_array, require_cuda
from . import cuda_layers as cl
from . import cuda_losses as closs
from .activations import output_code
from .cuda_launch import CudaLaunch, check_launch
from .cuda_matmul import gemm
from .layout import param_offsets, validate_sizes


def layer_views(flat, sizes):
    """``[(W_0, b_0), ...]``: 2-D/1-D views of a flat (host or device) vector, no copy."""
    offs = param_offsets(sizes)
    if flat.shape[0] != offs[-1]:
        raise ValueError(f"flat vector has length {flat.shape[0]}, the layout of layers "
                         f"{list(sizes)} needs {int(offs[-1])}")
    out = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        o, ob, oe = int(offs[2 * k]), int(offs[2 * k + 1]), int(offs[2 * k + 2])
        out.append((flat[o:ob].reshape(a, b), flat[ob:oe]))
    return out


def normalize_output(output: str) -> str:
    """``output`` after checking it (``"softmax"`` or ``"linear"``, as the CPU MLP)."""
    output_code(output)
    return output


class CudaMLP:
    """Device buffers and passes of one MLP for minibatches of up to ``capacity`` rows.

    Parameters
    ----------
    sizes : layer widths ``[n_0, ..., n_L]`` (``L >= 1``)
    activation : hidden activation name (``"tanh"``, ``"relu"``, ``"logistic"``)
    output : ``"softmax"`` (cross-entropy, integer labels) or ``"linear"``
        (squared error ``1/2 ||z - t||^2``, target rows)
    l2 : weight-decay coefficient of ``(l2/2) sum ||W_k||^2``
    dtype : float32 or float64
    capacity : largest minibatch
    launch : :class:`CudaLaunch` geometry
    """

    def __init__(self, sizes, activation="tanh", output="softmax", l2=0.0, dtype=np.float32,
                 capacity=100, launch: CudaLaunch | None = None):
        require_cuda("the CUDA MLP")
        sizes = [int(s) for s in validate_sizes(sizes)]
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        if not (np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        if int(capacity) < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self.sizes = sizes
        self.act = cl.activation_code(activation)
        self.output = normalize_output(output)
        self.l2 = float(l2)
        self.dtype = dt
        self.capacity = int(capacity)
        self.launch = check_launch(launch)
        self.offsets = param_offsets(sizes)
        self.n_params = int(self.offsets[-1])
        L = len(sizes) - 1
        self.n_layers = L
        cap = self.capacity
        # Y[k] for k = 0..L-1 are layer inputs (Y[0] the minibatch); Z the output
        self.Y = [cuda.device_array((cap, s), dtype=dt) for s in sizes[:-1]]
        self.Z = cuda.device_array((cap, sizes[-1]), dtype=dt)
        self.P = cuda.device_array((cap, sizes[-1]), dtype=dt)
        # D[k] (k = 1..L) are deltas at the pre-activations of layer k-1's outputs
        self.D = [None] + [cuda.device_array((cap, s), dtype=dt) for s in sizes[1:]]
        self._H = None  # bbprop buffers, made on first use
        self._R = None  # R-operator buffers, made on first use
        self.loss = cuda.device_array(cap, dtype=dt)
        self.correct = cuda.device_array(cap, dtype=np.int32)
        self._empty = cuda.device_array(0, dtype=dt)
        self._view_cache = {}

    # ------------------------------------------------------------ helpers
    def views(self, flat):
        """Per-layer views of a flat device vector, cached per array object (a training
        step reuses the same theta/g/curv/... arrays, so no view is rebuilt per step)."""
        hit = self._view_cache.get(id(flat))
        if hit is not None and hit[0] is flat:
            return hit[1]
        if len(self._view_cache) > 64:
            self._view_cache.clear()
        v = layer_views(flat, self.sizes)
        self._view_cache[id(flat)] = (flat, v)
        return v

    def _buffers(self, which):
        dt, cap = self.dtype, self.capacity
        if which == "H":
            if self._H is None:
                self._H = [None] + [cuda.device_array((cap, s), dtype=dt) for s in self.sizes[1:]]
            return self._H
        if self._R is None:
            self._R = ([cuda.device_array((cap, s), dtype=dt) for s in self.sizes[:-1]],
                       [None] + [cuda.device_array((cap, s), dtype=dt) for s in self.sizes[1:]],
                       cuda.device_array((cap, self.sizes[-1]), dtype=dt))
        return self._R

    def _check_batch(self, b):
        if not 1 <= b <= self.capacity:
            raise ValueError(f"minibatch of {b} rows; this CudaMLP holds 1..{self.capacity}")

    # ------------------------------------------------------------ passes
    def forward(self, theta, b, X=None):
        """Forward pass of ``b`` rows: of ``Y[0]`` (filled by the caller, e.g. by a gather
        kernel), of a device array ``X`` (used in place, no copy) or of a host array ``X``
        (copied into ``Y[0]``). Later passes reuse this input until the next forward."""
        self._check_batch(b)
        lp = self.launch
        if X is None:
            self._in = self.Y[0][:b]
        elif is_cuda_array(X):
            if tuple(X.shape) != (b, self.sizes[0]):
                raise ValueError(f"X has shape {tuple(X.shape)}, expected ({b}, {self.sizes[0]})")
            self._in = X
        else:
            self.Y[0][:b].copy_to_device(np.ascontiguousarray(X, dtype=self.dtype))
            self._in = self.Y[0][:b]
        V = self.views(theta)
        L = self.n_layers
        for k, (W, bias) in enumerate(V):
            out = self.Y[k + 1][:b] if k + 1 < L else self.Z[:b]
            gemm(self._x(k, b), W, out, launch=lp)
            cl.bias_act(out, bias, out, self.act if k + 1 < L else cl.ACT_LINEAR, lp)

    def _x(self, k, b):
        """Input of layer ``k`` (``b`` rows) of the last forward pass."""
        return self._in if k == 0 else self.Y[k][:b]

    def loss_delta(self, target, b, want_h=False, loss=None, correct=None):
        """Per-sample losses, correctness (softmax), ``D[L]`` and (bbprop) ``H[L]``.

        ``target``: device int64 labels (softmax) or target rows (linear), ``b`` rows.
        Losses and correctness go to ``self.loss``/``self.correct`` or to the given
        length-``b`` device arrays.
        """
        L, lp = self.n_layers, self.launch
        H = self._buffers("H")[L][:b] if want_h else None
        loss = self.loss[:b] if loss is None else loss
        if self.output == "softmax":
            correct = self.correct[:b] if correct is None else correct
            closs.softmax_xent(self.Z[:b], target, self.P[:b], self.D[L][:b], loss, correct, H, lp)
        else:
            closs.linear_mse(self.Z[:b], target, self.D[L][:b], loss, H, lp)

    def _backprop(self, bufs, theta_views, out_views, b, square):
        """out_W_k = op(Y_k)^T op(buf_{k+1}) / B, out_b_k = colsum / B; buf_k from buf_{k+1}.

        ``square`` = False: gradient rule; True: bbprop rule (squared inputs and
        weights, ``f'^2``). ``bufs[k]`` are overwritten for k < L.
        """
        lp = self.launch
        inv = 1.0 / b
        for k in range(self.n_layers - 1, -1, -1):
            W = theta_views[k][0]
            oW, ob = out_views[k]
            Dk1 = bufs[k + 1][:b]
            gemm(self._x(k, b), Dk1, oW, trans_a=True, square_a=square, alpha=inv, launch=lp)
            cl.col_sum(Dk1, ob, inv, False, lp)
            if k > 0:
                Dk = bufs[k][:b]
                gemm(Dk1, W, Dk, trans_b=True, square_b=square, launch=lp)
                cl.mul_dact(Dk, self.Y[k][:b], self.act, 2 if square else 1, lp)

    def backward(self, theta, g, b, gsq=None):
        """Data gradient into flat ``g`` (and mean squared per-sample gradients into ``gsq``).

        Call after :meth:`forward` and :meth:`loss_delta`. No L2 here (see :meth:`add_l2`).
        """
        TV = self.views(theta)
        if gsq is not None and gsq.shape[0] > 0:
            # per-sample gradients use delta_{k+1} before it is overwritten: do gsq layer by
            # layer inside the same sweep
            lp = self.launch
            inv = 1.0 / b
            GV, SV = self.views(g), self.views(gsq)
            for k in range(self.n_layers - 1, -1, -1):
                W = TV[k][0]
                Dk1 = self.D[k + 1][:b]
                gemm(self._x(k, b), Dk1, GV[k][0], trans_a=True, alpha=inv, launch=lp)
                cl.col_sum(Dk1, GV[k][1], inv, False, lp)
                gemm(self._x(k, b), Dk1, SV[k][0], trans_a=True, square_a=True, square_b=True,
                     alpha=inv, launch=lp)
                cl.col_sum(Dk1, SV[k][1], inv, True, lp)
                if k > 0:
                    Dk = self.D[k][:b]
                    gemm(Dk1, W, Dk, trans_b=True, launch=lp)
                    cl.mul_dact(Dk, self.Y[k][:b], self.act, 1, lp)
        else:
            self._backprop(self.D, TV, self.views(g), b, square=False)

    def bbprop(self, theta, curv, b):
        """bbprop diagonal curvature (data part) into flat ``curv``.

        Call after :meth:`forward` and :meth:`loss_delta` with ``want_h=True``.
        """
        self._backprop(self._buffers("H"), self.views(theta), self.views(curv), b, square=True)

    def gnvp(self, theta, v, out, b):
        """Gauss-Newton-vector product (data part) ``out = J^T H J v / B``. After :meth:`forward`."""
        lp = self.launch
        RY, RD, RZ = self._buffers("R")
        TV, VV = self.views(theta), self.views(v)
        L = self.n_layers
        for k in range(L):
            W = TV[k][0]
            VW, vb = VV[k]
            RA = RZ[:b] if k + 1 == L else RY[k + 1][:b]
            gemm(self._x(k, b), VW, RA, launch=lp)
            if k > 0:
                gemm(RY[k][:b], W, RA, beta=1.0, launch=lp)
            if k + 1 < L:
                cl.bias_dact(RA, vb, self.Y[k + 1][:b], self.act, RA, lp)
            else:
                cl.bias_dact(RA, vb, RA, cl.ACT_LINEAR, RA, lp)
        if self.output == "softmax":
            closs.softmax_gn(self.P[:b], RZ[:b], RD[L][:b], lp)
        else:
            cl.copy2d(RZ[:b], RD[L][:b], lp)
        self._backprop(RD, TV, self.views(out), b, square=False)

    def add_l2(self, theta, g, curv=None, gsq=None, hv=None, v=None):
        """Add the L2 terms (weights only) to the data-part vectors; no-op when l2 == 0."""
        if self.l2 == 0.0:
            return
        e = self._empty
        curv = e if curv is None else curv
        gsq = e if gsq is None else gsq
        hv = e if hv is None else hv
        v = e if v is None else v
        offs = self.offsets
        for k in range(self.n_layers):
            s = slice(int(offs[2 * k]), int(offs[2 * k + 1]))
            cl.add_l2(theta[s], g[s], curv[s] if curv.shape[0] else e,
                      gsq[s] if gsq.shape[0] else e, hv[s] if hv.shape[0] else e,
                      v[s] if hv.shape[0] else e, self.l2, self.launch)

