"""The compiled training loop: :func:`train` (docs/architecture.md, "Training API").

Per step t = 1, 2, ... (one minibatch of exactly ``batch_size`` rows)::

    forward + loss            (forward.py)      -> batch_loss[t-1]; non-finite => diverged at t
    g    = dJ/dtheta          (backward.py)
    curv = bbprop             (bbprop.py)       only if opt.needs_curvature
    gsq  = mean_n g_n^2       (per_sample.py)   only if opt.uses_grad_sq
    hv   = G v, v = st[V_SLOT] (gnvp.py)        only if opt.needs_hvp (SMD)
    opt.step_flat(theta, g, curv, gsq, hv, st, sc, offsets, hp, t, batch_size)
    any theta_i non-finite    => diverged at t

all inside one ``@njit`` function that receives ``opt.step_flat`` as an argument
(Numba specialises the loop on it), so batch size 1 costs no Python per step and
nothing is allocated per step (batch size 1 uses fused rank-1 loops instead of
BLAS for the weight-shaped products, see rank1.py). With batch size 1 and an
elementwise method (every method but vSGD-b, vSGD-g and SMD), backward, bbprop,
gsq, the step and the finiteness test are one fused pass over the parameters
(online_step.py: same mathematics, agrees with the unfused path to rounding). For SGD and
AdaGrad (rules that are the identity at a zero gradient) without L2, batch size 1 also
replaces forward.py's BLAS pass by online_forward.py's (no BLAS, zero inputs skipped;
agrees to rounding), so no BLAS call sits between two steps. The loop itself is compiled
once per process and optimizer kernel (not cached on disk, see below; about 5-10 s
of CPU), outside the timed ``wall_time``. Unused inputs are passed as zero-length arrays.
``offsets`` are the network's layer blocks ``[W_0, b_0, W_1, b_1, ...]`` for every
optimizer (vSGD-b's blocks; vSGD-g and SMD kernels treat the flat vector as one
block themselves).

Choices (where the papers are silent):

* Shuffling: a fresh permutation per epoch from ``numpy.random.default_rng`` seeded
  with the first child of ``SeedSequence(seed)`` (all permutations drawn before the
  loop); random ``record_dims`` come from the second child. Same seed => bit-identical
  results on the CPU (the BLAS calls are deterministic for a fixed thread count).
* The last, incomplete minibatch of an epoch is dropped (every step has exactly
  ``batch_size`` samples; the next epoch's permutation covers the dropped samples).
* The network's parameters ``net.theta`` are updated in place.
* ``train_loss`` is the data loss without the L2 term (the objective also has
  lambda/2 ||W||^2); ``batch_loss`` likewise.
* Evaluation passes (whole train and test sets, chunks of up to ``EVAL_CHUNK`` rows)
  at epoch 0 and after every ``eval_every``-th epoch and the last one.
* Divergence: a non-finite minibatch loss (checked before the step), a non-finite
  parameter (checked after each step) or a non-finite evaluation loss stops the run;
  ``diverged_step`` is the step at which it was detected. No exception is raised;
  epochs not reached stay NaN.
* Effective learning rate (ADADELTA Fig. 2): every ``record_lr_every`` steps, per
  weight matrix W_k, min/median/max of ``|dx_i / g_i|`` over entries with g_i != 0,
  where dx is the step just taken and g the gradient it was given.
"""
from __future__ import annotations

import math
import time

import numpy as np

from numba import njit

from ..targets import ERROR_MODEL, FASTMATH, FASTMATH_FLAGS, cpu_kernel, require_cuda
from .activations import SOFTMAX
from .backward import backward
from .bbprop import bbprop
from .evaluation import evaluate_set
from .forward import forward
from .gnvp import gnvp
from .online_forward import make_parts, online_forward
from .online_step import online_kernel
from .per_sample import grad_sq
from .resume import digest, run_identity
from .resume import load as load_checkpoint
from .resume import save as save_checkpoint
from .train_result import TrainResult, record_buffers
from .validation import check_int
from .workspace import make_workspace

