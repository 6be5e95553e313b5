"""Likely label errors: confident learning on several models' probabilities, ranked into label_issues.jsonl."""

import json
import logging
import random
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

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
        "the fine-tuned model itself and models fine-tuned for one epoch on the other half of the training set, "
        "weighing as much as 5-fold cross-validated logistic regressions on TF-IDF and on the base encoder's "
        "sentence embeddings"
    )
    assert method in " ".join(card.split())
    read_in = facts["training"]["precision"] if facts["training"]["precision"] in ("bf16", "fp16") else "fp32"
    assert f"Read 360 training texts with the base encoder ({read_in}) for label issues" in caplog.text
    assert f"Read 360 training texts with the fine-tuned model itself ({read_in}) for label issues" in caplog.text
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

    from bert_sentiment.budget import THOROUGH_BUDGET_SECONDS
    from bert_sentiment.label_issues import choose_label_issue_mode

    caplog.set_level("INFO")
    one, two = SimpleNamespace(world_size=1), SimpleNamespace(world_size=2)
    trained_at = lambda samples_per_second: SimpleNamespace(metrics={"train_samples_per_second": samples_per_second})  # noqa: E731
    assert choose_label_issue_mode("auto", one, trained_at(100.0), 6_000) == "thorough"  # one epoch: 1 minute
    assert caplog.messages[-1] == (
        "Label issues: fine-tuning 2 fold models, one epoch on 1/2 of the scored training texts each, about 1.0 min "
        "(--find_label_issues fast skips them)."
    )
    assert choose_label_issue_mode("auto", one, trained_at(10.0), 6_000) == "fast"  # 10 minutes
    assert caplog.messages[-1] == (
        "Label issues: the fast models score the training texts; fold models would take about 10.0 min "
        "(--find_label_issues thorough asks for them)."
    )
    assert choose_label_issue_mode("auto", one, trained_at(1.0), THOROUGH_BUDGET_SECONDS) == "thorough", "at the budget"
    assert choose_label_issue_mode("auto", one, SimpleNamespace(metrics={}), 100) == "fast"
    assert caplog.messages[-1].endswith(
        "would take about an unknown time (--find_label_issues thorough asks for them)."
    )
    assert choose_label_issue_mode("thorough", one, trained_at(10.0), 6_000) == "thorough"
    assert choose_label_issue_mode("fast", one, trained_at(1e6), 10) == "fast"
    assert choose_label_issue_mode("false", one, trained_at(1e6), 10) == "false"
    caplog.clear()
    assert choose_label_issue_mode("thorough", two, trained_at(100.0), 6_000) == "fast"
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "WARNING",
            "--find_label_issues thorough fine-tunes its fold models in one process only; in this distributed run "
            "the fast models score the training texts.",
        )
    ]
    assert choose_label_issue_mode("auto", two, trained_at(1e6), 10) == "fast" and len(caplog.records) == 1


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


def test_fine_tuned_models_and_embeddings_are_averaged_in_and_named_in_the_method(tmp_path):
    from bert_sentiment.label_issues import (
        CROSS_VALIDATED_METHOD,
        FOLD_MODELS,
        OWN_MODEL,
        THOROUGH_METHOD,
        TRAIN_METHOD,
        find_label_issues,
    )

    splits, probabilities, flips, _ = issue_splits()
    labels = np.asarray(splits["train"]["label"][:])
    truth = np.array([1 - label if text in flips else label for text, label in zip(splits["train"]["text"], labels)])
    embeddings = np.c_[truth + np.random.default_rng(0).normal(0, 0.1, len(truth)), np.zeros(len(truth))]
    (tmp_path / "alone").mkdir()
    find_label_issues(splits, {}, ["negative", "positive"], "en", 0, tmp_path / "alone")
    summary = find_label_issues(splits, {}, ["negative", "positive"], "en", 0, tmp_path, embeddings=embeddings)
    assert summary["train_method"] == CROSS_VALIDATED_METHOD and set(summary["counts"]) == {"train"}, "no validation"
    written = lambda folder: (folder / "label_issues.jsonl").read_text()  # noqa: E731
    assert written(tmp_path) != written(tmp_path / "alone"), "the embeddings count"
    # a fine-tuned model sure that every training label is right: averaged in, it halves every flagged text's evidence
    sure = np.eye(2)[labels]
    folded = find_label_issues(splits, {}, ["negative", "positive"], "en", 0, tmp_path, embeddings, fine_tuned=sure)
    assert folded["train_method"] == TRAIN_METHOD and folded["counts"]["train"] < summary["counts"]["train"]
    by = f"{OWN_MODEL} and {FOLD_MODELS}"
    named = find_label_issues(splits, {}, ["a", "b"], "en", 0, tmp_path, embeddings, fine_tuned=sure, fine_tuned_by=by)
    assert named["train_method"] == THOROUGH_METHOD


