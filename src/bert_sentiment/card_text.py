"""The prose parts of the model card: tables and sentences built from the run's facts."""

import json
import re
from pathlib import Path

from bert_sentiment.abstain import PRECISION_COVERAGE_IMAGE
from bert_sentiment.facts import (
    DataFacts,
    Hardware,
    LabelIssues,
    LengthFacts,
    OnnxFacts,
    RunFacts,
    Search,
    Seeds,
    Source,
    TrainingFacts,
)

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "multilingual": "multilingual"}
SPLIT_NAMES = {"validation": "Validation", "test": "Test"}
SHOWN_HYPERPARAMETERS = (
    "learning_rate",
    "num_train_epochs",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "warmup_steps",
    "weight_decay",
    "lr_scheduler_type",
    "optim",
    "seed",
    "bf16",
    "fp16",
    "train_sampling_strategy",
    "early_stopping_patience",
    "class_weighting",
)


def dataset_identity(source: Source) -> dict:
    """Hub id, config and commit for Hub data; for local data a stable name taken from the file."""
    if source.kind == "hub":
        return {
            "type": source.dataset_name,
            "name": source.dataset_name,
            "config": source.config,
            "revision": source.commit or source.revision,
            "on_hub": True,
        }
    files = source.files
    first = files.get("train") or next(iter(files.values()))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.name or first.name.split(".")[0]).strip("-")
    return {
        "type": stem or "local-data",
        "name": source.name or first.name,
        "config": None,
        "revision": None,
        "on_hub": False,
        "sha256": {split: f.sha256 for split, f in files.items()},
    }


def _score(value: float) -> str:
    return f"{value:.4f}"


def template_variables(facts: RunFacts, repo_id: str, image_dir: Path | None) -> dict:
    names = facts.label_names
    results = [_split_section(split, facts, image_dir) for split in facts.results]
    lengths, training = facts.lengths, facts.training
    return {
        "title": repo_id.split("/")[-1],
        "repo_id": repo_id,
        "num_labels": len(names),
        "label_list": ", ".join(names),
        "label_list_code": ", ".join(f"`{name}`" for name in names),
        "base_model": f"`{facts.base_model}` (a local model)"
        if facts.base_model_local
        else _model_link(facts.base_model),
        "data_description": _data_description(facts.data.source),
        "headline": _headline(facts),
        "baseline_warning": baseline_warning(facts),
        "f1_name": "F1" if len(names) == 2 else "macro F1",
        "usage_example": json.dumps(_usage_example(facts), ensure_ascii=False),
        "max_length": lengths.max_length,
        "reading": lengths.inference_max_length,
        "reading_reason": lengths.inference_max_length_reason,
        "long_text": lengths.long_text,
        "long_text_note": _long_text_note(lengths.inference_max_length, lengths.max_length, lengths.long_text),
        "long_text_limitation": _long_text_limitation(lengths.inference_max_length, lengths.long_text),
        "max_length_reason": lengths.max_length_reason,
        "truncation_note": _truncation_note(lengths),
        "results": results,
        "metric_note": _metric_note(names),
        "seeds": _seeds_section(facts.seeds),
        "calibration": _calibration_section(facts, image_dir),
        "abstention": _abstention_section(facts, image_dir),
        "label_issues": _label_issues_note(facts.label_issues),
        "onnx": _onnx_section(facts),
        "label_names_code": json.dumps(names, ensure_ascii=False),
        "hp_search": _search_section(facts.hp_search),
        **_data_section(facts),
        "hyperparameters": [(k, facts.hyperparameters[k]) for k in SHOWN_HYPERPARAMETERS if k in facts.hyperparameters],
        "epochs_run": training.epochs_run,
        "best_step": training.best_checkpoint_step,
        "metric_for_best": facts.hyperparameters.get("metric_for_best_model"),
        "training_time": _duration(training.train_runtime) if training.train_runtime is not None else None,
        "precision": _precision(training),
        "pooler": training.pooler,
        "layer_learning_rates": training.layer_learning_rates,
        "hardware": _hardware(facts.environment.hardware, training.processes),
        "versions": ", ".join(f"{k} {v}" for k, v in facts.environment.versions.items()),
        "language_name": LANGUAGE_NAMES.get(facts.language, facts.language),
        "domain": _data_description(facts.data.source, links=False),
    }


def is_hub_id(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name)) and not Path(name).exists()


def _model_link(model: str) -> str:
    """A link for Hub models; a local base model is named as it was given."""
    return f"[{model}](https://huggingface.co/{model})" if is_hub_id(model) else f"`{model}` (a local model)"


def _data_description(source: Source, links: bool = True) -> str:
    dataset = dataset_identity(source)
    if dataset["on_hub"]:
        name = f"[{dataset['name']}](https://huggingface.co/datasets/{dataset['name']})" if links else dataset["name"]
        config = f" (config `{dataset['config']}`)" if dataset["config"] else ""
        return f"{name}{config}"
    return f"the local data `{dataset['name']}`" if links else dataset["name"]