#: batch size 1 with an elementwise method uses the fused online step (online_step.py);
#: False forces the unfused path (tests compare the two)
FUSE_ONLINE = True
#: while the fused online step runs (its rows are spread over Numba's threads), BLAS (the
#: batch-1 forward pass) runs on one thread, so the two thread pools do not fight over the
#: cores (see ``_kernel_for_size``); False leaves BLAS's threads as they are
ONLINE_ONE_BLAS_THREAD = True
#: batch size 1 with a method whose rule is the identity at a zero gradient (SGD, AdaGrad)
#: and l2 = 0: the forward pass of online_forward.py (no BLAS, zero inputs skipped) instead
#: of forward.py's; False forces forward.py (tests compare the two)
SPARSE_FORWARD = True
#: rows per chunk of the evaluation passes
EVAL_CHUNK = 1000
#: default number of random dimensions per weight layer when record_dims=True
DEFAULT_RECORD_DIMS = 10


@cpu_kernel
def all_finite(x):
    """True when every entry of the 1-D array ``x`` is finite.

    ``x_i - x_i`` is 0 for finite entries and NaN for inf/NaN; OR-ing the integer
    comparison results vectorises without fast-math (a float sum would not)."""
    bad = False
    for i in range(x.shape[0]):
        v = x[i]
        bad |= (v - v) != 0
    return not bad


