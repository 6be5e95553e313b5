"""The Python API as a notebook user calls it: train() on a DataFrame or a DatasetDict, load() and predict.

The direct tests hand train() a run that records what it was given instead of training (`handed_over`): what reaches
the run from each kind of data and option, and what comes back. End-to-end runs on the tiny BERT follow them."""

import logging
import re
import subprocess
import sys
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path

import pandas as pd
import pytest
from datasets import Dataset, DatasetDict

from bert_sentiment import RunFacts, UserError, load, train
from bert_sentiment.api import TrainingInterrupted, TrainResult
from tests.conftest import english_reviews, facts_literal, quick_training_flags

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


def handed_over(monkeypatch, *data, interrupted: bool = False, **options) -> dict:
    """What the run receives from `train(*data, **options)`, and what train() gives back (under "result", or
    "interrupted"): the run records its arguments and returns a finished run's facts, or None as an interrupted run
    does."""
    fine_tune, seeds = import_module("bert_sentiment.fine_tune"), import_module("bert_sentiment.seeds")
    received = {}

    def run(model_args, data_args, training_args, data=None, name="fine_tune"):
        received.update(run=name, model=model_args, data_args=data_args, training=training_args, data=data)
        return None if interrupted else facts_literal()

    monkeypatch.setattr(fine_tune, "fine_tune", run)
    monkeypatch.setattr(seeds, "fine_tune_seeds", lambda *args, data=None: run(*args, data, name="fine_tune_seeds"))
    try:
        received["result"] = train(*data, **options)
    except TrainingInterrupted as stopped:  # kept, not raised: an interrupt would stop pytest itself
        received["interrupted"] = stopped
    return received


def test_a_dataframe_reaches_the_run_as_its_rows_with_the_columns_and_options_named(monkeypatch, tmp_path):
    frame = pd.DataFrame(english_reviews(12), columns=["review", "sentiment"]).iloc[::2]  # an index of 0, 2, 4, ...
    given = handed_over(
        monkeypatch,
        frame,
        text="review",
        label="sentiment",
        data_name="my reviews",
        output_dir=str(tmp_path / "out"),
        learning_rate=1e-4,
        max_seq_length=64,
        model_name_or_path="my-encoder",
    )
    assert given["run"] == "fine_tune", "one seed: the run itself"
    assert given["data"].name == "my reviews"
    train_split = given["data"].splits["train"]
    assert list(given["data"].splits) == ["train"], "no validation or test given: none made up here"
    assert train_split.column_names == ["review", "sentiment"], "the frame's index is not a column"
    assert train_split["review"] == list(frame["review"])
    assert given["data_args"].text_column_names == "review" and given["data_args"].label_column_name == "sentiment"
    assert given["data_args"].max_seq_length == 64 and given["data_args"].train_file is None
    assert given["model"].model_name_or_path == "my-encoder"
    assert given["training"].learning_rate == 1e-4 and given["training"].output_dir == str(tmp_path / "out")
    result = given["result"]
    assert isinstance(result, TrainResult) and result.output_dir == tmp_path / "out"
    assert result.facts == facts_literal()


def test_unnamed_in_memory_data_is_called_in_memory_data_and_columns_left_to_be_found(monkeypatch, tmp_path):
    frame = pd.DataFrame(english_reviews(6), columns=["text", "label"])
    given = handed_over(monkeypatch, Dataset.from_pandas(frame), output_dir=str(tmp_path))
    assert given["data"].name == "in-memory data"
    assert given["data_args"].text_column_names is None and given["data_args"].label_column_name is None


def test_splits_come_from_a_dict_or_from_validation_and_test_alike(monkeypatch, tmp_path):
    frames = {
        split: pd.DataFrame(english_reviews(4, seed=n), columns=["text", "label"])
        for n, split in enumerate(("train", "validation", "test"))
    }
    as_dict = handed_over(monkeypatch, frames, output_dir=str(tmp_path / "a"))["data"].splits
    as_keywords = handed_over(
        monkeypatch, frames["train"], validation=frames["validation"], test=frames["test"], output_dir=str(tmp_path)
    )["data"].splits
    for splits in (as_dict, as_keywords):
        assert list(splits) == ["train", "validation", "test"]
        assert [splits[name]["text"] for name in splits] == [list(frames[name]["text"]) for name in frames]
    only_test = handed_over(monkeypatch, frames["train"], test=frames["test"], output_dir=str(tmp_path))
    assert list(only_test["data"].splits) == ["train", "test"]


def test_paths_become_the_file_options_as_on_the_command_line(monkeypatch, tmp_path):
    given = handed_over(
        monkeypatch, "reviews.csv", validation=tmp_path / "dev.tsv", test="test.jsonl", output_dir=str(tmp_path)
    )
    assert given["data"] is None, "files are read by the run, as train.py reads them"
    data_args = given["data_args"]
    assert (data_args.train_file, data_args.validation_file, data_args.test_file) == (
        "reviews.csv",
        str(tmp_path / "dev.tsv"),
        "test.jsonl",
    )
    only_validation = handed_over(monkeypatch, "reviews.csv", validation="dev.csv", output_dir=str(tmp_path))
    assert only_validation["data_args"].test_file is None


