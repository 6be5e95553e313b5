import logging

import pytest
from datasets import Dataset

from bert_sentiment.columns import find_columns, find_text_column
from bert_sentiment.errors import UserError


def test_columns_found_by_their_usual_names():
    data = Dataset.from_dict({"idx": [0, 1], "Sentence": ["good", "bad"], "label": [1, 0]})
    assert find_columns(data, None, None) == (["Sentence"], "label")


def test_chinese_dataset_columns():
    data = Dataset.from_dict({"label": [1, 0], "text_a": ["很好", "很差"]})
    assert find_columns(data, None, None) == (["text_a"], "label")


def test_label_preferred_over_rating_in_imdb_layout():
    data = Dataset.from_dict({"id": ["a", "b"], "rating": [9, 2], "label": [1, 0], "text": ["great", "awful"]})
    assert find_columns(data, None, None) == (["text"], "label")


def test_columns_guessed_by_content_when_names_say_nothing():
    data = Dataset.from_dict(
        {
            "column_0": ["pos", "neg", "pos", "neg"],
            "column_1": ["a fine long review", "a dull long review", "x y z", "q"],
        }
    )
    assert find_columns(data, None, None) == (["column_1"], "column_0")


def test_unknown_column_lists_available_and_closest():
    data = Dataset.from_dict({"review": ["good"], "sentiment": ["positive"]})
    with pytest.raises(UserError) as error:
        find_columns(data, "reviews", None)
    assert "no column 'reviews'" in str(error.value)
    assert "Did you mean 'review'?" in str(error.value)
    assert "Available columns: review, sentiment" in str(error.value)


def test_several_text_columns_and_named_label():
    data = Dataset.from_dict({"title": ["Great"], "body": ["loved it"], "stars": [5]})
    assert find_columns(data, "title, body", "stars") == (["title", "body"], "stars")


def test_no_label_column_says_which_flag():
    data = Dataset.from_dict({"text": [f"review {i}" for i in range(10)], "id": list(range(10))})
    with pytest.raises(UserError, match="--label_column_name"):
        find_columns(data, None, None)


def test_the_one_text_column_to_read_is_named_found_by_its_name_or_the_longest_text_and_said(caplog):
    data = Dataset.from_dict(
        {"blurb": ["a fine long review", "a dull long review"], "note": ["x", "y"], "stars": [5, 1]}
    )
    with caplog.at_level(logging.INFO, logger="bert_sentiment"):
        assert find_text_column(data, None) == "blurb", "the longest on average, not the last by name"
        assert find_text_column(data.rename_column("note", "Review"), None, "--column") == "Review"
    assert caplog.messages == [
        "Using 'blurb' as the text column (set --text_column to choose another).",
        "Using 'Review' as the text column (set --column to choose another).",
    ]
    assert find_text_column(data, "note") == "note"
    with pytest.raises(UserError, match=r"^--column: no column 'blrb' in the data\. Did you mean 'blurb'\?"):
        find_text_column(data, "blrb", "--column")


def test_the_label_column_guessed_is_the_one_of_fewest_values_that_repeat():
    texts = [f"review number {i} is here" for i in range(6)]
    data = Dataset.from_dict(
        {"grade": ["a", "b", "c", "a", "b", "c"], "mark": ["p", "n", "p", "n", "p", "n"], "words": texts}
    )
    assert find_columns(data, None, None) == (["words"], "mark"), "the fewest values, not the first name"
    assert find_columns(data.remove_columns("mark"), None, None) == (["words"], "grade"), "3 values in 6 rows repeat"
    listed = Dataset.from_dict({"extras": [[i] for i in range(6)], **data.to_dict()})
    assert find_columns(listed, None, None) == (["words"], "mark"), "a column of lists is passed over"
    few = Dataset.from_dict({"code": ["a", "b", "c", "a"], "words": texts[:4]})
    with pytest.raises(UserError, match="^Found no label column among code, words "):
        find_columns(few, None, None)
