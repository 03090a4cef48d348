"""studies.blas_host: OPENBLAS_CORETYPE checked against the CPU before anything computes.

The table of needed CPU features is checked against OpenBLAS itself on the host that runs
the tests: the kernel set OpenBLAS picks by itself must be one the table calls runnable,
and a SkylakeX run in a subprocess must die with SIGILL exactly where the table says the
CPU lacks AVX-512 (and run where it has it).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from studies import blas_host, cli, rekey

# a Zen 3 host's flags (2026-12-03), cut to what matters: AVX2 and FMA, no AVX-512
ZEN3 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
        "flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2\n"
        "bugs\t\t: sysret_ss_attrs\n")
SKX = ZEN3.replace("avx2", "avx2 avx512f avx512dq avx512cd avx512bw avx512vl")
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n"


def flags(text):
    return blas_host.parse_flags(text)


def test_parse_flags():
    f = flags(ZEN3)
    assert {"avx", "avx2", "fma"} <= f and "avx512f" not in f
    assert "sysret_ss_attrs" not in f            # the bugs line is not the flags line
    assert flags(ARM) is None                    # no x86 flags line: unknown, not "none"


def test_missing_and_runnable():
    assert blas_host.missing("SkylakeX", flags(ZEN3)) == blas_host.AVX512
    assert blas_host.missing("skylakex", flags(SKX)) == frozenset()
    assert blas_host.missing("Haswell", flags(ZEN3)) == frozenset()
    assert blas_host.missing("Power10", flags(ZEN3)) is None      # not in the table
    assert blas_host.runnable(flags(ZEN3)) == ["Sandybridge", "Haswell", "Zen"]
    assert "SkylakeX" in blas_host.runnable(flags(SKX))
    assert blas_host.unrunnable("Haswell", flags(ZEN3)) is None


def test_unknown_cpu_refuses_nothing(monkeypatch):
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: None)
    assert blas_host.missing("SkylakeX") is None
    blas_host.check_environment({"OPENBLAS_CORETYPE": "SkylakeX"})


@pytest.mark.parametrize("value", ["SkylakeX", "skylakex", " SapphireRapids "])
def test_check_environment_refuses_with_the_value_and_what_is_allowed(value):
    with pytest.raises(blas_host.HostBlasError) as e:
        blas_host.check_environment({"OPENBLAS_CORETYPE": value}, flags(ZEN3))
    msg = str(e.value)
    assert repr(value.strip()) in msg and "avx512f" in msg and "SIGILL" in msg
    assert "Haswell" in msg and "Zen" in msg     # what this CPU can run


@pytest.mark.parametrize("env", [{}, {"OPENBLAS_CORETYPE": ""}, {"OPENBLAS_CORETYPE": "Haswell"},
                                 {"OPENBLAS_CORETYPE": "NoSuchCore"}])
def test_check_environment_passes(env):
    blas_host.check_environment(env, flags(ZEN3))


def test_check_environment_passes_on_an_avx512_cpu():
    blas_host.check_environment({"OPENBLAS_CORETYPE": "SkylakeX"}, flags(SKX))


def test_cli_exits_2_before_computing(monkeypatch, capsys):
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: flags(ZEN3))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    assert cli.main(["list"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: OPENBLAS_CORETYPE='SkylakeX'") and "avx512f" in err


def test_rekey_note_says_where_a_trial_can_be_verified(monkeypatch):
    there, here = frozenset({"SkylakeX"}), frozenset({"Haswell"})
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: flags(ZEN3))
    note = rekey._other_kernels(there, here)
    assert "cannot agree here" in note and "avx512f" in note
    assert "verify it on a CPU that has them, with OPENBLAS_CORETYPE=SkylakeX" in note
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: flags(SKX))
    assert rekey._other_kernels(there, here).endswith("(OPENBLAS_CORETYPE=SkylakeX verifies it)")


def test_table_agrees_with_openblas_choice_on_this_host():
    """The kernel set OpenBLAS picks for this CPU (variable unset) is one the table calls
    runnable here: the table is not stricter than OpenBLAS."""
    code = ("import json, numpy, scipy.linalg\n"
            "from threadpoolctl import threadpool_info\n"
            "print(json.dumps([i.get('architecture') for i in threadpool_info()]))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    import json
    archs = [a for a in json.loads(out.stdout) if a]
    if blas_host.cpu_flags() is None or not archs:
        pytest.skip("no x86 CPU flags or no OpenBLAS kernel set reported here")
    for a in archs:
        if a.lower() in blas_host.NEEDS:
            assert blas_host.missing(a) == frozenset(), (a, blas_host.runnable())


def test_skylakex_sigill_exactly_where_the_table_says():
    """OPENBLAS_CORETYPE=SkylakeX and one matrix product in a fresh process: killed by
    SIGILL on a CPU the table says lacks AVX-512, a clean exit on one that has it."""
    lack = blas_host.missing("SkylakeX")
    if lack is None:
        pytest.skip("CPU flags unreadable here")
    code = ("import numpy as np\n"
            "a = np.ones((64, 64), np.float32)\n"
            "print(float((a @ a)[0, 0]))")
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    if lack:
        assert out.returncode == -signal.SIGILL, (out.returncode, out.stderr[-500:])
    else:
        assert out.returncode == 0 and out.stdout.strip() == "64.0", out.stderr[-500:]


def test_trial_on_a_worker_that_cannot_run_the_kernels_fails_with_the_reason(monkeypatch):
    """A worker of another host (external cluster) with such a setting: the trial is stored
    as failed with the reason, and the trial function never runs (no SIGILL)."""
    from studies import runner

    ran = []
    monkeypatch.setattr(blas_host, "cpu_flags", lambda: flags(ZEN3))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "SkylakeX")
    rec = runner.execute(lambda spec: ran.append(spec) or {}, "k", {"seed": 0}, {})
    assert rec["status"] == "failed" and not ran
    assert rec["message"].startswith("HostBlasError: OPENBLAS_CORETYPE='SkylakeX'")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    rec = runner.execute(lambda spec: ran.append(spec) or {"loss": 1.0}, "k", {"seed": 0}, {})
    assert ran and "HostBlasError" not in str(rec.get("message", ""))
