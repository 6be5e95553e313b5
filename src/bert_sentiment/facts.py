"""The facts of a run (data, model, settings, results, environment): one typed object, saved as run_facts.json.

Training fills a `RunFacts`; the model card, publishing, `--seeds` and the app read it back with
`RunFacts.load`. The helpers here (label examples, the headline split, metric rows) are the one
place those questions are answered.
"""

import copy
import dataclasses
import functools
import json
import logging
import math
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bert_sentiment.atomic import write_text_whole
from bert_sentiment.errors import UserError

logger = logging.getLogger(__name__)

RESULTS_FILE = "run_facts.json"  # written last by a finished run
ISSUES_FILE = "label_issues.jsonl"  # likely label errors (label_issues.py), raw texts: stays local, never uploaded
SCHEMA_VERSION = 4  # 2: schema_version recorded; 3: typed parts; 4: per-class f1 (MIGRATIONS brings older files up)
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
class SourceFile:
    name: str
    sha256: str
    layout: str | None = None  # local_files' layout: file, class files, folder, archive, ...


@dataclass
class Source:
    """Where the data came from: a Hub dataset pinned to its commit, or files, a folder or rows by their SHA-256."""

    kind: str  # 'hub', 'files', 'folder' or 'memory'
    dataset_name: str | None = None
    config: str | None = None
    revision: str | None = None
    commit: str | None = None
    name: str | None = None
    files: dict[str, SourceFile] | None = None  # split (or path in a folder) -> its file; None for Hub data


@dataclass
class ValidationCarve:
    """A validation split held out of the training data."""

    percent: float
    texts: int | None = None  # None in runs that recorded only the share (schema 2)
    asked_percent: float | None = None


@dataclass
class Corrections:
    """--label_corrections: a person's fixed labels, applied by text before the split."""

    file: str
    sha256: str
    corrected: int
    per_split: dict[str, int]
    matched: int = 0
    unmatched: int = 0
    added: int = 0
    left_out: dict[str, int] = field(default_factory=dict)  # texts marked "(leave out)", taken out of each split


@dataclass
class BaselineSample:
    fitted_on: int
    of: int


@dataclass
class EvaluationSample:
    evaluated: int
    of: int


@dataclass
class DataFacts:
    source: Source
    text_columns: list[str]
    label_column: str
    labels_from: str
    sizes: dict[str, int]
    label_counts: dict[str, dict[str, int]]  # split -> label name -> texts
    dropped: dict[str, int] = field(default_factory=dict)  # rows without a text or a label, per split
    # split -> texts also in training; "dropped_from_train": how many were removed from training (a number, or true)
    cross_split_duplicates: dict[str, int | bool] = field(default_factory=dict)
    validation_from_train: ValidationCarve | None = None
    label_corrections: Corrections | None = None
    baseline_sample: BaselineSample | None = None
    evaluation_sample: dict[str, EvaluationSample] = field(default_factory=dict)


@dataclass
class SplitLengths:
    p50: int
    p90: int
    p95: int
    p99: int
    max: int
    truncated: int  # texts longer than max_length
    mean: float | None = None


@dataclass
class LengthFacts:
    max_length: int  # tokens per training text
    max_length_reason: str
    splits: dict[str, SplitLengths]
    inference_max_length: int  # tokens a prediction reads (saved with the tokenizer)
    inference_max_length_reason: str
    long_text: str = "truncate"


@dataclass
class TrainingFacts:
    """The Trainer's own figures (train_*), what the run did, and how it computed."""

    train_runtime: float | None = None
    train_samples_per_second: float | None = None
    train_steps_per_second: float | None = None
    total_flos: float | None = None
    train_loss: float | None = None
    epoch: float | None = None
    epochs_run: float | None = None
    global_steps: int | None = None
    processes: int = 1
    best_checkpoint_step: int | None = None
    # each evaluation during training (steps stay ints)
    evaluations: list[dict[str, int | float]] = field(default_factory=list)
    precision: str | None = None  # None in runs recorded before it was
    precision_reason: str = ""
    pooler: str | None = None
    layer_learning_rates: str | None = None


