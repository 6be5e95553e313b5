"""'Not sure' at a chosen precision: thresholds chosen on validation, reported on test, carried by the model."""

import json

import numpy as np
import pytest

import train
from bert_sentiment.abstain import (
    CURVE_POINTS,
    MIN_ANSWERED,
    abstention_report,
    answered_precision,
    at_threshold,
    describe,
    plot_precision_coverage,
    threshold_for,
)
from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, quick_training_flags, write_csv


def two_class(confidences, correct):
    """Probabilities whose top probability is `confidences[i]`, on label 1; labels 1 where correct, else 0."""
    confidences = np.asarray(confidences, dtype=float)
    return np.c_[1 - confidences, confidences], np.where(correct, 1, 0)


def test_precision_at_each_cut_counts_the_most_confident_answers_and_keeps_ties_together():
    probabilities, labels = two_class([0.99, 0.9, 0.9, 0.8, 0.6], [True, True, False, True, False])
    thresholds, precision, answered = answered_precision(probabilities, labels)
    assert thresholds.tolist() == [0.99, 0.9, 0.8, 0.6], "the two texts at 0.9 are answered together or not at all"
    assert answered.tolist() == [1, 3, 4, 5]
    assert precision.tolist() == pytest.approx([1, 2 / 3, 3 / 4, 3 / 5])


def test_the_lowest_threshold_reaching_the_target_answers_the_most_texts():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 4_000)
    correct = rng.uniform(size=4_000) < confidence  # calibrated: right as often as it is confident
    probabilities, labels = two_class(confidence, correct)
    chosen = threshold_for(probabilities, labels, 0.9)
    assert chosen["precision"] >= 0.9
    answered = probabilities.max(axis=1) >= chosen["threshold"]
    assert answered.sum() == chosen["answered"] and chosen["coverage"] == pytest.approx(answered.mean())
    lower = probabilities.max(axis=1)[~answered].max()  # the next cut down falls short of the target
    assert at_threshold(probabilities, labels, lower)["precision"] < 0.9
    assert 0.6 < chosen["threshold"] < 0.95 and 0.1 < chosen["coverage"] < 0.9


def test_a_few_lucky_confident_texts_do_not_set_the_threshold():
    probabilities, labels = two_class([0.99] * 10 + [0.8] * 200, [True] * 10 + [True, False] * 100)
    chosen = threshold_for(probabilities, labels, 0.99)
    assert chosen["threshold"] is None, f"10 texts are fewer than the {MIN_ANSWERED} a threshold needs"
    assert chosen["precision"] == pytest.approx(110 / 210) and chosen["answered"] == 210


def test_a_target_out_of_reach_answers_everything_and_says_the_best_it_can():
    probabilities, labels = two_class(np.linspace(0.5, 1, 200), np.arange(200) % 4 != 0)  # 75% right at every level
    report = abstention_report({"validation": probabilities}, {"validation": labels}, 0.95)
    assert report["threshold"] is None
    line = describe(report)
    assert line.startswith(
        "--abstain_precision 0.95 is out of reach on validation: the most confident answers reach precision 0."
    )
    assert "The model answers every text" in line


def test_the_test_split_reports_honest_figures_at_the_threshold_chosen_on_validation():
    rng = np.random.default_rng(1)
    splits = {}
    for split, n in (("validation", 3_000), ("test", 2_000)):
        confidence = rng.uniform(0.5, 1.0, n)
        splits[split] = two_class(confidence, rng.uniform(size=n) < confidence)
    probabilities = {split: value[0] for split, value in splits.items()}
    labels = {split: value[1] for split, value in splits.items()}
    report = abstention_report(probabilities, labels, 0.95)
    chosen = report["targets"]["0.95"]
    assert report["threshold"] == chosen["threshold"] and report["reported_on"] == "test"
    assert chosen["test"] == at_threshold(probabilities["test"], labels["test"], chosen["threshold"])
    assert abs(chosen["test"]["precision"] - 0.95) < 0.02
    assert set(report["targets"]) == {"0.9", "0.95", "0.99"}
    assert describe(report).startswith(f"'Not sure' below confidence {chosen['threshold']:.4f}: on validation")
    plain = abstention_report(probabilities, labels, None)
    assert plain["threshold"] is None and plain["targets"]["0.95"] == chosen
    assert "Coverage on validation if the model said 'not sure'" in describe(plain)
    assert "(--abstain_precision P turns it on)" in describe(plain)


def test_a_validation_split_under_the_minimum_answers_all_of_its_texts_or_none():
    probabilities, labels = two_class([0.99, 0.97, 0.95, 0.9, 0.7, 0.6], [True, True, True, True, False, False])
    assert len(labels) < MIN_ANSWERED
    too_few = threshold_for(probabilities, labels, 0.99)
    assert too_few == {"threshold": None, "precision": 4 / 6, "coverage": 1.0, "answered": 6}, (
        "four right answers are too few to trust a threshold on"
    )
    assert threshold_for(probabilities, labels, 0.6) == {
        "threshold": 0.6,
        "precision": 4 / 6,
        "coverage": 1.0,
        "answered": 6,
    }


