"""Training within this machine's memory: smaller batches with accumulation instead of an out-of-memory kill."""

import json

import pytest
from transformers import AutoConfig

import train
from bert_sentiment import memory
from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, quick_training_flags, write_csv

BERT_BASE = {"hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 12}


def test_the_estimate_follows_the_steps_measured_on_a_cpu():
    config = AutoConfig.for_model("bert", **BERT_BASE)
    # Peak resident memory of training steps of the bert-base architecture on a 2-core AMD EPYC (fp32, AdamW):
    # 4 texts of 128 tokens 2.38 GB, of 512 tokens 5.18 GB; 32 texts of 512 tokens were killed at 24.2 GB.
    for batch, length, measured in [(4, 128, 2.38e9), (4, 512, 5.18e9), (32, 512, 24.2e9)]:
        estimate = memory.training_memory(config, 109_500_000, batch, length)
        assert measured <= estimate <= 1.7 * measured, (batch, length)
    assert memory.training_memory(object(), 1000, 4, 128) is None  # a layout it cannot read: no guess


def fit(available_gb: float, monkeypatch, resume_from=None, batch: int = 32):
    monkeypatch.setattr(memory, "available_memory", lambda: available_gb * memory.GB)
    fitted, accumulation, note = memory.fit_batch_to_memory(
        batch, 1, AutoConfig.for_model("bert", **BERT_BASE), 109_500_000, 512, resume_from
    )
    return note, fitted, accumulation


def test_a_batch_that_would_not_fit_is_split_with_the_same_texts_per_step(monkeypatch):
    assert fit(64, monkeypatch) == (None, 32, 1)  # fits: nothing changes
    note, batch, accumulation = fit(21, monkeypatch)  # the machine the bert-base ChnSentiCorp run was killed on
    assert (batch, accumulation) == (8, 4)
    assert note.startswith("8 texts at a time with 4 gradient accumulation steps, the same 32 texts per optimizer step")
    assert "32 texts of 512 tokens) would need about" in note and "--gradient_accumulation_steps" in note


def test_a_resumed_run_goes_on_with_the_checkpoints_batch(monkeypatch, tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"train_batch_size": 16, "global_step": 3}))
    note, batch, accumulation = fit(1000, monkeypatch, resume_from=str(tmp_path))  # memory is plentiful now
    assert (batch, accumulation) == (16, 2) and "as the checkpoint being resumed did" in note


def test_too_little_memory_for_even_one_text_names_the_fix(monkeypatch):
    with pytest.raises(
        UserError, match=r"one text of 512 tokens needs about .* GB.*lower --max_seq_length \(e.g. 256\)"
    ):
        fit(1, monkeypatch)


def test_a_run_short_of_memory_trains_in_smaller_batches_and_says_so(tiny_bert, tmp_path, memory_for_8_texts, caplog):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    caplog.set_level("INFO")
    flags = ["--train_file", data, *quick_training_flags(tiny_bert, tmp_path / "out"), "--num_train_epochs", "2"]
    assert train.main([str(flag) for flag in flags]) == 0
    assert "Training batch: " in caplog.text and "the same 16 texts per optimizer step" in caplog.text
    facts = json.loads((tmp_path / "out" / "run_facts.json").read_text())
    settings = facts["hyperparameters"]
    assert settings["per_device_train_batch_size"] * settings["gradient_accumulation_steps"] == 16
    assert settings["per_device_train_batch_size"] < 16
    assert facts["training"]["global_steps"] == 2 * 7  # 108 training texts, 16 per optimizer step
