"""Where dataset files are looked for, in order, and the download of last resort.

Search order (the first place that holds *all* files of a dataset wins):

1. the ``data_dir`` argument of the loader. It is **strict**: when it is given, nothing else
   is searched and nothing is downloaded, so an explicit choice is never silently replaced
   by another copy;
2. ``$ADAPTLR_DATA_DIR``: a directory holding the files directly, or per-dataset
   subfolders (``mnist/``, ``fashion-mnist/``, ``cifar-10-batches-py/`` ...); several
   directories may be given separated by ``os.pathsep`` (``:``);
3. the repository's ``data/<name>/``, located from the package as
   ``Path(adaptlr.__file__).parents[1] / "data"``. It is used only when that folder sits
   next to a ``pyproject.toml``, i.e. for a source checkout / development install
   (``pip install -e .``); a regular install has no repository ``data/``;
4. system paths (Debian's ``/usr/share/datasets/<name>/`` from ``apt-get install
   dataset-fashion-mnist``);
5. the download cache, ``$ADAPTLR_CACHE_DIR/<name>/`` or else
   ``pooch.os_cache("adaptlr")/<name>/`` (``~/.cache/adaptlr`` on Linux): files already
   downloaded are used without network access;
6. a download with :func:`pooch.retrieve` into that cache, checked against the published
   MD5. It is tried only when ``download=True`` (the default), ``$ADAPTLR_OFFLINE`` is not set
   and the server answers a TCP connection within a few seconds (so an offline machine fails
   fast instead of hanging).

When every place fails, :class:`~adaptlr.data.errors.DataNotFoundError` lists the missing
files, each place and why it did not serve, and how to provide the files.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence
from urllib.parse import urlparse

from .errors import CorruptDataError, DataNotFoundError

ENV_DATA_DIR = "ADAPTLR_DATA_DIR"
ENV_CACHE_DIR = "ADAPTLR_CACHE_DIR"
ENV_OFFLINE = "ADAPTLR_OFFLINE"
#: seconds allowed for the connectivity probe and for each download request's connection.
PROBE_TIMEOUT = 3.0
DOWNLOAD_TIMEOUT = 60.0

#: a found file: (path, member) where member is the name inside a tar archive, or None.
FileRef = tuple  # (Path, str | None)


@dataclass(frozen=True)
class Download:
    """One file to fetch: its name in the cache, its published MD5 and mirror URLs (in order)."""

    fname: str
    md5: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class DatasetFiles:
    """What :func:`locate` needs to know about one dataset.

    ``match(directory)`` returns ``(files, why)``: ``files`` maps each required logical name
    to a :data:`FileRef` when the directory holds them all, else ``None`` and ``why`` says
    what is missing there.
    """

    name: str                       # e.g. "mnist"
    title: str                      # e.g. "MNIST"
    subdirs: tuple[str, ...]        # subfolder names tried under each directory
    required: tuple[str, ...]       # file names, for messages
    match: Callable[[Path], tuple[Mapping[str, FileRef] | None, str]]
    system_dirs: tuple[str, ...] = ()
    downloads: tuple[Download, ...] = ()
    how_to: str = ""


@dataclass(frozen=True)
class Located:
    """Result of :func:`locate`: the files and a human-readable description of the place."""

    files: Mapping[str, FileRef]
    source: str
    directory: Path
    downloaded: bool = False


@dataclass
class _Log:
    lines: list = field(default_factory=list)

    def add(self, place: str, why: str) -> None:
        self.lines.append(f"  {len(self.lines) + 1}. {place}: {why}")


def repo_data_dir() -> Path | None:
    """The repository's ``data/`` folder, or None when adaptlr is not run from a checkout."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "data").is_dir():
        return root / "data"
    return None


def cache_dir() -> Path:
    """Root of the download cache: ``$ADAPTLR_CACHE_DIR`` or ``pooch.os_cache('adaptlr')``."""
    env = os.environ.get(ENV_CACHE_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("adaptlr"))


def offline() -> bool:
    """True when ``$ADAPTLR_OFFLINE`` is set to anything but '', '0', 'false', 'no'."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in {"", "0", "false", "no", "off"}


def is_online(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a TCP connection to the host of ``url`` opens within ``timeout`` seconds.

    When a proxy is configured for the URL's scheme (``http_proxy``/``https_proxy``, not
    bypassed by ``no_proxy``), the proxy is probed instead.
    """
    import urllib.request

    u = urlparse(url)
    host, port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(u.scheme)
    if proxy and not urllib.request.proxy_bypass(host or ""):
        pu = urlparse(proxy if "://" in proxy else "http://" + proxy)
        host, port = pu.hostname, pu.port or 80
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _search_dirs(base: Path, spec: DatasetFiles) -> list[Path]:
    return [base] + [base / s for s in spec.subdirs]


