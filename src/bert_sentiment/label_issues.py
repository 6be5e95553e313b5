"""Which given labels are probably wrong: confident learning (cleanlab) on each text's class probabilities.

Validation and test texts were never trained on, so the fine-tuned model's probabilities for them are
out-of-sample. Training texts were, so cheap models score them too, each predicted by stratified k-fold
cross-validation (each text scored by a model that did not see it) and averaged: logistic regression on TF-IDF
features, and logistic regression on the sentence embeddings (mean-pooled) of the pretrained encoder the run
started from, which never saw a label. The fine-tuned model's own probabilities of its training texts weigh as much
as the two together: it trained on the wrong labels too, but the checkpoint kept after a few epochs agrees with few
of them (25-29% of 5% flipped SST-2 labels, against 91-93% of all), and it reads sentiment far better than the
cheap models. Measured in bench/README.md ("Likely label errors"): with it, the top-k held 0.59-0.65 of the flipped
labels where the cheap models alone held 0.49-0.53. Two forward passes over the training texts: the base encoder's
and the fine-tuned model's. In thorough mode (fold_probabilities) two models fine-tuned for one epoch on half the
training set each score the other half too, averaged in with the fine-tuned model: about one more epoch of training.

On large data the training texts scored are a stratified sample sized to the run (budget.py): a short try on a
million reviews ranks a few thousand of them, a long run more; `--label_issue_sample all` scores every one.
"""

import contextlib
import copy
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from transformers import set_seed

from bert_sentiment.atomic import written_whole
from bert_sentiment.baselines import tfidf_vectorizer
from bert_sentiment.budget import THOROUGH_BUDGET_SECONDS, AnalysisBudget, stratified_sample
from bert_sentiment.evaluation import softmax
from bert_sentiment.facts import ISSUES_FILE
from bert_sentiment.hardware import sklearn_threads
from bert_sentiment.model import load_base_encoder, load_model
from bert_sentiment.training import build_trainer

logger = logging.getLogger(__name__)

FOLDS = 5  # out-of-sample training probabilities; fewer when a class has fewer examples
TFIDF_METHOD = f"{FOLDS}-fold cross-validated TF-IDF + logistic regression"  # without base-encoder embeddings
CROSS_VALIDATED_METHOD = (
    f"{FOLDS}-fold cross-validated logistic regressions on TF-IDF and on the base encoder's sentence "
    "embeddings, averaged"
)
OWN_MODEL = "the fine-tuned model itself"
# Thorough mode: fold models fine-tuned for one epoch each score the held-out training texts. Averaged with the fast
# models, they raised top-k precision on SST-2 with 5% flipped labels from 0.500/0.498/0.470 to 0.510/0.530/0.523
# over three flip seeds (bench/README.md, "Likely label errors"), before the fine-tuned model itself was averaged in.
LABEL_ISSUE_FOLDS = 2
FOLD_MODELS = "models fine-tuned for one epoch on the other half of the training set"
TRAIN_METHOD = f"{OWN_MODEL}, weighing as much as {CROSS_VALIDATED_METHOD}"
THOROUGH_METHOD = f"{OWN_MODEL} and {FOLD_MODELS}, weighing as much as {CROSS_VALIDATED_METHOD}"
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
    with (
        tqdm(total=folds * len(models), desc="Label issues: cross-validated models", disable=not show_progress) as bar,
        sklearn_threads(),
    ):
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

    def mean_pooled(encoded):
        hidden = encoder(**encoded).last_hidden_state.float()
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1)

    return read_texts(
        encoder, tokenizer, texts, max_length, encoder.config.hidden_size, mean_pooled,
        "Base-encoder embeddings (label issues)", show_progress, half_precision,
    )  # fmt: skip


def classifier_probabilities(
    model, tokenizer, texts: list[str], max_length: int, show_progress: bool = True, half_precision=None
) -> np.ndarray:
    """A sequence classifier's class probabilities (softmax of its logits in fp32), one row per text."""
    return read_texts(
        model, tokenizer, texts, max_length, model.config.num_labels,
        lambda encoded: torch.softmax(model(**encoded).logits.float(), dim=-1),
        "Fine-tuned model on its training texts (label issues)", show_progress, half_precision,
    )  # fmt: skip


