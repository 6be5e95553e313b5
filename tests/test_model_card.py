"""The model card, rendered from a run's facts (a literal here: no training needed)."""

import json

import pytest
from huggingface_hub import ModelCard

from bert_sentiment.facts import RunFacts
from bert_sentiment.model_card import card_data, eval_results, render_card, write_card
from tests.conftest import facts_literal

REPO = "alice/sst2-bert"


def test_metadata_parses_back_with_each_splits_own_figures(tmp_path):
    facts = facts_literal()
    facts.save(tmp_path)
    card = ModelCard.load(write_card(tmp_path, REPO))
    data = card.data.to_dict()
    assert data["language"] == "en" and data["license"] == "apache-2.0"
    assert data["pipeline_tag"] == "text-classification" and data["library_name"] == "transformers"
    assert [w["example_title"] for w in data["widget"]] == ["negative", "positive"]
    assert data["widget"][1]["text"] == "the acting was superb and delightful"

    parsed = {(r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
    expected = {(split, metric): round(value, 4) for split, report in facts.results.items()
                for metric, value in report["metrics"].items()}  # fmt: skip
    assert parsed == expected, "every figure under the split it was measured on"
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
        assert table_row(text, heading, "**this model**") == [f"{report['metrics'][k]:.4f}" for k in ("accuracy", "precision", "recall", "f1")]
        tfidf = report["baselines"]["tfidf_logistic_regression"]
        assert table_row(text, heading, "TF-IDF + logistic regression") == [f"{tfidf[k]:.4f}" for k in ("accuracy", "precision", "recall", "f1")]
        assert table_row(text, heading, "majority class")[0] == f"{report['baselines']['majority_class']['accuracy']:.4f}"
    assert "On the test split it reaches **0.7750 accuracy** and **0.7619 F1**, against 0.6500 accuracy for TF-IDF" in text


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
    facts = facts_literal(base_model="google-bert/bert-base-uncased")
    facts.data["source"] = {"kind": "hub", "dataset_name": "glue", "config": "sst2", "revision": None, "commit": "abc123"}
    data = card_data(facts, REPO, "mit").to_dict()
    assert data["base_model"] == "google-bert/bert-base-uncased"
    assert data["datasets"] == ["glue"] and data["license"] == "mit"
    result = eval_results(facts)[0]
    assert (result.dataset_type, result.dataset_config, result.dataset_revision) == ("glue", "sst2", "abc123")
    text = render_card(facts, REPO).text
    assert "[glue](https://huggingface.co/datasets/glue) (config `sst2`) at commit `abc123`" in text
    assert "![Confusion matrix" not in text  # no image was given: the line is left out


def test_in_memory_data_is_named_and_hashed():
    facts = facts_literal()
    facts.data["source"] = {"kind": "memory", "name": "my reviews",
                            "files": {"train": {"name": "my reviews (train)", "sha256": "c3" * 32}}}  # fmt: skip
    text = render_card(facts, REPO).text
    assert "`my reviews`" in text and "c3c3c3c3c3c3c3c3" in text and "SHA-256 of the rows" in text


def test_chinese_card_says_chinese():
    facts = facts_literal(language="zh", label_names=["差评", "好评"])
    for report in facts.results.values():
        report["label_examples"] = {"差评": "菜品难吃，服务冷漠", "好评": "房间干净，前台热情"}
        report["per_class"] = {"差评": report["per_class"]["negative"], "好评": report["per_class"]["positive"]}
    card = render_card(facts, REPO)
    assert card.data.to_dict()["language"] == "zh"
    assert card.data.to_dict()["widget"][0] == {"text": "菜品难吃，服务冷漠", "example_title": "差评"}
    assert "Chinese texts" in card.text and "`差评`, `好评`" in card.text


def test_facts_round_trip_and_refuse_a_newer_schema(tmp_path):
    facts = facts_literal()
    path = facts.save(tmp_path)
    assert RunFacts.load(tmp_path) == facts
    assert facts.headline_split == "test" and facts.metric_rows("test")["TF-IDF + logistic regression"]["accuracy"] == 0.65
    older = json.loads(path.read_text())
    older.pop("schema_version")
    assert RunFacts.from_dict(older) == facts, "files written before the schema version still load"
    newer = json.loads(path.read_text()) | {"schema_version": 99}
    path.write_text(json.dumps(newer))
    with pytest.raises(Exception, match="newer bert-sentiment.*pip install -U"):
        RunFacts.load(tmp_path)
