"""Plain-NumPy reference implementations of every optimizer, from the papers' equations.

Independent of adaptlr (no imports from it). Each reference keeps its state in
the parameters' dtype (like the kernels) and does each step's arithmetic in
float64, rounding stored values to the dtype. Arrays are handled as a list;
global methods (vsgd-g, smd) reduce over all arrays, vsgd-b uses one block per
array.

Usage::

    ref = make_ref("adadelta", {"rho": 0.95, "eps": 1e-6, "lr": 1.0}, shapes, dtype)
    params = ref.step(params, grads, curv=None, gsq=None, hvp=None, nb=1)   # returns new list
"""
from __future__ import annotations

import math

import numpy as np


class _Ref:
    def __init__(self, hp, shapes, dtype):
        self.hp = dict(hp)
        self.shapes = [tuple(s) for s in shapes]
        self.dtype = np.dtype(dtype)
        self.t = 0  # steps taken
        self.d = int(sum(int(np.prod(s)) for s in self.shapes))
        self.init()

    def z(self, value=0.0):
        return [np.full(s, value, dtype=self.dtype) for s in self.shapes]

    def store(self, a):
        return np.asarray(a, dtype=np.float64).astype(self.dtype)

    def step(self, params, grads, curv=None, gsq=None, hvp=None, nb=1):
        self.t += 1
        P = [np.asarray(p, dtype=np.float64) for p in params]
        G = [np.asarray(g, dtype=np.float64) for g in grads]
        C = None if curv is None else [np.asarray(c, dtype=np.float64) for c in curv]
        Q = [g * g for g in G] if gsq is None else [np.asarray(q, dtype=np.float64) for q in gsq]
        out = self.update(P, G, C, Q, hvp, nb)
        return [self.store(x) for x in out]


class SGD(_Ref):
    def init(self):
        pass

    def update(self, P, G, C, Q, hvp, nb):
        eta = self.hp["eta0"] / (1.0 + self.hp["gamma"] * (self.t - 1))
        return [x - eta * g for x, g in zip(P, G)]


class Momentum(_Ref):
    def init(self):
        self.dx = self.z()

    def update(self, P, G, C, Q, hvp, nb):
        out = []
        for k, (x, g) in enumerate(zip(P, G)):
            dx = self.hp["rho"] * self.dx[k] - self.hp["lr"] * g       # ADADELTA Eq. 4
            self.dx[k] = self.store(dx)
            out.append(x + dx)
        return out


class AdaGrad(_Ref):
    def init(self):
        self.G = self.z()

    def update(self, P, G, C, Q, hvp, nb):
        out = []
        for k, (x, g) in enumerate(zip(P, G)):
            acc = self.G[k] + g ** 2
            self.G[k] = self.store(acc)
            out.append(x - self.hp["lr"] * g / (np.sqrt(acc) + self.hp["eps"]))
        return out


class RMSProp(_Ref):
    def init(self):
        self.E = self.z()

    def update(self, P, G, C, Q, hvp, nb):
        rho, out = self.hp["rho"], []
        for k, (x, g) in enumerate(zip(P, G)):
            E = rho * self.E[k] + (1 - rho) * g ** 2
            self.E[k] = self.store(E)
            out.append(x - self.hp["lr"] * g / np.sqrt(E + self.hp["eps"]))
        return out


class AdaDelta(_Ref):
    def init(self):
        self.Eg = self.z()
        self.Edx = self.z()

    def update(self, P, G, C, Q, hvp, nb):
        rho, eps, out = self.hp["rho"], self.hp["eps"], []
        for k, (x, g) in enumerate(zip(P, G)):
            Eg = rho * self.Eg[k] + (1 - rho) * g ** 2                       # step 4
            dx = -np.sqrt(self.Edx[k] + eps) / np.sqrt(Eg + eps) * g         # step 5, RMS[dx]_{t-1}
            Edx = rho * self.Edx[k] + (1 - rho) * dx ** 2                    # step 6
            self.Eg[k], self.Edx[k] = self.store(Eg), self.store(Edx)
            out.append(x + self.hp["lr"] * dx)                               # step 7
        return out


