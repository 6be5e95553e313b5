"""Labels fixed by a person and fed back: the review spreadsheet, and its round trip to a corrected run (the corrections
themselves: test_corrections.py)."""

import json

import numpy as np
import pytest

import train
from bert_sentiment.cli import main as cli_main
from bert_sentiment.errors import UserError
from bert_sentiment.review import ERRORS_SHEET, HOW_TO_SHEET, least_sure_spread, write_review
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


def test_when_the_clusters_come_out_fewer_the_next_least_sure_texts_fill_the_count():
    """Copies of three texts cannot make five clusters: the two missing rows are the least sure of the rest."""
    texts = ["so so", "not bad", "fine I guess"] * 4
    margins = np.linspace(0.01, 0.12, 12)
    probabilities = np.c_[(1 - margins) / 2, (1 + margins) / 2]
    chosen = least_sure_spread(texts, probabilities, 5, "en")
    assert list(chosen) == [0, 1, 2, 3, 4], "one of each text, then the next least sure, least sure first"


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
    assert errors.data_validations.dataValidation[0].formula1 == '"negative,positive,(leave out)"'
    assert to_label.max_row == 7 and len({row[0].value for row in to_label.iter_rows(min_row=2)}) == 6

    train_rows, no_label_fits = [row for row in rows if row["split"] == "train"][:3], rows[-1]
    for row in train_rows:  # a person agrees with the suggestion
        errors.cell(rows.index(row) + 2, header.index("corrected_label") + 1, row["suggested_label"])
    errors.cell(len(rows) + 1, header.index("corrected_label") + 1, "(leave out)")
    for cell in list(to_label.iter_rows(min_row=2))[:2]:
        cell[3].value = "positive"
    to_label.cell(4, 4, "(leave out)")
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
    assert fixed["file"] == "review.xlsx" and fixed["added"] == 2 and fixed["matched"] == 4
    assert fixed["corrected"] == 3, "each suggestion differs from the given label"
    assert fixed["left_out"] == {no_label_fits["split"]: 1}
    card = " ".join((out / "README.md").read_text().split())
    assert "3 labels were corrected by hand (3 in train) from `review.xlsx`" in card
    assert "and 2 texts were added to training with the labels given there" in card
    assert f"1 text was left out of the data (1 in {no_label_fits['split']}): that file marks it" in card

    labelled_now = [row[0].value for row in list(to_label.iter_rows(min_row=2))[:3]]  # the third left out
    trained_on = [text for text, _ in english_reviews(3)]  # in reviews.csv, the run's training data
    pool = write_csv(
        tmp_path / "again.csv",
        [(text,) for text in [*labelled_now, *trained_on, "a film, I suppose"]],
        header=("text",),
    )
    again = write_review(out, tmp_path / "again.xlsx", unlabeled_file=str(pool), to_label=6)
    book = load_workbook(again)
    assert [row["text"] for row in sheet_rows(book["to label"])] == ["a film, I suppose"], (
        "the texts labelled in the last review, and the training texts, are not offered again"
    )
    assert {(row["text"], row["corrected_label"]) for row in sheet_rows(book["labelled before"])} == {
        *((text, "positive") for text in labelled_now[:2]),
        (labelled_now[2], "(leave out)"),
    }
    corrected_before = {row["text"]: row["corrected_label"] for row in sheet_rows(book["corrected before"])}
    assert corrected_before == {
        **{row["text"].replace("\x07", ""): row["suggested_label"] for row in train_rows},
        no_label_fits["text"].replace("\x07", ""): "(leave out)",
    }

    book["to label"].cell(2, 4, "negative")  # the second round labels one more text, and trains on this sheet alone
    book.save(again)
    out2 = tmp_path / "fixed-again"
    flags[flags.index(review)], flags[flags.index(str(out))] = again, out2
    assert train.main([str(flag) for flag in flags]) == 0
    fixed = json.loads((out2 / "run_facts.json").read_text())["data"]["label_corrections"]
    assert (fixed["file"], fixed["corrected"], fixed["added"]) == ("again.xlsx", 3, 3), "both rounds' labels kept"
    assert fixed["left_out"] == {no_label_fits["split"]: 1}


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


# Direct tests on a prepared run folder: the tiny BERT with a random head, typed facts and a hand-written
# label_issues.jsonl (no training).

