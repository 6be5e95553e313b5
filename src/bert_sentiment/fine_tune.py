"""The whole fine-tuning run, top to bottom, in phases named as the log names them:

preflight (the flags, the output folder, the Hub), prepare (the data read, split and tokenized), plan (every decision
that needs no weights, plan.py), train, finalize (the best model saved in fp32), evaluate (and calibrate), analyses
(baselines, label issues, the ONNX export), record (run_facts.json and the card), publish.
"""

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from transformers import set_seed

from bert_sentiment.abstain import PRECISION_COVERAGE_IMAGE, abstention_report, plot_precision_coverage
from bert_sentiment.abstain import describe as describe_abstention
from bert_sentiment.baselines import baseline_results
from bert_sentiment.budget import AnalysisBudget, plan_analyses, stratified_sample
from bert_sentiment.calibration import (
    MIN_VALIDATION_TEXTS,
    calibration_report,
    classifier_head,
    fit_temperature,
    fold_temperature,
    negative_log_likelihood,
    plot_reliability,
)
from bert_sentiment.card_text import baseline_warning
from bert_sentiment.corrections import labelled_hashes, save_earlier, save_labelled_texts
from bert_sentiment.data import load_raw_splits
from bert_sentiment.evaluation import classification_metrics, evaluation_report, softmax
from bert_sentiment.facts import (
    SCHEMA_VERSION,
    LabelIssues,
    OnnxFacts,
    Phase,
    RunFacts,
    hardware,
    hyperparameters,
    library_versions,
    parse,
    utc_now,
)
from bert_sentiment.hp_search import reuse_earlier_search, search_hyperparameters
from bert_sentiment.label_issues import score_label_issues
from bert_sentiment.languages import default_checkpoint, resolve_language, warn_unknown_tokens
from bert_sentiment.lengths import (
    choose_inference_length,
    choose_max_length,
    length_report,
    model_length_limit,
    token_lengths,
)
from bert_sentiment.long_text import average_by_owner, head_tail_texts, window_encodings
from bert_sentiment.memory import fit_batch_to_memory, trial_batch_fit
from bert_sentiment.model import load_model, load_tokenizer_and_config
from bert_sentiment.model_card import write_card
from bert_sentiment.onnx_export import try_export_onnx
from bert_sentiment.phases import PhaseClock
from bert_sentiment.plan import RunPlan, make_plan, preflight
from bert_sentiment.prepare import PreparedData, prepare_splits
from bert_sentiment.publish import HubTarget, publish
from bert_sentiment.training import MeasuredCosts, build_trainer, layer_lr_note

logger = logging.getLogger(__name__)

EVAL_PREFIXES = {"validation": "eval", "test": "test"}  # the Trainer's names for metric keys


@dataclass
class PreparedRun:
    """Everything known before the model loads: the splits, their language and lengths, the tokenizer."""

    data: PreparedData
    source: dict
    language: str
    checkpoint: str
    tokenizer: object
    config: object
    lengths: dict
    tokenized: DatasetDict


@dataclass
class Trained:
    """What training leaves: the trainer (its model the best checkpoint's), the Trainer's figures (None when
    interrupted), the search's record, and what was done to the pooler."""

    trainer: object
    result: object | None
    search: dict | None
    pooler: str | None


@dataclass
class Evaluated:
    """Every evaluation split read once: its report, its probabilities, and the calibration and 'not sure' threshold
    chosen on validation."""

    results: dict
    probabilities: dict
    calibration: dict | None
    abstention: dict | None


