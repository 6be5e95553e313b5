"""card_text's helpers on their own: names for data, durations, hardware and the long-text sentences."""

import pytest

from bert_sentiment.abstain import PRECISION_COVERAGE_IMAGE
from bert_sentiment.card_text import (
    _abstention_section,
    _data_notes,
    _duration,
    _hardware,
    _long_text_limitation,
    _long_text_note,
    baseline_warning,
    dataset_identity,
)
from bert_sentiment.facts import Hardware, RunFacts, Source, parse
from tests.conftest import facts_values


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
    for name, named in (("Xbox reviews.csv", "Xbox-reviews"), ("(((.csv", "local-data")):
        only = parse(Source, {"kind": "files", "files": {"train": {"name": name, "sha256": "a" * 64}}})
        assert dataset_identity(only)["type"] == named, "a name the Hub accepts, or a plain one when nothing is left"


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


def abstention(target=0.95, threshold=0.8123456, reported_on="test") -> RunFacts:
    """A run's facts whose 'not sure' report has a target met, one out of reach and one beside them."""

    def answered(precision, coverage, answered):
        return {"precision": precision, "coverage": coverage, "answered": answered}

    test = reported_on is not None
    return parse(
        RunFacts,
        facts_values(
            abstention={
                "targets": {
                    "0.9": {
                        "validation": answered(0.9012, 0.9512, 39),
                        "threshold": 0.61234,
                        "test": answered(0.8947, 0.95, 38) if test else None,
                    },
                    "0.95": {
                        "validation": answered(0.9524, 0.8293, 34),
                        "threshold": 0.8123456,
                        "test": answered(0.9394, 0.825, 33) if test else None,
                    },
                    "0.99": {
                        "validation": answered(float("nan"), 0.0, 0),
                        "threshold": None,
                        "test": answered(float("nan"), 0.0, 0) if test else None,
                    },
                },  # fmt: skip
                "target": target,
                "threshold": threshold,
                "reported_on": reported_on,
            }
        ),
    )


def test_the_abstention_section_gives_each_targets_threshold_and_both_splits_figures(tmp_path):
    (tmp_path / PRECISION_COVERAGE_IMAGE).write_bytes(b"png")
    section = _abstention_section(abstention(), tmp_path)
    assert section == {
        "threshold": "0.8123",
        "target": "0.95",
        "held_out": "test",
        "rows": [
            {"target": "0.9", "threshold": "0.6123", "validation": "0.901, 95.1%", "test": "0.895, 95.0%"},
            {"target": "0.95 (chosen)", "threshold": "0.8123", "validation": "0.952, 82.9%", "test": "0.939, 82.5%"},
            {"target": "0.99", "threshold": "out of reach", "validation": "nan, 0.0%", "test": "nan, 0.0%"},
        ],
        "image": PRECISION_COVERAGE_IMAGE,
    }


def test_without_a_target_or_a_held_out_split_the_section_reports_coverage_only(tmp_path):
    section = _abstention_section(abstention(target=None, threshold=None, reported_on=None), tmp_path)
    assert section["threshold"] is None and section["target"] is None and section["held_out"] is None
    assert [row["target"] for row in section["rows"]] == ["0.9", "0.95", "0.99"], "no row marked chosen"
    assert {row["test"] for row in section["rows"]} == {"–"}, "no held-out figures without a held-out split"
    assert section["image"] is None, "no picture in the folder: none linked"
    assert _abstention_section(abstention(), None)["image"] is None, "no folder: no picture"
    assert _abstention_section(parse(RunFacts, facts_values()), tmp_path) is None, "no report: no section"
    out_of_reach = _abstention_section(abstention(target=0.99, threshold=None), tmp_path)
    assert out_of_reach["threshold"] is None and out_of_reach["target"] == "0.99"
    assert out_of_reach["rows"][2]["target"] == "0.99 (chosen)"


