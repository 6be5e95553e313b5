"""fine_tune.py's own steps, each on tiny inputs without training: what a run reads, keeps, removes and reports."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from bert_sentiment import fine_tune
from bert_sentiment.budget import AnalysisBudget
from bert_sentiment.prepare import PreparedData


def split(texts, labels) -> Dataset:
    features = Features({"text": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    return Dataset.from_dict({"text": texts, "label": labels}, features=features)


@pytest.fixture
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert)


def test_evaluation_splits_are_read_longest_first_and_training_keeps_its_order():
    texts = ["a b", "a b c d e", "a", "a b c"]
    splits = DatasetDict(train=split(texts, [0, 1, 0, 1]), validation=split(texts, [0, 1, 0, 1]))
    lengths = {"train": np.array([2, 5, 1, 3]), "validation": np.array([2, 5, 1, 3])}
    ordered = fine_tune.sort_by_length(splits, lengths)
    assert ordered["validation"]["text"] == ["a b c d e", "a b c", "a b", "a"]
    assert ordered["train"]["text"] == texts


def test_training_texts_are_cut_at_max_length_and_evaluation_texts_at_the_reading_length(tokenizer):
    long = " ".join(["great"] * 40)
    splits = DatasetDict(train=split([long, "great"], [1, 1]), validation=split([long, "great"], [1, 1]))
    tokenized = fine_tune.tokenize(splits, tokenizer, max_length=8, reading=20)
    assert [len(ids) for ids in tokenized["train"]["input_ids"]] == [8, 3], "no padding: the collator pads batches"
    assert [len(ids) for ids in tokenized["validation"]["input_ids"]] == [20, 3]
    assert "text" not in tokenized["train"].column_names


def test_head_tail_reading_keeps_the_end_of_a_long_text(tokenizer):
    text = " ".join(["great"] * 30 + ["terrible"])
    splits = DatasetDict(train=split([text], [0]), validation=split([text], [0]))
    tokens = lambda mode: fine_tune.tokenize(splits, tokenizer, 8, mode)["validation"]["input_ids"][0]  # noqa: E731
    terrible = tokenizer.convert_tokens_to_ids(tokenizer.tokenize("terrible"))[0]
    assert terrible in tokens("head_tail") and terrible not in tokens("truncate")


def test_windows_are_averaged_into_their_texts_and_the_temperature_softens_them():
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [4.0, 0.0]])
    owners = np.array([0, 0, 1])
    averaged = fine_tune.text_probabilities(logits, owners, texts=2, temperature=None)
    assert averaged.shape == (2, 2) and np.allclose(averaged[0], [0.5, 0.5]), "text 0's two windows disagree evenly"
    assert np.allclose(averaged.sum(axis=1), 1)
    plain = fine_tune.text_probabilities(logits, None, 3, None)
    softened = fine_tune.text_probabilities(logits, None, 3, temperature=2.0)
    assert softened[2, 0] < plain[2, 0] and softened[2, 0] > 0.5
    assert np.allclose(softened, fine_tune.text_probabilities(logits / 2, None, 3, None))


def test_the_best_checkpoint_step_is_read_as_a_number(tmp_path):
    from types import SimpleNamespace

    trainer = lambda best: SimpleNamespace(state=SimpleNamespace(best_model_checkpoint=best))  # noqa: E731
    assert fine_tune._best_step(trainer(str(tmp_path / "checkpoint-120"))) == 120
    assert fine_tune._best_step(trainer(None)) is None


def test_a_finished_run_removes_every_checkpoint_and_keeps_its_model(tmp_path):
    for step in (9, 10, 100):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "optimizer.pt").write_bytes(b"state")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "checkpoints.md").write_text("the user's own notes")
    fine_tune._remove_checkpoints(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoints.md", "model.safetensors"]


def test_only_the_split_the_card_shows_keeps_its_example_texts():
    results = {
        "validation": {"label_examples": {"positive": ["a fine film"]}, "metrics": {}},
        "test": {"label_examples": {"positive": ["a secret test text"]}, "metrics": {}},
    }
    fine_tune.keep_shown_examples(results)
    assert results["validation"]["label_examples"] == {"positive": ["a fine film"]}
    assert "label_examples" not in results["test"], "the test split's texts stay out of the published facts"


def test_a_sampled_evaluation_split_keeps_texts_and_tokens_together_and_its_label_shares():
    from bert_sentiment.budget import stratified_sample

    labels = [0] * 300 + [1] * 100
    texts = [f"text {i}" for i in range(400)]
    data = PreparedData(
        splits=DatasetDict(train=split(texts, labels), validation=split(texts, labels)),
        label_names=["negative", "positive"],
        report={},
    )
    tokenized = DatasetDict(
        train=Dataset.from_dict({"input_ids": [[i] for i in range(400)], "label": labels}),
        validation=Dataset.from_dict({"input_ids": [[i] for i in range(400)], "label": labels}),
    )
    prepared = fine_tune.PreparedRun(data, {}, "en", "tiny", None, None, {}, tokenized)
    budget = AnalysisBudget(400, "false", 0, 400, 400, evaluated={"validation": (100, 400)})
    fine_tune.sample_evaluation_splits(prepared, budget, seed=1)
    validation = prepared.data.splits["validation"]
    assert len(validation) == 100 and sum(validation["label"]) == 25, "a quarter positive, as in the whole split"
    assert [int(t.split()[1]) for t in validation["text"]] == list(stratified_sample(labels, 100, 1)), "the seed's"
    assert [int(t.split()[1]) for t in validation["text"]] == [
        ids[0] for ids in prepared.tokenized["validation"]["input_ids"]
    ]
    assert len(prepared.data.splits["train"]) == 400, "training texts are never sampled here"


def test_calibration_says_why_it_was_skipped(caplog):
    from types import SimpleNamespace

    import torch

    caplog.set_level(logging.INFO)
    labels = np.array([0, 1] * 10)
    assert fine_tune.calibrate(None, np.zeros((20, 2)), labels, None, wanted=False) is None
    assert "Calibration off (--calibrate false)" in caplog.text
    assert fine_tune.calibrate(None, np.zeros((20, 2)), labels, None, wanted=True) is None
    assert caplog.messages[-1] == (
        "Calibration skipped: the validation split has 20 texts, fewer than the 50 a temperature needs."
    )
    pooled_only = torch.nn.Linear(4, 3)  # no layer with one output per label
    pooled_only.config = SimpleNamespace(num_labels=2)
    headless = SimpleNamespace(model=pooled_only)
    assert fine_tune.calibrate(headless, np.zeros((50, 2)), np.array([0, 1] * 25), None, wanted=True) is None
    assert caplog.messages[-1] == "Calibration skipped: the model has no single linear classifier head to scale."


def test_calibration_fits_on_as_few_as_fifty_texts_and_on_windows_averaged_per_text(untrained_evaluation, caplog):
    from bert_sentiment.calibration import fit_temperature

    _, trainer, *_ = untrained_evaluation("--calibrate", "false")
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 25)
    logits = rng.normal(size=(50, 2)) * 3 + np.eye(2)[labels]
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        fitted = fine_tune.calibrate(trainer, logits, labels, None, wanted=True)
    assert fitted == {
        "temperature": pytest.approx(fit_temperature(logits, labels, None)),
        "fitted_on": "validation",
        "texts": 50,
    }
    assert caplog.messages[-1] == (
        f"Calibrated the probabilities: temperature {fitted['temperature']:.3f}, fitted on 50 validation texts and "
        "folded into the classifier head (--calibrate false turns this off)."
    )
    windows = np.concatenate([logits, rng.normal(size=(50, 2)) * 3])  # each text read in two windows
    owners = np.concatenate([np.arange(50), np.arange(50)])
    _, trainer, *_ = untrained_evaluation("--calibrate", "false")
    fitted = fine_tune.calibrate(trainer, windows, labels, owners, wanted=True)
    assert fitted["temperature"] == pytest.approx(fit_temperature(windows, labels, owners))


def test_the_log_sets_each_score_beside_its_baselines(caplog):
    caplog.set_level(logging.INFO)
    results = {"validation": {"num_examples": 1234, "metrics": {"accuracy": 0.9, "f1": 0.89}}}
    baselines = {"validation": {"tf-idf + logistic regression": {"accuracy": 0.8, "f1": 0.79}}}
    fine_tune.log_comparison(results, baselines)
    assert caplog.messages == [
        "Results on validation (1,234 texts):\n"
        f"  {'':<28} accuracy        f1\n"
        f"  {'fine-tuned model':<28}   0.9000    0.8900\n"
        f"  {'tf-idf + logistic regression':<28}   0.8000    0.7900"
    ]


def test_a_searchs_chosen_batch_is_fitted_to_memory_like_the_one_asked_for(tiny_bert, tmp_path, monkeypatch, caplog):
    """The search may choose a larger batch than the plan fitted: on a CPU it is fitted again, at the longest text
    training reads, and the log says how; the rest of the search's choices reach the Trainer as chosen."""
    from types import SimpleNamespace

    from transformers import AutoConfig

    from bert_sentiment.arguments import parse_args
    from tests.test_plan import a_plan

    fitted = []

    def fit(batch, accumulation, config, parameters, longest, resume_from):
        fitted.append((batch, accumulation, config, parameters, longest, resume_from))
        return 8, accumulation * batch // 8, "8 texts at a time with 8 gradient accumulation steps"

    monkeypatch.setattr(fine_tune, "fit_batch_to_memory", fit)
    _, _, training_args = parse_args(["--output_dir", str(tmp_path), "--per_device_train_batch_size", "16"])
    plan = a_plan(resume_from="out/checkpoint-9")
    prepared = SimpleNamespace(
        config=AutoConfig.from_pretrained(tiny_bert), lengths={"max_length": 64, "splits": {"train": {"max": 300}}}
    )
    search = {"best": {"params": {"learning_rate": 3e-5, "per_device_train_batch_size": 64}}}
    with caplog.at_level(logging.WARNING):
        given = fine_tune.searched_arguments(plan, training_args, search, prepared)
    assert fitted == [(64, 1, prepared.config, plan.parameters, 64, "out/checkpoint-9")], "the chosen batch, at 64"
    assert (given.per_device_train_batch_size, given.gradient_accumulation_steps, given.learning_rate) == (8, 8, 3e-5)
    assert caplog.messages == [
        "Training batch for the search's choice: 8 texts at a time with 8 gradient accumulation steps."
    ]
    assert search["best"]["params"]["per_device_train_batch_size"] == 64, "the search's record is left as it was"

    fitted.clear()
    unchanged = {"best": {"params": {"learning_rate": 5e-5}}}
    monkeypatch.setattr(
        fine_tune, "fit_batch_to_memory", lambda batch, accumulation, *rest: (batch, accumulation, None)
    )
    caplog.clear()
    given = fine_tune.searched_arguments(plan, training_args, unchanged, prepared)
    assert given.per_device_train_batch_size == 16 and not caplog.messages, "the batch asked for, nothing to say"