def read_texts(model, tokenizer, texts, max_length, width, read, desc, show_progress, half_precision) -> np.ndarray:
    """`read(encoded batch)` of every text, one row of `width` per text in the texts' order: batches of
    EMBEDDING_BATCH texts of similar length (sorted), under autocast in `half_precision` when given."""
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    order = np.argsort([len(text) for text in texts], kind="stable")  # similar lengths share a batch
    rows = np.zeros((len(texts), width), dtype=np.float32)
    batches = range(0, len(texts), EMBEDDING_BATCH)
    autocast = torch.autocast(device.type, dtype=half_precision) if half_precision else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for start in tqdm(batches, desc=desc, disable=not show_progress):
            chosen = order[start : start + EMBEDDING_BATCH]
            encoded = tokenizer(
                [texts[i] for i in chosen], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            rows[chosen] = read(encoded).float().cpu().numpy()
    return rows


def ranked_issues(labels: np.ndarray, probabilities: np.ndarray) -> list[tuple[int, float]]:
    """(row, label quality) of the examples whose label is likely wrong, most likely first (cleanlab)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if len(np.unique(labels)) < 2:  # one label given throughout: nothing to tell apart
        return []
    # One process: cleanlab's default pool was no faster on a million rows (1.52 s against 1.39 s; 2 AMD EPYC cores,
    # avx2 and avx512_bf16, no AMX), and its workers, forked from this process, inherit its signal handlers.
    rows = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
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
    fine_tuned_by: str = OWN_MODEL,
) -> dict:
    """Write output_dir/label_issues.jsonl (ranked per split) and return its summary for the run's facts.
    `embeddings`: the base encoder's, of the training texts (sentence_embeddings); without them, TF-IDF alone.
    `fine_tuned`: the training texts' probabilities from fine-tuned models (`fine_tuned_by`, for the method's name),
    weighing as much as the cross-validated ones when given."""
    started = time.monotonic()
    train = splits["train"]
    train_probabilities = cross_validated_probabilities(
        train["text"][:], np.asarray(train["label"][:]), language, seed, embeddings, show_progress
    )
    if fine_tuned is not None:
        train_probabilities = (train_probabilities + fine_tuned) / 2
    method = CROSS_VALIDATED_METHOD if embeddings is not None else TFIDF_METHOD
    if fine_tuned is not None:
        method = f"{fine_tuned_by}, weighing as much as {method}"
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


def choose_label_issue_mode(asked: str, training_args, train_result, scored_texts: int) -> str:
    """'false', 'fast' or 'thorough' for this run: the budget's mode, with 'auto' decided by the cost of
    LABEL_ISSUE_FOLDS fold models (one epoch of the scored texts in all) at the speed this run trained."""
    if asked in ("false", "fast"):
        return asked
    if training_args.world_size > 1:  # fold models would need every process; label issues run on the first alone
        if asked == "thorough":
            logger.warning(
                "--find_label_issues thorough fine-tunes its fold models in one process only; in this "
                "distributed run the fast models score the training texts."
            )
        return "fast"
    if asked == "thorough":
        return asked
    speed = train_result.metrics.get("train_samples_per_second")
    estimate = scored_texts / speed if speed else float("inf")
    if estimate > THOROUGH_BUDGET_SECONDS:
        logger.info(
            "Label issues: the fast models score the training texts; fold models would take about %s "
            "(--find_label_issues thorough asks for them).",
            _minutes(estimate),
        )
        return "fast"
    logger.info(
        "Label issues: fine-tuning %d fold models, one epoch on 1/%d of the scored training texts each, about "
        "%s (--find_label_issues fast skips them).",
        LABEL_ISSUE_FOLDS,
        LABEL_ISSUE_FOLDS,
        _minutes(estimate),
    )
    return "thorough"


def fold_probabilities(prepared, model_args, training_args, rows: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(each training text's probabilities, seconds taken): from models fine-tuned from the same checkpoint, with the
    run's settings, for one epoch on the other folds: out of sample, as confident learning needs. None when a class
    has fewer texts than folds, or when interrupted (Ctrl-C): the fast models then score the training texts alone.
    `rows`: the training texts scored (the budget's sample)."""
    from transformers.trainer_utils import IntervalStrategy, SaveStrategy

    train = prepared.tokenized["train"].select(rows)
    labels = np.asarray(train["label"][:])
    if np.bincount(labels).min() < LABEL_ISSUE_FOLDS:
        logger.info("Label issues: a class has fewer than %d training texts, so no fold models.", LABEL_ISSUE_FOLDS)
        return None
    started = time.monotonic()
    probabilities = np.zeros((len(labels), len(prepared.data.label_names)), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=LABEL_ISSUE_FOLDS, shuffle=True, random_state=training_args.seed)
    with tempfile.TemporaryDirectory(dir=training_args.output_dir, prefix=".label-issue-folds-") as scratch:
        args = copy.deepcopy(training_args)
        args.output_dir, args.num_train_epochs, args.max_steps = scratch, 1.0, -1
        args.eval_strategy = args.logging_strategy = IntervalStrategy.NO
        args.save_strategy = SaveStrategy.NO
        args.load_best_model_at_end, args.checkpoint_minutes, args.early_stopping_patience = False, 0, 0
        for fitted, held_out in splitter.split(labels, labels):
            set_seed(training_args.seed)
            model, _ = load_model(prepared.checkpoint, prepared.config, model_args)
            folds = DatasetDict(train=train.select(fitted), validation=train.select(held_out))
            trainer, interrupt = build_trainer(model, prepared.tokenizer, folds, args)
            trainer.train()
            if interrupt.interrupted:
                logger.warning("Label issues: fold models interrupted; the fast models score the training texts.")
                return None
            probabilities[held_out] = softmax(trainer.predict(folds["validation"]).predictions)
    seconds = round(time.monotonic() - started, 1)
    logger.info("Label issues: %d fold models fine-tuned and applied in %.1f s.", LABEL_ISSUE_FOLDS, seconds)
    return probabilities, seconds


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds != float("inf") else "an unknown time"


