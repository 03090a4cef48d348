"""The fully connected network: :class:`MLP` (parameters in one flat buffer).

The objective on a minibatch of m samples is::

    J(theta) = (1/m) sum_n loss_n(theta) + lambda/2 sum_k ||W_k||^2

(``lambda`` = ``l2``, weights only; vSGD uses 1e-4). ``loss_n`` is softmax
cross-entropy with an integer label or 1/2 ||z_n - t_n||^2 against a target row
(see forward.py). The methods below run the compiled kernels of forward.py,
backward.py, bbprop.py, per_sample.py and gnvp.py on a fresh workspace; the
training loop (training.py) calls the same kernels on preallocated workspaces.
"""
from __future__ import annotations

import numpy as np

from . import layout
from .activations import SOFTMAX, activation_code, output_code
from .backward import backward
from .bbprop import bbprop as _bbprop
from .forward import forward
from .gnvp import gnvp as _gnvp
from .init import glorot_uniform
from .per_sample import grad_sq as _grad_sq
from .validation import check_dtype, check_inputs, check_int, check_labels, check_nonneg_float, check_targets
from .workspace import make_workspace


class MLP:
    """A multilayer perceptron with explicit backprop, bbprop and Gauss-Newton products.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[n_in, h_1, ..., n_out]`` (>= 2 entries).
    activation : {"tanh", "relu", "logistic"}
        Hidden-unit non-linearity.
    output : {"softmax", "linear"}
        Softmax + cross-entropy (integer labels) or linear + MSE (target matrix).
    l2 : float
        ``lambda`` of the L2 term ``lambda/2 ||W||^2`` on the weights (not biases).
    dtype : np.float32 or np.float64
    seed : int
        Seed of the Glorot & Bengio initialisation (see init.py).

    Attributes
    ----------
    theta : 1-D array, the flat parameters (updated in place by :func:`adaptlr.mlp.train`).
    offsets : int64 array of 2L+1 block boundaries ``[W_0, b_0, W_1, b_1, ...]``.
    """

    def __init__(self, sizes, activation="tanh", output="softmax", l2=0.0, dtype=np.float32, seed=0):
        self.sizes_array = layout.validate_sizes(sizes)
        self.sizes = tuple(int(s) for s in self.sizes_array)
        self.act_code = activation_code(activation)
        self.out_code = output_code(output)
        self.activation = activation
        self.output = output
        self.l2 = check_nonneg_float(l2, "l2")
        self.dtype = check_dtype(dtype)
        self.seed = check_int(seed, "seed", 0)
        self.offsets = layout.param_offsets(self.sizes)
        self.n_params = int(self.offsets[-1])
        self.n_layers = len(self.sizes) - 1
        self.theta = glorot_uniform(self.sizes, self.offsets, self.act_code, self.dtype, self.seed)

    # ------------------------------------------------------------------ layout
    def weights(self, k: int) -> np.ndarray:
        """View of ``W_k`` (fan_in, fan_out) into :attr:`theta`."""
        return layout.weight_view(self.theta, self.sizes, self.offsets, k)

    def biases(self, k: int) -> np.ndarray:
        """View of ``b_k`` into :attr:`theta`."""
        return layout.bias_view(self.theta, self.sizes, self.offsets, k)

    def weight_mask(self) -> np.ndarray:
        """True on weight entries of the flat layout (where L2 applies)."""
        return layout.weight_mask(self.sizes)

    def copy(self) -> "MLP":
        """An independent copy (same settings, parameters copied)."""
        new = object.__new__(MLP)
        new.__dict__.update(self.__dict__)
        new.theta = self.theta.copy()
        return new

    def __repr__(self):
        return (f"MLP(sizes={list(self.sizes)}, activation={self.activation!r}, output={self.output!r}, "
                f"l2={self.l2}, dtype=np.{self.dtype.name}, seed={self.seed})")

    # ------------------------------------------------------------------ inputs
    def prepare(self, X, y=None, name_x="X", name_y="y"):
        """Checked, converted ``(X, labels, targets)`` for the kernels (empty arrays for the unused one)."""
        Xc = check_inputs(X, self.sizes[0], self.dtype, name_x)
        labels = np.zeros(0, dtype=np.int64)
        targets = np.zeros((0, self.sizes[-1]), dtype=self.dtype)
        if y is not None:
            if self.out_code == SOFTMAX:
                labels = check_labels(y, Xc.shape[0], self.sizes[-1], name_y)
            else:
                targets = check_targets(y, Xc.shape[0], self.sizes[-1], self.dtype, name_y)
        return Xc, labels, targets

    def _run_forward(self, X, y):
        Xc, labels, targets = self.prepare(X, y)
        m = Xc.shape[0]
        ws = make_workspace(self.sizes, m, self.dtype)
        loss_sum, n_err = forward(self.theta, self.offsets, self.sizes_array, self.act_code, self.out_code,
                                  Xc, m, labels, targets, ws)
        return Xc, labels, targets, m, ws, loss_sum, n_err

    def l2_term(self) -> float:
        """``lambda/2 sum_k ||W_k||^2`` (0.0 when l2 = 0)."""
        if self.l2 == 0.0:
            return 0.0
        w = self.theta[self.weight_mask()].astype(np.float64)
        return 0.5 * self.l2 * float(w @ w)

    # ------------------------------------------------------------------ computations
    def predict(self, X) -> np.ndarray:
        """Network outputs for the rows of ``X``: softmax probabilities or linear outputs."""
        Xc, _, _, m, ws, _, _ = self._run_forward(X, None)
        s = int(ws.row_offsets[self.n_layers - 1])
        return ws.h[s:s + m * self.sizes[-1]].reshape(m, self.sizes[-1]).copy()

    def evaluate(self, X, y):
        """``(mean loss, error)`` of the data term (no L2): error = misclassified fraction
        (softmax) or mean 1/2 ||z - t||^2 per sample (linear, equal to the loss)."""
        _, _, _, m, _, loss_sum, n_err = self._run_forward(X, y)
        return loss_sum / m, n_err / m

    def objective(self, X, y) -> float:
        """``J(theta)``: mean data loss plus the L2 term."""
        _, _, _, m, _, loss_sum, _ = self._run_forward(X, y)
        return loss_sum / m + self.l2_term()

    def gradient(self, X, y):
        """``(J, dJ/dtheta)`` on the minibatch ``(X, y)``; the gradient in the flat layout."""
        Xc, labels, targets, m, ws, loss_sum, _ = self._run_forward(X, y)
        g = np.empty(self.n_params, dtype=self.dtype)
        backward(self.theta, self.offsets, self.sizes_array, self.act_code, self.out_code, self.l2,
                 Xc, m, labels, targets, ws, g)
        return loss_sum / m + self.l2_term(), g

    def bbprop(self, X, y=None) -> np.ndarray:
        """Minibatch-mean bbprop curvature (positive Gauss-Newton diagonal estimate), flat layout.

        Labels are not needed (the Gauss-Newton matrix does not depend on them)."""
        Xc, labels, targets, m, ws, _, _ = self._run_forward(X, y)
        curv = np.empty(self.n_params, dtype=self.dtype)
        _bbprop(self.theta, self.offsets, self.sizes_array, self.act_code, self.out_code, self.l2,
                Xc, m, ws, curv)
        return curv

    def grad_sq(self, X, y) -> np.ndarray:
        """Mean over the rows of each parameter's squared per-sample gradient (incl. L2), flat layout."""
        Xc, labels, targets, m, ws, _, _ = self._run_forward(X, y)
        g = np.empty(self.n_params, dtype=self.dtype)
        backward(self.theta, self.offsets, self.sizes_array, self.act_code, self.out_code, self.l2,
                 Xc, m, labels, targets, ws, g)
        gsq = np.empty(self.n_params, dtype=self.dtype)
        _grad_sq(self.theta, self.offsets, self.sizes_array, self.l2, Xc, m, ws, g, gsq)
        return gsq

    def gnvp(self, X, v) -> np.ndarray:
        """Gauss-Newton-vector product ``G v`` on the rows of ``X`` (no labels needed), flat layout."""
        v = np.asarray(v)
        if v.shape != (self.n_params,):
            raise ValueError(f"v must be a flat vector of shape ({self.n_params},), got shape {v.shape}")
        v = np.ascontiguousarray(v, dtype=self.dtype)
        if not np.isfinite(v).all():
            raise ValueError("v must be finite")
        Xc, labels, targets, m, ws, _, _ = self._run_forward(X, None)
        hv = np.empty(self.n_params, dtype=self.dtype)
        _gnvp(self.theta, self.offsets, self.sizes_array, self.act_code, self.out_code, self.l2,
              Xc, m, ws, v, hv)
        return hv
