"""A stop (SIGTERM, Ctrl-C) that arrives while a result file is written is raised when the
write is done: raised inside netCDF writing it could leave a lock held and hang the run
(studies.interrupt)."""
from __future__ import annotations

import signal
import threading

import numpy as np
import pytest
import xarray as xr

from studies import cli, interrupt, store


def test_deliver_raises_at_once_outside_a_write():
    with pytest.raises(cli.Terminated):
        cli._terminate(signal.SIGTERM, None)
    with pytest.raises(KeyboardInterrupt):
        cli._interrupt(signal.SIGINT, None)


def test_a_stop_during_deferred_is_raised_when_the_outermost_block_ends():
    seen = []
    with pytest.raises(cli.Terminated):
        with interrupt.deferred():
            with interrupt.deferred():
                cli._terminate(signal.SIGTERM, None)     # held
                cli._interrupt(signal.SIGINT, None)      # a second stop: the first wins
                seen.append("inner done")
            seen.append("outer done")                    # still held: not the outermost
    assert seen == ["inner done", "outer done"]
    with interrupt.deferred():                            # nothing left over
        pass


def test_a_stop_wins_over_an_error_of_the_block():
    with pytest.raises(cli.Terminated) as e:
        with interrupt.deferred():
            cli._terminate(signal.SIGTERM, None)
            raise OSError("disk full")
    assert isinstance(e.value.__context__, OSError)


def test_a_sigterm_during_a_trial_write_waits_for_the_file(tmp_path, monkeypatch):
    """The handler runs (as Python runs it, in the main thread between bytecodes) while
    to_netcdf is writing: the file is still written whole and in place, then the stop is
    raised."""
    ds = xr.Dataset({"x": ("i", np.arange(5.0))})
    real = xr.Dataset.to_netcdf

    def slow(self, *a, **k):
        cli._terminate(signal.SIGTERM, None)      # the signal arrives mid-write
        return real(self, *a, **k)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", slow)
    path = tmp_path / "t.nc"
    with pytest.raises(cli.Terminated):
        store.atomic_write_dataset(ds, path)
    monkeypatch.undo()
    assert xr.load_dataset(path)["x"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert not list(tmp_path.glob(store.TMP_PREFIX + "*"))


def test_deferred_does_nothing_outside_the_main_thread():
    out = []

    def body():
        try:
            with interrupt.deferred():
                interrupt.deliver(cli.Terminated())
        except cli.Terminated:
            out.append("raised at once")

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert out == ["raised at once"]


def test_main_restores_the_signal_handlers():
    before_term, before_int = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert cli.main(["list"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before_term
    assert signal.getsignal(signal.SIGINT) is before_int
