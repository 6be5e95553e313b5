"""Every message the data path gives a user, word for word, against a reviewed catalogue.

tests/golden/messages.md holds each error (with the value it names and the fix it offers) and each log line
of reading the user's files, label mapping, column finding, preparation and length choice, for small inputs made to trigger them. A
change of wording shows here as a diff to review; after a deliberate change,
UPDATE_GOLDEN=1 python -m pytest tests/test_messages.py rewrites the catalogue.
"""

import difflib
import logging
import os
import re
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict

from bert_sentiment.arguments import DataArguments
from bert_sentiment.columns import find_columns
from bert_sentiment.data import check_data_arguments, load_raw_splits
from bert_sentiment.errors import UserError
from bert_sentiment.labels import build_label_mapping
from bert_sentiment.lengths import choose_inference_length, choose_max_length, length_report, model_length_limit
from bert_sentiment.local_files import UnpackLimits, locate, read_split
from bert_sentiment.prepare import prepare_splits
from tests.test_prepare import as_splits, data_args

CATALOGUE = Path(__file__).parent / "golden" / "messages.md"
datasets.disable_progress_bars()


def mapping(values, feature=None, class_names=None, column="label") -> str:
    found = build_label_mapping(values, feature, class_names, column)
    return f"names {found.names}; ids {found.to_id}; from {found.how}"


def encode(value) -> str:
    return str(build_label_mapping(["pos", "neg"], None, None, "label").encode(value, "test"))


def columns(data: dict, text_flag=None, label_flag=None) -> str:
    text, label = find_columns(Dataset.from_dict(data), text_flag, label_flag)
    return f"text {text}; label {label!r}"


def prepared(raw=None, **splits_and_flags) -> str:
    """The log of preparing the splits, and the report the card is written from."""
    flags = {
        key: splits_and_flags.pop(key) for key in list(splits_and_flags) if key not in ("train", "validation", "test")
    }
    data = prepare_splits(raw or as_splits(**splits_and_flags), data_args(**flags), seed=1)
    return f"labels {data.label_names}; report {data.report}; texts {sorted(data.splits['train']['text'])[:2]}"


def two_columns_and_a_test_split_without_labels() -> str:
    train = Dataset.from_dict(
        {
            "title": [f"title {i}" for i in range(20)],
            "body": [f"body {i}" if i % 3 else None for i in range(20)],
            "stars": ["good" if i % 2 else "bad" for i in range(20)],
        }
    )
    test = Dataset.from_dict({"title": ["t"], "body": ["b"]})
    return prepared(DatasetDict({"train": train, "test": test}), text_column_names="title,body")


def lengths() -> str:
    train = np.array([5, 7, 9, 12, 13, 30, 31, 40, 41, 300])
    chosen, reason = choose_max_length(train, None, 512)
    report = length_report({"train": train, "validation": np.array([8, 50, 600])}, chosen, reason)
    return f"max_length {chosen} ({reason}); report {report}"


def checked(in_memory=False, **flags) -> str:
    check_data_arguments(DataArguments(**flags), in_memory=in_memory)
    return "accepted"


def hub_failure(error: Exception, config=None) -> str:
    import datasets

    def load_dataset(*args, **kwargs):
        raise error

    original, datasets.load_dataset = datasets.load_dataset, load_dataset
    try:
        return str(load_raw_splits(DataArguments(dataset_name="someone/reviews", dataset_config_name=config)))
    finally:
        datasets.load_dataset = original


def without_train(tmp_path_factory=None) -> str:
    return str(load_raw_splits(DataArguments(), data=_memory({"test": [("a", 0)], "unsupervised": [("b", 0)]})))


def _memory(splits: dict):
    from bert_sentiment.data import InMemoryData

    return InMemoryData(
        DatasetDict(
            {
                name: Dataset.from_dict({"text": [t for t, _ in rows], "label": [lab for _, lab in rows]})
                for name, rows in splits.items()
            }
        ),
        "my rows",
    )


FILES = Path(tempfile.mkdtemp(prefix="bert-sentiment-messages-"))  # the user's files; "FILES" in the catalogue
CHINESE = "这部电影很好看"


