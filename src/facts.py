"""The facts of a run (data, model, settings, results, environment), saved for the model card."""

import json
import logging
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

LIBRARIES = ("transformers", "torch", "datasets", "tokenizers", "accelerate", "huggingface_hub", "scikit-learn")
# Settings recorded for the card. An explicit list, so tokens and paths never reach the card.
HYPERPARAMETERS = (
    "learning_rate", "num_train_epochs", "per_device_train_batch_size", "per_device_eval_batch_size",
    "gradient_accumulation_steps", "warmup_steps", "weight_decay", "lr_scheduler_type", "optim", "seed",
    "bf16", "fp16", "train_sampling_strategy", "metric_for_best_model", "early_stopping_patience",
    "class_weighting",
)  # fmt: skip


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for library in LIBRARIES:
        try:
            versions[library] = version(library)
        except PackageNotFoundError:
            continue
    return versions


def hardware() -> dict:
    facts = {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "platform": platform.platform(terse=True)}
    if torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["gpu_count"] = torch.cuda.device_count()
    return facts


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def hyperparameters(training_args) -> dict:
    values = {name: getattr(training_args, name) for name in HYPERPARAMETERS}
    return {name: value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
            for name, value in values.items()}  # fmt: skip


def write_json(path: Path, facts: dict) -> None:
    path.write_text(json.dumps(facts, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    logger.info("Wrote %s", path)
