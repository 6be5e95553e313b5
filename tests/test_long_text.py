import json

import numpy as np
from transformers import AutoTokenizer

import train
from src.inference import SentimentClassifier
from src.long_text import average_by_owner, head_tail_texts, window_encodings
from tests.conftest import EN_NOUNS, english_reviews, quick_training_flags, write_csv

FILLER = " ".join(EN_NOUNS * 6)  # words that occur in both classes alike: no sentiment


def test_head_tail_keeps_the_start_and_the_end_within_the_budget(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = f"the movie was {FILLER} superb and delightful"
    [cut] = head_tail_texts(tokenizer, [text], max_length=16)
    assert cut.startswith("the movie") and cut.endswith("superb and delightful")
    assert len(tokenizer(cut)["input_ids"]) <= 16
    assert head_tail_texts(tokenizer, ["short one"], 16) == ["short one"]


def test_windows_cover_every_token_and_average_per_text(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = f"the movie was {FILLER} superb"
    encoded, owners = window_encodings(tokenizer, [text, "the film was dull"], max_length=16)
    assert owners[-1] == 1 and (owners == 0).sum() > 4
    assert all(len(ids) <= 16 for ids in encoded["input_ids"])
    assert "superb" in tokenizer.decode(encoded["input_ids"][int((owners == 0).sum()) - 1])
    averaged = average_by_owner(np.array([[0.2, 0.8], [0.4, 0.6], [1.0, 0.0]]), np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(averaged, [[0.3, 0.7], [1.0, 0.0]])


def test_chunks_read_sentiment_at_the_end_of_long_reviews(tiny_bert, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(240))
    long_reviews = [(f"the movie was {FILLER} it was superb and delightful {i}", "positive") for i in range(10)]
    long_reviews += [(f"the movie was {FILLER} it was awful and dreadful {i}", "negative") for i in range(10)]
    test = write_csv(tmp_path / "long.csv", long_reviews)
    out = tmp_path / "out"
    flags = ["--train_file", data, "--test_file", test, *quick_training_flags(tiny_bert, out), "--max_seq_length", "16",
             "--long_text", "chunks"]  # fmt: skip
    assert train.main([str(f) for f in flags]) == 0
    facts = json.loads((out / "run_facts.json").read_text())
    assert json.loads((out / "config.json").read_text())["long_text"] == "chunks"
    assert json.loads((out / "all_results.json").read_text())["test_windows"] > 20 * 4
    assert facts["results"]["test"]["metrics"]["accuracy"] >= 0.9

    texts = [text for text, _ in long_reviews]
    expected = [label for _, label in long_reviews]

    def accuracy(mode):
        predictions = SentimentClassifier(str(out), quantize=False, long_text=mode).predict(texts)
        return np.mean([p.label == y for p, y in zip(predictions, expected)])

    assert SentimentClassifier(str(out), quantize=False).long_text == "chunks", "the app applies the training mode"
    assert accuracy("chunks") >= 0.9 and accuracy("head_tail") >= 0.9
    assert accuracy("truncate") <= 0.6, "the first 16 tokens hold no sentiment"