def prepared_run(tiny_bert, tmp_path, rows, *flags):
    """(the run's prepared data, model arguments, training arguments) as fine_tune has them before the model loads."""
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import prepare_data

    data = write_csv(tmp_path / "reviews.csv", rows)
    (tmp_path / "out").mkdir(exist_ok=True)
    model_args, data_args, training_args = parse_args(
        [str(flag) for flag in ["--train_file", data, *quick_training_flags(tiny_bert, tmp_path / "out"), *flags]]
    )
    return prepare_data(model_args, data_args, training_args), model_args, training_args


def test_base_embeddings_are_the_pretrained_encoders_rows_at_the_runs_length(tiny_bert, tmp_path, caplog, capsys):
    """The encoder the run started from (no head, never saw a label), reading at most the run's max_length tokens."""
    from transformers import AutoModel

    from bert_sentiment.label_issues import base_embeddings, sentence_embeddings

    prepared, model_args, training_args = prepared_run(tiny_bert, tmp_path, english_reviews(40), "--max_seq_length", 8)
    training_args.bf16 = training_args.fp16 = False  # fp32 whatever this CPU's --precision auto chose
    texts = ["the film was great", "the plot was dull and the acting was poor and the music was awful too"]
    caplog.set_level("INFO")
    rows = base_embeddings(prepared, model_args, training_args, texts)
    encoder = AutoModel.from_pretrained(tiny_bert).eval()
    expected = sentence_embeddings(encoder, prepared.tokenizer, texts, max_length=8, show_progress=False)
    np.testing.assert_allclose(rows, expected, atol=1e-5)
    assert not np.allclose(
        rows[1], sentence_embeddings(encoder, prepared.tokenizer, texts[1:], max_length=64, show_progress=False)[0]
    ), "the long text is cut at the run's length"
    import torch

    with torch.no_grad():  # the mean of the short text's token states (it has no padding)
        alone = encoder(**prepared.tokenizer(texts[:1], return_tensors="pt")).last_hidden_state.mean(1)[0]
    np.testing.assert_allclose(rows[0], alone.numpy(), atol=1e-5)
    assert_reading_timed_and_barred_when_asked(
        lambda: base_embeddings(prepared, model_args, training_args, texts),
        "the base encoder", "Base-encoder embeddings", training_args, caplog, capsys,
    )  # fmt: skip


