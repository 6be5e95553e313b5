"""Which given labels are probably wrong: confident learning (cleanlab) on out-of-sample probabilities.

Validation and test texts were never trained on, so the fine-tuned model's probabilities for them are
out-of-sample. Training texts were, so theirs come from cheap models instead, each predicted by
stratified k-fold cross-validation (each text scored by a model that did not see it) and averaged:
logistic regression on TF-IDF features, and logistic regression on the sentence embeddings (mean-pooled)
of the pretrained encoder the run started from, which never saw a label. One forward pass of the base
encoder over the training texts; measured in bench/README.md ("Likely label errors"): the average flags
flipped labels better than either model alone. In thorough mode (fine_tune.fold_probabilities) two models
fine-tuned for one epoch on half the training set each score the other half too, averaged in: about one
more epoch of training, which found more of the flipped labels on every seed measured.

On large data the training texts scored are a stratified sample sized to the run (budget.py): a short try on a
million reviews ranks a few thousand of them, a long run more; `--label_issue_sample all` scores every one.
"""

import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

from bert_sentiment.atomic import written_whole
from bert_sentiment.baselines import tfidf_vectorizer

logger = logging.getLogger(__name__)

ISSUES_FILE = "label_issues.jsonl"  # raw texts: stays local, never uploaded
FOLDS = 5  # out-of-sample training probabilities; fewer when a class has fewer examples
TFIDF_METHOD = f"{FOLDS}-fold cross-validated TF-IDF + logistic regression"  # without base-encoder embeddings
TRAIN_METHOD = (
    f"{FOLDS}-fold cross-validated logistic regressions on TF-IDF and on the base encoder's sentence "
    "embeddings, averaged"
)
THOROUGH_METHOD = f"models fine-tuned for one epoch on the other half of the training set, together with {TRAIN_METHOD}"
EMBEDDING_BATCH = 64  # texts per forward pass of the base encoder, sorted by length
EVAL_METHOD = "the fine-tuned model"


def cross_validated_probabilities(
    texts: list[str],
    labels: np.ndarray,
    language: str,
    seed: int,
    embeddings: np.ndarray | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Each training text's class probabilities from models fitted on the other folds: TF-IDF + logistic
    regression, averaged with logistic regression on `embeddings` (one row per text) when given."""
    from tqdm.auto import tqdm

    folds = min(FOLDS, int(np.bincount(labels).min()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    models = {
        "tfidf": (
            lambda: make_pipeline(tfidf_vectorizer(language), LogisticRegression(max_iter=2000, random_state=seed)),
            np.asarray(texts, dtype=object),
        )
    }
    if embeddings is not None:
        models["embeddings"] = (lambda: LogisticRegression(max_iter=5000, random_state=seed), embeddings)
    classes = np.unique(labels)
    probabilities = {name: np.zeros((len(labels), len(classes))) for name in models}
    with tqdm(total=folds * len(models), desc="Label issues: cross-validated models", disable=not show_progress) as bar:
        for fitted, held_out in splitter.split(labels, labels):
            for name, (build, features) in models.items():
                model = build().fit(features[fitted], labels[fitted])
                columns = np.searchsorted(classes, model.classes_)
                probabilities[name][np.ix_(held_out, columns)] = model.predict_proba(features[held_out])
                bar.update()
    return sum(probabilities.values()) / len(models)


def sentence_embeddings(
    encoder, tokenizer, texts: list[str], max_length: int, show_progress: bool = True, half_precision=None
) -> np.ndarray:
    """Mean-pooled last hidden states of `encoder` (a transformers base model), one row per text.

    `half_precision` (torch.bfloat16 or torch.float16): run the encoder under autocast in that type, as the
    run trained, and pool in fp32. On SST-2 with MiniLM, bf16 embeds 1.7x as many texts a second as fp32 on a
    CPU with AVX-512 BF16, at a mean cosine similarity of 0.99998 to the fp32 rows (bench/README.md).
    """
    import torch
    from tqdm.auto import tqdm

    device = next(encoder.parameters()).device
    order = np.argsort([len(text) for text in texts], kind="stable")  # similar lengths share a batch
    rows = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    batches = range(0, len(texts), EMBEDDING_BATCH)
    autocast = torch.autocast(device.type, dtype=half_precision) if half_precision else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for start in tqdm(batches, desc="Base-encoder embeddings (label issues)", disable=not show_progress):
            chosen = order[start : start + EMBEDDING_BATCH]
            encoded = tokenizer(
                [texts[i] for i in chosen], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            hidden = encoder(**encoded).last_hidden_state.float()
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            rows[chosen] = ((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy()
    return rows


def ranked_issues(labels: np.ndarray, probabilities: np.ndarray) -> list[tuple[int, float]]:
    """(row, label quality) of the examples whose label is likely wrong, most likely first (cleanlab)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if len(np.unique(labels)) < 2 or min(np.bincount(labels, minlength=probabilities.shape[1])) < 1:
        return []
    rows = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(labels, probabilities, method="self_confidence")
    return [(int(row), float(quality[row])) for row in rows]


def find_label_issues(
    splits,
    probabilities: dict[str, np.ndarray],
    names: list[str],
    language: str,
    seed: int,
    output_dir: Path,
    embeddings: np.ndarray | None = None,
    fine_tuned: np.ndarray | None = None,
    show_progress: bool = False,
) -> dict:
    """Write output_dir/label_issues.jsonl (ranked per split) and return its summary for the run's facts.
    `embeddings`: the base encoder's, of the training texts (sentence_embeddings); without them, TF-IDF alone.
    `fine_tuned`: the training texts' probabilities from fold models (thorough mode), averaged in when given."""
    started = time.monotonic()
    train = splits["train"]
    train_probabilities = cross_validated_probabilities(
        train["text"][:], np.asarray(train["label"][:]), language, seed, embeddings, show_progress
    )
    if fine_tuned is not None:
        train_probabilities = (train_probabilities + fine_tuned) / 2
    method = THOROUGH_METHOD if fine_tuned is not None else TRAIN_METHOD if embeddings is not None else TFIDF_METHOD
    by_split = {"train": train_probabilities}
    by_split |= {split: probs for split, probs in probabilities.items() if split in splits}
    counts = {}
    with written_whole(Path(output_dir) / ISSUES_FILE) as partial, open(partial, "w", encoding="utf-8") as handle:
        for split, probs in by_split.items():
            texts, labels = splits[split]["text"][:], np.asarray(splits[split]["label"][:])
            issues = ranked_issues(labels, probs)
            counts[split] = len(issues)
            for rank, (row, quality) in enumerate(issues, 1):
                handle.write(
                    json.dumps(
                        {
                            "split": split,
                            "rank": rank,
                            "text": texts[row],
                            "given_label": names[labels[row]],
                            "suggested_label": names[int(probs[row].argmax())],
                            "label_quality": round(quality, 4),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    seconds = round(time.monotonic() - started, 1)
    logger.info(
        "Likely label errors (confident learning): %s. Ranked in %s (%.1f s).",
        ", ".join(f"{n:,} in {split}" for split, n in counts.items()),
        Path(output_dir) / ISSUES_FILE,
        seconds,
    )
    return {
        "file": ISSUES_FILE,
        "counts": counts,
        "train_method": method,
        "eval_method": EVAL_METHOD,
        "seconds": seconds,
    }
