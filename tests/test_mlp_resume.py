"""Checkpointed training (adaptlr/mlp/resume.py): a run killed after a checkpoint and
resumed from it computes exactly what the uninterrupted run computes, for every
registered optimizer, online (batch 1, the fused step where the method has it) and with
minibatches; a checkpoint of another run or a corrupt file is refused and left as it is;
``stop_at`` pauses a run that a later call finishes."""
from __future__ import annotations

import time

import numpy as np
import pytest

import adaptlr.mlp.training as training
from adaptlr import optimizers
from adaptlr.mlp import MLP, train

pytestmark = pytest.mark.usefixtures("one_numba_thread")  # conftest.py

EPOCHS = 4
FIELDS = ("train_loss", "train_error", "test_loss", "test_error", "batch_loss", "lr_steps",
          "lr_min", "lr_median", "lr_max", "lr_trace", "update_trace", "record_dims")


class Killed(Exception):
    """Stands for the process dying right after a checkpoint was written."""


def data(n=40, n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def run(name, B, checkpoint=None, seed=3, **kw):
    X, y = data()
    net = MLP([5, 4, 3], activation="tanh", l2=1e-3, dtype=np.float64, seed=seed)
    res = train(net, optimizers.make(name), X, y, X[:20], y[:20], epochs=EPOCHS, batch_size=B,
                seed=seed, record_lr_every=3, record_dims=2, checkpoint=checkpoint, **kw)
    return net, res


def kill_after(monkeypatch, n_saves):
    real = training.save_checkpoint
    calls = [0]

    def save(*a, **k):
        real(*a, **k)
        calls[0] += 1
        if calls[0] == n_saves:
            raise Killed

    monkeypatch.setattr(training, "save_checkpoint", save)
    return lambda: monkeypatch.setattr(training, "save_checkpoint", real)


def assert_same_run(a, b):
    (net_a, ra), (net_b, rb) = a, b
    np.testing.assert_array_equal(net_a.theta, net_b.theta)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(ra, f), getattr(rb, f), err_msg=f)
    assert (ra.steps, ra.diverged, ra.diverged_step) == (rb.steps, rb.diverged, rb.diverged_step)


#: the training loop's paths: batch 1 (the fused online step for elementwise methods, with
#: the sparse forward pass off since l2 > 0; SMD's Hessian-vector product unfused) and
#: minibatches. Specialisations test_training.py compiles too (one per optimizer kernel,
#: 5-10 s each), so the registry-wide part is test_every_method_keeps_its_state_in_st_sc.
CASES = [("sgd", 1), ("sgd", 4), ("vsgd-l", 1), ("vsgd-l", 4), ("smd", 1), ("smd", 4)]


@pytest.mark.parametrize("name,B", CASES)
def test_killed_and_resumed_run_is_the_uninterrupted_run(name, B, tmp_path, monkeypatch):
    plain = run(name, B)
    assert plain[1].complete and plain[1].epochs_done == EPOCHS and not plain[1].diverged
    # the run really moved between epochs (else resuming could not go wrong)
    assert plain[1].train_loss[1] != plain[1].train_loss[2]
    p = tmp_path / "run.npz"
    restore = kill_after(monkeypatch, 2)  # dies right after epoch 2's checkpoint
    with pytest.raises(Killed):
        run(name, B, checkpoint=p)
    restore()
    resumed = run(name, B, checkpoint=p)
    assert_same_run(plain, resumed)
    assert resumed[1].complete


