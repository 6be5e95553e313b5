"""Reading the user's own data in the shapes people keep it, into one `datasets.Dataset` per split.

- CSV/TSV/JSON/JSONL/Parquet (also .gz/.bz2/.xz), read by `datasets`;
- `.txt`: delimited (the delimiter sniffed), or one text per line, as one file per class;
- a set of one-text-per-line files, one per class, named by a glob (`'reviews/*.txt'`) or a folder
  holding them: the file name is the class (`pos.txt`, `neg.txt`);
- a folder with one sub-folder per class, one text per `.txt` file (the aclImdb layout);
- `.xlsx` sheets (the first sheet), through pandas and openpyxl;
- `.zip` archives holding any of these.
"""

import bz2
import codecs
import csv
import glob
import gzip
import hashlib
import logging
import lzma
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import Dataset

from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)
csv.field_size_limit(2**31 - 1)  # Python's default, 131,072 characters, stops at a long review

DATASETS_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
OUR_FORMATS = (".txt", ".xlsx", ".zip")
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}  # compressed text files datasets reads too
UNLABELLED_FOLDERS = {"unsup", "unlabeled", "unlabelled"}  # aclImdb's train/unsup holds 50,000 unlabelled reviews
DELIMITERS = "\t,;|"
SNIFF_LINES = 50


@dataclass(frozen=True)
class UnpackLimits:
    """How much a .zip may hold, checked from its directory before anything is extracted."""

    gigabytes: float = 4.0  # --max_unpacked_gb: the unpacked total; a 1.4 MB zip of 419 MB was seen
    files: int = 1_000_000  # --max_archive_files: aclImdb, 100,000 files, fits ten times


@dataclass
class LocalData:
    """Where one split's data is, and how it is laid out."""

    layout: str  # "file", "class_files" or "class_folders"
    paths: list[Path]  # the file; the class files; or the class folders
    name: str  # what the card calls it: the file's, folder's or pattern's name


def is_pattern(spec: str) -> bool:
    return any(char in spec for char in "*?[")


def suffix_of(path: Path) -> str:
    """The format suffix, looking through .gz/.bz2/.xz ('reviews.csv.gz' -> '.csv')."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in OPENERS:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def locate(spec: str, flag: str) -> LocalData:
    """What a --train_file/--validation_file/--test_file value names; a UserError with the fix if nothing usable."""
    if is_pattern(spec):
        matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
        if not matches:
            raise UserError(f"{flag} '{spec}' matches no file (looked in {Path(spec).parent.resolve()}).")
        if any(suffix_of(p) != ".txt" for p in matches):
            raise UserError(
                f"{flag} '{spec}' matches {', '.join(p.name for p in matches[:5])}{', …' * (len(matches) > 5)}: a "
                "pattern names one .txt file per class (one text per line, the file name is the class), e.g. "
                "'reviews/*.txt'."
            )
        return LocalData("class_files", matches, f"{Path(spec).parent.name}/{Path(spec).name}".lstrip("/"))  # no path
    path = Path(spec)
    if path.is_dir():
        return _folder_layout(path, f"{flag} '{path}' is a folder with", str(path))
    if not path.is_file():
        raise UserError(f"{flag} '{path}' does not exist (looked in {path.resolve().parent}).")
    suffix = suffix_of(path)
    if suffix not in DATASETS_FORMATS and suffix not in OUR_FORMATS:
        raise UserError(
            f"File '{path}' has {f'an unsupported extension {suffix!r}' if suffix else 'no extension'}. Use one of: "
            f"{', '.join([*DATASETS_FORMATS, *OUR_FORMATS])} (optionally compressed with {', '.join(OPENERS)}), "
            "a folder with one sub-folder per class, or a pattern such as 'reviews/*.txt'."
        )
    return LocalData("file", [path], path.name)


def _folder_layout(folder: Path, subject: str, shown: str) -> LocalData:
    """Class folders or class files in `folder`; `subject` begins the error's sentence and `shown` names the folder."""
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    skipped = [d.name for d in classes if d.name.lower() in UNLABELLED_FOLDERS]
    classes = [d for d in classes if d.name.lower() not in UNLABELLED_FOLDERS and any(d.glob("*.txt"))]
    if classes:
        if skipped:
            logger.info("Skipping the unlabelled folder(s) %s in '%s'.", ", ".join(skipped), shown)
        return LocalData("class_folders", classes, folder.name)
    text_files = sorted(p for p in folder.glob("*.txt") if p.is_file())
    if text_files:
        return LocalData("class_files", text_files, folder.name)
    raise UserError(
        f"{subject} neither sub-folders of .txt files (one sub-folder per class, one "
        "text per file, as aclImdb) nor .txt files (one file per class, one text per line). Point it at a data file "
        "or such a folder."
    )


