import json

import numpy as np

from bert_sentiment.evaluation import classification_metrics, evaluation_report, label_examples, most_confident_mistakes


def test_binary_metrics_treat_the_second_label_as_positive():
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], num_labels=2)
    assert metrics == {"accuracy": 0.75, "precision": 2 / 3, "recall": 1.0, "f1": 0.8}


def test_multiclass_metrics_are_macro_and_weighted():
    metrics = classification_metrics([0, 1, 2, 2], [0, 1, 2, 1], num_labels=3)
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "precision_weighted", "recall_weighted", "f1_weighted"}
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
