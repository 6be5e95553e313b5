"""Fast sentiment prediction on CPU, for the app: one model load, ONNX Runtime int8, length-sorted batches.

The model is loaded through `pipeline("text-classification", ...)`, exactly as users load it;
predictions then take a faster path over the same model and tokenizer:
- ONNX Runtime on the model's `onnx/model_quantized.onnx` (dynamic int8), exported at start-up when the
  model has none, and checked against PyTorch before serving; `engine="torch"` (or a failed check)
  serves the PyTorch model instead;
- batches sorted by length, so each pads only to texts of similar length;
- the reading length saved with the tokenizer (model_max_length: the model's position limit unless the
  run pinned --inference_max_length), as evaluation read, with the run's long-text mode beyond it.
"""

import logging
import re
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bert_sentiment.errors import UserError, one_line
from bert_sentiment.long_text import average_by_owner, head_tail_texts, window_encodings
from bert_sentiment.turns import Turns

logger = logging.getLogger(__name__)

ENGINES = ("onnx", "torch")
BATCH_SIZE = 32  # texts per forward pass; larger gains little on 2 cores and raises latency
MAX_CHARACTERS = 20_000  # texts are cut to this before tokenizing: bounds the work one visitor can ask for
JOB_SLICE_TOKENS = 512  # padded tokens per pass of a batch job: a visitor waits at most one such slice
JOB_TEXTS = 256  # texts of a batch job tokenized in one turn


NOT_SURE = "not sure"


@dataclass
class Prediction:
    scores: dict[str, float]  # label -> probability, summing to 1
    truncated: bool  # the text was longer than max_length tokens and was cut
    sure: bool = True  # False: the top probability is under the model's abstain_threshold (bert_sentiment/abstain.py)

    @property
    def label(self) -> str:
        """The most likely label (also when not sure: `answer` says "not sure" then)."""
        return max(self.scores, key=self.scores.get)

    @property
    def answer(self) -> str:
        """The label, or "not sure" when the model's confidence is under its chosen threshold."""
        return self.label if self.sure else NOT_SURE

    @property
    def score(self) -> float:
        return self.scores[self.label]

    def __repr__(self) -> str:
        shown = ", ".join(f"{label}: {p:.3f}" for label, p in self.scores.items())
        return f"Prediction({self.answer!r}, {shown}{', truncated' if self.truncated else ''})"


CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode's category Cc, but newline and tab


def clean_text(text) -> str:
    """Printable text: control characters (except newlines and tabs) become spaces; length is bounded."""
    text = "" if text is None else str(text)[:MAX_CHARACTERS]
    return CONTROL_CHARACTERS.sub(" ", text).strip()


def load(model: str | None, engine: str = "onnx", quantize: bool = True, **options) -> "SentimentClassifier":
    """The classifier for a run's output_dir or a Hub id, as the app serves it; a UserError if it cannot load.

    engine "onnx" runs ONNX Runtime (int8, or fp32 with quantize=False); "torch" runs the PyTorch model in fp32.
    serving=True (the app) leaves the cores to a web server between forward passes."""
    if not model:
        raise UserError("No model given. Set MODEL_ID, or pass --model your-name/sst2-bert (or a local output_dir).")
    if engine not in ENGINES:
        raise UserError(f"Unknown engine '{engine}': use one of {', '.join(ENGINES)}.")
    try:
        return SentimentClassifier(str(model), engine=engine, quantize=quantize, **options)
    except (OSError, ValueError) as err:
        fix = (
            "The Hub has no repo by that id that this caller may read. Check the id; for a private or gated model, "
            "set HF_TOKEN to a token that can read it (in a Space: a secret named HF_TOKEN)."
            if _hidden_repo(err)
            else "Check MODEL_ID/--model: a Hub id (your-name/sst2-bert) or a folder written by train.py."
        )
        raise UserError(f"Could not load model '{model}': {str(err).strip().splitlines()[0]}\n{fix}") from None


def hub_commit(model_id: str, revision: str | None, token: str | None) -> str | None:
    """The commit a Hub revision (main by default) points to now, from where its config.json is cached (the Hub's
    snapshot folders are named by commit; transformers 5 no longer records it on the config); None if unknown."""
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(model_id, "config.json", revision=revision, token=token))
    except Exception:  # noqa: BLE001 -- loading the pipeline next says what is wrong, in the library's words
        return None
    return path.parent.name if path.parent.parent.name == "snapshots" else None


