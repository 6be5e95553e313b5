"""--label_corrections: a person's fixed labels read from a spreadsheet or CSV, applied by text in every split."""

import logging

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from bert_sentiment.corrections import Corrections, apply_corrections, read_corrections
from bert_sentiment.errors import UserError

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


def test_corrections_apply_by_text_in_every_split_and_new_texts_join_training_only(caplog):
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
    with caplog.at_level(logging.INFO, logger="bert_sentiment.corrections"):
        fixed, report, _ = apply_corrections(data, NAMES, fixes)
    assert caplog.messages == [
        "Label corrections from fixed.xlsx: 2 labels changed (1 in train, 1 in test), 1 texts added to training."
    ], "every correction matched: no word of unmatched ones"
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
        "left_out": {},
    }
    assert fixed["train"].features["label"].names == NAMES


def test_an_unknown_label_is_refused_with_the_allowed_names():
    with pytest.raises(
        UserError,
        match=r"names label\(s\) \['postive'\] that the data does not have; use one of: "
        r"negative, positive \(or \(leave out\) for a text no label fits\)\.$",
    ):
        apply_corrections(
            splits(train=[("good film", "negative")]), NAMES, Corrections("f.xlsx", relabel={"good film": "postive"})
        )


def test_corrections_that_match_nothing_say_how_many_and_show_the_first(caplog):
    data = splits(train=[("good film", "negative"), ("dull film", "negative")])
    with pytest.raises(
        UserError,
        match=r"None of the 2 corrected texts in 'f.csv' occurs in the data \(0 of 2 matched\), "
        r"e.g. 'great movie'. Corrections are matched on the whole text: was the file written for this data\?$",
    ):
        apply_corrections(
            data, NAMES, Corrections("f.csv", relabel={"great movie": "positive", "nice movie": "positive"})
        )
    caplog.set_level(logging.WARNING)
    _, report, _ = apply_corrections(
        data, NAMES, Corrections("f.csv", relabel={"good film": "positive", "nice movie": "positive"})
    )
    assert report["matched"] == 1 and report["unmatched"] == 1
    assert caplog.messages == [
        "1 of the 2 corrected texts in f.csv occur nowhere in the data (e.g. 'nice movie'): they are ignored."
    ]
    long = "a" * 90
    with pytest.raises(UserError, match=rf"e.g. '{'a' * 80}'\. Corrections"):
        apply_corrections(data, NAMES, Corrections("f.csv", relabel={long: "positive"}))
    caplog.clear()
    apply_corrections(data, NAMES, Corrections("f.csv", relabel={"good film": "positive", long: "positive"}))
    assert f"(e.g. '{'a' * 80}')" in caplog.messages[0], "a long text is shown by its first 80 characters"


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


def test_a_text_matches_as_a_spreadsheet_keeps_it_whatever_the_row_order(tmp_path):
    """A spreadsheet drops control characters and a person's edits leave spaces around a text: both still match,
    and the corrections apply wherever their rows sit."""
    data = splits(train=[("good\x0b film", "negative"), ("dull film", "negative"), (" fine film ", "negative")])
    path = tmp_path / "fixed.tsv"
    path.write_text("text\tcorrected_label\nfine film\tpositive\ngood film  \tpositive\n")
    fixed, report, _ = apply_corrections(data, NAMES, read_corrections(path))
    assert fixed["train"]["label"][:] == [1, 0, 1]
    assert report["matched"] == 2 and report["corrected"] == 2 and report["unmatched"] == 0


def test_a_to_label_text_already_in_the_data_is_relabelled_not_added_twice():
    data = splits(train=[("good film", "negative"), ("dull film", "negative")], validation=[("ok film", "negative")])
    fixes = Corrections("f.xlsx", add={"good film": "positive", "superb film": "positive"})
    fixed, report, _ = apply_corrections(data, NAMES, fixes)
    assert labels_of(fixed["train"]) == {"good film": "positive", "dull film": "negative", "superb film": "positive"}
    assert len(fixed["train"]) == 3 and report["added"] == 1
    assert labels_of(fixed["validation"]) == {"ok film": "negative"}, "new texts join training only"
    assert report["per_split"] == {"train": 1, "validation": 0}


def test_the_to_label_sheet_adds_texts_and_the_other_sheets_relabel(tmp_path):
    import pandas as pd

    path = tmp_path / "review.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"text": ["good film", "dull film"], "corrected_label": ["positive", ""]}).to_excel(
            writer, sheet_name="label errors", index=False
        )
        pd.DataFrame({"text": ["superb film"], "corrected_label": ["positive"]}).to_excel(
            writer, sheet_name="to label", index=False
        )
    corrections = read_corrections(path)
    assert corrections.relabel == {"good film": "positive"} and corrections.add == {"superb film": "positive"}
    assert corrections.file == "review.xlsx" and len(corrections.sha256) == 64


@pytest.mark.parametrize("name", ["fixed.json", "fixed.xls", "fixed"])
def test_a_file_of_another_kind_is_refused_naming_the_kinds_read(tmp_path, name):
    (tmp_path / name).write_text("{}")
    with pytest.raises(UserError) as refused:
        read_corrections(tmp_path / name)
    assert str(refused.value) == (
        f"--label_corrections '{name}' is not one of .xlsx, .csv, .tsv: give the spreadsheet `bert-sentiment review` "
        "wrote, or a CSV with text and corrected_label columns."
    )


def test_a_missing_file_is_named_with_the_command_that_writes_one(tmp_path):
    with pytest.raises(UserError) as refused:
        read_corrections(tmp_path / "fixed.xlsx")
    assert str(refused.value) == (
        f"--label_corrections '{tmp_path / 'fixed.xlsx'}' does not exist. Write one with `bert-sentiment review "
        "OUTPUT_DIR`."
    )