def read_split(data: LocalData, header: str, cache_dir: str | None, limits: UnpackLimits = UnpackLimits()) -> Dataset:
    """One split as a Dataset: the file's own columns, or `text` and `label` for class files and folders."""
    if data.layout == "class_files":
        rows = [(text, path.stem) for path in data.paths for text in read_text(path).splitlines() if text.strip()]
        return _from_rows(rows, data.name)
    if data.layout == "class_folders":
        rows = [
            (read_text(path).strip(), folder.name) for folder in data.paths for path in sorted(folder.glob("*.txt"))
        ]
        return _from_rows(rows, data.name)
    return read_file(data.paths[0], header, cache_dir, limits)


def read_file(path: Path, header: str, cache_dir: str | None, limits: UnpackLimits = UnpackLimits()) -> Dataset:
    suffix = suffix_of(path)
    if suffix == ".zip":
        if cache_dir:  # --cache_dir names a folder that datasets would make; the archive unpacks there first
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="bert-sentiment-unzipped-", dir=cache_dir) as folder:
            return read_split(_unpack(path, Path(folder), limits), header, cache_dir, limits)
    if suffix == ".xlsx":
        return _read_excel(path, header)
    options = {}
    if suffix in (".csv", ".tsv", ".txt"):
        check_utf8(path)
        delimiter = {".csv": ",", ".tsv": "\t"}.get(suffix) or _sniff_delimiter(path)
        options = csv_options(path, delimiter, header)
    builder = DATASETS_FORMATS.get(suffix, "csv")
    if builder == "json":
        check_utf8(path)
    return datasets.load_dataset(builder, data_files={"data": str(path)}, cache_dir=cache_dir, **options)["data"]


def _from_rows(rows: list[tuple[str, str]], name: str) -> Dataset:
    classes = sorted({label for _, label in rows})
    logger.info(
        "Read %s from '%s', one class per file or folder: %s.", counted(len(rows), "text"), name, ", ".join(classes)
    )
    return Dataset.from_dict({"text": [text for text, _ in rows], "label": [label for _, label in rows]})


def counted(number: int, thing: str) -> str:
    """'1 row', '2,000 rows'."""
    return f"{number:,} {thing}{'' if number == 1 else 's'}"


def _sniff_delimiter(path: Path) -> str:
    """The delimiter of a delimited .txt file; a UserError saying what to do for a plain one-text-per-line file."""
    lines = [line for line in _first_lines(path) if line.strip()]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = None
    widths = {len(line.split(delimiter)) for line in lines} if delimiter else set()
    if len(widths) == 1 and widths.pop() >= 2:
        logger.info("'%s' is delimited by %r.", path.name, delimiter)
        return delimiter
    raise UserError(
        f"'{path}' holds one text per line and no labels. Give one such file per class, named by the class, "
        f"e.g. --train_file '{path.parent / '*.txt'}' with pos.txt and neg.txt; or a delimited file with a label "
        "column (text<TAB>label)."
    )


def _first_lines(path: Path) -> list[str]:
    with _open_text(path) as handle:
        return [line.rstrip("\r\n") for _, line in zip(range(SNIFF_LINES), handle)]


def _open_text(path: Path):
    return OPENERS.get(path.suffix.lower(), open)(path, "rt", encoding="utf-8", newline="")


