"""The Python API, for notebooks and scripts: `train(...)` and `load(...)`.

    from bert_sentiment import train, load
    result = train(df, text="review", label="sentiment", output_dir="out/reviews")
    result.metrics["test"]["accuracy"], result.baselines["test"], result.card_path
    clf = load("out/reviews")
    clf(["great film", "awful film"])

Same defaults, checks and output_dir as `train.py`; mistakes raise `UserError` (never `SystemExit`).
"""

import dataclasses
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict

from bert_sentiment.arguments import ALL_ARGUMENTS, build_arguments
from bert_sentiment.data import InMemoryData
from bert_sentiment.errors import UserError, did_you_mean
from bert_sentiment.facts import RunFacts
from bert_sentiment.inference import load
from bert_sentiment.model_card import CARD_FILE

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "TrainingInterrupted", "load", "train"]

OPTIONS = {field.name for arguments in ALL_ARGUMENTS for field in dataclasses.fields(arguments) if field.init}
FILE_OPTIONS = ("train_file", "validation_file", "test_file")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on an interrupt after saving a checkpoint; `train(..., resume=True)` continues it."""


@dataclass
class TrainResult:
    """What a finished run gives back; everything is also on disk in `output_dir`."""

    output_dir: Path
    facts: RunFacts

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """split -> the fine-tuned model's metrics (accuracy, precision, recall, f1, ...)."""
        return {split: report.metrics for split, report in self.facts.results.items()}

    @property
    def baselines(self) -> dict[str, dict[str, dict[str, float]]]:
        """split -> baseline name -> its metrics on the same split (majority class, TF-IDF + logistic regression)."""
        return {split: report.baselines for split, report in self.facts.results.items()}

    @property
    def card_path(self) -> Path:
        return self.output_dir / CARD_FILE

    def __repr__(self) -> str:
        split = self.facts.headline_split
        shown = ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.get(split, {}).items() if k in ("accuracy", "f1"))
        return f"TrainResult(output_dir='{self.output_dir}', {split}: {shown})"


def train(
    data=None,
    *,
    text: str | None = None,
    label: str | None = None,
    validation=None,
    test=None,
    data_name: str | None = None,
    **options,
) -> TrainResult:
    """Fine-tune a sentiment classifier, evaluate it beside baselines, and write the model and its card.

    data: a pandas DataFrame, a `datasets` Dataset or DatasetDict (as `load_dataset` returns), a dict of
        split name -> DataFrame/Dataset, a path (file, folder, zip, or a pattern such as 'reviews/*.txt'),
        or None with `dataset_name="glue", dataset_config_name="sst2"` for a Hub dataset.
    text, label: the text and label columns (found by name or content when not given).
    validation, test: extra splits, of the same kinds as `data`.
    data_name: what the model card calls in-memory data (default "in-memory data").
    options: any flag of train.py, without the dashes (output_dir, model_name_or_path, num_train_epochs,
        learning_rate, seeds, push_to_hub, ... and every `TrainingArguments` field).
    """
    from bert_sentiment.fine_tune import fine_tune
    from bert_sentiment.seeds import fine_tune_seeds

    _show_logs()
    options |= {"text_column_names": text, "label_column_name": label}
    in_memory = _in_memory(data, validation, test, options)
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise UserError(f"train() got unknown option '{unknown[0]}'.{did_you_mean(unknown[0], OPTIONS)}")
    model_args, data_args, training_args = build_arguments({k: v for k, v in options.items() if v is not None})
    if in_memory is not None:
        in_memory.name = data_name or in_memory.name
    run = fine_tune_seeds if training_args.seeds > 1 else fine_tune  # --seeds N: a loop around fine_tune
    facts = run(model_args, data_args, training_args, data=in_memory)
    if facts is None:
        raise TrainingInterrupted(
            f"Checkpoint saved in {training_args.output_dir}; call train(...) again with resume=True."
        )
    return TrainResult(Path(training_args.output_dir), facts)


def _in_memory(data, validation, test, options: dict) -> InMemoryData | None:
    """In-memory splits as one DatasetDict; paths become the *_file options instead."""
    given = {"train": data, "validation": validation, "test": test}
    if all(isinstance(value, (str, Path)) or value is None for value in given.values()):
        for value, option in zip(given.values(), FILE_OPTIONS):
            if value is not None:
                options[option] = str(value)
        return None
    if isinstance(data, (DatasetDict, dict)):
        if validation is not None or test is not None:
            raise UserError("Pass the splits once: in the DatasetDict/dict, or as validation=/test=, not both.")
        return InMemoryData(DatasetDict({name: _dataset(split, name) for name, split in data.items()}))
    return InMemoryData(
        DatasetDict({name: _dataset(split, name) for name, split in given.items() if split is not None})
    )


def _dataset(value, split: str) -> Dataset:
    if isinstance(value, Dataset):
        return value
    if type(value).__name__ == "DataFrame":  # pandas, without importing it for those who never use it
        return Dataset.from_pandas(value.reset_index(drop=True), preserve_index=False)
    if isinstance(value, (str, Path)):
        raise UserError(
            f"The {split} split is a path while another split is in memory: load it first (pandas.read_csv)."
        )
    raise UserError(
        f"The {split} data is a {type(value).__name__}; give a pandas DataFrame, a datasets Dataset or DatasetDict, "
        "or a path to a file or folder."
    )


def _show_logs() -> None:
    """Our progress lines on screen once in a notebook: a handler of our own only when nobody configured logging."""
    package = logging.getLogger("bert_sentiment")
    if package.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"))
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False  # a root handler added later must not print every line twice