def untrained_run_arguments(untrained_classifier, tmp_path, *flags):
    """The parsed arguments of a run of the untrained classifier on train, validation and test files of toy reviews,
    in fp32 (evaluation reads in fp32 after a bf16 training: with no training, say so here), plus `flags`."""
    from bert_sentiment.arguments import parse_args
    from tests.conftest import english_reviews, write_csv

    files = {
        "--train_file": write_csv(tmp_path / "train.csv", english_reviews(80)),
        "--validation_file": write_csv(tmp_path / "validation.csv", english_reviews(60, seed=5)),
        "--test_file": write_csv(tmp_path / "test.csv", english_reviews(40, seed=6)),
    }
    return parse_args(
        [
            *(str(part) for pair in files.items() for part in pair),
            *("--model_name_or_path", str(untrained_classifier), "--output_dir", str(tmp_path / "out")),
            *("--disable_tqdm", "true", "--report_to", "none", "--precision", "fp32"),
            *flags,
        ]
    )


@pytest.fixture
def untrained_evaluation(untrained_classifier, tmp_path):
    """A run's prepared data (train, validation, test files) and a Trainer over the untrained classifier: what
    evaluation reads and writes, without training. Returns a function of extra flags, which gives (prepared,
    trainer, training_args, model_args, data_args)."""
    from transformers import AutoModelForSequenceClassification

    from bert_sentiment.training import build_trainer

    def prepare(*flags):
        model_args, data_args, training_args = untrained_run_arguments(untrained_classifier, tmp_path, *flags)
        prepared = fine_tune.prepare_data(model_args, data_args, training_args)
        model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
        trainer, _ = build_trainer(model, prepared.tokenizer, prepared.tokenized, training_args)
        return prepared, trainer, training_args, model_args, data_args

    return prepare


def model_probabilities(model, tokenizer, texts):
    import torch

    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits
    return logits.numpy()


def test_evaluation_reports_each_split_from_the_calibrated_model_and_saves_the_temperature_in_its_weights(
    untrained_evaluation, tmp_path, caplog
):
    from transformers import AutoModelForSequenceClassification

    from bert_sentiment.evaluation import softmax

    prepared, trainer, training_args, *_ = untrained_evaluation()
    before = trainer.model.classifier.weight.detach().clone()
    raw = {
        split: model_probabilities(trainer.model, prepared.tokenizer, prepared.data.splits[split]["text"][:])
        for split in ("validation", "test")
    }
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        evaluated = fine_tune.evaluate(trainer, prepared, training_args)
    temperature = evaluated.calibration["temperature"]
    assert evaluated.calibration == {"temperature": temperature, "fitted_on": "validation", "texts": 60}
    assert temperature != pytest.approx(1.0)
    assert any(
        message.startswith(f"Calibrated the probabilities: temperature {temperature:.3f}")
        for message in caplog.messages
    )
    out = tmp_path / "out"
    saved = AutoModelForSequenceClassification.from_pretrained(out)
    np.testing.assert_allclose(saved.classifier.weight.detach().numpy(), before.numpy() / temperature, rtol=1e-5)
    for split, prefix in (("validation", "eval"), ("test", "test")):
        labels = np.asarray(prepared.data.splits[split]["label"][:])
        expected = softmax(raw[split] / temperature)
        np.testing.assert_allclose(evaluated.probabilities[split], expected, atol=1e-4)
        report = evaluated.results[split]
        assert report["metrics"]["accuracy"] == pytest.approx((expected.argmax(axis=1) == labels).mean())
        assert report["calibration"]["nll_after"] == pytest.approx(report["metrics"]["loss"])
        assert report["calibration"]["nll_before"] == pytest.approx(
            -np.log(softmax(raw[split])[np.arange(len(labels)), labels]).mean(), rel=1e-3
        )
        assert (out / f"reliability_{split}.png").is_file() and (out / f"{prefix}_results.json").is_file()
    assert evaluated.abstention["threshold"] is None and evaluated.abstention["reported_on"] == "test"


