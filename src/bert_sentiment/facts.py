"""The facts of a run (data, model, settings, results, environment): one typed object, saved as run_facts.json.

Training fills a `RunFacts`; the model card, publishing, `--seeds` and the app read it back with
`RunFacts.load`. The helpers here (label examples, the headline split, metric rows) are the one
place those questions are answered.
"""

import dataclasses
import json
import logging
import math
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bert_sentiment.atomic import write_text_whole
from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

RESULTS_FILE = "run_facts.json"  # written last by a finished run
SCHEMA_VERSION = 2  # 2: schema_version recorded; files without it (version 1) read the same
# Two accuracies on the same n texts differ by noise alone within about 1.96 * sqrt((p1 q1 + p2 q2) / n) (95%).
NOISE_Z = 1.96
BASELINE_NAMES = {"majority_class": "majority class", "tfidf_logistic_regression": "TF-IDF + logistic regression"}
LIBRARIES = ("transformers", "torch", "datasets", "tokenizers", "accelerate", "huggingface_hub", "scikit-learn")
# Settings recorded for the card. An explicit list, so tokens and paths never reach the card.
HYPERPARAMETERS = (
    "learning_rate",
    "layer_lr_decay",
    "num_train_epochs",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "warmup_steps",
    "weight_decay",
    "lr_scheduler_type",
    "optim",
    "seed",
    "bf16",
    "fp16",
    "train_sampling_strategy",
    "metric_for_best_model",
    "early_stopping_patience",
    "class_weighting",
)


@dataclass
class RunFacts:
    """What one finished run knows about itself. Nested parts are plain JSON mappings:

    - data: source (hub id + commit, or files + sha256), text/label columns, sizes, label_counts, notes;
    - lengths: max_length, its reason, long_text mode, per-split length percentiles and truncation;
    - results: split -> {metrics, baselines, per_class, confusion_matrix, num_examples, label_examples};
    - training: the Trainer's train metrics, epochs, steps, processes, best checkpoint step.
    """

    base_model: str  # a Hub id, or a local model's folder name (base_model_local): never a path
    language: str
    label_names: list[str]
    data: dict
    lengths: dict
    hyperparameters: dict
    training: dict
    results: dict
    environment: dict
    started: str | None = None
    duration_seconds: float | None = None
    hp_search: dict | None = None
    seeds: dict | None = None
    calibration: dict | None = None  # temperature fitted on validation and folded into the head; None: not calibrated
    abstention: dict | None = None  # the 'not sure' threshold chosen on validation and its figures (abstain.py)
    label_issues: dict | None = None  # counts of likely label errors per split, and how they were found
    onnx: dict | None = None  # the ONNX files written and how they compared with PyTorch, or why none; None: not asked
    published: str | None = None
    phases: dict | None = None  # step -> {seconds, peak_memory_gb}: what each step of the run cost
    plan: dict | None = None  # what the run decided before the weights loaded (plan.RunPlan.facts)
    base_model_local: bool = False  # the base model was a local folder: no Hub link, no base_model metadata
    schema_version: int = SCHEMA_VERSION

    def save(self, output_dir: Path) -> Path:
        path = Path(output_dir) / RESULTS_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, output_dir: Path) -> "RunFacts":
        """The facts of the run in `output_dir` (or of a run_facts.json named directly)."""
        path = Path(output_dir)
        path = path / RESULTS_FILE if path.is_dir() else path
        if not path.is_file():
            raise UserError(f"'{path.parent}' holds no finished run ({RESULTS_FILE} is missing). Train first.")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise UserError(
                f"{path} is damaged ({err}): it was cut off or edited by hand. Run the training again, "
                "or restore the file."
            ) from None
        return cls.from_dict(values, source=path)

    @classmethod
    def from_dict(cls, values: dict, source: Path | str = "run facts") -> "RunFacts":
        found = values.get("schema_version", 1)
        if found > SCHEMA_VERSION:
            raise UserError(
                f"{source} was written by a newer bert-sentiment (facts schema {found}, this one reads up to "
                f"{SCHEMA_VERSION}). Upgrade: pip install -U bert-sentiment."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known} | {"schema_version": SCHEMA_VERSION})

    def to_dict(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}

    @property
    def has_onnx(self) -> bool:
        """Whether the run wrote checked ONNX files (not when the export was off or failed)."""
        return bool(self.onnx and self.onnx.get("files"))

    def baseline_not_beaten(self) -> dict | None:
        """On the headline split, when the TF-IDF baseline's accuracy is above the model's or within the noise of
        the split's size: {split, model, baseline, gap, noise, texts}; None when the model wins (or no baseline ran)."""
        split = self.headline_split
        report = self.results.get(split, {}) if split else {}
        baseline = report.get("baselines", {}).get("tfidf_logistic_regression")
        if not baseline:
            return None
        model, base, texts = report["metrics"]["accuracy"], baseline["accuracy"], report["num_examples"]
        noise = NOISE_Z * math.sqrt((model * (1 - model) + base * (1 - base)) / max(texts, 1))
        if model - base > noise:
            return None
        return {"split": split, "model": model, "baseline": base, "gap": model - base, "noise": noise, "texts": texts}

    @property
    def headline_split(self) -> str | None:
        """The split the card leads with: test when there is one (never tuned on), else validation."""
        return "test" if "test" in self.results else next(iter(self.results), None)

    def label_examples(self) -> dict[str, str]:
        """One real, correctly classified text per label, from the first split that has them."""
        for report in self.results.values():
            if report.get("label_examples"):
                return dict(report["label_examples"])
        return {}

    def metric_rows(self, split: str) -> dict[str, dict[str, float]]:
        """The model's metrics on `split`, then each baseline's, by display name."""
        report = self.results[split]
        rows = {"this model": report["metrics"]}
        rows |= {BASELINE_NAMES.get(name, name): metrics for name, metrics in report.get("baselines", {}).items()}
        return rows


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
    import torch

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
    return {
        name: value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
        for name, value in values.items()
    }


def write_json(path: Path, facts: dict) -> None:
    write_text_whole(path, json.dumps(facts, ensure_ascii=False, indent=2, default=str) + "\n")
    logger.info("Wrote %s", path)
