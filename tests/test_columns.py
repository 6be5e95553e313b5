import pytest
from datasets import Dataset

from bert_sentiment.columns import find_columns
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
