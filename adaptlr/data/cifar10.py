"""CIFAR-10 (Krizhevsky 2009): 32x32 colour images of 10 classes, python-batch format.

The python version (``cifar-10-python.tar.gz``, folder ``cifar-10-batches-py/``) holds
``data_batch_1`` ... ``data_batch_5`` (10,000 training images each), ``test_batch``
(10,000 test images) and ``batches.meta``. Each batch is a pickled dict with
``b'data'``: uint8 array (10000, 3072) -- 1024 red, then 1024 green, then 1024 blue values,
each a 32x32 image in row-major order -- and ``b'labels'``: a list of ints 0..9.

vSGD (Schaul et al. 2013, Sec. 7.1) uses the 'batch1' subset: the 10,000 training images of
``data_batch_1`` and the 10,000 test images.

Safety: the batches are unpickled with a restricted unpickler that only accepts the NumPy
array reconstruction functions and builtin containers, so a hostile file cannot run code.
"""
from __future__ import annotations

import functools
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .checksums import CIFAR10_DOWNLOAD_MD5, CIFAR10_MD5, md5_bytes, sha256_bytes
from .dataset import Dataset, check_options, preprocess_pair
from .errors import CorruptDataError
from .locate import DatasetFiles, Download, locate

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
SUBSETS = {"batch1": ("data_batch_1",), "full": TRAIN_BATCHES}
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (3, 32, 32)
N_FEATURES = 3072
N_PER_BATCH = 10000


def _match(names):
    def match(directory: Path):
        files, missing = {}, []
        for n in names:
            p = directory / n
            if p.is_file():
                files[n] = (p, None)
            else:
                missing.append(n)
        if not missing:
            return files, ""
        tar = directory / TARBALL
        if tar.is_file():  # read the batches straight from the (downloaded) tarball
            return {n: (tar, f"{FOLDER}/{n}") for n in names}, ""
        return None, ("missing " + ", ".join(missing)) if files else "none of the files"
    return match


def _files(names) -> DatasetFiles:
    return DatasetFiles(
        name="cifar10", title="CIFAR-10",
        subdirs=(FOLDER, "cifar10", "cifar-10", "cifar10/" + FOLDER),
        required=tuple(names), match=_match(names),
        downloads=(Download(TARBALL, CIFAR10_DOWNLOAD_MD5[TARBALL], (URL,)),),
        how_to=(f"the batches may also be read from the tarball {TARBALL}: download {URL} (MD5 {CIFAR10_DOWNLOAD_MD5[TARBALL]}) on a machine with "
                f"internet access and put the tarball, or its extracted {FOLDER}/ folder, in a "
                "directory."),
    )


class _SafeUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("builtins", "bytearray"), ("__builtin__", "bytearray"),
        ("_codecs", "encode"),  # bytes written by Python 3 with pickle protocol <= 2
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _read_ref(path: Path, member: str | None) -> bytes:
    if member is None:
        return path.read_bytes()
    try:
        with tarfile.open(path, "r:*") as tar:
            f = tar.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError as exc:
        raise CorruptDataError(f"{path}: the archive has no member {member}") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptDataError(f"{path}: the archive is truncated or damaged ({exc})") from exc