ISSUES = [
    {"split": "train", "rank": 1, "text": "dull\x07 and slow", "given_label": "positive", "suggested_label": "negative",
     "label_quality": 0.2},
    {"split": "validation", "rank": 1, "text": "a superb cast", "given_label": "negative",
     "suggested_label": "positive", "label_quality": 0.05},
    {"split": "train", "rank": 2, "text": "the plot was horrible", "given_label": "positive",
     "suggested_label": "negative", "label_quality": 0.2},
]  # fmt: skip


@pytest.fixture
def reviewed_run(untrained_classifier, tmp_path):
    import shutil

    from tests.conftest import facts_literal

    folder = tmp_path / "run"
    shutil.copytree(untrained_classifier, folder)
    facts_literal().save(folder)
    (folder / "label_issues.jsonl").write_text("".join(json.dumps(issue) + "\n" for issue in ISSUES) + "\n")
    return folder


def sheet_rows(sheet) -> list[dict]:
    header = [cell.value for cell in sheet[1]]
    return [dict(zip(header, [cell.value for cell in row])) for row in sheet.iter_rows(min_row=2)]


def test_the_label_errors_sheet_lists_the_least_likely_labels_first_with_an_empty_correction(reviewed_run, caplog):
    import logging

    from openpyxl import load_workbook

    caplog.set_level(logging.INFO, logger="bert_sentiment")
    path = write_review(reviewed_run)
    assert path == reviewed_run / "review.xlsx"
    book = load_workbook(path)
    assert book.sheetnames == [HOW_TO_SHEET, ERRORS_SHEET]
    sheet = book[ERRORS_SHEET]
    assert [cell.value for cell in sheet[1]] == [
        "split",
        "rank",
        "text",
        "given_label",
        "suggested_label",
        "label_quality",
        "corrected_label",
    ], "no index column"
    assert [(row["text"], row["label_quality"]) for row in sheet_rows(sheet)] == [
        ("a superb cast", 0.05),
        ("dull and slow", 0.2),
        ("the plot was horrible", 0.2),
    ], "least likely first, ties in the file's order; a control character Excel cannot store is dropped"
    assert {row["corrected_label"] for row in sheet_rows(sheet)} == {None}, "empty, for a person to fill in"
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["C"].width == 80 and sheet.column_dimensions["G"].width == 17
    assert sheet.column_dimensions["A"].width == 12, "short names get 12 characters"
    (choices,) = sheet.data_validations.dataValidation
    assert choices.formula1 == '"negative,positive,(leave out)"' and str(choices.sqref) == "G2:G4"
    assert choices.type == "list" and choices.allow_blank, "a drop-down, which a correct label leaves empty"
    assert caplog.messages[-1] == (
        f"Wrote {path}: 3 rows in 'label errors'. Fill in 'corrected_label' where a label is wrong (or for each text "
        f"to label; its first sheet says how), then train with --label_corrections {path}."
    )
    guide = [row[0] for row in book[HOW_TO_SHEET].iter_rows(values_only=True)]
    assert guide[0] == HOW_TO_SHEET and guide[1] == (
        "Fill in the 'corrected_label' column (a drop-down) on the sheets beside this one, save the file, and train "
        "again with: python train.py ... --label_corrections review.xlsx"
    ), "the file's name, never the folder it sits in"
    assert [line.split(":")[0] for line in guide[2:]] == ["'label errors'", "'(leave out)', on any sheet"], (
        "a line for each sheet the file has, and for the leave-out choice"
    )
    assert "Pick the label a text already has to confirm it: it is not listed again." in guide[2]
    assert book.active.title == ERRORS_SHEET, "it opens where the work is"


def test_labels_with_a_comma_get_no_drop_down_and_the_review_goes_where_asked(reviewed_run, tmp_path):
    from openpyxl import load_workbook

    from tests.conftest import facts_literal

    for labels in (["bad, really", "good"], ['"bad"', "good"]):
        facts_literal(label_names=labels).save(reviewed_run)
        path = write_review(reviewed_run, tmp_path / "elsewhere" / "reviews" / "mine.xlsx")
        assert path == tmp_path / "elsewhere" / "reviews" / "mine.xlsx"
        assert load_workbook(path)[ERRORS_SHEET].data_validations.dataValidation == [], (
            f"a list drop-down cannot hold {labels[0]}: the column stays free text"
        )
    assert not (reviewed_run / "review.xlsx").exists()


