import csv
import gzip

import pytest

from bert_sentiment.arguments import DataArguments
from bert_sentiment.data import check_data_arguments, load_raw_splits, looks_like_header
from bert_sentiment.errors import UserError
from tests.conftest import SHARED, english_reviews, write_csv


def data_args(**overrides) -> DataArguments:
    return DataArguments(**overrides)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(UserError, match=r"--train_file '.*nope\.csv' does not exist"):
        check_data_arguments(data_args(train_file=str(tmp_path / "nope.csv")))


def test_no_data_says_which_flags_to_use():
    with pytest.raises(UserError, match="--dataset_name glue --dataset_config_name sst2.*--train_file"):
        check_data_arguments(data_args())


def test_unsupported_extension_lists_supported_ones(tmp_path):
    path = tmp_path / "reviews.docx"
    path.write_text("x")
    with pytest.raises(
        UserError,
        match=r"unsupported extension '\.docx'.*\.csv, \.tsv, \.json, \.jsonl, \.parquet, \.txt, \.xlsx, \.zip",
    ):
        check_data_arguments(data_args(train_file=str(path)))


def test_gbk_file_is_refused_with_the_conversion_command(tmp_path):
    path = tmp_path / "weibo.csv"
    path.write_bytes("text,label\n这家店很好吃,1\n太难吃了,0\n".encode("gbk"))
    with pytest.raises(UserError) as error:
        check_data_arguments(data_args(train_file=str(path)))
    message = str(error.value)
    assert "is not UTF-8" in message and "line 2" in message
    assert "iconv -f GB18030 -t UTF-8" in message


def test_splits_may_come_in_different_formats(tmp_path):
    train = write_csv(tmp_path / "train.csv", english_reviews(10))
    validation = tmp_path / "dev.jsonl"
    validation.write_text('{"text": "good", "label": "positive"}\n{"text": "bad", "label": "negative"}\n')
    args = data_args(train_file=str(train), validation_file=str(validation))
    check_data_arguments(args)
    raw, source = load_raw_splits(args)
    assert raw["validation"]["text"] == ["good", "bad"] and len(raw["train"]) == 10
    assert source["files"]["validation"]["name"] == "dev.jsonl"


@pytest.mark.parametrize("percent", [0, 100, 150])
def test_validation_percentage_out_of_range(tmp_path, percent):
    train = write_csv(tmp_path / "train.csv", english_reviews(10))
    with pytest.raises(UserError, match="above 0 and below 100"):
        check_data_arguments(data_args(train_file=str(train), validation_split_percentage=percent))


def test_header_detection():
    assert looks_like_header([["sentence", "label"], ["good film", "1"]])
    assert looks_like_header([["review_body", "stars"], ["good", "5"], ["bad", "1"]])
    assert not looks_like_header([["good film", "1"], ["bad film", "0"], ["fine", "1"]])
    rows = [[f"text {i}", "pos" if i % 2 else "neg"] for i in range(8)]
    assert looks_like_header([["words", "mood"], *rows])
    assert not looks_like_header(rows)


def test_csv_without_header_keeps_its_first_row(tmp_path):
    path = write_csv(tmp_path / "train.csv", english_reviews(20), header=None)
    raw, _ = load_raw_splits(data_args(train_file=str(path)))
    assert raw["train"].column_names == ["column_0", "column_1"]
    assert len(raw["train"]) == 20


