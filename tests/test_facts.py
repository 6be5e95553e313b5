"""A run's facts: what they conclude on their own, before any card is written."""

import json

import pytest

from bert_sentiment.card_text import baseline_warning
from bert_sentiment.facts import SplitResult, parse
from bert_sentiment.model_card import render_card
from tests.conftest import facts_literal, split_report

EXAMPLES = {"negative": "dull", "positive": "superb"}


def with_test(accuracy, tfidf, size):
    facts = facts_literal()
    facts.results["test"] = parse(SplitResult, split_report(accuracy, accuracy - 0.01, size, EXAMPLES, tfidf, 0.5))
    return facts


@pytest.mark.parametrize(
    ("accuracy", "tfidf", "size", "beaten"),
    [
        (0.7919, 0.7929, 3_000, True),  # the issue's run: the bag of words is ahead
        (0.8000, 0.7900, 3_000, True),  # one point ahead on 3,000 texts: within +-2.05 points of noise
        (0.8500, 0.7900, 3_000, False),  # six points ahead: beyond the noise
        (0.8500, 0.7900, 100, True),  # the same gap on 100 texts: noise
    ],
)
def test_the_baseline_counts_as_not_beaten_when_ahead_or_within_the_noise(accuracy, tfidf, size, beaten):
    verdict = with_test(accuracy, tfidf, size).baseline_not_beaten()
    assert (verdict is not None) == beaten
    if beaten:
        assert verdict["split"] == "test" and verdict["texts"] == size
        assert verdict["gap"] == pytest.approx(accuracy - tfidf)


def test_the_noise_is_the_95_percent_spread_of_two_accuracies_on_the_split():
    verdict = with_test(0.7919, 0.7929, 3_000).baseline_not_beaten()
    assert verdict["noise"] == pytest.approx(1.96 * ((0.7919 * 0.2081 + 0.7929 * 0.2071) / 3_000) ** 0.5)


def test_the_headline_split_decides_and_a_run_without_baselines_says_nothing():
    facts = with_test(0.95, 0.80, 3_000)
    facts.results["validation"] = parse(
        SplitResult, split_report(0.70, 0.69, 3_000, EXAMPLES, tfidf=0.80, majority=0.5)
    )
    assert facts.baseline_not_beaten() is None, "test is the headline: validation's loss does not count"
    del facts.results["test"]
    assert facts.baseline_not_beaten()["split"] == "validation"
    facts.results["validation"].baselines = {}
    assert facts.baseline_not_beaten() is None


def test_a_card_says_in_words_when_the_baseline_wins_with_the_gap_and_what_helps():
    facts = with_test(0.7919, 0.7929, 3_000)
    sentence = baseline_warning(facts)
    assert sentence.startswith(
        "The fine-tuned model does not beat the TF-IDF + logistic regression baseline on the "
        "test split: accuracy 0.7919 against 0.7929, a gap of -0.10 points"
    )
    assert "3,000 texts cannot tell apart differences within ±2.05 points" in sentence
    assert sentence.endswith(
        "What usually helps: more training (this run trained 84 steps, 6 epochs), more or "
        "cleaner data, or another base model."
    )
    assert f"**{sentence}**" in render_card(facts, "alice/sst2-bert").text
    ahead = baseline_warning(with_test(0.80, 0.79, 3_000))
    assert "is not clearly better than" in ahead and "a gap of +1.00 points" in ahead
    assert "More test texts would tell them apart; if the gap stays small: more training" in ahead
    clear = with_test(0.90, 0.79, 3_000)
    assert baseline_warning(clear) is None and "baseline on the" not in render_card(clear, "alice/sst2-bert").text


