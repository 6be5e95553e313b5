"""Long documents on IMDB: plain truncation vs head+tail vs averaged windows, on reviews longer than max_length.

    python -m bench.bench_long_text                      # 3 seeds, max_length 128
    python -m bench.bench_long_text --max_length 256 --seeds 1

MiniLM (../shared) is fine-tuned by train.py on --train_samples random IMDB training reviews,
--epochs epochs at --learning_rate (above the default 5e-5: in so few steps this small encoder
otherwise stays near chance) and --max_length tokens, once with --long_text truncate and once with
head_tail (what the chunks mode also trains on), for each seed. Every model is then read all three
ways through the app's prediction path (fp32) on --test_samples random IMDB test reviews longer than
max_length: its first max_length tokens (truncate), head+tail, and averaged windows (chunks). The
baseline is the first cell, trained and read by plain truncation: what the tutorials do.
"""

import argparse
import csv
import gzip
import logging
import random
import tempfile
import time

import numpy as np

from bench.common import MINILM, SHARED

IMDB = SHARED / "data/imdb"
TRAINED = ("truncate", "head_tail")  # chunks trains on head+tail texts: the same model as head_tail
READ = ("truncate", "head_tail", "chunks")


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


def train_model(mode: str, seed: int, output_dir: str, options) -> float:
    """Seconds spent fine-tuning MiniLM with --long_text `mode`."""
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    flags = [
        "--model_name_or_path",
        str(MINILM),
        "--train_file",
        str(IMDB / "imdb_train.csv.gz"),
        "--max_train_samples",
        str(options.train_samples),
        "--max_eval_samples",
        "200",
        "--num_train_epochs",
        str(options.epochs),
        "--learning_rate",
        str(options.learning_rate),
        "--max_seq_length",
        str(options.max_length),
        "--long_text",
        mode,
        "--seed",
        str(seed),
        "--split_seed",
        "0",
        "--output_dir",
        output_dir,
        "--disable_tqdm",
        "true",
    ]
    started = time.perf_counter()
    fine_tune(*parse_args(flags))
    return time.perf_counter() - started


def read_model(output_dir: str, mode: str, texts: list[str], labels: list[int]) -> tuple[float, float]:
    """(accuracy, seconds) of the model at `output_dir` reading `texts` by `mode`."""
    from bert_sentiment.inference import SentimentClassifier

    classifier = SentimentClassifier(output_dir, quantize=False, long_text=mode)
    started = time.perf_counter()
    predictions = classifier.predict(texts)
    seconds = time.perf_counter() - started
    return float(np.mean([classifier.labels.index(p.label) == y for p, y in zip(predictions, labels)])), seconds


def print_summary(accuracy: dict, seconds: dict, seeds: list[int]) -> None:
    baseline = np.mean(accuracy["truncate", "truncate"])
    spread = "mean ± std over seeds " + ", ".join(map(str, seeds)) if len(seeds) > 1 else f"seed {seeds[0]}"
    print(f"\nSummary ({spread}); baseline: trained and read by truncation, {baseline:.4f}")
    print(f"  {'trained with':<12} {'read with':<10} {'accuracy':>16} {'vs baseline':>12} {'seconds':>8}")
    for cell, values in accuracy.items():
        std = f" ± {np.std(values, ddof=1):.4f}" if len(values) > 1 else ""
        mean = np.mean(values)
        print(
            f"  {cell[0]:<12} {cell[1]:<10} {f'{mean:.4f}{std}':>16} {(mean - baseline) * 100:>+11.2f}p "
            f"{np.mean(seconds[cell]):>8.1f}"
        )
    print("Reading gain on the same model (points, paired by seed):")
    for trained in TRAINED:
        for read in READ[1:]:
            gains = 100 * (np.array(accuracy[trained, read]) - np.array(accuracy[trained, "truncate"]))
            std = f" ± {np.std(gains, ddof=1):.2f}" if len(gains) > 1 else ""
            print(f"  {trained:<12} {read:<10} vs truncate {np.mean(gains):>+6.2f}{std}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_samples", type=int, default=1500)
    parser.add_argument("--test_samples", type=int, default=300)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 42, 43, ...")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    texts, labels = long_test_reviews(tokenizer, options.test_samples, options.max_length, seed=0)
    print(
        f"IMDB, MiniLM, {options.train_samples} training reviews, {options.epochs:g} epochs at lr {options.learning_rate:g}, "
        f"max_length {options.max_length}; "
        f"{len(texts)} test reviews longer than {options.max_length} tokens"
    )
    print(f"  {'seed':>4} {'trained with':<12} {'train s':>8} {'read with':<10} {'accuracy':>8} {'seconds':>8}")
    seeds = [42 + i for i in range(options.seeds)]
    accuracy = {(trained, read): [] for trained in TRAINED for read in READ}
    seconds = {cell: [] for cell in accuracy}
    for seed in seeds:
        for trained in TRAINED:
            with tempfile.TemporaryDirectory() as output_dir:
                training_seconds = train_model(trained, seed, output_dir, options)
                for read in READ:
                    score, took = read_model(output_dir, read, texts, labels)
                    accuracy[trained, read].append(score)
                    seconds[trained, read].append(took)
                    print(
                        f"  {seed:>4} {trained:<12} {training_seconds:>8.0f} {read:<10} {score:>8.4f} {took:>8.1f}",
                        flush=True,
                    )
    print_summary(accuracy, seconds, seeds)


if __name__ == "__main__":
    main()
