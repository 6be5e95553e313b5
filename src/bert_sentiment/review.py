"""`bert-sentiment review OUTPUT_DIR`: the labels worth a person's look, in a spreadsheet to fill in.

Its first sheet, HOW_TO_SHEET, says in a line each what the others and the choices mean (how_to_fill_in).

Sheet "label errors": the run's likely label errors (label_issues.jsonl), most likely first, with an empty
`corrected_label` column (a drop-down of the model's labels, and LEAVE_OUT for a text no label fits). With
`--unlabeled_file`, sheet "to label": the unlabeled texts whose labels would teach the model most: the ones it is least
sure of (smallest margin between its two most likely labels), spread over the data (one per cluster of similar
candidates, so a hundred near-copies of one hard review do not fill the sheet; exact copies are scored once, and texts
the run holds labels for are left out). A large unlabeled file is not read whole by the model: a random sample of
POOL_PER_PICK texts per text to pick (at least POOL_FLOOR) is scored, and the log says how long the whole would take.
Scores are kept on disk as they come, so a review stopped halfway continues when run again (KeptScores). Filled in, the
file goes back to training as `--label_corrections` (bert_sentiment/corrections.py); the corrections the run was
trained with are written into it again (sheets "corrected before" and "labelled before"), so the newest sheet holds
every round's labels.
"""

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from bert_sentiment.atomic import written_whole
from bert_sentiment.budget import WHOLE_SHARE, in_words, sample_size
from bert_sentiment.corrections import (
    CORRECTED_BEFORE_SHEET,
    CORRECTION_COLUMN,
    LABELLED_BEFORE_SHEET,
    LABELLED_FILE,
    LEAVE_OUT,
    TO_LABEL_SHEET,
    UNSTORABLE,
    earlier_corrections,
    labelled_texts,
    text_hashes,
    text_key,
)
from bert_sentiment.errors import UserError
from bert_sentiment.facts import ISSUES_FILE, RunFacts

logger = logging.getLogger(__name__)

ERRORS_SHEET = "label errors"
HOW_TO_SHEET = "how to fill in"  # the first tab: what each sheet and choice means (the workbook opens on the next)
REVIEW_FILE = "review.xlsx"
TO_LABEL = 200  # unlabeled texts offered by default: an afternoon's labelling
CANDIDATES_PER_TEXT = 5  # the least sure 5 x N texts are clustered into N groups, one text taken from each
# Unlabeled texts scored per text to pick: 1,000 picked from a pool of 20,000 SST-2 sentences trained a better model
# than 1,000 at random on three seeds of three (bench/README.md, "From scores to decisions"). A pool of 100,000 IMDB
# sentences took MiniLM 195 s to score whole on 2 CPU cores, against 43 s for the sample, all told: 1,000,000
# would take about half an hour, and a bert-base hours (bench/README.md, "Texts to label from a large pool").
POOL_PER_PICK = 20
POOL_FLOOR = 20_000  # ... and never fewer than this many (about half a minute for MiniLM on 2 cores)
POOL_CHOICES = f"'auto' ({POOL_PER_PICK} per text to label, at least {POOL_FLOOR:,}), 'all', or a number of texts"