def _headline(facts: RunFacts) -> dict | None:
    split = facts.headline_split
    if split is None:
        return None
    report = facts.results[split]
    baselines = report.baselines
    return {
        "split": split,
        "accuracy": _score(report.metrics["accuracy"]),
        "f1": _score(report.metrics["f1"]),
        "tfidf": _score(baselines["tfidf_logistic_regression"]["accuracy"])
        if "tfidf_logistic_regression" in baselines
        else None,
        "majority": _score(baselines["majority_class"]["accuracy"]) if "majority_class" in baselines else None,
    }


def baseline_warning(facts: RunFacts) -> str | None:
    """In words, when the TF-IDF baseline is not beaten on the headline split; with what usually helps."""
    verdict = facts.baseline_not_beaten()
    if verdict is None:
        return None
    split, gap = verdict["split"], verdict["gap"]
    steps, epochs = facts.training.global_steps, facts.training.epochs_run
    trained = f" (this run trained {steps:,} steps, {epochs:.2g} epochs)" if steps and epochs else ""
    helps = f"more training{trained}, more or cleaner data, or another base model"
    advice = (
        f"What usually helps: {helps}."
        if gap <= 0
        else f"More {split} texts would tell them apart; if the gap stays small: {helps}."
    )
    return (
        f"The fine-tuned model {'does not beat' if gap <= 0 else 'is not clearly better than'} the TF-IDF + "
        f"logistic regression baseline on the {split} split: accuracy {_score(verdict['model'])} against "
        f"{_score(verdict['baseline'])}, a gap of {100 * gap:+.2f} points, where {verdict['texts']:,} texts cannot "
        f"tell apart differences within ±{100 * verdict['noise']:.2f} points. {advice}"
    )


def _usage_example(facts: RunFacts) -> str:
    examples = facts.label_examples()
    if examples:
        return next(iter(examples.values()))
    return "这家店的菜很好吃" if facts.language == "zh" else "I really enjoyed this."


def _split_section(split: str, facts: RunFacts, image_dir: Path | None) -> dict:
    report, names = facts.results[split], facts.label_names
    rows = [
        {
            "name": "**this model**" if name == "this model" else name,
            **{k: _score(metrics[k]) for k in ("accuracy", "precision", "recall", "f1")},
        }
        for name, metrics in facts.metric_rows(split).items()
    ]
    weighted = None
    if "f1_weighted" in report.metrics:
        weighted = {k: _score(report.metrics[f"{k}_weighted"]) for k in ("precision", "recall", "f1")}
    per_class = [
        {
            "label": name,
            "precision": _score(c.precision),
            "recall": _score(c.recall),
            "f1": _score(c.f1),
            "support": c.support,
        }
        for name, c in ((name, report.per_class[name]) for name in names)
    ]
    image = f"confusion_matrix_{split}.png"
    has_image = image_dir is not None and (Path(image_dir) / image).exists()
    return {
        "name": SPLIT_NAMES.get(split, split),
        "num_examples": report.num_examples,
        "rows": rows,
        "weighted": weighted,
        "per_class": per_class,
        "image": image if has_image else None,
    }


def _label_issues_note(issues: LabelIssues | None) -> str | None:
    if not issues:
        return None
    counts = ", ".join(f"{count:,} of the {split} examples" for split, count in issues.counts.items())
    sample = issues.train_sample
    scored = (
        f" Training texts were scored on a stratified sample of {sample.scored:,} of {sample.of:,}, so the "
        "training count is of that sample."
        if sample
        else ""
    )
    if issues.eval_not_ranked:
        return (
            f"Likely label errors in the data (confident learning with cleanlab; for training texts, "
            f"{issues.train_method}): {counts}.{scored} The other splits were not ranked: {issues.eval_not_ranked}. "
            "The ranked list stays with the training run (it holds the texts)."
        )
    return (
        f"Likely label errors in the data (confident learning with cleanlab; for training texts, "
        f"{issues.train_method}; for the other splits, {issues.eval_method}, which never trained on them): "
        f"{counts}.{scored} "
        "The ranked list stays with the training run (it holds the texts)."
    )


def _onnx_section(facts: RunFacts) -> dict | None:
    """The ONNX files' check against PyTorch, when the run exported them."""
    if not facts.has_onnx:
        return None
    onnx = facts.onnx
    return {
        "texts": f"{onnx.texts:,}",
        "fp32": f"{onnx.fp32_max_difference:.0e}",
        "fp32_texts": onnx.fp32_texts if onnx.fp32_texts and onnx.fp32_texts < onnx.texts else None,
        "checked_on": onnx.checked_on or "texts",
        "recipe": onnx.int8_recipe,
        "labels": _int8_labels(onnx),
        "size": f"{onnx.int8_size_share:.0%} of the fp32 file's size" if onnx.int8_size_share else "smaller",
    }


