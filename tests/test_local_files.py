"""Data in the shapes users keep it: .txt (delimited or one text per line), class files, class folders, .xlsx, .zip."""

import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from bert_sentiment.arguments import DataArguments
from bert_sentiment.data import check_data_arguments, load_raw_splits
from bert_sentiment.errors import UserError
from bert_sentiment.prepare import prepare_splits
from tests.conftest import english_reviews, write_csv


def prepared(**files):
    """Load and prepare as train.py does: (prepared data, source facts)."""
    args = DataArguments(**files)
    check_data_arguments(args)
    raw, source = load_raw_splits(args)
    return prepare_splits(raw, args, seed=0), source


def class_files(folder: Path, rows) -> Path:
    """pos.txt / neg.txt, one text per line (with a blank line to skip)."""
    folder.mkdir(parents=True, exist_ok=True)
    for label, name in (("positive", "pos"), ("negative", "neg")):
        texts = [text for text, row_label in rows if row_label == label]
        (folder / f"{name}.txt").write_text("\n".join(texts[:3] + [""] + texts[3:]) + "\n", encoding="utf-8")
    return folder


def class_folders(root: Path, rows) -> Path:
    """The aclImdb layout: pos/ and neg/ of one-review files, plus an unlabelled unsup/ and stray top-level files."""
    for i, (text, label) in enumerate(rows):
        folder = root / ("pos" if label == "positive" else "neg")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}_7.txt").write_text(text, encoding="utf-8")
    (root / "unsup").mkdir()
    (root / "unsup" / "0_0.txt").write_text("an unlabelled review", encoding="utf-8")
    (root / "urls_pos.txt").write_text("http://example.invalid/1\n", encoding="utf-8")
    return root


def test_tab_separated_txt_without_header(tmp_path):
    path = write_csv(tmp_path / "reviews.txt", english_reviews(40), header=None, delimiter="\t")
    data, source = prepared(train_file=str(path))
    assert data.label_names == ["negative", "positive"]
    assert data.report["text_columns"] == ["column_0"] and sum(data.report["sizes"].values()) == 40
    assert source["files"]["train"]["layout"] == "file"


def test_one_text_per_line_txt_alone_says_how_to_name_classes(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(text for text, _ in english_reviews(20)), encoding="utf-8")
    with pytest.raises(UserError, match=r"one text per line and no labels.*\*\.txt.*pos\.txt and neg\.txt"):
        prepared(train_file=str(path))


def test_one_file_per_class_by_glob(tmp_path):
    rows = english_reviews(40)
    folder = class_files(tmp_path / "reviews", rows)
    data, source = prepared(train_file=str(folder / "*.txt"))
    assert data.label_names == ["neg", "pos"], "named by the files, ordered negative to positive"
    assert sum(data.report["sizes"].values()) == 40, "blank lines are not texts"
    train = data.splits["train"]
    by_text = dict(zip(train["text"], train["label"]))
    expected = dict(rows)
    assert all(
        data.label_names[label] == {"positive": "pos", "negative": "neg"}[expected[text]]
        for text, label in by_text.items()
    )
    assert source["files"]["train"]["name"] == "reviews/*.txt", "the pattern and its folder's name, never its path"
    assert source["files"]["train"]["layout"] == "class_files"


def test_a_folder_of_class_files_is_the_same_as_its_glob(tmp_path):
    folder = class_files(tmp_path / "reviews", english_reviews(40))
    by_folder, _ = prepared(train_file=str(folder))
    by_glob, _ = prepared(train_file=str(folder / "*.txt"))
    assert by_folder.splits["train"]["text"] == by_glob.splits["train"]["text"]


