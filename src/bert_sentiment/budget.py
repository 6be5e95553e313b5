"""What the steps around training may cost: each sized to the training the user asked for, decided before it.

A short try (`--max_steps 5`) on 1,000,000 reviews should take minutes, not the hours that scoring every
training text for label issues would; a long run can afford more. So, before training, the run plans its
analyses from what it will train (texts x tokens, from the step count or the epochs) and from the encoder's
size (layers x hidden width squared: what one token costs to read):

- label issues score a stratified sample of the training texts (validation and test stay whole): about one
  text per TEXTS_TRAINED_PER_SCORED texts trained, so the two passes over them (the base encoder's and the
  fine-tuned model's, LABEL_ISSUE_READINGS) cost a few percent of the training, and never less than what
  FLOOR_COST buys (a short run still gets a useful list);
- the fold models of the thorough mode (about one epoch of training) only where the run trains at least
  1 / FOLD_SHARE epochs, and for at most THOROUGH_BUDGET_SECONDS;
- the TF-IDF baseline is fitted on at most BASELINE_MAX_TEXTS training texts (its accuracy levels off long
  before: bench/README.md, "Steps around training at scale");
- a short try reads a stratified sample of each evaluation split: about as many texts as its training costs
  passes, and never fewer than EVALUATION_FLOOR (5 steps of a bert-base spent 3 minutes reading 5,000
  validation texts in fp32; 2,000 tell whether the try works, within 1.3 points). Runs that train more read
  every text.

Every sampled step says so in the log, before training, with the flag that asks for the whole, and the card
says how large the sample was. Measured in bench/bench_scale.py.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from bert_sentiment.errors import UserError

TRAINING_PASSES = 3  # training a text (forward and backward) costs about three forward passes of it
# Reading one text per fifteen trained costs 2-3% of the training time (two readings, 4-6%): a bert-base in bf16
# embedded 46 texts a second where it trained 18, so a reading cost 1/2.6 of the training per text, not the third
# TRAINING_PASSES says (one in ten cost 4.5% of the epoch; bench/README.md, "Steps around training at scale").
TEXTS_TRAINED_PER_SCORED = 15
LABEL_ISSUE_READINGS = 2  # the scored texts are read by the base encoder and by the fine-tuned model
# The least a label-issue pass may cost: 5,000 texts of 32 tokens through a 6-layer, 384-wide encoder (MiniLM),
# about 20 s on 2 CPU cores; a bert-base reads 625 such texts for it, and fewer of longer texts.
FLOOR_COST = 5_000 * 32 * 6 * 384**2
WHOLE_SHARE = 0.5  # a sample of half the texts or more saves little: every text is scored
MIN_TEXTS_PER_CLASS = 50  # a sample with fewer texts of a class says nothing about that class: the step is skipped
FOLD_SHARE = 0.5  # fold models (about one epoch) only when the run trains at least two epochs' worth of texts
THOROUGH_BUDGET_SECONDS = 300  # ... and when they are estimated to take at most this long at the run's speed
BASELINE_MAX_TEXTS = 100_000  # TF-IDF + logistic regression fitted on at most this many training texts
# Accuracy 0.9 measured on 2,000 texts is +-1.3 points at 95%: enough for a short try to show it works.
EVALUATION_FLOOR = 2_000
SAMPLE_CHOICES = "'auto' (sized to the run), 'all', or a number of texts"


@dataclass(frozen=True)
class AnalysisBudget:
    """The analyses' plan, fixed before training."""

    trained_texts: int  # texts the training will read: steps x batch, or epochs x training texts
    label_issues: str  # 'false', 'fast', 'thorough', or 'auto' (thorough if the fold models fit, decided after)
    label_issue_sample: int  # training texts scored for label issues (all of them when equal to the split's size)
    baseline_sample: int  # training texts the TF-IDF baseline is fitted on
    train_texts: int  # the training split's size
    skipped_why: str | None = None  # why label issues are skipped although asked for
    evaluated: dict = field(default_factory=dict)  # evaluation split -> (texts read, the split's size)

    def sample_facts(self) -> dict:
        """For the run's data facts: the baseline's and the evaluation's samples, where they were samples."""
        facts = {}
        if self.baseline_sample < self.train_texts:
            facts["baseline_sample"] = {"fitted_on": self.baseline_sample, "of": self.train_texts}
        sampled = {
            split: {"evaluated": read, "of": size} for split, (read, size) in self.evaluated.items() if read < size
        }
        if sampled:
            facts["evaluation_sample"] = sampled
        return facts

    def seconds(self, texts_per_second: float, reading: tuple[float, float] | None = None) -> dict[str, float]:
        """Each step's seconds at the training speed measured (training texts a second). `reading`: the texts a
        second that a reading pass took in the training's precision and in fp32, where the validation pass within
        training timed them; else a reading costs a third of a training step's time per text (TRAINING_PASSES).
        Evaluation reads in fp32; label issues read their sample twice (the base encoder, the fine-tuned model) in
        the training's precision, and the thorough mode's fold models train on it for about one epoch."""
        in_training_precision, in_fp32 = reading or (TRAINING_PASSES * texts_per_second,) * 2
        steps = {f"{split} reading": texts / in_fp32 for split, (texts, _) in self.evaluated.items()}
        if self.label_issues != "false":
            steps["label issues"] = LABEL_ISSUE_READINGS * self.label_issue_sample / in_training_precision
        if self.label_issues == "thorough":
            steps["label issues"] += self.label_issue_sample / texts_per_second
        return steps

    def describe_seconds(
        self,
        texts_per_second: float,
        training_left: float,
        reading: tuple[float, float] | None = None,
        validation_seconds: float | None = None,
    ) -> str:
        """One log line: the training speed measured, the training time left, and each step after it in seconds; said
        after the training and the validation split's reading (`validation_seconds`), the steps after that."""
        seconds = self.seconds(texts_per_second, reading)
        if validation_seconds is None:
            done = f": training about {in_words(training_left)} more"
        else:
            done = f"; validation read in {in_words(validation_seconds)}"
            seconds.pop("validation reading", None)
        steps = ", ".join(f"{step} about {in_words(step_seconds)}" for step, step_seconds in seconds.items())
        return (
            f"Measured {texts_per_second:,.1f} training texts a second{done}"
            f"{'; then ' + steps if steps else ''}"
            f"{' (and fold models for label issues if they fit)' if self.label_issues == 'auto' else ''}."
        )

    def describe(self) -> str:
        """The log block: each step's mode and size, and the flag that asks for the whole."""
        lines = [f"Steps after training (the training reads about {self.trained_texts:,} texts):"]
        if self.label_issues == "false":
            lines.append(f"  label issues: off{f' ({self.skipped_why})' if self.skipped_why else ''}")
        else:
            mode = "fast models, and fold models if they fit" if self.label_issues == "auto" else f"{self.label_issues}"
            whole = "all" if self.label_issue_sample == self.train_texts else "a stratified sample of"
            share = LABEL_ISSUE_READINGS * self.label_issue_sample / (TRAINING_PASSES * max(self.trained_texts, 1))
            lines.append(
                f"  label issues: {mode}, on {whole} {self.label_issue_sample:,} of {self.train_texts:,} "
                f"training texts, reading them twice costs about {share:.0%} of the training"
                f"{'' if whole == 'all' else ' (--label_issue_sample all scores every one)'}"
            )
        whole = self.baseline_sample == self.train_texts
        lines.append(
            f"  TF-IDF baseline: fitted on {'all' if whole else 'a stratified sample of'} "
            f"{self.baseline_sample:,} training texts"
        )
        for split, (read, size) in self.evaluated.items():
            share = read / (TRAINING_PASSES * max(self.trained_texts, 1))
            if read < size:
                lines.append(
                    f"  evaluation: {split} read on a stratified sample of {read:,} of its {size:,} texts, a short "
                    f"run's share, costing about {share:.0%} of the training per reading (--evaluation_sample all "
                    "reads every one)"
                )
            else:
                lines.append(
                    f"  evaluation: all {size:,} {split} texts, costing about {share:.0%} of the training per reading"
                )
        return "\n".join(lines)


