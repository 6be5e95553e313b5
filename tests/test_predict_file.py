"""`bert-sentiment predict` and SentimentClassifier.predict_file: a whole file scored locally, resumable."""

import csv
import logging

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


def test_an_interrupted_run_continues_without_redoing_the_done_rows_and_says_so(
    classifier, reviews, tmp_path, monkeypatch, caplog
):
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
    with pytest.raises(KeyboardInterrupt), caplog.at_level(logging.INFO, logger="bert_sentiment.predict_file"):
        predict_file(classifier, reviews, output, chunk_rows=40)
    assert caplog.messages == [
        f"Stopped after 80 of 150 rows: their predictions are in {output}, and the same command continues from there."
    ]
    caplog.clear()
    asked.clear()
    monkeypatch.setattr(
        classifier, "predict", lambda texts, *a, **k: asked.append(len(texts)) or predict(texts, *a, **k)
    )
    caplog.set_level(logging.INFO, logger="bert_sentiment")
    predict_file(classifier, reviews, output, chunk_rows=40)
    assert asked == [40, 30], "only the rows after the two finished chunks are predicted again"
    assert read_rows(output) == whole, "the same file as an uninterrupted run, without the half-written row"
    assert [record.getMessage() for record in caplog.records if record.name == "bert_sentiment.predict_file"] == [
        f"{output} holds the predictions of 80 rows already: continuing from there.",
        f"Wrote the predictions of 150 texts to {output}.",
    ]


def test_a_finished_output_is_kept_unless_overwrite(classifier, reviews, tmp_path):
    output = classifier.predict_file(reviews, tmp_path / "predictions.csv")
    with pytest.raises(UserError, match="already exists and is complete. Pass --overwrite"):
        classifier.predict_file(reviews, output)
    output.write_text("something else\n")
    classifier.predict_file(reviews, output, overwrite=True)
    assert len(read_rows(output)) == 151


def test_an_unfinished_output_of_another_input_is_not_continued(classifier, reviews, tmp_path):
    from bert_sentiment.predict_file import Written, progress_file, save_progress

    output = tmp_path / "predictions.csv"
    output.write_text("id,text\n")
    save_progress(Written("another input", 1, 8), progress_file(output))
    with pytest.raises(UserError) as refused:
        classifier.predict_file(reviews, output)
    assert str(refused.value) == (
        f"'{output}' holds the unfinished predictions of another input or model. Pass --overwrite to start over, or "
        "name another --output."
    )


def test_a_missing_input_is_named_by_its_flag(classifier, tmp_path):
    with pytest.raises(UserError) as refused:
        classifier.predict_file(tmp_path / "nowhere.csv", tmp_path / "predictions.csv")
    assert str(refused.value) == f"--input '{tmp_path / 'nowhere.csv'}' does not exist (looked in {tmp_path})."


def test_the_output_goes_into_folders_made_for_it_with_a_progress_bar_in_texts(classifier, reviews, tmp_path, capsys):
    output = classifier.predict_file(reviews, tmp_path / "runs" / "today" / "predictions.csv")
    assert len(read_rows(output)) == 151
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()[-1]
    assert bar.startswith("Predicting: 100%") and "150/150" in bar and "texts/s" in bar


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


def test_ctrl_c_while_scoring_a_file_ends_the_command_with_130_and_no_traceback(
    trained_run, reviews, tmp_path, monkeypatch, caplog
):
    from bert_sentiment import inference
    from bert_sentiment.cli import EXIT_INTERRUPTED, main

    def ctrl_c(classifier, texts, *args, **options):
        if len(texts) > 1:  # past the load's own checks
            raise KeyboardInterrupt

    predict = inference.SentimentClassifier.predict
    monkeypatch.setattr(
        inference.SentimentClassifier,
        "predict",
        lambda classifier, texts, *a, **k: ctrl_c(classifier, texts) or predict(classifier, texts, *a, **k),
    )
    output = tmp_path / "predictions.csv"
    assert main(["predict", "--model", str(trained_run), "--input", str(reviews), "--output", str(output)]) == (
        EXIT_INTERRUPTED
    )
    assert caplog.records[-1].levelname == "WARNING" and caplog.messages[-1] == "Interrupted."
    assert len(read_rows(output)) == 1, "stopped in the first chunk: the header alone is written"
    assert not any(message.startswith("Stopped after") for message in caplog.messages), "no row to speak of"


def test_texts_under_the_models_threshold_are_written_not_sure_with_their_probabilities(untrained_classifier, tmp_path):
    from bert_sentiment.inference import load
    from tests.test_inference import with_config

    cautious = load(
        str(with_config(untrained_classifier, tmp_path / "cautious", abstain_threshold=0.6)), engine="torch"
    )
    reviews = write_csv(tmp_path / "reviews.csv", english_reviews(60, seed=2))
    rows = read_rows(cautious.predict_file(reviews, tmp_path / "predictions.csv"))[1:]
    unsure = [row for row in rows if row[2] == "not sure"]
    assert 0 < len(unsure) < len(rows), "the random head is sure of some texts and not of others"
    for row in rows:
        top = max(float(row[4]), float(row[5]))
        assert float(row[3]) == pytest.approx(top, abs=1e-6), "the score is the top probability, sure or not"
        assert (row[2] == "not sure") == (top < 0.6)


def test_the_text_column_named_is_read_and_empty_cells_are_predicted_as_empty_text(classifier, tmp_path):
    long = "a long headline that reads like a review of its own, " * 3  # the longer column: a guess would take it
    rows = [(1, long, "the plot was horrible and dull"), (2, long + "!", ""), (3, long + "?", "房间干净，服务热情")]
    data = write_csv(tmp_path / "two.csv", rows, header=("id", "headline", "notes"))
    written = read_rows(classifier.predict_file(data, tmp_path / "out.csv", text_column="notes"))
    assert written[0][:4] == ["id", "headline", "notes", "prediction"]
    expected = classifier.predict(["the plot was horrible and dull", "", "房间干净，服务热情"])
    assert [row[2] for row in written[1:]] == ["the plot was horrible and dull", "", "房间干净，服务热情"]
    assert [float(row[5]) for row in written[1:]] == pytest.approx([p.scores["negative"] for p in expected], abs=1e-5)


def test_a_damaged_progress_file_or_a_shortened_output_asks_for_overwrite(classifier, reviews, tmp_path):
    from bert_sentiment.local_files import data_sha256, locate
    from bert_sentiment.predict_file import Written, progress_file, save_progress

    output = tmp_path / "predictions.csv"
    output.write_text("id,review\n")
    progress_file(output).write_text("{not json")
    with pytest.raises(UserError) as refused:
        classifier.predict_file(reviews, output)
    assert str(refused.value).startswith(f"The progress file {progress_file(output)} is unreadable (")
    assert str(refused.value).endswith("). Pass --overwrite to start over.")

    source = f"{data_sha256(locate(str(reviews), '--input'))} {classifier.model_id}"
    save_progress(Written(source, 40, output.stat().st_size + 1), progress_file(output))
    with pytest.raises(UserError) as refused:
        classifier.predict_file(reviews, output)
    assert str(refused.value) == f"'{output}' is shorter than its progress file says. Pass --overwrite to start over."
    save_progress(Written(source, 1, output.stat().st_size), progress_file(output))
    continued = read_rows(classifier.predict_file(reviews, output))
    assert continued[0] == ["id", "review"] and [row[0] for row in continued[1:]] == [str(i) for i in range(1, 150)], (
        "exactly the length its progress file gives: continued after that row"
    )
