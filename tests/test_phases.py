"""Each step of a run timed: the seconds a user reads in the log and in run_facts.json."""

import itertools
import logging

import pytest

from bert_sentiment import phases
from bert_sentiment.phases import PhaseClock, peak_memory_gb
from tests.conftest import set_monotonic


@pytest.fixture
def ticking(monkeypatch):
    """time.monotonic() advancing by the given seconds per call."""

    def use(*seconds):
        clock = itertools.accumulate(seconds)
        set_monotonic(monkeypatch, phases, lambda: next(clock))

    return use


def test_each_step_gets_its_own_seconds_and_a_step_run_twice_adds_up(ticking, caplog):
    caplog.set_level(logging.INFO)
    ticking(0, 2.0, 0, 30.0, 0, 0.44, 0, 1.5)  # start, end of each step in turn
    clock = PhaseClock()
    for name in ("baselines", "training", "label issues", "baselines"):
        with clock(name):
            pass
    assert clock.record["training"]["seconds"] == 30.0
    assert clock.record["baselines"]["seconds"] == 3.5, "two passes, one per split: 2.0 + 1.5"
    assert clock.record["label issues"]["seconds"] == 0.4, "a tenth of a second"
    assert clock.outside() == 3.9, "every step but training"
    assert "Step 'training' took 30.0 s." in caplog.text and "label issues" not in caplog.text, "under 1 s: not logged"
    assert all(entry["peak_memory_gb"] > 0 for entry in clock.record.values())


def test_the_peak_memory_is_this_process_in_gigabytes():
    block = bytearray(300 * 1024**2)  # 0.3 GB, touched
    block[::4096] = b"x" * len(block[::4096])
    assert 0.29 <= peak_memory_gb() < 100, "gigabytes: kilobytes or bytes read as such would be 1,000 times off"
    del block


def test_on_linux_the_peak_is_read_in_kilobytes_and_kept_to_two_decimals(monkeypatch):
    """run_facts.json keeps gigabytes to two decimals: 10 GiB reads 10.0, and 1,234,567 KiB 1.18."""
    import resource
    from types import SimpleNamespace

    monkeypatch.setattr(phases.sys, "platform", "linux")
    for kilobytes, gigabytes in ((10 * 1024**2, 10.0), (1_234_567, 1.18)):
        monkeypatch.setattr(resource, "getrusage", lambda who, kb=kilobytes: SimpleNamespace(ru_maxrss=kb))
        assert peak_memory_gb() == gigabytes


def test_on_macos_the_peak_is_read_in_bytes(monkeypatch):
    import resource
    from types import SimpleNamespace

    monkeypatch.setattr(phases.sys, "platform", "darwin")
    for size in (1.5, 10.0):
        monkeypatch.setattr(resource, "getrusage", lambda who, gb=size: SimpleNamespace(ru_maxrss=int(gb * 1024**3)))
        assert peak_memory_gb() == size


def test_on_windows_the_peak_is_the_peak_working_set_or_else_the_resident_memory(monkeypatch):
    """Windows has no `resource` module: psutil reads the peak working set, or the resident memory where its
    build has no peak."""
    import sys
    from types import SimpleNamespace

    import psutil

    monkeypatch.setitem(sys.modules, "resource", None)  # `import resource` fails, as on Windows
    memory = SimpleNamespace(rss=1024**3, peak_wset=int(2.2549 * 1024**3))
    monkeypatch.setattr(psutil, "Process", lambda: SimpleNamespace(memory_info=lambda: memory))
    assert peak_memory_gb() == 2.25, "two decimals"
    del memory.peak_wset
    assert peak_memory_gb() == 1.0
