"""What the steps around training cost at 10,000 to 400,000 texts: seconds per step, per 1,000 texts, peak memory.

    python -m bench.bench_scale                                   # MiniLM, 10k/105k/405k texts, --max_steps 5
    python -m bench.bench_scale --sizes 105000 --model bert-base  # the bert-base architecture (random weights)
    python -m bench.bench_scale --sizes 105000 --max_steps 0      # a real run: one epoch (slow)
    python -m bench.bench_scale --texts reviews --sizes 50000     # whole reviews: long texts

The texts are IMDB review sentences from ../shared (train and test reviews split at sentence ends, at least
three words, each labelled with its review's label), a held-out validation split carved from them as a user's
single file would be. Each size runs `train.py` with every default in its own process and reads the run's
step timings from run_facts.json (`phases`). With --max_steps the epoch is estimated from the measured
training speed, so "outside / epoch" is the share the issue's 10% target reads. CPU flags are printed.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import MINILM, ROOT, SHARED, machine_summary, random_bert_base

IMDB = SHARED / "data/imdb"
DATA_DIR = ROOT / "bench/results/scale"  # gitignored: the generated files stay local
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def imdb_sentences(count: int, seed: int = 0) -> Path:
    """A CSV of `count` IMDB sentences (text,label), shuffled; built once and kept in DATA_DIR."""
    import pandas as pd

    path = DATA_DIR / f"imdb_sentences_{count}.csv"
    if path.exists():
        return path
    reviews = pd.concat([pd.read_csv(IMDB / f"imdb_{split}.csv.gz") for split in ("train", "test")])
    texts, labels = [], []
    for review, label in zip(reviews["text"], reviews["label"]):
        for sentence in SENTENCE_END.split(review.replace("<br />", " ")):
            if len(sentence.split()) >= 3:
                texts.append(sentence.strip())
                labels.append("positive" if label == 1 else "negative")
    if count > len(texts):
        sys.exit(f"Only {len(texts):,} IMDB sentences; ask for at most that many.")
    chosen = np.random.default_rng(seed).permutation(len(texts))[:count]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": [texts[i] for i in chosen], "label": [labels[i] for i in chosen]}).to_csv(path, index=False)
    return path


def imdb_reviews(count: int, seed: int = 0) -> Path:
    """A CSV of `count` whole IMDB reviews (text,label), shuffled: the long texts (about 300 tokens on average)."""
    import pandas as pd

    path = DATA_DIR / f"imdb_reviews_{count}.csv"
    if path.exists():
        return path
    reviews = pd.concat([pd.read_csv(IMDB / f"imdb_{split}.csv.gz") for split in ("train", "test")])
    if count > len(reviews):
        sys.exit(f"Only {len(reviews):,} IMDB reviews; ask for at most that many.")
    chosen = reviews.sample(n=count, random_state=seed)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    labels = ["positive" if label == 1 else "negative" for label in chosen["label"]]
    pd.DataFrame({"text": chosen["text"].str.replace("<br />", " "), "label": labels}).to_csv(path, index=False)
    return path


def run_size(data: Path, model: str, max_steps: int, flags: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as output_dir, tempfile.TemporaryDirectory() as cache:
        command = [
            sys.executable,
            "train.py",
            "--train_file",
            str(data),
            "--model_name_or_path",
            model,
            "--output_dir",
            output_dir,
            "--disable_tqdm",
            "true",
            "--logging_steps",
            "1000",
            *flags,
        ]
        if max_steps:
            command += ["--max_steps", str(max_steps)]
        else:
            command += ["--num_train_epochs", "1"]
        started = time.monotonic()
        environment = {**os.environ, "HF_DATASETS_CACHE": cache}  # what a first run on the file costs
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=environment)
        (DATA_DIR / "last_run.log").write_text(done.stderr)  # the run's own log, for its step-by-step timings
        if done.returncode:
            sys.exit(f"train.py failed:\n{done.stderr[-4000:]}")
        facts = json.loads((Path(output_dir) / "run_facts.json").read_text())
    facts["wall_seconds"] = time.monotonic() - started
    # The run's own estimate from its first measured steps, to set beside the seconds measured.
    facts["estimate"] = next((line for line in done.stderr.splitlines() if "Measured " in line), None)
    return facts


QUIET = [
    "--find_label_issues",
    "false",
    "--export_onnx",
    "false",
    "--calibrate",
    "false",
    "--eval_strategy",
    "no",
    "--save_strategy",
    "no",
    "--load_best_model_at_end",
    "false",
]


def steady_speed(data: Path, model: str, flags: list[str]) -> float:
    """Texts per second once training runs: the difference between a 45-step and a 5-step run, so start-up costs
    (which dominate a 5-step run's own figure) cancel."""
    runtime = {}
    for steps in (5, 45):
        facts = run_size(data, model, steps, [*flags, *QUIET])
        runtime[steps], batch = (
            facts["training"]["train_runtime"],
            facts["hyperparameters"]["per_device_train_batch_size"],
        )
    return 40 * batch * facts["hyperparameters"]["gradient_accumulation_steps"] / (runtime[45] - runtime[5])


def report(size: int, facts: dict, max_steps: int, speed: float) -> None:
    phases = facts["phases"]
    train_texts = facts["data"]["sizes"]["train"]
    epoch = train_texts / speed
    outside = sum(
        entry["seconds"] for name, entry in phases.items() if name not in ("training", "data", "model loading")
    )
    print(
        f"\n{size:,} texts ({train_texts:,} train, {facts['data']['sizes']['validation']:,} validation), "
        f"{'--max_steps ' + str(max_steps) if max_steps else 'one epoch'}; training at {speed:.1f} texts/s "
        f"(steady), so one epoch ~{epoch:,.0f} s"
    )
    print(f"  {'step':<28} {'seconds':>9} {'s per 1,000 training texts':>27} {'peak GB':>8}")
    for name, entry in phases.items():
        print(
            f"  {name:<28} {entry['seconds']:>9.1f} {1000 * entry['seconds'] / train_texts:>27.3f} "
            f"{entry['peak_memory_gb']:>8.2f}"
        )
    print(
        f"  outside training (data and model loading excluded): {outside:.1f} s = {outside / epoch:.1%} of one "
        f"epoch; wall {facts['wall_seconds']:.0f} s"
    )
    notes = {
        "label issues": facts.get("label_issues", {}).get("train_sample"),
        "baseline": facts["data"].get("baseline_sample"),
    }
    print(f"  samples: {json.dumps({k: v for k, v in notes.items() if v})}")
    if facts.get("estimate"):
        print(f"  the run's estimate after its first steps: {facts['estimate'].split('Measured ', 1)[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        default="10000,105000,405000",
        help="comma-separated numbers of texts (10%, at most 5,000, held out for validation)",
    )
    parser.add_argument("--model", choices=("minilm", "bert-base"), default="minilm")
    parser.add_argument(
        "--texts",
        choices=("sentences", "reviews"),
        default="sentences",
        help="IMDB review sentences, or whole reviews (long texts; at most 50,000)",
    )
    parser.add_argument("--max_steps", type=int, default=5, help="0: one real epoch")
    parser.add_argument("--flags", default="", help="more train.py flags")
    parser.add_argument("--speed", type=float, help="steady training texts/s measured earlier (skips measuring it)")
    options = parser.parse_args()
    model = str(MINILM) if options.model == "minilm" else random_bert_base(model_max_length=512)
    print(f"bench_scale: {options.model}; {machine_summary()}")
    sizes = [int(s) for s in options.sizes.split(",")]
    texts = imdb_sentences if options.texts == "sentences" else imdb_reviews
    speed = options.speed or (
        steady_speed(texts(min(sizes)), model, options.flags.split()) if options.max_steps else None
    )
    for size in sizes:
        facts = run_size(texts(size), model, options.max_steps, options.flags.split())
        report(
            size,
            facts,
            options.max_steps,
            speed if options.max_steps else facts["training"]["train_samples_per_second"],
        )


if __name__ == "__main__":
    main()
