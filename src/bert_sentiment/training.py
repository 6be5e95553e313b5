"""Building the Trainer: dynamic padding, early stopping, class weights, layer-wise learning rates, safe interruption."""

import logging
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import torch
from torch.utils.data import SequentialSampler
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainerCallback
from transformers.trainer_optimizer import is_optimizer_factory
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, IntervalStrategy, get_last_checkpoint

from bert_sentiment.errors import UserError
from bert_sentiment.evaluation import metrics_for_trainer
from bert_sentiment.facts import RESULTS_FILE

logger = logging.getLogger(__name__)


def checkpoint_to_resume(training_args) -> str | None:
    """The checkpoint --resume continues from: the newest intact one; refuses to overwrite an earlier run's output_dir."""
    output_dir = Path(training_args.output_dir)
    last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if training_args.resume:
        if last is None:
            raise UserError(f"--resume: no checkpoint in '{output_dir}' to continue from. Drop --resume to start anew.")
        return newest_intact_checkpoint(output_dir)
    check_output_dir(output_dir, training_args.overwrite_output_dir)
    return None


def check_output_dir(output_dir: Path, overwrite: bool, ours: tuple[str, ...] = ()) -> None:
    """Refuse to write a new run into a folder that holds an earlier run or other files (`ours`: names of what this
    run itself put there first, as the seed-S folders of --seeds), unless --overwrite_output_dir."""
    held = sorted(p.name for p in output_dir.iterdir() if p.name not in ours) if output_dir.is_dir() else []
    if not held or overwrite:
        return
    earlier = any(name == RESULTS_FILE or name.startswith(PREFIX_CHECKPOINT_DIR) for name in held)
    named = f"{', '.join(held[:3])}{', …' * (len(held) > 3)}"
    what = f"an earlier run ({named})" if earlier else f"other files ({named})"
    raise UserError(
        f"--output_dir '{output_dir}' already holds {what}. Pass --resume to continue an interrupted run, "
        "--overwrite_output_dir to write there anyway, or choose another --output_dir."
    )


def newest_intact_checkpoint(output_dir: Path) -> str:
    """The newest checkpoint whose files are whole (a kill while saving cuts the newest one short), saying which
    damaged ones were passed over; a UserError when none is whole."""
    checkpoints = sorted(
        output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"), key=lambda p: int(p.name.split("-")[-1]), reverse=True
    )
    damaged = []
    for checkpoint in checkpoints:
        problem = checkpoint_damage(checkpoint)
        if problem is None:
            if damaged:
                logger.warning("Passed over damaged checkpoints (%s).", "; ".join(damaged))
            logger.info("Resuming from %s.", checkpoint)
            return str(checkpoint)
        damaged.append(f"{checkpoint.name}: {problem}")
    raise UserError(
        f"--resume: no intact checkpoint in '{output_dir}' ({'; '.join(damaged)}). Drop --resume to start anew."
    )


def checkpoint_damage(checkpoint: Path) -> str | None:
    """What is wrong with a checkpoint's files, or None. Reads only their headers and directories: cheap."""
    import json
    import zipfile

    from safetensors import safe_open

    if not (checkpoint / "trainer_state.json").is_file():
        return "trainer_state.json is missing"
    for path in sorted(checkpoint.iterdir()):
        try:
            if path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            elif path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as weights:
                    weights.keys()
            elif path.suffix in (".pt", ".pth", ".bin"):
                zipfile.ZipFile(path).close()  # torch.save writes a zip: a cut-off file has no directory at its end
        except Exception as err:  # noqa: BLE001 -- every way a file can be damaged
            return f"{path.name} is unreadable ({type(err).__name__})"
    return None


