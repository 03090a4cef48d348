"""``vsgd-tables``: Tables 2 and 3 of Schaul, Zhang & LeCun (2013) on MNIST (M0, M1, M2).

Training and test error after 6 epochs of vSGD-l, vSGD-b, vSGD-g (no tuning: C = d/10,
n0 = 0.001 x #traindata) and SGD, AdaGrad, SMD, Amari, Almeida with the paper's tuned
settings of Table 1 for each problem, 10 seeds, entries tied with the best at p = 0.01
marked (paired Wilcoxon test over seeds, the engine's default). The CIFAR-10 problems
C0, C1, CR are the separate study ``vsgd-tables-cifar`` (they have only five methods in
the paper, and the data is not on every machine).

Each baseline has one setting ``{}`` in the grid, meaning "Table 1's setting for the
trial's problem" (the engine's grid is problems x settings, and the tuned settings differ
per problem); the values used are stored per trial as ``used_eta0``, ``used_gamma_n``,
``used_tau``, ``used_mu``. Problems, preprocessing, batch size and all other choices:
:mod:`studies.vsgd_benchmarks`.
"""
from __future__ import annotations

from . import vsgd_benchmarks as B
from .spec import Study

#: Published values (percent), columns in B.TABLE_COLUMNS order.
PUBLISHED_TRAIN = {
    "M0": (6.72, 7.63, 8.20, 7.05, 6.97, 7.02, 7.33, 11.80),
    "M1": (0.18, 0.78, 3.50, 0.30, 0.58, 0.40, 2.91, 8.49),
    "M2": (0.05, 0.33, 2.91, 0.46, 0.41, 0.55, 1.68, 7.16),
}
PUBLISHED_TEST = {
    "M0": (7.50, 7.89, 8.20, 7.60, 7.52, 7.57, 7.69, 11.13),
    "M1": (2.42, 2.44, 4.14, 2.34, 2.70, 2.37, 3.95, 8.39),
    "M2": (2.16, 2.05, 3.65, 2.15, 2.34, 2.18, 2.97, 7.32),
}

VARIABLES = {
    "train_error": {"long_name": "training error rate", "units": "1",
                    "description": "fraction of misclassified training samples after each epoch "
                                   "(epoch 0 = initial network)"},
    "test_error": {"long_name": "test error rate", "units": "1",
                   "description": "fraction of misclassified test samples after each epoch"},
    "train_loss": {"long_name": "training loss", "units": "1",
                   "description": "mean cross-entropy (or 1/2 squared error) on the training set, "
                                  "without the L2 term"},
    "test_loss": {"long_name": "test loss", "units": "1",
                  "description": "mean cross-entropy (or 1/2 squared error) on the test set"},
    "n_params": {"long_name": "number of parameters d", "units": "1",
                 "description": "total number of weights and biases of the network"},
    "train_seconds": {"long_name": "training time", "units": "s",
                      "description": "wall-clock time of adaptlr.mlp.train in the trial"},
    "used_eta0": {"long_name": "eta0 used", "units": "1",
                  "description": "initial learning rate actually used (Table 1 for tuned baselines)"},
    "used_gamma_n": {"long_name": "gamma used, in 1/#traindata", "units": "1",
                     "description": "SGD annealing gamma x n_train (eta = eta0 / (1 + gamma t))"},
    "used_tau": {"long_name": "tau used", "units": "1",
                 "description": "time constant of Amari, Almeida or SMD"},
    "used_mu": {"long_name": "mu used", "units": "1", "description": "SMD meta-learning rate"},
    "used_C": {"long_name": "slow-start constant C used", "units": "1",
               "description": "vSGD overestimation factor of v and l (d/10 by default)"},
    "used_n0": {"long_name": "slow-start steps n0 used", "units": "1",
                "description": "vSGD: number of steps averaged before the first update"},
    "used_tau0": {"long_name": "vSGD memory size after the slow start", "units": "1",
                  "description": "vSGD: tau at the end of the slow start (2: the authors' code)"},
    "used_C_h": {"long_name": "vSGD overestimation factor of h used", "units": "1",
                 "description": "vSGD: h times C_h at the end of the slow start (C_h = C: Zhang's "
                                "Torch d-vsgd, the default; 1: the paper's Sec. 4.4 text)"},
}

