"""Texts longer than max_length: plain truncation, head+tail, or sliding windows whose probabilities are averaged.

- "truncate": the first max_length tokens (what pipeline(..., truncation=True) does).
- "head_tail": the first quarter and the last three quarters of the budget. Sun et al. (2019), "How to
  Fine-Tune BERT for Text Classification", found head 128 + tail 382 best on IMDB.
- "chunks": windows of max_length tokens overlapping by half; each is classified and the
  probabilities are averaged. Training then uses head+tail texts (one example per text).

The mode is saved in the model's config (`long_text`), so the app and users apply the training one.
Both cuts are made by the fast tokenizer itself (offsets, overflowing windows), for any encoder.
"""

from typing import Literal, get_args

import numpy as np

LongText = Literal["truncate", "head_tail", "chunks"]
LONG_TEXT_MODES = get_args(LongText)
HEAD_SHARE = 0.25  # of the token budget kept from the start; the rest comes from the end


def token_budget(tokenizer, max_length: int) -> int:
    return max_length - tokenizer.num_special_tokens_to_add()


def head_tail_texts(tokenizer, texts: list[str], max_length: int) -> list[str]:
    """Each text over the budget becomes its first and last tokens' text, joined by a space."""
    budget = token_budget(tokenizer, max_length)
    head = max(1, int(budget * HEAD_SHARE))
    offsets = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
    cut = []
    for text, spans in zip(texts, offsets):
        if len(spans) <= budget:
            cut.append(text)
        else:
            tail_start = spans[-(budget - head)][0]
            if tail_start and not text[tail_start - 1].isspace() and (space := text.find(" ", tail_start)) != -1:
                tail_start = space + 1  # start the tail at a word, not inside one (no effect without spaces)
            cut.append(text[: spans[head - 1][1]] + " " + text[tail_start:])
    return cut


def window_encodings(tokenizer, texts: list[str], max_length: int) -> tuple[dict, np.ndarray]:
    """(encodings of every window, the index of the text each window came from)."""
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        stride=max_length // 2,
        return_overflowing_tokens=True,
        verbose=False,
    )
    owners = np.asarray(encoded.pop("overflow_to_sample_mapping"))
    return encoded, owners


def average_by_owner(window_probabilities: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    """Mean probabilities of each text's windows."""
    totals = np.zeros((count, window_probabilities.shape[1]))
    np.add.at(totals, owners, window_probabilities)
    return totals / np.bincount(owners, minlength=count)[:, None]
