"""Data-parallel training for real: torchrun, two CPU processes, the gloo backend, a tiny model."""

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import english_reviews, quick_training_flags, write_csv

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_torchrun_two_processes_split_the_data_gather_the_metrics_and_write_once(tiny_bert, tmp_path):
    train = write_csv(tmp_path / "reviews.csv", english_reviews(240))
    test = write_csv(tmp_path / "test.csv", english_reviews(50, seed=4))
    out = tmp_path / "out"
    flags = [
        "--train_file",
        train,
        "--test_file",
        test,
        *quick_training_flags(tiny_bert, out),
        "--num_train_epochs",
        "3",
    ]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        "train.py",
        *map(str, flags),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]

    facts = json.loads((out / "run_facts.json").read_text())
    train_rows, batch = facts["data"]["sizes"]["train"], 16
    # Both processes trained: each step consumed a batch per process, so the epoch took half the steps.
    assert facts["training"]["epochs_run"] == 3.0
    assert facts["training"]["processes"] == 2
    assert facts["training"]["global_steps"] == 3 * math.ceil(train_rows / (2 * batch))
    # Evaluation was gathered over the whole sets, not one process's shard.
    assert facts["results"]["validation"]["num_examples"] == facts["data"]["sizes"]["validation"]
    assert facts["results"]["test"]["num_examples"] == 50
    assert sum(sum(row) for row in facts["results"]["test"]["confusion_matrix"]["matrix"]) == 50
    # Only the main process wrote the model, the facts and the card.
    assert "[rank 0]" in log and "[rank 1]" in log
    assert log.count("Wrote the model card") == 1 and log.count(f"Wrote {out / 'run_facts.json'}") == 1
    assert "[rank 1] INFO bert_sentiment.facts: Wrote" not in log
    assert len(list(out.glob("*.safetensors"))) == 1 and (out / "README.md").is_file()