def test_a_bf16_run_embeds_its_scored_texts_in_bf16_and_says_so(tiny_bert, tmp_path, caplog):
    import copy

    from bert_sentiment.label_issues import base_embeddings

    prepared, model_args, training_args = prepared_run(tiny_bert, tmp_path, english_reviews(40))
    texts = ["the film was great", "a dull plot and wooden acting", "not bad at all, really"]
    training_args.bf16 = training_args.fp16 = False
    full = base_embeddings(prepared, model_args, training_args, texts)
    half_args = copy.copy(training_args)
    half_args.bf16 = True
    caplog.set_level("INFO")
    half = base_embeddings(prepared, model_args, half_args, texts)
    assert "Read 3 training texts with the base encoder (bf16)" in caplog.messages[-1]
    assert not np.array_equal(half, full) and np.allclose(half, full, atol=0.05)
    half_args.bf16, half_args.fp16 = False, True
    fp16 = base_embeddings(prepared, model_args, half_args, texts)
    assert "Read 3 training texts with the base encoder (fp16)" in caplog.messages[-1]
    assert not np.array_equal(fp16, half) and not np.array_equal(fp16, full) and np.allclose(fp16, full, atol=0.05)


def recorded_folds(monkeypatch, interrupt_after: int | None = None) -> list[dict]:
    """Each fold model's training texts, held-out texts, arguments and predictions, as fold_probabilities builds
    them; with `interrupt_after`, Ctrl-C arrives while that fold (counted from 1) trains."""
    import bert_sentiment.label_issues as label_issues

    folds, real_build = [], label_issues.build_trainer

    def recording(model, tokenizer, tokenized, args, *more, **options):
        trainer, interrupt = real_build(model, tokenizer, tokenized, args, *more, **options)
        ids = lambda split: [tuple(row) for row in tokenized[split]["input_ids"]]  # noqa: E731
        fold = {"train": ids("train"), "held_out": ids("validation"), "args": args}
        folds.append(fold)
        real_train, real_predict = trainer.train, trainer.predict

        def train(*a, **k):
            fold["scratch"] = Path(args.output_dir)
            result = real_train(*a, **k)
            interrupt.interrupted = len(folds) == interrupt_after
            return result

        def predict(dataset, *a, **k):
            fold["predicted"] = real_predict(dataset, *a, **k).predictions
            fold["predicted_ids"] = [tuple(row) for row in dataset["input_ids"]]
            return SimpleNamespace(predictions=fold["predicted"])

        trainer.train, trainer.predict = train, predict
        return trainer, interrupt

    monkeypatch.setattr(label_issues, "build_trainer", recording)
    return folds


def test_fold_models_each_score_the_half_of_the_scored_texts_they_did_not_see(tiny_bert, tmp_path, monkeypatch, caplog):
    from bert_sentiment.evaluation import softmax
    from bert_sentiment.label_issues import fold_probabilities

    prepared, model_args, training_args = prepared_run(tiny_bert, tmp_path, english_reviews(60))
    rows = np.arange(0, len(prepared.tokenized["train"]), 2)  # the budget's sample: every other text
    scored = [tuple(ids) for ids in prepared.tokenized["train"].select(rows)["input_ids"]]
    folds = recorded_folds(monkeypatch)
    caplog.set_level("INFO")
    probabilities, seconds = fold_probabilities(prepared, model_args, training_args, rows)
    assert probabilities.shape == (len(rows), 2) and np.allclose(probabilities.sum(1), 1)
    assert len(folds) == 2
    for fold in folds:
        assert not set(fold["train"]) & set(fold["held_out"]) and fold["predicted_ids"] == fold["held_out"]
        positions = [scored.index(ids) for ids in fold["held_out"]]
        np.testing.assert_allclose(probabilities[positions], softmax(fold["predicted"]), rtol=1e-5)
        args = fold["args"]
        assert (args.num_train_epochs, args.max_steps, args.save_strategy, args.eval_strategy) == (1, -1, "no", "no")
        assert (args.logging_strategy, args.load_best_model_at_end) == ("no", False)
        assert (args.checkpoint_minutes, args.early_stopping_patience) == (0, 0)
        assert fold["scratch"].parent == tmp_path / "out" and fold["scratch"].name.startswith(".label-issue-folds-")
        assert not fold["scratch"].exists(), "nothing of the fold models is left in the run's folder"
    assert sorted(folds[0]["held_out"] + folds[1]["held_out"]) == sorted(scored), "every scored text once"
    assert (training_args.output_dir, training_args.num_train_epochs) == (str(tmp_path / "out"), 6), "run unchanged"
    assert (
        0 < seconds < 60
        and caplog.messages[-1] == f"Label issues: 2 fold models fine-tuned and applied in {seconds} s."
    )
    again, _ = fold_probabilities(prepared, model_args, training_args, rows)
    np.testing.assert_allclose(again, probabilities, atol=1e-6, err_msg="the same run scores the same")


