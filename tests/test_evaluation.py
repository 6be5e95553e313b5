import json

import numpy as np
import pytest

from bert_sentiment.evaluation import classification_metrics, evaluation_report, label_examples, most_confident_mistakes


def test_binary_metrics_treat_the_second_label_as_positive():
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], num_labels=2)
    assert metrics == {"accuracy": 0.75, "precision": 2 / 3, "recall": 1.0, "f1": 0.8}


def test_multiclass_metrics_are_macro_and_weighted():
    metrics = classification_metrics([0, 1, 2, 2], [0, 1, 2, 1], num_labels=3)
    assert set(metrics) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
    }
    assert metrics["recall"] == (1 + 1 + 0.5) / 3


def test_most_confident_mistakes_come_first():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.99, 0.01]])
    wrong = most_confident_mistakes(["a", "b", "c", "d"], np.array([1, 0, 1, 1]), probabilities, ["neg", "pos"])
    assert [w["text"] for w in wrong] == ["d", "a", "b"]
    assert wrong[0] == {"text": "d", "label": "pos", "predicted": "neg", "confidence": 0.99}


def test_label_examples_are_correct_confident_and_short():
    texts = ["fine", "x" * 300, "great", "awful", "meh"]
    probabilities = np.array([[0.4, 0.6], [0.01, 0.99], [0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    examples = label_examples(texts, np.array([1, 1, 1, 0, 0]), probabilities, ["negative", "positive"])
    assert examples == {"negative": "awful", "positive": "great"}


def test_report_writes_confusion_matrix_image_and_json(tmp_path):
    probabilities = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    report = evaluation_report(["x", "y", "z"], [0, 1, 1], probabilities, ["差评", "好评"], "validation", tmp_path)
    assert report["confusion_matrix"]["matrix"] == [[1, 0], [1, 1]]
    saved = json.loads((tmp_path / "confusion_matrix_validation.json").read_text(encoding="utf-8"))
    assert saved["labels"] == ["差评", "好评"]
    assert (tmp_path / "confusion_matrix_validation.png").read_bytes()[:4] == b"\x89PNG"
    lines = (tmp_path / "wrong_predictions_validation.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["label"] == "好评"
    assert report["per_class"]["好评"]["recall"] == 0.5


def test_softmax_is_stable_and_row_wise():
    from bert_sentiment.evaluation import softmax

    logits = np.array([[1000.0, 1000.0, 1000.0 + np.log(2)], [0.0, 0.0, 0.0], [-5.0, 5.0, -5.0]])
    probabilities = softmax(logits)
    np.testing.assert_allclose(probabilities[0], [0.25, 0.25, 0.5])  # no overflow at large logits
    np.testing.assert_allclose(probabilities[1], [1 / 3] * 3)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0)
    assert probabilities[2].argmax() == 1 and probabilities[2, 0] == probabilities[2, 2]


def test_the_trainers_metrics_read_the_argmax_of_its_logits():
    from types import SimpleNamespace

    from bert_sentiment.evaluation import metrics_for_trainer

    logits = np.array([[2.0, -1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 4.0], [5.0, 0.0, 0.0]])
    metrics = metrics_for_trainer(3)(SimpleNamespace(predictions=logits, label_ids=np.array([0, 1, 1, 0])))
    assert metrics == classification_metrics([0, 1, 1, 0], [0, 1, 2, 0], num_labels=3)
    assert metrics["accuracy"] == 0.75


def test_report_artefacts_hold_every_figure(tmp_path):
    probabilities = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.95, 0.05]])
    report = evaluation_report(
        ["a", "b", "c", "d", "e"], [0, 1, 1, 1, 1], probabilities, ["neg", "pos"], "test", tmp_path
    )
    expected = {
        "labels": ["neg", "pos"],
        "matrix": [[1, 0], [2, 2]],
        "rows": "true label",
        "columns": "predicted label",
    }
    assert report["confusion_matrix"] == expected
    assert json.loads((tmp_path / "confusion_matrix_test.json").read_text(encoding="utf-8")) == expected
    wrong = [json.loads(line) for line in (tmp_path / "wrong_predictions_test.jsonl").read_text().splitlines()]
    assert wrong == [
        {"text": "e", "label": "pos", "predicted": "neg", "confidence": 0.95},
        {"text": "c", "label": "pos", "predicted": "neg", "confidence": 0.6},
    ]
    assert report["metrics"] == classification_metrics([0, 1, 1, 1, 1], [0, 1, 0, 1, 0], 2)
    assert report["label_examples"] == {"neg": "a", "pos": "d"} and report["num_examples"] == 5
    assert report["per_class"]["pos"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 4}


