"""Turns at the model: one pass at a time; single predictions first, and jobs never starved."""

import threading
import time

import pytest

from bert_sentiment.turns import SINGLES_IN_A_ROW, Turns


def run_in_turns(turns: Turns, callers: list[tuple[str, str]]) -> list[str]:
    """Start `callers` (name, lane) while the model is held, in that order; the names in the order they ran."""
    ran, inside = [], []
    holding = threading.Event()

    def call(name, lane):
        with turns.turn(lane):
            inside.append(name)
            assert len(inside) == 1, "two passes at once"
            ran.append(name)
            time.sleep(0.01)
            inside.remove(name)

    def hold():
        with turns.turn("job"):
            holding.set()
            time.sleep(0.2)  # everyone below queues meanwhile

    threads = [threading.Thread(target=hold, daemon=True)]
    threads[0].start()
    assert holding.wait(timeout=5), "a fresh Turns gives the model to its first caller"
    for name, lane in callers:
        threads.append(threading.Thread(target=call, args=(name, lane), daemon=True))  # daemon: a hang fails the test
        threads[-1].start()
        time.sleep(0.02)  # a known arrival order
    for thread in threads:
        thread.join(timeout=5)
    stuck = [name for (name, _), thread in zip([("holder", "job"), *callers], threads) if thread.is_alive()]
    assert not stuck, f"never given the model, as a page that never answers: {stuck} (ran: {ran})"
    return ran


def test_a_waiting_single_goes_before_job_slices_that_came_first():
    ran = run_in_turns(Turns(), [("job 1", "job"), ("job 2", "job"), ("visitor", "single")])
    assert ran[0] == "visitor", "after a job's slice, a waiting visitor is next"


def test_a_stream_of_visitors_lets_a_waiting_job_through():
    visitors = SINGLES_IN_A_ROW + 2
    callers = [("slice", "job")] + [(f"visitor {i}", "single") for i in range(visitors)]
    turns = Turns()
    ran = run_in_turns(turns, callers)
    assert ran.index("slice") == SINGLES_IN_A_ROW, f"the job's slice ran after {SINGLES_IN_A_ROW} visitors: {ran}"
    assert len(ran) == visitors + 1
    assert turns.served == {"single": visitors, "job": 2}, "the passes each lane ran, the holding job's among them"


def test_an_unknown_lane_is_refused():
    with pytest.raises(ValueError, match="Unknown lane 'bulk': use one of single, job"):
        with Turns().turn("bulk"):
            pass
