"""The performance study: a tiny form end to end through the engine, plus its pieces.

Checks the Dataset's variables and the produced report, not speed (benchmarks are not
timed tests). GPU: only the skip path (no CUDA device here).
"""
from __future__ import annotations

import dataclasses
import os
import json
import threading
import time

import numpy as np
import pytest

from studies import perf_gpu, perf_kernels, perf_machine, performance


# ---------------------------------------------------------------------------- pieces
def test_gemm_work_of_the_mnist_network_is_149_gflop_per_epoch():
    # independent count: forward and weight gradients of every layer, input gradients of
    # all but the first layer; 2 FLOPs per multiply-add
    B, L = 100, [(784, 500), (500, 300), (300, 10)]
    fwd = sum(2 * B * a * b for a, b in L)
    dW = sum(2 * a * B * b for a, b in L)
    dX = sum(2 * B * b * a for a, b in L[1:])
    per_step = fwd + dW + dX
    assert perf_machine.gemm_flops([784, 500, 300, 10], B) == per_step
    assert per_step / B == pytest.approx(2.486e6)
    assert 600 * per_step / 1e9 == pytest.approx(149.16)
    kinds = [k for k, *_ in perf_machine.gemm_shapes([784, 500, 300, 10], B)]
    assert kinds == ["fwd0", "dW0", "fwd1", "dW1", "dX1", "fwd2", "dW2", "dX2"]


def test_gemm_operands_have_the_products_shapes_and_layouts():
    rng = np.random.default_rng(0)
    for kind, m, k, n in perf_machine.gemm_shapes([7, 5, 3], 4):
        A, Bm, C = perf_machine._gemm_operands(kind, m, k, n, np.float32, rng)
        assert A.shape == (m, k) and Bm.shape == (k, n) and C.shape == (m, n)
        if kind.startswith("dW"):
            assert A.flags.f_contiguous and not A.flags.c_contiguous
        if kind.startswith("dX"):
            assert Bm.flags.f_contiguous and not Bm.flags.c_contiguous
    t = perf_machine.time_gemms([7, 5, 3], 4, repeats=2, inner=1)
    assert np.all(t["best"] <= t["numpy"]) and np.all(t["best"] <= t["numba"])
    assert np.all(t["best"] > 0)


def test_stream_kernels_compute_copy_and_triad():
    a = np.arange(1000, dtype=np.float32)
    b = np.zeros_like(a)
    c = np.full_like(a, 2.0)
    perf_machine.stream_copy(a, b)
    np.testing.assert_array_equal(b, a)
    out = np.zeros_like(a)
    perf_machine.stream_triad(out, a, c, np.float32(0.5))
    np.testing.assert_array_equal(out, a + np.float32(0.5) * c)


def test_interleaved_times_rotates_and_counts_calls():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    t = perf_machine.interleaved_times(fns, repeats=3, warmup=1)
    assert set(t) == {"a", "b"} and all(v.shape == (3,) for v in t.values())
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]   # warm-up, then rotated rounds
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        perf_machine.interleaved_times(fns, repeats=0)


def test_byte_table_covers_every_method_and_matches_its_needs():
    from adaptlr import optimizers

    inputs = {"x", "g", "curv", "gsq", "hv"}
    for name in optimizers.names():
        assert name in perf_kernels.BYTES_TABLE, f"no byte count for {name}"
        reads, writes, extra = perf_kernels.BYTES_TABLE[name]
        m = optimizers.get(name)
        assert "x" in reads and "g" in reads and "x" in writes
        assert ("curv" in reads) == m.needs_curvature, name
        assert ("gsq" in reads) == m.uses_grad_sq, name
        assert ("hv" in reads) == m.needs_hvp, name
        state = (set(reads) | set(writes)) - inputs
        assert len(state) == m.n_slots, (name, state)
        must, passes, known = perf_kernels.bytes_per_element(name)
        assert known and must == 4 * (len(reads) + len(writes))
        assert passes == must + 4 * len(extra)
    # the example: AdaDelta moves 7 x 4 bytes per float32 element
    assert perf_kernels.bytes_per_element("adadelta")[0] == 28