def test_texts_to_label_are_the_least_sure_with_the_models_label_and_margin(
    reviewed_run, tmp_path, monkeypatch, exported_once
):
    from openpyxl import load_workbook

    from bert_sentiment import predict_file
    from bert_sentiment.inference import load

    pool = [text for text, _ in english_reviews(30, seed=4)] + ["", "   "]
    unlabeled = write_csv(tmp_path / "pool.csv", [(text,) for text in pool], header=("review",))
    monkeypatch.setattr(predict_file, "CHUNK_ROWS", 7)  # several chunks
    book = load_workbook(write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=4))
    assert book.sheetnames == [HOW_TO_SHEET, ERRORS_SHEET, "to label"]
    assert [row[0].split(":")[0] for row in book[HOW_TO_SHEET].iter_rows(min_row=3, values_only=True)] == [
        "'label errors'",
        "'to label'",
        "'(leave out)', on any sheet",
    ]
    rows = sheet_rows(book["to label"])
    assert len(rows) == 4 and {row["corrected_label"] for row in rows} == {None}
    assert len({row["text"] for row in rows}) == 4 and {row["text"] for row in rows} <= set(pool[:30])
    assert all(row["margin"] == round(row["margin"], 4) for row in rows), "four decimals"
    predictions = load(str(reviewed_run), engine="torch")([row["text"] for row in rows])
    for row, prediction in zip(rows, predictions):
        assert row["predicted_label"] == prediction.label
        assert row["margin"] == pytest.approx(
            abs(prediction.scores["positive"] - prediction.scores["negative"]), abs=2e-3
        )
    everyone = load(str(reviewed_run), engine="torch")(pool[:30])
    all_margins = sorted(abs(p.scores["positive"] - p.scores["negative"]) for p in everyone)
    assert [row["margin"] for row in rows] == sorted(row["margin"] for row in rows), "least sure first"
    assert max(row["margin"] for row in rows) <= all_margins[19] + 1e-3, "among the 20 least sure (5 per text)"


def test_an_unlabeled_file_without_text_is_refused_naming_it(reviewed_run, tmp_path):
    empty = write_csv(tmp_path / "pool.csv", [("",), ("  ",)], header=("review",))
    with pytest.raises(UserError) as refused:
        write_review(reviewed_run, unlabeled_file=str(empty))
    assert str(refused.value) == f"--unlabeled_file '{empty}' holds no text."


def test_the_unlabeled_probabilities_are_the_same_in_chunks_as_at_once(untrained_engine, monkeypatch):
    from bert_sentiment import predict_file
    from bert_sentiment.review import unlabeled_probabilities

    texts = [text for text, _ in english_reviews(23, seed=6)]
    whole, earlier = unlabeled_probabilities(untrained_engine, texts)
    assert earlier == 0
    monkeypatch.setattr(predict_file, "CHUNK_ROWS", 5)
    assert unlabeled_probabilities(untrained_engine, texts)[0] == pytest.approx(whole, abs=1e-4), "padding may differ"
    assert whole.shape == (23, 2) and whole.dtype == np.float32
    assert whole[:, 1] == pytest.approx([p.scores["positive"] for p in untrained_engine(texts)], abs=1e-4)


def test_one_text_to_label_is_enough_and_the_column_named_is_the_one_read(reviewed_run, tmp_path, exported_once):
    from openpyxl import load_workbook

    rows = [(f"row {i}", text) for i, (text, _) in enumerate(english_reviews(12, seed=9))]
    pool = write_csv(tmp_path / "pool.csv", rows, header=("title", "body"))
    book = load_workbook(write_review(reviewed_run, unlabeled_file=str(pool), to_label=1, text_column="title"))
    (row,) = sheet_rows(book["to label"])
    assert row["text"] in {title for title, _ in rows}, "the column named, not the longer one a guess would take"


def test_a_missing_unlabeled_file_is_named_by_its_flag(reviewed_run, tmp_path):
    with pytest.raises(UserError) as refused:
        write_review(reviewed_run, unlabeled_file=str(tmp_path / "nowhere.csv"))
    assert str(refused.value).startswith(f"--unlabeled_file '{tmp_path / 'nowhere.csv'}' does not exist")