def test_the_data_notes_say_every_adjustment_made_to_the_data_with_its_figures():
    values = facts_values()
    values["data"] |= {
        "validation_from_train": {"percent": 10.0, "texts": 1_204},
        "baseline_sample": {"fitted_on": 50_000, "of": 1_000_000},
        "label_corrections": {
            "file": "fixed.xlsx",
            "sha256": "0123456789abcdef" + "f" * 48,
            "corrected": 1_250,
            "per_split": {"train": 1_200, "validation": 0, "test": 50},
            "added": 2_000,
            "left_out": {"train": 1_100, "test": 4},
        },
        "evaluation_sample": {"validation": {"evaluated": 2_000, "of": 120_000}},
        "dropped": {"train": 1_500, "test": 2},
        "cross_split_duplicates": {"validation": 0, "test": 3, "dropped_from_train": True},
    }
    assert _data_notes(parse(RunFacts, values).data) == [
        "The validation split is a stratified 10% (1,204 texts) of the training data, held out before tokenization.",
        "The TF-IDF baseline was fitted on a stratified sample of 50,000 of the 1,000,000 training texts.",
        "1,250 labels were corrected by hand (1,200 in train, 50 in test) from `fixed.xlsx` (SHA-256 "
        "0123456789abcdef), and 2,000 texts were added to training with the labels given there.",
        "1,104 texts were left out of the data (1,100 in train, 4 in test): that file marks them `(leave out)`, as "
        "no label fits.",
        "A short run: its validation figures were measured on a stratified sample of 2,000 of the 120,000 "
        "validation texts.",
        "1,502 rows with an empty text or a missing label were removed.",
        "3 training texts also occur in test; they were removed from training.",
    ]
    values["data"] |= {
        "validation_from_train": {"percent": 12.5},  # a run that recorded only the share
        "label_corrections": {
            "file": "fixed.csv",
            "sha256": "ab" * 32,
            "corrected": 0,
            "per_split": {"train": 0},
            "left_out": {"train": 1},
        },
        "cross_split_duplicates": {"test": 3},
    }
    del values["data"]["baseline_sample"], values["data"]["evaluation_sample"]
    assert _data_notes(parse(RunFacts, values).data) == [
        "The validation split is a stratified 12.5% of the training data, held out before tokenization.",
        "0 labels were corrected by hand from `fixed.csv` (SHA-256 abababababababab).",
        "1 text was left out of the data (1 in train): that file marks it `(leave out)`, as no label fits.",
        "1,502 rows with an empty text or a missing label were removed.",
        "3 training texts also occur in test; scores on that split may overstate generalisation.",
    ]


def test_the_baseline_warning_says_does_not_beat_at_a_gap_of_zero_and_names_the_training_when_known():
    def warning(model, tfidf, steps=84, epochs=6.0):
        values = facts_values()
        values["results"]["test"]["metrics"]["accuracy"] = model
        values["results"]["test"]["baselines"]["tfidf_logistic_regression"]["accuracy"] = tfidf
        values["training"] |= {"global_steps": steps, "epochs_run": epochs}
        return baseline_warning(parse(RunFacts, values))

    tie = warning(0.775, 0.775)
    assert tie.startswith("The fine-tuned model does not beat the TF-IDF + logistic regression baseline on the test")
    assert tie.endswith(
        "What usually helps: more training (this run trained 84 steps, 6 epochs), more or cleaner data, or another "
        "base model."
    )
    close = warning(0.80, 0.775)
    assert "is not clearly better than" in close and "More test texts would tell them apart" in close
    assert warning(0.775, 0.80, steps=0).endswith(
        "What usually helps: more training, more or cleaner data, or another base model."
    ), "no steps recorded: no figures said"
    assert "(this run trained" not in warning(0.775, 0.80, epochs=0.0)
    assert warning(0.95, 0.60) is None, "a clear win needs no warning"


