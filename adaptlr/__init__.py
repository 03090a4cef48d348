"""adaptlr: Numba-compiled research toolkit for adaptive learning-rate methods.

Submodules: :mod:`adaptlr.optimizers` (fused update kernels, CPU and CUDA),
:mod:`adaptlr.mlp` (network, backprop, bbprop, compiled training loop),
:mod:`adaptlr.data` (MNIST, Fashion-MNIST, CIFAR-10, noisy quadratics),
:mod:`adaptlr.results` (load study results as xarray Datasets).
"""
__version__ = "0.1.0"


def load_results(path_or_name, **kwargs):
    """Open a study's combined results as an :class:`xarray.Dataset` (one line).

    ``path_or_name`` is a netCDF path, or the name of a study whose results are
    stored under ``data/results/`` of this repository (or ``--out`` of a run).
    """
    from .results import load_results as _load

    return _load(path_or_name, **kwargs)
