"""Loading raw splits from the Hub, from the user's local files (see local_files.py), or from memory.

Everything a user can get wrong about their files (missing, unsupported format, not UTF-8) is
checked by `check_data_arguments` before anything slow happens.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import datasets
import huggingface_hub
from datasets import DatasetDict

from bert_sentiment.errors import UserError
from bert_sentiment.local_files import (
    UnpackLimits,
    check_utf8,
    data_sha256,
    file_sha256,
    locate,
    looks_like_header,
    read_split,
    suffix_of,
)
from bert_sentiment.long_text import LONG_TEXT_MODES

logger = logging.getLogger(__name__)

__all__ = ["InMemoryData", "check_data_arguments", "load_raw_splits", "looks_like_header", "memory_source"]

SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}
Header = Literal["auto", "yes", "no"]  # --header: sniffed, or said
HEADER_CHOICES = get_args(Header)
UTF8_CHECKED_FIRST = (".csv", ".tsv", ".txt", ".json", ".jsonl")  # single text files: checked before anything loads


@dataclass
class InMemoryData:
    """Data a Python caller hands over (a DataFrame or Dataset per split), and what the card calls it."""

    splits: DatasetDict
    name: str = "in-memory data"


def data_files(data_args) -> dict[str, str]:
    """The local data the user named, by split."""
    named = {"train": data_args.train_file, "validation": data_args.validation_file, "test": data_args.test_file}
    return {split: str(spec) for split, spec in named.items() if spec}


def check_data_arguments(data_args, in_memory: bool = False) -> None:
    """Fail fast, with the fix, on data arguments that cannot work."""
    files = data_files(data_args)
    if in_memory and (data_args.dataset_name or files):
        raise UserError(
            "Give the data once: in memory (a DataFrame or Dataset) or as dataset_name/train_file, not both."
        )
    if not in_memory and not data_args.dataset_name and "train" not in files:
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
    if data_args.validation_split_percentage is not None and not 0 < data_args.validation_split_percentage < 100:
        raise UserError(
            f"--validation_split_percentage {data_args.validation_split_percentage} must be above 0 and below 100 (e.g. 10)."
        )
    if data_args.label_corrections and not Path(data_args.label_corrections).is_file():
        raise UserError(
            f"--label_corrections '{data_args.label_corrections}' does not exist. Write one with "
            "`bert-sentiment review OUTPUT_DIR`, fill in its corrected_label column, and pass that file."
        )
    for split, spec in files.items():
        located = locate(spec, f"--{split}_file")
        if located.layout == "file" and suffix_of(located.paths[0]) in UTF8_CHECKED_FIRST:
            check_utf8(located.paths[0])


def load_raw_splits(
    data_args, cache_dir: str | None = None, data: InMemoryData | None = None
) -> tuple[DatasetDict, dict]:
    """Load the user's data as a DatasetDict with split names train/validation/test, and its source facts."""
    if data is not None:
        raw, source = data.splits, memory_source(data.splits, data.name)
    elif data_args.dataset_name:
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


def memory_source(data: DatasetDict, name: str) -> dict:
    """Source facts of data handed over in memory: a name and a SHA-256 of each split's rows."""
    files = {}
    for split, rows in data.items():
        digest = hashlib.sha256()
        for batch in rows.iter(batch_size=1000):
            digest.update(json.dumps(batch, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8"))
        files[split] = {"name": f"{name} ({split})", "sha256": digest.hexdigest()}
    return {"kind": "memory", "name": name, "files": files}


def _load_hub_dataset(data_args, cache_dir):
    name, config = data_args.dataset_name, data_args.dataset_config_name
    try:
        raw = datasets.load_dataset(name, config, revision=data_args.dataset_revision, cache_dir=cache_dir)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:  # not found, no network, a bad config
        # (a bug of ours is none of these: it surfaces as itself, not as "check the name")
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"Could not load dataset '{name}'" + (f" (config '{config}')" if config else "") + f": {reason}\n"
            "Check the name and --dataset_config_name on https://huggingface.co/datasets. Hub datasets need "
            "internet; offline, save the data as a file and pass --train_file (and --validation_file)."
        ) from err
    if Path(name).is_dir():
        files = sorted(path for path in Path(name).rglob("*") if path.is_file() and ".cache" not in path.parts)
        source = {
            "kind": "folder",
            "name": Path(name).resolve().name,
            "files": {str(p.relative_to(name)): {"name": p.name, "sha256": file_sha256(p)} for p in files},
        }
    else:
        source = {
            "kind": "hub",
            "dataset_name": name,
            "config": config,
            "revision": data_args.dataset_revision,
            "commit": _hub_revision(name, data_args.dataset_revision),
        }
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
    located = {split: locate(spec, f"--{split}_file") for split, spec in data_files(data_args).items()}
    limits = UnpackLimits(data_args.max_unpacked_gb, data_args.max_archive_files)
    raw = DatasetDict(
        {split: read_split(where, data_args.header, cache_dir, limits) for split, where in located.items()}
    )
    source = {
        "kind": "files",
        "files": {
            split: {"name": where.name, "sha256": data_sha256(where), "layout": where.layout}
            for split, where in located.items()
        },
    }
    return raw, source