class SaveOnInterrupt(TrainerCallback):
    """Ctrl-C or SIGTERM: finish the current step, save a checkpoint, stop. A second Ctrl-C aborts."""

    def __init__(self):
        self.interrupted = False
        self._previous = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread (training called from a worker thread)
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._request_stop)

    def on_train_end(self, args, state, control, **kwargs):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _request_stop(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        logger.warning("Interrupted: saving a checkpoint after this step (interrupt again to abort).")

    def on_step_end(self, args, state, control, **kwargs):
        if self.interrupted:
            control.should_save = True
            control.should_training_stop = True
        return control


class CheckpointEvery(TrainerCallback):
    """A checkpoint at least every `minutes`, besides the epoch's: a hard kill (SIGKILL, OOM, preemption) loses
    at most that much. The Trainer's rotation (save_total_limit) keeps the newest checkpoints and the best."""

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.last_save = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.last_save >= self.seconds:
            control.should_save = True
        return control

    def on_save(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()


WAIT_FOR_READING_SECONDS = 300  # with less training left than this, the estimate waits for a timed validation pass


class MeasuredCosts(TrainerCallback):
    """Once the first steps are timed (`steps` of them, or `seconds`, whichever comes first; the first step, which
    warms up, not counted), the log says in seconds what the rest of the training and each step after it will take:
    `describe(texts a second, seconds of training left, reading, seconds the validation split took or None)` words
    it (budget.AnalysisBudget.describe_seconds).

    A short try (under WAIT_FOR_READING_SECONDS of training left by then) says them after its first validation pass
    within training, with the readings timed on that pass (its few steps, the longest batches first, say little about
    how fast a text is read: 50,000 reviews were estimated at 11 minutes of reading from their steps, and took 129 s).
    One without a validation pass within training (plan.only_validation_at_the_end) says them after the evaluation's
    validation pass that follows the training, with fp32 against mixed precision timed when the training ends."""

    def __init__(self, describe, steps: int = 20, seconds: float = 60.0):
        self.describe, self.steps, self.seconds = describe, steps, seconds
        self.start, self.last, self.done = None, None, False  # (time, step) at the first and the latest step's end
        self.reading = None  # (texts a second in the training's precision, in fp32), from the validation pass
        self.slowdown = None  # fp32 against mixed precision, timed at the end of a training without validation

    def on_step_end(self, args, state, control, **kwargs):
        if self.done:
            return control
        now = time.monotonic()
        if self.start is None:
            self.start = (now, state.global_step)
            return control
        self.last = (now, state.global_step)
        elapsed, steps = now - self.start[0], state.global_step - self.start[1]
        soon_done = (state.max_steps - state.global_step) * elapsed / steps < WAIT_FOR_READING_SECONDS
        if (steps >= self.steps or elapsed >= self.seconds) and not soon_done:
            self._say(args, state)
        return control

    def on_evaluate(self, args, state, control, metrics=None, model=None, eval_dataloader=None, **kwargs):
        if self.done or not metrics or not metrics.get("eval_samples_per_second"):
            return control
        rate = metrics["eval_samples_per_second"]
        self.reading = (rate, rate / fp32_slowdown(model, eval_dataloader) if args.bf16 or args.fp16 else rate)
        if self.last:
            self._say(args, state)
        return control

    def on_train_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        """Not said yet (a short try): the steps after it are what its user waits for, so it says them now; without a
        validation pass within training, once the evaluation after it has read the validation split (on_predict)."""
        if self.done or not self.last:
            return control
        if args.eval_strategy == IntervalStrategy.NO and self.reading is None:
            self.slowdown = fp32_slowdown(model, train_dataloader) if args.bf16 or args.fp16 else 1.0
            return control
        self._say(args, state)
        return control

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        """The evaluation after training read its first split, validation (the Trainer's prefix 'eval'), in fp32."""
        if self.done or self.slowdown is None or not metrics or not metrics.get("eval_samples_per_second"):
            return control
        rate = metrics["eval_samples_per_second"]
        self.reading = (rate * self.slowdown, rate)
        self._say(args, state, metrics["eval_runtime"])
        return control

    def _say(self, args, state, validation_seconds: float | None = None) -> None:
        """Timed from the first step's end to the latest's (a validation pass and a checkpoint after it are no
        training speed)."""
        elapsed, steps = self.last[0] - self.start[0], self.last[1] - self.start[1]
        per_step = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        speed, training_left = steps * per_step / elapsed, (state.max_steps - state.global_step) * elapsed / steps
        logger.info(self.describe(speed, training_left, self.reading, validation_seconds))
        self.done = True


FP32_TIMED_ROWS = 4  # rows of one validation batch read both ways to time fp32 against mixed precision
FP32_TIMINGS = 3  # each way timed this often, the fastest kept: one slow call had read 1.04 where 1.4-1.8 is usual


def timed(forward, inputs: dict) -> float:
    started = time.monotonic()
    forward(**inputs)
    return time.monotonic() - started


def fp32_slowdown(model, batches) -> float:
    """How many times as long fp32 takes as the training's mixed precision to read a few texts (validation's, or at
    the training's end its first batch's), timed on this machine (a bert-base read 2.5 times slower in fp32 than in
    bf16 on a CPU with AVX-512 BF16). Mixed precision wraps the model's forward; accelerate keeps the fp32 one as
    `_original_forward`. 1 where either is missing."""
    fp32_forward = getattr(model, "_original_forward", None)
    if fp32_forward is None or batches is None:
        return 1.0
    with torch.random.fork_rng(devices=[]):  # a DataLoader's iterator draws a seed: the run's dropout stays as it was
        batch = next(iter(batches))
    inputs = {name: tensor[:FP32_TIMED_ROWS].to(model.device) for name, tensor in batch.items() if name != "labels"}
    seconds, training = {}, getattr(model, "training", False)
    if training:  # timed at the training's end: read as evaluation reads, without dropout (which slowed both alike)
        model.eval()
    try:
        with torch.inference_mode():
            for name, forward in (("mixed", model.forward), ("fp32", fp32_forward)):
                forward(**inputs)  # the first call sets up kernels for these shapes
                seconds[name] = min(timed(forward, inputs) for _ in range(FP32_TIMINGS))
    finally:
        if training:
            model.train()
    return max(1.0, seconds["fp32"] / max(seconds["mixed"], 1e-9))


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped batches whose order is drawn from (seed, epoch) alone, not from the global random state.

    transformers' own draws from the global generator, which dropout advances, so after a resume
    mid-run the remaining epochs would see the data in another order than an uninterrupted run.
    """

    def __init__(self, *args, seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator = torch.Generator().manual_seed(self.seed + int(epoch))


LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.")  # encoder.layer.3. (BERT, RoBERTa), transformer.layer.3., layers.3.


def layer_depths(model) -> dict[str, int]:
    """Each parameter's depth below the output: 0 for the head, pooler and anything above the encoder layers,
    n for the n-th layer from the top, one more than the layers for the embeddings."""
    indices = {name: int(m.group(1)) for name, _ in model.named_parameters() if (m := LAYER_INDEX.search(name))}
    if not indices:
        raise UserError(
            f"--layer_lr_decay needs an encoder with numbered layers (encoder.layer.N), and "
            f"{type(model).__name__} has none; drop --layer_lr_decay."
        )
    layers = max(indices.values()) + 1
    return {
        name: layers - indices[name] if name in indices else layers + 1 if "embed" in name else 0
        for name, _ in model.named_parameters()
    }


def layer_lr_note(model, learning_rate: float, decay: float) -> str | None:
    """Where the learning rates run from and to under --layer_lr_decay, for the log and the card; None when off."""
    if decay == 1:
        return None
    depths = layer_depths(model)
    layers = max(depth for name, depth in depths.items() if LAYER_INDEX.search(name))
    head = "head and pooler" if any("pooler" in name for name in depths) else "head"
    top, upper, bottom, embeddings = (f"{learning_rate * decay**depth:.3g}" for depth in (0, 1, layers, layers + 1))
    return (
        f"{decay:g} per layer down from the top: {head} {top}, encoder layers {upper} (top) to {bottom} (bottom), "
        f"embeddings {embeddings}"
    )


def optimizer_class(args, model):
    """(optimizer class, its keyword arguments) as the Trainer builds them; a UserError naming the fix when --optim
    needs a package this machine lacks, or, under --layer_lr_decay, takes no parameter groups. Needs only the model's
    layout: the plan checks it on a skeleton before the weights load."""
    name = getattr(args.optim, "value", args.optim)  # an OptimizerNames member once parsed
    try:
        optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    except (ImportError, ValueError) as err:  # transformers says which package the optimizer needs
        raise UserError(f"--optim {name} cannot be used here: {str(err).strip().splitlines()[0]}") from None
    takes_groups = not is_optimizer_factory(optimizer_cls) and not {"params", "model", "optimizer_dict"} & kwargs.keys()
    if args.layer_lr_decay != 1 and not takes_groups:
        raise UserError(
            f"--layer_lr_decay works with optimizers over parameter groups (adamw_torch_fused, "
            f"adamw_torch, sgd, ...), not --optim {name}; drop one of the two."
        )
    return optimizer_cls, kwargs


class SentimentTrainer(Trainer):
    """A Trainer that evaluates in dataset order, breaks ties for the best checkpoint by loss, and gives each
    encoder layer its own learning rate under --layer_lr_decay.

    With train_sampling_strategy="group_by_length", transformers 5 also shuffles evaluation batches,
    so predictions no longer line up with the texts they belong to. We sort evaluation splits by
    length ourselves (see fine_tune.sort_by_length), which pads as little, and read them in order.

    The Trainer keeps the earliest of checkpoints that tie on metric_for_best_model. When the metric
    saturates (F1 1.0 on an easy or small validation split), that is the least trained of them, often
    still close to 50/50 on every text; among tied checkpoints we keep the one with the lowest
    validation loss instead.
    """

    _best_loss = None  # validation loss of the best checkpoint so far

    def create_optimizer(self, model=None):
        """The Trainer's optimizer, with each encoder layer's parameters in groups of their own rate under
        --layer_lr_decay (lower layers hold general features that fine-tuning should move less)."""
        decay = self.args.layer_lr_decay
        if self.optimizer is not None or decay == 1 or self.optimizer_cls_and_kwargs is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        optimizer_cls, kwargs = optimizer_class(self.args, model)
        decaying, depths, groups = set(self.get_decay_parameter_names(model)), layer_depths(model), {}
        for name, param in model.named_parameters():
            if param.requires_grad:
                groups.setdefault((depths[name], name in decaying), []).append(param)
        self.optimizer = optimizer_cls(
            [
                {
                    "params": params,
                    "lr": self.args.learning_rate * decay**depth,
                    "weight_decay": self.args.weight_decay if weight_decay else 0.0,
                }
                for (depth, weight_decay), params in sorted(groups.items())
            ],
            **kwargs,
        )
        return self.optimizer

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or "input_ids" not in dataset.column_names:
            return super()._get_train_sampler(train_dataset)
        # The lengths read from Arrow in one call: transformers' sampler would fetch every row (minutes at 1,000,000
        # texts), and reading the token ids as Python lists would hold them all in memory at once.
        lengths = pc.list_value_length(dataset.with_format("arrow")["input_ids"]).to_pylist()
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return EpochSeededLengthGroupedSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=lengths, seed=seed
        )

    def _get_eval_sampler(self, eval_dataset):
        if eval_dataset is None or self.args.world_size > 1:
            return None  # distributed: accelerate shards in order and gathers back in order
        return SequentialSampler(eval_dataset)

    def _determine_best_metric(self, metrics, trial):
        best_before, loss = self.state.best_metric, metrics.get("eval_loss")
        if best_before is None:  # a new training (or search trial) begins
            self._best_loss = None
        elif self._best_loss is None:  # resumed: the best checkpoint's loss is in the restored log history
            self._best_loss = next(
                (
                    entry["eval_loss"]
                    for entry in self.state.log_history
                    if entry.get("step") == self.state.best_global_step and "eval_loss" in entry
                ),
                None,
            )
        is_new_best = super()._determine_best_metric(metrics, trial)
        metric = self.args.metric_for_best_model
        tied = metrics.get(metric if metric.startswith("eval_") else f"eval_{metric}") == best_before
        if not is_new_best and tied and loss is not None and self._best_loss is not None and loss < self._best_loss:
            self.state.best_global_step = self.state.global_step
            is_new_best = True
        if is_new_best:
            self._best_loss = loss
        return is_new_best


def balanced_loss(train_labels: list[int], num_labels: int):
    """Cross-entropy weighted by inverse class frequency, as a Trainer `compute_loss_func`."""
    counts = Counter(train_labels)
    weights = torch.tensor([len(train_labels) / (num_labels * max(counts[i], 1)) for i in range(num_labels)])
    logger.info("Class weights: %s", ", ".join(f"{w:.2f}" for w in weights.tolist()))

    def compute_loss(outputs, labels, num_items_in_batch=None):
        logits = outputs.logits
        return torch.nn.functional.cross_entropy(logits, labels, weight=weights.to(logits.device, logits.dtype))

    return compute_loss


def pad_multiple(training_args) -> int | None:
    """Each batch is padded only to its longest text; on a GPU, up to a multiple of 8, which suits tensor cores."""
    return 8 if torch.cuda.is_available() and not training_args.use_cpu else None


def build_trainer(model, tokenizer, tokenized, training_args, callbacks=(), model_init=None):
    """(trainer, interrupt callback). `model_init` instead of `model` gives each search trial a fresh model."""
    num_labels = tokenized["train"].features["label"].num_classes
    interrupt = SaveOnInterrupt()
    all_callbacks = [interrupt, *callbacks]
    if training_args.checkpoint_minutes > 0 and training_args.save_strategy != "no":
        all_callbacks.append(CheckpointEvery(training_args.checkpoint_minutes))
    if training_args.early_stopping_patience > 0 and training_args.eval_strategy != "no":
        all_callbacks.append(EarlyStoppingCallback(early_stopping_patience=training_args.early_stopping_patience))
    loss = None
    if training_args.class_weighting == "balanced":
        loss = balanced_loss(tokenized["train"]["label"][:], num_labels)
    trainer = SentimentTrainer(
        model=model,
        model_init=model_init,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple(training_args)),
        compute_metrics=metrics_for_trainer(num_labels),
        compute_loss_func=loss,
        callbacks=all_callbacks,
    )
    return trainer, interrupt
