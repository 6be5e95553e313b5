"""From raw splits to clean `text`/`label` splits: columns, cleaning, labels, split, duplicates.

All of it happens on raw text, before tokenization, so the validation split cannot leak.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field

from datasets import ClassLabel, Dataset, DatasetDict

from bert_sentiment.columns import columns_by_name, find_columns
from bert_sentiment.corrections import Corrections, apply_corrections, read_corrections
from bert_sentiment.errors import UserError
from bert_sentiment.labels import LabelMapping, build_label_mapping, is_missing

logger = logging.getLogger(__name__)

DEFAULT_PERCENT = 10  # of the training texts held out for validation when there is no validation split ...
MAX_HELD_OUT = 5_000  # ... but at most this many: accuracy 0.9 on 5,000 texts is +-0.83 points at 95%


@dataclass
class PreparedData:
    splits: DatasetDict  # train, validation and maybe test; columns `text` and `label` (ClassLabel)
    label_names: list[str]
    report: dict = field(default_factory=dict)  # facts for the log, the results and the model card
    corrections: Corrections | None = None  # --label_corrections that took effect: the run keeps them for `review`


def prepare_splits(raw: DatasetDict, data_args, seed: int) -> PreparedData:
    text_columns, label_column = find_columns(raw["train"], data_args.text_column_names, data_args.label_column_name)
    report = {"text_columns": text_columns, "label_column": label_column}
    splits, report["dropped"] = _standardize(raw, text_columns, label_column)
    mapping = build_label_mapping(
        splits["train"].unique("raw_label"), raw["train"].features[label_column], data_args.class_names, label_column
    )
    logger.info("Labels: %s (from %s).", ", ".join(mapping.names), mapping.how)
    report["labels_from"] = mapping.how
    splits = DatasetDict({name: _encode_labels(split, mapping, name) for name, split in splits.items()})
    corrections = None
    if data_args.label_corrections:  # by text, before validation is carved out: a fixed text keeps its fix anywhere
        read = read_corrections(data_args.label_corrections)
        splits, report["label_corrections"], corrections = apply_corrections(splits, mapping.names, read)
    if "validation" not in splits:
        splits, report["validation_from_train"] = _split_off_validation(
            splits, data_args.validation_split_percentage, seed
        )
    splits = _limit_sizes(splits, data_args.max_train_samples, data_args.max_eval_samples, seed)
    splits, report["cross_split_duplicates"] = _handle_duplicates(splits, data_args.drop_cross_split_duplicates)
    report["sizes"] = {name: len(split) for name, split in splits.items()}
    report["label_counts"] = {name: label_counts(split, mapping.names) for name, split in splits.items()}
    log_summary(report)
    return PreparedData(splits, mapping.names, report, corrections)


def _standardize(raw: DatasetDict, text_columns: list[str], label_column: str) -> tuple[DatasetDict, dict]:
    """Keep `text` (joined columns) and `raw_label`; drop rows whose text or label is missing."""
    clean, dropped = {}, {}
    for name, split in raw.items():
        missing = [column for column in [*text_columns, label_column] if column not in split.column_names]
        if missing and name == "train":
            raise UserError(f"The training data lacks column(s) {missing}; it has {split.column_names}.")
        if missing and len(text_columns) == 1 and (own := columns_by_name(split)):
            logger.warning(
                "The %s split names its columns '%s' and '%s', where training has '%s' and '%s': it is "
                "read by its own names.",
                name,
                *own,
                text_columns[0],
                label_column,
            )
            renamed = {old: new for old, new in zip(own, (text_columns[0], label_column)) if old != new}
            split = split.select_columns(list(own)).rename_columns(renamed)
        elif missing:
            logger.warning("The %s split has no column %s: it is left out.", name, missing)
            continue
        unlabeled = -1 if isinstance(split.features[label_column], ClassLabel) else None
        standard = split.map(
            lambda batch, unlabeled=unlabeled: {
                "text": [_join(row) for row in zip(*(batch[c] for c in text_columns))],
                "raw_label": [None if v == unlabeled else v for v in batch[label_column]],
            },
            batched=True,
            remove_columns=split.column_names,
            desc=f"Reading {name}",
        )
        kept = standard.filter(
            lambda batch: [bool(t) and not is_missing(v) for t, v in zip(batch["text"], batch["raw_label"])],
            batched=True,
            desc=f"Cleaning {name}",
        )
        dropped[name] = _report_dropped(name, len(standard), len(kept))
        if len(kept):
            clean[name] = kept
        elif name == "train":
            raise UserError(
                f"No training examples are left after removing empty texts and missing labels "
                f"(all {len(standard)} rows). Check --text_column_names and --label_column_name."
            )
        else:
            logger.warning("The %s split has no labelled examples (hidden test labels?): it is left out.", name)
    return DatasetDict(clean), dropped


def _join(values) -> str:
    return " ".join(str(v).strip() for v in values if not is_missing(v)).strip()


def _report_dropped(name: str, before: int, after: int) -> int:
    if after < before:
        logger.warning("Dropped %d of %d %s rows with an empty text or a missing label.", before - after, before, name)
    return before - after


def _encode_labels(split: Dataset, mapping: LabelMapping, name: str) -> Dataset:
    encoded = split.map(
        lambda batch: {"label": [mapping.encode(v, name) for v in batch["raw_label"]]},
        batched=True,
        remove_columns=["raw_label"],
        desc=f"Encoding {name} labels",
    )
    return encoded.cast_column("label", ClassLabel(names=mapping.names))


def held_out_size(total: int, percent: float | None) -> int:
    """Validation texts carved from `total` training texts: `percent` of them when asked, else DEFAULT_PERCENT capped
    at MAX_HELD_OUT (an honest estimate needs thousands of texts, not a tenth of a million-text file)."""
    if percent is not None:
        return max(1, round(total * percent / 100))
    return max(1, min(round(total * DEFAULT_PERCENT / 100), MAX_HELD_OUT))


def _split_off_validation(splits: DatasetDict, percent: float | None, seed: int) -> tuple[DatasetDict, dict]:
    counts = Counter(splits["train"]["label"][:])
    names = splits["train"].features["label"].names
    rare = [names[label] for label, count in counts.items() if count < 2]
    if rare:
        raise UserError(
            f"Class(es) {rare} have fewer than 2 training examples, too few for a stratified validation split. "
            "Add examples or pass a --validation_file."
        )
    total = len(splits["train"])
    size = held_out_size(total, percent)
    try:
        parts = splits["train"].train_test_split(test_size=size, seed=seed, stratify_by_column="label")
    except ValueError as err:  # too few rows for the requested share of every class
        raise UserError(
            f"Cannot hold out {size:,} of {total:,} rows ({percent or DEFAULT_PERCENT:g}%) with every class represented "
            f"({err}). Raise --validation_split_percentage or pass a --validation_file."
        ) from err
    share = f"{percent:g}%" if percent is not None else f"{DEFAULT_PERCENT}%, at most {MAX_HELD_OUT:,}"
    logger.info(
        "No validation split: held out %s of %s training texts, stratified (%s; seed %d).",
        f"{size:,}",
        f"{total:,}",
        share,
        seed,
    )
    report = {"texts": size, "percent": round(100 * size / total, 2), "asked_percent": percent}
    return DatasetDict({**splits, "train": parts["train"], "validation": parts["test"]}), report


def _limit_sizes(splits: DatasetDict, max_train: int | None, max_eval: int | None, seed: int) -> DatasetDict:
    """Random (not first-n) subsets, since files are often sorted by label."""
    limited = {}
    for name, split in splits.items():
        limit = max_train if name == "train" else max_eval
        limited[name] = split.shuffle(seed=seed).select(range(limit)) if limit and limit < len(split) else split
    return DatasetDict(limited)


def _handle_duplicates(splits: DatasetDict, drop: bool) -> tuple[DatasetDict, dict]:
    """Report training texts that also occur in validation/test; drop them from training if asked."""
    report = {}
    train_texts = splits["train"]["text"][:]
    held_out = {name: set(split["text"][:]) for name, split in splits.items() if name != "train"}
    for name, texts in held_out.items():
        shared = [text for text in train_texts if text in texts]
        report[name] = len(shared)
        if shared:
            logger.warning(
                "%d training %s a %s text exactly (e.g. %r): results on %s overstate generalisation. %s",
                len(shared),
                "row repeats" if len(shared) == 1 else "rows repeat",
                name,
                shared[0][:80],
                name,
                "They are dropped from training." if drop else "Pass --drop_cross_split_duplicates to drop them.",
            )
    if drop and any(report.values()):
        all_held_out = set().union(*held_out.values())
        before = len(splits["train"])
        splits["train"] = splits["train"].filter(
            lambda batch: [text not in all_held_out for text in batch["text"]], batched=True
        )
        report["dropped_from_train"] = before - len(splits["train"])
    return splits, report


def label_counts(split: Dataset, names: list[str]) -> dict[str, int]:
    counts = Counter(split["label"][:])
    return {name: counts.get(index, 0) for index, name in enumerate(names)}


def log_summary(report: dict) -> None:
    lines = ["Data summary:"]
    for name, size in report["sizes"].items():
        balance = ", ".join(
            f"{label} {count:,} ({count / max(size, 1):.0%})" for label, count in report["label_counts"][name].items()
        )
        lines.append(f"  {name:<10} {size:>8,} rows   {balance}")
    logger.info("\n".join(lines))