def test_tsv_keeps_quote_characters_inside_text(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text('sentence\tlabel\n"quoted" start \t1\na 12" screen \t0\n', encoding="utf-8")
    raw, source = load_raw_splits(data_args(train_file=str(path)))
    assert raw["train"]["sentence"] == ['"quoted" start ', 'a 12" screen ']
    assert source["files"]["train"]["name"] == "train.tsv" and len(source["files"]["train"]["sha256"]) == 64


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv.gz"])
def test_other_formats_load(tmp_path, suffix):
    import pandas as pd

    frame = pd.DataFrame(english_reviews(12), columns=["text", "label"])
    path = tmp_path / f"train{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, quoting=csv.QUOTE_MINIMAL)
    check_data_arguments(data_args(train_file=str(path)))
    raw, _ = load_raw_splits(data_args(train_file=str(path)))
    assert raw["train"]["text"] == frame["text"].tolist()


def test_dataset_folder_loads_through_the_hub_path_with_split_aliases(tmp_path):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    write_csv(folder / "train.csv", english_reviews(20))
    write_csv(folder / "dev.csv", english_reviews(6, seed=1))
    raw, source = load_raw_splits(data_args(dataset_name=str(folder)))
    assert sorted(raw) == ["train", "validation"]
    assert source["kind"] == "folder" and set(source["files"]) == {"train.csv", "dev.csv"}


def test_unreachable_hub_says_how_to_work_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr("datasets.config.HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as error:
        load_raw_splits(data_args(dataset_name="someone/no-such-sentiment-data"))
    message = str(error.value)
    assert "Could not load dataset 'someone/no-such-sentiment-data'" in message
    assert "--train_file" in message


@pytest.mark.shared
def test_shared_sst2_dev_reads_exactly():
    raw, _ = load_raw_splits(data_args(train_file=str(SHARED / "data/sst2/dev.tsv")))
    labels = raw["train"]["label"]
    assert len(labels) == 872 and labels.count(0) == 428 and labels.count(1) == 444


@pytest.mark.shared
def test_shared_imdb_gzip_csv_reads_with_its_header():
    raw, _ = load_raw_splits(data_args(train_file=str(SHARED / "data/imdb/imdb_test.csv.gz")))
    assert raw["train"].column_names == ["id", "rating", "label", "text"]
    assert len(raw["train"]) == 25_000


def test_in_memory_data_is_named_and_fingerprinted_per_split():
    from datasets import Dataset, DatasetDict

    from bert_sentiment.data import memory_source

    rows = {"text": [f"review {i}" for i in range(1500)], "label": [i % 2 for i in range(1500)]}  # two hash batches
    data = DatasetDict({"train": Dataset.from_dict(rows), "test": Dataset.from_dict({"text": ["a"], "label": [0]})})
    source = memory_source(data, "my reviews")
    assert source["kind"] == "memory" and source["name"] == "my reviews"
    assert {split: f["name"] for split, f in source["files"].items()} == {
        "train": "my reviews (train)",
        "test": "my reviews (test)",
    }
    assert memory_source(data, "my reviews") == source, "the same rows give the same fingerprint"
    changed = dict(rows, label=[*rows["label"][:-1], 0])  # the very last label, in the second batch
    other = memory_source(DatasetDict({"train": Dataset.from_dict(changed)}), "my reviews")
    assert other["files"]["train"]["sha256"] != source["files"]["train"]["sha256"]
    assert (
        len(source["files"]["train"]["sha256"]) == 64
        and source["files"]["test"]["sha256"] != source["files"]["train"]["sha256"]
    )


def test_the_hub_commit_of_a_dataset_is_looked_up_once_and_optional(monkeypatch, tmp_path, caplog):
    import huggingface_hub

    from bert_sentiment.data import _hub_revision

    asked = []

    def dataset_info(api, name, revision=None):
        asked.append((name, revision))
        if name == "someone/gone":
            raise OSError("404 not found")
        return type("Info", (), {"sha": "0123abcd"})()

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    caplog.set_level("INFO")
    assert _hub_revision("someone/reviews", "v2") == "0123abcd" and asked == [("someone/reviews", "v2")]
    assert _hub_revision("someone/gone", None) is None
    assert (
        caplog.messages[-1]
        == "Could not look up the commit of dataset 'someone/gone' (404 not found); the card names no commit."
    )
    assert _hub_revision(str(tmp_path), None) is None and len(asked) == 2, "a local folder is not looked up"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert _hub_revision("someone/reviews", None) is None and len(asked) == 2, "offline: not looked up"


def test_the_source_facts_name_and_fingerprint_what_was_read(tmp_path, monkeypatch):
    """What the card's data section and model-index are built from, for local files, a local folder and the Hub."""
    import hashlib

    import datasets
    import huggingface_hub

    train = write_csv(tmp_path / "train.csv", english_reviews(20))
    test = write_csv(tmp_path / "test.csv", english_reviews(6, seed=3))
    _, source = load_raw_splits(data_args(train_file=str(train), test_file=str(test)))
    sha = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (train, test)}
    assert source == {
        "kind": "files",
        "files": {
            "train": {"name": "train.csv", "sha256": sha["train.csv"], "layout": "file"},
            "test": {"name": "test.csv", "sha256": sha["test.csv"], "layout": "file"},
        },
    }

    folder = tmp_path / "my-data"
    (folder / ".cache").mkdir(parents=True)
    write_csv(folder / "train.csv", english_reviews(20))
    (folder / ".cache" / "junk").write_text("not data")
    _, source = load_raw_splits(data_args(dataset_name=str(folder)))
    assert source == {
        "kind": "folder",
        "name": "my-data",
        "files": {
            "train.csv": {
                "name": "train.csv",
                "sha256": hashlib.sha256((folder / "train.csv").read_bytes()).hexdigest(),
            }
        },
    }

    asked = []
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda name, config, revision, cache_dir: asked.append((name, config, revision, cache_dir))
        or datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"], "label": [0]})}),
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(
        huggingface_hub.HfApi,
        "dataset_info",
        lambda api, name, revision=None: type("I", (), {"sha": f"sha-of-{revision}"})(),
    )
    _, source = load_raw_splits(
        data_args(dataset_name="glue", dataset_config_name="sst2", dataset_revision="v1"), cache_dir="/cache"
    )
    assert asked == [("glue", "sst2", "v1", "/cache")]
    assert source == {"kind": "hub", "dataset_name": "glue", "config": "sst2", "revision": "v1", "commit": "sha-of-v1"}


def test_data_in_memory_keeps_its_name_and_only_the_splits_it_knows_by_name():
    from datasets import Dataset, DatasetDict

    from bert_sentiment.data import InMemoryData

    def rows(count):
        return Dataset.from_dict(
            {"text": [f"review {i}" for i in range(count)], "label": [i % 2 for i in range(count)]}
        )

    splits = DatasetDict({"Train": rows(4), "dev": rows(3), "validation": rows(2), "unlabeled": rows(5)})
    raw, source = load_raw_splits(data_args(), data=InMemoryData(splits, "my reviews"))
    assert {name: len(split) for name, split in raw.items()} == {"train": 4, "validation": 3}, "the first alias kept"
    assert source["name"] == "my reviews" and set(source["files"]) == {"Train", "dev", "validation", "unlabeled"}


def test_a_pattern_or_a_corrections_file_that_finds_nothing_names_its_flag_and_the_fix(tmp_path):
    train = write_csv(tmp_path / "train.csv", english_reviews(20))
    with pytest.raises(UserError, match=r"^--test_file '.*reviews/\*\.txt' matches no file \(looked in "):
        load_raw_splits(data_args(train_file=str(train), test_file=str(tmp_path / "reviews" / "*.txt")))
    with pytest.raises(UserError) as refused:
        check_data_arguments(data_args(train_file=str(train), label_corrections=str(tmp_path / "fixed.xlsx")))
    assert str(refused.value) == (
        f"--label_corrections '{tmp_path / 'fixed.xlsx'}' does not exist. Write one with `bert-sentiment review "
        "OUTPUT_DIR`, fill in its corrected_label column, and pass that file."
    )
