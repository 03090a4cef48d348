"""MNIST and Fashion-MNIST loaders: places, values, preprocessing, corruption, errors.

Oracles: an independent IDX decoder written here with ``struct`` (no library code), checksums
recomputed here with hashlib, label counts published for MNIST.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from adaptlr.data import CorruptDataError, DataNotFoundError, load_fashion_mnist, load_mnist
from adaptlr.data import cifar10, fashion_mnist, idx_dataset, locate

REPO = Path(__file__).resolve().parents[1]
REPO_MNIST = REPO / "data" / "mnist"
SHARED_SHA = REPO.parent / "shared" / "data" / "mnist-uncompressed.sha256"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
APT_HINT = "apt-get update && apt-get install -y dataset-fashion-mnist"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, an empty private cache, no $ADAPTLR_DATA_DIR, no memoised arrays."""
    monkeypatch.setenv("ADAPTLR_OFFLINE", "1")
    monkeypatch.setenv("ADAPTLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADAPTLR_DATA_DIR", raising=False)
    idx_dataset.clear_cache()
    cifar10.clear_cache()
    yield
    idx_dataset.clear_cache()


def ref_idx(path: Path) -> np.ndarray:
    """Independent IDX decoder (struct + gzip) for the oracle."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, typ, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and typ == 8
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def content(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def copy_mnist(dst: Path, decompress=()) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        if f in decompress:
            (dst / f).write_bytes(gzip.decompress((REPO_MNIST / (f + ".gz")).read_bytes()))
        else:
            os.symlink(REPO_MNIST / (f + ".gz"), dst / (f + ".gz"))
    return dst


def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape) \
        + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------- MNIST from each place
def test_mnist_from_repo_data_shapes_dtypes_counts_checksums():
    # CPU time of this process, not wall time: other jobs on a shared machine do not count
    t0 = time.process_time()
    d = load_mnist()
    cold = time.process_time() - t0
    assert d.source.startswith("repository data/") and str(REPO_MNIST) in d.source
    assert d.name == "mnist"
    assert d.X_train.shape == (60000, 784) and d.X_test.shape == (10000, 784)
    assert d.X_train.dtype == np.float32 and d.X_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    assert d.y_train.shape == (60000,) and d.y_test.shape == (10000,)
    assert np.bincount(d.y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(d.y_test).sum() == 10000
    # checksums: recomputed here, and equal to the project's shared list when available
    for f in FILES:
        assert d.checksums[f] == hashlib.sha256(content(REPO_MNIST / (f + ".gz"))).hexdigest()
    if SHARED_SHA.is_file():
        shared = dict(line.split()[::-1] for line in SHARED_SHA.read_text().splitlines() if line)
        assert d.checksums == shared
    # the loader must be fast: well under a few seconds cold, faster again from memory
    t0 = time.process_time()
    load_mnist()
    warm = time.process_time() - t0
    print(f"load_mnist CPU time: cold {cold:.2f}s warm {warm:.2f}s")
    assert cold < 3.0 and warm < 1.5


def test_mnist_values_match_independent_decoder_all_preprocessings(tmp_path):
    src = copy_mnist(tmp_path / "m")
    rows = np.r_[0:500, 59500:60000]          # compare a subset of rows: keeps memory/time low
    ref_tr_full = ref_idx(src / "train-images-idx3-ubyte.gz").reshape(60000, 784)
    ref_tr = ref_tr_full[rows]
    ref_te = ref_idx(src / "t10k-images-idx3-ubyte.gz").reshape(10000, 784)[:500]
    ref_y = ref_idx(src / "train-labels-idx1-ubyte.gz")

    raw = load_mnist(src, preprocess=None, dtype=np.float64)
    assert raw.source == f"data_dir argument: {src}"
    assert raw.X_train.dtype == np.float64 and raw.X_test.dtype == np.float64
    np.testing.assert_array_equal(raw.X_train[rows], ref_tr.astype(np.float64))
    np.testing.assert_array_equal(raw.X_test[:500], ref_te.astype(np.float64))
    np.testing.assert_array_equal(raw.y_train, ref_y.astype(np.int64))
    assert raw.X_train.max() == 255.0 and raw.mean is None
    del raw

    sc = load_mnist(src, preprocess="scale", dtype=np.float32)
    np.testing.assert_array_equal(sc.X_train[rows], (ref_tr / np.float32(255)).astype(np.float32))
    assert sc.X_train.min() == 0.0 and sc.X_train.max() == 1.0
    del sc

    ce = load_mnist(src, preprocess="center", dtype=np.float32)
    mean = ref_tr_full.mean(axis=0, dtype=np.float64) / 255.0    # TRAIN mean, per input dimension
    np.testing.assert_allclose(ce.mean, mean, rtol=0, atol=1e-7)
    np.testing.assert_allclose(ce.X_train[rows], ref_tr / 255.0 - mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ce.X_test[:500], ref_te / 255.0 - mean, rtol=0, atol=1e-6)
    assert np.abs(ce.X_train.mean(axis=0, dtype=np.float64)).max() < 1e-6
    assert np.abs(ce.X_test.mean(axis=0, dtype=np.float64)).max() > 1e-4   # centred with the train mean


def test_results_are_fresh_writable_copies(tmp_path):
    a = load_mnist()
    a.X_train[0, 0] = 123.0
    a.y_train[0] = 9 - a.y_train[0]
    b = load_mnist()
    assert b.X_train[0, 0] == 0.0 and b.y_train[0] != a.y_train[0]
    assert b.X_train.flags.writeable


def test_same_content_bit_identical_from_gz_and_plain_files(tmp_path):
    src = copy_mnist(tmp_path / "m", decompress=("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"))
    a = load_mnist(src)
    b = load_mnist()
    for k in ("X_train", "y_train", "X_test", "y_test"):
        assert np.array_equal(getattr(a, k), getattr(b, k))
    assert a.checksums == b.checksums


def test_mnist_from_env_var_subfolder_and_direct(tmp_path, monkeypatch):
    copy_mnist(tmp_path / "root" / "mnist")
    monkeypatch.setenv("ADAPTLR_DATA_DIR", str(tmp_path / "root"))
    d = load_mnist()
    assert d.source == f"$ADAPTLR_DATA_DIR: {tmp_path / 'root' / 'mnist'}"
    monkeypatch.setenv("ADAPTLR_DATA_DIR", os.pathsep.join([str(tmp_path / "nothing"),
                                                            str(tmp_path / "root" / "mnist")]))
    assert load_mnist().source == f"$ADAPTLR_DATA_DIR: {tmp_path / 'root' / 'mnist'}"


def test_explicit_data_dir_is_strict(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError) as ei:
        load_mnist(tmp_path / "empty")      # the repo's data/ holds MNIST, but is not used
    msg = str(ei.value)
    assert str(tmp_path / "empty") in msg and "train-images-idx3-ubyte" in msg
    assert "not searched" in msg


def test_invalid_arguments_name_the_value():
    with pytest.raises(ValueError, match="preprocess='zscore'.*'scale'.*'center'.*None"):
        load_mnist(preprocess="zscore")
    with pytest.raises(ValueError, match="dtype=.*int32.*float32 or np.float64"):
        load_mnist(dtype=np.int32)
    with pytest.raises(ValueError, match="dtype='banana'"):
        load_mnist(dtype="banana")


# ---------------------------------------------------------------- Fashion-MNIST
@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian package dataset-fashion-mnist not installed ({APT_HINT})")
def test_fashion_mnist_from_debian_path(tmp_path):
    d = load_fashion_mnist()
    assert d.source == f"system path: {DEBIAN_FASHION}"
    assert d.name == "fashion-mnist"
    assert d.X_train.shape == (60000, 784) and d.X_test.shape == (10000, 784)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.class_names[9] == "Ankle boot"
    ref = ref_idx(DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").reshape(10000, 784)
    np.testing.assert_array_equal(d.X_test, ref / np.float32(255))
    for f in FILES:
        assert d.checksums[f] == hashlib.sha256(content(DEBIAN_FASHION / (f + ".gz"))).hexdigest()
    # ... and from an explicit directory holding a copy (subfolder form)
    sub = tmp_path / "fashion-mnist"
    sub.mkdir()
    for f in FILES:
        os.symlink(DEBIAN_FASHION / (f + ".gz"), sub / (f + ".gz"))
    e = load_fashion_mnist(tmp_path)
    assert e.source == f"data_dir argument: {sub}"
    assert e.checksums == d.checksums


def test_fashion_mnist_rejects_mnist_files(tmp_path):
    """MNIST files in a Fashion-MNIST place: structurally fine, wrong checksum -> named error."""
    src = copy_mnist(tmp_path / "m")
    with pytest.raises(CorruptDataError, match="wrong checksum.*Fashion-MNIST"):
        load_fashion_mnist(src)


def test_not_found_lists_files_places_and_how_to(tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "repo_data_dir", lambda: None)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (str(tmp_path / "usr-share"),))
    monkeypatch.setenv("ADAPTLR_DATA_DIR", str(tmp_path / "envdir"))
    (tmp_path / "envdir").mkdir()
    os.symlink(REPO_MNIST / "train-images-idx3-ubyte.gz", tmp_path / "envdir" / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataNotFoundError) as ei:
        load_fashion_mnist()
    msg = str(ei.value)
    assert isinstance(ei.value, FileNotFoundError)
    for f in FILES:
        assert f in msg
    assert str(tmp_path / "envdir") in msg and "missing train-labels-idx1-ubyte" in msg
    assert str(tmp_path / "usr-share") in msg
    assert str(tmp_path / "cache" / "fashion-mnist") in msg
    assert "ADAPTLR_OFFLINE" in msg
    assert "repository data/" in msg
    assert "apt-get install -y dataset-fashion-mnist" in msg and "ADAPTLR_DATA_DIR" in msg
    # the places are listed in the documented search order
    order = ["1. $ADAPTLR_DATA_DIR", "2. repository data/", "3. system path", "4. download cache",
             "5. download: not attempted"]
    assert all(o in msg for o in order)
    assert [msg.index(o) for o in order] == sorted(msg.index(o) for o in order)


# ---------------------------------------------------------------- corruption
@pytest.fixture
def labels_dir(tmp_path):
    """A directory with the real MNIST files, train labels as a private writable copy."""
    d = copy_mnist(tmp_path / "bad")
    os.unlink(d / "train-labels-idx1-ubyte.gz")
    shutil.copy(REPO_MNIST / "train-labels-idx1-ubyte.gz", d / "train-labels-idx1-ubyte.gz")
    return d


def test_truncated_gzip_is_named(labels_dir):
    p = labels_dir / "train-labels-idx1-ubyte.gz"
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptDataError, match=r"train-labels-idx1-ubyte\.gz.*truncated"):
        load_mnist(labels_dir)


def test_truncated_uncompressed_file_is_named(labels_dir):
    os.unlink(labels_dir / "train-labels-idx1-ubyte.gz")
    data = gzip.decompress((REPO_MNIST / "train-labels-idx1-ubyte.gz").read_bytes())
    (labels_dir / "train-labels-idx1-ubyte").write_bytes(data[:-100])
    with pytest.raises(CorruptDataError, match=r"train-labels-idx1-ubyte: wrong size.*truncated"):
        load_mnist(labels_dir)


def test_wrong_magic_number_is_named(labels_dir):
    p = labels_dir / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(p.read_bytes()))
    data[0] = 0x1F          # not 0x00 0x00
    p.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(CorruptDataError, match=r"train-labels-idx1-ubyte\.gz: wrong IDX magic"):
        load_mnist(labels_dir)


def test_wrong_checksum_is_named_and_cache_sees_replaced_file(labels_dir):
    good = load_mnist(labels_dir)         # loads, and memoises the good labels
    p = labels_dir / "train-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(p.read_bytes()))
    data[8 + 5] = (data[8 + 5] + 1) % 10   # still a valid label 0..9
    p.write_bytes(gzip.compress(bytes(data)))
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(CorruptDataError) as ei:
        load_mnist(labels_dir)
    msg = str(ei.value)
    assert "train-labels-idx1-ubyte.gz" in msg and "wrong checksum" in msg
    assert good.checksums["train-labels-idx1-ubyte"] in msg            # the expected value
    # verify=False loads the modified file (structure still checked)
    mod = load_mnist(labels_dir, verify=False)
    assert mod.y_train[5] == (good.y_train[5] + 1) % 10


def test_wrong_dimensions_and_counts(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    rng = np.random.default_rng(0)
    (d / "train-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (12, 28, 28))))
    (d / "train-labels-idx1-ubyte").write_bytes(idx_bytes(rng.integers(0, 10, 12)))
    (d / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (5, 28, 28))))
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(rng.integers(0, 10, 5)))
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte: wrong size: 12 examples"):
        load_mnist(d)
    small = load_mnist(d, verify=False)      # structure fine: a subsampled file set
    assert small.X_train.shape == (12, 784) and small.X_test.shape == (5, 784)
    (d / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (5, 28, 27))))
    with pytest.raises(CorruptDataError, match=r"t10k-images-idx3-ubyte: wrong dimensions \(5, 28, 27\)"):
        load_mnist(d, verify=False)
    (d / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (6, 28, 28))))
    with pytest.raises(CorruptDataError, match="6 images but .* 5 labels"):
        load_mnist(d, verify=False)
    (d / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(rng.integers(0, 256, (5, 28, 28))))
    (d / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 2, 3, 4, 11])))
    with pytest.raises(CorruptDataError, match="label 11 out of range"):
        load_mnist(d, verify=False)
    (d / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05" + b"\x01")
    with pytest.raises(CorruptDataError, match="wrong size.*5.*truncated"):
        load_mnist(d, verify=False)
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(CorruptDataError, match="named .gz but is not gzip"):
        load_mnist(d, verify=False)


# ---------------------------------------------------------------- IDX reader properties
from hypothesis import given, settings, strategies as st  # noqa: E402

from adaptlr.data.idx import parse_idx, read_content  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       code=st.sampled_from([(0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")]),
       cut=st.integers(0, 10_000), seed=st.integers(0, 2**32 - 1))
def test_idx_roundtrip_and_every_truncation_is_a_corrupt_data_error(shape, code, cut, seed, tmp_path_factory):
    typ, dt = code
    a = (np.random.default_rng(seed).normal(size=shape) * 50).astype(dt)
    raw = struct.pack(">HBB", 0, typ, len(shape)) + struct.pack(">" + "I" * len(shape), *shape) + a.tobytes()
    out = parse_idx(raw, "x")
    assert out.dtype == np.dtype(dt).newbyteorder("=") and out.shape == tuple(shape)
    np.testing.assert_array_equal(out, a)
    cut = cut % len(raw)                      # any strict prefix is rejected with a named error
    with pytest.raises(CorruptDataError, match="^x: "):
        parse_idx(raw[:cut], "x")
    with pytest.raises(CorruptDataError, match="trailing data"):
        parse_idx(raw + b"\0", "x")
    gz = gzip.compress(raw)
    p = tmp_path_factory.mktemp("gz") / "f.gz"
    p.write_bytes(gz[: max(2, cut % len(gz))])
    with pytest.raises(CorruptDataError, match="f.gz"):
        read_content(p)