def test_without_calibration_the_probabilities_are_the_models_own(untrained_evaluation, tmp_path, caplog):
    from bert_sentiment.evaluation import softmax

    prepared, trainer, training_args, *_ = untrained_evaluation("--calibrate", "false")
    texts = prepared.data.splits["test"]["text"][:]
    expected = softmax(model_probabilities(trainer.model, prepared.tokenizer, texts))
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        evaluated = fine_tune.evaluate(trainer, prepared, training_args)
    assert evaluated.calibration is None and "calibration" not in evaluated.results["test"]
    assert "Calibration off (--calibrate false): probabilities are the model's own." in caplog.messages
    np.testing.assert_allclose(evaluated.probabilities["test"], expected, atol=1e-4)
    assert not list((tmp_path / "out").glob("reliability_*.png"))


def test_long_texts_read_in_windows_are_averaged_into_one_answer_a_text(untrained_evaluation):
    prepared, trainer, training_args, *_ = untrained_evaluation("--long_text", "chunks", "--calibrate", "false")
    results, probabilities, _ = fine_tune.evaluate_splits(
        trainer, prepared.data, prepared.tokenized, Path(training_args.output_dir), 8, "chunks"
    )
    assert probabilities["test"].shape == (40, 2) and np.allclose(probabilities["test"].sum(axis=1), 1.0)
    saved = json.loads((Path(training_args.output_dir) / "test_results.json").read_text())
    assert saved["test_windows"] > 40, "texts longer than 8 tokens read in several windows"


def test_a_target_precision_saves_its_threshold_with_the_model_and_draws_the_curve(untrained_evaluation, tmp_path):
    from transformers import AutoConfig

    prepared, trainer, *_ = untrained_evaluation("--calibrate", "false")
    validation = prepared.data.splits["validation"]
    answers = model_probabilities(trainer.model, prepared.tokenizer, validation["text"][:]).argmax(axis=1)
    accuracy = (answers == np.asarray(validation["label"][:])).mean()
    target = max(0.01, np.floor(accuracy * 100) / 100 - 0.01)  # reached by answering every text: a threshold exists
    prepared, trainer, training_args, *_ = untrained_evaluation(
        "--abstain_precision", str(target), "--calibrate", "false"
    )
    evaluated = fine_tune.evaluate(trainer, prepared, training_args)
    threshold = evaluated.abstention["threshold"]
    assert threshold is not None and evaluated.abstention["target"] == target
    config = AutoConfig.from_pretrained(tmp_path / "out")
    assert (config.abstain_threshold, config.abstain_precision) == (threshold, target), "travels with the model"
    assert (tmp_path / "out" / "precision_coverage.png").is_file()


def test_a_validation_split_too_small_for_a_threshold_says_so_and_answers_everything(caplog):
    from types import SimpleNamespace

    data = SimpleNamespace(splits={"validation": split(["a", "b"], [0, 1])})
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        assert fine_tune.choose_abstention(None, data, {"validation": np.eye(2)}, 0.9, Path(".")) is None
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.messages[-1] == (
        "'Not sure' thresholds skipped: the validation split has 2 texts, fewer than the 50 a threshold needs; every "
        "text is answered."
    )
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        fine_tune.choose_abstention(None, data, {"validation": np.eye(2)}, None, Path("."))
    assert caplog.records[-1].levelno == logging.INFO and caplog.messages[-1].endswith("a threshold needs.")


def a_training_result(**metrics):
    from transformers.trainer_utils import TrainOutput

    return TrainOutput(global_step=30, training_loss=0.6, metrics={"train_runtime": 12.5, **metrics})


def test_the_runs_model_is_the_trainers_saved_in_full_with_its_tokenizer_label_names_and_training_figures(
    untrained_evaluation, tmp_path
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    prepared, trainer, *_ = untrained_evaluation()
    out = tmp_path / "out"
    fine_tune.finalize(fine_tune.Trained(trainer, a_training_result(train_loss=0.61), None, None))
    saved = AutoModelForSequenceClassification.from_pretrained(out)
    assert saved.config.id2label == {0: "negative", 1: "positive"}
    for name, tensor in trainer.model.state_dict().items():
        np.testing.assert_array_equal(saved.state_dict()[name].numpy(), tensor.numpy(), err_msg=name)
    assert (out / "model.safetensors").is_file(), "safetensors, as pipeline() and the Hub prefer"
    text = prepared.data.splits["test"]["text"][0]
    assert AutoTokenizer.from_pretrained(out)(text)["input_ids"] == prepared.tokenizer(text)["input_ids"]
    assert json.loads((out / "train_results.json").read_text()) == {"train_runtime": 12.5, "train_loss": 0.61}


def test_full_precision_evaluation_turns_tf32_off_after_a_tf32_training():
    from types import SimpleNamespace

    import torch

    model = object()
    trainer = SimpleNamespace(args=SimpleNamespace(bf16=False, fp16=False, tf32=True), model=model)
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        fine_tune.full_precision_evaluation(trainer)
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert trainer.model is model, "a model trained without mixed precision is kept as it is"
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_the_run_record_keeps_the_trainers_figures_each_evaluation_and_each_score_beside_its_baselines(
    untrained_classifier, tmp_path
):
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification, TrainerState

    from bert_sentiment.arguments import parse_args

    _, _, training_args = parse_args(["--output_dir", str(tmp_path / "out"), "--precision", "fp32"])
    state = TrainerState(epoch=2.0, global_step=30, best_model_checkpoint=str(tmp_path / "out" / "checkpoint-20"))
    state.log_history = [
        {"loss": 0.7, "learning_rate": 1e-5, "epoch": 0.67, "step": 10},
        {"eval_loss": 0.6, "eval_accuracy": 0.7, "eval_f1": 0.69, "eval_runtime": 1.2, "epoch": 1.0, "step": 15},
        {"eval_loss": 0.5, "eval_accuracy": 0.8, "eval_f1": 0.79, "eval_runtime": 1.1, "epoch": 2.0, "step": 30},
    ]
    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier)
    trainer = SimpleNamespace(args=training_args, model=model, state=state)  # what the record reads of a Trainer
    results = {"validation": {"num_examples": 60, "metrics": {"accuracy": 0.8}}}
    baselines = {"validation": {"majority_class": {"accuracy": 0.5}}}
    record = fine_tune.run_record(trainer, a_training_result(), results, baselines, pooler="mean")
    training = record["training"]
    assert (training["train_runtime"], training["epochs_run"], training["global_steps"]) == (12.5, 2.0, 30)
    assert (training["processes"], training["best_checkpoint_step"], training["pooler"]) == (1, 20, "mean")
    assert training["evaluations"] == [
        {"eval_loss": 0.6, "eval_accuracy": 0.7, "eval_f1": 0.69, "epoch": 1.0, "step": 15},
        {"eval_loss": 0.5, "eval_accuracy": 0.8, "eval_f1": 0.79, "epoch": 2.0, "step": 30},
    ], "each evaluation during training, not the training losses"
    assert (training["precision"], training["precision_reason"]) == (
        training_args.precision_used,
        training_args.precision_reason,
    )
    assert "layer_learning_rates" not in training, "one learning rate: nothing to list"
    assert record["results"] == {
        "validation": {
            "num_examples": 60,
            "metrics": {"accuracy": 0.8},
            "baselines": {"majority_class": {"accuracy": 0.5}},
        }
    }
    assert record["hyperparameters"]["learning_rate"] == training_args.learning_rate
    assert record["hyperparameters"]["per_device_train_batch_size"] == training_args.per_device_train_batch_size
    assert set(record["environment"]) == {"versions", "hardware"} and record["environment"]["versions"]["torch"]
    assert "pooler" not in fine_tune.run_record(trainer, a_training_result(), results, baselines)["training"]


