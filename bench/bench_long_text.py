"""Long documents on IMDB: plain truncation vs head+tail vs averaged windows, on reviews longer than max_length.

    python bench/bench_long_text.py

MiniLM (../shared) is fine-tuned by train.py on a random --train_samples IMDB training reviews for
1 epoch at --max_length tokens, once with --long_text truncate and once with head_tail (what the
chunks mode trains on). Each model is then evaluated through the app's prediction path on
--test_samples random IMDB test reviews longer than max_length: the truncate-trained model with
plain truncation, the head_tail-trained one with head+tail and with windows (chunks).
"""

import argparse
import csv
import gzip
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import MINILM, SHARED  # noqa: E402

IMDB = SHARED / "data/imdb"


def long_test_reviews(tokenizer, count: int, max_length: int, seed: int) -> tuple[list[str], list[int]]:
    with gzip.open(IMDB / "imdb_test.csv.gz", "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(seed).shuffle(rows)
    texts, labels = [], []
    for row in rows:
        if len(tokenizer(row["text"], verbose=False)["input_ids"]) > max_length:
            texts.append(row["text"])
            labels.append(int(row["label"]))
        if len(texts) == count:
            break
    return texts, labels


def train_model(mode: str, output_dir: str, options) -> None:
    from src.arguments import parse_args
    from src.fine_tune import fine_tune

    flags = ["--model_name_or_path", str(MINILM), "--train_file", str(IMDB / "imdb_train.csv.gz"),
             "--max_train_samples", str(options.train_samples), "--max_eval_samples", "200", "--num_train_epochs", "1",
             "--max_seq_length", str(options.max_length), "--long_text", mode, "--output_dir", output_dir,
             "--disable_tqdm", "true"]  # fmt: skip
    fine_tune(*parse_args(flags))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_samples", type=int, default=1500)
    parser.add_argument("--test_samples", type=int, default=300)
    parser.add_argument("--max_length", type=int, default=128)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    from src.inference import SentimentClassifier

    texts, labels = long_test_reviews(AutoTokenizer.from_pretrained(MINILM), options.test_samples, options.max_length, 0)
    print(f"IMDB, MiniLM, {options.train_samples} training reviews, 1 epoch, max_length {options.max_length}; "
          f"{len(texts)} test reviews longer than {options.max_length} tokens")  # fmt: skip
    print(f"  {'trained with':<12} {'read with':<10} {'accuracy':>8} {'seconds':>8}")
    for trained, evaluated in (("truncate", ["truncate"]), ("head_tail", ["head_tail", "chunks"])):
        with tempfile.TemporaryDirectory() as output_dir:
            train_model(trained, output_dir, options)
            for mode in evaluated:
                started = time.perf_counter()
                predictions = SentimentClassifier(output_dir, quantize=False, long_text=mode).predict(texts)
                accuracy = np.mean([["negative", "positive"].index(p.label) == y for p, y in zip(predictions, labels)])
                print(f"  {trained:<12} {mode:<10} {accuracy:>8.4f} {time.perf_counter() - started:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
