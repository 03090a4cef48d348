"""The download of last resort, against a local HTTP server on loopback (never the internet).

The server serves this repository's MNIST .gz files (re-compressed, so the test substitutes
their MD5 for the published one; the decompressed content is still checked against the
canonical SHA-256) and a small synthetic CIFAR tarball.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import shutil
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from adaptlr.data import CorruptDataError, DataNotFoundError, load_cifar10, load_mnist
from adaptlr.data import cifar10, idx_dataset, locate, mnist

REPO_MNIST = Path(__file__).resolve().parents[1] / "data" / "mnist"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(root directory, base URL, request log) of a loopback HTTP server."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("ADAPTLR_OFFLINE", raising=False)
    monkeypatch.delenv("ADAPTLR_DATA_DIR", raising=False)
    monkeypatch.setenv("ADAPTLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(locate, "repo_data_dir", lambda: None)  # hide the repo's data/mnist
    # guard: nothing in this file may leave loopback
    real = locate.is_online
    monkeypatch.setattr(locate, "is_online",
                        lambda url, timeout=1.0: url.startswith("http://127.0.0.1:") and real(url, timeout))
    idx_dataset.clear_cache()
    cifar10.clear_cache()


def serve_mnist(root: Path, monkeypatch, base: str) -> dict:
    md5 = {}
    for f in FILES:
        shutil.copy(REPO_MNIST / (f + ".gz"), root / (f + ".gz"))
        md5[f + ".gz"] = hashlib.md5((root / (f + ".gz")).read_bytes()).hexdigest()
    monkeypatch.setattr(mnist, "MNIST_DOWNLOAD_MD5", md5)
    # first mirror: nobody listening; second: HTTP 404; third: serves the files
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/", base + "nope/", base))
    return md5


def test_mnist_download_into_cache_then_offline_reuse(server, monkeypatch, tmp_path):
    root, base, log = server
    serve_mnist(root, monkeypatch, base)
    d = load_mnist()
    assert d.source.startswith("downloaded from") and str(tmp_path / "cache" / "mnist") in d.source
    assert sorted(log) == sorted(["/nope/" + f + ".gz" for f in FILES] + ["/" + f + ".gz" for f in FILES])
    assert np.bincount(d.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    for f in FILES:
        assert (tmp_path / "cache" / "mnist" / (f + ".gz")).is_file()
    # second load: from the cache, no request, works offline
    monkeypatch.setenv("ADAPTLR_OFFLINE", "1")
    e = load_mnist()
    assert e.source == f"download cache: {tmp_path / 'cache' / 'mnist'}"
    assert len(log) == 8 and e.checksums == d.checksums


def test_download_with_wrong_md5_is_discarded(server, monkeypatch, tmp_path):
    root, base, log = server
    md5 = serve_mnist(root, monkeypatch, base)
    bad = dict(md5, **{"train-labels-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setattr(mnist, "MNIST_DOWNLOAD_MD5", bad)
    with pytest.raises(CorruptDataError, match="train-labels-idx1-ubyte.gz downloaded from .* does not have the published MD5 0{32}"):
        load_mnist()
    assert not (tmp_path / "cache" / "mnist" / "train-labels-idx1-ubyte.gz").exists()


def test_download_with_right_md5_but_wrong_content_is_refused(server, monkeypatch):
    root, base, log = server
    md5 = serve_mnist(root, monkeypatch, base)
    # a mirror serving Fashion-like content under MNIST names: MD5 table says OK, SHA-256 not
    import gzip
    data = bytearray(gzip.decompress((root / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    data[20] = (data[20] + 1) % 10
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(data)))
    md5["t10k-labels-idx1-ubyte.gz"] = hashlib.md5((root / "t10k-labels-idx1-ubyte.gz").read_bytes()).hexdigest()
    with pytest.raises(CorruptDataError, match="t10k-labels-idx1-ubyte.gz: wrong checksum"):
        load_mnist()


def test_unreachable_server_gives_not_found_with_reason(monkeypatch):
    with socket.socket() as s:           # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(mnist, "MIRRORS", (f"http://127.0.0.1:{port}/",))
    with pytest.raises(DataNotFoundError, match=r"download: failed: .*127\.0\.0\.1.*unreachable"):
        load_mnist()


def test_download_disabled_by_argument_and_env(monkeypatch, server):
    root, base, log = server
    serve_mnist(root, monkeypatch, base)
    with pytest.raises(DataNotFoundError, match="not attempted \\(download=False\\)"):
        load_mnist(download=False)
    monkeypatch.setenv("ADAPTLR_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="not attempted \\(\\$ADAPTLR_OFFLINE is set\\)"):
        load_mnist()
    assert log == []


def test_patched_fetch_sees_published_hash_and_cache(monkeypatch, tmp_path):
    """Without any server: pooch.retrieve is replaced, the call it gets is checked."""
    import pooch
    calls = []

    def fake_retrieve(url, known_hash, fname, path, **kw):
        calls.append((url, known_hash, fname, Path(path)))
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_MNIST / fname, Path(path) / fname)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    monkeypatch.setattr(locate, "is_online", lambda url, timeout=1.0: True)
    d = load_mnist()
    assert d.source.startswith("downloaded from https://ossci-datasets.s3.amazonaws.com/mnist")
    assert [c[1] for c in calls] == ["md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", "md5:d53e105ee54ea40749a09fcbcd1e9432",
                                     "md5:9fb629c4189551a2d022fa330f9573f3", "md5:ec29112dd5afa0611ce80d1b7f02629c"]
    assert all(c[3] == tmp_path / "cache" / "mnist" for c in calls)


def test_cifar_tarball_download(server, monkeypatch, tmp_path):
    root, base, log = server
    src = tmp_path / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    rng = np.random.default_rng(3)
    X = {}
    for name in ("data_batch_1", "test_batch"):
        X[name] = rng.integers(0, 256, (7, 3072), dtype=np.uint8)
        with open(src / name, "wb") as f:
            pickle.dump({b"data": X[name], b"labels": list(range(7))}, f)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    md5 = hashlib.md5((root / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(cifar10, "URL", base + "cifar-10-python.tar.gz")
    monkeypatch.setattr(cifar10, "CIFAR10_DOWNLOAD_MD5", {"cifar-10-python.tar.gz": md5})
    d = load_cifar10(preprocess=None, verify=False)
    assert d.source.startswith(f"downloaded from {base[:-1]}")
    np.testing.assert_array_equal(d.X_train, X["data_batch_1"])
    assert log == ["/cifar-10-python.tar.gz"]


REAL_IS_ONLINE = locate.is_online


def test_online_probe_uses_configured_proxy_and_fails_fast(monkeypatch):
    """No packet leaves loopback: the target host is never contacted when a proxy is set."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.delenv("no_proxy", raising=False)
        assert REAL_IS_ONLINE("https://example.invalid/file.gz", timeout=1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{closed}")
    assert not REAL_IS_ONLINE("https://example.invalid/file.gz", timeout=1.0)
    monkeypatch.delenv("https_proxy")
    assert not REAL_IS_ONLINE(f"http://127.0.0.1:{closed}/x", timeout=1.0)
