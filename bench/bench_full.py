"""Full-data benchmark: train.py's defaults on the whole SST-2 training set, beside the tutorials' recipe.

    python -m bench.bench_full                          # both recipes, MiniLM from ../shared, all 67,349 sentences
    python -m bench.bench_full --recipe ours --flags "--learning_rate 1e-4"    # one recipe, with changed defaults
    python -m bench.bench_full --train_samples 4000     # a quick check of the script

Ours: `fine_tune()` exactly as `train.py` runs it (defaults: 3 epochs, early stopping, best checkpoint by
validation F1, --precision auto). Baseline: the Hugging Face tutorial's recipe (text padded to 128 tokens,
random batches, learning rate 2e-5) for one epoch on the same sentences (bench_train.run_tutorial).
Validation is SST-2 dev (872 sentences), the split published MiniLM and BERT figures report. Each recipe
runs in its own process, so peak memory is its own. The CPU's flags are printed with the figures.
"""

import argparse
import json
import logging
import shlex
import tempfile
import time

from bench.bench_train import BATCH_SIZE, run_tutorial
from bench.common import MINILM, machine_summary, peak_memory_gb, run_child, sst2_flags

PUBLISHED = "published SST-2 dev accuracy: MiniLM-L6-H384 91.5 (microsoft/unilm MiniLM README); BERT-base 92-93"


def run_ours(train_samples: int, extra_flags: list[str]) -> dict:
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    with tempfile.TemporaryDirectory() as output_dir:
        flags = [
            *sst2_flags(str(MINILM), output_dir),
            "--max_train_samples",
            str(train_samples),
            "--disable_tqdm",
            "true",
            "--logging_steps",
            "200",
            *extra_flags,
        ]
        facts = fine_tune(*parse_args(flags))
    return {
        "dev_accuracy": facts.results["validation"].metrics["accuracy"],
        "train_samples_per_second": facts.training.train_samples_per_second,
        "precision": f"{facts.training.precision} ({facts.training.precision_reason})",
        "epochs_run": facts.training.epochs_run,
        "best_step": facts.training.best_checkpoint_step,
        "evaluations": facts.training.evaluations,
        "max_length": facts.lengths.max_length,
    }


def child(recipe: str, train_samples: int, extra_flags: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    result = (
        run_ours(train_samples, extra_flags)
        if recipe == "ours"
        else run_tutorial(str(MINILM), train_samples, 1.0, None)
    )
    result["peak_memory_gb"] = peak_memory_gb()
    result["wall_minutes"] = (time.monotonic() - started) / 60
    print("RESULT " + json.dumps(result), flush=True)


def spawn(recipe: str, options) -> dict:
    return run_child(
        recipe,
        [
            "-m",
            "bench.bench_full",
            "--child",
            recipe,
            "--train_samples",
            str(options.train_samples),
            "--flags",
            options.flags,
        ],
    )


def report(results: dict, options) -> None:
    print(
        f"\nSST-2, {options.train_samples:,} training sentences at most, MiniLM-L6-H384, batch {BATCH_SIZE}; {machine_summary()}"
    )
    print(f"  {'recipe':<44} {'dev acc':>8} {'wall min':>9} {'samples/s':>10} {'peak GB':>8}")
    names = {
        "tutorial": "tutorial (padding=max_length 128, lr 2e-5, 1 ep)",
        "ours": f"ours (train.py defaults {options.flags})",
    }
    for recipe, result in results.items():
        print(
            f"  {names[recipe]:<44} {result['dev_accuracy']:>8.4f} {result['wall_minutes']:>9.1f} "
            f"{result['train_samples_per_second']:>10.1f} {result['peak_memory_gb']:>8.2f}"
        )
    if "ours" in results:
        ours = results["ours"]
        print(
            f"  ours: precision {ours['precision']}, max_length {ours['max_length']}, {ours['epochs_run']} epochs run, "
            f"best checkpoint at step {ours['best_step']}"
        )
        for entry in ours["evaluations"]:
            print(f"    epoch {entry['epoch']:.2f} (step {entry['step']}): dev accuracy {entry['eval_accuracy']:.4f}")
    if len(results) == 2:
        ratio = results["ours"]["train_samples_per_second"] / results["tutorial"]["train_samples_per_second"]
        gap = 100 * (results["ours"]["dev_accuracy"] - results["tutorial"]["dev_accuracy"])
        print(f"  throughput ratio ours / tutorial: {ratio:.2f}x; dev accuracy ours - tutorial: {gap:+.2f} points")
    print(f"  {PUBLISHED}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=["both", "ours", "tutorial"], default="both")
    parser.add_argument("--train_samples", type=int, default=67_349, help="SST-2 training sentences (all by default)")
    parser.add_argument("--flags", default="", help="extra train.py flags for ours, e.g. '--learning_rate 1e-4'")
    parser.add_argument("--child", choices=["ours", "tutorial"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return child(options.child, options.train_samples, shlex.split(options.flags))
    recipes = ["tutorial", "ours"] if options.recipe == "both" else [options.recipe]
    report({recipe: spawn(recipe, options) for recipe in recipes}, options)


if __name__ == "__main__":
    main()
