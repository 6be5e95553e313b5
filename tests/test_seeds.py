import json
from pathlib import Path

import pytest

import train
from bert_sentiment import seeds as seeds_module
from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from bert_sentiment.seeds import fine_tune_seeds, summarize
from tests.conftest import english_reviews, facts_literal, quick_training_flags, write_csv


def facts_with(validation_f1: float, test_accuracy: float):
    return facts_literal(
        results={
            "validation": {"metrics": {"f1": validation_f1, "accuracy": 0.5}, "num_examples": 10},
            "test": {"metrics": {"f1": 0.5, "accuracy": test_accuracy}, "num_examples": 10},
        }
    )


def test_summary_is_mean_and_sample_std_and_best_by_validation():
    summary = summarize({1: facts_with(0.8, 0.70), 2: facts_with(0.9, 0.74), 3: facts_with(0.7, 0.78)}, "f1")
    test_accuracy = summary["splits"]["test"]["accuracy"]
    assert test_accuracy["mean"] == pytest.approx(0.74) and test_accuracy["std"] == pytest.approx(0.04)
    assert (test_accuracy["min"], test_accuracy["max"]) == (0.70, 0.78)
    assert summary["best_seed"] == 2, "chosen on validation, never on test"


def test_with_loss_as_the_metric_the_lowest_validation_loss_is_best():
    runs = {seed: facts_with(0.8, 0.7) for seed in (1, 2, 3)}
    for seed, loss in ((1, 0.41), (2, 0.35), (3, 0.52)):
        runs[seed].results["validation"].metrics["loss"] = loss
    assert summarize(runs, "loss", greater_is_better=False)["best_seed"] == 2
    assert summarize(runs, "loss", greater_is_better=True)["best_seed"] == 3


def test_two_runs_have_a_spread():
    summary = summarize({1: facts_with(0.8, 0.70), 2: facts_with(0.9, 0.74)}, "f1")
    assert summary["splits"]["test"]["accuracy"]["std"] == pytest.approx(0.02 * 2**0.5)


def test_one_run_has_no_spread():
    summary = summarize({7: facts_with(0.8, 0.7)}, "f1")
    assert summary["splits"]["test"]["accuracy"] == {
        "mean": 0.7,
        "std": 0.0,
        "min": 0.7,
        "max": 0.7,
        "runs": {"7": 0.7},
    }


@pytest.mark.parametrize(
    "given, kept", [("loss", "loss"), ("eval_loss", "loss"), ("eval_f1", "f1"), ("accuracy", "accuracy")]
)
def test_the_metric_choosing_the_best_is_named_as_our_results_name_it(given, kept, tmp_path):
    _, _, training_args = parse_args(
        ["--train_file", "r.csv", "--output_dir", str(tmp_path), "--metric_for_best_model", given]
    )
    assert training_args.metric_for_best_model == kept
    assert training_args.greater_is_better == (kept != "loss")


def test_a_metric_the_results_do_not_have_is_refused_before_training(tmp_path):
    with pytest.raises(UserError) as refused:
        parse_args(["--train_file", "r.csv", "--output_dir", str(tmp_path), "--metric_for_best_model", "auc"])
    assert str(refused.value) == (
        "--metric_for_best_model 'auc' is not one of f1, accuracy, precision, recall, loss, f1_weighted, "
        "precision_weighted, recall_weighted (the *_weighted ones for more than two labels)."
    )


class FakeRuns:
    """fine_tune as the seeds see it: writes a model into its folder and returns facts whose validation f1 is
    given per seed (None: the run was interrupted)."""

    def __init__(self, f1_by_seed):
        self.f1_by_seed, self.calls, self.passed, self.saved = f1_by_seed, [], [], []

    def fine_tune(self, model_args, data_args, args, callbacks=(), data=None):
        self.calls.append(args)
        self.passed.append((model_args, data_args, callbacks, data))
        f1 = self.f1_by_seed[args.seed]
        if f1 is None:
            return None
        run_dir = Path(args.output_dir)
        (run_dir / "onnx").mkdir(parents=True, exist_ok=True)
        (run_dir / "model.safetensors").write_text(f"weights of seed {args.seed}")
        (run_dir / "onnx" / "model.onnx").write_text(f"graph of seed {args.seed}")
        (run_dir / "checkpoint-5").mkdir(exist_ok=True)
        facts = facts_with(f1, 0.5 + f1 / 10)
        facts.save(run_dir)
        return facts

    def save_run(self, output_dir, facts, training_args, model_args, hub_target):
        self.saved.append((Path(output_dir), facts))
        self.saved_with = (training_args, model_args, hub_target)


