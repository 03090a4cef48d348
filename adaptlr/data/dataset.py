"""The loaded-dataset container and the preprocessing options shared by all loaders."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: allowed values of the ``preprocess`` argument.
PREPROCESS_OPTIONS = ("scale", "center", None)
#: allowed values of the ``dtype`` argument.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: flattened float inputs, int64 labels and where they came from.

    Attributes
    ----------
    X_train, X_test : ndarray (n, features), float32 or float64
        Inputs, one flattened example per row (MNIST: 28x28 row-major = 784;
        CIFAR-10: 3072 = 1024 red, 1024 green, 1024 blue, each 32x32 row-major, as stored).
    y_train, y_test : ndarray (n,), int64
        Class labels 0..9.
    name : str
        ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"`` (``"cifar10-batch1"`` for the subset).
    checksums : dict
        file name -> SHA-256 (hex) of the decompressed content actually loaded.
    source : str
        Where the files were found (``"data_dir argument: /path"``, ``"system path: ..."``,
        ``"downloaded from ... into ..."`` ...).
    preprocess : str or None
        The preprocessing applied (see :func:`preprocess_pair`).
    mean : ndarray (features,) or None
        For ``preprocess="center"``: the per-dimension training mean (in [0, 1] units) that
        was subtracted from both splits; add it back to recover scaled inputs.
    image_shape : tuple
        Shape of one example before flattening: (28, 28) or (3, 32, 32).
    class_names : tuple of str
    """

    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    name: str = ""
    checksums: dict = field(default_factory=dict)
    source: str = ""
    preprocess: str | None = "scale"
    mean: np.ndarray | None = field(default=None, repr=False)
    image_shape: tuple = ()
    class_names: tuple = ()

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


def check_options(preprocess, dtype) -> np.dtype:
    """Validate ``preprocess`` and ``dtype``; return the dtype as :class:`numpy.dtype`."""
    if preprocess not in PREPROCESS_OPTIONS:
        raise ValueError(
            f"preprocess={preprocess!r} is not allowed; use 'scale' (pixels / 255, in [0, 1]), "
            "'center' (scaled, minus the training mean per input dimension) or None (raw 0..255)."
        )
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype={dtype!r} is not a NumPy dtype; use np.float32 or np.float64") from exc
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype={dtype!r} is not allowed; use np.float32 or np.float64")
    return dt


def preprocess_pair(X_train_u8: np.ndarray, X_test_u8: np.ndarray, preprocess, dtype):
    """Convert uint8 pixel arrays to floats: returns ``(X_train, X_test, mean)``.

    * ``None``: raw values 0..255 as floats.
    * ``"scale"`` (ADADELTA, Zeiler 2012, Sec. 4): ``x / 255`` in [0, 1].
    * ``"center"`` (vSGD, Schaul et al. 2013, Sec. 7.1, "subtracting the mean of the training
      data along each input dimension"): ``x / 255 - mean_train``, applied to *both* splits with
      the **training** mean. The paper does not say whether pixels were scaled first; we scale
      to [0, 1] first because the paper's SGD rates (Table 1, e.g. 3e-2 on M0) only make sense
      for inputs of order one. The mean is accumulated in float64 and subtracted in ``dtype``.

    Returns new, writable arrays (never views of cached data).
    """
    dt = check_options(preprocess, dtype)
    X_tr = X_train_u8.astype(dt)
    X_te = X_test_u8.astype(dt)
    mean = None
    if preprocess in ("scale", "center"):
        X_tr /= dt.type(255)
        X_te /= dt.type(255)
    if preprocess == "center":
        mean64 = X_train_u8.sum(axis=0, dtype=np.float64) / (X_train_u8.shape[0] * 255.0)
        mean = mean64.astype(dt)
        X_tr -= mean
        X_te -= mean
    return X_tr, X_te, mean