def test_flags_are_nan_when_not_evaluable():
    assert performance._cmp(2.0, 1.0) == 1.0
    assert performance._cmp(0.5, 1.0) == 0.0
    assert performance._cmp(1.5, 1.4, ge=False) == 0.0
    assert np.isnan(performance._cmp(float("nan"), 1.0))


def test_rounds_below_one_is_a_clear_error():
    spec = {"problem_params": {**performance.MLP_FULL, "rounds": 0}, "optimizer": "sgd", "seed": 0}
    with pytest.raises(ValueError, match="rounds=0; allowed: an integer >= 1"):
        performance._mlp(spec, [])


def test_unknown_section_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown performance section 'disk'.*allowed"):
        performance.trial({"problem_params": {"section": "disk"}, "optimizer": "sgd", "seed": 0})


def test_exclusive_machine_serialises_trials(tmp_path):
    lock = tmp_path / "lock"
    order = []

    def other():
        with performance.exclusive_machine(lock):
            order.append("other")

    with performance.exclusive_machine(lock):
        th = threading.Thread(target=other)
        th.start()
        time.sleep(0.3)
        order.append("first")
    th.join(5)
    assert order == ["first", "other"]


def test_gpu_skip_path(monkeypatch):
    from adaptlr import targets

    ok, note = perf_gpu.gpu_status()
    if targets.cuda_available() and not targets.CUDA_SIMULATOR:  # pragma: no cover
        pytest.skip("a real GPU is present")
    assert not ok and note.startswith("not measured")
    monkeypatch.setattr(targets, "CUDA_SIMULATOR", True)
    assert perf_gpu.gpu_status() == (
        False, "not measured: NUMBA_ENABLE_CUDASIM=1 (the CUDA simulator is not a GPU)")


def test_every_method_is_in_the_study_grid():
    from adaptlr import optimizers

    assert set(performance.STUDY.optimizers) == set(optimizers.names())
    assert performance.STUDY.seeds == (0,)
    performance.STUDY.validate()
    performance.STUDY.resolved(True).validate()


