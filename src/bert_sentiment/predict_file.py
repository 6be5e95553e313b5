"""Scoring a whole file on this machine: `bert-sentiment predict`, and `SentimentClassifier.predict_file`.

Big jobs do not belong on a shared Space. This reads any file the training side reads (bert_sentiment/local_files.py),
predicts with the app's engine (ONNX Runtime int8, length-sorted batches) a chunk at a time, and appends each chunk
to the output CSV: the input's own columns, then the predicted label, its probability, every label's probability
and whether the text was cut. After each chunk a small progress file beside the output records the rows and
bytes written, so a run killed halfway continues where its last chunk ended instead of starting over.
"""

import csv
import io
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

CHUNK_ROWS = 4_096  # texts per chunk: length-sorting within it pads as little as the whole file would


@dataclass
class Written:
    """What the progress file records: whose predictions the output holds, and how far they go."""

    source: str  # the input's SHA-256 and the model: a resumed run must continue the same job
    rows: int
    bytes: int


def predict_file(
    classifier,
    input_path,
    output_path,
    text_column: str | None = None,
    overwrite: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> Path:
    """Predict every row of `input_path` into the CSV `output_path`; returns the output's path."""
    from tqdm.auto import tqdm

    from bert_sentiment.columns import find_text_column
    from bert_sentiment.local_files import data_sha256, locate, read_split

    data = locate(str(input_path), "--input")
    dataset = read_split(data, "auto", None)
    column = find_text_column(dataset, text_column)
    output = Path(output_path)
    source = f"{data_sha256(data)} {classifier.model_id}"
    written = resume_point(output, source, overwrite)
    headers = [
        *dataset.column_names,
        "prediction",
        "score",
        *(f"p({label})" for label in classifier.labels),
        "truncated",
    ]
    if written.rows:
        logger.info("%s holds the predictions of %s rows already: continuing from there.", output, f"{written.rows:,}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(output, "r+b" if written.bytes else "wb") as handle,
        tqdm(total=len(dataset), initial=written.rows, unit="texts", desc="Predicting") as bar,
    ):
        handle.truncate(written.bytes)  # a chunk cut off by the interruption goes
        handle.seek(written.bytes)
        if not written.rows:
            _append(handle, [headers])
        try:
            for start in range(written.rows, len(dataset), chunk_rows):
                rows = dataset[start : start + chunk_rows]
                texts = ["" if text is None else str(text) for text in rows[column]]
                predictions = classifier.predict(texts)
                _append(handle, prediction_rows(rows, dataset.column_names, predictions, classifier.labels))
                written = Written(source, start + len(texts), handle.tell())
                save_progress(written, progress_file(output))
                bar.update(len(texts))
        except KeyboardInterrupt:
            (logger.warning if written.rows else logger.debug)(
                "Stopped after %s of %s rows: their predictions are in %s, and the same command continues from there.",
                f"{written.rows:,}",
                f"{len(dataset):,}",
                output,
            )
            raise
    progress_file(output).unlink(missing_ok=True)
    logger.info("Wrote the predictions of %s texts to %s.", f"{len(dataset):,}", output)
    return output


def prediction_rows(rows: dict, columns: list[str], predictions: list, labels: list[str]) -> list[list]:
    """Each input row's values, then its label, the label's probability, every label's probability and whether the
    text was cut."""
    values = zip(*(rows[name] for name in columns))
    return [
        [*row, p.answer, round(p.score, 6), *(round(p.scores[label], 6) for label in labels), p.truncated]
        for row, p in zip(values, predictions)
    ]


def progress_file(output: Path) -> Path:
    return output.with_name(output.name + ".progress.json")


def resume_point(output: Path, source: str, overwrite: bool) -> Written:
    """Where writing starts: after the rows an interrupted run of the same job wrote, else at the beginning."""
    marker = progress_file(output)
    if overwrite or not output.exists():
        marker.unlink(missing_ok=True)
        return Written(source, 0, 0)
    if not marker.exists():
        raise UserError(
            f"'{output}' already exists and is complete. Pass --overwrite to replace it, or name another --output."
        )
    try:
        written = Written(**json.loads(marker.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as err:
        raise UserError(f"The progress file {marker} is unreadable ({err}). Pass --overwrite to start over.") from None
    if written.source != source:
        raise UserError(
            f"'{output}' holds the unfinished predictions of another input or model. Pass --overwrite to "
            "start over, or name another --output."
        )
    if output.stat().st_size < written.bytes:
        raise UserError(f"'{output}' is shorter than its progress file says. Pass --overwrite to start over.")
    return written


def _append(handle, rows: list[list]) -> None:
    """Rows written and on disk before the progress file says so."""
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    handle.write(text.getvalue().encode("utf-8"))
    handle.flush()
    os.fsync(handle.fileno())


def save_progress(written: Written, marker: Path) -> None:
    """The progress file, replaced whole: an interruption leaves the old one or the new one, never half of one."""
    partial = marker.with_name(marker.name + ".tmp")
    partial.write_text(json.dumps(asdict(written)), encoding="utf-8")
    os.replace(partial, marker)
