"""Training an MLP on the GPU: data, parameters and optimizer state stay on the device.

:func:`train_cuda` is the CUDA twin of :func:`adaptlr.mlp.training.train` and
returns the same :class:`TrainResult`. Per step it launches only kernels:

1. gather the minibatch rows by index (the epoch's permutation, drawn on the
   host from ``seed`` exactly as the CPU path draws it, uploaded once per
   epoch, so both paths see the same minibatches);
2. forward pass, per-sample losses and output deltas;
3. backward pass (gradient), and, when the optimizer asks for them, the
   mean squared per-sample gradients (``opt.uses_grad_sq``), the bbprop
   curvature (``opt.needs_curvature``) and the Gauss-Newton product with the
   optimizer's auxiliary vector ``st[V_SLOT]`` (``opt.needs_hvp``);
4. the L2 terms, a divergence check of the minibatch losses, and
   ``opt.step_cuda`` (same uniform signature as ``step_flat``).

The conventions are those of the CPU loop (adaptlr/mlp/training.py): the
same permutations (first child of ``SeedSequence(seed)``), the last
incomplete minibatch dropped, evaluation at epoch 0, every ``eval_every``
epochs and after the last, in chunks of ``EVAL_CHUNK`` rows, the same
``TrainResult`` fields and the same effective-learning-rate records.

Divergence is detected on the device: a kernel lowers a flag to the current
step when a minibatch loss is NaN or infinite (the loss of step ``t`` is
computed with the parameters produced by step ``t-1``), and another does the
same when the parameters are non-finite after the step. The host reads the
flag (one int64) every ``check_every`` steps and at the end of every epoch;
otherwise only evaluations copy to the host (per-sample losses and
correctness of the evaluated set), and, when ``record_lr_every > 0``, each
record copies theta, its value before the step and g. The reported
``diverged_step`` is exact even though the host looks only now and then. Differences from the CPU path, all after a
divergence: up to ``check_every - 1`` further steps may have run on the
device before the host stops (their ``batch_loss`` entries are reset to NaN
and their learning-rate records dropped), so ``net.theta`` then holds
those later (non-finite) values.

``wall_time`` excludes compilation: before the timer starts, one step runs
on scratch copies of the parameters and optimizer state so that every step
kernel is compiled (it does not change the run).

Reproducibility: the kernels use no atomics in sums (each output entry is
summed in a fixed order by one thread), so a run is bit-identical on one GPU
for one launch geometry; GPU and CPU agree to rounding (float32: ~1e-5
relative per step). The optimizer's own CUDA twin may use atomics (see
adaptlr/optimizers/cuda_launch.py).
"""
from __future__ import annotations

import time

import numpy as np
from numba import cuda

from ..targets import require_cuda
from . import cuda_layers as cl
from . import cuda_losses as closs
from .cuda_launch import CudaLaunch, check_launch
from .cuda_network import CudaMLP

#: rows per chunk of the evaluation passes (as the CPU loop)
EVAL_CHUNK = 1000
#: default number of steps between reads of the divergence flag
CHECK_EVERY = 100