@cpu_kernel
def record_effective_lr(theta, theta_prev, g, offsets, sizes, rec_dims, r, tmp,
                        lr_min, lr_med, lr_max, lr_trace, up_trace):
    """Fill record ``r`` of the effective-learning-rate arrays from the step just taken."""
    n_layers = sizes.shape[0] - 1
    for k in range(n_layers):
        lo = offsets[2 * k]
        hi = offsets[2 * k + 1]
        cnt = 0
        for i in range(lo, hi):
            if g[i] != 0:
                tmp[cnt] = abs((theta[i] - theta_prev[i]) / g[i])
                cnt += 1
        if cnt > 0:
            vals = np.sort(tmp[:cnt])
            lr_min[r, k] = vals[0]
            lr_max[r, k] = vals[cnt - 1]
            if cnt % 2 == 1:
                lr_med[r, k] = vals[cnt // 2]
            else:
                lr_med[r, k] = 0.5 * (vals[cnt // 2 - 1] + vals[cnt // 2])
        for d in range(rec_dims.shape[1]):
            i = lo + rec_dims[k, d]
            dx = theta[i] - theta_prev[i]
            up_trace[r, k, d] = dx
            if g[i] != 0:
                lr_trace[r, k, d] = abs(dx / g[i])


# Not cached: a cached function that takes another dispatcher (opt.step_flat) as an argument
# reloads stale function pointers and crashes (Numba limitation), so the loop is compiled once
# per process and optimizer kernel; the kernels it calls are cached.
@njit(fastmath=set(FASTMATH_FLAGS) if FASTMATH else False, cache=False, error_model=ERROR_MODEL)
def train_loop(step_flat, hp, online, ohp, sparse, parts, theta, st, sc, offsets, sizes, act, out, l2,
               X, labels, targets, Xt, labels_t, targets_t, has_test,
               perms, batch_size, epochs, eval_every, e_start, e_stop, t_start,
               ws, ews, g, curv, gsq, hv, needs_curv, uses_gsq, needs_hvp, v_slot,
               rec_every, rec_dims, rec_tmp, lr_steps, lr_min, lr_med, lr_max, lr_trace, up_trace,
               train_loss, train_err, test_loss, test_err, batch_loss):
    """Epochs ``e_start .. e_stop - 1`` of a run of ``epochs`` in compiled code, the step
    counter starting from ``t_start`` (the steps already taken); returns
    ``(diverged_step, steps)`` (-1 = no divergence; ``steps`` the step counter at the end).
    ``e_start = 0`` evaluates the initial parameters first (epoch 0 of the curves). One
    call over ``0 .. epochs`` is the whole run; :func:`train` calls it per chunk of
    epochs only to write checkpoints between them (resume.py), which gives the same bits.

    Array outputs are filled in place (NaN-initialised by the caller). ``needs_curv``,
    ``uses_gsq``, ``needs_hvp`` and ``sparse`` (online_forward.py's pass, scratch ``parts``)
    are ``None`` when off, so Numba prunes those branches at compile time (less to compile). ``rec_every = 0``: one integer test per step, nothing else."""
    N = X.shape[0]
    n_in = sizes[0]
    n_out = sizes[sizes.shape[0] - 1]
    B = batch_size
    spe = N // B
    Xf = X.reshape(N * n_in)
    Tf = targets.reshape(targets.shape[0] * n_out)
    Xb = ws.xb[:B * n_in].reshape(B, n_in)
    if out == SOFTMAX:
        lab = ws.yb[:B]
        tar = ws.tb[:0].reshape(0, n_out)
    else:
        lab = ws.yb[:0]
        tar = ws.tb[:B * n_out].reshape(B, n_out)
    t = t_start
    diverged = -1
    if e_start == 0:  # epoch 0
        lo, er = evaluate_set(theta, offsets, sizes, act, out, X, labels, targets, ews)
        train_loss[0] = lo
        train_err[0] = er
        if has_test:
            lo2, er2 = evaluate_set(theta, offsets, sizes, act, out, Xt, labels_t, targets_t, ews)
            test_loss[0] = lo2
            test_err[0] = er2
            lo = lo + lo2
        if not (math.isfinite(lo) and all_finite(theta)):
            return 0, 0
    for e in range(e_start, e_stop):
        for bi in range(spe):
            t += 1
            # gather the minibatch
            for r in range(B):
                src = perms[e, bi * B + r]
                Xb[r, :] = Xf[src * n_in:(src + 1) * n_in]
                if out == SOFTMAX:
                    lab[r] = labels[src]
                else:
                    tar[r, :] = Tf[src * n_out:(src + 1) * n_out]
            if sparse is not None:
                loss_sum, _ = online_forward(theta, offsets, sizes, act, out, Xb, lab, tar, ws, parts)
            else:
                loss_sum, _ = forward(theta, offsets, sizes, act, out, Xb, B, lab, tar, ws)
            bl = loss_sum / B
            batch_loss[t - 1] = bl
            if not math.isfinite(bl):
                diverged = t
                break
            recording = rec_every > 0 and t % rec_every == 0
            if online is not None:  # batch size 1, elementwise method: one fused pass
                if recording:
                    ws.theta_prev[:] = theta
                    bad = online(theta, st, ohp, t, offsets, sizes, act, out, l2, Xb, lab, tar, ws,
                                 needs_curv, g)
                    rr = t // rec_every - 1
                    lr_steps[rr] = t
                    record_effective_lr(theta, ws.theta_prev, g, offsets, sizes, rec_dims, rr, rec_tmp,
                                        lr_min, lr_med, lr_max, lr_trace, up_trace)
                else:
                    bad = online(theta, st, ohp, t, offsets, sizes, act, out, l2, Xb, lab, tar, ws,
                                 needs_curv, None)
                if bad:
                    diverged = t
                    break
                continue
            backward(theta, offsets, sizes, act, out, l2, Xb, B, lab, tar, ws, g)
            if needs_curv is not None:
                bbprop(theta, offsets, sizes, act, out, l2, Xb, B, ws, curv)
            if uses_gsq is not None:
                grad_sq(theta, offsets, sizes, l2, Xb, B, ws, g, gsq)
            if needs_hvp is not None:
                gnvp(theta, offsets, sizes, act, out, l2, Xb, B, ws, st[v_slot], hv)
            if recording:
                ws.theta_prev[:] = theta
            step_flat(theta, g, curv, gsq, hv, st, sc, offsets, hp, t, B)
            if recording:
                rr = t // rec_every - 1
                lr_steps[rr] = t
                record_effective_lr(theta, ws.theta_prev, g, offsets, sizes, rec_dims, rr, rec_tmp,
                                    lr_min, lr_med, lr_max, lr_trace, up_trace)
            if not all_finite(theta):
                diverged = t
                break
        if diverged >= 0:
            break
        if (e + 1) % eval_every == 0 or e + 1 == epochs:
            lo, er = evaluate_set(theta, offsets, sizes, act, out, X, labels, targets, ews)
            train_loss[e + 1] = lo
            train_err[e + 1] = er
            if has_test:
                lo2, er2 = evaluate_set(theta, offsets, sizes, act, out, Xt, labels_t, targets_t, ews)
                test_loss[e + 1] = lo2
                test_err[e + 1] = er2
                lo = lo + lo2
            if not math.isfinite(lo):
                diverged = t
                break
    return diverged, t


def _optimizer_interface(opt):
    """``(step_flat, hyper, needs_curv, uses_gsq, needs_hvp, v_slot)`` of an optimizer object."""
    missing = [a for a in ("step_flat", "hyper", "init_flat") if not hasattr(opt, a)]
    if missing:
        raise TypeError(
            f"opt must be an adaptlr optimizer (adaptlr.optimizers.make(name, **hp)) with step_flat, hyper "
            f"and init_flat; {type(opt).__name__} lacks {missing}"
        )
    needs_hvp = bool(getattr(opt, "needs_hvp", False))
    v_slot = getattr(opt, "v_slot", None)
    if v_slot is None:
        v_slot = getattr(opt, "V_SLOT", None)
    if v_slot is None and needs_hvp:
        mod = getattr(opt, "module", None)
        v_slot = getattr(mod, "V_SLOT", None)
    if v_slot is None:
        if needs_hvp:
            raise TypeError("opt.needs_hvp is True but the optimizer exposes no V_SLOT/v_slot (row of v in st)")
        v_slot = 0
    return (opt.step_flat, opt.hyper, bool(getattr(opt, "needs_curvature", False)),
            bool(getattr(opt, "uses_grad_sq", False)), needs_hvp, int(v_slot))


def _kernel_for_size(opt, step_flat, n_params):
    """The serial twin of ``step_flat`` (bit-identical results), for every network size.

    Inside the training loop the matrix products run on OpenBLAS's own thread pool.
    A parallel (``prange``) optimizer step between them wakes Numba's OpenMP pool, and
    the two pools then fight over the cores: OpenBLAS's workers spin for a while after
    every product. Measured on this 2-core machine (MNIST 784-500-300-10, minibatch 100,
    AdaDelta, float32): 10.5 s per epoch with the parallel step, 3.2-3.5 s with the
    serial one, although the parallel step alone is 1.9x faster (0.67 against 1.26 ms
    on the network's 545,810 parameters, miscounted as 648,010 here before). Small networks and online training (batch size 1) gain too:
    there a parallel launch costs more than the step. ``n_params`` is kept for callers.
    """
    serial = getattr(opt, "step_flat_serial", None)
    return serial if serial is not None else step_flat


def _compute_setting() -> dict:
    """What besides the code decides the bits of a run on this host: the BLAS libraries'
    kernel sets (OpenBLAS picks them by CPU) and thread counts, and Numba's thread count.
    Part of a checkpoint's identity, so that a run never resumes under another setting
    (its result would be what no single setting computes)."""
    import numba
    from threadpoolctl import threadpool_info

    blas = sorted(f"{d.get('internal_api')} {d.get('architecture')} threads={d.get('num_threads')}"
                  for d in threadpool_info() if d.get("user_api") == "blas")
    return {"blas": blas, "numba_threads": numba.get_num_threads()}


def _blas_threads(online, sparse=None):
    """One BLAS thread while the fused online step (``online``) runs on Numba's threads
    (:data:`ONLINE_ONE_BLAS_THREAD`), else nothing changes. Each row of the online step is
    one thread's whatever their number, and one BLAS thread sums the forward pass in one
    order, so online training gives the same bits for any thread count. With ``sparse``
    (online_forward.py's pass: no BLAS between the steps) BLAS keeps its threads for the
    evaluation passes."""
    import contextlib

    import numba

    if (online is None or sparse is not None or not ONLINE_ONE_BLAS_THREAD
            or numba.get_num_threads() < 2):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _record_dims(net, record_dims, rng):
    """(n_weight_layers, n_dims) int64 flat indices within each W_k."""
    L = net.n_layers
    sizes = [net.sizes[k] * net.sizes[k + 1] for k in range(L)]
    if record_dims is None or record_dims is False:
        return np.zeros((L, 0), dtype=np.int64)
    if record_dims is True:
        record_dims = DEFAULT_RECORD_DIMS
    if isinstance(record_dims, (int, np.integer)) and not isinstance(record_dims, (bool, np.bool_)):
        D = check_int(record_dims, "record_dims", 0)
        if D > min(sizes):
            raise ValueError(f"record_dims={D} exceeds the smallest weight layer ({min(sizes)} weights)")
        return np.stack([np.sort(rng.choice(s, size=D, replace=False)) for s in sizes]).astype(np.int64)
    arr = np.asarray(record_dims)
    if arr.ndim != 2 or arr.shape[0] != L or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"record_dims must be None, an int (random dimensions per weight layer) or an integer array of "
            f"shape ({L}, n_dims) of flat indices within each W_k; got {record_dims!r}"
        )
    for k in range(L):
        if arr.shape[1] and (arr[k].min() < 0 or arr[k].max() >= sizes[k]):
            raise ValueError(f"record_dims[{k}] must lie in [0, {sizes[k]}) (entries of W_{k}), got {arr[k]}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def train(net, opt, X_train, y_train, X_test=None, y_test=None, epochs=1, batch_size=100, seed=0,
          record_lr_every=0, record_dims=None, device="cpu", eval_every=1, checkpoint=None,
          checkpoint_every=1, stop_at=None) -> TrainResult:
    """Train ``net`` in place with ``opt`` by minibatch (or online, batch_size=1) SGD-type steps.

    Parameters
    ----------
    net : MLP
    opt : optimizer from ``adaptlr.optimizers.make(name, **hp)`` (``step_flat``, ``hyper``,
        ``init_flat``, ``needs_curvature``, ``uses_grad_sq``, ``needs_hvp``).
    X_train, y_train : inputs (N, n_in) and integer labels (softmax) or targets (N, n_out) (linear).
    X_test, y_test : optional test set (both or neither).
    epochs : int >= 0.  batch_size : int in [1, N].  seed : int >= 0 (shuffle and record_dims).
    record_lr_every : int >= 0, record the effective learning rate every this many steps (0 = never;
        no cost then).
    record_dims : None, int (that many random entries of each W_k, drawn from ``seed``), True (10)
        or an int array (n_weight_layers, n_dims) of flat indices within each W_k.
    device : "cpu" or "cuda" (delegates to ``adaptlr.mlp.cuda_training.train_cuda``).
    eval_every : int >= 1, evaluate every this many epochs (and after the last).
    checkpoint : None or a file path (CPU only). Resume from the checkpoint there when it
        exists (it must belong to this very run, else ``ValueError``), and write one after
        every ``checkpoint_every`` epochs (resume.py): a killed run then loses at most that
        many epochs, and resumes bit for bit. None: no file, one compiled call.
    checkpoint_every : int >= 1, epochs between checkpoints.
    stop_at : None or a time (seconds since the epoch, as ``time.time()``; needs
        ``checkpoint``): start no further chunk of ``checkpoint_every`` epochs that is
        expected (at the pace of this call's chunks) to end after it; the result then has
        ``complete=False`` and a later call with the same checkpoint goes on. The first
        chunk of a call always runs.

    An optimizer made with ``arithmetic="storage"`` (its rule computes in the network's dtype)
    trains on the CPU only; at batch size 1 it takes its own ``step_flat`` per sample, not the
    fused online step (``online_step.py``, which computes in float64).

    Returns
    -------
    TrainResult (see train_result.py; the module docstring lists the choices made).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and (checkpoint is not None or stop_at is not None):
        raise ValueError("checkpoint/stop_at: resumable training runs on the CPU only "
                         "(device='cpu'); got device='cuda'")
    if stop_at is not None and checkpoint is None:
        raise ValueError(f"stop_at={stop_at!r} needs a checkpoint path to resume from; "
                         "allowed: stop_at=None, or give checkpoint=")
    if stop_at is not None and not (isinstance(stop_at, (int, float)) and math.isfinite(stop_at)):
        raise ValueError(f"stop_at={stop_at!r}; allowed: None or a finite time in seconds "
                         "since the epoch (time.time())")
    arithmetic = getattr(opt, "arithmetic", "float64")
    if device == "cuda" and arithmetic != "float64":
        raise ValueError(f"device='cuda' trains with the float64-arithmetic CUDA twins; the "
                         f"optimizer has arithmetic={arithmetic!r} (allowed there: 'float64')")
    if device == "cuda":
        require_cuda("MLP training (device='cuda')")
        from .cuda_training import train_cuda

        return train_cuda(net, opt, X_train, y_train, X_test, y_test, epochs=epochs, batch_size=batch_size,
                          seed=seed, record_lr_every=record_lr_every, record_dims=record_dims,
                          device=device, eval_every=eval_every)
    epochs = check_int(epochs, "epochs", 0)
    batch_size = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    record_lr_every = check_int(record_lr_every, "record_lr_every", 0)
    eval_every = check_int(eval_every, "eval_every", 1)
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    step_flat, hyper, needs_curv, uses_gsq, needs_hvp, v_slot = _optimizer_interface(opt)
    step_flat = _kernel_for_size(opt, step_flat, net.n_params)

    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    X, labels, targets = net.prepare(X_train, y_train, "X_train", "y_train")
    N = X.shape[0]
    if batch_size > N:
        raise ValueError(f"batch_size={batch_size} exceeds the number of training samples ({N})")
    has_test = X_test is not None
    if has_test:
        Xt, labels_t, targets_t = net.prepare(X_test, y_test, "X_test", "y_test")
    else:
        Xt, labels_t, targets_t = X[:1], labels[:0], targets[:0]

    ss_shuffle, ss_dims = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(ss_shuffle)
    perms = np.empty((epochs, N), dtype=np.int64)
    for e in range(epochs):
        perms[e] = rng.permutation(N)
    rec_dims = _record_dims(net, record_dims, np.random.default_rng(ss_dims)) if record_lr_every else \
        np.zeros((net.n_layers, 0), dtype=np.int64)

    n = net.n_params
    dt = net.dtype
    st, sc = opt.init_flat(n, net.offsets, dt)
    ws = make_workspace(net.sizes, batch_size, dt)
    chunk = min(EVAL_CHUNK, max(N, Xt.shape[0] if has_test else 1))
    ews = make_workspace(net.sizes, chunk, dt)
    g = np.zeros(n, dt)
    curv = np.zeros(n if needs_curv else 0, dt)
    gsq = np.zeros(n if uses_gsq else 0, dt)
    hv = np.zeros(n if needs_hvp else 0, dt)

    steps_total = epochs * (N // batch_size)
    L = net.n_layers
    n_rec, lr_steps, lr_min, lr_med, lr_max, lr_trace, up_trace, curves = record_buffers(
        steps_total, record_lr_every, L, rec_dims.shape[1], epochs)
    rec_tmp = np.zeros(max(net.sizes[k] * net.sizes[k + 1] for k in range(L)) if n_rec else 0, dt)
    batch_loss = np.full(steps_total, np.nan)

    online = online_kernel(opt.method) if (batch_size == 1 and FUSE_ONLINE and hasattr(opt, "method")
                                           and arithmetic == "float64") else None
    ohp = hyper
    if online is not None and "C" in hyper._fields and hyper.C == 0.0:  # vSGD's automatic C = d/10
        ohp = hyper._replace(C=n / 10.0)
    sparse = True if (online is not None and SPARSE_FORWARD and net.l2 == 0.0
                      and opt.method.zero_grad_identity) else None
    parts = make_parts(net.sizes) if sparse else np.zeros((0, 0), np.float64)
    def args(e_start, e_stop, t_start):
        return (step_flat, hyper, online, ohp, sparse, parts, net.theta, st, sc, net.offsets,
                net.sizes_array, net.act_code, net.out_code, net.l2, X, labels, targets, Xt,
                labels_t, targets_t, has_test, perms, batch_size, epochs, eval_every, e_start,
                e_stop, t_start, ws, ews, g, curv, gsq, hv, True if needs_curv else None,
                True if uses_gsq else None, True if needs_hvp else None, v_slot,
                record_lr_every, rec_dims, rec_tmp, lr_steps, lr_min, lr_med, lr_max, lr_trace,
                up_trace, *curves, batch_loss)

    buffers = {"theta": net.theta, "st": st, "sc": sc, "train_loss": curves[0],
               "train_error": curves[1], "test_loss": curves[2], "test_error": curves[3],
               "batch_loss": batch_loss, "lr_steps": lr_steps, "lr_min": lr_min,
               "lr_median": lr_med, "lr_max": lr_max, "lr_trace": lr_trace,
               "update_trace": up_trace}
    e_done, steps, div_step, wall, started = 0, 0, -1, 0.0, False
    ident = None
    if checkpoint is not None:
        ident = run_identity(
            sizes=net.sizes, act=net.act_code, out=net.out_code, l2=net.l2, dtype=str(dt),
            method=getattr(getattr(opt, "method", None), "name", type(opt).__name__),
            optimizer=type(opt).__name__, hyper=hyper, arithmetic=arithmetic, seed=seed,
            epochs=epochs, batch_size=batch_size, eval_every=eval_every,
            record_lr_every=record_lr_every, record_dims=digest(rec_dims),
            fused_online=online is not None, sparse_forward=bool(sparse),
            train_data=digest(X, labels, targets),
            test_data=digest(Xt, labels_t, targets_t) if has_test else "",
            initial_theta=digest(net.theta), **_compute_setting())
        got = load_checkpoint(checkpoint, ident)
        if got is not None:
            for k, a in buffers.items():
                a[...] = got[k]
            e_done, steps, div_step, wall = (got["epochs_done"], got["steps"],
                                             got["diverged_step"], got["wall_time"])
            started = True
    if hasattr(train_loop, "compile"):  # compile outside the timed region (not with NUMBA_DISABLE_JIT)
        from numba import typeof

        train_loop.compile(tuple(typeof(a) for a in args(0, epochs, 0)))
    chunk_times = []
    with _blas_threads(online, sparse):
        while not started or (e_done < epochs and div_step < 0):
            e_stop = epochs if checkpoint is None else min(epochs, e_done + checkpoint_every)
            if stop_at is not None and chunk_times:
                per_epoch = sum(chunk_times) / len(chunk_times)
                if time.time() + per_epoch * (e_stop - e_done) > stop_at:
                    break
            t0 = time.perf_counter()
            d, steps = train_loop(*args(e_done, e_stop, steps))
            took = time.perf_counter() - t0
            wall += took
            chunk_times.append(took / max(1, e_stop - e_done))
            div_step, e_done, started = int(d), e_stop, True
            if checkpoint is not None:
                save_checkpoint(checkpoint, ident, epochs_done=e_done, steps=steps,
                                diverged_step=div_step, wall_time=wall, **buffers)
    return TrainResult(
        train_loss=curves[0], train_error=curves[1], test_loss=curves[2], test_error=curves[3],
        diverged=div_step >= 0, diverged_step=div_step, steps=int(steps), wall_time=wall,
        batch_loss=batch_loss, lr_steps=lr_steps, lr_min=lr_min, lr_median=lr_med, lr_max=lr_max,
        lr_trace=lr_trace, update_trace=up_trace, record_dims=rec_dims,
        complete=div_step >= 0 or e_done >= epochs, epochs_done=e_done,
    )
