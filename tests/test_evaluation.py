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


def drawn_picture(matrix, names, tmp_path, monkeypatch):
    """(figure, savefig's keyword arguments) of one confusion-matrix picture."""
    from matplotlib.figure import Figure

    from bert_sentiment.evaluation import plot_confusion_matrix

    drawn = []
    monkeypatch.setattr(
        Figure, "savefig", lambda figure, path, **kw: drawn.append((figure, kw)) or path.write_bytes(b"")
    )
    plot_confusion_matrix(np.array(matrix), names, "Confusion matrix (test)", tmp_path / "m.png")
    return drawn[0]


def test_the_picture_grows_with_the_labels_and_keeps_its_look(tmp_path, monkeypatch):
    figure, saved = drawn_picture([[8, 2], [1, 9]], ["neg", "pos"], tmp_path, monkeypatch)
    assert tuple(figure.get_size_inches()) == (5.0, 4.0) and saved == {"dpi": 120}
    axes = figure.axes[0]
    assert axes.images[0].get_cmap().name == "Blues"
    assert {(tick.get_rotation(), tick.get_horizontalalignment()) for tick in axes.get_xticklabels()} == {(30, "right")}
    assert {(text.get_horizontalalignment(), text.get_verticalalignment()) for text in axes.texts} == {
        ("center", "center")
    }, "each count in the middle of its cell"
    six = [[1] * 6 for _ in range(6)]
    figure, _ = drawn_picture(six, [f"label {i}" for i in range(6)], tmp_path, monkeypatch)
    assert tuple(figure.get_size_inches()) == pytest.approx((7.4, 6.4)), "0.9 inch a label, plus 1"


def test_the_pictures_shares_count_each_true_label_and_dark_cells_turn_white(tmp_path, monkeypatch):
    """A true label with no texts shows 0% (not nan); a cell at exactly half the largest count stays black."""
    figure, _ = drawn_picture([[0, 0, 0], [1, 0, 0], [4, 3, 8]], ["a", "b", "c"], tmp_path, monkeypatch)
    cells = {(text.get_position(), text.get_text()): text.get_color() for text in figure.axes[0].texts}
    assert cells[((0, 0), "0\n0%")] == "black"
    assert cells[((0, 1), "1\n100%")] == "black"
    assert cells[((0, 2), "4\n27%")] == "black", "4 is half of 8: not darker than half"
    assert cells[((1, 2), "3\n20%")] == "black"
    assert cells[((2, 2), "8\n53%")] == "white"


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
    probabilities[1] = [0.5, 0.5]
    assert label_examples(texts, np.array([1, 1, 1, 1]), probabilities, ["negative", "positive"]) == {
        "positive": "x" * 200
    }, "exactly 200 characters is within the limit"


def test_many_mistakes_tied_in_confidence_keep_the_splits_order():
    """Past 16 of them numpy's default sort no longer keeps ties in order; the file lists them as the split does."""
    confident = np.array([0.9, 0.8] * 20)  # two confidences, alternating
    probabilities = np.stack([1 - confident, confident], axis=1)
    texts = [f"text {i}" for i in range(40)]
    wrong = most_confident_mistakes(texts, np.zeros(40, dtype=int), probabilities, ["neg", "pos"], keep=40)
    assert [w["text"] for w in wrong] == texts[0::2] + texts[1::2]


def test_metrics_of_a_class_never_predicted_are_zero_without_a_warning(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's UndefinedMetricWarning would fill the user's log
        assert classification_metrics([0, 1, 1], [0, 0, 0], num_labels=2)["precision"] == 0.0
        report = evaluation_report(["a", "b"], [0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]), ["n", "p"], "test", tmp_path)
    assert report["per_class"]["p"]["precision"] == 0.0


def test_the_report_draws_its_split_and_writes_readable_json(tmp_path, monkeypatch):
    from bert_sentiment import evaluation

    titles = []
    monkeypatch.setattr(evaluation, "plot_confusion_matrix", lambda matrix, names, title, path: titles.append(title))
    evaluation_report(["a", "b"], [0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]), ["n", "p"], "validation", tmp_path)
    assert titles == ["Confusion matrix (validation)"]
    written = (tmp_path / "confusion_matrix_validation.json").read_text(encoding="utf-8")
    assert written == json.dumps(json.loads(written), ensure_ascii=False, indent=2), "indented by two spaces"
    assert written.startswith('{\n  "labels": [\n    "n",')
