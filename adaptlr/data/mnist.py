"""MNIST (LeCun, Cortes & Burges): 60,000 training and 10,000 test digits, 28x28."""
from __future__ import annotations

import numpy as np

from .checksums import MNIST_DOWNLOAD_MD5, MNIST_SHA256
from .dataset import Dataset
from .idx_dataset import IdxDatasetInfo, idx_files, load_idx_dataset

#: download mirrors, tried in order (the original site is often unavailable).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
CLASS_NAMES = tuple(str(i) for i in range(10))


def _info() -> IdxDatasetInfo:
    # built at call time so that MIRRORS / checksum tables can be patched (tests, mirrors)
    files = idx_files(
        "mnist", "MNIST", ("mnist", "MNIST"), MNIST_DOWNLOAD_MD5, MIRRORS,
        how_to=("copy the four MNIST IDX files (gzipped or not) into a directory, e.g. from "
                "this project's ../shared/data/mnist or from a machine with internet access "
                "(https://ossci-datasets.s3.amazonaws.com/mnist/)."))
    return IdxDatasetInfo(files=files, sha256=MNIST_SHA256, n_train=60000, n_test=10000,
                          class_names=CLASS_NAMES)


def load_mnist(data_dir=None, preprocess="scale", dtype=np.float32, *,
               verify: bool = True, download: bool = True) -> Dataset:
    """Load MNIST as flat float arrays and int64 labels.

    Parameters
    ----------
    data_dir : path, optional
        Directory holding the four IDX files (``train-images-idx3-ubyte`` ...; each may be
        gzipped, ``.gz``), directly or in a ``mnist/`` subfolder. When given, only this
        directory is used. When omitted, the search order of :mod:`adaptlr.data.locate`
        applies: ``$ADAPTLR_DATA_DIR``, the repository's ``data/mnist``, the download cache,
        then a download with the published MD5s.
    preprocess : {"scale", "center", None}
        ``"scale"``: pixels / 255 in [0, 1] (ADADELTA); ``"center"``: scaled, minus the
        per-pixel training mean, on both splits (vSGD); ``None``: raw 0..255 as floats.
    dtype : np.float32 or np.float64
        dtype of ``X_train`` / ``X_test``.
    verify : bool
        Check the SHA-256 of each decompressed file against the canonical values and the
        example counts (60,000 / 10,000). ``False`` skips only these two checks (for modified
        or subsampled files); the IDX structure is always checked.
    download : bool
        Allow the last-resort download (also disabled by ``$ADAPTLR_OFFLINE``).

    Returns
    -------
    Dataset
        ``X_train`` (60000, 784), ``y_train`` (60000,), ``X_test`` (10000, 784), ``y_test``,
        ``name="mnist"``, ``checksums``, ``source``.

    Raises
    ------
    DataNotFoundError
        No place holds the files and none could be downloaded.
    CorruptDataError
        A file is truncated, not IDX, of the wrong size or has the wrong checksum.

    The decoded files are cached in memory per process (keyed by path, size and
    modification time), so repeated loads cost only the float conversion.
    """
    return load_idx_dataset(_info(), data_dir, preprocess, dtype, verify=verify, download=download)
