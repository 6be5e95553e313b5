"""Each step of a run timed: logged with its seconds when done, and recorded in run_facts.json.

The steps around training (evaluation, calibration, baselines, label issues, the ONNX export) are where a
short run on a large file used to spend most of its time; with their seconds and the process's peak memory
beside them in the facts, a user (and bench/bench_scale.py) sees what each one cost.
"""

import contextlib
import logging
import sys
import time

logger = logging.getLogger(__name__)


def peak_memory_gb() -> float:
    """This process's peak resident memory so far (ru_maxrss: kilobytes on Linux, bytes on macOS); on Windows,
    which has no `resource` module, the peak working set."""
    try:
        import resource
    except ImportError:
        import psutil

        info = psutil.Process().memory_info()
        return round(getattr(info, "peak_wset", info.rss) / 1024**3, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024**3 if sys.platform == "darwin" else 1024**2), 2)


class PhaseClock:
    """`with clock("baselines"): ...` times one step; `clock.record` holds {step: {seconds, peak_memory_gb}}."""

    def __init__(self):
        self.record: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        entry = self.record.setdefault(name, {"seconds": 0.0})
        entry["seconds"] = round(entry["seconds"] + seconds, 1)  # a step run twice (per split) adds up
        entry["peak_memory_gb"] = peak_memory_gb()
        if seconds >= 1:
            logger.info("Step '%s' took %.1f s.", name, seconds)

    def outside(self, training: str = "training") -> float:
        """Seconds spent in every step but `training`."""
        return round(sum(entry["seconds"] for name, entry in self.record.items() if name != training), 1)