def seeds_args(tmp_path, *flags):
    return parse_args(["--train_file", "r.csv", "--output_dir", str(tmp_path / "out"), "--seed", "42", *flags])


@pytest.fixture
def fake_runs(monkeypatch):
    def install(f1_by_seed):
        fake = FakeRuns(f1_by_seed)
        monkeypatch.setattr(seeds_module, "fine_tune", fake.fine_tune)
        monkeypatch.setattr(seeds_module, "save_run", fake.save_run)
        return fake

    return install


def test_each_seed_runs_in_its_own_folder_and_the_best_becomes_the_output(tmp_path, fake_runs, monkeypatch, caplog):
    caplog.set_level("INFO")
    fake = fake_runs({42: 0.7, 43: 0.9, 44: 0.8})
    target = object()  # what --push_to_hub checked before the first run
    monkeypatch.setattr(seeds_module, "publishing_target", lambda args: target)
    model_args, data_args, training_args = seeds_args(tmp_path, "--seeds", "3")
    callbacks, data = ["a callback"], "the loaded data"
    facts = fine_tune_seeds(model_args, data_args, training_args, callbacks, data)
    assert fake.passed == [(model_args, data_args, callbacks, data)] * 3, "every run gets the caller's arguments"
    assert fake.saved_with == (training_args, model_args, target)
    assert [(a.seed, Path(a.output_dir).name, a.publish_to_hub) for a in fake.calls] == [
        (42, "seed-42", False),
        (43, "seed-43", False),
        (44, "seed-44", False),
    ]
    assert training_args.seed == 42 and Path(training_args.output_dir).name == "out", "the caller's own arguments"
    out = tmp_path / "out"
    assert (out / "model.safetensors").read_text() == "weights of seed 43"
    assert (out / "onnx" / "model.onnx").read_text() == "graph of seed 43"
    assert not (out / "checkpoint-5").exists(), "only the model's files and its onnx/ export are copied"
    assert facts.seeds.best_seed == 43 and facts.seeds.seeds == [42, 43, 44]
    assert facts.results["validation"].metrics["f1"] == 0.9
    assert fake.saved == [(out, facts)]
    runs = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Run ")]
    assert runs == [f"Run {i} of 3: seed {41 + i} -> {out / f'seed-{41 + i}'}" for i in (1, 2, 3)]
    summary = summarize({42: facts_with(0.7, 0.57), 43: facts_with(0.9, 0.59), 44: facts_with(0.8, 0.58)}, "f1")
    validation = summary["splits"]["validation"]["f1"]
    test = summary["splits"]["test"]["accuracy"]
    assert (
        f"Over 3 seeds (42, 43, 44); best: seed 43:\n"
        f"  validation f1 {validation['mean']:.4f} ± {validation['std']:.4f}  accuracy 0.5000 ± 0.0000\n"
        f"  test       f1 0.5000 ± 0.0000  accuracy {test['mean']:.4f} ± {test['std']:.4f}"
    ) in caplog.text


def test_with_loss_as_the_metric_the_run_with_the_lowest_validation_loss_becomes_the_output(
    tmp_path, fake_runs, monkeypatch
):
    fake = fake_runs({42: 0.7, 43: 0.9, 44: 0.8})
    real = fake.fine_tune

    def with_loss(model_args, data_args, args, callbacks=(), data=None):
        facts = real(model_args, data_args, args, callbacks, data)
        facts.results["validation"].metrics["loss"] = facts.results["validation"].metrics["f1"]  # 0.7 is lowest
        return facts

    monkeypatch.setattr(seeds_module, "fine_tune", with_loss)
    facts = fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "3", "--metric_for_best_model", "loss"))
    assert facts.seeds.best_seed == 42
    assert (tmp_path / "out" / "model.safetensors").read_text() == "weights of seed 42"


