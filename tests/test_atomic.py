"""Files written whole or not at all, and a damaged results file named with the fix."""

import shutil

import pytest

from bert_sentiment.atomic import write_text_whole, written_whole
from bert_sentiment.errors import UserError


def test_an_interrupted_write_leaves_the_old_file_and_no_debris(tmp_path):
    path = tmp_path / "run_facts.json"
    path.write_text('{"old": true}\n')
    with pytest.raises(KeyboardInterrupt):
        with written_whole(path) as partial:
            partial.write_text('{"new": tr')  # half of the new file, then Ctrl-C
            raise KeyboardInterrupt
    assert path.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["run_facts.json"]


def test_a_finished_write_replaces_the_file(tmp_path):
    path = tmp_path / "card" / "README.md"
    path.parent.mkdir()
    write_text_whole(path, "# new card\n")
    assert path.read_text() == "# new card\n" and len(list(path.parent.iterdir())) == 1


def test_files_are_utf_8_on_a_machine_whose_locale_is_not(tmp_path, monkeypatch):
    """A card with Chinese labels, written where the locale's encoding is Latin-1 (as Windows' cp1252 is alike)."""
    import io

    monkeypatch.setattr(io, "text_encoding", lambda encoding, stacklevel=2: encoding or "latin-1")
    path = tmp_path / "README.md"
    write_text_whole(path, "# 酒店评论 — café\n")
    assert path.read_bytes() == "# 酒店评论 — café\n".encode("utf-8")


def test_a_cut_off_results_file_is_named_with_the_fix(trained_run, tmp_path):
    from bert_sentiment.facts import RESULTS_FILE, RunFacts

    damaged = tmp_path / "run"
    shutil.copytree(trained_run, damaged, ignore=shutil.ignore_patterns("*.safetensors", "onnx", "checkpoint-*"))
    text = (damaged / RESULTS_FILE).read_text()
    (damaged / RESULTS_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(UserError, match=f"{RESULTS_FILE} is damaged .*Run the training again"):
        RunFacts.load(damaged)
