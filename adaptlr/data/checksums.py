"""Published and recorded checksums of the dataset files, and hashing helpers.

Two kinds of checksum are kept per dataset:

* the hash of the file *as published for download* (``*_DOWNLOAD_MD5``), which
  pooch checks right after a download;
* the SHA-256 of the *decompressed content* (``*_SHA256``), which the loaders
  check on every load from any place, so a re-compressed copy (the project's
  ``data/mnist``, Debian's Fashion-MNIST package) is accepted while any change
  of the content is detected.

Provenance of each table is written next to it.
"""
from __future__ import annotations

import hashlib

# --- MNIST ---------------------------------------------------------------------------
#: SHA-256 of the decompressed canonical MNIST IDX files
#: (``../shared/data/mnist-uncompressed.sha256`` of this project).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
#: MD5 of the published ``.gz`` files (MNIST site; the same values are used by torchvision).
MNIST_DOWNLOAD_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

# --- Fashion-MNIST -------------------------------------------------------------------
#: SHA-256 of the decompressed Fashion-MNIST IDX files. Recorded from the Debian package
#: ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1 (whose .gz files were re-compressed by
#: the packager, so their MD5s differ from the published ones), and identical to the values
#: that independent public projects derived from archives matching the published MD5s below.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
#: MD5 of the published ``.gz`` files (zalandoresearch/fashion-mnist README; torchvision).
#: Not verified here (no internet); for comparison, Debian's re-compressed ``.gz`` files have
#: MD5 cf8536b0aa1a6ac5fa3f23001093305c (train-images), 10bea18fdb374794d4bb42e356e600c9
#: (train-labels), f78720b4224f21cce2f2ccf2d7a94c9a (t10k-images), 0d30e22e447f3c33dab9ed536400ac01
#: (t10k-labels), which is why only the decompressed content is checked on load.
FASHION_MNIST_DOWNLOAD_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

# --- CIFAR-10 ------------------------------------------------------------------------
#: MD5 of the published python-version tarball (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR10_DOWNLOAD_MD5 = {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
#: MD5 of the (uncompressed) python batch files inside the tarball, as published with
#: torchvision's CIFAR10 dataset. CIFAR batch files are not compressed, so this is a hash of
#: the content itself. No SHA-256 values are published; the loader reports SHA-256 in
#: ``Dataset.checksums`` and verifies these MD5s.
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def md5_bytes(data: bytes) -> str:
    """Hex MD5 of ``data`` (used only to compare with published MD5 checksums)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path) -> str:
    """Hex MD5 of the file at ``path``, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