def test_data_given_twice_or_half_in_memory_or_of_an_unknown_kind_is_refused_naming_the_fix(monkeypatch, tmp_path):
    frame = pd.DataFrame(english_reviews(4), columns=["text", "label"])
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, {"train": frame}, validation=frame, output_dir=str(tmp_path))
    assert str(error.value) == "Pass the splits once: in the DatasetDict/dict, or as validation=/test=, not both."
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, DatasetDict({"train": Dataset.from_pandas(frame)}), test=frame)
    assert str(error.value).startswith("Pass the splits once")
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, frame, validation="dev.csv", output_dir=str(tmp_path))
    assert str(error.value) == (
        "The validation split is a path while another split is in memory: load it first (pandas.read_csv)."
    )
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, {"train": frame, "test": "test.csv"}, output_dir=str(tmp_path))
    assert str(error.value).startswith("The test split is a path while another split is in memory")
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, frame, test=[("good", 1)], output_dir=str(tmp_path))
    assert str(error.value) == (
        "The test data is a list; give a pandas DataFrame, a datasets Dataset or DatasetDict, or a path to a file or "
        "folder."
    )


def test_several_seeds_run_the_seed_loop_and_an_interrupted_run_says_how_to_resume(monkeypatch, tmp_path):
    assert handed_over(monkeypatch, "reviews.csv", seeds=3, output_dir=str(tmp_path))["run"] == "fine_tune_seeds"
    given = handed_over(monkeypatch, "reviews.csv", interrupted=True, output_dir=str(tmp_path / "out"))
    assert "result" not in given and isinstance(given["interrupted"], KeyboardInterrupt), "a notebook's interrupt"
    assert str(given["interrupted"]) == (
        f"Checkpoint saved in {tmp_path / 'out'}; call train(...) again with resume=True."
    )
    assert handed_over(monkeypatch, "reviews.csv", seeds=2, output_dir=str(tmp_path))["run"] == "fine_tune_seeds"
    assert handed_over(monkeypatch, "reviews.csv", seeds=1, output_dir=str(tmp_path))["run"] == "fine_tune"


def test_an_unknown_option_is_refused_naming_the_first_and_the_likely_one(monkeypatch, tmp_path):
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, "reviews.csv", warmup_step=10, learning_rat=1e-4, output_dir=str(tmp_path))
    assert str(error.value) == "train() got unknown option 'learning_rat'. Did you mean 'learning_rate'?"


def test_an_option_transformers_refuses_is_a_user_error_naming_it(monkeypatch, tmp_path):
    with pytest.raises(UserError) as error:
        handed_over(monkeypatch, "reviews.csv", lr_scheduler_type="sideways", output_dir=str(tmp_path))
    assert str(error.value).startswith("Invalid combination of options: ") and "sideways" in str(error.value)


def test_the_result_reads_its_facts_by_split_and_shows_the_headline_accuracy_and_f1(tmp_path):
    result = TrainResult(tmp_path / "out", facts_literal())
    assert result.metrics["test"] == pytest.approx(
        {"accuracy": 0.775, "precision": 0.7742, "recall": 0.7385, "f1": 0.7619}
    )
    assert result.metrics["validation"]["accuracy"] == 0.875
    assert result.baselines["test"]["tfidf_logistic_regression"]["accuracy"] == 0.65
    assert set(result.baselines["validation"]) == {"majority_class", "tfidf_logistic_regression"}
    assert result.card_path == tmp_path / "out" / "README.md"
    assert repr(result) == f"TrainResult(output_dir='{tmp_path / 'out'}', test: accuracy 0.7750, f1 0.7619)"


@contextmanager
def unconfigured_logging():
    """Logging as a fresh notebook has it: no handler on the root logger nor ours; both restored after."""
    package, root = logging.getLogger("bert_sentiment"), logging.getLogger()
    kept = package.handlers[:], package.propagate, package.level, root.handlers[:]
    package.handlers.clear(), root.handlers.clear()
    package.propagate, package.level = True, logging.NOTSET
    try:
        yield package
    finally:
        package.handlers[:], package.propagate, package.level, root.handlers[:] = kept


def test_a_notebook_without_logging_gets_one_handler_of_ours_and_no_doubled_lines(capsys):
    from bert_sentiment.api import _show_logs

    with unconfigured_logging() as package:
        _show_logs()
        _show_logs()
        assert len(package.handlers) == 1 and not package.propagate and package.level == logging.INFO
        logging.getLogger("bert_sentiment.data").info("Using 'review' as the text column")
        logging.getLogger("bert_sentiment.data").debug("not shown")
    line = capsys.readouterr().err
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO bert_sentiment.data: Using 'review' as the text column\n", line)


def test_logging_the_user_set_up_is_left_alone():
    from bert_sentiment.api import _show_logs

    with unconfigured_logging() as package:
        logging.getLogger().addHandler(logging.NullHandler())
        _show_logs()
        assert package.handlers == [] and package.propagate


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
