"""Likely label errors: confident learning on out-of-sample probabilities, ranked into label_issues.jsonl."""

import json
import random

import numpy as np
import pytest

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


def test_sentence_embeddings_add_their_evidence_to_the_ranking():
    """Texts whose words say nothing (TF-IDF alone is at chance) but whose embeddings carry the true label:
    the averaged out-of-sample probabilities still single out the flipped labels."""
    rng = np.random.default_rng(0)
    true = np.arange(400) % 2
    labels = true.copy()
    flips = rng.choice(400, 20, replace=False)
    labels[flips] = 1 - labels[flips]
    texts = [f"text number {i} {' '.join(rng.choice(['alpha', 'beta', 'gamma', 'delta'], 4))}" for i in range(400)]
    embeddings = np.c_[true + rng.normal(0, 0.3, 400), rng.normal(0, 1, (400, 7))]
    alone = ranked_issues(labels, cross_validated_probabilities(texts, labels, "en", seed=0))
    averaged = ranked_issues(labels, cross_validated_probabilities(texts, labels, "en", seed=0, embeddings=embeddings))
    precision = lambda issues: len({row for row, _ in issues[:20]} & set(flips)) / 20  # noqa: E731
    assert precision(averaged) >= 0.8 and precision(alone) <= 0.3


def test_the_cross_validated_fits_run_on_one_blas_thread(monkeypatch):
    """Five folds on 2,000 embeddings took 9.3 s with a BLAS thread per core and 0.95 s with one."""
    from sklearn.linear_model import LogisticRegression

    from tests.conftest import blas_threads

    seen = []
    fit = LogisticRegression.fit

    def recorded(self, *args, **kwargs):
        seen.append(blas_threads())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recorded)
    labels = np.arange(40) % 2
    embeddings = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    cross_validated_probabilities([f"text {i}" for i in range(40)], labels, "en", 0, embeddings)
    assert seen == [{1}] * 10, "a TF-IDF and an embedding fit in each of five folds"


