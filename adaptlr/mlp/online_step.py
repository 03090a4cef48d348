"""The fused online step: back-propagation, bbprop and an elementwise optimizer in one
pass over the weights (batch size 1).

For one sample, the weight gradient of layer k is an outer product plus the L2 term,
its bbprop curvature likewise, and its mean squared per-sample gradient is the
square of its gradient (``x`` = the layer's input row, ``d = D_k``, ``C = C_k`` the
errors and curvatures w.r.t. its pre-activations, ``lambda`` = ``l2``)::

    g_ij = x_i d_j + lambda W_ij,     c_ij = x_i^2 C_j + lambda,     q_ij = g_ij^2
    g(b_j) = d_j,                      c(b_j) = C_j,                  q(b_j) = d_j^2

None of them needs to be stored. :func:`make_online_step` compiles, for one
elementwise method, a kernel that computes them on the fly and applies the method's
scalar rule (the same function its ``step_flat`` compiles: "one rule, two targets")
to every parameter as it goes. Each weight matrix is then read once and written once
per step, plus one read of ``W_k`` (k >= 1) to propagate the errors, where the
unfused path (backward.py, bbprop.py, per_sample.py, ``step_flat``, the finiteness
check) makes about 8 (SGD) to 28 (vSGD-l) passes over parameter-sized buffers.

Layer order k = L-1 .. 0. Before ``W_k`` is overwritten, the errors and curvatures
of the layer below are propagated with the old weights (backward.py, bbprop.py)::

    D_{k-1, i} = f'(h_i) sum_j W_ij d_j,      C_{k-1, i} = f'(h_i)^2 sum_j W_ij^2 C_j

so the step is mathematically the unfused one: gradient and curvature at the
parameters before the step, then the rule. Each row ``W_k[i, :]`` is read once: its
propagation sums (``rank1.propagate_row``) and then its update, while it is in L1.
Floating point: the sums over j use four partial sums in float64 (BLAS uses its own
order) and g, c, q are formed in float64 (the unfused path rounds them to the array
dtype first), so the two paths agree to rounding, not bit for bit. Each is deterministic.

Threads: the rows of each layer are dealt to :data:`ROW_PARTS` parts (row i to part
i mod ROW_PARTS) that run in a ``prange``; a row's arithmetic does not depend on its part,
so the result is the same, bit for bit, for any number of threads (tests/test_online_step.py).
The training loop runs BLAS (the batch-1 forward pass) on one thread meanwhile
(``training.ONLINE_ONE_BLAS_THREAD``).

Zero inputs: for a method whose rule leaves a parameter and its state unchanged at a
zero gradient (``Method.zero_grad_identity``: SGD, AdaGrad), with ``l2 = 0`` and no
gradient buffer, the rows ``i`` with ``x_i = 0`` are skipped, exactly (their gradient is
zero). MNIST's inputs are 81% zeros, and ``W_0`` holds 72% of the 784-500-300-10
network's weights.

The kernel returns True when a stored parameter is not finite (the training loop's
divergence test, done row by row while the row is in L1). Given a buffer ``g`` it also
writes the gradient (rounded to the dtype) for the effective-learning-rate records.
Methods with reductions across parameters (vSGD-b, vSGD-g, SMD) have no scalar rule
and keep the unfused path.
"""
from __future__ import annotations

import numpy as np

from ..optimizers.elementwise import same_hyper, stable_cpu_rule, stable_identity
from ..targets import cpu_kernel, prange
from .backward import output_errors
from .bbprop import output_curvature
from .forward import layer_input, layer_rows
from .rank1 import propagate_row

#: the rows of each weight matrix are dealt to this many parts, row i to part i mod
#: ROW_PARTS (a part per prange iteration); a fixed number, so each row's arithmetic,
#: and hence the result, is the same for any number of threads
ROW_PARTS = 16


