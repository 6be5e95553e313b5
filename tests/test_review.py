"""Labels fixed by a person and fed back: the review spreadsheet, and its round trip to a corrected run (the corrections
themselves: test_corrections.py)."""

import json

import numpy as np
import pytest

import train
from bert_sentiment.cli import main as cli_main
from bert_sentiment.errors import UserError
from bert_sentiment.review import ERRORS_SHEET, least_sure_spread, write_review
from tests.conftest import english_reviews, quick_training_flags, write_csv


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
