"""Labels fixed by a person, fed back: `--label_corrections fixed.xlsx` applied by text, before the split.

The file is the spreadsheet `bert-sentiment review` writes (bert_sentiment/review.py), with its `corrected_label`
column filled in where a label was wrong, or any table with `text` and `corrected_label` columns. Rows of its
"to label" sheet (unlabeled texts the model was least sure of) are added to the training data; every other
correction replaces the label of each text equal to it, in every split, wherever the row sits in the file. A
text marked LEAVE_OUT is taken out of every split instead (too mixed, or off the subject, to take any label). Its
sheets "corrected before" and "labelled before" carry the corrections of earlier rounds (EARLIER_FILE), read first so
that this round's labels win.
"""

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, concatenate_datasets

from bert_sentiment.atomic import written_whole
from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

TEXT_COLUMN = "text"
CORRECTION_COLUMN = "corrected_label"
# The choice, beside the labels, for a text no label fits (mixed, off the subject, not a review): it leaves the data.
LEAVE_OUT = "(leave out)"
TO_LABEL_SHEET = "to label"  # its texts are new: added to training with the label given
# A run keeps the corrections that took effect (raw texts: stays local), and `review` writes them into its sheet
# again, so the newest review.xlsx holds every correction so far: earlier rounds are not lost by training on it alone.
EARLIER_FILE = "label_corrections.jsonl"
CORRECTED_BEFORE_SHEET = "corrected before"  # earlier corrections of texts in the data
LABELLED_BEFORE_SHEET = "labelled before"  # texts added earlier, from a "to label" sheet
ADDED_SHEETS = (TO_LABEL_SHEET, LABELLED_BEFORE_SHEET)
READABLE = (".xlsx", ".csv", ".tsv")
# Characters a spreadsheet cannot hold (openpyxl refuses them): dropped on both sides before texts are compared.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Every text the run holds a label for, as 64-bit hashes of its key: `review` offers none of them to label again.
# Hashes, not texts: 8 bytes a text (8 MB for a million), and no raw text beside the model (never uploaded).
LABELLED_FILE = "labelled_texts.npy"


def text_key(text) -> str:
    """A text as a spreadsheet keeps it: what corrections are matched on."""
    return UNSTORABLE.sub("", str(text)).strip()


def text_hashes(texts) -> np.ndarray:
    """A 64-bit hash of each text's key: a million texts checked against a million others match one wrongly about once
    in 18 million reviews."""
    digests = b"".join(hashlib.blake2b(text_key(text).encode("utf-8"), digest_size=8).digest() for text in texts)
    return np.frombuffer(digests, dtype="<u8")


def labelled_hashes(splits: DatasetDict, left_out=()) -> np.ndarray:
    """The hashes of every split's texts, and of the texts a person left out, sorted, each once: what LABELLED_FILE
    holds (a text left out was looked at: it is not offered to label again)."""
    return np.unique(
        np.concatenate([text_hashes(left_out), *(text_hashes(split["text"][:]) for split in splits.values())])
    )


def save_labelled_texts(hashes: np.ndarray, output_dir) -> None:
    with written_whole(Path(output_dir) / LABELLED_FILE) as partial:
        np.save(partial, hashes)


def labelled_texts(output_dir) -> np.ndarray | None:
    """The run's LABELLED_FILE, or None for a run that did not write one (bert-sentiment before 2026-12-05)."""
    path = Path(output_dir) / LABELLED_FILE
    return np.load(path) if path.is_file() else None


@dataclass
class Corrections:
    file: str  # the file's name (never its path)
    sha256: str = ""
    relabel: dict[str, str] = field(default_factory=dict)  # text key -> the corrected label's name
    add: dict[str, str] = field(default_factory=dict)  # new text -> its label

    def left_out(self) -> list[str]:
        """The texts marked LEAVE_OUT."""
        return [text for text, label in {**self.relabel, **self.add}.items() if label == LEAVE_OUT]


def read_corrections(path: str | Path) -> Corrections:
    """The filled-in corrections of a review spreadsheet (or a CSV/TSV with text and corrected_label columns)."""
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() not in READABLE:
        raise UserError(
            f"--label_corrections '{path.name}' is not one of {', '.join(READABLE)}: give the spreadsheet "
            "`bert-sentiment review` wrote, or a CSV with text and corrected_label columns."
        )
    if not path.is_file():
        raise UserError(
            f"--label_corrections '{path}' does not exist. Write one with `bert-sentiment review OUTPUT_DIR`."
        )
    if path.suffix.lower() == ".xlsx":
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
    else:
        sheets = {
            path.stem: pd.read_csv(
                path, dtype=str, keep_default_na=False, sep="\t" if path.suffix.lower() == ".tsv" else ","
            )
        }
    from bert_sentiment.local_files import file_sha256

    corrections = Corrections(path.name, file_sha256(path))
    usable = {name: sheet for name, sheet in sheets.items() if {TEXT_COLUMN, CORRECTION_COLUMN} <= set(sheet.columns)}
    if not usable:
        found = sorted({column for sheet in sheets.values() for column in sheet.columns})
        raise UserError(
            f"--label_corrections '{path.name}' has no '{TEXT_COLUMN}' and '{CORRECTION_COLUMN}' columns "
            f"(it has {found})."
        )
    labels, added = {}, set()
    earlier_first = sorted(usable, key=lambda name: name not in (CORRECTED_BEFORE_SHEET, LABELLED_BEFORE_SHEET))
    for name in earlier_first:  # a text's newest label wins; a text once added stays added
        sheet = usable[name]
        for text, label in zip(sheet[TEXT_COLUMN], sheet[CORRECTION_COLUMN]):
            key = text_key(text)
            if str(label).strip() and key:
                labels[key] = str(label).strip()
                if name in ADDED_SHEETS:
                    added.add(key)
    corrections.relabel = {text: label for text, label in labels.items() if text not in added}
    corrections.add = {text: label for text, label in labels.items() if text in added}
    if not corrections.relabel and not corrections.add:
        raise UserError(f"--label_corrections '{path.name}' has no row with a '{CORRECTION_COLUMN}' filled in.")
    return corrections