def in_words(seconds: float) -> str:
    """'45 s', '12.5 min' or '2.3 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def sample_size(value: str, flag: str = "--label_issue_sample", choices: str = SAMPLE_CHOICES) -> int | None:
    """A sample flag's value as a number of texts, or None for 'auto'; 'all' is a number no split reaches."""
    value = str(value).strip().lower()
    if value == "auto":
        return None
    if value == "all":
        return math.inf
    try:
        number = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        number = 0
    if number < 1:
        raise UserError(f"{flag} '{value}' is not one of {choices} (e.g. 20000).")
    return number


def trained_texts(training_args, train_texts: int) -> int:
    """How many texts the training will read: from --max_steps when set, else from the epochs."""
    if training_args.max_steps and training_args.max_steps > 0:
        per_step = (
            training_args.per_device_train_batch_size
            * training_args.gradient_accumulation_steps
            * max(training_args.world_size, 1)
        )
        return training_args.max_steps * per_step
    return math.ceil(training_args.num_train_epochs * train_texts)


def plan_analyses(
    training_args,
    train_texts: int,
    label_counts: list[int],
    mean_tokens: float,
    config,
    evaluation_sizes: dict | None = None,
) -> AnalysisBudget:
    """The budget for this run (see the module's docstring); evaluation_sizes: each evaluation split's size."""
    trained = trained_texts(training_args, train_texts)
    per_text = max(mean_tokens, 1) * config.num_hidden_layers * config.hidden_size**2
    asked = sample_size(training_args.label_issue_sample)
    wanted = asked if asked is not None else max(trained // TEXTS_TRAINED_PER_SCORED, int(FLOOR_COST / per_text))
    sample = int(train_texts if asked is None and wanted >= WHOLE_SHARE * train_texts else min(wanted, train_texts))
    mode, why = training_args.find_label_issues, None
    smallest = min(round(count * sample / train_texts) for count in label_counts)
    if mode != "false" and smallest < MIN_TEXTS_PER_CLASS and sample < train_texts:
        mode, why = (
            "false",
            (
                f"a sample of {sample:,} training texts holds only {smallest} of the rarest class, fewer "
                f"than {MIN_TEXTS_PER_CLASS}; --label_issue_sample all scores every text"
            ),
        )
    if mode == "auto" and train_texts > FOLD_SHARE * trained:
        mode = "fast"  # fold models would train more than half of what the run itself trains
    evaluated = {
        split: (evaluation_sample(training_args, trained, size), size)
        for split, size in (evaluation_sizes or {}).items()
    }
    return AnalysisBudget(trained, mode, sample, min(train_texts, BASELINE_MAX_TEXTS), train_texts, why, evaluated)


def evaluation_sample(training_args, trained: int, size: int) -> int:
    """Texts of an evaluation split to read: every one, unless a short try would spend more on reading them than on
    its training (and EVALUATION_FLOOR is under half of them), or the user asked for a number."""
    asked = sample_size(training_args.evaluation_sample, "--evaluation_sample")
    if asked is not None:
        return int(min(asked, size))
    wanted = max(TRAINING_PASSES * trained, EVALUATION_FLOOR)
    return size if wanted >= WHOLE_SHARE * size else wanted


def stratified_sample(labels, size: int, seed: int) -> np.ndarray:
    """Sorted row numbers of a sample of `size` rows keeping each class's share (every row when size covers them)."""
    labels = np.asarray(labels)
    if size >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    lone_class = np.unique(labels, return_counts=True)[1].min() < 2  # a class of one text cannot be split
    rows, _ = train_test_split(
        np.arange(len(labels)), train_size=size, stratify=None if lone_class else labels, random_state=seed
    )
    return np.sort(rows)