@dataclass
class ConfusionMatrix:
    labels: list[str]
    matrix: list[list[int]]  # rows: true label, columns: predicted label
    rows: str = "true label"
    columns: str = "predicted label"


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int  # texts of this class in the split


@dataclass
class SplitResult:
    """One evaluation split: the model's metrics beside the baselines', per class, and the confusions."""

    metrics: dict[str, float]  # accuracy, precision, recall, f1 (macro for several classes), *_weighted
    num_examples: int
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # baseline -> its metrics
    per_class: dict[str, ClassScores] = field(default_factory=dict)  # label -> its scores
    confusion_matrix: ConfusionMatrix | None = None
    label_examples: dict[str, str] = field(default_factory=dict)  # label -> a text the model got right
    calibration: dict[str, float] | None = None  # ECE and NLL before and after the temperature


@dataclass
class Hardware:
    cpu: str | None = None
    cpu_count: int | None = None
    platform: str | None = None
    gpu: str | None = None
    gpu_count: int | None = None


@dataclass
class Environment:
    versions: dict[str, str]
    hardware: Hardware


@dataclass
class Calibration:
    temperature: float
    texts: int
    fitted_on: str = "validation"


@dataclass
class ScoredSample:
    scored: int
    of: int


@dataclass
class LabelIssues:
    counts: dict[str, int]  # split -> likely label errors
    train_method: str
    eval_method: str
    file: str = "label_issues.jsonl"
    seconds: float | None = None
    fold_models_seconds: float | None = None
    train_sample: ScoredSample | None = None  # the training texts scored, when a sample
    eval_not_ranked: str | None = None  # why the fine-tuned model did not rank the other splits (it lost to TF-IDF)


@dataclass
class OnnxFacts:
    """The ONNX files written and how they compared with PyTorch; `error` (no files) when the export failed."""

    files: list[str] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None  # the same as error, as older runs named it
    checked_on: str | None = None
    texts: int | None = None
    fp32_max_difference: float | None = None
    int8_label_agreement: float | None = None
    int8_max_difference: float | None = None
    int8_recipe: str | None = None
    label_margin: float | None = None
    labels_compared: int | None = None
    int8_size_share: float | None = None
    fp32_texts: int | None = None  # the texts the fp32 graph was compared on, when fewer than `texts`


@dataclass
class Answered:
    """The answers given when texts under a confidence threshold get 'not sure'."""

    precision: float  # of the answers; NaN when none was given
    coverage: float  # share of the texts answered
    answered: int
    threshold: float | None = None  # on the split it was chosen on: the threshold (None: the target is out of reach)


@dataclass
class AbstentionTarget:
    validation: Answered
    threshold: float | None = None  # chosen on validation; None when no threshold reaches the target there
    test: Answered | None = None  # the held-out figures at that threshold, when there is a test split


@dataclass
class Abstention:
    """The 'not sure' threshold chosen on validation (abstain.py) and, per target precision, its figures."""

    targets: dict[str, AbstentionTarget]  # target precision ("0.95") -> its threshold and figures
    target: float | None = None  # --abstain_precision; None: coverage reported, every text answered
    threshold: float | None = None  # the 'not sure' threshold; None when none was set or the target is out of reach
    chosen_on: str = "validation"
    reported_on: str | None = None


@dataclass
class Spread:
    mean: float
    std: float
    min: float
    max: float
    runs: dict[str, float] = field(default_factory=dict)  # seed -> value


@dataclass
class Seeds:
    count: int
    seeds: list[int]
    metric_for_best_model: str
    best_seed: int
    splits: dict[str, dict[str, Spread]]  # split -> metric -> its spread over the seeds


@dataclass
class Trial:
    state: str
    number: int | None = None
    params: dict | None = None
    value: float | None = None


@dataclass
class BestTrial:
    trial: int
    value: float
    params: dict = field(default_factory=dict)


@dataclass
class Search:
    metric: str
    best: BestTrial
    trials: list[Trial]
    space: dict[str, str]


@dataclass
class Phase:
    seconds: float
    peak_memory_gb: float | None = None