def csv_options(path: Path, delimiter: str, header: str) -> dict:
    # Tab-separated files (GLUE's among them) do not quote: a stray " must stay part of the text.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    options = {"delimiter": delimiter, "quoting": quoting}
    with _open_text(path) as handle:
        first_rows = [
            row for _, row in zip(range(SNIFF_LINES), csv.reader(handle, delimiter=delimiter, quoting=quoting))
        ]
    if not (header == "yes" or (header == "auto" and looks_like_header(first_rows))):
        width = max((len(row) for row in first_rows), default=1)
        options.update(header=None, column_names=[f"column_{i}" for i in range(width)])
        logger.info("'%s' has no header row; columns are named column_0..column_%d.", path.name, width - 1)
    return options


def _read_excel(path: Path, header: str) -> Dataset:
    import pandas

    try:
        sheet = pandas.read_excel(path, sheet_name=0, header=None, dtype=object)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        reason = str(err).rstrip(".")
        raise UserError(
            f"Could not read the Excel file '{path}': {reason}. Save it again as .xlsx, or as .csv."
        ) from None
    sheet = sheet.dropna(how="all").dropna(axis=1, how="all")
    first_rows = [
        ["" if value is None or value != value else str(value) for value in row]
        for row in sheet.head(SNIFF_LINES).values
    ]
    if header == "yes" or (header == "auto" and looks_like_header(first_rows)):
        sheet.columns = [str(name) for name in sheet.iloc[0]]
        sheet = sheet.iloc[1:]
    else:
        sheet.columns = [f"column_{i}" for i in range(sheet.shape[1])]
    for column in sheet.columns:  # one type per column, as Arrow needs: numbers stay numbers, anything mixed is text
        values = sheet[column].dropna()
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            sheet[column] = [None if pandas.isna(v) else str(v) for v in sheet[column]]  # empty cells stay missing
    logger.info("Read %s from the first sheet of '%s'.", counted(len(sheet), "row"), path.name)
    return Dataset.from_pandas(sheet.reset_index(drop=True), preserve_index=False)


