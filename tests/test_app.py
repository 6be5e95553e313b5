"""The app as people use it: gradio_client against the app served on loopback."""

import csv

import pytest

from app import load_classifier
from bert_sentiment.errors import UserError


def test_single_prediction_has_every_label_and_sums_to_one(served):
    classifier, client, _ = served
    label, note = client.predict("the acting was superb and delightful", api_name="/predict")
    assert label["label"] == "positive"
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == {"negative", "positive"}
    assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-6)
    assert confidences["positive"] > 0.9, "a clear text gets a confident answer"
    assert note == ""


def test_empty_input_gets_a_friendly_message(served):
    _, client, _ = served
    _, note = client.predict("   ", api_name="/predict")
    assert note == "Type or paste a text to classify."


def test_oversized_and_odd_input_is_truncated_with_a_note(served):
    classifier, client, _ = served
    text = "the plot was horrible and dull 🙄\x00\x07 " * 200
    label, note = client.predict(text, api_name="/predict")
    assert label["label"] == "negative" and label["confidences"][0]["confidence"] > 0.9
    assert f"longer than {classifier.max_length} tokens" in note


def test_batch_returns_a_table_and_a_csv(served, tmp_path):
    from gradio_client import handle_file

    _, client, _ = served
    upload = tmp_path / "texts.csv"
    with open(upload, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "review"], [1, "the cast was superb and wonderful"], [2, "the film was awful and boring"]])
    table, download, note = client.predict(None, handle_file(str(upload)), api_name="/predict_batch")
    assert [row[:2] for row in table["data"]] == [["the cast was superb and wonderful", "positive"], ["the film was awful and boring", "negative"]]
    assert table["headers"] == ["text", "label", "score", "p(negative)", "p(positive)", "truncated"]
    with open(download, encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 3
    assert note.startswith("2 texts classified")


def test_fast_path_matches_the_stock_pipeline(trained_run):
    from transformers import pipeline

    texts = ["the music was wonderful", "the ending was dreadful and dull", "酒店很好"]
    stock = pipeline("text-classification", model=str(trained_run))(texts, top_k=None, truncation=True)
    fast = load_classifier(str(trained_run), quantize=False).predict(texts)
    for expected, got in zip(stock, fast):
        assert {e["label"]: pytest.approx(e["score"], abs=1e-5) for e in expected} == got.scores


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="No model given. Set MODEL_ID"):
        load_classifier(None, quantize=True)
    with pytest.raises(UserError, match="Could not load model"):
        load_classifier(str(tmp_path / "nothing-here"), quantize=True)