def write_review(
    output_dir: str | Path,
    review_path: str | Path | None = None,
    unlabeled_file: str | None = None,
    to_label: int = TO_LABEL,
    text_column: str | None = None,
    pool_sample: str = "auto",
) -> Path:
    """The review spreadsheet for the run in `output_dir` (default: OUTPUT_DIR/review.xlsx); returns its path.
    pool_sample: how many of the unlabeled texts to score (POOL_CHOICES)."""
    import pandas as pd

    output_dir = Path(output_dir)
    facts = RunFacts.load(output_dir)
    issues_path = output_dir / ISSUES_FILE
    if not issues_path.is_file() and not unlabeled_file:
        raise UserError(
            f"'{output_dir}' has no {ISSUES_FILE}: the run did not look for label errors. Train with "
            "--find_label_issues auto, or pass --unlabeled_file to choose texts to label."
        )
    path = Path(review_path) if review_path else output_dir / REVIEW_FILE
    earlier, sheets = earlier_corrections(output_dir), {}
    if issues_path.is_file():
        sheets[ERRORS_SHEET] = label_errors(issues_path, {*earlier.relabel, *earlier.add})
    if unlabeled_file:
        scores = path.with_name(f".{path.stem}.scores")  # beside the sheet: an interrupted review continues
        sheets[TO_LABEL_SHEET] = texts_to_label(
            output_dir, unlabeled_file, to_label, text_column, facts, pool_sample, scores
        )
    for name, fixed in ((CORRECTED_BEFORE_SHEET, earlier.relabel), (LABELLED_BEFORE_SHEET, earlier.add)):
        if fixed:  # filled in already: fed back with the rest, so the next run keeps every round's labels
            sheets[name] = pd.DataFrame({"text": list(fixed), CORRECTION_COLUMN: list(fixed.values())})
    write_sheets(sheets, [*facts.label_names, LEAVE_OUT], path, how_to_fill_in(sheets, path.name))
    logger.info(
        "Wrote %s: %s. Fill in '%s' where a label is wrong (or for each text to label; its first sheet says how), "
        "then train with --label_corrections %s.",
        path,
        ", ".join(f"{len(frame):,} rows in '{name}'" for name, frame in sheets.items()),
        CORRECTION_COLUMN,
        path,
    )
    return path