def test_no_fold_models_when_a_class_has_one_scored_text_or_on_ctrl_c(tiny_bert, tmp_path, monkeypatch, caplog):
    """The fast models then score the training texts alone, and the log says why."""
    from bert_sentiment.label_issues import fold_probabilities

    prepared, model_args, training_args = prepared_run(tiny_bert, tmp_path, english_reviews(40))
    labels = np.asarray(prepared.tokenized["train"]["label"][:])
    lone = np.r_[np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)[:1]]
    folds = recorded_folds(monkeypatch, interrupt_after=1)
    caplog.set_level("INFO")
    assert fold_probabilities(prepared, model_args, training_args, lone) is None and not folds
    assert caplog.messages[-1] == "Label issues: a class has fewer than 2 training texts, so no fold models."
    two = np.r_[np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)[:2]]
    assert fold_probabilities(prepared, model_args, training_args, two) is None
    assert len(folds) == 1, "Ctrl-C in the first fold: no second"
    assert caplog.records[-1].levelname == "WARNING"
    assert caplog.messages[-1] == "Label issues: fold models interrupted; the fast models score the training texts."
    assert not list((tmp_path / "out").glob(".label-issue-folds-*"))


def scoring(tiny_bert, untrained_classifier, tmp_path, monkeypatch, mode: str, sample: int, outclassed=None):
    """score_label_issues on a prepared 60-text run with the budget's `mode` and `sample`: (its summary, what it
    passed to find_label_issues, the prepared run, the fine-tuned model's own probabilities of the scored texts, the
    fold models' (None without them))."""
    from transformers import AutoModelForSequenceClassification

    import bert_sentiment.label_issues as label_issues
    from bert_sentiment.budget import AnalysisBudget

    prepared, model_args, training_args = prepared_run(tiny_bert, tmp_path, english_reviews(60, seed=4), "--seed", 7)
    training_args.bf16 = training_args.fp16 = False  # fp32 whatever this CPU's --precision auto chose
    train_texts = len(prepared.data.splits["train"])
    budget = AnalysisBudget(
        trained_texts=6 * train_texts, label_issues=mode, label_issue_sample=sample, baseline_sample=train_texts,
        train_texts=train_texts,
    )  # fmt: skip
    validation = prepared.data.splits["validation"]
    probabilities = {"validation": np.eye(2)[np.asarray(validation["label"][:])] * 0.9 + 0.05}
    calls, real = [], label_issues.find_label_issues
    monkeypatch.setattr(label_issues, "find_label_issues", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    folds, real_folds = [], label_issues.fold_probabilities
    monkeypatch.setattr(label_issues, "fold_probabilities", lambda *a: folds.append(real_folds(*a)) or folds[-1])
    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier)  # answers differ between texts
    trainer = SimpleNamespace(args=training_args, model=model)
    trained = SimpleNamespace(metrics={"train_samples_per_second": 1e6})  # fold models would take no time
    summary = label_issues.score_label_issues(prepared, probabilities, budget, trainer, trained, model_args, outclassed)
    assert len(calls) == 1
    scored = calls[0][0][0]["train"]["text"][:]
    own = label_issues.classifier_probabilities(
        model, prepared.tokenizer, scored, prepared.lengths["max_length"], False
    )
    return summary, calls[0], prepared, own, folds[0][0] if folds else None


