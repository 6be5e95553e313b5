"""The commands: exit statuses and messages a user sees, without a traceback for their own mistakes."""

import logging
import os
from pathlib import Path

import pytest

from bert_sentiment.cli import EXIT_INTERRUPTED, EXIT_PUBLISH_CHECK_FAILED, EXIT_USER_ERROR, main, run_command
from bert_sentiment.errors import UserError
from bert_sentiment.publish import PublishError


def raising(error):
    def command():
        raise error

    return command


def test_a_users_mistake_is_one_logged_line_and_exit_status_2(caplog):
    caplog.set_level(logging.ERROR)
    assert run_command(raising(UserError("--train_file 'x.csv' does not exist."))) == EXIT_USER_ERROR
    assert caplog.messages == ["--train_file 'x.csv' does not exist."]


def test_a_failed_publish_check_exits_1_and_says_it_was_published(caplog):
    assert run_command(raising(PublishError("scores differ"))) == EXIT_PUBLISH_CHECK_FAILED
    assert caplog.messages == ["Published, but the check failed: scores differ"]


def test_a_warning_of_a_library_that_prints_its_own_is_not_printed_again_by_the_log():
    """huggingface_hub and datasets print their lines through handlers of their own: passed on to the root logger too,
    each showed twice."""
    loggers = [logging.getLogger(name) for name in ("huggingface_hub", "datasets")]
    kept, printed = [library.propagate for library in loggers], []
    root_printer = logging.Handler()
    root_printer.emit = lambda record: printed.append(record.name)
    logging.getLogger().addHandler(root_printer)
    try:
        assert run_command(lambda: 0) == 0
        for library in loggers:
            library.warning("Retrying in 1s [Retry 1/5].")
        assert printed == [], "not passed on to the root logger's handlers"
    finally:
        logging.getLogger().removeHandler(root_printer)
        for library, propagate in zip(loggers, kept):
            library.propagate = propagate


def test_ctrl_c_ends_a_command_with_130_and_one_line_not_a_traceback(caplog):
    """A second Ctrl-C in training, or one while a file is scored: what was kept is said where it was kept."""
    assert run_command(raising(KeyboardInterrupt())) == EXIT_INTERRUPTED
    assert caplog.messages == ["Interrupted."] and caplog.records[0].levelname == "WARNING"


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("label"), RuntimeError("a bug")])
def test_a_bug_is_not_dressed_as_a_users_mistake(bug):
    with pytest.raises(type(bug)):
        run_command(raising(bug))


def test_a_commands_own_status_is_returned():
    assert run_command(lambda: 0) == 0 and run_command(lambda: 130) == 130


def test_an_unknown_command_names_it_and_lists_the_commands(capsys):
    assert main(["trian"]) == EXIT_USER_ERROR
    error = capsys.readouterr().err
    assert "unknown command 'trian'" in error and "{train,publish,app,deploy,predict,review}" in error
    assert main([]) == EXIT_USER_ERROR and "usage: bert-sentiment" in capsys.readouterr().out
    assert main(["--help"]) == 0


def test_review_without_a_run_folder_is_refused_by_its_parser(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["review"])
    assert stopped.value.code == 2 and "output_dir" in capsys.readouterr().err


def test_review_of_a_folder_without_a_run_says_so(tmp_path, caplog):
    assert main(["review", str(tmp_path)]) == EXIT_USER_ERROR
    assert "holds no finished run (run_facts.json is missing). Train first." in caplog.text


def recorder(monkeypatch, module, name, result=None):
    """Replaces `module.name` (read by a command when it runs) with a function that records its calls."""
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return result

    monkeypatch.setattr(module, name, record)
    return calls