def label_errors(issues_path: Path, reviewed: set[str]):
    """The likely label errors as a sheet, least likely labels first, without the texts a person corrected (or
    confirmed, picking the label they had) in an earlier review: their label stands."""
    import pandas as pd

    issues = [json.loads(line) for line in issues_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame(issues, columns=["split", "rank", "text", "given_label", "suggested_label", "label_quality"])
    seen = frame["text"].map(text_key).isin(reviewed)
    if seen.any():
        logger.info(
            "%s of the %s likely label errors %s corrected or confirmed in an earlier review: not listed again "
            "(their labels are carried in '%s' or '%s').",
            f"{seen.sum():,}",
            f"{len(frame):,}",
            "was" if seen.sum() == 1 else "were",
            CORRECTED_BEFORE_SHEET,
            LABELLED_BEFORE_SHEET,
        )
    return frame[~seen].sort_values("label_quality", kind="stable").assign(**{CORRECTION_COLUMN: ""})


def texts_to_label(
    output_dir: Path,
    unlabeled_file: str,
    count: int,
    text_column: str | None,
    facts: RunFacts,
    pool_sample: str,
    scores: Path | None = None,
):
    """The `count` unlabeled texts the model is least sure of, spread over the data, as a sheet: of all the texts, or
    of a random sample of them (pool_rows). `scores`: where the probabilities go as they come (KeptScores)."""
    import pandas as pd

    from bert_sentiment.inference import load

    if count < 1:
        raise UserError(f"--to_label {count} must be at least 1 (e.g. {TO_LABEL}).")
    asked = sample_size(pool_sample, "--pool_sample", POOL_CHOICES)  # refused before the file is read
    if asked is not None and asked < count:
        raise UserError(
            f"--pool_sample {pool_sample} scores fewer texts than --to_label {count} picks: ask for at least "
            f"{POOL_PER_PICK * count} (the least sure of many), or leave it out ('auto')."
        )
    pool = not_labelled_yet(distinct_texts(unlabeled_file, text_column), output_dir, unlabeled_file)
    whole, texts = len(pool), sampled(pool, count, asked, pool_sample)
    classifier = load(str(output_dir))
    started = time.monotonic()
    probabilities, earlier = unlabeled_probabilities(classifier, texts, scores, job=f"{facts.started}")
    if len(texts) < whole and earlier < len(texts):
        seconds = time.monotonic() - started
        logger.info(
            "Scored %s unlabeled texts in %s; all %s would take about %s.",
            f"{len(texts) - earlier:,}",
            in_words(seconds),
            f"{whole:,}",
            in_words(seconds * whole / (len(texts) - earlier)),
        )
    rows = least_sure_spread(texts, probabilities, count, facts.language)
    return pd.DataFrame(
        {
            "text": [texts[i] for i in rows],
            "predicted_label": [classifier.labels[i] for i in probabilities[rows].argmax(axis=1)],
            "margin": np.round(margins(probabilities[rows]).astype(np.float64), 4),  # float32 would show 0.1234000027
            CORRECTION_COLUMN: "",
        }
    )


def distinct_texts(unlabeled_file: str, text_column: str | None) -> list[str]:
    """The file's texts, each once (as a spreadsheet keeps it, which corrections match on): its first copy."""
    from bert_sentiment.columns import find_text_column
    from bert_sentiment.local_files import locate, read_split

    dataset = read_split(locate(unlabeled_file, "--unlabeled_file"), "auto", None)
    given = [str(text) for text in dataset[find_text_column(dataset, text_column)][:] if text and str(text).strip()]
    if not given:
        raise UserError(f"--unlabeled_file '{unlabeled_file}' holds no text.")
    first = {}
    for text in given:
        first.setdefault(text_key(text), text)
    if len(first) < len(given):
        logger.info(
            "%s of the %s unlabeled texts %s an earlier one: each text is scored, and offered to label, once.",
            f"{len(given) - len(first):,}",
            f"{len(given):,}",
            "repeats" if len(given) - len(first) == 1 else "repeat",
        )
    return list(first.values())


def not_labelled_yet(texts: list[str], output_dir: Path, unlabeled_file: str) -> list[str]:
    """The texts the run holds no label for: one it trained, validated or tested on is not offered again (a text a
    person labelled from an earlier review, say)."""
    labelled = labelled_texts(output_dir)
    if labelled is None:
        logger.info(
            "%s has no %s (trained before runs recorded their texts): texts it already holds labels for may be "
            "offered again.",
            output_dir,
            LABELLED_FILE,
        )
        return texts
    known = np.isin(text_hashes(texts), labelled)
    if known.all():
        raise UserError(
            f"Every text in --unlabeled_file '{unlabeled_file}' ({len(texts):,} distinct) is already labelled in the "
            "run's data: give texts it has not seen."
        )
    if known.any():
        logger.info(
            "%s of the %s distinct unlabeled texts %s labelled in the run's data already (training, validation or "
            "test): %s not offered.",
            f"{known.sum():,}",
            f"{len(texts):,}",
            *(("is", "it is") if known.sum() == 1 else ("are", "they are")),
        )
    return [text for text, seen in zip(texts, known) if not seen]


def sampled(pool: list[str], count: int, asked: float | None, pool_sample: str) -> list[str]:
    """The texts of the pool to score (pool_rows), in the file's order; the log says when they are a sample."""
    rows = pool_rows(len(pool), count, asked)
    if len(rows) < len(pool):
        why = f"--pool_sample {pool_sample}" if asked else f"{POOL_PER_PICK} per text to label, at least {POOL_FLOOR:,}"
        logger.info(
            "Scoring %s of the %s unlabeled texts, drawn at random through the file (%s): --pool_sample all scores "
            "every one.",
            f"{len(rows):,}",
            f"{len(pool):,}",
            why,
        )
    return [pool[row] for row in rows]


def pool_rows(size: int, count: int, asked: float | None, seed: int = 0) -> np.ndarray:
    """Sorted rows of the unlabeled texts to score, to pick `count` of them: the number asked for (None: POOL_PER_PICK
    per text to pick, at least POOL_FLOOR), drawn at random; every row when that is all of them, or when 'auto'
    would score half of them or more (a sample that large saves little)."""
    wanted = asked if asked is not None else max(POOL_PER_PICK * count, POOL_FLOOR)
    if wanted >= size or (asked is None and wanted >= WHOLE_SHARE * size):
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).choice(size, int(wanted), replace=False))