def test_the_budgets_sample_of_training_texts_is_scored_and_the_evaluation_splits_whole(
    tiny_bert, untrained_classifier, tmp_path, monkeypatch
):
    from bert_sentiment.budget import stratified_sample
    from bert_sentiment.label_issues import OWN_MODEL, TRAIN_METHOD

    summary, call, prepared, own, folds = scoring(tiny_bert, untrained_classifier, tmp_path, monkeypatch, "fast", 20)
    (scored, probabilities, names, language, seed, output_dir, embeddings, fine_tuned), options = call
    train = prepared.data.splits["train"]
    sample = stratified_sample(train["label"][:], 20, 7)
    assert scored["train"]["text"][:] == train.select(sample)["text"][:] and len(sample) == 20
    assert scored["validation"] is prepared.data.splits["validation"] and set(probabilities) == {"validation"}
    assert (names, language, seed, output_dir) == (["negative", "positive"], "en", 7, tmp_path / "out")
    assert embeddings.shape == (20, 32) and options == {"show_progress": False, "fine_tuned_by": OWN_MODEL}
    assert folds is None and own.std() > 0.05, "the model's own probabilities differ from text to text"
    np.testing.assert_allclose(fine_tuned, own, atol=1e-6, err_msg="the fine-tuned model scores the sample itself")
    assert summary["train_sample"] == {"scored": 20, "of": len(train)} and summary["train_method"] == TRAIN_METHOD
    assert "fold_models_seconds" not in summary
    assert (tmp_path / "out" / "label_issues.jsonl").exists()


def test_a_model_that_lost_to_tf_idf_ranks_no_labels_and_its_reason_is_kept(
    tiny_bert, untrained_classifier, tmp_path, monkeypatch, caplog
):
    """When the TF-IDF baseline reads the labels clearly better than the fine-tuned model (fine_tune.outclassed),
    the training texts are ranked by the cross-validated models alone, without reading them through the model or
    training fold models, and the evaluation splits are not ranked; the facts keep why."""
    from bert_sentiment import label_issues
    from bert_sentiment.label_issues import CROSS_VALIDATED_METHOD, OWN_MODEL

    read = label_issues.read_training_texts

    def only_the_base_encoder(model, what, *args):
        assert what != OWN_MODEL, "the outclassed model read the training texts"
        return read(model, what, *args)

    monkeypatch.setattr(label_issues, "read_training_texts", only_the_base_encoder)
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    why = "the fine-tuned model's validation accuracy (0.5556) is below the TF-IDF baseline's (0.8972) by more than ..."
    summary, ((scored, probabilities, *_, fine_tuned), _), _, _, folds = scoring(
        tiny_bert, untrained_classifier, tmp_path, monkeypatch, "auto", 10_000, outclassed=why
    )
    assert probabilities == {} and fine_tuned is None and folds is None
    assert set(summary["counts"]) == {"train"} and summary["eval_not_ranked"] == why
    assert summary["train_method"] == CROSS_VALIDATED_METHOD
    assert not any("fold models" in message for message in caplog.messages), "no fold models announced"
    assert (
        f"Label issues: {why}. Training texts are ranked by the cross-validated models alone, the other splits not at "
        "all." in caplog.messages
    )
    ranked = [json.loads(line) for line in (tmp_path / "out" / "label_issues.jsonl").read_text().splitlines()]
    assert {row["split"] for row in ranked} <= {"train"}


def test_thorough_scoring_averages_the_fold_models_with_the_model_itself_and_adds_their_time(
    tiny_bert, untrained_classifier, tmp_path, monkeypatch
):
    from bert_sentiment.label_issues import THOROUGH_METHOD

    summary, ((scored, *_, fine_tuned), options), prepared, own, folds = scoring(
        tiny_bert, untrained_classifier, tmp_path, monkeypatch, "auto", 10_000
    )
    assert len(scored["train"]) == len(prepared.data.splits["train"]) and "train_sample" not in summary
    assert folds.shape == (len(scored["train"]), 2) and summary["fold_models_seconds"] > 0
    assert np.abs(own - folds).max() > 0.05, "two different views"
    np.testing.assert_allclose(fine_tuned, (own + folds) / 2, atol=1e-6)
    assert summary["train_method"] == THOROUGH_METHOD


