"""How much of a text should a published model read? An SST-2-trained MiniLM on IMDB reviews, read at its
training max_length (what the saved tokenizer capped plain pipeline() calls at until 2026-11) vs at 512.

    python -m bench.bench_inference_length                        # train on 8,000 SST-2 sentences, read 500 reviews
    python -m bench.bench_inference_length --model out/sst2       # read with a model trained earlier

SST-2 sentences are short (train.py picks max_length 48), IMDB reviews long (median about 230 tokens),
so this is the case a user meets who trains on short texts and publishes. Each reading is timed; every
one uses the app's prediction path (bert_sentiment.inference, fp32) with the long-text mode named.
"""

import argparse
import csv
import gzip
import logging
import random
import tempfile
import time

import numpy as np

from bench.common import SHARED, machine_summary, sst2_model

IMDB = SHARED / "data/imdb"
READINGS = [
    ("truncate", "train"),
    ("truncate", 512),
    ("head_tail", "train"),
    ("head_tail", 512),
    ("chunks", "train"),
    ("chunks", 512),
]


def imdb_reviews(count: int, seed: int) -> tuple[list[str], list[int]]:
    with gzip.open(IMDB / "imdb_test.csv.gz", "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows = random.Random(seed).sample(rows, count)
    return [row["text"].replace("<br />", " ") for row in rows], [int(row["label"]) for row in rows]


def read(model: str, mode: str, max_length: int, texts: list[str], labels: list[int]) -> tuple[float, float]:
    """(accuracy, seconds) reading `texts` by `mode` with at most `max_length` tokens per window."""
    from bert_sentiment.inference import SentimentClassifier

    classifier = SentimentClassifier(model, quantize=False, long_text=mode)
    classifier.max_length = max_length
    started = time.perf_counter()
    predictions = classifier.predict(texts)
    seconds = time.perf_counter() - started
    return float(np.mean([classifier.labels.index(p.label) == y for p, y in zip(predictions, labels)])), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="an output_dir of train.py on SST-2 (default: train one now)")
    parser.add_argument("--train_samples", type=int, default=8000)
    parser.add_argument("--reviews", type=int, default=500)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        model = sst2_model(options.model, scratch, options.train_samples)
        from bert_sentiment.facts import RunFacts

        trained_length = RunFacts.load(model).lengths.max_length
        texts, labels = imdb_reviews(options.reviews, seed=0)
        lengths = np.array(
            [len(ids) for ids in AutoTokenizer.from_pretrained(model)(texts, verbose=False)["input_ids"]]
        )
        print(
            f"{machine_summary()}\n{len(texts)} random IMDB test reviews: median {np.median(lengths):.0f} tokens, "
            f"{(lengths > trained_length).mean():.0%} longer than the training max_length {trained_length}, "
            f"{(lengths > 512).mean():.0%} longer than 512"
        )
        print(f"  {'read with':<10} {'tokens':>7} {'accuracy':>9} {'seconds':>8}")
        baseline = None
        for mode, length in READINGS:
            tokens = trained_length if length == "train" else length
            accuracy, seconds = read(model, mode, tokens, texts, labels)
            baseline = baseline if baseline is not None else accuracy
            print(
                f"  {mode:<10} {tokens:>7} {accuracy:>9.4f} {seconds:>8.1f}   {100 * (accuracy - baseline):+.2f} points",
                flush=True,
            )


if __name__ == "__main__":
    main()
