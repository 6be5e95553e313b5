"""Which given labels are probably wrong: confident learning (cleanlab) on out-of-sample probabilities.

Validation and test texts were never trained on, so the fine-tuned model's probabilities for them are
out-of-sample. Training texts were, so theirs come from a cheap model instead: TF-IDF + logistic
regression predicted by stratified k-fold cross-validation (each text scored by a model that did not
see it), seconds on CPU where k-fold fine-tuning of BERT would cost k trainings.
"""

import json
import logging
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline

from bert_sentiment.baselines import tfidf_vectorizer

logger = logging.getLogger(__name__)

ISSUES_FILE = "label_issues.jsonl"  # raw texts: stays local, never uploaded
FOLDS = 5  # out-of-sample training probabilities; fewer when a class has fewer examples
TRAIN_METHOD = f"{FOLDS}-fold cross-validated TF-IDF + logistic regression"
EVAL_METHOD = "the fine-tuned model"


def cross_validated_probabilities(texts: list[str], labels: np.ndarray, language: str, seed: int) -> np.ndarray:
    """Each training text's class probabilities from a TF-IDF model fitted on the other folds."""
    folds = min(FOLDS, int(np.bincount(labels).min()))
    model = make_pipeline(tfidf_vectorizer(language), LogisticRegression(max_iter=2000, random_state=seed))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, texts, labels, cv=splitter, method="predict_proba")


def ranked_issues(labels: np.ndarray, probabilities: np.ndarray) -> list[tuple[int, float]]:
    """(row, label quality) of the examples whose label is likely wrong, most likely first (cleanlab)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if len(np.unique(labels)) < 2 or min(np.bincount(labels, minlength=probabilities.shape[1])) < 1:
        return []
    rows = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
    return [(int(row), float(quality[row])) for row in rows]


def find_label_issues(splits, probabilities: dict[str, np.ndarray], names: list[str], language: str, seed: int,
                      output_dir: Path) -> dict:  # fmt: skip
    """Write output_dir/label_issues.jsonl (ranked per split) and return its summary for the run's facts."""
    started = time.monotonic()
    train = splits["train"]
    by_split = {"train": cross_validated_probabilities(train["text"], np.asarray(train["label"]), language, seed)}
    by_split |= {split: probs for split, probs in probabilities.items() if split in splits}
    counts = {}
    with open(Path(output_dir) / ISSUES_FILE, "w", encoding="utf-8") as handle:
        for split, probs in by_split.items():
            texts, labels = splits[split]["text"], np.asarray(splits[split]["label"])
            issues = ranked_issues(labels, probs)
            counts[split] = len(issues)
            for rank, (row, quality) in enumerate(issues, 1):
                handle.write(json.dumps({
                    "split": split, "rank": rank, "text": texts[row], "given_label": names[labels[row]],
                    "suggested_label": names[int(probs[row].argmax())], "label_quality": round(quality, 4),
                }, ensure_ascii=False) + "\n")  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    logger.info("Likely label errors (confident learning): %s. Ranked in %s (%.1f s).",
                ", ".join(f"{n:,} in {split}" for split, n in counts.items()), Path(output_dir) / ISSUES_FILE, seconds)  # fmt: skip
    return {"file": ISSUES_FILE, "counts": counts, "train_method": TRAIN_METHOD, "eval_method": EVAL_METHOD,
            "seconds": seconds}  # fmt: skip