# ---------------------------------------------------------------------------- end to end
TINY = {
    "kernels": {"section": "kernels", "sizes": [20_000], "repeats": 2, "fastmath": True},
    "mlp": {**performance.MLP_FULL, "n_samples": 200, "gemm_repeats": 1, "b1_samples": 10,
            "torch_b1_samples": 10, "rounds": 2, "rounds_methods": ["adadelta"]},
    "gpu": {**performance.QUICK_PROBLEMS["gpu"]},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import os

    from studies.api import run

    out = tmp_path_factory.mktemp("perf")
    # a private lock: the test must not wait for a real performance run on this machine
    # (the Dask worker process inherits the environment)
    old_lock = os.environ.get("ADAPTLR_PERF_LOCK")
    os.environ["ADAPTLR_PERF_LOCK"] = str(out / "lock")
    st = dataclasses.replace(performance.STUDY, problems=TINY,
                             optimizers={"adadelta": {}, "vsgd-l": {}}, quick={})
    try:
        summary = run(st, out=out, workers=1, progress=False)
    finally:
        if old_lock is None:
            os.environ.pop("ADAPTLR_PERF_LOCK", None)
        else:
            os.environ["ADAPTLR_PERF_LOCK"] = old_lock
    import xarray as xr

    with xr.open_dataset(summary.dataset) as ds:
        ds = ds.load()
    return summary, ds, out


def test_tiny_study_runs_through_the_engine(tiny_run):
    summary, ds, out = tiny_run
    assert summary.status_counts == {"ok": 6}, ds["message"].values
    assert list(ds["problem"].values) == ["kernels", "mlp", "gpu"]
    assert list(ds["optimizer"].values) == ["adadelta", "vsgd-l"]
    k = ds.sel(problem="kernels").isel(seed=0)
    for var in ("kernel_step_time", "kernel_gbps", "kernel_api_step_time",
                "kernel_api_checked_step_time", "kernel_check_finite_cost", "kernel_copy_gbps",
                "kernel_triad_gbps", "kernel_numpy_copy_gbps", "kernel_torch_adam_gbps",
                "kernel_fastmath_step_time", "kernel_ratio_vs_torch_adam"):
        vals = k[var].values
        assert np.all(np.isfinite(vals)) and np.all(vals > 0), (var, vals)
    assert list(k["kernel_n_elements"].values.ravel()) == [20_000, 20_000]
    assert list(k["kernel_bytes_per_element"].values) == [28, 56]
    # GB/s is exactly bytes x n / time
    np.testing.assert_allclose(k["kernel_gbps"].values,
                               k["kernel_bytes_per_element"].values[:, None] * 20_000
                               / k["kernel_step_time"].values / 1e9)
    ad, vl = k.sel(setting=k.optimizer == "adadelta"), k.sel(setting=k.optimizer == "vsgd-l")
    assert np.isfinite(ad["kernel_torch_gbps"].values).all()       # torch has Adadelta
    assert np.isnan(vl["kernel_torch_gbps"].values).all()          # ... but no vSGD
    assert int(ad["kernel_torch_path"].values[0]) in (1, 2)        # foreach (or fused, if added)
    assert set(np.unique(ad["target_kernel_5x_torch"].values)) <= {0.0, 1.0}
    assert np.isnan(vl["target_kernel_5x_torch"].values).all()
    assert set(np.unique(k["target_kernel_ge_torch_adam"].values)) <= {0.0, 1.0}
    # arithmetic="storage" (both methods have it): timed in the same rounds
    sv = k["kernel_storage_gbps"].values
    assert np.all(np.isfinite(sv)) and np.all(sv > 0), sv
    np.testing.assert_allclose(k["kernel_storage_ratio_vs_torch_adam"].values,
                               sv / k["kernel_torch_adam_gbps"].values)
    assert set(np.unique(k["target_kernel_storage_ge_torch_adam"].values)) <= {0.0, 1.0}
    # MLP
    m = ds.sel(problem="mlp").isel(seed=0)
    for var in ("mlp_gemm_bound_time", "mlp_epoch_time_upper"):
        assert np.all(m[var].values > 0), var
    # the epoch time and the batch-1 rate are two-run differences: NaN (with a note) when
    # the machine's load changed between the runs, never a wrong number; positive otherwise
    # (seen NaN in a CI run on a machine busy with a study)
    for var in ("mlp_epoch_time", "mlp_ratio_to_bound", "mlp_b1_samples_per_s"):
        v = m[var].values
        assert np.all((v > 0) | np.isnan(v)), var
    np.testing.assert_allclose(m["mlp_gemm_gflop"].values, 2 * 248.6e6 / 1e9)
    loss = m["mlp_train_loss"].values                              # (setting, epoch)
    assert loss.shape == (2, 2) and np.all(np.isfinite(loss)) and np.all(loss > 0)
    assert summary.table.is_file()                                 # the engine's own report
    mad = m.sel(setting=m.optimizer == "adadelta")
    mvl = m.sel(setting=m.optimizer == "vsgd-l")
    assert mad["mlp_torch_epoch_time"].values[0] > 0
    t15 = mad["target_mlp_1p5x_torch"].values[0]   # NaN only when the epoch time was NaN
    assert t15 in (0.0, 1.0) or (np.isnan(t15) and np.isnan(mad["mlp_epoch_time"].values[0]))
    assert np.isnan(mad["mlp_bbprop_cost_ratio"].values[0])        # AdaDelta needs no bbprop
    r = mvl["mlp_bbprop_cost_ratio"].values[0]
    assert r > 1.0 or np.isnan(r)  # NaN only when the per-step difference was not measurable
    t16 = mvl["target_bbprop_le_1p6"].values[0]
    # NaN when the ratio was not measurable: NaN, or inf when the timed bbprop took as long
    # as the whole step (the tiny run's timings are noise-sized; seen in a clean-clone CI)
    assert t16 in (0.0, 1.0) or (np.isnan(t16) and not np.isfinite(r))
    assert np.isnan(mvl["mlp_torch_epoch_time"].values[0])
    # rounds: AdaDelta 2 (adaptlr first, then PyTorch first), vSGD-l 1 (not in rounds_methods);
    # the figures are medians over the rounds, the speed-ups medians of per-round ratios
    assert int(mad["mlp_rounds"].values[0]) == 2 and int(mvl["mlp_rounds"].values[0]) == 1
    assert list(mad["mlp_round_order"].values[0]) == [0.0, 1.0]
    assert mvl["mlp_round_order"].values[0][0] == 0.0 and np.isnan(mvl["mlp_round_order"].values[0][1])
    ep, tep = mad["mlp_round_epoch_time"].values[0], mad["mlp_round_torch_epoch_time"].values[0]
    assert np.all(tep > 0)
    np.testing.assert_allclose(mad["mlp_torch_epoch_time"].values[0], np.median(tep))
    if np.all(np.isfinite(ep)):
        np.testing.assert_allclose(mad["mlp_epoch_time"].values[0], np.median(ep))
        np.testing.assert_allclose(mad["mlp_speedup_vs_torch"].values[0], np.median(tep / ep))
    b1, tb1 = (mad["mlp_round_b1_samples_per_s"].values[0],
               mad["mlp_round_b1_torch_samples_per_s"].values[0])
    if np.all(np.isfinite(b1)):
        np.testing.assert_allclose(mad["mlp_b1_speedup_vs_torch"].values[0], np.median(b1 / tb1))
    # the conservative batch-1 rate (wall time, evaluations included) is always measurable,
    # and the SGD target is judged on its ratio
    bw = mad["mlp_round_b1_wall_samples_per_s"].values[0]
    assert np.all(bw > 0)
    np.testing.assert_allclose(mad["mlp_b1_wall_samples_per_s"].values[0], np.median(bw))
    np.testing.assert_allclose(mad["mlp_b1_wall_speedup_vs_torch"].values[0], np.median(bw / tb1))
    # each round's sequence: every process once (adaptlr, PyTorch, the 3 variants: places
    # 0-4), adaptlr before PyTorch in round 0 and after it in round 1; vSGD-l: adaptlr only
    names = ["mlp_round_position", "mlp_round_torch_position"] + [
        f"mlp_{n}_round_position" for n in ("blas_timeout", "storage", "storage_blas_timeout")]
    places = np.array([mad[n].values[0] for n in names])          # (process, round)
    assert places.shape == (5, 2)
    for k in range(2):
        assert sorted(places[:, k]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert places[0, 0] < places[1, 0] and places[0, 1] > places[1, 1]
    assert mvl["mlp_round_position"].values[0][0] == 0.0
    assert np.isnan(mvl["mlp_round_torch_position"].values[0][0])
    # the epoch under other settings (AdaDelta only, variant_methods), in the same rounds
    for name in ("blas_timeout", "storage", "storage_blas_timeout"):
        t = mad[f"mlp_{name}_round_epoch_time"].values[0]
        assert t.shape == (2,) and np.all((t > 0) | np.isnan(t)), (name, t)
        assert np.isnan(mvl[f"mlp_{name}_epoch_time"].values[0])
        assert mad[f"mlp_{name}_epoch_time_upper"].values[0] > 0
        if np.all(np.isfinite(t)):
            np.testing.assert_allclose(mad[f"mlp_{name}_epoch_time"].values[0], np.median(t))
            np.testing.assert_allclose(mad[f"mlp_{name}_ratio_to_bound"].values[0],
                                       np.median(t) / mad["mlp_gemm_bound_time"].values[0])
            np.testing.assert_allclose(mad[f"mlp_{name}_speedup_vs_torch"].values[0],
                                       np.median(tep / t))
            assert mad[f"target_mlp_{name}_within_1p4x_bound"].values[0] in (0.0, 1.0)
    # GPU: skip path recorded
    g = ds.sel(problem="gpu").isel(seed=0)
    assert list(g["gpu_measured"].values) == [0, 0]
    note = json.loads(str(g["message"].values[0]))["notes"]
    assert any(n.startswith("not measured") for n in note)
    # threads and machine recorded
    assert np.all(ds["threads"].values >= 1)
    attrs = performance.dataset_attrs(ds)
    assert attrs["perf_cpu_model"] and attrs["perf_numba_threads"] >= 1
    assert "numpy_blas" in json.dumps(attrs) or "perf_numpy_blas" in attrs
    for key in performance.TARGETS:
        assert key in ds, key


def test_extra_report_writes_tables_and_figures(tiny_run, tmp_path):
    _, ds, _ = tiny_run
    paths = performance.extra_report(ds, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["performance-kernels.png", "performance-mlp.png", "performance-speed.md"]
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "performance-speed.md").read_text()
    assert "| adadelta | 20,000 |" in md
    assert "### The epoch under other settings" in md
    assert "| adadelta | storage_blas_timeout | optimizer arithmetic='storage', process " \
           "environment OPENBLAS_THREAD_TIMEOUT=4 |" in md
    assert "| adadelta | blas_timeout | optimizer arithmetic='float64', process " \
           "environment OPENBLAS_THREAD_TIMEOUT=4 |" in md
    assert "not measured: no CUDA device" in md
    assert "## Targets" in md and "AdaDelta" in md
    # each round's row names its processes in the order they ran (round 1: the seed-0
    # shuffle of round 0, adaptlr before PyTorch)
    assert "### The rounds" in md
    for k in range(2):
        seq = [j[0] for j in performance._round_sequence(
            [("adaptlr",), ("torch",), ("blas_timeout",), ("storage",),
             ("storage_blas_timeout",)], 0, k)]
        words = ", ".join("PyTorch" if w == "torch" else w for w in seq)
        assert f"| adadelta | {k + 1} | {words} |" in md, words
    # results of older code (no places recorded) say which of the pair went first
    old = ds.drop_vars([v for v in ds.data_vars if v.endswith("round_position")])
    performance.extra_report(old, tmp_path / "old")
    assert "| adadelta | 2 | PyTorch first |" in (tmp_path / "old" / "performance-speed.md").read_text()
    assert "| adadelta | 2 | " in md and "| vsgd-l | 1 | adaptlr |" not in md


def test_isolated_call_runs_in_a_fresh_process_and_reports_failures():
    """perf_isolated: arrays go through, the result comes back, the child is another process,
    and a failing child gives a RuntimeError naming the function (not a hang or a crash)."""
    from studies import perf_isolated

    g = perf_isolated.call("studies.perf_mlp", "gemm_bound",
                           dict(sizes=[6, 5, 3], batch_size=4, n_samples=8, repeats=1, libs=("numba",)))
    assert g["bound_time"] > 0 and np.isnan(g["numpy_time"]) and g["numba_time"] > 0
    assert perf_isolated.call("studies.perf_machine", "cpu_model", {}) == perf_machine.cpu_model()
    with pytest.raises(RuntimeError, match="gemm_bound"):
        perf_isolated.call("studies.perf_mlp", "gemm_bound", dict(sizes=[6, 5, 3], nope=1))
    with pytest.raises(ValueError, match="module must be one of"):
        perf_isolated.call("os", "system", {"command": "true"})
    # env: set in the child only (a variable read when a library loads), checked
    before = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    value = "3" if before != "3" else "5"   # not what a caller's environment already says
    env = perf_isolated.call("studies.perf_machine", "machine_info", {},
                             env={"OPENBLAS_THREAD_TIMEOUT": value})["thread_env"]
    assert env["OPENBLAS_THREAD_TIMEOUT"] == value
    assert os.environ.get("OPENBLAS_THREAD_TIMEOUT") == before   # this process's is untouched
    with pytest.raises(ValueError, match="env entry 'X=1'"):
        perf_isolated.call("studies.perf_machine", "cpu_model", {}, env={"X=1": "2"})
    with pytest.raises(ValueError, match="env entry 'X'"):
        perf_isolated.call("studies.perf_machine", "cpu_model", {}, env={"X": 4})


@pytest.mark.parametrize("variants, named", [
    ([{"name": "adaptlr", "arithmetic": "storage", "env": {}}], "'adaptlr'"),
    ([{"name": "a", "env": {}}, {"name": "a", "env": {}}], "'name': 'a'"),
    ([{"name": "a b"}], "'a b'"),
    ([{"name": "a", "arithmetic": "float16"}], "float16"),
    ([{"name": "a", "env": {"X": 4}}], "env="),
])
def test_epoch_variants_refuse_bad_settings(variants, named):
    with pytest.raises(ValueError, match=named):
        performance._epoch_variants({"epoch_variants": variants})


def test_epoch_variants_of_the_study_have_their_variables():
    vs = performance._epoch_variants(performance.MLP_FULL)
    assert [v["name"] for v in vs] == ["blas_timeout", "storage", "storage_blas_timeout"]
    assert [v["arithmetic"] for v in vs] == ["float64", "storage", "storage"]
    for v in vs:
        for k in ("epoch_time", "epoch_time_upper", "ratio_to_bound", "speedup_vs_torch",
                  "round_epoch_time"):
            assert f"mlp_{v['name']}_{k}" in performance.VARIABLES
        assert f"target_mlp_{v['name']}_within_1p4x_bound" in performance.VARIABLES


def test_report_reads_the_variants_from_the_datasets_spec(tiny_run, tmp_path):
    """The 'how' column comes from the spec the trials ran with (the Dataset's ``spec``
    attribute), not from this module's MLP_FULL nor from a variable's description."""
    _, ds, _ = tiny_run
    assert performance._report_variants(ds)[0]["storage"] == "optimizer arithmetic='storage'"
    assert performance._report_variants(ds)[1] == ""
    spec = json.loads(ds.attrs["spec"])
    spec["problems"]["mlp"]["epoch_variants"] = [
        {"name": "storage", "arithmetic": "float64", "env": {"OMP_WAIT_POLICY": "passive"}}]
    other = ds.copy()
    other.attrs = {**ds.attrs, "spec": json.dumps(spec)}
    for v in other.data_vars:
        other[v].attrs = {**other[v].attrs, "description": "as mlp_epoch_time, misleading; median"}
    assert performance._report_variants(other) == ({
        "storage": "optimizer arithmetic='float64', process environment OMP_WAIT_POLICY=passive"},
        "")
    performance.extra_report(other, tmp_path)
    md = (tmp_path / "performance-speed.md").read_text()
    assert "| adadelta | storage | optimizer arithmetic='float64', process environment " \
           "OMP_WAIT_POLICY=passive |" in md
    assert "| adadelta | blas_timeout | (not in the Dataset's spec) |" in md
    assert "misleading" not in md
    # a spec that cannot be read is said on every variant's row, with the reason
    other.attrs["spec"] = "{not json"
    hows, why = performance._report_variants(other)
    assert hows == {} and why.startswith("JSONDecodeError: ")
    performance.extra_report(other, tmp_path)
    md = (tmp_path / "performance-speed.md").read_text()
    assert "| adadelta | storage | (spec unreadable: JSONDecodeError: " in md
    del other.attrs["spec"]
    assert performance._report_variants(other) == ({}, "KeyError: 'spec'")


def test_round_sequence_shuffles_and_alternates_the_compared_pair():
    """Each round runs every job once, in an order drawn from (seed, round): the same seed
    gives the same order, the variants do not keep one place, and adaptlr precedes PyTorch
    exactly in the even rounds."""
    jobs = [("adaptlr",), ("torch",), ("a",), ("b",), ("c",)]
    seqs = [[j[0] for j in performance._round_sequence(jobs, 0, k)] for k in range(12)]
    for k, seq in enumerate(seqs):
        assert sorted(seq) == sorted(j[0] for j in jobs)
        assert (seq.index("adaptlr") < seq.index("torch")) == (k % 2 == 0), (k, seq)
    assert seqs == [[j[0] for j in performance._round_sequence(jobs, 0, k)] for k in range(12)]
    assert len({tuple(q) for q in seqs}) > 6            # not a fixed pattern
    assert len({q.index("a") for q in seqs}) > 2        # a variant moves around
    assert seqs != [[j[0] for j in performance._round_sequence(jobs, 1, k)] for k in range(12)]
    # no PyTorch (a method torch lacks): only the shuffle
    alone = performance._round_sequence([("adaptlr",), ("a",)], 0, 1)
    assert sorted(j[0] for j in alone) == ["a", "adaptlr"]