def test_an_interrupted_seed_stops_the_runs_and_copies_nothing(tmp_path, fake_runs):
    fake = fake_runs({42: 0.7, 43: None, 44: 0.8})
    assert fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "3")) is None
    assert [a.seed for a in fake.calls] == [42, 43] and fake.saved == []
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_resume_reuses_finished_seeds_and_resumes_only_those_with_checkpoints(tmp_path, fake_runs, caplog):
    caplog.set_level("INFO")
    out = tmp_path / "out"
    (out / "seed-42").mkdir(parents=True)
    facts_with(0.95, 0.6).save(out / "seed-42")  # finished earlier
    (out / "seed-43" / "checkpoint-10").mkdir(parents=True)  # interrupted with a checkpoint
    (out / "seed-44").mkdir()  # started, no checkpoint yet
    fake = fake_runs({42: 0.1, 43: 0.7, 44: 0.8})
    (out / "onnx").mkdir()
    (out / "onnx" / "model.onnx").write_text("copied before the interruption")
    facts = fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "3", "--resume"))
    assert [(a.seed, a.resume) for a in fake.calls] == [(43, True), (44, False)]
    assert facts.seeds.best_seed == 42, "the finished seed's facts took part"
    assert f"Seed 42 finished earlier; reusing {out / 'seed-42'}." in [record.getMessage() for record in caplog.records]


def test_a_new_multi_seed_run_refuses_a_folder_holding_an_earlier_run_but_not_its_own_seed_folders(tmp_path, fake_runs):
    out = tmp_path / "out"
    (out / "seed-42").mkdir(parents=True)
    fake = fake_runs({42: 0.7, 43: 0.9})
    fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "2"))
    assert len(fake.calls) == 2
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="already holds"):
        fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "2"))
    fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "2", "--overwrite_output_dir"))
    assert len(fake.calls) == 4, "--overwrite_output_dir writes there anyway"


def test_a_seed_folder_of_other_seeds_is_not_this_runs_own(tmp_path, fake_runs):
    (tmp_path / "out" / "seed-1").mkdir(parents=True)
    fake_runs({42: 0.7, 43: 0.9})
    with pytest.raises(UserError, match="already holds other files \\(seed-1\\)"):
        fine_tune_seeds(*seeds_args(tmp_path, "--seeds", "2"))


def test_one_seed_is_a_plain_run(tmp_path, fake_runs):
    fake = fake_runs({42: 0.7})
    model_args, data_args, training_args = seeds_args(tmp_path)
    fine_tune_seeds(model_args, data_args, training_args, ["a callback"], "the loaded data")
    assert fake.calls == [training_args] and fake.saved == [], "one run saves itself, in output_dir itself"
    assert fake.passed == [(model_args, data_args, ["a callback"], "the loaded data")]


def test_three_seeds_train_on_one_split_and_keep_the_best(tiny_bert, tmp_path, caplog):
    caplog.set_level("INFO")
    data = write_csv(tmp_path / "reviews.csv", english_reviews(160))
    out = tmp_path / "out"
    assert (
        train.main(
            [
                str(f)
                for f in [
                    "--train_file",
                    data,
                    *quick_training_flags(tiny_bert, out),
                    "--seeds",
                    "3",
                    "--metric_for_best_model",
                    "loss",
                ]
            ]
        )
        == 0
    )
    facts = json.loads((out / "run_facts.json").read_text())
    seeds = facts["seeds"]
    assert seeds["seeds"] == [42, 43, 44] and seeds["count"] == 3
    runs = {seed: json.loads((out / f"seed-{seed}" / "run_facts.json").read_text()) for seed in seeds["seeds"]}
    assert len({json.dumps(r["data"]["label_counts"]) for r in runs.values()}) == 1, "one split for every seed"
    assert {r["hyperparameters"]["seed"] for r in runs.values()} == {42, 43, 44}
    losses = {seed: r["results"]["validation"]["metrics"]["loss"] for seed, r in runs.items()}
    assert seeds["best_seed"] == min(losses, key=losses.get), "the lowest validation loss is best"
    best = runs[seeds["best_seed"]]
    assert facts["results"]["validation"]["metrics"] == best["results"]["validation"]["metrics"]
    assert (out / "model.safetensors").read_bytes() == (
        out / f"seed-{seeds['best_seed']}" / "model.safetensors"
    ).read_bytes()
    card = (out / "README.md").read_text()
    assert "### Variance over 3 seeds" in card and "± " in card
    assert "Over 3 seeds (42, 43, 44)" in caplog.text
