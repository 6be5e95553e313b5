"""Labels fixed by a person and fed back: the review spreadsheet, and --label_corrections applied by text."""

import json
import logging

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

import train
from bert_sentiment.cli import main as cli_main
from bert_sentiment.corrections import Corrections, apply_corrections, read_corrections
from bert_sentiment.errors import UserError
from bert_sentiment.review import ERRORS_SHEET, least_sure_spread, write_review
from tests.conftest import english_reviews, quick_training_flags, write_csv

NAMES = ["negative", "positive"]


def splits(**texts_by_split) -> DatasetDict:
    features = Features({"text": Value("string"), "label": ClassLabel(names=NAMES)})
    return DatasetDict(
        {
            name: Dataset.from_dict(
                {"text": [t for t, _ in rows], "label": [NAMES.index(lab) for _, lab in rows]}, features=features
            )
            for name, rows in texts_by_split.items()
        }
    )


def labels_of(split) -> dict:
    return {text: NAMES[label] for text, label in zip(split["text"][:], split["label"][:])}


def test_corrections_apply_by_text_in_every_split_and_new_texts_join_training_only():
    data = splits(
        train=[("good film", "negative"), ("dull film", "negative"), ("fine film", "positive")],
        test=[("good film", "negative"), ("awful film", "negative")],
    )
    fixes = Corrections(
        "fixed.xlsx",
        "ab" * 32,
        relabel={"good film": "positive", "fine film": "positive"},
        add={"superb film": "positive"},
    )
    fixed, report = apply_corrections(data, NAMES, fixes)
    assert labels_of(fixed["train"]) == {
        "good film": "positive",
        "dull film": "negative",
        "fine film": "positive",
        "superb film": "positive",
    }
    assert labels_of(fixed["test"]) == {"good film": "positive", "awful film": "negative"}
    assert report == {
        "file": "fixed.xlsx",
        "sha256": "ab" * 32,
        "corrected": 2,
        "per_split": {"train": 1, "test": 1},
        "matched": 2,
        "unmatched": 0,
        "added": 1,
    }
    assert fixed["train"].features["label"].names == NAMES


def test_an_unknown_label_is_refused_with_the_allowed_names():
    with pytest.raises(
        UserError,
        match=r"names label\(s\) \['postive'\] that the data does not have; use one of: "
        "negative, positive",
    ):
        apply_corrections(
            splits(train=[("good film", "negative")]), NAMES, Corrections("f.xlsx", relabel={"good film": "postive"})
        )


def test_corrections_that_match_nothing_say_how_many_and_show_the_first(caplog):
    data = splits(train=[("good film", "negative"), ("dull film", "negative")])
    with pytest.raises(
        UserError,
        match=r"None of the 2 corrected texts in 'f.csv' occurs in the data \(0 of 2 matched\), "
        r"e.g. 'great movie'",
    ):
        apply_corrections(
            data, NAMES, Corrections("f.csv", relabel={"great movie": "positive", "nice movie": "positive"})
        )
    caplog.set_level(logging.WARNING)
    _, report = apply_corrections(
        data, NAMES, Corrections("f.csv", relabel={"good film": "positive", "nice movie": "positive"})
    )
    assert report["matched"] == 1 and report["unmatched"] == 1
    assert "1 of the 2 corrected texts in f.csv occur nowhere in the data (e.g. 'nice movie')" in caplog.text


def test_a_plain_csv_of_corrections_is_read_and_empty_cells_are_no_correction(tmp_path):
    path = tmp_path / "fixed.csv"
    path.write_text("text,corrected_label\ngood film,positive\ndull film,\n  fine film  ,negative\n")
    corrections = read_corrections(path)
    assert corrections.relabel == {"good film": "positive", "fine film": "negative"} and corrections.add == {}
    (tmp_path / "none.csv").write_text("text,corrected_label\ngood film,\n")
    with pytest.raises(UserError, match="has no row with a 'corrected_label' filled in"):
        read_corrections(tmp_path / "none.csv")
    (tmp_path / "other.csv").write_text("review,label\ngood film,positive\n")
    with pytest.raises(
        UserError, match=r"has no 'text' and 'corrected_label' columns \(it has \['label', 'review'\]\)"
    ):
        read_corrections(tmp_path / "other.csv")


