"""Why this answer: how much each word of a text pushed the model toward its predicted label, or against it.

    explanation = explain(model, tokenizer, "the plot was thin but the cast was wonderful")
    explanation.top(3)   # [("wonderful", 0.41), ...]: the words that most raised p(label)

Words are what a reader sees: whitespace-separated (punctuation stays with its word, WordPieces are merged;
Chinese characters count one by one, as BERT reads them). Three methods, all from Captum, compared by
bench/bench_explain.py (faithfulness: deleting the top words must lower p(label) more than deleting random
ones; latency on bert-base, 2 cores):
- "occlusion": p(label) minus p(label) with the word deleted; batched forward passes only, so the app runs them
  on its ONNX Runtime engine; beyond MAX_OCCLUDED words, runs of neighbouring words are deleted together;
- "integrated_gradients": gradients along IG_STEPS interpolations from an all-[PAD] text, summed per word;
- "gradient_x_input": one backward pass, gradient times embedding, summed per word: the fastest, but measured
  barely better than deleting random words (no better on a weakly trained model); kept for comparison.
Gradients come from the PyTorch model (the one the ONNX graphs were checked against), in fp32.
"""

import unicodedata
from dataclasses import dataclass
from html import escape

import numpy as np
import torch

from bert_sentiment.errors import UserError

METHODS = ("occlusion", "integrated_gradients", "gradient_x_input")
DEFAULT_METHOD = "occlusion"  # the most faithful and the fastest on CPU: bench/README.md, "Word attributions"
IG_STEPS = 16  # interpolation steps of integrated gradients: one batched forward+backward pass of this size
MAX_EXPLAINED_TOKENS = 128  # longer texts are explained on their first tokens: bounds one request to ~2 s (bench)
OCCLUSION_BATCH = 32  # texts with one word deleted, per forward pass
MAX_OCCLUDED = 32  # a longer text is deleted in runs of neighbouring words, at most this many: about one batch


