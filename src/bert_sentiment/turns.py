"""Turns at the model: one forward pass at a time, and a single prediction never waits behind a whole batch job.

Every forward pass of the app (visitors' texts, batch jobs, explanations) takes a turn here. Jobs go through
the model in short slices, each slice queueing again behind the others, so two jobs alternate. Waiting single
predictions go first, so a visitor waits at most one slice; after SINGLES_IN_A_ROW single passes while a job
waits, the job's slice goes, so a stream of visitors never starves the jobs. One pass at a time, because each
already uses every CPU core: two in flight were measured slower than one after the other.
"""

import threading
from collections import deque
from contextlib import contextmanager

LANES = ("single", "job")  # in the order they are served
SINGLES_IN_A_ROW = 4  # single passes while a job waits, before the job's next slice


class Turns:
    def __init__(self):
        self._changed = threading.Condition()
        self._waiting = {lane: deque() for lane in LANES}
        self._running = None  # the ticket of the pass holding the model
        self._singles_in_a_row = 0  # while a job waits
        self.served = {lane: 0 for lane in LANES}  # passes run per lane, for tests and logs

    @contextmanager
    def turn(self, lane: str = "single"):
        """Hold the model for one forward pass; waits while another pass runs or an earlier caller is due first."""
        if lane not in self._waiting:
            raise ValueError(f"Unknown lane '{lane}': use one of {', '.join(LANES)}.")
        ticket = object()
        with self._changed:
            self._waiting[lane].append(ticket)
            self._changed.wait_for(lambda: self._running is None and self._next() is ticket)
            self._waiting[lane].popleft()
            self._running = ticket
            self._singles_in_a_row = self._singles_in_a_row + 1 if lane == "single" and self._waiting["job"] else 0
        try:
            yield
        finally:
            with self._changed:
                self._running = None
                self.served[lane] += 1
                self._changed.notify_all()

    def _next(self):
        """The caller due next: the oldest single prediction, unless a job has waited SINGLES_IN_A_ROW passes.
        Asked only by a waiting caller: when no job is due, a single prediction waits."""
        single, job = self._waiting["single"], self._waiting["job"]
        if job and (not single or self._singles_in_a_row >= SINGLES_IN_A_ROW):
            return job[0]
        return single[0]