def test_the_least_sure_texts_are_spread_over_the_data_not_one_cluster_of_near_copies():
    texts = [f"the plot was so so and the ending so so {i}" for i in range(20)]  # near-copies, the least sure
    texts += ["a lovely cast", "terrible sound mixing", "the popcorn was stale", "subtitles were late", "great score"]
    margins = np.r_[np.linspace(0.01, 0.05, 20), np.linspace(0.06, 0.1, 5)]
    probabilities = np.c_[(1 - margins) / 2, (1 + margins) / 2]
    chosen = least_sure_spread(texts, probabilities, 5, "en")
    assert len(set(chosen)) == 5 and chosen[0] == 0, "the least sure text first"
    assert sum(row >= 20 for row in chosen) >= 3, (
        f"mostly distinct texts, not near-copies: {[texts[i] for i in chosen]}"
    )
    assert np.all(np.diff(margins[chosen]) >= 0)


def test_review_round_trip_spreadsheet_to_corrected_run(trained_run, tiny_bert, tmp_path):
    from openpyxl import load_workbook

    unlabeled = write_csv(tmp_path / "more.csv", english_reviews(60, seed=21))
    review = tmp_path / "review.xlsx"
    assert (
        cli_main(
            ["review", str(trained_run), "--output", str(review), "--unlabeled_file", str(unlabeled), "--to_label", "6"]
        )
        == 0
    )
    issues = [json.loads(line) for line in (trained_run / "label_issues.jsonl").read_text().splitlines()]
    book = load_workbook(review)
    errors, to_label = book[ERRORS_SHEET], book["to label"]
    header = [cell.value for cell in errors[1]]
    assert header == ["split", "rank", "text", "given_label", "suggested_label", "label_quality", "corrected_label"]
    rows = [dict(zip(header, [cell.value for cell in row])) for row in errors.iter_rows(min_row=2)]
    assert len(rows) == len(issues) > 0
    assert [row["label_quality"] for row in rows] == sorted(row["label_quality"] for row in rows)
    assert errors.data_validations.dataValidation[0].formula1 == '"negative,positive"'
    assert to_label.max_row == 7 and len({row[0].value for row in to_label.iter_rows(min_row=2)}) == 6

    train_rows = [row for row in rows if row["split"] == "train"][:3]
    for row in train_rows:  # a person agrees with the suggestion
        errors.cell(rows.index(row) + 2, header.index("corrected_label") + 1, row["suggested_label"])
    for cell in list(to_label.iter_rows(min_row=2))[:2]:
        cell[3].value = "positive"
    book.save(review)
    out = tmp_path / "fixed"
    flags = [
        "--train_file",
        trained_run.parent / "reviews.csv",
        "--label_corrections",
        review,
        *quick_training_flags(tiny_bert, out),
        "--num_train_epochs",
        "1",
        "--find_label_issues",
        "false",
        "--export_onnx",
        "false",
    ]
    assert train.main([str(flag) for flag in flags]) == 0
    facts = json.loads((out / "run_facts.json").read_text())
    fixed = facts["data"]["label_corrections"]
    assert fixed["file"] == "review.xlsx" and fixed["added"] == 2 and fixed["matched"] == 3
    assert fixed["corrected"] == 3, "each suggestion differs from the given label"
    card = " ".join((out / "README.md").read_text().split())
    assert "3 labels were corrected by hand (3 in train) from `review.xlsx`" in card
    assert "and 2 texts were added to training with the labels given there" in card


def test_a_missing_corrections_file_is_refused_before_anything_loads(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(40))
    with pytest.raises(UserError, match="--label_corrections 'nowhere.xlsx' does not exist. Write one with"):
        from bert_sentiment.arguments import parse_args
        from bert_sentiment.data import check_data_arguments

        check_data_arguments(parse_args(["--train_file", str(data), "--label_corrections", "nowhere.xlsx"])[1])


def test_review_of_a_run_without_label_issues_says_how_to_get_them(tmp_path):
    from tests.conftest import facts_literal

    facts_literal().save(tmp_path)
    with pytest.raises(
        UserError,
        match="has no label_issues.jsonl: the run did not look for label errors. Train with "
        "--find_label_issues auto, or pass --unlabeled_file",
    ):
        write_review(tmp_path)
    with pytest.raises(UserError, match="--to_label 0 must be at least 1"):
        write_review(tmp_path, unlabeled_file=str(write_csv(tmp_path / "u.csv", english_reviews(4))), to_label=0)
