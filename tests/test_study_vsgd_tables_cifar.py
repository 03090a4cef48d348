"""vsgd-tables-cifar (vSGD Tables 2-3, CIFAR-10): missing data is recorded, not a crash; with
(synthetic) data the autoencoder CR's error is the mean 1/2 ||x - y||^2, checked against
an independent NumPy forward pass. CIFAR-10 itself is replaced by a small synthetic data
set (monkeypatched loader), so the test behaves the same with or without the real files."""
from __future__ import annotations

import numpy as np
import pytest

import studies.vsgd_benchmarks as B
import studies.vsgd_tables_cifar as M
from studies.expand import code_version, expand, keyed
from studies.runner import execute


@pytest.fixture
def no_cifar(monkeypatch):
    import adaptlr.data as data

    def missing(**kw):
        raise data.DataNotFoundError("CIFAR-10 not found: missing files data_batch_1, test_batch")

    monkeypatch.setattr(data, "load_cifar10", missing)
    B._dataset.cache_clear()
    yield
    B._dataset.cache_clear()


@pytest.fixture
def fake_cifar(monkeypatch):
    import adaptlr.data as data
    from adaptlr.data import Dataset

    rng = np.random.default_rng(0)
    Xtr = rng.uniform(0, 1, (60, 3072))
    Xte = rng.uniform(0, 1, (40, 3072))
    mean = Xtr.mean(axis=0)
    fake = Dataset(Xtr - mean, rng.integers(0, 10, 60), Xte - mean, rng.integers(0, 10, 40),
                   name="cifar10-batch1", preprocess="center", mean=mean)

    def load(**kw):
        assert kw.get("subset") == "batch1" and kw.get("preprocess") == "center"
        return fake

    monkeypatch.setattr(data, "load_cifar10", load)
    B._dataset.cache_clear()
    yield fake
    B._dataset.cache_clear()


def test_setup_and_published_values():
    st = M.STUDY
    assert list(st.problems) == ["C0", "C1", "CR"] and st.batch_size == 1
    assert st.problems["CR"]["sizes"] == [3072, 120, 3072] and st.problems["CR"]["output"] == "linear"
    assert list(st.optimizers) == ["vsgd-l", "vsgd-b", "vsgd-g", "sgd", "adagrad"]
    cr = [t for t in st.tables if t.problem == "CR" and t.metric == "test_error"][0]
    assert cr.scale == 1.0 and cr.published[("CR", "sgd")] == 10.29
    c0 = [t for t in st.tables if t.problem == "C0" and t.metric == "train_error"][0]
    assert c0.scale == 100.0 and c0.published[("C0", "vsgd-l")] == 45.61


def test_missing_data_is_a_failed_trial_with_a_clear_message(no_cifar):
    st = M.STUDY.resolved(True)
    code = code_version()
    key, spec = keyed(expand(st, quick=True), code)[0]
    rec = execute(st.trial, key, spec, code)
    assert rec["status"] == "failed"
    assert "data not available: cifar10" in rec["message"]
    assert "DataNotFoundError" in rec["message"]


def test_autoencoder_error_is_half_squared_reconstruction_error(fake_cifar):
    from adaptlr.mlp import MLP

    spec = {"problem": "CR", "problem_params": B.PROBLEMS["CR"], "optimizer": "sgd",
            "hyper": {}, "seed": 1, "epochs": 1, "batch_size": 1,
            "params": {"dtype": "float64", "l2": 1e-4}}
    out = B.mlp_trial(spec)
    net = MLP([3072, 120, 3072], activation="tanh", output="linear", l2=1e-4,
              dtype=np.float64, seed=1)
    th, a, b = net.theta, 3072, 120
    W0 = th[:a * b].reshape(a, b)
    b0 = th[a * b:a * b + b]
    o = a * b + b
    W1 = th[o:o + b * a].reshape(b, a)
    b1 = th[o + b * a:o + b * a + a]
    X = fake_cifar.X_train
    Y = np.tanh(X @ W0 + b0) @ W1 + b1
    ref = float(np.mean(0.5 * np.sum((Y - X) ** 2, axis=1)))
    assert out["train_error"][1][0] == pytest.approx(ref, rel=1e-10)
    assert out["used_eta0"][1] == 3e-3 and out["used_gamma_n"][1] == 1.0
    assert np.all(np.isfinite(out["train_error"][1]))