def test_predicting_the_unlabeled_texts_shows_a_progress_bar_and_reads_a_chunk_at_a_time(
    untrained_engine, monkeypatch, capsys
):
    from bert_sentiment import predict_file
    from bert_sentiment.review import unlabeled_probabilities

    monkeypatch.setattr(predict_file, "CHUNK_ROWS", 5)
    chunks, predict = [], untrained_engine.predict
    monkeypatch.setattr(untrained_engine, "predict", lambda texts: chunks.append(len(texts)) or predict(texts))
    unlabeled_probabilities(untrained_engine, [text for text, _ in english_reviews(23, seed=6)])
    assert chunks == [5, 5, 5, 5, 3]
    bar = capsys.readouterr().err
    assert "Predicting the unlabeled texts: 100%" in bar and "| 23/23 [" in bar and "text/s]" in bar


def test_the_margin_is_the_gap_between_the_two_most_likely_labels():
    from bert_sentiment.review import margins

    assert margins(np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.5, 0.5, 0.0]])) == pytest.approx([0.2, 0.3, 0.0])


def test_a_large_unlabeled_pool_is_sampled_to_the_size_the_picks_need():
    from bert_sentiment.review import POOL_FLOOR, POOL_PER_PICK, pool_rows

    assert (POOL_PER_PICK, POOL_FLOOR) == (20, 20_000), "the measured setting: 1,000 picked from 20,000"
    rows = pool_rows(1_000_000, 200, None)
    assert len(rows) == 20_000 and len(set(rows)) == 20_000, "the floor, for the default 200 to label"
    assert np.all(np.diff(rows) > 0) and rows[0] < 1_000 and rows[-1] > 999_000, "spread through the whole file"
    assert len(pool_rows(1_000_000, 5_000, None)) == 100_000, "20 per text to label"
    assert np.array_equal(pool_rows(1_000_000, 200, None), rows), "the same sample on every review of the run"
    assert len(pool_rows(40_000, 200, None)) == 40_000, "a sample of half the pool or more saves little"
    assert len(pool_rows(40_001, 200, None)) == 20_000
    assert len(pool_rows(1_000_000, 200, float("inf"))) == 1_000_000, "--pool_sample all"
    assert len(pool_rows(1_000_000, 200, 5_000)) == 5_000, "a number is taken as asked, below the floor too"
    assert len(pool_rows(30, 2, 400)) == 30


def texts_scored(monkeypatch) -> list[list[str]]:
    """The texts each review hands the model, one list per scoring, recorded as the real scoring goes on."""
    from bert_sentiment import review

    scored, real = [], review.unlabeled_probabilities
    monkeypatch.setattr(
        review,
        "unlabeled_probabilities",
        lambda model, texts, *kept, **job: scored.append(texts) or real(model, texts, *kept, **job),
    )
    return scored


def test_review_of_a_sampled_pool_scores_only_the_sample_and_says_what_the_whole_would_cost(
    reviewed_run, tmp_path, monkeypatch, caplog, exported_once
):
    import logging

    from openpyxl import load_workbook

    from bert_sentiment import review
    from tests.conftest import set_monotonic

    scored = texts_scored(monkeypatch)
    set_monotonic(monkeypatch, review, iter([100.0, 112.0, 500.0, 600.0, 700.0]).__next__)  # 8 texts scored in 12 s
    monkeypatch.setattr(review, "POOL_PER_PICK", 2)
    monkeypatch.setattr(review, "POOL_FLOOR", 8)
    pool = [text for text, _ in english_reviews(30, seed=4)]
    unlabeled = write_csv(tmp_path / "pool.csv", [(text,) for text in pool], header=("review",))
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        book = load_workbook(write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=2))
    (texts,) = scored
    assert len(texts) == 8 and set(texts) <= set(pool)
    assert {row["text"] for row in sheet_rows(book["to label"])} <= set(texts), "picked from the texts scored"
    assert (
        "Scoring 8 of the 30 unlabeled texts, drawn at random through the file (2 per text to label, at least 8): "
        "--pool_sample all scores every one." in caplog.messages
    )
    assert "Scored 8 unlabeled texts in 12 s; all 30 would take about 45 s." in caplog.messages
    assert not any("repeat" in message for message in caplog.messages), "no copies, no word of them"

    scored.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=2, pool_sample="5")
    assert [len(texts) for texts in scored] == [5]
    assert (
        "Scoring 5 of the 30 unlabeled texts, drawn at random through the file (--pool_sample 5): --pool_sample all "
        "scores every one." in caplog.messages
    )

    scored.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        cli_main(
            ["review", str(reviewed_run), "--unlabeled_file", str(unlabeled), "--to_label", "2", "--pool_sample", "all"]
        )
    assert [len(texts) for texts in scored] == [30]
    assert not any(message.startswith(("Scoring", "Scored")) for message in caplog.messages)