def test_after_evaluation_the_facts_set_each_score_beside_its_baselines_say_so_when_one_wins_and_name_no_path(
    untrained_evaluation, untrained_classifier, tmp_path, monkeypatch, caplog
):
    """The steps after evaluation on the untrained model: the baselines fitted on the same training texts and scored
    on the same splits, in the log and in the facts; a baseline the model does not beat said plainly, as a warning;
    the base model named by its folder's name, with no path anywhere in the facts; then run_facts.json and the card
    saved, every image the card shows in the folder, and the push made only when asked for."""
    import re
    from types import SimpleNamespace

    from bert_sentiment.card_text import baseline_warning
    from bert_sentiment.facts import RunFacts
    from bert_sentiment.phases import PhaseClock

    prepared, trainer, training_args, model_args, data_args = untrained_evaluation(
        "--find_label_issues", "fast", "--hub_model_id", "alice/reviews", "--license", "mit"
    )
    plan = plan_of(prepared, model_args, data_args, training_args)
    evaluated = fine_tune.evaluate(trainer, prepared, training_args)
    clock = PhaseClock()
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        facts = fine_tune.analyses(
            fine_tune.Trained(trainer, a_training_result(), None, None), prepared, plan, evaluated, model_args, clock
        )
    record = facts.to_dict()
    for split in ("validation", "test"):
        scores = record["results"][split]
        assert scores["metrics"]["accuracy"] == evaluated.results[split]["metrics"]["accuracy"]
        assert set(scores["baselines"]) == {"majority_class", "tfidf_logistic_regression"}
        assert scores["baselines"]["majority_class"]["accuracy"] == pytest.approx(0.5), "half the reviews positive"
        assert f"Results on {split} ({scores['num_examples']:,} texts):" in caplog.text
    assert set(clock.record) == {"baselines", "label issues"} and facts.label_issues is not None
    assert (tmp_path / "out" / "label_issues.jsonl").is_file()
    assert facts.calibration.temperature == evaluated.calibration["temperature"]
    assert facts.abstention.reported_on == evaluated.abstention["reported_on"] == "test"
    assert (record["base_model"], record["base_model_local"]) == (untrained_classifier.name, True)
    assert (record["language"], record["label_names"]) == ("en", ["negative", "positive"])
    assert record["plan"] == plan.facts() and facts.hp_search is None
    written = json.dumps(record)
    assert str(untrained_classifier.parent) not in written and str(tmp_path) not in written, "no path is published"
    warnings = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("bert_sentiment")
    ]
    verdict = facts.baseline_not_beaten()
    test = record["results"]["test"]
    assert verdict or test["metrics"]["accuracy"] >= test["baselines"]["tfidf_logistic_regression"]["accuracy"]
    reason = fine_tune.outclassed(facts)
    ranked_alone = f"Label issues: {reason}. Training texts are ranked by the cross-validated models alone, the other "
    assert warnings == ([f"{ranked_alone}splits not at all."] if reason else []) + (
        [baseline_warning(facts)] if verdict else []
    )
    if reason:  # the untrained model lost to TF-IDF by more than the split can blur: it ranks no split's labels
        assert set(facts.label_issues.counts) == {"train"} and facts.label_issues.eval_not_ranked == reason

    out = tmp_path / "out"
    pushed = []
    monkeypatch.setattr(fine_tune, "publish", lambda *call: pushed.append(call) or "https://hub.example/alice/x")
    fine_tune.save_run(out, facts, training_args, model_args, hub_target=None)
    assert RunFacts.load(out).to_dict() == record and not pushed
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "license: mit" in card and 'model="alice/reviews"' in card, "the card of the repo it is meant for"
    images = re.findall(r"[\w.]+\.png", card)
    assert "confusion_matrix_test.png" in images and all((out / image).is_file() for image in images), images
    target = SimpleNamespace(repo_id="alice/x")
    fine_tune.save_run(out, facts, training_args, model_args, hub_target=target)
    assert pushed == [(out, target, model_args.license)] and facts.published == "https://hub.example/alice/x"


@pytest.fixture
def training_replaced(monkeypatch, untrained_classifier):
    """fine_tune.train replaced by the untrained classifier in a Trainer that does not train, and a checkpoint left
    in the output folder as training leaves one: every other step of a run runs as it does after training. Set
    `.interrupted` to stop as Ctrl-C does; `.plans` holds the plan each run handed to training, `.given` the model
    arguments and callbacks."""
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification

    from bert_sentiment.training import build_trainer

    control = SimpleNamespace(interrupted=False, plans=[], given=[])

    def train(prepared, plan, model_args, training_args, callbacks, clock):
        control.plans.append(plan)
        control.given.append((model_args, callbacks))
        with clock("training"):
            model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
            trainer, _ = build_trainer(model, prepared.tokenizer, prepared.tokenized, training_args)
            (Path(training_args.output_dir) / "checkpoint-3").mkdir(parents=True)
        return fine_tune.Trained(trainer, None if control.interrupted else a_training_result(), None, None)

    monkeypatch.setattr(fine_tune, "train", train)
    return control


WITHOUT_LABEL_ISSUES_OR_EXPORT = ("--find_label_issues", "false", "--export_onnx", "false")  # the whole runs' flags


def test_a_run_saves_its_model_facts_and_card_times_each_step_and_only_then_removes_its_checkpoints(
    training_replaced, untrained_classifier, tmp_path, caplog
):
    from bert_sentiment.facts import RunFacts

    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        facts = fine_tune.fine_tune(
            *untrained_run_arguments(untrained_classifier, tmp_path, *WITHOUT_LABEL_ISSUES_OR_EXPORT)
        )
    (plan,) = training_replaced.plans
    assert plan.describe() in caplog.messages, "the plan is logged as one block before training"
    assert RunFacts.load(out).to_dict() == facts.to_dict() and facts.plan == plan.facts()
    assert set(facts.phases) == {"data", "training", "evaluation and calibration", "baselines"}
    rounding = 0.05 * (len(facts.phases) + 1)  # each figure is rounded to a tenth of a second
    assert facts.duration_seconds + rounding >= sum(phase.seconds for phase in facts.phases.values())
    assert facts.started.endswith("Z") or "+00:00" in facts.started, facts.started
    assert facts.calibration is not None and facts.onnx is None, "calibrated; no export asked for"
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert not (out / "checkpoint-3").exists(), "the run's files are saved: its checkpoints go"


