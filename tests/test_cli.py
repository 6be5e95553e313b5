"""The commands: exit statuses and messages a user sees, without a traceback for their own mistakes."""

import logging

import pytest

from bert_sentiment.cli import EXIT_PUBLISH_CHECK_FAILED, EXIT_USER_ERROR, main, run_command
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
    assert "Published, but the check failed: scores differ" in caplog.text


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