@dataclass
class RunFacts:
    """What one finished run knows about itself, typed all the way down; run_facts.json holds the same fields."""

    base_model: str  # a Hub id, or a local model's folder name (base_model_local): never a path
    language: str
    label_names: list[str]
    data: DataFacts
    lengths: LengthFacts
    hyperparameters: dict  # the settings of HYPERPARAMETERS, as the Trainer used them
    training: TrainingFacts
    results: dict[str, SplitResult]
    environment: Environment
    started: str | None = None
    duration_seconds: float | None = None
    hp_search: Search | None = None
    seeds: Seeds | None = None
    calibration: Calibration | None = None  # None: not calibrated
    abstention: Abstention | None = None
    label_issues: LabelIssues | None = None
    onnx: OnnxFacts | None = None  # None: not asked
    published: str | None = None
    phases: dict[str, Phase] | None = None  # step -> what it cost
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
        """The facts from run_facts.json's mapping, brought up to this schema by one migration per older version."""
        found = values.get("schema_version", 1)
        if found > SCHEMA_VERSION:
            raise UserError(
                f"{source} was written by a newer bert-sentiment (facts schema {found}, this one reads up to "
                f"{SCHEMA_VERSION}). Upgrade: pip install -U bert-sentiment."
            )
        values = copy.deepcopy(values)
        for older in range(found, SCHEMA_VERSION):
            values = MIGRATIONS[older](values)
        return parse(cls, values | {"schema_version": SCHEMA_VERSION})

    def to_dict(self) -> dict:
        return plain(self)

    @property
    def has_onnx(self) -> bool:
        """Whether the run wrote checked ONNX files (not when the export was off or failed)."""
        return bool(self.onnx and self.onnx.files)

    def baseline_not_beaten(self) -> dict | None:
        """On the headline split, when the TF-IDF baseline's accuracy is above the model's or within the noise of
        the split's size: {split, model, baseline, gap, noise, texts}; None when the model wins (or no baseline ran)."""
        split = self.headline_split
        report = self.results.get(split) if split else None
        baseline = report.baselines.get("tfidf_logistic_regression") if report else None
        if not baseline:
            return None
        model, base, texts = report.metrics["accuracy"], baseline["accuracy"], report.num_examples
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
            if report.label_examples:
                return dict(report.label_examples)
        return {}

    def metric_rows(self, split: str) -> dict[str, dict[str, float]]:
        """The model's metrics on `split`, then each baseline's, by display name."""
        report = self.results[split]
        rows = {"this model": report.metrics}
        rows |= {BASELINE_NAMES.get(name, name): metrics for name, metrics in report.baselines.items()}
        return rows


def parse(kind, values):
    """`values` (JSON's dicts and lists) as `kind`, a dataclass of these facts or a mapping of them; keys that are
    not fields are left out (pydantic's validation, which also reads 6.0 as the int 6)."""
    return _adapter(kind).validate_python(values)


@functools.cache
def _adapter(kind):
    from pydantic import TypeAdapter

    return TypeAdapter(kind)


def plain(value):
    """Dataclasses as dicts, without their unset (None) fields; dicts and lists kept as they are."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _from_schema_1(values: dict) -> dict:
    """Schema 1 (no schema_version) reads as 2: the version was all that changed."""
    return values


def _from_schema_2(values: dict) -> dict:
    """Schema 2 to 3: what older runs left unsaid, said as they did it: they truncated long texts, and predictions
    read the training max_length; a carved validation split was recorded by its share alone."""
    lengths = values["lengths"]
    lengths.setdefault("long_text", "truncate")
    if "inference_max_length" not in lengths:
        lengths["inference_max_length"] = lengths["max_length"]
        lengths["inference_max_length_reason"] = "the training max_length (an older run)"
    data = values["data"]
    if "validation_from_train_percent" in data:
        data["validation_from_train"] = {"percent": data.pop("validation_from_train_percent")}
    return values


def _from_schema_3(values: dict) -> dict:
    """Schema 3 to 4: per-class scores keep sklearn's figures under the names of the card's columns."""
    for result in (values.get("results") or {}).values():
        for scores in (result.get("per_class") or {}).values():
            if "f1-score" in scores:
                scores["f1"] = scores.pop("f1-score")
            scores["support"] = int(scores["support"])
    return values


MIGRATIONS = {1: _from_schema_1, 2: _from_schema_2, 3: _from_schema_3}  # version -> the step to the next one


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