def fine_tune(model_args, data_args, training_args, callbacks=(), data=None) -> RunFacts | None:
    """Run everything; return the run's facts (also saved as run_facts.json), or None if interrupted.

    `data`, when given, is the user's data already in memory (an InMemoryData), in place of the data flags.
    """
    started, start_time, clock = utc_now(), time.monotonic(), PhaseClock()
    checked = preflight(data_args, training_args, in_memory=data is not None)
    set_seed(training_args.seed)
    with clock("data"):
        prepared = prepare_data(model_args, data_args, training_args, data)
        left_out = prepared.data.corrections.left_out() if prepared.data.corrections else []
        labelled = labelled_hashes(prepared.data.splits, left_out)  # before evaluation splits are sampled
    plan = make_plan(training_args, model_args, checked, prepared, analysis_budget(prepared, training_args))
    logger.info(plan.describe())
    sample_evaluation_splits(prepared, plan.analyses, training_args.seed)
    trained = train(prepared, plan, model_args, training_args, callbacks, clock)
    if trained.result is None:
        return None
    finalize(trained)
    with clock("evaluation and calibration"):  # the model is saved again, calibrated
        evaluated = evaluate(trained.trainer, prepared, training_args)
    facts = analyses(trained, prepared, plan, evaluated, model_args, clock)
    facts.started = started
    if trained.trainer.is_world_process_zero():
        if training_args.export_onnx:  # before the card, which shows the ONNX snippets only when the files exist
            with clock("onnx export"):
                onnx = export_checked_onnx(prepared, training_args, evaluated.probabilities["validation"])
                facts.onnx = parse(OnnxFacts, onnx)
        facts.phases = parse(dict[str, Phase], clock.record)
        facts.duration_seconds = round(time.monotonic() - start_time, 1)
        save_labelled_texts(labelled, training_args.output_dir)
        if prepared.data.corrections:  # `review` writes them into its sheet again: the next round keeps them
            save_earlier(prepared.data.corrections, training_args.output_dir)
        save_run(Path(training_args.output_dir), facts, training_args, model_args, checked.hub_target)
        _remove_checkpoints(Path(training_args.output_dir))  # only now: until the run's files are saved, --resume works
    return facts


def train(prepared: PreparedRun, plan: RunPlan, model_args, training_args, callbacks, clock: PhaseClock) -> Trained:
    """Load the weights, search hyperparameters when asked, and train with the plan's settings."""
    with clock("model loading"):
        model, pooler = load_model(prepared.checkpoint, prepared.config, model_args)
    if pooler:
        logger.info("Pooler: %s.", pooler)
    args, search = plan.trainer_arguments(training_args), None
    if training_args.hp_search:
        fit_trial = trial_batch_fit(training_args, prepared.config, plan.parameters, longest_training_text(prepared))
        search = reuse_earlier_search(training_args) or search_hyperparameters(
            prepared.checkpoint, prepared.config, model_args, prepared.tokenizer, prepared.tokenized, args, fit_trial
        )
        args = searched_arguments(plan, training_args, search, prepared)
    costs = MeasuredCosts(plan.analyses.describe_seconds)
    trainer, interrupt = build_trainer(model, prepared.tokenizer, prepared.tokenized, args, [*callbacks, costs])
    with clock("training"):
        result = trainer.train(resume_from_checkpoint=plan.resume_from)
    if interrupt.interrupted:
        logger.warning(
            "Stopped at step %d; checkpoint saved in %s. Continue with the same command plus --resume.",
            trainer.state.global_step,
            training_args.output_dir,
        )
        result = None
    return Trained(trainer, result, search, pooler)


def searched_arguments(plan: RunPlan, training_args, search: dict, prepared: PreparedRun):
    """The final run's arguments after a search: its chosen values, the chosen batch fitted to memory as the plan
    fits the asked one."""
    chosen = dict(search["best"]["params"])
    batch = chosen.get("per_device_train_batch_size", training_args.per_device_train_batch_size)
    accumulation, note = training_args.gradient_accumulation_steps, None
    if training_args.trains_on_cpu:
        batch, accumulation, note = fit_batch_to_memory(
            batch, accumulation, prepared.config, plan.parameters, longest_training_text(prepared), plan.resume_from
        )
    if note:
        logger.warning("Training batch for the search's choice: %s.", note)
    chosen |= {"per_device_train_batch_size": batch, "gradient_accumulation_steps": accumulation}
    return plan.trainer_arguments(training_args, chosen)


def longest_training_text(prepared: PreparedRun) -> int:
    """Tokens in the longest training batch's texts: the longest text, cut at max_length."""
    return min(prepared.lengths["max_length"], prepared.lengths["splits"]["train"]["max"])


def finalize(trained: Trained) -> None:
    """The best checkpoint's weights saved as the run's model (safetensors, fp32, with the tokenizer and the config's
    label names), and read from now on in full precision."""
    trainer = trained.trainer
    trainer.save_model()
    full_precision_evaluation(trainer)
    trainer.log_metrics("train", trained.result.metrics)
    trainer.save_metrics("train", trained.result.metrics)


