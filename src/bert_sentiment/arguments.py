"""Command-line arguments: our two dataclasses plus `TrainingArguments` with sentiment defaults.

Names follow transformers' `run_classification.py` example where it has the same argument,
so users' habits carry over. Every field is a flag (`--name value`) and can also live in a
YAML or JSON file passed as the only argument.
"""

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Union, get_args

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from bert_sentiment.budget import sample_size
from bert_sentiment.data import Header
from bert_sentiment.errors import UserError, did_you_mean
from bert_sentiment.hardware import cpu_flags
from bert_sentiment.languages import Language
from bert_sentiment.long_text import LongText

logger = logging.getLogger(__name__)

CPU_BATCHES = (32, 64)  # (training, evaluation) texts per step on a CPU, where the flags leave them out
GPU_BATCHES = (256, 256)  # on a GPU: see default_batches
# The learning rate where the flags leave it out: transformers' own default and the top of the BERT paper's grid
# (on SST-2 with MiniLM, 4,000 sentences, 1 epoch: 0.789 dev accuracy where 2e-5 gave 0.744, bench/bench_train.py);
# with a GPU's default batch, 3 times that for 8 times the texts a step (MiniLM, whole SST-2, one epoch, bf16: batch
# 32 at 5e-5 0.8888, batch 256 at 5e-5 0.8796, at 1.5e-4 0.8842; bench/bench_gpu_train.py, bench/README.md).
LEARNING_RATES = (5e-5, 1.5e-4)

# Choice flags: argparse lists and checks their values (--help shows them); __post_init__ checks the Python API's.
Pooler = Literal["auto", "true", "false"]
Precision = Literal["auto", "fp32", "tf32", "bf16", "fp16"]
ClassWeighting = Literal["none", "balanced"]
LabelIssueMode = Literal["auto", "fast", "thorough", "false"]


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(
        default=None,
        metadata={
            "help": "Hub id or local directory of the encoder to fine-tune. Default: chosen from the "
            "language of the data (bert-base-uncased for English, bert-base-chinese for Chinese)."
        },
    )
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of the model on the Hub."})
    base_model_id: Optional[str] = field(
        default=None,
        metadata={
            "help": "The Hub id a local --model_name_or_path folder holds (e.g. bert-base-uncased): the card and "
            "its metadata name it. Without it a local base model is named by its folder's name, never its path."
        },
    )
    cache_dir: Optional[str] = field(
        default=None, metadata={"help": "Where downloaded models and datasets are cached."}
    )
    license: str = field(
        default="apache-2.0",
        metadata={"help": "License written into the model card when publishing (the base model's is Apache-2.0)."},
    )
    language: Language = field(
        default="auto",
        metadata={
            "help": "Language of the texts: 'auto' (detected from the data), 'en', 'zh' or "
            "'multilingual'. Used to pick the default checkpoint and the TF-IDF baseline."
        },
    )
    reinit_pooler: Pooler = field(
        default="false",
        metadata={
            "help": "Start the pooler (the dense layer over [CLS] that the classification head reads) from random "
            "weights: 'false' (keep the checkpoint's), 'auto' (only when the checkpoint's pooler was never trained, "
            "as in sentence-transformers encoders: its bias is all zero) or 'true'. Mixed results: bench/README.md."
        },
    )

    def __post_init__(self):
        if self.reinit_pooler not in POOLER_CHOICES:
            raise UserError(f"--reinit_pooler '{self.reinit_pooler}' is not one of {', '.join(POOLER_CHOICES)}.")