def _int8_labels(onnx: OnnxFacts) -> str:
    """How int8's labels compared with PyTorch's: on every text, or on those PyTorch decides by the check's margin."""
    agreement, margin, compared = f"{100 * onnx.int8_label_agreement:.1f}%", onnx.label_margin, onnx.labels_compared
    if not margin:
        return f"int8 gives PyTorch's label on {agreement} of them"
    if not compared:
        return (
            f"int8's labels were not compared, as PyTorch decides none of these texts by {margin:g} in probability or "
            "more (near-ties may flip)"
        )
    return (
        f"int8 gives PyTorch's label on {agreement} of the {compared} that PyTorch decides by at least {margin:g} in "
        "probability (near-ties may flip)"
    )


def _calibration_section(facts: RunFacts, image_dir: Path | None) -> dict | None:
    if not facts.calibration:
        return None
    rows = [
        {"split": SPLIT_NAMES.get(split, split), **{k: _score(v) for k, v in report.calibration.items()}}
        for split, report in facts.results.items()
        if report.calibration
    ]
    image = f"reliability_{facts.headline_split}.png"
    has_image = image_dir is not None and (Path(image_dir) / image).exists()
    return {
        "temperature": f"{facts.calibration.temperature:.3f}",
        "texts": facts.calibration.texts,
        "rows": rows,
        "image": image if has_image else None,
    }


def _abstention_section(facts: RunFacts, image_dir: Path | None) -> dict | None:
    report = facts.abstention
    if not report:
        return None
    held_out = report.reported_on
    rows = []
    for target, entry in report.targets.items():
        chosen, test = entry.validation, entry.test if held_out else None
        rows.append(
            {
                "target": target + (" (chosen)" if report.target and float(target) == report.target else ""),
                "threshold": _score(entry.threshold) if entry.threshold is not None else "out of reach",
                "validation": f"{chosen.precision:.3f}, {chosen.coverage:.1%}",
                "test": f"{test.precision:.3f}, {test.coverage:.1%}" if test else "–",
            }
        )
    has_image = image_dir is not None and (Path(image_dir) / PRECISION_COVERAGE_IMAGE).exists()
    threshold = report.threshold
    return {
        "threshold": _score(threshold) if threshold is not None else None,
        "target": f"{report.target:g}" if report.target else None,
        "held_out": held_out,
        "rows": rows,
        "image": PRECISION_COVERAGE_IMAGE if has_image else None,
    }


def _seeds_section(seeds: Seeds | None) -> dict | None:
    if not seeds:
        return None
    rows = [
        {
            "split": SPLIT_NAMES.get(split, split),
            "metric": metric,
            "mean": _score(v.mean),
            "std": _score(v.std),
            "min": _score(v.min),
            "max": _score(v.max),
        }
        for split, metrics in seeds.splits.items()
        for metric, v in metrics.items()
        if metric in ("accuracy", "precision", "recall", "f1")
    ]
    return {
        "count": seeds.count,
        "list": ", ".join(map(str, seeds.seeds)),
        "best": seeds.best_seed,
        "metric": seeds.metric_for_best_model,
        "rows": rows,
    }


def _search_section(search: Search | None) -> dict | None:
    if not search:
        return None
    finished = [t for t in search.trials if t.state == "COMPLETE"]
    return {
        "count": len(finished),
        "metric": search.metric.removeprefix("eval_"),
        "best": search.best.trial,
        "value": _score(search.best.value),
        "space": list(search.space.items()),
    }


def _metric_note(names: list[str]) -> str:
    if len(names) == 2:
        return f"Precision, recall and F1 treat `{names[1]}` as the positive class. Baselines are fitted on the same training split."
    return (
        "Precision, recall and F1 are macro averages over the classes. Baselines are fitted on the same training split."
    )


def _data_section(facts: RunFacts) -> dict:
    data = facts.data
    dataset = dataset_identity(data.source)
    if dataset["on_hub"]:
        source = data.source
        revision = (
            f" at commit `{source.commit}`"
            if source.commit
            else f" at revision `{source.revision}`"
            if source.revision
            else ""
        )
        paragraph = f"{_data_description(source)}{revision}."
    else:
        hashes = ", ".join(f"{split}: `{sha[:16]}…`" for split, sha in dataset["sha256"].items())
        what = "rows" if data.source.kind == "memory" else "files"
        paragraph = (
            f"The local data `{dataset['name']}`, which is not on the Hub; the results above name it "
            f"`{dataset['type']}`. SHA-256 of the {what}: {hashes}."
        )
    paragraph += f" Text column(s): {', '.join(data.text_columns)}; labels from column `{data.label_column}` ({data.labels_from})."
    order = ["train", "validation", "test"]
    rows = [
        {
            "split": split,
            "size": f"{size:,}",
            "balance": ", ".join(
                f"{label} {count:,} ({count / max(size, 1):.0%})" for label, count in data.label_counts[split].items()
            ),
        }
        for split, size in sorted(data.sizes.items(), key=lambda item: order.index(item[0]))
    ]
    return {
        "data_paragraph": paragraph,
        "data_rows": rows,
        "label_header": "label balance",
        "data_notes": _data_notes(data),
    }