def evaluate(trainer, prepared: PreparedRun, training_args) -> Evaluated:
    """Every evaluation split read once as predictions read it, calibrated on validation, and the 'not sure'
    threshold chosen there."""
    reading, long_text = prepared.lengths["inference_max_length"], prepared.lengths["long_text"]
    output_dir = Path(training_args.output_dir)
    results, probabilities, calibration = evaluate_splits(
        trainer, prepared.data, prepared.tokenized, output_dir, reading, long_text, training_args.calibrate
    )
    abstention = choose_abstention(trainer, prepared.data, probabilities, training_args.abstain_precision, output_dir)
    return Evaluated(results, probabilities, calibration, abstention)


def analyses(
    trained: Trained, prepared: PreparedRun, plan: RunPlan, evaluated: Evaluated, model_args, clock: PhaseClock
) -> RunFacts:
    """The baselines beside every score and the likely label errors, within the plan's budgets; the run's facts."""
    trainer, budget = trained.trainer, plan.analyses
    with clock("baselines"):
        baselines = baseline_results(
            prepared.data.splits,
            prepared.language,
            trainer.args.seed,
            budget.baseline_sample,
            not trainer.args.disable_tqdm,
        )
    log_comparison(evaluated.results, baselines)
    keep_shown_examples(evaluated.results)
    facts = RunFacts.from_dict(
        dict(
            calibration=evaluated.calibration,
            abstention=evaluated.abstention,
            hp_search=trained.search,
            plan=plan.facts(),
            **public_base_model(prepared.checkpoint, model_args.base_model_id),
            language=prepared.language,
            label_names=prepared.data.label_names,
            data={"source": prepared.source, **prepared.data.report, **budget.sample_facts()},
            lengths=prepared.lengths,
            **run_record(trainer, trained.result, evaluated.results, baselines, trained.pooler),
            schema_version=SCHEMA_VERSION,
        )
    )
    if budget.label_issues != "false" and trainer.is_world_process_zero():
        with clock("label issues"):
            issues = score_label_issues(
                prepared, evaluated.probabilities, budget, trainer, trained.result, model_args, outclassed(facts)
            )
        facts.label_issues = parse(LabelIssues, issues)
    if warning := baseline_warning(facts):
        logger.warning(warning)
    return facts


def outclassed(facts: RunFacts) -> str | None:
    """Why the fine-tuned model cannot judge labels, when the TF-IDF baseline reads them better by more than the split
    can blur (a try of a few steps, say); None otherwise."""
    verdict = facts.baseline_not_beaten()
    if not verdict or verdict["gap"] >= -verdict["noise"]:
        return None
    return (
        f"the fine-tuned model's {verdict['split']} accuracy ({verdict['model']:.4f}) is below the TF-IDF baseline's "
        f"({verdict['baseline']:.4f}) by more than {verdict['texts']:,} texts can blur, so its disagreements with the "
        "labels say more about it than about them"
    )


def public_base_model(checkpoint: str, base_model_id: str | None) -> dict:
    """How the run's published files name its base model: a Hub id as given; a local folder by --base_model_id,
    else by the folder's own name, marked local. A path (with the user's home folder in it) is never written."""
    if not Path(checkpoint).exists():
        return {"base_model": checkpoint}
    recorded = _recorded_hub_id(Path(checkpoint))
    if base_model_id or recorded:
        return {"base_model": base_model_id or recorded}
    return {"base_model": Path(checkpoint).resolve().name, "base_model_local": True}


def _recorded_hub_id(folder: Path) -> str | None:
    """The Hub id a downloaded model's config.json records (`_name_or_path`), when it is one and not a path."""
    import json

    from bert_sentiment.card_text import is_hub_id

    try:
        recorded = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path") or ""
    except (OSError, ValueError):
        return None
    return recorded if recorded and not recorded.startswith((".", "/", "~")) and is_hub_id(recorded) else None


def keep_shown_examples(results: dict) -> None:
    """Only the split whose examples the card and the app show keeps them (RunFacts.label_examples): the texts
    of the other splits, the test split's included, stay out of the published run_facts.json."""
    shown = next((split for split, report in results.items() if report.get("label_examples")), None)
    for split, report in results.items():
        if split != shown:
            report.pop("label_examples", None)


def analysis_budget(prepared: PreparedRun, training_args) -> AnalysisBudget:
    """The steps after training, sized to what the run will train (budget.py); part of the plan."""
    train = prepared.data.splits["train"]
    counts = list(prepared.data.report["label_counts"]["train"].values())
    tokens = min(prepared.lengths["splits"]["train"]["mean"], prepared.lengths["max_length"])
    evaluation_sizes = {name: len(split) for name, split in prepared.data.splits.items() if name != "train"}
    budget = plan_analyses(training_args, len(train), counts, tokens, prepared.config, evaluation_sizes)
    return budget