@dataclass
class DataArguments:
    dataset_name: Optional[str] = field(
        default=None,
        metadata={"help": "Hub dataset id (e.g. 'glue', 'imdb') or a local dataset folder."},
    )
    dataset_config_name: Optional[str] = field(
        default=None, metadata={"help": "Configuration of the Hub dataset (e.g. 'sst2')."}
    )
    dataset_revision: Optional[str] = field(
        default=None, metadata={"help": "Branch, tag or commit of the Hub dataset."}
    )
    train_file: Optional[str] = field(
        default=None, metadata={"help": "Training data: a .csv, .tsv, .json, .jsonl or .parquet file."}
    )
    validation_file: Optional[str] = field(
        default=None,
        metadata={"help": "Validation data. Without it, a stratified split is carved from training."},
    )
    test_file: Optional[str] = field(default=None, metadata={"help": "Test data, evaluated once at the end."})
    header: Header = field(
        default="auto",
        metadata={"help": "Whether CSV/TSV files have a header row: 'auto' (sniffed), 'yes' or 'no'."},
    )
    max_unpacked_gb: float = field(
        default=4.0, metadata={"help": "The most a .zip of data may unpack to, in GB; checked before extracting."}
    )
    max_archive_files: int = field(
        default=1_000_000, metadata={"help": "The most files a .zip of data may hold; checked before extracting."}
    )
    text_column_names: Optional[str] = field(
        default=None,
        metadata={
            "help": "Text column(s), comma-separated; several are joined with a space. "
            "Default: found by name (sentence, text, review, content, text_a, ...)."
        },
    )
    label_column_name: Optional[str] = field(
        default=None, metadata={"help": "Label column. Default: found by name (label, sentiment, ...)."}
    )
    class_names: Optional[str] = field(
        default=None,
        metadata={
            "help": "Comma-separated names for integer labels 0..n-1, e.g. 'negative,neutral,positive'. "
            "Binary 0/1 labels without names are taken as negative/positive."
        },
    )
    validation_split_percentage: Optional[float] = field(
        default=None,
        metadata={
            "help": "Percent of training data held out (stratified) when there is no validation split. Default: "
            "10%%, at most 5,000 texts (a 95%% margin of about +-0.8 points on accuracy; more texts cost an "
            "evaluation pass each epoch and train on fewer)."
        },
    )
    label_corrections: Optional[str] = field(
        default=None,
        metadata={
            "help": "A spreadsheet from `bert-sentiment review` with its corrected_label column filled in (or a "
            "CSV with text and corrected_label): labels are corrected by text, texts marked '(leave out)' taken "
            "out, and its 'to label' texts added to training, before the split."
        },
    )
    drop_cross_split_duplicates: bool = field(
        default=False,
        metadata={"help": "Remove from training the texts that also occur in validation or test."},
    )
    max_seq_length: Optional[int] = field(
        default=None,
        metadata={
            "help": "Maximum tokens per text. Default: the 99th percentile of training token lengths, "
            "rounded up to a multiple of 8 and capped by the model's limit."
        },
    )
    inference_max_length: Optional[int] = field(
        default=None,
        metadata={
            "help": "Tokens read per text at prediction time: evaluation, a plain pipeline() call on the saved model, "
            "the app and the card's snippets. Default: the model's position limit (512 for BERT), so whole texts are "
            "read; --max_seq_length stays the training budget."
        },
    )
    long_text: LongText = field(
        default="truncate",
        metadata={
            "help": "Texts over max_seq_length: 'truncate' (keep the start), 'head_tail' (start and end), or "
            "'chunks' (train on head+tail, evaluate and predict by averaging overlapping windows)."
        },
    )
    max_train_samples: Optional[int] = field(
        default=None, metadata={"help": "Use only this many training examples (for quick runs)."}
    )
    max_eval_samples: Optional[int] = field(
        default=None, metadata={"help": "Use only this many validation and test examples."}
    )


