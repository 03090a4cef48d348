"""Mean loss and error of a whole data set, in chunks of the workspace capacity (compiled)."""
from __future__ import annotations

from ..targets import cpu_kernel
from .activations import SOFTMAX
from .forward import forward


@cpu_kernel
def evaluate_set(theta, offsets, sizes, act, out, X, labels, targets, ws):
    """``(mean data loss, error)`` over all rows of ``X`` (see forward.py for the definitions)."""
    N = X.shape[0]
    n_in = sizes[0]
    n_out = sizes[sizes.shape[0] - 1]
    cap = ws.capacity
    Xf = X.reshape(N * n_in)
    Tf = targets.reshape(targets.shape[0] * n_out)
    loss = 0.0
    err = 0.0
    i0 = 0
    while i0 < N:
        m = min(cap, N - i0)
        Xc = Xf[i0 * n_in:(i0 + m) * n_in].reshape(m, n_in)
        if out == SOFTMAX:
            lab = labels[i0:i0 + m]
            tar = Tf[:0].reshape(0, n_out)
        else:
            lab = labels[:0]
            tar = Tf[i0 * n_out:(i0 + m) * n_out].reshape(m, n_out)
        ls, ne = forward(theta, offsets, sizes, act, out, Xc, m, lab, tar, ws)
        loss += ls
        err += ne
        i0 += m
    return loss / N, err / N