def test_an_older_run_file_is_migrated_to_the_typed_facts_and_saved_as_the_new_schema(tmp_path):
    import json

    from bert_sentiment.facts import SCHEMA_VERSION, RunFacts
    from tests.conftest import facts_values

    older = facts_values(schema_version=2)
    older["data"]["validation_from_train_percent"] = older["data"].pop("validation_from_train")["percent"]
    for key in ("inference_max_length", "inference_max_length_reason", "long_text"):
        older["lengths"].pop(key)
    (tmp_path / "run_facts.json").write_text(json.dumps(older))
    facts = RunFacts.load(tmp_path)
    assert facts.lengths.inference_max_length == facts.lengths.max_length == 16, "older runs read max_length"
    assert facts.lengths.long_text == "truncate" and facts.data.validation_from_train.percent == 10.0
    assert facts.data.validation_from_train.texts is None, "a share alone stays a share: no count is made up"
    assert facts.results["test"].metrics["accuracy"] == 0.775 and facts.environment.hardware.cpu_count == 2
    negative = older["results"]["test"]["per_class"]["negative"]
    assert facts.results["test"].per_class["negative"].f1 == negative["f1-score"], "sklearn's f1-score, renamed"
    assert facts.results["test"].per_class["negative"].support == 20 and negative["support"] == 20.0
    facts.save(tmp_path)
    saved = json.loads((tmp_path / "run_facts.json").read_text())
    assert saved["schema_version"] == SCHEMA_VERSION and "validation_from_train_percent" not in saved["data"]
    assert RunFacts.load(tmp_path) == facts


def test_every_file_the_facts_name_is_in_the_run_folder(trained_run):
    from bert_sentiment.facts import RunFacts

    facts = RunFacts.load(trained_run)
    named = [*facts.onnx.files, *([facts.label_issues.file] if facts.label_issues else [])]
    assert named, "the run exported ONNX files"
    for name in named:
        assert (trained_run / name).is_file(), name


def test_facts_with_unset_values_inside_their_parts_load_back_as_saved(tmp_path):
    from bert_sentiment.facts import RunFacts
    from tests.conftest import facts_values

    out_of_reach = {"threshold": None, "precision": 0.85, "coverage": 1.0, "answered": 24}  # no test figures then
    coverage_only = {
        "target": None,
        "threshold": None,
        "reported_on": "test",
        "targets": {"0.9": {"threshold": None, "validation": out_of_reach}},
    }
    facts = RunFacts.from_dict(facts_values(abstention=coverage_only, calibration=None))
    facts.save(tmp_path)
    assert RunFacts.load(tmp_path) == facts and facts.abstention.threshold is None
    assert facts.abstention.targets["0.9"].test is None and facts.abstention.targets["0.9"].validation.threshold is None


def test_step_numbers_stay_whole_numbers_in_the_saved_facts():
    from bert_sentiment.facts import TrainingFacts, parse, plain

    training = parse(TrainingFacts, {"evaluations": [{"epoch": 1.0, "step": 70, "eval_loss": 0.5}], "global_steps": 84})
    assert plain(training)["evaluations"] == [{"epoch": 1.0, "step": 70, "eval_loss": 0.5}]
    assert isinstance(plain(training)["evaluations"][0]["step"], int), "a step reads 70 in run_facts.json, not 70.0"


def test_a_missing_or_damaged_facts_file_says_what_to_do(tmp_path):
    from bert_sentiment.errors import UserError
    from bert_sentiment.facts import RunFacts

    with pytest.raises(UserError) as error:
        RunFacts.load(tmp_path)
    assert str(error.value) == f"'{tmp_path}' holds no finished run (run_facts.json is missing). Train first."
    (tmp_path / "run_facts.json").write_text('{"base_model": "bert-base-uncased", "lang', encoding="utf-8")
    with pytest.raises(UserError) as error:
        RunFacts.load(tmp_path / "run_facts.json")  # the file itself, named directly
    assert str(error.value).startswith(f"{tmp_path / 'run_facts.json'} is damaged (Unterminated string")
    assert str(error.value).endswith(
        "): it was cut off or edited by hand. Run the training again, or restore the file."
    )


def test_facts_from_a_newer_version_ask_for_an_upgrade():
    from bert_sentiment.errors import UserError
    from bert_sentiment.facts import SCHEMA_VERSION, RunFacts
    from tests.conftest import facts_values

    with pytest.raises(UserError) as error:
        RunFacts.from_dict(facts_values(schema_version=SCHEMA_VERSION + 1), source="out/run_facts.json")
    assert str(error.value) == (
        f"out/run_facts.json was written by a newer bert-sentiment (facts schema {SCHEMA_VERSION + 1}, this one "
        f"reads up to {SCHEMA_VERSION}). Upgrade: pip install -U bert-sentiment."
    )
    values = facts_values(schema_version=2)
    values["data"]["validation_from_train_percent"] = values["data"].pop("validation_from_train")["percent"]
    before = json.dumps(values)
    RunFacts.from_dict(values)
    assert json.dumps(values) == before, "migrating leaves the caller's mapping as it was"


