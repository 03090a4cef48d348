"""Prototype (not library code): batch-1 SGD on 784-500-300-10 tanh/softmax, float32,
rows of each weight matrix split between T threads; the next sample's first-layer
forward fused into the first layer's update. Measures samples/s against adaptlr's train().
"""
import os
import sys
import time

import numpy as np
from numba import njit, prange, get_num_threads

FLOAT = np.float32


@njit(cache=False, fastmath=False, error_model="numpy")
def _partial_rows(x, W, lo, hi, out):
    # out[:] = sum_{i in lo..hi} x[i] * W[i, :]  (float32 accumulate, rows in order)
    b = W.shape[1]
    for j in range(b):
        out[j] = 0.0
    for i in range(lo, hi):
        xi = x[i]
        if xi != 0.0:
            w = W[i]
            for j in range(b):
                out[j] += xi * w[j]


@njit(parallel=True, error_model="numpy")
def forward_part(x, W, parts, bounds):
    for t in prange(parts.shape[0]):
        _partial_rows(x, W, bounds[t], bounds[t + 1], parts[t])


@njit(parallel=True, error_model="numpy")
def l2_backward_update(W2, a1, d2, d1, lr, bounds):
    # rows i of W2 (500 x 300): d1_i = (sum_j W2[i,j] d2_j)(1 - a1_i^2); W2[i,:] -= lr a1_i d2
    b = W2.shape[1]
    for t in prange(bounds.shape[0] - 1):
        for i in range(bounds[t], bounds[t + 1]):
            w = W2[i]
            s = np.float32(0.0)
            ai = a1[i]
            for j in range(b):
                s += w[j] * d2[j]
                w[j] -= lr * ai * d2[j]
            d1[i] = s * (1 - ai * ai)


@njit(parallel=True, error_model="numpy")
def l1_update_and_next_forward(W1, x, d1, lr, xn, parts, bounds):
    # rows i of W1 (784 x 500): W1[i,:] -= lr x_i d1 ; parts[t] = sum_i xn_i W1_new[i,:]
    b = W1.shape[1]
    for t in prange(bounds.shape[0] - 1):
        out = parts[t]
        for j in range(b):
            out[j] = 0.0
        for i in range(bounds[t], bounds[t + 1]):
            w = W1[i]
            xi = x[i]
            yi = xn[i]
            if xi != 0.0:
                c = lr * xi
                for j in range(b):
                    w[j] -= c * d1[j]
            if yi != 0.0:
                for j in range(b):
                    out[j] += yi * w[j]


@njit(error_model="numpy")
def epoch(X, y, order, W1, b1, W2, b2, W3, b3, lr, T):
    n1, n2, n3 = W1.shape[1], W2.shape[1], W3.shape[1]
    parts1 = np.zeros((T, n1), dtype=W1.dtype)
    parts2 = np.zeros((T, n2), dtype=W1.dtype)
    bounds1 = np.array([W1.shape[0] * t // T for t in range(T + 1)])
    bounds2 = np.array([W2.shape[0] * t // T for t in range(T + 1)])
    a1 = np.zeros(n1, W1.dtype)
    a2 = np.zeros(n2, W1.dtype)
    d1 = np.zeros(n1, W1.dtype)
    d2 = np.zeros(n2, W1.dtype)
    z3 = np.zeros(n3, np.float64)
    loss = 0.0
    forward_part(X[order[0]], W1, parts1, bounds1)
    for s in range(order.shape[0]):
        x = X[order[s]]
        for j in range(n1):
            acc = b1[j]
            for t in range(T):
                acc += parts1[t, j]
            a1[j] = np.tanh(acc)
        forward_part(a1, W2, parts2, bounds2)
        for j in range(n2):
            acc = b2[j]
            for t in range(T):
                acc += parts2[t, j]
            a2[j] = np.tanh(acc)
        m = -1e300
        for k in range(n3):
            acc = np.float64(b3[k])
            for i in range(n2):
                acc += a2[i] * W3[i, k]
            z3[k] = acc
            m = max(m, acc)
        tot = 0.0
        for k in range(n3):
            z3[k] = np.exp(z3[k] - m)
            tot += z3[k]
        lab = y[order[s]]
        loss += -np.log(z3[lab] / tot)
        for k in range(n3):
            z3[k] = z3[k] / tot - (1.0 if k == lab else 0.0)   # d3
        for i in range(n2):
            acc = 0.0
            for k in range(n3):
                acc += W3[i, k] * z3[k]
                W3[i, k] -= lr * a2[i] * z3[k]
            d2[i] = acc * (1 - a2[i] * a2[i])
        for k in range(n3):
            b3[k] -= lr * z3[k]
        l2_backward_update(W2, a1, d2, d1, lr, bounds2)
        for j in range(n2):
            b2[j] -= lr * d2[j]
        for j in range(n1):
            b1[j] -= lr * d1[j]
        nxt = X[order[s + 1]] if s + 1 < order.shape[0] else x
        l1_update_and_next_forward(W1, x, d1, lr, nxt, parts1, bounds1)
    return loss / order.shape[0]


def main():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    from adaptlr.data import load_mnist
    from adaptlr.mlp import MLP, train
    from adaptlr import optimizers

    d = load_mnist()
    n = int(os.environ.get("N", "6000"))
    X, y = d.X_train[:n].astype(FLOAT), d.y_train[:n].astype(np.int64)
    rng = np.random.default_rng(0)
    sizes = [784, 500, 300, 10]
    Ws = [(rng.uniform(-1, 1, (a, b)) * np.sqrt(6 / (a + b))).astype(FLOAT)
          for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b, FLOAT) for b in sizes[1:]]
    order = rng.permutation(n)
    T = get_num_threads()
    lr = FLOAT(0.01)
    epoch(X[:50], y[:50], order[:50] % 50, *[a.copy() for p in zip(Ws, bs) for a in p], lr, T)  # compile
    res = {}
    for reps in range(3):
        W = [a.copy() for p in zip(Ws, bs) for a in p]
        t0 = time.perf_counter()
        loss = epoch(X, y, order, *W, lr, T)
        res.setdefault("proto", []).append(n / (time.perf_counter() - t0))
        res.setdefault("proto_loss", []).append(loss)
    net = MLP(sizes, activation="tanh", output="softmax", dtype=np.float32, seed=0)
    opt = optimizers.make("sgd", lr=0.01)
    train(net, opt, X[:100], y[:100], X[:10], y[:10], epochs=1, batch_size=1, seed=0)   # compile
    for reps in range(3):
        net = MLP(sizes, activation="tanh", output="softmax", dtype=np.float32, seed=0)
        r = train(net, optimizers.make("sgd", lr=0.01), X, y, X[:10], y[:10], epochs=1,
                  batch_size=1, seed=0)
        res.setdefault("adaptlr", []).append(n / float(r.wall_time))
        res.setdefault("adaptlr_loss", []).append(float(r.train_loss[-1]))
    print(f"threads {T}, n {n}")
    for k, v in res.items():
        print(k, [round(x, 4 if "loss" in k else 0) for x in v], "median", round(float(np.median(v)), 4))


if __name__ == "__main__":
    main()
