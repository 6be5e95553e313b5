"""Training speed by precision on this machine's CPU: fp32 beside bf16, side by side, on three workloads.

    python -m bench.bench_precision               # all workloads, 50 steps each
    python -m bench.bench_precision --steps 20 --workloads minilm-sst2

Each workload runs `train.py` with its defaults for --steps training steps (one length-grouped
megabatch at 50; no evaluation or checkpoints inside the timed loop), once with --precision fp32 and
once with --precision bf16, each in its own process. It prints training samples/s, the ratio bf16 / fp32
(the baseline), the max_length the run chose, its batch (texts at a time x accumulation steps, which a
CPU run lowers when the longest batch would not fit in memory), and what --precision auto picks here.

Workloads: MiniLM-L6 from ../shared on SST-2 sentences; the bert-base architecture with random weights
(the compute of bert-base-uncased) on the same sentences; and the same architecture on ChnSentiCorp
reviews, read character by character as bert-base-chinese reads them, with max_length chosen from the
data up to 512 (speed only: a random encoder says nothing about accuracy).
"""

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from bench.common import (
    CHNSENTICORP,
    MINILM,
    SST2,
    UNTIMED_STEPS_OFF,
    machine_summary,
    peak_memory_gb,
    random_bert_base,
    run_child,
)

BATCH_SIZE = 32  # train.py's default
PRECISIONS = ("fp32", "bf16")  # fp32 is the baseline


def workload_files(name: str) -> tuple[Path, Path]:
    """(train file, validation file) of a workload."""
    data = CHNSENTICORP if name.endswith("chnsenticorp") else SST2
    return data / "train.tsv", data / "dev.tsv"


def workload_model(name: str) -> str:
    if name.startswith("minilm"):
        return str(MINILM)
    if name.endswith("chnsenticorp"):  # bert-base-chinese reads up to 512 tokens
        return random_bert_base(Path(tempfile.gettempdir()) / "bench-bert-base-random-512", model_max_length=512)
    return random_bert_base()


WORKLOADS = ("minilm-sst2", "bert-base-sst2", "bert-base-chnsenticorp")


def child(workload: str, precision: str, steps: int) -> None:
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    logging.basicConfig(level=logging.WARNING)
    train_file, validation_file = workload_files(workload)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as output_dir:
        facts = fine_tune(
            *parse_args(
                [
                    "--model_name_or_path",
                    workload_model(workload),
                    "--output_dir",
                    output_dir,
                    "--train_file",
                    str(train_file),
                    "--validation_file",
                    str(validation_file),
                    "--max_train_samples",
                    str(steps * BATCH_SIZE),
                    "--max_eval_samples",
                    "64",
                    "--max_steps",
                    str(steps),
                    "--precision",
                    precision,
                    *UNTIMED_STEPS_OFF,
                    "--calibrate",
                    "false",
                    "--find_label_issues",
                    "false",
                    "--export_onnx",
                    "false",
                    "--disable_tqdm",
                    "true",
                ]
            )
        )
    print(
        "RESULT "
        + json.dumps(
            {
                "samples_per_second": facts.training.train_samples_per_second,
                "max_length": facts.lengths.max_length,
                "precision": facts.training.precision,
                "peak_memory_gb": peak_memory_gb(),
                "batch": f"{facts.hyperparameters['per_device_train_batch_size']}x{facts.hyperparameters['gradient_accumulation_steps']}",
                "wall_seconds": time.monotonic() - started,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--steps", type=int, default=50, help="training steps per run (50: one length-grouped megabatch)"
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "PRECISION"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return child(*options.child, options.steps)
    from bert_sentiment.arguments import auto_precision

    chosen, reason = auto_precision(on_cpu=True)
    print(f"machine: {machine_summary()}\n--precision auto picks {chosen} here: {reason}")
    print(
        f"\n{'workload':<24} {'max_len':>7} {'batch':>7} {'fp32 samples/s':>15} {'bf16 samples/s':>15} {'bf16 / fp32':>12}"
    )
    for workload in options.workloads.split(","):
        if workload not in WORKLOADS:
            raise SystemExit(f"Unknown workload '{workload}': choose from {', '.join(WORKLOADS)}.")
        results = {
            precision: run_child(
                f"{workload} {precision}",
                ["-m", "bench.bench_precision", "--steps", str(options.steps), "--child", workload, precision],
            )
            for precision in PRECISIONS
        }
        fp32, bf16 = results["fp32"]["samples_per_second"], results["bf16"]["samples_per_second"]
        print(
            f"{workload:<24} {results['fp32']['max_length']:>7} {results['fp32']['batch']:>7} {fp32:>15.1f} {bf16:>15.1f} "
            f"{bf16 / fp32:>11.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
