"""The app as people use it: gradio_client against the app served on loopback."""

import ast
import csv
import time

import pytest

from app import load_classifier
from bert_sentiment.errors import UserError
from tests.conftest import call_mcp_tool, english_reviews


def test_single_prediction_has_every_label_and_sums_to_one(served):
    classifier, client, _ = served
    label, note = client.predict("the acting was superb and delightful", api_name="/predict")
    assert label["label"] == "positive"
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == {"negative", "positive"}
    assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-6)
    assert confidences["positive"] > 0.8, "a clear text gets a confident answer"
    assert note == ""


def test_empty_input_gets_a_friendly_message(served):
    _, client, _ = served
    _, note = client.predict("   ", api_name="/predict")
    assert note == "Type or paste a text to classify."


def test_oversized_and_odd_input_is_truncated_with_a_note(served):
    classifier, client, _ = served
    text = "the plot was horrible and dull 🙄\x00\x07 " * 200
    label, note = client.predict(text, api_name="/predict")
    assert label["label"] == "negative" and label["confidences"][0]["confidence"] > 0.8
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
    fast = load_classifier(str(trained_run), engine="torch").predict(texts)
    for expected, got in zip(stock, fast):
        assert {e["label"]: pytest.approx(e["score"], abs=1e-5) for e in expected} == got.scores


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="No model given. Set MODEL_ID"):
        load_classifier(None)
    with pytest.raises(UserError, match="Could not load model"):
        load_classifier(str(tmp_path / "nothing-here"))


def test_the_app_serves_the_checked_int8_graph(served):
    classifier, _, _ = served
    assert classifier.engine == "onnx"
    assert classifier.engine_note == "ONNX Runtime int8 (model_quantized.onnx, the model's own file)"


def test_concurrent_visitors_share_forward_passes(served):
    classifier, client, _ = served
    batches, predict = [], classifier.predict

    def slow_first_predict(texts, *args, **kwargs):  # the first pass lasts long enough for the others to queue
        batches.append(len(texts))
        if len(batches) == 1:
            time.sleep(0.5)
        return predict(texts, *args, **kwargs)

    texts = [text for text, _ in english_reviews(16, seed=5)]
    classifier.predict = slow_first_predict
    try:
        jobs = [client.submit(text, api_name="/predict") for text in texts]
        answers = [job.result(timeout=60) for job in jobs]
    finally:
        del classifier.predict
    assert max(batches) > 1 and sum(batches) == len(texts), f"batches of {batches}"
    alone = [classifier.predict([text])[0] for text in texts]
    for (label, _), single in zip(answers, alone):
        assert label["label"] == single.label, "each visitor gets the answer for their own text"
        confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
        # int8 activations are scaled per batch, so a batch's company moves probabilities by ~1e-3, never labels
        assert confidences == pytest.approx(single.scores, abs=5e-3)


def test_prediction_is_an_mcp_tool(served):
    """A real MCP client on loopback: list the tools, call one, read the label names and probabilities."""
    _, _, url = served
    tools, result = call_mcp_tool(url, "classify_sentiment", {"text": "the acting was superb and delightful"})
    tool = tools["classify_sentiment"]
    assert tool.description.startswith("Classify the sentiment of a text")
    assert list(tool.inputSchema["properties"]) == ["text"] and tool.inputSchema["properties"]["text"]["type"] == "string"
    assert "classify_texts" in tools
    assert not result.isError
    answer, note = ast.literal_eval(result.content[0].text)  # gradio writes the outputs' Python form
    assert answer["label"] == "positive"
    confidences = {c["label"]: c["confidence"] for c in answer["confidences"]}
    assert set(confidences) == {"negative", "positive"} and sum(confidences.values()) == pytest.approx(1.0, abs=1e-6)
    assert confidences["positive"] > 0.8 and note == ""


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("great\x00film\x07!", "great film !"),
        ("line one\nline two\tend", "line one\nline two\tend"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),
        ("  padded \r\n", "padded"),
        ("emoji 🙄 stay", "emoji 🙄 stay"),
        (None, ""),
        (42, "42"),
    ],
)
def test_control_characters_become_spaces_and_text_survives(raw, cleaned):
    from bert_sentiment.inference import clean_text

    assert clean_text(raw) == cleaned


def test_oversized_input_is_bounded_before_tokenizing():
    from bert_sentiment.inference import MAX_CHARACTERS, clean_text

    assert len(clean_text("a" * (MAX_CHARACTERS + 5000))) == MAX_CHARACTERS
