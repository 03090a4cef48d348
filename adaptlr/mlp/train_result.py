"""What :func:`adaptlr.mlp.train` returns (docs/architecture.md, "Training API")."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrainResult:
    """Per-epoch curves and diagnostics of one training run (NumPy fields).

    Epoch axis: ``epochs + 1`` entries, index 0 = before training. Epochs that
    were not evaluated (``eval_every``) or that come after a divergence are NaN.

    ``train_loss``/``test_loss`` are the mean *data* loss over the whole set (no
    L2 term); ``train_error``/``test_error`` the misclassified fraction (softmax)
    or the mean 1/2 ||z - t||^2 per sample (linear output; equals the loss).
    Test fields are all NaN when no test set was given.

    ``diverged`` is True when a minibatch loss, an evaluation loss or a parameter
    became non-finite; ``diverged_step`` is the 1-based step at which that was
    detected (-1 if not; 0 = the initial parameters), and training stopped there.
    ``steps`` is the number of optimizer steps taken; ``wall_time`` the seconds of
    the compiled loop (evaluations included, compilation excluded).
    ``batch_loss`` (extra) holds the mean data loss of every minibatch before its
    step (NaN after a divergence).

    With ``record_lr_every > 0``: ``lr_steps`` (n_records,) steps recorded, and per
    weight layer k (weights W_k only, not biases) over the entries with g_i != 0
    the ``lr_min``/``lr_median``/``lr_max`` of the effective learning rate
    ``|dx_i / g_i|`` (n_records, n_weight_layers); ``lr_trace`` (|dx/g|, NaN where
    g = 0) and ``update_trace`` (dx) of shape (n_records, n_weight_layers, n_dims)
    for the chosen dimensions ``record_dims`` (flat indices within each W_k).

    ``complete`` is False only when ``train(stop_at=...)`` stopped before the last epoch
    (a checkpoint holds the run; a later call goes on); ``epochs_done`` counts the epochs
    run so far (every one, when complete and not diverged; -1 where a loop does not count,
    e.g. the CUDA loop). With a checkpoint, ``wall_time`` sums the seconds of every call.
    """

    train_loss: np.ndarray
    train_error: np.ndarray
    test_loss: np.ndarray
    test_error: np.ndarray
    diverged: bool
    diverged_step: int
    steps: int
    wall_time: float
    batch_loss: np.ndarray
    lr_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lr_min: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    lr_median: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    lr_max: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    lr_trace: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    update_trace: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    record_dims: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    complete: bool = True
    epochs_done: int = -1


def record_buffers(steps_total: int, record_lr_every: int, n_layers: int, n_dims: int, epochs: int):
    """The NaN-filled result buffers that both training loops (training.py, cuda_training.py)
    fill: ``(n_rec, lr_steps, lr_min, lr_med, lr_max, lr_trace, up_trace, curves)``, with
    ``n_rec = steps_total // record_lr_every`` records (0 when not recording; ``lr_steps``
    -1 until recorded) and ``curves`` the four epoch curves (train loss, train error, test
    loss, test error; ``epochs + 1`` entries each)."""
    n_rec = steps_total // record_lr_every if record_lr_every else 0
    lr_steps = np.full(n_rec, -1, np.int64)
    lr_min, lr_med, lr_max = (np.full((n_rec, n_layers), np.nan) for _ in range(3))
    lr_trace = np.full((n_rec, n_layers, n_dims), np.nan)
    up_trace = np.full((n_rec, n_layers, n_dims), np.nan)
    curves = [np.full(epochs + 1, np.nan) for _ in range(4)]
    return n_rec, lr_steps, lr_min, lr_med, lr_max, lr_trace, up_trace, curves