def test_the_log_says_what_changed_per_split_and_what_was_ignored(caplog):
    caplog.set_level(logging.INFO)
    data = splits(train=[("good film", "negative"), ("dull film", "negative")], test=[("good film", "negative")])
    fixes = Corrections("f.xlsx", relabel={"good film": "positive", "nice movie": "positive"}, add={"new": "positive"})
    apply_corrections(data, NAMES, fixes)
    assert (
        "1 of the 2 corrected texts in f.xlsx occur nowhere in the data (e.g. 'nice movie'): they are ignored."
        in caplog.text
    )
    assert (
        "Label corrections from f.xlsx: 2 labels changed (1 in train, 1 in test), 1 texts added to training; "
        "1 corrected texts matched nothing." in caplog.text
    )


def test_a_texts_newest_label_wins_and_a_text_once_added_stays_added(tmp_path):
    """The newest review.xlsx carries earlier rounds' labels in sheets of their own: a label given in this round's
    sheets replaces them, whatever the sheets' order."""
    import pandas as pd

    from bert_sentiment.corrections import read_corrections

    path = tmp_path / "review.xlsx"
    with pd.ExcelWriter(path) as writer:
        for name, rows in {
            "label errors": [("was fine", "negative"), ("so so", "negative")],
            "corrected before": [("was fine", "positive"), ("dull", "negative")],
            "labelled before": [("so so", "positive"), ("meh", "negative")],
        }.items():
            pd.DataFrame(rows, columns=["text", "corrected_label"]).to_excel(writer, sheet_name=name, index=False)
    fixes = read_corrections(path)
    assert fixes.relabel == {"was fine": "negative", "dull": "negative"}
    assert fixes.add == {"so so": "negative", "meh": "negative"}, "relabelled this round, still added to training"


def test_the_corrections_that_took_effect_are_kept_for_the_next_round(tmp_path):
    """A correction of a text the data lacks did nothing: the next review does not carry it on. Added texts are kept,
    with the file they came from."""
    from bert_sentiment.corrections import earlier_corrections, save_earlier

    data = splits(train=[("good film", "negative"), ("dull film", "negative")])
    fixes = Corrections(
        "fixed.xlsx",
        "ab" * 32,
        relabel={"good film": "positive", "gone film": "negative"},
        add={"new film": "positive"},
    )
    _, _, kept = apply_corrections(data, NAMES, fixes)
    assert (kept.file, kept.sha256) == ("fixed.xlsx", "ab" * 32)
    assert (kept.relabel, kept.add) == ({"good film": "positive"}, {"new film": "positive"})
    save_earlier(Corrections("x", relabel={"café noir, très bon": "positive"}, add=kept.add), tmp_path)
    read = earlier_corrections(tmp_path)
    assert (read.relabel, read.add) == ({"café noir, très bon": "positive"}, {"new film": "positive"})
    assert (earlier_corrections(tmp_path / "elsewhere").relabel, earlier_corrections(tmp_path / "elsewhere").add) == (
        {},
        {},
    ), "a run trained without corrections"


def test_a_filled_label_without_a_text_is_not_a_correction(tmp_path):
    path = tmp_path / "fixed.csv"
    path.write_text("text,corrected_label\n,positive\n  ,negative\ngood film,positive\n", encoding="utf-8")
    assert read_corrections(path).relabel == {"good film": "positive"}


def test_a_text_marked_leave_out_leaves_every_split_and_is_kept_for_the_next_round(caplog):
    """A text no label fits (mixed, off the subject) is taken out of the data, wherever it sits; a text to label marked
    so is not added. Both are kept, so the next review neither lists nor offers them again."""
    from bert_sentiment.corrections import LEAVE_OUT, labelled_hashes, text_hashes

    data = splits(
        train=[("good film", "negative"), ("so so film", "negative"), ("fine film", "positive")],
        test=[("so so film", "positive"), ("awful film", "negative")],
    )
    fixes = Corrections(
        "fixed.xlsx",
        relabel={"good film": "positive", "so so film": LEAVE_OUT},
        add={"superb film": "positive", "a film about films": LEAVE_OUT},
    )
    with caplog.at_level(logging.INFO, logger="bert_sentiment.corrections"):
        fixed, report, kept = apply_corrections(data, NAMES, fixes)
    assert labels_of(fixed["train"]) == {"good film": "positive", "fine film": "positive", "superb film": "positive"}
    assert labels_of(fixed["test"]) == {"awful film": "negative"}
    assert (report["corrected"], report["added"], report["left_out"]) == (1, 1, {"train": 1, "test": 1})
    assert caplog.messages == [
        "Label corrections from fixed.xlsx: 1 labels changed (1 in train, 0 in test), 1 texts added to training, "
        "2 left out (1 in train, 1 in test)."
    ]
    assert kept.relabel == {"good film": "positive", "so so film": LEAVE_OUT}
    assert kept.add == {"superb film": "positive", "a film about films": LEAVE_OUT}
    assert sorted(kept.left_out()) == ["a film about films", "so so film"]
    held = labelled_hashes(fixed, kept.left_out())
    assert np.isin(text_hashes(["so so film", "a film about films", "superb film", "awful film"]), held).all(), (
        "a text looked at and left out is not offered to label again"
    )
    _, report, _ = apply_corrections(
        splits(train=[("good film", "negative")]), NAMES, Corrections("f.csv", relabel={"good film": "positive"})
    )
    assert report["left_out"] == {}, "nothing left out: no count of it"