def test_an_interrupted_run_keeps_its_checkpoint_for_resume_and_saves_no_facts(
    training_replaced, untrained_classifier, tmp_path
):
    training_replaced.interrupted = True
    assert (
        fine_tune.fine_tune(*untrained_run_arguments(untrained_classifier, tmp_path, *WITHOUT_LABEL_ISSUES_OR_EXPORT))
        is None
    )
    out = tmp_path / "out"
    assert (out / "checkpoint-3").is_dir(), "--resume continues from it"
    assert not (out / "run_facts.json").exists() and not (out / "README.md").exists()


def test_a_hub_base_model_is_named_as_given_and_a_local_folder_recording_a_relative_path_by_its_own_name(tmp_path):
    assert fine_tune.public_base_model("bert-base-uncased", None) == {"base_model": "bert-base-uncased"}
    folder = tmp_path / "my-encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "./my-encoder"}), encoding="utf-8")
    assert fine_tune.public_base_model(str(folder), None) == {"base_model": "my-encoder", "base_model_local": True}
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "google-bert/bert-base-uncased"}))
    assert fine_tune.public_base_model(str(folder), None) == {"base_model": "google-bert/bert-base-uncased"}
    assert fine_tune.public_base_model(str(folder), "alice/encoder") == {"base_model": "alice/encoder"}


def test_keeping_the_shown_examples_copes_with_splits_that_have_none():
    results = {"validation": {"metrics": {}}, "test": {"metrics": {}}}
    fine_tune.keep_shown_examples(results)
    assert results == {"validation": {"metrics": {}}, "test": {"metrics": {}}}
    results = {"validation": {"metrics": {}}, "test": {"label_examples": {"negative": ["dull"]}}}
    fine_tune.keep_shown_examples(results)
    assert results["test"]["label_examples"] == {"negative": ["dull"]}, "the only split with examples is the shown one"


def test_the_budget_sizes_each_evaluation_split_and_not_the_training_texts(untrained_evaluation):
    prepared, _, training_args, *_ = untrained_evaluation("--evaluation_sample", "30")
    budget = fine_tune.analysis_budget(prepared, training_args)
    assert budget.evaluated == {"validation": (30, 60), "test": (30, 40)}


def test_ties_in_length_keep_the_files_order():
    texts = [f"text {i}" for i in range(64)]
    splits = DatasetDict(validation=split(texts, [i % 2 for i in range(64)]))
    lengths = {"validation": np.array([1, 2] * 32)}
    ordered = fine_tune.sort_by_length(splits, lengths)["validation"]["text"]
    assert ordered == texts[1::2] + texts[0::2], "the longer half first, each half in the file's order"


def test_texts_are_cut_at_their_start_unless_asked_otherwise(tokenizer):
    text = " ".join(["great"] * 30 + ["terrible"])
    splits = DatasetDict(train=split([text], [0]), validation=split([text], [0]))
    tokenized = fine_tune.tokenize(splits, tokenizer, 8, reading=12)
    assert tokenized["validation"]["input_ids"][0] == tokenizer(text, truncation=True, max_length=12)["input_ids"]


def test_the_length_asked_for_is_kept_within_the_models_position_limit(tokenizer, tiny_bert):
    from transformers import AutoConfig

    from bert_sentiment.errors import UserError

    splits = DatasetDict(train=split(["a good film"] * 4, [0, 1, 0, 1]))
    lengths, by_split = fine_tune.measure_lengths(splits, tokenizer, AutoConfig.from_pretrained(tiny_bert), 16)
    assert (lengths["max_length"], lengths["max_length_reason"]) == (16, "--max_seq_length")
    assert list(by_split["train"]) == [len(tokenizer("a good film")["input_ids"])] * 4
    shorter = AutoConfig.from_pretrained(tiny_bert, max_position_embeddings=64)
    with pytest.raises(UserError, match="--max_seq_length 100 must be between 8 and the model's limit of 64"):
        fine_tune.measure_lengths(splits, tokenizer, shorter, 100)


def test_removing_checkpoints_says_where_the_model_is(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        fine_tune._remove_checkpoints(tmp_path)
    assert caplog.messages == [f"Removed intermediate checkpoints; the best model is in {tmp_path}"]


def test_a_threshold_is_chosen_from_fifty_validation_texts_and_a_target_out_of_reach_is_a_warning(caplog):
    from types import SimpleNamespace

    from bert_sentiment.abstain import describe

    labels = [0, 1] * 25
    data = SimpleNamespace(splits={"validation": split([f"text {i}" for i in range(50)], labels)})
    elsewhere = SimpleNamespace(is_world_process_zero=lambda: False)  # another process: nothing saved
    right = {"validation": np.eye(2)[labels] * 0.8 + 0.1}
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        report = fine_tune.choose_abstention(elsewhere, data, right, 0.9, Path("."))
    assert report["threshold"] is not None, "fifty texts are enough to choose from"
    assert (caplog.records[-1].levelno, caplog.messages[-1]) == (logging.INFO, describe(report))
    wrong = {"validation": np.eye(2)[[1 - label for label in labels]] * 0.8 + 0.1}
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        report = fine_tune.choose_abstention(elsewhere, data, wrong, 0.9, Path("."))
    assert report["threshold"] is None and "out of reach" in caplog.messages[-1]
    assert (caplog.records[-1].levelno, caplog.messages[-1]) == (logging.WARNING, describe(report))


def test_the_data_flags_reach_the_prepared_run(untrained_classifier, tmp_path):
    """The split seed carves the same validation split on every run; the training length and the reading length are
    the ones asked for, and the reading length is saved with the tokenizer, which every prediction follows."""
    from bert_sentiment.arguments import parse_args
    from tests.conftest import english_reviews, write_csv

    train = write_csv(tmp_path / "train.csv", english_reviews(100))

    def prepared(*flags):
        args = parse_args(
            ["--train_file", str(train), "--model_name_or_path", str(untrained_classifier)]
            + ["--output_dir", str(tmp_path / "out"), "--precision", "fp32", *flags]
        )
        return fine_tune.prepare_data(*args)

    first = prepared("--split_seed", "3", "--max_seq_length", "8", "--inference_max_length", "9")
    again = prepared("--split_seed", "3")
    other = prepared("--split_seed", "4")
    validation = sorted(first.data.splits["validation"]["text"])
    assert (
        validation == sorted(again.data.splits["validation"]["text"]) != sorted(other.data.splits["validation"]["text"])
    )
    assert (first.lengths["max_length"], first.lengths["inference_max_length"]) == (8, 9)
    assert first.tokenizer.model_max_length == 9 and again.tokenizer.model_max_length == 128
    assert max(len(ids) for ids in first.tokenized["train"]["input_ids"]) == 8
    assert max(len(ids) for ids in first.tokenized["validation"]["input_ids"]) == 9
    assert first.config.long_text == first.lengths["long_text"] == "truncate"
    for text, ids in zip(first.data.splits["validation"]["text"], first.tokenized["validation"]["input_ids"]):
        assert ids == first.tokenizer(text, truncation=True, max_length=9)["input_ids"], "each text's first tokens"


def test_the_model_limits_lengths_where_its_tokenizer_claims_more(untrained_classifier, tmp_path):
    import shutil

    from bert_sentiment.arguments import parse_args
    from bert_sentiment.errors import UserError
    from tests.conftest import english_reviews, write_csv

    model = shutil.copytree(untrained_classifier, tmp_path / "model")
    settings = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**settings, "model_max_length": 512}))
    train = write_csv(tmp_path / "train.csv", english_reviews(40))

    def prepared(*flags):
        args = parse_args(
            ["--train_file", str(train), "--model_name_or_path", str(model), "--output_dir", str(tmp_path / "out")]
            + ["--precision", "fp32", *flags]
        )
        return fine_tune.prepare_data(*args)

    assert prepared().lengths["inference_max_length"] == 128, "128 position embeddings, whatever the tokenizer says"
    with pytest.raises(UserError, match="--max_seq_length 200 must be between 8 and the model's limit of 128"):
        prepared("--max_seq_length", "200")