class Adam(_Ref):
    def init(self):
        self.m = self.z()
        self.v = self.z()

    def update(self, P, G, C, Q, hvp, nb):
        b1, b2, t, out = self.hp["beta1"], self.hp["beta2"], self.t, []
        for k, (x, g) in enumerate(zip(P, G)):
            m = b1 * self.m[k] + (1 - b1) * g
            v = b2 * self.v[k] + (1 - b2) * g ** 2
            self.m[k], self.v[k] = self.store(m), self.store(v)
            mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
            out.append(x - self.hp["lr"] * mh / (np.sqrt(vh) + self.hp["eps"]))
        return out


def _C(hp, d):
    return d / 10.0 if hp["C"] is None else float(hp["C"])


def _C_h(hp, d):
    """Overestimation factor of h (None: C, Zhang's Torch d-vsgd; 1: the paper's text)."""
    return _C(hp, d) if hp["C_h"] is None else float(hp["C_h"])


def _ratio(g2, v, nb):
    """vSGD variance term with the Schaul & LeCun 2013 minibatch correction."""
    den = v if nb == 1 else v / nb + (nb - 1) / nb * g2
    return np.where(den > 0, g2 / np.where(den > 0, den, 1.0), 0.0)


class VSGDLocal(_Ref):
    def init(self):
        self.g, self.v, self.h, self.tau, self.eta = self.z(), self.z(), self.z(), self.z(), self.z()

    def update(self, P, G, C, Q, hvp, nb):
        n0, eps, out = self.hp["n0"], self.hp["eps"], []
        for k, (x, grad) in enumerate(zip(P, G)):
            hs = np.maximum(np.abs(C[k]), eps)
            g, v, h, tau = (a[k].astype(np.float64) for a in (self.g, self.v, self.h, self.tau))
            if self.t <= n0:                      # slow start: arithmetic sums, no step
                g, v, h = g + grad, v + Q[k], h + hs
                eta = np.zeros_like(g)
                if self.t == n0:
                    g, v, h = g / n0, _C(self.hp, self.d) * v / n0, _C_h(self.hp, self.d) * h / n0
                    tau = np.full_like(g, float(self.hp["tau0"]))   # the authors' code: 2
                new = x
            else:                                 # Algorithm 1
                g = (1 - 1 / tau) * g + (1 / tau) * grad
                v = (1 - 1 / tau) * v + (1 / tau) * Q[k]
                h = (1 - 1 / tau) * h + (1 / tau) * hs
                r = _ratio(g ** 2, v, nb)
                eta = r / h
                tau = np.maximum((1 - r) * tau + 1, 1.0)
                new = x - eta * grad
            self.g[k], self.v[k], self.h[k] = self.store(g), self.store(v), self.store(h)
            self.tau[k], self.eta[k] = self.store(tau), self.store(eta)
            out.append(new)
        return out