@pytest.mark.parametrize("name", optimizers.names())
def test_every_method_keeps_its_state_in_st_sc(name, tmp_path):
    """What a checkpoint holds of an optimizer, ``st``, ``sc`` and the step counter, is
    its whole state: 16 steps straight equal 8, a save/load through resume.py, 8 more
    (past the vSGD slow start of n0 = 10 samples, at 4 samples a step)."""
    from adaptlr.mlp import resume

    opt = optimizers.make(name)
    offsets = np.array([0, 12, 15, 27, 30], dtype=np.int64)
    n, B = 30, 4
    rng = np.random.default_rng(1)
    inputs = []
    for _ in range(16):
        g = rng.standard_normal(n)
        curv = np.abs(rng.standard_normal(n)) + 0.1 if opt.needs_curvature else np.zeros(0)
        gsq = g * g + np.abs(rng.standard_normal(n)) if opt.uses_grad_sq else np.zeros(0)
        inputs.append((g, curv, gsq))
    theta0 = rng.standard_normal(n)

    def steps(theta, st, sc, ts):
        for t in ts:
            g, curv, gsq = inputs[t - 1]
            hv = 0.5 * st[opt.V_SLOT] + g if opt.needs_hvp else np.zeros(0)
            opt.step_flat(theta, g, curv, gsq, hv, st, sc, offsets, opt.hyper, t, B)

    theta = theta0.copy()
    st, sc = opt.init_flat(n, offsets, np.float64)
    steps(theta, st, sc, range(1, 17))
    theta2 = theta0.copy()
    st2, sc2 = opt.init_flat(n, offsets, np.float64)
    steps(theta2, st2, sc2, range(1, 9))
    assert not np.array_equal(theta2, theta)  # the second half moves the parameters
    empty = np.zeros(0)
    fill = dict(train_loss=empty, train_error=empty, test_loss=empty, test_error=empty,
                batch_loss=empty, lr_steps=empty, lr_min=empty, lr_median=empty, lr_max=empty,
                lr_trace=empty, update_trace=empty, epochs_done=1, steps=8, diverged_step=-1,
                wall_time=0.0)
    resume.save(tmp_path / "s.npz", {"method": name}, theta=theta2, st=st2, sc=sc2, **fill)
    got = resume.load(tmp_path / "s.npz", {"method": name})
    theta3, st3, sc3 = got["theta"].copy(), got["st"].copy(), got["sc"].copy()
    steps(theta3, st3, sc3, range(got["steps"] + 1, 17))
    np.testing.assert_array_equal(theta3, theta)
    np.testing.assert_array_equal(st3, st)
    np.testing.assert_array_equal(sc3, sc)


def test_checkpoint_every_and_a_finished_checkpoint_returns_at_once(tmp_path, monkeypatch):
    plain = run("vsgd-l", 1)
    p = tmp_path / "c.npz"
    restore = kill_after(monkeypatch, 1)  # chunks of 3 epochs: dies after epoch 3
    with pytest.raises(Killed):
        run("vsgd-l", 1, checkpoint=p, checkpoint_every=3)
    restore()
    first = run("vsgd-l", 1, checkpoint=p, checkpoint_every=3)
    assert_same_run(plain, first)
    called = []
    monkeypatch.setattr(training, "train_loop", lambda *a: called.append(1))
    again = run("vsgd-l", 1, checkpoint=p, checkpoint_every=3)
    assert not called  # nothing left to train: the stored final state is the result
    assert_same_run(plain, again)
    assert again[1].wall_time == first[1].wall_time


def test_stop_at_pauses_and_a_later_call_finishes(tmp_path):
    plain = run("adadelta", 4)
    p = tmp_path / "c.npz"
    paused = run("adadelta", 4, checkpoint=p, stop_at=time.time())
    # the first chunk of a call always runs; the next would end after stop_at
    assert not paused[1].complete and paused[1].epochs_done == 1
    assert np.isnan(paused[1].train_loss[2]) and np.isfinite(paused[1].train_loss[1])
    done = run("adadelta", 4, checkpoint=p, stop_at=time.time() + 3600)
    assert done[1].complete and done[1].epochs_done == EPOCHS
    assert_same_run(plain, done)


def test_a_diverged_run_is_stored_as_diverged_and_not_trained_again(tmp_path, monkeypatch):
    X, _ = data()
    y = X[:, :3]
    res = []
    for _ in range(2):
        net = MLP([5, 3], output="linear", dtype=np.float64, seed=0)
        res.append(train(net, optimizers.make("sgd", eta0=1e30), X, y, epochs=3, batch_size=4,
                         checkpoint=tmp_path / "d.npz"))
        monkeypatch.setattr(training, "train_loop", None)  # the second call must not train
    assert res[0].diverged and res[1].diverged and res[1].complete
    assert res[0].diverged_step == res[1].diverged_step
    np.testing.assert_array_equal(res[0].batch_loss, res[1].batch_loss)


