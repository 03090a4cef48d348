"""Datasets and synthetic problems of the ADADELTA and vSGD papers.

Loaders (all return a :class:`Dataset` with flattened float inputs and int64 labels)::

    from adaptlr.data import load_mnist, load_fashion_mnist, load_cifar10
    d = load_mnist(data_dir=None, preprocess="scale", dtype=np.float32)

Where files are looked for, and the download of last resort: :mod:`adaptlr.data.locate`.
Noisy quadratic problems of the vSGD paper (Eq. 2-6, Figs. 1-2):
:mod:`adaptlr.data.quadratic`.
"""
from .cifar10 import load_cifar10
from .dataset import Dataset
from .errors import CorruptDataError, DataError, DataNotFoundError
from .fashion_mnist import load_fashion_mnist
from .mnist import load_mnist

__all__ = [
    "load_mnist", "load_fashion_mnist", "load_cifar10", "Dataset",
    "DataError", "DataNotFoundError", "CorruptDataError", "clear_cache",
]


def clear_cache() -> None:
    """Forget the decoded files the loaders keep in memory for this process.

    The memo is keyed by (resolved path, size, modification time), so files replaced in the
    usual way are re-read anyway; this is for the rare in-place edit within one mtime tick.
    """
    from . import cifar10, idx_dataset

    idx_dataset.clear_cache()
    cifar10.clear_cache()