@dataclass
class SentimentTrainingArguments(TrainingArguments):
    """`TrainingArguments` with defaults suited to fine-tuning BERT for sentiment.

    Every Trainer flag still works; only the defaults below differ from transformers'.
    """

    output_dir: Optional[str] = field(
        default="out/model", metadata={"help": "Where the model, metrics and checkpoints are written."}
    )
    learning_rate: Optional[float] = field(
        default=None,
        metadata={
            "help": f"Peak learning rate after warmup (default: {LEARNING_RATES[0]:g}, the top of the BERT paper's grid "
            f"of 2e-5 to 5e-5; {LEARNING_RATES[1]:g} with a GPU's default batch, whose steps are fewer and larger)."
        },
    )
    layer_lr_decay: float = field(
        default=1.0,  # 1: one rate for every layer, as transformers trains
        metadata={
            "help": "Layer-wise learning-rate decay: the head and pooler train at --learning_rate, each encoder "
            "layer below at this factor times the rate of the layer above it, the embeddings lowest "
            "(e.g. 0.85). 1 trains every layer at the same rate."
        },
    )
    num_train_epochs: float = field(default=3.0, metadata={"help": "Training epochs."})
    per_device_train_batch_size: Optional[int] = field(
        default=None,
        metadata={
            "help": f"Training batch size per device (default: {CPU_BATCHES[0]} on a CPU; {GPU_BATCHES[0]} texts per "
            "step on a GPU, as many at a time as its free memory holds, since a GPU's step of 32 costs "
            "about what a step of 128 does)."
        },
    )
    per_device_eval_batch_size: Optional[int] = field(
        default=None,
        metadata={
            "help": f"Evaluation batch size per device (default: {CPU_BATCHES[1]} on a CPU, {GPU_BATCHES[1]} on a GPU)."
        },
    )
    warmup_steps: float = field(
        default=0.1, metadata={"help": "Linear warmup: steps if >= 1, else a fraction of all steps."}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    eval_strategy: Union[IntervalStrategy, str] = field(
        default="epoch", metadata={"help": "When to evaluate: 'no', 'steps' or 'epoch'."}
    )
    save_strategy: Union[SaveStrategy, str] = field(
        default="epoch", metadata={"help": "When to save a checkpoint: 'no', 'steps', 'epoch' or 'best'."}
    )
    save_total_limit: Optional[int] = field(
        default=2, metadata={"help": "Checkpoints kept on disk (the best one is always kept)."}
    )
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "Keep the checkpoint that scored best on validation, not the last one."}
    )
    metric_for_best_model: Optional[str] = field(
        default="f1",
        metadata={"help": "Validation metric that picks the best checkpoint (f1 is macro F1 for >2 classes)."},
    )
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={"help": "Batches of similar length pad less: 'group_by_length' (default) or 'random'."},
    )
    logging_steps: float = field(default=50, metadata={"help": "Log the training loss every this many steps."})
    report_to: Union[None, str, list[str]] = field(
        default="none", metadata={"help": "Experiment trackers to report to ('none', 'tensorboard', 'wandb', ...)."}
    )
    seed: int = field(default=42, metadata={"help": "Random seed for initialisation, shuffling and the split."})
    precision: Precision = field(
        default="auto",
        metadata={
            "help": "Training precision: 'auto' (GPUs: tf32 on Ampere or newer, else fp16; CPUs: bf16 where they compute "
            "it natively (AMX or AVX-512 BF16), else fp32), 'fp32', 'tf32' (fp32 weights, TF32 matrix products on "
            "GPUs), 'bf16' or 'fp16'. --bf16/--fp16 also work. The final evaluation and saved weights are fp32."
        },
    )
    checkpoint_minutes: float = field(
        default=10.0,
        metadata={
            "help": "Besides each epoch's, save a checkpoint at least this often (minutes), so a hard kill "
            "(OOM killer, preemption) loses at most this much; 0 turns it off."
        },
    )
    early_stopping_patience: int = field(
        default=2, metadata={"help": "Stop after this many evaluations without improvement (0 disables)."}
    )
    class_weighting: ClassWeighting = field(
        default="none",
        metadata={"help": "'none', or 'balanced' to weight the loss by inverse class frequency (imbalanced data)."},
    )
    resume: bool = field(
        default=False, metadata={"help": "Continue from the last checkpoint in output_dir after an interruption."}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={"help": "Write into an output_dir that already holds files: an earlier run's or others."},
    )
    seeds: int = field(
        default=1,
        metadata={
            "help": "Train this many runs (seeds seed, seed+1, ...) on one split; report mean ± std of every "
            "metric and keep the best run's model by the validation metric."
        },
    )
    split_seed: Optional[int] = field(
        default=None, metadata={"help": "Seed of the validation split and sample limits (default: --seed)."}
    )
    calibrate: bool = field(
        default=True,
        metadata={
            "help": "After training, fit a temperature on the validation split and fold it into the classifier "
            "head, so every reader of the model gets calibrated probabilities (skipped under 50 texts)."
        },
    )
    abstain_precision: Optional[float] = field(
        default=None,
        metadata={
            "help": "Say 'not sure' below the lowest confidence whose answers reach this precision on validation "
            "(e.g. 0.95): saved with the model, applied by the app and load(). Unset: the coverage at 0.9, 0.95 "
            "and 0.99 is reported and every text is answered."
        },
    )
    find_label_issues: LabelIssueMode = field(
        default="auto",
        metadata={
            "help": "After training, rank the examples whose given label is likely wrong (confident learning, "
            "cleanlab) into output_dir/label_issues.jsonl. Training texts are scored out of sample by cheap "
            "cross-validated models ('fast'), joined by two models fine-tuned for one epoch on half the "
            "training set each ('thorough': finds more, costs about one epoch). 'auto': thorough when the run "
            "trains at least two epochs' worth and that epoch is estimated under 5 minutes. 'false' skips it."
        },
    )
    label_issue_sample: str = field(
        default="auto",
        metadata={
            "help": "Training texts scored for label issues: 'auto' (a stratified sample sized to the training "
            "asked for: about one text per 10 trained, at least what 20 s of MiniLM reads), 'all', or a number."
        },
    )
    evaluation_sample: str = field(
        default="auto",
        metadata={
            "help": "Validation and test texts read: 'auto' (all of them, except in a short try, which reads a "
            "stratified sample of as many texts as its training costs passes, at least 2,000), 'all', or a number."
        },
    )
    export_onnx: bool = field(
        default=True,
        metadata={
            "help": "After training, export onnx/model.onnx and a dynamic-int8 onnx/model_quantized.onnx beside "
            "the weights (for ONNX Runtime, the app and transformers.js), verified against PyTorch first."
        },
    )
    hp_search: bool = field(
        default=False,
        metadata={
            "help": "Search learning rate, batch size, epochs, warmup and weight decay with Optuna on the "
            "validation split before the final run (space in bert_sentiment/hp_search.py)."
        },
    )
    hp_search_trials: int = field(default=10, metadata={"help": "Trials of the --hp_search budget."})
    hub_private: bool = field(
        default=False, metadata={"help": "With --push_to_hub: create the repo as private (same as --hub_private_repo)."}
    )
    # Resolved while parsing, not flags: what --push_to_hub asked for (the Trainer's own pushes stay off: we publish
    # once, at the end), and why the precision is what it is.
    publish_to_hub: bool = field(default=False, init=False)
    precision_reason: str = field(default="", init=False)
    batch_reason: str = field(default="", init=False)  # why the training batch is this machine's default; "" if asked

    def __post_init__(self):
        # We publish once, after training and evaluation, with our card; the Trainer's own pushes
        # (every save, its generated card) stay off. `publish_to_hub` keeps what the user asked.
        self.publish_to_hub, self.push_to_hub = self.push_to_hub, False
        if self.hub_private:
            self.hub_private_repo = True
        if self.split_seed is None:
            self.split_seed = self.seed  # resolved once: every --seeds run shares the split of the first
        if self.seeds < 1:
            raise UserError(f"--seeds {self.seeds} must be at least 1.")
        if self.hp_search and self.seeds > 1:
            raise UserError("Run --hp_search first, then --seeds with the values it chose (hp_search.json).")
        if self.hp_search and self.hp_search_trials < 1:
            raise UserError(f"--hp_search_trials {self.hp_search_trials} must be at least 1.")
        if self.checkpoint_minutes < 0:
            raise UserError(f"--checkpoint_minutes {self.checkpoint_minutes:g} must be 0 (off) or more, e.g. 10.")
        if not 0 < self.layer_lr_decay <= 1:
            raise UserError(
                f"--layer_lr_decay {self.layer_lr_decay:g} must be above 0 and at most 1 (1 turns it off), e.g. 0.85."
            )
        self.find_label_issues = label_issue_mode(self.find_label_issues)
        if self.abstain_precision is not None and not 0 < self.abstain_precision < 1:
            raise UserError(
                f"--abstain_precision {self.abstain_precision:g} must be between 0 and 1, e.g. 0.95 (answers "
                "right 95% of the time)."
            )
        sample_size(self.label_issue_sample)  # refused now, with the choices, rather than after training
        sample_size(self.evaluation_sample, "--evaluation_sample")
        if self.metric_for_best_model is not None:  # the Trainer's name for it starts with eval_; ours does not
            self.metric_for_best_model = self.metric_for_best_model.removeprefix("eval_")
            if self.metric_for_best_model not in BEST_MODEL_METRICS:
                raise UserError(
                    f"--metric_for_best_model '{self.metric_for_best_model}' is not one of "
                    f"{', '.join(BEST_MODEL_METRICS)} (the *_weighted ones for more than two labels)."
                )
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise UserError(f"--class_weighting '{self.class_weighting}' is not one of {', '.join(CLASS_WEIGHTINGS)}.")
        self._apply_batches()
        self._apply_precision()
        if not torch.cuda.is_available():
            self.dataloader_pin_memory = False  # pinning only helps copies to a GPU
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                self.use_cpu = True  # torchrun/accelerate on CPUs: the Trainer runs data-parallel (gloo) only so
        super().__post_init__()

    def _apply_batches(self):
        """The batch sizes and learning rate the flags left out, by hardware (default_batches, LEARNING_RATES); the
        training batch's reason kept."""
        train, evaluation, reason = default_batches(self.use_cpu or not torch.cuda.is_available())
        if self.per_device_train_batch_size is None:
            self.per_device_train_batch_size, self.batch_reason = train, reason
        if self.per_device_eval_batch_size is None:
            self.per_device_eval_batch_size = evaluation
        if self.learning_rate is None:
            self.learning_rate = LEARNING_RATES[1] if self.batch_reason else LEARNING_RATES[0]
            if self.batch_reason:
                self.batch_reason += f"; learning rate {self.learning_rate:g} for its fewer, larger steps"

    def _apply_precision(self):
        """Turn --precision into the Trainer's bf16/fp16 flags (explicit --bf16/--fp16 win), and say why."""
        if self.precision not in PRECISIONS:
            raise UserError(f"--precision '{self.precision}' is not one of {', '.join(PRECISIONS)}.")
        on_cpu = self.use_cpu or not torch.cuda.is_available()
        if self.bf16 or self.fp16:
            self.precision_reason = "asked for with --bf16/--fp16"
        else:
            precision, self.precision_reason = (
                auto_precision(on_cpu, self.per_device_train_batch_size * self.gradient_accumulation_steps)
                if self.precision == "auto"
                else (self.precision, f"asked for with --precision {self.precision}")
            )
            self.bf16, self.fp16 = precision == "bf16", precision == "fp16"
            if precision == "tf32" and on_cpu:
                self.precision_reason += "; TF32 is a GPU mode, so a CPU trains in fp32"
            elif precision == "tf32":
                self.tf32 = True
        if self.bf16 and on_cpu and not cpu_has_native_bf16():
            logger.warning(
                "bf16 on this CPU is emulated (no AMX or AVX-512 BF16) and will be slow; "
                "--precision auto picks fp32 here."
            )
        if self.bf16 and not torch.cuda.is_available():
            self.use_cpu = True  # transformers only allows bf16 on CPU when asked to use the CPU

    @property
    def trains_on_cpu(self) -> bool:
        return self.use_cpu or not torch.cuda.is_available()

    @property
    def precision_used(self) -> str:
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "tf32" if self.tf32 else "fp32"


