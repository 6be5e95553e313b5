import json
from pathlib import Path

import pytest

import train
from bert_sentiment import hp_search
from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, quick_training_flags, write_csv


def search_flags(tiny_bert, data, out) -> list:
    """A two-trial search on `data`; the search is the subject here, so no ONNX export after it (6 s a run)."""
    flags = ["--train_file", data, *quick_training_flags(tiny_bert, out), "--hp_search", "--hp_search_trials", "2"]
    return [*flags, "--export_onnx", "false"]


def test_search_chooses_values_in_the_space_and_the_final_run_uses_them(tiny_bert, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    out = tmp_path / "out"
    flags = search_flags(tiny_bert, data, out)
    assert train.main([str(f) for f in flags]) == 0
    search = json.loads((out / "hp_search.json").read_text())
    assert [t["state"] for t in search["trials"]] == ["COMPLETE", "COMPLETE"]
    for trial in search["trials"]:
        params = trial["params"]
        assert 1e-5 <= params["learning_rate"] <= 1e-4 and params["per_device_train_batch_size"] in (16, 32)
        assert 2 <= params["num_train_epochs"] <= 4 and 0 <= params["warmup_steps"] <= 0.2
    best = max(search["trials"], key=lambda t: t["value"])
    assert search["best"]["trial"] == best["number"]
    facts = json.loads((out / "run_facts.json").read_text())
    for name, value in best["params"].items():
        assert facts["hyperparameters"][name] == pytest.approx(value)
    card = (out / "README.md").read_text()
    assert "### Hyperparameter search" in card and "2 Optuna trials" in card


def test_search_and_seeds_together_are_refused():
    with pytest.raises(UserError, match="Run --hp_search first, then --seeds"):
        parse_args(["--hp_search", "--seeds", "3"])


def test_on_a_machine_short_of_memory_every_trial_trains_its_batch_in_pieces(
    tiny_bert, tmp_path, memory_for_8_texts, caplog
):
    caplog.set_level("WARNING")
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    out = tmp_path / "out"
    flags = search_flags(tiny_bert, data, out)
    assert train.main([str(f) for f in flags]) == 0
    search = json.loads((out / "hp_search.json").read_text())
    for trial in search["trials"]:  # the search still chooses among batches of 16 and 32 texts per step
        batch = trial["params"]["per_device_train_batch_size"]
        assert (
            f"Trial batch: 8 texts at a time with {batch // 8} gradient accumulation steps ({batch} would"
            in caplog.text
        )
    chosen = search["best"]["params"]["per_device_train_batch_size"]
    hyperparameters = json.loads((out / "run_facts.json").read_text())["hyperparameters"]
    assert hyperparameters["per_device_train_batch_size"] == 8
    assert hyperparameters["gradient_accumulation_steps"] == chosen // 8


class FakeTrainer:
    """The Trainer's search as our code drives it: an Optuna study whose trials score each suggestion by a metric
    that grows with the learning rate, so the best trial is known."""

    def __init__(self, args, model_init):
        self.args, self.model_init, self.models = args, model_init, []

    def hyperparameter_search(self, hp_space, compute_objective, n_trials, direction, backend, **study):
        import optuna
        from transformers.trainer_utils import BestRun

        assert backend == "optuna"
        sampler = study.pop("sampler")
        created = optuna.create_study(direction=direction, sampler=sampler, **study)

        def objective(trial):
            self.models.append(self.model_init(trial))
            values = hp_space(trial)
            trial.set_user_attr("values", values)
            score = values["learning_rate"] * 1000
            return compute_objective({"eval_f1": score, "eval_loss": score, "eval_accuracy": 0.5})

        created.optimize(objective, n_trials=n_trials)
        best = created.best_trial
        return BestRun(str(best.number), best.value, best.user_attrs["values"])


def search(tmp_path, monkeypatch, *flags, fit_batch=None, trials="6"):
    model_args, _, training_args = parse_args(
        ["--train_file", "r.csv", "--output_dir", str(tmp_path), "--hp_search", "--hp_search_trials", trials, *flags]
    )
    built, loaded = [], []

    def build_trainer(model, tokenizer, tokenized, args, model_init):
        assert (model, tokenizer, tokenized) == (None, "the tokenizer", "the tokenized splits")
        built.append(FakeTrainer(args, model_init))
        return built[-1], None

    def load_model(checkpoint, config, given_model_args):
        loaded.append((checkpoint, config, given_model_args))
        return f"model {len(loaded)}", "the pooler's note"

    monkeypatch.setattr(hp_search, "build_trainer", build_trainer)
    monkeypatch.setattr(hp_search, "load_model", load_model)
    record = hp_search.search_hyperparameters(
        "checkpoint", "config", model_args, "the tokenizer", "the tokenized splits", training_args, fit_batch
    )
    assert loaded == [("checkpoint", "config", model_args)] * int(trials), "each trial starts from the checkpoint"
    assert built[0].models == [f"model {i + 1}" for i in range(int(trials))], "a fresh model per trial"
    return record, training_args, built[0].args


@pytest.mark.parametrize("metric, best_of", [("f1", max), ("loss", min)])
def test_the_search_keeps_the_best_trial_in_the_metrics_own_direction(metric, best_of, tmp_path, monkeypatch, caplog):
    caplog.set_level("INFO")
    record, _, _ = search(tmp_path, monkeypatch, "--metric_for_best_model", metric)
    values = {trial["number"]: trial["value"] for trial in record["trials"]}
    assert len(values) == 6 and record["metric"] == f"eval_{metric}"
    assert record["best"]["trial"] == best_of(values, key=values.get)
    verb = "maximising" if metric == "f1" else "minimising"
    messages = [record.getMessage() for record in caplog.records]
    assert f"Hyperparameter search: 6 trials, {verb} eval_{metric}." in messages
    assert json.loads((tmp_path / "hp_search.json").read_text()) == json.loads(json.dumps(record))
    assert set(record) == {"space", "metric", "trials", "best"} and record["space"] == hp_search.SEARCH_SPACE
    assert (
        set(record["best"]) == {"trial", "value", "params"}
        and record["best"]["value"] == values[record["best"]["trial"]]
    )
    for trial in record["trials"]:
        assert set(trial) == {"number", "params", "value", "state"} and trial["state"] == "COMPLETE"
        assert set(trial["params"]) == set(hp_search.SEARCH_SPACE), "each value under its own name"
    chosen = record["best"]["params"]
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in chosen.items())
    assert f"Chosen by the search: {shown}" in messages and "num_train_epochs=" in shown