def sample_evaluation_splits(prepared: PreparedRun, budget: AnalysisBudget, seed: int) -> None:
    """A short try's evaluation splits cut to the budget's stratified samples, in the texts and their tokens alike,
    rows kept in their order (longest first): every later reading (training's, the final one, the ONNX check, label
    issues) reads the same rows."""
    for name, (read, size) in budget.evaluated.items():
        if read < size:
            rows = stratified_sample(prepared.data.splits[name]["label"][:], read, seed)
            prepared.data.splits[name] = prepared.data.splits[name].select(rows)
            prepared.tokenized[name] = prepared.tokenized[name].select(rows)


def prepare_data(model_args, data_args, training_args, data=None) -> PreparedRun:
    """Load and split the data, pick the checkpoint and max_length, and tokenize (the long-text mode applied)."""
    raw, source = load_raw_splits(data_args, model_args.cache_dir, data)
    data = prepare_splits(raw, data_args, training_args.split_seed)
    train_texts = data.splits["train"]["text"][:]  # read from Arrow once, for the language and the vocabulary
    language = resolve_language(model_args.language, train_texts)
    checkpoint = model_args.model_name_or_path or default_checkpoint(language)
    tokenizer, config = load_tokenizer_and_config(checkpoint, data.label_names, model_args)
    warn_unknown_tokens(tokenizer, checkpoint, language, train_texts)
    lengths, lengths_by_split = measure_lengths(data.splits, tokenizer, config, data_args.max_seq_length)
    data.splits = sort_by_length(data.splits, lengths_by_split)
    # max_length is a training budget; what users' predictions read is saved with the tokenizer, which
    # plain pipeline() calls, the app and the card's snippets all follow (and evaluation, to report it).
    reading, why = choose_inference_length(data_args.inference_max_length, model_length_limit(tokenizer, config))
    lengths |= {"inference_max_length": reading, "inference_max_length_reason": why}
    tokenizer.model_max_length = reading
    config.long_text = lengths["long_text"] = data_args.long_text  # saved with the model: the app applies it too
    tokenized = tokenize(data.splits, tokenizer, lengths["max_length"], data_args.long_text, reading)
    return PreparedRun(data, source, language, checkpoint, tokenizer, config, lengths, tokenized)


def choose_abstention(
    trainer, data: PreparedData, probabilities: dict, target: float | None, output_dir: Path
) -> dict | None:
    """The 'not sure' threshold for --abstain_precision (saved in config.json), or the coverage at the usual targets;
    None when validation is too small to choose from."""
    labels = {split: np.asarray(data.splits[split]["label"][:]) for split in probabilities}
    if len(labels["validation"]) < MIN_VALIDATION_TEXTS:
        (logger.warning if target else logger.info)(
            "'Not sure' thresholds skipped: the validation split has %d texts, fewer than the %d a threshold needs%s.",
            len(labels["validation"]),
            MIN_VALIDATION_TEXTS,
            "; every text is answered" if target else "",
        )
        return None
    report = abstention_report(probabilities, labels, target)
    (logger.warning if target and report["threshold"] is None else logger.info)(describe_abstention(report))
    if trainer.is_world_process_zero():
        if report["threshold"] is not None:  # travels with the model: the app, load() and the card read it
            trainer.model.config.abstain_threshold, trainer.model.config.abstain_precision = report["threshold"], target
            trainer.model.config.save_pretrained(output_dir)
        plot_precision_coverage(probabilities, labels, report, output_dir / PRECISION_COVERAGE_IMAGE)
    return report


def export_checked_onnx(prepared: PreparedRun, training_args, validation_probabilities: np.ndarray) -> dict:
    """onnx/ beside the saved model, checked on validation texts against the probabilities evaluation just gave them
    (PyTorch is not run again) when the check reads them as evaluation did: whole texts, cut at the reading length."""
    texts = prepared.data.splits["validation"]["text"][:]
    same_reading = prepared.lengths["long_text"] == "truncate"
    return try_export_onnx(
        Path(training_args.output_dir),
        texts,
        expected=validation_probabilities if same_reading else None,
        show_progress=not training_args.disable_tqdm,
    )


