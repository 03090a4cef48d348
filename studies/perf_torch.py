"""PyTorch references for the performance study (optional; never a library dependency).

Helper of :mod:`studies.performance` (not a study: it defines no ``STUDY``). ``torch`` is
imported lazily; when it is not installed every function here returns ``None`` and the
study records NaN with a note.

* :func:`optimizer_step` : ``torch.optim``'s fastest CPU path for a method on one flat
  parameter tensor: ``fused=True`` where torch has a fused CPU kernel (Adam, AdamW, SGD,
  Adagrad in torch 2.x), else ``foreach=True`` (RMSprop, Adadelta), else the default
  for-loop implementation. The path actually used is returned (torch may refuse
  ``fused`` on the CPU: then the next one is tried).
* :func:`mlp_epoch_time` : one pass over the data of the same network (784-500-300-10,
  tanh, softmax cross-entropy), same optimizer, batch size and thread count, with a
  shuffled order drawn once per pass, as a researcher would write it in PyTorch.
* :func:`batch1_samples_per_s` : the same at batch size 1 with a Python loop over samples.

Hyperparameters are mapped from adaptlr's (:data:`TORCH_METHODS`); where the two
libraries' update forms differ (RMSprop's eps inside vs outside the square root, torch
SGD momentum ``v = mu v + g`` vs adaptlr's ``dx = rho dx - lr g``, no 1/(1+gamma t)
annealing in torch SGD) the bytes moved per element are the same, so the speed
comparison is fair; the numbers are not.
"""
from __future__ import annotations

import time

import numpy as np

#: adaptlr method -> (torch.optim class, function(hyper dict) -> kwargs, paths to try)
TORCH_METHODS = {
    "sgd": ("SGD", lambda h: {"lr": float(h.get("eta0", 0.1))}, ("fused", "foreach")),
    "momentum": ("SGD", lambda h: {"lr": float(h.get("lr", 0.1)),
                                   "momentum": float(h.get("rho", 0.9))}, ("fused", "foreach")),
    "adagrad": ("Adagrad", lambda h: {"lr": float(h.get("lr", 0.01)),
                                      "eps": float(h.get("eps", 1e-10))}, ("fused", "foreach")),
    "rmsprop": ("RMSprop", lambda h: {"lr": float(h.get("lr", 1e-3)),
                                      "alpha": float(h.get("rho", 0.9)),
                                      "eps": float(h.get("eps", 1e-8))}, ("fused", "foreach")),
    "adadelta": ("Adadelta", lambda h: {"lr": float(h.get("lr", 1.0)),
                                        "rho": float(h.get("rho", 0.95)),
                                        "eps": float(h.get("eps", 1e-6))}, ("fused", "foreach")),
    "adam": ("Adam", lambda h: {"lr": float(h.get("lr", 1e-3)),
                                "betas": (float(h.get("beta1", 0.9)), float(h.get("beta2", 0.999))),
                                "eps": float(h.get("eps", 1e-8))}, ("fused", "foreach")),
}

#: numeric code of the torch path used (stored in the Dataset): -1 none, 0 for-loop,
#: 1 foreach, 2 fused
PATH_CODES = {None: -1, "for-loop": 0, "foreach": 1, "fused": 2}


