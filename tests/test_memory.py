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


def fit(available_gb: float, monkeypatch, resume_from=None, batch: int = 32, accumulation: int = 1):
    monkeypatch.setattr(memory, "available_memory", lambda: available_gb * memory.GB)
    fitted, accumulation, note = memory.fit_batch_to_memory(
        batch, accumulation, AutoConfig.for_model("bert", **BERT_BASE), 109_500_000, 512, resume_from
    )
    return note, fitted, accumulation


def needed_gb(batch: int) -> float:
    """What a bert-base step on `batch` texts of 512 tokens needs by the estimate, in GB of available memory."""
    return (
        memory.training_memory(AutoConfig.for_model("bert", **BERT_BASE), 109_500_000, batch, 512)
        / memory.GB
        / memory.USABLE_SHARE
    )


def test_a_batch_needing_exactly_what_there_is_fits_and_one_byte_more_does_not(monkeypatch):
    assert fit(needed_gb(32), monkeypatch)[1:] == (32, 1)
    assert fit(needed_gb(32) * (1 - 1e-9), monkeypatch)[1:] == (16, 2)


def test_the_batch_shrinks_to_a_divisor_so_that_every_step_trains_the_same_texts(monkeypatch):
    _, batch, accumulation = fit(needed_gb(11), monkeypatch, batch=24)  # 11 and 9 would fit; 8 divides 24
    assert (batch, accumulation) == (8, 3)


def test_the_users_own_accumulation_is_kept_and_multiplied(monkeypatch):
    note, batch, accumulation = fit(needed_gb(8), monkeypatch, accumulation=3)
    assert (batch, accumulation) == (8, 12)
    assert note == (
        "8 texts at a time with 12 gradient accumulation steps, the same 96 texts per optimizer step (the longest "
        f"batch (32 texts of 512 tokens) would need about {needed_gb(32) * memory.USABLE_SHARE:.1f} GB and this "
        f"machine has {needed_gb(8) * memory.USABLE_SHARE:.1f} GB to spare; set --per_device_train_batch_size and "
        "--gradient_accumulation_steps to choose)"
    )


def test_on_a_gpu_the_batch_fits_the_gpus_free_memory_and_the_note_names_the_gpu(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1000 * memory.GB)  # the machine's: not what counts
    monkeypatch.setattr(memory, "gpu_free_memory", lambda: needed_gb(64) * memory.GB)
    config = AutoConfig.for_model("bert", **BERT_BASE)
    fitted, accumulation, note = memory.fit_batch_to_memory(256, 1, config, 109_500_000, 512, on_gpu=True)
    assert (fitted, accumulation) == (64, 4)
    assert f"and the GPU has {needed_gb(64) * memory.USABLE_SHARE:.1f} GB to spare" in note
    monkeypatch.setattr(memory, "gpu_free_memory", lambda: 1)
    with pytest.raises(UserError, match=r"and the GPU has 0.0 GB to spare: lower --max_seq_length \(e.g. 256\)"):
        memory.fit_batch_to_memory(256, 1, config, 109_500_000, 512, on_gpu=True)


def test_a_layout_the_estimate_cannot_read_trains_as_asked(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    assert memory.fit_batch_to_memory(32, 2, object(), 1000, 512) == (32, 2, None)


def test_a_layout_named_the_distilbert_way_is_estimated_the_same():
    from types import SimpleNamespace

    distil = SimpleNamespace(dim=768, n_heads=12, n_layers=12)  # a config without transformers' name mapping
    bert = AutoConfig.for_model("bert", **BERT_BASE)
    assert memory.training_memory(distil, 1000, 4, 128) == memory.training_memory(bert, 1000, 4, 128)
    for missing in ("dim", "n_heads", "n_layers"):
        partial = SimpleNamespace(**{k: v for k, v in vars(distil).items() if k != missing})
        assert memory.training_memory(partial, 1000, 4, 128) is None, f"without {missing}: no guess"


def test_a_batch_that_fits_only_one_text_at_a_time_trains_one_at_a_time(monkeypatch):
    assert fit(needed_gb(1), monkeypatch)[1:] == (1, 32)


def test_an_odd_divisor_is_found_when_it_is_the_largest_that_fits(monkeypatch):
    assert fit(needed_gb(3), monkeypatch, batch=12)[1:] == (3, 4)


def test_a_short_text_limit_suggests_no_less_than_8_tokens(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    with pytest.raises(UserError, match=r"lower --max_seq_length \(e.g. 8\)"):
        memory.fit_batch_to_memory(32, 1, AutoConfig.for_model("bert", **BERT_BASE), 109_500_000, 10)


def test_a_checkpoints_own_batch_is_refitted_when_memory_is_short_now(monkeypatch, tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"train_batch_size": 32}))
    assert fit(needed_gb(16), monkeypatch, resume_from=str(tmp_path))[1:] == (16, 2)


