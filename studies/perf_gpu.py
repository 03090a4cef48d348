"""GPU timings for the performance study (issue 7, "Measure on a real GPU").

Helper of :mod:`studies.performance` (not a study: it defines no ``STUDY``).

Runs only on a real CUDA device: :func:`gpu_status` says why not otherwise (no device,
or Numba's CUDA simulator, which runs on the CPU and says nothing about GPU speed).

* :func:`kernel_times` : the method's CUDA twin ``opt.step_cuda`` (same flat signature
  as the CPU kernel, device arrays) and a device-to-device copy of the same length
  (``b.copy_to_device(a)``, 2 arrays moved), in interleaved rounds; each sample runs
  ``inner`` calls between two ``cuda.synchronize()`` so that launch latency is averaged.
* :func:`epoch_step_time` : per-step time of ``train(..., device="cuda")`` by the same
  two-run difference as on the CPU (:func:`studies.perf_mlp.train_step_time`).
* :func:`trials_per_second` : ``k`` quick training runs started together in ``k``
  threads of this process (one GPU, Numba's default stream per thread), trials per
  second of wall time, for each ``k``.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from . import perf_kernels, perf_machine


def gpu_status() -> tuple[bool, str]:
    """``(available, note)``: True only for a real CUDA device."""
    from adaptlr import targets

    if targets.CUDA_SIMULATOR:
        return False, "not measured: NUMBA_ENABLE_CUDASIM=1 (the CUDA simulator is not a GPU)"
    if not targets.cuda_available():
        return False, "not measured: no CUDA device"
    return True, ""


def device_name() -> str:
    from numba import cuda

    try:
        return cuda.get_current_device().name.decode() if isinstance(
            cuda.get_current_device().name, bytes) else str(cuda.get_current_device().name)
    except Exception:  # noqa: BLE001
        return "unknown"


def kernel_times(method: str, n: int, repeats: int, inner: int = 20, seed: int = 0) -> dict:
    """Median seconds per call of the CUDA twin and of a device copy; bytes moved."""
    from numba import cuda

    from adaptlr import optimizers

    opt = optimizers.make(method)
    d = perf_kernels.inputs(opt, n, np.float32, seed)
    dev = {k: cuda.to_device(v) for k, v in d.items() if isinstance(v, np.ndarray)}
    offsets = np.array([0, n], dtype=np.int64)
    st, sc = opt.init_flat(n, offsets, np.float32)
    st_d, sc_d = cuda.to_device(st), cuda.to_device(sc)
    hp = opt.hyper
    step = opt.step_cuda
    nb = int(d["nbatch"])
    for t in range(1, perf_kernels.WARM_STEPS + 1):
        step(dev["x"], dev["g"] if t % 2 else dev["gneg"], dev["curv"], dev["gsq"], dev["hv"],
             st_d, sc_d, offsets, hp, t, nb)
    cuda.synchronize()
    tt = perf_kernels.WARM_STEPS + 1
    a = dev["g"]
    b = cuda.device_array_like(a)

    def run_step():
        for i in range(inner):
            step(dev["x"], dev["g"] if i % 2 else dev["gneg"], dev["curv"], dev["gsq"], dev["hv"],
                 st_d, sc_d, offsets, hp, tt, nb)
        cuda.synchronize()

    def run_copy():
        for _ in range(inner):
            b.copy_to_device(a)
        cuda.synchronize()

    times = perf_machine.interleaved_times({"kernel": run_step, "copy": run_copy}, repeats)
    must, _, _ = perf_kernels.bytes_per_element(method)
    return {"step_time": float(np.median(times["kernel"])) / inner,
            "copy_time": float(np.median(times["copy"])) / inner,
            "bytes": must * n, "copy_bytes": 2 * 4 * n}


def epoch_step_time(method: str, X, y, sizes, *, batch_size: int, seed: int = 0) -> dict:
    """Per-step seconds of ``train(..., device="cuda")`` (two-run difference)."""
    from adaptlr import optimizers
    from adaptlr.mlp import MLP, train

    proto = MLP(list(sizes), activation="tanh", output="softmax", dtype=np.float32, seed=seed)
    runs = []
    for epochs in (1, 2):
        res = train(proto.copy(), optimizers.make(method), X, y, epochs=epochs,
                    batch_size=batch_size, seed=seed, eval_every=10 ** 6, device="cuda")
        runs.append(res)
    r1, r2 = runs
    ds = r2.steps - r1.steps
    ok = ds > 0 and not (r1.diverged or r2.diverged)
    return {"step_time": (r2.wall_time - r1.wall_time) / ds if ok else float("nan"),
            "diverged": bool(r1.diverged or r2.diverged)}


def trials_per_second(method: str, X, y, sizes, concurrency, *, batch_size: int,
                      epochs: int = 1) -> list[float]:
    """Trials per second with ``k`` trials sharing the GPU, for each ``k`` in ``concurrency``."""
    from adaptlr import optimizers
    from adaptlr.mlp import MLP, train

    def one(seed, errors):
        try:
            net = MLP(list(sizes), activation="tanh", output="softmax", dtype=np.float32, seed=seed)
            train(net, optimizers.make(method), X, y, epochs=epochs, batch_size=batch_size,
                  seed=seed, device="cuda")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    one(0, [])   # compile
    rates = []
    for k in concurrency:
        errors: list = []
        threads = [threading.Thread(target=one, args=(s, errors)) for s in range(int(k))]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        if errors:
            raise errors[0]
        rates.append(int(k) / wall)
    return rates


def torch_cuda_epoch_time(method, X, y, sizes, *, batch_size: int, seed: int = 0):
    """PyTorch CUDA epoch (s) for the same network and optimizer, or ``None`` (no torch CUDA)."""
    from . import perf_torch

    torch = perf_torch.torch_module()
    if torch is None or not torch.cuda.is_available() or method not in perf_torch.TORCH_METHODS:
        return None
    return perf_torch.mlp_epoch_time(method, X, y, sizes, batch_size=batch_size, seed=seed,
                                     device="cuda")
