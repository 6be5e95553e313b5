"""Training benchmark: our defaults vs the tutorials' recipe, side by side on the same sentences.

Baseline ("tutorial"): Trainer on text tokenized with padding="max_length", max_length=128,
random batches, learning rate 2e-5 (the Hugging Face tutorial's), and our batch size, epochs and
weight decay. Ours: `fine_tune()` exactly as `train.py` runs it with its defaults (dynamic padding,
length-grouped batches, max_length from the data, 10% warmup, learning rate 5e-5, best checkpoint).

    python -m bench.bench_train                      # both parts, defaults below
    python -m bench.bench_train --part speed         # bert-base architecture only

Part "accuracy": the real pretrained MiniLM encoder in ../shared fine-tuned on SST-2 (a random
subset of --train_samples sentences, --epochs epochs); prints dev accuracy, training samples/s and
peak memory. Part "speed": the bert-base architecture with random weights (the same compute as
bert-base-uncased), --speed_steps training steps each; prints samples/s and the ratio.
Each configuration runs in a fresh child process, so peak memory is its own.
"""

import argparse
import json
import logging
import shlex
import sys
import tempfile
import time

from bench.common import (
    MINILM,
    SST2,
    UNTIMED_STEPS_OFF,
    machine_summary,
    peak_memory_gb,
    random_bert_base,
    run_child,
    sst2_flags,
)

BATCH_SIZE = 32  # ours and the tutorial's alike
TUTORIAL_LEARNING_RATE = 2e-5  # the Hugging Face text-classification tutorial's; ours is train.py's default


def common_flags(model: str, output_dir: str, train_samples: int) -> list[str]:
    return sst2_flags(model, output_dir) + [
        "--max_train_samples",
        str(train_samples),
        "--per_device_train_batch_size",
        str(BATCH_SIZE),
        "--disable_tqdm",
        "true",
        "--logging_steps",
        "100",
    ]


def run_ours(model: str, train_samples: int, epochs: float, max_steps: int | None, extra_flags=()) -> dict:
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    with tempfile.TemporaryDirectory() as output_dir:
        flags = common_flags(model, output_dir, train_samples) + ["--num_train_epochs", str(epochs), *extra_flags]
        if max_steps:  # speed only: no evaluation or checkpoints inside the timed loop
            flags += ["--max_steps", str(max_steps), *UNTIMED_STEPS_OFF]
        facts = fine_tune(*parse_args(flags))
    return {
        "dev_accuracy": facts.results["validation"].metrics["accuracy"],
        "train_samples_per_second": facts.training.train_samples_per_second,
        "max_length": facts.lengths.max_length,
        "precision": facts.training.precision,
    }


def run_tutorial(model: str, train_samples: int, epochs: float, max_steps: int | None) -> dict:
    import numpy as np
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    from bert_sentiment.arguments import parse_args
    from bert_sentiment.data import load_raw_splits
    from bert_sentiment.prepare import prepare_splits

    _, data_args, _ = parse_args(common_flags(model, "unused", train_samples))
    splits = prepare_splits(load_raw_splits(data_args)[0], data_args, seed=42).splits  # the same sentences as ours
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenized = splits.map(
        lambda batch: tokenizer(batch["text"], padding="max_length", truncation=True, max_length=128), batched=True
    )
    network = AutoModelForSequenceClassification.from_pretrained(model, num_labels=2)
    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir,
            learning_rate=TUTORIAL_LEARNING_RATE,
            per_device_train_batch_size=BATCH_SIZE,
            per_device_eval_batch_size=64,
            num_train_epochs=epochs,
            max_steps=max_steps or -1,
            weight_decay=0.01,
            eval_strategy="no" if max_steps else "epoch",
            save_strategy="no",
            report_to="none",
            seed=42,
            disable_tqdm=True,
            logging_steps=100,
        )
        trainer = Trainer(
            model=network,
            args=args,
            train_dataset=tokenized["train"],
            eval_dataset=tokenized["validation"],
            compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())},
        )
        train_metrics = trainer.train().metrics
        accuracy = trainer.evaluate()["eval_accuracy"]
    return {
        "dev_accuracy": accuracy,
        "train_samples_per_second": train_metrics["train_samples_per_second"],
        "max_length": 128,
    }


