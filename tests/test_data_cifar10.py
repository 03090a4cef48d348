"""CIFAR-10 loader on small python-batch files written here (the real data is not available).

Oracle: the arrays the test itself pickled; the train mean computed here.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from adaptlr.data import CorruptDataError, DataNotFoundError, load_cifar10
from adaptlr.data import cifar10, locate

N = 30          # images per synthetic batch
NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPTLR_OFFLINE", "1")
    monkeypatch.setenv("ADAPTLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ADAPTLR_DATA_DIR", raising=False)
    cifar10.clear_cache()
    yield
    cifar10.clear_cache()


def make_batches(root: Path, n=N, seed=0, names=NAMES) -> dict:
    """Write CIFAR python-batch files (pickled dicts, bytes keys) into root; return the arrays."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        X = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n)]
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": X, b"labels": y,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
        out[name] = (X, np.array(y))
    return out


def test_batch1_subset_shapes_values_and_preprocessing(tmp_path):
    ref = make_batches(tmp_path / "cifar-10-batches-py")
    d = load_cifar10(tmp_path, preprocess=None, dtype=np.float64, verify=False)
    assert d.name == "cifar10-batch1" and d.source == f"data_dir argument: {tmp_path / 'cifar-10-batches-py'}"
    assert d.X_train.shape == (N, 3072) and d.X_test.shape == (N, 3072)
    assert d.X_train.dtype == np.float64 and d.y_train.dtype == np.int64 and d.y_test.dtype == np.int64
    np.testing.assert_array_equal(d.X_train, ref["data_batch_1"][0])
    np.testing.assert_array_equal(d.y_train, ref["data_batch_1"][1])
    np.testing.assert_array_equal(d.X_test, ref["test_batch"][0])
    np.testing.assert_array_equal(d.y_test, ref["test_batch"][1])
    assert d.image_shape == (3, 32, 32) and d.n_classes == 10
    for name in ("data_batch_1", "test_batch"):
        assert d.checksums[name] == hashlib.sha256((tmp_path / "cifar-10-batches-py" / name).read_bytes()).hexdigest()
    assert set(d.checksums) == {"data_batch_1", "test_batch"}

    s = load_cifar10(tmp_path, verify=False)
    assert s.X_train.dtype == np.float32
    np.testing.assert_allclose(s.X_train, ref["data_batch_1"][0] / 255.0, rtol=1e-7)

    c = load_cifar10(tmp_path, preprocess="center", dtype=np.float64, verify=False)
    mean = ref["data_batch_1"][0].mean(axis=0) / 255.0     # mean of the batch1 TRAIN images only
    np.testing.assert_allclose(c.X_train, ref["data_batch_1"][0] / 255.0 - mean, atol=1e-12)
    np.testing.assert_allclose(c.X_test, ref["test_batch"][0] / 255.0 - mean, atol=1e-12)


def test_full_subset_concatenates_batches_in_order(tmp_path):
    ref = make_batches(tmp_path)
    d = load_cifar10(tmp_path, subset="full", preprocess=None, verify=False)
    assert d.name == "cifar10" and d.X_train.shape == (5 * N, 3072)
    np.testing.assert_array_equal(d.X_train, np.concatenate([ref[f"data_batch_{i}"][0] for i in range(1, 6)]))
    np.testing.assert_array_equal(d.y_train, np.concatenate([ref[f"data_batch_{i}"][1] for i in range(1, 6)]))
    assert len(d.checksums) == 6


def test_batch1_needs_only_its_files_full_reports_missing(tmp_path):
    make_batches(tmp_path, names=["data_batch_1", "test_batch"])
    assert load_cifar10(tmp_path, verify=False).X_train.shape == (N, 3072)
    with pytest.raises(DataNotFoundError, match="missing data_batch_2, data_batch_3"):
        load_cifar10(tmp_path, subset="full", verify=False)


def test_bad_subset_is_a_clear_value_error(tmp_path):
    with pytest.raises(ValueError, match="subset='batch2'.*'batch1'.*'full'"):
        load_cifar10(tmp_path, subset="batch2")


