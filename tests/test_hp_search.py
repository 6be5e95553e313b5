import json

import pytest

import train
from bert_sentiment.arguments import parse_args
from bert_sentiment.errors import UserError
from tests.conftest import english_reviews, quick_training_flags, write_csv


def test_search_chooses_values_in_the_space_and_the_final_run_uses_them(tiny_bert, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", english_reviews(120))
    out = tmp_path / "out"
    flags = ["--train_file", data, *quick_training_flags(tiny_bert, out), "--hp_search", "--hp_search_trials", "2"]
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
    flags = ["--train_file", data, *quick_training_flags(tiny_bert, out), "--hp_search", "--hp_search_trials", "2"]
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
