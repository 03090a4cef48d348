"""Provenance: the global attributes stored with every combined Dataset.

Only ``str``, ``int`` and ``float`` values, so netCDF stores them as they are and
``xarray.open_dataset`` gives them back unchanged. Dataset checksums are stored as one
JSON string (``dataset_checksums``: ``{file: sha256 of the decompressed content}``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys

from .expand import code_version, git_info
from .spec import Study

#: thread-count variables a trial's numbers can depend on (BLAS splits its sums by thread)
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _version(mod: str) -> str:
    try:
        m = __import__(mod)
        return str(getattr(m, "__version__", "unknown"))
    except Exception:  # pragma: no cover - optional packages
        return "not installed"


def provenance(study: Study, *, quick: bool, device: str, started: str = "",
               finished: str = "", checksums: dict | None = None,
               code: dict | None = None) -> dict:
    """Global attributes describing how, where and from what the results were made.

    ``code`` is the code version the run's keys were made with (default: the current
    one); the git commit and dirty flag of the checkout are stored beside it.
    """
    import adaptlr

    code = code_version(study) if code is None else code
    commit, dirty = git_info()
    attrs = {
        "title": study.title + (" (quick form)" if quick else ""),
        "study": study.name,
        "paper": study.paper,
        "description": study.description,
        "Conventions": "CF-1.10",
        "source": "adaptlr studies engine (python -m studies)",
        "adaptlr_version": adaptlr.__version__,
        "git_commit": commit,
        "git_dirty": int(dirty),
        "source_sha256": code["source_sha256"],
        "code_version": json.dumps(code, sort_keys=True),
        "python_version": sys.version.split()[0],
        "numpy_version": _version("numpy"),
        "numba_version": _version("numba"),
        "xarray_version": _version("xarray"),
        "scipy_version": _version("scipy"),
        "dask_version": _version("dask"),
        "distributed_version": _version("distributed"),
        "netcdf4_version": _version("netCDF4"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "hostname": platform.node(),
        "cpu_count": int(os.cpu_count() or 0),
        "fastmath": os.environ.get("ADAPTLR_FASTMATH", "0"),
        "device": device,
        "quick": int(bool(quick)),
        "dataset_checksums": json.dumps(checksums or {}, sort_keys=True),
        "spec": study.as_json(),
        "created": started,
        "finished": finished,
        "combined": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for k, v in attrs.items():
        assert isinstance(v, (str, int, float)), (k, v)
    return attrs


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine()


def _blas() -> list[dict]:
    """The BLAS/OpenMP libraries loaded in this process (threadpoolctl), each with its
    version, the kernel set it chose for this CPU and its thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return [{"note": "threadpoolctl not installed"}]
    keep = ("user_api", "internal_api", "version", "architecture", "threading_layer",
            "num_threads")
    out = []
    for lib in threadpool_info():
        d = {k: lib[k] for k in keep if k in lib}
        d["library"] = os.path.basename(str(lib.get("filepath", "")))
        out.append(d)
    return sorted(out, key=lambda d: json.dumps(d, sort_keys=True))


def host_cpu() -> str:
    """The CPU Numba compiles for on this host (LLVM's name, e.g. ``znver3``): the
    ``cpu_target`` of :func:`environment`, also what ``run --stop-by`` times trials by."""
    try:
        import llvmlite.binding as ll

        return str(ll.get_host_cpu_name())
    except Exception:  # pragma: no cover - llvmlite comes with numba
        return "unknown"


def environment() -> dict:
    """What a trial's floating-point results can depend on besides its spec and the code:
    the CPU (Numba compiles for the host CPU, ``cpu_target``; OpenBLAS picks its kernels
    by CPU, ``blas[].architecture``) and the thread counts (a BLAS matrix product splits
    its sums by thread, so 1 and 2 threads round differently).

    Measured on the 2-core machine (adadelta-table1, Momentum lr 0.1 seed 0, float32, one
    epoch): test error 3.81% with OPENBLAS_NUM_THREADS=1 and 3.47% with 2, same code, and
    3.91% with one thread on OpenBLAS's Haswell kernels (OPENBLAS_CORETYPE=Haswell). The
    same seed is bit-identical only where this record is the same. Call it after the
    trial ran: threadpoolctl lists only the libraries loaded by then.
    """
    target = host_cpu()
    try:
        import numba

        numba_threads = int(numba.config.NUMBA_NUM_THREADS)
    except Exception:  # pragma: no cover
        numba_threads = -1
    return {
        "cpu_model": _cpu_model(),
        "cpu_target": str(target),
        "cpu_count": int(os.cpu_count() or 0),
        "numba_threads": numba_threads,
        "thread_env": {v: os.environ.get(v, "") for v in THREAD_VARS},
        "fastmath": os.environ.get("ADAPTLR_FASTMATH", "0"),
        "blas": _blas(),
    }