def test_the_card_names_the_label_issue_sample_a_chinese_example_the_not_sure_facts_and_a_local_base_model(
    tmp_path,
):
    from bert_sentiment.card_text import _label_issues_note, _usage_example, template_variables

    values = facts_values(
        label_issues={
            "counts": {"train": 120, "test": 4},
            "train_method": "cross-validated models",
            "eval_method": "the fine-tuned model",
            "train_sample": {"scored": 20_000, "of": 1_000_000},
        }
    )
    note = _label_issues_note(parse(RunFacts, values).label_issues)
    assert "120 of the train examples, 4 of the test examples. Training texts were scored on a stratified " in note
    assert "sample of 20,000 of 1,000,000, so the training count is of that sample. The ranked list" in note
    del values["label_issues"]["train_sample"]
    assert "sample" not in _label_issues_note(parse(RunFacts, values).label_issues)
    values["label_issues"] |= {"counts": {"train": 120}, "eval_not_ranked": "the fine-tuned model lost to TF-IDF"}
    assert _label_issues_note(parse(RunFacts, values).label_issues) == (
        "Likely label errors in the data (confident learning with cleanlab; for training texts, cross-validated "
        "models): 120 of the train examples. The other splits were not ranked: the fine-tuned model lost to TF-IDF. "
        "The ranked list stays with the training run (it holds the texts)."
    ), "a model that lost to TF-IDF judges no split's labels, and the card says why"

    chinese = facts_values(language="zh")
    for report in chinese["results"].values():
        report["label_examples"] = {}
    assert _usage_example(parse(RunFacts, chinese)) == "这家店的菜很好吃", "a Chinese model is shown a Chinese text"
    english = facts_values()
    for report in english["results"].values():
        report["label_examples"] = {}
    assert _usage_example(parse(RunFacts, english)) == "I really enjoyed this."

    variables = template_variables(abstention(), "user/repo", tmp_path)
    assert variables["abstention"]["target"] == "0.95", "the card's 'not sure' section has its facts"
    (tmp_path / PRECISION_COVERAGE_IMAGE).write_bytes(b"png")
    assert template_variables(abstention(), "user/repo", tmp_path)["abstention"]["image"] == PRECISION_COVERAGE_IMAGE
    local = template_variables(
        parse(RunFacts, facts_values(base_model="tiny-bert", base_model_local=True)), "u/r", None
    )
    assert local["base_model"] == "`tiny-bert` (a local model)", "a local base model is named, never linked"
    pooled = facts_values()
    pooled["training"]["pooler"] = "trained with the head"
    assert template_variables(parse(RunFacts, pooled), "user/repo", None)["pooler"] == "trained with the head"


def test_the_precision_is_named_with_its_reason_and_no_empty_parentheses():
    from bert_sentiment.card_text import _precision
    from bert_sentiment.facts import TrainingFacts

    training = parse(RunFacts, facts_values()).training
    assert _precision(TrainingFacts(**{**vars(training), "precision": "fp32", "precision_reason": ""})) == "fp32"
    assert (
        _precision(TrainingFacts(**{**vars(training), "precision": "bf16", "precision_reason": "the CPU has AMX"}))
        == "bf16 (the CPU has AMX)"
    )


def test_the_seeds_section_gives_each_splits_spread_of_the_four_scores():
    from bert_sentiment.card_text import _seeds_section
    from bert_sentiment.facts import Seeds

    spread = {"mean": 0.9, "std": 0.01, "min": 0.89, "max": 0.91}
    seeds = parse(
        Seeds,
        {
            "count": 3,
            "seeds": [1, 2, 3],
            "metric_for_best_model": "f1",
            "best_seed": 2,
            "splits": {"test": {m: spread for m in ("accuracy", "precision", "recall", "f1", "loss")}},
        },
    )
    section = _seeds_section(seeds)
    assert [row["metric"] for row in section["rows"]] == ["accuracy", "precision", "recall", "f1"], "not the loss"
    assert section["list"] == "1, 2, 3" and section["best"] == 2 and section["rows"][0]["std"] == "0.0100"