PRECISIONS = get_args(Precision)
POOLER_CHOICES = get_args(Pooler)
LABEL_ISSUE_MODES = get_args(LabelIssueMode)
CLASS_WEIGHTINGS = get_args(ClassWeighting)
BEST_MODEL_METRICS = (
    "f1",
    "accuracy",
    "precision",
    "recall",
    "loss",
    "f1_weighted",
    "precision_weighted",
    "recall_weighted",
)
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs with bf16 matrix instructions


def label_issue_mode(value) -> str:
    """--find_label_issues as one of LABEL_ISSUE_MODES; true/false (flags or Python bools) mean auto/false."""
    mode = {True: "auto", False: "false"}.get(value, value) if isinstance(value, bool) else str(value).strip().lower()
    mode = {"true": "auto", "no": "false", "none": "false"}.get(mode, mode)
    if mode not in LABEL_ISSUE_MODES:
        raise UserError(f"--find_label_issues '{value}' is not one of {', '.join(LABEL_ISSUE_MODES)}.")
    return mode


def cpu_has_native_bf16() -> bool:
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def default_batches(on_cpu: bool) -> tuple[int, int, str]:
    """(training batch, evaluation batch, why) where the flags leave them out: CPU_BATCHES or GPU_BATCHES.

    A GPU's training step costs a fixed time for launching its hundreds of kernels, whatever their size: on an H200,
    bert-base trained SST-2 at 1,021 samples/s at batch 32 in TF32 (1,019 in bf16), 3,301 at batch 128 and 5,279 at
    256 in bf16 (bench/bench_gpu_train.py, bench/README.md). A CPU's step is bound by its arithmetic, and 32 is the
    batch our CPU measurements and the BERT paper's grid use.
    """
    if on_cpu:
        return *CPU_BATCHES, ""
    return *GPU_BATCHES, (
        "the default on a GPU, whose step of 32 texts costs about what one of 128 does "
        "(bert-base: 1,021 samples/s at 32, 5,279 at 256 on an H200)"
    )


