"""The steps after training sized to the training asked for: a short try on a big file stays short."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

import train
from bert_sentiment.arguments import parse_args
from bert_sentiment.budget import BASELINE_MAX_TEXTS, plan_analyses, sample_size, stratified_sample, trained_texts
from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, quick_training_flags, write_csv

MINILM = SimpleNamespace(num_hidden_layers=6, hidden_size=384)
BERT_BASE = SimpleNamespace(num_hidden_layers=12, hidden_size=768)


def args(max_steps=-1, epochs=3.0, mode="auto", sample="auto", batch=32, accumulation=1, evaluation="auto"):
    return SimpleNamespace(
        max_steps=max_steps,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        world_size=1,
        find_label_issues=mode,
        label_issue_sample=sample,
        evaluation_sample=evaluation,
    )


def test_a_five_step_try_on_a_million_texts_scores_a_sample_and_fits_the_baseline_on_one():
    budget = plan_analyses(args(max_steps=5), 900_000, [450_000, 450_000], 32, MINILM)
    assert budget.trained_texts == 160
    assert budget.label_issue_sample == 5_000, "the floor: what 20 s of MiniLM reads"
    assert budget.label_issues == "fast", "fold models would train far more than the run itself"
    assert budget.baseline_sample == BASELINE_MAX_TEXTS
    described = budget.describe()
    assert (
        "a stratified sample of 5,000 of 900,000 training texts, reading them twice costs about 2083% of the "
        "training (--label_issue_sample all"
    ) in described
    assert f"a stratified sample of {BASELINE_MAX_TEXTS:,} training texts" in described


def test_the_floor_follows_the_encoders_size_and_the_texts_length():
    assert plan_analyses(args(max_steps=5), 900_000, [450_000] * 2, 32, BERT_BASE).label_issue_sample == 625
    assert plan_analyses(args(max_steps=5), 900_000, [450_000] * 2, 320, MINILM).label_issue_sample == 500


def test_a_long_run_scores_one_text_in_fifteen_trained():
    budget = plan_analyses(args(epochs=2), 400_000, [200_000] * 2, 32, MINILM)
    assert budget.trained_texts == 800_000 and budget.label_issue_sample == 53_333
    assert (
        plan_analyses(args(max_steps=100, batch=16, accumulation=2), 400_000, [200_000] * 2, 32, MINILM).trained_texts
        == 3_200
    )


def test_a_small_run_scores_every_text_and_may_add_fold_models():
    budget = plan_analyses(args(epochs=3), 6_000, [3_000] * 2, 32, MINILM)
    assert budget.label_issue_sample == 6_000 and budget.baseline_sample == 6_000
    assert budget.label_issues == "auto", "three epochs: the fold models' one epoch is within the budget"
    assert (
        "on all 6,000 of 6,000 training texts, reading them twice costs about 22% of the training" in budget.describe()
    )
    assert "--label_issue_sample" not in budget.describe()
    assert plan_analyses(args(epochs=1), 6_000, [3_000] * 2, 32, MINILM).label_issues == "fast"
    assert plan_analyses(args(epochs=1), 12_000, [6_000] * 2, 32, MINILM).label_issue_sample == 5_000


def test_what_the_user_asked_for_runs_even_over_budget():
    budget = plan_analyses(args(max_steps=5, mode="thorough", sample="all"), 900_000, [450_000] * 2, 32, BERT_BASE)
    assert budget.label_issues == "thorough" and budget.label_issue_sample == 900_000
    assert (
        plan_analyses(args(max_steps=5, sample="25,000"), 900_000, [450_000] * 2, 32, MINILM).label_issue_sample
        == 25_000
    )


def test_a_sample_too_small_for_a_class_skips_label_issues_naming_the_numbers():
    budget = plan_analyses(args(max_steps=5), 1_000_000, [996_000, 4_000], 32, MINILM)
    assert budget.label_issues == "false"
    assert "a sample of 5,000 training texts holds only 20 of the rarest class, fewer than 50" in budget.describe()
    whole = plan_analyses(args(max_steps=5), 1_000, [990, 10], 32, MINILM)  # no sample: every text, as before
    assert whole.label_issues == "fast" and whole.label_issue_sample == 1_000


@pytest.mark.parametrize("value", ["some", "0", "-5", "1.5"])
def test_a_sample_size_that_is_not_a_number_is_refused_with_the_choices(value):
    with pytest.raises(UserError, match=f"--label_issue_sample '{value}' is not one of 'auto'.*'all', or a number"):
        sample_size(value)
    with pytest.raises(UserError, match=f"--evaluation_sample '{value}' is not one of 'auto'.*'all', or a number"):
        parse_args(["--train_file", "reviews.csv", "--evaluation_sample", value])


@pytest.mark.parametrize("value, number", [("1", 1), ("20,000", 20_000), ("1_000", 1_000), (" 500 ", 500)])
def test_a_sample_size_is_any_whole_number_from_one_written_as_people_write_it(value, number):
    assert sample_size(value) == number


def test_the_texts_trained_count_every_step_of_every_process():
    one_step = args(max_steps=1, batch=16, accumulation=2)
    assert trained_texts(one_step, 1_000_000) == 32, "one step: a batch of 16, twice"
    assert trained_texts(SimpleNamespace(**{**vars(one_step), "world_size": 2}), 1_000_000) == 64, "two processes"
    assert trained_texts(args(epochs=1.5), 1_000) == 1_500, "no --max_steps: the epochs"


def test_a_class_of_two_texts_keeps_its_share_and_a_class_of_one_still_gets_a_sample():
    pair = np.array([0] * 98 + [1] * 2)
    assert all((pair[stratified_sample(pair, 50, seed)] == 1).sum() == 1 for seed in range(10)), "half of two: one"
    lone = np.array([0] * 99 + [1])
    rows = stratified_sample(lone, 50, seed=0)
    assert len(rows) == 50 and len(set(rows)) == 50, "a class of one text cannot be split: a plain random sample"


def test_a_short_try_reads_a_sample_of_each_evaluation_split_and_a_real_run_reads_them_whole():
    sizes = {"validation": 5_000, "test": 25_000}
    short = plan_analyses(args(max_steps=5), 100_000, [50_000] * 2, 32, BERT_BASE, sizes)
    assert short.evaluated == {"validation": (2_000, 5_000), "test": (2_000, 25_000)}, "the floor: 2,000 texts"
    assert short.sample_facts()["evaluation_sample"]["test"] == {"evaluated": 2_000, "of": 25_000}
    assert (
        "evaluation: validation read on a stratified sample of 2,000 of its 5,000 texts, a short run's share, "
        "costing about 417% of the training per reading (--evaluation_sample all reads every one)"
    ) in short.describe()
    longer = plan_analyses(args(max_steps=100), 100_000, [50_000] * 2, 32, BERT_BASE, sizes)
    assert longer.evaluated == {"validation": (5_000, 5_000), "test": (9_600, 25_000)}, "3 passes x 3,200 trained"
    assert "validation read" not in longer.describe()
    assert "evaluation: all 5,000 validation texts, costing about 52% of the training per reading" in longer.describe()
    epochs = plan_analyses(args(epochs=1), 100_000, [50_000] * 2, 32, BERT_BASE, sizes)
    assert epochs.evaluated == {"validation": (5_000, 5_000), "test": (25_000, 25_000)}
    assert "evaluation_sample" not in epochs.sample_facts()
    near_floor = plan_analyses(args(max_steps=5), 100_000, [50_000] * 2, 32, BERT_BASE, {"validation": 3_999})
    assert near_floor.evaluated == {"validation": (3_999, 3_999)}, "a sample of half the split or more: all of it"
    asked = plan_analyses(args(max_steps=5, evaluation="all"), 100_000, [50_000] * 2, 32, BERT_BASE, sizes)
    assert asked.evaluated == {"validation": (5_000, 5_000), "test": (25_000, 25_000)}
    number = plan_analyses(args(epochs=3, evaluation="3000"), 100_000, [50_000] * 2, 32, BERT_BASE, sizes)
    assert number.evaluated == {"validation": (3_000, 5_000), "test": (3_000, 25_000)}


def test_a_stratified_sample_keeps_each_class_share_and_is_the_same_for_a_seed():
    labels = np.array([0] * 900 + [1] * 100)
    rows = stratified_sample(labels, 200, seed=1)
    assert len(rows) == 200 and len(set(rows)) == 200 and np.all(np.diff(rows) > 0)
    assert (labels[rows] == 1).sum() == 20
    assert np.array_equal(rows, stratified_sample(labels, 200, seed=1))
    assert np.array_equal(stratified_sample(labels, 1_000, seed=1), np.arange(1_000))


def test_a_run_scores_the_sample_it_was_given_and_says_so(tiny_bert, tmp_path, caplog):
    caplog.set_level("INFO")
    data = write_csv(tmp_path / "reviews.csv", english_reviews(400, seed=4))
    out = tmp_path / "out"
    flags = [
        "--train_file",
        data,
        *quick_training_flags(tiny_bert, out),
        "--label_issue_sample",
        "120",
        "--evaluation_sample",
        "25",
    ]
    assert train.main([str(f) for f in flags]) == 0
    facts = json.loads((out / "run_facts.json").read_text())
    assert facts["label_issues"]["train_sample"] == {"scored": 120, "of": 360}
    assert "Read 120 training texts with the base encoder" in caplog.text
    assert "Read 120 training texts with the fine-tuned model itself" in caplog.text
    assert "label issues: fast models, and fold models if they fit, on a stratified sample of 120 of 360" in caplog.text
    issues = [json.loads(line) for line in (out / "label_issues.jsonl").read_text().splitlines()]
    assert facts["label_issues"]["counts"]["train"] == sum(i["split"] == "train" for i in issues) <= 120
    card = " ".join((out / "README.md").read_text().split())
    assert "Training texts were scored on a stratified sample of 120 of 360" in card
    validation = facts["results"]["validation"]
    assert validation["num_examples"] == 25 and facts["data"]["sizes"]["validation"] == 40
    assert facts["data"]["evaluation_sample"] == {"validation": {"evaluated": 25, "of": 40}}
    assert "its validation figures were measured on a stratified sample of 25 of the 40 validation texts" in card
    assert "evaluation: validation read on a stratified sample of 25 of its 40 texts" in caplog.text
    assert {"training", "evaluation and calibration", "baselines", "label issues"} <= set(facts["phases"])
    assert all(entry["seconds"] >= 0 and entry["peak_memory_gb"] > 0 for entry in facts["phases"].values())


def test_measured_speed_turns_each_step_into_seconds():
    from bert_sentiment.budget import AnalysisBudget

    budget = AnalysisBudget(
        160, "fast", 3_000, 100_000, 100_000, evaluated={"validation": (2_000, 5_000), "test": (3_000, 3_000)}
    )
    # 100 training texts a second: a reading pass runs at 300 texts a second; label issues read their texts twice.
    assert budget.seconds(100.0) == pytest.approx(
        {"validation reading": 2000 / 300, "test reading": 10, "label issues": 20}
    )
    thorough = AnalysisBudget(160, "thorough", 3_000, 100_000, 100_000)
    assert thorough.seconds(100.0) == pytest.approx({"label issues": 20 + 30}), "fold models train about one epoch"
    line = budget.describe_seconds(100.0, training_left=750)
    assert line == (
        "Measured 100.0 training texts a second: training about 12.5 min more; then validation reading about 7 s, "
        "test reading about 10 s, label issues about 20 s."
    )
    # Timed on the validation pass within training: 600 texts a second in bf16, 200 in fp32 (evaluation's precision).
    assert budget.seconds(100.0, reading=(600.0, 200.0)) == pytest.approx(
        {"validation reading": 10, "test reading": 15, "label issues": 10}
    )
    assert "validation reading about 10 s, test reading about 15 s, label issues about 10 s" in budget.describe_seconds(
        100.0, 750, (600.0, 200.0)
    )
    # Said once the evaluation after a training without validation passes has read the validation split.
    assert budget.describe_seconds(100.0, 0, (600.0, 200.0), validation_seconds=73.0) == (
        "Measured 100.0 training texts a second; validation read in 73 s; then test reading about 15 s, label issues "
        "about 10 s."
    )
    off = AnalysisBudget(160, "false", 0, 100, 100)
    assert off.describe_seconds(10.0, training_left=4 * 3600) == (
        "Measured 10.0 training texts a second: training about 4.0 h more."
    )


def test_the_log_block_says_each_steps_mode_and_sample_with_the_flag_for_the_whole():
    from bert_sentiment.budget import AnalysisBudget

    sampled = AnalysisBudget(
        10_000, "auto", 3_000, 20_000, 1_000_000, evaluated={"validation": (2_000, 5_000), "test": (3_000, 3_000)}
    )
    assert sampled.describe() == "\n".join(
        [
            "Steps after training (the training reads about 10,000 texts):",
            "  label issues: fast models, and fold models if they fit, on a stratified sample of 3,000 of 1,000,000 "
            "training texts, reading them twice costs about 20% of the training (--label_issue_sample all scores "
            "every one)",
            "  TF-IDF baseline: fitted on a stratified sample of 20,000 training texts",
            "  evaluation: validation read on a stratified sample of 2,000 of its 5,000 texts, a short run's share, "
            "costing about 7% of the training per reading (--evaluation_sample all reads every one)",
            "  evaluation: all 3,000 test texts, costing about 10% of the training per reading",
        ]
    )
    whole = AnalysisBudget(3_000, "thorough", 1_000, 1_000, 1_000).describe().splitlines()
    assert whole[1:] == [
        "  label issues: thorough, on all 1,000 of 1,000 training texts, reading them twice costs about 22% of the "
        "training",
        "  TF-IDF baseline: fitted on all 1,000 training texts",
    ]
    assert AnalysisBudget(0, "fast", 10, 10, 10).describe().splitlines()[1].endswith("costs about 667% of the training")
    off = AnalysisBudget(3_000, "false", 0, 1_000, 1_000)
    assert off.describe().splitlines()[1] == "  label issues: off"
    skipped = AnalysisBudget(3_000, "false", 0, 1_000, 1_000, skipped_why="a class has 1 text in the sample")
    assert skipped.describe().splitlines()[1] == "  label issues: off (a class has 1 text in the sample)"


def test_the_measured_speed_line_names_the_fold_models_only_when_they_may_run():
    from bert_sentiment.budget import AnalysisBudget

    auto = AnalysisBudget(160, "auto", 300, 300, 300).describe_seconds(100.0, training_left=60)
    assert auto.endswith("label issues about 2 s (and fold models for label issues if they fit).")
    assert AnalysisBudget(160, "fast", 300, 300, 300).describe_seconds(100.0, 60).endswith("label issues about 2 s.")


def test_the_facts_name_the_samples_and_only_the_samples():
    from bert_sentiment.budget import AnalysisBudget

    sampled = AnalysisBudget(
        160, "fast", 100, 400, 1_000, evaluated={"validation": (200, 500), "test": (300, 300)}
    ).sample_facts()
    assert sampled == {
        "baseline_sample": {"fitted_on": 400, "of": 1_000},
        "evaluation_sample": {"validation": {"evaluated": 200, "of": 500}},
    }
    whole = AnalysisBudget(160, "fast", 100, 1_000, 1_000, evaluated={"validation": (500, 500)})
    assert whole.sample_facts() == {}


@pytest.mark.parametrize(
    "seconds, words",
    [
        (0, "0 s"),
        (89.4, "89 s"),
        (90, "1.5 min"),
        (750, "12.5 min"),
        (5_399, "90.0 min"),
        (5_400, "1.5 h"),
        (4 * 3600, "4.0 h"),
    ],
)
def test_times_are_said_in_seconds_minutes_or_hours_at_their_limits(seconds, words):
    from bert_sentiment.budget import in_words

    assert in_words(seconds) == words