def test_each_splits_figures_are_saved_under_the_trainers_name_for_it(untrained_evaluation, tmp_path, capsys):
    prepared, trainer, training_args, *_ = untrained_evaluation("--calibrate", "false")
    _, _, metrics = fine_tune.predict_split(trainer, [], prepared.tokenized["test"], 128, "truncate", "test")
    assert "test_loss" in metrics and "test_accuracy" in metrics
    texts = prepared.data.splits["test"]["text"][:]
    _, owners, metrics = fine_tune.predict_split(trainer, texts, None, 8, "chunks", "test")
    assert metrics == {"test_windows": len(owners)} and len(owners) > len(texts)
    fine_tune.evaluate_splits(trainer, prepared.data, prepared.tokenized, tmp_path / "out", 128, "truncate")
    printed = capsys.readouterr().out
    assert "***** eval metrics *****" in printed and "***** test metrics *****" in printed
    saved = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert set(saved) >= {"eval_loss", "eval_accuracy", "eval_f1"}


def test_evaluation_reads_long_texts_in_windows_of_the_reading_length_when_asked(untrained_evaluation, tmp_path):
    prepared, trainer, training_args, *_ = untrained_evaluation("--long_text", "chunks", "--inference_max_length", "8")
    evaluated = fine_tune.evaluate(trainer, prepared, training_args)
    assert evaluated.calibration["texts"] == 60, "the temperature is fitted on texts, their windows averaged"
    saved = json.loads((tmp_path / "out" / "test_results.json").read_text())
    windows, _ = fine_tune.window_encodings(prepared.tokenizer, prepared.data.splits["test"]["text"][:], 8)
    assert saved["test_windows"] == len(windows["input_ids"]) > 40
    assert evaluated.probabilities["test"].shape == (40, 2)


def test_the_loss_reported_is_that_of_the_calibrated_probabilities(untrained_evaluation, tmp_path, monkeypatch):
    from bert_sentiment.calibration import negative_log_likelihood

    drawn = []
    monkeypatch.setattr(fine_tune, "plot_reliability", lambda *call: drawn.append(call))
    prepared, trainer, training_args, *_ = untrained_evaluation()
    results, probabilities, calibration = fine_tune.evaluate_splits(
        trainer, prepared.data, prepared.tokenized, tmp_path / "out", 128, "truncate", wants_calibration=True
    )
    temperature = calibration["temperature"]
    for split, prefix in (("validation", "eval"), ("test", "test")):
        labels = np.asarray(prepared.data.splits[split]["label"][:])
        loss = negative_log_likelihood(probabilities[split], labels)
        saved = json.loads((tmp_path / "out" / f"{prefix}_results.json").read_text())
        assert saved[f"{prefix}_loss"] == pytest.approx(loss) == results[split]["metrics"]["loss"]
    assert [(call[2], call[3], call[4].name) for call in drawn] == [
        (temperature, f"Reliability (validation, temperature {temperature:.2f})", "reliability_validation.png"),
        (temperature, f"Reliability (test, temperature {temperature:.2f})", "reliability_test.png"),
    ]
    for call, split in zip(drawn, ("validation", "test")):
        np.testing.assert_array_equal(call[1], prepared.data.splits[split]["label"][:])
        np.testing.assert_array_equal(call[0], probabilities[split])
    drawn.clear()
    _, _, calibration = fine_tune.evaluate_splits(
        trainer, prepared.data, prepared.tokenized, tmp_path / "out", 128, "truncate"
    )
    assert calibration is None and not drawn, "calibration is asked for, not assumed"


def test_after_a_bf16_training_the_figures_come_from_the_model_in_full_precision(untrained_classifier, tokenizer):
    """accelerate wraps a mixed-precision model's forward in autocast; evaluation drops the wrapper, so the reported
    figures are those of the fp32 weights a user downloads."""
    from types import SimpleNamespace

    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
    inputs = tokenizer(["a fine and moving film", "a dull plot"], padding=True, return_tensors="pt")
    with torch.no_grad():
        full = model(**inputs).logits
    AcceleratorState._reset_state()  # set up by earlier Trainers, in full precision
    try:
        wrapped = Accelerator(mixed_precision="bf16", cpu=True).prepare_model(model)
    finally:
        AcceleratorState._reset_state()  # the Trainers of later tests set up their own
    with torch.no_grad():
        assert not torch.equal(wrapped(**inputs).logits, full), "autocast reads in bf16"
    trainer = SimpleNamespace(args=SimpleNamespace(bf16=True, fp16=False, tf32=False), model=wrapped)
    fine_tune.full_precision_evaluation(trainer)
    with torch.no_grad():
        assert torch.equal(trainer.model(**inputs).logits, full)
    assert trainer.model_wrapped is trainer.model, "the Trainer predicts through model_wrapped"


def test_a_local_runs_card_loads_the_model_from_its_folder_and_the_log_says_where_the_card_is(
    untrained_evaluation, tmp_path, caplog
):
    from tests.conftest import facts_literal

    _, _, training_args, model_args, _ = untrained_evaluation()
    out = tmp_path / "out"
    facts = facts_literal()
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        fine_tune.save_run(out, facts, training_args, model_args, None)
    assert f'model="{out}"' in (out / "README.md").read_text(encoding="utf-8")
    assert f"Wrote the model card {out / 'README.md'}" in caplog.messages


def test_the_run_record_lists_each_layers_learning_rate_under_layer_wise_decay(untrained_classifier, tmp_path):
    from types import SimpleNamespace

    from transformers import AutoModelForSequenceClassification, TrainerState

    from bert_sentiment.arguments import parse_args
    from bert_sentiment.training import layer_lr_note

    flags = ["--output_dir", str(tmp_path), "--precision", "fp32", "--learning_rate", "4e-5", "--layer_lr_decay", "0.8"]
    _, _, training_args = parse_args(flags)
    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier)
    trainer = SimpleNamespace(args=training_args, model=model, state=TrainerState(epoch=1.0, global_step=3))
    record = fine_tune.run_record(trainer, a_training_result(), {}, {})
    assert record["training"]["layer_learning_rates"] == layer_lr_note(model, 4e-5, 0.8)
    assert "0.8 per layer down from the top: head and pooler 4e-05" in record["training"]["layer_learning_rates"]