def read_training_texts(model, what: str, reader, prepared, training_args, texts: list[str]) -> np.ndarray:
    """`reader` (sentence_embeddings or classifier_probabilities) of the scored training texts with `model` on the
    run's device, in the precision the run trained in (chosen because this machine does it natively); timed and
    logged as read by `what`."""
    started = time.monotonic()
    half = torch.bfloat16 if training_args.bf16 else torch.float16 if training_args.fp16 else None
    rows = reader(
        model.to(training_args.device).eval(),
        prepared.tokenizer,
        texts,
        prepared.lengths["max_length"],
        show_progress=not training_args.disable_tqdm,
        half_precision=half,
    )
    logger.info(
        "Read %s training texts with %s (%s) for label issues in %.1f s.",
        f"{len(texts):,}",
        what,
        training_args.precision_used if half else "fp32",
        time.monotonic() - started,
    )
    return rows


def base_embeddings(prepared, model_args, training_args, texts: list[str]):
    """The pretrained encoder's sentence embeddings of the scored training texts (it never saw a label), for
    the cross-validated logistic regression on them."""
    encoder = load_base_encoder(prepared.checkpoint, model_args)
    return read_training_texts(encoder, "the base encoder", sentence_embeddings, prepared, training_args, texts)


def score_label_issues(
    prepared, probabilities: dict, budget: AnalysisBudget, trainer, train_result, model_args, outclassed=None
) -> dict:
    """Rank likely label errors: the budget's sample of training texts scored by cross-validated models and the
    fine-tuned model itself, the other splits by the fine-tuned model; label_issues.jsonl and its summary for the
    facts. `prepared`: the run's fine_tune.PreparedRun;
    the fold models train with the run's own settings (trainer.args). `outclassed` (why, when the fine-tuned model
    reads the labels clearly worse than the TF-IDF baseline): its disagreements would say more about it than about the
    labels, so the training texts are ranked by the cross-validated models alone and the other splits not at all."""
    training_args = trainer.args
    splits = prepared.data.splits
    rows = stratified_sample(splits["train"]["label"][:], budget.label_issue_sample, training_args.seed)
    scored = {**splits, "train": splits["train"].select(rows)}
    mode = (
        "fast" if outclassed else choose_label_issue_mode(budget.label_issues, training_args, train_result, len(rows))
    )
    folds = fold_probabilities(prepared, model_args, training_args, rows) if mode == "thorough" else None
    texts = scored["train"]["text"][:]
    embeddings = base_embeddings(prepared, model_args, training_args, texts)
    fine_tuned, by = None, OWN_MODEL
    if outclassed:
        logger.warning(
            "Label issues: %s. Training texts are ranked by the cross-validated models alone, the other splits not at "
            "all.",
            outclassed,
        )
    else:
        own = read_training_texts(trainer.model, OWN_MODEL, classifier_probabilities, prepared, training_args, texts)
        fine_tuned, by = ((own + folds[0]) / 2, f"{OWN_MODEL} and {FOLD_MODELS}") if folds else (own, OWN_MODEL)
    issues = find_label_issues(
        scored,
        {} if outclassed else probabilities,  # the other splits: ranked by the fine-tuned model alone, or not at all
        prepared.data.label_names,
        prepared.language,
        training_args.seed,
        Path(training_args.output_dir),
        embeddings,
        fine_tuned,
        show_progress=not training_args.disable_tqdm,
        fine_tuned_by=by,
    )
    if folds:
        issues["fold_models_seconds"] = folds[1]
    if outclassed:
        issues["eval_not_ranked"] = outclassed
    if len(rows) < len(splits["train"]):
        issues["train_sample"] = {"scored": len(rows), "of": len(splits["train"])}
    return issues