def test_train_hands_the_parsed_flags_to_one_run_or_to_the_seeds_loop(monkeypatch, tmp_path, caplog):
    from bert_sentiment import fine_tune, seeds

    caplog.set_level(logging.INFO, logger="bert_sentiment")
    once = recorder(monkeypatch, fine_tune, "fine_tune", result={"eval_accuracy": 0.9})
    looped = recorder(monkeypatch, seeds, "fine_tune_seeds", result={"eval_accuracy": 0.9})
    flags = ["train", "--train_file", str(tmp_path / "reviews.csv"), "--output_dir", str(tmp_path / "out")]
    flags += ["--model_name_or_path", "alice/encoder"]
    assert main(flags) == 0
    assert len(once) == 1 and not looped
    model_args, data_args, training_args = once[0][0]
    assert data_args.train_file == str(tmp_path / "reviews.csv") and training_args.output_dir == str(tmp_path / "out")
    assert model_args.model_name_or_path == "alice/encoder"
    assert caplog.messages[-1] == f"Done. Model, metrics and run facts are in {tmp_path / 'out'}"

    assert main([*flags, "--seeds", "2"]) == 0
    assert len(once) == 1 and len(looped) == 1 and looped[0][0][2].seeds == 2


def test_an_interrupted_training_exits_130_without_saying_done(monkeypatch, tmp_path, caplog):
    from bert_sentiment import fine_tune

    caplog.set_level(logging.INFO, logger="bert_sentiment")
    recorder(monkeypatch, fine_tune, "fine_tune", result=None)
    assert main(["train", "--train_file", "x.csv", "--output_dir", str(tmp_path)]) == EXIT_INTERRUPTED == 130
    assert not any(message.startswith("Done.") for message in caplog.messages)


def test_publish_checks_the_hub_then_publishes_the_run_with_its_flags(monkeypatch, tmp_path):
    from bert_sentiment import publish
    from bert_sentiment.facts import RESULTS_FILE

    (tmp_path / RESULTS_FILE).write_text("{}")
    access = recorder(monkeypatch, publish, "check_hub_access", result="the target")
    published = recorder(monkeypatch, publish, "publish")
    assert main(["publish", "--output_dir", str(tmp_path), "--hub_model_id", "alice/sst2"]) == 0
    assert access == [(("alice/sst2", None), {})], "not private unless asked: the Hub's default"
    assert published == [((tmp_path, "the target", "apache-2.0", True), {})]

    flags = ["--hub_private", "--license", "mit", "--export_onnx", "false"]
    assert main(["publish", "--output_dir", str(tmp_path), "--hub_model_id", "alice/sst2", *flags]) == 0
    assert access[1] == (("alice/sst2", True), {}) and published[1] == ((tmp_path, "the target", "mit", False), {})


def test_publish_of_a_folder_without_a_finished_run_says_so_before_the_hub(monkeypatch, tmp_path, caplog):
    from bert_sentiment import publish

    access = recorder(monkeypatch, publish, "check_hub_access")
    assert main(["publish", "--output_dir", str(tmp_path), "--hub_model_id", "alice/sst2"]) == EXIT_USER_ERROR
    assert caplog.messages == [
        f"'{tmp_path}' holds no finished run (run_facts.json is missing). Train first with train.py."
    ]
    assert not access


def test_deploy_checks_the_space_id_as_its_own_flag_then_deploys(monkeypatch):
    from bert_sentiment import publish, space

    access = recorder(monkeypatch, publish, "check_hub_access", result="the space")
    deployed = recorder(monkeypatch, space, "deploy_space")
    assert main(["deploy", "--model_id", "alice/sst2", "--space_id", "alice/demo"]) == 0
    assert access == [(("alice/demo", None), {"flag": "--space_id"})]
    assert deployed == [(("alice/sst2", "the space"), {})]
    assert main(["deploy", "--model_id", "alice/sst2", "--space_id", "alice/demo", "--private"]) == 0
    assert access[1] == (("alice/demo", True), {"flag": "--space_id"})


class Engine:
    def __init__(self):
        self.files = []

    def predict_file(self, *args, **kwargs):
        self.files.append((args, kwargs))


def test_predict_loads_the_engine_asked_for_and_scores_the_file(monkeypatch):
    from bert_sentiment import inference

    engine = Engine()
    loaded = recorder(monkeypatch, inference, "load", result=engine)
    assert main(["predict", "--model", "alice/sst2", "--input", "in.csv", "--output", "out.csv"]) == 0
    assert loaded == [(("alice/sst2",), {"engine": "onnx", "quantize": True})]
    assert engine.files == [(("in.csv", "out.csv"), {"text_column": None, "overwrite": False})]

    more = ["--engine", "torch", "--no_quantize", "--text_column", "review", "--overwrite"]
    assert main(["predict", "--model", "m", "--input", "in.csv", "--output", "out.csv", *more]) == 0
    assert loaded[1] == (("m",), {"engine": "torch", "quantize": False})
    assert engine.files[1] == (("in.csv", "out.csv"), {"text_column": "review", "overwrite": True})


