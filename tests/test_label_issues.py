"""Likely label errors: confident learning on out-of-sample probabilities, ranked into label_issues.jsonl."""

import json
import random

import numpy as np

import train
from bert_sentiment.label_issues import cross_validated_probabilities, ranked_issues
from tests.conftest import english_reviews, quick_training_flags, write_csv


def flipped(rows, share: float, seed: int):
    """(rows with `share` of their labels flipped, the flipped texts)."""
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(rows)), int(share * len(rows))))
    other = {"positive": "negative", "negative": "positive"}
    return [(t, other[lab] if i in chosen else lab) for i, (t, lab) in enumerate(rows)], {rows[i][0] for i in chosen}


def test_cross_validated_tfidf_finds_flipped_training_labels():
    rows, flips = flipped(english_reviews(400, seed=3), 0.05, seed=1)
    texts, labels = [t for t, _ in rows], np.array([int(lab == "positive") for _, lab in rows])
    probabilities = cross_validated_probabilities(texts, labels, "en", seed=0)
    issues = ranked_issues(labels, probabilities)
    top = {texts[row] for row, _ in issues[: len(flips)]}
    assert len(top & flips) / len(flips) >= 0.8, "most of the top-k flagged are the flipped ones"
    qualities = [quality for _, quality in issues]
    assert qualities == sorted(qualities), "ranked: the least likely given label first"


def test_a_run_writes_ranked_label_issues_and_the_card_counts_them(tiny_bert, tmp_path, caplog):
    caplog.set_level("INFO")
    rows, flips = flipped(english_reviews(400, seed=5), 0.05, seed=2)
    data = write_csv(tmp_path / "reviews.csv", rows)
    out = tmp_path / "out"
    assert train.main([str(f) for f in ["--train_file", data, *quick_training_flags(tiny_bert, out)]]) == 0
    issues = [json.loads(line) for line in (out / "label_issues.jsonl").read_text().splitlines()]
    facts = json.loads((out / "run_facts.json").read_text())
    counts = facts["label_issues"]["counts"]
    assert counts == {split: sum(i["split"] == split for i in issues) for split in ("train", "validation")}
    flagged = [i for i in issues if i["split"] in ("train", "validation")]
    top = flagged[: len(flips)]
    assert sum(i["text"] in flips for i in top) / len(top) >= 0.5, "precision among the top-k flagged"
    assert all(i["given_label"] != i["suggested_label"] for i in top if i["text"] in flips)
    assert "label_issues.jsonl" in caplog.text and "Likely label errors" in caplog.text
    card = (out / "README.md").read_text()
    assert f"{counts['train']:,} of the train examples" in card and "cross-validated TF-IDF" in card


def test_label_issues_can_be_skipped(tiny_bert, english_csv, tmp_path):
    out = tmp_path / "out"
    flags = ["--train_file", english_csv, *quick_training_flags(tiny_bert, out), "--find_label_issues", "false"]
    assert train.main([str(f) for f in flags]) == 0
    assert not (out / "label_issues.jsonl").exists()
    assert "label_issues" not in json.loads((out / "run_facts.json").read_text())