def test_folder_per_class_as_aclimdb(tmp_path, caplog):
    caplog.set_level("INFO")
    root = class_folders(tmp_path / "aclImdb" / "train", english_reviews(30))
    test = class_folders(tmp_path / "aclImdb" / "test", english_reviews(10, seed=3))
    data, source = prepared(train_file=str(root), test_file=str(test))
    assert data.label_names == ["neg", "pos"]
    assert data.report["sizes"]["train"] + data.report["sizes"]["validation"] == 30, "unsup/ is not training data"
    assert data.report["sizes"]["test"] == 10
    assert "an unlabelled review" not in data.splits["train"]["text"]
    assert "Skipping the unlabelled folder(s) unsup" in caplog.text
    assert source["files"]["train"]["layout"] == "class_folders"


def test_the_digest_follows_the_content_of_every_file(tmp_path):
    root = class_folders(tmp_path / "train", english_reviews(20))
    before = load_raw_splits(DataArguments(train_file=str(root)))[1]["files"]["train"]["sha256"]
    (root / "pos" / "1_7.txt").write_text("a changed review", encoding="utf-8")
    after = load_raw_splits(DataArguments(train_file=str(root)))[1]["files"]["train"]["sha256"]
    assert before != after


def test_excel_sheet_with_a_header_and_empty_rows(tmp_path):
    frame = pd.DataFrame(english_reviews(30), columns=["Review", "Sentiment"])
    frame.loc[5, "Review"] = None
    path = tmp_path / "reviews.xlsx"
    frame.to_excel(path, index=False)
    data, _ = prepared(train_file=str(path))
    assert data.report["text_columns"] == ["Review"] and data.report["label_column"] == "Sentiment"
    assert data.label_names == ["negative", "positive"]
    assert sum(data.report["sizes"].values()) == 29 and data.report["dropped"]["train"] == 1


def test_excel_with_integer_labels_and_no_header(tmp_path):
    rows = [(text, int(label == "positive")) for text, label in english_reviews(30)]
    path = tmp_path / "reviews.xlsx"
    pd.DataFrame(rows).to_excel(path, index=False, header=False)
    data, _ = prepared(train_file=str(path))
    assert data.report["text_columns"] == ["column_0"] and data.label_names == ["negative", "positive"]
    assert sum(data.report["sizes"].values()) == 30, "the first row is data, not a header"


def test_broken_excel_file_is_a_clear_error(tmp_path):
    path = tmp_path / "reviews.xlsx"
    path.write_text("not a spreadsheet")
    with pytest.raises(UserError, match="Could not read the Excel file"):
        prepared(train_file=str(path))


