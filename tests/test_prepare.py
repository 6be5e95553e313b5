from collections import Counter
from types import SimpleNamespace

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from bert_sentiment.errors import UserError
from bert_sentiment.prepare import prepare_splits
from tests.conftest import english_reviews


def data_args(**overrides):
    defaults = dict(
        text_column_names=None,
        label_column_name=None,
        class_names=None,
        validation_split_percentage=10.0,
        max_train_samples=None,
        max_eval_samples=None,
        drop_cross_split_duplicates=False,
        label_corrections=None,
    )
    return SimpleNamespace(**{**defaults, **overrides})


def as_splits(**splits) -> DatasetDict:
    return DatasetDict(
        {
            name: Dataset.from_dict({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]})
            for name, rows in splits.items()
        }
    )


def test_validation_split_is_stratified_and_disjoint():
    rows = [(f"review number {i}", "positive" if i % 4 == 0 else "negative") for i in range(400)]  # 25% positive
    data = prepare_splits(as_splits(train=rows), data_args(validation_split_percentage=20), seed=7)
    train, validation = data.splits["train"], data.splits["validation"]
    assert len(validation) == 80
    assert data.report["label_counts"]["validation"] == {"negative": 60, "positive": 20}
    assert not set(train["text"]) & set(validation["text"])
    assert isinstance(train.features["label"], ClassLabel) and train.features["label"].names == data.label_names


def test_split_is_reproducible_with_the_seed():
    rows = english_reviews(100)
    first = prepare_splits(as_splits(train=rows), data_args(), seed=3).splits["validation"]["text"]
    again = prepare_splits(as_splits(train=rows), data_args(), seed=3).splits["validation"]["text"]
    other = prepare_splits(as_splits(train=rows), data_args(), seed=4).splits["validation"]["text"]
    assert first == again and first != other


def test_empty_texts_and_missing_labels_are_dropped_and_counted():
    rows = english_reviews(40) + [("   ", "positive"), ("", "negative"), ("fine text", None)]
    data = prepare_splits(as_splits(train=rows), data_args(), seed=0)
    assert data.report["dropped"] == {"train": 3}
    assert sum(data.report["sizes"].values()) == 40


def test_nothing_left_after_cleaning_is_an_error():
    with pytest.raises(UserError, match="No training examples are left.*all 3 rows"):
        prepare_splits(as_splits(train=[("", "a"), (" ", "b"), ("", "a")]), data_args(), seed=0)


def test_cross_split_duplicates_reported_then_dropped_from_training():
    train = english_reviews(60)
    validation = train[:5] + english_reviews(10, seed=9)
    kept = prepare_splits(as_splits(train=train, validation=validation), data_args(), seed=0)
    assert kept.report["cross_split_duplicates"] == {"validation": 5}
    assert kept.report["sizes"]["train"] == 60
    dropped = prepare_splits(
        as_splits(train=train, validation=validation), data_args(drop_cross_split_duplicates=True), seed=0
    )
    assert dropped.report["sizes"]["train"] == 55
    assert not set(dropped.splits["train"]["text"]) & set(dropped.splits["validation"]["text"])


def test_unlabelled_test_split_is_left_out():
    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    rows = english_reviews(40)
    raw = DatasetDict(
        {
            "train": Dataset.from_dict(
                {"sentence": [t for t, _ in rows], "label": [i % 2 for i in range(40)]}, features
            ),
            "test": Dataset.from_dict({"sentence": ["hidden", "labels"], "label": [-1, -1]}, features),
        }
    )
    data = prepare_splits(raw, data_args(), seed=0)
    assert sorted(data.splits) == ["train", "validation"]
    assert data.label_names == ["negative", "positive"]


def test_max_train_samples_takes_a_random_subset_not_the_first_rows():
    rows = [(f"bad review {i}", "negative") for i in range(100)] + [
        (f"good review {i}", "positive") for i in range(100)
    ]
    data = prepare_splits(as_splits(train=rows), data_args(max_train_samples=40), seed=0)
    counts = Counter(data.splits["train"]["label"])
    assert len(data.splits["train"]) == 40 and min(counts.values()) >= 10


def test_a_class_too_rare_to_split_is_explained():
    rows = english_reviews(20) + [("a neutral one", "neutral")]
    with pytest.raises(UserError, match=r"Class\(es\) \['neutral'\] have fewer than 2.*--validation_file"):
        prepare_splits(as_splits(train=rows), data_args(), seed=0)


@pytest.mark.parametrize(
    ("total", "percent", "held_out"),
    [
        (20, None, 2),
        (4, None, 1),  # a tenth rounds to none: one text, never none
        (40_000, None, 4_000),
        (100_000, None, 5_000),
        (1_000_000, None, 5_000),
        (100_000, 10, 10_000),
        (20, 50, 10),
    ],
)
def test_a_carved_validation_split_is_a_tenth_but_at_most_5000_texts_unless_a_share_is_asked(total, percent, held_out):
    from bert_sentiment.prepare import held_out_size

    assert held_out_size(total, percent) == held_out


