"""Calibration: a temperature fitted on validation, folded into the model, reported before and after."""

import json
import random

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

import train
from bert_sentiment.arguments import parse_args
from bert_sentiment.calibration import (
    ECE_BINS,
    calibration_report,
    classifier_head,
    expected_calibration_error,
    fit_temperature,
    fold_temperature,
    negative_log_likelihood,
    plot_reliability,
    uncalibrated,
)
from bert_sentiment.evaluation import softmax
from bert_sentiment.fine_tune import fine_tune
from tests.conftest import english_reviews, quick_training_flags, write_csv


def overconfident(count: int = 4000, factor: float = 4.0, seed: int = 0):
    """Labels drawn from softmax(z), so softmax(z) is calibrated; logits factor * z are over-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(count, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(z)])
    return factor * z, labels


def test_the_fitted_temperature_undoes_over_confidence_and_keeps_every_label():
    logits, labels = overconfident()
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(4.0, rel=0.1)
    before, after = softmax(logits), softmax(logits / temperature)
    assert expected_calibration_error(after, labels) < expected_calibration_error(before, labels) / 3
    assert negative_log_likelihood(after, labels) < negative_log_likelihood(before, labels)
    assert (after.argmax(1) == before.argmax(1)).all(), "scaling never changes a predicted label"
    np.testing.assert_allclose(uncalibrated(after, temperature), before, atol=1e-9)


def test_texts_read_as_different_numbers_of_windows_each_count_once():
    logits, labels = overconfident(count=600)
    windows = np.repeat(logits, [1, 3] * 300, axis=0)  # every other text read as three windows
    owners = np.repeat(np.arange(600), [1, 3] * 300)
    noise = np.random.default_rng(2).normal(0, 0.5, size=windows.shape)
    temperature = fit_temperature(windows + noise, labels, owners)

    def nll(t):
        probabilities = softmax((windows + noise) / t)
        texts = np.zeros((600, 3))
        np.add.at(texts, owners, probabilities)
        texts /= np.bincount(owners)[:, None]
        return negative_log_likelihood(texts, labels)

    assert nll(temperature) <= min(nll(temperature * 1.05), nll(temperature * 0.95)), "the mean per text, minimized"


def test_undoing_the_scaling_stays_exact_where_the_powers_underflow():
    probabilities = np.array([[0.5, 0.5], [1 - 1e-9, 1e-9]])
    np.testing.assert_allclose(uncalibrated(probabilities, 2000.0)[0], [0.5, 0.5])
    assert not np.isnan(uncalibrated(probabilities, 2000.0)).any()


def test_undoing_the_scaling_takes_a_probability_of_exactly_zero_quietly():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "divide by zero in log" would reach the user's log
        undone = uncalibrated(np.array([[1.0, 0.0], [0.25, 0.75]]), 2.0)
    np.testing.assert_allclose(undone, [[1.0, 0.0], [0.1, 0.9]])


def test_windows_are_scaled_before_averaging():
    logits, labels = overconfident(count=1000)
    windows = np.repeat(logits, 2, axis=0) + np.tile([[0.3, -0.3, 0.0], [-0.3, 0.3, 0.0]], (1000, 1))
    owners = np.repeat(np.arange(1000), 2)
    assert fit_temperature(windows, labels, owners) == pytest.approx(4.0, rel=0.15)


def test_an_already_calibrated_model_keeps_a_temperature_near_one():
    logits, labels = overconfident(factor=1.0)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)


def test_folding_divides_the_models_logits(tiny_bert):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    batch = AutoTokenizer.from_pretrained(tiny_bert)(
        ["the film was great", "the plot was dull"], return_tensors="pt", padding=True
    )
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.7, -1.3]))  # a fresh head's bias is zero: folding must touch it
        before = model(**batch).logits
        assert fold_temperature(model, 2.5)
        after = model(**batch).logits
    torch.testing.assert_close(after, before / 2.5)


def test_the_head_is_the_last_layer_giving_one_output_per_label_whatever_its_name():
    from transformers import AutoModelForSequenceClassification, RobertaConfig

    config = RobertaConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=3
    )
    model = AutoModelForSequenceClassification.from_config(config).eval()
    assert classifier_head(model) is model.classifier.out_proj, "RoBERTa's head is a dense layer, then out_proj"
    logits = model(input_ids=torch.tensor([[0, 5, 6, 2]])).logits.detach()
    assert fold_temperature(model, 2.0)
    torch.testing.assert_close(model(input_ids=torch.tensor([[0, 5, 6, 2]])).logits.detach(), logits / 2)
    no_head = torch.nn.Sequential(torch.nn.Linear(4, 8))
    no_head.config = config
    assert classifier_head(no_head) is None and not fold_temperature(no_head, 2.0)


def test_the_calibration_error_bins_by_confidence_with_each_edge_in_the_bin_below():
    probabilities = np.array([[0.25, 0.75], [0.24, 0.76]])
    labels = np.array([1, 0])  # the first right at 0.75, an edge of 4 bins; the second wrong at 0.76
    assert expected_calibration_error(probabilities, labels, bins=4) == pytest.approx(0.5 * 0.25 + 0.5 * 0.76)
    together = np.array([[0.2, 0.8], [0.24, 0.76]])  # both in (0.75, 1]: one bin, accuracy 0.5
    assert expected_calibration_error(together, labels, bins=4) == pytest.approx(abs(0.5 - 0.78))
    top_two = np.array([[0.05, 0.95], [0.1, 0.9]])  # the last two of 15 bins, kept apart
    assert expected_calibration_error(top_two, labels) == pytest.approx(0.5 * 0.05 + 0.5 * 0.9)
    sure = np.array([[0.0, 1.0]] * 3)
    assert expected_calibration_error(sure, np.array([1, 1, 1])) == 0.0, "a confidence of 1 falls in the last bin"
    assert ECE_BINS == 15


def test_the_calibration_error_keeps_the_lowest_bin_apart():
    """With many labels a confidence can fall in the first bin, [0, 1/bins]; it is not pooled with the second."""
    probabilities = np.array([[0.22, 0.2, 0.2, 0.19, 0.19], [0.3, 0.2, 0.2, 0.15, 0.15]])
    labels = np.array([0, 1])  # right at 0.22 (first of 4 bins), wrong at 0.3 (second)
    assert expected_calibration_error(probabilities, labels, bins=4) == pytest.approx(0.5 * 0.78 + 0.5 * 0.3)


def one_of_twenty(confidence: float) -> list[float]:
    """A row of 20 probabilities whose first, the predicted label, is `confidence` (ties go to the first)."""
    return [confidence] + [(1 - confidence) / 19] * 19


def test_the_reliability_picture_plots_each_bin_at_its_mean_confidence_and_accuracy(tmp_path, monkeypatch):
    """One point per bin used: an edge (0.6 of 15 bins) in the bin below, the first bin apart from the second."""
    from matplotlib.figure import Figure

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **kw: drawn.append(figure) or path.write_bytes(b""))
    probabilities = np.array([one_of_twenty(c) for c in (0.6, 0.62, 0.05, 0.1)])
    plot_reliability(probabilities, np.array([0, 1, 0, 1]), 1.0, "Reliability (test)", tmp_path / "r.png")
    diagonal, before, after = drawn[0].axes[0].get_lines()
    for line in (before, after):
        np.testing.assert_allclose(line.get_xdata(), [0.05, 0.1, 0.6, 0.62])
        np.testing.assert_allclose(line.get_ydata(), [1, 0, 1, 0])
    assert (list(diagonal.get_xdata()), list(diagonal.get_ydata())) == ([0, 1], [0, 1])
    assert (diagonal.get_color(), diagonal.get_linestyle()) == ("grey", "--"), "the diagonal is a guide, not data"


def test_a_label_given_no_probability_costs_a_large_but_finite_loss():
    probabilities = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert negative_log_likelihood(probabilities, np.array([1, 0])) == pytest.approx((-np.log(1e-12) - np.log(0.5)) / 2)


def test_the_report_gives_both_sides_of_the_scaling(tmp_path, monkeypatch):
    from matplotlib import pyplot as plt

    logits, labels = overconfident(count=2000)
    temperature = fit_temperature(logits, labels)
    after = softmax(logits / temperature)
    report = calibration_report(after, labels, temperature)
    before = softmax(logits)
    assert report["ece_before"] == pytest.approx(expected_calibration_error(before, labels), abs=1e-9)
    assert report["nll_before"] == pytest.approx(negative_log_likelihood(before, labels), abs=1e-9)
    assert report["ece_after"] == expected_calibration_error(after, labels)
    assert report["nll_after"] == negative_log_likelihood(after, labels)
    drawn = {}
    monkeypatch.setattr(plt, "close", lambda figure: drawn.setdefault("figure", figure))
    plot_reliability(after, labels, temperature, "Reliability (validation, temperature 4.00)", tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1_000
    axes = drawn["figure"].axes[0]
    lines = {line.get_label(): line.get_data() for line in axes.get_lines()}
    assert set(lines) == {
        "perfectly calibrated",
        f"before (ECE {report['ece_before']:.3f})",
        f"after (ECE {report['ece_after']:.3f})",
    }
    gaps = {}
    for name, shown in (("before", before), ("after", after)):
        confidence, accuracy = lines[f"{name} (ECE {report[f'ece_{name}']:.3f})"]
        bins = np.clip(np.ceil(shown.max(axis=1) * ECE_BINS) - 1, 0, ECE_BINS - 1)  # (b/15, (b+1)/15]
        used = np.unique(bins)
        right = shown.argmax(axis=1) == labels
        np.testing.assert_allclose(confidence, [shown.max(axis=1)[bins == b].mean() for b in used])
        np.testing.assert_allclose(accuracy, [right[bins == b].mean() for b in used])
        gaps[name] = np.median(np.abs(np.asarray(accuracy) - np.asarray(confidence)))
    assert gaps["after"] < gaps["before"] / 2, "after scaling, the points lie near the diagonal"
    assert axes.get_title() == "Reliability (validation, temperature 4.00)"
    assert axes.get_xlim() == (0, 1.02) and axes.get_ylim() == (0, 1.02)
    assert axes.get_xlabel() == "confidence (probability of the predicted label)" and axes.get_ylabel() == "accuracy"
    diagonal = axes.get_lines()[0]
    assert diagonal.get_label() == "perfectly calibrated" and diagonal.get_linestyle() == "--"
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    assert [line.get_marker() for line in axes.get_lines()[1:]] == ["o", "s"]
    assert axes.get_legend()._loc == 2, "upper left, above the empty corner"
    from PIL import Image

    assert Image.open(tmp_path / "r.png").size == (550, 550), "5 by 5 inches at 110 dots per inch"


def noisy_reviews(count: int, flip: float, seed: int) -> list[tuple[str, str]]:
    """Separable reviews with a share of labels flipped: a model that fits them becomes over-confident."""
    rng = random.Random(seed)
    other = {"positive": "negative", "negative": "positive"}
    return [(text, other[label] if rng.random() < flip else label) for text, label in english_reviews(count, seed=seed)]


class MakeOverconfident(TrainerCallback):
    """At the end of training, multiply the head's logits by `factor`: the model becomes over-confident on purpose."""

    def __init__(self, factor: float):
        self.factor = factor

    def on_train_end(self, args, state, control, model=None, **kwargs):
        fold_temperature(model, 1 / self.factor)