def files(name: str, content: str | bytes | dict) -> Path:
    """`name` under FILES with `content`: text (UTF-8), bytes, or {relative path: text} for a folder."""
    path = FILES / name
    if isinstance(content, dict):
        for inner, text in content.items():
            (path / inner).parent.mkdir(parents=True, exist_ok=True)
            (path / inner).write_text(text, encoding="utf-8")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def read(spec: Path | str, header: str = "auto", limits: UnpackLimits = UnpackLimits()) -> str:
    """What --train_file `spec` reads as: its layout, and the rows with their types."""
    data = locate(str(spec), "--train_file")
    rows = read_split(data, header, str(FILES / "cache"), limits)
    return f"{data.layout} '{data.name}'; {len(rows)} rows {rows.column_names}: {rows[:3]}"


def sheet(name: str, rows: list[list]) -> Path:
    import pandas

    pandas.DataFrame(rows).to_excel(FILES / name, header=False, index=False)
    return FILES / name


def zipped(name: str, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(FILES / name, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return FILES / name


def big5_class_file() -> str:
    folder = files("big5", {"neg.txt": "weak\n"})
    (folder / "pos.txt").write_bytes("good\nfine\n這部電影很好看\n".encode("big5"))
    return read(folder / "*.txt")


def cut_class_file() -> str:
    folder = files("cut-classes", {"neg.txt": "weak\n"})
    (folder / "pos.txt").write_bytes("好看".encode()[:-1])
    return read(folder / "*.txt")


def class_folders() -> dict:
    return {
        "pos/1_9.txt": "great cast",
        "pos/2_8.txt": "a fine film",
        "neg/3_1.txt": "weak plot\n",
        "unsup/4_0.txt": "?",
        "unlabeled/5_0.txt": "?",
        ".ipynb_checkpoints/6_0.txt": "a notebook's copy, not a class",
    }


REVIEWS = [
    ("a fine film", "positive"),
    ("a dull film", "negative"),
    ("great cast", "positive"),
    ("weak plot", "negative"),
]
CASES = {
    # data.py
    "data in memory and as flags": lambda: checked(True, train_file="reviews.csv"),
    "no data": lambda: checked(),
    "a Hub dataset and files": lambda: checked(dataset_name="glue", train_file="reviews.csv"),
    "an unknown --long_text": lambda: checked(dataset_name="glue", long_text="middle"),
    "an unknown --header": lambda: checked(dataset_name="glue", header="maybe"),
    "a validation share of 0": lambda: checked(dataset_name="glue", validation_split_percentage=0),
    "a validation share of 100": lambda: checked(dataset_name="glue", validation_split_percentage=100),
    "a validation share of 0.5": lambda: checked(dataset_name="glue", validation_split_percentage=0.5),
    "a Hub dataset that cannot load": lambda: hub_failure(
        FileNotFoundError("Dataset 'someone/reviews' doesn't exist\nmore")
    ),
    "a Hub dataset config that cannot load": lambda: hub_failure(ValueError(""), config="fr"),
    "data without a training split": without_train,
    # labels.py
    "label strings with sentiment words": lambda: mapping(["positive", "negative", " positive "]),
    "label strings of three polarities, Chinese": lambda: mapping(["好评", "中性", "差评"]),
    "label strings without sentiment words": lambda: mapping(["sports", "arts"]),
    "label strings, some of them sentiment words": lambda: mapping(["positive", "meh", "negative", "awful"]),
    "integer labels 0/1": lambda: mapping([1, 0, 1.0, "0"]),
    "integer labels -1/0/1": lambda: mapping([-1, 0, 1]),
    "boolean labels": lambda: mapping([True, False]),
    "a ClassLabel feature": lambda: mapping([0, 1], ClassLabel(names=["neg", "pos"])),
    "a ClassLabel feature renamed by --class_names": lambda: mapping([0, 1], ClassLabel(names=["0", "1"]), "bad, good"),
    "--class_names on integer labels": lambda: mapping([2, 1, 3], None, "low,mid,high"),
    "--class_names reordering label strings": lambda: mapping(["up", "down"], None, "up,down"),
    "a label unseen in training": lambda: encode("meh"),
    "fractional labels": lambda: mapping([0.5, 1.0, 0.25], column="score"),
    "a single class": lambda: mapping(["positive", "positive"], column="sentiment"),
    "numbers and words mixed": lambda: mapping([1, "good", 0], column="rating"),
    "numbers and words mixed, many of them": lambda: mapping([1, 2, 3, 4, 5, "good", "bad"], column="rating"),
    "integers without names": lambda: mapping([0, 1, 2, 3, 4], column="stars"),
    "--class_names of the wrong size for a ClassLabel": lambda: mapping(
        [0, 1], ClassLabel(names=["neg", "pos"]), "a,b,c"
    ),
    "--class_names of the wrong size": lambda: mapping(["up", "down"], None, "up,down,flat"),
    "--class_names repeating a name": lambda: mapping([0, 1], None, "same,same"),
    "--class_names repeating names": lambda: mapping([0, 1, 2, 3], None, "b,a,b,a"),
    "--class_names not matching label strings": lambda: mapping(["up", "down"], None, "up,sideways"),
    # columns.py
    "columns found by name": lambda: columns({"Review": ["a", "b"], "Sentiment": [0, 1]}),
    "columns found by content": lambda: columns(
        {"id": [1, 2, 3, 4], "words": ["a long text", "b", "c", "d"], "y": [0, 1, 0, 1]}
    ),
    "columns named by flags": lambda: columns(
        {"title": ["a", "b"], "body": ["c", "d"], "stars": [1, 2]}, "title,body", "stars"
    ),
    "a misspelt text column flag": lambda: columns({"review": ["a"], "label": [0]}, "reveiw"),
    "a misspelt label column flag": lambda: columns({"review": ["a"], "label": [0]}, None, "lable"),
    "the same column as text and label": lambda: columns({"review": ["a"], "label": [0]}, "review", "review"),
    "no text column": lambda: columns({"a": [1, 2, 3, 4], "b": [0, 1, 0, 1]}),
    "no label column": lambda: columns({"review": ["a", "b", "c", "d"], "note": ["e", "f", "g", "h"]}),
    # prepare.py
    "two text columns joined, a test split without the label column": two_columns_and_a_test_split_without_labels,
    "preparing messy training data": lambda: prepared(
        train=[*REVIEWS * 5, ("", "positive"), ("no label", None), ("  ", "negative")]
    ),
    "preparing with duplicates across splits": lambda: prepared(
        train=[(f"{t} {i}", lab) for i in range(5) for t, lab in REVIEWS],
        validation=[("a fine film 0", "positive"), ("x", "negative")],
        test=[("a dull film 1", "negative"), ("a dull film 2", "negative"), ("y", "positive")],
    ),
    "dropping duplicates across splits": lambda: prepared(
        train=[(f"{t} {i}", lab) for i in range(5) for t, lab in REVIEWS],
        validation=[("a fine film 0", "positive"), ("x", "negative")],
        drop_cross_split_duplicates=True,
    ),
    "a test split without labels": lambda: prepared(train=REVIEWS * 5, test=[("hidden", None), ("labels", None)]),
    "a test label unseen in training": lambda: prepared(train=REVIEWS * 5, test=[("so-so", "neutral")]),
    "a class with one example": lambda: prepared(train=[*REVIEWS[:2] * 3, ("odd", "neutral")]),
    "a validation share too small for every class": lambda: prepared(train=REVIEWS, validation_split_percentage=10.0),
    "subsets of the splits": lambda: prepared(
        train=REVIEWS * 10, validation=REVIEWS * 3, max_train_samples=8, max_eval_samples=5
    ),
    # lengths.py
    "max_length chosen from training lengths": lengths,
    "--max_seq_length pinned": lambda: str(choose_max_length(np.array([5, 9]), 64, 512)),
    "--max_seq_length too long": lambda: str(choose_max_length(np.array([5, 9]), 1024, 512)),
    "--max_seq_length too short": lambda: str(choose_max_length(np.array([5, 9]), 4, 512)),
    "--max_seq_length at its bounds": lambda: str([choose_max_length(np.array([5]), value, 512) for value in (8, 512)]),
    "--max_seq_length just below": lambda: str(choose_max_length(np.array([5]), 7, 512)),
    "max_length capped at the model's limit": lambda: str(choose_max_length(np.array([600] * 10), None, 512)),
    "a text of exactly max_length tokens is not truncated": lambda: str(
        length_report({"train": np.array([8, 8, 9, 3])}, 8, "pinned")["splits"]
    ),
    "the model's limit from its position embeddings": lambda: str(
        [
            model_length_limit(SimpleNamespace(model_max_length=limit), config)
            for limit, config in (
                (int(1e30), SimpleNamespace(max_position_embeddings=512)),
                (1_000_000, SimpleNamespace(max_position_embeddings=128)),
                (256, SimpleNamespace()),
                (512, SimpleNamespace(max_position_embeddings=514)),
            )
        ]
    ),
    "--inference_max_length at its bounds": lambda: str([choose_inference_length(value, 512) for value in (8, 512)]),
    "--inference_max_length just below": lambda: str(choose_inference_length(7, 512)),
    "inference length by default": lambda: str(choose_inference_length(None, 512)),
    "--inference_max_length pinned": lambda: str(choose_inference_length(256, 512)),
    "--inference_max_length too long": lambda: str(choose_inference_length(600, 512)),
    # local_files.py: the user's own files
    "a tab-separated .txt without a header": lambda: read(files("tabs.txt", "a fine film\t1\nweak plot\t0\n")),
    "a semicolon-delimited .txt with a header": lambda: read(
        files("semi.txt", "review;sentiment\ngreat cast;pos\nweak plot;neg\n")
    ),
    "a quoted .csv with a header": lambda: read(files("quoted.csv", '"review","label"\n"great, truly",1\n"weak",0\n')),
    "a .csv with unknown column names and a row cut short": lambda: read(
        files("moods.csv", "words,mood\ngreat cast,happy\nweak plot,sad\nfine,happy\nlong\ndull,sad\n")
    ),
    "a .csv read with --header yes": lambda: read(files("yes.csv", "1,great\n0,weak\n"), header="yes"),
    "a .csv read with --header no": lambda: read(files("no.csv", "text,label\ngreat,1\n"), header="no"),
    "a .txt of one text per line": lambda: read(files("plain.txt", "a fine film\nweak plot\n")),
    "class files named by a pattern": lambda: read(
        files("classes", {"pos.txt": "great cast\n\na fine film\n", "neg.txt": "weak plot\n"}) / "*.txt"
    ),
    "class folders, with an unlabelled one": lambda: read(files("aclImdb", class_folders())),
    "a folder of class files": lambda: read(files("per-class", {"good.txt": "great\n", "bad.txt": "weak\n"})),
    "a folder with nothing usable": lambda: read(files("empty", {"notes/readme.md": "hello", ".git/HEAD": "x"})),
    "a pattern matching nothing": lambda: read(FILES / "nowhere" / "*.txt"),
    "a pattern matching other files": lambda: read(files("csvs", {f"{n}.csv": "" for n in "abcdef"}) / "*.csv"),
    "a file without an extension": lambda: read(files("reviews", "a fine film\t1\n")),
    "a missing file": lambda: read(FILES / "missing.csv"),
    "an unsupported extension": lambda: read(files("reviews.docx", "x")),
    "a .csv in GB18030": lambda: read(files("gbk.csv", f"text,label\ngood,1\n{CHINESE},1\n".encode("gb18030"))),
    "a .csv cut off inside a character": lambda: read(files("cut.csv", f"text,label\n{CHINESE}".encode()[:-1])),
    "a class file in Big5": big5_class_file,
    "a .jsonl in GB18030": lambda: read(files("gbk.jsonl", f'{{"text": "{CHINESE}", "label": 1}}\n'.encode("gb18030"))),
    "traditional Chinese saved as GBK": lambda: read(
        files("gbk-traditional.csv", "text\n這部電影很好看\n".encode("gbk"))
    ),
    "a .tsv in Shift-JIS": lambda: read(files("sjis.tsv", "text\tlabel\nこの映画は面白い\t1\n".encode("shift_jis"))),
    "a .csv in Windows-1252": lambda: read(files("cp1252.csv", "text,label\ncafé crème,1\n".encode("cp1252"))),
    "a class file cut off inside a character": cut_class_file,
    "an Excel sheet with a header, empty rows and columns, and mixed types": lambda: read(
        sheet(
            "mixed.xlsx",
            [
                ["review", None, "stars", "flag", "code"],
                [None] * 5,
                ["great", None, 5, True, 7],
                ["weak", None, 1, False, "x"],
            ],
        )
    ),
    "an Excel sheet without a header": lambda: read(sheet("plain.xlsx", [["great", 1], ["weak", 0], ["fine", 1]])),
    "an Excel sheet without a header, a label cell left empty": lambda: read(
        sheet("gaps.xlsx", [["great", 1], ["weak", None], ["fine", 1]])
    ),
    "an Excel sheet read with --header yes": lambda: read(sheet("numbers.xlsx", [[1, 2], [3, 4]]), header="yes"),
    "a damaged Excel file": lambda: read(files("broken.xlsx", b"PK not really")),
    "a .zip of one .csv": lambda: read(
        zipped("one.zip", {"reviews.csv": "text,label\ngreat,1\n", "__MACOSX/._x": "x"})
    ),
    "a .zip of a zipped folder of class folders": lambda: read(
        zipped("imdb.zip", {f"aclImdb/{name}": text for name, text in class_folders().items()} | {".DS_Store": "x"})
    ),
    "a .zip of one tab-separated .txt": lambda: read(zipped("tabs.zip", {"reviews.txt": "great\t1\nweak\t0\n"})),
    "a .zip of class folders at its top": lambda: read(zipped("top.zip", class_folders())),
    "a .zip of nothing usable": lambda: read(zipped("odd.zip", {"a.pdf": "x", "b.pdf": "y"})),
    "a .zip of too many files": lambda: read(
        zipped("many.zip", {f"{i}.txt": "x" for i in range(4)}), limits=UnpackLimits(files=3)
    ),
    "a .zip of exactly as many files as allowed": lambda: read(
        zipped("three.zip", {"pos.txt": "great\n", "neg.txt": "weak\n", "mid.txt": "fine\n"}),
        limits=UnpackLimits(files=3),
    ),
    "a .zip unpacking to too much": lambda: read(
        zipped("big.zip", {"a.csv": "text,label\n" + "great,1\n" * 2_000}), limits=UnpackLimits(gigabytes=1.5e-5)
    ),
    "a .zip unpacking to exactly the limit": lambda: read(
        zipped("edge.zip", {"a.csv": "text,label\n" + "great,1\n" * 1_248 + "ok,1\n"}),
        limits=UnpackLimits(gigabytes=1e-5),
    ),
    "not a .zip": lambda: read(files("fake.zip", b"not a zip")),
}


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


def outcome(case) -> str:
    """What the user sees: the log lines, then the result or the error."""
    handler, package = Lines(), logging.getLogger("bert_sentiment")
    package.addHandler(handler)
    level = package.level
    package.setLevel(logging.INFO)  # setLevel, not `.level =`: loggers cache whether a level is on until it is called
    try:
        result = f"-> {case()}"
    except UserError as err:
        result = f"UserError: {err}"
    finally:
        package.removeHandler(handler)
        package.setLevel(level)
    return "\n".join([*handler.lines, result]).replace(str(FILES), "FILES")


def section(name: str, text: str) -> str:
    return f"## {name}\n\n```\n{text}\n```\n\n"


def catalogue() -> dict[str, str]:
    """The reviewed catalogue, case name -> what the user saw."""
    sections = re.findall(r"^## (.+?)\n\n```\n(.*?)\n```\n", CATALOGUE.read_text(encoding="utf-8"), re.S | re.M)
    return dict(sections)


def test_the_catalogue_holds_every_case_in_order():
    """First in the file: with UPDATE_GOLDEN=1 it rewrites the catalogue, which each case's test then reads."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        CATALOGUE.write_text("".join(section(name, outcome(case)) for name, case in CASES.items()), encoding="utf-8")
    assert list(catalogue()) == list(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_each_message_matches_the_reviewed_catalogue(name):
    """One test per case, so that a change to one function reruns only the cases that reach it."""
    now, expected = outcome(CASES[name]), catalogue().get(name, "(not in the catalogue)")
    diff = "".join(difflib.unified_diff(section(name, expected).splitlines(True), section(name, now).splitlines(True)))
    assert now == expected, f"A message changed; review the diff, then UPDATE_GOLDEN=1 if it is meant:\n{diff[:8000]}"