def child(
    recipe: str, model: str, train_samples: int, epochs: float, max_steps: int | None, extra_flags: list[str]
) -> None:
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    result = (
        run_ours(model, train_samples, epochs, max_steps, extra_flags)
        if recipe == "ours"
        else run_tutorial(model, train_samples, epochs, max_steps)
    )
    result["peak_memory_gb"] = peak_memory_gb()
    result["wall_seconds"] = time.monotonic() - started
    print("RESULT " + json.dumps(result), flush=True)


def spawn(recipe: str, model: str, options) -> dict:
    command = [
        "-m",
        "bench.bench_train",
        "--child",
        recipe,
        "--model",
        model,
        "--train_samples",
        str(options.train_samples),
        "--epochs",
        str(options.epochs),
        "--flags",
        options.flags,
    ]
    if options.part == "speed-child":
        command += ["--max_steps", str(options.speed_steps if recipe == "ours" else options.baseline_speed_steps)]
    return run_child(recipe, command)


def report(title: str, ours: dict, tutorial: dict, show_accuracy: bool) -> None:
    print(f"\n{title}")
    print(
        f"  {'recipe':<38} {'max_len':>7} {'samples/s':>10} {'peak GB':>8}"
        + (f" {'dev acc':>8}" if show_accuracy else "")
    )
    for name, result in (("tutorial (padding=max_length, 128)", tutorial), ("ours (train.py defaults)", ours)):
        row = f"  {name:<38} {result['max_length']:>7} {result['train_samples_per_second']:>10.1f} {result['peak_memory_gb']:>8.2f}"
        print(row + (f" {result['dev_accuracy']:>8.4f}" if show_accuracy else ""))
    ratio = ours["train_samples_per_second"] / tutorial["train_samples_per_second"]
    print(
        f"  throughput ratio ours / tutorial: {ratio:.2f}x; ours trained in {ours['precision']}, the tutorial in fp32"
    )
    print(f"  machine: {machine_summary()}")
    if show_accuracy:
        print(
            f"  dev accuracy difference ours - tutorial: {100 * (ours['dev_accuracy'] - tutorial['dev_accuracy']):+.2f} points"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["all", "accuracy", "speed"], default="all")
    parser.add_argument("--train_samples", type=int, default=4000, help="SST-2 training sentences (random subset)")
    parser.add_argument("--epochs", type=float, default=1.0, help="epochs for the accuracy part")
    parser.add_argument(
        "--speed_steps",
        type=int,
        default=50,
        help="steps for ours in the speed part: 50 is one full length-grouped megabatch",
    )
    parser.add_argument(
        "--baseline_speed_steps",
        type=int,
        default=10,
        help="steps for the tutorial in the speed part: padded-128 batches cost the same on any sentences",
    )
    parser.add_argument("--flags", default="", help="extra train.py flags for ours, e.g. '--precision fp32'")
    parser.add_argument("--child", choices=["ours", "tutorial"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--max_steps", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return child(
            options.child,
            options.model,
            options.train_samples,
            options.epochs,
            options.max_steps,
            shlex.split(options.flags),
        )
    if not MINILM.is_dir() or not SST2.is_dir():
        sys.exit(f"This benchmark needs {MINILM} and {SST2}.")
    if options.part in ("all", "accuracy"):
        print(
            f"MiniLM-L6 (pretrained) on SST-2: {options.train_samples} training sentences, {options.epochs:g} epoch(s)"
        )
        results = {recipe: spawn(recipe, str(MINILM), options) for recipe in ("tutorial", "ours")}
        report("Accuracy part (SST-2 dev, 872 sentences):", results["ours"], results["tutorial"], True)
    if options.part in ("all", "speed"):
        print(
            f"\nbert-base architecture (random weights), batch {BATCH_SIZE}: ours {options.speed_steps} steps, "
            f"tutorial {options.baseline_speed_steps} steps, from the same sentences"
        )
        model = random_bert_base()
        options.part = "speed-child"
        results = {recipe: spawn(recipe, model, options) for recipe in ("tutorial", "ours")}
        report("Speed part (training throughput):", results["ours"], results["tutorial"], False)


if __name__ == "__main__":
    main()