def test_predict_refuses_an_engine_it_does_not_have_naming_both(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["predict", "--model", "m", "--input", "i", "--output", "o", "--engine", "tensorrt"])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and "invalid choice: 'tensorrt' (choose from " in error
    assert "onnx" in error.rsplit("choose from", 1)[1] and "torch" in error.rsplit("choose from", 1)[1]


def test_review_hands_its_flags_to_the_spreadsheet(monkeypatch):
    from bert_sentiment import review

    written = recorder(monkeypatch, review, "write_review")
    assert main(["review", "out/run"]) == 0
    assert written == [(("out/run", None, None, review.TO_LABEL, None, "auto"), {})]
    flags = ["--output", "r.xlsx", "--unlabeled_file", "more.csv", "--to_label", "50", "--text_column", "body"]
    assert main(["review", "out/run", *flags, "--pool_sample", "all"]) == 0
    assert written[1] == (("out/run", "r.xlsx", "more.csv", 50, "body", "all"), {})


def test_app_returns_the_servers_own_status(monkeypatch):
    from bert_sentiment import app

    served = recorder(monkeypatch, app, "serve", result=3)
    assert main(["app", "--model", "alice/sst2"]) == 3 and served == [((["--model", "alice/sst2"],), {})]


def test_each_commands_help_matches_its_reviewed_golden_file(monkeypatch, capsys):
    """What a user reads with `bert-sentiment publish|deploy|predict|review --help`: the command's docstring as
    written (examples indented), then each flag, the required ones outside brackets. After a deliberate change:
    UPDATE_GOLDEN=1 python -m pytest tests/test_cli.py."""
    monkeypatch.setenv("COLUMNS", "100")
    pages = []
    for command in ("publish", "deploy", "predict", "review"):
        with pytest.raises(SystemExit) as stopped:
            main([command, "--help"])
        assert stopped.value.code == 0
        pages.append(f"$ bert-sentiment {command} --help\n{capsys.readouterr().out}")
    text = "\n".join(pages)
    golden = Path(__file__).parent / "golden" / "commands_help.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_the_console_script_reads_its_command_from_the_command_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["bert-sentiment", "trian"])
    assert main() == EXIT_USER_ERROR and "unknown command 'trian'" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", ["bert-sentiment", "-h"])
    assert main() == 0
    assert capsys.readouterr().out == (
        "usage: bert-sentiment {train,publish,app,deploy,predict,review} ...   "
        "(bert-sentiment COMMAND --help for its flags)\n"
    )


@pytest.mark.parametrize(
    "rank, prefix", [(None, "%(asctime)s %(levelname)s"), ("1", "%(asctime)s [rank 1] %(levelname)s")]
)
def test_log_lines_say_which_process_speaks_under_a_launcher(monkeypatch, rank, prefix):
    configured = recorder(monkeypatch, logging, "basicConfig")
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    run_command(lambda: 0)
    assert configured == [
        ((), {"format": f"{prefix} %(name)s: %(message)s", "datefmt": "%H:%M:%S", "level": logging.INFO})
    ]


def test_a_hub_or_datasets_warning_reaches_the_terminal_once():
    """huggingface_hub and datasets print their warnings themselves; passed on to the root logger as well, a download
    retried five times filled the terminal with every line twice."""
    import subprocess
    import sys

    warn = (
        "import logging, datasets, huggingface_hub; from bert_sentiment.cli import run_command; "
        "run_command(lambda: [logging.getLogger(name).warning('Retrying in 1s [Retry 1/5].') "
        "for name in ('huggingface_hub.utils._http', 'datasets.load')] and 0)"
    )
    shown = subprocess.run([sys.executable, "-c", warn], capture_output=True, text=True, check=True).stderr
    assert shown.count("Retrying in 1s [Retry 1/5].") == 2, shown
