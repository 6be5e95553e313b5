"""The queue's door on its own, with a stand-in queue: places per visitor at the limit and one past it, places
given back when requests leave, and inputs refused by their endpoint's check with the limit in words."""

import asyncio
from types import SimpleNamespace

import pytest

from bert_sentiment.admission import PLACES_PER_VISITOR, guard_queue


def predict(text):  # an endpoint: its first parameter names the input a refusal is shown under
    return text


class StandInQueue:
    """What guard_queue reads of gradio's queue: push, the waiting lanes and the running jobs."""

    def __init__(self):
        self.waiting, self.active_jobs, self.pushed = [], [], 0
        self.event_queue_per_concurrency_id = {"default": SimpleNamespace(queue=self.waiting)}

    async def push(self, body, request, username):
        self.pushed += 1
        event_id = f"event-{self.pushed}"
        self.waiting.append(SimpleNamespace(_id=event_id))
        return True, event_id, "queued"

    def finish(self, event_id):
        self.waiting[:] = [event for event in self.waiting if event._id != event_id]


def door(checks=None):
    queue = StandInQueue()
    demo = SimpleNamespace(_queue=queue, fns={0: SimpleNamespace(fn=predict)})
    guard_queue(demo, checks or {})
    return queue


def ask(queue, address="203.0.113.7", text="a fine film"):
    body = SimpleNamespace(fn_index=0, data=[text], session_hash="same-browser")
    request = SimpleNamespace(headers={"x-forwarded-for": address}, client=SimpleNamespace(host="127.0.0.1"))
    return asyncio.run(queue.push(body, request, None))


def test_a_visitor_gets_its_places_and_the_next_request_is_refused_with_the_way_out():
    queue = door()
    answers = [ask(queue) for _ in range(PLACES_PER_VISITOR)]
    assert all(admitted for admitted, _, _ in answers)
    admitted, refusal, state = ask(queue)
    assert not admitted and state == "validator_error"
    message = refusal[0]["message"]
    assert f"You already have {PLACES_PER_VISITOR} requests waiting or running" in message
    assert "send them in one batch request" in message and "bert-sentiment predict" in message
    assert queue.pushed == PLACES_PER_VISITOR, "the refused request never reached the queue"


def test_another_visitor_is_served_while_one_is_full_and_a_finished_request_gives_its_place_back():
    queue = door()
    first = [ask(queue)[1] for _ in range(PLACES_PER_VISITOR)]
    assert ask(queue, address="198.51.100.2")[0], "someone else still gets in"
    assert not ask(queue)[0]
    queue.finish(first[0])
    assert ask(queue)[0], "one answered request frees one place"
    assert not ask(queue)[0]


def test_an_input_its_check_refuses_is_turned_away_under_the_endpoints_input():
    too_long = lambda inputs: "Texts longer than 10 characters are refused." if len(inputs[0]) > 10 else None  # noqa: E731
    queue = door({predict: too_long})
    admitted, refusal, _ = ask(queue, text="x" * 11)
    assert not admitted and refusal == [
        {
            "__type__": "validate",
            "is_valid": False,
            "message": "Texts longer than 10 characters are refused.",
            "parameter_name": "text",
        }
    ]
    assert ask(queue, text="x" * 10)[0], "at the limit: admitted"
    assert queue.pushed == 1


@pytest.mark.parametrize("places", [1, 2])
def test_the_number_of_places_is_the_one_given(places):
    queue = StandInQueue()
    guard_queue(SimpleNamespace(_queue=queue, fns={0: SimpleNamespace(fn=predict)}), {}, places=places)
    assert [ask(queue)[0] for _ in range(places + 1)] == [True] * places + [False]
