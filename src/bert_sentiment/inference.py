"""Fast sentiment prediction on CPU, for the app: one model load, int8 weights, length-sorted batches.

The model is loaded through `pipeline("text-classification", ...)`, exactly as users load it;
predictions then take a faster path over the same model and tokenizer:
- dynamic int8 quantization of the Linear layers (most of BERT's compute), switchable off;
- batches sorted by length, so each pads only to texts of similar length;
- the reading length saved with the tokenizer (model_max_length: the model's position limit unless the
  run pinned --inference_max_length), as evaluation read, with the run's long-text mode beyond it.
"""

import logging
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

from bert_sentiment.errors import UserError
from bert_sentiment.long_text import average_by_owner, head_tail_texts, window_encodings

logger = logging.getLogger(__name__)

BATCH_SIZE = 32  # texts per forward pass; larger gains little on 2 cores and raises latency
MAX_CHARACTERS = 20_000  # texts are cut to this before tokenizing: bounds the work one visitor can ask for


@dataclass
class Prediction:
    scores: dict[str, float]  # label -> probability, summing to 1
    truncated: bool  # the text was longer than max_length tokens and was cut

    @property
    def label(self) -> str:
        return max(self.scores, key=self.scores.get)

    @property
    def score(self) -> float:
        return self.scores[self.label]

    def __repr__(self) -> str:
        shown = ", ".join(f"{label}: {p:.3f}" for label, p in self.scores.items())
        return f"Prediction({self.label!r}, {shown}{', truncated' if self.truncated else ''})"


def clean_text(text) -> str:
    """Printable text: control characters (except newlines and tabs) become spaces; length is bounded."""
    text = "" if text is None else str(text)[:MAX_CHARACTERS]
    return "".join(" " if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in text).strip()


def load(model: str | None, quantize: bool = True, **options) -> "SentimentClassifier":
    """The classifier for a run's output_dir or a Hub id, as the app serves it; a UserError if it cannot load."""
    if not model:
        raise UserError("No model given. Set MODEL_ID, or pass --model your-name/sst2-bert (or a local output_dir).")
    try:
        return SentimentClassifier(str(model), quantize=quantize, **options)
    except (OSError, ValueError) as err:
        raise UserError(
            f"Could not load model '{model}': {str(err).strip().splitlines()[0]}\n"
            "Check MODEL_ID/--model: a Hub id (your-name/sst2-bert) or a folder written by train.py."
        ) from None


class SentimentClassifier:
    def __init__(self, model_id: str, quantize: bool = True, revision: str | None = None, token: str | None = None,
                 long_text: str | None = None):  # fmt: skip
        from transformers import pipeline

        self.pipeline = pipeline("text-classification", model=model_id, revision=revision, token=token, device="cpu")
        self.model_id = model_id
        self.tokenizer = self.pipeline.tokenizer
        self.model = self.pipeline.model.eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.max_length = min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        self.long_text = long_text or getattr(self.model.config, "long_text", "truncate")  # as in training
        self.quantized = quantize
        if quantize:
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        logger.info("Loaded %s (labels %s, max_length %d, int8 %s).", model_id, self.labels, self.max_length, quantize)

    def __call__(self, texts: str | list[str]) -> Prediction | list[Prediction]:
        """`clf("great film")` -> one Prediction; `clf([...])` -> one per text, in order."""
        if isinstance(texts, str):
            return self.predict([texts])[0]
        return self.predict(list(texts))

    def warm_up(self) -> None:
        """One prediction before the first visitor, so nobody waits for lazy initialisation."""
        self.predict(["warm-up"])

    def predict(self, texts: list[str], batch_size: int = BATCH_SIZE, progress=None) -> list[Prediction]:
        """Predictions in the order of `texts`; `progress(done, total)` is called after each batch."""
        texts = [clean_text(text) for text in texts]
        lengths = np.array([len(ids) for ids in self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]])
        if self.long_text == "chunks":
            encoded, owners = window_encodings(self.tokenizer, texts, self.max_length)
        else:
            shown = texts if self.long_text == "truncate" else head_tail_texts(self.tokenizer, texts, self.max_length)
            encoded, owners = self.tokenizer(shown, truncation=True, max_length=self.max_length), np.arange(len(texts))
        window_probabilities = self._probabilities(encoded["input_ids"], batch_size, progress)
        probabilities = average_by_owner(window_probabilities, owners, len(texts))
        cut = lengths > self.max_length if self.long_text != "chunks" else np.zeros(len(texts), dtype=bool)
        return [Prediction(dict(zip(self.labels, map(float, row))), bool(c)) for row, c in zip(probabilities, cut)]

    def _probabilities(self, input_ids: list[list[int]], batch_size: int, progress) -> np.ndarray:
        order = np.argsort([-len(ids) for ids in input_ids], kind="stable")  # similar lengths share a batch
        probabilities = np.zeros((len(input_ids), len(self.labels)))
        for start in range(0, len(input_ids), batch_size):
            batch = order[start : start + batch_size]
            inputs = self.tokenizer.pad({"input_ids": [input_ids[i] for i in batch]}, return_tensors="pt")
            with torch.inference_mode():
                logits = self.model(**inputs).logits.float()
            probabilities[batch] = torch.softmax(logits, dim=-1).numpy()
            if progress:
                progress(min(start + batch_size, len(input_ids)), len(input_ids))
        return probabilities
