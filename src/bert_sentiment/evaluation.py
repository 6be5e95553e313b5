"""Metrics, per-class reports, confusion matrices and the most confidently wrong examples."""

import json
import logging
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

from bert_sentiment.atomic import write_text_whole, written_whole

logger = logging.getLogger(__name__)

WRONG_EXAMPLES_KEPT = 25  # per split; enough to see patterns, short enough to read
EXAMPLE_MAX_CHARS = 200  # label examples are shown in widgets and the app: keep them readable
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei")


def classification_metrics(labels, predictions, num_labels: int) -> dict[str, float]:
    """Accuracy, precision, recall, F1: binary (second label positive) for 2 classes, else macro + weighted."""
    metrics = {"accuracy": float(accuracy_score(labels, predictions))}
    averages = ["binary"] if num_labels == 2 else ["macro", "weighted"]
    for average in averages:
        precision, recall, f1, _ = precision_recall_fscore_support(
            labels, predictions, average=average, labels=list(range(num_labels)), zero_division=0
        )
        suffix = "" if average in ("binary", "macro") else f"_{average}"
        metrics.update({f"precision{suffix}": precision, f"recall{suffix}": recall, f"f1{suffix}": f1})
    return {key: float(value) for key, value in metrics.items()}


def metrics_for_trainer(num_labels: int):
    """A `compute_metrics` function for the Trainer."""

    def compute_metrics(eval_prediction):
        predictions = np.argmax(eval_prediction.predictions, axis=-1)
        return classification_metrics(eval_prediction.label_ids, predictions, num_labels)

    return compute_metrics


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def class_scores(report: dict) -> dict:
    """One class of sklearn's classification report, as the run's facts keep it."""
    return {
        "precision": float(report["precision"]),
        "recall": float(report["recall"]),
        "f1": float(report["f1-score"]),
        "support": int(report["support"]),
    }


def evaluation_report(texts, labels, probabilities, names, split: str, output_dir: Path) -> dict:
    """Metrics, per-class report and confusion matrix for one split; artefacts written to output_dir."""
    labels = np.asarray(labels)
    predictions = probabilities.argmax(axis=-1)
    indices = list(range(len(names)))
    per_class = classification_report(
        labels, predictions, labels=indices, target_names=names, output_dict=True, zero_division=0
    )
    matrix = confusion_matrix(labels, predictions, labels=indices)
    confusion = {"labels": names, "matrix": matrix.tolist(), "rows": "true label", "columns": "predicted label"}
    write_text_whole(output_dir / f"confusion_matrix_{split}.json", json.dumps(confusion, ensure_ascii=False, indent=2))
    plot_confusion_matrix(matrix, names, f"Confusion matrix ({split})", output_dir / f"confusion_matrix_{split}.png")
    wrong = most_confident_mistakes(texts, labels, probabilities, names)
    write_text_whole(
        output_dir / f"wrong_predictions_{split}.jsonl",
        "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in wrong),
    )
    return {
        "metrics": classification_metrics(labels, predictions, len(names)),
        "label_examples": label_examples(texts, labels, probabilities, names),
        "per_class": {name: class_scores(per_class[name]) for name in names},
        "confusion_matrix": confusion,
        "num_examples": int(len(labels)),
    }


def most_confident_mistakes(texts, labels, probabilities, names, keep: int = WRONG_EXAMPLES_KEPT) -> list[dict]:
    predictions = probabilities.argmax(axis=-1)
    confidence = probabilities.max(axis=-1)
    wrong = np.flatnonzero(predictions != labels)
    ranked = wrong[np.argsort(-confidence[wrong], kind="stable")][:keep]
    return [
        {
            "text": texts[i],
            "label": names[labels[i]],
            "predicted": names[predictions[i]],
            "confidence": round(float(confidence[i]), 4),
        }
        for i in ranked
    ]


def label_examples(texts, labels, probabilities, names, max_chars: int = EXAMPLE_MAX_CHARS) -> dict[str, str]:
    """Per label, the real text the model gets right most confidently (short ones first), for widgets."""
    predictions = probabilities.argmax(axis=-1)
    examples = {}
    for label, name in enumerate(names):
        right = [i for i in np.flatnonzero((labels == label) & (predictions == label)) if len(texts[i]) <= max_chars]
        if right:
            examples[name] = texts[max(right, key=lambda i: probabilities[i, label])]
    return examples


def plot_confusion_matrix(matrix: np.ndarray, names: list[str], title: str, path: Path) -> None:
    import matplotlib

    matrix = np.asarray(matrix)
    matplotlib.use("Agg")  # files only; works without a display
    from matplotlib import pyplot as plt

    tick_names = _displayable(names)
    size = max(4.0, 1.0 + 0.9 * len(names))
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="Predicted label", ylabel="True label")
    axes.set_xticklabels(tick_names, rotation=30, ha="right")
    axes.set_yticklabels(tick_names)
    axes.set_title(title)
    row_totals = matrix.sum(axis=1, keepdims=True).clip(min=1)
    for (row, column), count in np.ndenumerate(matrix):
        dark = matrix[row, column] > matrix.max() / 2
        axes.text(
            column,
            row,
            f"{count}\n{count / row_totals[row, 0]:.0%}",
            ha="center",
            va="center",
            color="white" if dark else "black",
        )
    figure.tight_layout()
    with written_whole(path) as partial:
        figure.savefig(partial, dpi=120)
    plt.close(figure)


def _displayable(names: list[str]) -> list[str]:
    """Label names as they can be drawn: with a CJK font when one is installed, else their ids."""
    if all(name.isascii() for name in names):
        return names
    from matplotlib import font_manager, rcParams

    installed = {font.name for font in font_manager.fontManager.ttflist}
    available = [font for font in CJK_FONTS if font in installed]
    if available:
        rcParams["font.sans-serif"] = [*available, *rcParams["font.sans-serif"]]
        return names
    logger.warning(
        "No CJK font installed, so the confusion-matrix image shows label ids (%s). "
        "Install one (e.g. apt install fonts-noto-cjk) to see the names.",
        ", ".join(f"{i}={name}" for i, name in enumerate(names)),
    )
    return [f"{i}" for i in range(len(names))]
