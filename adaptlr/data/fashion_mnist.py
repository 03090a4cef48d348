"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando): a drop-in MNIST replacement.

60,000 training and 10,000 test 28x28 grey images of 10 clothing classes, in MNIST's IDX
format and file names. Licence: MIT (Zalando SE). On Debian/Ubuntu:
``apt-get install -y dataset-fashion-mnist`` puts the four ``.gz`` files under
``/usr/share/datasets/fashion-mnist/``, where the loader finds them.
"""
from __future__ import annotations

import numpy as np

from .checksums import FASHION_MNIST_DOWNLOAD_MD5, FASHION_MNIST_SHA256
from .dataset import Dataset
from .idx_dataset import IdxDatasetInfo, idx_files, load_idx_dataset

MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: Debian's dataset-fashion-mnist package.
SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _info() -> IdxDatasetInfo:
    files = idx_files(
        "fashion-mnist", "Fashion-MNIST", ("fashion-mnist", "fashion_mnist", "FashionMNIST", "fashion"),
        FASHION_MNIST_DOWNLOAD_MD5, MIRRORS, system_dirs=SYSTEM_DIRS,
        how_to=("on Debian/Ubuntu run `apt-get install -y dataset-fashion-mnist` (files in "
                "/usr/share/datasets/fashion-mnist/), or copy the four IDX files from "
                "https://github.com/zalandoresearch/fashion-mnist (data/fashion/) into a directory."))
    return IdxDatasetInfo(files=files, sha256=FASHION_MNIST_SHA256, n_train=60000, n_test=10000,
                          class_names=CLASS_NAMES)


def load_fashion_mnist(data_dir=None, preprocess="scale", dtype=np.float32, *,
                       verify: bool = True, download: bool = True) -> Dataset:
    """Load Fashion-MNIST; same arguments, checks and result layout as :func:`load_mnist`.

    Search order: ``data_dir`` (strict), ``$ADAPTLR_DATA_DIR`` (files or a ``fashion-mnist/``
    subfolder), the repository's ``data/fashion-mnist``, Debian's
    ``/usr/share/datasets/fashion-mnist/``, the download cache, then a download.
    The SHA-256 of each decompressed file is checked against the values recorded in
    :data:`adaptlr.data.checksums.FASHION_MNIST_SHA256`. ``name="fashion-mnist"``.
    """
    return load_idx_dataset(_info(), data_dir, preprocess, dtype, verify=verify, download=download)