def unlabeled_probabilities(
    classifier, texts: list[str], scores: Path | None = None, job: str = ""
) -> tuple[np.ndarray, int]:
    """One row of probabilities per text, predicted CHUNK_ROWS texts at a time with a progress bar: a million
    unlabeled texts are never tokenized, or held as Prediction objects, all at once. With `scores`, each chunk is kept
    there as it comes (KeptScores). Returns the probabilities, and how many rows an interrupted review of the
    same texts (`job`: and the same run) had scored already."""
    from tqdm.auto import tqdm

    from bert_sentiment.predict_file import CHUNK_ROWS

    probabilities = np.zeros((len(texts), len(classifier.labels)), dtype=np.float32)
    with KeptScores(scores, f"{text_digest(texts)} {classifier.model_id} {job}", probabilities) as kept:
        earlier = kept.rows
        with tqdm(total=len(texts), initial=earlier, desc="Predicting the unlabeled texts", unit="text") as bar:
            for start in range(earlier, len(texts), CHUNK_ROWS):
                chunk = classifier.predict(texts[start : start + CHUNK_ROWS])
                probabilities[start : start + len(chunk)] = [
                    [p.scores[label] for label in classifier.labels] for p in chunk
                ]
                kept.keep(start + len(chunk))
                bar.update(len(chunk))
    return probabilities, earlier


def text_digest(texts: list[str]) -> str:
    """Which texts, in which order: a resumed scoring must be of the same ones."""
    digest = hashlib.blake2b(digest_size=16)
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


class KeptScores:
    """Probabilities kept on disk as they are scored: `keep(rows)` appends the rows of `probabilities` scored since the
    last call to `path` (float32) and records how far they go in predict_file's progress file beside it. On entering,
    `rows` is how many an interrupted scoring of the same job had kept, read back into `probabilities`; a file of
    another job (other texts, another run) is started over. Both files go once the block ends without an error, and
    stay for the next try when it is interrupted. path None: nothing is kept."""

    def __init__(self, path: Path | None, job: str, probabilities: np.ndarray):
        self.path, self.job, self.probabilities, self.rows = path, job, probabilities, 0

    def __enter__(self) -> "KeptScores":
        from bert_sentiment.predict_file import resume_point

        if self.path is None:
            return self
        try:
            self.rows = min(resume_point(self.path, self.job, overwrite=False).rows, len(self.probabilities))
        except UserError:  # another review's, or no longer readable
            resume_point(self.path, self.job, overwrite=True)
        kept = self.probabilities[: self.rows]
        if self.rows:
            kept[:] = np.fromfile(self.path, dtype=kept.dtype, count=kept.size).reshape(kept.shape)
            logger.info(
                "Continuing an interrupted review: %s of the %s texts to score were scored already.",
                f"{self.rows:,}",
                f"{len(self.probabilities):,}",
            )
        self.handle = open(self.path, "r+b" if self.rows else "wb")
        self.handle.truncate(kept.nbytes)  # rows written after the last progress record go
        self.handle.seek(kept.nbytes)
        return self

    def keep(self, rows: int) -> None:
        from bert_sentiment.predict_file import Written, progress_file, save_progress

        if self.path is not None:
            self.handle.write(self.probabilities[self.rows : rows].tobytes())
            self.handle.flush()
            os.fsync(self.handle.fileno())
            save_progress(Written(self.job, rows, self.handle.tell()), progress_file(self.path))
        self.rows = rows

    def __exit__(self, error_type, error, traceback) -> None:
        from bert_sentiment.predict_file import progress_file

        if self.path is None:
            return
        self.handle.close()
        if error_type is None:
            self.path.unlink(missing_ok=True)
            progress_file(self.path).unlink(missing_ok=True)
        elif self.rows:
            logger.warning(
                "Stopped after scoring %s of %s texts: they are kept in %s, and the same command continues from there.",
                f"{self.rows:,}",
                f"{len(self.probabilities):,}",
                self.path,
            )


def margins(probabilities: np.ndarray) -> np.ndarray:
    """The gap between each row's two most likely labels: the smaller, the less sure the model is."""
    top = np.sort(probabilities, axis=1)
    return top[:, -1] - top[:, -2]


def least_sure_spread(
    texts: list[str], probabilities: np.ndarray, count: int, language: str, seed: int = 0
) -> np.ndarray:
    """Rows of `count` texts: among the CANDIDATES_PER_TEXT x count with the smallest margin between the two most
    likely labels, the least sure of each of `count` clusters (TF-IDF, k-means); least sure first."""
    margin = margins(probabilities)
    candidates = np.argsort(margin, kind="stable")[: CANDIDATES_PER_TEXT * count]
    if len(candidates) <= count:
        return candidates
    from sklearn.cluster import MiniBatchKMeans

    from bert_sentiment.baselines import tfidf_vectorizer

    vectorizer = tfidf_vectorizer(language).set_params(min_df=1)
    features = vectorizer.fit_transform([texts[i] for i in candidates])
    clusters = MiniBatchKMeans(n_clusters=count, random_state=seed, n_init=3).fit_predict(features)
    chosen = [candidates[clusters == cluster][0] for cluster in np.unique(clusters)]  # candidates are least sure first
    if len(chosen) < count:  # k-means left clusters empty: fill with the next least sure
        taken = set(chosen)
        chosen += [row for row in candidates if row not in taken][: count - len(chosen)]
    return np.array(sorted(chosen, key=lambda row: margin[row]))