def torch_module():
    """``torch`` or ``None`` when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def has_method(method: str) -> bool:
    return method in TORCH_METHODS and torch_module() is not None


def set_threads(n: int) -> None:
    torch = torch_module()
    if torch is not None:
        torch.set_num_threads(int(n))


def _make_optimizer(torch, method: str, params, hyper: dict, check_step):
    """The fastest working optimizer; returns ``(optimizer, path)``.

    ``check_step()`` is run once per candidate to see that the path really works (torch
    may accept ``fused=True`` at construction and refuse it at the first step).
    """
    cls_name, kw_of, paths = TORCH_METHODS[method]
    cls = getattr(torch.optim, cls_name)
    kw = kw_of(hyper)
    for path in paths + ("for-loop",):
        extra = {} if path == "for-loop" else {path: True}
        try:
            opt = cls(params, **kw, **extra)
            check_step(opt)
            return opt, path
        except (RuntimeError, TypeError, ValueError):
            continue
    raise RuntimeError(f"no torch.optim.{cls_name} path works for {method!r}")


def optimizer_step(method: str, x0: np.ndarray, g: np.ndarray, hyper: dict | None = None):
    """``(step, path)`` for one flat parameter; ``None`` if torch or the method is missing.

    ``step()`` runs one ``optimizer.step()`` with the fixed gradient ``g``. The parameter
    and state are reset by ``reset()`` (returned as ``step.reset``), untimed.
    """
    torch = torch_module()
    if torch is None or method not in TORCH_METHODS:
        return None
    p = torch.nn.Parameter(torch.from_numpy(np.array(x0, copy=True)))
    p.grad = torch.from_numpy(np.array(g, copy=True))

    def check(opt):
        opt.step()

    opt, path = _make_optimizer(torch, method, [p], dict(hyper or {}), check)
    pristine_x = torch.from_numpy(np.array(x0, copy=True))
    with torch.no_grad():
        p.copy_(pristine_x)

    def step():
        opt.step()

    step.path = path
    return step, path


def mlp(torch, sizes, activation: str = "tanh", seed: int = 0):
    layers = []
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "logistic": torch.nn.Sigmoid}[activation]
    torch.manual_seed(seed)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers)


def _setup(method, X, y, sizes, hyper, seed, dtype, device="cpu"):
    torch = torch_module()
    if torch is None or method not in TORCH_METHODS:
        return None
    tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
    model = mlp(torch, list(sizes), seed=seed).to(device=device, dtype=tdtype)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype)).to(device)
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(device)
    loss_fn = torch.nn.functional.cross_entropy

    def check(opt):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(Xt[:2]), yt[:2]).backward()
        opt.step()

    opt, path = _make_optimizer(torch, method, list(model.parameters()), dict(hyper or {}), check)
    return torch, model, opt, path, Xt, yt, loss_fn


def mlp_epoch_time(method, X, y, sizes, *, batch_size: int, hyper=None, seed: int = 0,
                   repeats: int = 1, dtype=np.float32, device: str = "cpu"):
    """Median wall time (s) of one shuffled pass over ``X`` in minibatches; ``(time, path)``.

    ``None`` when torch or the method is missing. A last partial minibatch is dropped
    (as adaptlr's training loop does with ``n % batch_size`` samples, see its docs).
    """
    s = _setup(method, X, y, sizes, hyper, seed, dtype, device)
    if s is None:
        return None
    torch, model, opt, path, Xt, yt, loss_fn = s
    n = Xt.shape[0]
    gen = torch.Generator().manual_seed(seed)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(device)
        for b in range(0, n - batch_size + 1, batch_size):
            idx = perm[b:b + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), path


def batch1_samples_per_s(method, X, y, sizes, *, n_samples: int, hyper=None, seed: int = 0,
                         repeats: int = 1, dtype=np.float32):
    """Samples per second of online training (batch size 1, Python loop); ``(rate, path)``."""
    s = _setup(method, X, y, sizes, hyper, seed, dtype)
    if s is None:
        return None
    torch, model, opt, path, Xt, yt, loss_fn = s
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(repeats):
        order = [int(i) for i in rng.permutation(Xt.shape[0])[:n_samples]]
        t0 = time.perf_counter()
        for i in order:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[i:i + 1]), yt[i:i + 1])
            loss.backward()
            opt.step()
        rates.append(len(order) / (time.perf_counter() - t0))
    return float(np.median(rates)), path


def mlp_references(method, X, y, sizes, *, n_epoch: int, batch_size: int, hyper, seed: int,
                   repeats: int, threads: int, b1_samples: int):
    """PyTorch's epoch time (first ``n_epoch`` rows) and batch-1 rate, ``threads`` threads.

    The performance study calls this in a fresh process (perf_isolated.py) so that no other
    library's thread pool runs beside PyTorch's. Returns ``(epoch, b1)``, each as
    :func:`mlp_epoch_time` / :func:`batch1_samples_per_s` return it (``None`` if missing)."""
    set_threads(threads)
    tt = mlp_epoch_time(method, X[:n_epoch], y[:n_epoch], sizes, batch_size=batch_size,
                        hyper=hyper, seed=seed, repeats=repeats)
    tb = batch1_samples_per_s(method, X, y, sizes, n_samples=b1_samples, hyper=hyper, seed=seed)
    return tt, tb
