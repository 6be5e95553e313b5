"""Several training runs that differ only in their seed: mean ± std of every metric, the best model kept.

BERT fine-tuning swings by points between seeds; one number hides that. Each run trains in
output_dir/seed-S on the same split; the best by the validation metric is copied to output_dir,
whose run_facts.json gains a "seeds" summary the card shows.
"""

import copy
import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np

from bert_sentiment.facts import RESULTS_FILE, RunFacts, Seeds, parse
from bert_sentiment.fine_tune import fine_tune, save_run
from bert_sentiment.onnx_export import ONNX_DIR
from bert_sentiment.plan import publishing_target
from bert_sentiment.training import check_output_dir

logger = logging.getLogger(__name__)


def fine_tune_seeds(model_args, data_args, training_args, callbacks=(), data=None) -> RunFacts | None:
    """`fine_tune` once per seed (the commands call fine_tune itself for --seeds 1); None if a run was interrupted."""
    if training_args.seeds == 1:
        return fine_tune(model_args, data_args, training_args, callbacks, data)
    hub_target = publishing_target(training_args)  # once, before the first run
    output_dir = Path(training_args.output_dir)
    seed_dirs = tuple(f"seed-{seed}" for seed in range(training_args.seed, training_args.seed + training_args.seeds))
    if not training_args.resume:  # each seed's run checks its own folder; the best one is copied here at the end
        check_output_dir(output_dir, training_args.overwrite_output_dir, ours=seed_dirs)
    runs = {}
    for seed in range(training_args.seed, training_args.seed + training_args.seeds):
        facts = _run_one_seed(model_args, data_args, training_args, seed, callbacks, data)
        if facts is None:
            return None
        runs[seed] = facts
    summary = summarize(runs, training_args.metric_for_best_model, training_args.greater_is_better)
    facts = dataclasses.replace(runs[summary["best_seed"]], seeds=parse(Seeds, summary))
    if training_args.process_index == 0:
        _copy_run(output_dir / f"seed-{summary['best_seed']}", output_dir)
        log_summary(summary)
        save_run(output_dir, facts, training_args, model_args, hub_target)
    return facts


def _run_one_seed(model_args, data_args, training_args, seed: int, callbacks, data) -> RunFacts | None:
    run_dir = Path(training_args.output_dir) / f"seed-{seed}"
    if (run_dir / RESULTS_FILE).exists() and training_args.resume:
        logger.info("Seed %d finished earlier; reusing %s.", seed, run_dir)
        return RunFacts.load(run_dir)
    args = copy.deepcopy(training_args)
    args.seed, args.output_dir, args.publish_to_hub = seed, str(run_dir), False
    args.resume = training_args.resume and run_dir.is_dir() and any(run_dir.glob("checkpoint-*"))
    logger.info("Run %d of %d: seed %d -> %s", seed - training_args.seed + 1, training_args.seeds, seed, run_dir)
    return fine_tune(model_args, data_args, args, callbacks, data)


def summarize(runs: dict[int, RunFacts], best_metric: str, greater_is_better: bool = True) -> dict:
    """Mean, sample std, min and max of every metric per split, each run's values, and the best seed: the highest
    validation `best_metric`, or the lowest where less is better (loss)."""
    splits = next(iter(runs.values())).results
    summary = {"count": len(runs), "seeds": list(runs), "metric_for_best_model": best_metric, "splits": {}}
    for split in splits:
        metrics = splits[split].metrics
        summary["splits"][split] = {}
        for metric in metrics:
            values = np.array([facts.results[split].metrics[metric] for facts in runs.values()])
            summary["splits"][split][metric] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "min": float(values.min()),
                "max": float(values.max()),
                "runs": dict(zip(map(str, runs), map(float, values))),
            }
    by_validation = {seed: facts.results["validation"].metrics[best_metric] for seed, facts in runs.items()}
    summary["best_seed"] = (max if greater_is_better else min)(by_validation, key=by_validation.get)
    return summary


def _copy_run(run_dir: Path, output_dir: Path) -> None:
    """The best run's files (and its onnx/ export, not other sub-folders) become output_dir's own."""
    for path in run_dir.iterdir():
        if path.is_file():
            shutil.copy2(path, output_dir / path.name)
    if (run_dir / ONNX_DIR).is_dir():
        shutil.copytree(run_dir / ONNX_DIR, output_dir / ONNX_DIR, dirs_exist_ok=True)


def log_summary(summary: dict) -> None:
    lines = [
        f"Over {summary['count']} seeds ({', '.join(map(str, summary['seeds']))}); best: seed {summary['best_seed']}:"
    ]
    for split, metrics in summary["splits"].items():
        shown = "  ".join(
            f"{m} {v['mean']:.4f} ± {v['std']:.4f}" for m, v in metrics.items() if m in ("accuracy", "f1")
        )
        lines.append(f"  {split:<10} {shown}")
    logger.info("\n".join(lines))