def _unpack(path: Path, target: Path, limits: UnpackLimits) -> LocalData:
    """Unpack a .zip into `target` (a temporary folder, deleted once the data is read: nothing half-extracted is ever
    read again) after checking its size, and locate the data inside: one data file, class files or folders."""
    try:
        with zipfile.ZipFile(path) as archive:
            _check_size(path, archive.infolist(), limits)
            archive.extractall(target)
    except zipfile.BadZipFile as err:
        raise UserError(
            f"'{path}' is not a valid .zip archive ({err}). Re-create it, or unpack it and pass the folder."
        ) from None
    root = target
    inside = [p for p in root.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    while len(inside) == 1 and inside[0].is_dir():  # a zipped folder: look inside it
        root = inside[0]
        inside = [p for p in root.iterdir() if not p.name.startswith(".")]
    data_files = [p for p in inside if p.is_file() and suffix_of(p) in {*DATASETS_FORMATS, ".xlsx", ".txt"}]
    if len(data_files) == 1 and not any(p.is_dir() for p in inside):
        logger.info("'%s' holds %s.", path.name, data_files[0].name)
        return LocalData("file", data_files, f"{path.name}/{data_files[0].name}")
    inner = root.relative_to(target).as_posix()
    located = _folder_layout(
        root, f"The archive '{path.name}' holds", path.name + ("" if inner == "." else f"/{inner}")
    )
    return LocalData(located.layout, located.paths, path.name)


def _check_size(path: Path, entries: list, limits: UnpackLimits) -> None:
    unpacked = sum(entry.file_size for entry in entries)
    if len(entries) > limits.files:
        raise UserError(
            f"'{path}' holds {len(entries):,} files, more than the {limits.files:,} allowed. Raise "
            "--max_archive_files if that is right, or unpack it yourself and pass the folder."
        )
    if unpacked > limits.gigabytes * 1e9:
        raise UserError(
            f"'{path}' ({path.stat().st_size / 1e6:,.1f} MB) unpacks to {unpacked / 1e9:,.2f} GB, more than "
            f"the {limits.gigabytes:g} GB allowed. Raise --max_unpacked_gb if that is right."
        )


def looks_like_header(rows: list[list[str]]) -> bool:
    """True when the first row names columns rather than holding data.

    A header is recognised by a known column name, by a column that is numeric in every data
    row but not in the first, or by a column of few repeated values (labels) whose first cell
    is none of them.
    """
    from bert_sentiment.columns import LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES

    if not rows:
        return True
    first, rest = rows[0], rows[1:]
    known = {name.lower() for name in TEXT_COLUMN_NAMES + LABEL_COLUMN_NAMES}
    if any(cell.strip().lower() in known for cell in first):
        return True
    for index, cell in enumerate(first):
        column = [row[index] for row in rest if index < len(row)]
        if column and all(_is_number(value) for value in column):
            return not _is_number(cell)
        if len(column) >= 4 and len(set(column)) <= len(column) // 2 and cell not in column:
            return True
    return False


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_text(path: Path) -> str:
    """A whole text file, which must be UTF-8 (else the iconv command that converts it)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        cut_off = err.reason == "unexpected end of data"
        raise UserError(not_utf8_message(path, None if cut_off else raw[err.start], err.start, line)) from None


def _open_bytes(path: Path):
    return OPENERS.get(path.suffix.lower(), open)(path, "rb")


def check_utf8(path: Path, chunk_size: int = 1 << 20) -> None:
    """Raise a UserError naming the first bad byte and the conversion command if `path` is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with _open_bytes(path) as handle:
        while chunk := handle.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                # err.object: the first bytes of a character begun in the last chunk, then this chunk
                start = offset - (len(err.object) - len(chunk)) + err.start
                line += err.object[: err.start].count(b"\n")
                raise UserError(not_utf8_message(path, err.object[err.start], start, line)) from None
            offset += len(chunk)
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pending = decoder.getstate()[0]  # the cut-off character's first bytes
            raise UserError(not_utf8_message(path, None, offset - len(pending), line)) from None


def not_utf8_message(path: Path, byte: int | None, offset: int, line: int) -> str:
    """What to do about a file that is not UTF-8: the bad byte and the iconv command for the encoding it looks like;
    `byte` None: UTF-8 to the last byte, which stops inside a character (a cut-off copy, not another encoding)."""
    if byte is None:
        return (
            f"File '{path}' ends inside a UTF-8 character (at offset {offset}, line {line}): it looks cut off. "
            "If it was copied or downloaded, fetch it again whole."
        )
    encoding = _guess_encoding(path)
    return (
        f"File '{path}' is not UTF-8 text (byte 0x{byte:02x} at offset {offset}, line {line}). It looks like "
        f"{encoding}. Convert it first: iconv -f {encoding} -t UTF-8 '{path}' > '{path.stem}.utf8{path.suffix}'"
    )


def _guess_encoding(path: Path) -> str:
    """The legacy encoding sentiment files come in that reads the file's first 64 KB best. Byte validity alone cannot
    tell them apart (GB18030 decodes Big5 and Shift-JIS bytes too, as rare characters), so GB18030 is chosen when
    nearly every character it reads is one of GB2312's common ones, and Big5, then Shift-JIS, when they decode."""
    with _open_bytes(path) as handle:
        sample = handle.read(1 << 16)
    readings = {}
    for encoding in ("GB18030", "BIG5", "SHIFT_JIS"):
        try:
            readings[encoding] = codecs.getincrementaldecoder(encoding)().decode(sample)  # a cut-off end is no error
        except UnicodeDecodeError:
            continue
    if "GB18030" in readings:
        wide = [char for char in readings["GB18030"] if ord(char) > 0x7F]
        if sum(_in_gb2312(char) for char in wide) >= 0.98 * len(wide):
            return "GB18030"
    others = [encoding for encoding in readings if encoding != "GB18030"]
    return others[0] if others else "GB18030" if readings else "CP1252"


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def data_sha256(data: LocalData) -> str:
    """The file's SHA-256; for class files and folders, one digest over every file's name and content."""
    if data.layout == "file":
        return file_sha256(data.paths[0])
    digest = hashlib.sha256()
    files = data.paths if data.layout == "class_files" else [p for d in data.paths for p in sorted(d.glob("*.txt"))]
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}\n".encode())
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()
