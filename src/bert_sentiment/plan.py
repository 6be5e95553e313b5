"""A run's plan: what it will do, settled once, before any weights load, logged as one block and kept in its facts.

Checks come in three steps, each as early as what it needs allows: the flags alone while parsing (arguments.py);
the disk and the Hub in `preflight`, before the data is read; the data and the model's configuration in `make_plan`,
before the weights load (memory, the layers --layer_lr_decay needs, the analyses' budgets).

The argument objects stay as the user gave them. What the run settles (the batch fitted to this machine's memory,
a search's choices, no token among the saved arguments) reaches the Trainer through `RunPlan.trainer_arguments`,
a copy.
"""

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass

from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from bert_sentiment.budget import AnalysisBudget
from bert_sentiment.data import check_data_arguments
from bert_sentiment.memory import fit_batch_to_memory
from bert_sentiment.model import model_skeleton
from bert_sentiment.publish import HubTarget, check_hub_access
from bert_sentiment.training import checkpoint_to_resume, layer_lr_note, optimizer_class

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preflight:
    """What the checks before the data found: the checkpoint --resume continues from, and where to publish."""

    resume_from: str | None
    hub_target: HubTarget | None


def preflight(data_args, training_args, in_memory: bool = False) -> Preflight:
    """Every check that needs neither the data's contents nor the weights, before any time is spent: the data flags,
    the output folder (or the checkpoint --resume continues from), and with --push_to_hub the repo id, the token and
    the Hub's answer."""
    check_data_arguments(data_args, in_memory=in_memory)
    resume_from = checkpoint_to_resume(training_args)
    return Preflight(resume_from, publishing_target(training_args))


def publishing_target(training_args) -> HubTarget | None:
    """With --push_to_hub: repo id, token and reachability, checked before any time is spent."""
    if not training_args.publish_to_hub:
        return None
    return check_hub_access(training_args.hub_model_id, training_args.hub_private_repo, training_args.hub_token)


@dataclass(frozen=True)
class RunPlan:
    """Every decision of a run that needs no weights."""

    checkpoint: str  # the encoder fine-tuned: a Hub id or a local folder
    language: str
    parameters: int  # of the model with its classification head
    precision: str  # what training computes in; evaluation and the saved weights are fp32 whatever it is
    precision_reason: str
    batch: int  # texts per forward pass, per process
    accumulation: int  # forward passes per optimizer step
    batch_note: str | None  # why the batch is not --per_device_train_batch_size as given; None when it is
    pooler: str  # --reinit_pooler; what was done is said when the weights load
    layer_learning_rates: str | None  # under --layer_lr_decay, where the rates run from and to
    max_length: int  # tokens per training text
    reading_length: int  # tokens per text for evaluation and every prediction after it
    reading_reason: str
    long_text: str
    analyses: AnalysisBudget
    validates_during_training: bool  # False: the Trainer's only validation pass would come after the last step
    output_dir: str
    resume_from: str | None
    publish_to: str | None  # the Hub repo id, with --push_to_hub

    def trainer_arguments(self, training_args, chosen: dict | None = None):
        """A copy of the training arguments as this run's Trainer takes them: the planned batch, then a search's
        `chosen` values, no validation pass within a training that would have only one, at its end
        (only_validation_at_the_end; a search's trials keep theirs), and no Hub token (the Trainer saves its
        arguments in training_args.bin)."""
        args = copy.deepcopy(training_args)
        args.per_device_train_batch_size, args.gradient_accumulation_steps = self.batch, self.accumulation
        for name, value in (chosen or {}).items():
            setattr(args, name, value)
        batch, accumulation = args.per_device_train_batch_size, args.gradient_accumulation_steps
        trials = training_args.hp_search and chosen is None  # a search's trials: each chooses its epochs (2 to 4)
        if not trials and only_validation_at_the_end(args, self.analyses.train_texts, batch, accumulation):
            args.eval_strategy, args.load_best_model_at_end = IntervalStrategy.NO, False
        args.hub_token = None
        return args

    def describe(self) -> str:
        """The plan as one log block, before training."""
        per_step = self.batch * self.accumulation
        lines = [
            "The plan:",
            f"  Base model: {self.checkpoint} ({self.language}), {self.parameters:,} parameters",
            f"  Training precision: {self.precision} ({self.precision_reason})",
            f"  Training batch: {self.batch_note}" if self.batch_note else f"  Training batch: {per_step} texts",
            f"  Lengths: training reads up to {self.max_length} tokens per text; predictions up to "
            f"{self.reading_length} ({self.reading_reason}); longer texts: {self.long_text}",
        ]
        if self.pooler != "false":
            lines.append(f"  Pooler: --reinit_pooler {self.pooler}")
        if self.layer_learning_rates:
            lines.append(f"  Layer-wise learning rates: {self.layer_learning_rates}")
        if not self.validates_during_training:
            lines.append("  Validation: once, after training (a pass within one epoch or less would choose nothing)")
        resuming = f", resuming from {self.resume_from}" if self.resume_from else ""
        publishing = f"; published to {self.publish_to} at the end" if self.publish_to else ""
        lines.append(f"  Output: {self.output_dir}{resuming}{publishing}")
        return "\n".join(lines + [self.analyses.describe()])

    def facts(self) -> dict:
        """For run_facts.json: the plan's decisions, without paths on this machine (the output folder, the checkpoint
        resumed) or the analyses (RunFacts.data and the card carry their samples)."""
        skipped = {"analyses", "output_dir", "resume_from", "checkpoint"}
        return {
            field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name not in skipped
        }