DESCRIPTION = (
    "Tables 2-3 of Schaul, Zhang & LeCun (2013) on MNIST: M0 [784,10], M1 [784,120,10], "
    "M2 [784,500,300,10]; tanh hidden units, softmax cross-entropy, L2 1e-4 on the weights, "
    "Glorot init, inputs minus the training mean per dimension, 6 epochs, 10 seeds (the seed "
    "fixes initialisation and sample order, shared by all methods). Baselines use the paper's "
    "Table 1 settings per problem (setting '{}' = tuned; values stored as used_*): SGD "
    "eta0/gamma: M0 3e-2/1, M1 3e-2/0.5, M2 1e-2/0.5 (gamma in 1/#traindata); AdaGrad eta0: "
    "1e-1, 1e-1, 3e-2; Amari eta0/tau: 1e-5/1e4, 1e-6/5e3, 3e-7/5e3; SMD eta0/mu/tau: "
    "1e-1/1e-3/1e3, 3e-2/1e-4/1e4, 3e-2/1e-3/1e2; Almeida eta0/tau: 1e-3/1e3, 1e-3/1e4, "
    "1e-3/1e4. vSGD-l/b/g untuned: C = d/10, n0 = 0.001 x 60000 = 60 samples, bbprop "
    "curvature, memory tau0 = 2 and h overestimated by C (C_h = C) with v and l at the end of the slow "
    "start (both as the authors' Torch d-vsgd; the paper's text overestimates v and l only: "
    "see vsgd-tables-slow-start.md for that form's numbers). CHOICE (batch size): online, batch size 1: Algorithm 1 takes one sample per "
    "update, gamma is given per #traindata and n0 in samples, and the authors' code "
    "(schaul/py-optim) defaults to batch_size=1; minibatch vSGD belongs to the companion "
    "paper. CHOICE: float64 (the authors' NumPy code). CHOICE: the paper's 'tied with the "
    "best at p = 0.01' is a paired two-sided Wilcoxon signed-rank test over the 10 seeds "
    "against the best mean, no multiple-comparison correction (the paper names no test). "
    "CHOICE: AdaGrad as eta0 / (sqrt(sum g^2) + 1e-10) (the library's eps outside the root, "
    "only guarding 0/0). Published values (Tables 2/3, %) are shown beside ours; the test "
    "errors of the baselines are tuned on the test set in the paper (their Table 3 note), "
    "ours are not re-tuned. The quick form (vSGD n0 floored at 10 samples): M0, M1, M2 on the first 300 training / 300 test "
    "images, 1 epoch, 2 seeds: a smoke test, not a result.")

STUDY = Study(
    name="vsgd-tables",
    title="vSGD Tables 2-3: MNIST training and test error after 6 epochs",
    paper="Schaul, Zhang & LeCun (2013), No More Pesky Learning Rates, Tables 2 and 3",
    description=DESCRIPTION,
    trial=B.mlp_trial,
    problems={p: B.PROBLEMS[p] for p in B.MNIST_PROBLEMS},
    optimizers={name: {} for name in B.TABLE_COLUMNS},
    seeds=tuple(range(10)),
    epochs=6,
    batch_size=1,
    params={"dtype": "float64", "l2": 1e-4},
    quick={"seeds": (0, 1), "epochs": 1,
           "params": {"n0_min": 10, "n_train": 300, "n_test": 300}},
    allowed=B.allowed_hyper,
    variables=VARIABLES,
    tables=B.table_cells(B.MNIST_PROBLEMS, "train_error", PUBLISHED_TRAIN)
    + B.table_cells(B.MNIST_PROBLEMS, "test_error", PUBLISHED_TEST),
    curve_metric="test_error",
)
