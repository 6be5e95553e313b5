"""The Python API as a notebook user calls it: train() on a DataFrame or a DatasetDict, load() and predict."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from datasets import Dataset, DatasetDict

from bert_sentiment import RunFacts, UserError, load, train
from tests.conftest import english_reviews, quick_training_flags

ROOT = Path(__file__).resolve().parents[1]


def quick_options(tiny_bert: Path, output_dir: Path) -> dict:
    flags = quick_training_flags(tiny_bert, output_dir)
    return {flags[i].lstrip("-"): flags[i + 1] for i in range(0, len(flags), 2)} | {
        "num_train_epochs": 6.0,
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 16,
        "warmup_steps": 0.0,
        "logging_steps": 10.0,
        "disable_tqdm": True,
        "early_stopping_patience": 0,
    }


def test_train_on_a_dataframe_then_load_and_predict(tiny_bert, tmp_path):
    frame = pd.DataFrame(english_reviews(240), columns=["review", "sentiment"])
    frame["stars"] = 3  # a column that is neither text nor label
    out = tmp_path / "reviews"
    result = train(
        frame,
        text="review",
        label="sentiment",
        data_name="my reviews",
        lr_scheduler_type="constant",
        **quick_options(tiny_bert, out),
    )

    assert result.output_dir == out and (out / "model.safetensors").is_file()
    assert result.metrics["validation"]["accuracy"] >= 0.9
    assert set(result.baselines["validation"]) == {"majority_class", "tfidf_logistic_regression"}
    assert result.facts == RunFacts.load(out), "what train() returns is what it saved"
    assert result.facts.hyperparameters["lr_scheduler_type"] == "constant", "any TrainingArguments field is a keyword"
    card = result.card_path.read_text(encoding="utf-8")
    assert "my reviews" in card and result.facts.data.source.kind == "memory"

    clf = load(out)
    good, bad = clf(["the acting was superb and delightful", "the plot was horrible and dull"])
    assert (good.label, bad.label) == ("positive", "negative")
    assert set(good.scores) == {"negative", "positive"} and sum(good.scores.values()) == pytest.approx(1)
    assert good.score > 0.9
    assert clf("the music was wonderful").label == "positive", "one text gives one prediction"


def test_train_on_a_datasetdict_with_a_test_split(tiny_bert, tmp_path):
    def split(rows):
        return Dataset.from_dict({"text": [t for t, _ in rows], "label": [int(lab == "positive") for _, lab in rows]})

    data = DatasetDict({"train": split(english_reviews(200)), "test": split(english_reviews(40, seed=5))})
    result = train(data, **quick_options(tiny_bert, tmp_path / "out"))
    assert set(result.metrics) == {"validation", "test"}
    assert result.metrics["test"]["accuracy"] == result.facts.results["test"].metrics["accuracy"]
    assert result.facts.label_names == ["negative", "positive"], "0/1 read as negative/positive, as on the CLI"
    assert result.facts.results["test"].num_examples == 40


def test_mistakes_raise_user_error_naming_the_fix(tmp_path):
    frame = pd.DataFrame(english_reviews(20), columns=["review", "sentiment"])
    with pytest.raises(UserError, match="unknown option 'learning_rat'.*Did you mean 'learning_rate'"):
        train(frame, learning_rat=1e-4, output_dir=str(tmp_path / "a"))
    with pytest.raises(UserError, match="no column 'txt'.*Did you mean 'text'"):
        train(pd.DataFrame(english_reviews(20), columns=["text", "label"]), text="txt", output_dir=str(tmp_path / "b"))
    with pytest.raises(UserError, match="No data given"):
        train(output_dir=str(tmp_path / "c"))
    with pytest.raises(UserError, match="give a pandas DataFrame, a datasets Dataset"):
        train([("good", 1)], output_dir=str(tmp_path / "d"))
    with pytest.raises(UserError, match="--seeds 0 must be at least 1"):
        train(frame, seeds=0, output_dir=str(tmp_path / "e"))


def test_a_path_works_as_on_the_command_line(tiny_bert, tmp_path):
    from tests.conftest import write_csv

    data = write_csv(tmp_path / "reviews.csv", english_reviews(200))
    result = train(data, **quick_options(tiny_bert, tmp_path / "out"))
    assert result.facts.data.source.files["train"].name == "reviews.csv"


NOTEBOOK_SESSION = """
import logging, sys
import pandas as pd
from bert_sentiment import UserError, train
frame = pd.DataFrame({"review": ["great film", "awful film"] * 20, "sentiment": ["positive", "negative"] * 20})
for attempt in range(3):
    if attempt == 2:
        logging.basicConfig(level=logging.INFO)  # the user sets up logging between two cells
    try:
        train(frame, model_name_or_path=sys.argv[1], output_dir=f"{sys.argv[2]}/{attempt}")
    except UserError as err:
        print("UserError:", str(err).splitlines()[0])
print("session still alive")
"""


def test_in_a_notebook_session_errors_do_not_exit_and_log_lines_are_not_doubled(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", NOTEBOOK_SESSION, str(tmp_path / "no-model"), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("UserError: Could not load model from the folder") == 3
    assert "session still alive" in result.stdout
    assert result.stderr.count("Using 'review' as the text column") == 3, "one line per call, none doubled"