class _Run:
    """Device state of one training run (buffers allocated once)."""

    def __init__(self, net, opt, launch, batch_size, chunk):
        sizes = list(net.sizes)
        dt = np.dtype(net.dtype)
        self.net, self.opt, self.launch, self.dt = net, opt, launch, dt
        self.mlp = CudaMLP(sizes, net.activation, net.output, net.l2, dt, batch_size, launch)
        self.emlp = CudaMLP(sizes, net.activation, net.output, net.l2, dt, chunk, launch)
        n = net.n_params
        self.n = n
        self.offsets = np.asarray(net.offsets, dtype=np.int64)  # host: no copy per step
        self.needs_curv = bool(getattr(opt, "needs_curvature", False))
        self.uses_gsq = bool(getattr(opt, "uses_grad_sq", False))
        self.needs_hvp = bool(getattr(opt, "needs_hvp", False))
        self.v_slot = int(getattr(opt, "V_SLOT", None) or 0) if self.needs_hvp else 0
        self.g = cuda.device_array(n, dtype=dt)
        e = cuda.device_array(0, dtype=dt)
        self.curv = cuda.device_array(n, dtype=dt) if self.needs_curv else e
        self.gsq = cuda.device_array(n, dtype=dt) if self.uses_gsq else e
        self.hv = cuda.device_array(n, dtype=dt) if self.needs_hvp else e
        self.empty = e
        self.flag = cuda.to_device(np.array([cl.NO_DIVERGENCE], dtype=np.int64))
        self.step_cuda = opt.step_cuda
        self.hyper = opt.hyper
        self.B = batch_size
        if net.output == "softmax":
            self.tb = cuda.device_array(batch_size, dtype=np.int64)
        else:
            self.tb = cuda.device_array((batch_size, sizes[-1]), dtype=dt)
        self.blocks = max(1, min(launch.max_blocks, -(-n // launch.threads)))

    def step(self, theta, st, sc, X, T, perm, start, t, batch_loss):
        """One training step ``t`` (1-based) on rows ``perm[start:start+B]``: kernels only."""
        lp, m, B = self.launch, self.mlp, self.B
        cl.gather_rows(X, perm, start, m.Y[0][:B], lp)
        if self.net.output == "softmax":
            cl.gather_labels(T, perm, start, self.tb, lp)
        else:
            cl.gather_rows(T, perm, start, self.tb, lp)
        m.forward(theta, B)
        m.loss_delta(self.tb, B, want_h=self.needs_curv)
        closs.batch_mean_loss(m.loss[:B], batch_loss, t - 1, self.flag, t)
        m.backward(theta, self.g, B, gsq=self.gsq if self.uses_gsq else None)
        if self.needs_curv:
            m.bbprop(theta, self.curv, B)
        v = st[self.v_slot] if self.needs_hvp else None
        if self.needs_hvp:
            m.gnvp(theta, v, self.hv, B)
        m.add_l2(theta, self.g, self.curv if self.needs_curv else None,
                 self.gsq if self.uses_gsq else None, self.hv if self.needs_hvp else None, v)
        self.step_cuda(theta, self.g, self.curv, self.gsq, self.hv, st, sc, self.offsets,
                       self.hyper, t, B, threads=lp.threads, blocks=self.blocks)
        cl.flag_nonfinite(theta, self.flag, t, lp)

    def evaluate(self, theta, X, T, loss_all, correct_all):
        """(mean data loss, error) over all rows, as the CPU's evaluate_set; one copy back."""
        N = X.shape[0]
        em = self.emlp
        cap = em.capacity
        for i0 in range(0, N, cap):
            b = min(cap, N - i0)
            em.forward(theta, b, X[i0:i0 + b])
            em.loss_delta(T[i0:i0 + b], b, loss=loss_all[i0:i0 + b],
                          correct=correct_all[i0:i0 + b] if correct_all is not None else None)
        loss = loss_all.copy_to_host().astype(np.float64)
        lo = float(loss.sum() / N)
        if correct_all is not None:
            err = float((N - int(correct_all.copy_to_host().sum())) / N)
        else:
            err = lo
        return lo, err

    def read_flag(self) -> int:
        f = int(self.flag.copy_to_host()[0])
        return -1 if f == cl.NO_DIVERGENCE else f


def _record(theta_h, prev_h, g_h, offsets, sizes, rec_dims, r, lr_min, lr_med, lr_max,
            lr_trace, up_trace):
    """Effective learning rate |dx/g| of record ``r``, as training.record_effective_lr."""
    for k in range(len(sizes) - 1):
        lo, hi = int(offsets[2 * k]), int(offsets[2 * k + 1])
        g = g_h[lo:hi]
        dx = theta_h[lo:hi] - prev_h[lo:hi]
        nz = g != 0
        if nz.any():
            vals = np.sort(np.abs(dx[nz] / g[nz]))
            c = vals.size
            lr_min[r, k] = vals[0]
            lr_max[r, k] = vals[-1]
            lr_med[r, k] = vals[c // 2] if c % 2 == 1 else \
                0.5 * (float(vals[c // 2 - 1]) + float(vals[c // 2]))
        for d in range(rec_dims.shape[1]):
            i = rec_dims[k, d]
            up_trace[r, k, d] = dx[i]
            if g[i] != 0:
                lr_trace[r, k, d] = abs(dx[i] / g[i])


def train_cuda(net, opt, X_train, y_train, X_test=None, y_test=None, epochs=1, batch_size=100,
               seed=0, record_lr_every=0, record_dims=None, eval_every=1, device="cuda", *,
               launch: CudaLaunch | None = None, check_every: int = CHECK_EVERY):
    """Train ``net`` in place on the GPU; same arguments and result as :func:`adaptlr.mlp.train`.

    Extra keyword-only arguments: ``launch`` (:class:`CudaLaunch`, kernel geometry;
    tests use tiny tiles and blocks) and ``check_every`` (steps between reads of the
    device divergence flag, >= 1; it is also read at every evaluation). ``device``
    is accepted for symmetry with ``train`` and must be ``"cuda"``.

    Raises :class:`adaptlr.targets.CudaUnavailableError` (naming ``device='cpu'``)
    when no CUDA device (or simulator) is present, before touching anything.
    """
    require_cuda("MLP training (train_cuda)")
    from .train_result import TrainResult, record_buffers
    from .training import _optimizer_interface, _record_dims
    from .validation import check_int

    if device != "cuda":
        raise ValueError(f"train_cuda runs on device='cuda', got device={device!r}")
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    record_lr_every = check_int(record_lr_every, "record_lr_every", 0)
    eval_every = check_int(eval_every, "eval_every", 1)
    check_every = check_int(check_every, "check_every", 1)
    launch = check_launch(launch)
    _optimizer_interface(opt)  # same TypeError as the CPU path for non-optimizers
    if not hasattr(opt, "step_cuda"):
        raise TypeError(f"opt ({type(opt).__name__}) has no step_cuda (CUDA twin)")

    X, labels, targets = net.prepare(X_train, y_train, "X_train", "y_train")
    N = X.shape[0]
    if batch_size > N:
        raise ValueError(f"batch_size={batch_size} exceeds the number of training samples ({N})")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    has_test = X_test is not None
    softmax = net.output == "softmax"
    if has_test:
        Xt, labels_t, targets_t = net.prepare(X_test, y_test, "X_test", "y_test")

    ss_shuffle, ss_dims = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(ss_shuffle)
    rec_dims = _record_dims(net, record_dims, np.random.default_rng(ss_dims)) if record_lr_every \
        else np.zeros((net.n_layers, 0), dtype=np.int64)

    dt = np.dtype(net.dtype)
    n = net.n_params
    st_h, sc_h = opt.init_flat(n, net.offsets, dt)
    chunk = min(EVAL_CHUNK, max(N, Xt.shape[0] if has_test else 1))
    run = _Run(net, opt, launch, batch_size, chunk)

    # resident data, parameters and state
    Xd = cuda.to_device(X)
    Td = cuda.to_device(labels if softmax else targets)
    if has_test:
        Xtd = cuda.to_device(Xt)
        Ttd = cuda.to_device(labels_t if softmax else targets_t)
    theta = cuda.to_device(net.theta)
    st = cuda.to_device(st_h)
    sc = cuda.to_device(sc_h)
    perm = cuda.device_array(N, dtype=np.int64)
    loss_all = cuda.device_array(max(N, Xt.shape[0] if has_test else 0), dtype=dt)
    corr_all = cuda.device_array(loss_all.shape[0], dtype=np.int32) if softmax else None

    spe = N // batch_size
    steps_total = epochs * spe
    L = net.n_layers
    n_rec, lr_steps, lr_min, lr_med, lr_max, lr_trace, up_trace, curves = record_buffers(
        steps_total, record_lr_every, L, rec_dims.shape[1], epochs)
    batch_loss = cuda.to_device(np.full(max(steps_total, 1), np.nan))
    prev = cuda.device_array(n, dtype=dt) if n_rec else None

    def evaluate_all(e):
        lo, er = run.evaluate(theta, Xd, Td, loss_all[:N], corr_all[:N] if softmax else None)
        curves[0][e], curves[1][e] = lo, er
        if has_test:
            Nt = Xt.shape[0]
            lo2, er2 = run.evaluate(theta, Xtd, Ttd, loss_all[:Nt],
                                    corr_all[:Nt] if softmax else None)
            curves[2][e], curves[3][e] = lo2, er2
            lo = lo + lo2
        return lo

    if steps_total:  # compile every step kernel outside the timed region, on scratch copies
        wperm = cuda.to_device(np.arange(N, dtype=np.int64))
        wflag = run.flag
        run.flag = cuda.to_device(np.array([cl.NO_DIVERGENCE], dtype=np.int64))
        run.step(_copy(theta), _copy(st), _copy(sc), Xd, Td, wperm, 0, 1,
                 cuda.device_array(1, dtype=np.float64))
        run.flag = wflag
        cuda.synchronize()

    t0 = time.perf_counter()
    t = 0
    diverged = -1
    lo = evaluate_all(0)
    cl.flag_nonfinite(theta, run.flag, 0, launch)
    if not np.isfinite(lo) or run.read_flag() == 0:
        diverged = 0
    else:
        for e in range(epochs):
            perm.copy_to_device(rng.permutation(N).astype(np.int64))
            for bi in range(spe):
                t += 1
                recording = n_rec and t % record_lr_every == 0
                if recording:
                    cl.copy2d(theta.reshape(1, n), prev.reshape(1, n), launch)
                run.step(theta, st, sc, Xd, Td, perm, bi * batch_size, t, batch_loss)
                if recording:
                    rr = t // record_lr_every - 1
                    lr_steps[rr] = t
                    _record(theta.copy_to_host(), prev.copy_to_host(), run.g.copy_to_host(),
                            net.offsets, net.sizes, rec_dims, rr, lr_min, lr_med, lr_max,
                            lr_trace, up_trace)
                if t % check_every == 0 or bi == spe - 1:
                    f = run.read_flag()
                    if f >= 0:
                        diverged = f
                        break
            if diverged >= 0:
                break
            if (e + 1) % eval_every == 0 or e + 1 == epochs:
                lo = evaluate_all(e + 1)
                if not np.isfinite(lo):
                    diverged = t
                    break
    cuda.synchronize()
    wall = time.perf_counter() - t0

    bl = batch_loss.copy_to_host()[:steps_total]
    if diverged >= 0:
        t = diverged
        bl[diverged:] = np.nan
        late = lr_steps > diverged
        lr_steps[late] = -1
        for a in (lr_min, lr_med, lr_max, lr_trace, up_trace):
            a[late] = np.nan
    net.theta[:] = theta.copy_to_host()
    return TrainResult(
        train_loss=curves[0], train_error=curves[1], test_loss=curves[2], test_error=curves[3],
        diverged=diverged >= 0, diverged_step=int(diverged), steps=int(t), wall_time=wall,
        batch_loss=bl, lr_steps=lr_steps, lr_min=lr_min, lr_median=lr_med, lr_max=lr_max,
        lr_trace=lr_trace, update_trace=up_trace, record_dims=rec_dims,
    )


def _copy(a):
    out = cuda.device_array_like(a)
    out.copy_to_device(a)
    return out
