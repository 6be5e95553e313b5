"""card_text's helpers on their own: names for data, durations, hardware and the long-text sentences."""

import pytest

from bert_sentiment.card_text import _duration, _hardware, _long_text_limitation, _long_text_note, dataset_identity
from bert_sentiment.facts import Hardware, Source, parse


def test_hub_data_is_named_by_id_config_and_commit_and_local_data_by_file_never_by_path():
    hub = parse(Source, {"kind": "hub", "dataset_name": "glue", "config": "sst2", "revision": "main", "commit": "ab12"})
    assert dataset_identity(hub) == {
        "type": "glue",
        "name": "glue",
        "config": "sst2",
        "revision": "ab12",
        "on_hub": True,
    }, "the commit pins the data more exactly than the branch"
    files = parse(
        Source,
        {
            "kind": "files",
            "files": {
                "test": {"name": "t.csv", "sha256": "b" * 64},
                "train": {"name": "My Reviews (2024).csv", "sha256": "a" * 64},
            },
        },
    )
    local = dataset_identity(files)
    assert local["type"] == "My-Reviews-2024" and local["name"] == "My Reviews (2024).csv", "named by the training file"
    assert local["sha256"] == {"test": "b" * 64, "train": "a" * 64} and not local["on_hub"]


@pytest.mark.parametrize(("seconds", "said"), [(59.9, "0m 59s"), (61, "1m 01s"), (3_600, "1h 00m"), (7_322, "2h 02m")])
def test_durations_read_as_minutes_or_hours(seconds, said):
    assert _duration(seconds) == said


def test_hardware_names_the_gpus_or_the_cpu_and_data_parallel_processes():
    assert (
        _hardware(Hardware(gpu="NVIDIA H100", gpu_count=2), processes=2) == "2 × NVIDIA H100, 2 data-parallel processes"
    )
    assert _hardware(Hardware(gpu="NVIDIA T4")) == "1 × NVIDIA T4"
    assert _hardware(Hardware(cpu="AMD EPYC", cpu_count=2)) == "CPU (AMD EPYC, 2 cores)"


def test_each_long_text_mode_says_how_the_results_read_long_texts():
    assert _long_text_note(512, 128, "truncate") == (
        "A plain pipeline call with `truncation=True` reads up to 512 tokens of a text (about 384 words), as the "
        "evaluation below did; training read at most 128 tokens per text."
    )
    assert _long_text_note(128, 128, "truncate").endswith("as the evaluation below did; the same as training.")
    assert "first quarter and the last three quarters" in _long_text_note(512, 128, "head_tail")
    assert "windows of 512 tokens overlapping by half" in _long_text_note(512, 128, "chunks")
    assert _long_text_limitation(512, "truncate").startswith("Texts longer than 512 tokens are cut")
    assert "lose their middle" in _long_text_limitation(512, "head_tail")
    assert "outweighed by many neutral parts" in _long_text_limitation(512, "chunks")