def test_finalizing_prints_the_training_figures(untrained_evaluation, tmp_path, capsys):
    prepared, trainer, *_ = untrained_evaluation()
    fine_tune.finalize(fine_tune.Trained(trainer, a_training_result(), None, None))
    assert "***** train metrics *****" in capsys.readouterr().out


def planned_run(untrained_classifier, tmp_path, *flags):
    """(prepared, plan, model_args, training_args) of a run of the untrained classifier on the toy reviews."""
    model_args, data_args, training_args = untrained_run_arguments(untrained_classifier, tmp_path, *flags)
    prepared = fine_tune.prepare_data(model_args, data_args, training_args)
    return prepared, plan_of(prepared, model_args, data_args, training_args), model_args, training_args


def plan_of(prepared, model_args, data_args, training_args):
    """The plan a run makes of its prepared data and arguments, as fine_tune() makes it."""
    from bert_sentiment.plan import make_plan, preflight

    checked = preflight(data_args, training_args)
    return make_plan(training_args, model_args, checked, prepared, fine_tune.analysis_budget(prepared, training_args))


def step_counter(on_step=lambda step: None):
    """A user's callback: the steps it saw end, in order; `on_step(step)` called at each."""
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        seen = []

        def on_step_end(self, args, state, control, **kwargs):
            self.seen.append(state.global_step)
            on_step(state.global_step)

    return Steps()


@pytest.mark.few_steps
def test_training_starts_from_the_named_checkpoint_runs_the_planned_steps_and_calls_the_users_callbacks(
    untrained_classifier, tmp_path, caplog
):
    from transformers import AutoModelForSequenceClassification

    from bert_sentiment.phases import PhaseClock
    from bert_sentiment.training import MeasuredCosts

    prepared, plan, model_args, training_args = planned_run(untrained_classifier, tmp_path, "--max_steps", "3")
    clock, steps = PhaseClock(), step_counter()
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        trained = fine_tune.train(prepared, plan, model_args, training_args, [steps], clock)
    assert steps.seen == [1, 2, 3] and trained.result.global_step == trained.trainer.state.global_step == 3
    assert trained.result.metrics["train_runtime"] > 0 and trained.search is None
    assert trained.pooler.startswith("kept from the checkpoint, which never trained it")
    assert f"Pooler: {trained.pooler}." in caplog.messages
    assert set(clock.record) == {"model loading", "training"}
    assert any(isinstance(callback, MeasuredCosts) for callback in trained.trainer.callback_handler.callbacks)
    start = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).classifier.weight.detach()
    moved = (trained.trainer.model.classifier.weight.detach() - start).abs().max().item()
    assert 0 < moved < 10 * 3 * training_args.learning_rate, "three small steps from the checkpoint's weights"
    assert (
        trained.trainer.args.per_device_train_batch_size
        == plan.trainer_arguments(training_args).per_device_train_batch_size
    )


@pytest.mark.few_steps
def test_ctrl_c_during_training_saves_a_checkpoint_and_says_how_to_resume(untrained_classifier, tmp_path, caplog):
    import os
    import signal

    from bert_sentiment.phases import PhaseClock

    prepared, plan, model_args, training_args = planned_run(untrained_classifier, tmp_path, "--max_steps", "6")
    steps = step_counter(lambda step: step == 2 and os.kill(os.getpid(), signal.SIGINT))
    with caplog.at_level(logging.WARNING, logger="bert_sentiment"):
        trained = fine_tune.train(prepared, plan, model_args, training_args, [steps], PhaseClock())
    stopped = trained.trainer.state.global_step
    assert trained.result is None and stopped < 6
    out = tmp_path / "out"
    assert (out / f"checkpoint-{stopped}").is_dir()
    assert caplog.messages[-1] == (
        f"Stopped at step {stopped}; checkpoint saved in {out}. Continue with the same command plus --resume."
    )
    prepared, plan, model_args, training_args = planned_run(
        untrained_classifier, tmp_path, "--max_steps", "6", "--resume", "true"
    )
    steps = step_counter()
    trained = fine_tune.train(prepared, plan, model_args, training_args, [steps], PhaseClock())
    assert steps.seen == list(range(stopped + 1, 7)), "--resume goes on from the checkpoint's step"


@pytest.mark.few_steps
def test_a_search_chooses_the_final_trainings_values(untrained_classifier, tiny_bert, tmp_path, monkeypatch):
    from bert_sentiment import memory
    from bert_sentiment.phases import PhaseClock

    searched = []
    record = {"best": {"params": {"learning_rate": 3e-5}}, "trials": []}

    def search(checkpoint, config, model_args, tokenizer, tokenized, args, fit_batch):
        searched.append((checkpoint, config, model_args, tokenizer, tokenized, args, fit_batch))
        return record

    monkeypatch.setattr(fine_tune, "search_hyperparameters", search)
    prepared, plan, model_args, training_args = planned_run(  # a bare encoder: the head and its labels come new
        untrained_classifier,
        tmp_path,
        "--max_steps",
        "1",
        "--hp_search",
        "true",
        "--model_name_or_path",
        str(tiny_bert),
    )
    trained = fine_tune.train(prepared, plan, model_args, training_args, [], PhaseClock())
    ((checkpoint, config, given_model_args, tokenizer, tokenized, args, fit_batch),) = searched
    assert (checkpoint, config, given_model_args) == (prepared.checkpoint, prepared.config, model_args)
    assert args.max_steps == 1 and args.output_dir == training_args.output_dir, "the trials train as the run would"
    assert trained.trainer.model.config.id2label == {0: "negative", 1: "positive"}
    assert tokenizer is prepared.tokenizer and tokenized is prepared.tokenized
    assert fit_batch(8) == (8, 1), "eight texts fit this machine's memory"
    need = memory.training_memory(prepared.config, plan.parameters, 8, fine_tune.longest_training_text(prepared))
    monkeypatch.setattr(memory, "available_memory", lambda: 0.99 * need / memory.USABLE_SHARE)
    assert fit_batch(8) == (4, 2), "a trial's batch is fitted to the model's memory as the run's is"
    assert trained.search is record and trained.trainer.args.learning_rate == 3e-5


