"""Fast sentiment prediction on CPU, for the app: one model load, int8 weights, length-sorted batches.

The model is loaded through `pipeline("text-classification", ...)`, exactly as users load it;
predictions then take a faster path over the same model and tokenizer:
- dynamic int8 quantization of the Linear layers (most of BERT's compute), switchable off;
- batches sorted by length, so each pads only to texts of similar length;
- the truncation the model was trained with (the tokenizer's saved model_max_length).
"""

import logging
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

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


def clean_text(text) -> str:
    """Printable text: control characters (except newlines and tabs) become spaces; length is bounded."""
    text = "" if text is None else str(text)[:MAX_CHARACTERS]
    return "".join(" " if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in text).strip()


class SentimentClassifier:
    def __init__(self, model_id: str, quantize: bool = True, revision: str | None = None, token: str | None = None):
        from transformers import pipeline

        self.pipeline = pipeline("text-classification", model=model_id, revision=revision, token=token, device="cpu")
        self.model_id = model_id
        self.tokenizer = self.pipeline.tokenizer
        self.model = self.pipeline.model.eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.max_length = min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings)
        self.quantized = quantize
        if quantize:
            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        logger.info("Loaded %s (labels %s, max_length %d, int8 %s).", model_id, self.labels, self.max_length, quantize)

    def warm_up(self) -> None:
        """One prediction before the first visitor, so nobody waits for lazy initialisation."""
        self.predict(["warm-up"])

    def predict(self, texts: list[str], batch_size: int = BATCH_SIZE, progress=None) -> list[Prediction]:
        """Predictions in the order of `texts`; `progress(done, total)` is called after each batch."""
        texts = [clean_text(text) for text in texts]
        encoded = self.tokenizer(texts, truncation=False, add_special_tokens=True, verbose=False)["input_ids"]
        lengths = np.array([len(ids) for ids in encoded])
        order = np.argsort(-lengths, kind="stable")  # longest first: similar lengths share a batch
        probabilities = np.zeros((len(texts), len(self.labels)))
        for start in range(0, len(texts), batch_size):
            batch = order[start : start + batch_size]
            inputs = self.tokenizer(
                [texts[i] for i in batch], truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            )
            with torch.inference_mode():
                logits = self.model(**inputs).logits.float()
            probabilities[batch] = torch.softmax(logits, dim=-1).numpy()
            if progress:
                progress(min(start + batch_size, len(texts)), len(texts))
        return [
            Prediction(dict(zip(self.labels, map(float, row))), bool(length > self.max_length))
            for row, length in zip(probabilities, lengths)
        ]
