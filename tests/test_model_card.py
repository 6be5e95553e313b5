"""The model card, rendered from a run's facts (a literal here: no training needed)."""

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from bert_sentiment.facts import OnnxFacts, RunFacts
from bert_sentiment.model_card import card_data, eval_results, render_card, write_card
from tests.conftest import facts_literal, facts_values

REPO = "alice/sst2-bert"


def test_a_card_written_without_a_licence_named_is_apache_2_as_train_py_defaults(tmp_path):
    facts_literal().save(tmp_path)
    assert ModelCard.load(write_card(tmp_path, REPO)).data.to_dict()["license"] == "apache-2.0"


def test_metadata_parses_back_with_each_splits_own_figures(tmp_path):
    facts = facts_literal()
    for report in facts.results.values():  # loss (kept for --seeds to choose by) is not a score the Hub lists
        report.metrics = {"loss": 0.41, **report.metrics, "accuracy": 0.912345}
    facts.save(tmp_path)
    (tmp_path / "confusion_matrix_test.png").write_bytes(b"\x89PNG")
    card = ModelCard.load(write_card(tmp_path, REPO, license="mit"))
    data = card.data.to_dict()
    assert data["language"] == "en" and data["license"] == "mit", "the licence the user chose"
    assert f'pipeline("text-classification", model="{REPO}")' in card.text
    assert "confusion_matrix_test.png" in card.text, "the run's own pictures beside it are shown"
    assert data["pipeline_tag"] == "text-classification" and data["library_name"] == "transformers"
    assert [w["example_title"] for w in data["widget"]] == ["negative", "positive"]
    assert data["widget"][1]["text"] == "the acting was superb and delightful"

    parsed = {(r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
    expected = {
        (split, metric): round(value, 4)
        for split, report in facts.results.items()
        for metric, value in report.metrics.items()
        if metric != "loss"
    }
    assert parsed == expected, "every figure under the split it was measured on"
    assert {metric for _, metric in parsed} == {"accuracy", "precision", "recall", "f1"}
    assert {r.dataset_type for r in card.data.eval_results} == {"reviews"}


def table_row(text: str, heading: str, name: str) -> list[str]:
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in row.strip("|").split("|")][1:]


def test_each_split_table_shows_that_splits_model_and_baseline_figures():
    facts = facts_literal()
    text = render_card(facts, REPO).text
    for split, heading in (("validation", "### Validation (24 texts)"), ("test", "### Test (40 texts)")):
        report = facts.results[split]
        assert table_row(text, heading, "**this model**") == [
            f"{report.metrics[k]:.4f}" for k in ("accuracy", "precision", "recall", "f1")
        ]
        tfidf = report.baselines["tfidf_logistic_regression"]
        assert table_row(text, heading, "TF-IDF + logistic regression") == [
            f"{tfidf[k]:.4f}" for k in ("accuracy", "precision", "recall", "f1")
        ]
        assert table_row(text, heading, "majority class")[0] == f"{report.baselines['majority_class']['accuracy']:.4f}"
    assert (
        "On the test split it reaches **0.7750 accuracy** and **0.7619 F1**, against 0.6500 accuracy for TF-IDF" in text
    )


def test_card_text_has_the_usage_snippet_data_and_no_placeholders():
    text = render_card(facts_literal(), REPO).text
    assert f'pipeline("text-classification", model="{REPO}")' in text
    assert "`negative`, `positive`" in text
    assert "reviews.csv" in text and "a1a1a1a1a1a1a1a1" in text
    assert "(a local model)" in text and "huggingface.co//" not in text
    assert "2 rows with an empty text or a missing label were removed" in text
    assert "1 training texts also occur in test" in text
    for placeholder in ("More information needed", "None", "{{", "[]"):
        assert placeholder not in text, placeholder


def test_hub_dataset_and_hub_base_model_appear_in_metadata():
    values = facts_values(base_model="google-bert/bert-base-uncased")
    values["data"]["source"] = {
        "kind": "hub",
        "dataset_name": "glue",
        "config": "sst2",
        "revision": None,
        "commit": "abc123",
    }
    facts = RunFacts.from_dict(values)
    data = card_data(facts, REPO, "mit").to_dict()
    assert data["base_model"] == "google-bert/bert-base-uncased"
    assert data["datasets"] == ["glue"] and data["license"] == "mit"
    result = eval_results(facts)[0]
    assert (result.dataset_type, result.dataset_config, result.dataset_revision) == ("glue", "sst2", "abc123")
    text = render_card(facts, REPO).text
    assert "[glue](https://huggingface.co/datasets/glue) (config `sst2`) at commit `abc123`" in text
    assert "![Confusion matrix" not in text  # no image was given: the line is left out


def test_in_memory_data_is_named_and_hashed():
    values = facts_values()
    values["data"]["source"] = {
        "kind": "memory",
        "name": "my reviews",
        "files": {"train": {"name": "my reviews (train)", "sha256": "c3" * 32}},
    }
    text = render_card(RunFacts.from_dict(values), REPO).text
    assert "`my reviews`" in text and "c3c3c3c3c3c3c3c3" in text and "SHA-256 of the rows" in text


def test_chinese_card_says_chinese():
    values = facts_values(language="zh", label_names=["差评", "好评"])
    for report in values["results"].values():
        report["label_examples"] = {"差评": "菜品难吃，服务冷漠", "好评": "房间干净，前台热情"}
        report["per_class"] = {"差评": report["per_class"]["negative"], "好评": report["per_class"]["positive"]}
    card = render_card(RunFacts.from_dict(values), REPO)
    assert card.data.to_dict()["language"] == "zh"
    assert card.data.to_dict()["widget"][0] == {"text": "菜品难吃，服务冷漠", "example_title": "差评"}
    assert "Chinese texts" in card.text and "`差评`, `好评`" in card.text


@pytest.mark.parametrize(
    "margin, compared, sentence",
    [
        (None, None, "and int8 gives PyTorch's label on 92.9% of them."),  # runs before the margin was recorded
        (
            0.2,
            13,
            "and int8 gives PyTorch's label on 92.9% of the 13 that PyTorch decides by at least 0.2 in probability "
            "(near-ties may flip).",
        ),
        (
            0.2,
            0,
            "and int8's labels were not compared, as PyTorch decides none of these texts by 0.2 in probability or more",
        ),
    ],
)
def test_the_onnx_check_says_which_texts_int8_labels_were_compared_on(margin, compared, sentence):
    facts = facts_literal()
    facts.onnx = OnnxFacts(
        files=["onnx/model.onnx", "onnx/model_quantized.onnx"],
        texts=14,
        fp32_max_difference=3e-05,
        int8_label_agreement=13 / 14,
        int8_max_difference=0.01,
        label_margin=margin,
        labels_compared=compared,
    )
    text = " ".join(render_card(facts, REPO).text.split())
    assert sentence in text
    assert "of the 0 " not in text


def test_facts_round_trip_and_refuse_a_newer_schema(tmp_path):
    facts = facts_literal()
    path = facts.save(tmp_path)
    assert RunFacts.load(tmp_path) == facts
    assert (
        facts.headline_split == "test" and facts.metric_rows("test")["TF-IDF + logistic regression"]["accuracy"] == 0.65
    )
    older = json.loads(path.read_text())
    older.pop("schema_version")
    assert RunFacts.from_dict(older) == facts, "files written before the schema version still load"
    newer = json.loads(path.read_text()) | {"schema_version": 99}
    path.write_text(json.dumps(newer))
    with pytest.raises(Exception, match="newer bert-sentiment.*pip install -U"):
        RunFacts.load(tmp_path)


GOLDEN = Path(__file__).parent / "golden"


def three_class_chinese_facts():
    """A run with every optional part: Hub data, three classes, seeds, search, calibration, ONNX, label issues,
    head+tail reading, bf16 on two GPUs, duplicates dropped from training."""
    names = ["差评", "中评", "好评"]

    def report(accuracy, size):
        per_class = {
            name: {
                "precision": accuracy - 0.01 * i,
                "recall": accuracy + 0.02 * i,
                "f1": accuracy + 0.005 * i,
                "support": size // 3 + i,
            }
            for i, name in enumerate(names)
        }
        return {
            "metrics": {
                "accuracy": accuracy,
                "precision": accuracy - 0.031,
                "recall": accuracy - 0.042,
                "f1": accuracy - 0.053,
                "precision_weighted": accuracy - 0.011,
                "recall_weighted": accuracy,
                "f1_weighted": accuracy - 0.007,
            },
            "label_examples": {
                "差评": "等了两个小时，饭都凉了",
                "中评": "还行吧，一般般",
                "好评": "服务热情，下次还来",
            },
            "per_class": per_class,
            "confusion_matrix": {"labels": names, "matrix": [[30, 3, 1], [4, 25, 5], [1, 2, 31]]},
            "num_examples": size,
            "baselines": {
                "majority_class": {"accuracy": 0.3404, "precision": 0.1135, "recall": 0.3333, "f1": 0.1693},
                "tfidf_logistic_regression": {
                    "accuracy": accuracy - 0.1234,
                    "precision": 0.6011,
                    "recall": 0.6022,
                    "f1": 0.6033,
                },
            },
            "calibration": {
                "ece_before": 0.0912 + accuracy / 100,
                "ece_after": 0.0213,
                "nll_before": 0.6543,
                "nll_after": 0.4321,
            },
        }

    seeds = {
        "count": 3,
        "seeds": [42, 43, 44],
        "best_seed": 43,
        "metric_for_best_model": "f1",
        "splits": {
            "test": {
                "accuracy": {"mean": 0.8123, "std": 0.0111, "min": 0.8001, "max": 0.8234},
                "f1": {"mean": 0.7891, "std": 0.0222, "min": 0.7666, "max": 0.8101},
                "eval_loss": {"mean": 0.5, "std": 0.1, "min": 0.4, "max": 0.6},
            }
        },
    }
    search = {
        "metric": "eval_f1",
        "best": {"trial": 2, "value": 0.8055},
        "trials": [{"state": "COMPLETE"}, {"state": "PRUNED"}, {"state": "COMPLETE"}, {"state": "COMPLETE"}],
        "space": {"learning_rate": "log-uniform 1e-5 to 1e-4", "num_train_epochs": "2, 3 or 4"},
    }
    return facts_literal(
        base_model="google-bert/bert-base-chinese",
        language="zh",
        label_names=names,
        data={
            "source": {
                "kind": "hub",
                "dataset_name": "someone/hotel-reviews",
                "config": "three",
                "revision": "main",
                "commit": "0123abcd",
            },
            "text_columns": ["review", "title"],
            "label_column": "stars",
            "labels_from": "the dataset's ClassLabel names",
            "dropped": {"train": 0},
            "cross_split_duplicates": {"validation": 7, "test": 5, "dropped_from_train": True},
            "sizes": {"test": 102, "train": 900, "validation": 101},
            "label_counts": {
                "train": {"差评": 300, "中评": 250, "好评": 350},
                "validation": {"差评": 34, "中评": 33, "好评": 34},
                "test": {"差评": 34, "中评": 34, "好评": 34},
            },
        },
        lengths={
            "max_length": 128,
            "max_length_reason": "99th percentile of training token lengths (121), rounded up to 8",
            "inference_max_length": 512,
            "inference_max_length_reason": "the model's position limit: whole texts are read up to 512 tokens",
            "long_text": "head_tail",
            "splits": {
                "train": {"p50": 60, "p90": 100, "p95": 110, "p99": 121, "max": 700, "truncated": 9},
                "test": {"p50": 61, "p90": 99, "p95": 111, "p99": 130, "max": 650, "truncated": 2},
            },
        },
        hyperparameters={
            "learning_rate": 3e-05,
            "num_train_epochs": 3.0,
            "per_device_train_batch_size": 32,
            "seed": 43,
            "warmup_steps": 0.1,
            "lr_scheduler_type": "linear",
            "optim": "adamw_torch_fused",
            "bf16": True,
            "fp16": False,
            "metric_for_best_model": "f1",
            "class_weighting": "balanced",
            "early_stopping_patience": 2,
        },
        training={
            "train_runtime": 4000.0,
            "train_loss": 0.4123,
            "epochs_run": 2.0,
            "global_steps": 58,
            "processes": 2,
            "best_checkpoint_step": 29,
            "precision": "bf16",
            "precision_reason": "the GPU supports bf16",
            "layer_learning_rates": "0.85 per layer down from the top: head and pooler 8e-05, encoder layers "
            "6.8e-05 (top) to 1.14e-05 (bottom), embeddings 9.72e-06",
        },
        results={"validation": report(0.8218, 101), "test": report(0.8039, 102)},
        environment={
            "versions": {"python": "3.11.7", "torch": "2.13.0"},
            "hardware": {"gpu": "NVIDIA H100", "gpu_count": 2, "cpu": "Test CPU", "cpu_count": 16},
        },
        seeds=seeds,
        hp_search=search,
        calibration={"temperature": 1.4321, "fitted_on": "validation", "texts": 101},
        label_issues={
            "file": "label_issues.jsonl",
            "counts": {"train": 37, "validation": 4, "test": 2},
            "train_method": "the fine-tuned model itself, weighing as much as 5-fold cross-validated TF-IDF + "
            "logistic regression",
            "eval_method": "the fine-tuned model",
        },
        onnx={
            "files": ["onnx/model.onnx", "onnx/model_quantized.onnx"],
            "checked_on": "validation texts",
            "texts": 1000,
            "fp32_texts": 200,
            "fp32_max_difference": 2.1e-06,
            "int8_label_agreement": 0.9901,
            "int8_max_difference": 0.0312,
            "int8_recipe": "per-channel int8, every linear layer",
            "int8_size_share": 0.262,
        },
    )


def chunked_older_run_facts():
    """An older English run (schema 2: no reading length saved, no precision recorded, the validation split's share
    alone) read in windows, on in-memory data, validation only, with no ONNX files and no baselines: read through
    the migration, as RunFacts.load reads such a file."""
    values = facts_values(schema_version=2)
    values["data"]["source"] = {
        "kind": "memory",
        "name": "my reviews",
        "files": {"train": {"name": "my reviews (train)", "sha256": "c3" * 32}},
    }
    values["data"]["validation_from_train_percent"] = values["data"].pop("validation_from_train")["percent"]
    values["data"]["cross_split_duplicates"] = {}
    values["data"]["dropped"] = {}
    values["lengths"] = {
        "max_length": 256,
        "max_length_reason": "--max_seq_length 256",
        "long_text": "chunks",
        "splits": {"train": {"p50": 200, "p90": 400, "p95": 500, "p99": 900, "max": 2000, "truncated": 0}},
    }
    values["results"] = {
        "validation": {key: value for key, value in values["results"]["validation"].items() if key != "baselines"}
    }
    values["training"] = {"train_runtime": 59.9, "epochs_run": 1.0}
    values["onnx"] = {"files": [], "reason": "the exporter failed: unsupported operator"}
    return RunFacts.from_dict(values)


def french_hub_run_with_images_facts():
    """A language without a fixed name, Hub data pinned by revision only (no commit found), no label examples,
    ONNX facts recorded before the check's text and recipe were, and images beside the card."""
    values = facts_values(language="fr", base_model="camembert/camembert-base")
    values["data"]["source"] = {
        "kind": "hub",
        "dataset_name": "someone/critiques",
        "config": None,
        "revision": "v2",
        "commit": None,
    }
    for report in values["results"].values():
        report["label_examples"] = {}
        report["calibration"] = {"ece_before": 0.1111, "ece_after": 0.0222, "nll_before": 0.5555, "nll_after": 0.4444}
    values["training"].pop("train_runtime")
    values["calibration"] = {"temperature": 0.9, "fitted_on": "validation", "texts": 24}
    values["onnx"] = {
        "files": ["onnx/model.onnx", "onnx/model_quantized.onnx"],
        "texts": 24,
        "fp32_max_difference": 3e-05,
        "int8_label_agreement": 1.0,
        "int8_max_difference": 0.01,
    }
    return RunFacts.from_dict(values)


CARDS = {
    "english_files": facts_literal,
    "chinese_three_classes_everything": three_class_chinese_facts,
    "english_older_chunked": chunked_older_run_facts,
    "french_hub_with_images": french_hub_run_with_images_facts,
}
IMAGES = {
    "french_hub_with_images": ["confusion_matrix_validation.png", "confusion_matrix_test.png", "reliability_test.png"]
}


@pytest.mark.parametrize("name", CARDS)
def test_rendered_cards_match_their_reviewed_golden_files(name, tmp_path):
    """The whole card, as a Hub visitor reads it, for three runs: any change to its wording or figures shows up
    here as a diff to review. After a deliberate change: UPDATE_GOLDEN=1 python -m pytest tests/test_model_card.py."""
    import difflib
    import os

    for image in IMAGES.get(name, []):
        (tmp_path / image).write_bytes(b"\x89PNG")
    repo = "sst2-critiques" if name in IMAGES else REPO  # a repo id without a namespace: the title is the name
    text = str(render_card(CARDS[name](), repo, image_dir=tmp_path))
    golden = GOLDEN / f"card_{name}.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(golden), "rendered"))
    assert text == expected, f"The card changed; review the diff, then UPDATE_GOLDEN=1 if it is meant:\n{diff[:6000]}"
