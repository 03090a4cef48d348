"""Shared pytest hooks: start the selected slow subprocess suites in the background and run
the tests that wait for them last (tests/background.py says why and how)."""
from __future__ import annotations

import numba
import pytest

import background


@pytest.fixture
def one_numba_thread():
    """The optimizer kernels use prange; on a loaded 2-core machine waking threads for tiny
    vectors dominates. One thread keeps such tests fast (results are thread-count independent).
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_numba_thread")``."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


def _keys(item):
    return getattr(getattr(item, "function", None), "background_keys", ())


def pytest_collection_modifyitems(session, config, items):
    """Tests that wait for background jobs go last (stable order otherwise), so the rest of
    the suite runs while the jobs do; then the jobs start."""
    items.sort(key=lambda item: bool(_keys(item)))
    if config.getoption("collectonly"):
        return
    background.start(k for item in items for k in _keys(item))


def pytest_sessionfinish(session, exitstatus):
    background.stop()
