"""The one exception type for mistakes a user can fix, and helpers to word its message."""

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input from the user. `train.py` prints its message without a traceback. Not a ValueError: code that
    turns a library's ValueError into a UserError never catches one of ours, and ours is never taken for a bug."""


def closest_match(value: str, choices: Iterable[str]) -> str | None:
    """The choice that looks most like `value` (case-insensitive), or None if none is close."""
    choices = list(choices)
    lowered = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[matches[0]] if matches else None


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' when a choice is close to `value`, else ''."""
    match = closest_match(value, choices)
    return f" Did you mean '{match}'?" if match else ""


def one_line(err: BaseException, limit: int = 300) -> str:
    """'Type: first line of the message', at most `limit` characters: an error said in one log line."""
    message = str(err).strip()
    return f"{type(err).__name__}: {message.splitlines()[0] if message else ''}"[:limit]
