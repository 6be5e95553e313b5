"""Probabilities that mean what they say: temperature scaling fitted on validation, folded into the model.

Fine-tuned BERT is over-confident. One temperature T, fitted by minimizing the validation split's
negative log-likelihood, divides the classifier head's weights and bias, so every reader of the saved
model (a plain pipeline(), the app, ONNX exports) gets calibrated probabilities with no extra code.
Predicted labels never change: dividing logits by T > 0 keeps their order.
"""

import logging
from pathlib import Path

import numpy as np
import torch

from bert_sentiment.atomic import written_whole

logger = logging.getLogger(__name__)

MIN_VALIDATION_TEXTS = 50  # fewer cannot pin a temperature down; calibration is skipped with a note
ECE_BINS = 15  # the common choice since Guo et al. (2017), "On Calibration of Modern Neural Networks"


def fit_temperature(logits: np.ndarray, labels: np.ndarray, owners: np.ndarray | None = None) -> float:
    """The T > 0 minimizing the NLL of softmax(logits / T), probabilities averaged per owner when texts are
    read as several windows (owners[i] = the text window i belongs to)."""
    logits_t = torch.as_tensor(logits, dtype=torch.float64)
    labels_t = torch.as_tensor(labels, dtype=torch.long)
    owners_t = torch.as_tensor(owners if owners is not None else np.arange(len(logits)), dtype=torch.long)
    counts = torch.bincount(owners_t, minlength=len(labels)).clamp(min=1).unsqueeze(1).double()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # optimize log T: T stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def nll():
        optimizer.zero_grad()
        windows = torch.softmax(logits_t / log_t.exp(), dim=-1)
        texts = (
            torch.zeros(len(labels), logits_t.shape[1], dtype=torch.float64).index_add_(0, owners_t, windows) / counts
        )
        loss = -torch.log(texts[torch.arange(len(labels)), labels_t].clamp(min=1e-12)).mean()
        loss.backward()
        return loss

    optimizer.step(nll)
    return float(log_t.detach().exp())


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by the bins' sizes."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    return float(
        sum(
            abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
            for b in range(bins)
            if (which == b).any()
        )
    )


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None)).mean())


def uncalibrated(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before scaling: softmax(T · log p) = softmax(logits), since log p = logits/T + const."""
    scaled = temperature * np.log(np.clip(probabilities, 1e-300, None))
    scaled = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return scaled / scaled.sum(axis=1, keepdims=True)


def classifier_head(model) -> torch.nn.Linear | None:
    """The last Linear layer producing one output per label: BERT's `classifier`, RoBERTa's `out_proj`, ..."""
    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels]
    return heads[-1] if heads else None


def fold_temperature(model, temperature: float) -> bool:
    """Divide the head's weights and bias by T, so the saved model's logits are the calibrated ones."""
    head = classifier_head(model)
    if head is None:
        return False
    with torch.no_grad():
        head.weight.div_(temperature)
        if head.bias is not None:
            head.bias.div_(temperature)
    return True


def calibration_report(probabilities: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """ECE and NLL before and after scaling, for one split's (calibrated) probabilities."""
    labels = np.asarray(labels)
    before = uncalibrated(probabilities, temperature)
    return {
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(probabilities, labels),
        "nll_before": negative_log_likelihood(before, labels),
        "nll_after": negative_log_likelihood(probabilities, labels),
    }


def plot_reliability(probabilities: np.ndarray, labels: np.ndarray, temperature: float, title: str, path: Path) -> None:
    """Accuracy against confidence per bin, before and after scaling, beside the diagonal of perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")  # files only; works without a display
    from matplotlib import pyplot as plt

    labels = np.asarray(labels)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, shown, marker in (
        ("before", uncalibrated(probabilities, temperature), "o"),
        ("after", probabilities, "s"),
    ):
        confidence, correct = shown.max(axis=1), shown.argmax(axis=1) == labels
        edges = np.linspace(0, 1, ECE_BINS + 1)
        which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, ECE_BINS - 1)
        used = [b for b in range(ECE_BINS) if (which == b).any()]
        axes.plot(
            [confidence[which == b].mean() for b in used],
            [correct[which == b].mean() for b in used],
            marker=marker,
            label=f"{name} (ECE {expected_calibration_error(shown, labels):.3f})",
        )
    axes.set(
        xlim=(0, 1.02), ylim=(0, 1.02), xlabel="confidence (probability of the predicted label)", ylabel="accuracy"
    )
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    with written_whole(path) as partial:
        figure.savefig(partial, dpi=110)
    plt.close(figure)
