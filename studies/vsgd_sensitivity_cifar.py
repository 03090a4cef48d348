"""``vsgd-sensitivity-cifar``: training vs test error over the tuning grids on CIFAR-10
(vSGD supplement Fig. 4, and the CIFAR halves of supplement Figs. 5, 7, 8).

The paper's Sec. 7 grids for the methods it ran on CIFAR (its Table 3's last line): SGD
``eta0`` x ``gamma`` (17 x 4 = 68 settings), AdaGrad ``eta0`` (17), and the untuned
vSGD-l/b/g, on C0 [3072, 10], C1 [3072, 360, 10] and the autoencoder CR [3072, 120, 3072]
(CIFAR-10 'batch1'), two seeds per setting as the paper's tuning. Same set-up and
choices as ``vsgd-tables-cifar`` and ``vsgd-sensitivity`` (:mod:`studies.vsgd_benchmarks`).
Where CIFAR-10 is absent every trial fails at once with 'data not available' (stored as
failed), as in ``vsgd-tables-cifar``. The figure and the tuning tables are drawn by the
companion :mod:`studies.vsgd_sensitivity_cifar_report` (outside the trial keys).
"""
from __future__ import annotations

from . import vsgd_benchmarks as B
from .spec import Study
from .vsgd_tables import VARIABLES

#: the paper's Sec. 7 grids of the methods it ran on CIFAR (Table 3: 68, 17, 1, 1, 1)
GRIDS = {
    "sgd": {"eta0": list(B.ETA0_GRID), "gamma_n": list(B.GAMMA_N_GRID)},
    "adagrad": {"eta0": list(B.ETA0_GRID)},
    "vsgd-l": [{}], "vsgd-b": [{}], "vsgd-g": [{}],
}

DESCRIPTION = (
    "Supplement Fig. 4 (and the CIFAR panels of Figs. 5, 7-8) of Schaul, Zhang & LeCun "
    "(2013): training vs test error after 6 epochs for every setting of the paper's Sec. 7 "
    "grids on C0 [3072,10], C1 [3072,360,10] and CR [3072,120,3072] (CIFAR-10 'batch1': "
    "10,000 training / 10,000 test images): SGD eta0 x gamma (68 settings: eta0 in {1e-7, "
    "3e-7, ..., 3, 10}, gamma in {0, 1/3, 1/2, 1}/#traindata), AdaGrad eta0 (17), and the "
    "untuned vSGD-l/b/g; the paper ran no SMD, Amari or Almeida on CIFAR (Table 3: '-'). "
    "CHOICE: 2 seeds per setting, as the paper's tuning ('averaged over 2 runs'); the full "
    "grids (88 settings, 176 trials per problem: C1 and CR cost about a third and a quarter "
    "of an M2 trial, so no cut is needed). CR's error is the mean per-sample 1/2 squared "
    "reconstruction error (vsgd-tables-cifar says why), the others are error rates. The best "
    "setting per method (lowest mean test error, the paper's criterion) is drawn large and "
    "listed beside Table 1's. Supplement Figs. 7-8's captions speak of 28 SGD and 11 AdaGrad "
    "settings where the text and Table 3 give 68 and 17: we run the grids of the text. "
    "CHOICE: where CIFAR-10 is absent the trials fail with 'data not available: ...' (stored "
    "as failed, nothing else is affected). Quick form (vSGD n0 floored at 10 samples, see "
    "vsgd_benchmarks.make_optimizer): C0 and CR on the first 200 training / 200 test "
    "images, 1 epoch, 1 seed, eta0 in {1e-3, 1e-2} for SGD (gamma 0 and 1) and AdaGrad, plus "
    "vSGD-l.")

STUDY = Study(
    name="vsgd-sensitivity-cifar",
    title="vSGD supplement Figs. 4, 7-8: sensitivity to hyperparameters on CIFAR-10",
    paper="Schaul, Zhang & LeCun (2013), supplementary Figs. 4, 5, 7, 8 (CIFAR-10)",
    description=DESCRIPTION,
    trial=B.mlp_trial,
    problems={p: B.PROBLEMS[p] for p in B.CIFAR_PROBLEMS},
    optimizers=GRIDS,
    seeds=(0, 1),
    epochs=6,
    batch_size=1,
    params={"dtype": "float64", "l2": 1e-4},
    quick={"problems": {p: B.PROBLEMS[p] for p in ("C0", "CR")}, "seeds": (0,), "epochs": 1,
           "params": {"n0_min": 10, "n_train": 200, "n_test": 200},
           "optimizers": {"sgd": {"eta0": [1e-3, 1e-2], "gamma_n": [0.0, 1.0]},
                          "adagrad": {"eta0": [1e-3, 1e-2]}, "vsgd-l": [{}]}},
    allowed=B.allowed_hyper,
    variables=VARIABLES,
    scatter_metrics=("train_error", "test_error"),
)
