"""Token lengths of the data, and the max_length chosen from them."""

import logging
import math

import numpy as np

from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

PERCENTILES = (50, 90, 95, 99)
COVERED_PERCENTILE = 99  # the default max_length fits this share of training texts whole
ROUND_TO = 8  # lengths that are multiples of 8 run faster on tensor cores and CPU vector units


def token_lengths(tokenizer, texts: list[str], batch_size: int = 1000) -> np.ndarray:
    """Tokens per text, special tokens included, without truncation."""
    lengths = []
    for start in range(0, len(texts), batch_size):
        # verbose=False: texts over the model limit are expected here; we count them, nothing is fed to the model
        encoded = tokenizer(texts[start : start + batch_size], add_special_tokens=True, truncation=False, verbose=False)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return np.asarray(lengths)


def model_length_limit(tokenizer, config) -> int:
    """The longest input the model accepts (position embeddings), whatever the tokenizer claims."""
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    return int(min(limit for limit in limits if limit and limit < 1_000_000))


def choose_max_length(train_lengths: np.ndarray, requested: int | None, limit: int) -> tuple[int, str]:
    """(max_length, reason): the user's value if given, else the 99th percentile rounded up."""
    if requested is not None:
        if not 8 <= requested <= limit:
            raise UserError(f"--max_seq_length {requested} must be between 8 and the model's limit of {limit}.")
        return requested, "--max_seq_length"
    covering = float(np.percentile(train_lengths, COVERED_PERCENTILE))
    chosen = min(limit, max(ROUND_TO, math.ceil(covering / ROUND_TO) * ROUND_TO))
    reason = f"{COVERED_PERCENTILE}th percentile of training token lengths ({covering:.0f}), rounded up to {ROUND_TO}"
    if chosen == limit:
        reason += f", capped at the model's limit of {limit}"
    return chosen, reason


def choose_inference_length(requested: int | None, limit: int) -> tuple[int, str]:
    """(tokens read per text at prediction time, reason): the whole text up to the model's limit unless pinned."""
    if requested is None:
        return limit, f"the model's position limit: whole texts are read up to {limit} tokens"
    if not 8 <= requested <= limit:
        raise UserError(f"--inference_max_length {requested} must be between 8 and the model's limit of {limit}.")
    return requested, "--inference_max_length"


def length_report(lengths_by_split: dict[str, np.ndarray], max_length: int, reason: str) -> dict:
    """Percentiles and truncation counts per split, logged and returned for the results."""
    report = {"max_length": max_length, "max_length_reason": reason, "splits": {}}
    lines = [f"max_length = {max_length} ({reason}). Token lengths:"]
    for name, lengths in lengths_by_split.items():
        percentiles = {f"p{p}": int(np.percentile(lengths, p)) for p in PERCENTILES}
        truncated = int((lengths > max_length).sum())
        report["splits"][name] = {
            **percentiles,
            "max": int(lengths.max()),
            "mean": round(float(lengths.mean()), 1),
            "truncated": truncated,
        }
        shown = "  ".join(f"{key} {value}" for key, value in percentiles.items())
        lines.append(
            f"  {name:<10} {shown}  max {lengths.max()}  truncated {truncated:,} of {len(lengths):,} "
            f"({truncated / len(lengths):.1%})"
        )
    logger.info("\n".join(lines))
    return report
