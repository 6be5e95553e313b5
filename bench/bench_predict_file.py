"""`bert-sentiment predict` on a big file: its throughput beside the app engine's, and a run killed halfway.

    python -m bench.bench_predict_file                      # MiniLM (random head), 100,000 SST-2 sentences
    python -m bench.bench_predict_file --model bert-base --texts 20000

In one process, side by side on the same texts: the app engine's in-process batch throughput
(`SentimentClassifier.predict` on every text in one call) and `predict_file` (reading the CSV, predicting chunk by
chunk, writing the output). Then the command itself in a child process, killed (SIGKILL) once half the rows are
written, and run again: the rows the second run predicted, and whether its output is the uninterrupted one.
Targets (issue 26): predict_file within 10% of the engine's throughput; the second run finishes without redoing
the done rows.
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_flood import minilm_classifier
from bench.common import ROOT, SST2, machine_summary, random_bert_base


def write_input(path: Path, count: int) -> list[str]:
    with open(SST2 / "train.tsv", encoding="utf-8") as handle:
        sentences = [row["sentence"].strip() for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    texts = [sentences[i % len(sentences)] for i in range(count)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review"])
        writer.writerows(enumerate(texts))
    return texts


def command(model: str, input_path: Path, output: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from bert_sentiment.cli import main; sys.exit(main(sys.argv[1:]))",
        "predict",
        "--model",
        model,
        "--input",
        str(input_path),
        "--output",
        str(output),
    ]


def killed_halfway(model: str, input_path: Path, output: Path, count: int) -> int:
    """Run the command until half the rows are written, kill it; the rows its progress file recorded."""
    from bert_sentiment.predict_file import Written, progress_file

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen(
        command(model, input_path, output), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    marker = progress_file(output)
    while child.poll() is None:
        if marker.exists():
            try:
                if Written(**json.loads(marker.read_text())).rows >= count // 2:
                    break
            except ValueError:  # replaced while read
                pass
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    return Written(**json.loads(marker.read_text())).rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("minilm", "bert-base"), default="minilm")
    parser.add_argument("--texts", type=int, default=100_000)
    args = parser.parse_args()

    from bert_sentiment.inference import load

    model = minilm_classifier() if args.model == "minilm" else random_bert_base(model_max_length=512)
    scratch = Path(tempfile.mkdtemp(prefix="bench-predict-file-"))
    texts = write_input(scratch / "reviews.csv", args.texts)
    print(
        f"Machine: {machine_summary()}\nModel: {args.model} (random head), ONNX Runtime int8; {args.texts:,} SST-2 "
        "training sentences",
        flush=True,
    )
    classifier = load(model)
    classifier.warm_up()
    started = time.perf_counter()
    classifier.predict(texts)
    engine = args.texts / (time.perf_counter() - started)
    started = time.perf_counter()
    classifier.predict_file(scratch / "reviews.csv", scratch / "whole.csv")
    from_file = args.texts / (time.perf_counter() - started)
    print(
        f"  app engine in process: {engine:,.0f} texts/s; predict_file: {from_file:,.0f} texts/s: "
        f"{from_file / engine:.2f}x (target >= 0.90x)",
        flush=True,
    )

    output = scratch / "predictions.csv"
    done = killed_halfway(model, scratch / "reviews.csv", output, args.texts)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    rerun = subprocess.run(command(model, scratch / "reviews.csv", output), env=env, capture_output=True, text=True)
    continued = f"holds the predictions of {done:,} rows already" in rerun.stderr
    same = output.read_bytes() == (scratch / "whole.csv").read_bytes()
    print(
        f"  killed with {done:,} of {args.texts:,} rows written; the second run (exit {rerun.returncode}) "
        f"{'continued from there' if continued else 'did NOT say it continued'}, predicting "
        f"{args.texts - done:,} rows; output identical to the uninterrupted run: {same}",
        flush=True,
    )


if __name__ == "__main__":
    main()
