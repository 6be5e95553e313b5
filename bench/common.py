"""What the benchmark scripts share: paths to ../shared and the random bert-base model."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BENCH_SHARED", ROOT.parent / "shared"))  # ../shared, or a copy named by BENCH_SHARED
MINILM = SHARED / "models/all-minilm-l6-v2"
SST2 = SHARED / "data/sst2"
CHNSENTICORP = SHARED / "data/chnsenticorp"


def sst2_flags(model: str, output_dir: str) -> list[str]:
    """train.py's flags for `model` on SST-2 (its train and dev files) into `output_dir`."""
    return [
        "--model_name_or_path",
        model,
        "--output_dir",
        output_dir,
        "--train_file",
        str(SST2 / "train.tsv"),
        "--validation_file",
        str(SST2 / "dev.tsv"),
    ]


# A run timed for speed alone: no evaluation, checkpoint or early stop inside the timed loop.
UNTIMED_STEPS_OFF = [
    "--eval_strategy",
    "no",
    "--save_strategy",
    "no",
    "--load_best_model_at_end",
    "false",
    "--early_stopping_patience",
    "0",
]


def random_bert_base(
    directory: Path | None = None, labels=("negative", "positive"), model_max_length: int = 128, onnx: bool = True
) -> str:
    """bert-base architecture (BertConfig defaults: the compute of bert-base-uncased) with random weights,
    a classification head with `labels`, and the uncased vocabulary (MiniLM's is bert-base-uncased's), whose
    tokenizer reads up to `model_max_length` tokens; with `onnx`, its ONNX files as publishing adds them."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    directory = directory or Path(tempfile.gettempdir()) / "bench-bert-base-random"
    if not (directory / "config.json").exists():
        config = BertConfig(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
        BertForSequenceClassification(config).save_pretrained(directory)
        AutoTokenizer.from_pretrained(MINILM, model_max_length=model_max_length).save_pretrained(directory)
    if (
        onnx and not (directory / "onnx" / "model_quantized.onnx").exists()
    ):  # as publishing adds them: the app finds them
        from bert_sentiment.onnx_export import SERVING_MARGIN, STOCK_TEXTS, export_graphs

        model = BertForSequenceClassification.from_pretrained(directory).eval()
        (directory / "onnx").mkdir(exist_ok=True)
        export_graphs(model, AutoTokenizer.from_pretrained(directory), directory / "onnx", STOCK_TEXTS, SERVING_MARGIN)
    return str(directory)


def sst2_model(given: str | None, scratch: str, samples: int) -> str:
    """An output_dir of train.py on SST-2: `given`, else MiniLM trained now in `scratch` on `samples` sentences
    with train.py's defaults for one epoch."""
    if given:
        return given
    from bert_sentiment.arguments import parse_args
    from bert_sentiment.fine_tune import fine_tune

    print(f"Training MiniLM on {samples:,} SST-2 sentences (train.py defaults, 1 epoch) ...", flush=True)
    output_dir = f"{scratch}/sst2"
    fine_tune(
        *parse_args(
            [
                "--model_name_or_path",
                str(MINILM),
                "--train_file",
                str(SST2 / "train.tsv"),
                "--validation_file",
                str(SST2 / "dev.tsv"),
                "--max_train_samples",
                str(samples),
                "--num_train_epochs",
                "1",
                "--output_dir",
                output_dir,
                "--disable_tqdm",
                "true",
            ]
        )
    )
    return output_dir


def sst2_dev() -> tuple[list[str], list[int]]:
    import csv

    with open(SST2 / "dev.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row["sentence"].strip() for row in rows], [int(row["label"]) for row in rows]


def run_child(recipe: str, command: list[str]) -> dict:
    """Run one recipe in its own process (so peak memory is its own); the dict it printed after 'RESULT '."""
    print(f"  running {recipe} ...", flush=True)
    output = subprocess.run([sys.executable, *command], check=False, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
    if output.returncode or not lines:
        sys.exit(f"{recipe} failed:\n{output.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


CPU_FLAGS_SHOWN = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def machine_summary() -> str:
    """The machine the figures come from: the GPU when one is used, and the CPU with the flags that decide speed."""
    import platform

    import torch

    from bert_sentiment.facts import _cpu_name
    from bert_sentiment.hardware import cpu_flags

    flags = cpu_flags()
    shown = " ".join(f"{flag}{'+' if flag in flags else '-'}" for flag in CPU_FLAGS_SHOWN)
    cpu = f"{_cpu_name()} ({platform.machine()}, {os.cpu_count()} cores), flags: {shown}"
    return f"GPU {torch.cuda.get_device_name(0)}; {cpu}" if torch.cuda.is_available() else cpu


def peak_memory_gb() -> float:
    """Peak GPU memory when a GPU is used, else this process's peak resident memory."""
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1024**3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