def make_online_step(rule, n_slots: int, prepare=None, zero_grad_identity: bool = False):
    """Compile the fused online step of the elementwise method with scalar ``rule``.

    Signature of the returned kernel::

        online_step(theta, st, hp, t, offsets, sizes, act, out, l2, X, labels, targets, ws,
                    with_curv, g) -> bad

    ``X`` (1, n_in) is the sample, ``labels`` / ``targets`` as for forward.py; forward.py
    must have run on it (``ws.h``). ``hp`` is the kernel Hyper tuple with automatic values
    resolved (vSGD's C); ``prepare(hp, t)`` is applied as in ``step_flat``. ``with_curv``:
    True to compute bbprop curvature (else the rule gets c = 0), or None. ``st`` is the
    method's (N_SLOTS, n) state; ``g`` a length-n buffer that receives the gradient, or
    None (then nothing is written: the branch is compiled out).

    ``zero_grad_identity``: the rule leaves a parameter and its state unchanged when its
    gradient is zero (SGD, AdaGrad: the method module's ``ZERO_GRAD_IDENTITY``; a test
    checks the claim for every method that makes it). Then, with ``l2 == 0`` and no ``g``
    buffer, the rows of ``W_k`` whose input ``x_i`` is zero are skipped: their gradient
    ``x_i d_j`` is zero. On MNIST about 81% of the pixels are zero, so most of ``W_0``
    (784 x 500, 72% of the 784-500-300-10 network) is not touched. Skipping is exact: a
    skipped row is what the rule would have written (up to the sign of a weight that is
    exactly -0.0).
    """
    if not 0 <= n_slots <= 5:
        raise ValueError(f"n_slots={n_slots} is not supported by the elementwise template (0..5)")
    r = stable_cpu_rule(rule)
    prep = stable_cpu_rule(prepare if prepare is not None else same_hyper)
    NS = n_slots
    ZI = bool(zero_grad_identity)
    P = ROW_PARTS

    def online_step(theta, st, hp, t, offsets, sizes, act, out, l2, X, labels, targets, ws,
                    with_curv, g):
        hq = prep(hp, t)
        n_layers = sizes.shape[0] - 1
        output_errors(sizes, out, 1, labels, targets, ws)
        curv = with_curv is not None
        if curv:
            output_curvature(sizes, out, 1, ws)
        skip_zero = ZI and l2 == 0.0 and g is None
        n_bad = 0
        for k in range(n_layers - 1, -1, -1):
            a = sizes[k]
            b = sizes[k + 1]
            ow = offsets[2 * k]
            ob = offsets[2 * k + 1]
            D = layer_rows(ws.d, ws, sizes, k, 1)[0]
            C = layer_rows(ws.c, ws, sizes, k, 1)[0]
            sp = ws.row_offsets[k - 1] if k > 0 else 0
            Dp = ws.d[sp:sp + a]
            Cp = ws.c[sp:sp + a]
            Hp = ws.h[sp:sp + a]
            xin = layer_input(X, ws, sizes, k, 1)
            # rows i = part, part + P, ...: each row is one thread's, whatever the threads
            for part in prange(P):
                bad_rows = 0
                for i in range(part, a, P):
                    lo = ow + i * b
                    hi = lo + b
                    # 1-D views indexed from 0: no negative-index wraparound, few pointers
                    wr = theta[lo:hi]
                    if k > 0:  # errors (and curvatures) of the layer below, with the old row
                        propagate_row(wr, b, D, C, Dp, Cp, Hp, i, act, True, curv)
                    xi = np.float64(xin[0, i])
                    if skip_zero and xi == 0.0:
                        continue
                    gr = g[lo:hi] if g is not None else wr
                    s0r = st[0, lo:hi] if NS > 0 else wr
                    s1r = st[1, lo:hi] if NS > 1 else wr
                    s2r = st[2, lo:hi] if NS > 2 else wr
                    s3r = st[3, lo:hi] if NS > 3 else wr
                    s4r = st[4, lo:hi] if NS > 4 else wr
                    for j in range(b):
                        w = np.float64(wr[j])
                        gi = xi * np.float64(D[j]) + l2 * w
                        c = xi * xi * np.float64(C[j]) + l2 if curv else 0.0
                        s0 = np.float64(s0r[j]) if NS > 0 else 0.0
                        s1 = np.float64(s1r[j]) if NS > 1 else 0.0
                        s2 = np.float64(s2r[j]) if NS > 2 else 0.0
                        s3 = np.float64(s3r[j]) if NS > 3 else 0.0
                        s4 = np.float64(s4r[j]) if NS > 4 else 0.0
                        xn, s0, s1, s2, s3, s4 = r(w, gi, c, gi * gi, 0.0, s0, s1, s2, s3, s4, hq, t, 1)
                        wr[j] = xn
                        if NS > 0:
                            s0r[j] = s0
                        if NS > 1:
                            s1r[j] = s1
                        if NS > 2:
                            s2r[j] = s2
                        if NS > 3:
                            s3r[j] = s3
                        if NS > 4:
                            s4r[j] = s4
                        if g is not None:
                            gr[j] = gi
                    bad = False
                    for j in range(b):  # finiteness of the stored row (from L1, vectorises)
                        v = wr[j]
                        bad |= (v - v) != 0
                    if bad:
                        bad_rows += 1
                n_bad += bad_rows
            bbase = np.uint64(ob)
            for j in range(b):
                p = bbase + np.uint64(j)
                gi = np.float64(D[j])
                c = np.float64(C[j]) if curv else 0.0
                s0 = np.float64(st[0, p]) if NS > 0 else 0.0
                s1 = np.float64(st[1, p]) if NS > 1 else 0.0
                s2 = np.float64(st[2, p]) if NS > 2 else 0.0
                s3 = np.float64(st[3, p]) if NS > 3 else 0.0
                s4 = np.float64(st[4, p]) if NS > 4 else 0.0
                xn, s0, s1, s2, s3, s4 = r(np.float64(theta[p]), gi, c, gi * gi, 0.0, s0, s1, s2, s3, s4,
                                           hq, t, 1)
                theta[p] = xn
                v = theta[p]
                if (v - v) != 0:
                    n_bad += 1
                if NS > 0:
                    st[0, p] = s0
                if NS > 1:
                    st[1, p] = s1
                if NS > 2:
                    st[2, p] = s2
                if NS > 3:
                    st[3, p] = s3
                if NS > 4:
                    st[4, p] = s4
                if g is not None:
                    g[p] = gi
        return n_bad > 0

    online_step.__name__ = f"online_step_{rule.__name__}"
    online_step.__qualname__ = online_step.__name__
    return stable_identity(cpu_kernel(online_step, parallel=True), online_step,
                           f"NS={NS},ZI={ZI},P={P}")


_KERNELS: dict = {}


def online_kernel(method):
    """The fused online kernel of registered ``method`` (adaptlr.optimizers.registry.Method),
    compiled on first use; None for methods without a scalar rule (blocked: vSGD-b/g, SMD)
    or that need a curvature-vector product."""
    if method.rule is None or method.needs_hvp:
        return None
    k = _KERNELS.get(method.name)
    if k is None:
        k = make_online_step(method.rule, method.n_slots, method.prepare,
                             getattr(method, "zero_grad_identity", False))
        _KERNELS[method.name] = k
    return k