def test_a_pool_sample_that_is_not_a_number_is_refused_before_the_file_is_read(reviewed_run, tmp_path):
    with pytest.raises(UserError) as refused:
        write_review(reviewed_run, unlabeled_file=str(tmp_path / "nowhere.csv"), pool_sample="50", to_label=200)
    assert str(refused.value) == (
        "--pool_sample 50 scores fewer texts than --to_label 200 picks: ask for at least 4000 (the least sure of "
        "many), or leave it out ('auto')."
    )
    with pytest.raises(UserError) as refused:
        write_review(reviewed_run, unlabeled_file=str(tmp_path / "nowhere.csv"), pool_sample="200", to_label=200)
    assert str(refused.value).startswith("--unlabeled_file"), "as many as it picks: on to the file"
    with pytest.raises(UserError) as refused:
        write_review(reviewed_run, unlabeled_file=str(tmp_path / "nowhere.csv"), pool_sample="most")
    assert str(refused.value) == (
        "--pool_sample 'most' is not one of 'auto' (20 per text to label, at least 20,000), 'all', or a number of "
        "texts (e.g. 20000)."
    )


def test_a_text_repeated_in_the_pool_is_scored_and_offered_once(
    reviewed_run, tmp_path, monkeypatch, caplog, exported_once
):
    """A scraped pool repeats its commonest reviews: copies of one would fill the least-sure candidates and be paid for
    again and again."""
    import logging

    from openpyxl import load_workbook

    scored = texts_scored(monkeypatch)
    others = [text for text, _ in english_reviews(12, seed=8)]
    pool = [others[0]] + ["so so, I guess"] * 10 + ["  so so, I guess\x07 "] + others[1:] + ["so so, I guess"] * 5
    unlabeled = write_csv(tmp_path / "pool.csv", [(text,) for text in pool], header=("review",))
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        book = load_workbook(write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=20))
    assert scored == [[others[0], "so so, I guess", *others[1:]]], "once each, in the file's order"
    texts = [row["text"] for row in sheet_rows(book["to label"])]
    assert sorted(texts) == sorted([*others, "so so, I guess"]), "20 asked for: each of the 13 texts, once"
    assert "15 of the 28 unlabeled texts repeat an earlier one: each text is scored, and offered to label, once." in (
        caplog.messages
    )


def test_texts_the_run_holds_labels_for_are_not_offered_again(reviewed_run, tmp_path, caplog, exported_once):
    import logging

    from datasets import Dataset, DatasetDict
    from openpyxl import load_workbook

    from bert_sentiment.corrections import LABELLED_FILE, labelled_hashes, save_labelled_texts

    pool = [text for text, _ in english_reviews(12, seed=8)]
    unlabeled = write_csv(tmp_path / "pool.csv", [(text,) for text in pool], header=("review",))
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        book = load_workbook(write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=12))
    assert len(sheet_rows(book["to label"])) == 12, "a run from before the record offers every text"
    assert (
        f"{reviewed_run} has no {LABELLED_FILE} (trained before runs recorded their texts): texts it already holds "
        "labels for may be offered again." in caplog.messages
    )

    splits = DatasetDict(
        train=Dataset.from_dict({"text": [pool[0], f" {pool[3]}\x07", "not in the pool"]}),
        test=Dataset.from_dict({"text": [pool[5]]}),
    )
    save_labelled_texts(labelled_hashes(splits), reviewed_run)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        book = load_workbook(write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=12))
    offered = {row["text"] for row in sheet_rows(book["to label"])}
    assert offered == set(pool) - {pool[0], pool[3], pool[5]}, "matched as corrections match: by the text's key"
    assert (
        "3 of the 12 distinct unlabeled texts are labelled in the run's data already (training, validation or "
        "test): they are not offered." in caplog.messages
    )

    save_labelled_texts(labelled_hashes(DatasetDict(train=Dataset.from_dict({"text": [pool[7]]}))), reviewed_run)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        write_review(reviewed_run, unlabeled_file=str(unlabeled), to_label=12)
    assert (
        "1 of the 12 distinct unlabeled texts is labelled in the run's data already (training, validation or test): "
        "it is not offered." in caplog.messages
    )

    save_labelled_texts(labelled_hashes(splits), reviewed_run)
    known = write_csv(tmp_path / "known.csv", [(pool[0],), (pool[5],), (pool[0],)], header=("review",))
    with pytest.raises(UserError) as refused:
        write_review(reviewed_run, unlabeled_file=str(known))
    assert str(refused.value) == (
        f"Every text in --unlabeled_file '{known}' (2 distinct) is already labelled in the run's data: give texts it "
        "has not seen."
    )


