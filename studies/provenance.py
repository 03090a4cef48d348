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
