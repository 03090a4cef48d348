"""Can this CPU run the OpenBLAS kernel set that ``OPENBLAS_CORETYPE`` asks for?

Stored trials record the OpenBLAS kernels they ran with (``studies.provenance``), and a
carry-over by recomputation (``rekey --verify``) must recompute a trial with the same
kernels, set with ``OPENBLAS_CORETYPE`` (DEVELOPERS.md). OpenBLAS obeys that variable
without checking the CPU: on a CPU without AVX-512, ``OPENBLAS_CORETYPE=SkylakeX`` loads
the AVX-512 kernels and the process dies with SIGILL ("Illegal instruction", exit status
132) at its first matrix product, with no word on why. Measured 2026-12-03 on a 2-core AMD
EPYC Zen 3 (znver3: AVX2, no AVX-512): ``OPENBLAS_CORETYPE=SkylakeX python3 -c "import
numpy as np; a = np.ones((200, 200), np.float32); a @ a"`` exits 132, and threadpoolctl
still reports ``SkylakeX`` before that. In a study run the Dask workers would die one
after the other. So the CLI checks first (:func:`check_environment`) and refuses with an
error that names the value, the CPU features it needs and the kernel sets this CPU can
run; ``rekey`` says the same of the trials it leaves out (:func:`unrunnable`), and a
trial on a worker of another host (an external Dask cluster) fails with the same message
instead of killing its worker (``studies.runner.execute``).

The table holds the instruction sets each named kernel set needs at the least (the
x86-64 kernel sets of OpenBLAS's ``DYNAMIC_ARCH`` builds that the wheels of NumPy and
SciPy ship; ``driver/others/dynamic.c`` picks SkylakeX and its successors only where the
CPU has AVX-512 F, CD, BW, DQ and VL, Haswell and Zen where it has AVX2 and FMA). A kernel
set not in the table, a CPU whose features cannot be read (not Linux, not x86), or an
unset variable: no check, nothing refused.
"""
from __future__ import annotations

import functools
import os

AVX512 = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})
#: kernel set (lower case, as OpenBLAS matches it) -> CPU flags (``/proc/cpuinfo``) it needs
NEEDS: dict[str, frozenset] = {
    "sandybridge": frozenset({"avx"}),
    "haswell": frozenset({"avx", "avx2", "fma"}),
    "zen": frozenset({"avx", "avx2", "fma"}),
    "skylakex": AVX512 | {"avx2", "fma"},
    "cooperlake": AVX512 | {"avx2", "fma"},
    "sapphirerapids": AVX512 | {"avx2", "fma"},
}
#: the names as OpenBLAS spells them (for messages)
SPELLING = {"sandybridge": "Sandybridge", "haswell": "Haswell", "zen": "Zen",
            "skylakex": "SkylakeX", "cooperlake": "Cooperlake",
            "sapphirerapids": "SapphireRapids"}


class HostBlasError(ValueError):
    """``OPENBLAS_CORETYPE`` names a kernel set this CPU cannot run."""


def parse_flags(cpuinfo: str) -> frozenset | None:
    """The CPU flags of the first ``flags`` line of a ``/proc/cpuinfo`` text (x86 Linux);
    None where there is none."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return None


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset | None:
    """This CPU's flags (:func:`parse_flags` of ``/proc/cpuinfo``, read once per process),
    None where unreadable."""
    try:
        with open("/proc/cpuinfo") as f:
            return parse_flags(f.read())
    except OSError:  # pragma: no cover - not Linux
        return None


def missing(kernel: str, flags: frozenset | None = None) -> frozenset | None:
    """The CPU flags the OpenBLAS kernel set ``kernel`` needs and this CPU (or ``flags``)
    lacks: empty when it can run them, None when unknown (kernel set not in :data:`NEEDS`,
    or the CPU's flags unreadable)."""
    need = NEEDS.get(str(kernel).strip().lower())
    if need is None:
        return None
    if flags is None:
        flags = cpu_flags()
    if flags is None:
        return None
    return frozenset(need - flags)


def runnable(flags: frozenset | None = None) -> list[str]:
    """The kernel sets of :data:`NEEDS` this CPU (or ``flags``) can run, OpenBLAS's spelling."""
    if flags is None:
        flags = cpu_flags()
    if flags is None:
        return []
    return [SPELLING[k] for k, need in NEEDS.items() if need <= flags]


def unrunnable(kernel: str, flags: frozenset | None = None) -> str | None:
    """A sentence saying that this CPU cannot run ``kernel`` and why, or None when it can
    (or when that is not known)."""
    lack = missing(kernel, flags)
    if not lack:
        return None
    can = runnable(flags)
    return (f"this CPU lacks {', '.join(sorted(lack))}, which OpenBLAS's {kernel} kernels "
            f"need (it would stop with SIGILL, 'Illegal instruction'); the kernel sets it can "
            f"run: {', '.join(can) if can else 'none of ' + ', '.join(SPELLING.values())}")


def check_environment(environ=None, flags: frozenset | None = None) -> None:
    """Raise :class:`HostBlasError` when ``OPENBLAS_CORETYPE`` (in ``environ``, default
    ``os.environ``) names a kernel set this CPU cannot run; nothing otherwise."""
    env = os.environ if environ is None else environ
    value = env.get("OPENBLAS_CORETYPE", "").strip()
    if not value:
        return
    why = unrunnable(value, flags)
    if why is not None:
        raise HostBlasError(
            f"OPENBLAS_CORETYPE={value!r}: {why}. Unset it, or set one of those; trials "
            f"computed with the {value} kernels can be recomputed bit for bit only on a CPU "
            "that has them (DEVELOPERS.md, rekey)")