LARGE_GPU_BATCH = 128  # texts per optimizer step from which a GPU's matrix products, not its launches, bound a step


def auto_precision(on_cpu: bool, batch: int = CPU_BATCHES[0]) -> tuple[str, str]:
    """(precision, why): the fastest precision measured for BERT fine-tuning on this kind of hardware, for
    `batch` texts per optimizer step.

    GPUs: TF32 matrix products on Ampere or newer for small batches. On an H100, bert-base trained at 830
    samples/s with TF32, 734 in fp32 and 568 with bf16 autocast (SST-2, batch 32), and 344 / 189 / 223 on IMDB at
    512 tokens (bench/README.md): BERT's many small operations make autocast's casts cost more than bf16 saves.
    From LARGE_GPU_BATCH texts a step, bf16: the matrix products grow while the launches stay (H100, batch 128: fp32
    2,043, bf16 2,021; H200, batch 256: bf16 5,279 samples/s). Older GPUs have no TF32 but fp16 tensor cores.
    CPUs: bf16 only where instructions compute it.
    """
    if not on_cpu:
        name, capability = torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)
        if capability >= (8, 0) and batch >= LARGE_GPU_BATCH:
            return "bf16", (
                f"the GPU ({name}) has bf16 tensor cores, and at {batch} texts a step its matrix products, not its "
                "launches, bound the step"
            )
        if capability >= (8, 0):
            return "tf32", f"the GPU ({name}) has TF32 tensor cores, measured faster than bf16 autocast for BERT"
        return "fp16", f"the GPU ({name}) has fp16 tensor cores but no TF32 or bf16; fp16 with loss scaling"
    native = [flag for flag in NATIVE_BF16_FLAGS if flag in cpu_flags()]
    if native:
        return "bf16", f"the CPU computes bf16 natively ({', '.join(native)})"
    return "fp32", "the CPU has no native bf16 (no AMX or AVX-512 BF16 flag), where bf16 would be emulated and slower"