def test_a_precision_exactly_at_the_target_reaches_it():
    probabilities, labels = two_class([0.99, 0.97, 0.95, 0.9, 0.7, 0.6], [True, True, True, True, False, False])
    assert threshold_for(probabilities, labels, 4 / 6)["threshold"] == 0.6


def test_out_of_reach_reports_the_best_precision_among_the_cuts_answering_enough():
    confidence = [0.99] * 40 + [0.9] * 60
    correct = [True] * 30 + [False] * 10 + [True] * 60  # 0.75 at the first cut, 0.90 at the second
    probabilities, labels = two_class(confidence, correct)
    assert threshold_for(probabilities, labels, 0.95) == {
        "threshold": None,
        "precision": 0.9,
        "coverage": 1.0,
        "answered": 100,
    }


def test_one_text_answered_is_all_of_one():
    probabilities, labels = two_class([0.9], [True])
    assert at_threshold(probabilities, labels, 0.5) == {"precision": 1.0, "coverage": 1.0, "answered": 1}


def test_a_threshold_above_every_confidence_answers_nothing_and_says_so():
    probabilities, labels = two_class([0.9, 0.8, 0.7], [True, False, True])
    figures = at_threshold(probabilities, labels, 0.95)
    assert figures["answered"] == 0 and figures["coverage"] == 0 and np.isnan(figures["precision"])
    assert at_threshold(probabilities, labels, 0.8) == {"precision": 0.5, "coverage": 2 / 3, "answered": 2}


def test_every_line_the_log_shows_reads_in_full():
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, 2_000)
    probabilities, labels = two_class(confidence, rng.uniform(size=2_000) < confidence)
    alone = abstention_report({"validation": probabilities}, {"validation": labels}, 0.9)
    entry = alone["targets"]["0.9"]
    assert alone["reported_on"] is None and set(entry) == {"validation", "threshold"}
    assert alone["chosen_on"] == "validation" and alone["target"] == 0.9
    assert describe(alone) == (
        f"'Not sure' below confidence {entry['threshold']:.4f}: on validation, where it was chosen, the answers reach "
        f"precision {entry['validation']['precision']:.3f} at coverage {entry['validation']['coverage']:.1%}."
    )
    both = abstention_report(
        {"validation": probabilities, "test": probabilities}, {"validation": labels, "test": labels}, 0.9
    )
    assert describe(both) == describe(alone)[:-1] + (
        f"; on test, precision {entry['validation']['precision']:.3f} at coverage {entry['validation']['coverage']:.1%}."
    )
    plain = abstention_report({"validation": probabilities}, {"validation": labels}, None)
    shares = {wanted: entry["validation"]["coverage"] for wanted, entry in plain["targets"].items()}
    assert plain["targets"]["0.99"]["threshold"] is None, "calibrated at most 1.0 confident: 0.99 is out of reach"
    assert describe(plain) == (
        "Coverage on validation if the model said 'not sure' below the confidence that reaches precision "
        f"0.9 {shares['0.9']:.0%}, 0.95 {shares['0.95']:.0%}, 0.99 out of reach (--abstain_precision P turns it on)."
    )
    out_of_reach = abstention_report(
        {"validation": probabilities, "test": probabilities}, {"validation": labels, "test": labels}, 0.999
    )
    best = out_of_reach["targets"]["0.999"]["validation"]
    assert "test" not in out_of_reach["targets"]["0.999"], "no threshold, so no figures on test"
    assert describe(out_of_reach) == (
        f"--abstain_precision 0.999 is out of reach on validation: the most confident answers reach precision "
        f"{best['precision']:.3f} at best ({best['answered']:,} texts answered). The model answers every text; a lower "
        "target, or a better model, would let it say 'not sure'."
    )
    assert set(out_of_reach["targets"]) == {"0.9", "0.95", "0.99", "0.999"}, "the target joins the reported ones"