def test_a_test_file_naming_its_columns_differently_is_read_by_its_own_names(caplog):
    train = Dataset.from_dict({"sentence": [f"good film {i}" if i % 2 else f"bad film {i}" for i in range(40)],
                               "label": [i % 2 for i in range(40)]})  # fmt: skip
    test = Dataset.from_dict({"id": [7, 8], "text": ["good film x", "bad film y"], "label": [1, 0]})
    data = prepare_splits(DatasetDict({"train": train, "test": test}), data_args(), seed=0)
    assert data.splits["test"]["text"][:] == ["good film x", "bad film y"]
    assert data.report["label_counts"]["test"] == {"negative": 1, "positive": 1}
    assert (
        "The test split names its columns 'text' and 'label', where training has 'sentence' and 'label': it is read by "
        "its own names." in caplog.messages
    )
    hidden = Dataset.from_dict({"text": ["good film z"], "note": ["?"]})  # no label column by name: left out, as before
    data = prepare_splits(DatasetDict({"train": train, "test": hidden}), data_args(), seed=0)
    assert "test" not in data.splits


def test_label_corrections_are_applied_by_text_before_validation_is_carved_and_reported(tmp_path):
    rows = [(f"review number {i}", "positive" if i % 2 else "negative") for i in range(60)]
    fixed = tmp_path / "fixed.csv"
    fixed.write_text("text,corrected_label\nreview number 4,positive\nreview number 7,negative\n", encoding="utf-8")
    data = prepare_splits(as_splits(train=rows), data_args(label_corrections=str(fixed)), seed=0)
    labels = {}
    for split in data.splits.values():
        labels |= dict(zip(split["text"][:], (data.label_names[label] for label in split["label"][:])))
    assert (labels["review number 4"], labels["review number 7"]) == ("positive", "negative")
    assert labels["review number 6"] == "negative", "only the corrected texts change"
    assert data.report["label_corrections"]["corrected"] == 2
    assert data.report["label_corrections"]["file"] == "fixed.csv"
    assert data.corrections.relabel == {"review number 4": "positive", "review number 7": "negative"}, (
        "kept for the run's next review"
    )
    assert prepare_splits(as_splits(train=rows), data_args(), seed=0).corrections is None


def test_class_names_name_integer_labels_and_a_datasets_own_names_are_kept():
    rows = [(f"review number {i}", i % 2) for i in range(40)]
    named = prepare_splits(as_splits(train=rows), data_args(class_names="bad,good"), seed=0)
    assert named.label_names == ["bad", "good"]
    train = as_splits(train=rows)["train"].cast_column("label", ClassLabel(names=["awful", "lovely"]))
    assert prepare_splits(DatasetDict({"train": train}), data_args(), seed=0).label_names == ["awful", "lovely"]


def test_a_label_with_no_texts_in_a_split_is_counted_as_zero():
    from bert_sentiment.prepare import label_counts

    only_negative = Dataset.from_dict({"text": ["a", "b"], "label": [0, 0]})
    assert label_counts(only_negative, ["negative", "neutral", "positive"]) == {
        "negative": 2,
        "neutral": 0,
        "positive": 0,
    }


def test_a_split_left_out_for_its_columns_leaves_the_splits_after_it_in():
    train = as_splits(train=english_reviews(40))["train"]
    unusable = Dataset.from_dict({"id": [1, 2], "score": [0.5, 0.7]})
    test = as_splits(test=english_reviews(10, seed=5))["test"]
    data = prepare_splits(DatasetDict({"train": train, "validation": unusable, "test": test}), data_args(), seed=0)
    assert "test" in data.splits and len(data.splits["test"]) == 10


def test_the_carved_share_is_reported_to_two_decimals_and_a_repeated_text_shown_to_80_characters(caplog):
    rows = [(f"{'a long review ' * 8}{i}", "positive" if i % 2 else "negative") for i in range(30)]
    data = prepare_splits(as_splits(train=rows), data_args(), seed=0)
    assert data.report["validation_from_train"]["percent"] == 10.0
    data = prepare_splits(as_splits(train=rows), data_args(validation_split_percentage=5), seed=0)  # 2 of 30
    assert data.report["validation_from_train"]["percent"] == 6.67
    test = rows[:1]
    prepare_splits(as_splits(train=rows, test=test), data_args(), seed=0)
    shown = next(message for message in caplog.messages if "exactly" in message)
    assert f"(e.g. {rows[0][0][:80]!r})" in shown


def test_labels_written_as_minus_one_and_one_are_two_classes_not_a_missing_label():
    """-1 means "no label" only in a dataset whose label feature says so (GLUE's test splits); in a file it is a class."""
    rows = [(f"review number {i}", 1 if i % 2 else -1) for i in range(40)]
    data = prepare_splits(as_splits(train=rows), data_args(), seed=0)
    assert data.report["dropped"] == {"train": 0} and sum(data.report["sizes"].values()) == 40
    assert len(data.label_names) == 2
