"""Finding the text and label columns, by the names datasets use or by their contents."""

import logging

from datasets import ClassLabel, Dataset, Value

from bert_sentiment.errors import UserError, did_you_mean

logger = logging.getLogger(__name__)

# Column names in the order they are preferred, matched case-insensitively.
TEXT_COLUMN_NAMES = (
    "sentence",
    "text",
    "review",
    "content",
    "text_a",
    "comment",
    "document",
    "tweet",
    "sentence1",
    "utterance",
    "body",
    "title",
)
LABEL_COLUMN_NAMES = ("label", "labels", "sentiment", "polarity", "class", "target", "category")
MAX_LABEL_VALUES = 50  # a column with more distinct values is not a class label
SAMPLE_ROWS = 1000  # rows inspected when guessing columns by content


def find_columns(train: Dataset, text_flag: str | None, label_flag: str | None) -> tuple[list[str], str]:
    """(text columns, label column) named by the flags, else found by name, else by content."""
    columns = list(train.column_names)
    text_columns = _named_columns(text_flag, columns, "--text_column_names") if text_flag else None
    if text_columns is None and (by_name := _by_name(columns, TEXT_COLUMN_NAMES)):
        text_columns = [by_name]
        _log_choice("text", by_name, "--text_column_names")
    if label_flag:
        label_column = _named_columns(label_flag, columns, "--label_column_name")[0]
    else:
        others = [c for c in columns if c not in (text_columns or [])]
        label_column = _by_name(others, LABEL_COLUMN_NAMES) or _guess_label_column(train, others)
        _log_choice("label", label_column, "--label_column_name")
    if text_columns is None:
        text_column = _guess_text_column(train, [c for c in columns if c != label_column])
        text_columns = [text_column]
        _log_choice("text", text_column, "--text_column_names")
    if label_column in text_columns:
        raise UserError(f"Column '{label_column}' cannot be both the text and the label.")
    return text_columns, label_column


def columns_by_name(data: Dataset) -> tuple[str, str] | None:
    """(text column, label column) of a split found by their names alone (`text` and `label`, `review` and
    `sentiment`, ...), or None: for a validation or test file whose columns are named unlike the training file's."""
    columns = list(data.column_names)
    text = _by_name(columns, TEXT_COLUMN_NAMES)
    label = _by_name([c for c in columns if c != text], LABEL_COLUMN_NAMES)
    return (text, label) if text and label else None


def find_text_column(data: Dataset, flag_value: str | None, flag: str = "--text_column") -> str:
    """The one column to classify: named by the flag, else found by name, else the longest text on average."""
    columns = list(data.column_names)
    if flag_value:
        return _named_columns(flag_value, columns, flag)[0]
    column = _by_name(columns, TEXT_COLUMN_NAMES) or _guess_text_column(data, columns)
    _log_choice("text", column, flag)
    return column


def _named_columns(flag_value: str, columns: list[str], flag: str) -> list[str]:
    names = [name.strip() for name in flag_value.split(",") if name.strip()]
    for name in names:
        if name not in columns:
            raise UserError(
                f"{flag}: no column '{name}' in the data.{did_you_mean(name, columns)} "
                f"Available columns: {', '.join(columns)}."
            )
    return names


def _by_name(columns: list[str], preferred: tuple[str, ...]) -> str | None:
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in preferred if name in lowered), None)


def _log_choice(role: str, column: str, flag: str) -> None:
    logger.info("Using '%s' as the %s column (set %s to choose another).", column, role, flag)


def _is_text(feature) -> bool:
    return isinstance(feature, Value) and feature.dtype in ("string", "large_string")


def _guess_text_column(train: Dataset, columns: list[str]) -> str:
    sample = train.select(range(min(len(train), SAMPLE_ROWS)))
    lengths = {
        column: sum(len(value or "") for value in sample[column]) / max(len(sample), 1)
        for column in columns
        if _is_text(train.features[column])
    }
    if not lengths:
        raise UserError(
            f"Found no text column among {', '.join(train.column_names)}. Name it with --text_column_names."
        )
    return max(lengths, key=lengths.get)


def _guess_label_column(train: Dataset, columns: list[str]) -> str:
    """The column of fewest distinct values, as long as values repeat (ids and texts do not)."""
    sample = train.select(range(min(len(train), SAMPLE_ROWS)))
    candidates = {}
    for column in columns:
        if not isinstance(train.features[column], (ClassLabel, Value)):
            continue
        distinct = len(set(sample[column]))
        if 2 <= distinct <= min(MAX_LABEL_VALUES, max(2, len(sample) // 2)):
            candidates[column] = distinct
    if not candidates:
        raise UserError(
            f"Found no label column among {', '.join(train.column_names)} "
            f"(looked for {', '.join(LABEL_COLUMN_NAMES)}, or a column of 2-{MAX_LABEL_VALUES} distinct values). "
            "Name it with --label_column_name."
        )
    return min(candidates, key=candidates.get)