def test_the_same_seed_ranks_the_same_and_another_seed_folds_otherwise():
    rows, _ = flipped(english_reviews(200, seed=3), 0.05, seed=1)
    texts, labels = [t for t, _ in rows], np.array([int(lab == "positive") for _, lab in rows])
    embeddings = np.random.default_rng(0).normal(size=(200, 4))
    first = cross_validated_probabilities(texts, labels, "en", seed=0, embeddings=embeddings)
    np.testing.assert_array_equal(first, cross_validated_probabilities(texts, labels, "en", 0, embeddings))
    assert not np.allclose(first, cross_validated_probabilities(texts, labels, "en", 1, embeddings))


def test_a_class_of_three_texts_gets_three_folds_and_every_text_a_score():
    texts = [f"the film was great {i}" for i in range(20)] + ["the film was awful", "awful acting", "an awful plot"]
    labels = np.array([1] * 20 + [0] * 3)
    probabilities = cross_validated_probabilities(texts, labels, "en", seed=0)
    assert probabilities.shape == (23, 2) and np.allclose(probabilities.sum(1), 1)


def test_chinese_training_texts_are_read_by_characters(tmp_path, capsys):
    """Chinese reviews have no spaces: read as words, each review would be one token and nothing would be learned.
    Asked for, the cross-validated models show their progress."""
    from datasets import ClassLabel, Dataset, DatasetDict

    from bert_sentiment.label_issues import find_label_issues
    from tests.conftest import chinese_reviews

    rng = np.random.default_rng(2)
    rows = chinese_reviews(400, seed=3)
    flips = set(rng.choice(400, 20, replace=False).tolist())
    labels = [int((label == "好评") != (i in flips)) for i, (_, label) in enumerate(rows)]
    train = Dataset.from_dict({"text": [text for text, _ in rows], "label": labels})
    splits = DatasetDict(train=train.cast_column("label", ClassLabel(names=["差评", "好评"])))
    find_label_issues(splits, {}, ["差评", "好评"], "zh", 0, tmp_path, show_progress=True)
    lines = [json.loads(line) for line in (tmp_path / "label_issues.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len({line["text"] for line in lines[:20]} & {rows[i][0] for i in flips}) >= 16
    assert re.search(r"(^|\r)Label issues: cross-validated models: 100%", capsys.readouterr().err)


def test_the_cross_validated_models_show_one_progress_bar(capsys):
    labels = np.arange(40) % 2
    embeddings = np.random.default_rng(0).normal(size=(40, 4))
    cross_validated_probabilities([f"text {i}" for i in range(40)], labels, "en", 0, embeddings, show_progress=True)
    bar = capsys.readouterr().err.split("\r")[-1]
    assert re.match(r"Label issues: cross-validated models: 100%\|.*\| 10/10 ", bar), bar
    cross_validated_probabilities([f"text {i}" for i in range(40)], labels, "en", 0, embeddings)
    assert capsys.readouterr().err == ""


def test_a_split_without_one_of_three_classes_still_has_its_wrong_labels_found():
    labels = np.array([0, 1] * 20)
    probabilities = np.full((40, 3), 0.05)
    probabilities[np.arange(40), labels] = 0.9
    probabilities[0] = [0.05, 0.9, 0.05]  # given 0, surely 1
    assert [row for row, _ in ranked_issues(labels, probabilities)] == [0]
    assert ranked_issues(np.zeros(40, dtype=int), probabilities[:, :2]) == [], "one label throughout"
    single = np.r_[labels, 2]  # a class of one text
    assert [row for row, _ in ranked_issues(single, np.r_[probabilities, [[0.05, 0.05, 0.9]]])] == [0]


def test_the_files_lines_read_as_written_and_the_fold_models_weigh_as_much_as_the_fast_ones(tmp_path, capsys):
    """Texts stay readable (not \\u-escaped), the quality has four decimals, and the fold models' probabilities
    count as much as the fast models' average: with fold models unsure of everything (0.5), every flagged text's
    quality is halfway between the fast models' and 0.5."""
    from datasets import ClassLabel, Dataset

    from bert_sentiment.label_issues import find_label_issues

    splits, _, _, _ = issue_splits()
    given = np.arange(10) % 2
    validation = Dataset.from_dict({"text": ["好看的电影"] + [f"评论 {i}" for i in range(1, 10)], "label": given})
    splits["validation"] = validation.cast_column("label", ClassLabel(names=["negative", "positive"]))
    sure = np.eye(2)[given] * 0.8 + 0.1
    sure[0] = [0.023456, 0.976544]  # given negative; the model says positive
    validating = {"validation": sure}
    names = ["negative", "positive"]
    (tmp_path / "fast").mkdir(), (tmp_path / "folded").mkdir()
    fast = find_label_issues(splits, validating, names, "en", 0, tmp_path / "fast")
    assert "Label issues: cross-validated models" not in capsys.readouterr().err, "no progress bar unless asked"
    written = (tmp_path / "fast" / "label_issues.jsonl").read_text(encoding="utf-8")
    assert '"text": "好看的电影"' in written and '"label_quality": 0.0235' in written
    assert isinstance(fast["seconds"], float) and fast["seconds"] == round(fast["seconds"], 1) < 60
    unsure = np.full((len(splits["train"]), 2), 0.5)
    find_label_issues(splits, validating, names, "en", 0, tmp_path / "folded", fine_tuned=unsure)
    read = lambda folder: {  # noqa: E731
        line["text"]: line["label_quality"]
        for line in map(json.loads, (tmp_path / folder / "label_issues.jsonl").read_text().splitlines())
        if line["split"] == "train"
    }
    fast_quality, folded_quality = read("fast"), read("folded")
    assert folded_quality
    for text, quality in folded_quality.items():
        assert quality == pytest.approx((fast_quality[text] + 0.5) / 2, abs=2e-4)


def test_the_base_encoder_reads_texts_in_batches_of_64(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    from bert_sentiment.label_issues import sentence_embeddings

    encoder, tokenizer = AutoModel.from_pretrained(tiny_bert).eval(), AutoTokenizer.from_pretrained(tiny_bert)
    batches = []
    encoder.register_forward_hook(
        lambda module, args, kwargs, output: batches.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    rows = sentence_embeddings(encoder, tokenizer, [f"review {i} " * (i % 7 + 1) for i in range(130)], 64, False)
    assert rows.shape == (130, 32) and batches == [64, 64, 2]


def test_fold_models_of_three_classes_give_three_probabilities_a_text(tiny_bert, tmp_path):
    from bert_sentiment.label_issues import fold_probabilities

    rows = [(text, label) for text, label in english_reviews(40)] + [
        (f"the film was fine {i}", "neutral") for i in range(20)
    ]
    prepared, model_args, training_args = prepared_run(tiny_bert, tmp_path, rows)
    scored = np.arange(len(prepared.tokenized["train"]))
    probabilities, _ = fold_probabilities(prepared, model_args, training_args, scored)
    assert probabilities.shape == (len(scored), 3) and np.allclose(probabilities.sum(1), 1)


def test_the_fine_tuned_model_reads_its_training_texts_in_batches_each_row_that_texts_own(untrained_classifier):
    """130 texts of mixed lengths in batches of 64 sorted by length: each row is the probabilities of that text
    read alone, in the texts' order, summing to 1."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_sentiment.label_issues import classifier_probabilities

    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier).eval()
    tokenizer = AutoTokenizer.from_pretrained(untrained_classifier)
    reviews = [text for text, _ in english_reviews(130, seed=9)]
    texts = [f"{text} " * (i % 3 + 1) for i, text in enumerate(reviews)]  # lengths that differ
    batches = []
    model.register_forward_hook(
        lambda module, args, kwargs, output: batches.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    rows = classifier_probabilities(model, tokenizer, texts, 64, show_progress=False)
    assert rows.shape == (130, 2) and batches == [64, 64, 2] and np.allclose(rows.sum(1), 1, atol=1e-6)
    for i in (0, 6, 77, 129):
        alone = classifier_probabilities(model, tokenizer, texts[i : i + 1], 64, show_progress=False)[0]
        np.testing.assert_allclose(rows[i], alone, atol=1e-4)  # the steep head shows padding's rounding
        with torch.no_grad():
            logits = model(**tokenizer(texts[i], return_tensors="pt")).logits[0]
        np.testing.assert_allclose(rows[i], torch.softmax(logits, -1).numpy(), atol=1e-4)
    assert rows.std(0).max() > 0.05, "texts get different probabilities"
    half = classifier_probabilities(model, tokenizer, texts, 64, show_progress=False, half_precision=torch.bfloat16)
    # The fixture's head is steep along a direction in which the tiny encoder's states barely differ, so bf16's
    # rounding moves its answers far: asserted here is only that the model ran in bf16 and its rows stay probabilities.
    assert not np.array_equal(half, rows) and half.dtype == np.float32 and np.allclose(half.sum(1), 1, atol=1e-5)


def test_the_fine_tuned_models_reading_is_at_the_runs_length_on_its_device_timed_and_logged(
    tiny_bert, untrained_classifier, tmp_path, caplog, capsys
):
    from transformers import AutoModelForSequenceClassification

    from bert_sentiment.label_issues import OWN_MODEL, classifier_probabilities, read_training_texts

    prepared, _, training_args = prepared_run(tiny_bert, tmp_path, english_reviews(40), "--max_seq_length", 8)
    training_args.bf16 = training_args.fp16 = False
    model = AutoModelForSequenceClassification.from_pretrained(untrained_classifier)
    texts = ["the film was great", "the plot was dull and the acting was poor and the music was awful too"]
    caplog.set_level("INFO")
    model.train()  # as the Trainer may leave it: dropout must be off for the reading
    rows = read_training_texts(model, OWN_MODEL, classifier_probabilities, prepared, training_args, texts)
    assert not model.training
    np.testing.assert_allclose(rows, classifier_probabilities(model, prepared.tokenizer, texts, 8, False), atol=1e-6)
    longer = classifier_probabilities(model, prepared.tokenizer, texts[1:], 64, False)[0]
    assert not np.allclose(rows[1], longer, atol=1e-4), "the long text is cut at the run's length"
    assert_reading_timed_and_barred_when_asked(
        lambda: read_training_texts(model, OWN_MODEL, classifier_probabilities, prepared, training_args, texts),
        OWN_MODEL, "Fine-tuned model on its training texts", training_args, caplog, capsys,
    )  # fmt: skip


def assert_reading_timed_and_barred_when_asked(read, by: str, bar: str, training_args, caplog, capsys) -> None:
    """After a reading of 2 texts in fp32 under --disable_tqdm: its log line (by whom, how long) and no progress bar;
    then `read()` again without --disable_tqdm shows the bar, filled."""
    logged = re.fullmatch(
        rf"Read 2 training texts with {re.escape(by)} \(fp32\) for label issues in (\d+\.\d) s\.",
        caplog.messages[-1],
    )
    assert logged and float(logged[1]) < 60
    assert bar not in capsys.readouterr().err, "--disable_tqdm: no progress bar"
    training_args.disable_tqdm = False
    read()
    assert re.search(rf"(^|\r){re.escape(bar)} \(label issues\): 100%", capsys.readouterr().err)