def test_the_base_encoder_embeds_each_text_in_its_own_row(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    from bert_sentiment.label_issues import sentence_embeddings

    encoder, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["the film was great", "a much longer text about the film and its dull plot " * 3, "the film was great"]
    rows = sentence_embeddings(encoder, tokenizer, texts, max_length=64, show_progress=False)
    assert rows.shape == (3, encoder.config.hidden_size)
    np.testing.assert_allclose(rows[0], rows[2], atol=1e-5)  # sorted by length for batching, put back in order
    single = sentence_embeddings(encoder, tokenizer, texts[1:2], max_length=64, show_progress=False)
    np.testing.assert_allclose(rows[1], single[0], atol=1e-4)  # padding beside a shorter text changes nothing
    assert not np.allclose(rows[0], rows[1])


def test_a_bf16_run_embeds_in_bf16_with_rows_close_to_fp32(tiny_bert):
    """A run that trains in bf16 embeds its training texts in bf16 too (faster where the CPU does it
    natively); the rows the cheap models learn from stay what fp32 gives, up to bf16's rounding."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from bert_sentiment.label_issues import sentence_embeddings

    encoder, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["the film was great", "a dull plot and wooden acting", "not bad at all, really"] * 4
    full = sentence_embeddings(encoder, tokenizer, texts, max_length=64, show_progress=False)
    half = sentence_embeddings(
        encoder, tokenizer, texts, max_length=64, show_progress=False, half_precision=torch.bfloat16
    )
    assert half.dtype == np.float32 and half.shape == full.shape
    assert not np.array_equal(half, full), "the encoder ran in bf16"
    cosine = (half * full).sum(1) / np.linalg.norm(half, axis=1) / np.linalg.norm(full, axis=1)
    assert cosine.min() > 0.999


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
    assert f"{counts['train']:,} of the train examples" in card
    method = (
        "models fine-tuned for one epoch on the other half of the training set, together with 5-fold "
        "cross-validated logistic regressions on TF-IDF and on the base encoder's sentence embeddings"
    )
    assert method in " ".join(card.split())
    embedded_in = facts["training"]["precision"] if facts["training"]["precision"] in ("bf16", "fp16") else "fp32"
    assert f"Embedded 360 training texts with the base encoder ({embedded_in}) for label issues" in caplog.text
    assert "fine-tuning 2 fold models" in caplog.text, "a small run's default adds the fold models (auto)"
    assert facts["label_issues"]["fold_models_seconds"] > 0


def test_fold_models_score_only_the_training_texts_they_did_not_see(tiny_bert, tmp_path, monkeypatch):
    """Out of sample, as confident learning needs: each fold model trains on one half and scores the other, and
    between them they score every training text once."""
    import bert_sentiment.label_issues as label_issues

    folds, real_build = [], label_issues.build_trainer

    def recording(model, tokenizer, tokenized, args, *more, **options):
        if "label-issue-folds" in str(args.output_dir):
            rows = lambda split: [tuple(ids) for ids in tokenized[split]["input_ids"]]  # noqa: E731
            folds.append((rows("train"), rows("validation"), args.num_train_epochs, args.save_strategy))
        return real_build(model, tokenizer, tokenized, args, *more, **options)

    monkeypatch.setattr(label_issues, "build_trainer", recording)
    rows = list(dict(english_reviews(300, seed=8)).items())  # distinct texts
    data = write_csv(tmp_path / "reviews.csv", rows)
    out = tmp_path / "out"
    flags = ["--train_file", data, *quick_training_flags(tiny_bert, out), "--find_label_issues", "thorough"]
    assert train.main([str(f) for f in flags]) == 0
    assert len(folds) == 2
    (train_a, held_a, epochs, saving), (train_b, held_b, _, _) = folds
    assert not set(train_a) & set(held_a) and not set(train_b) & set(held_b)
    assert sorted(held_a + held_b) == sorted(train_a + train_b) and len(held_a + held_b) == 270, (
        "every training text once"
    )
    assert epochs == 1 and saving == "no"
    assert not list(out.glob(".label-issue-folds-*")), "nothing of the fold models is left in the run's folder"


def test_auto_adds_fold_models_only_when_they_cost_little(caplog):
    from types import SimpleNamespace

    from bert_sentiment.label_issues import choose_label_issue_mode

    caplog.set_level("INFO")
    one, two = SimpleNamespace(world_size=1), SimpleNamespace(world_size=2)
    trained_at = lambda samples_per_second: SimpleNamespace(metrics={"train_samples_per_second": samples_per_second})  # noqa: E731
    assert choose_label_issue_mode("auto", one, trained_at(100.0), 6_000) == "thorough"  # one epoch: 1 minute
    assert choose_label_issue_mode("auto", one, trained_at(10.0), 6_000) == "fast"  # 10 minutes
    assert "fold models would take about 10.0 min (--find_label_issues thorough asks for them)" in caplog.text
    assert choose_label_issue_mode("thorough", one, trained_at(10.0), 6_000) == "thorough"
    assert choose_label_issue_mode("fast", one, trained_at(1e6), 10) == "fast"
    assert choose_label_issue_mode("thorough", two, trained_at(100.0), 6_000) == "fast"
    assert "in one process only" in caplog.text


@pytest.mark.parametrize(
    ("given", "mode"),
    [("true", "auto"), ("False", "false"), (True, "auto"), (False, "false"), (" Thorough", "thorough")],
)
def test_find_label_issues_takes_modes_and_yes_no(given, mode):
    from bert_sentiment.arguments import label_issue_mode

    assert label_issue_mode(given) == mode


def test_an_unknown_label_issue_mode_is_refused_with_the_choices(tiny_bert, tmp_path):
    from bert_sentiment.arguments import label_issue_mode, parse_args
    from bert_sentiment.errors import UserError

    with pytest.raises(UserError, match=r"--find_label_issues: invalid choice: 'maybe' \(choose from 'auto', 'fast',"):
        parse_args(
            ["--model_name_or_path", str(tiny_bert), "--output_dir", str(tmp_path), "--find_label_issues", "maybe"]
        )
    with pytest.raises(UserError, match="--find_label_issues 'maybe' is not one of auto, fast, thorough, false"):
        label_issue_mode("maybe")


def test_label_issues_can_be_skipped(tiny_bert, english_csv, tmp_path):
    out = tmp_path / "out"
    flags = ["--train_file", english_csv, *quick_training_flags(tiny_bert, out), "--find_label_issues", "false"]
    assert train.main([str(f) for f in flags]) == 0
    assert not (out / "label_issues.jsonl").exists()
    assert "label_issues" not in json.loads((out / "run_facts.json").read_text())


def issue_splits(seed: int = 3):
    """Training texts with 5% of their labels flipped, and a validation split with one label given wrong."""
    from datasets import ClassLabel, Dataset, DatasetDict

    rows, flips = flipped(english_reviews(200, seed=seed), 0.05, seed=1)
    validation = english_reviews(20, seed=seed + 1)
    wrong = validation[0][0]

    def split(pairs):
        data = Dataset.from_dict({"text": [t for t, _ in pairs], "label": [int(lab == "positive") for _, lab in pairs]})
        return data.cast_column("label", ClassLabel(names=["negative", "positive"]))

    given = [(t, {"positive": "negative", "negative": "positive"}[lab] if t == wrong else lab) for t, lab in validation]
    # the fine-tuned model's validation probabilities: sure of every text's true label
    probabilities = np.array([[0.05, 0.95] if lab == "positive" else [0.95, 0.05] for _, lab in validation])
    return DatasetDict(train=split(rows), validation=split(given)), {"validation": probabilities}, flips, wrong


def test_find_label_issues_writes_each_splits_likely_errors_ranked_with_the_label_it_suggests(tmp_path, caplog):
    from bert_sentiment.label_issues import TFIDF_METHOD, find_label_issues

    splits, probabilities, flips, wrong = issue_splits()
    caplog.set_level("INFO")
    summary = find_label_issues(splits, probabilities, ["negative", "positive"], "en", 0, tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "label_issues.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [line for line in lines if line["split"] == "train"]
    assert [line["rank"] for line in train] == list(range(1, len(train) + 1))
    assert len({line["text"] for line in train[: len(flips)]} & flips) >= 0.8 * len(flips), "the flips come first"
    for line in train:
        assert line["given_label"] != line["suggested_label"] and 0 <= line["label_quality"] < 0.5
    validation = [line for line in lines if line["split"] == "validation"]
    assert validation == [
        {
            "split": "validation",
            "rank": 1,
            "text": wrong,
            "given_label": validation[0]["given_label"],
            "suggested_label": {"negative": "positive", "positive": "negative"}[validation[0]["given_label"]],
            "label_quality": 0.05,
        }
    ]
    assert summary == {
        "file": "label_issues.jsonl",
        "counts": {"train": len(train), "validation": 1},
        "train_method": TFIDF_METHOD,
        "eval_method": "the fine-tuned model",
        "seconds": summary["seconds"],
    }
    assert caplog.messages[-1] == (
        f"Likely label errors (confident learning): {len(train):,} in train, 1 in validation. Ranked in "
        f"{tmp_path / 'label_issues.jsonl'} ({summary['seconds']:.1f} s)."
    )


def test_fold_models_and_embeddings_are_averaged_in_and_named_in_the_method(tmp_path):
    from bert_sentiment.label_issues import THOROUGH_METHOD, TRAIN_METHOD, find_label_issues

    splits, probabilities, flips, _ = issue_splits()
    labels = np.asarray(splits["train"]["label"][:])
    truth = np.array([1 - label if text in flips else label for text, label in zip(splits["train"]["text"], labels)])
    embeddings = np.c_[truth + np.random.default_rng(0).normal(0, 0.1, len(truth)), np.zeros(len(truth))]
    summary = find_label_issues(splits, {}, ["negative", "positive"], "en", 0, tmp_path, embeddings=embeddings)
    assert summary["train_method"] == TRAIN_METHOD and set(summary["counts"]) == {"train"}, "no validation scores"
    # fold models sure that every training label is right: averaged in, they halve every flagged text's evidence
    sure = np.eye(2)[labels]
    folded = find_label_issues(splits, {}, ["negative", "positive"], "en", 0, tmp_path, embeddings, fine_tuned=sure)
    assert folded["train_method"] == THOROUGH_METHOD and folded["counts"]["train"] < summary["counts"]["train"]