def _data_notes(data: DataFacts) -> list[str]:
    notes = []
    if held_out := data.validation_from_train:
        texts = f" ({held_out.texts:,} texts)" if held_out.texts is not None else ""
        notes.append(
            f"The validation split is a stratified {held_out.percent:g}%{texts} of the training data, held out "
            "before tokenization."
        )
    if sample := data.baseline_sample:
        notes.append(
            f"The TF-IDF baseline was fitted on a stratified sample of {sample.fitted_on:,} of the "
            f"{sample.of:,} training texts."
        )
    if fixed := data.label_corrections:
        from bert_sentiment.corrections import LEAVE_OUT, in_splits  # lazily: it imports datasets

        where = in_splits({split: n for split, n in fixed.per_split.items() if n})
        added = f", and {fixed.added:,} texts were added to training with the labels given there" if fixed.added else ""
        notes.append(
            f"{fixed.corrected:,} labels were corrected by hand{f' ({where})' if where else ''} from "
            f"`{fixed.file}` (SHA-256 {fixed.sha256[:16]}){added}."
        )
        if count := sum(fixed.left_out.values()):
            notes.append(
                f"{count:,} {'text was' if count == 1 else 'texts were'} left out of the data "
                f"({in_splits(fixed.left_out)}): that file marks {'it' if count == 1 else 'them'} `{LEAVE_OUT}`, as "
                "no label fits."
            )
    for split, sample in data.evaluation_sample.items():
        notes.append(
            f"A short run: its {split} figures were measured on a stratified sample of {sample.evaluated:,} "
            f"of the {sample.of:,} {split} texts."
        )
    dropped = sum(data.dropped.values())
    if dropped:
        notes.append(f"{dropped:,} rows with an empty text or a missing label were removed.")
    duplicates = {k: v for k, v in data.cross_split_duplicates.items() if k != "dropped_from_train" and v}
    for split, count in duplicates.items():
        notes.append(
            f"{count:,} training texts also occur in {split}"
            + (
                "; they were removed from training."
                if data.cross_split_duplicates.get("dropped_from_train")
                else "; scores on that split may overstate generalisation."
            )
        )
    return notes


def _long_text_note(reading: int, max_length: int, mode: str) -> str:
    plain = f"A plain pipeline call with `truncation=True` reads up to {reading} tokens of a text (about {reading * 3 // 4} words)"
    trained = f" training read at most {max_length} tokens per text" if max_length < reading else ""
    return {
        "truncate": f"{plain}, as the evaluation below did;{trained or ' the same as training'}.",
        "head_tail": f"This model was trained and evaluated on the first quarter and the last three quarters of each "
        f"longer text (head+tail). {plain} from its start. To read long texts as the results below were measured:",
        "chunks": f"This model was evaluated reading every token of a longer text, in windows of {reading} tokens "
        f"overlapping by half, their probabilities averaged. {plain} from its start. To read long texts that way:",
    }[mode]


def _long_text_limitation(max_length: int, mode: str) -> str:
    """What is lost of texts longer than `max_length`, the tokens a prediction reads."""
    return {
        "truncate": f"Texts longer than {max_length} tokens are cut: sentiment stated only at the end of a long text "
        "is missed.",
        "head_tail": f"Texts longer than {max_length} tokens lose their middle: an opinion stated only there is "
        "missed.",
        "chunks": "Long texts are read in windows whose probabilities are averaged: a strong opinion in one part can "
        "be outweighed by many neutral parts.",
    }[mode]


def _truncation_note(lengths: LengthFacts) -> str:
    parts = [f"{s.truncated:,} {split} texts truncated" for split, s in lengths.splits.items()]
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def _precision(training: TrainingFacts) -> str | None:
    if training.precision is None:
        return None  # runs recorded before the precision was
    return f"{training.precision} ({training.precision_reason})".replace(" ()", "")


def _hardware(hardware: Hardware, processes: int = 1) -> str:
    data_parallel = f", {processes} data-parallel processes" if processes > 1 else ""
    if hardware.gpu:
        return f"{hardware.gpu_count or 1} × {hardware.gpu}{data_parallel}"
    return f"CPU ({hardware.cpu}, {hardware.cpu_count} cores){data_parallel}"
