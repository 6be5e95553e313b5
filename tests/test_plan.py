"""The plan: settled before any weights load, refusing there what would fail later, and leaving the user's
arguments as given."""

import copy
import json

import pytest

from bert_sentiment import fine_tune
from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, quick_training_flags, write_csv


@pytest.fixture
def no_weights_loaded(monkeypatch):
    """A run that fails the test if it loads the model's weights."""

    def refuse(*args, **kwargs):
        raise AssertionError("the weights loaded before the plan refused the run")

    monkeypatch.setattr(fine_tune, "load_model", refuse)


def arguments(tiny_bert, tmp_path, *more):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    return parse_args(
        [str(f) for f in ["--train_file", data, *quick_training_flags(tiny_bert, tmp_path / "out"), *more]]
    )


def test_too_little_memory_is_refused_before_the_weights_load(tiny_bert, tmp_path, monkeypatch, no_weights_loaded):
    from bert_sentiment import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1)
    with pytest.raises(UserError, match=r"Training even one text of \d+ tokens needs about .*lower --max_seq_length"):
        fine_tune.fine_tune(*arguments(tiny_bert, tmp_path))


def test_an_optimizer_this_machine_cannot_build_is_refused_before_the_weights_load(
    tiny_bert, tmp_path, no_weights_loaded
):
    with pytest.raises(UserError, match="--optim adamw_anyprecision cannot be used here: .*torchdistx"):
        fine_tune.fine_tune(*arguments(tiny_bert, tmp_path, "--optim", "adamw_anyprecision"))


def test_layer_lr_decay_with_an_optimizer_without_groups_is_refused_before_the_weights_load(
    tiny_bert, tmp_path, monkeypatch, no_weights_loaded
):
    import torch
    from transformers import Trainer

    # As GaLore's layer-wise optimizers are built: one optimizer per parameter, handed over as optimizer_dict.
    monkeypatch.setattr(
        Trainer, "get_optimizer_cls_and_kwargs", lambda args, model=None: (torch.optim.SGD, {"optimizer_dict": {}})
    )
    with pytest.raises(UserError, match="--layer_lr_decay works with optimizers over parameter groups.*drop one"):
        fine_tune.fine_tune(*arguments(tiny_bert, tmp_path, "--layer_lr_decay", "0.8"))


def test_a_run_leaves_the_arguments_as_given_and_logs_its_plan_once(tiny_bert, tmp_path, memory_for_8_texts, caplog):
    model_args, data_args, training_args = arguments(
        tiny_bert, tmp_path, "--num_train_epochs", "1", "--layer_lr_decay", "0.8", "--hub_token", "hf_secret"
    )
    before = [copy.deepcopy(vars(args)) for args in (model_args, data_args, training_args)]
    caplog.set_level("INFO")
    facts = fine_tune.fine_tune(model_args, data_args, training_args)
    after = [vars(args) for args in (model_args, data_args, training_args)]
    for given, left in zip(before, after):
        changed = {name for name in given if repr(given[name]) != repr(left.get(name))}
        assert not changed and given.keys() == left.keys(), changed or given.keys() ^ left.keys()
    assert caplog.text.count("The plan:") == 1
    block = caplog.text[caplog.text.index("The plan:") :]
    for line in (
        "Base model: ",
        "Training precision: ",
        "Training batch: 8 texts at a time with 2 gradient",
        "Lengths: training reads up to",
        "Layer-wise learning rates: 0.8 per layer",
        "Output: ",
        "Steps after training",
    ):
        assert line in block, line
    assert block.index("The plan:") < block.index("Training batch") < block.index("Steps after training")
    saved = json.loads((tmp_path / "out" / "run_facts.json").read_text())
    assert saved["plan"] == facts.plan and saved["plan"]["batch"] == 8 and saved["plan"]["accumulation"] == 2
    assert str(tmp_path) not in json.dumps(saved["plan"]), "no path on this machine in the published facts"
    assert b"hf_secret" not in (tmp_path / "out" / "training_args.bin").read_bytes()


def test_the_trainer_gets_a_copy_with_the_planned_batch_and_no_token(tiny_bert, tmp_path):
    from bert_sentiment.budget import AnalysisBudget
    from bert_sentiment.plan import RunPlan

    _, _, training_args = arguments(tiny_bert, tmp_path, "--hub_token", "hf_secret")
    plan = RunPlan(
        "tiny",
        "en",
        1000,
        "fp32",
        "asked",
        4,
        4,
        "why",
        "false",
        None,
        32,
        512,
        "the limit",
        "truncate",
        AnalysisBudget(100, "false", 0, 100, 100),
        "out",
        None,
        None,
    )
    given = plan.trainer_arguments(training_args)
    assert (given.per_device_train_batch_size, given.gradient_accumulation_steps, given.hub_token) == (4, 4, None)
    searched = plan.trainer_arguments(training_args, {"learning_rate": 2e-5, "per_device_train_batch_size": 16})
    assert (searched.learning_rate, searched.per_device_train_batch_size) == (2e-5, 16)
    assert (training_args.per_device_train_batch_size, training_args.hub_token) == (16, "hf_secret")
    assert training_args.learning_rate == 3e-3