def full_precision_evaluation(trainer) -> None:
    """The reported figures come from fp32: drop the autocast wrapper accelerate put on the model for mixed precision."""
    from accelerate.utils import extract_model_from_parallel

    if trainer.args.bf16 or trainer.args.fp16:
        trainer.model = extract_model_from_parallel(trainer.model, keep_fp32_wrapper=False)
        trainer.model_wrapped = trainer.model
    if trainer.args.tf32:  # TF32 rounds matrix products' inputs: evaluate in true fp32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False


def save_run(output_dir: Path, facts: RunFacts, training_args, model_args, hub_target: HubTarget | None) -> None:
    """Main process only: run_facts.json, the model card, and the push when one was asked for."""
    facts.save(output_dir)
    card = write_card(output_dir, training_args.hub_model_id or str(output_dir), model_args.license)
    logger.info("Wrote the model card %s", card)
    if hub_target:
        facts.published = publish(output_dir, hub_target, model_args.license)


def run_record(trainer, train_result, results: dict, baselines: dict, pooler: str | None = None) -> dict:
    """Settings (as the Trainer used them), training figures, results beside baselines, and the environment, for
    run_facts.json."""
    args = trainer.args
    rates = layer_lr_note(trainer.model, args.learning_rate, args.layer_lr_decay)
    return {
        "hyperparameters": hyperparameters(args),
        "training": {
            **train_result.metrics,
            "epochs_run": trainer.state.epoch,
            "global_steps": trainer.state.global_step,
            "processes": args.world_size,
            "best_checkpoint_step": _best_step(trainer),
            "evaluations": [
                {k: v for k, v in entry.items() if k in ("epoch", "step", "eval_loss", "eval_accuracy", "eval_f1")}
                for entry in trainer.state.log_history
                if "eval_loss" in entry
            ],
            "precision": args.precision_used,
            "precision_reason": args.precision_reason,
            **({"pooler": pooler} if pooler else {}),
            **({"layer_learning_rates": rates} if rates else {}),
        },
        "results": {split: {**report, "baselines": baselines[split]} for split, report in results.items()},
        "environment": {"versions": library_versions(), "hardware": hardware()},
    }


def measure_lengths(splits, tokenizer, config, requested: int | None) -> tuple[dict, dict]:
    """(length report with the chosen max_length, token lengths per split)."""
    lengths = {name: token_lengths(tokenizer, split["text"][:]) for name, split in splits.items()}
    max_length, reason = choose_max_length(lengths["train"], requested, model_length_limit(tokenizer, config))
    return length_report(lengths, max_length, reason), lengths


def sort_by_length(splits, lengths_by_split):
    """Evaluation splits longest first: batches of similar length pad little, and memory trouble shows at once."""
    for name in splits:
        if name != "train":
            splits[name] = splits[name].select(np.argsort(-lengths_by_split[name], kind="stable"))
    return splits


def tokenize(splits, tokenizer, max_length: int, long_text: str = "truncate", reading: int | None = None):
    """Training texts cut to max_length, the others to `reading` (head+tail when asked); no padding: the
    collator pads each batch to its longest."""

    def encode(batch, length):
        texts = batch["text"] if long_text == "truncate" else head_tail_texts(tokenizer, batch["text"], length)
        return tokenizer(texts, truncation=True, max_length=length)

    return DatasetDict(
        {
            name: split.map(
                lambda batch, length=max_length if name == "train" else reading or max_length: encode(batch, length),
                batched=True,
                remove_columns=["text"],
                desc=f"Tokenizing {name}",
            )
            for name, split in splits.items()
        }
    )


def predict_split(trainer, texts, tokenized, max_length: int, long_text: str, prefix: str):
    """(logits, owners, metrics) of one split read as predictions read it: one row per text, or per window with
    owners[i] the text window i belongs to (long_text 'chunks'; owners is None otherwise)."""
    if long_text != "chunks":
        prediction = trainer.predict(tokenized, metric_key_prefix=prefix)
        return prediction.predictions, None, prediction.metrics
    windows, owners = window_encodings(trainer.processing_class, list(texts), max_length)
    prediction = trainer.predict(Dataset.from_dict(dict(windows)), metric_key_prefix=prefix)
    return prediction.predictions, owners, {f"{prefix}_windows": len(owners)}


def text_probabilities(logits: np.ndarray, owners: np.ndarray | None, texts: int, temperature: float | None):
    """Each text's probabilities from its logits (windows averaged), scaled by the temperature when there is one."""
    probabilities = softmax(logits / (temperature or 1.0))
    return probabilities if owners is None else average_by_owner(probabilities, owners, texts)