class VSGDBlock(_Ref):
    GLOBAL = False

    def init(self):
        self.g, self.h = self.z(), self.z()
        nblocks = 1 if self.GLOBAL else len(self.shapes)
        self.tau = [0.0] * nblocks
        self.l = [0.0] * nblocks
        self.eta = [0.0] * nblocks

    def update(self, P, G, C, Q, hvp, nb):
        n0, eps = self.hp["n0"], self.hp["eps"]
        groups = [list(range(len(P)))] if self.GLOBAL else [[k] for k in range(len(P))]
        out = list(P)
        for b, ks in enumerate(groups):
            tau = self.tau[b]
            sq = math.fsum(float(Q[k].sum()) for k in ks)
            sg2, hmax = 0.0, -math.inf
            for k in ks:
                hs = np.maximum(np.abs(C[k]), eps)
                g, h = self.g[k].astype(np.float64), self.h[k].astype(np.float64)
                if self.t <= n0:
                    g, h = g + G[k], h + hs
                    if self.t == n0:
                        g, h = g / n0, _C_h(self.hp, self.d) * h / n0
                else:
                    g = (1 - 1 / tau) * g + (1 / tau) * G[k]
                    h = (1 - 1 / tau) * h + (1 / tau) * hs
                self.g[k], self.h[k] = self.store(g), self.store(h)
                sg2 += float((g ** 2).sum())          # sum of g_i^2 and h+ over the block
                hmax = max(hmax, float(h.max()))
            if self.t <= n0:
                self.l[b] += sq
                if self.t == n0:
                    self.l[b] = _C(self.hp, self.d) * self.l[b] / n0
                    self.tau[b] = float(self.hp["tau0"])
                self.eta[b] = 0.0
                continue
            self.l[b] = (1 - 1 / tau) * self.l[b] + (1 / tau) * sq
            r = float(_ratio(np.float64(sg2), np.float64(self.l[b]), nb))
            self.eta[b] = r / hmax
            self.tau[b] = max((1 - r) * tau + 1, 1.0)
            for k in ks:
                out[k] = P[k] - self.eta[b] * G[k]
        return out


class VSGDGlobal(VSGDBlock):
    GLOBAL = True


class SMD(_Ref):
    def init(self):
        self.v = self.z()
        self.eta = float(self.hp["eta0"])

    def update(self, P, G, C, Q, hvp, nb):
        """Supplement Sec. C; hvp(list of v) -> list of H v (given in the dtype)."""
        hv = [np.asarray(a, dtype=np.float64) for a in hvp([a.copy() for a in self.v])]
        mu, tau = self.hp["mu"], self.hp["tau"]
        dot = math.fsum(float((G[k] * self.v[k]).sum()) for k in range(len(P)))
        eta = self.eta
        out = []
        for k in range(len(P)):
            out.append(P[k] - eta * G[k])
            v = (1 - 1 / tau) * self.v[k] - eta * (G[k] + (1 - 1 / tau) * hv[k])
            self.v[k] = self.store(v)
        self.eta = eta * math.exp(-mu * dot)
        return out


class Almeida(_Ref):
    def init(self):
        self.v = self.z(1.0)
        self.gprev = self.z(0.0)

    def update(self, P, G, C, Q, hvp, nb):
        tau, out = self.hp["tau"], []
        for k, (x, g) in enumerate(zip(P, G)):
            v = (1 - 1 / tau) * self.v[k] + (1 / tau) * g ** 2
            eta = np.maximum(0.0, self.hp["eta0"] * g * self.gprev[k] / v)   # vSGD paper Sec. 2
            self.v[k], self.gprev[k] = self.store(v), self.store(g)
            out.append(x - eta * g)
        return out


class Amari(_Ref):
    def init(self):
        self.v = self.z(1.0)

    def update(self, P, G, C, Q, hvp, nb):
        tau, out = self.hp["tau"], []
        for k, (x, g) in enumerate(zip(P, G)):
            v = (1 - 1 / tau) * self.v[k] + (1 / tau) * g ** 2
            self.v[k] = self.store(v)
            out.append(x - self.hp["eta0"] / v * g)
        return out


class DiagNewton(_Ref):
    def init(self):
        pass

    def update(self, P, G, C, Q, hvp, nb):
        return [x - self.hp["lr"] * g / (np.abs(c) + self.hp["mu"]) for x, g, c in zip(P, G, C)]


REFS = {
    "sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "rmsprop": RMSProp,
    "adadelta": AdaDelta, "adam": Adam, "vsgd-l": VSGDLocal, "vsgd-b": VSGDBlock,
    "vsgd-g": VSGDGlobal, "smd": SMD, "almeida": Almeida, "amari": Amari,
    "diag-newton": DiagNewton,
}


def make_ref(name, hp, shapes, dtype):
    return REFS[name](hp, shapes, dtype)