def test_a_run_records_every_text_it_holds_a_label_for(trained_run):
    import pandas as pd

    from bert_sentiment.corrections import labelled_texts, text_hashes

    texts = [
        *pd.read_csv(trained_run.parent / "reviews.csv")["text"],
        *pd.read_csv(trained_run.parent / "test.csv")["text"],
    ]
    labelled = labelled_texts(trained_run)
    assert np.isin(text_hashes(texts), labelled).all(), "training (with the validation carved from it) and test"
    assert len(labelled) == len(set(texts)) and labelled.dtype == np.uint64
    assert not np.isin(text_hashes(["a text the run never saw"]), labelled).any()


def test_an_interrupted_scoring_continues_where_it_stopped_and_only_for_the_same_texts(
    untrained_engine, monkeypatch, tmp_path, caplog
):
    """Scoring a pool of a million took MiniLM about half an hour on 2 cores: a Ctrl-C near the end must not cost it
    all again."""
    import logging

    from bert_sentiment import predict_file
    from bert_sentiment.review import unlabeled_probabilities

    monkeypatch.setattr(predict_file, "CHUNK_ROWS", 5)
    texts = [text for text, _ in english_reviews(23, seed=6)]
    whole, _ = unlabeled_probabilities(untrained_engine, texts)
    scores = tmp_path / ".review.scores"
    chunks, predict = [], untrained_engine.predict

    def score(batch, stop_after=None):  # Ctrl-C once `stop_after` chunks are scored
        if len(chunks) == stop_after:
            raise KeyboardInterrupt
        chunks.append(len(batch))
        return predict(batch)

    def scoring(other, job, stop_after=None):
        chunks.clear()
        monkeypatch.setattr(untrained_engine, "predict", lambda batch: score(batch, stop_after))
        return unlabeled_probabilities(untrained_engine, other, scores, job=job)

    with pytest.raises(KeyboardInterrupt), caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        scoring(texts, "run A", stop_after=2)
    assert scores.stat().st_size == 10 * 2 * 4, "two chunks of 5 texts, two float32 probabilities each"
    assert caplog.messages == [
        f"Stopped after scoring 10 of 23 texts: they are kept in {scores}, and the same command continues from there."
    ]
    with open(scores, "ab") as handle:
        handle.write(b"\x01" * 9)  # killed while the next chunk was written: a row and a bit
    with pytest.raises(KeyboardInterrupt):
        scoring(texts, "run A", stop_after=1)
    assert chunks == [5] and scores.stat().st_size == 15 * 2 * 4, "the cut-off bytes gone, one more chunk kept"

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        again, earlier = scoring(texts, "run A")
    assert earlier == 15 and chunks == [5, 3], "only the texts not scored before"
    assert again == pytest.approx(whole, abs=1e-4), "the kept scores read back as they were"
    assert "Continuing an interrupted review: 15 of the 23 texts to score were scored already." in caplog.messages
    assert list(tmp_path.iterdir()) == [], "the kept scores go once every text is scored"

    for job, other in (("run A", texts[1:]), ("run B", texts)):  # other texts, or the same ones for another run
        with pytest.raises(KeyboardInterrupt):
            scoring(texts, "run A", stop_after=2)
        probabilities, earlier = scoring(other, job)
        assert earlier == 0 and sum(chunks) == len(other), f"started over for {job} on {len(other)} texts"
        assert probabilities == pytest.approx(whole[len(texts) - len(other) :], abs=1e-4)