def test_an_overconfident_model_is_calibrated_and_the_saved_model_answers_calibrated(tiny_bert, tmp_path, caplog):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    caplog.set_level("INFO")
    data = write_csv(tmp_path / "noisy.csv", noisy_reviews(800, flip=0.2, seed=1))
    test_rows = noisy_reviews(300, flip=0.2, seed=2)
    test = write_csv(tmp_path / "test.csv", test_rows)
    out = tmp_path / "out"
    flags = ["--train_file", data, "--test_file", test, *quick_training_flags(tiny_bert, out)]
    assert fine_tune(*parse_args([str(f) for f in flags]), callbacks=[MakeOverconfident(4.0)])
    facts = json.loads((out / "run_facts.json").read_text())
    temperature = facts["calibration"]["temperature"]
    assert 2.5 < temperature < 6, "the temperature undoes most of the factor 4"
    for split in ("validation", "test"):
        report = facts["results"][split]["calibration"]
        assert report["ece_after"] < report["ece_before"] and report["nll_after"] < report["nll_before"], split
    assert "Calibrated the probabilities: temperature" in caplog.text
    assert (out / "reliability_test.png").is_file()
    card = (out / "README.md").read_text()
    assert (
        "## Calibration" in card
        and f"{temperature:.3f}" in card
        and "![Reliability diagram](reliability_test.png)" in card
    )

    # A plain pipeline() on the saved model returns the calibrated scores: its test NLL is the one reported.
    texts, labels = [t for t, _ in test_rows], np.array([int(label == "positive") for _, label in test_rows])
    answers = pipeline("text-classification", model=str(out))(texts, top_k=None, truncation=True)
    calibrated = np.array(
        [[{a["label"]: a["score"] for a in answer}[name] for name in ("negative", "positive")] for answer in answers]
    )
    assert negative_log_likelihood(calibrated, labels) == pytest.approx(
        facts["results"]["test"]["calibration"]["nll_after"], abs=1e-4
    )
    # ... and undoing the temperature gives back the model's own, over-confident answers with the same labels.
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    batch = AutoTokenizer.from_pretrained(out)(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        raw = softmax((model(**batch).logits * temperature).numpy())
    assert (raw.argmax(1) == calibrated.argmax(1)).all()
    assert raw.max(1).mean() > calibrated.max(1).mean()


def test_calibration_off_or_too_little_validation_is_said_in_one_line(tiny_bert, english_csv, tmp_path, caplog):
    caplog.set_level("INFO")
    skipped = ("--export_onnx", "false", "--find_label_issues", "false")  # steps after calibration, not read here
    assert (
        train.main(
            [str(f) for f in ["--train_file", english_csv, *quick_training_flags(tiny_bert, tmp_path / "a"), *skipped]]
        )
        == 0
    )
    assert (
        "Calibration skipped: the validation split has 24 texts, fewer than the 50 a temperature needs." in caplog.text
    )
    big = write_csv(tmp_path / "big.csv", english_reviews(600))
    flags = ["--train_file", big, *quick_training_flags(tiny_bert, tmp_path / "b"), "--calibrate", "false", *skipped]
    assert train.main([str(f) for f in flags]) == 0
    assert "Calibration off (--calibrate false)" in caplog.text
    facts = json.loads((tmp_path / "b" / "run_facts.json").read_text())
    assert "calibration" not in facts and "calibration" not in facts["results"]["validation"]
    assert (
        not list((tmp_path / "b").glob("reliability_*.png"))
        and "## Calibration" not in (tmp_path / "b" / "README.md").read_text()
    )
