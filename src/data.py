"""Loading raw splits from the Hub or from local CSV/TSV/JSON/JSONL/Parquet files.

Everything a user can get wrong about their files (missing, unsupported format, not UTF-8) is
checked by `check_data_arguments` before anything slow happens.
"""

import bz2
import codecs
import csv
import gzip
import hashlib
import logging
import lzma
from pathlib import Path

import datasets
import huggingface_hub
from datasets import DatasetDict

from src.errors import UserError
from src.long_text import LONG_TEXT_MODES

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}  # compressed text files datasets reads too
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test",
}  # fmt: skip
HEADER_CHOICES = ("auto", "yes", "no")


def data_files(data_args) -> dict[str, Path]:
    """The local files the user named, by split."""
    named = {"train": data_args.train_file, "validation": data_args.validation_file, "test": data_args.test_file}
    return {split: Path(path) for split, path in named.items() if path}


def file_format(path: Path) -> tuple[str, str]:
    """(datasets builder, suffix) for a data file, looking through .gz/.bz2/.xz."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in OPENERS:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in FORMATS:
        raise UserError(
            f"File '{path}' has an unsupported extension '{suffix or path.name}'. "
            f"Use one of: {', '.join(FORMATS)} (optionally compressed with {', '.join(OPENERS)})."
        )
    return FORMATS[suffix], suffix


def check_data_arguments(data_args) -> None:
    """Fail fast, with the fix, on data arguments that cannot work."""
    files = data_files(data_args)
    if not data_args.dataset_name and "train" not in files:
        raise UserError(
            "No data given. Pass a Hub dataset (--dataset_name glue --dataset_config_name sst2) "
            "or a local file (--train_file reviews.csv)."
        )
    if data_args.dataset_name and files:
        raise UserError("Give either --dataset_name or --train_file/--validation_file/--test_file, not both.")
    if data_args.long_text not in LONG_TEXT_MODES:
        raise UserError(f"--long_text '{data_args.long_text}' is not one of {', '.join(LONG_TEXT_MODES)}.")
    if data_args.header not in HEADER_CHOICES:
        raise UserError(f"--header '{data_args.header}' is not one of {', '.join(HEADER_CHOICES)}.")
    if not 0 < data_args.validation_split_percentage < 100:
        raise UserError(
            f"--validation_split_percentage {data_args.validation_split_percentage} must be between 0 and 100."
        )
    formats = {}
    for split, path in files.items():
        if not path.is_file():
            raise UserError(f"--{split}_file '{path}' does not exist (looked in {path.resolve().parent}).")
        formats[split] = file_format(path)[0]
        if formats[split] != "parquet":
            check_utf8(path)
    if len(set(formats.values())) > 1:
        raise UserError(f"All data files must have one format; got {formats}. Convert them to one format.")


def _open_bytes(path: Path):
    opener = OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rb")


def check_utf8(path: Path, chunk_size: int = 1 << 20) -> None:
    """Raise a UserError naming the first bad byte and the conversion command if `path` is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with _open_bytes(path) as handle:
        while chunk := handle.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                bad = offset + err.start
                line += chunk[: err.start].count(b"\n")
                raise UserError(_not_utf8_message(path, chunk[err.start], bad, line)) from None
            offset += len(chunk)
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UserError(_not_utf8_message(path, None, offset, line)) from None


def _not_utf8_message(path: Path, byte: int | None, offset: int, line: int) -> str:
    encoding = _guess_encoding(path)
    where = f"byte 0x{byte:02x} at offset {offset}" if byte is not None else "a cut-off character at the end"
    return (
        f"File '{path}' is not UTF-8 text ({where}, line {line}). It looks like {encoding}. "
        f"Convert it first: iconv -f {encoding} -t UTF-8 '{path}' > '{path.stem}.utf8{path.suffix}'"
    )