def test_the_confusion_matrix_picture_says_what_the_figures_say(tmp_path, monkeypatch):
    """The drawn picture, read back from matplotlib: axis titles, label names, counts with row shares."""
    from matplotlib.figure import Figure

    from bert_sentiment.evaluation import plot_confusion_matrix

    drawn = []
    monkeypatch.setattr(
        Figure, "savefig", lambda figure, path, **_: drawn.append((figure, path)) or path.write_bytes(b"")
    )
    plot_confusion_matrix(np.array([[8, 2], [1, 9]]), ["neg", "pos"], "Confusion matrix (test)", tmp_path / "m.png")
    ((figure, path),) = drawn
    axes = figure.axes[0]
    assert path.parent == tmp_path and path.suffix == ".png" and (tmp_path / "m.png").exists()
    assert axes.get_title() == "Confusion matrix (test)"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("Predicted label", "True label")
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["neg", "pos"]
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["neg", "pos"]
    cells = {(text.get_position(), text.get_text()): text.get_color() for text in axes.texts}
    assert cells == {
        ((0, 0), "8\n80%"): "white",
        ((1, 0), "2\n20%"): "black",
        ((0, 1), "1\n10%"): "black",
        ((1, 1), "9\n90%"): "white",
    }
    assert len(figure.axes) == 2, "with a colour bar"


def test_chinese_names_are_drawn_as_ids_without_a_cjk_font(caplog, monkeypatch):
    from matplotlib import font_manager

    from bert_sentiment.evaluation import _displayable

    monkeypatch.setattr(font_manager.fontManager, "ttflist", [])
    caplog.set_level("WARNING")
    assert _displayable(["差评", "好评"]) == ["0", "1"]
    assert caplog.messages == [
        "No CJK font installed, so the confusion-matrix image shows label ids (0=差评, 1=好评). "
        "Install one (e.g. apt install fonts-noto-cjk) to see the names."
    ]
    assert _displayable(["neg", "pos"]) == ["neg", "pos"]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [font_manager.FontEntry(name="WenQuanYi Zen Hei")])
    assert _displayable(["差评", "好评"]) == ["差评", "好评"]


def test_a_class_absent_from_a_split_still_has_its_row_column_and_zero_scores(tmp_path):
    """Three classes, the third never given nor predicted in this split: macro averages count it, with zeros."""
    probabilities = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    report = evaluation_report(["a", "b", "c", "d"], [0, 1, 1, 1], probabilities, ["差", "中", "好"], "test", tmp_path)
    assert report["confusion_matrix"]["matrix"] == [[1, 0, 0], [1, 2, 0], [0, 0, 0]]
    assert report["per_class"]["好"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["metrics"]["recall"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert report["metrics"]["precision"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert '"差"' in (tmp_path / "confusion_matrix_test.json").read_text(encoding="utf-8"), (
        "names as written, not \\u escapes"
    )
    assert '"中"' in (tmp_path / "wrong_predictions_test.jsonl").read_text(encoding="utf-8")


def test_mistakes_tied_in_confidence_keep_their_order_and_four_decimals():
    probabilities = np.array([[0.123456, 0.876544], [0.876544, 0.123456], [0.123456, 0.876544], [0.6, 0.4]])
    wrong = most_confident_mistakes(["a", "b", "c", "d"], np.array([0, 1, 0, 1]), probabilities, ["neg", "pos"])
    assert [(w["text"], w["confidence"]) for w in wrong] == [("a", 0.8765), ("b", 0.8765), ("c", 0.8765), ("d", 0.6)]


def test_label_examples_take_the_most_confident_text_not_the_last_one():
    texts = ["superb", "fine", "x" * 200, "y" * 201]
    probabilities = np.array([[0.01, 0.99], [0.3, 0.7], [0.4, 0.6], [0.0, 1.0]])
    examples = label_examples(texts, np.array([1, 1, 1, 1]), probabilities, ["negative", "positive"])
    assert examples == {"positive": "superb"}, "the 201-character text is over the limit; 200 would be allowed"
    probabilities[0] = [0.5, 0.5]
    assert label_examples(texts, np.array([1, 1, 1, 1]), probabilities, ["negative", "positive"]) == {
        "positive": "fine"
    }
