"""The queue's door on its own, with a stand-in queue: places per visitor at the limit and one past it, places
given back when requests leave, and inputs refused by their endpoint's check with the limit in words."""

import asyncio
from types import SimpleNamespace

import pytest

from bert_sentiment.admission import PLACES_PER_VISITOR, guard_queue, visitor


def predict(text):  # an endpoint: its first parameter names the input a refusal is shown under
    return text


class StandInQueue:
    """What guard_queue reads of gradio's queue: push, the waiting lanes and the running jobs."""

    def __init__(self):
        self.waiting, self.active_jobs, self.pushed = [], [], 0
        self.event_queue_per_concurrency_id = {"default": SimpleNamespace(queue=self.waiting)}

    async def push(self, body, request, username):
        self.pushed += 1
        self.last = (body, request, username)
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


def test_a_visitor_gets_its_places_and_the_next_request_is_refused_with_the_way_out(caplog):
    caplog.set_level("INFO", logger="bert_sentiment.admission")
    queue = door()
    answers = [ask(queue) for _ in range(PLACES_PER_VISITOR)]
    assert all(admitted for admitted, _, _ in answers)
    admitted, refusal, state = ask(queue)
    assert not admitted and state == "validator_error"
    assert refusal[0]["message"] == (
        f"You already have {PLACES_PER_VISITOR} requests waiting or running; each visitor may hold "
        f"{PLACES_PER_VISITOR}. Wait for their answers; for many texts, send them in one batch request, or run "
        "`bert-sentiment predict` on your own machine."
    )
    assert refusal[0]["parameter_name"] == "text", "shown under the endpoint's own input"
    assert queue.pushed == PLACES_PER_VISITOR, "the refused request never reached the queue"
    assert f"Refused a request of 203.0.113.7: it already holds {PLACES_PER_VISITOR} places." in caplog.messages


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
    admitted, refusal, state = ask(queue, text="x" * 11)
    assert (
        not admitted
        and state == "validator_error"
        and refusal
        == [
            {
                "__type__": "validate",
                "is_valid": False,
                "message": "Texts longer than 10 characters are refused.",
                "parameter_name": "text",
            }
        ]
    )
    assert ask(queue, text="x" * 10)[0], "at the limit: admitted"
    assert queue.pushed == 1


@pytest.mark.parametrize("places", [1, 2])
def test_the_number_of_places_is_the_one_given(places):
    queue = StandInQueue()
    guard_queue(SimpleNamespace(_queue=queue, fns={0: SimpleNamespace(fn=predict)}), {}, places=places)
    assert [ask(queue)[0] for _ in range(places + 1)] == [True] * places + [False]


def request_from(peer: str | None, forwarded: str | None = None):
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return SimpleNamespace(headers=headers, client=SimpleNamespace(host=peer) if peer is not None else None)


@pytest.mark.parametrize(
    "request_, session, who",
    [
        (request_from("10.0.0.5", "203.0.113.7, 10.0.0.1"), "s1", "203.0.113.7"),  # a Space's proxy chain: the client
        (request_from("10.0.0.5", " 203.0.113.7 "), "s1", "203.0.113.7"),
        (request_from("198.51.100.9"), "s1", "198.51.100.9"),  # no proxy: the peer
        (request_from("198.51.100.9", ""), "s1", "198.51.100.9"),  # an empty header is no address
        (request_from("127.0.0.1"), "browser-a", "session browser-a"),  # a share link's tunnel: one per browser
        (request_from("::1"), "browser-b", "session browser-b"),
        (request_from("testclient"), "browser-c", "session browser-c"),  # not an address: treated as local
        (request_from("127.0.0.1"), None, "loopback without a session"),  # the /call API: one shared pool
        (request_from(None), None, "loopback without a session"),
        (None, "browser-d", "session browser-d"),
    ],
)
def test_each_visitor_is_told_apart_by_the_address_a_proxy_forwards_else_its_own_else_its_session(
    request_, session, who
):
    assert visitor(request_, session) == who


def ask_as(queue, request_, session, fn_index=0):
    body = SimpleNamespace(fn_index=fn_index, data=["a fine film"], session_hash=session)
    return asyncio.run(queue.push(body, request_, "someone"))


def test_two_browsers_behind_one_share_link_hold_their_own_places_and_the_queue_gets_the_request_as_sent():
    queue = door()
    tunnel = request_from("127.0.0.1")
    assert all(ask_as(queue, tunnel, "browser-a")[0] for _ in range(PLACES_PER_VISITOR))
    assert not ask_as(queue, tunnel, "browser-a")[0]
    assert ask_as(queue, tunnel, "browser-b")[0], "another browser on the same tunnel is someone else"
    body, request_, username = queue.last
    assert body.session_hash == "browser-b" and request_ is tunnel and username == "someone"


def test_one_client_behind_a_proxy_is_one_visitor_whichever_proxy_hop_forwards_it():
    queue = door()
    hops = [request_from("10.0.0.5", f"203.0.113.7, 10.0.0.{hop}") for hop in range(1, PLACES_PER_VISITOR + 2)]
    answers = [ask_as(queue, hop, f"tab-{i}")[0] for i, hop in enumerate(hops)]
    assert answers == [True] * PLACES_PER_VISITOR + [False]


def test_a_request_for_an_unknown_endpoint_is_still_counted_and_refused_under_a_plain_name():
    queue = door()
    for _ in range(PLACES_PER_VISITOR):
        assert ask_as(queue, request_from("198.51.100.9"), "s", fn_index=7)[0]
    admitted, refusal, state = ask_as(queue, request_from("198.51.100.9"), "s", fn_index=7)
    assert not admitted and state == "validator_error" and refusal[0]["parameter_name"] == "input"


def test_a_refusal_for_an_endpoint_without_inputs_is_shown_under_a_plain_name():
    def refresh():
        return "ok"

    queue = StandInQueue()
    guard_queue(SimpleNamespace(_queue=queue, fns={0: SimpleNamespace(fn=refresh)}), {}, places=1)
    assert ask(queue)[0]
    admitted, refusal, _ = ask(queue)
    assert not admitted and refusal[0]["parameter_name"] == "input"