def how_to_fill_in(sheets: dict, file_name: str) -> list[str]:
    """The lines of HOW_TO_SHEET: what to do on each of `sheets`, and with the file once it is filled in."""
    lines = [
        f"Fill in the '{CORRECTION_COLUMN}' column (a drop-down) on the sheets beside this one, save the file, and "
        f"train again with: python train.py ... --label_corrections {file_name}",
    ]
    if ERRORS_SHEET in sheets:
        lines.append(
            f"'{ERRORS_SHEET}': texts whose label the model doubts, the likeliest errors first. Where a label is "
            "wrong, pick the right one. Pick the label a text already has to confirm it: it is not listed again. An "
            "empty cell means not looked at: it is listed again next time."
        )
    if TO_LABEL_SHEET in sheets:
        lines.append(
            f"'{TO_LABEL_SHEET}': texts without a label that would teach the model most. Pick a label for each you "
            "can: they join the training data. A text left empty is not added, and may be offered again."
        )
    lines.append(
        f"'{LEAVE_OUT}', on any sheet: for a text no label fits (mixed, off the subject, not a review). It is taken "
        "out of the data, and not offered again."
    )
    if CORRECTED_BEFORE_SHEET in sheets or LABELLED_BEFORE_SHEET in sheets:
        lines.append(
            f"'{CORRECTED_BEFORE_SHEET}' and '{LABELLED_BEFORE_SHEET}': the labels of earlier rounds, applied again "
            "with this file, so it alone carries every round. A label given on the other sheets wins; change one "
            "here to change it."
        )
    return lines


def write_sheets(sheets: dict, labels: list[str], path: Path, how_to: list[str] | None = None) -> None:
    """The workbook, written whole: `how_to` lines first (HOW_TO_SHEET, when given), then `sheets` with readable
    column widths and a drop-down of `labels` in the correction column; it opens on the first of `sheets`."""
    import pandas as pd
    from openpyxl.styles import Alignment
    from openpyxl.worksheet.datavalidation import DataValidation

    path.parent.mkdir(parents=True, exist_ok=True)
    with written_whole(path) as partial, pd.ExcelWriter(partial, engine="openpyxl") as writer:
        if how_to:
            pd.DataFrame({HOW_TO_SHEET: how_to}).to_excel(writer, sheet_name=HOW_TO_SHEET, index=False)
            guide = writer.sheets[HOW_TO_SHEET]
            guide.column_dimensions["A"].width = 100
            for (cell,) in guide.iter_rows(min_row=2):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for name, frame in sheets.items():
            frame = frame.assign(text=frame["text"].map(lambda text: UNSTORABLE.sub("", str(text))))
            frame.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            for column, cells in zip(frame.columns, sheet.columns):
                sheet.column_dimensions[cells[0].column_letter].width = (
                    80 if column == "text" else max(12, len(column) + 2)
                )
            if len(frame) and not any("," in label or '"' in label for label in labels):
                letter = sheet.cell(1, frame.columns.get_loc(CORRECTION_COLUMN) + 1).column_letter
                choices = DataValidation(type="list", formula1=f'"{",".join(labels)}"', allow_blank=True)
                choices.add(f"{letter}2:{letter}{len(frame) + 1}")
                sheet.add_data_validation(choices)
            sheet.freeze_panes = "A2"
        if how_to and sheets:  # opens where the work is; the guide is one tab to the left
            writer.book.active = 1
            writer.book[HOW_TO_SHEET].sheet_view.tabSelected = False
            writer.book.worksheets[1].sheet_view.tabSelected = True