def only_validation_at_the_end(args, train_texts: int, batch: int, accumulation: int) -> bool:
    """Whether the Trainer's only validation pass within training would come after its last step, as --eval_strategy
    epoch does over one epoch or less. That pass chooses no checkpoint and stops nothing, and the evaluation after
    training reads the same texts again, in fp32 (a 30-step IMDB try spent 73 s on the first and 115 s on the
    second). Other strategies, and --save_strategy best, keep their passes."""
    if args.eval_strategy != IntervalStrategy.EPOCH or args.save_strategy == SaveStrategy.BEST:
        return False
    if args.max_steps > 0:  # the Trainer's count: batches per process, then optimizer steps, at least one
        batches = math.ceil(train_texts / (batch * max(args.world_size, 1)))
        return args.max_steps <= max(math.ceil(batches / accumulation), 1)
    return args.num_train_epochs <= 1


def make_plan(training_args, model_args, checked: Preflight, prepared, analyses: AnalysisBudget) -> RunPlan:
    """The plan from the arguments, the preflight, the prepared data (fine_tune.PreparedRun: checkpoint, language,
    configuration, lengths) and the analyses' budget. Refuses here, before the weights load: a training step that
    not even one text fits in memory, an --optim this machine cannot build, and a --layer_lr_decay that the optimizer
    or the model's layout cannot take."""
    skeleton = model_skeleton(prepared.config)
    parameters = skeleton.num_parameters()
    lengths = prepared.lengths
    batch, accumulation = training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps
    note = None
    # A CPU's out-of-memory error is a kill, so its batch is always fitted; a GPU's is an exception with a message, so
    # a batch asked for on a GPU is left as asked, and only the GPU's default (many texts) is fitted to its memory.
    if training_args.trains_on_cpu or training_args.batch_reason:
        longest = min(lengths["max_length"], lengths["splits"]["train"]["max"])
        batch, accumulation, note = fit_batch_to_memory(
            batch,
            accumulation,
            prepared.config,
            parameters,
            longest,
            checked.resume_from,
            on_gpu=not training_args.trains_on_cpu,
        )
    if note is None and training_args.batch_reason:
        note = f"{batch * accumulation} texts ({training_args.batch_reason})"
    optimizer_class(training_args, skeleton)  # refused now, not after the weights load
    rates = layer_lr_note(skeleton, training_args.learning_rate, training_args.layer_lr_decay)
    return RunPlan(
        checkpoint=prepared.checkpoint,
        language=prepared.language,
        parameters=parameters,
        precision=training_args.precision_used,
        precision_reason=training_args.precision_reason,
        batch=batch,
        accumulation=accumulation,
        batch_note=note,
        pooler=model_args.reinit_pooler,
        layer_learning_rates=rates,
        max_length=lengths["max_length"],
        reading_length=lengths["inference_max_length"],
        reading_reason=lengths["inference_max_length_reason"],
        long_text=lengths["long_text"],
        analyses=analyses,
        validates_during_training=training_args.hp_search  # a search chooses the final run's epochs (2 to 4)
        or not only_validation_at_the_end(training_args, analyses.train_texts, batch, accumulation),
        output_dir=training_args.output_dir,
        resume_from=checked.resume_from,
        publish_to=checked.hub_target.repo_id if checked.hub_target else None,
    )