def _try_place(base: Path, spec: DatasetFiles) -> tuple[Located | None, str, Path]:
    if not base.exists():
        return None, "does not exist", base
    notes = []
    for d in _search_dirs(base, spec):
        if not d.is_dir():
            continue
        files, why = spec.match(d)
        if files is not None:
            return Located(files=files, source="", directory=d), "", d
        notes.append(why if d == base else f"{d.relative_to(base)}/: {why}")
    return None, "; ".join(notes) if notes else "not a directory", base


def _fetch(dl: Download, dest: Path) -> str:
    """Download ``dl`` into ``dest`` (trying each mirror); return the local path.

    Raises CorruptDataError when a mirror served a file with the wrong MD5 (pooch removes
    it), RuntimeError (with every mirror's error) when no mirror could be reached.
    """
    import pooch
    import requests

    errors = []
    for url in dl.urls:
        if not is_online(url):
            errors.append(f"{url}: host unreachable (no network?)")
            continue
        try:
            return pooch.retrieve(
                url, known_hash=f"md5:{dl.md5}", fname=dl.fname, path=dest,
                downloader=pooch.HTTPDownloader(timeout=DOWNLOAD_TIMEOUT), progressbar=False,
            )
        except requests.RequestException as exc:  # network/HTTP errors: try the next mirror
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
        except ValueError as exc:  # pooch: hash mismatch
            raise CorruptDataError(
                f"{dl.fname} downloaded from {url} does not have the published MD5 {dl.md5} "
                f"({exc}); the download was discarded."
            ) from exc
        except OSError as exc:  # connection reset, disk errors ...
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
    raise RuntimeError("; ".join(errors))


def locate(spec: DatasetFiles, data_dir=None, download: bool = True) -> Located:
    """Find the files of ``spec`` following the documented search order."""
    log = _Log()
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        found, why, d = _try_place(base, spec)
        if found is not None:
            return Located(found.files, f"data_dir argument: {d}", d)
        log.add(f"data_dir argument {base}", why)
        log.add("(other places)", "not searched, because data_dir was given explicitly")
        raise DataNotFoundError(_not_found_message(spec, log))

    places: list[tuple[str, Path | None, str]] = []  # (kind, directory, why it is skipped)
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        places += [(f"${ENV_DATA_DIR}", Path(p).expanduser(), "")
                   for p in env.split(os.pathsep) if p]
    else:
        places.append((f"${ENV_DATA_DIR}", None, "not set"))
    repo = repo_data_dir()
    places.append(("repository data/", repo,
                   "" if repo else "adaptlr is not running from a source checkout"))
    places += [("system path", Path(p), "") for p in spec.system_dirs]
    cache = cache_dir() / spec.name
    places.append(("download cache", cache, ""))

    for kind, base, skip in places:
        if base is None:
            log.add(kind, skip)
            continue
        found, why, d = _try_place(base, spec)
        if found is not None:
            return Located(found.files, f"{kind}: {d}", d)
        log.add(f"{kind} {base}", why)

    if not spec.downloads:
        log.add("download", "no download source is known for this dataset")
    elif not download:
        log.add("download", "not attempted (download=False)")
    elif offline():
        log.add("download", f"not attempted (${ENV_OFFLINE} is set)")
    else:
        try:
            for dl in spec.downloads:
                _fetch(dl, cache)
        except RuntimeError as exc:
            log.add("download", f"failed: {exc}")
        else:
            files, why = spec.match(cache)
            if files is not None:
                urls = ", ".join(dl.urls[0].rsplit("/", 1)[0] for dl in spec.downloads[:1])
                return Located(files, f"downloaded from {urls} into {cache}", cache, True)
            log.add("download", f"completed but {why}")
    raise DataNotFoundError(_not_found_message(spec, log))


def _not_found_message(spec: DatasetFiles, log: _Log) -> str:
    return (
        f"{spec.title} not found: missing files {', '.join(spec.required)}.\n"
        "Looked in, in order:\n" + "\n".join(log.lines) + "\n"
        "How to provide them: " + spec.how_to + f" Then pass data_dir=<that directory>, or set "
        f"${ENV_DATA_DIR} to it (the files directly, or a subfolder named "
        f"{' or '.join(repr(s) for s in spec.subdirs[:2])})."
    )