def calibrate(trainer, logits: np.ndarray, labels: np.ndarray, owners: np.ndarray | None, wanted: bool) -> dict | None:
    """Fit a temperature on the validation logits (read as evaluation reads them) and fold it into the saved model."""
    if not wanted:
        logger.info("Calibration off (--calibrate false): probabilities are the model's own.")
        return None
    if len(labels) < MIN_VALIDATION_TEXTS or classifier_head(trainer.model) is None:
        why = (
            f"the validation split has {len(labels)} texts, fewer than the {MIN_VALIDATION_TEXTS} a temperature needs"
            if len(labels) < MIN_VALIDATION_TEXTS
            else "the model has no single linear classifier head to scale"
        )
        logger.info("Calibration skipped: %s.", why)
        return None
    temperature = fit_temperature(logits, labels, owners)
    fold_temperature(trainer.model, temperature)
    trainer.save_model()
    logger.info(
        "Calibrated the probabilities: temperature %.3f, fitted on %d validation texts and folded into the "
        "classifier head (--calibrate false turns this off).",
        temperature,
        len(labels),
    )
    return {"temperature": temperature, "fitted_on": "validation", "texts": len(labels)}


def evaluate_splits(
    trainer, data, tokenized, output_dir: Path, max_length: int, long_text: str, wants_calibration: bool = False
) -> tuple[dict, dict, dict | None]:
    """(report per split, probabilities per split, calibration), read as predictions read: at the reading length,
    calibrated by a temperature fitted on the validation pass itself, so no split is read twice."""
    splits = {split: prefix for split, prefix in EVAL_PREFIXES.items() if split in tokenized}
    passes = {
        split: predict_split(trainer, data.splits[split]["text"][:], tokenized[split], max_length, long_text, prefix)
        for split, prefix in splits.items()
    }
    logits, owners, _ = passes["validation"]
    calibration = calibrate(
        trainer, logits, np.asarray(data.splits["validation"]["label"][:]), owners, wants_calibration
    )
    temperature = calibration["temperature"] if calibration else None
    results, probabilities_by_split = {}, {}
    for split, prefix in splits.items():
        texts, labels = data.splits[split]["text"][:], np.asarray(data.splits[split]["label"][:])
        logits, owners, metrics = passes[split]
        probabilities = text_probabilities(logits, owners, len(texts), temperature)
        metrics |= {
            f"{prefix}_{name}": value
            for name, value in classification_metrics(
                labels, probabilities.argmax(axis=-1), probabilities.shape[1]
            ).items()
        }
        if temperature or owners is not None:  # the loss of the probabilities reported, not of the raw logits
            metrics[f"{prefix}_loss"] = negative_log_likelihood(probabilities, labels)
        trainer.log_metrics(prefix, metrics)
        trainer.save_metrics(prefix, metrics)
        probabilities_by_split[split] = probabilities
        if trainer.is_world_process_zero():
            results[split] = evaluation_report(texts, labels, probabilities, data.label_names, split, output_dir)
            results[split]["metrics"]["loss"] = negative_log_likelihood(probabilities, labels)  # --seeds may pick by it
            if temperature:
                results[split]["calibration"] = calibration_report(probabilities, labels, temperature)
                title = f"Reliability ({split}, temperature {temperature:.2f})"
                plot_reliability(probabilities, labels, temperature, title, output_dir / f"reliability_{split}.png")
    return results, probabilities_by_split, calibration


def log_comparison(results: dict, baselines: dict) -> None:
    for split, report in results.items():
        rows = {"fine-tuned model": report["metrics"], **baselines[split]}
        lines = [f"Results on {split} ({report['num_examples']:,} texts):", f"  {'':<28} accuracy        f1"]
        lines += [f"  {name:<28} {m['accuracy']:>8.4f}  {m['f1']:>8.4f}" for name, m in rows.items()]
        logger.info("\n".join(lines))


def _best_step(trainer) -> int | None:
    best = trainer.state.best_model_checkpoint
    return int(best.rsplit("-", 1)[-1]) if best else None


def _remove_checkpoints(output_dir: Path) -> None:
    """A finished run keeps its best model at the top level; the checkpoints (with optimizer state) go."""
    for checkpoint in output_dir.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    logger.info("Removed intermediate checkpoints; the best model is in %s", output_dir)