def test_a_search_goes_on_where_it_stopped_and_draws_the_same_values_for_the_same_seed(tmp_path, monkeypatch):
    import optuna

    first, _, _ = search(tmp_path / "a" / "nested", monkeypatch, trials="3")
    again, _, _ = search(tmp_path / "a" / "nested", monkeypatch, trials="3")
    assert [t["number"] for t in again["trials"]] == [0, 1, 2, 3, 4, 5], "the stored study goes on"
    other, _, _ = search(tmp_path / "b", monkeypatch, trials="3")
    assert [t["params"] for t in other["trials"]] == [t["params"] for t in first["trials"]], "seeded sampler"
    study = optuna.load_study(study_name="sentiment", storage=f"sqlite:///{tmp_path / 'b' / 'hp_search' / 'optuna.db'}")
    assert study.trials[0].distributions["learning_rate"].log, "the learning rate is drawn on a log scale"


def test_trials_train_without_checkpoints_in_their_own_folder_and_leave_the_runs_arguments_alone(tmp_path, monkeypatch):
    _, training_args, trial_args = search(tmp_path, monkeypatch)
    assert Path(trial_args.output_dir) == tmp_path / "hp_search" and trial_args.save_strategy == "no"
    assert not trial_args.load_best_model_at_end and trial_args.early_stopping_patience == 0
    assert Path(training_args.output_dir) == tmp_path and training_args.load_best_model_at_end
    assert (tmp_path / "hp_search" / "optuna.db").is_file(), "the study is stored, so a resumed search goes on"


def test_every_trial_keeps_the_users_own_gradient_accumulation(tmp_path, monkeypatch):
    record, _, _ = search(tmp_path, monkeypatch, "--gradient_accumulation_steps", "4")
    chosen = record["best"]["params"]
    assert chosen["gradient_accumulation_steps"] == 4 and chosen["per_device_train_batch_size"] in (16, 32)


def test_a_machine_short_of_memory_gives_each_trial_its_batch_in_pieces(tmp_path, monkeypatch):
    record, _, _ = search(tmp_path, monkeypatch, fit_batch=lambda batch: (8, batch // 8 * 3))
    best = record["best"]["params"]
    assert best["per_device_train_batch_size"] == 8 and best["gradient_accumulation_steps"] in (6, 12)


def test_every_value_a_trial_draws_lies_in_the_documented_space():
    import optuna

    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    epochs = set()
    for _ in range(40):
        values = hp_search.optuna_space(study.ask(), lambda batch: (batch, 1))
        assert 1e-5 <= values["learning_rate"] <= 1e-4 and values["per_device_train_batch_size"] in (16, 32)
        assert values["num_train_epochs"] in (2, 3, 4) and isinstance(values["num_train_epochs"], int)
        epochs.add(values["num_train_epochs"])
        assert 0 <= values["warmup_steps"] <= 0.2 and 0 <= values["weight_decay"] <= 0.1
    assert epochs == {2, 3, 4}


def test_a_resumed_run_reuses_the_finished_search_and_a_new_one_searches_again(tmp_path, caplog):
    caplog.set_level("INFO")
    record = {"best": {"params": {"learning_rate": 3e-5, "num_train_epochs": 3}}}
    (tmp_path / "hp_search.json").write_text(json.dumps(record))
    resumed = parse_args(["--train_file", "r.csv", "--output_dir", str(tmp_path), "--hp_search", "--resume"])[2]
    assert hp_search.reuse_earlier_search(resumed) == record
    assert "Chosen by the search: learning_rate=3e-05, num_train_epochs=3" in caplog.text
    fresh = parse_args(["--train_file", "r.csv", "--output_dir", str(tmp_path), "--hp_search"])[2]
    assert hp_search.reuse_earlier_search(fresh) is None
    (tmp_path / "hp_search.json").unlink()
    assert hp_search.reuse_earlier_search(resumed) is None
