"""Turning whatever labels the data has into class ids with real names.

The names chosen here end up in the model's `id2label`, so `pipeline()` answers "positive",
not "LABEL_1".
"""

import math
from dataclasses import dataclass

from datasets import ClassLabel

from bert_sentiment.errors import UserError

# Known sentiment words, ranked so that ids run from negative to positive.
POLARITY_RANK = {
    "very negative": 0,
    "strongly negative": 0,
    "negative": 1,
    "neg": 1,
    "bad": 1,
    "差评": 1,
    "负面": 1,
    "消极": 1,
    "负向": 1,
    "负": 1,
    "neutral": 2,
    "neu": 2,
    "mixed": 2,
    "中性": 2,
    "中立": 2,
    "positive": 3,
    "pos": 3,
    "good": 3,
    "好评": 3,
    "正面": 3,
    "积极": 3,
    "正向": 3,
    "正": 3,
    "very positive": 4,
    "strongly positive": 4,
}
# Integer conventions that need no names from the user.
POLARITY_INTEGERS = {
    (0, 1): ["negative", "positive"],
    (-1, 1): ["negative", "positive"],
    (-1, 0, 1): ["negative", "neutral", "positive"],
}


@dataclass
class LabelMapping:
    names: list[str]  # id -> name, the order of the model's outputs
    to_id: dict  # raw value in the data -> id
    how: str  # how the names were found, said in the log and recorded for the card

    def encode(self, value, split: str) -> int:
        key = normalize_label(value)
        if key not in self.to_id:
            known = ", ".join(repr(k) for k in self.to_id)
            raise UserError(
                f"Label {value!r} in the {split} split does not occur in training (labels there: {known}). "
                "Fix the label or add examples of it to the training data."
            )
        return self.to_id[key]


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def normalize_label(value):
    """One key per label: stripped strings, integers for whole numbers (1.0 and "1" both give 1)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)
        except ValueError:
            return value
    return value


UNSHOWABLE = set("|`\n\r\t")  # in a label name, these break the card's tables and inline code


def build_label_mapping(values, feature, class_names: str | None, column: str) -> LabelMapping:
    """Map the distinct training label `values` (missing ones already removed) to named ids."""
    mapping = _label_mapping(values, feature, class_names, column)
    for name in mapping.names:
        if unshowable := sorted(UNSHOWABLE & set(str(name))):
            raise UserError(
                f"Label {name!r} holds {', '.join(map(repr, unshowable))}: label names appear in the model card's "
                "tables, its code and the app, which that would break. Rename that class in the label column "
                "(for example 'good|great' to 'good')."
            )
    return mapping


def _label_mapping(values, feature, class_names: str | None, column: str) -> LabelMapping:
    given = [name.strip() for name in class_names.split(",")] if class_names else None
    if isinstance(feature, ClassLabel):
        return _from_class_label(feature, given)
    keys = sorted({normalize_label(v) for v in values}, key=lambda k: (isinstance(k, str), k))
    if any(isinstance(k, float) for k in keys):
        example = next(k for k in keys if isinstance(k, float))
        raise UserError(
            f"Label column '{column}' holds fractional numbers (e.g. {example}): scores, not classes. "
            "Bin them into classes first, or pick the class column with --label_column_name."
        )
    if len(keys) < 2:
        raise UserError(
            f"The training data has only one class ({keys[0]!r} in column '{column}'). "
            "A classifier needs at least two: add examples of the other class(es)."
        )
    if given:
        return _from_given_names(keys, given)
    if all(isinstance(k, int) for k in keys):
        return _from_integers(keys, column)
    if all(isinstance(k, str) for k in keys):
        ordered = sorted(keys, key=lambda k: (POLARITY_RANK.get(k.lower(), 99), k))
        how = "the label strings, ordered negative to positive" if _all_polar(keys) else "the label strings, sorted"
        return LabelMapping(ordered, {k: i for i, k in enumerate(ordered)}, how)
    raise UserError(
        f"Label column '{column}' mixes numbers and words ({keys[:6]}). Make the labels one kind, "
        "or name the classes in order with --class_names."
    )


def _all_polar(keys) -> bool:
    return all(k.lower() in POLARITY_RANK for k in keys)


def _from_class_label(feature: ClassLabel, given: list[str] | None) -> LabelMapping:
    if given and len(given) != feature.num_classes:
        raise UserError(
            f"--class_names has {len(given)} names but the dataset's label has {feature.num_classes} "
            f"classes ({', '.join(feature.names)})."
        )
    names = given or feature.names
    how = "--class_names" if given else "the dataset's ClassLabel feature"
    return LabelMapping(list(names), {i: i for i in range(len(names))}, how)


def _from_given_names(keys: list, given: list[str]) -> LabelMapping:
    repeated = sorted({name for name in given if given.count(name) > 1})
    if repeated:
        raise UserError(f"--class_names repeats {', '.join(repeated)}: give one distinct name per label value.")
    if len(given) != len(keys):
        raise UserError(
            f"--class_names has {len(given)} names ({', '.join(given)}) but the training labels have "
            f"{len(keys)} distinct values ({', '.join(map(str, keys))}): give one distinct name per value."
        )
    if all(isinstance(k, str) for k in keys):  # names are the labels, in the order the user wants
        if set(given) != set(keys):
            raise UserError(f"--class_names {given} must list exactly the label values {keys}.")
        return LabelMapping(given, {k: given.index(k) for k in keys}, "--class_names")
    return LabelMapping(given, {k: i for i, k in enumerate(keys)}, "--class_names, in order of the sorted labels")


def _from_integers(keys: list[int], column: str) -> LabelMapping:
    names = POLARITY_INTEGERS.get(tuple(keys))
    if names is None:
        raise UserError(
            f"Label column '{column}' holds the integers {keys} with no names. Name the classes in "
            f"this order with --class_names (e.g. --class_names {','.join(f'class_{k}' for k in keys)}), "
            "or point --label_column_name at a column of label words."
        )
    return LabelMapping(names, {k: i for i, k in enumerate(keys)}, f"integer labels {keys} read as {names}")
