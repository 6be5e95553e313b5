"""What this machine's CPU offers, read from the system: its instruction-set flags and the cores this process may
use. The package's only light reading of the hardware: the app reads it without the training stack."""

import math
import os
from pathlib import Path

# A scikit-learn fit whose BLAS calls share 2 cores spends its time handing work between threads: the TF-IDF baseline
# on 100,000 texts took 4.9 s and 2.2 s with one BLAS thread, a 5-fold logistic regression on 2,000 sentence
# embeddings 9.3 s and 0.95 s, with identical results (bench/README.md, "Steps around training at scale").
SKLEARN_BLAS_THREADS = 1


def cpu_flags() -> set[str]:
    """The CPU's flags from /proc/cpuinfo (avx2, avx512_vnni, amx_bf16, ...); none where there is no such file."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            line = next((line for line in handle if line.startswith("flags")), "")
    except OSError:  # not Linux: no flags to read, so nothing claimed
        return set()
    return set(line.partition(":")[2].split())


def usable_cores(affinity: set[int] | None = None, quota_file: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: the CPUs it may run on, and fewer where a container's CPU quota says so.
    ONNX Runtime counts the host's cores; a Space's container on a large host would start a thread for each."""
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = max(1, len(affinity))
    try:
        quota, period = quota_file.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota to read: the affinity stands
    return cores


def sklearn_threads():
    """A context for scikit-learn's fits: NumPy's and SciPy's BLAS on SKLEARN_BLAS_THREADS threads (PyTorch's own
    threads are left alone)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=SKLEARN_BLAS_THREADS, user_api="blas")