def test_an_interrupted_review_continues_with_the_same_command(
    reviewed_run, tmp_path, monkeypatch, caplog, exported_once
):
    import logging

    from bert_sentiment import inference, predict_file, review

    monkeypatch.setattr(predict_file, "CHUNK_ROWS", 5)
    monkeypatch.setattr(review, "POOL_PER_PICK", 4)
    monkeypatch.setattr(review, "POOL_FLOOR", 12)
    pool = write_csv(tmp_path / "pool.csv", english_reviews(30, seed=4))
    chunks, predict = [], inference.SentimentClassifier.predict

    def stopped_at_the_second_chunk(classifier, texts, *args, **options):
        if len(texts) == 5 and chunks:
            raise KeyboardInterrupt
        chunks.append(len(texts))
        return predict(classifier, texts, *args, **options)

    monkeypatch.setattr(inference.SentimentClassifier, "predict", stopped_at_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        write_review(reviewed_run, unlabeled_file=str(pool), to_label=3)
    assert not (reviewed_run / "review.xlsx").exists()
    assert (reviewed_run / ".review.scores").stat().st_size == 5 * 2 * 4, "the first chunk's scores are kept"

    monkeypatch.setattr(inference.SentimentClassifier, "predict", predict)
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        path = write_review(reviewed_run, unlabeled_file=str(pool), to_label=3)
    assert "Continuing an interrupted review: 5 of the 12 texts to score were scored already." in caplog.messages
    assert any(message.startswith("Scored 7 unlabeled texts in ") for message in caplog.messages), "this time's"
    assert path.exists() and not list(reviewed_run.glob(".review*")), "the kept scores go with the sheet written"


def test_texts_are_hashed_by_their_key_as_64_bit_numbers():
    from bert_sentiment.corrections import text_hashes

    hashes = text_hashes(["so so", " so so\x07 ", "So so", "so  so"])
    assert hashes.dtype == np.uint64 and len(hashes) == 4
    assert hashes[0] == hashes[1], "the key a spreadsheet keeps: control characters and outer spaces dropped"
    assert len({*hashes[[0, 2, 3]]}) == 3, "case and inner spaces count"


def test_an_unlabeled_text_of_spaces_is_not_a_text(reviewed_run, tmp_path, caplog):
    import logging

    from openpyxl import load_workbook

    pool = tmp_path / "pool.jsonl"  # JSON keeps what a CSV reader would read as empty
    texts = ["   ", "\t", "fine, I suppose", "fine, I suppose "]
    pool.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        book = load_workbook(write_review(reviewed_run, unlabeled_file=str(pool), to_label=3))
    assert [row["text"] for row in sheet_rows(book["to label"])] == ["fine, I suppose"]
    assert (
        "1 of the 2 unlabeled texts repeats an earlier one: each text is scored, and offered to label, once."
        in caplog.messages
    ), "spaces are not texts; a copy with a trailing space is a copy"


def test_labels_corrected_or_confirmed_before_are_carried_into_the_sheet_and_not_listed_again(reviewed_run, caplog):
    import logging

    from openpyxl import load_workbook

    from bert_sentiment.corrections import Corrections, read_corrections, save_earlier

    earlier = Corrections("review.xlsx", relabel={"a superb cast": "negative"}, add={"so so, I guess": "positive"})
    save_earlier(earlier, reviewed_run)  # "a superb cast": its given label confirmed, picked in the drop-down
    with caplog.at_level(logging.INFO, logger="bert_sentiment.review"):
        path = write_review(reviewed_run)
    book = load_workbook(path)
    assert book.sheetnames == [HOW_TO_SHEET, ERRORS_SHEET, "corrected before", "labelled before"]
    assert book[HOW_TO_SHEET]["A5"].value.startswith("'corrected before' and 'labelled before': the labels of earlier")
    assert [row["text"] for row in sheet_rows(book[ERRORS_SHEET])] == ["dull and slow", "the plot was horrible"]
    assert sheet_rows(book["corrected before"]) == [{"text": "a superb cast", "corrected_label": "negative"}]
    assert sheet_rows(book["labelled before"]) == [{"text": "so so, I guess", "corrected_label": "positive"}]
    assert (
        "1 of the 3 likely label errors was corrected or confirmed in an earlier review: not listed again (their "
        "labels are carried in 'corrected before' or 'labelled before')." in caplog.messages
    )
    read_back = read_corrections(path)
    assert (read_back.relabel, read_back.add) == (earlier.relabel, earlier.add), "fed back as they were"