def test_verify_uses_published_md5_and_batch_size(tmp_path, monkeypatch):
    make_batches(tmp_path)
    with pytest.raises(CorruptDataError, match="data_batch_1: wrong size: 30 images, expected 10000"):
        load_cifar10(tmp_path)
    # pretend the synthetic files are the published ones: then verify passes ...
    md5 = {n: hashlib.md5((tmp_path / n).read_bytes()).hexdigest() for n in NAMES}
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", md5)
    monkeypatch.setattr(cifar10, "N_PER_BATCH", N)
    assert load_cifar10(tmp_path).X_train.shape == (N, 3072)
    # ... and any change of content is a named checksum error
    make_batches(tmp_path, seed=1, names=["test_batch"])
    with pytest.raises(CorruptDataError, match=f"test_batch: wrong checksum: MD5 .* expected the published {md5['test_batch']}"):
        load_cifar10(tmp_path)
    assert cifar10.CIFAR10_MD5 is md5  # the real table is untouched outside this test
    assert len(md5) == 6


def test_real_published_md5_table():
    assert cifar10.CIFAR10_DOWNLOAD_MD5 == {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
    assert set(cifar10.CIFAR10_MD5) == set(NAMES)


def test_truncated_and_malformed_batches_are_named(tmp_path):
    make_batches(tmp_path, names=["data_batch_1", "test_batch"])
    p = tmp_path / "test_batch"
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptDataError, match="test_batch: not a readable CIFAR python batch"):
        load_cifar10(tmp_path, verify=False)
    with open(p, "wb") as f:
        pickle.dump({b"data": np.zeros((3, 3071), np.uint8), b"labels": [0, 1, 2]}, f)
    with pytest.raises(CorruptDataError, match=r"test_batch: b'data' is uint8 \(3, 3071\)"):
        load_cifar10(tmp_path, verify=False)
    with open(p, "wb") as f:
        pickle.dump({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(CorruptDataError, match="expected 3 integers"):
        load_cifar10(tmp_path, verify=False)
    with open(p, "wb") as f:
        pickle.dump({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]}, f)
    with pytest.raises(CorruptDataError, match="labels outside 0..9"):
        load_cifar10(tmp_path, verify=False)
    with open(p, "wb") as f:
        pickle.dump({b"images": np.zeros((3, 3072), np.uint8)}, f)
    with pytest.raises(CorruptDataError, match="needs keys b'data' and b'labels'"):
        load_cifar10(tmp_path, verify=False)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/adaptlr-cifar-pwned",))


def test_hostile_pickle_is_refused_not_executed(tmp_path):
    make_batches(tmp_path, names=["data_batch_1"])
    marker = Path("/tmp/adaptlr-cifar-pwned")
    marker.unlink(missing_ok=True)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f)
    with pytest.raises(CorruptDataError, match="not allowed"):
        load_cifar10(tmp_path, verify=False)
    assert not marker.exists()


def test_reads_batches_from_the_tarball(tmp_path):
    src = tmp_path / "src"
    ref = make_batches(src / "cifar-10-batches-py", names=["data_batch_1", "test_batch"])
    tar_dir = tmp_path / "t"
    tar_dir.mkdir()
    with tarfile.open(tar_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    d = load_cifar10(tar_dir, preprocess=None, verify=False)
    np.testing.assert_array_equal(d.X_test, ref["test_batch"][0])
    # a truncated tarball is named
    raw = (tar_dir / "cifar-10-python.tar.gz").read_bytes()
    (tar_dir / "cifar-10-python.tar.gz").write_bytes(raw[: len(raw) // 3])
    cifar10.clear_cache()
    with pytest.raises(CorruptDataError, match="cifar-10-python.tar.gz.*(truncated|no member)"):
        load_cifar10(tar_dir, verify=False)


def test_env_var_subfolder_and_not_found_message(tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "repo_data_dir", lambda: None)
    with pytest.raises(DataNotFoundError) as ei:
        load_cifar10()
    msg = str(ei.value)
    assert "data_batch_1" in msg and "test_batch" in msg and "ADAPTLR_DATA_DIR" in msg
    assert "download cache" in msg and "c58f30108f718f92721af3b95e74349a" in msg
    make_batches(tmp_path / "root" / "cifar10" / "cifar-10-batches-py", names=["data_batch_1", "test_batch"])
    monkeypatch.setenv("ADAPTLR_DATA_DIR", str(tmp_path / "root"))
    d = load_cifar10(verify=False)
    assert d.source == f"$ADAPTLR_DATA_DIR: {tmp_path / 'root' / 'cifar10' / 'cifar-10-batches-py'}"