def apply_corrections(
    splits: DatasetDict, names: list[str], corrections: Corrections
) -> tuple[DatasetDict, dict, Corrections]:
    """Splits (labels encoded) with the corrections applied by text, the texts marked LEAVE_OUT taken out, and the new
    texts added to training; with the report for the run's facts, and the corrections that took effect (those of
    texts in the data, and every text added or left out), for the run to keep (save_earlier)."""
    wanted = {*corrections.relabel.values(), *corrections.add.values()}
    unknown = sorted(label for label in wanted if label not in names and label != LEAVE_OUT)
    if unknown:
        raise UserError(
            f"--label_corrections '{corrections.file}' names label(s) {unknown} that the data does not have; "
            f"use one of: {', '.join(names)} (or {LEAVE_OUT} for a text no label fits)."
        )
    ids = {
        text: None if label == LEAVE_OUT else names.index(label)
        for text, label in {**corrections.relabel, **corrections.add}.items()
    }
    found, changed, left_out = set(), {}, {}
    for name, split in splits.items():
        keys = [text_key(text) for text in split["text"][:]]
        found.update(key for key in keys if key in ids)
        kept_rows = [row for row, key in enumerate(keys) if key not in ids or ids[key] is not None]
        left_out[name] = len(keys) - len(kept_rows)
        if left_out[name]:
            split, keys = split.select(kept_rows), [keys[row] for row in kept_rows]
            splits[name] = split
        labels = split["label"][:]
        fixed = [ids.get(key, label) for key, label in zip(keys, labels)]
        changed[name] = sum(old != new for old, new in zip(labels, fixed))
        if changed[name]:
            splits[name] = (
                split.remove_columns("label").add_column("label", fixed).cast_column("label", split.features["label"])
            )
    missing = [text for text in corrections.relabel if text not in found]
    if missing and len(missing) == len(corrections.relabel) and not corrections.add:
        raise UserError(
            f"None of the {len(missing):,} corrected texts in '{corrections.file}' occurs in the data (0 of "
            f"{len(missing):,} matched), e.g. {missing[0][:80]!r}. Corrections are matched on the whole "
            "text: was the file written for this data?"
        )
    if missing:
        logger.warning(
            "%s of the %s corrected texts in %s occur nowhere in the data (e.g. %r): they are ignored.",
            f"{len(missing):,}",
            f"{len(corrections.relabel):,}",
            corrections.file,
            missing[0][:80],
        )
    new = {text: label for text, label in corrections.add.items() if text not in found and label != LEAVE_OUT}
    if new:
        train = splits["train"]
        added = Dataset.from_dict({"text": list(new), "label": [ids[text] for text in new]}, features=train.features)
        splits["train"] = concatenate_datasets([train, added])
    report = {
        "file": corrections.file,
        "sha256": corrections.sha256,
        "corrected": sum(changed.values()),
        "per_split": changed,
        "matched": len(found),
        "unmatched": len(missing),
        "added": len(new),
        "left_out": {split: n for split, n in left_out.items() if n},
    }
    logger.info(
        "Label corrections from %s: %s labels changed (%s), %s texts added to training%s%s.",
        corrections.file,
        f"{report['corrected']:,}",
        in_splits(changed),
        f"{len(new):,}",
        f", {sum(left_out.values()):,} left out ({in_splits(report['left_out'])})" if report["left_out"] else "",
        f"; {len(missing):,} corrected texts matched nothing" if missing else "",
    )
    kept = Corrections(
        corrections.file,
        corrections.sha256,
        {text: label for text, label in corrections.relabel.items() if text in found},
        corrections.add,
    )
    return splits, report, kept


def in_splits(counts: dict[str, int]) -> str:
    """'2 in train, 1 in test'"""
    return ", ".join(f"{n:,} in {split}" for split, n in counts.items())


def save_earlier(corrections: Corrections, output_dir) -> None:
    """EARLIER_FILE: one JSON line per correction that took effect, written whole."""
    rows = [{"text": text, "corrected_label": label, "added": False} for text, label in corrections.relabel.items()]
    rows += [{"text": text, "corrected_label": label, "added": True} for text, label in corrections.add.items()]
    with written_whole(Path(output_dir) / EARLIER_FILE) as partial:
        partial.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def earlier_corrections(output_dir) -> Corrections:
    """The corrections the run in `output_dir` applied (none for a run without them)."""
    path, earlier = Path(output_dir) / EARLIER_FILE, Corrections(EARLIER_FILE)
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        row = json.loads(line)
        (earlier.add if row["added"] else earlier.relabel)[row["text"]] = row["corrected_label"]
    return earlier
