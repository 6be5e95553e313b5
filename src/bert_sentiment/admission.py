"""Who gets a place in the app's queue: checked when a request asks to join, before it waits for the model.

A public page shares one queue among everyone. A request is refused at the door, with the limit and the way out,
when it is too large (a check per endpoint), or when its visitor already holds PLACES_PER_VISITOR places
(waiting or running), so that no script can fill the queue for the others. Gradio calls the queue's `push` for
the browser, gradio_client, the /call API and MCP tools alike; direct POSTs to /api/ are closed (api_open=False).
"""

import inspect
import ipaddress
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

PLACES_PER_VISITOR = 4  # requests one visitor may have waiting or running at once


def visitor(request, session_hash: str | None) -> str:
    """Who sent a request: the first address of X-Forwarded-For (a Space's proxy sets it), else the peer's address;
    a loopback peer with no forwarded address (a share link's tunnel, a local script) is told apart by its session,
    and requests without one (the /call API) share one pool of places."""
    forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip() if request else ""
    if forwarded:
        return forwarded
    host = request.client.host if request is not None and request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = True
    if not loopback:
        return host
    return f"session {session_hash}" if session_hash else "loopback without a session"


def guard_queue(demo, checks: dict[Callable, Callable[[list], str | None]], places: int = PLACES_PER_VISITOR) -> None:
    """Refuse requests at the queue's door: `checks` maps an event's function to a check of its inputs that
    returns why they are refused (None when admitted); every visitor holds at most `places` places."""
    queue = demo._queue
    push = queue.push
    senders = {}  # event id -> visitor, for the events of the queue

    async def guarded_push(body, request, username):
        function = demo.fns[body.fn_index].fn if body.fn_index in demo.fns else None
        check = checks.get(function)
        refusal = check(list(body.data or [])) if check else None
        if refusal:
            return False, _refused(function, refusal), "validator_error"
        sender = visitor(request, body.session_hash)
        live = {event._id for event in _events(queue)}
        for gone in set(senders) - live:
            del senders[gone]
        held = sum(owner == sender for owner in senders.values())
        if held >= places:
            logger.info("Refused a request of %s: it already holds %d places.", sender, held)
            refusal = (
                f"You already have {held} requests waiting or running; each visitor may hold {places}. Wait "
                "for their answers; for many texts, send them in one batch request, or run "
                "`bert-sentiment predict` on your own machine."
            )
            return False, _refused(function, refusal), "validator_error"
        admitted, event_id, state = await push(body, request, username)
        if admitted:
            senders[event_id] = sender
        return admitted, event_id, state

    queue.push = guarded_push


def _refused(function, message: str) -> list[dict]:
    """A refusal as gradio's validation answer (HTTP 422): the browser shows the message under the first input,
    gradio_client raises it as a ValidationError; a plain 503 would reach both as only "Queue is full"."""
    name = next(iter(inspect.signature(function).parameters), "input") if function else "input"
    return [{"__type__": "validate", "is_valid": False, "message": message, "parameter_name": name}]


def _events(queue) -> list:
    """Every event waiting in the queue or running."""
    waiting = [event for lane in queue.event_queue_per_concurrency_id.values() for event in lane.queue]
    return waiting + [event for job in queue.active_jobs if job for event in job]
