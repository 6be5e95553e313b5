"""The app's batch input and tables: limits at the limit and one past it, on every way in."""

import pytest

from bert_sentiment.demo import (
    DEFAULT_EXAMPLES,
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_ROWS,
    ModelFacts,
    batch_refusal,
    model_facts,
    predictions_table,
    read_batch,
    table_headers,
    write_csv,
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


def test_a_text_exactly_as_long_as_shown_is_whole_and_a_longer_one_ends_in_an_ellipsis_at_that_length():
    labels = ["negative", "positive"]
    answer = [Prediction({"negative": 0.4, "positive": 0.6}, truncated=False)]
    assert predictions_table(["abcdefghij"], answer, labels, shown_characters=10)[0][0] == "abcdefghij"
    cut = predictions_table(["abcdefghijk"], answer, labels, shown_characters=10)[0][0]
    assert cut == "abcdefghi…" and len(cut) == 10


def test_the_csv_of_a_batch_holds_the_headers_and_every_row_as_shown(tmp_path):
    import csv

    labels = ["negative", "positive"]
    rows = predictions_table(
        ['a, quoted "text"\nover lines'], [Prediction({"negative": 0.25, "positive": 0.75}, False)], labels
    )
    path = write_csv(rows, table_headers(labels), tmp_path / "out.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle)) == [
            table_headers(labels),
            ['a, quoted "text"\nover lines', "positive", "0.75", "0.25", "0.75", "False"],
        ]


def card_folder(folder, **data):
    from huggingface_hub import ModelCard, ModelCardData

    folder.mkdir(exist_ok=True)
    ModelCard.from_template(ModelCardData(**data), template_str="---\n{{ card_data }}\n---\n# A model\n").save(
        folder / "README.md"
    )
    return folder


def test_the_about_panel_and_the_examples_come_from_the_models_card(tmp_path):
    from huggingface_hub import EvalResult

    scores = [
        EvalResult(task_type="text-classification", dataset_type="sst2", dataset_name="SST-2", metric_type=name,
                   metric_name=name, metric_value=value, dataset_split="test")
        for name, value in (("accuracy", 0.91234), ("f1", 0.9), ("precision", 0.95))
    ]  # fmt: skip
    folder = card_folder(
        tmp_path / "run",
        base_model="bert-base-uncased",
        datasets=["glue"],
        widget=[{"text": "A fine film."}, {"text": "Dull."}],
        eval_results=scores,
        model_name="run",
    )
    facts = model_facts(str(folder), ["negative", "positive"])
    assert facts.examples == ["A fine film.", "Dull."]
    assert facts.about == "  \n".join(
        [
            f"**Model**: `{folder}`",
            "**Labels**: negative, positive",
            "**Base model**: bert-base-uncased",
            "**Data**: glue",
            "**Results**: accuracy 0.9123 (test); f1 0.9000 (test)",
        ]
    )


def test_a_card_without_examples_or_scores_gets_examples_in_its_language(tmp_path):
    folder = card_folder(tmp_path / "zh", language=["zh"])
    facts = model_facts(str(folder), ["negative", "positive"])
    assert facts.examples == DEFAULT_EXAMPLES["zh"]
    assert facts.about == f"**Model**: `{folder}`  \n**Labels**: negative, positive"


def test_a_run_folder_without_a_card_shows_its_facts_and_a_folder_with_neither_the_defaults(tmp_path):
    from tests.conftest import facts_literal

    folder = tmp_path / "run"
    folder.mkdir()
    facts = facts_literal()
    facts.save(folder)
    shown = model_facts(str(folder), facts.label_names)
    assert shown.examples == list(facts.label_examples().values()) and shown.examples
    assert shown.about == "  \n".join(
        [
            "**Base model**: /models/tiny-bert",
            "**Labels**: negative, positive",
            "**validation**: accuracy 0.8750, F1 0.8696",
            "**test**: accuracy 0.7750, F1 0.7619",
        ]
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert model_facts(str(empty), ["负面", "正面"]) == ModelFacts(
        DEFAULT_EXAMPLES["zh"], f"Model: `{empty}`; labels: 负面, 正面."
    ), "Chinese labels: Chinese examples"
    assert model_facts(str(empty), ["negative", "positive"]).examples == DEFAULT_EXAMPLES["en"]


def test_an_uploaded_text_file_is_one_text_per_line_commas_and_all(tmp_path):
    upload = tmp_path / "reviews.txt"
    upload.write_bytes("good, really good\nbad\n\ncaf\xe9 ok\n".encode("latin-1"))
    assert read_batch(None, str(upload)) == ["good, really good", "bad", "caf\ufffd ok"], "bad bytes become \ufffd"
    assert read_batch(None, None) == [] and read_batch("", None) == []


def test_a_csv_row_too_short_for_the_text_column_is_left_out(tmp_path):
    named = tmp_path / "short.csv"
    named.write_text("id,review\n1,a lovely film\n2\n")
    assert read_batch(None, str(named)) == ["a lovely film"]
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("1,a lovely and long film\n2\n")
    assert read_batch(None, str(unnamed)) == ["a lovely and long film"]


def test_refusals_say_the_limit_and_the_way_out_in_full():
    assert batch_refusal([]) is None and batch_refusal([None]) is None
    assert batch_refusal([pasted(MAX_BATCH_ROWS + 1)]) == (
        "5,001 texts is more than the 5,000 one request may hold: split them into several requests, or classify "
        "the file on your own machine with `bert-sentiment predict`."
    )


def test_table_figures_are_rounded_to_four_places():
    rows = predictions_table(
        ["ok"], [Prediction({"negative": 0.123456, "positive": 0.876544}, False)], ["negative", "positive"]
    )
    assert rows[0][2:5] == [0.8765, 0.1235, 0.8765]


def test_examples_follow_the_labels_language_when_the_card_names_none(tmp_path):
    folder = card_folder(tmp_path / "card")
    assert model_facts(str(folder), ["消极", "积极"]).examples == DEFAULT_EXAMPLES["zh"]
    assert model_facts(str(folder), ["一", "b"]).examples == DEFAULT_EXAMPLES["zh"], "the first CJK character"
    assert model_facts(str(folder), ["\u9fff", "b"]).examples == DEFAULT_EXAMPLES["zh"], "the last CJK character"
    assert model_facts(str(folder), ["negative", "positive"]).examples == DEFAULT_EXAMPLES["en"]
    chinese = card_folder(tmp_path / "zh", language="zh")
    assert model_facts(str(chinese), ["negative", "positive"]).examples == DEFAULT_EXAMPLES["zh"]


def test_a_run_without_examples_shows_examples_in_its_labels_language(tmp_path):
    from tests.conftest import facts_literal

    facts = facts_literal()
    for report in facts.results.values():
        report.label_examples = {}
    facts.save(tmp_path)
    assert model_facts(str(tmp_path), ["消极", "积极"]).examples == DEFAULT_EXAMPLES["zh"]


def test_every_dataset_of_the_card_is_named(tmp_path):
    folder = card_folder(tmp_path / "run", datasets=["glue", "imdb"])
    assert "**Data**: glue, imdb" in model_facts(str(folder), ["negative", "positive"]).about