def zipped(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            handle.write(path, path.relative_to(folder.parent))
    return archive


def test_zip_of_a_csv(tmp_path):
    inner = tmp_path / "export"
    inner.mkdir()
    write_csv(inner / "reviews.csv", english_reviews(30), header=("review", "sentiment"))
    data, source = prepared(train_file=str(zipped(inner, tmp_path / "export.zip")))
    assert data.report["text_columns"] == ["review"] and sum(data.report["sizes"].values()) == 30
    assert source["files"]["train"]["name"] == "export.zip"


def test_a_zipped_folder_with_hidden_files_beside_the_data_reads_the_data_alone(tmp_path):
    inner = tmp_path / "export"
    (inner / ".ipynb_checkpoints").mkdir(parents=True)
    write_csv(inner / "reviews.csv", english_reviews(30), header=("review", "sentiment"))
    write_csv(
        inner / ".ipynb_checkpoints" / "reviews-checkpoint.csv", english_reviews(8), header=("review", "sentiment")
    )
    (inner / "._reviews.csv").write_bytes(b"\x00\x05\x16\x07 Mac OS X resource fork")  # what macOS adds to a zip
    data, source = prepared(train_file=str(zipped(inner, tmp_path / "export.zip")))
    assert sum(data.report["sizes"].values()) == 30, (
        "the one data file; a notebook's checkpoints and macOS's files left"
    )


def test_zip_of_class_folders_and_of_an_excel_sheet(tmp_path):
    root = class_folders(tmp_path / "aclImdb" / "train", english_reviews(30))
    data, _ = prepared(train_file=str(zipped(root, tmp_path / "train.zip")))
    assert data.label_names == ["neg", "pos"] and sum(data.report["sizes"].values()) == 30

    sheet = tmp_path / "sheet"
    sheet.mkdir()
    pd.DataFrame(english_reviews(20), columns=["text", "label"]).to_excel(sheet / "reviews.xlsx", index=False)
    data, _ = prepared(train_file=str(zipped(sheet, tmp_path / "sheet.zip")))
    assert sum(data.report["sizes"].values()) == 20


def test_not_a_zip(tmp_path):
    path = tmp_path / "reviews.zip"
    path.write_text("plain text")
    with pytest.raises(UserError, match="not a valid .zip archive"):
        prepared(train_file=str(path))


@pytest.mark.parametrize("layout", ["class file", "class folder"])
def test_non_utf8_texts_keep_the_iconv_message(tmp_path, layout):
    folder = class_files(tmp_path / "reviews", english_reviews(10))
    if layout == "class folder":
        folder = class_folders(tmp_path / "train", english_reviews(10))
        (folder / "neg" / "gbk.txt").write_bytes("太难吃了，再也不来".encode("gbk"))
    else:
        (folder / "neg.txt").write_bytes("太难吃了\n服务很差\n".encode("gbk"))
    with pytest.raises(UserError, match="is not UTF-8.*iconv -f GB18030 -t UTF-8"):
        prepared(train_file=str(folder))


def test_patterns_that_match_nothing_or_not_txt(tmp_path):
    with pytest.raises(UserError, match=r"matches no file"):
        prepared(train_file=str(tmp_path / "*.txt"))
    write_csv(tmp_path / "a.csv", english_reviews(4))
    with pytest.raises(UserError, match=r"one \.txt file per class"):
        prepared(train_file=str(tmp_path / "*.csv"))


def test_a_folder_with_nothing_usable(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither sub-folders of .txt files"):
        prepared(train_file=str(tmp_path / "empty"))


def test_a_field_longer_than_pythons_csv_limit_is_read(tmp_path):
    """Python's csv module stops at 131,072 characters per field by default: a long review must not."""
    from bert_sentiment.demo import read_batch
    from bert_sentiment.local_files import read_file

    long_review = "a long and winding review " * 8_000  # 208,000 characters
    path = write_csv(tmp_path / "long.csv", [(long_review, "positive"), ("short and sweet", "negative")])
    assert read_file(path, "auto", None)["text"][:] == [long_review, "short and sweet"]
    assert read_batch(None, str(path)) == [long_review.strip(), "short and sweet"]


def test_an_archive_too_large_unpacked_is_refused_before_extracting(tmp_path):
    inner = tmp_path / "export"
    inner.mkdir()
    (inner / "reviews.txt").write_text("a fine film\tpositive\n" * 300_000)  # 6.3 MB, zipped to a few KB
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(inner / "reviews.txt", "export/reviews.txt")
    with pytest.raises(
        UserError, match=r"unpacks to 0\.01 GB, more than the 0\.005 GB allowed\. Raise --max_unpacked_gb"
    ):
        prepared(train_file=str(archive), max_unpacked_gb=0.005)
    with pytest.raises(UserError, match="holds 1 files, more than the 0 allowed. Raise --max_archive_files"):
        prepared(train_file=str(archive), max_archive_files=0)
    assert not list(tmp_path.glob("**/bert-sentiment-unzipped-*")), "nothing was extracted"


def test_an_interrupted_extraction_is_never_read_as_complete(tmp_path, monkeypatch):
    root = tmp_path / "reviews"
    for i, (text, label) in enumerate(english_reviews(30) + [("a so-so film", "neutral")] * 10):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{i}.txt").write_text(text, encoding="utf-8")
    archive = zipped(root, tmp_path / "reviews.zip")
    extract_all = zipfile.ZipFile.extractall
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))

    def disk_full_after_two_classes(self, path=None, members=None, pwd=None):
        for member in [m for m in self.namelist() if "/neutral/" not in m]:
            self.extract(member, path)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", disk_full_after_two_classes)
    with pytest.raises(OSError, match="No space left"):
        prepared(train_file=str(archive))
    monkeypatch.setattr(zipfile.ZipFile, "extractall", extract_all)
    data, _ = prepared(train_file=str(archive))
    assert data.label_names == ["negative", "neutral", "positive"], "all three classes, not the two extracted before"
    assert not list(temporary.iterdir()), "the extracted files are deleted once read, after a failure too"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 1 << 20])