@dataclass
class Explanation:
    text: str  # the text explained (its first MAX_EXPLAINED_TOKENS tokens when `truncated`)
    label: str  # the label explained: the model's prediction for `text`
    probability: float  # p(label)
    words: list[tuple[str, float]]  # (word, attribution): > 0 pushed toward `label`, < 0 against it
    spans: list[tuple[int, int]]  # where each word sits in `text`, as character offsets
    method: str
    truncated: bool
    run_length: int = (
        1  # occlusion of a text over MAX_OCCLUDED words deletes runs of this many words: they share a score
    )

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The k words that pushed most toward the label, strongest first (only those with a positive share)."""
        return [word for word in sorted(self.words, key=lambda word: -word[1]) if word[1] > 0][:k]

    def against(self, k: int = 3) -> list[tuple[str, float]]:
        """The k words that pushed most against the label, strongest first (only those with a negative share)."""
        return [word for word in sorted(self.words, key=lambda word: word[1]) if word[1] < 0][:k]

    def highlighted(self) -> list[tuple[str, float | None]]:
        """The whole text as (piece, score in [-1, 1] or None) for gr.HighlightedText; scores scaled by the largest."""
        scale = max((abs(score) for _, score in self.words), default=0.0) or 1.0
        pieces, position = [], 0
        for (start, end), (_, score) in zip(self.spans, self.words):
            if start > position:
                pieces.append((self.text[position:start], None))
            pieces.append((self.text[start:end], round(score / scale, 4)))
            position = end
        if position < len(self.text):
            pieces.append((self.text[position:], None))
        return pieces

    def _repr_html_(self) -> str:
        """In a notebook: the text with words toward the label in green, against it in red."""
        spans = []
        for piece, score in self.highlighted():
            if not score:  # between words, or a word that pushed neither way
                spans.append(escape(piece))
                continue
            colour = f"rgba(34,139,34,{abs(score):.2f})" if score > 0 else f"rgba(220,20,60,{abs(score):.2f})"
            spans.append(f'<span style="background:{colour}" title="{score:+.3f}">{escape(piece)}</span>')
        return f"<p><b>{escape(self.label)}</b> ({self.probability:.3f}): {''.join(spans)}</p>"

    def __repr__(self) -> str:
        shown = ", ".join(f"{word!r} {score:+.3f}" for word, score in self.top(3))
        return f"Explanation({self.label!r} {self.probability:.3f}, toward it: {shown})"


def word_spans(text: str, offsets: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[int | None]]:
    """(word spans, word index of each token) from the tokenizer's character offsets. Tokens that touch in the
    text form one word ("wonderful!", "un##believ##able"); CJK characters stay one word each; special tokens get None."""
    spans, owners = [], []
    for start, end in offsets:
        if start == end:  # [CLS], [SEP], padding
            owners.append(None)
            continue
        touches = spans and start == spans[-1][1] and not _is_cjk(text[start]) and not _is_cjk(text[start - 1])
        if touches:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        owners.append(len(spans) - 1)
    return spans, owners


def _is_cjk(character: str) -> bool:
    return unicodedata.east_asian_width(character) == "W" and unicodedata.category(character).startswith("L")


def explain(
    model, tokenizer, text: str, method: str = DEFAULT_METHOD, max_tokens: int = MAX_EXPLAINED_TOKENS, forward=None
) -> Explanation:
    """Word attributions toward the model's predicted label for `text` (see the module's docstring).

    `forward(list of token-id lists) -> probabilities` runs the prediction and occlusion passes (the app passes its
    ONNX Runtime engine, so the explained label is the one it shows); by default the PyTorch model runs them."""
    if method not in METHODS:
        raise UserError(f"Unknown explanation method '{method}': use one of {', '.join(METHODS)}.")
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            "Explanations need a fast tokenizer (character offsets): load it with AutoTokenizer(use_fast=True)."
        )
    if not text or not text.strip():
        raise UserError("There is no text to explain: type or paste one.")
    model = model.eval()
    forward = forward or torch_forward(model, tokenizer)
    whole = tokenizer(text, truncation=False, verbose=False)["input_ids"]
    encoded = tokenizer(text, truncation=True, max_length=max_tokens, return_offsets_mapping=True)
    spans, word_of_token = word_spans(text, encoded["offset_mapping"])
    probabilities = np.asarray(forward([encoded["input_ids"]]))[0]
    target = int(probabilities.argmax())
    # Occlusion deletes one feature at a time: a word, or beyond MAX_OCCLUDED words a run of neighbouring words.
    run_length = -(-len(spans) // MAX_OCCLUDED) if method == "occlusion" else 1  # ceil
    features = [None if word is None else word // run_length for word in word_of_token]
    per_token = ATTRIBUTORS[method](model, forward, encoded["input_ids"], features, target)
    scores = [0.0] * len(spans)
    for word, score in zip(word_of_token, per_token):
        if word is not None:
            scores[word] += float(score)
    truncated = len(whole) > max_tokens
    shown = text[: spans[-1][1]] if truncated and spans else text
    return Explanation(
        text=shown,
        label=model.config.id2label[target],
        probability=float(probabilities[target]),
        words=[(shown[start:end], score) for (start, end), score in zip(spans, scores)],
        spans=spans,
        method=method,
        truncated=truncated,
        run_length=run_length,
    )


def torch_forward(model, tokenizer):
    """Probabilities from the PyTorch model for a list of token-id lists, padded together."""

    def forward(input_ids: list[list[int]]) -> np.ndarray:
        with torch.inference_mode():
            encoded = tokenizer.pad({"input_ids": input_ids}, return_tensors="pt")
            return torch.softmax(model(**encoded).logits.float(), dim=-1).numpy()

    return forward


def _occlusion(model, forward, input_ids: list[int], features: list[int | None], target: int) -> list[float]:
    """Captum's FeatureAblation with one feature per word (or run of words, as `features` groups them): p(label) of
    the text minus p(label) with the feature deleted. Each token gets its feature's drop divided by the feature's
    token count, so a feature's sum is its drop."""
    from captum.attr import FeatureAblation

    deleted = -1  # marks the tokens of the word being deleted; never a real token id

    def probability(batch: torch.Tensor) -> torch.Tensor:
        kept = [[token for token in row if token != deleted] for row in batch.tolist()]
        return torch.from_numpy(np.asarray(forward(kept), dtype=np.float64)[:, target])

    count = max((feature for feature in features if feature is not None), default=-1) + 1
    # Special tokens form one extra feature that is never deleted (its baseline is itself).
    mask = torch.tensor([[count if feature is None else feature for feature in features]])
    ids = torch.tensor([input_ids])
    baseline = torch.where(mask == count, ids, torch.full_like(ids, deleted))
    attributions = FeatureAblation(probability).attribute(
        ids, baselines=baseline, feature_mask=mask, perturbations_per_eval=OCCLUSION_BATCH
    )
    counts = torch.bincount(mask[0], minlength=count + 1).double()
    return (attributions[0].double() / counts[mask[0]]).tolist()


def _differentiable(model, target: int):
    """input_ids -> p(target) through the PyTorch model, every position attended: what gradients flow through."""

    def probability(input_ids: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(input_ids)
        return torch.softmax(model(input_ids=input_ids, attention_mask=mask).logits.float(), dim=-1)[:, target]

    return probability


def _integrated_gradients(model, forward, input_ids: list[int], features: list[int | None], target: int) -> list[float]:
    from captum.attr import LayerIntegratedGradients

    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    ids = torch.tensor([input_ids])
    special = torch.tensor([[feature is None for feature in features]])
    baseline = torch.where(special, ids, torch.full_like(ids, pad))  # [CLS] [PAD] ... [PAD] [SEP]
    attributions = LayerIntegratedGradients(_differentiable(model, target), model.get_input_embeddings()).attribute(
        ids, baselines=baseline, n_steps=IG_STEPS, internal_batch_size=IG_STEPS
    )
    return attributions.sum(dim=-1)[0].tolist()


def _gradient_x_input(model, forward, input_ids: list[int], features: list[int | None], target: int) -> list[float]:
    from captum.attr import LayerGradientXActivation

    attributions = LayerGradientXActivation(_differentiable(model, target), model.get_input_embeddings()).attribute(
        torch.tensor([input_ids])
    )
    return attributions.sum(dim=-1)[0].tolist()


ATTRIBUTORS = {
    "occlusion": _occlusion,
    "integrated_gradients": _integrated_gradients,
    "gradient_x_input": _gradient_x_input,
}
