"""The Python optimizer API: :class:`Optimizer` and its state :class:`OptState`.

``opt.step(params, grads, state, ...)`` validates everything, checks the inputs
are finite, and only then runs the fused kernel per array (CPU: the method's
``step_flat``; CUDA device arrays: its ``@cuda.jit`` twin). Methods with
reductions across all parameters (vSGD-g, SMD) run reduce / block / apply
phases across the arrays, so the list API computes exactly what ``step_flat``
computes on the concatenated flat vector.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import targets
from . import validation
from .elementwise import PARALLEL_MIN
from .hyperparams import resolve
from .arithmetic import check_arithmetic
from .registry import Method, get, kernels, storage_methods

_EMPTY = {np.dtype(np.float32): np.zeros(0, np.float32), np.dtype(np.float64): np.zeros(0, np.float64)}
_OFF1 = np.zeros(2, dtype=np.int64)


@dataclass
class OptState:
    """Optimizer state for a list of parameter arrays (created by :meth:`Optimizer.init`).

    ``st[k]`` has shape ``(N_SLOTS, params[k].size)`` (row names in ``slots``),
    ``sc`` is float64 ``(nblocks, N_SCALARS)`` (vSGD-b: one row per array; vSGD-g, SMD:
    one row), ``t`` is the number of steps taken, ``hyper`` the kernel Hyper tuple with
    automatic values (vSGD's C = d/10) resolved for these parameters.
    """

    method: str
    st: list
    sc: Any
    t: int
    hyper: Any
    shapes: list
    dtypes: list
    device: str
    slots: tuple
    offsets: list = field(default_factory=list, repr=False)

    def slot(self, name: str) -> list:
        """The state row ``name`` for every array, as views shaped like the parameters."""
        if name not in self.slots:
            raise ValueError(f"{self.method} has no state slot {name!r}; slots: {', '.join(self.slots)}")
        i = self.slots.index(name)
        return [s[i].reshape(shape) for s, shape in zip(self.st, self.shapes)]

    def copy(self) -> "OptState":
        """Deep copy (host or device)."""
        def cp(a):
            return a.copy() if isinstance(a, np.ndarray) else _device_copy(a)
        return OptState(self.method, [cp(s) for s in self.st], cp(self.sc), self.t, self.hyper,
                        list(self.shapes), list(self.dtypes), self.device, self.slots,
                        list(self.offsets))


def _device_copy(a):
    from numba import cuda

    out = cuda.device_array_like(a)
    out.copy_to_device(a)
    return out


class Optimizer:
    """One configured optimizer (``optimizers.make(name, **hp)``).

    Attributes for compiled callers (docs/architecture.md): ``step_flat``, ``hyper``,
    ``needs_curvature``, ``needs_hvp``, ``uses_grad_sq``, ``init_flat``, ``step_cuda``,
    ``V_SLOT`` (SMD). ``hyperparameters`` / ``spec()`` are JSON-able.

    ``check_finite`` (default True) sets whether :meth:`step` checks gradients,
    curvature, grad_sq and H·v for NaN/inf before changing anything (one extra
    compiled read pass per input); each call can override it.

    ``arithmetic`` (default "float64") is the precision the rule computes in: "float64"
    (round once when storing) or "storage" (the arrays' own dtype, as torch.optim; for
    the elementwise methods, on the CPU), see :mod:`adaptlr.optimizers.arithmetic`.
    ``step_flat``/``step_flat_serial`` are the kernels of that arithmetic.
    """

    METHOD: str | None = None

    def __init__(self, name: str | None = None, *, check_finite: bool = True,
                 arithmetic: str = "float64", **hp):
        name = name if name is not None else self.METHOD
        self._m: Method = get(name)
        self.hyperparameters: dict = resolve(self._m.name, self._m.params, self._m.aliases, hp)
        self.hyper = self._m.hyper_from(self.hyperparameters)
        if not isinstance(check_finite, bool):
            raise ValueError(f"check_finite={check_finite!r}; allowed: True or False")
        self.check_finite = check_finite
        check_arithmetic(arithmetic)
        if arithmetic != "float64" and self._m.rule is None:
            raise ValueError(f"arithmetic={arithmetic!r} is not available for {self._m.name} (it "
                             f"reduces over blocks); allowed for: {', '.join(storage_methods())}")
        self.arithmetic = arithmetic

    # ------------------------------------------------------------------ description
    name = property(lambda self: self._m.name)
    method = property(lambda self: self._m)
    step_flat = property(lambda self: kernels(self._m, self.arithmetic)[0])
    #: the same kernel without prange: bit-identical, cheaper for small buffers
    step_flat_serial = property(lambda self: kernels(self._m, self.arithmetic)[1])
    needs_curvature = property(lambda self: self._m.needs_curvature)
    needs_hvp = property(lambda self: self._m.needs_hvp)
    uses_grad_sq = property(lambda self: self._m.uses_grad_sq)
    N_SLOTS = property(lambda self: self._m.n_slots)
    N_SCALARS = property(lambda self: self._m.n_scalars)
    V_SLOT = property(lambda self: self._m.v_slot)
    slots = property(lambda self: self._m.slots)

    def spec(self) -> dict:
        """JSON-able record of this optimizer (name and resolved hyperparameters; the
        arithmetic only where it is not the default, so default records are unchanged)."""
        out = {"name": self.name, "hyperparameters": dict(self.hyperparameters),
               "check_finite": self.check_finite}
        if self.arithmetic != "float64":
            out["arithmetic"] = self.arithmetic
        return out

    def __repr__(self):
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        if self.arithmetic != "float64":
            hp += (", " if hp else "") + f"arithmetic={self.arithmetic!r}"
        return f"{type(self).__name__}({self.name!r}, {hp})" if self.METHOD is None else \
            f"{type(self).__name__}({hp})"

    # ------------------------------------------------------------------ state
    def _n_blocks(self, n_arrays):
        if self._m.n_scalars == 0:
            return 1
        return 1 if self._m.global_ else n_arrays

    def _resolved_hyper(self, d: int):
        hp = self.hyper
        if "C" in hp._fields and hp.C == 0.0:
            hp = hp._replace(C=d / 10.0)
        return hp

    def init_flat(self, n: int, offsets=None, dtype=np.float64):
        """Fresh ``(st, sc)`` for a flat buffer of ``n`` parameters with blocks ``offsets``.

        ``st``: (N_SLOTS, n) of ``dtype``; ``sc``: float64 (nblocks, N_SCALARS), where
        nblocks = len(offsets) - 1 (vSGD-b) or 1 (vSGD-g, SMD and elementwise methods).
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype={dtype}; allowed: float32, float64")
        n = int(n)
        if n < 0:
            raise ValueError(f"n={n}; allowed: an integer >= 0")
        nblocks = 1
        if offsets is not None:
            off = np.asarray(offsets)
            if off.ndim != 1 or off.size < 2 or off[0] != 0 or off[-1] != n or np.any(np.diff(off) < 0):
                raise ValueError(f"offsets={off!r} must be non-decreasing, start at 0 and end at n={n}")
            nblocks = off.size - 1
        st = np.empty((self._m.n_slots, n), dtype=dtype)
        for i, v in enumerate(self._m.slot_init):
            st[i] = v
        nb = 1 if (self._m.global_ or self._m.n_scalars == 0) else nblocks
        sc = np.zeros((nb, self._m.n_scalars), dtype=np.float64)
        sc[:] = self._m.scalar_init(self.hyperparameters)
        return st, sc

    def init(self, params) -> OptState:
        """Fresh state for ``params`` (list of C-contiguous float32/float64 arrays, host or CUDA)."""
        arrays, device = validation.check_params(params)
        d = sum(int(np.prod(a.shape)) for a in arrays)
        sts = []
        for a in arrays:
            st, _ = self.init_flat(int(np.prod(a.shape)), None, a.dtype)
            sts.append(st)
        sc = np.zeros((self._n_blocks(len(arrays)), self._m.n_scalars), dtype=np.float64)
        sc[:] = self._m.scalar_init(self.hyperparameters)
        offsets = [np.array([0, int(np.prod(a.shape))], dtype=np.int64) for a in arrays]
        if device == "cuda":
            from numba import cuda

            sts = [cuda.to_device(s) for s in sts]
            sc = cuda.to_device(sc)
        return OptState(self.name, sts, sc, 0, self._resolved_hyper(d),
                        [tuple(a.shape) for a in arrays], [np.dtype(a.dtype) for a in arrays],
                        device, self._m.slots, offsets)

    # ------------------------------------------------------------------ CUDA
    @property
    def step_cuda(self):
        """Host launcher of the CUDA twin (uniform signature, device arrays)."""
        self._require_float64_arithmetic("the CUDA twin")
        targets.require_cuda(f"the CUDA twin of {self.name}")
        from . import cuda_launch

        m = self._m
        if m.rule is not None:
            inner = cuda_launch.elementwise_launcher(m.rule, m.n_slots, m.prepare)
            if m.kernel_hyper is None:
                return inner

            def step_cuda(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch, threads=None,
                          blocks=None):
                if hp.C == 0.0:
                    hp = hp._replace(C=x.shape[0] / 10.0)
                inner(x, g, curv, gsq, hv, st, sc, offsets, hp, t, nbatch, threads, blocks)
            return step_cuda
        return cuda_launch.blocked_launcher(*m.block_rules, m.n_slots, m.global_).step_cuda

    def _require_float64_arithmetic(self, what: str) -> None:
        if self.arithmetic != "float64":
            raise ValueError(f"{what} of {self.name} computes in float64 only; this optimizer has "
                             f"arithmetic={self.arithmetic!r} (allowed there: 'float64')")

    # ------------------------------------------------------------------ step
    def step(self, params, grads, state: OptState, curvature=None, grad_sq=None, hvp=None,
             batch_size: int = 1, check_finite: bool | None = None, *, _launch=None) -> None:
        """One update of ``params`` (in place) from ``grads``; updates ``state`` in place.

        curvature : list of arrays like params, a positive diagonal curvature estimate
            (bbprop); required by vsgd-*, diag-newton, ignored by the others.
        grad_sq : list of arrays, the mean over the minibatch of squared per-sample
            gradients (vSGD with minibatches); ``None`` means grad**2 (batch_size must be 1).
        hvp : callable(list of v arrays) -> list of H·v arrays (SMD).
        batch_size : minibatch size n (vSGD's minibatch correction).
        check_finite : override the optimizer's default; when on, non-finite inputs raise
            :class:`NonFiniteGradientError` before anything changes.

        Raises ValueError/TypeError naming the offending array index for count, shape,
        dtype, device or contiguity mismatches; nothing is changed when it raises.
        """
        m = self._m
        if not isinstance(state, OptState):
            raise TypeError(f"state must be the OptState returned by init(), got {type(state).__name__}")
        if state.method != m.name:
            raise ValueError(f"state was created by {state.method!r}, this optimizer is {m.name!r}")
        P, device = validation.check_params(params)
        if len(P) != len(state.st):
            raise ValueError(f"params has {len(P)} arrays but the state was initialised for "
                             f"{len(state.st)}")
        if device != state.device:
            raise ValueError(f"params are on the {device} but the state lives on the {state.device}")
        if device == "cuda":
            self._require_float64_arithmetic("the CUDA twin")
        for k, a in enumerate(P):
            if tuple(a.shape) != state.shapes[k] or np.dtype(a.dtype) != state.dtypes[k]:
                raise ValueError(f"params[{k}] has shape {tuple(a.shape)} and dtype {np.dtype(a.dtype)} "
                                 f"but the state was initialised for shape {state.shapes[k]} and "
                                 f"dtype {state.dtypes[k]}")
        G = validation.check_like(P, grads, "grads", "params", device)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}; allowed: an integer >= 1")
        batch_size = int(batch_size)
        C = None
        if m.needs_curvature:
            if curvature is None:
                raise ValueError(f"{m.name} needs curvature= (a positive diagonal curvature "
                                 "estimate per array, e.g. from bbprop)")
            C = validation.check_like(P, curvature, "curvature", "params", device)
        Q = None
        if m.uses_grad_sq:
            if grad_sq is not None:
                Q = validation.check_like(P, grad_sq, "grad_sq", "params", device)
            elif batch_size > 1:
                raise ValueError(f"{m.name} with batch_size={batch_size} > 1 needs grad_sq= (the mean "
                                 "over the minibatch of squared per-sample gradients): the gradient "
                                 "variance must come from per-sample gradients")
        if m.needs_hvp and (hvp is None or not callable(hvp)):
            raise ValueError(f"{m.name} needs hvp=, a callable taking the list of auxiliary vectors v "
                             f"and returning the list of H·v; got {hvp!r}")
        do_check = self.check_finite if check_finite is None else check_finite
        flat = lambda L: None if L is None else [a.reshape(-1) for a in L]  # noqa: E731
        Pf, Gf, Cf, Qf = flat(P), flat(G), flat(C), flat(Q)
        if do_check:
            validation.check_finite(Gf, "grads")
            if Cf is not None:
                validation.check_finite(Cf, "curvature")
            if Qf is not None:
                validation.check_finite(Qf, "grad_sq")
        Hf = None
        if m.needs_hvp:
            vs = [s[m.v_slot].reshape(shape) for s, shape in zip(state.st, state.shapes)]
            hv = hvp(vs)
            H = validation.check_like(P, list(hv) if isinstance(hv, tuple) else hv, "hvp(v)",
                                      "params", device)
            Hf = flat(H)
            if do_check:
                validation.check_finite(Hf, "hvp")
        # ---------------------------------------------------------------- compute
        t = state.t + 1
        hp = state.hyper
        if device == "cuda":
            self._step_cuda_lists(Pf, Gf, Cf, Qf, Hf, state, hp, t, batch_size, _launch or {})
        else:
            self._step_cpu_lists(Pf, Gf, Cf, Qf, Hf, state, hp, t, batch_size)
        state.t = t

    def _step_cpu_lists(self, Pf, Gf, Cf, Qf, Hf, state, hp, t, nb):
        m = self._m
        emp = _EMPTY[np.dtype(Pf[0].dtype)]
        args = []
        for k in range(len(Pf)):
            e = _EMPTY[np.dtype(Pf[k].dtype)]
            args.append((Pf[k], Gf[k], e if Cf is None else Cf[k], e if Qf is None else Qf[k],
                         e if Hf is None else Hf[k], state.st[k]))
        del emp
        if not m.global_:
            for k, a in enumerate(args):
                sc = state.sc[k:k + 1] if m.n_scalars else state.sc
                kern = self.step_flat if a[0].shape[0] >= PARALLEL_MIN else self.step_flat_serial
                kern(*a, sc, state.offsets[k], hp, t, nb)
            return
        sc = state.sc
        b0, b1, b2, b3 = sc[0, 0], sc[0, 1], sc[0, 2], sc[0, 3]
        r0, r1, r2 = 0.0, -math.inf, 0.0
        d = 0
        for a in args:
            n = a[0].shape[0]
            d += n
            bl = m.blocked if n >= PARALLEL_MIN else m.blocked_serial
            s0, s1, s2 = bl.reduce_segment(*a, 0, n, b0, b1, b2, b3, hp, t, nb)
            r0 += s0
            r1 = max(r1, s1)
            r2 += s2
        m.blocked_serial.block_update(sc, 0, r0, r1, r2, hp, t, nb, d)
        b0, b1, b2, b3 = sc[0, 0], sc[0, 1], sc[0, 2], sc[0, 3]
        for a in args:
            n = a[0].shape[0]
            bl = m.blocked if n >= PARALLEL_MIN else m.blocked_serial
            bl.apply_segment(*a, 0, n, b0, b1, b2, b3, hp, t, nb)

    def _step_cuda_lists(self, Pf, Gf, Cf, Qf, Hf, state, hp, t, nb, launch):
        targets.require_cuda(f"the CUDA twin of {self.name}")
        from . import cuda_launch

        m = self._m
        args = []
        for k in range(len(Pf)):
            e = cuda_launch.empty_like_device(Pf[k])
            args.append((Pf[k], Gf[k], e if Cf is None else Cf[k], e if Qf is None else Qf[k],
                         e if Hf is None else Hf[k], state.st[k]))
        if m.rule is not None:
            launcher = cuda_launch.elementwise_launcher(m.rule, m.n_slots, m.prepare)
            for k, a in enumerate(args):
                launcher(*a, state.sc, state.offsets[k], hp, t, nb, **launch)
            return
        L = cuda_launch.blocked_launcher(*m.block_rules, m.n_slots, m.global_)
        acc = L.new_acc()
        d = sum(a[0].shape[0] for a in args)
        if not m.global_:
            for k, a in enumerate(args):
                n = a[0].shape[0]
                L.reduce_segment(*a, 0, n, state.sc, k, hp, t, nb, acc, **launch)
                L.block_update(state.sc, k, acc, hp, t, nb, d)
                L.apply_segment(*a, 0, n, state.sc, k, hp, t, nb, **launch)
            return
        for a in args:
            L.reduce_segment(*a, 0, a[0].shape[0], state.sc, 0, hp, t, nb, acc, **launch)
        L.block_update(state.sc, 0, acc, hp, t, nb, d)
        for a in args:
            L.apply_segment(*a, 0, a[0].shape[0], state.sc, 0, hp, t, nb, **launch)

    # ------------------------------------------------------------------ inspection
    def learning_rates(self, state: OptState) -> list:
        """The effective learning rate of the last step, per element, shaped like params.

        vsgd-l: eta_i; vsgd-b/g: the block's eta broadcast; smd: the global eta used;
        sgd: eta_t. Other methods: ValueError (their rate is not a single stored quantity).
        """
        m = self._m
        sc = state.sc if isinstance(state.sc, np.ndarray) else state.sc.copy_to_host()
        if m.name == "vsgd-l":
            return [np.asarray(s[4] if isinstance(s, np.ndarray) else s.copy_to_host()[4]).reshape(sh)
                    for s, sh in zip(state.st, state.shapes)]
        if m.name in ("vsgd-b", "vsgd-g"):
            return [np.full(sh, sc[0 if m.global_ else k, 2]) for k, sh in enumerate(state.shapes)]
        if m.name == "smd":
            return [np.full(sh, sc[0, 1]) for sh in state.shapes]
        if m.name == "sgd":
            hp = self.hyper
            eta = hp.eta0 / (1.0 + hp.gamma * max(state.t - 1, 0))
            return [np.full(sh, eta) for sh in state.shapes]
        raise ValueError(f"learning_rates() is available for vsgd-l, vsgd-b, vsgd-g, smd, sgd; "
                         f"not for {m.name}")
