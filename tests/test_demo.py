"""The app's batch input and tables: limits at the limit and one past it, on every way in."""

import pytest

from bert_sentiment.demo import (
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_ROWS,
    batch_refusal,
    predictions_table,
    read_batch,
    table_headers,
)
from bert_sentiment.errors import UserError
from bert_sentiment.inference import Prediction


def pasted(texts: int, each: int = 5) -> str:
    return "\n".join("x" * each for _ in range(texts))


def test_the_row_limit_admits_exactly_the_limit_and_refuses_one_more_pasted_or_uploaded(tmp_path):
    assert batch_refusal([pasted(MAX_BATCH_ROWS)]) is None
    assert len(read_batch(pasted(MAX_BATCH_ROWS), None)) == MAX_BATCH_ROWS
    assert "5,001 texts is more than the 5,000" in batch_refusal([pasted(MAX_BATCH_ROWS + 1)])
    upload = tmp_path / "many.txt"
    upload.write_text(pasted(MAX_BATCH_ROWS))
    assert len(read_batch(None, str(upload))) == MAX_BATCH_ROWS
    upload.write_text(pasted(MAX_BATCH_ROWS + 1))
    with pytest.raises(UserError, match="5,001 texts is more than the 5,000 one request may hold"):
        read_batch(None, str(upload))


def test_the_character_limit_admits_exactly_the_limit_and_refuses_one_more(tmp_path):
    one_text = "y" * MAX_BATCH_CHARACTERS
    assert batch_refusal([one_text]) is None and read_batch(one_text, None) == [one_text]
    assert "1,000,001 characters is more than the 1,000,000" in batch_refusal([one_text + "y"])
    upload = tmp_path / "long.csv"
    upload.write_text("text\n" + one_text + "y\n")
    with pytest.raises(UserError, match="1,000,001 characters is more than the 1,000,000"):
        read_batch(None, str(upload))


def test_blank_lines_are_not_texts_and_do_not_count_toward_the_limit():
    text = "\n\n".join(["fine"] * MAX_BATCH_ROWS) + "\n   \n"
    assert batch_refusal([text]) is None
    assert read_batch(text, None) == ["fine"] * MAX_BATCH_ROWS


def test_a_csv_upload_reads_its_text_column_by_name_else_the_longest(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text('id,review,stars\n1,a lovely film,5\n2,"dull, slow",1\n')
    assert read_batch(None, str(named)) == ["a lovely film", "dull, slow"]
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("1,a lovely and long film,5\n2,dull and slow,1\n")
    assert read_batch(None, str(unnamed)) == ["a lovely and long film", "dull and slow"]


def test_each_row_of_the_table_is_that_texts_answer_with_every_probability_in_label_order():
    labels = ["negative", "neutral", "positive"]
    predictions = [
        Prediction({"negative": 0.1, "neutral": 0.2, "positive": 0.7}, truncated=False),
        Prediction({"negative": 0.5, "neutral": 0.3, "positive": 0.2}, truncated=True, sure=False),
    ]
    rows = predictions_table(["good " * 100, "meh"], predictions, labels, shown_characters=10)
    assert table_headers(labels) == ["text", "label", "score", "p(negative)", "p(neutral)", "p(positive)", "truncated"]
    assert rows[0] == ["good good…", "positive", 0.7, 0.1, 0.2, 0.7, False]
    assert rows[1] == ["meh", "not sure", 0.5, 0.5, 0.3, 0.2, True]
    assert predictions_table(["good " * 100], predictions[:1], labels)[0][0] == "good " * 100, "the CSV: whole texts"
