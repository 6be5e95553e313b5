import json
import re

import numpy as np
import pytest
from transformers import AutoTokenizer

import train
from bert_sentiment.inference import SentimentClassifier
from bert_sentiment.long_text import average_by_owner, head_tail_texts, window_encodings
from tests.conftest import EN_NOUNS, english_reviews, quick_training_flags, write_csv

FILLER = " ".join(EN_NOUNS)  # words that occur in both classes alike: no sentiment


def test_head_tail_keeps_the_start_and_the_end_within_the_budget(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = f"the movie was {FILLER} {FILLER} superb and delightful"
    [cut] = head_tail_texts(tokenizer, [text], max_length=16)
    assert cut.startswith("the movie") and cut.endswith("superb and delightful")
    assert len(tokenizer(cut)["input_ids"]) <= 16
    assert head_tail_texts(tokenizer, ["short one"], 16) == ["short one"]


def test_head_tail_cuts_exactly_and_starts_the_tail_at_a_word(tiny_bert):
    """Budget = max_length - 2 special tokens; the head is a quarter of it (at least 1 token), the tail the rest.
    A tail that would start inside a word ("wonderful ##l ##y") starts at the next word instead; Chinese
    text has no spaces, so its tail starts where the tokens say."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    long_text = "the movie was " + " ".join(["plot"] * 12) + " wonderfully superb"
    texts = [long_text, "酒店很好服务热情房间干净", "a b c d e f", "a b c d e f g"]
    assert head_tail_texts(tokenizer, texts[:2], max_length=6) == ["the superb", "酒 间干净"]
    assert head_tail_texts(tokenizer, texts[2:], max_length=8) == ["a b c d e f", "a c d e f g"], (
        "6 tokens fit a budget of 6"
    )
    assert head_tail_texts(tokenizer, [long_text], max_length=10) == ["the movie plot plot wonderfully superb"]


def test_a_tail_that_starts_inside_a_word_starts_at_the_next_word_not_the_last(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = "the movie was " + " ".join(["plot"] * 12) + " wonderfully superb film"  # wonderful ##l ##y superb film
    assert head_tail_texts(tokenizer, [text], max_length=6) == ["the superb film"], "the tail began at ##y"


def test_windows_overlap_by_half(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    encoded, owners = window_encodings(tokenizer, ["a b c d e f g h i j", "x"], max_length=8)
    windows = [tokenizer.convert_ids_to_tokens(ids) for ids in encoded["input_ids"]]
    assert windows == [
        ["[CLS]", *"abcdef", "[SEP]"],
        ["[CLS]", *"cdefgh", "[SEP]"],
        ["[CLS]", *"efghij", "[SEP]"],
        ["[CLS]", "x", "[SEP]"],
    ]
    assert owners.tolist() == [0, 0, 0, 1]


def test_windows_cover_every_token_and_average_per_text(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    text = f"the movie was {FILLER} {FILLER} superb"
    encoded, owners = window_encodings(tokenizer, [text, "the film was dull"], max_length=16)
    assert owners[-1] == 1 and (owners == 0).sum() >= 2
    assert all(len(ids) <= 16 for ids in encoded["input_ids"])
    assert "superb" in tokenizer.decode(encoded["input_ids"][int((owners == 0).sum()) - 1])
    averaged = average_by_owner(np.array([[0.2, 0.8], [0.4, 0.6], [1.0, 0.0]]), np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(averaged, [[0.3, 0.7], [1.0, 0.0]])


def long_reviews(count: int) -> list[tuple[str, str]]:
    """Reviews that open with one sentence of the opposite sentiment, then conclude with three of their own."""
    sentences = english_reviews(8 * count, seed=7)
    by_label = {label: [text for text, given in sentences if given == label] for label in ("negative", "positive")}
    reviews = []
    for i in range(count):
        label, other = ("positive", "negative") if i % 2 else ("negative", "positive")
        body = " ".join(by_label[label][3 * i : 3 * i + 3])
        reviews.append((f"{by_label[other][i]} . {body}", label))
    return reviews


def test_training_evaluation_and_the_app_apply_the_same_window_mode(tiny_bert, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(240))
    reviews = long_reviews(20)
    test = write_csv(tmp_path / "long.csv", reviews)
    out = tmp_path / "out"
    flags = [
        "--train_file",
        data,
        "--test_file",
        test,
        *quick_training_flags(tiny_bert, out),
        "--max_seq_length",
        "16",
        "--inference_max_length",
        "16",
        "--long_text",
        "chunks",
        "--metric_for_best_model",
        "loss",
    ]
    assert train.main([str(f) for f in flags]) == 0
    facts = json.loads((out / "run_facts.json").read_text())
    assert facts["results"]["validation"]["metrics"]["accuracy"] >= 0.9, "the model learned the short reviews"
    assert json.loads((out / "config.json").read_text())["long_text"] == "chunks"
    assert facts["lengths"]["long_text"] == "chunks" and facts["lengths"]["splits"]["test"]["truncated"] == 20

    texts, expected = [text for text, _ in reviews], [label for _, label in reviews]
    _, owners = window_encodings(AutoTokenizer.from_pretrained(out), texts, 16)
    assert json.loads((out / "all_results.json").read_text())["test_windows"] == len(owners) > 20 * 3

    app = SentimentClassifier(str(out), engine="torch")
    assert app.long_text == "chunks", "the app reads the training mode from the model's config"
    app_accuracy = np.mean([p.label == y for p, y in zip(app.predict(texts), expected)])
    assert app_accuracy == facts["results"]["test"]["metrics"]["accuracy"], "the app answers as training evaluated"
    assert not any(p.truncated for p in app.predict(texts)), "windows read every token"
    assert all(p.truncated for p in SentimentClassifier(str(out), engine="torch", long_text="truncate").predict(texts))


def card_code(card: str) -> list[str]:
    """The Python blocks of a model card, in order."""
    return re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)


@pytest.mark.parametrize("mode", ["head_tail", "chunks"])
def test_the_cards_snippet_reads_long_texts_as_evaluation_did(mode, tiny_bert, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(240))
    out = tmp_path / "out"
    flags = [*quick_training_flags(tiny_bert, out), "--max_seq_length", "16", "--inference_max_length", "16"]
    assert train.main([str(f) for f in ["--train_file", data, *flags, "--long_text", mode]]) == 0
    card = (out / "README.md").read_text()
    assert "A plain pipeline call with `truncation=True` reads up to 16 tokens of a text" in card
    blocks = [block for block in card_code(card) if "onnxruntime" not in block]
    assert len(blocks) == 2, "the plain call, then the long-text reading"

    namespace = {}
    for block in blocks:  # as a user pastes them: the plain call defines `classify`
        exec(block, namespace)  # noqa: S102
    classify = namespace["classify"]
    texts = [text for text, _ in long_reviews(6)]
    app = SentimentClassifier(str(out), engine="torch").predict(texts)
    if mode == "head_tail":
        read = [
            {s["label"]: s["score"] for s in classify(namespace["head_tail"](t), truncation=True, top_k=None)}
            for t in texts
        ]
        assert [namespace["head_tail"](t) for t in texts] == head_tail_texts(classify.tokenizer, texts, 16)
    else:
        read = [{s["label"]: s["score"] for s in namespace["classify_long"](t)} for t in texts]
    for snippet, ours in zip(read, app):
        assert snippet.keys() == ours.scores.keys()
        np.testing.assert_allclose([snippet[k] for k in ours.scores], list(ours.scores.values()), atol=1e-5)
    # Each review opens with a sentence of the opposite sentiment: reading past it moves the answer.
    plain = [{s["label"]: s["score"] for s in classify(t, truncation=True, top_k=None)} for t in texts]
    assert max(abs(p["positive"] - r["positive"]) for p, r in zip(plain, read)) > 0.2, (
        "the snippet reads beyond the head"
    )