def test_the_precision_coverage_picture_is_drawn_for_each_split_with_the_threshold_marked(tmp_path, monkeypatch):
    from matplotlib import pyplot as plt

    rng = np.random.default_rng(4)
    confidence = rng.uniform(0.5, 1.0, 1_000)
    probabilities, labels = two_class(confidence, rng.uniform(size=1_000) < confidence)
    report = abstention_report(
        {"validation": probabilities, "test": probabilities}, {"validation": labels, "test": labels}, 0.9
    )
    drawn = {}
    monkeypatch.setattr(plt, "close", lambda figure: drawn.setdefault("figure", figure))
    plot_precision_coverage(
        {"validation": probabilities, "test": probabilities},
        {"validation": labels, "test": labels},
        report,
        tmp_path / "pc.png",
    )
    from PIL import Image

    assert Image.open(tmp_path / "pc.png").size == (605, 440), "5.5 by 4 inches at 110 dots per inch"
    axes = drawn["figure"].axes[0]
    assert axes.get_title() == "Precision against coverage" and axes.get_xlim() == (0, 1.02)
    assert axes.get_xlabel() == "coverage (share of texts answered, most confident first)"
    assert axes.get_ylabel() == "precision of the answers"
    assert axes.get_legend()._loc == 3, "the legend sits lower left, away from the curves' start"
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert [line.get_label() for line in axes.get_lines()] == ["validation", "test", "target precision 0.9"]
    coverage, precision = lines["test"].get_data()
    assert len(coverage) == CURVE_POINTS, "a long curve is thinned to CURVE_POINTS points"
    assert coverage[0] == 1 / 1_000 and coverage[-1] == 1.0, "from the most confident text to every text"
    assert precision[-1] == pytest.approx(labels.mean())
    target = lines["target precision 0.9"]
    assert target.get_ydata() == [0.9, 0.9] and target.get_linestyle() == "--"
    point = axes.collections[0]
    chosen = report["targets"]["0.9"]["test"]
    assert point.get_offsets().tolist() == [[chosen["coverage"], chosen["precision"]]]
    assert point.get_label() == f"'not sure' below {report['threshold']:.3f} (test)"
    drawn.clear()
    alone = abstention_report({"validation": probabilities[:50]}, {"validation": labels[:50]}, 0.5)
    plot_precision_coverage({"validation": probabilities[:50]}, {"validation": labels[:50]}, alone, tmp_path / "v.png")
    axes = drawn["figure"].axes[0]
    assert [line.get_label() for line in axes.get_lines()] == ["validation", "target precision 0.5"]
    assert len(axes.get_lines()[0].get_xdata()) == len(np.unique(confidence[:50])), "a short curve keeps every cut"
    assert axes.collections[0].get_label() == f"'not sure' below {alone['threshold']:.3f} (validation)"


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.2"])
def test_a_target_precision_outside_0_to_1_is_refused(value):
    with pytest.raises(UserError, match=f"--abstain_precision {float(value):g} must be between 0 and 1, e.g. 0.95"):
        parse_args(["--train_file", "reviews.csv", "--abstain_precision", value])


def test_a_run_saves_its_threshold_with_the_model_and_its_card_shows_how_to_apply_it(tiny_bert, tmp_path, caplog):
    from bert_sentiment.inference import load

    caplog.set_level("INFO")
    train_file = write_csv(tmp_path / "reviews.csv", english_reviews(400, seed=5, mislabeled=0.1))
    test_file = write_csv(tmp_path / "test.csv", english_reviews(200, seed=6, mislabeled=0.1))
    out = tmp_path / "out"
    flags = [
        "--train_file",
        train_file,
        "--test_file",
        test_file,
        *quick_training_flags(tiny_bert, out),
        "--validation_split_percentage",
        "30",
        "--abstain_precision",
        "0.6",
        "--find_label_issues",
        "false",
        "--export_onnx",
        "false",
    ]
    assert train.main([str(f) for f in flags]) == 0
    report = json.loads((out / "run_facts.json").read_text())["abstention"]
    threshold = report["threshold"]
    assert threshold is not None and report["targets"]["0.6"]["validation"]["precision"] >= 0.6
    assert report["reported_on"] == "test"
    config = json.loads((out / "config.json").read_text())
    assert config["abstain_threshold"] == threshold and config["abstain_precision"] == 0.6
    clf = load(str(out), engine="torch")
    assert clf.abstain_threshold == threshold
    for prediction in clf([text for text, _ in english_reviews(40, seed=7)]):
        assert prediction.sure == (prediction.score >= threshold)
    test_rows = english_reviews(
        200, seed=6, mislabeled=0.1
    )  # the test file's texts: the card's test figures are theirs
    served = clf([text for text, _ in test_rows])
    answered = [(p, label) for p, (_, label) in zip(served, test_rows) if p.sure]
    reported = report["targets"]["0.6"]["test"]
    assert abs(reported["answered"] - len(answered)) <= 2, "as many test texts answered as the saved model answers"
    assert reported["precision"] == pytest.approx(
        sum(p.label == label for p, label in answered) / len(answered), abs=0.02
    )
    card = " ".join((out / "README.md").read_text().split())
    assert f"says **not sure** when its top probability is under **{threshold:.4f}**" in card
    assert f'answer = result["label"] if result["score"] >= {threshold:.4f} else "not sure"' in card
    assert "| 0.6 (chosen) |" in card and "| 0.95 |" in card
    assert (out / "precision_coverage.png").stat().st_size > 1_000
    assert f"'Not sure' below confidence {threshold:.4f}: on validation" in caplog.text