def test_the_facts_file_is_indented_utf8_with_paths_as_text_and_ends_with_a_newline(tmp_path, caplog):
    import logging

    from bert_sentiment.facts import write_json

    caplog.set_level(logging.INFO, logger="bert_sentiment")
    write_json(tmp_path / "facts.json", {"label": "好评", "folder": tmp_path / "out"})
    assert (tmp_path / "facts.json").read_text(encoding="utf-8") == (
        f'{{\n  "label": "好评",\n  "folder": "{tmp_path / "out"}"\n}}\n'
    )
    assert caplog.messages == [f"Wrote {tmp_path / 'facts.json'}"]


def test_the_environment_names_this_cpu_its_cores_libraries_and_a_gpu_when_there_is_one(monkeypatch):
    import os
    import platform
    from importlib.metadata import version

    import torch

    from bert_sentiment import facts

    cpuinfo = open("/proc/cpuinfo", encoding="utf-8").read()
    name = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert facts.hardware() == {
        "cpu": name,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H200 #{index}")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert facts.hardware() | {"cpu": name} == {
        "cpu": name,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "gpu": "NVIDIA H200 #0",
        "gpu_count": 2,
    }
    monkeypatch.setattr(facts, "LIBRARIES", ("no-such-library", "torch"))
    assert facts.library_versions() == {"python": platform.python_version(), "torch": version("torch")}


def test_a_cpu_without_a_model_name_line_is_named_by_the_platform(monkeypatch, tmp_path):
    import platform

    from bert_sentiment import facts

    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n")
    monkeypatch.setattr(facts, "Path", lambda _: arm)
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert facts._cpu_name() == "aarch64"
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    assert facts._cpu_name() == "arm"
    arm.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14: 96-Core \n")
    assert facts._cpu_name() == "AMD EPYC 9R14: 96-Core", "split at the first colon only"
    monkeypatch.setattr(facts, "Path", lambda _: tmp_path / "none")
    assert facts._cpu_name() == "arm", "no /proc/cpuinfo (macOS, Windows)"


def test_hyperparameters_keep_plain_values_and_write_others_as_text_and_nothing_else():
    from bert_sentiment.facts import HYPERPARAMETERS, hyperparameters

    class Arguments:
        def __init__(self, **values):
            self.__dict__ |= {name: None for name in HYPERPARAMETERS} | values

    recorded = hyperparameters(Arguments(learning_rate=3e-5, seed=7, bf16=True, optim="adamw_torch", hub_token="hf_x"))
    assert list(recorded) == list(HYPERPARAMETERS), "the listed settings, never a token or a path"
    assert recorded["learning_rate"] == 3e-5 and recorded["seed"] == 7 and recorded["bf16"] is True
    assert recorded["optim"] == "adamw_torch" and recorded["warmup_steps"] is None
    assert hyperparameters(Arguments(early_stopping_patience=[2, 3]))["early_stopping_patience"] == "[2, 3]"


def test_the_run_time_is_utc_to_the_second():
    from datetime import datetime, timezone

    from bert_sentiment.facts import utc_now

    stamp = utc_now()
    assert stamp.endswith("+00:00") and "." not in stamp
    assert abs((datetime.fromisoformat(stamp) - datetime.now(timezone.utc)).total_seconds()) < 5


def test_an_older_runs_own_inference_length_is_kept_and_a_baseline_of_unknown_name_keeps_its_own():
    from bert_sentiment.facts import RunFacts
    from tests.conftest import facts_values

    older = facts_values(schema_version=2)
    older["lengths"] |= {"max_length": 16, "inference_max_length": 256, "inference_max_length_reason": "pinned"}
    facts = RunFacts.from_dict(older)
    assert facts.lengths.inference_max_length == 256 and facts.lengths.inference_max_length_reason == "pinned"
    facts.results["test"].baselines["random_guess"] = {"accuracy": 0.5}
    assert list(facts.metric_rows("test")) == [
        "this model",
        "majority class",
        "TF-IDF + logistic regression",
        "random_guess",
    ]
