"""Loading of the MNIST-format (IDX) datasets: MNIST and Fashion-MNIST share this code."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from .checksums import sha256_bytes
from .dataset import Dataset, check_options, preprocess_pair
from .errors import CorruptDataError
from .idx import parse_idx, read_content
from .locate import DatasetFiles, Download, locate

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
IMAGE_SHAPE = (28, 28)


def match_idx_files(directory: Path):
    """Find the four IDX files in ``directory``, each as ``name`` or ``name.gz``.

    The uncompressed file is preferred when both exist.
    """
    files, missing = {}, []
    for name in IDX_FILES:
        for cand in (directory / name, directory / (name + ".gz")):
            if cand.is_file():
                files[name] = (cand, None)
                break
        else:
            missing.append(name + "[.gz]")
    if missing:
        return None, ("missing " + ", ".join(missing)) if files else "none of the files"
    return files, ""


def idx_files(name: str, title: str, subdirs: tuple, download_md5: Mapping[str, str],
              mirrors: tuple, how_to: str, system_dirs: tuple = ()) -> DatasetFiles:
    """Where an IDX dataset's four :data:`IDX_FILES` are looked for (:mod:`.locate`): each as
    ``name`` or ``name.gz`` (:func:`match_idx_files`), downloaded as ``name.gz`` from each of
    ``mirrors`` in turn, checked against ``download_md5[name + ".gz"]``."""
    return DatasetFiles(
        name=name, title=title, subdirs=subdirs,
        required=tuple(n + "[.gz]" for n in IDX_FILES), match=match_idx_files,
        system_dirs=system_dirs,
        downloads=tuple(
            Download(f + ".gz", download_md5[f + ".gz"], tuple(m + f + ".gz" for m in mirrors))
            for f in IDX_FILES),
        how_to=how_to,
    )


@dataclass(frozen=True)
class IdxDatasetInfo:
    """Static description of an IDX dataset: files, expected hashes, sizes, class names."""

    files: DatasetFiles
    sha256: Mapping[str, str]
    n_train: int
    n_test: int
    class_names: tuple


@functools.lru_cache(maxsize=32)
def _decode_file(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, str]:
    """Decompress, parse and hash one IDX file; cached per (path, size, mtime).

    The returned array is read-only: it is shared by every later load in this process.
    """
    data = read_content(path)
    arr = parse_idx(data, name=path)
    arr.flags.writeable = False
    return arr, sha256_bytes(data)


def decode_idx(path: Path) -> tuple[np.ndarray, str]:
    """(array, sha256 of decompressed content) for the IDX file ``path``, memoised."""
    st = path.stat()
    return _decode_file(str(path.resolve()), st.st_size, st.st_mtime_ns)


def clear_cache() -> None:
    """Forget the decoded arrays kept in memory (e.g. after replacing files in place)."""
    _decode_file.cache_clear()


def _check(name, path, arr, sha, info: IdxDatasetInfo, verify: bool, n_expected: int) -> None:
    images = "images" in name
    if arr.dtype != np.uint8:
        raise CorruptDataError(f"{path}: IDX data type is {arr.dtype}, expected unsigned byte (uint8)")
    if images and (arr.ndim != 3 or arr.shape[1:] != IMAGE_SHAPE):
        raise CorruptDataError(
            f"{path}: wrong dimensions {arr.shape}, expected (n, 28, 28) images")
    if not images and arr.ndim != 1:
        raise CorruptDataError(f"{path}: wrong dimensions {arr.shape}, expected (n,) labels")
    if verify:
        if arr.shape[0] != n_expected:
            raise CorruptDataError(
                f"{path}: wrong size: {arr.shape[0]} examples, expected {n_expected} for "
                f"{info.files.title}")
        want = info.sha256[name]
        if sha != want:
            raise CorruptDataError(
                f"{path}: wrong checksum: SHA-256 of the decompressed content is {sha}, expected "
                f"{want} for {info.files.title} {name}. The file is damaged or is not the "
                f"canonical {info.files.title} file (pass verify=False to load modified files).")
    if not images and arr.size and int(arr.max()) >= len(info.class_names):
        raise CorruptDataError(
            f"{path}: label {int(arr.max())} out of range 0..{len(info.class_names) - 1}")


def load_idx_dataset(info: IdxDatasetInfo, data_dir=None, preprocess="scale",
                     dtype=np.float32, *, verify: bool = True, download: bool = True) -> Dataset:
    """Locate, verify, decode and preprocess an IDX dataset (see :func:`load_mnist`)."""
    dt = check_options(preprocess, dtype)
    found = locate(info.files, data_dir=data_dir, download=download)
    arrays, checksums = {}, {}
    for name in IDX_FILES:
        path = found.files[name][0]
        arr, sha = decode_idx(path)
        n_exp = info.n_train if name.startswith("train") else info.n_test
        _check(name, path, arr, sha, info, verify, n_exp)
        arrays[name], checksums[name] = arr, sha
    for img, lab in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        if arrays[img].shape[0] != arrays[lab].shape[0]:
            raise CorruptDataError(
                f"{found.files[img][0]} has {arrays[img].shape[0]} images but "
                f"{found.files[lab][0]} has {arrays[lab].shape[0]} labels")
    n_feat = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    X_tr, X_te, mean = preprocess_pair(
        arrays[TRAIN_IMAGES].reshape(-1, n_feat), arrays[TEST_IMAGES].reshape(-1, n_feat),
        preprocess, dt)
    return Dataset(
        X_train=X_tr, y_train=arrays[TRAIN_LABELS].astype(np.int64),
        X_test=X_te, y_test=arrays[TEST_LABELS].astype(np.int64),
        name=info.files.name, checksums=checksums, source=found.source,
        preprocess=preprocess, mean=mean, image_shape=IMAGE_SHAPE,
        class_names=info.class_names,
    )
