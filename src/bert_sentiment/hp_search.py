"""Hyperparameter search with Optuna through the Trainer, on the validation split.

The search space is documented in SEARCH_SPACE; every trial trains without checkpoints and is
scored by the validation metric (the same one that picks the best checkpoint). The search's record
holds the chosen values; the run's plan hands them to the final run's Trainer, so its facts and card use them.
"""

import copy
import json
import logging
from pathlib import Path

from bert_sentiment.facts import write_json
from bert_sentiment.model import load_model
from bert_sentiment.training import build_trainer

logger = logging.getLogger(__name__)

SEARCH_FILE = "hp_search.json"
# The space, as the card and README describe it. Ranges follow the BERT paper's recommendations, widened a little.
SEARCH_SPACE = {
    "learning_rate": "log-uniform 1e-5 .. 1e-4",
    "per_device_train_batch_size": "one of 16, 32",
    "num_train_epochs": "integer 2 .. 4",
    "warmup_steps": "fraction of steps, uniform 0 .. 0.2",
    "weight_decay": "uniform 0 .. 0.1",
}


def optuna_space(trial, fit_batch) -> dict:
    """A trial's values. `fit_batch(batch)` gives (texts at a time, gradient accumulation steps) for a batch: on a
    machine short of memory, the same texts per optimizer step in smaller pieces."""
    batch = trial.suggest_categorical("per_device_train_batch_size", [16, 32])
    at_a_time, accumulation = fit_batch(batch)
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-4, log=True),
        "per_device_train_batch_size": at_a_time,
        "gradient_accumulation_steps": accumulation,
        "num_train_epochs": trial.suggest_int("num_train_epochs", 2, 4),
        "warmup_steps": trial.suggest_float("warmup_steps", 0.0, 0.2),
        "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
    }


def search_hyperparameters(
    checkpoint: str, config, model_args, tokenizer, tokenized, training_args, fit_batch=None
) -> dict:
    """Run the search and return its record, the chosen values in record["best"]["params"]. `fit_batch`: see
    optuna_space (bert_sentiment.memory.trial_batch_fit makes one); without one, a trial trains its whole batch at
    a time with the run's own --gradient_accumulation_steps."""
    import optuna

    if fit_batch is None:
        accumulation = training_args.gradient_accumulation_steps

        def fit_batch(batch: int) -> tuple[int, int]:
            return batch, accumulation

    search_dir = Path(training_args.output_dir) / "hp_search"
    search_dir.mkdir(parents=True, exist_ok=True)
    args = copy.deepcopy(training_args)
    args.output_dir, args.save_strategy, args.load_best_model_at_end = str(search_dir), "no", False
    args.early_stopping_patience = 0  # needs best-model loading; trials are short anyway
    trainer, _ = build_trainer(
        None, tokenizer, tokenized, args, model_init=lambda trial: load_model(checkpoint, config, model_args)[0]
    )
    metric = f"eval_{training_args.metric_for_best_model}"
    storage, name = f"sqlite:///{search_dir / 'optuna.db'}", "sentiment"
    logger.info(
        "Hyperparameter search: %d trials, %s %s.",
        training_args.hp_search_trials,
        "maximising" if training_args.greater_is_better else "minimising",
        metric,
    )
    best = trainer.hyperparameter_search(
        hp_space=lambda trial: optuna_space(trial, fit_batch),
        compute_objective=lambda metrics: metrics[metric],
        n_trials=training_args.hp_search_trials,
        direction="maximize" if training_args.greater_is_better else "minimize",
        backend="optuna",
        sampler=optuna.samplers.TPESampler(seed=training_args.seed),
        storage=storage,
        study_name=name,
        load_if_exists=True,
    )
    trials = [
        {"number": t.number, "params": t.params, "value": t.value, "state": t.state.name}
        for t in optuna.load_study(study_name=name, storage=storage).trials
    ]
    record = {
        "space": SEARCH_SPACE,
        "metric": metric,
        "trials": trials,
        "best": {"trial": int(best.run_id), "value": best.objective, "params": best.hyperparameters},
    }
    log_choice(record)
    write_json(Path(training_args.output_dir) / SEARCH_FILE, record)
    return record


def log_choice(record: dict) -> None:
    logger.info(
        "Chosen by the search: %s",
        ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record["best"]["params"].items()),
    )


def reuse_earlier_search(training_args) -> dict | None:
    """On --resume, the finished search's choice is reused instead of searching again."""
    path = Path(training_args.output_dir) / SEARCH_FILE
    if not (training_args.resume and path.exists()):
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    log_choice(record)
    return record
