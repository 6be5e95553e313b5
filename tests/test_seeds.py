import json

import pytest

import train
from bert_sentiment.seeds import summarize
from tests.conftest import english_reviews, facts_literal, quick_training_flags, write_csv


def facts_with(validation_f1: float, test_accuracy: float):
    return facts_literal(
        results={
            "validation": {"metrics": {"f1": validation_f1, "accuracy": 0.5}, "num_examples": 10},
            "test": {"metrics": {"f1": 0.5, "accuracy": test_accuracy}, "num_examples": 10},
        }
    )


def test_summary_is_mean_and_sample_std_and_best_by_validation():
    summary = summarize({1: facts_with(0.8, 0.70), 2: facts_with(0.9, 0.74), 3: facts_with(0.7, 0.78)}, "f1")
    test_accuracy = summary["splits"]["test"]["accuracy"]
    assert test_accuracy["mean"] == pytest.approx(0.74) and test_accuracy["std"] == pytest.approx(0.04)
    assert (test_accuracy["min"], test_accuracy["max"]) == (0.70, 0.78)
    assert summary["best_seed"] == 2, "chosen on validation, never on test"


def test_three_seeds_train_on_one_split_and_keep_the_best(tiny_bert, tmp_path, caplog):
    caplog.set_level("INFO")
    data = write_csv(tmp_path / "reviews.csv", english_reviews(160))
    out = tmp_path / "out"
    assert (
        train.main([str(f) for f in ["--train_file", data, *quick_training_flags(tiny_bert, out), "--seeds", "3"]]) == 0
    )
    facts = json.loads((out / "run_facts.json").read_text())
    seeds = facts["seeds"]
    assert seeds["seeds"] == [42, 43, 44] and seeds["count"] == 3
    runs = {seed: json.loads((out / f"seed-{seed}" / "run_facts.json").read_text()) for seed in seeds["seeds"]}
    assert len({json.dumps(r["data"]["label_counts"]) for r in runs.values()}) == 1, "one split for every seed"
    assert {r["hyperparameters"]["seed"] for r in runs.values()} == {42, 43, 44}
    best = runs[seeds["best_seed"]]
    assert facts["results"]["validation"]["metrics"] == best["results"]["validation"]["metrics"]
    assert (out / "model.safetensors").read_bytes() == (
        out / f"seed-{seeds['best_seed']}" / "model.safetensors"
    ).read_bytes()
    card = (out / "README.md").read_text()
    assert "### Variance over 3 seeds" in card and "± " in card
    assert "Over 3 seeds (42, 43, 44)" in caplog.text