def _guess_encoding(path: Path) -> str:
    with _open_bytes(path) as handle:
        sample = handle.read(1 << 16)
    for encoding in ("GB18030", "BIG5", "SHIFT_JIS"):  # the legacy encodings sentiment files come in
        try:
            sample.decode(encoding.lower())
            return encoding
        except UnicodeDecodeError:
            continue
    return "CP1252"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_raw_splits(data_args, cache_dir: str | None = None) -> tuple[DatasetDict, dict]:
    """Load the user's data as a DatasetDict with split names train/validation/test, and its source facts."""
    if data_args.dataset_name:
        raw, source = _load_hub_dataset(data_args, cache_dir)
    else:
        raw, source = _load_local_files(data_args, cache_dir)
    renamed = {}
    for name, split in raw.items():
        standard = SPLIT_ALIASES.get(name.lower())
        if standard and standard not in renamed:
            renamed[standard] = split
    if "train" not in renamed:
        raise UserError(
            f"The dataset has no training split; its splits are {list(raw)}. "
            "Use a dataset with a 'train' split, or pass --train_file."
        )
    return DatasetDict(renamed), source


def _load_hub_dataset(data_args, cache_dir):
    name, config = data_args.dataset_name, data_args.dataset_config_name
    try:
        raw = datasets.load_dataset(name, config, revision=data_args.dataset_revision, cache_dir=cache_dir)
    except Exception as err:  # datasets raises many types (network, not found, config); all are user-fixable
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"Could not load dataset '{name}'" + (f" (config '{config}')" if config else "") + f": {reason}\n"
            "Check the name and --dataset_config_name on https://huggingface.co/datasets. Hub datasets need "
            "internet; offline, save the data as a file and pass --train_file (and --validation_file)."
        ) from err
    if Path(name).is_dir():
        files = sorted(path for path in Path(name).rglob("*") if path.is_file() and ".cache" not in path.parts)
        source = {"kind": "folder", "name": Path(name).resolve().name,
                  "files": {str(p.relative_to(name)): {"name": p.name, "sha256": file_sha256(p)} for p in files}}
    else:
        source = {"kind": "hub", "dataset_name": name, "config": config, "revision": data_args.dataset_revision,
                  "commit": _hub_revision(name, data_args.dataset_revision)}  # fmt: skip
    return raw, source


def _hub_revision(name: str, revision: str | None) -> str | None:
    """The commit the data came from, for the card; None for local folders or when the Hub can't say."""
    if Path(name).exists() or huggingface_hub.constants.HF_HUB_OFFLINE:
        return None
    try:
        return huggingface_hub.HfApi().dataset_info(name, revision=revision).sha
    except Exception as err:  # an optional fact: any failure only costs the card its commit id
        logger.info("Could not look up the commit of dataset '%s' (%s); the card names no commit.", name, err)
        return None


def _load_local_files(data_args, cache_dir):
    files = data_files(data_args)
    builder, suffix = file_format(files["train"])
    options = {}
    if builder == "csv":
        options = _csv_options(files["train"], suffix, data_args.header)
    raw = datasets.load_dataset(
        builder, data_files={split: str(path) for split, path in files.items()}, cache_dir=cache_dir, **options
    )
    source = {
        "kind": "files",
        "files": {split: {"name": path.name, "sha256": file_sha256(path)} for split, path in files.items()},
    }
    return raw, source


def _csv_options(path: Path, suffix: str, header: str) -> dict:
    delimiter = "\t" if suffix == ".tsv" else ","
    # TSV files (GLUE's among them) do not quote: a stray " must stay part of the text.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    options = {"delimiter": delimiter, "quoting": quoting}
    first_rows = _first_rows(path, delimiter, quoting)
    has_header = header == "yes" or (header == "auto" and looks_like_header(first_rows))
    if not has_header:
        width = max((len(row) for row in first_rows), default=1)
        options.update(header=None, column_names=[f"column_{i}" for i in range(width)])
        logger.info("'%s' has no header row; columns are named column_0..column_%d.", path.name, width - 1)
    return options


def _first_rows(path: Path, delimiter: str, quoting: int, count: int = 50) -> list[list[str]]:
    opener = OPENERS.get(path.suffix.lower(), open)
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        return [row for _, row in zip(range(count), reader)]


def looks_like_header(rows: list[list[str]]) -> bool:
    """True when the first row names columns rather than holding data.

    A header is recognised by a known column name, by a column that is numeric in every data
    row but not in the first, or by a column of few repeated values (labels) whose first cell
    is none of them.
    """
    from src.columns import LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES

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
