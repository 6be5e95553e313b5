"""Files written whole or not at all: a run's results, facts, card and pictures are written under a temporary
name beside their place and renamed into it, so an interruption (Ctrl-C, a full disk, a killed job) leaves the
old file or the new one, never half of one that the next step would trip over."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(path) -> Iterator[Path]:
    """Yields the temporary path to write; renames it to `path` when the block ends, deletes it on an error.
    The temporary name keeps the suffix, so writers that go by it (matplotlib) write the same format."""
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_whole(path, text: str) -> None:
    with written_whole(path) as partial:
        partial.write_text(text, encoding="utf-8")