@pytest.mark.parametrize("change,named", [
    (dict(seed=4), "seed"),
    (dict(checkpoint_every=1, eval_every=2), "eval_every"),
])
def test_a_checkpoint_of_another_run_is_refused_and_kept(tmp_path, change, named):
    p = tmp_path / "c.npz"
    run("sgd", 4, checkpoint=p)
    before = p.read_bytes()
    seed = change.pop("seed", 3)
    with pytest.raises(ValueError, match=f"belongs to another run.*{named}"):
        run("sgd", 4, checkpoint=p, seed=seed, **change)
    assert p.read_bytes() == before


def test_another_optimizer_setting_is_another_run(tmp_path):
    X, y = data()
    p = tmp_path / "c.npz"
    train(MLP([5, 4, 3], dtype=np.float64), optimizers.make("sgd", eta0=0.1), X, y,
          batch_size=4, checkpoint=p)
    with pytest.raises(ValueError, match="hyper.*eta0"):
        train(MLP([5, 4, 3], dtype=np.float64), optimizers.make("sgd", eta0=0.2), X, y,
              batch_size=4, checkpoint=p)
    with pytest.raises(ValueError, match="train_data"):
        train(MLP([5, 4, 3], dtype=np.float64), optimizers.make("sgd", eta0=0.1), X + 1, y,
              batch_size=4, checkpoint=p)


def test_a_corrupt_checkpoint_is_refused_and_kept(tmp_path):
    p = tmp_path / "c.npz"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read.*left as it is"):
        run("sgd", 4, checkpoint=p)
    assert p.read_bytes() == b"not a checkpoint"
    q = tmp_path / "partial.npz"
    np.savez(q, theta=np.zeros(3), identity=np.asarray("{}"))
    with pytest.raises(ValueError, match="lacks"):
        run("sgd", 4, checkpoint=q)


def test_no_temporary_file_is_left_and_epoch_zero_only(tmp_path):
    X, y = data()
    p = tmp_path / "z.npz"
    r = train(MLP([5, 4, 3], dtype=np.float64), optimizers.make("sgd"), X, y, epochs=0,
              batch_size=4, checkpoint=p)
    assert r.complete and np.isfinite(r.train_loss[0]) and p.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["z.npz"]


def test_bad_arguments(tmp_path):
    X, y = data()
    net = MLP([5, 4, 3], dtype=np.float64)
    opt = optimizers.make("sgd")
    with pytest.raises(ValueError, match="stop_at=.*needs a checkpoint"):
        train(net, opt, X, y, batch_size=4, stop_at=time.time())
    with pytest.raises(ValueError, match="stop_at=inf"):
        train(net, opt, X, y, batch_size=4, checkpoint=tmp_path / "c.npz", stop_at=float("inf"))
    with pytest.raises(ValueError, match="checkpoint_every"):
        train(net, opt, X, y, batch_size=4, checkpoint=tmp_path / "c.npz", checkpoint_every=0)
    with pytest.raises(ValueError, match="CPU only"):
        train(net, opt, X, y, batch_size=4, checkpoint=tmp_path / "c.npz", device="cuda")
    assert not (tmp_path / "c.npz").exists()


def test_another_compute_setting_is_another_run(tmp_path, monkeypatch):
    """A checkpoint names the BLAS kernel set and the thread counts: resuming under others
    (another CPU, another --workers) would give bits no single setting computes."""
    p = tmp_path / "c.npz"
    run("sgd", 4, checkpoint=p)
    real = training._compute_setting
    monkeypatch.setattr(training, "_compute_setting",
                        lambda: {**real(), "blas": ["openblas Haswell threads=1"]})
    with pytest.raises(ValueError, match="belongs to another run.*blas"):
        run("sgd", 4, checkpoint=p)
    monkeypatch.setattr(training, "_compute_setting", lambda: {**real(), "numba_threads": 99})
    with pytest.raises(ValueError, match="numba_threads"):
        run("sgd", 4, checkpoint=p)
