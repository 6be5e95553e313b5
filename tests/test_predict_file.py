"""`bert-sentiment predict` and SentimentClassifier.predict_file: a whole file scored locally, resumable."""

import csv

import pytest

from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, write_csv


@pytest.fixture
def classifier(untrained_engine):
    """The engine on the tiny BERT with a random head: scoring a file is the same whatever the weights learned."""
    return untrained_engine


@pytest.fixture
def reviews(tmp_path):
    rows = [(i, text, label) for i, (text, label) in enumerate(english_reviews(150, seed=8))]
    return write_csv(tmp_path / "reviews.csv", rows, header=("id", "review", "stars"))


def read_rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_every_row_gets_its_columns_the_label_and_every_probability(classifier, reviews, tmp_path):
    output = classifier.predict_file(reviews, tmp_path / "out" / "predictions.csv")
    rows = read_rows(output)
    assert rows[0] == ["id", "review", "stars", "prediction", "score", "p(negative)", "p(positive)", "truncated"]
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(150)], "every row, in the input's order"
    expected = classifier.predict([row[1] for row in rows[1:]])
    for row, prediction in zip(rows[1:], expected):
        assert row[3] == prediction.label
        assert float(row[5]) + float(row[6]) == pytest.approx(1.0, abs=1e-5)
        assert float(row[4]) == pytest.approx(prediction.score, abs=1e-3)
    assert not (tmp_path / "out" / "predictions.csv.progress.json").exists(), "no progress file once finished"


def test_an_interrupted_run_continues_without_redoing_the_done_rows(classifier, reviews, tmp_path, monkeypatch):
    from bert_sentiment.predict_file import predict_file

    whole = read_rows(predict_file(classifier, reviews, tmp_path / "whole.csv", chunk_rows=40))
    output, asked, predict = tmp_path / "predictions.csv", [], classifier.predict

    def interrupted_on_the_third_chunk(texts, *args, **kwargs):
        asked.append(len(texts))
        if len(asked) == 3:
            with open(output, "ab") as handle:  # killed while the chunk was being written
                handle.write(b"17,half a row")
            raise KeyboardInterrupt
        return predict(texts, *args, **kwargs)

    monkeypatch.setattr(classifier, "predict", interrupted_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        predict_file(classifier, reviews, output, chunk_rows=40)
    asked.clear()
    monkeypatch.setattr(
        classifier, "predict", lambda texts, *a, **k: asked.append(len(texts)) or predict(texts, *a, **k)
    )
    predict_file(classifier, reviews, output, chunk_rows=40)
    assert asked == [40, 30], "only the rows after the two finished chunks are predicted again"
    assert read_rows(output) == whole, "the same file as an uninterrupted run, without the half-written row"


def test_a_finished_output_is_kept_unless_overwrite(classifier, reviews, tmp_path):
    output = classifier.predict_file(reviews, tmp_path / "predictions.csv")
    with pytest.raises(UserError, match="already exists and is complete. Pass --overwrite"):
        classifier.predict_file(reviews, output)
    output.write_text("something else\n")
    classifier.predict_file(reviews, output, overwrite=True)
    assert len(read_rows(output)) == 151


def test_an_unfinished_output_of_another_input_is_not_continued(classifier, reviews, tmp_path):
    from bert_sentiment.predict_file import Written, _save, progress_file

    output = tmp_path / "predictions.csv"
    output.write_text("id,text\n")
    _save(Written("another input", 1, 8), progress_file(output))
    with pytest.raises(UserError, match="unfinished predictions of another input or model"):
        classifier.predict_file(reviews, output)


def test_the_command_line_scores_a_file_and_names_a_wrong_column(trained_run, reviews, tmp_path, caplog):
    from bert_sentiment.cli import EXIT_USER_ERROR, main

    output = tmp_path / "predictions.csv"
    assert main(["predict", "--model", str(trained_run), "--input", str(reviews), "--output", str(output)]) == 0
    assert len(read_rows(output)) == 151
    wrong = [
        "predict",
        "--model",
        str(trained_run),
        "--input",
        str(reviews),
        "--output",
        str(tmp_path / "x.csv"),
        "--text_column",
        "reviw",
    ]
    assert main(wrong) == EXIT_USER_ERROR
    assert "--text_column: no column 'reviw' in the data. Did you mean 'review'?" in caplog.text