def test_the_cgroup_limit_and_the_processes_on_this_machine_share_the_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(memory.psutil, "virtual_memory", lambda: type("Memory", (), {"available": 64 * memory.GB}))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert memory.available_memory(tmp_path) == 64 * memory.GB, "no cgroup files: the machine's memory"
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.available_memory(tmp_path) == 64 * memory.GB, "a cgroup without a limit"
    (tmp_path / "memory.max").write_text(f"{16 * memory.GB}\n")
    (tmp_path / "memory.current").write_text(f"{4 * memory.GB}\n")
    assert memory.available_memory(tmp_path) == 12 * memory.GB, "the container's limit less what it uses"
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "5")
    shared = memory.available_memory(tmp_path)
    assert shared == 12 * memory.GB // 5 and isinstance(shared, int), "five processes on this machine share it"


def test_a_batch_that_would_not_fit_is_split_with_the_same_texts_per_step(monkeypatch):
    assert fit(64, monkeypatch) == (None, 32, 1)  # fits: nothing changes
    note, batch, accumulation = fit(21, monkeypatch)  # the machine the bert-base ChnSentiCorp run was killed on
    assert (batch, accumulation) == (8, 4)
    assert note.startswith("8 texts at a time with 4 gradient accumulation steps, the same 32 texts per optimizer step")
    assert "32 texts of 512 tokens) would need about" in note and "--gradient_accumulation_steps" in note


def test_a_resumed_run_goes_on_with_the_checkpoints_batch(monkeypatch, tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"train_batch_size": 16, "global_step": 3}))
    note, batch, accumulation = fit(1000, monkeypatch, resume_from=str(tmp_path))  # memory is plentiful now
    assert (batch, accumulation) == (16, 2)
    assert note == (
        "16 texts at a time with 2 gradient accumulation steps, the same 32 texts per optimizer step (as the "
        "checkpoint being resumed did; set --per_device_train_batch_size and --gradient_accumulation_steps to choose)"
    )


def test_too_little_memory_for_even_one_text_names_the_fix(monkeypatch):
    with pytest.raises(UserError) as refused:
        fit(1, monkeypatch)
    assert str(refused.value) == (
        f"Training even one text of 512 tokens needs about {needed_gb(1) * memory.USABLE_SHARE:.1f} GB, and this "
        f"machine has {memory.USABLE_SHARE:.1f} GB to spare: lower --max_seq_length (e.g. 256) or train on a machine "
        "with more memory."
    )


@pytest.mark.parametrize("saved", [32, 64, 12])
def test_a_checkpoints_batch_that_is_not_a_smaller_divisor_is_not_followed(saved, monkeypatch, tmp_path):
    (tmp_path / "trainer_state.json").write_text(json.dumps({"train_batch_size": saved}))
    assert fit(1000, monkeypatch, resume_from=str(tmp_path)) == (None, 32, 1)


def test_a_checkpoint_without_its_state_says_no_batch(tmp_path):
    assert memory.checkpoint_batch(None) is None and memory.checkpoint_batch(str(tmp_path)) is None


def test_search_trials_fit_their_own_batch_on_a_cpu_and_say_so(monkeypatch, tmp_path, caplog):
    from bert_sentiment.arguments import parse_args

    _, _, training_args = parse_args(
        ["--train_file", "r.csv", "--output_dir", str(tmp_path), "--gradient_accumulation_steps", "2"]
    )
    monkeypatch.setattr(memory, "available_memory", lambda: needed_gb(8) * memory.GB)
    fit_batch = memory.trial_batch_fit(training_args, AutoConfig.for_model("bert", **BERT_BASE), 109_500_000, 512)
    assert fit_batch(8) == (8, 2) and "Trial batch" not in caplog.text
    fitted = fit_batch(32)
    assert fitted == (8, 8) and all(isinstance(value, int) for value in fitted)
    assert (
        "Trial batch: 8 texts at a time with 8 gradient accumulation steps (32 would not fit this machine's memory)."
        in caplog.text
    )
    unknown = memory.trial_batch_fit(training_args, object(), 1000, 512)
    assert unknown(32) == (32, 2), "a layout the estimate cannot read trains its batch as drawn"
    monkeypatch.setattr(type(training_args), "trains_on_cpu", property(lambda self: False))
    assert memory.trial_batch_fit(training_args, None, 0, 512) is None, "a GPU's memory is the Trainer's to manage"


def test_a_run_short_of_memory_trains_in_smaller_batches_and_says_so(tiny_bert, tmp_path, memory_for_8_texts, caplog):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    caplog.set_level("INFO")
    flags = [
        "--train_file",
        data,
        *quick_training_flags(tiny_bert, tmp_path / "out"),
        "--num_train_epochs",
        "2",
        "--export_onnx",
        "false",
    ]
    assert train.main([str(flag) for flag in flags]) == 0
    assert "Training batch: " in caplog.text and "the same 16 texts per optimizer step" in caplog.text
    facts = json.loads((tmp_path / "out" / "run_facts.json").read_text())
    settings = facts["hyperparameters"]
    assert settings["per_device_train_batch_size"] * settings["gradient_accumulation_steps"] == 16
    assert settings["per_device_train_batch_size"] < 16
    assert facts["training"]["global_steps"] == 2 * 7  # 108 training texts, 16 per optimizer step
