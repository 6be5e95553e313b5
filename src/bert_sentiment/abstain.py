"""'Not sure' at a chosen precision: the lowest confidence at which the answers a model gives are right often enough.

A model that answers every text is as wrong on its close calls as its accuracy says. Answering only texts whose
top probability reaches a threshold t, and saying "not sure" below it, trades coverage (the share answered) for
precision (the share of answers that are right). The threshold is chosen on validation, as the lowest t whose
answered texts reach the target precision (`--abstain_precision`), and reported honestly on test, which took no
part in choosing it. It travels with the model in config.json (`abstain_threshold`), so the app, `load()` and the
card's snippet apply it.

With no target the run reports, without abstaining, the coverage each of REPORTED_TARGETS would leave.
"""

import logging
from pathlib import Path

import numpy as np

from bert_sentiment.atomic import written_whole

logger = logging.getLogger(__name__)

REPORTED_TARGETS = (0.90, 0.95, 0.99)
MIN_ANSWERED = 30  # a threshold answering fewer validation texts than this rests on too few to trust
CURVE_POINTS = 200  # points kept per split for the card's picture
PRECISION_COVERAGE_IMAGE = "precision_coverage.png"


def answered_precision(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, precision, answered) for every cut between distinct confidences: answering the texts whose top
    probability is at least thresholds[i] gives answered[i] answers, a share precision[i] of them right."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    order = np.argsort(-confidence, kind="stable")
    confidence, correct = confidence[order], correct[order]
    last_of_tie = np.r_[confidence[1:] != confidence[:-1], True]  # a threshold answers all of a tie or none
    answered = np.arange(1, len(confidence) + 1)[last_of_tie]
    return confidence[last_of_tie], np.cumsum(correct)[last_of_tie] / answered, answered


def threshold_for(probabilities: np.ndarray, labels: np.ndarray, target: float) -> dict:
    """{threshold, precision, coverage, answered} at the lowest threshold whose answers reach `target` precision
    (at least MIN_ANSWERED of them); when none does, the best precision there is, with threshold None."""
    thresholds, precision, answered = answered_precision(probabilities, labels)
    enough = answered >= min(MIN_ANSWERED, len(labels))
    reached = np.flatnonzero(enough & (precision >= target))
    if len(reached):
        i = reached[-1]  # the most texts answered
        return {"threshold": float(thresholds[i]), **_figures(precision[i], answered[i], len(labels))}
    best = np.flatnonzero(enough)[np.argmax(precision[enough])]
    return {"threshold": None, **_figures(precision[best], answered[best], len(labels))}


def at_threshold(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> dict:
    """{precision, coverage, answered} when texts below `threshold` get "not sure"."""
    answered = probabilities.max(axis=1) >= threshold
    right = (probabilities.argmax(axis=1) == np.asarray(labels))[answered]
    return _figures(right.mean() if answered.any() else float("nan"), int(answered.sum()), len(answered))


def _figures(precision: float, answered: int, total: int) -> dict:
    return {"precision": float(precision), "coverage": answered / max(total, 1), "answered": int(answered)}


def abstention_report(probabilities: dict, labels: dict, target: float | None) -> dict:
    """For the run's facts: the chosen threshold (with a target) and, for each of REPORTED_TARGETS and the target,
    the threshold chosen on validation with its figures there and on test."""
    held_out = "test" if "test" in probabilities else None
    report = {"target": target, "threshold": None, "chosen_on": "validation", "reported_on": held_out, "targets": {}}
    for wanted in sorted({*REPORTED_TARGETS, *([target] if target else [])}):
        chosen = threshold_for(probabilities["validation"], labels["validation"], wanted)
        entry = {"validation": chosen, "threshold": chosen["threshold"]}
        if held_out and chosen["threshold"] is not None:
            entry[held_out] = at_threshold(probabilities[held_out], labels[held_out], chosen["threshold"])
        report["targets"][f"{wanted:g}"] = entry
    if target:
        report["threshold"] = report["targets"][f"{target:g}"]["threshold"]
    return report


def describe(report: dict) -> str:
    """The log's lines: the threshold and its figures, or the coverage each reported target would leave."""
    target, held_out = report["target"], report["reported_on"]
    if target:
        entry = report["targets"][f"{target:g}"]
        if entry["threshold"] is None:
            best = entry["validation"]
            return (
                f"--abstain_precision {target:g} is out of reach on validation: the most confident answers reach "
                f"precision {best['precision']:.3f} at best ({best['answered']:,} texts answered). The model "
                "answers every text; a lower target, or a better model, would let it say 'not sure'."
            )
        line = (
            f"'Not sure' below confidence {entry['threshold']:.4f}: on validation, where it was chosen, the answers "
            f"reach precision {entry['validation']['precision']:.3f} at coverage {entry['validation']['coverage']:.1%}"
        )
        if held_out:
            line += (
                f"; on {held_out}, precision {entry[held_out]['precision']:.3f} at coverage "
                f"{entry[held_out]['coverage']:.1%}"
            )
        return line + "."
    shares = [f"{wanted} {_coverage(entry)}" for wanted, entry in report["targets"].items()]
    return (
        f"Coverage on validation if the model said 'not sure' below the confidence that reaches precision "
        f"{', '.join(shares)} (--abstain_precision P turns it on)."
    )


def _coverage(entry: dict) -> str:
    return f"{entry['validation']['coverage']:.0%}" if entry["threshold"] is not None else "out of reach"


def plot_precision_coverage(probabilities: dict, labels: dict, report: dict, path: Path) -> None:
    """Precision of the answers against the share answered, per split, with the chosen threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4))
    for split in ("validation", "test"):
        if split not in probabilities:
            continue
        _, precision, answered = answered_precision(probabilities[split], labels[split])
        keep = np.unique(np.linspace(0, len(answered) - 1, min(CURVE_POINTS, len(answered))).astype(int))
        axes.plot(answered[keep] / len(labels[split]), precision[keep], label=split)
    if report["threshold"] is not None:
        chosen = report["targets"][f"{report['target']:g}"]
        split = report["reported_on"] or "validation"
        axes.scatter(
            [chosen[split]["coverage"]],
            [chosen[split]["precision"]],
            color="black",
            zorder=3,
            label=f"'not sure' below {report['threshold']:.3f} ({split})",
        )
        axes.axhline(report["target"], linestyle="--", color="grey", label=f"target precision {report['target']:g}")
    axes.set(
        xlim=(0, 1.02),
        xlabel="coverage (share of texts answered, most confident first)",
        ylabel="precision of the answers",
    )
    axes.set_title("Precision against coverage")
    axes.legend(loc="lower left")
    figure.tight_layout()
    with written_whole(path) as partial:
        figure.savefig(partial, dpi=110)
    plt.close(figure)
