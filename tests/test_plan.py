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
        "Validation: once, after training",
        "Output: ",
        "Steps after training",
    ):
        assert line in block, line
    assert block.index("The plan:") < block.index("Training batch") < block.index("Steps after training")
    assert facts.training.evaluations == [], "one epoch: the validation split is read once, after training"
    measured = [line for line in caplog.messages if line.startswith("Measured ")]
    assert len(measured) == 1 and "; validation read in " in measured[0], measured
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
        True,
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


@pytest.mark.parametrize(
    ("flags", "validates"),
    [
        ((), True),  # 6 epochs: a pass after each chooses the best
        (("--num_train_epochs", "1"), False),
        (("--num_train_epochs", "0.5"), False),
        (("--num_train_epochs", "1", "--save_strategy", "best"), True),  # its checkpoint is the pass's choice
        (
            ("--num_train_epochs", "1", "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "steps"),
            True,
        ),
        (("--max_steps", "7"), False),  # 100 texts, 16 at a time: 7 steps an epoch
        (("--max_steps", "8"), True),  # a second epoch
        (("--max_steps", "4", "--gradient_accumulation_steps", "2"), False),  # 7 batches, 4 optimizer steps an epoch
        (("--max_steps", "5", "--gradient_accumulation_steps", "2"), True),
    ],
)
def test_a_training_whose_only_validation_pass_would_end_it_gets_none(tiny_bert, tmp_path, flags, validates):
    """The evaluation after training reads the validation split anyway, in fp32: a pass after the last step would
    choose no checkpoint, stop nothing, and cost as much again."""
    from bert_sentiment.budget import AnalysisBudget
    from bert_sentiment.plan import only_validation_at_the_end

    _, _, training_args = arguments(tiny_bert, tmp_path, *flags)
    batch, accumulation = training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps
    assert only_validation_at_the_end(training_args, 100, batch, accumulation) is not validates
    texts = AnalysisBudget(1200, "fast", 100, 100, 100)
    trainer_args = a_plan(batch=batch, accumulation=accumulation, analyses=texts).trainer_arguments(training_args)
    if validates:
        assert trainer_args.eval_strategy == training_args.eval_strategy != "no"
        assert trainer_args.load_best_model_at_end is training_args.load_best_model_at_end
    else:
        assert (trainer_args.eval_strategy, trainer_args.load_best_model_at_end) == ("no", False)
        assert training_args.eval_strategy == "epoch", "the user's arguments stay as given"
    if "--max_steps" not in flags:
        searched = a_plan(analyses=texts).trainer_arguments(training_args, {"num_train_epochs": 3})
        assert searched.eval_strategy == training_args.eval_strategy, "a search's epochs count, not the user's"
        training_args.hp_search = True
        trials = a_plan(analyses=texts).trainer_arguments(training_args)
        assert trials.eval_strategy == training_args.eval_strategy, "each trial chooses its epochs (2 to 4)"


def prepared_run(tiny_bert, max_length=64, longest=40):
    """What fine_tune hands make_plan once the data is read: the checkpoint, its language, configuration and lengths."""
    from types import SimpleNamespace

    from transformers import AutoConfig

    return SimpleNamespace(
        checkpoint="alice/tiny-bert",
        language="en",
        config=AutoConfig.from_pretrained(tiny_bert),
        lengths={
            "max_length": max_length,
            "splits": {"train": {"max": longest}},
            "inference_max_length": 128,
            "inference_max_length_reason": "the model's limit",
            "long_text": "truncate",
        },
    )


def budget():
    from bert_sentiment.budget import AnalysisBudget

    return AnalysisBudget(1200, "fast", 120, 120, 120)


@pytest.mark.parametrize("max_length, longest, fitted_at", [(64, 40, 40), (64, 100, 64)])
def test_on_a_cpu_the_batch_is_fitted_at_the_longest_text_training_reads(
    tiny_bert, tmp_path, monkeypatch, max_length, longest, fitted_at
):
    from bert_sentiment import plan
    from bert_sentiment.plan import Preflight, make_plan

    fitted = []
    monkeypatch.setattr(
        plan, "fit_batch_to_memory", lambda *args, on_gpu: fitted.append((*args, on_gpu)) or (8, 4, "8 texts at a time")
    )
    _, _, training_args = arguments(tiny_bert, tmp_path, "--gradient_accumulation_steps", "2")
    model_args = parse_args(["--output_dir", str(tmp_path)])[0]
    prepared = prepared_run(tiny_bert, max_length, longest)
    made = make_plan(training_args, model_args, Preflight("out/checkpoint-40", None), prepared, budget())
    assert len(fitted) == 1
    batch, accumulation, config, parameters, length, resume_from, on_gpu = fitted[0]
    assert (batch, accumulation, length, resume_from, on_gpu) == (16, 2, fitted_at, "out/checkpoint-40", False)
    assert config is prepared.config and parameters == made.parameters
    assert (made.batch, made.accumulation, made.batch_note) == (8, 4, "8 texts at a time")
    assert made.resume_from == "out/checkpoint-40" and made.publish_to is None


def test_on_a_gpu_the_batch_is_the_one_asked_for(tiny_bert, tmp_path, monkeypatch):
    from bert_sentiment import plan
    from bert_sentiment.arguments import SentimentTrainingArguments
    from bert_sentiment.plan import Preflight, make_plan

    monkeypatch.setattr(plan, "fit_batch_to_memory", lambda *args, **kw: pytest.fail("a GPU's batch is not fitted"))
    monkeypatch.setattr(SentimentTrainingArguments, "trains_on_cpu", property(lambda self: False))
    model_args, _, training_args = arguments(tiny_bert, tmp_path, "--gradient_accumulation_steps", "3")
    made = make_plan(training_args, model_args, Preflight(None, None), prepared_run(tiny_bert), budget())
    assert (made.batch, made.accumulation, made.batch_note) == (16, 3, None)


@pytest.mark.parametrize("free_gb, at_a_time", [(80, 256), (1.5, 64)])
def test_on_a_gpu_its_default_batch_is_fitted_to_the_gpus_free_memory_and_said(
    tiny_bert, tmp_path, monkeypatch, free_gb, at_a_time
):
    from bert_sentiment import memory
    from bert_sentiment.arguments import SentimentTrainingArguments, default_batches
    from bert_sentiment.plan import Preflight, make_plan

    monkeypatch.setattr(memory, "available_memory", lambda: pytest.fail("the machine's memory is not the GPU's"))
    monkeypatch.setattr(memory, "gpu_free_memory", lambda: free_gb * memory.GB)
    monkeypatch.setattr(SentimentTrainingArguments, "trains_on_cpu", property(lambda self: False))
    model_args, _, training_args = arguments(tiny_bert, tmp_path)
    batch, _, reason = default_batches(on_cpu=False)
    training_args.per_device_train_batch_size, training_args.batch_reason = batch, reason  # as parsing on a GPU sets
    prepared = prepared_run(tiny_bert, max_length=512, longest=512)
    made = make_plan(training_args, model_args, Preflight(None, None), prepared, budget())
    assert (made.batch, made.accumulation) == (at_a_time, 256 // at_a_time), "256 texts per step either way"
    if at_a_time == 256:
        assert made.batch_note == f"256 texts ({reason})"
    else:
        assert made.batch_note.startswith("64 texts at a time with 4 gradient accumulation steps, the same 256 texts")
        assert "and the GPU has 1.3 GB to spare" in made.batch_note
    assert f"Training batch: {made.batch_note}" in made.describe()


def test_the_plan_holds_the_models_size_lengths_and_where_it_publishes(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from bert_sentiment.plan import Preflight, make_plan
    from bert_sentiment.publish import HubTarget

    model_args, _, training_args = arguments(tiny_bert, tmp_path, "--reinit_pooler", "true", "--precision", "fp32")
    target = HubTarget("alice/sst2-bert", "hf_secret", False)
    made = make_plan(training_args, model_args, Preflight(None, target), prepared_run(tiny_bert), budget())
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    assert made.parameters == model.num_parameters()
    assert (made.checkpoint, made.language, made.pooler) == ("alice/tiny-bert", "en", "true")
    assert (made.max_length, made.reading_length, made.reading_reason, made.long_text) == (
        64,
        128,
        "the model's limit",
        "truncate",
    )
    assert (made.precision, made.output_dir, made.publish_to) == ("fp32", str(tmp_path / "out"), "alice/sst2-bert")
    assert made.layer_learning_rates is None


def a_plan(**changes):
    from bert_sentiment.plan import RunPlan

    values = dict(
        checkpoint="bert-base-uncased",
        language="en",
        parameters=109_483_778,
        precision="bf16",
        precision_reason="the CPU has AMX",
        batch=16,
        accumulation=2,
        batch_note=None,
        pooler="false",
        layer_learning_rates=None,
        max_length=128,
        reading_length=512,
        reading_reason="the longest text read",
        long_text="truncate",
        analyses=budget(),
        validates_during_training=True,
        output_dir="out/sst2",
        resume_from=None,
        publish_to=None,
    )
    return RunPlan(**{**values, **changes})


def test_the_plan_is_logged_as_one_block_with_only_what_this_run_does():
    assert a_plan().describe().split("\nSteps after training")[0] == "\n".join(
        [
            "The plan:",
            "  Base model: bert-base-uncased (en), 109,483,778 parameters",
            "  Training precision: bf16 (the CPU has AMX)",
            "  Training batch: 32 texts",
            "  Lengths: training reads up to 128 tokens per text; predictions up to 512 (the longest text read); "
            "longer texts: truncate",
            "  Output: out/sst2",
        ]
    )
    assert a_plan().describe().endswith("\n" + budget().describe())
    assert (
        "\n  Validation: once, after training (a pass within one epoch or less would choose nothing)\n  Output: out/sst2\n"
        in a_plan(validates_during_training=False).describe()
    )
    full = a_plan(
        batch_note="8 texts at a time with 4 gradient accumulation steps (memory)",
        pooler="auto",
        layer_learning_rates="0.8 per layer down from the top",
        resume_from="out/sst2/checkpoint-300",
        publish_to="alice/sst2-bert",
    ).describe()
    assert "\n  Training batch: 8 texts at a time with 4 gradient accumulation steps (memory)\n" in full
    assert "\n  Pooler: --reinit_pooler auto\n  Layer-wise learning rates: 0.8 per layer down from the top\n" in full
    assert (
        "\n  Output: out/sst2, resuming from out/sst2/checkpoint-300; published to alice/sst2-bert at the end\n" in full
    )


def test_the_plans_facts_keep_its_decisions_and_no_path_of_this_machine():
    facts = a_plan(resume_from="/home/alice/out/checkpoint-300", checkpoint="/home/alice/encoder").facts()
    assert facts == {
        "language": "en",
        "parameters": 109_483_778,
        "precision": "bf16",
        "precision_reason": "the CPU has AMX",
        "batch": 16,
        "accumulation": 2,
        "batch_note": None,
        "pooler": "false",
        "layer_learning_rates": None,
        "max_length": 128,
        "reading_length": 512,
        "reading_reason": "the longest text read",
        "long_text": "truncate",
        "validates_during_training": True,
        "publish_to": None,
    }
    json.dumps(facts)  # as run_facts.json holds it


def test_preflight_hands_on_what_each_check_found(tmp_path, monkeypatch):
    """The checkpoint --resume continues from and the Hub target reach the plan; data in memory is checked as such."""
    from bert_sentiment import plan

    seen = {}
    monkeypatch.setattr(plan, "check_data_arguments", lambda data_args, in_memory: seen.update(in_memory=in_memory))
    monkeypatch.setattr(plan, "checkpoint_to_resume", lambda args: f"{args.output_dir}/checkpoint-40")
    monkeypatch.setattr(plan, "check_hub_access", lambda *given: seen.update(hub=given) or "alice/reviews target")
    _, data_args, training_args = parse_args(
        ["--train_file", "r.csv", "--output_dir", str(tmp_path), "--push_to_hub", "true"]
        + ["--hub_model_id", "alice/reviews", "--hub_private", "true", "--hub_token", "hf_secret"]
    )
    checked = plan.preflight(data_args, training_args, in_memory=True)
    assert checked == plan.Preflight(f"{tmp_path}/checkpoint-40", "alice/reviews target")
    assert seen == {"in_memory": True, "hub": ("alice/reviews", True, "hf_secret")}
    training_args.publish_to_hub = False
    assert plan.preflight(data_args, training_args).hub_target is None, "no Hub asked for: no Hub checked"
    assert seen["in_memory"] is False


def test_the_plan_says_the_precisions_reason_and_the_layer_rates(tiny_bert, tmp_path):
    from bert_sentiment.model import model_skeleton
    from bert_sentiment.plan import Preflight, make_plan
    from bert_sentiment.training import layer_lr_note

    model_args, _, training_args = arguments(tiny_bert, tmp_path, "--layer_lr_decay", "0.5", "--learning_rate", "1e-4")
    made = make_plan(training_args, model_args, Preflight(None, None), prepared_run(tiny_bert), budget())
    assert made.precision_reason == training_args.precision_reason != ""
    expected = layer_lr_note(model_skeleton(prepared_run(tiny_bert).config), 1e-4, 0.5)
    assert made.layer_learning_rates == expected and "head and pooler 0.0001," in expected
    assert f"  Layer-wise learning rates: {expected}" in made.describe()
