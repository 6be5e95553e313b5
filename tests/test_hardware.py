"""What the package reads of the machine: the CPU's flags and the cores this process may use."""

import pytest

from bert_sentiment.hardware import cpu_flags, usable_cores


@pytest.mark.parametrize(
    "affinity, quota, cores",
    [
        ({0, 1, 2, 3}, "150000 100000", 2),  # a container allowed 1.5 CPUs of a 4-CPU host: two threads
        ({0, 1, 2, 3}, "max 100000", 4),  # no quota
        ({0, 1}, "800000 100000", 2),  # a quota above the CPUs it may run on
        ({0, 1, 2, 3}, "50000 100000", 1),  # half a CPU: one thread, not none
        ({0, 1, 2}, None, 3),  # no cgroup file (not Linux, or cgroup v1)
    ],
)
def test_onnx_runtime_uses_the_cores_the_process_may_use(tmp_path, affinity, quota, cores):
    quota_file = tmp_path / "cpu.max"
    if quota is not None:
        quota_file.write_text(quota + "\n")
    assert usable_cores(affinity, quota_file) == cores


def reading_cpuinfo(monkeypatch, cpuinfo, text: str):
    """/proc/cpuinfo read from `cpuinfo`, a file holding `text`."""
    import builtins

    cpuinfo.write_text(text)
    real_open = builtins.open
    monkeypatch.setattr(
        builtins, "open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k)
    )


def test_the_cpu_flags_are_the_words_of_the_flags_line(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    reading_cpuinfo(
        monkeypatch, cpuinfo, "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_vnni\nbogomips\t: 1\n"
    )
    assert cpu_flags() == {"fpu", "avx2", "avx512_vnni"}
    cpuinfo.unlink()
    assert cpu_flags() == set(), "no /proc/cpuinfo (not Linux): no flags claimed"


def test_a_cpuinfo_without_a_flags_line_claims_no_flags(monkeypatch, tmp_path):
    """ARM's /proc/cpuinfo names its extensions "Features": nothing of x86's is claimed there."""
    reading_cpuinfo(
        monkeypatch, tmp_path / "cpuinfo", "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
    )
    assert cpu_flags() == set()


def test_the_cores_default_to_the_cpus_this_process_may_run_on(monkeypatch, tmp_path):
    import os

    no_quota = tmp_path / "missing"
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3} if pid == 0 else {0, 1, 2, 3}, raising=False)
    assert usable_cores(quota_file=no_quota) == 1, "pinned to one CPU of eight"
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS and Windows: every CPU
    assert usable_cores(quota_file=no_quota) == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable
    assert usable_cores(quota_file=no_quota) == 1


def test_scikit_learns_fits_leave_pytorchs_threads_alone():
    import torch  # noqa: F401 (loads PyTorch's OpenMP runtime)
    from threadpoolctl import threadpool_info

    from bert_sentiment.hardware import sklearn_threads

    threads = lambda api: [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == api]  # noqa: E731
    openmp = threads("openmp")
    assert openmp, "PyTorch's OpenMP runtime is loaded"
    with sklearn_threads():
        assert set(threads("blas")) <= {1}
        assert threads("openmp") == openmp