ALL_ARGUMENTS = (ModelArguments, DataArguments, SentimentTrainingArguments)


RUN_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def parse_args(argv: list[str] | None = None):
    """Parse flags, or a single .yaml/.yml/.json file holding the same fields."""
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser(ALL_ARGUMENTS, exit_on_error=False)  # a bad value: one line, not the whole usage
    if argv and argv[0].endswith(RUN_FILE_SUFFIXES) and not argv[0].startswith("-"):  # not --train_file=r.json
        if len(argv) > 1:
            raise UserError(
                f"A run file is read on its own: put {' '.join(argv[1:])} into '{argv[0]}', "
                "or give every setting as flags."
            )
        argv = config_file_to_flags(Path(argv[0]), parser)
    try:
        return parser.parse_args_into_dataclasses(args=argv)
    except argparse.ArgumentError as err:  # a value argparse refuses, as a choice flag's: it names the choices
        flag = (err.argument_name or "").split("/")[0]  # "--class_weighting", not also its dashed alias
        raise UserError(f"{flag}: {err.message}." if flag else f"{err}.") from None
    except ValueError as err:  # TrainingArguments refusing a combination of flags: the user's to fix
        raise UserError(f"Invalid combination of flags: {err}") from None


def build_arguments(values: dict):
    """The three argument dataclasses from keyword values (the Python API), checked as flags are."""
    try:
        return HfArgumentParser(ALL_ARGUMENTS).parse_dict(values)
    except (ValueError, TypeError) as err:  # a value TrainingArguments refuses: the user's to fix
        raise UserError(f"Invalid combination of options: {err}") from None


def config_file_to_flags(path: Path, parser: HfArgumentParser) -> list[str]:
    """A run file as command-line flags, so its values are typed exactly like flags.

    (YAML reads `2e-5` as a string; through argparse it becomes the float the user meant.)
    """
    if not path.is_file():
        raise UserError(f"Config file '{path}' does not exist.")
    text = path.read_text(encoding="utf-8")
    config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(config, dict):
        raise UserError(f"Config file '{path}' must hold a mapping of argument names to values.")
    known = {action.dest for action in parser._actions}
    flags = []
    for key, value in config.items():
        if key not in known:
            raise UserError(f"Config file '{path}': unknown argument '{key}'.{did_you_mean(key, known)}")
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            flags += [f"--{key}", *map(str, value)]
        else:
            flags += [f"--{key}", json.dumps(value) if isinstance(value, dict) else _flag_value(value)]
    return flags


def _flag_value(value) -> str:
    """A run file's value as a flag's: YAML's true/false as written (choice flags such as --find_label_issues read
    'false'), the rest as text."""
    return str(value).lower() if isinstance(value, bool) else str(value)