@functools.lru_cache(maxsize=16)
def _decode_batch(path: str, member, size: int, mtime_ns: int):
    """Read, hash and unpickle one batch; cached per (path, member, size, mtime)."""
    label = f"{path}:{member}" if member else path
    data = _read_ref(Path(path), member)
    try:
        d = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:
        raise CorruptDataError(
            f"{label}: not a readable CIFAR python batch (truncated or damaged pickle: "
            f"{type(exc).__name__}: {exc})") from exc
    if not isinstance(d, dict):
        raise CorruptDataError(f"{label}: the pickle holds a {type(d).__name__}, expected a dict")
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise CorruptDataError(f"{label}: a CIFAR batch needs keys b'data' and b'labels', found "
                               f"{sorted(map(str, d))}")
    X = np.asarray(d["data"])
    y = np.asarray(d["labels"])
    if X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != N_FEATURES:
        raise CorruptDataError(
            f"{label}: b'data' is {X.dtype} {X.shape}, expected uint8 (n, {N_FEATURES})")
    if y.ndim != 1 or y.shape[0] != X.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise CorruptDataError(
            f"{label}: b'labels' has {y.shape} {y.dtype} entries, expected {X.shape[0]} integers")
    if y.size and (int(y.min()) < 0 or int(y.max()) > 9):
        raise CorruptDataError(f"{label}: labels outside 0..9 (min {y.min()}, max {y.max()})")
    X = np.ascontiguousarray(X)
    y = y.astype(np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y, sha256_bytes(data), md5_bytes(data)


def clear_cache() -> None:
    """Forget the decoded batches kept in memory."""
    _decode_batch.cache_clear()


def load_cifar10(data_dir=None, preprocess="scale", dtype=np.float32, subset="batch1", *,
                 verify: bool = True, download: bool = True) -> Dataset:
    """Load CIFAR-10 as flat float arrays (n, 3072) and int64 labels.

    Parameters
    ----------
    data_dir : path, optional
        Directory holding the batch files directly, a ``cifar-10-batches-py/`` subfolder, or
        the tarball ``cifar-10-python.tar.gz`` (read without extracting). When given, only
        this directory is used; otherwise the search order of :mod:`adaptlr.data.locate`
        applies (``$ADAPTLR_DATA_DIR``, the repository's ``data/``, the download cache, then
        a download of the tarball with its published MD5 into the cache).
    preprocess : {"scale", "center", None}
        As for :func:`~adaptlr.data.load_mnist`; ``"center"`` (vSGD) subtracts the mean of the
        *selected* training images per input dimension, from both splits.
    dtype : np.float32 or np.float64
    subset : {"batch1", "full"}
        ``"batch1"``: the 10,000 training images of ``data_batch_1`` (vSGD's subset);
        ``"full"``: all 50,000 training images (``data_batch_1`` .. ``_5`` in order).
        The test set is always ``test_batch`` (10,000 images).
    verify : bool
        Check each batch's MD5 against the published value and its size (10,000 images).
        ``False`` keeps the structural checks only (for derived or synthetic batch files).
    download : bool
        Allow the last-resort download (also disabled by ``$ADAPTLR_OFFLINE``).

    Returns
    -------
    Dataset
        ``name`` is ``"cifar10-batch1"`` or ``"cifar10"``; ``checksums`` maps each batch file
        to the SHA-256 of its content (the batches are not compressed).
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset={subset!r} is not allowed; use 'batch1' (data_batch_1 only, "
                         "as in vSGD) or 'full' (data_batch_1..5)")
    dt = check_options(preprocess, dtype)
    names = SUBSETS[subset] + (TEST_BATCH,)
    found = locate(_files(names), data_dir=data_dir, download=download)
    parts, checksums = {}, {}
    for n in names:
        path, member = found.files[n]
        st = path.stat()
        X, y, sha, md5 = _decode_batch(str(path.resolve()), member, st.st_size, st.st_mtime_ns)
        label = f"{path}:{member}" if member else str(path)
        if verify:
            if X.shape[0] != N_PER_BATCH:
                raise CorruptDataError(
                    f"{label}: wrong size: {X.shape[0]} images, expected {N_PER_BATCH}")
            if md5 != CIFAR10_MD5[n]:
                raise CorruptDataError(
                    f"{label}: wrong checksum: MD5 {md5}, expected the published {CIFAR10_MD5[n]} "
                    f"for CIFAR-10 {n}. The file is damaged or not the original (pass "
                    "verify=False to load derived files).")
        parts[n], checksums[n] = (X, y), sha
    train = [parts[n] for n in SUBSETS[subset]]
    X_tr_u8 = np.concatenate([p[0] for p in train]) if len(train) > 1 else train[0][0]
    y_tr = np.concatenate([p[1] for p in train])
    X_te_u8, y_te = parts[TEST_BATCH]
    X_tr, X_te, mean = preprocess_pair(X_tr_u8, X_te_u8, preprocess, dt)
    return Dataset(
        X_train=X_tr, y_train=y_tr.copy(), X_test=X_te, y_test=y_te.copy(),
        name="cifar10-batch1" if subset == "batch1" else "cifar10",
        checksums=checksums, source=found.source, preprocess=preprocess, mean=mean,
        image_shape=IMAGE_SHAPE, class_names=CLASS_NAMES,
    )