def _hidden_repo(err: BaseException | None) -> bool:
    """The Hub answered that the repo is not there for this caller: missing, private or gated without a token."""
    from huggingface_hub.errors import RepositoryNotFoundError

    while err is not None:
        if isinstance(err, RepositoryNotFoundError):  # GatedRepoError is one too
            return True
        err = err.__cause__ or err.__context__
    return False


class SentimentClassifier:
    def __init__(
        self,
        model_id: str,
        engine: str = "onnx",
        quantize: bool = True,
        revision: str | None = None,
        token: str | None = None,
        long_text: str | None = None,
        check_texts: list[str] = (),
        serving: bool = False,
    ):
        from transformers import pipeline

        if not Path(model_id).is_dir():  # weights, tokenizer and ONNX files all from the commit the revision names now
            revision = hub_commit(model_id, revision, token) or revision
        self.pipeline = pipeline("text-classification", model=model_id, revision=revision, token=token, device="cpu")
        self.model_id = model_id
        self.tokenizer = self.pipeline.tokenizer
        self.model = self.pipeline.model.eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.max_length = min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        self.long_text = long_text or getattr(self.model.config, "long_text", "truncate")  # as in training
        # "not sure" below this confidence: chosen on validation for --abstain_precision, saved in config.json
        self.abstain_threshold = getattr(self.model.config, "abstain_threshold", None)
        self.onnx, self.engine_note = None, "PyTorch fp32 (engine='torch')"
        self.turns = Turns()  # every forward pass takes a turn: single predictions before slices of jobs
        if engine == "onnx":
            self.onnx, self.engine_note = open_onnx(self, quantize, revision, token, list(check_texts), not serving)
        self.revision = revision  # the commit served, for a Hub model: a later push does not change it silently
        at = f" at revision {revision}" if revision and not Path(model_id).is_dir() else ""
        logger.info(
            "Loaded %s%s (labels %s, max_length %d); serving with %s.",
            model_id,
            at,
            self.labels,
            self.max_length,
            self.engine_note,
        )

    @property
    def engine(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    def __call__(self, texts: str | list[str]) -> Prediction | list[Prediction]:
        """`clf("great film")` -> one Prediction; `clf([...])` -> one per text, in order."""
        if isinstance(texts, str):
            return self.predict([texts])[0]
        return self.predict(list(texts))

    def explain(self, text: str, method: str | None = None):
        """Which words pushed the model toward its label for `text`, and which against it: an Explanation
        (bert_sentiment.explain). Occlusion runs on the serving engine, so the label explained is the one predicted;
        the gradient methods use the PyTorch model. Long texts are explained on their start."""
        from bert_sentiment.explain import DEFAULT_METHOD, MAX_EXPLAINED_TOKENS, explain

        limit = min(MAX_EXPLAINED_TOKENS, self.max_length)
        return explain(
            self.model,
            self.tokenizer,
            clean_text(text),
            method or DEFAULT_METHOD,
            max_tokens=limit,
            forward=lambda input_ids: self._forward(input_ids, lane="job"),
        )

    def predict_file(self, input_path, output_path, text_column: str | None = None, overwrite: bool = False):
        """Predict every row of a file (any format train.py reads) into a CSV: its columns, the label and every
        probability; an interrupted run continues where it stopped (bert_sentiment/predict_file.py)."""
        from bert_sentiment.predict_file import predict_file

        return predict_file(self, input_path, output_path, text_column=text_column, overwrite=overwrite)

    def warm_up(self) -> None:
        """One prediction before the first visitor, so nobody waits for lazy initialisation."""
        self.predict(["warm-up"])

    def predict(
        self, texts: list[str], batch_size: int = BATCH_SIZE, progress=None, lane: str = "single"
    ) -> list[Prediction]:
        """Predictions in the order of `texts`; `progress(done, total)` is called after each batch.

        lane "job" (the app's batch requests) is read JOB_TEXTS texts at a time, tokenized in a turn of its own and
        run in slices of at most JOB_SLICE_TOKENS padded tokens, each taking turns with single predictions
        (bert_sentiment/turns.py): a job's CPU work comes in short slices."""
        texts = [clean_text(text) for text in texts]
        step = JOB_TEXTS if lane == "job" else max(1, len(texts))
        predictions = []
        for start in range(0, len(texts), step):
            done_before = start
            told = progress and (lambda done, _, before=done_before: progress(before + done, len(texts)))
            predictions += self._predict(texts[start : start + step], batch_size, told, lane)
        return predictions

    def _predict(self, texts: list[str], batch_size: int, progress, lane: str) -> list[Prediction]:
        with self.turns.turn(lane) if lane == "job" else nullcontext():  # tokenizing uses every core too
            lengths = np.array(
                [len(ids) for ids in self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]]
            )
            if self.long_text == "chunks":
                encoded, owners = window_encodings(self.tokenizer, texts, self.max_length)
            else:
                shown = (
                    texts if self.long_text == "truncate" else head_tail_texts(self.tokenizer, texts, self.max_length)
                )
                encoded, owners = (
                    self.tokenizer(shown, truncation=True, max_length=self.max_length),
                    np.arange(len(texts)),
                )
        window_probabilities = self._probabilities(encoded["input_ids"], batch_size, progress, lane)
        probabilities = average_by_owner(window_probabilities, owners, len(texts))
        cut = lengths > self.max_length if self.long_text != "chunks" else np.zeros(len(texts), dtype=bool)
        sure = probabilities.max(axis=1) >= (self.abstain_threshold or 0.0)
        return [
            Prediction(dict(zip(self.labels, map(float, row))), bool(c), bool(s))
            for row, c, s in zip(probabilities, cut, sure)
        ]

    def _probabilities(self, input_ids: list[list[int]], batch_size: int, progress, lane: str) -> np.ndarray:
        order = np.argsort([-len(ids) for ids in input_ids], kind="stable")  # similar lengths share a batch
        probabilities = np.zeros((len(input_ids), len(self.labels)))
        start = 0
        while start < len(input_ids):
            size = (
                batch_size
                if lane == "single"
                else max(1, min(batch_size, JOB_SLICE_TOKENS // len(input_ids[order[start]])))
            )
            batch = order[start : start + size]
            probabilities[batch] = self._forward([input_ids[i] for i in batch], lane)
            start += size
            if progress:
                progress(min(start, len(input_ids)), len(input_ids))
        return probabilities

    def _forward(self, input_ids: list[list[int]], lane: str = "single") -> np.ndarray:
        """Probabilities for one batch, from ONNX Runtime or PyTorch, in its turn at the model."""
        with self.turns.turn(lane):
            return self._run(input_ids)

    def _run(self, input_ids: list[list[int]]) -> np.ndarray:
        if self.onnx is not None:
            encoded = self.tokenizer.pad({"input_ids": input_ids}, return_tensors="np")
            logits = torch.from_numpy(self.onnx.logits(encoded))
        else:
            with torch.inference_mode():
                logits = self.model(**self.tokenizer.pad({"input_ids": input_ids}, return_tensors="pt")).logits.float()
        return torch.softmax(logits, dim=-1).numpy()


def open_onnx(classifier: SentimentClassifier, quantize: bool, revision, token, check_texts: list[str], spin: bool):
    """(OnnxModel, what serves) for the fastest graph that answers like PyTorch on `check_texts` plus stock
    sentences: this machine's own int8 graph (bert_sentiment/machine_graph.py), else the model's portable onnx/
    file, exported now if it has none; (None, why) when neither passes: the app then serves PyTorch. `spin`: see
    OnnxModel."""
    from bert_sentiment.onnx_export import STOCK_TEXTS, Reference

    files = OnnxFiles(classifier, revision, token, spin)
    reference = Reference(classifier.model, classifier.tokenizer, check_texts + STOCK_TEXTS)
    reasons = []
    sources = [("this machine's graph", files.machine_graph)] if quantize else []  # its fp32 would be the file's
    try:
        for name, graph_of in sources + [("the portable graph", files.portable_graph)]:
            try:
                graph, note, check = graph_of(quantize, reference)
            except Exception as err:  # a corrupted, mismatched or unexportable graph must not take the app down
                reasons.append(f"{name}: {one_line(err)}")
                logger.warning("Not serving %s (%s).", name, reasons[-1].partition(": ")[2])
                continue
            logger.info(
                "Checked %s against PyTorch on %d texts: labels agree on %.0f%%, largest probability difference %.1e.",
                name,
                check.texts,
                100 * check.int8_label_agreement,
                check.int8_max_difference,
            )
            return graph, f"ONNX Runtime {'int8' if quantize else 'fp32'} ({note})"
    finally:
        files.discard_export()
    logger.warning("Serving the PyTorch model instead.")
    return None, f"PyTorch fp32 (ONNX unavailable: {'; '.join(reasons)})"


def checked(graph, quantize: bool, reference):
    """The check a graph passes before it serves: labels kept on texts PyTorch decides by SERVING_MARGIN, and an
    fp32 graph's probabilities within the fp32 tolerance."""
    from bert_sentiment.onnx_export import SERVING_MARGIN

    fp32_difference = None if quantize else reference.fp32_difference(graph)
    return reference.int8_check(graph, SERVING_MARGIN, fp32_difference)


class OnnxFiles:
    """A model's ONNX graphs for serving, each returned as (graph, what it is, its check): this machine's graph built
    from the fp32 file, and the model's own onnx/ files (local folder or Hub repo), exported once when it has none."""

    def __init__(self, classifier: SentimentClassifier, revision, token, spin: bool):
        self.classifier, self.revision, self.token, self.spin = classifier, revision, token, spin
        self.exported: Path | None = None
        self.export_failure: Exception | None = None  # the export's own check refused its int8 file

    def machine_graph(self, quantize: bool, reference):
        from bert_sentiment.machine_graph import build
        from bert_sentiment.onnx_export import FP32_FILE, INT8_RECIPES, OnnxModel

        fp32, origin = self.file(FP32_FILE)
        failures = []
        for recipe in INT8_RECIPES:  # the first that agrees with PyTorch, as the export chooses
            path, note = build(fp32, self.classifier.model.config, recipe)
            graph = OnnxModel(path, self.spin)
            try:
                return graph, f"{note}, from {origin}", checked(graph, quantize, reference)
            except Exception as err:  # noqa: BLE001 -- the next recipe keeps more in fp32
                failures.append(one_line(err))
        raise RuntimeError(" / ".join(failures))

    def portable_graph(self, quantize: bool, reference):
        from bert_sentiment.onnx_export import FP32_FILE, INT8_FILE, OnnxModel

        path, origin = self.file(INT8_FILE if quantize else FP32_FILE)
        graph = OnnxModel(path, self.spin)
        return graph, f"{path.name}, {origin}", checked(graph, quantize, reference)

    def file(self, name: str) -> tuple[Path, str]:
        """(path, where it came from): the model's own onnx/ file, else one exported now (once)."""
        from bert_sentiment.onnx_export import (
            INT8_FILE,
            ONNX_DIR,
            SERVING_MARGIN,
            STOCK_TEXTS,
            OnnxMismatch,
            export_graphs,
        )

        model_id = self.classifier.model_id
        if self.exported is None:
            if Path(model_id).is_dir():
                if (Path(model_id) / ONNX_DIR / name).is_file():
                    return Path(model_id) / ONNX_DIR / name, "the model's own file"
            else:
                from huggingface_hub import hf_hub_download
                from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

                try:
                    filename = f"{ONNX_DIR}/{name}"
                    path = hf_hub_download(model_id, filename, revision=self.revision, token=self.token)
                    return Path(path), "the Hub repo's file"
                except (EntryNotFoundError, LocalEntryNotFoundError):
                    pass
            logger.info(
                "%s has no %s/%s: exporting it now (once per start; publish.py puts it in the repo).",
                model_id,
                ONNX_DIR,
                name,
            )
            self.exported = Path(tempfile.mkdtemp(prefix="bert-sentiment-onnx-"))
            try:
                export_graphs(
                    self.classifier.model, self.classifier.tokenizer, self.exported, STOCK_TEXTS, SERVING_MARGIN
                )
            except OnnxMismatch as err:  # no portable int8 file; the fp32 one still makes this machine's graph
                self.export_failure = err
        if name == INT8_FILE and self.export_failure is not None:
            raise self.export_failure
        return self.exported / name, "a file exported at start-up"

    def discard_export(self) -> None:
        """The files exported at start-up, once their graph is loaded or refused: a bert-base leaves about 550 MB
        in the temporary folder at every start otherwise (ONNX Runtime holds a loaded graph in memory)."""
        if self.exported is not None:
            shutil.rmtree(self.exported, ignore_errors=True)