def test_the_bad_byte_is_found_wherever_the_reading_chunks_end(tmp_path, chunk_size):
    """A 1 MB file is read in chunks; a character begun in one chunk and broken in the next names the same byte,
    offset and line as reading the file whole."""
    from bert_sentiment.local_files import check_utf8, read_text

    path = tmp_path / "reviews.csv"
    path.write_bytes("text,label\n好看,1\n".encode() + b"\xe5\xa5\xff,0\nok,1\n")
    with pytest.raises(UserError) as whole:
        read_text(path)
    with pytest.raises(UserError) as chunked:
        check_utf8(path, chunk_size=chunk_size)
    assert str(chunked.value) == str(whole.value)
    assert "(byte 0xe5 at offset 20, line 3)" in str(whole.value)
    path.write_bytes("text,label\n好看,1\n".encode() + "好".encode()[:2])
    with pytest.raises(UserError) as chunked:
        check_utf8(path, chunk_size=chunk_size)
    assert str(chunked.value) == (
        f"File '{path}' ends inside a UTF-8 character (at offset 20, line 3): it looks cut off. If it was copied or "
        "downloaded, fetch it again whole."
    )
    with pytest.raises(UserError) as whole:
        read_text(path)
    assert str(whole.value) == str(chunked.value)


def test_the_format_is_read_through_dots_in_the_name_and_a_compression_suffix():
    from bert_sentiment.local_files import suffix_of

    assert suffix_of(Path("reviews.2024.CSV.gz")) == ".csv"
    assert suffix_of(Path("v1.2/reviews.tsv")) == ".tsv"
    assert suffix_of(Path("reviews")) == ""


def test_a_pattern_in_the_working_folder_is_named_without_a_leading_slash(tmp_path, monkeypatch):
    from bert_sentiment.local_files import locate

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pos.txt").write_text("great\n", encoding="utf-8")
    assert locate("*.txt", "--train_file").name == "*.txt"


def test_the_digest_of_class_files_follows_each_files_name_and_content(tmp_path):
    from bert_sentiment.local_files import data_sha256, locate

    class_files(tmp_path / "classes", english_reviews(10))
    first = data_sha256(locate(str(tmp_path / "classes" / "*.txt"), "--train_file"))
    (tmp_path / "classes" / "neg.txt").write_text("weak\n", encoding="utf-8")
    changed = data_sha256(locate(str(tmp_path / "classes" / "*.txt"), "--train_file"))
    (tmp_path / "classes" / "neg.txt").rename(tmp_path / "classes" / "bad.txt")
    renamed = data_sha256(locate(str(tmp_path / "classes" / "*.txt"), "--train_file"))
    assert len({first, changed, renamed}) == 3


def test_a_zip_read_first_unpacks_into_a_cache_dir_not_made_yet(tmp_path):
    from bert_sentiment.local_files import locate, read_split

    archive = tmp_path / "reviews.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("reviews.csv", "text,label\ngreat,1\n")
    rows = read_split(locate(str(archive), "--train_file"), "auto", str(tmp_path / "new" / "cache"))
    assert rows["text"] == ["great"]
    assert [path.name for path in (tmp_path / "new" / "cache").iterdir() if "unzipped" in path.name] == []


def test_a_pattern_matching_exactly_five_other_files_names_all_five_and_no_more(tmp_path):
    from bert_sentiment.local_files import locate

    for name in "abcde":
        (tmp_path / f"{name}.csv").write_text("text,label\n")
    with pytest.raises(UserError) as error:
        locate(str(tmp_path / "*.csv"), "--train_file")
    assert f"'{tmp_path / '*.csv'}' matches a.csv, b.csv, c.csv, d.csv, e.csv: a pattern names" in str(error.value)
