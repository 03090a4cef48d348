"""Asynchronous data-parallel training with stale gradients, simulated on one machine.

This simulates the *setting* of ADADELTA Sec. 4.4 (Zeiler 2012, Figs. 3-4: a parameter
server receiving gradients from N = 100 or 200 asynchronous model replicas, Downpour SGD
of Dean et al. 2012); it is not the speech experiment. Everything is deterministic from
the seed.

Model of the parameter server (the choice where the paper is silent)
--------------------------------------------------------------------
``N = replicas`` workers. Each worker repeatedly (1) reads the current parameters from
the server, (2) computes the minibatch-mean gradient on them, on the next minibatch of
one shared shuffled data stream, and (3) sends the gradient to the server, which applies
it at once with the optimizer (whose state lives on the server)::

    server step t = 1, 2, ...:   w_t = the worker whose gradient arrives
                                 g_t = grad J(theta_{r(w_t)}; batch read by w_t)
                                 theta_t = optimizer_step(theta_{t-1}, g_t)
                                 worker w_t reads theta_t (r(w_t) <- t) and starts again

The *staleness* of the gradient applied at step t is ``s_t = t - 1 - r(w_t)``: the number
of updates other workers applied since ``w_t`` read its parameters. Worker compute times
are taken as i.i.d. exponential (memoryless), so the next gradient to arrive comes from a
worker drawn uniformly from all N, independently at every step (``w_t`` ~ U{0..N-1}, drawn
with ``numpy.random.default_rng``). In steady state ``s_t`` is then geometric on
{0, 1, ...} with ``P(s) = (1/N)(1 - 1/N)^s`` and mean ``N - 1``: the mean staleness of N
equally fast workers in round robin, with the spread that unequal speeds cause. At the
start all N workers read ``theta_0``, so early staleness is at most ``t - 1``. ``N = 1``
is ordinary synchronous minibatch training (``s_t = 0``).

Why not "staleness uniform on {0..N-1}": its mean (N-1)/2 is half the staleness of N
workers, and it does not describe a server the gradients can come from.

Implementation: a gradient depends only on the parameters the worker read and its
minibatch, so it is computed at *read* time and kept until applied (``G[w]``, one flat
gradient per worker: N x n values, e.g. 200 x 535,818 float32 = 429 MB). This is exactly
"the gradient on the stale copy theta_{t-1-s_t}" without storing parameter copies.

Data: minibatches are taken, in read order, from a stream of epochs, each a fresh
permutation of the training set drawn exactly as :func:`adaptlr.mlp.train` draws its
epochs (``default_rng`` on child 0 of ``SeedSequence(seed)``, ``n_train // batch_size``
batches per epoch, a trailing partial batch dropped); the arrival order uses child 2.
One "epoch" of training is ``n_train // batch_size`` *applied* updates; errors are
evaluated after each with the same evaluation pass as ``train``. The N gradients still
in flight when training stops are discarded. Hence ``replicas=1`` reproduces
``train(net, opt, ..., seed=seed)`` bit for bit (same batches, kernels and order).

Divergence: a non-finite minibatch loss at a read, or non-finite parameters at the end
of an epoch, stops training; the remaining epochs' errors are NaN.
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np

from numba import njit

from ..targets import ERROR_MODEL, FASTMATH, FASTMATH_FLAGS, cpu_kernel
from .backward import backward
from .evaluation import evaluate_set
from .forward import forward
from .validation import check_int
from .workspace import make_workspace

#: rows per chunk when evaluating errors over a whole split
EVAL_CHUNK = 1000


class AsyncResult(NamedTuple):
    """Result of :func:`train_async` (epoch axis: ``epochs + 1`` entries, 0 = before training).

    ``train_loss``, ``train_error``, ``test_loss``, ``test_error``: mean cross-entropy and
    misclassified fraction on the full splits (NaN after divergence); ``staleness_mean``,
    ``staleness_max`` per epoch (index 0 is NaN: no step yet); ``staleness`` (int64, every
    applied step's staleness); ``diverged``, ``diverged_step`` (1-based server step, -1 if
    not); ``steps`` (applied updates); ``wall_time`` (s).
    """

    train_loss: np.ndarray
    train_error: np.ndarray
    test_loss: np.ndarray
    test_error: np.ndarray
    staleness_mean: np.ndarray
    staleness_max: np.ndarray
    staleness: np.ndarray
    diverged: bool
    diverged_step: int
    steps: int
    wall_time: float


def worker_sequence(replicas: int, n_steps: int, rng: np.random.Generator) -> np.ndarray:
    """Which worker's gradient arrives at each of ``n_steps`` server steps (int64).

    Uniform on ``{0..replicas-1}``, independent per step (exponential compute times).
    """
    replicas = check_int(replicas, "replicas", 1)
    n_steps = check_int(n_steps, "n_steps", 0)
    return rng.integers(0, replicas, size=n_steps, dtype=np.int64)


def staleness_of(workers: np.ndarray, replicas: int) -> np.ndarray:
    """Staleness ``s_t = t - 1 - r(w_t)`` of each step for a worker sequence (plain NumPy).

    All workers read ``theta_0`` before step 1 (``r = 0``).
    """
    last = np.zeros(int(replicas), dtype=np.int64)
    out = np.empty(len(workers), dtype=np.int64)
    for i, w in enumerate(np.asarray(workers, dtype=np.int64)):
        t = i + 1
        out[i] = t - 1 - last[w]
        last[w] = t
    return out


@cpu_kernel
def _gather(X, y, rows, xb, yb):
    m = rows.shape[0]
    d = X.shape[1]
    for i in range(m):
        r = rows[i]
        yb[i] = y[r]
        for j in range(d):
            xb[i * d + j] = X[r, j]


@cpu_kernel
def _read_and_grad(theta, offsets, sizes, act, out, l2, X, y, rows, ws, g, targets):
    """Worker read: minibatch-mean gradient at ``theta`` on ``X[rows]`` into ``g``; returns the loss sum."""
    m = rows.shape[0]
    _gather(X, y, rows, ws.xb, ws.yb)
    Xb = ws.xb[:m * X.shape[1]].reshape(m, X.shape[1])
    labels = ws.yb[:m]
    loss_sum, n_err = forward(theta, offsets, sizes, act, out, Xb, m, labels, targets, ws)
    backward(theta, offsets, sizes, act, out, l2, Xb, m, labels, targets, ws, g)
    return loss_sum


# Not cached on disk (like adaptlr.mlp.training.train_loop): a cached function that takes
# another dispatcher (opt.step_flat) as an argument reloads stale function pointers after the
# optimizer kernels change and crashes (Numba limitation). Compiled once per process and
# optimizer (seconds); the kernels it calls are cached.
@njit(fastmath=set(FASTMATH_FLAGS) if FASTMATH else False, cache=False, error_model=ERROR_MODEL)
def async_steps(theta, step_flat, st, sc, blocks, hp, empty, t0, n_steps, nbatch,
                offsets, sizes, act, out, l2, X, y, batches, next_batch, workers, G, read_ver,
                ws, targets, staleness):
    """``n_steps`` server steps starting after step ``t0``; returns ``(next_batch, diverged_step)``.

    ``batches`` (int64, (n_batches, nbatch)): row indices of the data stream's minibatches,
    ``next_batch`` the next one to be read. ``workers[j]`` sends the gradient of step
    ``t0 + j + 1``; ``G[w]`` is worker w's pending gradient, ``read_ver[w]`` the step whose
    result it read. ``staleness[j]`` receives ``s_t``. ``diverged_step`` is -1 if finite.
    """
    for j in range(n_steps):
        t = t0 + j + 1
        w = workers[j]
        staleness[j] = t - 1 - read_ver[w]
        step_flat(theta, G[w], empty, empty, empty, st, sc, blocks, hp, t, nbatch)
        loss = _read_and_grad(theta, offsets, sizes, act, out, l2, X, y, batches[next_batch],
                              ws, G[w], targets)
        next_batch += 1
        read_ver[w] = t
        if not math.isfinite(loss):
            return next_batch, t
    return next_batch, -1


def _evaluate(theta, net, X, y, ws, targets):
    """(mean loss, error fraction) of ``theta`` on all rows of ``(X, y)``, in chunks."""
    return evaluate_set(theta, net.offsets, net.sizes_array, net.act_code, net.out_code,
                        X, y, targets, ws)


def _check_optimizer(opt):
    for attr in ("step_flat", "hyper", "init_flat"):
        if not hasattr(opt, attr):
            raise TypeError(f"opt must be an adaptlr Optimizer (from adaptlr.optimizers.make), "
                            f"got {opt!r} without attribute {attr!r}")
    for flag in ("needs_curvature", "needs_hvp", "uses_grad_sq"):
        if getattr(opt, flag, False):
            raise ValueError(
                f"the asynchronous simulation supports first-order methods only; "
                f"{getattr(opt, 'name', opt)!r} has {flag}=True (allowed: optimizers that need "
                "only the gradient, e.g. sgd, momentum, adagrad, adadelta)")


def train_async(net, opt, X_train, y_train, X_test, y_test, *, replicas: int, epochs: int,
                batch_size: int = 100, seed: int = 0) -> AsyncResult:
    """Train ``net`` in place with ``replicas`` simulated asynchronous workers (see module doc).

    Parameters
    ----------
    net : adaptlr.mlp.MLP with softmax output (its ``theta`` is updated in place).
    opt : a first-order adaptlr Optimizer (``make(name, **hp)``); its state lives on the server.
    X_train, y_train, X_test, y_test : data (checked and converted to ``net.dtype``).
    replicas : int >= 1, the number N of workers.
    epochs : int >= 1; one epoch = ``len(X_train) // batch_size`` applied updates.
    batch_size : int in [1, len(X_train)].
    seed : int >= 0; fixes the data stream and the arrival order (the initialisation is
        ``net``'s own seed).
    """
    from .activations import SOFTMAX

    if net.out_code != SOFTMAX:
        raise ValueError(f"train_async supports softmax outputs only, got output={net.output!r}")
    _check_optimizer(opt)
    replicas = check_int(replicas, "replicas", 1)
    epochs = check_int(epochs, "epochs", 1)
    seed = check_int(seed, "seed", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    X, y, _ = net.prepare(X_train, y_train, "X_train", "y_train")
    Xt, yt, _ = net.prepare(X_test, y_test, "X_test", "y_test")
    if batch_size > X.shape[0]:
        raise ValueError(f"batch_size={batch_size} exceeds the {X.shape[0]} training samples; "
                         f"allowed: 1..{X.shape[0]}")

    t_start = time.perf_counter()
    n = net.n_params
    per_epoch = X.shape[0] // batch_size
    total = per_epoch * epochs
    ss_data, _, ss_workers = np.random.SeedSequence(seed).spawn(3)
    rng_data = np.random.default_rng(ss_data)
    rng_workers = np.random.default_rng(ss_workers)
    n_batches = total + replicas          # every read consumes one minibatch
    n_data_epochs = -(-n_batches // per_epoch)
    batches = np.concatenate([
        rng_data.permutation(X.shape[0])[:per_epoch * batch_size].reshape(per_epoch, batch_size)
        for _ in range(n_data_epochs)])[:n_batches].astype(np.int64)
    workers = worker_sequence(replicas, total, rng_workers)

    theta = net.theta
    blocks = net.offsets
    st, sc = opt.init_flat(n, blocks, net.dtype)
    hp = opt.hyper
    empty = np.zeros(0, dtype=net.dtype)
    targets = np.zeros((0, net.sizes[-1]), dtype=net.dtype)
    ws = make_workspace(net.sizes, batch_size, net.dtype)
    ws_eval = make_workspace(net.sizes, min(EVAL_CHUNK, max(X.shape[0], Xt.shape[0])), net.dtype)
    G = np.empty((replicas, n), dtype=net.dtype)
    read_ver = np.zeros(replicas, dtype=np.int64)
    staleness = np.full(total, -1, dtype=np.int64)

    shape = epochs + 1
    tr_loss, tr_err, te_loss, te_err = (np.full(shape, np.nan) for _ in range(4))
    s_mean, s_max = np.full(shape, np.nan), np.full(shape, np.nan)
    tr_loss[0], tr_err[0] = _evaluate(theta, net, X, y, ws_eval, targets)
    te_loss[0], te_err[0] = _evaluate(theta, net, Xt, yt, ws_eval, targets)

    diverged_step = -1
    # initial reads: every worker computes a gradient on theta_0
    nb = 0
    for w in range(replicas):
        loss = _read_and_grad(theta, net.offsets, net.sizes_array, net.act_code, net.out_code,
                              net.l2, X, y, batches[nb], ws, G[w], targets)
        nb += 1
        if not np.isfinite(loss):
            diverged_step = 0   # the initial parameters give a non-finite loss
            break
    steps = 0
    # the serial twin (bit-identical): a parallel step between BLAS products makes Numba's and
    # OpenBLAS's thread pools compete for the cores (see training._kernel_for_size)
    kernel = getattr(opt, "step_flat_serial", None) or opt.step_flat
    if diverged_step < 0:
        for e in range(1, epochs + 1):
            t0 = (e - 1) * per_epoch
            seg = slice(t0, t0 + per_epoch)
            nb, dstep = async_steps(theta, kernel, st, sc, blocks, hp, empty,
                                    np.int64(t0), np.int64(per_epoch), np.int64(batch_size),
                                    net.offsets, net.sizes_array, net.act_code, net.out_code,
                                    net.l2, X, y, batches, np.int64(nb), workers[seg], G,
                                    read_ver, ws, targets, staleness[seg])
            done = staleness[seg] >= 0
            steps = t0 + int(done.sum())
            if done.any():
                s_mean[e] = float(staleness[seg][done].mean())
                s_max[e] = float(staleness[seg][done].max())
            if dstep < 0 and not np.isfinite(theta).all():
                dstep = t0 + per_epoch
            if dstep >= 0:
                diverged_step = int(dstep)
                break
            tr_loss[e], tr_err[e] = _evaluate(theta, net, X, y, ws_eval, targets)
            te_loss[e], te_err[e] = _evaluate(theta, net, Xt, yt, ws_eval, targets)
    return AsyncResult(
        train_loss=tr_loss, train_error=tr_err, test_loss=te_loss, test_error=te_err,
        staleness_mean=s_mean, staleness_max=s_max, staleness=staleness[:steps].copy(),
        diverged=diverged_step >= 0, diverged_step=int(diverged_step), steps=int(steps),
        wall_time=time.perf_counter() - t_start)
