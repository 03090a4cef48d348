"""Checks of user input for the MLP and the training loop: clear errors, nothing lost.

Every error is a ``ValueError`` (or ``TypeError`` for wrong types) naming the
offending value and what is allowed. Inputs are never modified; conversions make
copies only when the dtype or memory order must change.
"""
from __future__ import annotations

import math

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else ``ValueError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dt}")
    return dt


def check_nonneg_float(value, name: str) -> float:
    """A finite float >= 0 (e.g. the L2 coefficient)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_int(value, name: str, minimum: int) -> int:
    """An integer >= ``minimum`` (bools rejected)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_inputs(X, n_in: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """2-D finite inputs with ``n_in`` columns, as a C-contiguous array of ``dtype``."""
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, {n_in}), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sample, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        raise ValueError(
            f"{name} must be finite (in {dtype}); {name}[{bad[0]}, {bad[1]}] = {out[bad[0], bad[1]]!r}"
        )
    return out


def check_labels(y, n_samples: int, n_classes: int, name: str = "y") -> np.ndarray:
    """Integer class labels in [0, n_classes), one per sample, as int64."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} must be a 1-D array of {n_samples} integer class labels (softmax output), "
            f"got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class labels (softmax output), got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        i = int(np.argmax((arr < 0) | (arr >= n_classes)))
        raise ValueError(
            f"{name} labels must lie in [0, {n_classes}) for {n_classes} outputs; {name}[{i}] = {arr[i]}"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_targets(y, n_samples: int, n_out: int, dtype: np.dtype, name: str = "y") -> np.ndarray:
    """Target matrix (linear output + MSE), shape (n_samples, n_out), finite."""
    arr = np.asarray(y)
    if arr.ndim != 2 or arr.shape != (n_samples, n_out):
        raise ValueError(
            f"{name} must be a target matrix of shape ({n_samples}, {n_out}) for a linear output, "
            f"got shape {arr.shape}"
        )
    return check_inputs(arr, n_out, dtype, name)