def test_a_run_on_data_in_memory_checks_its_onnx_export_and_publishes_where_preflight_said(
    training_replaced, untrained_classifier, tmp_path, monkeypatch, exported_once
):
    import dataclasses
    from types import SimpleNamespace

    from bert_sentiment.arguments import parse_args
    from bert_sentiment.data import InMemoryData
    from tests.conftest import english_reviews

    def dataset(rows):
        return Dataset.from_dict({"text": [text for text, _ in rows], "label": [label for _, label in rows]})

    data = InMemoryData(
        DatasetDict(
            train=dataset(english_reviews(80)),
            validation=dataset(english_reviews(60, seed=5)),
            test=dataset(english_reviews(40, seed=6)),
        )
    )
    target, pushed = SimpleNamespace(repo_id="alice/reviews"), []
    checked = fine_tune.preflight
    monkeypatch.setattr(
        fine_tune, "preflight", lambda *args, **kw: dataclasses.replace(checked(*args, **kw), hub_target=target)
    )
    monkeypatch.setattr(fine_tune, "publish", lambda out, where, license: pushed.append(where) or "https://hub/x")
    exports, export = [], fine_tune.try_export_onnx
    monkeypatch.setattr(fine_tune, "try_export_onnx", lambda *args, **kw: exports.append(kw) or export(*args, **kw))
    out = tmp_path / "out"
    model_args, data_args, training_args = parse_args(
        ["--model_name_or_path", str(untrained_classifier), "--output_dir", str(out), "--precision", "fp32"]
        + ["--disable_tqdm", "true", "--report_to", "none", "--find_label_issues", "false"]
    )
    callbacks = (object(),)
    monkeypatch.setattr(fine_tune, "time", SimpleNamespace(monotonic=iter([100.0, 112.345]).__next__))
    facts = fine_tune.fine_tune(model_args, data_args, training_args, callbacks, data=data)
    assert training_replaced.given == [(model_args, callbacks)]
    assert facts.data.source.kind == "memory" and facts.data.sizes["test"] == 40
    ((export_options,),) = [exports]
    assert export_options["expected"].shape == (60, 2), "checked against evaluation's probabilities of validation"
    assert "onnx export" in facts.phases
    assert facts.onnx.error.startswith("OnnxMismatch: per-channel int8"), "the untrained model's int8 disagrees"
    assert facts.onnx.files == [] and not (out / "onnx").exists(), "a graph that fails its check is not kept"
    assert pushed == [target] and facts.published == "https://hub/x"
    assert facts.duration_seconds == 12.3, "from the run's start to its files, to a tenth of a second"


def test_the_export_is_checked_against_evaluations_probabilities_only_when_it_read_texts_the_same_way(
    tmp_path, monkeypatch
):
    from types import SimpleNamespace

    calls = []
    monkeypatch.setattr(fine_tune, "try_export_onnx", lambda *args, **kw: calls.append((args, kw)) or {"files": []})
    prepared = SimpleNamespace(
        data=SimpleNamespace(splits={"validation": split(["a fine film", "a dull one"], [1, 0])}),
        lengths={"long_text": "truncate"},
    )
    probabilities = np.array([[0.2, 0.8], [0.9, 0.1]])
    fine_tune.export_checked_onnx(prepared, SimpleNamespace(output_dir=str(tmp_path), disable_tqdm=True), probabilities)
    prepared.lengths["long_text"] = "head_tail"
    fine_tune.export_checked_onnx(
        prepared, SimpleNamespace(output_dir=str(tmp_path), disable_tqdm=False), probabilities
    )
    (folder, texts), options = calls[0]
    assert (folder, texts) == (tmp_path, ["a fine film", "a dull one"])
    assert options["expected"] is probabilities and options["show_progress"] is False
    assert calls[1][1] == {"expected": None, "show_progress": True}, "head and tail read: PyTorch reads them again"


def test_the_analyses_follow_the_plans_budget_and_record_the_search_the_named_base_model_and_the_pooler(
    untrained_evaluation, monkeypatch
):
    from bert_sentiment.phases import PhaseClock

    baselines, scored, fitted = [], [], fine_tune.baseline_results
    monkeypatch.setattr(fine_tune, "baseline_results", lambda *call: baselines.append(call) or fitted(*call))
    summary = {"counts": {"train": 3}, "train_method": "m", "eval_method": "e"}
    monkeypatch.setattr(fine_tune, "score_label_issues", lambda *call: scored.append(call) or summary)
    prepared, trainer, training_args, model_args, data_args = untrained_evaluation(
        "--find_label_issues", "fast", "--base_model_id", "alice/encoder", "--seed", "7", "--disable_tqdm", "false"
    )
    plan = plan_of(prepared, model_args, data_args, training_args)
    evaluated = fine_tune.evaluate(trainer, prepared, training_args)
    search = {
        "metric": "eval_f1",
        "best": {"trial": 1, "value": 0.8, "params": {"learning_rate": 3e-5}},
        "trials": [{"state": "COMPLETE", "number": 1, "params": {"learning_rate": 3e-5}, "value": 0.8}],
        "space": {"learning_rate": "1e-5 to 5e-5"},
    }
    result = a_training_result()
    trained = fine_tune.Trained(trainer, result, search, "mean of the last layer's tokens")
    facts = fine_tune.analyses(trained, prepared, plan, evaluated, model_args, PhaseClock())
    assert baselines == [(prepared.data.splits, "en", 7, plan.analyses.baseline_sample, True)]
    ((*_, given_result, given_model_args, outclassed),) = scored
    assert given_result is result and given_model_args is model_args and outclassed == fine_tune.outclassed(facts)
    assert facts.label_issues.counts == {"train": 3}, "the summary kept in the facts"
    assert facts.hp_search.best.params == {"learning_rate": 3e-5} and facts.hp_search.metric == "eval_f1"
    assert facts.base_model == "alice/encoder" and not facts.base_model_local
    assert facts.training.pooler == "mean of the last layer's tokens"


def test_a_run_reads_the_evaluation_sample_its_budget_names(training_replaced, untrained_classifier, tmp_path):
    flags = ("--evaluation_sample", "30", *WITHOUT_LABEL_ISSUES_OR_EXPORT)
    facts = fine_tune.fine_tune(*untrained_run_arguments(untrained_classifier, tmp_path, *flags))
    assert (facts.data.evaluation_sample["validation"].evaluated, facts.data.evaluation_sample["validation"].of) == (
        30,
        60,
    )
    assert facts.results["validation"].num_examples == facts.results["test"].num_examples == 30


def test_a_model_that_tf_idf_beats_by_more_than_the_noise_is_not_asked_which_labels_are_wrong():
    """A try of a few steps that reads reviews worse than a bag of words: its disagreements with the labels say more
    about it than about them. A model that loses within the noise still judges them."""
    from types import SimpleNamespace

    from bert_sentiment.facts import NOISE_Z

    def facts(model: float, baseline: float, texts: int):
        noise = NOISE_Z * ((model * (1 - model) + baseline * (1 - baseline)) / texts) ** 0.5
        verdict = {"split": "validation", "model": model, "baseline": baseline, "gap": model - baseline}
        return SimpleNamespace(baseline_not_beaten=lambda: {**verdict, "noise": noise, "texts": texts})

    reason = fine_tune.outclassed(facts(0.5556, 0.8972, 2_500))
    assert reason == (
        "the fine-tuned model's validation accuracy (0.5556) is below the TF-IDF baseline's (0.8972) by more than "
        "2,500 texts can blur, so its disagreements with the labels say more about it than about them"
    )
    assert fine_tune.outclassed(facts(0.88, 0.89, 872)) is None, "within the noise of 872 texts"
    assert fine_tune.outclassed(SimpleNamespace(baseline_not_beaten=lambda: None)) is None, "the model wins"
